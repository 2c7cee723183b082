// make_linear: picks the kernel for a weight from its type and the build: our own Q8_0 / Q4_0
// kernels (kernels/q8_0.h, q4_0.h: block scales kept, activations quantized per block of 32),
// XNNPACK for the other types / paths where available, otherwise the scalar reference.
#include "kernels/linear.h"

#include <cstdlib>
#include <cstring>

#include "kernels/linear_impl.h"
#include "kernels/q4_0.h"
#include "kernels/q8_0.h"

namespace mblip {
namespace {

enum class QuantPath { kDefault, kOwn, kXnnpack, kReference };

// Developer switch for measurements (same-run before/after comparisons, docs/model-file.md):
// MBLIP_Q8_KERNEL / MBLIP_Q4_KERNEL = own | xnnpack | ref. Unset or unknown: the default below.
QuantPath path_from_env(const char* var) {
  const char* v = std::getenv(var);
  if (!v) return QuantPath::kDefault;
  if (!std::strcmp(v, "own")) return QuantPath::kOwn;
  if (!std::strcmp(v, "xnnpack")) return QuantPath::kXnnpack;
  if (!std::strcmp(v, "ref")) return QuantPath::kReference;
  return QuantPath::kDefault;
}

// The path for a quantized weight type under kAuto.
QuantPath choose(DType type) {
  QuantPath p = QuantPath::kDefault;
  if (type == DType::Q8_0) p = path_from_env("MBLIP_Q8_KERNEL");
  else if (type == DType::Q4_0) p = path_from_env("MBLIP_Q4_KERNEL");
  else return QuantPath::kXnnpack;
  // Defaults (measured 2026-12-04 with a same-run microbenchmark, docs/model-file.md "Kernels"):
  // - Q4_0: own kernel in wasm (XNNPACK qb4w has no SIMD kernel there: own is 3-11x faster);
  //   XNNPACK qb4w natively.
  // - Q8_0: XNNPACK qc8w everywhere. The own Q8_0 kernel keeps the block scales and quantizes
  //   activations per 32 (encoder cosine 0.99958 vs 0.99926 on tiny-mt5) but is 1.4-3.7x slower
  //   in wasm and 2.4-10x slower natively (no VNNI path yet): opt in with MBLIP_Q8_KERNEL=own.
  if (p == QuantPath::kDefault) {
#if defined(__EMSCRIPTEN__)
    p = type == DType::Q4_0 ? QuantPath::kOwn : QuantPath::kXnnpack;
#else
    p = QuantPath::kXnnpack;
#endif
  }
#ifndef MBLIP_HAVE_XNNPACK
  if (p == QuantPath::kXnnpack) p = QuantPath::kOwn;
#endif
  return p;
}

}  // namespace

Result<std::unique_ptr<LinearKernel>> make_linear(const TensorView& weight, const TensorView* bias,
                                                  const LinearOptions& opts) {
  if (weight.shape.size() != 2)
    return model_load_error("linear weight '" + weight.name + "' must be 2-D");
  const int64_t out = weight.shape[0];
  if (bias && (bias->type != DType::F32 || bias->numel() != out))
    return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(out) + " elements");
  if (opts.backend == LinearBackend::kReference) return make_linear_reference(weight, bias);
  const QuantPath p = choose(weight.type);
  if (p == QuantPath::kReference) return make_linear_reference(weight, bias);
  if (p == QuantPath::kOwn && weight.type == DType::Q8_0) return make_linear_q8_0(weight, bias);
  if (p == QuantPath::kOwn && weight.type == DType::Q4_0) return make_linear_q4_0(weight, bias);
#ifdef MBLIP_HAVE_XNNPACK
  return make_linear_xnnpack(weight, bias);
#else
  return make_linear_reference(weight, bias);
#endif
}

uint64_t estimate_linear_bytes(DType type, int64_t out, int64_t in, bool bias, const LinearOptions& opts) {
  const uint64_t b = bias ? 4 * static_cast<uint64_t>(out) : 0;
  const QuantPath p = opts.backend == LinearBackend::kReference ? QuantPath::kReference : choose(type);
  if (p == QuantPath::kOwn) {  // packed blocks padded to a multiple of kQ4BlockGroup per row
    const uint64_t nbp = (static_cast<uint64_t>(in) / kQ4Block + kQ4BlockGroup - 1) / kQ4BlockGroup * kQ4BlockGroup;
    const uint64_t block = type == DType::Q8_0 ? 2 + kQ4Block : 2 + kQ4Block / 2;
    return static_cast<uint64_t>(out) * nbp * block + b;
  }
#ifdef MBLIP_HAVE_XNNPACK
  if (p == QuantPath::kXnnpack) return estimate_linear_xnnpack_bytes(type, out, in);
#endif
  auto w = dtype_bytes(type, out * in);  // the reference kernel keeps the bytes as stored
  return (w.ok() ? w.value() : 0) + b;
}

}  // namespace mblip
