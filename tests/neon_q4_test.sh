#!/bin/sh
# NEON Q4_0 and Q8_0 kernels: the same Catch2 cases as natively (tests/test_kernels_q4.cpp,
# test_kernels_q8.cpp on the shared fixture kernels_block_fixture.h: every variant, here ref + neon,
# and the int8-rows kernel's reference, test_kernels_i8rows.cpp,
# against the scalar reference and float64), cross-compiled for aarch64 and run under qemu-user (a suite
# of scripts/run_tests.sh, not of ctest). Needs Debian's g++-aarch64-linux-gnu and qemu-user; exit 0 = pass.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
S="$ROOT/core/src"
K="$S/kernels"
mkdir -p "$TMP/inc"
ln -s /usr/include/catch2 "$TMP/inc/catch2"  # only Catch2 from the host headers
"$CXX" -std=c++17 -O2 -static -DMBLIP_VERSION=\"neon-test\" -I"$TMP/inc" -I"$S" -I"$ROOT/core/include" -I"$ROOT/tests" \
  "$ROOT/tests/main.cpp" "$ROOT/tests/test_kernels_q4.cpp" "$ROOT/tests/test_kernels_q8.cpp" "$ROOT/tests/test_kernels_i8rows.cpp" \
  "$K/block_int8.cpp" "$K/q4_0.cpp" "$K/q4_0_ref.cpp" "$K/q4_0_neon.cpp" "$K/q8_0.cpp" "$K/q8_0_ref.cpp" \
  "$K/q8_0_neon.cpp" "$K/linear.cpp" "$K/linear_ref.cpp" "$K/int8_rows.cpp" "$K/weight_cache.cpp" "$K/weight_cache_file.cpp" "$K/thread_pool.cpp" "$K/thread_pool_state.cpp" \
  "$S/io/quant.cpp" "$S/io/tensor.cpp" "$S/status.cpp" -o "$TMP/neon_kernel_tests"
file "$TMP/neon_kernel_tests" | grep -q aarch64
# The cases check that neon is this build's fastest variant and compare every variant with the reference.
qemu-aarch64 "$TMP/neon_kernel_tests" "[kernels]" --use-colour no
