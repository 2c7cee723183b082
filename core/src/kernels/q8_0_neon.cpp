// NEON (AArch64 baseline, no dotprod extension) variant of the Q8_0 x q8-block GEMM
// (kernels/q8_0.h). Per block: widening int8 multiplies into int16 (each lane sums 2 products,
// |.| <= 2 * 128 * 127), pairwise-accumulated into 4 int32 lanes (exact), scaled by d_w * d_x
// into float lanes. Tiles of 4 activation rows share each weight block load.
#include <arm_neon.h>

#include <algorithm>
#include <vector>

#include "kernels/q8_0.h"

namespace mblip {
namespace {

constexpr size_t kMChunk = 16;  // activation rows per pass over a task's weight rows (16 x K int8 in L1)

inline int32x4_t block_dot(int8x16_t w0, int8x16_t w1, const int8_t* xb) {
  const int8x16_t x0 = vld1q_s8(xb), x1 = vld1q_s8(xb + 16);
  int16x8_t p0 = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
  p0 = vmlal_s8(p0, vget_high_s8(w0), vget_high_s8(x0));
  int16x8_t p1 = vmull_s8(vget_low_s8(w1), vget_low_s8(x1));
  p1 = vmlal_s8(p1, vget_high_s8(w1), vget_high_s8(x1));
  return vpadalq_s16(vpaddlq_s16(p0), p1);
}

template <int MR>
inline void tile(const int8_t* qs, const float* dw, const Q8Acts& a, size_t i0, size_t r, float* y, size_t ldy,
                 const float* bias) {
  const size_t nbp = a.nbp;
  constexpr int kAcc = MR >= 4 ? 1 : (MR == 1 ? 4 : 2);  // nbp is a multiple of 4
  float32x4_t acc[MR][kAcc];
  const int8_t* xq[MR];
  const float* dx[MR];
  for (int t = 0; t < MR; ++t) {
    for (int u = 0; u < kAcc; ++u) acc[t][u] = vdupq_n_f32(0.f);
    xq[t] = a.row_q(i0 + t);
    dx[t] = a.row_d(i0 + t);
  }
  for (size_t b0 = 0; b0 < nbp; b0 += kAcc)
    for (int u = 0; u < kAcc; ++u) {
      const size_t b = b0 + static_cast<size_t>(u);
      const int8x16_t w0 = vld1q_s8(qs + b * kQ4Block), w1 = vld1q_s8(qs + b * kQ4Block + 16);
      for (int t = 0; t < MR; ++t) {
        const int32x4_t p = block_dot(w0, w1, xq[t] + b * kQ4Block);
        acc[t][u] = vmlaq_n_f32(acc[t][u], vcvtq_f32_s32(p), dw[b] * dx[t][b]);
      }
    }
  for (int t = 0; t < MR; ++t) {
    for (int u = kAcc / 2; u > 0; u /= 2)
      for (int j = 0; j < u; ++j) acc[t][j] = vaddq_f32(acc[t][j], acc[t][j + u]);
    const float v = (vgetq_lane_f32(acc[t][0], 0) + vgetq_lane_f32(acc[t][0], 1)) +
                    (vgetq_lane_f32(acc[t][0], 2) + vgetq_lane_f32(acc[t][0], 3));
    y[(i0 + t) * ldy + r] = bias ? v + bias[r] : v;
  }
}

}  // namespace

void q8_0_gemm_neon(const Q8Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                    const float* bias) {
  thread_local std::vector<float> dw;
  if (dw.size() < w.nbp) dw.resize(w.nbp);
  for (size_t i0 = 0; i0 < a.m; i0 += kMChunk) {
    const size_t i1 = std::min(a.m, i0 + kMChunk);
    for (size_t r = r0; r < r1; ++r) {
      const uint16_t* dh = w.row_d(r);
      for (size_t b = 0; b < w.nbp; b += 4)
        vst1q_f32(dw.data() + b, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(dh + b))));
      const int8_t* qs = w.row_qs(r);
      size_t i = i0;
      for (; i + 4 <= i1; i += 4) tile<4>(qs, dw.data(), a, i, r, y, ldy, bias);
      switch (i1 - i) {
        case 3: tile<3>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        case 2: tile<2>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        case 1: tile<1>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        default: break;
      }
    }
  }
}

}  // namespace mblip
