// Conversions between float32 and the stored weight types: f16 (IEEE half), and ggml's
// Q8_0 (blocks of 32: f16 scale d + 32 int8, x = d*q) and Q4_0 (blocks of 32: f16 scale d +
// 16 bytes of nibbles, x = d*(q-8); low nibbles hold elements 0..15, high nibbles 16..31).
// Quantization is deterministic (same input, same bytes on every target). quantize_row follows
// ggml's reference quantizers (quantize_row_q8_0_ref / quantize_row_q4_0_ref) bit for bit;
// quantize_row_weights (what the converter stores) picks Q4_0 scales by least squared error.
#pragma once
#include <cstddef>
#include <cstdint>

#include "io/tensor.h"

namespace mblip {

uint16_t fp32_to_fp16(float f);  // round to nearest even
float fp16_to_fp32(uint16_t h);

// Round half to even for |v| < 2^22 without libm (baseline x86-64 has no SSE4.1 round; loops of
// it vectorize on every target): adding 1.5 * 2^23 leaves the rounded integer in the mantissa,
// the same result everywhere under IEEE arithmetic. Larger |v| is inexact but keeps the sign and a
// magnitude above 2^21. Correct only without -ffast-math (the build never uses it).
inline float round_half_even_small(float v) {
  const float magic = 12582912.0f;  // 1.5 * 2^23
  return (v + magic) - magic;
}

// n must be a multiple of the type's block size (callers check with dtype_bytes); a trailing
// partial block is ignored. `dst` has dtype_bytes(type, n) bytes. F32 is a copy, F16 converts.
void quantize_row(DType type, const float* src, void* dst, int64_t n);
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// The quantizer for model weights (mblip-convert, mblip-synth; io/quant_search.cpp). Same formats,
// kernels and speed as quantize_row's output; only how a Q4_0 block's scale d is picked differs.
// Candidates: ggml's max/-8 and the f16 values of -max/{7, 7.5, 8, 8.5} and max/{6.5, 7, 7.5}
// (max: the block's first largest-magnitude element), codes rounded to nearest; the one with the
// least squared block error, then up to two least-squares refits d = sum(x q)/sum(q q) for its
// codes (|d| kept in [amax/8.5, amax/6.5]) while they lower it. Scales that would put an element
// beyond ggml's worst case (q4_0_error_bound) are skipped. So every block of a finite row with
// amax <= 8 * 65504 stays within q4_0_error_bound, its squared error is <= that of ggml's rule
// (ggml's bytes are kept unless strictly worse), and over Gaussian blocks it is ~10% lower,
// uniform ~16% (tests/test_quant.cpp). Non-finite blocks: ggml's bytes. Q8_0, F16, F32: exactly
// quantize_row (a min-error Q8_0 scale lowers the weight error ~14% but did not move the q8_0
// recipe's cosines, docs/model-file.md). Q4_0: ~55-60 M weights/s on one x86 core, ~1/10 of
// quantize_row's rate.
void quantize_row_weights(DType type, const float* src, void* dst, int64_t n);

// Worst-case |x - dequant(quant(x))| for any element of one block whose largest magnitude is
// `amax`, derived from the block format (see docs/model-file.md "Quantization error"):
//   Q8_0: d = amax/127; rounding to the int8 grid costs <= d/2, storing d as f16 costs
//         <= 127 * |d - f16(d)| <= 127 * max(d*2^-11, 2^-25) (relative half-ulp, or the
//         absolute half-ulp of f16 subnormals); plus float slack.
//   Q4_0: |d| = amax/8; truncating x/d + 8.5 costs <= |d|/2 except that the top code is
//         clamped at 15, so an element near -max can be off by up to |d|; f16 scale costs
//         <= 8 * max(|d|*2^-11, 2^-25); plus float slack.
float q8_0_error_bound(float amax);
// q4_0_error_bound also holds for quantize_row_weights' Q4_0 (see there).
float q4_0_error_bound(float amax);
// Error bound for Q4_0 elements that are not clamped (x/d <= 7.5): |d|/2 + scale rounding.
float q4_0_unclamped_error_bound(float amax);

}  // namespace mblip
