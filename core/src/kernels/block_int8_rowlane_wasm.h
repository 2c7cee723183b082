// Row-lane block-int8 GEMM for many activation rows (prefill, the vision tower's M = 257): lanes are
// activation rows. A task unpacks its weight rows once into unsigned nibble planes and interleaves 4-16
// activation rows per block; the block sums come from i16x8.relaxed_dot_i8x16_i7x16_s (relaxed builds,
// RelaxedSums) or i32x4.dot_i16x8_s on operands widened to int16 once (SIMD128, Simd128Q4Sums), each
// against 4 broadcast weight bytes. Include from wasm kernel files only.
#pragma once
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

#include <vector>

#include "kernels/block_int8.h"
#include "kernels/block_int8_wasm.h"

namespace mblip {

// Exactness: the 7-bit operand of every relaxed dot is a weight nibble in 0..15 (Q4_0: the raw
// nibbles; Q8_0: the two nibbles of w + 128), so no engine can read its high bit differently, and an
// i16 lane (two products) is at most 2 * 15 * 127 = 3810: a plane's 8 dots of a block add up to
// 30480 < 2^15 without saturation. Each block's integer sum is exact; the float work per output is the
// scalar reference's (acc += float(isum_b) * (d_w[b] * d_x[b]) over the blocks in order), so every
// output equals the reference (kernels/block_int8_ref.h) bit for bit.
//
// Activation tile of 4 * MV rows (rows past M are zero, with d = 0, sum 0): per block b, group g
// (elements 4g..4g+3), vector v: 16 bytes = rows 4v..4v+3 x the 4 elements; per block and vector the
// 4 rows' d_x and, for unsigned weight layouts, -kOffset * block sums (folded into the int32 sum).
struct RowLaneActTile {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> off;
};

// Fmt: kBlockBytes (packed), kOffset (8 for Q4_0, 128 for Q8_0), kPlanes, kPlaneShift[p] (plane p's
// sums weigh 2^shift), and static void unpack(const uint8_t* block, uint8_t* dst): kPlanes x 32 bytes
// in 0..15, element order (sum over planes of plane[p][j] << kPlaneShift[p] = w_j + kOffset).
struct Q4RelaxedFmt {
  static constexpr size_t kBlockBytes = 16;
  static constexpr int32_t kOffset = 8;
  static constexpr int kPlanes = 1;
  static constexpr int kPlaneShift[1] = {0};
  static void unpack(const uint8_t* q, uint8_t* dst) {  // byte j: element j (low nibble), j + 16 (high)
    const v128_t raw = wasm_v128_load(q), mask = wasm_i8x16_splat(0x0F);
    wasm_v128_store(dst, wasm_v128_and(raw, mask));
    wasm_v128_store(dst + 16, wasm_v128_and(wasm_u16x8_shr(raw, 4), mask));
  }
};
struct Q8RelaxedFmt {  // w + 128 = 16 uh + ul
  static constexpr size_t kBlockBytes = 32;
  static constexpr int32_t kOffset = 128;
  static constexpr int kPlanes = 2;
  static constexpr int kPlaneShift[2] = {4, 0};
  static void unpack(const uint8_t* q, uint8_t* dst) {
    const v128_t mask = wasm_i8x16_splat(0x0F), bias = wasm_i8x16_splat(static_cast<int8_t>(0x80));
    for (int h = 0; h < 2; ++h) {
      const v128_t u = wasm_v128_xor(wasm_v128_load(q + 16 * h), bias);
      wasm_v128_store(dst + 16 * h, wasm_v128_and(wasm_u16x8_shr(u, 4), mask));
      wasm_v128_store(dst + 32 + 16 * h, wasm_v128_and(u, mask));
    }
  }
};

#if defined(__wasm_relaxed_simd__)
// Block sums with the relaxed int8 dots, in one of two forms (the same exact integers, so the outputs
// are equal bit for bit):
// - kDot32 false: i16x8.relaxed_dot_i8x16_i7x16_s; a plane's 8 dots of a block add up in int16
//   without saturation (<= 8 * 2 * 15 * 127 = 30480), then widen pairwise. Two instructions per 16
//   products; the form for engines whose relaxed dot goes through saturating 16-bit pairs.
// - kDot32 true: i32x4.relaxed_dot_i8x16_i7x16_add_s accumulating in int32: one instruction per 16
//   products where the engine's relaxed dot is a full int8 dot ("usdot" / "sdot": one VNNI / Arm dot).
//   One accumulator chain per (plane, vector, weight row): the tile's size hides the dot's latency (a
//   second chain per tile spilled in V8, at half the speed).
template <class Fmt, bool kDot32 = false>
struct RelaxedSums {
  // Weight layout: Fmt's unsigned nibble planes (kUBytes per block), offset kOffset.
  static constexpr size_t kUBytes = 32 * Fmt::kPlanes;
  static constexpr int32_t kOffset = Fmt::kOffset;
  static void unpack(const uint8_t* q, uint8_t* dst) { Fmt::unpack(q, dst); }

