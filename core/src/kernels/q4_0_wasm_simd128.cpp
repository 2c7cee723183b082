// WASM SIMD128 variant of the Q4_0 x q8-block GEMM (kernels/q4_0.h). Per block: nibbles to
// int16 16 * (q - 8) (see unpack), i32x4.dot_i16x8_s with the int8 activations widened on load (exact
// integers). The float work is done 4 blocks at a time: the four blocks' 4-lane integer sums
// are transposed and added into one vector of 4 block sums, converted once and scaled by the 4
// (d_w * d_x) products in one multiply. Tiles: MR activation rows x NR weight rows, so that an
// unpacked weight block is shared by MR rows and a loaded activation block by NR rows (decode,
// M = 1, runs 1 x 2); chunks of 4+ activation rows use tile_per_block. No relaxed-simd (this toolchain cannot emit it).
#include <wasm_simd128.h>

#include <algorithm>
#include <vector>

#include "kernels/q4_0.h"

namespace mblip {
namespace {

constexpr size_t kMChunk = 16;  // activation rows per pass over a task's weight rows: 16 x K int8 stays in L1

// 4 IEEE halves (finite) -> float, exactly: shift exponent+mantissa into place (value * 2^-112),
// rescale by 2^112 (also right for subnormals and zero), then restore the sign.
inline v128_t half4_to_f32(const uint16_t* h) {
  const v128_t v = wasm_u32x4_load16x4(h);
  const v128_t sign = wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x8000)), 16);
  const v128_t em = wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x7FFF)), 13);
  const v128_t f = wasm_f32x4_mul(em, wasm_f32x4_splat(0x1p112f));
  return wasm_v128_or(f, sign);
}

// {a0 + a2, a1 + a3, b0 + b2, b1 + b3}: half of a 4-way transpose-add.
inline v128_t pair_sum(v128_t a, v128_t b) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}
// From pair_sum(a, b) and pair_sum(c, d): {sum a, sum b, sum c, sum d}.
inline v128_t quad_sum(v128_t ab, v128_t cd) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 2, 4, 6), wasm_i32x4_shuffle(ab, cd, 1, 3, 5, 7));
}

// One weight block as 4 x 8 int16 holding 16 * (q - 8), in element order 0..31. XOR 0x88 turns
// each nibble q into the 4-bit two's complement of q - 8; shifting the low nibble up (shl 4) or
// masking the high one (and 0xF0) then gives 16 * (q - 8) as int8 directly. Block sums are
// 16x the true ones: exact in int32 (|16 (q - 8) x| <= 128 * 127), undone by kNibbleScale.
inline void unpack(const uint8_t* q, v128_t w[4]) {
  const v128_t raw = wasm_v128_xor(wasm_v128_load(q), wasm_i8x16_splat(static_cast<int8_t>(0x88)));
  const v128_t lo = wasm_i8x16_shl(raw, 4);                                          // elements 0..15
  const v128_t hi = wasm_v128_and(raw, wasm_i8x16_splat(static_cast<int8_t>(0xF0)));  // elements 16..31
  w[0] = wasm_i16x8_extend_low_i8x16(lo);
  w[1] = wasm_i16x8_extend_high_i8x16(lo);
  w[2] = wasm_i16x8_extend_low_i8x16(hi);
  w[3] = wasm_i16x8_extend_high_i8x16(hi);
}
constexpr float kNibbleScale = 1.0f / 16.0f;  // exact: a power of two

// The output value from a row's 4 float accumulator lanes (undoing the 16x of unpack), + bias.
inline float finish(v128_t acc, const float* bias, size_t r) {
  const float v = kNibbleScale * ((wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) +
                                  (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3)));
  return bias ? v + bias[r] : v;
}

inline v128_t block_dot(const v128_t w[4], const v128_t x[4]) {
  return wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_dot_i16x8(w[0], x[0]), wasm_i32x4_dot_i16x8(w[1], x[1])),
                        wasm_i32x4_add(wasm_i32x4_dot_i16x8(w[2], x[2]), wasm_i32x4_dot_i16x8(w[3], x[3])));
}

// y[(i0 + t) * ldy + r + n] for t < MR, n < NR. dw[n]: float scales of weight row r + n.
template <int MR, int NR>
inline void tile(const Q4Packed& w, const float* const dw[NR], const Q8Acts& a, size_t i0, size_t r, float* y,
                 size_t ldy, const float* bias) {
  v128_t acc[MR][NR];
  const int8_t* xq[MR];
  const float* dx[MR];
  const uint8_t* qs[NR];
  for (int t = 0; t < MR; ++t) {
    for (int n = 0; n < NR; ++n) acc[t][n] = wasm_f32x4_splat(0.f);
    xq[t] = a.row_q(i0 + t);
    dx[t] = a.row_d(i0 + t);
  }
  for (int n = 0; n < NR; ++n) qs[n] = w.row_qs(r + n);
  for (size_t b0 = 0; b0 < a.nbp; b0 += 4) {  // nbp is a multiple of 4
    v128_t half[2][MR][NR];                    // pair sums of blocks (b0, b0+1) and (b0+2, b0+3)
    for (int p = 0; p < 2; ++p) {
      v128_t s[2][MR][NR];
      for (int u = 0; u < 2; ++u) {
        const size_t b = b0 + 2 * p + u;
        v128_t wv[NR][4];
        for (int n = 0; n < NR; ++n) unpack(qs[n] + b * 16, wv[n]);
        for (int t = 0; t < MR; ++t) {
          const int8_t* xb = xq[t] + b * kQ4Block;
          const v128_t xv[4] = {wasm_i16x8_load8x8(xb), wasm_i16x8_load8x8(xb + 8), wasm_i16x8_load8x8(xb + 16),
                                wasm_i16x8_load8x8(xb + 24)};
          for (int n = 0; n < NR; ++n) s[u][t][n] = block_dot(wv[n], xv);
        }
      }
      for (int t = 0; t < MR; ++t)
        for (int n = 0; n < NR; ++n) half[p][t][n] = pair_sum(s[0][t][n], s[1][t][n]);
    }
    for (int t = 0; t < MR; ++t) {
      const v128_t sx = wasm_v128_load(dx[t] + b0);
      for (int n = 0; n < NR; ++n) {
        const v128_t isum = quad_sum(half[0][t][n], half[1][t][n]);
        const v128_t scale = wasm_f32x4_mul(wasm_v128_load(dw[n] + b0), sx);
        acc[t][n] = wasm_f32x4_add(acc[t][n], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(isum), scale));
      }
    }
  }
  for (int t = 0; t < MR; ++t)
    for (int n = 0; n < NR; ++n) y[(i0 + t) * ldy + r + n] = finish(acc[t][n], bias, r + n);
}

