// make_linear: picks the kernel for a weight from its type and the build (XNNPACK where
// available, otherwise the scalar reference in linear_ref.cpp).
#include "kernels/linear.h"

#include "kernels/linear_impl.h"

namespace mblip {

Result<std::unique_ptr<LinearKernel>> make_linear(const TensorView& weight, const TensorView* bias,
                                                  const LinearOptions& opts) {
  if (weight.shape.size() != 2)
    return model_load_error("linear weight '" + weight.name + "' must be 2-D");
  const int64_t out = weight.shape[0];
  if (bias && (bias->type != DType::F32 || bias->numel() != out))
    return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(out) + " elements");
#ifdef MBLIP_HAVE_XNNPACK
  if (opts.backend == LinearBackend::kAuto) return make_linear_xnnpack(weight, bias);
#endif
  return make_linear_reference(weight, bias);
}

}  // namespace mblip