  // Unsigned integer block sums (before the offset) of MV activation vectors x NR weight rows.
  template <int MV, int NR>
  static void isums(const uint8_t* const* ub, const int8_t* xb, v128_t (&s)[MV][NR]) {
    constexpr int P = Fmt::kPlanes;
    v128_t acc[P][MV][NR];
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < MV; ++v)
        for (int n = 0; n < NR; ++n) acc[p][v][n] = wasm_i32x4_splat(0);
    for (int g = 0; g < 8; ++g) {
      v128_t wv[P][NR];
      for (int p = 0; p < P; ++p)
        for (int n = 0; n < NR; ++n) wv[p][n] = wasm_v128_load32_splat(ub[n] + 32 * p + 4 * g);
      for (int v = 0; v < MV; ++v) {
        const v128_t x = wasm_v128_load(xb + (g * MV + v) * 16);
        for (int p = 0; p < P; ++p)
          for (int n = 0; n < NR; ++n)
            acc[p][v][n] = kDot32 ? wasm_i32x4_relaxed_dot_i8x16_i7x16_add(x, wv[p][n], acc[p][v][n])
                                  : wasm_i16x8_add(acc[p][v][n], wasm_i16x8_relaxed_dot_i8x16_i7x16(x, wv[p][n]));
      }
    }
    // int16 form: pairwise widening (no constant to rematerialize per block). Then the plane's
    // power-of-two weight.
    auto wide = [](v128_t a) { return kDot32 ? a : wasm_i32x4_extadd_pairwise_i16x8(a); };
    for (int v = 0; v < MV; ++v)
      for (int n = 0; n < NR; ++n) {
        v128_t t = wasm_i32x4_shl(wide(acc[0][v][n]), Fmt::kPlaneShift[0]);
        for (int p = 1; p < P; ++p) t = wasm_i32x4_add(t, wasm_i32x4_shl(wide(acc[p][v][n]), Fmt::kPlaneShift[p]));
        s[v][n] = t;
      }
  }
};
#endif

