#!/usr/bin/env bash
# Runs every suite and prints one summary line: native Catch2 + CLI (ctest), the same Catch2 tests
# compiled to wasm under node (ctest), the NEON kernel under qemu-aarch64, the JS package tests (node:test, incl. headless Chromium),
# the relaxed-SIMD kernel tests in headless Chromium,
# the ASan+UBSan build of the native tests, and each libFuzzer target briefly on top of its corpus.
# Assumes `make build` has run. Exit status is non-zero if any suite failed.
#   MBLIP_FUZZ_SECONDS (default 20) per fuzz target; MBLIP_SKIP_SLOW=1 skips the asan and fuzz suites.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
declare -a names results
run_suite() {
  local name=$1; shift
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then results+=("$name:ok($((SECONDS-start))s)"); else results+=("$name:FAILED($((SECONDS-start))s)"); fi
}
run_suite native ctest --preset native -j "$(nproc)"
run_suite wasm ctest --preset wasm -j "$(nproc)"
# NEON Q4_0 kernel: cross-compiled for aarch64, run under qemu-user against the scalar reference.
run_suite neon sh tests/neon_q4_test.sh
if [ -f web/package.json ] && grep -q '"test"' web/package.json; then
  run_suite js bash -c "cd web && npm test"
fi
# The relaxed-SIMD kernel tests (tests/test_kernels_relaxed.cpp) and the quantization-quality floors
# (tests/test_quality.cpp) cannot run under Node 20 (no relaxed opcodes): compiled against the relaxed
# build's library and run in headless Chromium, the golden data preloaded.
if [ -d build/wasm-relaxed ]; then
  run_suite relaxed node tools/bench/wasm_kernels.mjs --build build/wasm-relaxed --tests '[relaxed],[quality]'
fi
if [ "${MBLIP_SKIP_SLOW:-0}" != "1" ]; then
  run_suite asan bash -o pipefail -c "cmake --preset native-asan >/dev/null && cmake --build --preset native-asan -j $(nproc) | tail -n 5 && ctest --preset native-asan -j $(nproc)"
  run_suite fuzz env FUZZ_SEED="${FUZZ_SEED:-1}" scripts/fuzz.sh "${MBLIP_FUZZ_SECONDS:-20}"
fi
summary="SUMMARY: ${results[*]}"
echo "$summary"
[[ "$summary" != *FAILED* ]]
