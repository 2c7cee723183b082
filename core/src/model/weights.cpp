// WeightLoader (plan from the tensor table -> per-tensor build -> take by name), TensorBytes and
// Embedding (see weights.h).
#include "model/weights.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "io/quant.h"
#include "kernels/weight_cache.h"

namespace mblip {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

Status Embedding::lookup(int64_t id, float* out) const {
  if (id < 0 || id >= rows_)
    return invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(rows_));
  const uint8_t* table = store_ ? store_->own_bytes(entry_) : bytes_.data();
  if (!table) return internal_error("token embedding: its cache entry is not mapped (store not finalized?)");
  dequantize_row(type_, table + static_cast<size_t>(id) * row_bytes_, out, cols_);
  return Status::Ok();
}

// ---- TensorBytes ----------------------------------------------------------------------------

TensorBytes::TensorBytes(TensorView view, std::unique_ptr<uint8_t[]> owned)
    : view_(std::move(view)), owned_(std::move(owned)) {
  view_.data = owned_.get();
}

TensorBytes::TensorBytes(TensorBytes&& o) noexcept
    : view_(std::move(o.view_)),
      on_release_(std::move(o.on_release_)),
      on_release_part_(std::move(o.on_release_part_)),
      owned_(std::move(o.owned_)) {
  o.on_release_ = nullptr;
  o.on_release_part_ = nullptr;
  o.view_.data = nullptr;
}

TensorBytes& TensorBytes::operator=(TensorBytes&& o) noexcept {
  if (this != &o) {
    release();
    view_ = std::move(o.view_);
    on_release_ = std::move(o.on_release_);
    on_release_part_ = std::move(o.on_release_part_);
    owned_ = std::move(o.owned_);
    o.on_release_ = nullptr;
    o.on_release_part_ = nullptr;
    o.view_.data = nullptr;
  }
  return *this;
}

void TensorBytes::release() {
  if (on_release_) {
    auto f = std::move(on_release_);
    on_release_ = nullptr;
    f();
  }
  on_release_part_ = nullptr;
  owned_.reset();
  view_.data = nullptr;
}

// ---- WeightLoader ---------------------------------------------------------------------------

struct WeightLoader::Request {
  enum Kind { kLinear, kFloats, kEmbedding } kind;
  std::string name, bias;  // inputs (bias "" = none)
  int64_t out = 0, in = 0;  // linear view; embedding rows/cols
  bool built = false;
  std::unique_ptr<LinearKernel> kernel;
  std::vector<float> floats;
  Embedding embedding;
  bool scheduled = false;  // built, or queued for a build worker
  bool taken = false;      // handed to a tower
  LinearRows rows = LinearRows::kSome;  // kLinear: activation rows per call (LinearOptions::rows)
};


WeightLoader::WeightLoader(const GgufFile& header, const LinearOptions& opts) : header_(header), opts_(opts) {
#ifndef __EMSCRIPTEN__
  // Build workers: one per core (MBLIP_LOAD_THREADS overrides; 1 = build on the loading thread).
  max_workers_ = std::max(1u, std::thread::hardware_concurrency());
  if (const char* e = std::getenv("MBLIP_LOAD_THREADS"); e && std::atoi(e) >= 1)
    max_workers_ = static_cast<size_t>(std::atoi(e));
  if (max_workers_ <= 1) max_workers_ = 0;
#endif
}

WeightLoader::~WeightLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();  // running builds finish first (they use our members)
}

void WeightLoader::drop_inputs(const Request& r) {
  for (const std::string* in : {&r.name, &r.bias}) {  // drop inputs nothing else waits for
    if (in->empty()) continue;
    if (--remaining_uses_[*in] == 0) {
      auto it = arrived_.find(*in);
      held_bytes_ -= it->second.view().nbytes;
      arrived_.erase(it);  // releases: mmap pages dropped / stream buffer freed
    }
  }
}

