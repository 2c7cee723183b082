// SIMD128 variant of the int8-rows GEMM (kernels/int8_rows.h) for engines without a full int8
// relaxed dot (the SIMD128 builds; relaxed builds whose relaxed dot saturates). SIMD128's only
// integer dot is i32x4.dot_i16x8_s (8 products a call), so both operands are widened to 16 bits
// outside the inner loop: the activations once per call (U8Acts::w16, row-major: each pair of
// elements is one 32-bit word), the weights per block of 8 output channels into a scratch of k / 2
// pair-vectors [c0 k0, c0 k1, c1 k0, ..., c7 k1] (2 x 16 bytes), reused by every activation row.
// The inner loop then broadcasts one activation pair (v128.load32_splat) against the two weight
// vectors: 4 rows x 8 channels, 8 accumulators whose lanes are output channels (no horizontal sums).
// Every product and sum is exact (|u| <= 255, |w| <= 128), the epilogue is i8rows_output lane-wise:
// identical outputs to the scalar reference.
// Prototype, Node 20, 1 thread, M = 257, 48 channels, the ViT's K = 1408 / 6144: 97-99 GOP/s, against
// 64-69 with the weight widening inlined into the same function (V8 then spilled) and 71-74 for
// tiles that widen the int8 operands in the loop (3 x 2, 4 x 2, 3 x 3); 5 x 8, 6 x 8, 4 x 12 spill
// (47-62).
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/int8_rows.h"

namespace mblip {
namespace {

constexpr size_t kCols = 8;  // output channels a block

// Rows c .. c + 7 of w (zero rows past the layout's padded rows) into the pair layout, kp / 2 pairs.
// Kept out of line: inlined into the tile loop's function, V8 spilled the tile's registers.
__attribute__((noinline)) void widen_block(const I8RowsView& w, size_t c, int16_t* dst) {
  const size_t kp = w.l.kp;
  static const int8_t zeros[kI8RowsKStep] = {};
  const int8_t* rows[kCols];
  for (size_t j = 0; j < kCols; ++j) rows[j] = c + j < w.l.np ? w.row(c + j) : nullptr;
  for (size_t k = 0; k < kp; k += kI8RowsKStep) {
    v128_t v[kCols];
    for (size_t j = 0; j < kCols; ++j) v[j] = wasm_v128_load(rows[j] ? rows[j] + k : zeros);
    // 16-bit units are element pairs: interleave pairs of channels, then of channel pairs, then halves.
    v128_t t[8], u[8];
    for (int j = 0; j < 4; ++j) {
      t[2 * j] = wasm_i16x8_shuffle(v[2 * j], v[2 * j + 1], 0, 8, 1, 9, 2, 10, 3, 11);
      t[2 * j + 1] = wasm_i16x8_shuffle(v[2 * j], v[2 * j + 1], 4, 12, 5, 13, 6, 14, 7, 15);
    }
    // t[0]: (c0, c1) for pairs 0..3; t[1]: pairs 4..7; t[2], t[3]: (c2, c3); ...
    for (int h = 0; h < 2; ++h) {
      u[4 * h + 0] = wasm_i32x4_shuffle(t[h], t[2 + h], 0, 4, 1, 5);
      u[4 * h + 1] = wasm_i32x4_shuffle(t[h], t[2 + h], 2, 6, 3, 7);
      u[4 * h + 2] = wasm_i32x4_shuffle(t[4 + h], t[6 + h], 0, 4, 1, 5);
      u[4 * h + 3] = wasm_i32x4_shuffle(t[4 + h], t[6 + h], 2, 6, 3, 7);
    }
    // u[4h]: (c0, c1, c2, c3) for pairs 4h, 4h + 1; u[4h + 2]: (c4 .. c7) for the same pairs.
    int16_t* d = dst + k * kCols;
    for (int h = 0; h < 2; ++h)
      for (int p = 0; p < 2; ++p) {
        const v128_t lo = u[4 * h + p], hi = u[4 * h + 2 + p];
        // pairs 4h + 2p and 4h + 2p + 1: channels 0..3 from lo, 4..7 from hi
        const v128_t pair[2] = {wasm_i64x2_shuffle(lo, hi, 0, 2), wasm_i64x2_shuffle(lo, hi, 1, 3)};
        for (int q = 0; q < 2; ++q) {
          int16_t* o = d + (4 * h + 2 * p + q) * 2 * kCols;
          wasm_v128_store(o, wasm_i16x8_extend_low_i8x16(pair[q]));
          wasm_v128_store(o + 8, wasm_i16x8_extend_high_i8x16(pair[q]));
        }
      }
  }
}

// Activation rows i .. i + MR - 1 x the widened block b of channels c .. c + 7 (stored while < c1).
template <int MR>
inline void tile(const int16_t* b, const U8Acts& a, size_t i, size_t c, size_t c1, float* y,
                 size_t ldy, const float* rs_c, const float* sw_c, const float* bias_c) {
  const size_t kp = a.kp;
  v128_t acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = wasm_i32x4_splat(0);
  const int16_t* ap = a.w16.data() + i * kp;
  for (size_t k = 0; k < kp; k += 2, b += 2 * kCols) {
    const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 8);
    for (int r = 0; r < MR; ++r) {
      const v128_t x = wasm_v128_load32_splat(ap + r * kp + k);
      acc[r][0] = wasm_i32x4_add(acc[r][0], wasm_i32x4_dot_i16x8(x, b0));
      acc[r][1] = wasm_i32x4_add(acc[r][1], wasm_i32x4_dot_i16x8(x, b1));
    }
  }
  for (int r = 0; r < MR; ++r) {
    float out[kCols];
    for (int h = 0; h < 2; ++h) {  // i8rows_output lane-wise: the same IEEE operations
      const v128_t rs = wasm_v128_load(rs_c + 4 * h), sw = wasm_v128_load(sw_c + 4 * h);
      const v128_t v = wasm_i32x4_sub(acc[r][h], wasm_i32x4_mul(wasm_i32x4_splat(a.z[i + r]), rs));
      v128_t o = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(v), wasm_f32x4_mul(wasm_f32x4_splat(a.s[i + r]), sw));
      if (bias_c) o = wasm_f32x4_add(o, wasm_v128_load(bias_c + 4 * h));
      wasm_v128_store(out + 4 * h, o);
    }
    float* yr = y + (i + r) * ldy + c;
    if (c + kCols <= c1) std::memcpy(yr, out, sizeof out);
    else std::memcpy(yr, out, (c1 - c) * sizeof(float));
  }
}

}  // namespace

