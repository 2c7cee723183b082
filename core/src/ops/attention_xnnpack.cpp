// GEMM-shaped multi-head attention (see attention_impl.h): per-head copies of Q, K, V, then
// S = Q K^T and O = P V as XNNPACK f32 batch matrix multiplies (batch = heads; XNNPACK picks
// the widest kernels of the CPU: AVX-512/AVX2 natively, SIMD128 in wasm) with the bias, masks
// and softmax (XNNPACK's, or ours for causal rows) in between; the scale goes into the Q copy. Every output element is computed by one
// micro-kernel in a fixed order, so results do not depend on the thread count.
#include <xnnpack.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ops/attention_impl.h"

namespace mblip {
namespace ops {
namespace detail {
namespace {

constexpr size_t kAlign = 16;         // floats (64 bytes) between scratch regions
// Below this many query rows the blocked path is used. In wasm the extra pool hand-offs of the
// GEMM path (copies, packing, softmax) cost more than they save below ViT-sized shapes
// (measured, 2 threads: Q-Former 32x257 0.44x, encoder 47x47 0.35x; ViT 257x257 1.26x).
#ifdef __EMSCRIPTEN__
constexpr size_t kMinRows = 128;
#else
constexpr size_t kMinRows = 16;
#endif
constexpr size_t kRowsPerTask = 32;   // softmax rows per pool task

size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

struct Layout {
  size_t qp, kp, vp, s, ws, ws_floats, total;
};

// Conservative size of XNNPACK's packed-B workspace for `batch` [K x N] matrices (nr <= 64,
// k padded to 8; the exact figure comes from reshape and is checked against this).
size_t workspace_floats(size_t batch, size_t k, size_t n) {
  return batch * round_up(n, 64) * (round_up(k, 8) + 1) + kAlign;
}

Layout layout(const AttentionArgs& a) {
  const size_t H = a.heads, dh = a.head_dim, q = a.q_len, kv = a.kv_len;
  Layout l;
  l.qp = 0;                                          // H x q x dh (Q, then O)
  l.kp = l.qp + round_up(H * q * dh, kAlign);        // H x kv x dh
  l.vp = l.kp + round_up(H * kv * dh, kAlign);       // H x kv x dh
  l.s = l.vp + round_up(H * kv * dh, kAlign);        // H x q x kv
  l.ws = l.s + round_up(H * q * kv, kAlign);
  l.ws_floats = std::max(workspace_floats(H, dh, kv), workspace_floats(H, kv, dh));
  l.total = l.ws + l.ws_floats;
  return l;
}

struct OpGuard {
  xnn_operator_t op = nullptr;
  ~OpGuard() {
    if (op) xnn_delete_operator(op);
  }
};

bool switched_off() {
  const char* e = std::getenv("MBLIP_ATTENTION_GEMM");
  return e && e[0] == '0';
}

// C[b] = A[b] B[b] (B [k x n]) or A[b] B[b]^T (B [n x k], transpose_b), b < batch.
bool batch_matmul(bool transpose_b, size_t batch, size_t m, size_t k, size_t n, const float* A, const float* B,
                  float* C, float* ws, size_t ws_floats, std::vector<float>& own_ws, pthreadpool_t tp) {
  OpGuard g;
  if (xnn_create_batch_matrix_multiply_nc_f32(transpose_b ? XNN_FLAG_TRANSPOSE_B : 0, &g.op) != xnn_status_success)
    return false;
  const size_t dims[1] = {batch};
  size_t ws_size = 0, ws_align = 0;
  if (xnn_reshape_batch_matrix_multiply_nc_f32(g.op, 1, dims, dims, m, k, n, &ws_size, &ws_align, tp) !=
      xnn_status_success)
    return false;
  const size_t align = std::max<size_t>(ws_align, sizeof(float));
  const size_t need = (ws_size + align) / sizeof(float) + 1;
  if (need > ws_floats) {  // not expected (layout() over-estimates); stay correct anyway
    own_ws.resize(need);
    ws = own_ws.data();
  }
  uintptr_t p = reinterpret_cast<uintptr_t>(ws);
  p = (p + align - 1) / align * align;
  if (xnn_setup_batch_matrix_multiply_nc_f32(g.op, reinterpret_cast<void*>(p), A, B, C) != xnn_status_success)
    return false;
  return xnn_run_operator(g.op, tp) == xnn_status_success;
}

// In-place softmax of `rows` rows of n floats on XNNPACK's softmax operator.
bool softmax_rows(float* s, size_t rows, size_t n, pthreadpool_t tp) {
  OpGuard g;
  if (xnn_create_softmax_nc_f32(0, &g.op) != xnn_status_success) return false;
  if (xnn_reshape_softmax_nc_f32(g.op, n, n, n, rows, tp) != xnn_status_success) return false;
  if (xnn_setup_softmax_nc_f32(g.op, s, s) != xnn_status_success) return false;
  return xnn_run_operator(g.op, tp) == xnn_status_success;
}

}  // namespace

bool gemm_attention_wanted(const AttentionArgs& a) {
  return a.q_len >= kMinRows && a.kv_len >= kMinRows && a.head_dim >= 8 && !switched_off();
}

size_t gemm_attention_scratch_floats(const AttentionArgs& a) { return layout(a).total + kAlign; }

bool gemm_attention(const float* q, const float* k, const float* v, float* out, const AttentionArgs& a,
                    float* scratch, size_t scratch_floats, ThreadPool& pool) {
  if (xnn_initialize(nullptr) != xnn_status_success) return false;
  const size_t H = a.heads, dh = a.head_dim, ql = a.q_len, kv = a.kv_len;
  const Layout L = layout(a);
  std::vector<float> own, own_ws;
  if (!scratch || scratch_floats < L.total + kAlign) {
    own.resize(L.total + kAlign);
    scratch = own.data();
  }
  // 64-byte aligned base (XNNPACK does not need it for A/B/C, but the rows then start aligned).
  {
    uintptr_t p = reinterpret_cast<uintptr_t>(scratch);
    scratch += (round_up(p, 64) - p) / sizeof(float);
  }
  float* qp = scratch + L.qp;
  float* kp = scratch + L.kp;
  float* vp = scratch + L.vp;
  float* s = scratch + L.s;
  float* ws = scratch + L.ws;

  // Per-head contiguous copies: [h][row][d]; the scale is applied to Q here ((s q).k: one
  // rounding more than s (q.k), no pass over the scores).
  const float scale = a.scale;
  pool.parallel_for(H, [&](size_t h) {
    for (size_t i = 0; i < ql; ++i) {
      const float* src = q + i * a.q_stride + h * dh;
      float* dst = qp + (h * ql + i) * dh;
      if (scale == 1.0f) {
        std::memcpy(dst, src, dh * sizeof(float));
      } else {
        for (size_t d = 0; d < dh; ++d) dst[d] = src[d] * scale;
      }
    }
    for (size_t j = 0; j < kv; ++j) {
      std::memcpy(kp + (h * kv + j) * dh, k + j * a.k_stride + h * dh, dh * sizeof(float));
      std::memcpy(vp + (h * kv + j) * dh, v + j * a.v_stride + h * dh, dh * sizeof(float));
    }
  });
  pthreadpool_t tp = pool.handle();
  // S[h] = Q[h] K[h]^T  (q x kv)
  if (!batch_matmul(true, H, ql, dh, kv, qp, kp, s, ws, L.ws_floats, own_ws, tp)) return false;
  // Bias and masks, then softmax: XNNPACK's over all rows at once when no row is causally cut
  // (masked entries, kMaskValue, come out exactly 0 from its exp as from ours), else ours per
  // row with the hidden keys set to exactly 0.
  const size_t rows = H * ql, tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  AttentionArgs unscaled = a;
  unscaled.scale = 1.0f;
  if (a.causal || a.bias || a.key_mask) {
    const bool xnn_softmax = !a.causal;
    pool.parallel_for(tasks, [&](size_t t) {
      const size_t end = std::min(rows, (t + 1) * kRowsPerTask);
      for (size_t r = t * kRowsPerTask; r < end; ++r) {
        const size_t h = r / ql, i = r % ql;
        float* sr = s + r * kv;
        if (xnn_softmax) {
          if (a.bias) {
            const float* b = a.bias + h * a.bias_head_stride + i * a.bias_row_stride;
            for (size_t j = 0; j < kv; ++j) sr[j] += b[j];
          }
          if (a.key_mask)
            for (size_t j = 0; j < kv; ++j) sr[j] += a.key_mask[j];
        } else {
          finish_scores_row(sr, unscaled, h, i, visible_keys(a, i), kv);
        }
      }
    });
    if (xnn_softmax && !softmax_rows(s, rows, kv, tp)) return false;
  } else if (!softmax_rows(s, rows, kv, tp)) {
    return false;
  }
  // O[h] = P[h] V[h]  (q x dh), into the Q copy (no longer needed).
  float* o = qp;
  if (!batch_matmul(false, H, ql, kv, dh, s, vp, o, ws, L.ws_floats, own_ws, tp)) return false;
  // Back to rows of heads*head_dim.
  const size_t otasks = (ql + kRowsPerTask - 1) / kRowsPerTask;
  pool.parallel_for(otasks, [&](size_t t) {
    const size_t end = std::min(ql, (t + 1) * kRowsPerTask);
    for (size_t i = t * kRowsPerTask; i < end; ++i)
      for (size_t h = 0; h < H; ++h)
        std::memcpy(out + i * a.out_stride + h * dh, o + (h * ql + i) * dh, dh * sizeof(float));
  });
  return true;
}

}  // namespace detail
}  // namespace ops
}  // namespace mblip