// The M >= 4 path: one weight row, MR activation rows; the float scaling is done per block (the
// transposed form above needs more live vectors than SIMD128 has registers at MR = 4).
template <int MR>
inline void tile_per_block(const Q4Packed& w, const float* dw, const Q8Acts& a, size_t i0, size_t r, float* y,
                           size_t ldy, const float* bias) {
  v128_t acc[MR];
  const int8_t* xq[MR];
  const float* dx[MR];
  for (int t = 0; t < MR; ++t) {
    acc[t] = wasm_f32x4_splat(0.f);
    xq[t] = a.row_q(i0 + t);
    dx[t] = a.row_d(i0 + t);
  }
  const uint8_t* qs = w.row_qs(r);
  for (size_t b = 0; b < a.nbp; ++b) {
    v128_t wv[4];
    unpack(qs + b * 16, wv);
    for (int t = 0; t < MR; ++t) {
      const int8_t* xb = xq[t] + b * kQ4Block;
      const v128_t xv[4] = {wasm_i16x8_load8x8(xb), wasm_i16x8_load8x8(xb + 8), wasm_i16x8_load8x8(xb + 16),
                            wasm_i16x8_load8x8(xb + 24)};
      const float sc = dw[b] * dx[t][b];
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(block_dot(wv, xv)), wasm_f32x4_splat(sc)));
    }
  }
  for (int t = 0; t < MR; ++t) y[(i0 + t) * ldy + r] = finish(acc[t], bias, r);
}

// All activation rows [i0, i1) against weight rows r .. r + NR - 1.
template <int NR>
void rows(const Q4Packed& w, const float* const dw[NR], const Q8Acts& a, size_t i0, size_t i1, size_t r, float* y,
          size_t ldy, const float* bias) {
  size_t i = i0;
  if (NR == 1 && i1 - i0 >= 4) {
    for (; i + 4 <= i1; i += 4) tile_per_block<4>(w, dw[0], a, i, r, y, ldy, bias);
    switch (i1 - i) {
      case 3: tile_per_block<3>(w, dw[0], a, i, r, y, ldy, bias); break;
      case 2: tile_per_block<2>(w, dw[0], a, i, r, y, ldy, bias); break;
      case 1: tile_per_block<1>(w, dw[0], a, i, r, y, ldy, bias); break;
      default: break;
    }
    return;
  }
  for (; i + 2 <= i1; i += 2) tile<2, NR>(w, dw, a, i, r, y, ldy, bias);
  if (i < i1) tile<1, NR>(w, dw, a, i, r, y, ldy, bias);
}

}  // namespace

void q4_0_gemm_wasm_simd128(const Q4Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  // Float scales of the current weight rows; per thread, grown once (no allocation per call).
  thread_local std::vector<float> dwbuf;
  if (dwbuf.size() < 2 * w.nbp) dwbuf.resize(2 * w.nbp);
  float* const d0 = dwbuf.data();
  float* const d1 = dwbuf.data() + w.nbp;
  auto load_scales = [&](size_t r, float* dst) {
    const uint16_t* dh = w.row_d(r);
    for (size_t b = 0; b < w.nbp; b += 4) wasm_v128_store(dst + b, half4_to_f32(dh + b));
  };
  // Two weight rows per pass while M is small (each loaded activation block serves both rows);
  // one row with 4-row activation tiles otherwise (an unpacked weight block serves 4 rows).
  const bool pairs = a.m < 4;
  for (size_t i0 = 0; i0 < a.m; i0 += kMChunk) {
    const size_t i1 = std::min(a.m, i0 + kMChunk);
    size_t r = r0;
    if (pairs) {
      for (; r + 2 <= r1; r += 2) {
        load_scales(r, d0);
        load_scales(r + 1, d1);
        const float* const dw[2] = {d0, d1};
        rows<2>(w, dw, a, i0, i1, r, y, ldy, bias);
      }
    }
    for (; r < r1; ++r) {
      load_scales(r, d0);
      const float* const dw[1] = {d0};
      rows<1>(w, dw, a, i0, i1, r, y, ldy, bias);
    }
  }
}

}  // namespace mblip
