// Embind bindings for the mblip npm package: thin and stateless. Every fallible call returns a
// result object {ok, code, message, value}; the JS layer (web/src/worker.js) throws typed errors.
// The surface is documented in wasm/README.md.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "mblip/mblip.h"

namespace mblip {
namespace wasm {

using emscripten::val;

namespace {

val ok_result(val value) {
  val r = val::object();
  r.set("ok", true);
  r.set("code", std::string("Ok"));
  r.set("message", std::string());
  r.set("value", value);
  return r;
}

val error_result(const Status& s) {
  val r = val::object();
  r.set("ok", false);
  r.set("code", std::string(status_code_name(s.code())));
  r.set("message", s.message());
  r.set("value", val::null());
  return r;
}

val int_array(const std::vector<int32_t>& v) {
  val a = val::array();
  for (size_t i = 0; i < v.size(); ++i) a.set(i, v[i]);
  return a;
}

val timings_object(const Timings& t) {
  val o = val::object();
  for (const auto& [name, ms] : t) o.set(name, ms);
  return o;
}

val language_object(const Language& l) {
  val o = val::object();
  o.set("code", l.code);
  o.set("name", l.name);
  return o;
}

bool has(const val& o, const char* key) {
  return !o.isUndefined() && !o.isNull() && !o[key].isUndefined() && !o[key].isNull();
}

// Options object (camelCase keys, all optional) -> GenerateOptions; absent keys keep defaults.
GenerateOptions generate_options_from(const val& o) {
  GenerateOptions g;
  if (has(o, "maxNewTokens")) g.max_new_tokens = o["maxNewTokens"].as<int>();
  if (has(o, "minNewTokens")) g.min_new_tokens = o["minNewTokens"].as<int>();
  if (has(o, "numBeams")) g.num_beams = o["numBeams"].as<int>();
  if (has(o, "numReturnSequences")) g.num_return_sequences = o["numReturnSequences"].as<int>();
  if (has(o, "lengthPenalty")) g.length_penalty = o["lengthPenalty"].as<double>();
  if (has(o, "doSample")) g.do_sample = o["doSample"].as<bool>();
  if (has(o, "temperature")) g.temperature = o["temperature"].as<double>();
  if (has(o, "topK")) g.top_k = o["topK"].as<int>();
  if (has(o, "topP")) g.top_p = o["topP"].as<double>();
  if (has(o, "seed")) g.seed = static_cast<uint64_t>(o["seed"].as<double>());
  if (has(o, "repetitionPenalty")) g.repetition_penalty = o["repetitionPenalty"].as<double>();
  if (has(o, "noRepeatNgramSize")) g.no_repeat_ngram_size = o["noRepeatNgramSize"].as<int>();
  if (has(o, "earlyStopping")) {
    val v = o["earlyStopping"];
    if (v.typeOf().as<std::string>() == "string") {
      g.early_stopping = EarlyStopping::kNever;
    } else {
      g.early_stopping = v.as<bool>() ? EarlyStopping::kTrue : EarlyStopping::kFalse;
    }
  }
  return g;
}

val generate_options_to(const GenerateOptions& g) {
  val o = val::object();
  o.set("maxNewTokens", g.max_new_tokens);
  o.set("minNewTokens", g.min_new_tokens);
  o.set("numBeams", g.num_beams);
  o.set("numReturnSequences", g.num_return_sequences);
  o.set("lengthPenalty", g.length_penalty);
  o.set("doSample", g.do_sample);
  o.set("temperature", g.temperature);
  o.set("topK", g.top_k);
  o.set("topP", g.top_p);
  o.set("seed", static_cast<double>(g.seed));
  o.set("repetitionPenalty", g.repetition_penalty);
  o.set("noRepeatNgramSize", g.no_repeat_ngram_size);
  if (g.early_stopping == EarlyStopping::kNever) {
    o.set("earlyStopping", std::string("never"));
  } else {
    o.set("earlyStopping", g.early_stopping == EarlyStopping::kTrue);
  }
  return o;
}

val sequence_object(const Sequence& s) {
  val o = val::object();
  o.set("text", s.text);
  o.set("tokens", int_array(s.tokens));
  o.set("score", s.score);
  return o;
}

}  // namespace

// One image's embedding, owned by JS (call delete()).
class JsEmbedding {
 public:
  explicit JsEmbedding(ImageEmbedding e) : emb_(std::move(e)) {}
  const ImageEmbedding& get() const { return emb_; }
  val timings() const { return timings_object(emb_.timings_ms); }
  int num_queries() const { return static_cast<int>(emb_.num_queries); }
  int dim() const { return static_cast<int>(emb_.dim); }

 private:
  ImageEmbedding emb_;
};

// A loaded model plus the one Session the worker uses, owned by JS (call delete()).
class JsModel {
 public:
  JsModel(std::shared_ptr<Model> m, std::unique_ptr<Session> s) : model_(std::move(m)), session_(std::move(s)) {}