// Block sums with SIMD128's i32x4.dot_i16x8_s (Q4_0): the weights are widened to int16 once, when a
// task unpacks its rows (signed q - 8, so no offset term); each activation vector is widened on load
// (rows 0-1, rows 2-3; storing the activations widened measured 30% slower in V8). Per group, two
// accumulators of {row, half} partial sums, folded into one {row 0..3} vector per block (exact int32).
struct Simd128Q4Sums {
  static constexpr size_t kUBytes = 64;  // 32 int16
  static constexpr int32_t kOffset = 0;
  static void unpack(const uint8_t* q, uint8_t* dst) {  // int16 q - 8, element order
    const v128_t raw = wasm_v128_load(q), mask = wasm_i8x16_splat(0x0F), eight = wasm_i8x16_splat(8);
    const v128_t lo = wasm_i8x16_sub(wasm_v128_and(raw, mask), eight);                     // elements 0..15
    const v128_t hi = wasm_i8x16_sub(wasm_v128_and(wasm_u16x8_shr(raw, 4), mask), eight);  // elements 16..31
    wasm_v128_store(dst, wasm_i16x8_extend_low_i8x16(lo));
    wasm_v128_store(dst + 16, wasm_i16x8_extend_high_i8x16(lo));
    wasm_v128_store(dst + 32, wasm_i16x8_extend_low_i8x16(hi));
    wasm_v128_store(dst + 48, wasm_i16x8_extend_high_i8x16(hi));
  }
  template <int MV, int NR>
  static void isums(const uint8_t* const* ub, const int8_t* xb, v128_t (&s)[MV][NR]) {
    v128_t lo[MV][NR], hi[MV][NR];
    for (int v = 0; v < MV; ++v)
      for (int n = 0; n < NR; ++n) lo[v][n] = hi[v][n] = wasm_i32x4_splat(0);
    for (int g = 0; g < 8; ++g) {
      v128_t wv[NR];  // {w0..w3, w0..w3} as int16
      for (int n = 0; n < NR; ++n) wv[n] = wasm_v128_load64_splat(ub[n] + 8 * g);
      for (int v = 0; v < MV; ++v) {
        const v128_t x = wasm_v128_load(xb + (g * MV + v) * 16);
        const v128_t xl = wasm_i16x8_extend_low_i8x16(x), xh = wasm_i16x8_extend_high_i8x16(x);
        for (int n = 0; n < NR; ++n) {
          lo[v][n] = wasm_i32x4_add(lo[v][n], wasm_i32x4_dot_i16x8(xl, wv[n]));
          hi[v][n] = wasm_i32x4_add(hi[v][n], wasm_i32x4_dot_i16x8(xh, wv[n]));
        }
      }
    }
    for (int v = 0; v < MV; ++v)
      for (int n = 0; n < NR; ++n)
        s[v][n] = wasm_i32x4_add(wasm_i32x4_shuffle(lo[v][n], hi[v][n], 0, 2, 4, 6),
                                 wasm_i32x4_shuffle(lo[v][n], hi[v][n], 1, 3, 5, 7));
  }
};

template <class Fmt, class Sums, int kMV = 2, int kNR = 1>
struct RowLaneGemm {
  static constexpr size_t kUBytes = Sums::kUBytes;  // unpacked bytes per weight block

  // Rows at or past m count as absent (zero).
  static void interleave(const Q8Acts& a, size_t m, size_t i0, int mv, RowLaneActTile& t) {
    const size_t nbp = a.nbp, mvs = static_cast<size_t>(mv);
    t.q.resize(nbp * 8 * mvs * 16);
    t.d.resize(nbp * mvs * 4);
    if (Sums::kOffset != 0) t.off.resize(nbp * mvs * 4);
    static const int8_t zeros[kQ4Block] = {};
    for (size_t v = 0; v < mvs; ++v) {
      const int8_t* rq[4];
      for (size_t r = 0; r < 4; ++r) {
        const size_t i = i0 + 4 * v + r;
        rq[r] = i < m ? a.row_q(i) : nullptr;
        for (size_t b = 0; b < nbp; ++b) {
          t.d[(b * mvs + v) * 4 + r] = rq[r] ? a.row_d(i)[b] : 0.f;
          if (Sums::kOffset != 0) t.off[(b * mvs + v) * 4 + r] = rq[r] ? -Sums::kOffset * a.row_s(i)[b] : 0;
        }
      }
      for (size_t b = 0; b < nbp; ++b)
        for (size_t h = 0; h < 2; ++h) {  // 4 x 4 transpose of 32-bit groups
          v128_t x[4];
          for (size_t r = 0; r < 4; ++r) x[r] = wasm_v128_load((rq[r] ? rq[r] + b * kQ4Block : zeros) + 16 * h);
          const v128_t lo01 = wasm_i32x4_shuffle(x[0], x[1], 0, 4, 1, 5), lo23 = wasm_i32x4_shuffle(x[2], x[3], 0, 4, 1, 5);
          const v128_t hi01 = wasm_i32x4_shuffle(x[0], x[1], 2, 6, 3, 7), hi23 = wasm_i32x4_shuffle(x[2], x[3], 2, 6, 3, 7);
          const v128_t g[4] = {wasm_i32x4_shuffle(lo01, lo23, 0, 1, 4, 5), wasm_i32x4_shuffle(lo01, lo23, 2, 3, 6, 7),
                               wasm_i32x4_shuffle(hi01, hi23, 0, 1, 4, 5), wasm_i32x4_shuffle(hi01, hi23, 2, 3, 6, 7)};
          for (size_t j = 0; j < 4; ++j) wasm_v128_store(t.q.data() + ((b * 8 + 4 * h + j) * mvs + v) * 16, g[j]);
        }
    }
  }

