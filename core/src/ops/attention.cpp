// Multi-head attention (see ops.h): scores, additive bias/masks, softmax, weighted sum of V.
// Mirrors the core of Blip2Attention, Blip2QFormerSelfAttention and T5Attention. Shapes with
// >= 16 query rows (wasm: 128) go to the batch-GEMM path (attention_xnnpack.cpp). Otherwise both products
// (Q K^T and P V) run as small register-blocked GEMMs (4 query rows x 8 columns, ops/simd.h
// vectors) over per-head copies of K (transposed) and V (padded). Heads are split over the pool
// in contiguous groups; every head is computed the same way whichever group it falls in, so
// results do not depend on the thread count. ref::attention (ops_ref.cpp) is the scalar version.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/attention_impl.h"
#include "ops/elementwise_impl.h"
#include "ops/ops.h"
#include "ops/simd.h"

namespace mblip {
namespace ops {
namespace {

using simd::v4f;
constexpr size_t kRows = 4;  // query rows per block
constexpr size_t kCols = 8;  // output columns per micro-kernel call

size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

struct HeadLayout {
  size_t kvp, dhp, kt, vp, s, o, total;
};

HeadLayout layout(const AttentionArgs& a) {
  HeadLayout l;
  l.kvp = round_up(std::max<size_t>(a.kv_len, 1), kCols);
  l.dhp = round_up(std::max<size_t>(a.head_dim, 1), kCols);
  l.kt = 0;                          // head_dim x kvp: K transposed, zero-padded columns
  l.vp = l.kt + a.head_dim * l.kvp;  // kv_len x dhp: V, zero-padded columns
  l.s = l.vp + a.kv_len * l.dhp;     // kRows x kvp: scores / probabilities
  l.o = l.s + kRows * l.kvp;         // kRows x dhp: output block
  l.total = l.o + kRows * l.dhp;
  return l;
}

size_t groups_for(const AttentionArgs& a, const ThreadPool& pool) {
  return std::max<size_t>(1, std::min(a.heads, static_cast<size_t>(pool.threads())));
}

// Runs item(i, ws) for i in [0, items), split over the pool in contiguous groups (at most one per
// thread), each group with `per_group` floats of workspace: a.scratch when it is large enough,
// else a buffer of its own.
template <class F>
void for_item_groups(size_t items, size_t per_group, const AttentionArgs& a, ThreadPool& pool, F&& item) {
  const size_t groups = std::max<size_t>(1, std::min(items, static_cast<size_t>(pool.threads())));
  std::vector<float> own;
  float* scratch = a.scratch;
  if (!scratch || a.scratch_floats < groups * per_group) {
    own.resize(groups * per_group);
    scratch = own.data();
  }
  auto run_group = [&](size_t g) {
    const size_t i0 = g * items / groups, i1 = (g + 1) * items / groups;
    for (size_t i = i0; i < i1; ++i) item(i, scratch + g * per_group);
  };
  if (groups == 1) {
    run_group(0);
  } else {
    pool.parallel_for(groups, run_group);
  }
}

// c[r][0..8) = sum_k a[r][k * a_step] * b[k * ldb + 0..8) for 4 rows (a[r] row pointers).
inline void micro_4x8(const float* const a[kRows], const float* b, size_t ldb, size_t kdim, float* c,
                      size_t ldc) {
  v4f c00 = simd::splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
  for (size_t k = 0; k < kdim; ++k) {
    const v4f b0 = simd::load(b + k * ldb), b1 = simd::load(b + k * ldb + 4);
    v4f x = simd::splat(a0[k]);
    c00 += x * b0;
    c01 += x * b1;
    x = simd::splat(a1[k]);
    c10 += x * b0;
    c11 += x * b1;
    x = simd::splat(a2[k]);
    c20 += x * b0;
    c21 += x * b1;
    x = simd::splat(a3[k]);
    c30 += x * b0;
    c31 += x * b1;
  }
  simd::store(c, c00);
  simd::store(c + 4, c01);
  simd::store(c + ldc, c10);
  simd::store(c + ldc + 4, c11);
  simd::store(c + 2 * ldc, c20);
  simd::store(c + 2 * ldc + 4, c21);
  simd::store(c + 3 * ldc, c30);
  simd::store(c + 3 * ldc + 4, c31);
}

void run_head(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a, size_t h,
              const HeadLayout& L, float* ws) {
  const size_t dh = a.head_dim, kv = a.kv_len;
  float* kt = ws + L.kt;
  float* vp = ws + L.vp;
  float* s = ws + L.s;
  float* o = ws + L.o;
  // Per-head copies: K^T (dh x kvp) and V (kv x dhp), zero padding.
  for (size_t d = 0; d < dh; ++d) std::fill(kt + d * L.kvp + kv, kt + (d + 1) * L.kvp, 0.0f);
  for (size_t j = 0; j < kv; ++j) {
    const float* kj = k + j * a.k_stride + h * dh;
    for (size_t d = 0; d < dh; ++d) kt[d * L.kvp + j] = kj[d];
    const float* vj = v + j * a.v_stride + h * dh;
    std::copy(vj, vj + dh, vp + j * L.dhp);
    std::fill(vp + j * L.dhp + dh, vp + (j + 1) * L.dhp, 0.0f);
  }
  for (size_t i0 = 0; i0 < a.q_len; i0 += kRows) {
    const size_t rows = std::min(kRows, a.q_len - i0);
    size_t n[kRows];
    const float* qa[kRows];
    size_t nmax = 0;
    for (size_t r = 0; r < kRows; ++r) {
      const size_t i = i0 + std::min(r, rows - 1);  // padding rows repeat the last real row
      n[r] = detail::visible_keys(a, i);  // keys beyond are causally masked
      qa[r] = q + i * a.q_stride + h * dh;
      nmax = std::max(nmax, n[r]);
    }
    // Scores S = Q K^T for the block's keys [0, nmax).
    const size_t ncols = round_up(nmax, kCols);
    for (size_t j0 = 0; j0 < ncols; j0 += kCols) micro_4x8(qa, kt + j0, L.kvp, dh, s + j0, L.kvp);
    for (size_t r = 0; r < rows; ++r) detail::finish_scores_row(s + r * L.kvp, a, h, i0 + r, n[r], nmax);
    const float* pa[kRows];
    for (size_t r = 0; r < kRows; ++r) pa[r] = s + std::min(r, rows - 1) * L.kvp;
    // O = P V over keys [0, nmax).
    for (size_t d0 = 0; d0 < L.dhp; d0 += kCols) micro_4x8(pa, vp + d0, L.dhp, nmax, o + d0, L.dhp);
    for (size_t r = 0; r < rows; ++r) std::copy(o + r * L.dhp, o + r * L.dhp + dh, out + (i0 + r) * a.out_stride + h * dh);
  }
}

// One query row (a decoder step): scores as dot products straight from K's rows, softmax, then the
// weighted sum of V's rows; no per-head copies. `s`: kv_len floats of scratch.
void run_head_single(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a, size_t h,
                     float* s) {
  const size_t dh = a.head_dim, n = detail::visible_keys(a, 0), d4 = dh / 4 * 4;
  const float* qh = q + h * dh;
  auto dot = [&](const float* kj, v4f acc) {  // acc: this key's partial sum over [0, d4)
    float t = simd::hsum(acc);
    for (size_t d = d4; d < dh; ++d) t += qh[d] * kj[d];
    return t;
  };
  size_t j = 0;
  for (; j + 4 <= n; j += 4) {  // four keys at a time: independent accumulators
    const float* k0 = k + j * a.k_stride + h * dh;
    const float *k1 = k0 + a.k_stride, *k2 = k1 + a.k_stride, *k3 = k2 + a.k_stride;
    v4f c0 = simd::splat(0), c1 = c0, c2 = c0, c3 = c0;
    for (size_t d = 0; d < d4; d += 4) {
      const v4f x = simd::load(qh + d);
      c0 += x * simd::load(k0 + d);
      c1 += x * simd::load(k1 + d);
      c2 += x * simd::load(k2 + d);
      c3 += x * simd::load(k3 + d);
    }
    s[j] = dot(k0, c0);
    s[j + 1] = dot(k1, c1);
    s[j + 2] = dot(k2, c2);
    s[j + 3] = dot(k3, c3);
  }
  for (; j < n; ++j) {
    const float* kj = k + j * a.k_stride + h * dh;
    v4f c = simd::splat(0);
    for (size_t d = 0; d < d4; d += 4) c += simd::load(qh + d) * simd::load(kj + d);
    s[j] = dot(kj, c);
  }
  detail::finish_scores_row(s, a, h, 0, n, n);
  // Output columns in chunks of 32 held in registers while the keys stream by (each V row read once
  // per chunk, contiguously).
  float* oh = out + h * dh;
  const float* vh = v + h * dh;
  constexpr size_t kChunk = 32;
  size_t d0 = 0;
  for (; d0 + kChunk <= d4; d0 += kChunk) {
    v4f acc[kChunk / 4];
    for (v4f& x : acc) x = simd::splat(0);
    for (size_t j = 0; j < n; ++j) {
      const v4f p = simd::splat(s[j]);
      const float* vj = vh + j * a.v_stride + d0;
      for (size_t c = 0; c < kChunk / 4; ++c) acc[c] += p * simd::load(vj + 4 * c);
    }
    for (size_t c = 0; c < kChunk / 4; ++c) simd::store(oh + d0 + 4 * c, acc[c]);
  }
  for (; d0 < d4; d0 += 4) {
    v4f acc = simd::splat(0);
    for (size_t j = 0; j < n; ++j) acc += simd::splat(s[j]) * simd::load(vh + j * a.v_stride + d0);
    simd::store(oh + d0, acc);
  }
  for (; d0 < dh; ++d0) {
    float t = 0;
    for (size_t j = 0; j < n; ++j) t += s[j] * vh[j * a.v_stride + d0];
    oh[d0] = t;
  }
}

}  // namespace

namespace detail {

void finish_scores_row(float* s, const AttentionArgs& a, size_t h, size_t i, size_t n_valid, size_t n_zero) {
  for (size_t j = 0; j < n_valid; ++j) s[j] *= a.scale;
  if (a.bias) {
    const float* b = a.bias + h * a.bias_head_stride + i * a.bias_row_stride;
    for (size_t j = 0; j < n_valid; ++j) s[j] += b[j];
  }
  if (a.key_mask)
    for (size_t j = 0; j < n_valid; ++j) s[j] += a.key_mask[j];
  // Causally masked keys get probability exactly 0 (exp(lowest - max) underflows to 0 in HF
  // as well): left out of the softmax, zero weight in P V.
  softmax(s, 1, n_valid);
  if (n_zero > n_valid) std::fill(s + n_valid, s + n_zero, 0.0f);
}

#ifndef MBLIP_HAVE_XNNPACK
bool gemm_attention_wanted(const AttentionArgs&) { return false; }
size_t gemm_attention_scratch_floats(const AttentionArgs&) { return 0; }
bool gemm_attention(const float*, const float*, const float*, float*, const AttentionArgs&, float*, size_t,
                    ThreadPool&) {
  return false;
}
#endif

}  // namespace detail

size_t attention_scratch_floats(const AttentionArgs& a, const ThreadPool& pool) {
  const size_t blocked = groups_for(a, pool) * layout(a).total;
  return detail::gemm_attention_wanted(a) ? std::max(blocked, detail::gemm_attention_scratch_floats(a)) : blocked;
}

void attention(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
               ThreadPool& pool) {
  if (a.heads == 0 || a.q_len == 0 || a.kv_len == 0 || a.head_dim == 0) return;
  if (a.q_len == 1) {
    attention_rows(q, &k, &v, out, a, 1, pool);
    return;
  }
  if (detail::gemm_attention_wanted(a) && detail::gemm_attention(q, k, v, out, a, a.scratch, a.scratch_floats, pool))
    return;
  const HeadLayout L = layout(a);
  for_item_groups(a.heads, L.total, a, pool,
                  [&](size_t h, float* ws) { run_head(q, k, v, out, a, h, L, ws); });
}

void attention_rows(const float* q, const float* const* k, const float* const* v, float* out, const AttentionArgs& a,
                    size_t rows, ThreadPool& pool) {
  if (a.heads == 0 || a.q_len == 0 || a.kv_len == 0 || a.head_dim == 0 || rows == 0) return;
  if (a.q_len != 1) {  // several query rows per K/V: the blocked path, one call per row
    for (size_t r = 0; r < rows; ++r)
      attention(q + r * a.q_len * a.q_stride, k[r], v[r], out + r * a.q_len * a.out_stride, a, pool);
    return;
  }
  // (head, row) items, head-major: each is computed the same way in any group (results do not
  // depend on the thread count), and a thread runs one head's rows back to back, so K / V shared by
  // the rows (cross-attention under beam search: one encoder output) are read from memory once.
#ifdef MBLIP_OPS_HAVE_AVX2
  if (detail::use_avx2()) {  // the same steps 8 lanes wide (attention_avx2.cpp)
    for_item_groups(rows * a.heads, a.kv_len, a, pool, [&](size_t i, float* s) {
      const size_t h = i / rows, r = i % rows;
      detail::run_head_single_avx2(q + r * a.q_stride, k[r], v[r], out + r * a.out_stride, a, h, s);
    });
    return;
  }
#endif
  for_item_groups(rows * a.heads, a.kv_len, a, pool, [&](size_t i, float* s) {
    const size_t h = i / rows, r = i % rows;
    run_head_single(q + r * a.q_stride, k[r], v[r], out + r * a.out_stride, a, h, s);
  });
}

}  // namespace ops
}  // namespace mblip