  val info() const {
    const ModelInfo& i = model_->info();
    val o = val::object();
    o.set("architecture", i.architecture);
    o.set("name", i.name);
    o.set("textModelType", i.text_model_type);
    o.set("randomWeights", i.random_weights);
    o.set("imageSize", static_cast<double>(i.image_size));
    o.set("numQueryTokens", static_cast<double>(i.num_query_tokens));
    o.set("visionHidden", static_cast<double>(i.vision_hidden));
    o.set("visionLayers", static_cast<double>(i.vision_layers));
    o.set("qformerHidden", static_cast<double>(i.qformer_hidden));
    o.set("qformerLayers", static_cast<double>(i.qformer_layers));
    o.set("dModel", static_cast<double>(i.d_model));
    o.set("encoderLayers", static_cast<double>(i.encoder_layers));
    o.set("decoderLayers", static_cast<double>(i.decoder_layers));
    o.set("vocabSize", static_cast<double>(i.vocab_size));
    o.set("maxPromptTokens", static_cast<double>(i.max_prompt_tokens));
    o.set("weightBytes", static_cast<double>(i.weight_bytes));
    val langs = val::array();
    for (size_t k = 0; k < i.languages.size(); ++k) langs.set(k, language_object(i.languages[k]));
    o.set("languages", langs);
    return o;
  }

  // Encoded image bytes (JPEG/PNG/BMP/GIF) at heap address `ptr`; the caller frees them after.
  val embed_image(uintptr_t ptr, double size, val opts) {
    DecodeOptions d;
    if (has(opts, "applyExif")) d.apply_exif = opts["applyExif"].as<bool>();
    if (has(opts, "maxPixels")) d.max_pixels = static_cast<int64_t>(opts["maxPixels"].as<double>());
    auto r = session_->embed_image(reinterpret_cast<const uint8_t*>(ptr), static_cast<size_t>(size), d);
    if (!r.ok()) return error_result(r.status());
    return ok_result(val(JsEmbedding(std::move(r).value())));
  }

  // Raw 8-bit pixels (channels 3 = RGB, 4 = RGBA), rows top to bottom.
  val embed_pixels(uintptr_t ptr, int width, int height, int channels) {
    if (channels != 3 && channels != 4) {
      return error_result(invalid_argument("pixels must have 3 (RGB) or 4 (RGBA) channels, got " +
                                           std::to_string(channels)));
    }
    auto r = session_->embed_pixels(reinterpret_cast<const uint8_t*>(ptr), width, height,
                                    channels == 4 ? PixelFormat::kRGBA : PixelFormat::kRGB);
    if (!r.ok()) return error_result(r.status());
    return ok_result(val(JsEmbedding(std::move(r).value())));
  }

  // on_token(event) is called per step with {step, token, delta, text, provisional}; returning
  // false cancels (the result then has code "Cancelled").
  val generate(const JsEmbedding& emb, const std::string& prompt, val opts, val on_token) {
    GenerateOptions g = generate_options_from(opts);
    Status valid = validate_generate_options(g);
    if (!valid.ok()) return error_result(valid);
    Callbacks cb;
    if (on_token.typeOf().as<std::string>() == "function") {
      cb.on_token = [&on_token](const TokenEvent& e) {
        val ev = val::object();
        ev.set("step", e.step);
        ev.set("token", e.token);
        ev.set("delta", e.delta);
        ev.set("text", e.text);
        ev.set("provisional", e.provisional);
        val keep = on_token(ev);
        return keep.isUndefined() || keep.as<bool>();
      };
    }
    auto r = session_->generate(emb.get(), prompt, g, cb);
    if (!r.ok()) return error_result(r.status());
    const GenerateResult& res = r.value();
    val o = val::object();
    if (res.sequences.empty()) return error_result(internal_error("generate returned no sequence"));
    o.set("text", res.text());
    o.set("tokens", int_array(res.tokens()));
    o.set("score", res.score());
    val seqs = val::array();
    for (size_t k = 0; k < res.sequences.size(); ++k) seqs.set(k, sequence_object(res.sequences[k]));
    o.set("sequences", seqs);
    o.set("promptTokens", int_array(res.prompt_tokens));
    o.set("timings", timings_object(res.timings_ms));
    return ok_result(o);
  }

  val tokenize(const std::string& text, bool add_eos) const {
    auto r = model_->tokenize(text, add_eos);
    if (!r.ok()) return error_result(r.status());
    return ok_result(int_array(r.value()));
  }

  val detokenize(val ids) const {
    std::vector<int32_t> v;
    const int n = ids["length"].as<int>();
    for (int k = 0; k < n; ++k) v.push_back(ids[k].as<int32_t>());
    auto r = model_->detokenize(v);
    if (!r.ok()) return error_result(r.status());
    return ok_result(val(r.value()));
  }