void WeightLoader::worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    const size_t idx = queue_.front();
    queue_.erase(queue_.begin());
    Request& r = requests_[idx];
    TensorView w = arrived_.at(r.name).view();
    w.shape = {r.out, r.in};
    TensorView b;
    if (!r.bias.empty()) b = arrived_.at(r.bias).view();
    std::shared_ptr<PackedWeightStore> store = store_;
    LinearOptions lo = opts_;
    lo.rows = r.rows;
    lock.unlock();
    Result<std::unique_ptr<LinearKernel>> k = [&] {
      WeightStoreScope scope(store);  // the loading thread's packed-weights cache
      return make_linear(w, r.bias.empty() ? nullptr : &b, lo);
    }();
    lock.lock();
    if (k.ok()) {
      r.kernel = std::move(k).value();
      r.built = true;
    } else if (build_error_.ok()) {
      build_error_ = k.status();
    }
    drop_inputs(r);
    --in_flight_;
    cv_.notify_all();
  }
}

void WeightLoader::submit_linear(size_t idx) {
  if (workers_.empty())
    for (size_t i = 0; i < max_workers_; ++i) workers_.emplace_back([this] { worker(); });
  store_ = WeightStoreScope::current();
  queue_.push_back(idx);
  ++in_flight_;
  cv_.notify_all();
}

Status WeightLoader::wait_builds() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return in_flight_ == 0; });
  return build_error_;
}

Result<const GgufTensorInfo*> WeightLoader::find(const std::string& name, const std::vector<int64_t>* shape) const {
  const GgufTensorInfo* t = header_.tensor(name);
  if (!t) return model_load_error("tensor '" + name + "' is missing from the model file");
  if (shape && t->view.shape != *shape)
    return model_load_error("tensor '" + name + "' has shape " + shape_str(t->view.shape) + ", expected " +
                            shape_str(*shape));
  return t;
}

void WeightLoader::add_request(Request r) {
  index_[{static_cast<int>(r.kind), r.name}] = requests_.size();
  users_[r.name].push_back(requests_.size());
  if (!r.bias.empty()) users_[r.bias].push_back(requests_.size());
  requests_.push_back(std::move(r));
}

Status WeightLoader::plan(const std::vector<ExpectedTensor>& table) {
  if (phase_ != Phase::kPlan || !requests_.empty()) return internal_error("model weights planned twice");
  for (const ExpectedTensor& e : table) {
    switch (e.role) {
      case TensorRole::kLinear:
      case TensorRole::kConv:
        MBLIP_RETURN_IF_ERROR(plan_linear(e.name, e.bias, e.shape, e.rows));
        break;
      case TensorRole::kBias: break;  // read by its linear
      case TensorRole::kNorm:
      case TensorRole::kFloats: MBLIP_RETURN_IF_ERROR(plan_floats(e.name, e.shape)); break;
      case TensorRole::kEmbedding:
        MBLIP_RETURN_IF_ERROR(plan_embedding(e.name, e.shape));
        if (e.also_linear) MBLIP_RETURN_IF_ERROR(plan_linear(e.name, "", e.shape, e.rows));  // tied lm_head
        break;
    }
  }
  return Status::Ok();
}

// A linear weight {out, ...} read as {out, in} (the patch conv: in = C * p * p) with an f32 bias {out}.
Status WeightLoader::plan_linear(const std::string& wn, const std::string& bn, const std::vector<int64_t>& shape,
                                 LinearRows rows) {
  if (shape.size() < 2) return internal_error("linear '" + wn + "' is declared with rank " + std::to_string(shape.size()));
  const int64_t out = shape[0];
  int64_t in = 1;
  for (size_t i = 1; i < shape.size(); ++i) in *= shape[i];
  MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* w, find(wn, nullptr));
  const TensorView& view = w->view;
  int64_t rest = 1;
  for (size_t i = 1; i < view.shape.size(); ++i) rest *= view.shape[i];
  if (view.shape.size() < 2 || view.shape[0] != out || rest != in)
    return model_load_error("tensor '" + wn + "' has shape " + shape_str(view.shape) + ", expected (" +
                            std::to_string(out) + ", " + std::to_string(in) + ")");
  if (!bn.empty()) {
    const std::vector<int64_t> bs = {out};
    MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* b, find(bn, &bs));
    if (b->view.type != DType::F32) return model_load_error("bias '" + bn + "' must be f32");
    largest_tensor_ = std::max<uint64_t>(largest_tensor_, b->view.nbytes);
  }
  LinearOptions lo = opts_;
  lo.rows = rows;
  planned_bytes_ += estimate_linear_bytes(view.type, out, in, !bn.empty(), lo);
  largest_tensor_ = std::max<uint64_t>(largest_tensor_, view.nbytes);
  Request r{Request::kLinear, wn, bn, out, in, false, nullptr, {}, {}};
  r.rows = rows;
  add_request(std::move(r));
  return Status::Ok();
}

