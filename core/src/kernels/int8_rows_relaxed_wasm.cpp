// Relaxed-SIMD variant of the int8-rows GEMM (kernels/int8_rows.h), built only with -mrelaxed-simd
// and used only where the engine's relaxed dot is "usdot" (the 7-bit operand's high bit read as
// unsigned: x86 Chromium lowers i32x4.relaxed_dot_i8x16_i7x16_add_s to one VNNI vpdpbusd): the
// activation bytes 0..255 are that operand, the int8 weights the signed one, so every dot is exact.
// Tiles of 3 activation rows x 3 weight rows, 16 elements of k a step: 9 accumulators and 6 loaded
// vectors fit x64's 16 vector registers (V8 uses no more): a prototype in headless Chromium, 1
// thread, M = 257, vision shapes: 186-196 GOP/s vs 180-193 for 4 x 2, 93-100 for 4 x 3 / 3 x 4 /
// 6 x 2 (spills), and 132-137 for XNNPACK's qd8-f32-qc8w 4x8c8 usdot kernel in the same run. Two
// k-steps an iteration spilled too (120-128 vs 207 GOP/s, 2026-12-05 10:05 UTC): one step a loop.
#if defined(__wasm_relaxed_simd__)
#include <wasm_simd128.h>

#include "kernels/int8_rows.h"

namespace mblip {
namespace {

// The lane sums of a, b, c as lanes 0, 1, 2 (lane 3: 0).
inline v128_t lane_sums3(v128_t a, v128_t b, v128_t c) {
  const v128_t z = wasm_i32x4_splat(0);
  const v128_t ab = wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
  const v128_t cz = wasm_i32x4_add(wasm_i32x4_shuffle(c, z, 0, 1, 4, 5), wasm_i32x4_shuffle(c, z, 2, 3, 6, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(ab, cz, 0, 2, 4, 6), wasm_i32x4_shuffle(ab, cz, 1, 3, 5, 7));
}

// Rows i0 .. i0 + MR - 1 x weight rows c .. c + 2 (stored while < c1).
template <int MR>
inline void tile(const I8RowsView& w, const U8Acts& a, size_t i0, size_t c, size_t c1, float* y, size_t ldy,
                 const float* bias) {
  constexpr int NR = static_cast<int>(kI8RowsNStep);
  const size_t kp = w.l.kp;
  v128_t acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = wasm_i32x4_splat(0);
  const int8_t* wp = w.row(c);
  const uint8_t* ap = a.row(i0);
  for (size_t k = 0; k < kp; k += kI8RowsKStep) {
    v128_t wv[NR], av[MR];
    for (int j = 0; j < NR; ++j) wv[j] = wasm_v128_load(wp + j * kp + k);
    for (int r = 0; r < MR; ++r) av[r] = wasm_v128_load(ap + r * kp + k);
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wv[j], av[r], acc[r][j]);
  }
  // i8rows_output lane-wise (the same IEEE operations: identical outputs), 3 stores a row.
  const v128_t rs = wasm_v128_load(w.rowsum() + c), sw = wasm_v128_load(w.scale() + c);
  const v128_t b = bias ? wasm_v128_load(bias + c) : wasm_f32x4_splat(0.f);
  for (int r = 0; r < MR; ++r) {
    const v128_t v = wasm_i32x4_sub(lane_sums3(acc[r][0], acc[r][1], acc[r][2]),
                                    wasm_i32x4_mul(wasm_i32x4_splat(a.z[i0 + r]), rs));
    v128_t o = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(v), wasm_f32x4_mul(wasm_f32x4_splat(a.s[i0 + r]), sw));
    if (bias) o = wasm_f32x4_add(o, b);
    float* yr = y + (i0 + r) * ldy + c;
    yr[0] = wasm_f32x4_extract_lane(o, 0);
    if (c + 1 < c1) yr[1] = wasm_f32x4_extract_lane(o, 1);
    if (c + 2 < c1) yr[2] = wasm_f32x4_extract_lane(o, 2);
  }
}

}  // namespace

void i8rows_gemm_wasm_relaxed(const I8RowsView& w, const U8Acts& a, size_t c0, size_t c1, float* y, size_t ldy,
                              const float* bias) {
  size_t i = 0;
  for (; i + 3 <= a.m; i += 3)
    for (size_t c = c0; c < c1; c += kI8RowsNStep) tile<3>(w, a, i, c, c1, y, ldy, bias);
  if (a.m - i == 2)
    for (size_t c = c0; c < c1; c += kI8RowsNStep) tile<2>(w, a, i, c, c1, y, ldy, bias);
  else if (a.m - i == 1)
    for (size_t c = c0; c < c1; c += kI8RowsNStep) tile<1>(w, a, i, c, c1, y, ldy, bias);
}

}  // namespace mblip
#endif
