// WASM SIMD128 variant of the Q8_0 x q8-block GEMM (kernels/q8_0.h): weights and activations widened
// to int16 on load, i32x4.dot_i16x8_s (exact integers); tiling and scaling in the shared wasm
// micro-kernel (kernels/block_int8_wasm.h).
#include "kernels/block_int8_wasm.h"
#include "kernels/q8_0.h"

namespace mblip {
namespace {

struct Q8DotSimd128 {
  static constexpr size_t kBlockBytes = 32;
  static constexpr float kScale = 1.0f;
  static constexpr bool kPerBlockOk = true;
  static constexpr int32_t kSumOffset = 0;
  using W = WasmI16Block;
  using X = WasmI16Block;
  static W unpack(const uint8_t* q) { return wasm_load_i16_block(reinterpret_cast<const int8_t*>(q)); }
  static X load(const int8_t* xb) { return wasm_load_i16_block(xb); }
  static v128_t dot(const W& w, const X& x) { return wasm_i16_block_dot(w, x); }
};

}  // namespace

void q8_0_gemm_wasm_simd128(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  block_gemm<BlockWasmKernel<Q8DotSimd128>>(w, a, r0, r1, y, ldy, bias);
}

}  // namespace mblip
