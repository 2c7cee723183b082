// Scalar reference of the Q8_0 x q8-block GEMM (kernels/q8_0.h): exact integer block sums, then
// y += isum * (d_w * d_x) over blocks in order. The ground truth of the SIMD variants.
#include "kernels/block_int8_ref.h"
#include "kernels/q8_0.h"

namespace mblip {
namespace {

struct Q8Dot {
  static constexpr size_t kBlockBytes = 32;
  static int32_t dot(const uint8_t* wb, const int8_t* xb) {
    int32_t isum = 0;
    for (size_t j = 0; j < kQ4Block; ++j) isum += static_cast<int32_t>(xb[j]) * static_cast<int8_t>(wb[j]);
    return isum;
  }
};

}  // namespace

void q8_0_gemm_ref(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                   const float* bias) {
  block_gemm<BlockRefKernel<Q8Dot>>(w, a, r0, r1, y, ldy, bias);
}

}  // namespace mblip
