// Weights for the model towers, built one tensor at a time: the towers' load functions run twice
// against a WeightLoader, first to plan (check names/shapes/types against the GGUF tensor infos
// and record each request), then, after every tensor's bytes went through add_tensor(), to collect.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
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

// The bytes of one tensor handed to the weights layer (view.data). They stay valid until
// release() or destruction, which runs the owner's release hook (mmap: drop the pages; stream:
// free the buffer). Move-only.
class TensorBytes {
 public:
  TensorBytes(TensorView view, std::function<void()> on_release)
      : view_(std::move(view)), on_release_(std::move(on_release)) {}
  // Owns a buffer of view.nbytes bytes allocated with new uint8_t[] (streaming).
  TensorBytes(TensorView view, std::unique_ptr<uint8_t[]> owned);
  TensorBytes(TensorBytes&& o) noexcept;
  TensorBytes& operator=(TensorBytes&& o) noexcept;
  TensorBytes(const TensorBytes&) = delete;
  TensorBytes& operator=(const TensorBytes&) = delete;
  ~TensorBytes() { release(); }
  const TensorView& view() const { return view_; }
  void release();

 private:
  TensorView view_;
  std::function<void()> on_release_;
  std::unique_ptr<uint8_t[]> owned_;
};

class PackedWeightStore;

class WeightLoader {
 public:
  // Starts in the planning phase against the header's tensor infos (no tensor bytes needed).
  WeightLoader(const GgufFile& header, const LinearOptions& opts);
  ~WeightLoader();

  // --- the towers' interface (both phases) ---
  // Linear weight {out, in} (any stored type; higher-rank weights such as the patch conv are
  // viewed as {shape[0], rest}) and optional f32 bias {out} (bias_name "" = none).
  // Planning: checks and records, returns an empty Linear. Collecting: the built kernel.
  Result<ops::Linear> linear(const std::string& weight_name, const std::string& bias_name, int64_t out, int64_t in);
  // A float vector of the given shape (f32 or f16 stored). Planning returns an empty vector.
  Result<std::vector<float>> floats(const std::string& name, const std::vector<int64_t>& shape);
  Result<Embedding> embedding(const std::string& name, int64_t rows, int64_t cols);
  bool has(const std::string& name) const { return header_.tensor(name) != nullptr; }

  // --- between the two phases: tensor bytes, in any order (file order keeps memory low) ---
  // True when a recorded request reads this tensor (others need not be read at all).
  bool wants(const std::string& name) const;
  // Builds every request whose inputs have all arrived (kernels pack, vectors copy) and releases
  // each tensor's bytes as soon as nothing else needs them. A weight whose bias comes later in
  // the file is held until the bias arrives.
  Status add_tensor(TensorBytes bytes);
  // Ends the build: every request must be complete. The towers' load functions then run again
  // and receive the built weights, in the order they were requested.
  Status start_collecting();

  // Estimated bytes of everything built (packed kernels, float vectors, embeddings).
  uint64_t planned_bytes() const { return planned_bytes_; }
  // Largest single tensor a request reads (raw bytes held while it is built).
  uint64_t largest_tensor_bytes() const { return largest_tensor_; }
  // Raw tensor bytes currently held by add_tensor and the most ever held at once.
  uint64_t held_bytes() const { return held_bytes_; }
  uint64_t peak_held_bytes() const { return peak_held_; }

 private:
  struct Request;
  enum class Phase { kPlan, kBuild, kCollect };
  Result<const GgufTensorInfo*> find(const std::string& name, const std::vector<int64_t>* shape) const;
  Status build(Request& r);
  Result<Request*> next(const char* kind, const std::string& name);
  // Linear kernels are built on worker threads natively (packing is the load's CPU work);
  // the inputs' bytes are released when their last build finishes. Callers hold mu_.
  void drop_inputs(const Request& r);
  void submit_linear(size_t idx);
  Status wait_builds();
  void worker();

  const GgufFile& header_;
  LinearOptions opts_;
  Phase phase_ = Phase::kPlan;
  std::vector<Request> requests_;
  std::map<std::string, std::vector<size_t>> users_;  // tensor name -> requests reading it
  std::map<std::string, TensorBytes> arrived_;        // tensors still needed by a pending request
  std::map<std::string, size_t> remaining_uses_;
  size_t collect_next_ = 0;
  uint64_t planned_bytes_ = 0, largest_tensor_ = 0, held_bytes_ = 0, peak_held_ = 0;
  // Worker threads for linear builds (none in wasm or with MBLIP_LOAD_THREADS=1).
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  std::vector<size_t> queue_;
  size_t in_flight_ = 0, max_workers_ = 0;
  std::shared_ptr<PackedWeightStore> store_;  // the cache the queued builds pack into
  bool stop_ = false;
  Status build_error_ = Status::Ok();
};

std::string shape_str(const std::vector<int64_t>& s);

}  // namespace mblip
