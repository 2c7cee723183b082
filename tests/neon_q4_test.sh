#!/bin/sh
# NEON Q4_0 and Q8_0 kernels vs the scalar reference, cross-compiled for aarch64 and run under qemu (a suite
# of scripts/run_tests.sh, not of ctest). Needs Debian's g++-aarch64-linux-gnu and qemu-user. Usage: tests/neon_q4_test.sh
# Builds a small driver (written below) with the kernel sources into a temp dir; exit 0 = pass.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/main.cpp" <<'CPP'
// Driver: every q4_0 variant (ref, neon) on odd shapes; |neon - ref| <= 2 (nb + 3) u sum|p_b|.
#include <cmath>
#include <cstdio>
#include <vector>
#include "io/quant.h"
#include "kernels/q4_0.h"
#include "kernels/thread_pool.h"
using namespace mblip;
int main() {
  const auto& vs = q4_0_variants();
  if (vs.size() < 2) { std::printf("FAIL: no neon variant\n"); return 1; }
  uint64_t s = 12345;
  auto rnd = [&] { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return ((s >> 40) & 0xFFFFFF) / 16777216.f * 2.f - 1.f; };
  const size_t shapes[][3] = {{1, 32, 7}, {2, 96, 1}, {5, 160, 100}, {45, 2048, 7}, {257, 160, 257}, {1, 2048, 257}, {3, 4096, 9}};
  ThreadPool pool(1);
  int fails = 0;
  double worst = 0;
  for (auto& sh : shapes) {
    const size_t m = sh[0], k = sh[1], n = sh[2];
    std::vector<float> wf(n * k), x(m * k);
    for (auto& v : wf) v = 0.05f * rnd();
    for (auto& v : x) v = rnd();
    std::vector<uint8_t> wq(n * k / 32 * 18);
    quantize_row(DType::Q4_0, wf.data(), wq.data(), static_cast<int64_t>(n * k));
    std::vector<float> wd(n * k);
    dequantize_row(DType::Q4_0, wq.data(), wd.data(), static_cast<int64_t>(n * k));
    TensorView tv; tv.name = "w"; tv.type = DType::Q4_0; tv.shape = {(int64_t)n, (int64_t)k}; tv.data = wq.data(); tv.nbytes = wq.size();
    std::vector<std::vector<float>> ys;
    for (const auto& v : vs) {
      auto kr = make_linear_q4_0(tv, nullptr, &v);
      if (!kr.ok()) { std::printf("FAIL: %s\n", kr.status().message().c_str()); return 1; }
      ys.emplace_back(m * n);
      if (!kr.value()->forward(x.data(), m, ys.back().data(), pool).ok()) { std::printf("FAIL: forward\n"); return 1; }
    }
    Q8Acts a;
    quantize_acts_q8(x.data(), m, k, (k / 32 + 3) / 4 * 4, a);
    for (size_t i = 0; i < m; ++i)
      for (size_t o = 0; o < n; ++o) {
        double sa = 0;
        for (size_t j = 0; j < k; ++j) sa += std::fabs(a.row_q(i)[j] * (double)a.row_d(i)[j / 32] * wd[o * k + j]);
        const double bound = 2 * (k / 32 + 3.0) * 0x1p-24 * sa * 1.0001 + 1e-30;
        for (size_t v = 1; v < vs.size(); ++v) {
          const double e = std::fabs((double)ys[v][i * n + o] - ys[0][i * n + o]);
          worst = std::max(worst, e / bound);
          if (e > bound) { if (fails++ < 5) std::printf("FAIL %s M=%zu K=%zu N=%zu [%zu,%zu]: %g vs %g\n", vs[v].name, m, k, n, i, o, ys[v][i*n+o], ys[0][i*n+o]); }
        }
      }
  }
  std::printf("%s: variants", fails ? "FAIL" : "PASS");
  for (const auto& v : vs) std::printf(" %s", v.name);
  std::printf("; worst |neon-ref| / bound = %.3f\n", worst);
  return fails ? 1 : 0;
}
CPP
S="$ROOT/core/src"
"$CXX" -std=c++17 -O2 -static -I"$S" -I"$ROOT/core/include" "$TMP/main.cpp" "$S/kernels/q4_0.cpp" \
  "$S/kernels/q4_0_ref.cpp" "$S/kernels/q4_0_neon.cpp" "$S/kernels/thread_pool.cpp" "$S/io/quant.cpp" \
  "$S/io/tensor.cpp" "$S/status.cpp" -o "$TMP/neon_q4_test"
