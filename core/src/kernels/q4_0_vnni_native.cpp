// AVX-512 VNNI GEMM of the small-m Q4_0 / Q8_0 kernel (kernels/q4_0_vnni.h) and its weight packing.
// Per 16-row group and block: the weights as vpdpbusd's unsigned operand (Q4_0 nibbles 0..15, Q8_0
// q + 128), each 4-byte activation group broadcast as the signed one, minus 8 (Q4_0) or 128 (Q8_0) x
// the block's activation sum (exact int32 per row).
#include "kernels/q4_0_vnni.h"

#include <cstring>
#include <string>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MBLIP_Q4_VNNI 1
#define MBLIP_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12: _mm512_undefined_ps inside the intrinsics
#endif
#endif

namespace mblip {

uint64_t q4_vnni_slice_bytes(size_t groups, size_t k, DType type) {
  return static_cast<uint64_t>(groups) * static_cast<uint64_t>(k / 32) * (vnni_block_bytes(type) + 32);
}

Status pack_q4_vnni(const TensorView& weight, size_t g0, size_t groups, uint8_t* dst) {
  const bool q8 = weight.type == DType::Q8_0;
  const size_t n = static_cast<size_t>(weight.dim(0)), k = static_cast<size_t>(weight.dim(1));
  const size_t qb = vnni_block_bytes(weight.type), src_block = q8 ? 34 : 18;
  const size_t nb = k / 32, row_bytes = nb * src_block, vecs = qb / 64;
  uint8_t* quants = dst;
  uint8_t* scales = dst + groups * nb * qb;
  for (size_t g = 0; g < groups; ++g)
    for (size_t b = 0; b < nb; ++b) {
      uint8_t* qd = quants + (g * nb + b) * qb;
      uint8_t* sd = scales + (g * nb + b) * 32;
      for (size_t j = 0; j < kQ4VnniRows; ++j) {
        const size_t r = (g0 + g) * kQ4VnniRows + j;
        if (r >= n) {  // padding row: scale 0, quants of value 0 (nibble 8 / q + 128 = 128)
          sd[2 * j] = sd[2 * j + 1] = 0;
          for (size_t q = 0; q < vecs; ++q) std::memset(qd + q * 64 + 4 * j, q8 ? 0x80 : 0x88, 4);
          continue;
        }
        const uint8_t* src = weight.data + r * row_bytes + b * src_block;
        if ((src[1] & 0x7c) == 0x7c)
          return model_load_error("linear weight '" + weight.name + "': row " + std::to_string(r) + " block " +
                                  std::to_string(b) + " has a non-finite scale");
        sd[2 * j] = src[0];
        sd[2 * j + 1] = src[1];
        for (size_t q = 0; q < vecs; ++q)
          for (size_t c = 0; c < 4; ++c)
            qd[q * 64 + 4 * j + c] = q8 ? static_cast<uint8_t>(src[2 + 4 * q + c] ^ 0x80) : src[2 + 4 * q + c];
      }
    }
  return Status::Ok();
}

#ifdef MBLIP_Q4_VNNI
namespace {

// s += (u8 x s8 dot of 4-byte lanes) with the signed operand one int32 broadcast from memory
// (embedded broadcast: one fused load+op; GCC does not fold _mm512_set1_epi32 into vpdpbusd itself).
MBLIP_VNNI_TARGET inline __m512i dpbusd_bcast(__m512i s, __m512i u, const int32_t* x) {
  __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(u), "m"(*x));
  return s;
}

// Bytes to prefetch ahead, whatever the row count: 8 KiB (32 Q4_0 blocks of a group). A beam-5 step's
// Q4_0 linears streamed from memory (`mblip-bench-kernels step`, 24 layers + head, M = 5) took 15.0-16.0
// + 5.9-6.3 ms with it against 17.3-20.8 + 7.7-8.4 ms at 2 KiB (the earlier distance for 3+ rows, about
// one memory latency of in-cache work: too short once the weights come from DRAM); 4 and 16 KiB in
// between; cache-resident shapes (M = 45, 257) unchanged. One row: 8 KiB as before (4 KiB slower).
constexpr size_t kPrefetchBytes = 8192;

// Pointers to MR consecutive activation rows from i0: int8 words, block scales, block sums.
template <int MR>
struct ActRows {
  const int32_t* q[MR];
  const float* d[MR];
  const int32_t* s[MR];
  ActRows(const Q4VnniActs& a, size_t i0, size_t nb) {
#pragma GCC unroll 8
    for (int t = 0; t < MR; ++t) {
      q[t] = reinterpret_cast<const int32_t*>(a.q + (i0 + t) * nb * 32);
      d[t] = a.d + (i0 + t) * nb;
      s[t] = a.ns8 + (i0 + t) * nb;
    }
  }
};

// MR activation rows (i0..i0+MR) x one group of 16 output rows starting at r0; QB: quant bytes a
// block (256: Q4_0 nibbles, 512: Q8_0 bytes + 128).
template <int MR, int QB>
MBLIP_VNNI_TARGET void group_rows(const uint8_t* qg, const uint16_t* sg, size_t nb, const Q4VnniActs& a, size_t i0,
                                  float* y, size_t n, size_t r0, const float* bias) {
  const ActRows<MR> r(a, i0, nb);
  const auto& xq = r.q;
  const auto& xd = r.d;
  const auto& xs = r.s;
  __m512 acc[MR];
  // The row loops are unrolled on purpose: GCC 12 leaves them rolled (they hold inline asm), and acc[]
  // then lives on the stack with the row pointers spilled around it.
#pragma GCC unroll 8
  for (int t = 0; t < MR; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  constexpr size_t kAhead = kPrefetchBytes;
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* wq = qg + b * QB;
    // The weights stream from memory once per step: fetch ahead (past the group's end this reads
    // into the next group, which follows in memory; prefetches never fault).
    for (int l = 0; l < QB / 64; ++l) _mm_prefetch(reinterpret_cast<const char*>(wq + kAhead + 64 * l), _MM_HINT_T0);
    if (b % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(sg + (b + kAhead / QB) * 16), _MM_HINT_T0);
    __m512i w[8];  // w[q] pairs with the activation bytes 4q..4q+3 of the block
    if (QB == 256) {
      for (int q = 0; q < 4; ++q) {
        const __m512i raw = _mm512_loadu_si512(wq + 64 * q);
        w[q] = _mm512_and_si512(raw, low4);
        w[4 + q] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
      }
    } else {
      for (int q = 0; q < 8; ++q) w[q] = _mm512_loadu_si512(wq + 64 * q);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sg + b * 16)));
#pragma GCC unroll 8
    for (int t = 0; t < MR; ++t) {
      const int32_t* x4 = xq[t] + b * 8;  // the block's 32 int8 as 8 groups of 4
      __m512i s0 = _mm512_set1_epi32(xs[t][b]);
      if (MR <= 2) {  // two add chains: latency matters when few rows interleave
        __m512i s1 = _mm512_setzero_si512();
        for (int q = 0; q < 4; ++q) {
          s0 = dpbusd_bcast(s0, w[q], x4 + q);
          s1 = dpbusd_bcast(s1, w[4 + q], x4 + 4 + q);
        }
        s0 = _mm512_add_epi32(s0, s1);
      } else {
        for (int q = 0; q < 8; ++q) s0 = dpbusd_bcast(s0, w[q], x4 + q);
      }
      const __m512 sc = _mm512_mul_ps(dw, _mm512_set1_ps(xd[t][b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), sc, acc[t]);
    }
  }
  const size_t valid = n - r0 < kQ4VnniRows ? n - r0 : kQ4VnniRows;
  const __mmask16 mk = static_cast<__mmask16>(valid == 16 ? 0xFFFFu : (1u << valid) - 1u);
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(mk, bias + r0) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int t = 0; t < MR; ++t) _mm512_mask_storeu_ps(y + (i0 + t) * n + r0, mk, _mm512_add_ps(acc[t], bv));
}

