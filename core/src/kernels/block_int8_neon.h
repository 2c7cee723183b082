// NEON (AArch64 baseline) micro-kernel of the block-int8 driver (kernels/block_int8_driver.h),
// parameterized by the format's block dot (4 exact int32 lanes). Include only from *_neon.cpp files.
#pragma once
#include <arm_neon.h>

#include "kernels/block_int8_driver.h"

namespace mblip {

// Both formats' weights as two int8x16 (elements 0..15, 16..31) and the widening block dot.
struct NeonBlock {
  int8x16_t lo, hi;
};
inline int32x4_t neon_block_dot(const NeonBlock& w, const int8_t* xb) {
  const int8x16_t x0 = vld1q_s8(xb), x1 = vld1q_s8(xb + 16);
  int16x8_t p0 = vmull_s8(vget_low_s8(w.lo), vget_low_s8(x0));
  p0 = vmlal_s8(p0, vget_high_s8(w.lo), vget_high_s8(x0));  // each lane 2 products: |.| <= 2 * 128 * 127
  int16x8_t p1 = vmull_s8(vget_low_s8(w.hi), vget_low_s8(x1));
  p1 = vmlal_s8(p1, vget_high_s8(w.hi), vget_high_s8(x1));
  return vpadalq_s16(vpaddlq_s16(p0), p1);
}

// Unpack: kBlockBytes; static NeonBlock unpack(const uint8_t* wb).
template <class Unpack>
struct BlockNeonKernel {
  static constexpr bool kPairRows = false;
  static void scales(const uint16_t* dh, size_t nbp, float* dst) {
    for (size_t b = 0; b < nbp; b += 4) vst1q_f32(dst + b, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh + b))));
  }
  template <int MR, int NR>
  static void tile(const uint8_t* const* qs, const float* const* dw, const Q8Acts& a, size_t i0,
                   float (&out)[MR][NR]) {
    static_assert(NR == 1, "NEON tiles are one weight row");
    // Independent accumulators per row (M = 1 decode is not bound by one add chain); nbp % 4 == 0.
    constexpr int kAcc = MR >= 4 ? 1 : (MR == 1 ? 4 : 2);
    float32x4_t acc[MR][kAcc];
    const int8_t* xq[MR];
    const float* dx[MR];
    for (int t = 0; t < MR; ++t) {
      for (int u = 0; u < kAcc; ++u) acc[t][u] = vdupq_n_f32(0.f);
      xq[t] = a.row_q(i0 + t);
      dx[t] = a.row_d(i0 + t);
    }
    for (size_t b0 = 0; b0 < a.nbp; b0 += kAcc)
      for (int u = 0; u < kAcc; ++u) {
        const size_t b = b0 + static_cast<size_t>(u);
        const NeonBlock wv = Unpack::unpack(qs[0] + b * Unpack::kBlockBytes);
        for (int t = 0; t < MR; ++t) {
          const int32x4_t p = neon_block_dot(wv, xq[t] + b * kQ4Block);
          acc[t][u] = vaddq_f32(acc[t][u], vmulq_n_f32(vcvtq_f32_s32(p), dw[0][b] * dx[t][b]));
        }
      }
    for (int t = 0; t < MR; ++t) {
      for (int u = kAcc / 2; u > 0; u /= 2)
        for (int j = 0; j < u; ++j) acc[t][j] = vaddq_f32(acc[t][j], acc[t][j + u]);
      out[t][0] = (vgetq_lane_f32(acc[t][0], 0) + vgetq_lane_f32(acc[t][0], 1)) +
                  (vgetq_lane_f32(acc[t][0], 2) + vgetq_lane_f32(acc[t][0], 3));
    }
  }
};

}  // namespace mblip