  // Rows [i0, i0 + 4 MV) x weight rows [r, r + NR) of the task (u: its unpacked rows from r0, dwf: their
  // float scales): the full sweep over the blocks.
  template <int MV, int NR>
  static void tile(const uint8_t* u, const float* dwf, size_t nbp, size_t r, size_t r0, const RowLaneActTile& t,
                   size_t m, size_t i0, float* y, size_t ldy, const float* bias) {
    v128_t acc[MV][NR];
    for (int v = 0; v < MV; ++v)
      for (int n = 0; n < NR; ++n) acc[v][n] = wasm_f32x4_splat(0.f);
    const uint8_t* wq[NR];
    const float* dw[NR];
    for (int n = 0; n < NR; ++n) {
      wq[n] = u + (r + n - r0) * nbp * kUBytes;
      dw[n] = dwf + (r + n - r0) * nbp;
    }
    for (size_t b = 0; b < nbp; ++b) {
      const uint8_t* ub[NR];
      for (int n = 0; n < NR; ++n) ub[n] = wq[n] + b * kUBytes;
      v128_t s[MV][NR];
      Sums::template isums<MV, NR>(ub, t.q.data() + b * 8 * MV * 16, s);
      for (int v = 0; v < MV; ++v) {
        const v128_t dx = wasm_v128_load(t.d.data() + (b * MV + v) * 4);
        for (int n = 0; n < NR; ++n) {
          const v128_t sc = wasm_f32x4_mul(wasm_v128_load32_splat(dw[n] + b), dx);
          v128_t isum = s[v][n];
          if (Sums::kOffset != 0) isum = wasm_i32x4_add(isum, wasm_v128_load(t.off.data() + (b * MV + v) * 4));
          const v128_t f = wasm_f32x4_convert_i32x4(isum);
          acc[v][n] = wasm_f32x4_add(acc[v][n], wasm_f32x4_mul(f, sc));
        }
      }
    }
    for (int v = 0; v < MV; ++v)
      for (int n = 0; n < NR; ++n) {
        float o[4];
        wasm_v128_store(o, acc[v][n]);
        for (size_t l = 0; l < 4; ++l) {
          const size_t i = i0 + 4 * static_cast<size_t>(v) + l;
          if (i < m) y[i * ldy + r + n] = bias ? o[l] + bias[r + n] : o[l];
        }
      }
  }

  template <int MV>
  static void rows(const uint8_t* u, const float* dwf, size_t nbp, size_t r0, size_t r1, const RowLaneActTile& t,
                   size_t m, size_t i0, float* y, size_t ldy, const float* bias) {
    constexpr int NR = MV == kMV ? kNR : 2;
    size_t r = r0;
    for (; r + NR <= r1; r += NR) tile<MV, NR>(u, dwf, nbp, r, r0, t, m, i0, y, ldy, bias);
    for (; r < r1; ++r) tile<MV, 1>(u, dwf, nbp, r, r0, t, m, i0, y, ldy, bias);
  }

