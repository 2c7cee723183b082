#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, `fuzz` preset) and runs each for SECONDS_PER_TARGET
# (default 30) on top of fuzz/corpus/<target> + fuzz/regressions/<target>. New inputs go to a
# work corpus in the build tree (the committed corpus is never modified); crash inputs to
# <build>/artifacts/<target>/. Exit status is non-zero if any target crashed.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_BUILD_DIR=<dir> to build elsewhere than build/fuzz; FUZZ_JOBS for the build (-j);
#   FUZZ_SEED=<n> fixes libFuzzer's random seed (scripts/run_tests.sh sets 1 so that CI explores
#   the same inputs first on every run; unset, each run draws a new seed and explores further).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(gguf safetensors torch_bin pickle image spm_model tokenize detokenize)
build=$(realpath -m "${FUZZ_BUILD_DIR:-$here/build/fuzz}")
cmake --preset fuzz -B "$build" -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$build/bin" >/dev/null || exit 1
cmake --build "$build" -j "${FUZZ_JOBS:-$(nproc)}" --target fuzz_all >/dev/null || { echo "fuzz build failed"; exit 1; }
# The tokenizer targets load the golden sentencepiece model (or MBLIP_FUZZ_SPM); without it they
# are skipped, visibly, like the golden-data tests.
spm=${MBLIP_FUZZ_SPM:-${MBLIP_GOLDEN_DIR:-$here/../shared/golden}/tokenizer/spiece.model}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mblip_fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
declare -a results
failed=0
for t in "${targets[@]}"; do
  work="$build/work_corpus/$t"
  art="$build/artifacts/$t"
  mkdir -p "$work" "$art"
  log="$build/fuzz_$t.log"
  if { [ "$t" = tokenize ] || [ "$t" = detokenize ]; } && [ ! -f "$spm" ]; then
    echo "=== fuzz $t SKIPPED: no tokenizer model at $spm (golden data absent; set MBLIP_FUZZ_SPM)"
    results+=("$t:skipped")
    continue
  fi
  echo "=== fuzz $t for ${secs}s"
  # git keeps no empty folders: pass only the seed folders that exist in this checkout.
  seeds=()
  for d in "fuzz/corpus/$t" "fuzz/regressions/$t"; do [ -d "$d" ] && seeds+=("$d"); done
  MBLIP_FUZZ_SPM="$spm" MBLIP_FUZZ_SCRATCH="$scratch" "$build/bin/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
    -rss_limit_mb=2048 -timeout=20 ${FUZZ_SEED:+-seed=$FUZZ_SEED} -artifact_prefix="$art/" "$work" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  if [ $rc -ne 0 ]; then
    failed=1
    results+=("$t:CRASH")
    grep -E "ERROR|unclean|SUMMARY|Test unit written" "$log" | head -5
  else
    results+=("$t:ok(runs=${runs:-?},cov=${cov:-?})")
  fi
done
echo "FUZZ: ${results[*]}"
exit $failed
