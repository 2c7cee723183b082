// WASM SIMD128 variant of the Q4_0 x q8-block GEMM (kernels/q4_0.h). Per block: nibbles to
// signed int16 (q - 8), i32x4.dot_i16x8_s with the int8 activations widened on load (exact
// integers), then the 4 lanes scaled by d_w * d_x into float lanes. Tiles of 4 activation rows
// share each unpacked weight block. No relaxed-simd (this toolchain cannot emit it).
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

template <int MR>
inline void tile(const uint8_t* qs, const float* dw, const Q8Acts& a, size_t i0, size_t r, float* y, size_t ldy,
                 const float* bias) {
  const size_t nbp = a.nbp;
  // Independent accumulators per row so small tiles (M = 1 decode) are not bound by the latency of
  // one add chain: blocks b go to acc[t][b % kAcc]; nbp is a multiple of 4.
  constexpr int kAcc = MR >= 4 ? 1 : (MR == 1 ? 4 : 2);
  const v128_t mask = wasm_i8x16_splat(0x0F), eight = wasm_i8x16_splat(8);
  v128_t acc[MR][kAcc];
  const int8_t* xq[MR];
  const float* dx[MR];
  for (int t = 0; t < MR; ++t) {
    for (int u = 0; u < kAcc; ++u) acc[t][u] = wasm_f32x4_splat(0.f);
    xq[t] = a.row_q(i0 + t);
    dx[t] = a.row_d(i0 + t);
  }
  for (size_t b0 = 0; b0 < nbp; b0 += kAcc)
    for (int u = 0; u < kAcc; ++u) {
    const size_t b = b0 + static_cast<size_t>(u);
    const v128_t raw = wasm_v128_load(qs + b * 16);
    const v128_t lo = wasm_i8x16_sub(wasm_v128_and(raw, mask), eight);   // elements 0..15
    const v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(raw, 4), eight);     // elements 16..31
    const v128_t w0 = wasm_i16x8_extend_low_i8x16(lo), w1 = wasm_i16x8_extend_high_i8x16(lo);
    const v128_t w2 = wasm_i16x8_extend_low_i8x16(hi), w3 = wasm_i16x8_extend_high_i8x16(hi);
    for (int t = 0; t < MR; ++t) {
      const int8_t* xb = xq[t] + b * kQ4Block;
      const v128_t p01 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w0, wasm_i16x8_load8x8(xb)),
                                        wasm_i32x4_dot_i16x8(w1, wasm_i16x8_load8x8(xb + 8)));
      const v128_t p23 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w2, wasm_i16x8_load8x8(xb + 16)),
                                        wasm_i32x4_dot_i16x8(w3, wasm_i16x8_load8x8(xb + 24)));
      const float s = dw[b] * dx[t][b];
      acc[t][u] = wasm_f32x4_add(acc[t][u], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_add(p01, p23)),
                                                     wasm_f32x4_splat(s)));
    }
  }
  for (int t = 0; t < MR; ++t) {
    for (int u = kAcc / 2; u > 0; u /= 2)
      for (int j = 0; j < u; ++j) acc[t][j] = wasm_f32x4_add(acc[t][j], acc[t][j + u]);
    const float v = (wasm_f32x4_extract_lane(acc[t][0], 0) + wasm_f32x4_extract_lane(acc[t][0], 1)) +
                    (wasm_f32x4_extract_lane(acc[t][0], 2) + wasm_f32x4_extract_lane(acc[t][0], 3));
    y[(i0 + t) * ldy + r] = bias ? v + bias[r] : v;
  }
}

}  // namespace

void q4_0_gemm_wasm_simd128(const Q4Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  std::vector<float> dw(w.nbp);
  for (size_t i0 = 0; i0 < a.m; i0 += kMChunk) {
    const size_t i1 = std::min(a.m, i0 + kMChunk);
    for (size_t r = r0; r < r1; ++r) {
      const uint16_t* dh = w.row_d(r);
      for (size_t b = 0; b < w.nbp; b += 4) wasm_v128_store(dw.data() + b, half4_to_f32(dh + b));
      const uint8_t* qs = w.row_qs(r);
      size_t i = i0;
      for (; i + 4 <= i1; i += 4) tile<4>(qs, dw.data(), a, i, r, y, ldy, bias);
      switch (i1 - i) {
        case 3: tile<3>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        case 2: tile<2>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        case 1: tile<1>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        default: break;
      }
    }
  }
}

}  // namespace mblip
