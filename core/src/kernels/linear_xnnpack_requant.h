// Internal to the kernels (linear_xnnpack.cpp, int8_rows.cpp): the requantization helpers of packing (bf16
// scales, a row's symmetric int scale, Q4_0 nibbles in XNNPACK's order), SSE2 where it pays.
#pragma once
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "io/quant.h"

namespace mblip {
namespace xnn_requant {

constexpr size_t kQBlock = 32;  // Q8_0 / Q4_0 block size (elements)

// float -> bfloat16, round to nearest even (values here are positive and finite).
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// 4-lane vectors (GCC/Clang vector extensions: SSE2 natively, SIMD128 in wasm, where the scalar
// loops below cost ~7 s of a full-size load: float -> int conversions are guarded calls there).
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef int8_t v4b __attribute__((vector_size(4)));
inline v4f load4(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline v4f select4(v4i m, v4f a, v4f b) {
  return reinterpret_cast<v4f>((m & reinterpret_cast<v4i>(a)) | (~m & reinterpret_cast<v4i>(b)));
}

// Scale mapping [min, max] of a row onto the signed integer range [-(qmax+1), qmax] (zero stays 0).
inline float symmetric_scale(const float* x, size_t n, int qmax) {
  float lo = 0.f, hi = 0.f;
  size_t i = 0;
  // Four lanes x 2; each step is std::min(lo, x) / std::max(hi, x) (same NaN rule).
  v4f l0 = {0.f, 0.f, 0.f, 0.f}, l1 = l0, h0 = l0, h1 = l0;
  for (; i + 8 <= n; i += 8) {
    const v4f a = load4(x + i), b = load4(x + i + 4);
    l0 = select4(a < l0, a, l0), l1 = select4(b < l1, b, l1);
    h0 = select4(h0 < a, a, h0), h1 = select4(h1 < b, b, h1);
  }
  const v4f l = select4(l1 < l0, l1, l0), h = select4(h0 < h1, h1, h0);
  for (int j = 0; j < 4; ++j) lo = std::min(lo, l[j]), hi = std::max(hi, h[j]);
  for (; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const float s = std::max(hi / static_cast<float>(qmax), -lo / static_cast<float>(qmax + 1));
  return (s > 0.f && std::isnormal(s)) ? s : 1.f;  // all-zero row: any positive scale
}

// |x * inv_scale| <= qmax + 1 here, well inside round_half_even_small's exact range.
inline int quantize_to(float x, float inv_scale, int lo, int hi) {
  const int q = static_cast<int>(round_half_even_small(x * inv_scale));
  return std::min(hi, std::max(lo, q));
}

// dst[i] = quantize_to(x[i], inv_scale, -128, 127) for a row scaled by symmetric_scale(x, n, 127).
inline void quantize_row_int8(const float* x, size_t n, float inv_scale, int8_t* dst) {
  size_t i = 0;
  const v4f magic = {12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f}, inv = v4f{1, 1, 1, 1} * inv_scale;
  const v4i lo = {-128, -128, -128, -128}, hi = {127, 127, 127, 127};
  for (; i + 4 <= n; i += 4) {
    // round_half_even_small in integer form: the bits of (v + 1.5 * 2^23) minus those of 1.5 * 2^23.
    v4i q = reinterpret_cast<v4i>(load4(x + i) * inv + magic) - reinterpret_cast<v4i>(magic);
    q = q < lo ? lo : q;
    q = q > hi ? hi : q;
    const v4b b = __builtin_convertvector(q, v4b);
    std::memcpy(dst + i, &b, sizeof b);
  }
  for (; i < n; ++i) dst[i] = static_cast<int8_t>(quantize_to(x[i], inv_scale, -128, 127));
}

// One Q4_0 block's 16 nibble bytes (element j low nibble of byte j, element j+16 high nibble)
// -> XNNPACK's order (element 2m low nibble of byte m, 2m+1 high). sign < 0 (d < 0): each q
// becomes 16 - q (q = 0 clamps to 15); sign == 0 (unusable d): every q is 8 (the block is zero).
inline void repack_q4_block_scalar(const uint8_t* src, int sign, uint8_t* dst) {
  uint8_t q[kQBlock];
  for (size_t j = 0; j < 16; ++j) {
    q[j] = src[j] & 0xF;
    q[j + 16] = src[j] >> 4;
  }
  for (size_t j = 0; j < kQBlock; ++j) {
    if (sign == 0) q[j] = 8;
    else if (sign < 0) q[j] = static_cast<uint8_t>(std::min(15, 16 - q[j]));
  }
  for (size_t j = 0; j < kQBlock; j += 2) dst[j / 2] = static_cast<uint8_t>(q[j] | (q[j + 1] << 4));
}

inline void repack_q4_block(const uint8_t* src, int sign, uint8_t* dst) {
#if defined(__SSE2__)
  if (sign == 0) {
    std::memset(dst, 0x88, 16);
    return;
  }
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
  if (sign < 0) {  // 16 - q, and 15 for q = 0 (cmpeq gives -1 there)
    const __m128i k16 = _mm_set1_epi8(16), zero = _mm_setzero_si128();
    lo = _mm_add_epi8(_mm_sub_epi8(k16, lo), _mm_cmpeq_epi8(lo, zero));
    hi = _mm_add_epi8(_mm_sub_epi8(k16, hi), _mm_cmpeq_epi8(hi, zero));
  }
  // Pairs of bytes (2m, 2m+1) -> one byte q[2m] | q[2m+1] << 4, in the low byte of each 16-bit lane.
  const __m128i m8 = _mm_set1_epi16(0x00FF);
  const __m128i pl = _mm_or_si128(_mm_and_si128(lo, m8), _mm_slli_epi16(_mm_srli_epi16(lo, 8), 4));
  const __m128i ph = _mm_or_si128(_mm_and_si128(hi, m8), _mm_slli_epi16(_mm_srli_epi16(hi, 8), 4));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_packus_epi16(pl, ph));
#else
  repack_q4_block_scalar(src, sign, dst);
#endif
}

}  // namespace xnn_requant
}  // namespace mblip
