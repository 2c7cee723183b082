// config.json / preprocessor_config.json / generation_config.json -> ModelConfig, filling in
// the transformers 4.36.2 class defaults (Blip2VisionConfig, Blip2QFormerConfig, T5Config,
// MT5Config) for keys HF's diff form leaves out.
#include "hf_config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace mblip {

namespace {

using nlohmann::json;

// Reads obj[key] as T when present and not null; type errors name the key.
template <typename T>
Status get(const json& obj, const char* key, T& out, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::Ok();
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) throw std::runtime_error("not a boolean");
    } else if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer()) throw std::runtime_error("not an integer");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) throw std::runtime_error("not a number");
    } else {
      if (!it->is_string()) throw std::runtime_error("not a string");
    }
    out = it->get<T>();
  } catch (const std::exception& e) {
    return model_load_error(where + ": key '" + key + "' has an unexpected value (" + e.what() + ")");
  }
  return Status::Ok();
}

Result<json> parse_json(const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return model_load_error(what + " is not valid JSON");
  if (!j.is_object()) return model_load_error(what + " is not a JSON object");
  return j;
}

const json& sub(const json& j, const char* key) {
  static const json kEmpty = json::object();
  auto it = j.find(key);
  return (it != j.end() && it->is_object()) ? *it : kEmpty;
}

Status positive(int64_t v, const std::string& what) {
  if (v <= 0) return model_load_error("config.json: " + what + " must be positive (got " + std::to_string(v) + ")");
  return Status::Ok();
}

}  // namespace

