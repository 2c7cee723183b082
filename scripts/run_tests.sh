#!/usr/bin/env bash
# Runs every suite (native ctest, wasm ctest under node, JS tests, browser tests) and prints one
# summary line. Assumes `make build` has run. Exit status is non-zero if any suite failed.
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
if [ -f web/package.json ] && grep -q '"test"' web/package.json; then
  run_suite js bash -c "cd web && npm test"
fi
summary="SUMMARY: ${results[*]}"
echo "$summary"
[[ "$summary" != *FAILED* ]]
