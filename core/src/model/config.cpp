// ModelConfig <-> GGUF metadata (one field list drives reading, writing and the key list in
// docs/model-file.md), and ModelConfig::validate. Mirrors Blip2Config / Blip2VisionConfig /
// Blip2QFormerConfig / T5Config, BlipImageProcessor and GenerationConfig fields.
#include "model/config.h"

#include <cmath>
#include <limits>

#include "io/gguf.h"

namespace mblip {
namespace {

// The single list of (key, field). `V` provides i/f/b/s/fa(key, field&, required).
template <class V>
void visit_fields(ModelConfig& c, V& v) {
  v.s("general.architecture", c.architecture, true);
  v.s("general.name", c.name, false);
  auto& vi = c.vision;
  v.i("mblip.vision.hidden_size", vi.hidden_size, true);
  v.i("mblip.vision.intermediate_size", vi.intermediate_size, true);
  v.i("mblip.vision.num_layers", vi.num_layers, true);
  v.i("mblip.vision.num_heads", vi.num_heads, true);
  v.i("mblip.vision.image_size", vi.image_size, true);
  v.i("mblip.vision.patch_size", vi.patch_size, true);
  v.f("mblip.vision.layer_norm_eps", vi.layer_norm_eps, true);
  v.b("mblip.vision.qkv_bias", vi.qkv_bias, true);
  v.s("mblip.vision.hidden_act", vi.hidden_act, true);
  auto& q = c.qformer;
  v.i("mblip.qformer.hidden_size", q.hidden_size, true);
  v.i("mblip.qformer.intermediate_size", q.intermediate_size, true);
  v.i("mblip.qformer.num_layers", q.num_layers, true);
  v.i("mblip.qformer.num_heads", q.num_heads, true);
  v.i("mblip.qformer.cross_attention_frequency", q.cross_attention_frequency, true);
  v.i("mblip.qformer.encoder_hidden_size", q.encoder_hidden_size, true);
  v.f("mblip.qformer.layer_norm_eps", q.layer_norm_eps, true);
  v.s("mblip.qformer.hidden_act", q.hidden_act, true);
  auto& t = c.text;
  v.s("mblip.text.model_type", t.model_type, true);
  v.i("mblip.text.vocab_size", t.vocab_size, true);
  v.i("mblip.text.d_model", t.d_model, true);
  v.i("mblip.text.d_kv", t.d_kv, true);
  v.i("mblip.text.d_ff", t.d_ff, true);
  v.i("mblip.text.num_heads", t.num_heads, true);
  v.i("mblip.text.num_layers", t.num_layers, true);
  v.i("mblip.text.num_decoder_layers", t.num_decoder_layers, true);
  v.i("mblip.text.relative_attention_num_buckets", t.relative_attention_num_buckets, true);
  v.i("mblip.text.relative_attention_max_distance", t.relative_attention_max_distance, true);
  v.f("mblip.text.layer_norm_epsilon", t.layer_norm_epsilon, true);
  v.b("mblip.text.gated", t.gated, true);
  v.s("mblip.text.dense_act", t.dense_act, true);
  v.b("mblip.text.tie_word_embeddings", t.tie_word_embeddings, true);
  v.i("mblip.text.pad_token_id", t.pad_token_id, true);
  v.i("mblip.text.eos_token_id", t.eos_token_id, true);
  v.i("mblip.text.decoder_start_token_id", t.decoder_start_token_id, true);
  v.i("mblip.text.unk_token_id", t.unk_token_id, true);
  v.i("mblip.num_query_tokens", c.num_query_tokens, true);
  auto& p = c.preprocess;
  v.i("mblip.preprocess.height", p.height, true);
  v.i("mblip.preprocess.width", p.width, true);
  v.i("mblip.preprocess.resample", p.resample, true);
  v.b("mblip.preprocess.do_resize", p.do_resize, true);
  v.b("mblip.preprocess.do_rescale", p.do_rescale, true);
  v.b("mblip.preprocess.do_normalize", p.do_normalize, true);
  v.b("mblip.preprocess.do_convert_rgb", p.do_convert_rgb, true);
  v.f("mblip.preprocess.rescale_factor", p.rescale_factor, true);
  v.fa("mblip.preprocess.mean", p.mean, true);
  v.fa("mblip.preprocess.std", p.std, true);
  v.b("mblip.random_weights", c.random_weights, false);
}

struct Reader {
  const GgufFile& file;
  Status status;
  template <class T, class Get>
  void get(const std::string& key, T& field, bool required, Get&& getter) {
    if (!status.ok()) return;
    if (!required && !file.find(key)) return;
    auto r = getter(key);
    if (!r.ok()) {
      status = r.status();
      return;
    }
    field = std::move(r).value();
  }
  void i(const std::string& k, int64_t& x, bool req) { get(k, x, req, [&](const std::string& kk) { return file.get_int(kk); }); }
  void f(const std::string& k, double& x, bool req) { get(k, x, req, [&](const std::string& kk) { return file.get_float(kk); }); }
  void s(const std::string& k, std::string& x, bool req) {
    get(k, x, req, [&](const std::string& kk) { return file.get_string(kk); });
  }
  void fa(const std::string& k, std::vector<float>& x, bool req) {
    get(k, x, req, [&](const std::string& kk) { return file.get_float_array(kk); });
  }
  void b(const std::string& k, bool& x, bool req) {
    if (!status.ok()) return;
    if (!required_present(k, req)) return;
    const GgufValue* v = file.find(k);
    if (v->type != GgufType::BOOL) {
      status = model_load_error("metadata key '" + k + "' has type " + gguf_type_name(v->type) + ", expected BOOL");
      return;
    }
    x = v->i != 0;
  }
  bool required_present(const std::string& k, bool req) {
    if (file.find(k)) return true;
    if (req) status = model_load_error("metadata key '" + k + "' is missing");
    return false;
  }
};

struct Writer {
  GgufWriter& w;
  void i(const std::string& k, int64_t& x, bool) {
    w.set(k, x >= 0 && x <= static_cast<int64_t>(std::numeric_limits<uint32_t>::max())
                 ? GgufValue::make_u32(static_cast<uint32_t>(x))
                 : GgufValue::make_i64(x));
  }
  void f(const std::string& k, double& x, bool) { w.set(k, GgufValue::make_f64(x)); }
  void b(const std::string& k, bool& x, bool) { w.set(k, GgufValue::make_bool(x)); }
  void s(const std::string& k, std::string& x, bool) { w.set(k, GgufValue::make_string(x)); }
  void fa(const std::string& k, std::vector<float>& x, bool) { w.set(k, GgufValue::make_f32_array(x)); }
};

struct Lister {
  std::vector<ConfigKeyInfo> out;
  void i(const std::string& k, int64_t&, bool r) { out.push_back({k, "UINT32", r}); }
  void f(const std::string& k, double&, bool r) { out.push_back({k, "FLOAT64", r}); }
  void b(const std::string& k, bool&, bool r) { out.push_back({k, "BOOL", r}); }
  void s(const std::string& k, std::string&, bool r) { out.push_back({k, "STRING", r}); }
  void fa(const std::string& k, std::vector<float>&, bool r) { out.push_back({k, "ARRAY[FLOAT32]", r}); }
};

Status bad(const std::string& what) { return model_load_error("invalid model config: " + what); }

// A size that allocations are derived from: positive and small enough that products of a few
// of them cannot overflow int64.
Status check_size(const char* name, int64_t v, int64_t max = int64_t{1} << 24) {
  if (v < 1 || v > max)
    return bad(std::string(name) + " = " + std::to_string(v) + " (must be 1.." + std::to_string(max) + ")");
  return Status::Ok();
}
Status check_eps(const char* name, double v) {
  if (!(v > 0.0) || !std::isfinite(v) || v > 1.0) return bad(std::string(name) + " must be in (0, 1]");
  return Status::Ok();
}
Status check_act(const char* name, const std::string& act) {
  if (act != "gelu" && act != "gelu_new" && act != "relu")
    return bad(std::string(name) + " '" + act + "' is not supported (gelu, gelu_new, relu)");
  return Status::Ok();
}
Status check_divisible(const char* what, int64_t a, int64_t b) {
  if (a % b != 0) return bad(std::string(what) + " (" + std::to_string(a) + " % " + std::to_string(b) + " != 0)");
  return Status::Ok();
}

}  // namespace

Status ModelConfig::validate() const {
  if (architecture != kArchitecture)
    return model_load_error("unsupported general.architecture '" + architecture + "' (expected '" + kArchitecture + "')");
  const auto& v = vision;
  MBLIP_RETURN_IF_ERROR(check_size("vision.hidden_size", v.hidden_size));
  MBLIP_RETURN_IF_ERROR(check_size("vision.intermediate_size", v.intermediate_size));
  MBLIP_RETURN_IF_ERROR(check_size("vision.num_layers", v.num_layers, 1024));
  MBLIP_RETURN_IF_ERROR(check_size("vision.num_heads", v.num_heads, 1024));
  MBLIP_RETURN_IF_ERROR(check_size("vision.image_size", v.image_size, 8192));
  MBLIP_RETURN_IF_ERROR(check_size("vision.patch_size", v.patch_size, 8192));
  MBLIP_RETURN_IF_ERROR(check_divisible("vision.hidden_size must be divisible by vision.num_heads", v.hidden_size, v.num_heads));
  MBLIP_RETURN_IF_ERROR(check_divisible("vision.image_size must be divisible by vision.patch_size", v.image_size, v.patch_size));
  MBLIP_RETURN_IF_ERROR(check_eps("vision.layer_norm_eps", v.layer_norm_eps));
  MBLIP_RETURN_IF_ERROR(check_act("vision.hidden_act", v.hidden_act));
  const auto& q = qformer;
  MBLIP_RETURN_IF_ERROR(check_size("qformer.hidden_size", q.hidden_size));
  MBLIP_RETURN_IF_ERROR(check_size("qformer.intermediate_size", q.intermediate_size));
  MBLIP_RETURN_IF_ERROR(check_size("qformer.num_layers", q.num_layers, 1024));
  MBLIP_RETURN_IF_ERROR(check_size("qformer.num_heads", q.num_heads, 1024));
  MBLIP_RETURN_IF_ERROR(check_size("qformer.cross_attention_frequency", q.cross_attention_frequency, 1024));
  MBLIP_RETURN_IF_ERROR(check_divisible("qformer.hidden_size must be divisible by qformer.num_heads", q.hidden_size, q.num_heads));
  if (q.encoder_hidden_size != v.hidden_size)
    return bad("qformer.encoder_hidden_size " + std::to_string(q.encoder_hidden_size) +
               " != vision.hidden_size " + std::to_string(v.hidden_size));
  MBLIP_RETURN_IF_ERROR(check_eps("qformer.layer_norm_eps", q.layer_norm_eps));
  MBLIP_RETURN_IF_ERROR(check_act("qformer.hidden_act", q.hidden_act));
  const auto& t = text;
  if (t.model_type != "t5" && t.model_type != "mt5")
    return bad("text.model_type '" + t.model_type + "' is not supported (t5, mt5)");
  MBLIP_RETURN_IF_ERROR(check_size("text.vocab_size", t.vocab_size));
  MBLIP_RETURN_IF_ERROR(check_size("text.d_model", t.d_model));
  MBLIP_RETURN_IF_ERROR(check_size("text.d_kv", t.d_kv));
  MBLIP_RETURN_IF_ERROR(check_size("text.d_ff", t.d_ff));
  MBLIP_RETURN_IF_ERROR(check_size("text.num_heads", t.num_heads, 1024));
  MBLIP_RETURN_IF_ERROR(check_size("text.d_kv * text.num_heads", t.d_kv * t.num_heads));
  MBLIP_RETURN_IF_ERROR(check_size("text.num_layers", t.num_layers, 1024));
  MBLIP_RETURN_IF_ERROR(check_size("text.num_decoder_layers", t.num_decoder_layers, 1024));
  MBLIP_RETURN_IF_ERROR(check_size("text.relative_attention_num_buckets", t.relative_attention_num_buckets, 4096));
  if (t.relative_attention_num_buckets < 2) return bad("text.relative_attention_num_buckets must be >= 2");
  MBLIP_RETURN_IF_ERROR(check_size("text.relative_attention_max_distance", t.relative_attention_max_distance, 1 << 20));
  MBLIP_RETURN_IF_ERROR(check_eps("text.layer_norm_epsilon", t.layer_norm_epsilon));
  if (t.dense_act != "relu" && t.dense_act != "gelu_new" && t.dense_act != "gelu")
    return bad("text.dense_act '" + t.dense_act + "' is not supported (relu, gelu_new, gelu)");
  const std::pair<const char*, int64_t> ids[] = {{"text.pad_token_id", t.pad_token_id},
                                                 {"text.eos_token_id", t.eos_token_id},
                                                 {"text.decoder_start_token_id", t.decoder_start_token_id},
                                                 {"text.unk_token_id", t.unk_token_id}};
  for (const auto& id : ids)
    if (id.second < 0 || id.second >= t.vocab_size)
      return bad(std::string(id.first) + " " + std::to_string(id.second) + " is outside the vocabulary [0, " +
                 std::to_string(t.vocab_size) + ")");
  MBLIP_RETURN_IF_ERROR(check_size("num_query_tokens", num_query_tokens, 4096));
  const auto& p = preprocess;
  MBLIP_RETURN_IF_ERROR(check_size("preprocess.height", p.height, 8192));
  MBLIP_RETURN_IF_ERROR(check_size("preprocess.width", p.width, 8192));
  if (p.height != v.image_size || p.width != v.image_size)
    return bad("preprocess size " + std::to_string(p.height) + "x" + std::to_string(p.width) +
               " != vision.image_size " + std::to_string(v.image_size));
  if (p.resample < 0 || p.resample > 5) return bad("preprocess.resample " + std::to_string(p.resample) + " is not a PIL filter id (0..5)");
  if (!(p.rescale_factor > 0.0) || !std::isfinite(p.rescale_factor)) return bad("preprocess.rescale_factor must be > 0");
  if (p.mean.size() != 3 || p.std.size() != 3) return bad("preprocess.mean and preprocess.std must have 3 values");
  for (int k = 0; k < 3; ++k)
    if (!std::isfinite(p.mean[k]) || !(p.std[k] > 0.0f) || !std::isfinite(p.std[k]))
      return bad("preprocess.mean must be finite and preprocess.std > 0");
  return Status::Ok();
}

Result<ModelConfig> read_config(const GgufFile& file) {
  ModelConfig cfg;
  // Architecture first so a non-mBLIP GGUF gets the clearer message.
  auto arch = file.get_string("general.architecture");
  if (!arch.ok()) return arch.status();
  if (arch.value() != kArchitecture)
    return model_load_error("unsupported general.architecture '" + arch.value() + "' (this runtime reads '" +
                            kArchitecture + "')");
  Reader r{file, Status::Ok()};
  visit_fields(cfg, r);
  if (!r.status.ok()) return r.status;
  MBLIP_RETURN_IF_ERROR(cfg.validate());
  return cfg;
}

void write_config(const ModelConfig& cfg, GgufWriter& writer) {
  ModelConfig copy = cfg;
  Writer w{writer};
  visit_fields(copy, w);
}

std::vector<ConfigKeyInfo> config_keys() {
  ModelConfig dummy;
  Lister l;
  visit_fields(dummy, l);
  return l.out;
}

}  // namespace mblip
