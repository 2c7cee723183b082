// Error-minimizing Q4_0 block quantization for model weights (quantize_row_weights in
// io/quant.h): per block of 32, the f16 scale with the least squared error among a few candidates.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "io/quant.h"

// Candidate errors decide which bytes are written: no fused multiply-add, so every target
// (x86, aarch64, wasm) computes the same errors and writes the same bytes. GCC (ISO mode, as
// this project builds) never contracts; clang would without the pragma.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace mblip {
namespace {

constexpr int kBlock = 32;
constexpr float kF16Max = 65504.0f;

// The nearest f16 value of d (ties to even), clamped to the largest finite f16.
inline float f16_value(float d) {
  const float a = std::fabs(d);
  if (a >= 0x1p-14f && a < kF16Max) {  // normal f16 range: round the float mantissa to 10 bits
    uint32_t u;
    std::memcpy(&u, &d, 4);
    u += 0xfffu + ((u >> 13) & 1u);
    u &= ~0x1fffu;
    float r;
    std::memcpy(&r, &u, 4);
    return r;
  }
  if (a >= kF16Max) return d < 0 ? -kF16Max : kF16Max;
  return fp16_to_fp32(fp32_to_fp16(d));  // f16 subnormals and zero
}

// Codes round(x/d) clamped to [lo, hi] (0 for d = 0). Rounded first, then clamped (the same for
// integer bounds; beyond 2^22 the rounding is inexact but keeps the sign and a magnitude > 8): two
// branch-free loops that compilers vectorize (one fused loop GCC 12 does not).
inline void block_codes(const float* x, float d, float lo, float hi, float* q) {
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kBlock; ++j) q[j] = round_half_even_small(x[j] * inv);
  for (int j = 0; j < kBlock; ++j) {
    float v = q[j];
    v = v > lo ? v : lo;
    q[j] = v < hi ? v : hi;
  }
}

