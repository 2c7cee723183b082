// Kernel factories behind make_linear (kernels/linear.cpp). Not for model code.
#pragma once
#include <memory>

#include "kernels/linear.h"
#ifdef MBLIP_HAVE_XNNPACK
#include "kernels/linear_xnnpack.h"
#endif

namespace mblip {

// Scalar reference for every weight type: the ground truth the fast kernels are tested against.
Result<std::unique_ptr<LinearKernel>> make_linear_reference(const TensorView& weight, const TensorView* bias);
#ifdef MBLIP_HAVE_XNNPACK
// XNNPACK fully-connected operators (f32 / f16 / qd8-f32-qc8w / qc4w / qb4w), packed at creation.
// q4: how Q4_0 weights map onto XNNPACK (ignored for other types).
Result<std::unique_ptr<LinearKernel>> make_linear_xnnpack(const TensorView& weight, const TensorView* bias,
                                                          XnnQ4Mode q4 = XnnQ4Mode::kBlockwise);
uint64_t estimate_linear_xnnpack_bytes(DType type, int64_t out, int64_t in, XnnQ4Mode q4);
#endif

}  // namespace mblip
