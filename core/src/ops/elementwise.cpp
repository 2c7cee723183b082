// Norms, activations, softmax and residual ops (see ops.h), on the portable vectors of
// ops/simd.h. Rows (or fixed chunks of long arrays) are split across the pool; each row/chunk is
// computed by one task in a fixed order, so results are thread-count independent. With XNNPACK
// built in, the pooled gelu_erf can run on its vgelu kernels (opt-in, elementwise_xnnpack.cpp);
// on x86-64 with AVX2+FMA the pooled GELUs run the same formulas 8 lanes wide (elementwise_avx2.cpp).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/elementwise_impl.h"
#include "ops/ops.h"
#include "ops/simd.h"

namespace mblip {
namespace ops {
namespace {

using simd::v4f;
constexpr size_t kRowsPerTask = 16;
constexpr size_t kChunk = 16384;  // elements per task of the element-wise ops (multiple of 8)

template <typename F>
void for_row_chunks(size_t rows, ThreadPool& pool, F&& f) {
  const size_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  if (tasks <= 1 || pool.threads() == 1) {
    for (size_t r = 0; r < rows; ++r) f(r);
    return;
  }
  pool.parallel_for(tasks, [&](size_t t) {
    const size_t end = std::min(rows, (t + 1) * kRowsPerTask);
    for (size_t r = t * kRowsPerTask; r < end; ++r) f(r);
  });
}

// f(begin, end) over [0, n) in fixed chunks of kChunk (chunk boundaries do not depend on the
// pool, and every element is computed the same way wherever it falls).
template <typename F>
void for_chunks(size_t n, ThreadPool* pool, F&& f) {
  const size_t tasks = (n + kChunk - 1) / kChunk;
  if (!pool || tasks <= 1 || pool->threads() == 1) {
    f(size_t(0), n);
    return;
  }
  pool->parallel_for(tasks, [&](size_t t) { f(t * kChunk, std::min(n, (t + 1) * kChunk)); });
}

// Vector body over [b, e) (8 at a time), scalar-lane tail through a padded 4-vector.
template <typename VF>
void map_inplace(float* x, size_t b, size_t e, VF&& vf) {
  size_t i = b;
  for (; i + 8 <= e; i += 8) {
    simd::store(x + i, vf(simd::load(x + i)));
    simd::store(x + i + 4, vf(simd::load(x + i + 4)));
  }
  for (; i < e; i += 4) {
    float tmp[4] = {0, 0, 0, 0};
    const size_t m = std::min<size_t>(4, e - i);
    std::copy(x + i, x + i + m, tmp);
    simd::store(tmp, vf(simd::load(tmp)));
    std::copy(tmp, tmp + m, x + i);
  }
}

// Sum of xr[0..n) and of squares, 8 float lanes each, combined in double.
inline double lane_sum(const float* x, size_t n) {
  v4f a = simd::splat(0), b = simd::splat(0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a += simd::load(x + i);
    b += simd::load(x + i + 4);
  }
  double s = static_cast<double>(simd::hsum(a)) + static_cast<double>(simd::hsum(b));
  for (; i < n; ++i) s += x[i];
  return s;
}

inline double lane_sq_sum(const float* x, size_t n, float center) {
  const v4f c = simd::splat(center);
  v4f a = simd::splat(0), b = simd::splat(0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v4f d0 = simd::load(x + i) - c, d1 = simd::load(x + i + 4) - c;
    a += d0 * d0;
    b += d1 * d1;
  }
  double s = static_cast<double>(simd::hsum(a)) + static_cast<double>(simd::hsum(b));
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - center;
    s += d * d;
  }
  return s;
}

}  // namespace

// torch.nn.LayerNorm (ViT layer_norm1/2, post_layernorm; Q-Former LayerNorm). Two passes (mean,
// then squared deviations), float lanes combined in double.
void layer_norm(const float* x, size_t rows, size_t dim, const float* w, const float* b, float eps,
                float* y, ThreadPool& pool) {
  for_row_chunks(rows, pool, [&](size_t r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const double mean = lane_sum(xr, dim) / static_cast<double>(dim);
    const float m = static_cast<float>(mean);
    // Deviation from the float mean; the (tiny) mean rounding error is added back exactly.
    const double dm = mean - m;
    const double var = lane_sq_sum(xr, dim, m) / static_cast<double>(dim) - dm * dm;
    const float inv = static_cast<float>(1.0 / std::sqrt(std::max(var, 0.0) + static_cast<double>(eps)));
    const v4f vm = simd::splat(m), vi = simd::splat(inv);
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
      const v4f bb = b ? simd::load(b + i) : simd::splat(0.0f);
      simd::store(yr + i, (simd::load(xr + i) - vm) * vi * simd::load(w + i) + bb);
    }
    for (; i < dim; ++i) yr[i] = (xr[i] - m) * inv * w[i] + (b ? b[i] : 0.0f);
  });
}

// transformers T5LayerNorm: variance = mean(x^2) in float32; x * rsqrt(variance + eps) * w.
void rms_norm(const float* x, size_t rows, size_t dim, const float* w, float eps, float* y, ThreadPool& pool) {
  for_row_chunks(rows, pool, [&](size_t r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const float var = static_cast<float>(lane_sq_sum(xr, dim, 0.0f) / static_cast<double>(dim));
    const float inv = 1.0f / std::sqrt(var + eps);
    const v4f vi = simd::splat(inv);
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) simd::store(yr + i, simd::load(w + i) * (simd::load(xr + i) * vi));
    for (; i < dim; ++i) yr[i] = w[i] * (xr[i] * inv);
  });
}

