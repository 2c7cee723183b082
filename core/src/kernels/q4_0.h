// Our own Q4_0 linear kernel (y = x . W^T, W in ggml Q4_0 blocks): packed weights, activations
// quantized per row to int8 in blocks of 32 (ggml q8_0-style, f32 scale), the per-ISA GEMM
// functions (q4_0_{ref,avx2,neon,wasm_simd128}.cpp) and the dispatch table. Not for model code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/linear.h"

namespace mblip {

constexpr size_t kQ4Block = 32;      // elements per Q4_0 / activation block
constexpr size_t kQ4BlockGroup = 4;  // rows are padded to a multiple of this many blocks

// Q4_0 weights repacked for the kernels: per output row, nbp blocks (nb real + zero padding to a
// multiple of kQ4BlockGroup); nibbles and f16 scales in separate arrays (aligned SIMD loads, no
// 18-byte stride). Nibble layout as in ggml: byte j of a block holds element j (low nibble) and
// element j + 16 (high nibble); value = d * (q - 8). Padding blocks have d = 0 and q = 8.
struct Q4Packed {
  size_t n = 0, k = 0, nb = 0, nbp = 0;
  std::vector<uint8_t> qs;  // n * nbp * 16
  std::vector<uint16_t> d;  // n * nbp, IEEE half (finite)
  const uint8_t* row_qs(size_t r) const { return qs.data() + r * nbp * 16; }
  const uint16_t* row_d(size_t r) const { return d.data() + r * nbp; }
};

// Activations quantized per row and block of 32: q = round_half_even(x / d), d = max|x| / 127
// (0 for an all-zero block), plus the block's integer sum (for kernels using unsigned nibbles).
// Produced by one scalar function for every ISA, so all variants see identical integers.
struct Q8Acts {
  size_t m = 0, nbp = 0;
  std::vector<int8_t> q;   // m * nbp * 32
  std::vector<float> d;    // m * nbp
  std::vector<int32_t> s;  // m * nbp: sum of the block's q
  const int8_t* row_q(size_t i) const { return q.data() + i * nbp * kQ4Block; }
  const float* row_d(size_t i) const { return d.data() + i * nbp; }
  const int32_t* row_s(size_t i) const { return s.data() + i * nbp; }
};

void quantize_acts_q8(const float* x, size_t m, size_t k, size_t nbp, Q8Acts& out);

// Computes y[i * ldy + r] = sum_b (isum_b * d_w * d_x) (+ bias[r]) for all rows i < a.m and
// output channels r in [r0, r1). Each output is computed entirely by one call; only the float
// summation order over blocks differs between ISAs (the block integer sums are exact).
using Q4GemmFn = void (*)(const Q4Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                          const float* bias);

void q4_0_gemm_ref(const Q4Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
void q4_0_gemm_avx2(const Q4Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__aarch64__)
void q4_0_gemm_neon(const Q4Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__EMSCRIPTEN__)
void q4_0_gemm_wasm_simd128(const Q4Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif

struct Q4Variant {
  const char* name;  // "ref", "avx2", "neon", "wasm_simd128"
  Q4GemmFn fn;
};
// The variants usable on this CPU / build, reference first, fastest last. Filled once from the
// CPU features natively (AVX2+FMA+F16C), fixed at build time in wasm (SIMD128) and on aarch64.
const std::vector<Q4Variant>& q4_0_variants();

// Packs a 2-D Q4_0 weight {out, in} (in a multiple of 32; scales finite).
Result<Q4Packed> pack_q4_0(const TensorView& weight);

// The Q4_0 linear kernel on `variant` (nullptr: the fastest in q4_0_variants()).
Result<std::unique_ptr<LinearKernel>> make_linear_q4_0(const TensorView& weight, const TensorView* bias,
                                                       const Q4Variant* variant = nullptr);

}  // namespace mblip
