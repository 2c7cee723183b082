// The row/tile driver shared by every ISA variant of the block-int8 GEMM (kernels/block_int8.h): it
// walks activation rows in L1-sized chunks and output channels one (or two) at a time, converts the
// weight rows' f16 scales once per chunk, and calls the ISA's micro-kernel on tiles of rows.
#pragma once
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/block_int8.h"

namespace mblip {

// A micro-kernel K provides:
//   static constexpr bool kPairRows;  // tiles of 2 weight rows (NR = 2, MR <= 2) while M < 4
//   static void scales(const uint16_t* dh, size_t nbp, float* dst);  // f16 -> f32, nbp % 4 == 0
//   template <int MR, int NR> static void tile(const uint8_t* const* qs, const float* const* dw,
//                                              const Q8Acts& a, size_t i0, float (&out)[MR][NR]);
// tile() computes out[t][n] = sum over the nbp blocks of isum(row i0 + t, weight row n) * dw[n][b] *
// d_x[b] for MR in 1..4 (NR = 1) or MR in 1..2 (NR = 2); qs[n], dw[n]: quants and float scales of
// weight row n of the tile. The driver adds the bias and stores. Acts: Q8Acts, or a micro-kernel's own
// form of them with the same m, nbp, row_q, row_d and row_s (e.g. widened to int16).
template <class K, class Acts = Q8Acts>
void block_gemm(const BlockPacked& w, const Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                const float* bias) {
  constexpr size_t kMChunk = 16;  // activation rows per pass over the task's weight rows (16 x K int8 in L1)
  thread_local std::vector<float> dwbuf;  // float scales of the current weight rows; grown once per thread
  if (dwbuf.size() < 2 * w.nbp) dwbuf.resize(2 * w.nbp);
  float* const d0 = dwbuf.data();
  float* const d1 = dwbuf.data() + w.nbp;
  auto store = [&](size_t i, size_t r, float v) { y[i * ldy + r] = bias ? v + bias[r] : v; };
  for (size_t i0 = 0; i0 < a.m; i0 += kMChunk) {
    const size_t i1 = std::min(a.m, i0 + kMChunk);
    size_t r = r0;
    if constexpr (K::kPairRows) {
      for (; a.m < 4 && r + 2 <= r1; r += 2) {
        K::scales(w.row_d(r), w.nbp, d0);
        K::scales(w.row_d(r + 1), w.nbp, d1);
        const uint8_t* const qs[2] = {w.row_qs(r), w.row_qs(r + 1)};
        const float* const dw[2] = {d0, d1};
        size_t i = i0;
        for (; i + 2 <= i1; i += 2) {
          float out[2][2];
          K::template tile<2, 2>(qs, dw, a, i, out);
          for (int t = 0; t < 2; ++t)
            for (int n = 0; n < 2; ++n) store(i + t, r + n, out[t][n]);
        }
        if (i < i1) {
          float out[1][2];
          K::template tile<1, 2>(qs, dw, a, i, out);
          for (int n = 0; n < 2; ++n) store(i, r + n, out[0][n]);
        }
      }
    }
    for (; r < r1; ++r) {
      K::scales(w.row_d(r), w.nbp, d0);
      const uint8_t* const qs[1] = {w.row_qs(r)};
      const float* const dw[1] = {d0};
      size_t i = i0;
      for (; i + 4 <= i1; i += 4) {
        float out[4][1];
        K::template tile<4, 1>(qs, dw, a, i, out);
        for (int t = 0; t < 4; ++t) store(i + t, r, out[t][0]);
      }
      auto rest = [&](auto mr) {
        constexpr int MR = decltype(mr)::value;
        float out[MR][1];
        K::template tile<MR, 1>(qs, dw, a, i, out);
        for (int t = 0; t < MR; ++t) store(i + t, r, out[t][0]);
      };
      switch (i1 - i) {
        case 3: rest(std::integral_constant<int, 3>()); break;
        case 2: rest(std::integral_constant<int, 2>()); break;
        case 1: rest(std::integral_constant<int, 1>()); break;
        default: break;
      }
    }
  }
}

}  // namespace mblip
