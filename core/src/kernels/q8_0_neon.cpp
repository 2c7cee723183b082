// NEON (AArch64 baseline, no dotprod extension) variant of the Q8_0 x q8-block GEMM
// (kernels/q8_0.h): the int8 weights as they are; the shared NEON micro-kernel does the widening
// block dot and the scaling (kernels/block_int8_neon.h).
#include "kernels/block_int8_neon.h"
#include "kernels/q8_0.h"

namespace mblip {
namespace {

struct Q8UnpackNeon {
  static constexpr size_t kBlockBytes = 32;
  static NeonBlock unpack(const uint8_t* wb) {
    return {vld1q_s8(reinterpret_cast<const int8_t*>(wb)), vld1q_s8(reinterpret_cast<const int8_t*>(wb) + 16)};
  }
};

}  // namespace

void q8_0_gemm_neon(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                    const float* bias) {
  block_gemm<BlockNeonKernel<Q8UnpackNeon>>(w, a, r0, r1, y, ldy, bias);
}

}  // namespace mblip
