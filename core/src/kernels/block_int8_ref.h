// Scalar micro-kernel of the block-int8 driver (kernels/block_int8_driver.h), parameterized by the
// format's exact integer block dot: isum over the blocks in order, y += isum * (d_w * d_x).
#pragma once
#include "io/quant.h"
#include "kernels/block_int8_driver.h"

namespace mblip {

// Dot: static int32_t dot(const uint8_t* wq, const int8_t* xq) for one block of 32.
template <class Dot>
struct BlockRefKernel {
  static constexpr bool kPairRows = false;
  static void scales(const uint16_t* dh, size_t nbp, float* dst) {
    for (size_t b = 0; b < nbp; ++b) dst[b] = fp16_to_fp32(dh[b]);
  }
  template <int MR, int NR>
  static void tile(const uint8_t* const* qs, const float* const* dw, const Q8Acts& a, size_t i0,
                   float (&out)[MR][NR]) {
    const size_t wb = Dot::kBlockBytes;
    for (int t = 0; t < MR; ++t)
      for (int n = 0; n < NR; ++n) {
        const int8_t* xq = a.row_q(i0 + t);
        const float* dx = a.row_d(i0 + t);
        float acc = 0.f;
        for (size_t b = 0; b < a.nbp; ++b)
          acc += static_cast<float>(Dot::dot(qs[n] + b * wb, xq + b * kQ4Block)) * (dw[n][b] * dx[b]);
        out[t][n] = acc;
      }
  }
};

}  // namespace mblip
