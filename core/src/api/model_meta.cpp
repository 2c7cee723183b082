// Model metadata helpers (model_meta.h) and ModelFile, the metadata-only open of a model file.
#include "api/model_meta.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "io/gguf.h"
#include "model/config.h"
#include "model/tensor_names.h"
#include "tokenizer/tokenizer.h"

namespace mblip {

ModelInfo model_info_from(const ModelConfig& c, uint64_t weight_bytes) {
  ModelInfo i;
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
  // T5 has no hard limit; 512 tokens in all (queries + prompt) is what mBLIP was trained with.
  i.max_prompt_tokens = std::max<int64_t>(16, 512 - c.num_query_tokens);
  i.weight_bytes = weight_bytes;
  i.languages = mblip_languages();
  return i;
}

Result<std::vector<int32_t>> tokenize_with(const Tokenizer& t, const std::string& text, bool add_eos) {
  if (add_eos) return t.encode_prompt(text);
  return t.encode_ids(text);
}

Result<std::vector<std::string>> pieces_with(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  const int32_t n = t.vocab_size();
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0 || ids[k] >= n)
      return invalid_argument("token id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                              " is outside the vocabulary (0.." + std::to_string(n - 1) + ")");
    out.push_back(t.id_to_piece(ids[k]));
  }
  return out;
}

Result<PixelValues> preprocess_bytes(const ModelConfig& c, const uint8_t* bytes, size_t size,
                                     const DecodeOptions& opts) {
  if (bytes == nullptr || size == 0) return image_decode_error("image is empty (0 bytes)");
  ImageDecodeOptions d;
  d.apply_exif_orientation = opts.apply_exif;
  d.max_pixels = opts.max_pixels;
  MBLIP_ASSIGN_OR_RETURN(RgbImage rgb, decode_image(bytes, size, d));
  PixelValues pv;
  MBLIP_ASSIGN_OR_RETURN(pv.data, preprocess_image(rgb, c.preprocess));
  pv.height = c.preprocess.height;
  pv.width = c.preprocess.width;
  return pv;
}

std::string config_json(const ModelConfig& c) {
  nlohmann::ordered_json o;
  o["vision"] = {{"hidden_size", c.vision.hidden_size}, {"intermediate_size", c.vision.intermediate_size},
                 {"num_layers", c.vision.num_layers}, {"num_heads", c.vision.num_heads},
                 {"image_size", c.vision.image_size}, {"patch_size", c.vision.patch_size},
                 {"layer_norm_eps", c.vision.layer_norm_eps}};
  o["qformer"] = {{"hidden_size", c.qformer.hidden_size}, {"intermediate_size", c.qformer.intermediate_size},
                  {"num_layers", c.qformer.num_layers}, {"num_heads", c.qformer.num_heads},
                  {"cross_attention_frequency", c.qformer.cross_attention_frequency},
                  {"layer_norm_eps", c.qformer.layer_norm_eps}};
  o["num_query_tokens"] = c.num_query_tokens;
  o["text"] = {{"model_type", c.text.model_type}, {"vocab_size", c.text.vocab_size}, {"d_model", c.text.d_model},
               {"d_kv", c.text.d_kv}, {"d_ff", c.text.d_ff}, {"num_heads", c.text.num_heads},
               {"num_layers", c.text.num_layers}, {"num_decoder_layers", c.text.num_decoder_layers},
               {"relative_attention_num_buckets", c.text.relative_attention_num_buckets},
               {"relative_attention_max_distance", c.text.relative_attention_max_distance},
               {"gated", c.text.gated}, {"dense_act", c.text.dense_act},
               {"tie_word_embeddings", c.text.tie_word_embeddings}};
  o["image"] = {{"height", c.preprocess.height}, {"width", c.preprocess.width},
                {"mean", c.preprocess.mean}, {"std", c.preprocess.std}};
  return o.dump();
}

// ---- ModelFile ------------------------------------------------------------------------------

struct ModelFile::Impl {
  std::unique_ptr<GgufFile> file;      // null for open_tokenizer
  ModelConfig config;
  std::unique_ptr<Tokenizer> tokenizer;
  ModelInfo info;
  std::vector<TensorEntry> tensors;
};

ModelFile::ModelFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelFile::~ModelFile() = default;

Result<std::unique_ptr<ModelFile>> ModelFile::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  auto file = GgufFile::open_path(path);
  if (!file.ok()) return file.status().with_context(path);
  impl->file = std::move(file).value();
  auto cfg = read_config(*impl->file);
  if (!cfg.ok()) return cfg.status().with_context(path);
  impl->config = std::move(cfg).value();
  auto spm = impl->file->get_bytes(kTokenizerModelKey);
  if (!spm.ok()) return spm.status().with_context(path + ": model file has no tokenizer");
  MBLIP_ASSIGN_OR_RETURN(impl->tokenizer, Tokenizer::from_bytes(std::string(spm.value().begin(), spm.value().end())));
  const std::vector<ExpectedTensor> expected = expected_tensors(impl->config);
  std::map<std::string, const ExpectedTensor*> declared;
  for (const ExpectedTensor& x : expected) declared[x.name] = &x;
  uint64_t bytes = 0;
  for (const GgufTensorInfo& t : impl->file->tensors()) {
    TensorEntry e;
    e.name = t.view.name;
    e.hf_name = hf_name_for(t.view.name);
    e.type = dtype_name(t.view.type);
    e.component = component_name(component_of(t.view.name));
    const auto d = declared.find(e.name);  // its declaration for this config (tied head or not)
    if (d != declared.end()) {
      e.per_step = read_per_step(*d->second);
      e.linear = is_linear_weight(*d->second);
      if (e.linear) e.rows = rows_name(d->second->rows);
    }
    e.shape = t.view.shape;
    e.bytes = t.view.nbytes;
    bytes += e.bytes;
    impl->tensors.push_back(std::move(e));
  }
  impl->info = model_info_from(impl->config, bytes);
  return std::make_unique<ModelFile>(std::move(impl));
}

Result<std::unique_ptr<ModelFile>> ModelFile::open_tokenizer(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) return io_error("cannot read '" + path + "'");
  auto impl = std::make_unique<Impl>();
  auto tok = Tokenizer::from_bytes(ss.str());
  if (!tok.ok()) return tok.status().with_context(path);
  impl->tokenizer = std::move(tok).value();
  return std::make_unique<ModelFile>(std::move(impl));
}

const ModelInfo& ModelFile::info() const { return impl_->info; }
uint32_t ModelFile::gguf_version() const { return impl_->file ? impl_->file->version() : 0; }
std::string ModelFile::config_json() const { return impl_->file ? mblip::config_json(impl_->config) : "{}"; }
const std::vector<TensorEntry>& ModelFile::tensors() const { return impl_->tensors; }

Result<std::vector<int32_t>> ModelFile::tokenize(const std::string& text, bool add_eos) const {
  return tokenize_with(*impl_->tokenizer, text, add_eos);
}
Result<std::vector<std::string>> ModelFile::token_pieces(const std::vector<int32_t>& ids) const {
  return pieces_with(*impl_->tokenizer, ids);
}
Result<std::string> ModelFile::detokenize(const std::vector<int32_t>& ids) const {
  return impl_->tokenizer->decode(ids, true);
}
Result<PixelValues> ModelFile::preprocess(const uint8_t* bytes, size_t size, const DecodeOptions& opts) const {
  if (!impl_->file) return invalid_argument("opened as a tokenizer only: no image settings");
  return preprocess_bytes(impl_->config, bytes, size, opts);
}

}  // namespace mblip
