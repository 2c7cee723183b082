// Our own Q4_0 linear kernel (y = x . W^T, W in ggml Q4_0 blocks) on the shared block-int8 driver
// (kernels/block_int8.h): the per-ISA GEMM functions (q4_0_{ref,avx2,neon,wasm_simd128}.cpp and, in
// relaxed-SIMD builds, q4_0_relaxed_wasm.cpp) and their dispatch table. Not for model code.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kernels/block_int8.h"

namespace mblip {

using Q4Packed = BlockPacked;
using Q4Variant = BlockVariant;

void q4_0_gemm_ref(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
void q4_0_gemm_avx2(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__aarch64__)
void q4_0_gemm_neon(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__EMSCRIPTEN__)
void q4_0_gemm_wasm_simd128(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
#endif
#if defined(__EMSCRIPTEN__) && defined(__wasm_relaxed_simd__)
// i32x4.relaxed_dot_i8x16_i7x16_add_s with the raw nibbles (0..15) as the 7-bit operand: exact integer
// block sums on every engine (q4_0_relaxed_wasm.cpp; tests/test_kernels_relaxed.cpp).
void q4_0_gemm_wasm_relaxed(const BlockPacked&, const Q8Acts&, size_t, size_t, float*, size_t, const float*);
// From this many activation rows on, q4_0_gemm_wasm_relaxed runs the row-lane kernel; below, the
// few-row path (a beam-5 step's M = 5 included). Headless Chromium, 1 thread, K = 2048, N = 20480
// (`tools/bench/wasm_kernels.mjs`): few-row / row-lane 77 / 46 GOP/s at M = 4, 74 / 36 at 5, 82 / 57
// at 8, 73 / 87 at 12.
constexpr size_t kQ4RelaxedRowLaneM = 12;
// How this engine computes i32x4.relaxed_dot_i8x16_i7x16_add_s outside the 7-bit range, probed once:
// "usdot" / "sdot" when it is a full int8 dot (every product and sum exact; the 7-bit operand's high
// bit read as unsigned, e.g. VNNI vpdpbusd, or as signed, e.g. Arm sdot): one native instruction,
// and XNNPACK's own semantics probe then turns on its usdot / sdot int8 kernels; "saturating" (16-bit
// pair sums saturate: x86 pmaddubsw lowering; XNNPACK falls back to SIMD128) or "other".
const char* wasm_relaxed_dot_kind();
inline bool wasm_relaxed_dot_is_int8() {
  static const bool yes = [] {
    const std::string k = wasm_relaxed_dot_kind();
    return k == "usdot" || k == "sdot";
  }();
  return yes;
}
#endif

// The variants usable on this CPU / build, reference first, fastest last. Filled once from the
// CPU features natively (AVX2+FMA+F16C), fixed at build time in wasm (SIMD128, relaxed SIMD) and on aarch64.
const std::vector<BlockVariant>& q4_0_variants();

// Packs a 2-D Q4_0 weight {out, in} (in a multiple of 32; scales finite).
inline Result<BlockPacked> pack_q4_0(const TensorView& weight) { return pack_block_weight(weight, DType::Q4_0); }

// The Q4_0 linear kernel on `variant` (nullptr: the fastest in q4_0_variants()).
Result<std::unique_ptr<LinearKernel>> make_linear_q4_0(const TensorView& weight, const TensorView* bias,
                                                       const BlockVariant* variant = nullptr);

}  // namespace mblip