Status WeightLoader::plan_floats(const std::string& name, const std::vector<int64_t>& shape) {
  MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, &shape));
  const TensorView& v = t->view;
  if (v.type != DType::F32 && v.type != DType::F16)
    return model_load_error("tensor '" + name + "' must be f32 or f16, not " + dtype_name(v.type));
  MBLIP_ASSIGN_OR_RETURN(size_t nb, dtype_bytes(v.type, v.numel()));
  if (v.nbytes != nb) return model_load_error("tensor '" + name + "' has a wrong byte size");
  planned_bytes_ += 4 * static_cast<uint64_t>(v.numel());
  largest_tensor_ = std::max<uint64_t>(largest_tensor_, v.nbytes);
  add_request(Request{Request::kFloats, name, "", 0, 0, false, nullptr, {}, {}});
  return Status::Ok();
}

Status WeightLoader::plan_embedding(const std::string& name, const std::vector<int64_t>& shape) {
  if (shape.size() != 2) return internal_error("embedding '" + name + "' is not declared as a matrix");
  const int64_t rows = shape[0], cols = shape[1];
  MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, &shape));
  const TensorView& v = t->view;
  auto rb = dtype_bytes(v.type, cols);
  if (!rb.ok()) return model_load_error("embedding '" + name + "': " + rb.status().message());
  if (v.nbytes != rb.value() * static_cast<size_t>(rows))
    return model_load_error("embedding '" + name + "' has a wrong byte size");
  planned_bytes_ += v.nbytes;
  largest_tensor_ = std::max<uint64_t>(largest_tensor_, v.nbytes);
  add_request(Request{Request::kEmbedding, name, "", rows, cols, false, nullptr, {}, {}});
  return Status::Ok();
}

// The built weight of `kind` read from tensor `name`, handed out once.
Result<WeightLoader::Request*> WeightLoader::take(int kind, const char* what, const std::string& name) {
  if (phase_ != Phase::kTake) return internal_error("weight '" + name + "' requested before the weights were built");
  auto it = index_.find({kind, name});
  if (it == index_.end())
    return internal_error(std::string("model load: ") + what + " '" + name + "' is not in the tensor table");
  Request& r = requests_[it->second];
  if (r.taken) return internal_error(std::string("model load: ") + what + " '" + name + "' was taken twice");
  if (!r.built) return internal_error("weight '" + name + "' was never built");
  r.taken = true;
  return &r;
}

Result<ops::Linear> WeightLoader::linear(const std::string& wn) {
  MBLIP_ASSIGN_OR_RETURN(Request * r, take(Request::kLinear, "linear", wn));
  return ops::Linear(std::move(r->kernel));
}

Result<std::vector<float>> WeightLoader::floats(const std::string& name) {
  MBLIP_ASSIGN_OR_RETURN(Request * r, take(Request::kFloats, "tensor", name));
  return std::move(r->floats);
}

Result<Embedding> WeightLoader::embedding(const std::string& name) {
  MBLIP_ASSIGN_OR_RETURN(Request * r, take(Request::kEmbedding, "embedding", name));
  return std::move(r->embedding);
}

Status WeightLoader::check_all_taken() const {
  for (const Request& r : requests_)
    if (!r.taken) return internal_error("model load: weight '" + r.name + "' is in the tensor table but no tower took it");
  return Status::Ok();
}

bool WeightLoader::wants(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return phase_ != Phase::kTake && users_.count(name) && !arrived_.count(name) && remaining_uses_.count(name) == 0;
}

