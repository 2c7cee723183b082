// Shared part of the Q4_0 / Q8_0 kernels: the activation quantizer, weight packing, and the
// LinearKernel that quantizes the activations once and threads a variant's GEMM over output channels.
#include "kernels/block_int8.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "io/quant.h"
#include "kernels/thread_pool.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace mblip {
namespace {

constexpr size_t kRowsPerTask = 32;  // output channels per parallel task

const char* type_name(DType t) { return t == DType::Q4_0 ? "q4_0" : "q8_0"; }

// A context's quantized activations, under one key for all block-int8 kernels.
struct ActsState final : KernelState {
  Q8Acts acts;
};
const char kActsKey = 0;

class BlockLinear final : public LinearKernel {
 public:
  BlockLinear(BlockPacked w, std::vector<float> bias, const BlockVariant& v)
      : w_(std::move(w)), b_(std::move(bias)), v_(v) {
    out_ = static_cast<int64_t>(w_.n);
    in_ = static_cast<int64_t>(w_.k);
  }

  // Mirrors nn.Linear.forward (torch.nn.functional.linear) with Q4_0 / Q8_0 weights.
  Status forward(const float* x, size_t m, float* y, ThreadPool& pool) const override {
    if (m == 0) return Status::Ok();
    // The quantized activations belong to the calling context (one per Session, shared by every
    // block-int8 kernel it runs); quantize_acts_q8 keeps the capacity, so steady-state
    // calls (every decode step) do not allocate.
    auto* st = static_cast<ActsState*>(pool.find_state(&kActsKey));
    if (!st) st = static_cast<ActsState*>(pool.put_state(&kActsKey, std::make_unique<ActsState>()));
    Q8Acts& a = st->acts;
    quantize_acts_q8(x, m, w_.k, w_.nbp, a, &pool);
    const size_t tasks = (w_.n + kRowsPerTask - 1) / kRowsPerTask;
    const float* bias = b_.empty() ? nullptr : b_.data();
    auto run = [&](size_t t) {
      const size_t r0 = t * kRowsPerTask, r1 = std::min(w_.n, r0 + kRowsPerTask);
      v_.fn(w_, a, r0, r1, y, w_.n, bias);
    };
    pool.parallel_for(tasks, run);
    return Status::Ok();
  }

  std::string describe() const override {
    return std::string("own ") + type_name(w_.type) + " " + v_.name + " (q8 blocks of 32)";
  }
  size_t memory_bytes() const override {
    return w_.qs.size() + w_.d.size() * sizeof(uint16_t) + b_.size() * sizeof(float);
  }

 private:
  BlockPacked w_;
  std::vector<float> b_;
  BlockVariant v_;
};

}  // namespace

bool cpu_has_avx2_fma_f16c() {
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

namespace {

// One block: q = clamp(round_half_even(x / d), +-127), d = max|x| / 127, sum of q. The scalar form
// is the definition; the SIMD128 form computes the same IEEE operations lane-wise (pmax / pmin are
// std::max / std::min, NaN handling included), so both give identical bytes.
#if defined(__wasm_simd128__)
void quantize_block(const float* xb, int8_t* q, float* d_out, int32_t* s_out) {
  v128_t mx = wasm_f32x4_splat(0.f);
  for (size_t j = 0; j < kQ4Block; j += 4) mx = wasm_f32x4_pmax(mx, wasm_f32x4_abs(wasm_v128_load(xb + j)));
  float lanes[4], amax = 0.f;
  wasm_v128_store(lanes, mx);
  for (int l = 0; l < 4; ++l) amax = std::max(amax, lanes[l]);
  const float d = amax / 127.f;
  const v128_t id = wasm_f32x4_splat(d > 0.f ? 1.f / d : 0.f), magic = wasm_f32x4_splat(12582912.0f);
  const v128_t lo = wasm_f32x4_splat(-127.f), hi = wasm_f32x4_splat(127.f);
  v128_t sum = wasm_i32x4_splat(0), iv[8];
  for (size_t j = 0; j < kQ4Block; j += 4) {
    v128_t r = wasm_f32x4_sub(wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(xb + j), id), magic), magic);
    r = wasm_f32x4_pmin(hi, wasm_f32x4_pmax(lo, r));
    iv[j / 4] = wasm_i32x4_trunc_sat_f32x4(r);
    sum = wasm_i32x4_add(sum, iv[j / 4]);
  }
  for (int h = 0; h < 2; ++h)
    wasm_v128_store(q + 16 * h, wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(iv[4 * h], iv[4 * h + 1]),
                                                        wasm_i16x8_narrow_i32x4(iv[4 * h + 2], iv[4 * h + 3])));
  *d_out = d;
  *s_out = wasm_i32x4_extract_lane(sum, 0) + wasm_i32x4_extract_lane(sum, 1) + wasm_i32x4_extract_lane(sum, 2) +
           wasm_i32x4_extract_lane(sum, 3);
}
#else
void quantize_block(const float* xb, int8_t* q, float* d_out, int32_t* s_out) {
  float amax = 0.f;
  for (size_t j = 0; j < kQ4Block; ++j) amax = std::max(amax, std::fabs(xb[j]));
  const float d = amax / 127.f;
  const float id = d > 0.f ? 1.f / d : 0.f;
  int32_t sum = 0;
  for (size_t j = 0; j < kQ4Block; ++j) {
    const float r = std::min(127.f, std::max(-127.f, round_half_even_small(xb[j] * id)));
    q[j] = static_cast<int8_t>(r);
    sum += q[j];
  }
  *d_out = d;
  *s_out = sum;
}
#endif

}  // namespace

