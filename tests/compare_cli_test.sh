#!/bin/sh
# CLI tests of `mblip compare` (registered by tests/CMakeLists.txt as ctest `cli_compare`): usage
# errors, mismatched architectures, --json lines parsed by node with every field checked, and a
# bad image among good ones. Usage: compare_cli_test.sh MBLIP_BIN MBLIP_CONVERT_BIN GOLDEN_DIR TMP_DIR
export MBLIP_CACHE_DIR="${MBLIP_CACHE_DIR:-$(mktemp -d)}"  # never the user's packed-weights cache
set -u
MBLIP=$1; CONVERT=$2; GOLDEN=$3; TMP=$4
fails=0
ok()   { echo "ok   - $1"; }
bad()  { echo "FAIL - $1"; fails=$((fails + 1)); }
expect() {  # expect CODE DESCRIPTION CMD... : exit status must equal CODE
  want=$1; what=$2; shift 2
  "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"; got=$?
  if [ "$got" = "$want" ]; then ok "$what"; else bad "$what (exit $got, want $want)"; cat "$TMP/err.txt"; fi
}
contains() {  # contains FILE TEXT DESCRIPTION
  if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3 (no '$2' in $1)"; cat "$1"; fi
}

mkdir -p "$TMP"
if [ ! -d "$GOLDEN/models/tiny-mt5" ]; then echo "SKIPPED: golden data not found"; exit 0; fi
F32="$TMP/tiny-mt5-f32.gguf"; Q8="$TMP/tiny-mt5-q8_0.gguf"; ODD="$TMP/tiny-mt5-odd-f32.gguf"
"$CONVERT" "$GOLDEN/models/tiny-mt5" "$F32" --weights f32 --force -q || { echo "FAIL - conversion"; exit 1; }
"$CONVERT" "$GOLDEN/models/tiny-mt5" "$Q8" --weights q8_0 --force -q || { echo "FAIL - conversion"; exit 1; }
"$CONVERT" "$GOLDEN/models/tiny-mt5-odd" "$ODD" --weights f32 --force -q || { echo "FAIL - conversion"; exit 1; }
IMG1="$GOLDEN/images/files/astronaut_baseline.jpg"
IMG2="$GOLDEN/images/files/chelsea_progressive.jpg"
[ -f "$IMG2" ] || IMG2="$IMG1"

expect 0 "compare --help" "$MBLIP" compare --help
contains "$TMP/out.txt" "--reference" "help names --reference"
expect 2 "compare without arguments" "$MBLIP" compare
expect 2 "compare without reference" "$MBLIP" compare -m "$Q8" "$IMG1"
contains "$TMP/err.txt" "--reference" "missing reference named"
expect 2 "compare without image" "$MBLIP" compare -m "$Q8" --reference "$F32"
expect 2 "compare unknown option" "$MBLIP" compare -m "$Q8" --reference "$F32" --bogus "$IMG1"
contains "$TMP/err.txt" "--bogus" "unknown option named"
expect 2 "compare bad --max-new-tokens" "$MBLIP" compare -m "$Q8" --reference "$F32" --max-new-tokens 0 "$IMG1"
expect 2 "compare unknown language" "$MBLIP" compare -m "$Q8" --reference "$F32" --lang Klingon "$IMG1"
contains "$TMP/err.txt" "Klingon" "unknown language named"
expect 1 "compare missing model file" "$MBLIP" compare -m "$TMP/none.gguf" --reference "$F32" "$IMG1"
contains "$TMP/err.txt" "none.gguf" "missing model named"
expect 1 "compare mismatched architectures" "$MBLIP" compare -m "$ODD" --reference "$F32" "$IMG1"
contains "$TMP/err.txt" "different architectures" "mismatch explained"

# --json: one object per image, then a summary; every field present and typed
expect 0 "compare --json q8_0 vs f32" "$MBLIP" compare -m "$Q8" --reference "$F32" --threads 1 \
  --max-new-tokens 8 --json "$IMG1" "$IMG2"
cp "$TMP/out.txt" "$TMP/q8.jsonl"
if node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const fail = (m) => { console.error(m); process.exit(1); };
if (lines.length !== 3) fail("want 3 lines, got " + lines.length);
for (const o of lines.slice(0, 2)) {
  for (const k of ["image", "prompt", "stages", "teacher_forced_positions", "teacher_forced_agree", "top1_agreement",
                   "first_disagreement", "greedy_tokens_agree", "reference_min_top2_gap", "test_min_top2_gap",
                   "reference_tokens", "test_tokens", "reference_text", "test_text"])
    if (!(k in o)) fail("missing " + k);
  if (o.prompt !== "Caption in English:") fail("prompt " + o.prompt);
  for (const s of ["vision", "qformer", "projection", "encoder", "logits0"]) {
    const st = o.stages[s];
    if (!st || typeof st.cosine !== "number" || typeof st.max_abs_error !== "number") fail("stage " + s);
    if (!(st.cosine > 0.99 && st.cosine < 1)) fail(s + " cosine " + st.cosine);
    if (!(st.max_abs_error > 0)) fail(s + " max_abs_error " + st.max_abs_error);
  }
  if (o.teacher_forced_positions !== o.reference_tokens.length) fail("positions");
  if (typeof o.greedy_tokens_agree !== "boolean") fail("greedy_tokens_agree");
}
const s = lines[2].summary;
if (!s || s.images !== 2 || s.failed !== 0 || typeof s.min_cosine.encoder !== "number" ||
    s.teacher_forced_positions !== lines[0].teacher_forced_positions + lines[1].teacher_forced_positions) fail("summary");
' "$TMP/q8.jsonl"; then ok "json lines parse with every field"; else bad "json lines"; cat "$TMP/q8.jsonl"; fi

expect 0 "compare --json f32 vs f32" "$MBLIP" compare -m "$F32" -r "$F32" --threads 1 --max-new-tokens 8 --json "$IMG1"
if node -e '
const l = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const o = l[0];
for (const s of Object.values(o.stages)) if (s.max_abs_error !== 0 || Math.abs(s.cosine - 1) > 1e-12) process.exit(1);
if (!o.greedy_tokens_agree || o.top1_agreement !== 1 || l[1].summary.greedy_agree !== 1) process.exit(1);
' "$TMP/out.txt"; then ok "f32 vs itself is exact"; else bad "f32 vs itself"; cat "$TMP/out.txt"; fi

# text output; a bad image among good ones: reported, the others compared, exit 1
printf 'not an image' > "$TMP/bad.jpg"
expect 1 "bad image among good ones" "$MBLIP" compare -m "$Q8" --reference "$F32" --threads 1 --max-new-tokens 4 \
  "$IMG1" "$TMP/bad.jpg" "$TMP/missing.png"
contains "$TMP/out.txt" "teacher-forced top-1" "text report"
contains "$TMP/out.txt" "summary over 1 images (2 failed)" "text summary"
contains "$TMP/err.txt" "bad.jpg" "bad image named"
contains "$TMP/err.txt" "missing.png" "missing image named"

if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all compare CLI tests passed"
