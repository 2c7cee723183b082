// Weights for the model towers, built one tensor at a time from the tensor table
// (model/tensor_names.h): planned against the GGUF tensor infos, built as each tensor's bytes
// arrive, then taken by name by the towers' load functions (one pass).
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
#include "model/tensor_names.h"
#include "ops/ops.h"

namespace mblip {

class PackedWeightStore;

// A token-embedding table kept in its stored type; rows are dequantized on lookup. Its bytes are a
// copy, or an entry of the packed-weights cache file (native loads: mapped, no copy; the entry's
// address is valid once the store is finalized, so it is resolved at lookup).
class Embedding {
 public:
  Embedding() = default;
  Embedding(DType type, int64_t rows, int64_t cols, std::vector<uint8_t> bytes, size_t row_bytes)
      : type_(type), rows_(rows), cols_(cols), bytes_(std::move(bytes)), row_bytes_(row_bytes) {}
  Embedding(DType type, int64_t rows, int64_t cols, std::shared_ptr<PackedWeightStore> store, size_t entry,
            size_t row_bytes)
      : type_(type), rows_(rows), cols_(cols), store_(std::move(store)), entry_(entry), row_bytes_(row_bytes) {}
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Writes row `id` (cols floats) to out; error when id is out of range.
  Status lookup(int64_t id, float* out) const;

 private:
  DType type_ = DType::F32;
  int64_t rows_ = 0, cols_ = 0;
  std::vector<uint8_t> bytes_;
  std::shared_ptr<PackedWeightStore> store_;
  size_t entry_ = 0;
  size_t row_bytes_ = 0;
};

// The bytes of one tensor handed to the weights layer (view.data). They stay valid until
// release() or destruction, which runs the owner's release hook (mmap: drop the pages; stream:
// free the buffer). Move-only.
class TensorBytes {
 public:
  TensorBytes(TensorView view, std::function<void()> on_release,
              std::function<void(size_t offset, size_t len)> on_release_part = nullptr)
      : view_(std::move(view)), on_release_(std::move(on_release)), on_release_part_(std::move(on_release_part)) {}
  // Owns a buffer of view.nbytes bytes allocated with new uint8_t[] (streaming).
  TensorBytes(TensorView view, std::unique_ptr<uint8_t[]> owned);
  TensorBytes(TensorBytes&& o) noexcept;
  TensorBytes& operator=(TensorBytes&& o) noexcept;
  TensorBytes(const TensorBytes&) = delete;
  TensorBytes& operator=(const TensorBytes&) = delete;
  ~TensorBytes() { release(); }
  const TensorView& view() const { return view_; }
  void release();
  // A memory hint for bytes [offset, offset + len) already consumed (a mapped file drops those
  // pages, which it re-reads if they are touched again); the bytes stay valid. No-op for buffers.
  void release_part(size_t offset, size_t len) const {
    if (on_release_part_) on_release_part_(offset, len);
  }

 private:
  TensorView view_;
  std::function<void()> on_release_;
  std::function<void(size_t, size_t)> on_release_part_;
  std::unique_ptr<uint8_t[]> owned_;
};

class PackedWeightStore;

// Builds every weight the tensor table declares: plan() checks each declaration against the
// header's tensor infos (no tensor bytes needed) and records a build request; add_tensor() builds
// requests as their inputs arrive (any order) and releases each input once no request needs it;
// after finish_builds() the towers take their weights by GGUF name, once each.
class WeightLoader {
 public:
  WeightLoader(const GgufFile& header, const LinearOptions& opts);
  ~WeightLoader();

  // --- 1. planning ---
  // kLinear / kConv -> a linear kernel (weight {out, rest...} viewed as {out, in}, with its f32
  // bias); kNorm / kFloats -> float vector (f32 or f16 stored); kEmbedding -> Embedding (plus a
  // linear kernel when also_linear); kBias is read by its linear.
  Status plan(const std::vector<ExpectedTensor>& table);

  // --- 2. tensor bytes, in any order (file order keeps memory low) ---
  // True when a planned request reads this tensor (others need not be read at all).
  bool wants(const std::string& name) const;
  // Builds every request whose inputs have all arrived (kernels pack, vectors copy) and releases
  // each tensor's bytes as soon as nothing else needs them. A weight whose bias comes later in
  // the file is held until the bias arrives.
  Status add_tensor(TensorBytes bytes);
  // Waits for the build workers; every request must be complete.
  Status finish_builds();

  // --- 3. the towers' interface: each built weight, by the GGUF name of its tensor ---
  Result<ops::Linear> linear(const std::string& weight_name);
  Result<std::vector<float>> floats(const std::string& name);
  Result<Embedding> embedding(const std::string& name);
  // Every built weight was taken by a tower (the towers and the table agree).
  Status check_all_taken() const;

  // Estimated bytes of everything built (packed kernels, float vectors, embeddings).
  uint64_t planned_bytes() const { return planned_bytes_; }
  // Largest single tensor a request reads (raw bytes held while it is built).
  uint64_t largest_tensor_bytes() const { return largest_tensor_; }
  // Raw tensor bytes currently held by add_tensor and the most ever held at once.
  uint64_t held_bytes() const { return held_bytes_; }
  uint64_t peak_held_bytes() const { return peak_held_; }

 private:
  struct Request;
  enum class Phase { kPlan, kBuild, kTake };
  Result<const GgufTensorInfo*> find(const std::string& name, const std::vector<int64_t>* shape) const;
  Status plan_linear(const std::string& wn, const std::string& bn, const std::vector<int64_t>& shape,
                     LinearRows rows = LinearRows::kSome);
  Status plan_floats(const std::string& name, const std::vector<int64_t>& shape);
  Status plan_embedding(const std::string& name, const std::vector<int64_t>& shape);
  void add_request(Request r);
  Status build(Request& r);
  Result<Request*> take(int kind, const char* what, const std::string& name);
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
  std::map<std::pair<int, std::string>, size_t> index_;  // (kind, name) -> request
  std::map<std::string, std::vector<size_t>> users_;  // tensor name -> requests reading it
  std::map<std::string, TensorBytes> arrived_;        // tensors still needed by a pending request
  std::map<std::string, size_t> remaining_uses_;
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
