// WASM SIMD micro-kernel of the block-int8 driver (kernels/block_int8_driver.h), parameterized by the
// format's block dot (4 exact int32 lanes per block): SIMD128 (i32x4.dot_i16x8_s) or relaxed SIMD.
// When the dot allows it (Dot::kPerBlockOk: its 4 lanes are partial sums without cancellation) every
// tile scales per block: one block's lanes converted and multiplied by splat(d_w * d_x). Doing the
// float work 4 blocks at a time instead (transposing 4 blocks' lane sums into one vector) keeps more
// vectors live than V8 has registers: measured in Node 20 at M = 1, that form spilled most of its
// loads to the stack and ran 20% slower. Dots whose lanes carry a block-wide correction use it still,
// on one weight row a tile: with two (kPairRows) the relaxed Q4_0 / Q8_0 dots at M = 1 ran at half the
// speed in Chromium (spills again).
// Include from wasm files only.
#pragma once
#include <wasm_simd128.h>

#include "kernels/block_int8_driver.h"

namespace mblip {

// 4 IEEE halves (finite) -> float, exactly: shift exponent+mantissa into place (value * 2^-112),
// rescale by 2^112 (also right for subnormals and zero), then restore the sign.
inline v128_t wasm_half4_to_f32(const uint16_t* h) {
  const v128_t v = wasm_u32x4_load16x4(h);
  const v128_t sign = wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x8000)), 16);
  const v128_t em = wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x7FFF)), 13);
  const v128_t f = wasm_f32x4_mul(em, wasm_f32x4_splat(0x1p112f));
  return wasm_v128_or(f, sign);
}

// {a0 + a2, a1 + a3, b0 + b2, b1 + b3}: half of a 4-way transpose-add.
inline v128_t wasm_pair_sum(v128_t a, v128_t b) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}
// From pair_sum(a, b) and pair_sum(c, d): {sum a, sum b, sum c, sum d}.
inline v128_t wasm_quad_sum(v128_t ab, v128_t cd) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 2, 4, 6), wasm_i32x4_shuffle(ab, cd, 1, 3, 5, 7));
}

