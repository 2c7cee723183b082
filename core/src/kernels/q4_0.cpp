// The Q4_0 variant table (per-ISA micro-kernels on the shared block-int8 driver) and its factory.
#include "kernels/q4_0.h"

namespace mblip {

const std::vector<BlockVariant>& q4_0_variants() {
  static const std::vector<BlockVariant> table = [] {
    std::vector<BlockVariant> v{{"ref", &q4_0_gemm_ref, DType::Q4_0}};
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
    if (cpu_has_avx2_fma_f16c()) v.push_back({"avx2", &q4_0_gemm_avx2, DType::Q4_0});
#endif
#if defined(__aarch64__)
    v.push_back({"neon", &q4_0_gemm_neon, DType::Q4_0});
#endif
#if defined(__EMSCRIPTEN__)
    v.push_back({"wasm_simd128", &q4_0_gemm_wasm_simd128, DType::Q4_0});
#endif
#if defined(__EMSCRIPTEN__) && defined(__wasm_relaxed_simd__)
    v.push_back({"wasm_relaxed", &q4_0_gemm_wasm_relaxed, DType::Q4_0});
#endif
    return v;
  }();
  return table;
}

Result<std::unique_ptr<LinearKernel>> make_linear_q4_0(const TensorView& weight, const TensorView* bias,
                                                       const BlockVariant* variant) {
  return make_linear_block(weight, bias, variant ? *variant : q4_0_variants().back());
}

}  // namespace mblip