// Blip2Config.__init__ (configuration_blip_2.py) with its sub-configs.
Result<ModelConfig> parse_blip2_config(const std::string& text) {
  MBLIP_ASSIGN_OR_RETURN(json j, parse_json(text, "config.json"));
  const std::string W = "config.json";
  std::string model_type;
  MBLIP_RETURN_IF_ERROR(get(j, "model_type", model_type, W));
  if (model_type != "blip-2")
    return unsupported("unsupported architecture: config.json model_type is '" + model_type +
                       "' (expected 'blip-2', i.e. Blip2ForConditionalGeneration / mBLIP)");
  bool decoder_only = false;
  MBLIP_RETURN_IF_ERROR(get(j, "use_decoder_only_language_model", decoder_only, W));
  const json& tj = sub(j, "text_config");
  std::string text_type = "opt";  // Blip2Config's default text model
  MBLIP_RETURN_IF_ERROR(get(tj, "model_type", text_type, W + " text_config"));
  if (decoder_only || (text_type != "t5" && text_type != "mt5"))
    return unsupported("unsupported architecture: the language model is '" + text_type +
                       "' (only encoder-decoder t5 / mt5 language models are supported)");

  ModelConfig cfg;
  cfg.architecture = "blip2-t5";
  MBLIP_RETURN_IF_ERROR(get(j, "num_query_tokens", cfg.num_query_tokens, W));

  // Blip2VisionConfig defaults
  VisionConfig& v = cfg.vision;
  v = VisionConfig{};
  v.hidden_size = 1408; v.intermediate_size = 6144; v.num_layers = 39; v.num_heads = 16;
  v.image_size = 224; v.patch_size = 14; v.layer_norm_eps = 1e-6; v.qkv_bias = true; v.hidden_act = "gelu";
  const json& vj = sub(j, "vision_config");
  const std::string VW = W + " vision_config";
  MBLIP_RETURN_IF_ERROR(get(vj, "hidden_size", v.hidden_size, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "intermediate_size", v.intermediate_size, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "num_hidden_layers", v.num_layers, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "num_attention_heads", v.num_heads, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "image_size", v.image_size, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "patch_size", v.patch_size, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "layer_norm_eps", v.layer_norm_eps, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "qkv_bias", v.qkv_bias, VW));
  MBLIP_RETURN_IF_ERROR(get(vj, "hidden_act", v.hidden_act, VW));

  // Blip2QFormerConfig defaults; encoder_hidden_size is forced to the vision width.
  QFormerConfig& q = cfg.qformer;
  q.hidden_size = 768; q.intermediate_size = 3072; q.num_layers = 12; q.num_heads = 12;
  q.cross_attention_frequency = 2; q.layer_norm_eps = 1e-12; q.hidden_act = "gelu";
  const json& qj = sub(j, "qformer_config");
  const std::string QW = W + " qformer_config";
  MBLIP_RETURN_IF_ERROR(get(qj, "hidden_size", q.hidden_size, QW));
  MBLIP_RETURN_IF_ERROR(get(qj, "intermediate_size", q.intermediate_size, QW));
  MBLIP_RETURN_IF_ERROR(get(qj, "num_hidden_layers", q.num_layers, QW));
  MBLIP_RETURN_IF_ERROR(get(qj, "num_attention_heads", q.num_heads, QW));
  MBLIP_RETURN_IF_ERROR(get(qj, "cross_attention_frequency", q.cross_attention_frequency, QW));
  MBLIP_RETURN_IF_ERROR(get(qj, "layer_norm_eps", q.layer_norm_eps, QW));
  MBLIP_RETURN_IF_ERROR(get(qj, "hidden_act", q.hidden_act, QW));
  q.encoder_hidden_size = v.hidden_size;

  // T5Config / MT5Config defaults (they differ in vocab, d_ff, layers, heads, FFN and tying).
  TextConfig& t = cfg.text;
  const bool mt5 = text_type == "mt5";
  t.model_type = text_type;
  t.vocab_size = mt5 ? 250112 : 32128;
  t.d_model = 512; t.d_kv = 64; t.d_ff = mt5 ? 1024 : 2048;
  t.num_layers = mt5 ? 8 : 6; t.num_heads = mt5 ? 6 : 8;
  t.relative_attention_num_buckets = 32; t.relative_attention_max_distance = 128;
  t.layer_norm_epsilon = 1e-6;
  t.tie_word_embeddings = !mt5;
  t.pad_token_id = 0; t.eos_token_id = 1; t.unk_token_id = 2;
  std::string ffp = mt5 ? "gated-gelu" : "relu";
  const std::string TW = W + " text_config";
  MBLIP_RETURN_IF_ERROR(get(tj, "vocab_size", t.vocab_size, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "d_model", t.d_model, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "d_kv", t.d_kv, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "d_ff", t.d_ff, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "num_layers", t.num_layers, TW));
  t.num_decoder_layers = t.num_layers;
  MBLIP_RETURN_IF_ERROR(get(tj, "num_decoder_layers", t.num_decoder_layers, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "num_heads", t.num_heads, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "relative_attention_num_buckets", t.relative_attention_num_buckets, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "relative_attention_max_distance", t.relative_attention_max_distance, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "layer_norm_epsilon", t.layer_norm_epsilon, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "tie_word_embeddings", t.tie_word_embeddings, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "pad_token_id", t.pad_token_id, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "eos_token_id", t.eos_token_id, TW));
  t.decoder_start_token_id = t.pad_token_id;  // T5 starts decoding from pad when unset
  MBLIP_RETURN_IF_ERROR(get(tj, "decoder_start_token_id", t.decoder_start_token_id, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "feed_forward_proj", ffp, TW));
  // T5Config.__init__: "gated-ACT" or "ACT"; "gated-gelu" means gelu_new (tanh form).
  const size_t dash = ffp.find('-');
  const std::string first = ffp.substr(0, dash);
  if (dash != std::string::npos && (first != "gated" || ffp.find('-', dash + 1) != std::string::npos))
    return model_load_error("config.json text_config: feed_forward_proj '" + ffp + "' is not a valid activation");
  t.gated = dash != std::string::npos;
  t.dense_act = dash == std::string::npos ? ffp : ffp.substr(dash + 1);
  if (ffp == "gated-gelu") t.dense_act = "gelu_new";
  // Explicit keys in the file win (PretrainedConfig sets extra kwargs after __init__).
  MBLIP_RETURN_IF_ERROR(get(tj, "dense_act_fn", t.dense_act, TW));
  MBLIP_RETURN_IF_ERROR(get(tj, "is_gated_act", t.gated, TW));
  if (t.dense_act != "relu" && t.dense_act != "gelu_new")
    return unsupported("unsupported architecture: T5 feed-forward activation '" + t.dense_act +
                       "' (supported: relu, gated-gelu / gelu_new)");
  if (v.hidden_act != "gelu" || q.hidden_act != "gelu")
    return unsupported("unsupported architecture: vision/Q-Former activation must be 'gelu' (got '" + v.hidden_act +
                       "' / '" + q.hidden_act + "')");

  MBLIP_RETURN_IF_ERROR(get(j, "_name_or_path", cfg.name, W));
  for (auto [val, what] : {std::pair<int64_t, const char*>{v.hidden_size, "vision hidden_size"},
                           {v.intermediate_size, "vision intermediate_size"}, {v.num_layers, "vision num_hidden_layers"},
                           {v.num_heads, "vision num_attention_heads"}, {v.image_size, "vision image_size"},
                           {v.patch_size, "vision patch_size"}, {q.hidden_size, "qformer hidden_size"},
                           {q.intermediate_size, "qformer intermediate_size"}, {q.num_layers, "qformer num_hidden_layers"},
                           {q.num_heads, "qformer num_attention_heads"},
                           {q.cross_attention_frequency, "qformer cross_attention_frequency"},
                           {cfg.num_query_tokens, "num_query_tokens"}, {t.vocab_size, "text vocab_size"},
                           {t.d_model, "text d_model"}, {t.d_kv, "text d_kv"}, {t.d_ff, "text d_ff"},
                           {t.num_layers, "text num_layers"}, {t.num_decoder_layers, "text num_decoder_layers"},
                           {t.num_heads, "text num_heads"},
                           {t.relative_attention_num_buckets, "text relative_attention_num_buckets"}})
    MBLIP_RETURN_IF_ERROR(positive(val, what));
  return cfg;
}