void quantize_acts_q8(const float* x, size_t m, size_t k, size_t nbp, Q8Acts& out, ThreadPool* pool) {
  static std::atomic<uint64_t> generations{0};
  out.generation = ++generations;
  out.m = m;
  out.nbp = nbp;
  out.q.resize(m * nbp * kQ4Block);  // capacity kept between calls: steady-state calls do not allocate
  out.d.resize(m * nbp);
  out.s.resize(m * nbp);
  const size_t nb = k / kQ4Block;
  auto row = [&](size_t i) {
    const size_t o = i * nbp;
    for (size_t b = 0; b < nb; ++b)
      quantize_block(x + i * k + b * kQ4Block, out.q.data() + (o + b) * kQ4Block, &out.d[o + b], &out.s[o + b]);
    // Padding blocks: zero quants, scale and sum.
    std::memset(out.q.data() + (o + nb) * kQ4Block, 0, (nbp - nb) * kQ4Block);
    std::fill(out.d.begin() + static_cast<std::ptrdiff_t>(o + nb), out.d.begin() + static_cast<std::ptrdiff_t>(o + nbp), 0.f);
    std::fill(out.s.begin() + static_cast<std::ptrdiff_t>(o + nb), out.s.begin() + static_cast<std::ptrdiff_t>(o + nbp), 0);
  };
  // Rows in parallel when there is enough work (the vision tower: 257 rows of up to 6144).
  if (pool && pool->threads() > 1 && m > 1 && m * k >= (size_t{1} << 15)) {
    pool->parallel_for(m, row);
  } else {
    for (size_t i = 0; i < m; ++i) row(i);
  }
}

Result<BlockPacked> pack_block_weight(const TensorView& weight, DType type) {
  const std::string tn = type_name(type);
  if ((type != DType::Q4_0 && type != DType::Q8_0) || weight.type != type || weight.shape.size() != 2 ||
      weight.dim(0) <= 0 || weight.dim(1) <= 0)
    return model_load_error("linear weight '" + weight.name + "' must be a non-empty 2-D " + tn + " tensor");
  BlockPacked p;
  p.type = type;
  p.n = static_cast<size_t>(weight.dim(0));
  p.k = static_cast<size_t>(weight.dim(1));
  if (p.k % kQ4Block != 0)
    return model_load_error("linear weight '" + weight.name + "': " + tn +
                            " rows must be a multiple of 32 elements, got " + std::to_string(p.k));
  p.nb = p.k / kQ4Block;
  p.nbp = (p.nb + kQ4BlockGroup - 1) / kQ4BlockGroup * kQ4BlockGroup;
  p.block_bytes = type == DType::Q4_0 ? kQ4Block / 2 : kQ4Block;
  const size_t src_block = 2 + p.block_bytes;  // f16 d, then the quants (ggml layout)
  const size_t row_bytes = p.nb * src_block;
  if (!weight.data || weight.nbytes != row_bytes * p.n)
    return model_load_error("linear weight '" + weight.name + "' has " + std::to_string(weight.nbytes) +
                            " bytes, expected " + std::to_string(row_bytes * p.n));
  p.qs.assign(p.n * p.nbp * p.block_bytes, type == DType::Q4_0 ? 0x88 : 0);
  p.d.assign(p.n * p.nbp, 0);
  for (size_t r = 0; r < p.n; ++r) {
    for (size_t b = 0; b < p.nb; ++b) {
      const uint8_t* src = weight.data + r * row_bytes + b * src_block;
      const uint16_t d = static_cast<uint16_t>(src[0] | (src[1] << 8));
      if ((d & 0x7c00u) == 0x7c00u)
        return model_load_error("linear weight '" + weight.name + "': row " + std::to_string(r) + " block " +
                                std::to_string(b) + " has a non-finite scale");
      p.d[r * p.nbp + b] = d;
      std::memcpy(p.qs.data() + (r * p.nbp + b) * p.block_bytes, src + 2, p.block_bytes);
    }
  }
  return p;
}

Result<std::unique_ptr<LinearKernel>> make_linear_block(const TensorView& weight, const TensorView* bias,
                                                        const BlockVariant& variant) {
  MBLIP_ASSIGN_OR_RETURN(BlockPacked p, pack_block_weight(weight, variant.type));
  std::vector<float> b;
  if (bias) {
    if (bias->type != DType::F32 || bias->numel() != weight.dim(0) || !bias->data ||
        bias->nbytes != p.n * sizeof(float))
      return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(p.n) + " elements");
    b.resize(p.n);
    std::memcpy(b.data(), bias->data, p.n * sizeof(float));
  }
  return std::unique_ptr<LinearKernel>(new BlockLinear(std::move(p), std::move(b), variant));
}

}  // namespace mblip
