#!/bin/sh
# Packed-weights cache with two `mblip` processes (issue 12): both load the same model at once
# into an empty cache folder and must succeed with identical output, equal to an uncached run;
# exactly one valid cache file and no temporary is left; a later warm run agrees too. Repeated for
# f32 and q8_0 weights, three rounds each (the loads of a tiny model overlap only sometimes).
# Usage: cache_two_process_test.sh MBLIP_BIN MBLIP_CONVERT_BIN GOLDEN_DIR TMP_DIR
set -u
MBLIP=$1; CONVERT=$2; GOLDEN=$3; TMP=$4
fails=0
ok()  { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
if [ ! -d "$GOLDEN/models/tiny-mt5" ]; then echo "SKIPPED: golden data not found"; exit 0; fi
mkdir -p "$TMP"
IMG="$GOLDEN/images/files/coffee_rgb.png"
# The JSON line without its timings (they differ between runs).
tokens_of() { sed -e 's/"timings_ms":{[^}]*}//' "$1"; }

for w in f32 q8_0; do
  MODEL="$TMP/two-proc-tiny-mt5-$w.gguf"
  "$CONVERT" "$GOLDEN/models/tiny-mt5" "$MODEL" --weights $w --force -q || { bad "conversion $w"; continue; }
  run() {  # run OUT [extra flags]: one caption, JSON to OUT, stderr to OUT.err
    out=$1; shift
    "$MBLIP" caption -m "$MODEL" --prompt "Caption in Japanese." --beams 2 --max-new-tokens 12 --threads 1 --json "$@" "$IMG" > "$out" 2> "$out.err"
  }
  MBLIP_CACHE_DIR="$TMP/unused-$w" run "$TMP/ref-$w.json" --no-cache || bad "$w: uncached run"
  [ -s "$TMP/ref-$w.json" ] || bad "$w: uncached run printed nothing"
  for round in 1 2 3; do
    dir="$TMP/cache-$w-$round"
    rm -rf "$dir"; mkdir -p "$dir"
    export MBLIP_CACHE_DIR="$dir"
    run "$TMP/a.json" & pa=$!
    run "$TMP/b.json" & pb=$!
    wait $pa; ra=$?
    wait $pb; rb=$?
    if [ $ra = 0 ] && [ $rb = 0 ]; then ok "$w round $round: both processes succeed"; else bad "$w round $round: exit $ra / $rb"; cat "$TMP/a.json.err" "$TMP/b.json.err"; fi
    if [ "$(tokens_of "$TMP/a.json")" = "$(tokens_of "$TMP/ref-$w.json")" ] && [ "$(tokens_of "$TMP/b.json")" = "$(tokens_of "$TMP/ref-$w.json")" ]; then
      ok "$w round $round: identical output, equal to the uncached run"
    else
      bad "$w round $round: outputs differ"; cat "$TMP/ref-$w.json" "$TMP/a.json" "$TMP/b.json"
    fi
    if grep -q "ignored\|rebuilding" "$TMP/a.json.err" "$TMP/b.json.err"; then bad "$w round $round: a cache was reported corrupt"; cat "$TMP/a.json.err" "$TMP/b.json.err"; fi
    n=$(ls "$dir" | grep -c '\.mbpack$'); t=$(ls "$dir" | grep -c 'tmp')
    if [ "$n" = 1 ] && [ "$t" = 0 ]; then ok "$w round $round: one cache file, no temporaries"; else bad "$w round $round: $(ls "$dir")"; fi
    "$MBLIP" cache list > "$TMP/list.txt" 2>&1
    if grep -q "$(basename "$MODEL")" "$TMP/list.txt" && ! grep -qi "invalid\|corrupt\|bad" "$TMP/list.txt"; then ok "$w round $round: cache list shows a valid file"; else bad "$w round $round: cache list"; cat "$TMP/list.txt"; fi
    run "$TMP/c.json" || bad "$w round $round: warm run failed"
    if [ "$(tokens_of "$TMP/c.json")" = "$(tokens_of "$TMP/ref-$w.json")" ]; then ok "$w round $round: warm run agrees"; else bad "$w round $round: warm run differs"; fi
    unset MBLIP_CACHE_DIR
  done
done
[ $fails = 0 ] && echo "all passed" || echo "$fails failed"
exit $fails
