// Internal to core/src/ops: the GEMM-shaped attention path (attention_xnnpack.cpp: Q K^T and P V
// as XNNPACK f32 batch matrix multiplies over per-head copies) and the row softmax it shares
// with the blocked path of attention.cpp.
#pragma once
#include <cstddef>

#include "ops/ops.h"

namespace mblip {
namespace ops {
namespace detail {

// Scores row i of head h (n_valid keys kept by the causal mask): s *= scale, + bias row,
// + key mask, softmax over [0, n_valid), zeros over [n_valid, n_zero).
void finish_scores_row(float* s, const AttentionArgs& a, size_t h, size_t i, size_t n_valid, size_t n_zero);

// Keys query row i may see (causal mask).
inline size_t visible_keys(const AttentionArgs& a, size_t i) {
  size_t n = a.kv_len;
  if (a.causal && i + a.causal_offset + 1 < n) n = i + a.causal_offset + 1;
  return n;
}

#if (defined(__x86_64__) || defined(_M_X64)) && !defined(__EMSCRIPTEN__)
// run_head_single (attention.cpp) on 8 AVX2 lanes with FMA (attention_avx2.cpp): head h of one query
// row against n keys, `s` kv_len floats of scratch. Only call when the CPU has AVX2 and FMA.
void run_head_single_avx2(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
                          size_t h, float* s);
#endif

// True when the shapes are large enough for the GEMM path and it is built in (XNNPACK) and
// not switched off (environment MBLIP_ATTENTION_GEMM=0, for before/after timings).
bool gemm_attention_wanted(const AttentionArgs& a);
// Floats of scratch the GEMM path uses for these shapes (0 when it is not built in).
size_t gemm_attention_scratch_floats(const AttentionArgs& a);
// Runs the GEMM path; false (nothing written) if XNNPACK failed, so the caller falls back.
bool gemm_attention(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
                    float* scratch, size_t scratch_floats, ThreadPool& pool);

}  // namespace detail
}  // namespace ops
}  // namespace mblip
