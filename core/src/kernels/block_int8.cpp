// Shared part of the Q4_0 / Q8_0 kernels: the activation quantizer, weight packing, and the
// LinearKernel that quantizes the activations once and threads a variant's GEMM over output channels.
#include "kernels/block_int8.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/thread_pool.h"

namespace mblip {
namespace {

constexpr size_t kRowsPerTask = 32;  // output channels per parallel task

// Round half to even for |v| < 2^22 without libm: adding 1.5 * 2^23 forces rounding at the
// integer position in IEEE float arithmetic (same result on every target; vectorizable).
// Correct only without -ffast-math (the build never uses it: CMake sets no such flag).
inline float round_even(float v) {
  const float magic = 12582912.0f;
  const float t = v + magic;
  return t - magic;
}

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
    // block-int8 kernel it runs); quantize_acts_q8's assign() keeps the capacity, so steady-state
    // calls (every decode step) do not allocate.
    auto* st = static_cast<ActsState*>(pool.find_state(&kActsKey));
    if (!st) st = static_cast<ActsState*>(pool.put_state(&kActsKey, std::make_unique<ActsState>()));
    Q8Acts& a = st->acts;
    quantize_acts_q8(x, m, w_.k, w_.nbp, a);
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

void quantize_acts_q8(const float* x, size_t m, size_t k, size_t nbp, Q8Acts& out) {
  out.m = m;
  out.nbp = nbp;
  out.q.assign(m * nbp * kQ4Block, 0);
  out.d.assign(m * nbp, 0.f);
  out.s.assign(m * nbp, 0);
  const size_t nb = k / kQ4Block;
  for (size_t i = 0; i < m; ++i) {
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = x + i * k + b * kQ4Block;
      float amax = 0.f;
      for (size_t j = 0; j < kQ4Block; ++j) amax = std::max(amax, std::fabs(xb[j]));
      const float d = amax / 127.f;
      const float id = d > 0.f ? 1.f / d : 0.f;
      int8_t* q = out.q.data() + (i * nbp + b) * kQ4Block;
      int32_t sum = 0;
      for (size_t j = 0; j < kQ4Block; ++j) {
        const float r = std::min(127.f, std::max(-127.f, round_even(xb[j] * id)));
        q[j] = static_cast<int8_t>(r);
        sum += q[j];
      }
      out.d[i * nbp + b] = d;
      out.s[i * nbp + b] = sum;
    }
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