// Dot: kBlockBytes; kScale (a power of two undoing a scaled unpack); kPerBlockOk (false when the
// block sums need a block-wide correction, whose per-lane rounding would cancel badly);
// kSumOffset (that correction: kSumOffset x the activation block's integer sum, added to each block's
// exact int32 sum in the transposed form; 0 for none); types W, X; static W unpack(const uint8_t* wb);
// static X load(xb) (xb: the activation block in the Acts' element type); static v128_t dot(const W&,
// const X&).
template <class Dot>
struct BlockWasmKernel {
  static constexpr bool kPairRows = Dot::kPerBlockOk;  // see above
  static void scales(const uint16_t* dh, size_t nbp, float* dst) {
    for (size_t b = 0; b < nbp; b += 4) wasm_v128_store(dst + b, wasm_half4_to_f32(dh + b));
  }
  static float finish(v128_t acc) {
    return Dot::kScale * ((wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) +
                          (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3)));
  }

  template <int MR, int NR, class Acts>
  static void tile(const uint8_t* const* qs, const float* const* dw, const Acts& a, size_t i0,
                   float (&out)[MR][NR]) {
    if constexpr (!Dot::kPerBlockOk) transposed<MR, NR>(qs, dw, a, i0, out);
    else per_block<MR, NR>(qs, dw, a, i0, out);
  }

  template <int MR, int NR, class Acts>
  static void transposed(const uint8_t* const* qs, const float* const* dw, const Acts& a, size_t i0,
                         float (&out)[MR][NR]) {
    v128_t acc[MR][NR];
    decltype(a.row_q(0)) xq[MR];
    const float* dx[MR];
    const int32_t* xs[MR];
    for (int t = 0; t < MR; ++t) {
      for (int n = 0; n < NR; ++n) acc[t][n] = wasm_f32x4_splat(0.f);
      xq[t] = a.row_q(i0 + t);
      dx[t] = a.row_d(i0 + t);
      xs[t] = a.row_s(i0 + t);
    }
    for (size_t b0 = 0; b0 < a.nbp; b0 += 4) {  // nbp is a multiple of 4
      v128_t half[2][MR][NR];                    // pair sums of blocks (b0, b0+1) and (b0+2, b0+3)
      for (int p = 0; p < 2; ++p) {
        v128_t s[2][MR][NR];
        for (int u = 0; u < 2; ++u) {
          const size_t b = b0 + 2 * p + u;
          typename Dot::W wv[NR];
          for (int n = 0; n < NR; ++n) wv[n] = Dot::unpack(qs[n] + b * Dot::kBlockBytes);
          for (int t = 0; t < MR; ++t) {
            const typename Dot::X xv = Dot::load(xq[t] + b * kQ4Block);
            for (int n = 0; n < NR; ++n) s[u][t][n] = Dot::dot(wv[n], xv);
          }
        }
        for (int t = 0; t < MR; ++t)
          for (int n = 0; n < NR; ++n) half[p][t][n] = wasm_pair_sum(s[0][t][n], s[1][t][n]);
      }
      for (int t = 0; t < MR; ++t) {
        const v128_t sx = wasm_v128_load(dx[t] + b0);
        // The 4 blocks' corrections in one step (exact int32: the sums are the same integers as
        // with the correction folded into a lane of each block).
        const v128_t off = Dot::kSumOffset == 0 ? wasm_i32x4_splat(0)
                                                : wasm_i32x4_mul(wasm_v128_load(xs[t] + b0), wasm_i32x4_splat(Dot::kSumOffset));
        for (int n = 0; n < NR; ++n) {
          const v128_t isum = wasm_i32x4_add(wasm_quad_sum(half[0][t][n], half[1][t][n]), off);
          const v128_t scale = wasm_f32x4_mul(wasm_v128_load(dw[n] + b0), sx);
          acc[t][n] = wasm_f32x4_add(acc[t][n], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), scale));
        }
      }
    }
    for (int t = 0; t < MR; ++t)
      for (int n = 0; n < NR; ++n) out[t][n] = finish(acc[t][n]);
  }

  template <int MR, int NR, class Acts>
  static void per_block(const uint8_t* const* qs, const float* const* dw, const Acts& a, size_t i0,
                        float (&out)[MR][NR]) {
    v128_t acc[MR][NR];
    // Running pointers, advanced once per block (V8 does no strength reduction of indexed addresses).
    decltype(a.row_q(0)) xq[MR];
    const float* dx[MR];
    const uint8_t* wq[NR];
    const float* ws[NR];
    for (int n = 0; n < NR; ++n) {
      wq[n] = qs[n];
      ws[n] = dw[n];
    }
    for (int t = 0; t < MR; ++t) {
      for (int n = 0; n < NR; ++n) acc[t][n] = wasm_f32x4_splat(0.f);
      xq[t] = a.row_q(i0 + t);
      dx[t] = a.row_d(i0 + t);
    }
    for (size_t b = 0; b < a.nbp; ++b) {
      typename Dot::W wv[NR];
      for (int n = 0; n < NR; ++n) wv[n] = Dot::unpack(wq[n]);
      for (int t = 0; t < MR; ++t) {
        const typename Dot::X xv = Dot::load(xq[t]);  // kPerBlockOk: no block-wide correction
        for (int n = 0; n < NR; ++n) {
          const v128_t isum = Dot::dot(wv[n], xv);
          const float sc = *ws[n] * *dx[t];
          acc[t][n] = wasm_f32x4_add(acc[t][n], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), wasm_f32x4_splat(sc)));
        }
        xq[t] += kQ4Block;
        ++dx[t];
      }
      for (int n = 0; n < NR; ++n) {
        wq[n] += Dot::kBlockBytes;
        ++ws[n];
      }
    }
    for (int t = 0; t < MR; ++t)
      for (int n = 0; n < NR; ++n) out[t][n] = finish(acc[t][n]);
  }
};

// Activations (or Q8_0 weights) of one block widened to 4 x 8 int16 on load.
struct WasmI16Block {
  v128_t v[4];
};
inline WasmI16Block wasm_load_i16_block(const int8_t* p) {
  return {{wasm_i16x8_load8x8(p), wasm_i16x8_load8x8(p + 8), wasm_i16x8_load8x8(p + 16), wasm_i16x8_load8x8(p + 24)}};
}
inline v128_t wasm_i16_block_dot(const WasmI16Block& w, const WasmI16Block& x) {
  return wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_dot_i16x8(w.v[0], x.v[0]), wasm_i32x4_dot_i16x8(w.v[1], x.v[1])),
                        wasm_i32x4_add(wasm_i32x4_dot_i16x8(w.v[2], x.v[2]), wasm_i32x4_dot_i16x8(w.v[3], x.v[3])));
}

#if defined(__wasm_relaxed_simd__)
// One activation block for the relaxed-SIMD dots: elements 0..15 and 16..31 as int8.
struct WasmRelaxedActs {
  v128_t lo, hi;
  static WasmRelaxedActs load(const int8_t* xb) { return {wasm_v128_load(xb), wasm_v128_load(xb + 16)}; }
};
#endif

}  // namespace mblip
