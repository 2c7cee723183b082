// Scalar reference versions of the model-facing ops (ops.h, namespace ops::ref): the plain
// loops the vectorized ops are tested against. Norms accumulate in double; softmax sums in double;
// gelu uses std::erf / std::tanh. One task per row chunk / head, so thread-count independent.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/ops.h"

namespace mblip {
namespace ops {
namespace ref {
namespace {

constexpr size_t kRefRowsPerTask = 16;

template <typename F>
void ref_row_chunks(size_t rows, ThreadPool& pool, F&& f) {
  const size_t tasks = (rows + kRefRowsPerTask - 1) / kRefRowsPerTask;
  if (tasks <= 1) {
    for (size_t r = 0; r < rows; ++r) f(r);
    return;
  }
  pool.parallel_for(tasks, [&](size_t t) {
    const size_t end = std::min(rows, (t + 1) * kRefRowsPerTask);
    for (size_t r = t * kRefRowsPerTask; r < end; ++r) f(r);
  });
}

}  // namespace

// torch.nn.LayerNorm (ViT layer_norm1/2, post_layernorm; Q-Former LayerNorm).
void layer_norm(const float* x, size_t rows, size_t dim, const float* w, const float* b, float eps,
                float* y, ThreadPool& pool) {
  ref_row_chunks(rows, pool, [&](size_t r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double sum = 0;
    for (size_t i = 0; i < dim; ++i) sum += xr[i];
    const double mean = sum / static_cast<double>(dim);
    double var = 0;
    for (size_t i = 0; i < dim; ++i) {
      const double d = xr[i] - mean;
      var += d * d;
    }
    var /= static_cast<double>(dim);
    const float m = static_cast<float>(mean);
    const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    for (size_t i = 0; i < dim; ++i) yr[i] = (xr[i] - m) * inv * w[i] + (b ? b[i] : 0.0f);
  });
}

// transformers T5LayerNorm: variance = mean(x^2) in float32; x * rsqrt(variance + eps) * w.
void rms_norm(const float* x, size_t rows, size_t dim, const float* w, float eps, float* y, ThreadPool& pool) {
  ref_row_chunks(rows, pool, [&](size_t r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double ss = 0;
    for (size_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float var = static_cast<float>(ss / static_cast<double>(dim));
    const float inv = 1.0f / std::sqrt(var + eps);
    for (size_t i = 0; i < dim; ++i) yr[i] = w[i] * (xr[i] * inv);
  });
}

void gelu_erf(float* x, size_t n) {
  const float k = 0.70710678118654752440f;
  for (size_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * k));
}

void gelu_tanh(float* x, size_t n) {
  const float c = 0.79788456080286535588f;  // sqrt(2/pi)
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(c * (v + 0.044715f * v * v * v)));
  }
}

void softmax(float* x, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; ++r) {
    float* xr = x + r * n;
    float mx = xr[0];
    for (size_t i = 1; i < n; ++i) mx = xr[i] > mx ? xr[i] : mx;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      xr[i] = std::exp(xr[i] - mx);
      sum += xr[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (size_t i = 0; i < n; ++i) xr[i] *= inv;
  }
}

namespace {

// Dot product with 8 independent partial sums (vectorizes without -ffast-math).
inline float dot_ref(const float* a, const float* b, size_t n) {
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
      for (size_t j = 0; j < n; ++j) s[j] = dot_ref(qi, k + j * a.k_stride + h * dh, dh) * a.scale;
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

}  // namespace ref
}  // namespace ops
}  // namespace mblip