file "$TMP/neon_q4_test" | grep -q aarch64
qemu-aarch64 "$TMP/neon_q4_test"
cat > "$TMP/main8.cpp" <<'CPP'
// Driver: every q8_0 variant (ref, neon) on odd shapes; |neon - ref| <= 2 (nb + 3) u sum|p_b|.
#include <cmath>
#include <cstdio>
#include <vector>
#include "io/quant.h"
#include "kernels/q8_0.h"
#include "kernels/thread_pool.h"
using namespace mblip;
int main() {
  const auto& vs = q8_0_variants();
  if (vs.size() < 2) { std::printf("FAIL: no neon q8_0 variant\n"); return 1; }
  uint64_t s = 54321;
  auto rnd = [&] { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return ((s >> 40) & 0xFFFFFF) / 16777216.f * 2.f - 1.f; };
  const size_t shapes[][3] = {{1, 32, 7}, {2, 96, 1}, {5, 160, 100}, {45, 1408, 7}, {257, 160, 257}, {1, 2048, 257}, {3, 4096, 9}};
  ThreadPool pool(1);
  int fails = 0;
  double worst = 0;
  for (auto& sh : shapes) {
    const size_t m = sh[0], k = sh[1], n = sh[2];
    std::vector<float> wf(n * k), x(m * k);
    for (auto& v : wf) v = 0.05f * rnd();
    for (auto& v : x) v = rnd();
    std::vector<uint8_t> wq(n * k / 32 * 34);
    quantize_row(DType::Q8_0, wf.data(), wq.data(), static_cast<int64_t>(n * k));
    std::vector<float> wd(n * k);
    dequantize_row(DType::Q8_0, wq.data(), wd.data(), static_cast<int64_t>(n * k));
    TensorView tv; tv.name = "w"; tv.type = DType::Q8_0; tv.shape = {(int64_t)n, (int64_t)k}; tv.data = wq.data(); tv.nbytes = wq.size();
    std::vector<std::vector<float>> ys;
    for (const auto& v : vs) {
      auto kr = make_linear_q8_0(tv, nullptr, &v);
      if (!kr.ok()) { std::printf("FAIL: %s\n", kr.status().message().c_str()); return 1; }
      ys.emplace_back(m * n);
      if (!kr.value()->forward(x.data(), m, ys.back().data(), pool).ok()) { std::printf("FAIL: forward\n"); return 1; }
    }
    Q8Acts a;
    quantize_acts_q8(x.data(), m, k, (k / 32 + 3) / 4 * 4, a);
    for (size_t i = 0; i < m; ++i)
      for (size_t o = 0; o < n; ++o) {
        double sa = 0;
        for (size_t j = 0; j < k; ++j) sa += std::fabs(a.row_q(i)[j] * (double)a.row_d(i)[j / 32] * wd[o * k + j]);
        const double bound = 2 * (k / 32 + 3.0) * 0x1p-24 * sa * 1.0001 + 1e-30;
        for (size_t v = 1; v < vs.size(); ++v) {
          const double e = std::fabs((double)ys[v][i * n + o] - ys[0][i * n + o]);
          worst = std::max(worst, e / bound);
          if (e > bound) { if (fails++ < 5) std::printf("FAIL %s M=%zu K=%zu N=%zu [%zu,%zu]: %g vs %g\n", vs[v].name, m, k, n, i, o, ys[v][i*n+o], ys[0][i*n+o]); }
        }
      }
  }
  std::printf("%s: q8_0 variants", fails ? "FAIL" : "PASS");
  for (const auto& v : vs) std::printf(" %s", v.name);
  std::printf("; worst |neon-ref| / bound = %.3f\n", worst);
  return fails ? 1 : 0;
}
CPP
"$CXX" -std=c++17 -O2 -static -I"$S" -I"$ROOT/core/include" "$TMP/main8.cpp" "$S/kernels/q8_0.cpp" \
  "$S/kernels/q8_0_ref.cpp" "$S/kernels/q8_0_neon.cpp" "$S/kernels/q4_0.cpp" "$S/kernels/q4_0_ref.cpp" \
  "$S/kernels/q4_0_neon.cpp" "$S/kernels/thread_pool.cpp" "$S/io/quant.cpp" "$S/io/tensor.cpp" "$S/status.cpp" \
  -o "$TMP/neon_q8_test"
qemu-aarch64 "$TMP/neon_q8_test"

