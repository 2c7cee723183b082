// Norms, activations, softmax and residual ops (see ops.h). Rows are split across the pool in
// fixed chunks; each row is computed by one task in a fixed order, so results are thread-count
// independent.
#include <cmath>

#include "ops/ops.h"

namespace mblip {
namespace ops {
namespace {

constexpr size_t kRowsPerTask = 16;

template <typename F>
void for_row_chunks(size_t rows, ThreadPool& pool, F&& f) {
  const size_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  if (tasks <= 1) {
    for (size_t r = 0; r < rows; ++r) f(r);
    return;
  }
  pool.parallel_for(tasks, [&](size_t t) {
    const size_t end = std::min(rows, (t + 1) * kRowsPerTask);
    for (size_t r = t * kRowsPerTask; r < end; ++r) f(r);
  });
}

}  // namespace

// torch.nn.LayerNorm (ViT layer_norm1/2, post_layernorm; Q-Former LayerNorm).
void layer_norm(const float* x, size_t rows, size_t dim, const float* w, const float* b, float eps,
                float* y, ThreadPool& pool) {
  for_row_chunks(rows, pool, [&](size_t r) {
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
  for_row_chunks(rows, pool, [&](size_t r) {
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

void relu(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void add_inplace(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void mul_inplace(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] *= x[i];
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

}  // namespace ops
}  // namespace mblip
