#!/bin/sh
# CLI tests for the native `mblip` binary (registered by native/CMakeLists.txt as ctest `cli`):
# usage errors, unknown language, missing files, a bad image among good ones, --json fields,
# and that `caption` reproduces a golden greedy sequence.
# Usage: cli_test.sh MBLIP_BIN MBLIP_CONVERT_BIN GOLDEN_DIR TMP_DIR
export MBLIP_CACHE_DIR="${MBLIP_CACHE_DIR:-$(mktemp -d)}"  # never the user's packed-weights cache
set -u
MBLIP=$1; CONVERT=$2; GOLDEN=$3; TMP=$4
fails=0
ok()   { echo "ok   - $1"; }
bad()  { echo "FAIL - $1"; fails=$((fails + 1)); }
# expect CODE DESCRIPTION CMD... : exit status must equal CODE
expect() {
  want=$1; what=$2; shift 2
  "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"; got=$?
  if [ "$got" = "$want" ]; then ok "$what"; else bad "$what (exit $got, want $want)"; cat "$TMP/err.txt"; fi
}
contains() {  # contains FILE TEXT DESCRIPTION
  if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3 (no '$2' in $1)"; cat "$1"; fi
}

mkdir -p "$TMP"
if [ ! -d "$GOLDEN/models/tiny-mt5" ]; then echo "SKIPPED: golden data not found"; exit 0; fi
MODEL="$TMP/cli-tiny-mt5.gguf"
"$CONVERT" "$GOLDEN/models/tiny-mt5" "$MODEL" --weights f32 --force -q || { echo "FAIL - conversion"; exit 1; }
IMG="$GOLDEN/images/files/astronaut_baseline.jpg"

expect 0 "--help" "$MBLIP" --help
for c in caption ask tokenize detokenize preprocess info languages; do
  expect 0 "$c --help" "$MBLIP" $c --help
done
expect 2 "no command" "$MBLIP"
expect 2 "unknown command" "$MBLIP" frobnicate
expect 2 "caption without model" "$MBLIP" caption "$IMG"
contains "$TMP/err.txt" "missing -m" "caption without model: message"
expect 2 "caption unknown option" "$MBLIP" caption -m "$MODEL" --bogus "$IMG"
contains "$TMP/err.txt" "--bogus" "unknown option named"
expect 2 "bad --beams" "$MBLIP" caption -m "$MODEL" --beams 0 "$IMG"
contains "$TMP/err.txt" "--beams" "bad --beams named"
expect 2 "bad --max-new-tokens" "$MBLIP" caption -m "$MODEL" --max-new-tokens 100000 "$IMG"
expect 2 "bad --top-p" "$MBLIP" caption -m "$MODEL" --sample --top-p 1.5 "$IMG"
contains "$TMP/err.txt" "top_p" "bad top_p named"
expect 2 "unknown language" "$MBLIP" caption -m "$MODEL" --lang Klingon "$IMG"
contains "$TMP/err.txt" "Klingon" "unknown language named"
expect 1 "missing model file" "$MBLIP" caption -m "$TMP/none.gguf" "$IMG"
contains "$TMP/err.txt" "none.gguf" "missing model named"
expect 2 "ask without question" "$MBLIP" ask -m "$MODEL" "$IMG"

# golden greedy sequence of tiny-mt5/c00 through the CLI, as JSON
expect 0 "caption --json greedy" "$MBLIP" caption -m "$MODEL" --prompt "Describe the image in German." \
  --beams 1 --max-new-tokens 16 --no-exif --json "$IMG"
contains "$TMP/out.txt" '"tokens":[6325,5944,7594,3839,1938,5989,3262,6203,1251,4670,365,392,3024,6048,2390,1]' "golden greedy tokens"
for f in '"image"' '"prompt"' '"text"' '"timings_ms"'; do contains "$TMP/out.txt" "$f" "json field $f"; done
expect 0 "caption --json beam 3" "$MBLIP" caption -m "$MODEL" --prompt "Describe the image in German." \
  --beams 3 --max-new-tokens 16 --json "$IMG"
contains "$TMP/out.txt" '"tokens":[6205,7720,3271,5644,1150,5043,683,5466,1]' "golden beam tokens"
contains "$TMP/out.txt" '"score":' "json score with beams"