Status WeightLoader::build(Request& r) {
  const TensorView& v = arrived_.at(r.name).view();
  switch (r.kind) {
    case Request::kLinear: {
      TensorView w = v;
      w.shape = {r.out, r.in};
      const TensorView* bias = r.bias.empty() ? nullptr : &arrived_.at(r.bias).view();
      LinearOptions lo = opts_;
      lo.rows = r.rows;
      MBLIP_ASSIGN_OR_RETURN(r.kernel, make_linear(w, bias, lo));
      break;
    }
    case Request::kFloats: {
      const int64_t n = v.numel();
      if (!v.data) return model_load_error("tensor '" + r.name + "' has no data");
      r.floats.resize(static_cast<size_t>(n));
      if (v.type == DType::F32)
        std::memcpy(r.floats.data(), v.data, v.nbytes);
      else
        dequantize_row(v.type, v.data, r.floats.data(), n);
      break;
    }
    case Request::kEmbedding: {
      MBLIP_ASSIGN_OR_RETURN(size_t rb, dtype_bytes(v.type, r.in));
      if (!v.data) return model_load_error("embedding '" + r.name + "' has no data");
      // A file cache holds the table (written once, then mapped: no copy on warm loads; 544 MB of
      // heap and about 0.5 s of a warm load for mt0-xl's q8_0 table). Memory stores (wasm) keep
      // their images to the packed weights: a copy below.
      std::shared_ptr<PackedWeightStore> store = WeightStoreScope::current();
      if (store && !store->in_memory()) {
        const std::string entry = r.name + "|embedding|" + dtype_name(v.type) + "|" + std::to_string(r.out) + "x" +
                                  std::to_string(r.in);
        size_t id = store->find_own(entry, v.nbytes);
        if (id == PackedWeightStore::kNoEntry) id = store->insert_own(entry, v.data, v.nbytes);
        if (id == PackedWeightStore::kNoEntry)
          return out_of_memory("embedding '" + r.name + "': no memory for " + std::to_string(v.nbytes) + " bytes");
        r.embedding = Embedding(v.type, r.out, r.in, std::move(store), id, rb);
        break;
      }
      // Copied in chunks, each chunk's source pages dropped once copied: a mapped file does not
      // hold the table twice at the peak (544 MB for a q8_0 mt0-xl embedding).
      const TensorBytes& src = arrived_.at(r.name);
      std::vector<uint8_t> copy(v.nbytes);
      constexpr size_t kChunk = size_t{16} << 20;
      for (size_t off = 0; off < v.nbytes; off += kChunk) {
        const size_t n = std::min(kChunk, v.nbytes - off);
        std::memcpy(copy.data() + off, v.data + off, n);
        src.release_part(off, n);
      }
      r.embedding = Embedding(v.type, r.out, r.in, std::move(copy), rb);
      break;
    }
  }
  r.built = true;
  return Status::Ok();
}

Status WeightLoader::add_tensor(TensorBytes bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!build_error_.ok()) return build_error_;
  if (phase_ == Phase::kTake) return internal_error("tensor bytes arrived after the model was assembled");
  phase_ = Phase::kBuild;
  const std::string name = bytes.view().name;
  auto users = users_.find(name);
  if (users == users_.end()) return Status::Ok();  // not used by this model: released on return
  if (arrived_.count(name) || remaining_uses_.count(name))
    return model_load_error("tensor '" + name + "' was delivered twice");
  const GgufTensorInfo* info = header_.tensor(name);
  if (!info || bytes.view().nbytes != info->view.nbytes || !bytes.view().data)
    return internal_error("tensor '" + name + "' arrived with the wrong size");
  // Bounded look-ahead: at most two queued builds per worker hold raw bytes.
  if (max_workers_ > 0) cv_.wait(lock, [&] { return in_flight_ < 2 * max_workers_ || !build_error_.ok(); });
  if (!build_error_.ok()) return build_error_;
  held_bytes_ += bytes.view().nbytes;
  peak_held_ = std::max(peak_held_, held_bytes_);
  remaining_uses_[name] = users->second.size();
  arrived_.emplace(name, std::move(bytes));
  for (size_t idx : users->second) {
    Request& r = requests_[idx];
    if (r.scheduled || !arrived_.count(r.name) || (!r.bias.empty() && !arrived_.count(r.bias))) continue;
    r.scheduled = true;
    if (max_workers_ > 0 && r.kind == Request::kLinear) {
      submit_linear(idx);
      continue;
    }
    MBLIP_RETURN_IF_ERROR(build(r));
    drop_inputs(r);
  }
  return Status::Ok();
}

Status WeightLoader::finish_builds() {
  MBLIP_RETURN_IF_ERROR(wait_builds());
  std::lock_guard<std::mutex> lock(mu_);
  for (const Request& r : requests_)
    if (!r.built)
      return model_load_error("tensor '" + (arrived_.count(r.name) ? r.bias : r.name) +
                              "' never arrived (model file truncated?)");
  arrived_.clear();
  held_bytes_ = 0;
  phase_ = Phase::kTake;
  return Status::Ok();
}

}  // namespace mblip
