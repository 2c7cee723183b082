// make_linear: picks the kernel for a weight from its type and the build: our own Q4_0 kernel
// (kernels/q4_0.h) for Q4_0 on every target, XNNPACK for the other types where available,
// otherwise the scalar reference in linear_ref.cpp.
#include "kernels/linear.h"

#include "kernels/linear_impl.h"
#include "kernels/q4_0.h"

namespace mblip {

Result<std::unique_ptr<LinearKernel>> make_linear(const TensorView& weight, const TensorView* bias,
                                                  const LinearOptions& opts) {
  if (weight.shape.size() != 2)
    return model_load_error("linear weight '" + weight.name + "' must be 2-D");
  const int64_t out = weight.shape[0];
  if (bias && (bias->type != DType::F32 || bias->numel() != out))
    return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(out) + " elements");
  // Q4_0 (measured with tools/bench/bench_kernels.cpp; docs/model-file.md "Kernels for Q4_0"):
  // - wasm: our own SIMD128 kernel (int8 activation blocks of 32, exact on Q4_0). XNNPACK 4ea82e5 has
  //   no SIMD qb4w kernel in wasm (3-6 GFLOP/s) and qb4w must clamp one value in each block with
  //   d < 0 (8.4% of max|y| on tests/test_kernels_q4.cpp data); qc4w loses up to 21%.
  // - native x86-64: XNNPACK qb4w stays for now. On this VM (AVX-512 VNNI, heavily loaded) it ran
  //   M=1 2048x5120 at 231 GFLOP/s vs 66 for our AVX2 kernel, and M=257 1408x6144 at 54-72 vs 9-14
  //   (our GEMM tiling is not yet good). Switch when the own kernel is both accurate and faster.
#if defined(__EMSCRIPTEN__)
  if (opts.backend == LinearBackend::kAuto && weight.type == DType::Q4_0) return make_linear_q4_0(weight, bias);
#endif
#ifdef MBLIP_HAVE_XNNPACK
  if (opts.backend == LinearBackend::kAuto) return make_linear_xnnpack(weight, bias);
#endif
  return make_linear_reference(weight, bias);
}

uint64_t estimate_linear_bytes(DType type, int64_t out, int64_t in, bool bias, const LinearOptions& opts) {
  (void)opts;
#ifdef MBLIP_HAVE_XNNPACK
  if (opts.backend == LinearBackend::kAuto) return estimate_linear_xnnpack_bytes(type, out, in);
#endif
  auto w = dtype_bytes(type, out * in);  // the reference kernel keeps the bytes as stored
  return (w.ok() ? w.value() : 0) + (bias ? 4 * static_cast<uint64_t>(out) : 0);
}

}  // namespace mblip
