// Options of the XNNPACK linear kernels (kernels/linear_xnnpack.cpp) for tests and benchmarks;
// make_linear (linear_impl.h) uses the defaults. Not for model code.
#pragma once
#include <memory>

#include "kernels/linear.h"

namespace mblip {

// How Q4_0 weights map onto XNNPACK.
enum class XnnQ4Mode {
  kBlockwise,   // qd8-f32-qb4w, block 32, bf16 block scales: Q4_0 almost as stored (default)
  kPerChannel,  // qd8-f32-qc4w: requantized to one scale per output row (faster in wasm, less exact)
  kInt8,        // qd8-f32-qc8w: requantized to int8 per row (near-exact, fastest, 2x the memory)
};

struct XnnLinearOptions {
  XnnQ4Mode q4 = XnnQ4Mode::kBlockwise;
  // Weights are packed into operators of at most this many elements each (row slices), so the
  // temporary repacking buffers stay small (matters for the 250112-row lm_head in wasm32).
  int64_t max_slice_elems = int64_t{1} << 24;
};

Result<std::unique_ptr<LinearKernel>> make_linear_xnnpack_with(const TensorView& weight, const TensorView* bias,
                                                               const XnnLinearOptions& opts);

}  // namespace mblip
