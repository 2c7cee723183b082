// Model-facing ops over float32 activations: linear (over a LinearKernel), norms, activations,
// softmax, residual add and multi-head attention. No ISA code and no BLIP-2 knowledge here:
// portable vector code (ops/simd.h); results never depend on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <limits>

#include "kernels/linear.h"
#include "kernels/thread_pool.h"

namespace mblip {
namespace ops {

// The additive value for masked-out attention positions (torch.finfo(float32).min, as HF uses).
constexpr float kMaskValue = std::numeric_limits<float>::lowest();

// A linear layer: y = x W^T (+ b), whatever the weight type (resolved by the kernel).
class Linear {
 public:
  Linear() = default;
  explicit Linear(std::unique_ptr<LinearKernel> k) : k_(std::move(k)) {}
  bool empty() const { return !k_; }
  int64_t in_features() const { return k_->in_features(); }
  int64_t out_features() const { return k_->out_features(); }
  Status forward(const float* x, size_t rows, float* y, ThreadPool& pool) const { return k_->forward(x, rows, y, pool); }
  const LinearKernel& kernel() const { return *k_; }

 private:
  std::unique_ptr<LinearKernel> k_;
};

// torch.nn.LayerNorm over the last dim (biased variance): y = (x-mean)/sqrt(var+eps)*w + b.
// x and y may alias.
void layer_norm(const float* x, size_t rows, size_t dim, const float* w, const float* b, float eps,
                float* y, ThreadPool& pool);
// T5LayerNorm (RMSNorm): y = w * x / sqrt(mean(x^2) + eps); no mean subtraction, no bias.
void rms_norm(const float* x, size_t rows, size_t dim, const float* w, float eps, float* y, ThreadPool& pool);

// In-place activations on n contiguous floats (vectorized; the pool splits large arrays in
// fixed chunks, so results do not depend on the thread count).
void gelu_erf(float* x, size_t n);   // 0.5 x (1 + erf(x / sqrt 2))  (nn.GELU / ACT2FN["gelu"])
void gelu_tanh(float* x, size_t n);  // NewGELUActivation: 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
void gelu_erf(float* x, size_t n, ThreadPool& pool);
void gelu_tanh(float* x, size_t n, ThreadPool& pool);
void relu(float* x, size_t n);
// y[i] += x[i]  (residual add)
void add_inplace(float* y, const float* x, size_t n);
void add_inplace(float* y, const float* x, size_t n, ThreadPool& pool);
// y[i] *= x[i]  (gated FFN)
void mul_inplace(float* y, const float* x, size_t n);
void mul_inplace(float* y, const float* x, size_t n, ThreadPool& pool);
// y[i] += c
void add_scalar(float* y, size_t n, float c);
// float(double(y[i]) - c): log-probs from scores and their log-sum-exp, rounded once as torch's
// float32 log_softmax with a double log-sum-exp (model/logits_process.cpp).
void sub_double(float* y, size_t n, double c);
// Whether some x[i] > t (a NaN is never greater).
bool any_greater(const float* x, size_t n, float t);
// log(sum_i exp(x[i])) over n floats (max-subtracted, vector exp, double across blocks);
// -inf for n == 0 or all -inf.
double log_sum_exp(const float* x, size_t n);
// Softmax over each row of `n` floats, in place (max-subtracted).
void softmax(float* x, size_t rows, size_t n);

// Multi-head scaled dot-product attention for one sequence.
// q: q_len rows (stride q_stride) of heads*head_dim; k, v: kv_len rows (strides k_stride,
// v_stride); out: q_len rows (stride out_stride) of heads*head_dim. Head h uses columns
// [h*head_dim, (h+1)*head_dim). scores = scale * q.k + bias + key_mask (+ causal mask).
struct AttentionArgs {
  size_t heads = 1, head_dim = 0, q_len = 0, kv_len = 0;
  size_t q_stride = 0, k_stride = 0, v_stride = 0, out_stride = 0;
  float scale = 1.0f;
  // Optional additive bias, element (h, i, j) at bias[h*bias_head_stride + i*bias_row_stride + j].
  const float* bias = nullptr;
  size_t bias_head_stride = 0, bias_row_stride = 0;
  // Optional additive per-key mask of kv_len floats (0 or kMaskValue), shared by all heads/rows.
  const float* key_mask = nullptr;
  // Causal: key j is masked for query i when j > i + causal_offset.
  bool causal = false;
  size_t causal_offset = 0;
  // Optional scratch (avoids an allocation per call): attention() needs
  // attention_scratch_floats(args, pool) floats (shapes with >= 16 query and key rows: the
  // per-head copies and scores of the batch-GEMM path); with less (or none) it allocates its own.
  // ref::attention needs heads*kv_len.
  float* scratch = nullptr;
  size_t scratch_floats = 0;
};
// Scratch floats attention() needs for these sizes on this pool.
size_t attention_scratch_floats(const AttentionArgs& a, const ThreadPool& pool);
void attention(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
               ThreadPool& pool);
// `rows` independent attentions of the same shape, row r with its own K/V (k[r], v[r]: a beam's
// KV cache): queries and outputs of row r at q + r * q_len * q_stride / out + r * q_len * out_stride.
// One pass over the pool for all rows when q_len == 1 (decoder steps). Same results as calling
// attention() per row.
void attention_rows(const float* q, const float* const* k, const float* const* v, float* out, const AttentionArgs& a,
                    size_t rows, ThreadPool& pool);

// Scalar references (ops_ref.cpp): the original plain loops, used by tests to check the
// vectorized ops above. Same signatures and semantics.
namespace ref {
void layer_norm(const float* x, size_t rows, size_t dim, const float* w, const float* b, float eps,
                float* y, ThreadPool& pool);
void rms_norm(const float* x, size_t rows, size_t dim, const float* w, float eps, float* y, ThreadPool& pool);
void gelu_erf(float* x, size_t n);
void gelu_tanh(float* x, size_t n);
void softmax(float* x, size_t rows, size_t n);
void attention(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
               ThreadPool& pool);
}  // namespace ref

}  // namespace ops
}  // namespace mblip