# a bad image among good ones: reported, others still captioned, exit 1
printf 'not an image' > "$TMP/bad.jpg"
expect 1 "bad image in batch" "$MBLIP" caption -m "$MODEL" --json --lang de "$IMG" "$TMP/bad.jpg" "$TMP/missing.png" "$IMG"
lines=$(wc -l < "$TMP/out.txt")
if [ "$lines" -eq 2 ]; then ok "two good images captioned"; else bad "expected 2 JSON lines, got $lines"; fi
contains "$TMP/err.txt" "bad.jpg" "bad image reported"
contains "$TMP/err.txt" "missing.png" "missing image reported"
contains "$TMP/out.txt" '"prompt":"Caption in German:"' "--lang de prompt"

expect 0 "ask two questions" "$MBLIP" ask -m "$MODEL" "$IMG" -q "What is this?" -q "Where?" --json
lines=$(wc -l < "$TMP/out.txt")
if [ "$lines" -eq 2 ]; then ok "one answer per question"; else bad "expected 2 answers, got $lines"; fi
contains "$TMP/out.txt" '"prompt":"Question: What is this? Short answer in English:"' "vqa prompt"

# tokenizer commands (golden: "Describe the image in German." pieces)
expect 0 "tokenize --json" "$MBLIP" tokenize --tokenizer "$GOLDEN/tokenizer/spiece.model" --json "Describe the image in German."
contains "$TMP/out.txt" '"pieces":["▁Des","c","ri","be","▁the","▁image","▁in","▁G","er","man","."]' "tokenize pieces"
expect 0 "tokenize -m" "$MBLIP" tokenize -m "$MODEL" "Describe"
contains "$TMP/out.txt" "ids:" "tokenize text output"
expect 2 "tokenize needs a tokenizer" "$MBLIP" tokenize "hello"
expect 0 "detokenize" "$MBLIP" detokenize -m "$MODEL" 6205 7720 1
expect 2 "detokenize bad id" "$MBLIP" detokenize -m "$MODEL" abc
expect 1 "detokenize out of range" "$MBLIP" detokenize -m "$MODEL" 999999

# preprocess writes a (1,3,224,224) float32 npy
expect 0 "preprocess" "$MBLIP" preprocess -m "$MODEL" "$IMG" --npy "$TMP/pv.npy" --no-exif
size=$(wc -c < "$TMP/pv.npy")
if [ "$size" -eq $((128 + 3 * 224 * 224 * 4)) ]; then ok "npy size"; else bad "npy size $size"; fi
if cmp -s -i 128:128 "$TMP/pv.npy" "$GOLDEN/images/astronaut_baseline/pixel_values.npy"; then ok "pixel values equal golden bytes"; else echo "note - pixel values differ from golden bytes (decoder rounding?)"; fi

expect 0 "info --json" "$MBLIP" info "$MODEL" --json
for f in '"hf_name"' '"language_model.lm_head.weight"' '"components"' '"shape"'; do contains "$TMP/out.txt" "$f" "info field $f"; done
expect 0 "info text" "$MBLIP" info "$MODEL"
expect 1 "info missing file" "$MBLIP" info "$TMP/none.gguf"
expect 0 "languages" "$MBLIP" languages
lines=$(wc -l < "$TMP/out.txt")
if [ "$lines" -eq 96 ]; then ok "96 languages"; else bad "languages: $lines lines"; fi

# bench: several captions in one session (the first reported apart as cold), usage errors.
expect 0 "bench --runs 2 --json" "$MBLIP" bench -m "$MODEL" --threads 1 --no-probes --tokens 3 --beams 2 --runs 2 --json
for f in '"runs": 2' '"first_caption_greedy_ms"' '"caption_greedy_ms"' '"beam_steps_per_s"'; do contains "$TMP/out.txt" "$f" "bench field $f"; done
expect 0 "bench --runs 2 table" "$MBLIP" bench -m "$MODEL" --threads 1 --no-probes --tokens 3 --beams 0 --runs 2
contains "$TMP/out.txt" "the first (cold) caption took" "bench reports the cold caption"
expect 2 "bench --runs 0" "$MBLIP" bench -m "$MODEL" --runs 0
expect 2 "bench without model" "$MBLIP" bench --runs 2

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