// The next pair of groups, fetched into L2 while group2_rows computes one.
struct PairPrefetch {
  const uint8_t* next;  // the next pair's quants (past a task's end too: its next task is usually the
                        // same thread's, and prefetches never fault)
  size_t lines;         // their 64-byte lines
  const uint16_t* next_scales;
  size_t scale_lines;
  size_t per;           // lines to fetch a block
  size_t chunk;         // this row chunk's index
};

// MR activation rows x two adjacent groups (32 output rows from r0; the second group's quants and
// scales at qg2 / sg2), for tens of rows, where the weights are in cache and the kernel computes
// rather than streams: each broadcast activation word feeds two vpdpbusd, half the broadcast loads of
// group_rows a multiply-add. Same integer sums and float operations as group_rows (same results).
template <int MR, int QB>
MBLIP_VNNI_TARGET void group2_rows(const uint8_t* qg, const uint16_t* sg, const uint8_t* qg2, const uint16_t* sg2,
                                   size_t nb, const Q4VnniActs& a, size_t i0, float* y, size_t n, size_t r0,
                                   const float* bias, const PairPrefetch& pf) {
  const ActRows<MR> r(a, i0, nb);
  const auto& xq = r.q;
  const auto& xd = r.d;
  const auto& xs = r.s;
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int t = 0; t < MR; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* wq0 = qg + b * QB;
    const uint8_t* wq1 = qg2 + b * QB;
    // Fetch the next pair into L2 while this one computes, spread over every row chunk and block
    // (a chunk of 5 rows passes over the pair in about a microsecond: too short to stream it in).
    for (size_t l = 0; l < pf.per; ++l) {
      const size_t line = (pf.chunk * nb + b) * pf.per + l;
      if (line < pf.lines) _mm_prefetch(reinterpret_cast<const char*>(pf.next + 64 * line), _MM_HINT_T1);
      else if (line < pf.lines + pf.scale_lines)
        _mm_prefetch(reinterpret_cast<const char*>(pf.next_scales) + 64 * (line - pf.lines), _MM_HINT_T1);
    }
    __m512i s0[MR], s1[MR];
#pragma GCC unroll 8
    for (int t = 0; t < MR; ++t) s0[t] = s1[t] = _mm512_set1_epi32(xs[t][b]);
    // Both groups' weight vectors (w0, w1) times the activation word xo of every row.
    const auto dot2 = [&](__m512i w0, __m512i w1, int xo) MBLIP_VNNI_TARGET {
#pragma GCC unroll 8
      for (int t = 0; t < MR; ++t) {
        const __m512i x = _mm512_set1_epi32(xq[t][b * 8 + xo]);
        s0[t] = _mm512_dpbusd_epi32(s0[t], w0, x);
        s1[t] = _mm512_dpbusd_epi32(s1[t], w1, x);
      }
    };
#pragma GCC unroll 8
    for (int q = 0; q < QB / 64; ++q) {
      if (QB == 256) {  // vector q: low nibbles pair with word q, high nibbles with word 4 + q
        const __m512i r0v = _mm512_loadu_si512(wq0 + 64 * q), r1v = _mm512_loadu_si512(wq1 + 64 * q);
        dot2(_mm512_and_si512(r0v, low4), _mm512_and_si512(r1v, low4), q);
        dot2(_mm512_and_si512(_mm512_srli_epi16(r0v, 4), low4), _mm512_and_si512(_mm512_srli_epi16(r1v, 4), low4),
             4 + q);
      } else {
        dot2(_mm512_loadu_si512(wq0 + 64 * q), _mm512_loadu_si512(wq1 + 64 * q), q);
      }
    }
    const __m512 dw0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sg + b * 16)));
    const __m512 dw1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sg2 + b * 16)));
