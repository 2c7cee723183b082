// WASM SIMD128 variant of the Q8_0 x q8-block GEMM (kernels/q8_0.h). Per block: weights and
// activations widened to int16 on load, i32x4.dot_i16x8_s (exact integers). Small M (decode):
// tiles of MR activation rows x NR = 2 weight rows, the float scaling done 4 blocks at a time (the
// 4 blocks' integer sums transposed into one vector, one convert, one multiply by the 4 scale
// products). M >= 4: one weight row x 4 activation rows, scaled per block.
#include <wasm_simd128.h>

#include <algorithm>
#include <vector>

#include "kernels/q8_0.h"

namespace mblip {
namespace {

constexpr size_t kMChunk = 16;  // activation rows per pass over a task's weight rows (16 x K int8 in L1)

// 4 IEEE halves (finite) -> float, exactly (see q4_0_wasm_simd128.cpp).
inline v128_t half4_to_f32(const uint16_t* h) {
  const v128_t v = wasm_u32x4_load16x4(h);
  const v128_t sign = wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x8000)), 16);
  const v128_t em = wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x7FFF)), 13);
  const v128_t f = wasm_f32x4_mul(em, wasm_f32x4_splat(0x1p112f));
  return wasm_v128_or(f, sign);
}

inline v128_t pair_sum(v128_t a, v128_t b) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}
inline v128_t quad_sum(v128_t ab, v128_t cd) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 2, 4, 6), wasm_i32x4_shuffle(ab, cd, 1, 3, 5, 7));
}

inline void load_block(const int8_t* p, v128_t v[4]) {
  v[0] = wasm_i16x8_load8x8(p);
  v[1] = wasm_i16x8_load8x8(p + 8);
  v[2] = wasm_i16x8_load8x8(p + 16);
  v[3] = wasm_i16x8_load8x8(p + 24);
}

inline v128_t block_dot(const v128_t w[4], const v128_t x[4]) {
  return wasm_i32x4_add(wasm_i32x4_add(wasm_i32x4_dot_i16x8(w[0], x[0]), wasm_i32x4_dot_i16x8(w[1], x[1])),
                        wasm_i32x4_add(wasm_i32x4_dot_i16x8(w[2], x[2]), wasm_i32x4_dot_i16x8(w[3], x[3])));
}

inline float finish(v128_t acc, const float* bias, size_t r) {
  const float v = (wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1)) +
                  (wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3));
  return bias ? v + bias[r] : v;
}

// y[(i0 + t) * ldy + r + n] for t < MR, n < NR. dw[n]: float scales of weight row r + n.
template <int MR, int NR>
inline void tile(const Q8Packed& w, const float* const dw[NR], const Q8Acts& a, size_t i0, size_t r, float* y,
                 size_t ldy, const float* bias) {
  v128_t acc[MR][NR];
  const int8_t* xq[MR];
  const float* dx[MR];
  const int8_t* qs[NR];
  for (int t = 0; t < MR; ++t) {
    for (int n = 0; n < NR; ++n) acc[t][n] = wasm_f32x4_splat(0.f);
    xq[t] = a.row_q(i0 + t);
    dx[t] = a.row_d(i0 + t);
  }
  for (int n = 0; n < NR; ++n) qs[n] = w.row_qs(r + n);
  for (size_t b0 = 0; b0 < a.nbp; b0 += 4) {  // nbp is a multiple of 4
    v128_t half[2][MR][NR];
    for (int p = 0; p < 2; ++p) {
      v128_t s[2][MR][NR];
      for (int u = 0; u < 2; ++u) {
        const size_t b = b0 + 2 * p + u;
        v128_t wv[NR][4];
        for (int n = 0; n < NR; ++n) load_block(qs[n] + b * kQ4Block, wv[n]);
        for (int t = 0; t < MR; ++t) {
          v128_t xv[4];
          load_block(xq[t] + b * kQ4Block, xv);
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

template <int MR>
inline void tile_per_block(const Q8Packed& w, const float* dw, const Q8Acts& a, size_t i0, size_t r, float* y,
                           size_t ldy, const float* bias) {
  v128_t acc[MR];
  const int8_t* xq[MR];
  const float* dx[MR];
  for (int t = 0; t < MR; ++t) {
    acc[t] = wasm_f32x4_splat(0.f);
    xq[t] = a.row_q(i0 + t);
    dx[t] = a.row_d(i0 + t);
  }
  const int8_t* qs = w.row_qs(r);
  for (size_t b = 0; b < a.nbp; ++b) {
    v128_t wv[4];
    load_block(qs + b * kQ4Block, wv);
    for (int t = 0; t < MR; ++t) {
      v128_t xv[4];
      load_block(xq[t] + b * kQ4Block, xv);
      const float sc = dw[b] * dx[t][b];
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(block_dot(wv, xv)), wasm_f32x4_splat(sc)));
    }
  }
  for (int t = 0; t < MR; ++t) y[(i0 + t) * ldy + r] = finish(acc[t], bias, r);
}

template <int NR>
void rows(const Q8Packed& w, const float* const dw[NR], const Q8Acts& a, size_t i0, size_t i1, size_t r, float* y,
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

void q8_0_gemm_wasm_simd128(const Q8Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  thread_local std::vector<float> dwbuf;  // per thread, grown once (no allocation per call)
  if (dwbuf.size() < 2 * w.nbp) dwbuf.resize(2 * w.nbp);
  float* const d0 = dwbuf.data();
  float* const d1 = dwbuf.data() + w.nbp;
  auto load_scales = [&](size_t r, float* dst) {
    const uint16_t* dh = w.row_d(r);
    for (size_t b = 0; b < w.nbp; b += 4) wasm_v128_store(dst + b, half4_to_f32(dh + b));
  };
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
