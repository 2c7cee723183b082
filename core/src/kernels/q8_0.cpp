// Q8_0 linear kernel: weight packing (block scales kept), the dispatch table of per-ISA GEMM
// functions, and the LinearKernel that quantizes activations per block of 32 (quantize_acts_q8,
// shared with the Q4_0 kernel) and threads the GEMM over output channels.
#include "kernels/q8_0.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/thread_pool.h"

namespace mblip {
namespace {

constexpr size_t kRowsPerTask = 32;  // output channels per parallel task

bool cpu_has_avx2_fma_f16c() {
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

class Q8Linear final : public LinearKernel {
 public:
  Q8Linear(Q8Packed w, std::vector<float> bias, const Q8Variant& v) : w_(std::move(w)), b_(std::move(bias)), v_(v) {
    out_ = static_cast<int64_t>(w_.n);
    in_ = static_cast<int64_t>(w_.k);
  }

  // Mirrors nn.Linear.forward (torch.nn.functional.linear) with Q8_0 weights.
  Status forward(const float* x, size_t m, float* y, ThreadPool& pool) const override {
    if (m == 0) return Status::Ok();
    // Per calling thread, reused (see Q4Linear::forward): no allocation per steady-state call.
    thread_local Q8Acts acts;
    Q8Acts& a = acts;
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

  std::string describe() const override { return std::string("own q8_0 ") + v_.name + " (q8 blocks of 32)"; }
  size_t memory_bytes() const override {
    return w_.qs.size() + w_.d.size() * sizeof(uint16_t) + b_.size() * sizeof(float);
  }

 private:
  Q8Packed w_;
  std::vector<float> b_;
  Q8Variant v_;
};

}  // namespace

const std::vector<Q8Variant>& q8_0_variants() {
  static const std::vector<Q8Variant> table = [] {
    std::vector<Q8Variant> v{{"ref", &q8_0_gemm_ref}};
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
    if (cpu_has_avx2_fma_f16c()) v.push_back({"avx2", &q8_0_gemm_avx2});
#endif
#if defined(__aarch64__)
    v.push_back({"neon", &q8_0_gemm_neon});
#endif
#if defined(__EMSCRIPTEN__)
    v.push_back({"wasm_simd128", &q8_0_gemm_wasm_simd128});
#endif
    return v;
  }();
  return table;
}

Result<Q8Packed> pack_q8_0(const TensorView& weight) {
  if (weight.type != DType::Q8_0 || weight.shape.size() != 2 || weight.dim(0) <= 0 || weight.dim(1) <= 0)
    return model_load_error("linear weight '" + weight.name + "' must be a non-empty 2-D q8_0 tensor");
  Q8Packed p;
  p.n = static_cast<size_t>(weight.dim(0));
  p.k = static_cast<size_t>(weight.dim(1));
  if (p.k % kQ4Block != 0)
    return model_load_error("linear weight '" + weight.name + "': q8_0 rows must be a multiple of 32 elements, got " +
                            std::to_string(p.k));
  p.nb = p.k / kQ4Block;
  p.nbp = (p.nb + kQ4BlockGroup - 1) / kQ4BlockGroup * kQ4BlockGroup;
  constexpr size_t kBlockBytes = 2 + kQ4Block;
  const size_t row_bytes = p.nb * kBlockBytes;
  if (!weight.data || weight.nbytes != row_bytes * p.n)
    return model_load_error("linear weight '" + weight.name + "' has " + std::to_string(weight.nbytes) +
                            " bytes, expected " + std::to_string(row_bytes * p.n));
  p.qs.assign(p.n * p.nbp * kQ4Block, 0);
  p.d.assign(p.n * p.nbp, 0);
  for (size_t r = 0; r < p.n; ++r) {
    for (size_t b = 0; b < p.nb; ++b) {
      const uint8_t* src = weight.data + r * row_bytes + b * kBlockBytes;
      const uint16_t d = static_cast<uint16_t>(src[0] | (src[1] << 8));
      if ((d & 0x7c00u) == 0x7c00u)
        return model_load_error("linear weight '" + weight.name + "': row " + std::to_string(r) + " block " +
                                std::to_string(b) + " has a non-finite scale");
      p.d[r * p.nbp + b] = d;
      std::memcpy(p.qs.data() + (r * p.nbp + b) * kQ4Block, src + 2, kQ4Block);
    }
  }
  return p;
}

Result<std::unique_ptr<LinearKernel>> make_linear_q8_0(const TensorView& weight, const TensorView* bias,
                                                       const Q8Variant* variant) {
  MBLIP_ASSIGN_OR_RETURN(Q8Packed p, pack_q8_0(weight));
  std::vector<float> b;
  if (bias) {
    if (bias->type != DType::F32 || bias->numel() != weight.dim(0) || !bias->data ||
        bias->nbytes != p.n * sizeof(float))
      return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(p.n) + " elements");
    b.resize(p.n);
    std::memcpy(b.data(), bias->data, p.n * sizeof(float));
  }
  const Q8Variant& v = variant ? *variant : q8_0_variants().back();
  return std::unique_ptr<LinearKernel>(new Q8Linear(std::move(p), std::move(b), v));
}

}  // namespace mblip
