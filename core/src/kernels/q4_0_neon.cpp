// NEON (AArch64 baseline, no dotprod extension) variant of the Q4_0 x q8-block GEMM
// (kernels/q4_0.h): nibbles to signed int8 (q - 8); the shared NEON micro-kernel does the widening
// block dot and the scaling (kernels/block_int8_neon.h).
#include "kernels/block_int8_neon.h"
#include "kernels/q4_0.h"

namespace mblip {
namespace {

struct Q4UnpackNeon {
  static constexpr size_t kBlockBytes = 16;
  static NeonBlock unpack(const uint8_t* wb) {
    const uint8x16_t raw = vld1q_u8(wb);
    const int8x16_t eight = vdupq_n_s8(8);
    return {vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F))), eight),  // elements 0..15
            vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight)};             // elements 16..31
  }
};

}  // namespace

void q4_0_gemm_neon(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                    const float* bias) {
  block_gemm<BlockNeonKernel<Q4UnpackNeon>>(w, a, r0, r1, y, ldy, bias);
}

}  // namespace mblip
