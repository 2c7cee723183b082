// Relaxed-SIMD variant of the Q8_0 x q8-block GEMM (kernels/q8_0.h), built only with -mrelaxed-simd.
// Relaxed dots are engine-independent only for a 7-bit operand in 0..127 whose pair sums fit int16
// (x86 engines without AVX-VNNI saturate them, e.g. Chromium here). So each weight w is split:
// u = w + 128 = 16 uh + ul with uh, ul in 0..15, and dot(x, w) = 16 dot(x, uh) + dot(x, ul) - 128 sum(x),
// every relaxed dot exact on every engine. M <= 2 (decode): the transposed wasm driver
// (block_int8_wasm.h, one weight row a tile). More rows: the row-lane kernel
// (block_int8_rowlane_wasm.h), equal to the scalar reference bit for bit, but for a lone row after
// whole 4-row tiles (rowlane_rows: a beam-5 step's fifth), which the few-row path takes.
#if defined(__wasm_relaxed_simd__)
#include "kernels/block_int8_rowlane_wasm.h"
#include "kernels/block_int8_wasm.h"
#include "kernels/q8_0.h"

namespace mblip {
namespace {

struct Q8DotRelaxed {
  static constexpr size_t kBlockBytes = 32;
  static constexpr float kScale = 1.0f;
  static constexpr bool kPerBlockOk = false;  // the block sums need the offset correction:
  static constexpr int32_t kSumOffset = -128;   // the weights' offset x the activation block sum
  struct W {
    v128_t hi0, lo0, hi1, lo1;  // uh and ul of elements 0..15, then of 16..31
  };
  using X = WasmRelaxedActs;
  static W unpack(const uint8_t* q) {
    const v128_t bias = wasm_i8x16_splat(static_cast<int8_t>(0x80)), mask = wasm_i8x16_splat(0x0F);
    const v128_t u0 = wasm_v128_xor(wasm_v128_load(q), bias), u1 = wasm_v128_xor(wasm_v128_load(q + 16), bias);
    return {wasm_u8x16_shr(u0, 4), wasm_v128_and(u0, mask), wasm_u8x16_shr(u1, 4), wasm_v128_and(u1, mask)};
  }
  static X load(const int8_t* xb) { return X::load(xb); }
  static v128_t dot(const W& w, const X& x) {
    const v128_t h = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(
        x.hi, w.hi1, wasm_i32x4_relaxed_dot_i8x16_i7x16_add(x.lo, w.hi0, wasm_i32x4_splat(0)));
    const v128_t l = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(
        x.hi, w.lo1, wasm_i32x4_relaxed_dot_i8x16_i7x16_add(x.lo, w.lo0, wasm_i32x4_splat(0)));
    return wasm_i32x4_add(wasm_i32x4_shl(h, 4), l);
  }
};

// Tiles of 16 activation rows x 1 weight row (two int16 accumulators per pair: fewer registers).
using Large = RowLaneGemm<Q8RelaxedFmt, RelaxedSums<Q8RelaxedFmt>, 4, 1>;

}  // namespace

void q8_0_gemm_wasm_relaxed_small(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                                  const float* bias) {
  block_gemm<BlockWasmKernel<Q8DotRelaxed>>(w, a, r0, r1, y, ldy, bias);
}

void q8_0_gemm_wasm_relaxed_large(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                                  const float* bias) {
  Large::gemm(w, a, r0, r1, y, ldy, bias);
}

void q8_0_gemm_wasm_relaxed(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  relaxed_gemm<Large, BlockWasmKernel<Q8DotRelaxed>>(w, a, r0, r1, y, ldy, bias, kQ8RelaxedRowLaneM);
}

}  // namespace mblip
#endif