void gelu_erf(float* x, size_t n, ThreadPool& pool) {
#ifdef MBLIP_HAVE_XNNPACK
  if (detail::xnn_gelu_erf(x, n, pool)) return;
#endif
#ifdef MBLIP_OPS_HAVE_AVX2
  if (detail::use_avx2()) {
    for_chunks(n, &pool, [&](size_t b, size_t e) { detail::gelu_erf_avx2(x + b, e - b); });
    return;
  }
#endif
  for_chunks(n, &pool, [&](size_t b, size_t e) { map_inplace(x, b, e, [](v4f v) { return simd::gelu_erf(v); }); });
}
void gelu_tanh(float* x, size_t n, ThreadPool& pool) {
#ifdef MBLIP_OPS_HAVE_AVX2
  if (detail::use_avx2()) {
    for_chunks(n, &pool, [&](size_t b, size_t e) { detail::gelu_tanh_avx2(x + b, e - b); });
    return;
  }
#endif
  for_chunks(n, &pool, [&](size_t b, size_t e) { map_inplace(x, b, e, [](v4f v) { return simd::gelu_tanh(v); }); });
}
void gelu_erf(float* x, size_t n) { map_inplace(x, 0, n, [](v4f v) { return simd::gelu_erf(v); }); }
void gelu_tanh(float* x, size_t n) { map_inplace(x, 0, n, [](v4f v) { return simd::gelu_tanh(v); }); }

void relu(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void add_inplace(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}
void add_inplace(float* y, const float* x, size_t n, ThreadPool& pool) {
  for_chunks(n, &pool, [&](size_t b, size_t e) { add_inplace(y + b, x + b, e - b); });
}

void add_scalar(float* y, size_t n, float c) {
  for (size_t i = 0; i < n; ++i) y[i] += c;
}

void sub_double(float* y, size_t n, double c) {
  typedef double v4d __attribute__((vector_size(32)));
  const v4d cv = {c, c, c, c};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const v4d d = __builtin_convertvector(simd::load(y + i), v4d) - cv;
    simd::store(y + i, __builtin_convertvector(d, v4f));
  }
  for (; i < n; ++i) y[i] = static_cast<float>(static_cast<double>(y[i]) - c);
}

bool any_greater(const float* x, size_t n, float t) {
  const v4f tv = simd::splat(t);
  simd::v4i any = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) any |= simd::load(x + i) > tv;
  bool r = (any[0] | any[1] | any[2] | any[3]) != 0;
  for (; i < n; ++i) r = r || x[i] > t;
  return r;
}

void mul_inplace(float* y, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] *= x[i];
}
void mul_inplace(float* y, const float* x, size_t n, ThreadPool& pool) {
  for_chunks(n, &pool, [&](size_t b, size_t e) { mul_inplace(y + b, x + b, e - b); });
}

// log(sum(exp(x))): vector max, vector exp (simd::exp) summed in float lanes per block of 4096
// and in double across blocks (a 250k-entry vocabulary row stays accurate to ~1e-7 relative).
double log_sum_exp(const float* x, size_t n) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (n == 0) return -kInf;
#ifdef MBLIP_OPS_HAVE_AVX2
  // A beam-5 step's 5 rows of 250k: 2.7 -> 1.2 ms of CPU (see log_sum_exp_avx2).
  if (n >= 8 && detail::use_avx2()) return detail::log_sum_exp_avx2(x, n);
#endif
  float mx = x[0];
  size_t i = 0;
  if (n >= 4) {
    v4f vm = simd::load(x);
    for (i = 4; i + 4 <= n; i += 4) vm = simd::vmax(vm, simd::load(x + i));
    mx = simd::hmax(vm);
  }
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  if (std::isinf(mx)) return mx;  // all -inf, or a +inf entry
  const v4f m = simd::splat(mx);
  double sum = 0;
  constexpr size_t kBlock = 4096;
  i = 0;
  while (i + 4 <= n) {
    const size_t end = std::min(n - n % 4, i + kBlock);
    v4f acc = simd::splat(0.0f);
    for (; i < end; i += 4) acc += simd::exp(simd::load(x + i) - m);
    sum += simd::hsum(acc);
  }
  for (; i < n; ++i) {
    float t[4] = {x[i] - mx, 0, 0, 0};
    sum += simd::exp(simd::load(t))[0];
  }
  return static_cast<double>(mx) + std::log(sum);
}

// Max-subtracted softmax per row: vector max, vector exp (simd::exp), float-lane sum.
void softmax(float* x, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; ++r) {
    float* xr = x + r * n;
    v4f vm = simd::splat(xr[0]);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) vm = simd::vmax(vm, simd::load(xr + i));
    float mx = simd::hmax(vm);
    for (; i < n; ++i) mx = xr[i] > mx ? xr[i] : mx;
    const v4f m = simd::splat(mx);
    v4f acc = simd::splat(0.0f);
    i = 0;
    for (; i + 4 <= n; i += 4) {
      const v4f e = simd::exp(simd::load(xr + i) - m);
      simd::store(xr + i, e);
      acc += e;
    }
    double sum = simd::hsum(acc);
    for (; i < n; ++i) {
      float t[4] = {xr[i] - mx, 0, 0, 0};
      xr[i] = simd::exp(simd::load(t))[0];
      sum += xr[i];
    }
    const v4f inv = simd::splat(static_cast<float>(1.0 / sum));
    i = 0;
    for (; i + 4 <= n; i += 4) simd::store(xr + i, simd::load(xr + i) * inv);
    for (; i < n; ++i) xr[i] *= inv[0];
  }
}

}  // namespace ops
}  // namespace mblip
