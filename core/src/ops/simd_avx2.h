// 8-lane float vectors for the x86-64 AVX2+FMA files of core/src/ops (*_avx2.cpp, compiled with
// -mavx2 -mfma): GCC vector types, no intrinsics, the same formulas as ops/simd.h's 4-lane code.
// Include from *_avx2.cpp files only.
#pragma once
#include <cstdint>
#include <cstring>

namespace mblip {
namespace ops {
namespace avx2 {

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8f splat8(float x) { return v8f{x, x, x, x, x, x, x, x}; }
inline v8f sel(v8i m, v8f a, v8f b) { return (v8f)((m & (v8i)a) | (~m & (v8i)b)); }
inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store8(float* p, v8f v) { std::memcpy(p, &v, sizeof(v)); }
inline v8f vmax8(v8f a, v8f b) { return sel(a > b, a, b); }
// Pairwise lane sums ((0+4) + (1+5)) + ((2+6) + (3+7)).
inline float hsum8(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }
inline float hmax8(v8f v) {
  float m = v[0];
  for (int i = 1; i < 8; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

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

}  // namespace avx2
}  // namespace ops
}  // namespace mblip
