// Public Model: loading a GGUF file or a caller's heap buffer (wasm), model info, tokenizer
// access and session creation. The pipeline itself is in session.cpp.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

#include "api/memory_check.h"
#include "api/pipeline.h"
#include "io/gguf.h"
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
  MBLIP_ASSIGN_OR_RETURN(p.builder, MBlipModelBuilder::create(header));
  if (opts.check_available_memory) {
    LoadMemory need;
    need.file_tensor_bytes = p.weight_bytes;
    need.built_bytes = p.builder->planned_weight_bytes();
    need.raw_held_bytes = whole_file_bytes ? whole_file_bytes : p.builder->largest_tensor_bytes() + extra_raw_bytes;
    MBLIP_RETURN_IF_ERROR(check_memory_budget(need, p.builder->config()));
  }
  auto spm = header.get_bytes(kTokenizerModelKey);
  if (!spm.ok()) return spm.status().with_context("model file has no tokenizer");
  MBLIP_ASSIGN_OR_RETURN(p.tokenizer, Tokenizer::from_bytes(std::string(spm.value().begin(), spm.value().end())));
  return p;
}

Result<std::shared_ptr<Model>> finish_load(PreparedLoad& p, const LoadOptions& opts) {
  if (!p.builder) return internal_error("model load finished twice");
  MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<MBlipModel> model, p.builder->finish());
  p.builder.reset();
  auto impl = std::make_unique<Model::Impl>();
  const ModelConfig& c = model->config();
  ModelInfo& i = impl->info;
  i.architecture = c.architecture;
  i.name = c.name;
  i.text_model_type = c.text.model_type;
  i.random_weights = c.random_weights;
  i.image_size = c.vision.image_size;
  i.num_query_tokens = c.num_query_tokens;
  i.vision_hidden = c.vision.hidden_size;
  i.vision_layers = c.vision.num_layers;
  i.qformer_hidden = c.qformer.hidden_size;
  i.qformer_layers = c.qformer.num_layers;
  i.d_model = c.text.d_model;
  i.encoder_layers = c.text.num_layers;
  i.decoder_layers = c.text.num_decoder_layers;
  i.vocab_size = c.text.vocab_size;
  i.max_prompt_tokens = std::max<int64_t>(16, 512 - c.num_query_tokens);
  i.weight_bytes = p.weight_bytes;
  i.languages = mblip_languages();
  impl->model = std::move(model);
  impl->tokenizer = std::move(p.tokenizer);
  impl->threads = opts.threads;
  return std::make_shared<Model>(std::move(impl));
}

namespace {

// A whole file in memory (mmap natively, or a caller's buffer): tensors are fed in file order
// through the same builder the stream uses, each released once packed.
Result<std::shared_ptr<Model>> load_from(std::unique_ptr<ByteSource> bytes, bool resident, const LoadOptions& opts) {
  MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(std::move(bytes)));
  MBLIP_ASSIGN_OR_RETURN(PreparedLoad p, prepare_load(*file, opts, resident ? file->bytes().size() : 0, 0));
  MBLIP_RETURN_IF_ERROR(p.builder->add_file_tensors(*file));
  auto model = finish_load(p, opts);
  file.reset();
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
  auto r = load_from(std::move(bytes), /*resident=*/false, opts);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

Result<std::shared_ptr<Model>> Model::load_buffer(uint8_t* malloc_buffer, size_t size, const LoadOptions& opts) {
  if (malloc_buffer == nullptr || size == 0) {
    if (malloc_buffer) std::free(malloc_buffer);
    return invalid_argument("model buffer is empty");
  }
  return load_from(adopt_malloc_buffer(malloc_buffer, size), /*resident=*/true, opts);
}

const ModelInfo& Model::info() const { return impl_->info; }

Result<std::vector<int32_t>> Model::tokenize(const std::string& text, bool add_eos) const {
  if (add_eos) return impl_->tokenizer->encode_prompt(text);
  return impl_->tokenizer->encode_ids(text);
}

Result<std::vector<std::string>> Model::token_pieces(const std::vector<int32_t>& ids) const {
  std::vector<std::string> out;
  const int32_t n = impl_->tokenizer->vocab_size();
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0 || ids[k] >= n)
      return invalid_argument("token id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                              " is outside the vocabulary (0.." + std::to_string(n - 1) + ")");
    out.push_back(impl_->tokenizer->id_to_piece(ids[k]));
  }
  return out;
}

Result<std::string> Model::detokenize(const std::vector<int32_t>& ids) const {
  return impl_->tokenizer->decode(ids, true);
}

Result<std::unique_ptr<Session>> Model::new_session() const {
  auto impl = std::make_unique<Session::Impl>(shared_from_this(), impl_->threads);
  return std::make_unique<Session>(std::move(impl));
}

}  // namespace mblip
