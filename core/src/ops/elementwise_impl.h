// Internal to core/src/ops: element-wise ops served by XNNPACK when it is built in
// (elementwise_xnnpack.cpp); each returns false when it did nothing, and the caller then runs
// the portable vector code of elementwise.cpp. And the switch of the 8-lane AVX2 paths.
#pragma once
#include <cstddef>
#include <cstdlib>

#include "kernels/thread_pool.h"

namespace mblip {
namespace ops {
namespace detail {

// In-place 0.5 x (1 + erf(x / sqrt 2)) over n floats on XNNPACK's vgelu (rational erf; about
// 2.5x the absolute error of ours: not used by default, MBLIP_XNN_GELU=1 switches it on).
bool xnn_gelu_erf(float* x, size_t n, ThreadPool& pool);

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(__EMSCRIPTEN__)
#define MBLIP_OPS_HAVE_AVX2 1
// simd::gelu_erf / simd::gelu_tanh on 8 AVX2 lanes with FMA (elementwise_avx2.cpp); only call when
// the CPU has AVX2 and FMA (have_avx2_fma()).
void gelu_erf_avx2(float* x, size_t n);
void gelu_tanh_avx2(float* x, size_t n);
// ops::log_sum_exp on 8 lanes (n >= 8).
double log_sum_exp_avx2(const float* x, size_t n);
inline bool have_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
// The 8-lane paths are used: the CPU has AVX2 and FMA and MBLIP_OPS_AVX2 is not 0 (that keeps the
// 4-lane code, for before/after timings).
inline bool use_avx2() {
  const char* e = std::getenv("MBLIP_OPS_AVX2");
  return have_avx2_fma() && !(e && e[0] == '0');
}
#endif

}  // namespace detail
}  // namespace ops
}  // namespace mblip
