// Scalar reference of the Q8_0 x q8-block GEMM (kernels/q8_0.h): exact integer block sums, then
// y += isum * (d_w * d_x) over blocks in order. The ground truth of the SIMD variants.
#include <vector>

#include "io/quant.h"
#include "kernels/q8_0.h"

namespace mblip {

void q8_0_gemm_ref(const Q8Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                   const float* bias) {
  std::vector<float> dw(w.nb);
  for (size_t r = r0; r < r1; ++r) {
    const int8_t* qs = w.row_qs(r);
    const uint16_t* dh = w.row_d(r);
    for (size_t b = 0; b < w.nb; ++b) dw[b] = fp16_to_fp32(dh[b]);
    for (size_t i = 0; i < a.m; ++i) {
      const int8_t* xq = a.row_q(i);
      const float* dx = a.row_d(i);
      float acc = 0.f;
      for (size_t b = 0; b < w.nb; ++b) {
        const int8_t* wb = qs + b * kQ4Block;
        const int8_t* xb = xq + b * kQ4Block;
        int32_t isum = 0;
        for (size_t j = 0; j < kQ4Block; ++j) isum += static_cast<int32_t>(xb[j]) * wb[j];
        acc += static_cast<float>(isum) * (dw[b] * dx[b]);
      }
      y[i * ldy + r] = bias ? acc + bias[r] : acc;
    }
  }
}

}  // namespace mblip
