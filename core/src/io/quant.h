// Conversions between float32 and the stored weight types: f16 (IEEE half), and ggml's
// Q8_0 (blocks of 32: f16 scale d + 32 int8, x = d*q) and Q4_0 (blocks of 32: f16 scale d +
// 16 bytes of nibbles, x = d*(q-8); low nibbles hold elements 0..15, high nibbles 16..31).
// Quantization is deterministic (same input, same bytes on every target).
#pragma once
#include <cstddef>
#include <cstdint>

#include "io/tensor.h"

namespace mblip {

uint16_t fp32_to_fp16(float f);  // round to nearest even
float fp16_to_fp32(uint16_t h);

// n must be a multiple of the type's block size. `dst` has dtype_bytes(type, n) bytes.
void quantize_row(DType type, const float* src, void* dst, int64_t n);
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

}  // namespace mblip
