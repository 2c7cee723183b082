// The Q8_0 variant table (per-ISA micro-kernels on the shared block-int8 driver) and its factory.
#include "kernels/q8_0.h"

namespace mblip {

const std::vector<BlockVariant>& q8_0_variants() {
  static const std::vector<BlockVariant> table = [] {
    std::vector<BlockVariant> v{{"ref", &q8_0_gemm_ref, DType::Q8_0}};
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
    if (cpu_has_avx2_fma_f16c()) v.push_back({"avx2", &q8_0_gemm_avx2, DType::Q8_0});
#endif
#if defined(__aarch64__)
    v.push_back({"neon", &q8_0_gemm_neon, DType::Q8_0});
#endif
#if defined(__EMSCRIPTEN__) && defined(__wasm_relaxed_simd__)
    // Not the default: its four dots a block lose to SIMD128 where the engine lowers the relaxed dot
    // to pmaddubsw + pmaddwd (x86 without AVX-VNNI: 11-13 vs 19-28 GOP/s in Chromium, vision shapes).
    v.push_back({"wasm_relaxed", &q8_0_gemm_wasm_relaxed, DType::Q8_0});
#endif
#if defined(__EMSCRIPTEN__)
    v.push_back({"wasm_simd128", &q8_0_gemm_wasm_simd128, DType::Q8_0});
#endif
    return v;
  }();
  return table;
}

Result<std::unique_ptr<LinearKernel>> make_linear_q8_0(const TensorView& weight, const TensorView* bias,
                                                       const BlockVariant* variant) {
  return make_linear_block(weight, bias, variant ? *variant : q8_0_variants().back());
}

}  // namespace mblip
