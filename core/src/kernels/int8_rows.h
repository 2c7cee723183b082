// Our own int8 linear kernel for many activation rows (the vision tower's 257 patches): weights
// requantized to int8 with one scale per output row (the form of XNNPACK's qc8w), activations
// quantized per row to unsigned 8 bits with a zero point (XNNPACK's qd8 resolution), integer dot
// products over the whole row. Two fast variants, both wasm: relaxed SIMD on engines whose relaxed
// dot is an unsigned x signed int8 dot ("usdot", x86 Chromium: one VNNI instruction a dot), where
// small register tiles run ~1.25-1.3x XNNPACK's own usdot kernel (int8_rows_relaxed_wasm.cpp), and
// SIMD128 on 16-bit dots of widened operands where no full int8 relaxed dot exists
// (int8_rows_wasm_simd128.cpp). The scalar form here is their reference (same integers and float
// epilogue: identical outputs).
// Not for model code: make_linear picks it (kernels/linear.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/linear.h"

namespace mblip {

constexpr size_t kI8RowsKStep = 16;   // rows are padded to a multiple of this many elements
constexpr size_t kI8RowsNStep = 3;    // output channels are padded to a multiple of this many
constexpr size_t kI8RowsMaxK = 65536; // int32 sums stay exact up to here (|w| <= 128, u <= 255)

// Packed weights, one buffer: np x kp int8 (row r's elements, zero padding), then np float scales,
// then np int32 row sums (of the int8 values; the zero-point correction), then 16 zero bytes (a tile
// loads 4 lanes of scales / sums from its first row). Padding rows are zero.
struct I8RowsLayout {
  size_t n = 0, k = 0, np = 0, kp = 0;
  static I8RowsLayout of(size_t n, size_t k);
  size_t bytes() const { return np * kp + np * 8 + 16; }
};
struct I8RowsView {
  I8RowsLayout l;
  const uint8_t* base = nullptr;  // l.bytes() bytes, 16-byte aligned
  const int8_t* row(size_t r) const { return reinterpret_cast<const int8_t*>(base) + r * l.kp; }
  const float* scale() const { return reinterpret_cast<const float*>(base + l.np * l.kp); }
  const int32_t* rowsum() const { return reinterpret_cast<const int32_t*>(base + l.np * l.kp + l.np * 4); }
};

// Activations: m rows of kp bytes u = clamp(round_half_even(x / s) + z, 0, 255) (padding 0), with
// s = (max(x, 0) - min(x, 0)) / 255 and z = round_half_even(-min(x, 0) / s) per row (s = 1, z = 0
// for an all-zero row), so x ~ s (u - z).
struct U8Acts {
  size_t m = 0, kp = 0;
  std::vector<uint8_t> q;
  std::vector<float> s;
  std::vector<int32_t> z;
  std::vector<int16_t> w16;  // q widened to 16 bits, for variants that need it (I8RowsVariant::wide)
  const uint8_t* row(size_t i) const { return q.data() + i * kp; }
};
// pool: rows in parallel when given and the work is large.
void quantize_acts_u8(const float* x, size_t m, size_t k, size_t kp, U8Acts& out, ThreadPool* pool = nullptr);

// The output epilogue shared by every variant: y = (isum - z * rowsum) * (s_x * s_w) (+ bias).
inline float i8rows_output(int32_t isum, int32_t z, int32_t rowsum, float sx, float sw, const float* bias, size_t c) {
  // Wrapping arithmetic: the true value fits in int32 (|w| <= 128, |u - z| <= 255, k <= kI8RowsMaxK).
  const int32_t v = static_cast<int32_t>(static_cast<uint32_t>(isum) - static_cast<uint32_t>(z) * static_cast<uint32_t>(rowsum));
  const float y = static_cast<float>(v) * (sx * sw);
  return bias ? y + bias[c] : y;
}

// y[i * ldy + c] for all rows i < a.m and output channels c in [c0, c1) (c0 a multiple of
// kI8RowsNStep; c1 <= w.l.n). bias: nullptr, or readable up to w.l.np + 4 elements.
using I8RowsGemmFn = void (*)(const I8RowsView& w, const U8Acts& a, size_t c0, size_t c1, float* y, size_t ldy,
                              const float* bias);
void i8rows_gemm_ref(const I8RowsView& w, const U8Acts& a, size_t c0, size_t c1, float* y, size_t ldy,
                     const float* bias);
#if defined(__wasm_simd128__)
// Reads a.w16 (widen_acts_i16 first).
void i8rows_gemm_wasm_simd128(const I8RowsView& w, const U8Acts& a, size_t c0, size_t c1, float* y, size_t ldy,
                              const float* bias);
void widen_acts_i16(U8Acts& a);
#endif
#if defined(__wasm_relaxed_simd__)
// Needs wasm_relaxed_dot_kind() == "usdot" (the activations are the 7-bit operand, read unsigned).
void i8rows_gemm_wasm_relaxed(const I8RowsView& w, const U8Acts& a, size_t c0, size_t c1, float* y, size_t ldy,
                              const float* bias);
#endif

struct I8RowsVariant {
  const char* name;  // "ref", "wasm_simd128", "wasm_relaxed"
  I8RowsGemmFn fn;
  bool wide = false;  // reads U8Acts::w16
};
// Reference first; the fast variant last when this build and engine have one.
const std::vector<I8RowsVariant>& i8rows_variants();
// Whether make_linear should use this kernel for Q8_0 / Q4_0 weights of LinearRows::kMany.
bool i8rows_preferred();

// Requantizes a Q8_0 / Q4_0 / F16 / F32 weight {out, in} (in <= kI8RowsMaxK) into the packed form:
// per row, the scale mapping the row's [min, max] onto [-128, 127] (as for XNNPACK's qc8w).
Status pack_i8rows(const TensorView& weight, uint8_t* dst /* I8RowsLayout::bytes() */);

// Bytes the kernel holds for an {n, k} weight (packed form, bias padded for the tiles' loads).
inline uint64_t i8rows_kernel_bytes(size_t n, size_t k, bool bias) {
  const I8RowsLayout l = I8RowsLayout::of(n, k);
  return l.bytes() + (bias ? (l.np + 4) * sizeof(float) : 0);
}

// The kernel (variant: nullptr = the fastest). Its packed bytes live in the load's packed-weights
// store when there is one (kernels/weight_cache.h; warm loads do not requantize), else its own.
Result<std::unique_ptr<LinearKernel>> make_linear_i8rows(const TensorView& weight, const TensorView* bias,
                                                         const I8RowsVariant* variant = nullptr);

}  // namespace mblip
