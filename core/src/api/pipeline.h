// Internals behind the public Model / Session (mblip/mblip.h): what a loaded model and a
// per-thread session hold. The stage order itself lives in session.cpp (the pipeline).
#pragma once
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "api/memory_check.h"
#include "image/image.h"
#include "kernels/thread_pool.h"
#include "model/activations.h"
#include "model/mblip_model.h"
#include "tokenizer/tokenizer.h"
#include "mblip/mblip.h"

namespace mblip {

struct Model::Impl {
  std::unique_ptr<MBlipModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  ModelInfo info;
  int threads = 0;
  // Generated ids the tokenizer can decode (the LM head may be padded beyond the vocabulary).
  std::vector<int32_t> decodable(const std::vector<int32_t>& ids) const;
};

// Loading, shared by Model::load_file / load_buffer and ModelStreamLoader (model.cpp): after the
// GGUF header is parsed, prepare_load checks limits and memory (before any weight is built),
// reads the tokenizer and plans every weight; the caller then feeds the tensors to the builder
// and finish_load assembles the Model. whole_file_bytes: the raw file stays resident during the
// load (a caller's heap buffer), else 0 (mmap / stream: one tensor at a time); extra_raw_bytes:
// other raw bytes held meanwhile (the stream's header buffer).
struct PreparedLoad {
  std::unique_ptr<Tokenizer> tokenizer;
  // Natively the tokenizer (a ~0.4 s trie build for mT5's 250k pieces) is built on its own thread
  // while the weights load; finish_load() collects it.
  std::future<Result<std::unique_ptr<Tokenizer>>> tokenizer_pending;
  std::unique_ptr<MBlipModelBuilder> builder;
  uint64_t weight_bytes = 0;  // tensor bytes declared by the header
};
Result<PreparedLoad> prepare_load(const GgufFile& header, const LoadOptions& opts, uint64_t whole_file_bytes,
                                  uint64_t extra_raw_bytes);
// prepare_load's planning step: plans every weight and, when `check`, checks `need` (raw bytes filled
// in by the caller; built_bytes set here) against `avail` bytes (0: unknown). A plan with weights in
// wider, faster forms (LinearOptions::widen_q4_many) that does not fit is replaced by the narrow one,
// checked again.
Result<std::unique_ptr<MBlipModelBuilder>> plan_load(const GgufFile& header, LoadMemory& need, uint64_t avail,
                                                     bool check);
Result<std::shared_ptr<Model>> finish_load(PreparedLoad& p, const LoadOptions& opts);
// Reads a file through a ModelStreamLoader (wasm, where there is no mmap: the raw file is never
// held whole in the heap).
Result<std::shared_ptr<Model>> load_file_streaming(const std::string& path, const LoadOptions& opts);

// What a Session holds: its execution context (thread pool + the kernels' per-call state:
// XNNPACK operator instances, activation-quantization scratch) and its activation buffers,
// sized from the config here; the weights are the Model's, shared read-only.
struct Session::Impl {
  std::shared_ptr<const Model> owner;  // keeps the weights alive
  const Model::Impl& m;
  ThreadPool pool;
  Activations act;
  Status act_status;  // reserve() failing (out of memory) is reported by the first stage
  Impl(std::shared_ptr<const Model> o, int threads)
      : owner(std::move(o)), m(owner->impl()), pool(threads) {
    act_status = act.reserve(m.model->config(), ActivationLimits{}, pool);
  }
};

}  // namespace mblip
