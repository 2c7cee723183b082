// Embind bindings for the mblip npm package: thin and stateless. Every fallible call returns a
// result object {ok, code, message, value}; the JS layer (web/src/worker.js) throws typed errors.
// The surface is documented in wasm/README.md.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "mblip/cache.h"
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

// A JS value as the text plan_task() parses (numbers in shortest round-trip form).
std::string option_text(const val& v) {
  const std::string type = v.typeOf().as<std::string>();
  if (type == "boolean") return v.as<bool>() ? "true" : "false";
  return val::global("String")(v).as<std::string>();
}

val sequence_object(const Sequence& s) {
  val o = val::object();
  o.set("text", s.text);
  o.set("tokens", int_array(s.tokens));
  o.set("score", s.score);
  return o;
}

}  // namespace

// A TaskPlan made by plan_task(), owned by JS (call delete()).
class JsPlan {
 public:
  explicit JsPlan(TaskPlan p) : plan_(std::move(p)) {}
  const TaskPlan& get() const { return plan_; }
  std::string prompt() const { return plan_.prompt; }
  std::string lang() const { return plan_.language.code; }

 private:
  TaskPlan plan_;
};

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
  val embed_image(uintptr_t ptr, double size, const JsPlan& plan) {
    auto r = session_->embed_image(reinterpret_cast<const uint8_t*>(ptr), static_cast<size_t>(size), plan.get().decode);
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
  val generate(const JsEmbedding& emb, const JsPlan& plan, val on_token) {
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
    auto r = session_->generate(emb.get(), plan.get().prompt, plan.get().options, cb);
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
// opts.packedCache: keep the packed weights in an in-memory cache; opts.cacheImage /
// opts.cacheImageSize: a stored cache image JS read into a malloc()ed heap buffer (adopted, also
// on failure), checked against the model once its header has streamed in (mblip/cache.h).
class JsStreamLoader {
 public:
  JsStreamLoader(double total_size, val opts) {
    LoadOptions lo = load_options_from(opts);
    uint8_t* image = nullptr;
    size_t image_bytes = 0;
    if (has(opts, "cacheImage") && has(opts, "cacheImageSize")) {
      image = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(opts["cacheImage"].as<double>()));
      image_bytes = static_cast<size_t>(opts["cacheImageSize"].as<double>());
    }
    if (has(opts, "packedCache") && opts["packedCache"].as<bool>()) {
      store_ = make_memory_weight_cache(image, image_bytes, has(opts, "cacheLabel") ? opts["cacheLabel"].as<std::string>() : "");
      lo.memory_weight_cache = store_;
    } else if (image) {
      std::free(image);
    }
    loader_ = std::make_unique<ModelStreamLoader>(lo, total_size > 0 ? static_cast<uint64_t>(total_size) : 0);
  }

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
    Status s = loader_->push(buf_.data(), static_cast<size_t>(n));
    if (!s.ok()) return error_result(s);
    return ok_result(val(true));
  }

  val finish() {
    std::vector<uint8_t>().swap(buf_);
    return model_result(loader_->finish());
  }

  val stats() const {
    val o = val::object();
    o.set("bytesReceived", static_cast<double>(loader_->bytes_received()));
    o.set("headerParsed", loader_->header_parsed());
    o.set("peakBufferedBytes", static_cast<double>(loader_->peak_buffered_bytes()));
    return o;
  }

  // {enabled, warm (weights came from the image), rejected (why the image was refused), hits,
  // packed (operators packed by this load)}.
  val cache_info() const {
    val o = val::object();
    const MemoryWeightCacheState st = store_ ? memory_weight_cache_state(*store_) : MemoryWeightCacheState{};
    o.set("enabled", store_ != nullptr);
    o.set("warm", st.warm);
    o.set("rejected", st.rejected);
    o.set("hits", static_cast<double>(st.hits));
    o.set("packed", static_cast<double>(st.packed));
    return o;
  }

  // After finish() of a load that packed: {size, parts: [{offset, ptr, size}]}, the cache image
  // to store (JS writes each part at its offset); null when there is nothing to store. The
  // pointers stay valid while this loader and the model live.
  val export_cache() {
    std::vector<WeightCachePart> parts;
    uint64_t total = 0;
    if (!store_ || !export_memory_weight_cache(*store_, &meta_, &parts, &total)) return val::null();
    val a = val::array();
    for (size_t i = 0; i < parts.size(); ++i) {
      val p = val::object();
      p.set("offset", static_cast<double>(parts[i].offset));
      p.set("ptr", static_cast<double>(reinterpret_cast<uintptr_t>(parts[i].data)));
      p.set("size", static_cast<double>(parts[i].size));
      a.set(i, p);
    }
    val o = val::object();
    o.set("size", static_cast<double>(total));
    o.set("parts", a);
    return o;
  }

 private:
  std::shared_ptr<PackedWeightStore> store_;
  std::unique_ptr<ModelStreamLoader> loader_;
  std::vector<uint8_t> buf_;
  std::string meta_;  // header + index of export_cache()
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

// A heap buffer aligned like the cache file's entries (64 bytes), for a stored packed-weights
// image JS reads in (the stream loader adopts it; free() releases it). 0 on failure.
double alloc_cache_image(double size) {
  void* p = nullptr;
  if (!(size > 0) || ::posix_memalign(&p, 64, static_cast<size_t>(size)) != 0) return 0;
  return static_cast<double>(reinterpret_cast<uintptr_t>(p));
}

val check_model_file_size_js(double size) {
  if (!(size >= 0) || size > 9.0e15) return error_result(model_load_error("model size " + std::to_string(size) + " is not a byte count"));
  Status st = check_model_file_size(static_cast<uint64_t>(size));
  if (!st.ok()) return error_result(st);
  return ok_result(val(true));
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

// {task: 'caption'|'ask', lang, question, prompt, options: {maxNewTokens: 30, ...}, applyExif,
// maxPixels} -> JsPlan. Values are passed through as text: the core parses and checks them.
val plan_task_js(val req) {
  TaskRequest r;
  if (has(req, "task")) {
    const std::string t = option_text(req["task"]);
    if (t == "ask") r.task = Task::kAsk;
    else if (t != "caption") return error_result(invalid_argument("unknown task '" + t + "' (caption or ask)"));
  }
  if (has(req, "lang")) r.lang = option_text(req["lang"]);
  if (has(req, "question")) r.question = option_text(req["question"]);
  if (has(req, "prompt")) r.prompt = option_text(req["prompt"]);
  if (has(req, "applyExif")) r.decode.apply_exif = req["applyExif"].as<bool>();
  if (has(req, "maxPixels")) r.decode.max_pixels = static_cast<int64_t>(req["maxPixels"].as<double>());
  if (has(req, "options")) {
    val keys = val::global("Object").call<val>("keys", req["options"]);
    const int n = keys["length"].as<int>();
    for (int k = 0; k < n; ++k) {
      const std::string key = keys[k].as<std::string>();
      val v = req["options"][key];
      if (v.isUndefined()) continue;
      r.options.push_back({key, option_text(v)});
    }
  }
  auto p = plan_task(r);
  if (!p.ok()) return error_result(p.status());
  return ok_result(val(JsPlan(std::move(p).value())));
}

}  // namespace

EMSCRIPTEN_BINDINGS(mblip) {
  using namespace emscripten;
  class_<JsPlan>("Plan").function("prompt", &JsPlan::prompt).function("lang", &JsPlan::lang);
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
      .function("stats", &JsStreamLoader::stats)
      .function("cache_info", &JsStreamLoader::cache_info)
      .function("export_cache", &JsStreamLoader::export_cache);
  function("version", &version_string);
  function("build_info", &build_info);
  function("languages", &languages);
  function("find_language", &find_language_js);
  function("plan_task", &plan_task_js);
  function("check_model_file_size", &check_model_file_size_js);
  function("alloc_cache_image", &alloc_cache_image);
  function("load_model", &load_model);
}

}  // namespace wasm
}  // namespace mblip
