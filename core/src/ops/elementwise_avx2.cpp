// x86-64 AVX2+FMA build of the GELUs of ops/simd.h (the erf form: same Abramowitz & Stegun erfc and
// exp formulas; the tanh form; 8 lanes, fused multiply-adds): elementwise.cpp calls them when the CPU
// has AVX2.
// Compiled with -mavx2 -mfma (core/CMakeLists.txt: *_avx2.cpp); plain GCC vectors, no intrinsics.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ops/elementwise_impl.h"

namespace mblip {
namespace ops {
namespace detail {
namespace {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8f splat8(float x) { return v8f{x, x, x, x, x, x, x, x}; }
inline v8f sel(v8i m, v8f a, v8f b) { return (v8f)((m & (v8i)a) | (~m & (v8i)b)); }

// e^x as simd::exp (ops/simd.h): 2^n e^r, degree-7 Taylor polynomial, 0 below -87.34.
inline v8f exp8(v8f x) {
  const v8f lo = splat8(-87.33654f), hi = splat8(88.72283f);
  const v8i underflow = x < lo;
  x = sel(x < lo, lo, x);
  x = sel(x > hi, hi, x);
  const v8f magic = splat8(12582912.0f);
  const v8f t = x * 1.44269504088896341f + magic;
  const v8f n = t - magic;
  const v8i ni = (v8i)t - (v8i)magic;
  v8f r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187e-06f;
  v8f p = splat8(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const v8i n1 = ni >> 1, n2 = ni - n1;
  const v8f s1 = (v8f)((n1 + 127) << 23), s2 = (v8f)((n2 + 127) << 23);
  return sel(underflow, splat8(0.0f), p * s1 * s2);
}

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
void gelu_tanh_avx2(float* x, size_t n) { map8(x, n, gelu_tanh8); }

}  // namespace detail
}  // namespace ops
}  // namespace mblip
