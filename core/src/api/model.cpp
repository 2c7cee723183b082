// Public Model: loading a GGUF file or a caller's heap buffer (wasm), model info, tokenizer
// access and session creation. The pipeline itself is in session.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <string>
#include <thread>

#include "api/memory_check.h"
#include "api/model_meta.h"
#include "api/pipeline.h"
#include "io/gguf.h"
#include "kernels/weight_cache.h"
#include "model/config.h"

namespace mblip {

const char* api::version() { return MBLIP_VERSION; }

std::vector<int32_t> Model::Impl::decodable(const std::vector<int32_t>& ids) const {
  std::vector<int32_t> out;
  const int32_t n = tokenizer->vocab_size();
  for (int32_t id : ids)
    if (id >= 0 && id < n) out.push_back(id);
  return out;
}

Result<PreparedLoad> prepare_load(const GgufFile& header, const LoadOptions& opts, uint64_t whole_file_bytes,
                                  uint64_t extra_raw_bytes) {
  PreparedLoad p;
  for (const GgufTensorInfo& t : header.tensors()) p.weight_bytes += t.view.nbytes;
  if (opts.max_memory_bytes != 0 && p.weight_bytes > opts.max_memory_bytes)
    return out_of_memory("the model's weights need " + std::to_string(p.weight_bytes) +
                         " bytes, more than max_memory_bytes = " + std::to_string(opts.max_memory_bytes));
  // Plans every weight (names, shapes, types checked; nothing packed or allocated yet).
  LoadMemory need;
  need.file_tensor_bytes = p.weight_bytes;
  need.raw_outlives_load = whole_file_bytes != 0;
  need.raw_held_bytes = whole_file_bytes ? whole_file_bytes : extra_raw_bytes;  // + the largest tensor: plan_load
  MBLIP_ASSIGN_OR_RETURN(p.builder, plan_load(header, need, available_memory_bytes(), opts.check_available_memory));
  auto spm = header.get_bytes(kTokenizerModelKey);
  if (!spm.ok()) return spm.status().with_context("model file has no tokenizer");
  std::string spm_bytes(spm.value().begin(), spm.value().end());
#ifndef __EMSCRIPTEN__
  p.tokenizer_pending =
      std::async(std::launch::async, [b = std::move(spm_bytes)]() { return Tokenizer::from_bytes(b); });
#else
  MBLIP_ASSIGN_OR_RETURN(p.tokenizer, Tokenizer::from_bytes(spm_bytes));
#endif
  return p;
}

Result<std::unique_ptr<MBlipModelBuilder>> plan_load(const GgufFile& header, LoadMemory& need, uint64_t avail,
                                                     bool check) {
  ModelLoadOptions mo;
  MBLIP_ASSIGN_OR_RETURN(auto builder, MBlipModelBuilder::create(header, mo));
  need.built_bytes = builder->planned_weight_bytes();
  if (!need.raw_outlives_load) need.raw_held_bytes += builder->largest_tensor_bytes();
  if (!check) return builder;
  Status fits = check_memory_budget(need, builder->config(), avail);
  if (!fits.ok()) {  // the plan without the wider forms of some weights may still fit
    mo.linear.widen_q4_many = false;
    MBLIP_ASSIGN_OR_RETURN(auto narrow, MBlipModelBuilder::create(header, mo));
    if (narrow->planned_weight_bytes() < need.built_bytes) {
      need.built_bytes = narrow->planned_weight_bytes();
      fits = check_memory_budget(need, narrow->config(), avail);
      builder = std::move(narrow);
    }
  }
  MBLIP_RETURN_IF_ERROR(fits);
  return builder;
}

Result<std::shared_ptr<Model>> finish_load(PreparedLoad& p, const LoadOptions& opts) {
  if (!p.builder) return internal_error("model load finished twice");
  // The builder goes first, success or not: its workers hold tensor bytes of the caller's file.
  Result<std::unique_ptr<MBlipModel>> built = p.builder->finish();
  p.builder.reset();
  if (p.tokenizer_pending.valid()) {
    MBLIP_ASSIGN_OR_RETURN(p.tokenizer, p.tokenizer_pending.get());
  }
  MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<MBlipModel> model, std::move(built));
  auto impl = std::make_unique<Model::Impl>();
  impl->info = model_info_from(model->config(), p.weight_bytes);
  impl->model = std::move(model);
  impl->tokenizer = std::move(p.tokenizer);
  impl->threads = opts.threads;
  return std::make_shared<Model>(std::move(impl));
}

