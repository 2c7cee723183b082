// Our own Q8_0 linear kernel (y = x . W^T, W in ggml Q8_0 blocks, block scales kept): packed
// weights, activations quantized per row and block of 32 (Q8Acts from kernels/q4_0.h), the per-ISA
// GEMM functions (q8_0_{ref,avx2,neon,wasm_simd128}.cpp) and their dispatch table. Not for model code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/linear.h"
#include "kernels/q4_0.h"

namespace mblip {

// Q8_0 weights repacked for the kernels: per output row, nbp blocks (nb real + zero padding to a
// multiple of kQ4BlockGroup) of 32 int8 values, and the f16 scales in a separate array.
// value = d * q. Padding blocks have d = 0 and q = 0.
struct Q8Packed {
  size_t n = 0, k = 0, nb = 0, nbp = 0;
  std::vector<int8_t> qs;   // n * nbp * 32
  std::vector<uint16_t> d;  // n * nbp, IEEE half (finite)
  const int8_t* row_qs(size_t r) const { return qs.data() + r * nbp * kQ4Block; }
  const uint16_t* row_d(size_t r) const { return d.data() + r * nbp; }
};

// Computes y[i * ldy + r] = sum_b (isum_b * d_w * d_x) (+ bias[r]) for all rows i < a.m and output
// channels r in [r0, r1); the block integer sums are exact, only the float summation order over
// blocks differs between ISAs.
using Q8GemmFn = void (*)(const Q8Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                          const float* bias);

void q8_0_gemm_ref(const Q8Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
void q8_0_gemm_avx2(const Q8Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__aarch64__)
void q8_0_gemm_neon(const Q8Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__EMSCRIPTEN__)
void q8_0_gemm_wasm_simd128(const Q8Packed&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif

struct Q8Variant {
  const char* name;  // "ref", "avx2", "neon", "wasm_simd128"
  Q8GemmFn fn;
};
// The variants usable on this CPU / build, reference first, fastest last.
const std::vector<Q8Variant>& q8_0_variants();

// Packs a 2-D Q8_0 weight {out, in} (in a multiple of 32; scales finite).
Result<Q8Packed> pack_q8_0(const TensorView& weight);

// The Q8_0 linear kernel on `variant` (nullptr: the fastest in q8_0_variants()).
Result<std::unique_ptr<LinearKernel>> make_linear_q8_0(const TensorView& weight, const TensorView* bias,
                                                       const Q8Variant* variant = nullptr);

}  // namespace mblip