// BlipImageProcessor settings (image_processing_blip.py).
Status apply_preprocessor_config(const std::string& text, ModelConfig& cfg) {
  MBLIP_ASSIGN_OR_RETURN(json j, parse_json(text, "preprocessor_config.json"));
  const std::string W = "preprocessor_config.json";
  PreprocessConfig& p = cfg.preprocess;
  auto size = j.find("size");
  if (size != j.end() && size->is_object()) {
    MBLIP_RETURN_IF_ERROR(get(*size, "height", p.height, W + " size"));
    MBLIP_RETURN_IF_ERROR(get(*size, "width", p.width, W + " size"));
  } else if (size != j.end() && size->is_number_integer()) {
    p.height = p.width = size->get<int64_t>();
  }
  MBLIP_RETURN_IF_ERROR(get(j, "resample", p.resample, W));
  MBLIP_RETURN_IF_ERROR(get(j, "do_resize", p.do_resize, W));
  MBLIP_RETURN_IF_ERROR(get(j, "do_rescale", p.do_rescale, W));
  MBLIP_RETURN_IF_ERROR(get(j, "do_normalize", p.do_normalize, W));
  MBLIP_RETURN_IF_ERROR(get(j, "do_convert_rgb", p.do_convert_rgb, W));
  MBLIP_RETURN_IF_ERROR(get(j, "rescale_factor", p.rescale_factor, W));
  for (auto [key, dst] : {std::pair<const char*, std::vector<float>*>{"image_mean", &p.mean}, {"image_std", &p.std}}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    std::vector<float> vals;
    if (it->is_number()) vals.assign(3, it->get<float>());
    else if (it->is_array() && it->size() == 3 && (*it)[0].is_number() && (*it)[1].is_number() && (*it)[2].is_number())
      for (const auto& x : *it) vals.push_back(x.get<float>());
    else return model_load_error(W + ": '" + key + "' must be a number or a list of 3 numbers");
    *dst = vals;
  }
  if (p.height <= 0 || p.width <= 0) return model_load_error(W + ": image size must be positive");
  return Status::Ok();
}

// GenerationConfig keys this runtime uses: the special token ids. (Search settings are the
// task's, decided by the core's plan_task, not the checkpoint's generation_config.)
Status apply_generation_config(const std::string& text, ModelConfig& cfg) {
  MBLIP_ASSIGN_OR_RETURN(json j, parse_json(text, "generation_config.json"));
  const std::string W = "generation_config.json";
  MBLIP_RETURN_IF_ERROR(get(j, "decoder_start_token_id", cfg.text.decoder_start_token_id, W));
  MBLIP_RETURN_IF_ERROR(get(j, "pad_token_id", cfg.text.pad_token_id, W));
  auto eos = j.find("eos_token_id");
  if (eos != j.end() && eos->is_array() && !eos->empty() && (*eos)[0].is_number_integer())
    cfg.text.eos_token_id = (*eos)[0].get<int64_t>();
  else
    MBLIP_RETURN_IF_ERROR(get(j, "eos_token_id", cfg.text.eos_token_id, W));
  return Status::Ok();
}

namespace {
Result<std::string> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return io_error("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return io_error("cannot read '" + path + "'");
  return ss.str();
}
}  // namespace

Result<ModelConfig> load_hf_config(const std::string& dir) {
  MBLIP_ASSIGN_OR_RETURN(std::string cj, slurp(dir + "/config.json"));
  auto cfg_r = parse_blip2_config(cj);
  if (!cfg_r.ok()) return cfg_r.status().with_context(dir + "/config.json");
  ModelConfig cfg = std::move(cfg_r).value();
  MBLIP_ASSIGN_OR_RETURN(std::string pj, slurp(dir + "/preprocessor_config.json"));
  MBLIP_RETURN_IF_ERROR(apply_preprocessor_config(pj, cfg));
  {
    std::ifstream probe(dir + "/generation_config.json");
    if (probe) {
      MBLIP_ASSIGN_OR_RETURN(std::string gj, slurp(dir + "/generation_config.json"));
      MBLIP_RETURN_IF_ERROR(apply_generation_config(gj, cfg));
    }
  }
  if (cfg.name.empty()) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    const size_t slash = d.rfind('/');
    cfg.name = slash == std::string::npos ? d : d.substr(slash + 1);
  }
  return cfg;
}

}  // namespace mblip
