// The pipeline (the one place that knows the stage order): image bytes -> decode -> preprocess
// -> vision -> Q-Former -> projection = ImageEmbedding; prompt -> tokenize -> [queries; prompt]
// -> T5 encoder -> decoder + generate -> detokenize. Mirrors Blip2ForConditionalGeneration.generate.
#include <chrono>
#include <string>
#include <utility>

#include "api/pipeline.h"  // first: see the include-order note there
#include "api/model_meta.h"
#include "model/generate.h"

namespace mblip {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<PixelValues> Session::preprocess(const uint8_t* bytes, size_t size, const api::DecodeOptions& opts) {
  return preprocess_bytes(impl_->m.model->config(), bytes, size, opts);
}

Result<ImageEmbedding> Session::embed_pixel_values(const PixelValues& pv) {
  const MBlipModel& model = *impl_->m.model;
  const ModelConfig& cfg = model.config();
  const int64_t s = cfg.vision.image_size;
  if (pv.height != s || pv.width != s || pv.data.size() != static_cast<size_t>(3 * s * s))
    return invalid_argument("pixel values must be (1, 3, " + std::to_string(s) + ", " + std::to_string(s) +
                            "), got (1, 3, " + std::to_string(pv.height) + ", " + std::to_string(pv.width) + ")");
  MBLIP_RETURN_IF_ERROR(impl_->act_status);
  Activations& act = impl_->act;
  ImageEmbedding e;
  const float* vis = nullptr;
  const float* q = nullptr;
  auto t0 = Clock::now();
  MBLIP_RETURN_IF_ERROR(model.vision(pv.data.data(), act, &vis, impl_->pool));
  e.timings_ms.emplace_back("vision", ms_since(t0));
  t0 = Clock::now();
  MBLIP_RETURN_IF_ERROR(model.qformer(vis, act, &q, impl_->pool));
  e.timings_ms.emplace_back("qformer", ms_since(t0));
  t0 = Clock::now();
  e.num_queries = cfg.num_query_tokens;
  e.dim = cfg.text.d_model;
  e.data.resize(static_cast<size_t>(e.num_queries * e.dim));  // the result (not an activation)
  MBLIP_RETURN_IF_ERROR(model.project(q, e.data.data(), impl_->pool));
  e.timings_ms.emplace_back("projection", ms_since(t0));
  return e;
}

Result<ImageEmbedding> Session::embed_image(const uint8_t* bytes, size_t size, const api::DecodeOptions& opts) {
  if (bytes == nullptr || size == 0) return image_decode_error("image is empty (0 bytes)");
  const ModelConfig& cfg = impl_->m.model->config();
  auto t0 = Clock::now();
  auto rgb = decode_image(bytes, size, {opts.apply_exif, opts.max_pixels});
  if (!rgb.ok()) return rgb.status();
  const double decode_ms = ms_since(t0);
  t0 = Clock::now();
  MBLIP_ASSIGN_OR_RETURN(std::vector<float> px, preprocess_image(rgb.value(), cfg.preprocess));
  const double pre_ms = ms_since(t0);
  PixelValues pv{cfg.preprocess.height, cfg.preprocess.width, std::move(px)};
  MBLIP_ASSIGN_OR_RETURN(ImageEmbedding e, embed_pixel_values(pv));
  e.timings_ms.insert(e.timings_ms.begin(), {{"decode", decode_ms}, {"preprocess", pre_ms}});
  return e;
}

Result<ImageEmbedding> Session::embed_image_file(const std::string& path, const api::DecodeOptions& opts) {
  auto src = map_file(path);
  if (!src.ok()) return src.status();
  auto r = embed_image(src.value()->data(), src.value()->size(), opts);
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

Result<ImageEmbedding> Session::embed_pixels(const uint8_t* pixels, int64_t width, int64_t height, PixelFormat format) {
  if (pixels == nullptr || width <= 0 || height <= 0)
    return invalid_argument("pixels: need a non-empty buffer and positive width/height, got " +
                            std::to_string(width) + "x" + std::to_string(height));
  if (width > 65535 || height > 65535 || width * height > 100000000)
    return invalid_argument("pixels: image of " + std::to_string(width) + "x" + std::to_string(height) + " is too large");
  const ModelConfig& cfg = impl_->m.model->config();
  auto t0 = Clock::now();
  RgbImage img;
  if (format == PixelFormat::kRGBA) {
    MBLIP_ASSIGN_OR_RETURN(img, rgb_from_rgba(pixels, static_cast<size_t>(width * height * 4),
                                              static_cast<int>(width), static_cast<int>(height)));
  } else {
    img.width = static_cast<int>(width);
    img.height = static_cast<int>(height);
    img.rgb.assign(pixels, pixels + width * height * 3);
  }
  MBLIP_ASSIGN_OR_RETURN(std::vector<float> px, preprocess_image(img, cfg.preprocess));
  const double pre_ms = ms_since(t0);
  PixelValues pv{cfg.preprocess.height, cfg.preprocess.width, std::move(px)};
  MBLIP_ASSIGN_OR_RETURN(ImageEmbedding e, embed_pixel_values(pv));
  e.timings_ms.insert(e.timings_ms.begin(), {"preprocess", pre_ms});
  return e;
}

Result<GenerateResult> Session::generate(const ImageEmbedding& image, const std::string& prompt,
                                         const GenerateOptions& opts, const Callbacks& callbacks) {
  const Model::Impl& m = impl_->m;
  const MBlipModel& model = *m.model;
  const ModelConfig& cfg = model.config();
  MBLIP_RETURN_IF_ERROR(validate_generate_options(opts));
  if (image.num_queries != cfg.num_query_tokens || image.dim != cfg.text.d_model ||
      image.data.size() != static_cast<size_t>(image.num_queries * image.dim))
    return invalid_argument("image embedding is " + std::to_string(image.num_queries) + "x" +
                            std::to_string(image.dim) + ", this model needs " +
                            std::to_string(cfg.num_query_tokens) + "x" + std::to_string(cfg.text.d_model));
  GenerateResult res;
  res.prompt = prompt;

  // Blip2Processor: T5Tokenizer(prompt) with eos appended.
  auto t0 = Clock::now();
  MBLIP_ASSIGN_OR_RETURN(res.prompt_tokens, m.tokenizer->encode_prompt(prompt));
  res.timings_ms.emplace_back("tokenize", ms_since(t0));
  if (static_cast<int64_t>(res.prompt_tokens.size()) > m.info.max_prompt_tokens)
    return invalid_argument("prompt is " + std::to_string(res.prompt_tokens.size()) +
                            " tokens long; at most " + std::to_string(m.info.max_prompt_tokens) +
                            " are allowed (including eos)");

  // [projected queries ; prompt embeddings] -> T5 encoder
  t0 = Clock::now();
  MBLIP_RETURN_IF_ERROR(impl_->act_status);
  Activations& act = impl_->act;
  std::vector<float>& embeds = act.e_embeds;  // assign() below reuses their capacity
  std::vector<float>& mask01 = act.e_mask01;
  MBLIP_RETURN_IF_ERROR(model.build_encoder_input(image.data, res.prompt_tokens, {}, embeds, mask01));
  const size_t len = mask01.size();
  const float* enc = nullptr;
  MBLIP_RETURN_IF_ERROR(model.encode_text(embeds.data(), len, mask01.data(), act, &enc, impl_->pool));
  res.timings_ms.emplace_back("encoder", ms_since(t0));

  // decoder + search
  t0 = Clock::now();
  MBLIP_ASSIGN_OR_RETURN(T5DecoderSession * decoder,
                         model.decoder_for(enc, len, mask01.data(), act, impl_->pool,
                                           static_cast<size_t>(opts.max_new_tokens) + 1));
  StreamDecoder stream(*m.tokenizer);
  std::string streamed;
  GenerateHooks hooks;
  hooks.cancel = callbacks.cancel;
  if (callbacks.on_token) {
    hooks.on_step = [&](int step, const std::vector<int32_t>& toks, bool provisional) -> bool {
      TokenEvent ev;
      ev.step = step;
      ev.token = toks.empty() ? -1 : toks.back();
      ev.provisional = provisional;
      if (provisional) {
        auto text = m.tokenizer->decode(m.decodable(toks), true);
        ev.text = text.ok() ? text.value() : std::string();
      } else {
        if (ev.token >= 0 && ev.token < m.tokenizer->vocab_size()) {
          auto d = stream.push(ev.token);
          if (d.ok()) ev.delta = d.value();
        }
        streamed += ev.delta;
        ev.text = streamed;
      }
      return callbacks.on_token(ev);
    };
  }
  const SpecialTokens special{static_cast<int32_t>(cfg.text.decoder_start_token_id),
                              static_cast<int32_t>(cfg.text.eos_token_id),
                              static_cast<int32_t>(cfg.text.pad_token_id)};
  MBLIP_ASSIGN_OR_RETURN(std::vector<GeneratedSequence> seqs,
                         generate_tokens(*decoder, opts, special, hooks));
  res.timings_ms.emplace_back("decoder", ms_since(t0));

  t0 = Clock::now();
  for (GeneratedSequence& g : seqs) {
    Sequence s;
    MBLIP_ASSIGN_OR_RETURN(s.text, m.tokenizer->decode(m.decodable(g.tokens), true));
    s.tokens = std::move(g.tokens);
    s.score = g.score;
    res.sequences.push_back(std::move(s));
  }
  res.timings_ms.emplace_back("detokenize", ms_since(t0));
  if (res.sequences.empty()) return internal_error("generation produced no sequence");
  // Text held back by the stream decoder (trailing spaces / incomplete characters) at the end.
  if (callbacks.on_token && opts.num_beams == 1) {
    auto rest = stream.finish();
    if (rest.ok() && !rest.value().empty()) {
      TokenEvent ev;
      ev.step = static_cast<int>(res.sequences[0].tokens.size());
      ev.token = -1;
      ev.delta = rest.value();
      ev.text = streamed + ev.delta;
      if (!callbacks.on_token(ev)) return cancelled("generation cancelled by the callback");
    }
  }
  return res;
}

Result<std::vector<GenerateResult>> Session::generate_batch(const std::vector<const ImageEmbedding*>& images,
                                                            const std::vector<std::string>& prompts,
                                                            const GenerateOptions& opts, const Callbacks& callbacks) {
  if (images.size() != prompts.size())
    return invalid_argument("generate_batch: " + std::to_string(images.size()) + " images but " +
                            std::to_string(prompts.size()) + " prompts");
  if (images.empty()) return invalid_argument("generate_batch: empty batch");
  MBLIP_RETURN_IF_ERROR(validate_generate_options(opts));  // before any item runs
  // transformers right-pads the prompts and masks the padding in the encoder and in the
  // decoder's cross-attention; with relative positions measured from the left that makes every
  // item independent of the others, so running them one by one gives the batched result.
  std::vector<GenerateResult> out;
  for (size_t k = 0; k < images.size(); ++k) {
    if (images[k] == nullptr) return invalid_argument("generate_batch: image " + std::to_string(k) + " is null");
    auto r = generate(*images[k], prompts[k], opts, callbacks);
    if (!r.ok()) return r.status().with_context("batch item " + std::to_string(k));
    out.push_back(std::move(r).value());
  }
  return out;
}

}  // namespace mblip