 private:
  std::shared_ptr<Model> model_;
  std::unique_ptr<Session> session_;
};

namespace {

LoadOptions load_options_from(const val& opts) {
  LoadOptions lo;
  if (has(opts, "threads")) lo.threads = opts["threads"].as<int>();
  if (has(opts, "maxMemoryBytes")) lo.max_memory_bytes = static_cast<uint64_t>(opts["maxMemoryBytes"].as<double>());
  return lo;
}

val model_result(Result<std::shared_ptr<Model>> m) {
  if (!m.ok()) return error_result(m.status());
  std::shared_ptr<Model> model = std::move(m).value();
  auto s = model->new_session();
  if (!s.ok()) return error_result(s.status());
  return ok_result(val(JsModel(std::move(model), std::move(s).value())));
}

// Takes ownership of the malloc()ed buffer (also on failure), like Model::load_buffer.
val load_model(uintptr_t ptr, double size, val opts) {
  return model_result(Model::load_buffer(reinterpret_cast<uint8_t*>(ptr), static_cast<size_t>(size),
                                         load_options_from(opts)));
}

}  // namespace

// mblip::ModelStreamLoader for JS: JS copies (or reads) each chunk of the model file into the
// reusable heap buffer from buffer() and calls push(n); the core packs each tensor as soon as
// its bytes are complete, so the heap never holds the whole raw file. Owned by JS (delete()).
class JsStreamLoader {
 public:
  JsStreamLoader(double total_size, val opts)
      : loader_(load_options_from(opts), total_size > 0 ? static_cast<uint64_t>(total_size) : 0) {}

  // Address of a heap buffer of at least `size` bytes, reused by every push (0 on failure).
  uintptr_t buffer(double size) {
    const size_t n = static_cast<size_t>(size > 0 ? size : 0);
    if (n > buf_.size()) {
      std::vector<uint8_t>().swap(buf_);
      try {
        buf_.resize(n);
      } catch (const std::bad_alloc&) {
        return 0;
      }
    }
    return reinterpret_cast<uintptr_t>(buf_.data());
  }

  // The next n bytes of the file, already written at buffer().
  val push(double n) {
    if (!(n >= 0) || n > static_cast<double>(buf_.size()))
      return error_result(invalid_argument("push of " + std::to_string(n) + " bytes from a buffer of " +
                                           std::to_string(buf_.size())));
    Status s = loader_.push(buf_.data(), static_cast<size_t>(n));
    if (!s.ok()) return error_result(s);
    return ok_result(val(true));
  }

  val finish() {
    std::vector<uint8_t>().swap(buf_);
    return model_result(loader_.finish());
  }

  val stats() const {
    val o = val::object();
    o.set("bytesReceived", static_cast<double>(loader_.bytes_received()));
    o.set("headerParsed", loader_.header_parsed());
    o.set("peakBufferedBytes", static_cast<double>(loader_.peak_buffered_bytes()));
    return o;
  }

 private:
  ModelStreamLoader loader_;
  std::vector<uint8_t> buf_;
};

namespace {

std::string version_string() { return mblip::version(); }

val build_info() {
  val o = val::object();
  o.set("version", std::string(mblip::version()));
#ifdef __EMSCRIPTEN_PTHREADS__
  o.set("threads", true);
#else
  o.set("threads", false);
#endif
#ifdef __wasm_simd128__
  o.set("simd", true);
#else
  o.set("simd", false);
#endif
  return o;
}

val languages() {
  val a = val::array();
  const auto& l = mblip_languages();
  for (size_t k = 0; k < l.size(); ++k) a.set(k, language_object(l[k]));
  return a;
}

val find_language_js(const std::string& s) {
  auto r = find_language(s);
  if (!r.ok()) return error_result(r.status());
  return ok_result(language_object(r.value()));
}

std::string caption_prompt_js(const std::string& language_name) { return caption_prompt(language_name); }
std::string vqa_prompt_js(const std::string& q, const std::string& language_name) { return vqa_prompt(q, language_name); }
val caption_defaults_js() { return generate_options_to(caption_defaults()); }
val vqa_defaults_js() { return generate_options_to(vqa_defaults()); }

}  // namespace

EMSCRIPTEN_BINDINGS(mblip) {
  using namespace emscripten;
  class_<JsEmbedding>("Embedding")
      .function("timings", &JsEmbedding::timings)
      .function("num_queries", &JsEmbedding::num_queries)
      .function("dim", &JsEmbedding::dim);
  class_<JsModel>("Model")
      .function("info", &JsModel::info)
      .function("embed_image", &JsModel::embed_image)
      .function("embed_pixels", &JsModel::embed_pixels)
      .function("generate", &JsModel::generate)
      .function("tokenize", &JsModel::tokenize)
      .function("detokenize", &JsModel::detokenize);
  class_<JsStreamLoader>("StreamLoader")
      .constructor<double, val>()
      .function("buffer", &JsStreamLoader::buffer)
      .function("push", &JsStreamLoader::push)
      .function("finish", &JsStreamLoader::finish)
      .function("stats", &JsStreamLoader::stats);
  function("version", &version_string);
  function("build_info", &build_info);
  function("languages", &languages);
  function("find_language", &find_language_js);
  function("caption_prompt", &caption_prompt_js);
  function("vqa_prompt", &vqa_prompt_js);
  function("caption_defaults", &caption_defaults_js);
  function("vqa_defaults", &vqa_defaults_js);
  function("load_model", &load_model);
}

}  // namespace wasm
}  // namespace mblip
