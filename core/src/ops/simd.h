// Portable 4-lane float vectors (GCC/Clang vector extensions: SSE2 natively, SIMD128 in wasm,
// NEON on arm) and the vector math the ops need: exp, erf-based and tanh-based GELU.
// Internal to core/src/ops; no intrinsics, so one source serves every target.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mblip {
namespace ops {
namespace simd {

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

inline v4f splat(float x) { return v4f{x, x, x, x}; }
inline v4f load(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, v4f v) { std::memcpy(p, &v, sizeof(v)); }
inline v4f select(v4i mask, v4f a, v4f b) {  // mask lanes all-ones: a, else b
  return reinterpret_cast<v4f>((mask & reinterpret_cast<v4i>(a)) | (~mask & reinterpret_cast<v4i>(b)));
}
inline v4f vmin(v4f a, v4f b) { return select(a < b, a, b); }
inline v4f vmax(v4f a, v4f b) { return select(a > b, a, b); }
inline float hsum(v4f v) { return (v[0] + v[2]) + (v[1] + v[3]); }
inline float hmax(v4f v) {
  const float a = v[0] > v[1] ? v[0] : v[1], b = v[2] > v[3] ? v[2] : v[3];
  return a > b ? a : b;
}

// e^x, about 2 ulp on [-87.3, 88.7]; exactly 0 below (masked scores); +inf lanes clamp to e^88.7.
// 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 (two-part ln 2), e^r by a degree-7 Taylor
// polynomial (|r| <= 0.347: truncation < 1e-8 relative).
inline v4f exp(v4f x) {
  const v4f lo = splat(-87.33654f), hi = splat(88.72283f);
  const v4i underflow = x < lo;
  x = vmin(vmax(x, lo), hi);
  const v4f magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const v4f t = x * splat(1.44269504088896341f) + magic;
  const v4f n = t - magic;
  const v4i ni = reinterpret_cast<v4i>(t) - reinterpret_cast<v4i>(magic);
  v4f r = x - n * splat(0.693145751953125f);  // ln 2 high part (exact in n * hi)
  r = r - n * splat(1.428606765330187e-06f);  // ln 2 low part
  v4f p = splat(1.0f / 5040.0f);
  p = p * r + splat(1.0f / 720.0f);
  p = p * r + splat(1.0f / 120.0f);
  p = p * r + splat(1.0f / 24.0f);
  p = p * r + splat(1.0f / 6.0f);
  p = p * r + splat(0.5f);
  p = p * r + splat(1.0f);
  p = p * r + splat(1.0f);
  // n in [-126, 128]: build 2^n in two halves so n = 128 does not overflow the exponent field.
  const v4i n1 = ni >> 1, n2 = ni - n1;
  const v4f s1 = reinterpret_cast<v4f>((n1 + 127) << 23), s2 = reinterpret_cast<v4f>((n2 + 127) << 23);
  return select(underflow, splat(0.0f), p * s1 * s2);
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)). erfc(a) for a = |x|/sqrt 2 by Abramowitz & Stegun
// 7.1.26 (|error of erf| <= 1.5e-7): erfc(a) ~ t (a1 + t (a2 + ...)) e^{-a^2}, t = 1/(1 + p a).
// Then 1 + erf(x) = 2 - erfc(a) for x >= 0 and erfc(a) for x < 0 (no cancellation there).
inline v4f gelu_erf(v4f x) {
  const v4i neg = x < splat(0.0f);
  const v4f a = select(neg, -x, x) * splat(0.70710678118654752f);
  const v4f t = splat(1.0f) / (splat(1.0f) + splat(0.3275911f) * a);
  v4f p = splat(1.061405429f);
  p = p * t + splat(-1.453152027f);
  p = p * t + splat(1.421413741f);
  p = p * t + splat(-0.284496736f);
  p = p * t + splat(0.254829592f);
  const v4f erfc = p * t * exp(-(a * a));
  const v4f one_plus_erf = select(neg, erfc, splat(2.0f) - erfc);
  return splat(0.5f) * x * one_plus_erf;
}

// gelu_new(x) = 0.5 x (1 + tanh(u)) = x / (1 + e^{-2u}), u = sqrt(2/pi) (x + 0.044715 x^3).
inline v4f gelu_tanh(v4f x) {
  const v4f u = splat(0.79788456080286535588f) * (x + splat(0.044715f) * x * x * x);
  return x / (splat(1.0f) + exp(splat(-2.0f) * u));
}

}  // namespace simd
}  // namespace ops
}  // namespace mblip
