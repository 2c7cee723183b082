// x86-64 AVX2+FMA build of the GELUs of ops/simd.h (the erf form: same Abramowitz & Stegun erfc and
// exp formulas; the tanh form) and of log_sum_exp, 8 lanes with fused multiply-adds: elementwise.cpp
// calls them when the CPU has AVX2.
// Compiled with -mavx2 -mfma (core/CMakeLists.txt: *_avx2.cpp); plain GCC vectors, no intrinsics.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "ops/elementwise_impl.h"
#include "ops/simd_avx2.h"

namespace mblip {
namespace ops {
namespace detail {
namespace {

using namespace avx2;

// simd::gelu_erf on 8 lanes.
inline v8f gelu8(v8f x) {
  const v8i neg = x < 0.0f;
  const v8f a = sel(neg, -x, x) * 0.70710678118654752f;
  const v8f t = 1.0f / (1.0f + 0.3275911f * a);
  v8f p = splat8(1.061405429f);
  p = p * t + -1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t + -0.284496736f;
  p = p * t + 0.254829592f;
  const v8f erfc = p * t * exp8(-(a * a));
  const v8f one_plus_erf = sel(neg, erfc, 2.0f - erfc);
  return 0.5f * x * one_plus_erf;
}

// simd::gelu_tanh on 8 lanes: x / (1 + e^{-2u}), u = sqrt(2/pi) (x + 0.044715 x^3).
inline v8f gelu_tanh8(v8f x) {
  const v8f u = 0.79788456080286535588f * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp8(-2.0f * u));
}

// f over n floats in place, 8 at a time, the tail through a padded vector.
template <typename F>
inline void map8(float* x, size_t n, F f) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v8f v;
    std::memcpy(&v, x + i, sizeof(v));
    v = f(v);
    std::memcpy(x + i, &v, sizeof(v));
  }
  if (i < n) {
    float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tmp, x + i, (n - i) * sizeof(float));
    v8f v;
    std::memcpy(&v, tmp, sizeof(v));
    v = f(v);
    std::memcpy(tmp, &v, sizeof(v));
    std::memcpy(x + i, tmp, (n - i) * sizeof(float));
  }
}

}  // namespace

void gelu_erf_avx2(float* x, size_t n) { map8(x, n, gelu8); }

// log_sum_exp's steps 8 lanes wide: the vector max, then exp8(x - max) summed in float lanes per
// block of 4096 values and in double across blocks; the tail through a padded vector (its padding
// lanes not summed). n >= 8.
double log_sum_exp_avx2(const float* x, size_t n) {
  v8f vm = load8(x);
  size_t i = 8;
  for (; i + 8 <= n; i += 8) vm = vmax8(vm, load8(x + i));
  float mx = hmax8(vm);
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  if (std::isinf(mx)) return mx;  // all -inf, or a +inf entry
  const v8f m = splat8(mx);
  double sum = 0;
  constexpr size_t kBlock = 4096;
  i = 0;
  while (i + 8 <= n) {
    const size_t end = std::min(n - n % 8, i + kBlock);
    v8f acc = splat8(0.0f);
    for (; i < end; i += 8) acc += exp8(load8(x + i) - m);
    sum += hsum8(acc);
  }
  if (i < n) {
    float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t j = i; j < n; ++j) t[j - i] = x[j] - mx;
    const v8f e = exp8(load8(t));
    for (size_t j = i; j < n; ++j) sum += e[j - i];
  }
  return static_cast<double>(mx) + std::log(sum);
}
void gelu_tanh_avx2(float* x, size_t n) { map8(x, n, gelu_tanh8); }

}  // namespace detail
}  // namespace ops
}  // namespace mblip