namespace {

std::string hex_u64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// The model's identity for the packed-weights cache: its size, a hash of everything before the
// tensor data (metadata, tokenizer, tensor table) and 3 x 32 sampled bytes of every tensor (a
// re-generated model with the same header differs there). Reads a few pages, not the weights.
std::string model_identity(const GgufFile& f) {
  const ByteSource& b = f.bytes();
  uint64_t h = hash_bytes(b.data(), std::min(f.data_offset(), b.size()));
  for (const GgufTensorInfo& t : f.tensors()) {
    const uint64_t start = f.data_offset() + t.offset, n = t.view.nbytes;
    for (uint64_t at : {uint64_t{0}, n / 2, n > 32 ? n - 32 : 0}) {
      const uint64_t off = start + at, len = std::min<uint64_t>(32, n - std::min(n, at));
      if (off + len <= b.size()) h = hash_bytes(b.data() + off, static_cast<size_t>(len), h);
    }
  }
  return "model=" + hex_u64(h) + ";bytes=" + std::to_string(b.size()) + ";" + packed_cache_environment_key() +
         linear_kernel_config();
}

// The packed-weights store for a native file load, or nullptr (disabled / no folder).
std::shared_ptr<PackedWeightStore> open_weight_store(const GgufFile& f, const std::string& path,
                                                     const LoadOptions& opts) {
#if defined(MBLIP_HAVE_XNNPACK) && !defined(__EMSCRIPTEN__)
  if (!opts.weight_cache || path.empty() || !f.has_bytes()) return nullptr;
  const std::string dir = packed_cache_dir(opts.weight_cache_dir);
  if (dir.empty()) return nullptr;
  const int threads = opts.threads > 0 ? opts.threads : static_cast<int>(std::thread::hardware_concurrency());
  char* real = ::realpath(path.c_str(), nullptr);  // label shown by `mblip cache list`
  const std::string label = real ? real : path;
  std::free(real);
  return PackedWeightStore::open(packed_cache_file_for(dir, path), model_identity(f), label, threads);
#else
  (void)f, (void)path, (void)opts;
  return nullptr;
#endif
}

// A whole file in memory (mmap natively, or a caller's buffer): tensors are fed in file order
// through the same builder the stream uses, each released once packed. `path` (file loads):
// the packed-weights cache is used.
Result<std::shared_ptr<Model>> load_from(std::unique_ptr<ByteSource> bytes, bool resident, const LoadOptions& opts,
                                         const std::string& path) {
  MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(std::move(bytes)));
  MBLIP_ASSIGN_OR_RETURN(PreparedLoad p, prepare_load(*file, opts, resident ? file->bytes().size() : 0, 0));
  std::shared_ptr<PackedWeightStore> store = open_weight_store(*file, path, opts);
  {
    WeightStoreScope scope(store);
    MBLIP_RETURN_IF_ERROR(p.builder->add_file_tensors(*file, opts.on_progress));
  }
  auto model = finish_load(p, opts);  // waits for the build workers; runs no operator
  if (store && model.ok()) MBLIP_RETURN_IF_ERROR(store->finalize());  // before any operator runs
  store.reset();  // the kernels hold it
  file.reset();
  if (opts.on_progress) opts.on_progress(1.0);
  return model;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::load_file(const std::string& path, const LoadOptions& opts) {
#ifdef __EMSCRIPTEN__
  {
    auto r = load_file_streaming(path, opts);
    if (!r.ok()) return r.status().with_context(path);
    return r;
  }
#endif
  MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> bytes, map_file(path));
  auto r = load_from(std::move(bytes), /*resident=*/false, opts, path);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

Result<std::shared_ptr<Model>> Model::load_buffer(uint8_t* malloc_buffer, size_t size, const LoadOptions& opts) {
  if (malloc_buffer == nullptr || size == 0) {
    if (malloc_buffer) std::free(malloc_buffer);
    return invalid_argument("model buffer is empty");
  }
  return load_from(adopt_malloc_buffer(malloc_buffer, size), /*resident=*/true, opts, "");
}

const ModelInfo& Model::info() const { return impl_->info; }

Result<std::vector<int32_t>> Model::tokenize(const std::string& text, bool add_eos) const {
  return tokenize_with(*impl_->tokenizer, text, add_eos);
}

Result<std::vector<std::string>> Model::token_pieces(const std::vector<int32_t>& ids) const {
  return pieces_with(*impl_->tokenizer, ids);
}

Result<std::string> Model::detokenize(const std::vector<int32_t>& ids) const {
  return impl_->tokenizer->decode(ids, true);
}

Result<std::unique_ptr<Session>> Model::new_session() const {
  auto impl = std::make_unique<Session::Impl>(shared_from_this(), impl_->threads);
  return std::make_unique<Session>(std::move(impl));
}

}  // namespace mblip
