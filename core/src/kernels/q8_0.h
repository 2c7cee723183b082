// Our own Q8_0 linear kernel (y = x . W^T, W in ggml Q8_0 blocks, block scales kept) on the shared
// block-int8 driver (kernels/block_int8.h): the per-ISA GEMM functions
// (q8_0_{ref,avx2,neon,wasm_simd128}.cpp, q8_0_relaxed_wasm.cpp) and their dispatch table. Not for model code.
#pragma once
#include <memory>
#include <vector>

#include "kernels/block_int8.h"

namespace mblip {

using Q8Packed = BlockPacked;
using Q8Variant = BlockVariant;

void q8_0_gemm_ref(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
void q8_0_gemm_avx2(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__aarch64__)
void q8_0_gemm_neon(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__EMSCRIPTEN__)
void q8_0_gemm_wasm_simd128(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__EMSCRIPTEN__) && defined(__wasm_relaxed_simd__)
// Relaxed-SIMD dots on the weights split into two 4-bit halves (every operand in 0..15): exact on every
// engine; bit-identical to the SIMD128 variant for M <= 2. Listed before SIMD128 (not the default).
void q8_0_gemm_wasm_relaxed(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
// From this many activation rows on, q8_0_gemm_wasm_relaxed runs the row-lane kernel.
constexpr size_t kQ8RelaxedRowLaneM = 3;
#endif

// The variants usable on this CPU / build, reference first, fastest last.
const std::vector<BlockVariant>& q8_0_variants();

// Packs a 2-D Q8_0 weight {out, in} (in a multiple of 32; scales finite).
inline Result<BlockPacked> pack_q8_0(const TensorView& weight) { return pack_block_weight(weight, DType::Q8_0); }

// The Q8_0 linear kernel on `variant` (nullptr: the fastest in q8_0_variants()).
Result<std::unique_ptr<LinearKernel>> make_linear_q8_0(const TensorView& weight, const TensorView* bias,
                                                       const BlockVariant* variant = nullptr);

}  // namespace mblip
