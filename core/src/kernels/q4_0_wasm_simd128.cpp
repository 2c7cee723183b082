// WASM SIMD128 variant of the Q4_0 x q8-block GEMM (kernels/q4_0.h). Few rows (decode): nibbles to
// int16 16 * (q - 8), i32x4.dot_i16x8_s with the int8 activations widened on load, tiling and scaling
// in the shared wasm micro-kernel (kernels/block_int8_wasm.h). From 8 rows on: the row-lane kernel
// (kernels/block_int8_rowlane_wasm.h, weights unpacked once per task to int16), equal to the scalar
// reference bit for bit.
#include "kernels/block_int8_rowlane_wasm.h"
#include "kernels/block_int8_wasm.h"
#include "kernels/q4_0.h"

namespace mblip {
namespace {

struct Q4DotSimd128 {
  static constexpr size_t kBlockBytes = 16;
  static constexpr float kScale = 1.0f / 16.0f;  // undoes the 16x of unpack (exact: a power of two)
  static constexpr bool kPerBlockOk = true;
  using W = WasmI16Block;
  using X = WasmI16Block;
  // One weight block as 4 x 8 int16 holding 16 * (q - 8), in element order 0..31. XOR 0x88 turns
  // each nibble q into the 4-bit two's complement of q - 8; shifting the low nibble up (shl 4) or
  // masking the high one (and 0xF0) then gives 16 * (q - 8) as int8 directly. Block sums are 16x
  // the true ones: exact in int32 (|16 (q - 8) x| <= 128 * 127).
  static W unpack(const uint8_t* q) {
    const v128_t raw = wasm_v128_xor(wasm_v128_load(q), wasm_i8x16_splat(static_cast<int8_t>(0x88)));
    const v128_t lo = wasm_i8x16_shl(raw, 4);                                          // elements 0..15
    const v128_t hi = wasm_v128_and(raw, wasm_i8x16_splat(static_cast<int8_t>(0xF0)));  // elements 16..31
    return {{wasm_i16x8_extend_low_i8x16(lo), wasm_i16x8_extend_high_i8x16(lo), wasm_i16x8_extend_low_i8x16(hi),
             wasm_i16x8_extend_high_i8x16(hi)}};
  }
  static X load(const int8_t* xb, int32_t) { return wasm_load_i16_block(xb); }
  static v128_t dot(const W& w, const X& x) { return wasm_i16_block_dot(w, x); }
};

constexpr size_t kLargeM = 8;  // from this many rows on, the row-lane kernel (at M = 5 the driver is faster)

}  // namespace

void q4_0_gemm_wasm_simd128(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  if (a.m >= kLargeM) RowLaneGemm<Q4RelaxedFmt, Simd128Q4Sums, 1, 4>::gemm(w, a, r0, r1, y, ldy, bias);
  else block_gemm<BlockWasmKernel<Q4DotSimd128>>(w, a, r0, r1, y, ldy, bias);
}

}  // namespace mblip