// Sum of 32 values in a fixed order (the same on every target).
inline float sum32(const float* t) {
  float acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = (t[k] + t[k + 8]) + (t[k + 16] + t[k + 24]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Squared error of the block for the scale d with its codes (block_codes).
inline float block_error(const float* x, float d, float lo, float hi) {
  float q[kBlock], e2[kBlock];
  block_codes(x, d, lo, hi, q);
  for (int j = 0; j < kBlock; ++j) {
    const float e = x[j] - q[j] * d;
    e2[j] = e * e;
  }
  return sum32(e2);
}

// Whether every element's error for the scale d is <= limit (checked only for a would-be winner).
bool within_limit(const float* x, float d, float lo, float hi, float limit) {
  float q[kBlock], over[kBlock];
  block_codes(x, d, lo, hi, q);
  for (int j = 0; j < kBlock; ++j) over[j] = std::fabs(x[j] - q[j] * d) > limit ? 1.0f : 0.0f;
  return sum32(over) == 0.0f;
}

// Least-squares scale for the codes of d: sum(x q) / sum(q q), its magnitude clamped to
// [amin, amax_d], as an f16 value (0 if every code is 0).
inline float refit_scale(const float* x, float d, float lo, float hi, float amin, float amax_d) {
  float q[kBlock], xq[kBlock], qq[kBlock];
  block_codes(x, d, lo, hi, q);
  for (int j = 0; j < kBlock; ++j) {
    xq[j] = x[j] * q[j];
    qq[j] = q[j] * q[j];
  }
  const float sxq = sum32(xq), sqq = sum32(qq);
  if (!(sqq > 0.0f)) return 0.0f;
  const float r = sxq / sqq, a = std::fabs(r);
  const float c = a < amin ? amin : a > amax_d ? amax_d : a;
  return f16_value(r < 0.0f ? -c : c);
}

// Exact-order double error of a dequantized block (inf if y holds a non-finite value).
double exact_error(const float* x, const float* y) {
  double s = 0;
  for (int j = 0; j < kBlock; ++j) {
    const double e = static_cast<double>(x[j]) - static_cast<double>(y[j]);
    s += e * e;
  }
  return s == s ? s : INFINITY;
}

// Scans a block: largest magnitude, the first element having it (sign kept, as ggml), finiteness.
bool scan_block(const float* x, float& amax, float& m) {
  amax = 0.0f;
  m = 0.0f;
  bool finite = true;
  for (int j = 0; j < kBlock; ++j) {
    const float a = std::fabs(x[j]);
    finite = finite && a <= FLT_MAX;  // false for inf and NaN
    if (a > amax) {
      amax = a;
      m = x[j];
    }
  }
  return finite;
}

// Picks the best of the candidate scales, then refines it by least squares (at most twice, |d|
// kept in [amin, amax_d]); scales with an element error above `limit` do not count. Returns the
// chosen scale (an f16 value; candidate 0 if none counts); `best` its error, `first` candidate 0's.
float search_scale(const float* x, const float* cand, int n, float lo, float hi, float amin, float amax_d,
                   float limit, float& best, float& first) {
  float best_d = cand[0];
  first = block_error(x, cand[0], lo, hi);
  best = within_limit(x, cand[0], lo, hi, limit) ? first : INFINITY;
  for (int c = 1; c < n; ++c) {
    const float e = block_error(x, cand[c], lo, hi);
    if (e < best && within_limit(x, cand[c], lo, hi, limit)) {
      best = e;
      best_d = cand[c];
    }
  }
  for (int it = 0; it < 2; ++it) {
    const float d = refit_scale(x, best_d, lo, hi, amin, amax_d);
    if (d == best_d) break;
    const float e = block_error(x, d, lo, hi);
    if (!(e < best) || !within_limit(x, d, lo, hi, limit)) break;
    best = e;
    best_d = d;
  }
  return best_d;
}

// Q4_0 by the least squared error, never worse than ggml's rule: candidate 0 is ggml's scale with
// the nearest codes, whose error is <= ggml's own (its codes are per element the nearest for that
// scale, up to float rounding at near-ties: <= 4e-6 of the error). A float error (8 partial sums
// of 32 squares: relative error <= 7 * 2^-24 = 4.2e-7 while no term underflows) below 0.99999 x
// candidate 0's is therefore below ggml's. Otherwise (near-ties, tiny or huge blocks) the ggml
// block is computed and kept unless the search's is strictly better in exact double sums.
void quantize_q4_0_block_min_error(const float* x, uint8_t* out) {
  float amax, m;
  if (!scan_block(x, amax, m) || amax == 0.0f) return quantize_row(DType::Q4_0, x, out, kBlock);
  // The extreme element m at code -8 (d of the other sign, ggml's side: |d| = amax/7 .. amax/8.5)
  // or at +7 (d of its sign, |d| = amax/6.5 .. amax/7.5).
  static constexpr float kOpposite[] = {7.0f, 7.5f, 8.0f, 8.5f};
  static constexpr float kSame[] = {6.5f, 7.0f, 7.5f};
  float cand[1 + 4 + 3];
  int n = 0;
  cand[n++] = f16_value(m / -8.0f);
  for (float r : kOpposite) cand[n++] = f16_value(-m / r);
  for (float r : kSame) cand[n++] = f16_value(m / r);
  float err, err0;
  // ggml's worst case per element (q4_0_error_bound without its float slack): kept by every block.
  const float dg = amax / 8.0f, rel = dg * 0x1p-11f;
  const float limit = dg + 8.0f * (rel > 0x1p-25f ? rel : 0x1p-25f);
  const float d = search_scale(x, cand, n, -8.0f, 7.0f, amax / 8.5f, amax / 6.5f, limit, err, err0);
  uint8_t blk[18];
  const uint16_t dh = fp32_to_fp16(d);  // exact: d is an f16 value
  blk[0] = static_cast<uint8_t>(dh & 0xff);
  blk[1] = static_cast<uint8_t>(dh >> 8);
  float q[kBlock];
  block_codes(x, d, -8.0f, 7.0f, q);
  for (int j = 0; j < kBlock / 2; ++j)
    blk[2 + j] = static_cast<uint8_t>((static_cast<int>(q[j]) + 8) | ((static_cast<int>(q[j + kBlock / 2]) + 8) << 4));
  if (err0 >= 1e-30f && err0 <= FLT_MAX && err <= err0 * 0.99999f) {
    std::memcpy(out, blk, sizeof blk);
    return;
  }
  quantize_row(DType::Q4_0, x, out, kBlock);  // ggml's bytes
  float y_new[kBlock], y_ggml[kBlock];
  dequantize_row(DType::Q4_0, blk, y_new, kBlock);
  dequantize_row(DType::Q4_0, out, y_ggml, kBlock);
  if (exact_error(x, y_new) < exact_error(x, y_ggml)) std::memcpy(out, blk, sizeof blk);
}

}  // namespace

void quantize_row_weights(DType type, const float* src, void* dst, int64_t n) {
  if (type != DType::Q4_0) return quantize_row(type, src, dst, n);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kBlock; ++b) quantize_q4_0_block_min_error(src + b * kBlock, out + b * 18);
}

}  // namespace mblip
