// Scalar reference linear kernel for every weight type (f32, f16, q8_0, q4_0): the weight bytes
// are copied as stored and dequantized one row at a time during forward; accumulation in float.
// This is the ground truth the fast kernels are tested against.
#include <algorithm>
#include <cstring>
#include <vector>

#include "io/quant.h"
#include "kernels/linear_impl.h"
#include "kernels/thread_pool.h"

namespace mblip {
namespace {

constexpr size_t kRowsPerTask = 32;  // output rows per parallel task (a multiple of 4)

// 8 partial sums: deterministic, and vectorizable without -ffast-math.
inline float dot(const float* a, const float* b, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Four dot products of x against four weight rows at once (x is read once per block).
inline void dot4(const float* x, const float* w0, const float* w1, const float* w2, const float* w3,
                 size_t n, float* out) {
  float a0[4] = {0, 0, 0, 0}, a1[4] = {0, 0, 0, 0}, a2[4] = {0, 0, 0, 0}, a3[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (size_t l = 0; l < 4; ++l) {
      const float xv = x[i + l];
      a0[l] += xv * w0[i + l];
      a1[l] += xv * w1[i + l];
      a2[l] += xv * w2[i + l];
      a3[l] += xv * w3[i + l];
    }
  }
  float s0 = (a0[0] + a0[2]) + (a0[1] + a0[3]);
  float s1 = (a1[0] + a1[2]) + (a1[1] + a1[3]);
  float s2 = (a2[0] + a2[2]) + (a2[1] + a2[3]);
  float s3 = (a3[0] + a3[2]) + (a3[1] + a3[3]);
  for (; i < n; ++i) {
    s0 += x[i] * w0[i];
    s1 += x[i] * w1[i];
    s2 += x[i] * w2[i];
    s3 += x[i] * w3[i];
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

class ReferenceLinear final : public LinearKernel {
 public:
  ReferenceLinear(DType type, int64_t out, int64_t in, std::vector<uint8_t> w, std::vector<float> b, size_t row_bytes)
      : type_(type), w_(std::move(w)), b_(std::move(b)), row_bytes_(row_bytes) {
    out_ = out;
    in_ = in;
  }

  Status forward(const float* x, size_t m, float* y, ThreadPool& pool) const override {
    const size_t n_out = static_cast<size_t>(out_), k = static_cast<size_t>(in_);
    const size_t tasks = (n_out + kRowsPerTask - 1) / kRowsPerTask;
    auto run = [&](size_t t) {
      const size_t r0 = t * kRowsPerTask, r1 = std::min(n_out, r0 + kRowsPerTask);
      if (type_ == DType::F32) {
        forward_f32(x, m, y, r0, r1);
      } else {
        std::vector<float> row(k);  // one dequantized weight row, reused across the chunk
        for (size_t r = r0; r < r1; ++r) {
          dequantize_row(type_, w_.data() + r * row_bytes_, row.data(), in_);
          for (size_t i = 0; i < m; ++i) y[i * n_out + r] = dot(x + i * k, row.data(), k) + bias(r);
        }
      }
    };
    if (tasks <= 1) {
      for (size_t t = 0; t < tasks; ++t) run(t);
    } else {
      pool.parallel_for(tasks, run);
    }
    return Status::Ok();
  }

  std::string describe() const override { return std::string("ref ") + dtype_name(type_); }
  size_t memory_bytes() const override { return w_.size() + b_.size() * sizeof(float); }

 private:
  float bias(size_t r) const { return b_.empty() ? 0.0f : b_[r]; }

  void forward_f32(const float* x, size_t m, float* y, size_t r0, size_t r1) const {
    const size_t n_out = static_cast<size_t>(out_), k = static_cast<size_t>(in_);
    const float* w = reinterpret_cast<const float*>(w_.data());
    for (size_t i = 0; i < m; ++i) {
      const float* xi = x + i * k;
      float* yi = y + i * n_out;
      size_t r = r0;
      for (; r + 4 <= r1; r += 4) {
        float s[4];
        dot4(xi, w + r * k, w + (r + 1) * k, w + (r + 2) * k, w + (r + 3) * k, k, s);
        for (size_t l = 0; l < 4; ++l) yi[r + l] = s[l] + bias(r + l);
      }
      for (; r < r1; ++r) yi[r] = dot(xi, w + r * k, k) + bias(r);
    }
  }

  DType type_;
  std::vector<uint8_t> w_;  // as stored in the file
  std::vector<float> b_;
  size_t row_bytes_;
};

}  // namespace

Result<std::unique_ptr<LinearKernel>> make_linear_reference(const TensorView& weight, const TensorView* bias) {
  if (weight.shape.size() != 2 || weight.shape[0] <= 0 || weight.shape[1] <= 0)
    return model_load_error("linear weight '" + weight.name + "' must be 2-D with positive sizes");
  const int64_t out = weight.shape[0], in = weight.shape[1];
  auto rb = dtype_bytes(weight.type, in);
  if (!rb.ok())
    return model_load_error("linear weight '" + weight.name + "': rows of " + std::to_string(in) +
                            " elements do not fit type " + dtype_name(weight.type) + ": " + rb.status().message());
  const size_t row_bytes = rb.value();
  if (!weight.data || weight.nbytes != row_bytes * static_cast<size_t>(out))
    return model_load_error("linear weight '" + weight.name + "' has " + std::to_string(weight.nbytes) +
                            " bytes, expected " + std::to_string(row_bytes * static_cast<size_t>(out)));
  std::vector<uint8_t> w(weight.data, weight.data + weight.nbytes);
  std::vector<float> b;
  if (bias) {
    if (bias->type != DType::F32 || bias->numel() != out || !bias->data || bias->nbytes != static_cast<size_t>(out) * 4)
      return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(out) + " elements");
    b.resize(static_cast<size_t>(out));
    std::memcpy(b.data(), bias->data, b.size() * sizeof(float));
  }
  return std::unique_ptr<LinearKernel>(new ReferenceLinear(weight.type, out, in, std::move(w), std::move(b), row_bytes));
}

}  // namespace mblip
