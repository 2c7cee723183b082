// x86-64 AVX2+FMA build of the one-query-row attention of ops/attention.cpp (run_head_single: a
// decoder step's self- and cross-attention, one row per beam): the same steps (scores as dot products
// straight from K's rows, scale / bias / key mask, softmax, the weighted sum of V's rows), 8 lanes
// with fused multiply-adds. attention.cpp calls it when the CPU has AVX2 and FMA.
// Compiled with -mavx2 -mfma (core/CMakeLists.txt: *_avx2.cpp); plain GCC vectors, no intrinsics.
#include <cstddef>

#include "ops/attention_impl.h"
#include "ops/simd_avx2.h"

namespace mblip {
namespace ops {
namespace detail {

using namespace avx2;

void run_head_single_avx2(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
                          size_t h, float* s) {
  const size_t dh = a.head_dim, n = visible_keys(a, 0), d8 = dh / 8 * 8;
  const float* qh = q + h * dh;
  auto tail = [&](const float* kj) {  // this key's products over [d8, dh)
    float t = 0.0f;
    for (size_t d = d8; d < dh; ++d) t += qh[d] * kj[d];
    return t;
  };
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {  // four keys at a time: independent accumulators
    const float* k0 = k + j * a.k_stride + h * dh;
    const float *k1 = k0 + a.k_stride, *k2 = k1 + a.k_stride, *k3 = k2 + a.k_stride;
    v8f c0 = splat8(0.0f), c1 = c0, c2 = c0, c3 = c0;
    for (size_t d = 0; d < d8; d += 8) {
      const v8f x = load8(qh + d);
      c0 += x * load8(k0 + d);
      c1 += x * load8(k1 + d);
      c2 += x * load8(k2 + d);
      c3 += x * load8(k3 + d);
    }
    s[j] = hsum8(c0) + tail(k0);
    s[j + 1] = hsum8(c1) + tail(k1);
    s[j + 2] = hsum8(c2) + tail(k2);
    s[j + 3] = hsum8(c3) + tail(k3);
  }
  for (; j < n; ++j) {
    const float* kj = k + j * a.k_stride + h * dh;
    v8f c = splat8(0.0f);
    for (size_t d = 0; d < d8; d += 8) c += load8(qh + d) * load8(kj + d);
    s[j] = hsum8(c) + tail(kj);
  }
  // finish_scores_row's steps (each rounded as there), then the softmax over [0, n).
  const float* b = a.bias ? a.bias + h * a.bias_head_stride : nullptr;
  for (j = 0; j < n; ++j) {
    float x = s[j] * a.scale;
    if (b) x += b[j];
    if (a.key_mask) x += a.key_mask[j];
    s[j] = x;
  }
  float mx = s[0];
  j = 0;
  if (n >= 8) {
    v8f m = load8(s);
    for (j = 8; j + 8 <= n; j += 8) m = vmax8(m, load8(s + j));
    mx = hmax8(m);
  }
  for (; j < n; ++j) mx = s[j] > mx ? s[j] : mx;
  v8f acc = splat8(0.0f);
  j = 0;
  for (; j + 8 <= n; j += 8) {
    const v8f e = exp8(load8(s + j) - mx);
    store8(s + j, e);
    acc += e;
  }
  double sum = hsum8(acc);
  if (j < n) {  // tail through a padded vector (its padding lanes are not summed)
    float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = j; i < n; ++i) t[i - j] = s[i] - mx;
    const v8f e = exp8(load8(t));
    for (size_t i = j; i < n; ++i) {
      s[i] = e[i - j];
      sum += s[i];
    }
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (j = 0; j < n; ++j) s[j] *= inv;
  // O = P V: output columns in chunks of 64 (8 vectors held while the keys stream by), then 8, then
  // single columns.
  float* oh = out + h * dh;
  const float* vh = v + h * dh;
  size_t d0 = 0;
  for (; d0 + 64 <= d8; d0 += 64) {
    v8f o[8];
    for (v8f& x : o) x = splat8(0.0f);
    for (size_t i = 0; i < n; ++i) {
      const v8f p = splat8(s[i]);
      const float* vi = vh + i * a.v_stride + d0;
      for (int c = 0; c < 8; ++c) o[c] += p * load8(vi + 8 * c);
    }
    for (int c = 0; c < 8; ++c) store8(oh + d0 + 8 * c, o[c]);
  }
  for (; d0 < d8; d0 += 8) {
    v8f o = splat8(0.0f);
    for (size_t i = 0; i < n; ++i) o += splat8(s[i]) * load8(vh + i * a.v_stride + d0);
    store8(oh + d0, o);
  }
  for (; d0 < dh; ++d0) {
    float t = 0.0f;
    for (size_t i = 0; i < n; ++i) t += s[i] * vh[i * a.v_stride + d0];
    oh[d0] = t;
  }
}

}  // namespace detail
}  // namespace ops
}  // namespace mblip
