// The int8-rows kernel (kernels/int8_rows.h): packing, the activation quantizer, the scalar
// reference GEMM, the variant table and the LinearKernel (thread split over output channels).
#include "kernels/int8_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "io/quant.h"
#include "kernels/linear_xnnpack_requant.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_cache.h"
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif
#if defined(__wasm_relaxed_simd__)
#include "kernels/q4_0.h"  // wasm_relaxed_dot_kind
#endif

namespace mblip {

I8RowsLayout I8RowsLayout::of(size_t n, size_t k) {
  I8RowsLayout l;
  l.n = n;
  l.k = k;
  l.np = (n + kI8RowsNStep - 1) / kI8RowsNStep * kI8RowsNStep;
  l.kp = (k + kI8RowsKStep - 1) / kI8RowsKStep * kI8RowsKStep;
  return l;
}

namespace {

using namespace xnn_requant;
typedef uint8_t v4u8 __attribute__((vector_size(4)));

// One row: the same IEEE operations for every target (GCC / Clang vector extensions: SIMD128 in
// wasm, SSE natively), so all variants see identical bytes.
void quantize_row_u8(const float* x, size_t k, size_t kp, uint8_t* q, float* s_out, int32_t* z_out) {
  v4f l0 = {0.f, 0.f, 0.f, 0.f}, h0 = l0;
  size_t j = 0;
#if defined(__wasm_simd128__)
  {  // pmin / pmax are the selects below, one instruction each
    v128_t l = wasm_f32x4_splat(0.f), h = l;
    for (; j + 4 <= k; j += 4) {
      const v128_t a = wasm_v128_load(x + j);
      l = wasm_f32x4_pmin(l, a), h = wasm_f32x4_pmax(h, a);
    }
    std::memcpy(&l0, &l, sizeof l0);
    std::memcpy(&h0, &h, sizeof h0);
  }
#endif
  for (; j + 4 <= k; j += 4) {
    const v4f a = load4(x + j);
    l0 = select4(a < l0, a, l0), h0 = select4(h0 < a, a, h0);
  }
  float lo = 0.f, hi = 0.f;
  for (int t = 0; t < 4; ++t) lo = std::min(lo, l0[t]), hi = std::max(hi, h0[t]);
  for (; j < k; ++j) lo = std::min(lo, x[j]), hi = std::max(hi, x[j]);
  float s = (hi - lo) / 255.f;
  int32_t z = 0;
  if (s > 0.f && std::isfinite(s)) {
    z = std::min(255, std::max(0, static_cast<int>(round_half_even_small(-lo / s))));
  } else {
    s = 1.f;  // all zero (or infinite input: garbage in, no undefined behaviour out)
  }
  const float inv = 1.f / s;
  // u = clamp(round_half_even(x / s) + z, 0, 255), x / s within +-255 for finite rows; NaN counts
  // as 0. Generic form: clamped to +-512 first, then round_half_even_small in integer form.
  j = 0;
#if defined(__wasm_simd128__)
  {  // the same values: exact rounding (nearest), conversions and narrowings that saturate
    const v128_t vi = wasm_f32x4_splat(inv), vz16 = wasm_i16x8_splat(static_cast<int16_t>(z));
    auto ints = [&](size_t o) { return wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + o), vi))); };
    for (; j + 16 <= k; j += 16) {
      const v128_t h0 = wasm_i16x8_add_sat(wasm_i16x8_narrow_i32x4(ints(j), ints(j + 4)), vz16);
      const v128_t h1 = wasm_i16x8_add_sat(wasm_i16x8_narrow_i32x4(ints(j + 8), ints(j + 12)), vz16);
      wasm_v128_store(q + j, wasm_u8x16_narrow_i16x8(h0, h1));
    }
  }
#endif
  const v4f magic = {12582912.0f, 12582912.0f, 12582912.0f, 12582912.0f}, vinv = v4f{1, 1, 1, 1} * inv;
  const v4f lim = {512.f, 512.f, 512.f, 512.f}, nlim = -lim, zero = {0.f, 0.f, 0.f, 0.f};
  const v4i vz = {z, z, z, z}, v0 = {0, 0, 0, 0}, v255 = {255, 255, 255, 255};
  auto group = [&](v4f v, uint8_t* dst, size_t count) {
    v = v * vinv;
    v = select4(v == v, v, zero);  // NaN
    v = select4(v < lim, v, lim);
    v = select4(nlim < v, v, nlim);
    v4i u = reinterpret_cast<v4i>(v + magic) - reinterpret_cast<v4i>(magic) + vz;
    u = u < v0 ? v0 : u;
    u = u > v255 ? v255 : u;
    const v4u8 b = __builtin_convertvector(u, v4u8);
    std::memcpy(dst, &b, count);
  };
  for (; j + 4 <= k; j += 4) group(load4(x + j), q + j, 4);
  if (j < k) {  // the tail, zero-filled to a whole group
    float t[4] = {0.f, 0.f, 0.f, 0.f};
    std::memcpy(t, x + j, (k - j) * sizeof(float));
    group(load4(t), q + j, k - j);
  }
  std::memset(q + k, 0, kp - k);
  *s_out = s;
  *z_out = z;
}