void widen_acts_i16(U8Acts& a) {
  a.w16.resize(a.m * a.kp);
  const size_t n = a.m * a.kp;  // a multiple of 16
  for (size_t j = 0; j < n; j += 16) {
    const v128_t v = wasm_v128_load(a.q.data() + j);
    wasm_v128_store(a.w16.data() + j, wasm_u16x8_extend_low_u8x16(v));
    wasm_v128_store(a.w16.data() + j + 8, wasm_u16x8_extend_high_u8x16(v));
  }
}

void i8rows_gemm_wasm_simd128(const I8RowsView& w, const U8Acts& a, size_t c0, size_t c1, float* y, size_t ldy,
                              const float* bias) {
  thread_local std::vector<int16_t> scratch;
  scratch.resize(w.l.kp * kCols);
  for (size_t c = c0; c < c1; c += kCols) {
    widen_block(w, c, scratch.data());
    // The epilogue's per-channel operands as 8 lanes (row sums as int32 bits in a float array).
    alignas(16) float rs[kCols] = {}, sw[kCols] = {}, bs[kCols] = {};
    const size_t nc = std::min(kCols, c1 - c);
    std::memcpy(rs, w.rowsum() + c, nc * 4);
    std::memcpy(sw, w.scale() + c, nc * 4);
    if (bias) std::memcpy(bs, bias + c, nc * 4);
    const float* bc = bias ? bs : nullptr;
    size_t i = 0;
    for (; i + 4 <= a.m; i += 4) tile<4>(scratch.data(), a, i, c, c1, y, ldy, rs, sw, bc);
    switch (a.m - i) {
      case 3: tile<3>(scratch.data(), a, i, c, c1, y, ldy, rs, sw, bc); break;
      case 2: tile<2>(scratch.data(), a, i, c, c1, y, ldy, rs, sw, bc); break;
      case 1: tile<1>(scratch.data(), a, i, c, c1, y, ldy, rs, sw, bc); break;
      default: break;
    }
  }
}

}  // namespace mblip
#endif