  // Activation rows [0, m) (all when m is 0).
  static void gemm(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                   const float* bias, size_t m = 0) {
    if (m == 0 || m > a.m) m = a.m;
    // The interleaved activation tiles of the call's rows, made by each thread's first task of a call
    // and reused by its other tasks (the same activations: Q8Acts::generation).
    thread_local struct {
      uint64_t generation = 0;
      size_t m = 0;
      std::vector<RowLaneActTile> tiles;
    } acts;
    const bool reuse = a.generation != 0 && acts.generation == a.generation && acts.m == m;
    acts.generation = a.generation;
    acts.m = m;
    thread_local std::vector<float> dwf;
    thread_local std::vector<uint8_t> u;
    const size_t nbp = w.nbp;
    dwf.resize((r1 - r0) * nbp);
    u.resize((r1 - r0) * nbp * kUBytes);
    for (size_t r = r0; r < r1; ++r) {
      for (size_t b = 0; b < nbp; b += 4)
        wasm_v128_store(dwf.data() + (r - r0) * nbp + b, wasm_half4_to_f32(w.row_d(r) + b));
      for (size_t b = 0; b < nbp; ++b)
        Sums::unpack(w.row_qs(r) + b * Fmt::kBlockBytes, u.data() + ((r - r0) * nbp + b) * kUBytes);
    }
    for (size_t i0 = 0, chunk = 0; i0 < m; ++chunk) {
      const int mv = m - i0 > 4 * (kMV - 1) ? kMV : 1;  // a short tail: 4 rows at a time
      if (acts.tiles.size() <= chunk) acts.tiles.resize(chunk + 1);
      RowLaneActTile& t = acts.tiles[chunk];
      if (!reuse) interleave(a, m, i0, mv, t);
      if (mv == kMV) rows<kMV>(u.data(), dwf.data(), nbp, r0, r1, t, m, i0, y, ldy, bias);
      else rows<1>(u.data(), dwf.data(), nbp, r0, r1, t, m, i0, y, ldy, bias);
      i0 += 4 * static_cast<size_t>(mv);
    }
  }
};

// Rows [first, first + m) of quantized activations, as block_gemm's Acts.
struct Q8ActsRows {
  const Q8Acts* a;
  size_t first, m, nbp;
  Q8ActsRows(const Q8Acts& acts, size_t from) : a(&acts), first(from), m(acts.m - from), nbp(acts.nbp) {}
  const int8_t* row_q(size_t i) const { return a->row_q(first + i); }
  const float* row_d(size_t i) const { return a->row_d(first + i); }
  const int32_t* row_s(size_t i) const { return a->row_s(first + i); }
};

// How many rows the row-lane kernel takes when it runs: all but a lone row after whole 4-row tiles at
// small M (a beam-5 step: 4 + 1), which it would pad to 4; that row goes to the few-row path. Measured
// in Chromium, M = 5, K = 2048: 4-row tile + one row 2.6 ms vs 3.0 for the row-lane kernel alone.
inline size_t rowlane_rows(size_t m) { return m % 4 == 1 && m <= 9 ? m - 1 : m; }

// The relaxed variants' dispatch: below large_m rows the few-row path (block_gemm over Small, a
// BlockWasmKernel), from there the row-lane kernel Large on rowlane_rows(M) rows and the few-row
// path on the rest.
template <class Large, class Small>
void relaxed_gemm(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                  const float* bias, size_t large_m) {
  if (a.m < large_m) {
    block_gemm<Small>(w, a, r0, r1, y, ldy, bias);
    return;
  }
  const size_t m = rowlane_rows(a.m);
  Large::gemm(w, a, r0, r1, y, ldy, bias, m);
  if (m < a.m) block_gemm<Small>(w, Q8ActsRows(a, m), r0, r1, y + m * ldy, ldy, bias);
}

// The relaxed variants' two paths, for same-run benchmarks (tools/bench/wasm_kernels.mjs): `small`
// is the transposed driver of block_int8_wasm.h, `large` the
// row-lane kernel above (bit-identical to the reference). q{4,8}_0_gemm_wasm_relaxed pick by M.
void q4_0_gemm_wasm_relaxed_small(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
void q4_0_gemm_wasm_relaxed_large(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
// Its two forms: RelaxedSums' int16 dots (engines whose relaxed dot saturates) and int32 dot-adds
// ("usdot" / "sdot" engines); `large` picks by wasm_relaxed_dot_kind().
void q4_0_gemm_wasm_relaxed_large_i16(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
void q4_0_gemm_wasm_relaxed_large_dot(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
void q8_0_gemm_wasm_relaxed_small(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
void q8_0_gemm_wasm_relaxed_large(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);

}  // namespace mblip
#endif