#pragma GCC unroll 8
    for (int t = 0; t < MR; ++t) {
      const __m512 xdv = _mm512_set1_ps(xd[t][b]);
      acc0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0[t]), _mm512_mul_ps(dw0, xdv), acc0[t]);
      acc1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[t]), _mm512_mul_ps(dw1, xdv), acc1[t]);
    }
  }
  // Both groups are whole here (the caller pairs a final partial group with nothing).
  const __m512 bv0 = bias ? _mm512_loadu_ps(bias + r0) : _mm512_setzero_ps();
  const __m512 bv1 = bias ? _mm512_loadu_ps(bias + r0 + 16) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int t = 0; t < MR; ++t) {
    _mm512_storeu_ps(y + (i0 + t) * n + r0, _mm512_add_ps(acc0[t], bv0));
    _mm512_storeu_ps(y + (i0 + t) * n + r0 + 16, _mm512_add_ps(acc1[t], bv1));
  }
}

// clamp(round_half_even(v * id), +-127) as int32 (adding 1.5 * 2^23 rounds at the integer position).
MBLIP_VNNI_TARGET inline __m512i quant16(__m512 v, __m512 id, __m512 magic, __m512 lo, __m512 hi) {
  __m512 p = _mm512_mul_ps(v, id);
  __asm__("" : "+v"(p));  // keeps the product rounded (GCC would fuse mul + add into one FMA)
  const __m512 r = _mm512_sub_ps(_mm512_add_ps(p, magic), magic);
  return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(r, lo), hi));
}

}  // namespace

// quantize_acts_q8's definition (kernels/block_int8.cpp) with the same IEEE operations, 16 lanes wide:
// d = max|x| / 127, q = clamp(round_half_even(x * (1 / d)), +-127), the block sum as -offset * sum.
MBLIP_VNNI_TARGET void q4_vnni_quantize(const float* x, size_t m, size_t k, int32_t offset, int8_t* q, float* d,
                                        int32_t* ns8) {
  const size_t nb = k / 32;
  const __m512 magic = _mm512_set1_ps(12582912.0f), hi = _mm512_set1_ps(127.f), lo = _mm512_set1_ps(-127.f);
  for (size_t i = 0; i < m; ++i)
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + i * k + b * 32;
      const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const float db = amax / 127.f;
      const __m512 id = _mm512_set1_ps(db > 0.f ? 1.f / db : 0.f);
      const __m512i q0 = quant16(v0, id, magic, lo, hi), q1 = quant16(v1, id, magic, lo, hi);
      int8_t* qb = q + i * k + b * 32;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qb), _mm512_cvtsepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + 16), _mm512_cvtsepi32_epi8(q1));
      d[i * nb + b] = db;
      ns8[i * nb + b] = -offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}

