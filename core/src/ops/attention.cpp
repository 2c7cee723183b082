// Multi-head attention (see ops.h): scores, additive bias/masks, softmax, weighted sum of V.
// Mirrors the core of Blip2Attention, Blip2QFormerSelfAttention and T5Attention. One task per
// head, rows in order, so results do not depend on the thread count.
#include <cmath>
#include <vector>

#include "ops/ops.h"

namespace mblip {
namespace ops {
namespace {

// Dot product with 8 independent partial sums (vectorizes without -ffast-math).
inline float dot(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void attention(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
               ThreadPool& pool) {
  std::vector<float> own;
  float* scratch = a.scratch;
  if (!scratch) {
    own.resize(a.heads * a.kv_len);
    scratch = own.data();
  }
  const size_t dh = a.head_dim;
  auto run_head = [&](size_t h) {
    float* s = scratch + h * a.kv_len;
    for (size_t i = 0; i < a.q_len; ++i) {
      const float* qi = q + i * a.q_stride + h * dh;
      size_t n = a.kv_len;
      if (a.causal && i + a.causal_offset + 1 < n) n = i + a.causal_offset + 1;  // keys beyond are masked
      for (size_t j = 0; j < n; ++j) s[j] = dot(qi, k + j * a.k_stride + h * dh, dh) * a.scale;
      if (a.bias) {
        const float* b = a.bias + h * a.bias_head_stride + i * a.bias_row_stride;
        for (size_t j = 0; j < n; ++j) s[j] += b[j];
      }
      if (a.key_mask)
        for (size_t j = 0; j < n; ++j) s[j] += a.key_mask[j];
      // Causally masked keys get probability exactly 0 (exp(lowest - max) underflows to 0 in
      // HF as well), so they are simply left out.
      softmax(s, 1, n);
      float* o = out + i * a.out_stride + h * dh;
      for (size_t d = 0; d < dh; ++d) o[d] = 0.0f;
      for (size_t j = 0; j < n; ++j) {
        const float p = s[j];
        const float* vj = v + j * a.v_stride + h * dh;
        for (size_t d = 0; d < dh; ++d) o[d] += p * vj[d];
      }
    }
  };
  if (a.heads == 1) {
    run_head(0);
  } else {
    pool.parallel_for(a.heads, run_head);
  }
}

}  // namespace ops
}  // namespace mblip