// The activations of a context's last call, under one key for every int8-rows kernel.
struct ActsState final : KernelState {
  U8Acts acts;
};
const char kActsKey = 0;

constexpr size_t kColsPerTask = 16 * kI8RowsNStep;  // output channels per parallel task

class I8RowsLinear final : public LinearKernel {
 public:
  I8RowsLinear(I8RowsLayout l, std::vector<uint8_t> own, std::shared_ptr<PackedWeightStore> store, size_t id,
               std::vector<float> bias, const I8RowsVariant& v)
      : l_(l), own_(std::move(own)), store_(std::move(store)), id_(id), b_(std::move(bias)), v_(v) {
    out_ = static_cast<int64_t>(l.n);
    in_ = static_cast<int64_t>(l.k);
  }

  Status forward(const float* x, size_t m, float* y, ThreadPool& pool) const override {
    if (m == 0) return Status::Ok();
    I8RowsView w{l_, store_ ? store_->own_bytes(id_) : own_.data()};
    if (!w.base) return internal_error("int8 linear: packed weights not available (store not finalized)");
    auto* st = static_cast<ActsState*>(pool.find_state(&kActsKey));
    if (!st) st = static_cast<ActsState*>(pool.put_state(&kActsKey, std::make_unique<ActsState>()));
    quantize_acts_u8(x, m, l_.k, l_.kp, st->acts, &pool);
#if defined(__wasm_simd128__)
    if (v_.wide) widen_acts_i16(st->acts);
#endif
    const U8Acts& a = st->acts;
    const float* bias = b_.empty() ? nullptr : b_.data();
    const size_t tasks = (l_.n + kColsPerTask - 1) / kColsPerTask;
    pool.parallel_for(tasks, [&](size_t t) {
      const size_t c0 = t * kColsPerTask, c1 = std::min(l_.n, c0 + kColsPerTask);
      v_.fn(w, a, c0, c1, y, l_.n, bias);
    });
    return Status::Ok();
  }
  std::string describe() const override { return std::string("own int8 rows ") + v_.name + " (u8 activations per row)"; }
  size_t memory_bytes() const override { return static_cast<size_t>(i8rows_kernel_bytes(l_.n, l_.k, !b_.empty())); }

 private:
  I8RowsLayout l_;
  std::vector<uint8_t> own_;  // the packed bytes when there is no store
  std::shared_ptr<PackedWeightStore> store_;
  size_t id_ = 0;
  std::vector<float> b_;
  I8RowsVariant v_;
};

}  // namespace

void quantize_acts_u8(const float* x, size_t m, size_t k, size_t kp, U8Acts& out, ThreadPool* pool) {
  out.m = m;
  out.kp = kp;
  out.q.resize(m * kp);  // capacity kept between calls
  out.s.resize(m);
  out.z.resize(m);
  auto row = [&](size_t i) { quantize_row_u8(x + i * k, k, kp, out.q.data() + i * kp, &out.s[i], &out.z[i]); };
  if (pool && pool->threads() > 1 && m > 1 && m * k >= (size_t{1} << 15)) {
    pool->parallel_for(m, row);
  } else {
    for (size_t i = 0; i < m; ++i) row(i);
  }
}

void i8rows_gemm_ref(const I8RowsView& w, const U8Acts& a, size_t c0, size_t c1, float* y, size_t ldy,
                     const float* bias) {
  for (size_t i = 0; i < a.m; ++i) {
    const uint8_t* u = a.row(i);
    for (size_t c = c0; c < c1; ++c) {
      const int8_t* q = w.row(c);
      int32_t isum = 0;
      for (size_t j = 0; j < w.l.kp; ++j) isum += static_cast<int32_t>(q[j]) * static_cast<int32_t>(u[j]);
      y[i * ldy + c] = i8rows_output(isum, a.z[i], w.rowsum()[c], a.s[i], w.scale()[c], bias, c);
    }
  }
}

