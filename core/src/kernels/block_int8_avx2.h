// AVX2/FMA/F16C micro-kernel of the block-int8 driver (kernels/block_int8_driver.h), parameterized by
// the format's block dot (8 exact int32 lanes). Include only from *_avx2.cpp files (-mavx2 -mfma -mf16c).
#pragma once
#include <immintrin.h>

#include "kernels/block_int8_driver.h"

namespace mblip {

inline float avx2_hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Dot: kBlockBytes; W prep(const uint8_t* wb); __m256i dot(const W&, const int8_t* xb, int32_t xsum).
template <class Dot>
struct BlockAvx2Kernel {
  static constexpr bool kPairRows = false;
  static void scales(const uint16_t* dh, size_t nbp, float* dst) {
    for (size_t b = 0; b < nbp; b += 4)  // nbp is a multiple of 4
      _mm_storeu_ps(dst + b, _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(dh + b))));
  }
  template <int MR, int NR>
  static void tile(const uint8_t* const* qs, const float* const* dw, const Q8Acts& a, size_t i0,
                   float (&out)[MR][NR]) {
    static_assert(NR == 1, "AVX2 tiles are one weight row");
    // Independent accumulators per row so small tiles (M = 1 decode) are not bound by the latency of
    // one add chain: blocks b go to acc[t][b % kAcc]; nbp is a multiple of 4.
    constexpr int kAcc = MR >= 4 ? 1 : (MR == 1 ? 4 : 2);
    __m256 acc[MR][kAcc];
    const int8_t* xq[MR];
    const float* dx[MR];
    const int32_t* xs[MR];
    for (int t = 0; t < MR; ++t) {
      for (int u = 0; u < kAcc; ++u) acc[t][u] = _mm256_setzero_ps();
      xq[t] = a.row_q(i0 + t);
      dx[t] = a.row_d(i0 + t);
      xs[t] = a.row_s(i0 + t);
    }
    for (size_t b0 = 0; b0 < a.nbp; b0 += kAcc)
      for (int u = 0; u < kAcc; ++u) {
        const size_t b = b0 + static_cast<size_t>(u);
        const auto wv = Dot::prep(qs[0] + b * Dot::kBlockBytes);
        const __m256 dwv = _mm256_broadcast_ss(dw[0] + b);
        for (int t = 0; t < MR; ++t) {
          const __m256i p = Dot::dot(wv, xq[t] + b * kQ4Block, xs[t][b]);
          const __m256 s = _mm256_mul_ps(dwv, _mm256_broadcast_ss(dx[t] + b));
          acc[t][u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), s, acc[t][u]);
        }
      }
    for (int t = 0; t < MR; ++t) {
      for (int u = kAcc / 2; u > 0; u /= 2)
        for (int j = 0; j < u; ++j) acc[t][j] = _mm256_add_ps(acc[t][j], acc[t][j + u]);
      out[t][0] = avx2_hsum(acc[t][0]);
    }
  }
};

}  // namespace mblip