namespace {
// From 8 rows on, pairs of groups, 5 rows at a time (4-8 measured: 5 best). T5 wi shape at M = 45,
// 1 / 2 threads: 531-597 / 1120-1149 vs 454-458 / 924-951 GFLOP/s; the encoder's linears streamed as
// in the stage (`mblip-bench-kernels enc 2 5`, 24 layers, distinct weights) 95.7-96.0 vs 107.0 ms
// (alternating binaries, 2026-12-05). Decoder steps (1-5 rows stream the weights) keep group_rows.
constexpr size_t kPairRowsMin = 8;
constexpr size_t kPairRows = 5;
static_assert(kPairRows == 5, "gemm_groups' switch dispatches 1..5 rows");
template <int QB>
MBLIP_VNNI_TARGET void gemm_groups(const uint8_t* slice, size_t s0, size_t slice_groups, size_t n, size_t k,
                                   const Q4VnniActs& a, size_t g0, size_t g1, float* y, const float* bias) {
  const size_t nb = k / 32;
  const uint8_t* quants = slice;
  const auto* scales = reinterpret_cast<const uint16_t*>(slice + slice_groups * nb * QB);
  size_t g = g0;
  // Tens of rows: pairs of whole groups through group2_rows.
  if (a.m >= kPairRowsMin)
    for (; g + 2 <= g1 && (g + 2) * kQ4VnniRows <= n; g += 2) {
      const uint8_t* qg = quants + (g - s0) * nb * QB;
      const uint16_t* sg = scales + (g - s0) * nb * 16;
      const size_t r0 = g * kQ4VnniRows;
      const size_t chunks = (a.m + kPairRows - 1) / kPairRows, lines = 2 * nb * QB / 64, slines = nb;
      PairPrefetch pf{qg + 2 * nb * QB, lines, sg + 2 * nb * 16, slines,
                      (lines + slines + chunks * nb - 1) / (chunks * nb), 0};
      for (size_t i0 = 0; i0 < a.m; i0 += kPairRows, ++pf.chunk) {
        const uint8_t* qg2 = qg + nb * QB;
        const uint16_t* sg2 = sg + nb * 16;
        switch (a.m - i0 < kPairRows ? a.m - i0 : kPairRows) {
          case 1: group2_rows<1, QB>(qg, sg, qg2, sg2, nb, a, i0, y, n, r0, bias, pf); break;
          case 2: group2_rows<2, QB>(qg, sg, qg2, sg2, nb, a, i0, y, n, r0, bias, pf); break;
          case 3: group2_rows<3, QB>(qg, sg, qg2, sg2, nb, a, i0, y, n, r0, bias, pf); break;
          case 4: group2_rows<4, QB>(qg, sg, qg2, sg2, nb, a, i0, y, n, r0, bias, pf); break;
          default: group2_rows<5, QB>(qg, sg, qg2, sg2, nb, a, i0, y, n, r0, bias, pf); break;
        }
      }
    }
  for (; g < g1; ++g) {
    const uint8_t* qg = quants + (g - s0) * nb * QB;
    const uint16_t* sg = scales + (g - s0) * nb * 16;
    const size_t r0 = g * kQ4VnniRows;
    for (size_t i0 = 0; i0 < a.m; i0 += 8) {  // the group's weights stay in L1/L2 across chunks
      switch (a.m - i0 < 8 ? a.m - i0 : 8) {
        case 1: group_rows<1, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
        case 2: group_rows<2, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
        case 3: group_rows<3, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
        case 4: group_rows<4, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
        case 5: group_rows<5, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
        case 6: group_rows<6, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
        case 7: group_rows<7, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
        default: group_rows<8, QB>(qg, sg, nb, a, i0, y, n, r0, bias); break;
      }
    }
  }
}
}  // namespace

void q4_vnni_gemm(const uint8_t* slice, size_t s0, size_t slice_groups, size_t n, size_t k, DType type,
                  const Q4VnniActs& a, size_t g0, size_t g1, float* y, const float* bias) {
  if (type == DType::Q8_0) gemm_groups<512>(slice, s0, slice_groups, n, k, a, g0, g1, y, bias);
  else gemm_groups<256>(slice, s0, slice_groups, n, k, a, g0, g1, y, bias);
}

bool cpu_has_avx512_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
#else
void q4_vnni_gemm(const uint8_t*, size_t, size_t, size_t, size_t, DType, const Q4VnniActs&, size_t, size_t, float*,
                  const float*) {}
void q4_vnni_quantize(const float*, size_t, size_t, int32_t, int8_t*, float*, int32_t*) {}
bool cpu_has_avx512_vnni() { return false; }
#endif

}  // namespace mblip
