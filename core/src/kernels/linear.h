// The kernel interface for linear layers: y[m, n] = x[m, k] . W[n, k]^T (+ bias[n]).
// A LinearKernel is created once per weight at load time (XNNPACK packs the weights then) and is
// read-only afterwards: per-call state lives in the caller's ThreadPool (a Session's context).
// The weight type (f32/f16/q8_0/q4_0) picks the implementation. Model code never sees ISAs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "io/tensor.h"
#include "mblip/status.h"

namespace mblip {

class ThreadPool;

class LinearKernel {
 public:
  virtual ~LinearKernel() = default;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  // x: m rows of in_features floats (row stride in_features); y: m rows of out_features.
  // An error (a backend failure) leaves y unspecified. Any state kept between calls (operator
  // instances, scratch) belongs to `pool` (ThreadPool::find_state / scratch), so one kernel
  // serves several contexts in parallel; one context serves one caller at a time.
  virtual Status forward(const float* x, size_t m, float* y, ThreadPool& pool) const = 0;
  // Human-readable description of the path ("xnnpack qd8-f32-qc8w", "ref f32", ...).
  virtual std::string describe() const = 0;
  // Bytes held by the kernel (packed weights + bias).
  virtual size_t memory_bytes() const = 0;

 protected:
  int64_t in_ = 0, out_ = 0;
};

enum class LinearBackend { kAuto, kReference };

// How many activation rows a weight sees per call, as the model runs it (model/tensor_table.cpp
// declares it per tensor); make_linear picks the kernel (and its packed form) for it.
enum class LinearRows {
  kSome,  // tens of rows (the prompt's tokens, the Q-Former's queries): the default
  kFew,   // a decoder step, incl. the lm_head: 1 row greedy, num_beams rows in beam search
  kMany,  // hundreds of rows (the vision tower: 257 patches per image)
};

struct LinearOptions {
  LinearBackend backend = LinearBackend::kAuto;
  LinearRows rows = LinearRows::kSome;
  // May pack Q4_0 weights of kMany rows as int8 where that runs faster (twice the bytes; linear.cpp,
  // q4_many_as_int8). Model loads turn it off when the wider plan would not fit the memory budget.
  bool widen_q4_many = true;
};

// weight: 2-D {out, in}; bias: optional f32 {out} (nullptr for none). The kernel copies or
// packs what it needs: the weight bytes may be released after this returns.
Result<std::unique_ptr<LinearKernel>> make_linear(const TensorView& weight, const TensorView* bias,
                                                  const LinearOptions& opts = {});

// Which kernels make_linear picks per quantized type on this build / CPU / environment (e.g.
// "q8=xnnpack;q4=xnnpack+vnni_few+vnni_some,qb4w,qc8w;"): part of the packed-weights cache key, since the kernels'
// packed forms differ.
std::string linear_kernel_config();

// Bytes the kernel make_linear builds for an {out, in} weight of `type` will hold (packed
// weights + bias), for load-time memory checks before any weight is read.
uint64_t estimate_linear_bytes(DType type, int64_t out, int64_t in, bool bias, const LinearOptions& opts = {});

}  // namespace mblip