const std::vector<I8RowsVariant>& i8rows_variants() {
  static const std::vector<I8RowsVariant> vs = [] {
    std::vector<I8RowsVariant> v{{"ref", &i8rows_gemm_ref}};
#if defined(__wasm_relaxed_simd__)
    // A full int8 relaxed dot: our relaxed variant where it reads the activations unsigned, else
    // ("sdot") XNNPACK's sdot kernels; a saturating one leaves SIMD128.
    const std::string kind = wasm_relaxed_dot_kind();
    if (kind == "usdot") v.push_back({"wasm_relaxed", &i8rows_gemm_wasm_relaxed});
    else if (kind != "sdot") v.push_back({"wasm_simd128", &i8rows_gemm_wasm_simd128, true});
#elif defined(__wasm_simd128__)
    v.push_back({"wasm_simd128", &i8rows_gemm_wasm_simd128, true});
#endif
    return v;
  }();
  return vs;
}

bool i8rows_preferred() { return i8rows_variants().size() > 1; }

Status pack_i8rows(const TensorView& weight, uint8_t* dst) {
  const size_t n = static_cast<size_t>(weight.dim(0)), k = static_cast<size_t>(weight.dim(1));
  const I8RowsLayout l = I8RowsLayout::of(n, k);
  MBLIP_ASSIGN_OR_RETURN(size_t row_bytes, dtype_bytes(weight.type, static_cast<int64_t>(k)));
  std::memset(dst, 0, l.bytes());
  float* scale = reinterpret_cast<float*>(dst + l.np * l.kp);
  int32_t* rowsum = reinterpret_cast<int32_t*>(dst + l.np * l.kp + l.np * 4);
  std::vector<float> deq(k);
  for (size_t r = 0; r < n; ++r) {
    dequantize_row(weight.type, weight.data + r * row_bytes, deq.data(), static_cast<int64_t>(k));
    scale[r] = symmetric_scale(deq.data(), k, 127);
    int8_t* q = reinterpret_cast<int8_t*>(dst) + r * l.kp;
    quantize_row_int8(deq.data(), k, 1.f / scale[r], q);
    int32_t sum = 0;
    for (size_t j = 0; j < k; ++j) sum += q[j];
    rowsum[r] = sum;
  }
  return Status::Ok();
}

Result<std::unique_ptr<LinearKernel>> make_linear_i8rows(const TensorView& weight, const TensorView* bias,
                                                         const I8RowsVariant* variant) {
  const I8RowsVariant& v = variant ? *variant : i8rows_variants().back();
  if (weight.shape.size() != 2 || weight.dim(0) <= 0 || weight.dim(1) <= 0)
    return model_load_error("linear weight '" + weight.name + "' must be 2-D and non-empty");
  const size_t n = static_cast<size_t>(weight.dim(0)), k = static_cast<size_t>(weight.dim(1));
  if (k > kI8RowsMaxK)
    return model_load_error("linear weight '" + weight.name + "': rows of " + std::to_string(k) +
                            " elements are too long for the int8 kernel");
  if (weight.type != DType::Q8_0 && weight.type != DType::Q4_0 && weight.type != DType::F16 && weight.type != DType::F32)
    return model_load_error("linear weight '" + weight.name + "': no int8 form of " + dtype_name(weight.type));
  MBLIP_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(weight.type, weight.numel()));
  if (!weight.data || weight.nbytes < nbytes)
    return model_load_error("linear weight '" + weight.name + "' has " + std::to_string(weight.nbytes) +
                            " bytes, expected " + std::to_string(nbytes));
  std::vector<float> b;
  if (bias) {
    if (bias->type != DType::F32 || bias->numel() != weight.dim(0) || !bias->data || bias->nbytes != n * sizeof(float))
      return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(n) + " elements");
    b.assign(reinterpret_cast<const float*>(bias->data), reinterpret_cast<const float*>(bias->data) + n);
  }
  const I8RowsLayout l = I8RowsLayout::of(n, k);
  if (!b.empty()) b.resize(l.np + 4, 0.f);  // the tiles' 4-lane loads
  std::shared_ptr<PackedWeightStore> store = WeightStoreScope::current();
  std::vector<uint8_t> own;
  size_t id = 0;
  if (store) {  // the entry name says what the bytes are (format, shape): a changed weight misses
    const std::string entry = weight.name + "|own-i8rows|" + std::to_string(n) + "x" + std::to_string(k);
    id = store->find_own(entry, l.bytes());
    if (id == PackedWeightStore::kNoEntry) {
      std::vector<uint8_t> tmp(l.bytes());
      MBLIP_RETURN_IF_ERROR(pack_i8rows(weight, tmp.data()));
      id = store->insert_own(entry, tmp.data(), tmp.size());
      if (id == PackedWeightStore::kNoEntry)
        return out_of_memory("int8 linear '" + weight.name + "': no memory for " + std::to_string(tmp.size()) + " bytes");
    }
  } else {
    own.resize(l.bytes());
    MBLIP_RETURN_IF_ERROR(pack_i8rows(weight, own.data()));
  }
  return std::unique_ptr<LinearKernel>(new I8RowsLinear(l, std::move(own), std::move(store), id, std::move(b), v));
}

}  // namespace mblip
