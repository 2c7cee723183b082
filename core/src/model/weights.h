// Weight lookup for the model towers: finds GGUF tensors by name (tensor_names.h), checks
// shapes against the config, builds LinearKernels / f32 vectors and releases file bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "kernels/linear.h"
#include "mblip/status.h"
#include "ops/ops.h"

namespace mblip {

// A token-embedding table kept in its stored type; rows are dequantized on lookup.
class Embedding {
 public:
  Embedding() = default;
  Embedding(DType type, int64_t rows, int64_t cols, std::vector<uint8_t> bytes, size_t row_bytes)
      : type_(type), rows_(rows), cols_(cols), bytes_(std::move(bytes)), row_bytes_(row_bytes) {}
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Writes row `id` (cols floats) to out; error when id is out of range.
  Status lookup(int64_t id, float* out) const;

 private:
  DType type_ = DType::F32;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<uint8_t> bytes_;
  size_t row_bytes_ = 0;
};

class WeightLoader {
 public:
  WeightLoader(GgufFile& file, const LinearOptions& opts) : file_(file), opts_(opts) {}

  // Linear weight {out, in} (any stored type; higher-rank weights such as the patch conv are
  // viewed as {shape[0], rest}) and optional f32 bias {out} (bias_name "" = none).
  // The tensors' file bytes are released afterwards unless `keep` (another user follows).
  Result<ops::Linear> linear(const std::string& weight_name, const std::string& bias_name, int64_t out, int64_t in,
                             bool keep = false);
  // A float vector of the given shape (f32 or f16 stored).
  Result<std::vector<float>> floats(const std::string& name, const std::vector<int64_t>& shape);
  Result<Embedding> embedding(const std::string& name, int64_t rows, int64_t cols, bool keep = false);
  // Releases the bytes of a tensor (after every use of it is built).
  void release(const std::string& name);
  bool has(const std::string& name) const { return file_.tensor(name) != nullptr; }

 private:
  Result<const GgufTensorInfo*> find(const std::string& name, const std::vector<int64_t>* shape) const;
  GgufFile& file_;
  LinearOptions opts_;
};

std::string shape_str(const std::vector<int64_t>& s);

}  // namespace mblip
