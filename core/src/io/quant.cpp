// float32 <-> float16 (IEEE binary16, round to nearest even) and ggml Q8_0 / Q4_0 block
// quantization, matching ggml's reference quantizers bit for bit on finite inputs.
#include "io/quant.h"

#include <cmath>
#include <cstring>

namespace mblip {
namespace {

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

constexpr int kBlock = 32;

// ggml block_q8_0: { ggml_half d; int8_t qs[32]; } = 34 bytes.
void quantize_q8_0_block(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    const float a = std::fabs(x[j]);
    amax = amax > a ? amax : a;  // ggml MAX(): a NaN element is skipped
  }
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const uint16_t dh = fp32_to_fp16(d);
  out[0] = static_cast<uint8_t>(dh & 0xff);
  out[1] = static_cast<uint8_t>(dh >> 8);
  for (int j = 0; j < kBlock; ++j) {
    const float r = std::round(x[j] * id);  // roundf: ties away from zero, as ggml
    int q = r >= 127.0f ? 127 : r <= -127.0f ? -127 : (r == r ? static_cast<int>(r) : 0);  // guards non-finite
    out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
  }
}

void dequantize_q8_0_block(const uint8_t* in, float* y) {
  const float d = fp16_to_fp32(static_cast<uint16_t>(in[0] | (in[1] << 8)));
  for (int j = 0; j < kBlock; ++j) y[j] = static_cast<float>(static_cast<int8_t>(in[2 + j])) * d;
}

// ggml block_q4_0: { ggml_half d; uint8_t qs[16]; } = 18 bytes; element j in the low nibble of
// qs[j], element j+16 in the high nibble.
void quantize_q4_0_block(const float* x, uint8_t* out) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    const float v = x[j];
    if (amax < std::fabs(v)) {
      amax = std::fabs(v);
      max = v;
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const uint16_t dh = fp32_to_fp16(d);
  out[0] = static_cast<uint8_t>(dh & 0xff);
  out[1] = static_cast<uint8_t>(dh >> 8);
  auto code = [](float t) {  // ggml: MIN(15, (int8_t)(t)) with t = x*id + 8.5 in [0.5, 16.5]
    if (!(t > 0.0f)) return 0;  // also NaN
    if (t >= 15.0f) return 15;
    return static_cast<int>(t);  // truncation toward zero, as the int8_t cast
  };
  for (int j = 0; j < kBlock / 2; ++j) {
    const int lo = code(x[j] * id + 8.5f);
    const int hi = code(x[j + kBlock / 2] * id + 8.5f);
    out[2 + j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void dequantize_q4_0_block(const uint8_t* in, float* y) {
  const float d = fp16_to_fp32(static_cast<uint16_t>(in[0] | (in[1] << 8)));
  for (int j = 0; j < kBlock / 2; ++j) {
    const int lo = (in[2 + j] & 0x0f) - 8;
    const int hi = (in[2 + j] >> 4) - 8;
    y[j] = static_cast<float>(lo) * d;
    y[j + kBlock / 2] = static_cast<float>(hi) * d;
  }
}

float scale_rounding(float d, float codes) {
  const float rel = std::fabs(d) * 0x1p-11f;
  return codes * (rel > 0x1p-25f ? rel : 0x1p-25f);
}

}  // namespace

uint16_t fp32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf / nan (keep the top payload bits; force quiet so it stays NaN)
    if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (ax >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65536: overflow
  if (ax < 0x38800000u) {                                                // below 2^-14: subnormal / zero
    if (ax < 0x33000000u) return static_cast<uint16_t>(sign);            // < 2^-25 (2^-25 ties to 0)
    const uint32_t e = ax >> 23;                                          // 102..112
    const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;                                       // 14..24: value / 2^-24 = m >> shift
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;  // may carry into the smallest normal: still right
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = (ax - 0x38000000u) >> 13;  // rebias exponent 127 -> 15, keep 10 mantissa bits
  const uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carries propagate; 65520 -> inf
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  if (e == 0x1f) return bits_f32(sign | 0x7f800000u | (m << 13));
  if (e != 0) return bits_f32(sign | ((e + 112) << 23) | (m << 13));
  if (m == 0) return bits_f32(sign);
  // Subnormal: normalise m * 2^-24.
  uint32_t exp = 113;  // exponent field for 2^-14 after the first shift below
  while ((m & 0x400u) == 0) {
    m <<= 1;
    --exp;
  }
  return bits_f32(sign | (exp << 23) | ((m & 0x3ffu) << 13));
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
      for (int64_t k = 0; k < n; ++k) {
        const uint16_t h = fp32_to_fp16(src[k]);
        out[2 * k] = static_cast<uint8_t>(h & 0xff);
        out[2 * k + 1] = static_cast<uint8_t>(h >> 8);
      }
      return;
    case DType::Q8_0:
      for (int64_t b = 0; b < n / kBlock; ++b) quantize_q8_0_block(src + b * kBlock, out + b * 34);
      return;
    case DType::Q4_0:
      for (int64_t b = 0; b < n / kBlock; ++b) quantize_q4_0_block(src + b * kBlock, out + b * 18);
      return;
  }
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const auto* in = static_cast<const uint8_t*>(src);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
      for (int64_t k = 0; k < n; ++k) dst[k] = fp16_to_fp32(static_cast<uint16_t>(in[2 * k] | (in[2 * k + 1] << 8)));
      return;
    case DType::Q8_0:
      for (int64_t b = 0; b < n / kBlock; ++b) dequantize_q8_0_block(in + b * 34, dst + b * kBlock);
      return;
    case DType::Q4_0:
      for (int64_t b = 0; b < n / kBlock; ++b) dequantize_q4_0_block(in + b * 18, dst + b * kBlock);
      return;
  }
}

float q8_0_error_bound(float amax) {
  const float d = amax / 127.0f;
  return d * 0.5f + scale_rounding(d, 127.0f) + amax * 1e-6f;
}

float q4_0_error_bound(float amax) {
  const float d = amax / 8.0f;
  return d + scale_rounding(d, 8.0f) + amax * 1e-6f;
}

float q4_0_unclamped_error_bound(float amax) {
  const float d = amax / 8.0f;
  return d * 0.5f + scale_rounding(d, 8.0f) + amax * 1e-6f;
}

}  // namespace mblip
