// Relaxed-SIMD variant of the Q4_0 x q8-block GEMM (kernels/q4_0.h), built only with -mrelaxed-simd.
// Relaxed dots are exact and engine-independent only while the 7-bit operand's high bit is clear (a
// set bit is read as signed on some engines, unsigned on others: x86 Chromium), so the raw nibbles
// q in 0..15 are that operand and the int8 activations the other; the -8 offset is added to each
// block's exact sum as -8 * (activation block sum). Below kQ4RelaxedRowLaneM rows (decode, beam
// steps): the transposed wasm driver (block_int8_wasm.h, one weight row a tile). More rows: the
// row-lane kernel (block_int8_rowlane_wasm.h; its int32 dot-add form where the engine's relaxed dot
// is a full int8 dot, else the int16 form), equal to the scalar reference bit for bit.
#if defined(__wasm_relaxed_simd__)
#include "kernels/block_int8_rowlane_wasm.h"
#include "kernels/block_int8_wasm.h"
#include "kernels/q4_0.h"

namespace mblip {
namespace {

struct Q4DotRelaxed {
  static constexpr size_t kBlockBytes = 16;
  static constexpr float kScale = 1.0f;
  static constexpr bool kPerBlockOk = false;  // the block sums need the offset correction:
  static constexpr int32_t kSumOffset = -8;   // the weights' offset x the activation block sum
  struct W {
    v128_t lo, hi;  // elements 0..15 and 16..31: the nibbles q in 0..15
  };
  using X = WasmRelaxedActs;
  static W unpack(const uint8_t* q) {
    const v128_t raw = wasm_v128_load(q);
    return {wasm_v128_and(raw, wasm_i8x16_splat(0x0F)), wasm_u8x16_shr(raw, 4)};
  }
  static X load(const int8_t* xb) { return X::load(xb); }
  static v128_t dot(const W& w, const X& x) {
    const v128_t s = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(x.lo, w.lo, wasm_i32x4_splat(0));
    return wasm_i32x4_relaxed_dot_i8x16_i7x16_add(x.hi, w.hi, s);
  }
};

// Tiles of 12 activation rows x 2 weight rows: ~20% faster than 8 x 1 in Chromium (M = 257, vision
// shapes; tools/bench/wasm_kernels.mjs --tiles).
using Large = RowLaneGemm<Q4RelaxedFmt, RelaxedSums<Q4RelaxedFmt>, 3, 2>;
// On engines whose relaxed dot is a full int8 dot: int32 dot-adds, 12 rows x 3 weight rows (9
// independent accumulator chains for the dot's latency; 3 x 2 and 4 x 2 ran 25% slower than Large,
// two chains per tile spilled). Headless Chromium, AVX-512 VNNI host, M = 47 (the encoder) and 257:
// 1 thread 102-114 vs 94-104 GOP/s for Large, 2 threads 196-218 vs 140-201 (two runs).
using LargeDot = RowLaneGemm<Q4RelaxedFmt, RelaxedSums<Q4RelaxedFmt, true>, 3, 3>;

}  // namespace

void q4_0_gemm_wasm_relaxed_small(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                                  const float* bias) {
  block_gemm<BlockWasmKernel<Q4DotRelaxed>>(w, a, r0, r1, y, ldy, bias);
}

void q4_0_gemm_wasm_relaxed_large_i16(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y,
                                      size_t ldy, const float* bias) {
  Large::gemm(w, a, r0, r1, y, ldy, bias);
}

void q4_0_gemm_wasm_relaxed_large_dot(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y,
                                      size_t ldy, const float* bias) {
  LargeDot::gemm(w, a, r0, r1, y, ldy, bias);
}

void q4_0_gemm_wasm_relaxed_large(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                                  const float* bias) {
  if (wasm_relaxed_dot_is_int8()) LargeDot::gemm(w, a, r0, r1, y, ldy, bias);
  else Large::gemm(w, a, r0, r1, y, ldy, bias);
}

void q4_0_gemm_wasm_relaxed(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  using Small = BlockWasmKernel<Q4DotRelaxed>;
  if (wasm_relaxed_dot_is_int8()) relaxed_gemm<LargeDot, Small>(w, a, r0, r1, y, ldy, bias, kQ4RelaxedRowLaneM);
  else relaxed_gemm<Large, Small>(w, a, r0, r1, y, ldy, bias, kQ4RelaxedRowLaneM);
}

const char* wasm_relaxed_dot_kind() {
  static const char* const kind = [] {
    // -128 x 0xFF, 4 products a lane: -130560 when 0xFF reads as 255, 512 when it reads as -1;
    // 16-bit saturating pair sums (-32768 twice) give -65536. Volatile: computed by the engine.
    volatile int8_t a = -128, b = -1;
    const v128_t d = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_i8x16_splat(a), wasm_i8x16_splat(b),
                                                            wasm_i32x4_splat(0));
    const auto all = [&](int32_t v) { return wasm_i32x4_all_true(wasm_i32x4_eq(d, wasm_i32x4_splat(v))); };
    return all(-130560) ? "usdot" : all(512) ? "sdot" : all(-65536) ? "saturating" : "other";
  }();
  return kind;
}

}  // namespace mblip
#endif
