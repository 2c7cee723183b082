// compare_models (mblip/compare.h): runs a test and a reference model through the same stages
// (Blip2ForConditionalGeneration: vision, Q-Former, projection, T5 encoder, decoder) on one
// image and prompt, and measures per-stage drift, teacher-forced top-1 and greedy agreement.
#include "mblip/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/pipeline.h"  // first: see the include-order note there
#include "image/image.h"
#include "model/generate.h"

namespace mblip {

namespace {

// One model's outputs for one (image, prompt).
struct StageOutputs {
  std::vector<float> stage[5];  // vision, qformer, projection, encoder, logits0
  std::vector<int32_t> greedy;  // without the decoder start; eos included when produced
  std::unique_ptr<T5DecoderSession> decoder;
};

Result<StageOutputs> run_stages(const Model::Impl& m, const PixelValues& px, const std::vector<int32_t>& ids,
                                int max_new_tokens, ThreadPool& pool) {
  const MBlipModel& model = *m.model;
  const ModelConfig& cfg = model.config();
  StageOutputs o;
  std::vector<float> embeds, mask01;
  MBLIP_RETURN_IF_ERROR(model.vision(px.data.data(), o.stage[0], pool));
  MBLIP_RETURN_IF_ERROR(model.qformer(o.stage[0].data(), o.stage[1], pool));
  MBLIP_RETURN_IF_ERROR(model.project(o.stage[1].data(), o.stage[2], pool));
  MBLIP_RETURN_IF_ERROR(model.build_encoder_input(o.stage[2], ids, {}, embeds, mask01));
  MBLIP_RETURN_IF_ERROR(model.encode_text(embeds, mask01, o.stage[3], pool));
  MBLIP_ASSIGN_OR_RETURN(o.decoder, model.new_decoder(o.stage[3], mask01, pool,
                                                      static_cast<size_t>(max_new_tokens) + 1));
  const int32_t start = static_cast<int32_t>(cfg.text.decoder_start_token_id);
  o.stage[4].resize(static_cast<size_t>(o.decoder->vocab_size()));
  MBLIP_RETURN_IF_ERROR(o.decoder->begin(1));
  MBLIP_RETURN_IF_ERROR(o.decoder->step({0}, {start}, o.stage[4].data()));
  GenerateOptions g;
  g.num_beams = 1;
  g.max_new_tokens = max_new_tokens;
  const SpecialTokens special{start, static_cast<int32_t>(cfg.text.eos_token_id),
                              static_cast<int32_t>(cfg.text.pad_token_id)};
  MBLIP_ASSIGN_OR_RETURN(std::vector<GeneratedSequence> seqs, generate_tokens(*o.decoder, g, special));
  if (seqs.empty()) return internal_error("greedy search returned no sequence");
  o.greedy = std::move(seqs[0].tokens);
  return o;
}

// Argmax and top-1 minus top-2 of one row of logits (first index wins ties, like torch.argmax).
void top2(const float* row, size_t n, int32_t* arg, double* gap) {
  float best = -std::numeric_limits<float>::infinity(), second = best;
  size_t bi = 0;
  for (size_t i = 0; i < n; ++i) {
    if (row[i] > best) {
      second = best;
      best = row[i];
      bi = i;
    } else if (row[i] > second) {
      second = row[i];
    }
  }
  *arg = static_cast<int32_t>(bi);
  *gap = n > 1 ? static_cast<double>(best) - static_cast<double>(second) : 0.0;
}

std::string shape_mismatch(const char* what, int64_t test, int64_t ref) {
  return std::string(what) + " differs: test model " + std::to_string(test) + ", reference model " +
         std::to_string(ref);
}

}  // namespace

inline namespace api {

const std::vector<std::string>& compare_stage_names() {
  static const std::vector<std::string> kNames = {"vision", "qformer", "projection", "encoder", "logits0"};
  return kNames;
}

StageComparison compare_arrays(const std::string& name, const float* test, const float* reference, size_t n) {
  StageComparison s;
  s.name = name;
  s.size = n;
  double dot = 0, nt = 0, nr = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = test[i], b = reference[i];
    dot += a * b;
    nt += a * a;
    nr += b * b;
    s.max_abs_error = std::max(s.max_abs_error, std::fabs(a - b));
    s.reference_max_abs = std::max(s.reference_max_abs, std::fabs(b));
  }
  if (nt == 0 && nr == 0) s.cosine = 1.0;
  else if (nt == 0 || nr == 0) s.cosine = 0.0;
  else s.cosine = dot / (std::sqrt(nt) * std::sqrt(nr));
  if (!std::isfinite(s.max_abs_error) || !std::isfinite(s.cosine)) {  // NaN / inf in an output
    s.cosine = std::numeric_limits<double>::quiet_NaN();
    s.max_abs_error = std::numeric_limits<double>::infinity();
  }
  return s;
}

Status check_same_architecture(const Model& test, const Model& reference) {
  const ModelConfig& t = test.impl().model->config();
  const ModelConfig& r = reference.impl().model->config();
  const struct {
    const char* what;
    int64_t a, b;
  } checks[] = {
      {"image size", t.vision.image_size, r.vision.image_size},
      {"vision patch size", t.vision.patch_size, r.vision.patch_size},
      {"vision hidden size", t.vision.hidden_size, r.vision.hidden_size},
      {"vision MLP size", t.vision.intermediate_size, r.vision.intermediate_size},
      {"vision layer count", t.vision.num_layers, r.vision.num_layers},
      {"vision head count", t.vision.num_heads, r.vision.num_heads},
      {"Q-Former hidden size", t.qformer.hidden_size, r.qformer.hidden_size},
      {"Q-Former layer count", t.qformer.num_layers, r.qformer.num_layers},
      {"Q-Former head count", t.qformer.num_heads, r.qformer.num_heads},
      {"number of query tokens", t.num_query_tokens, r.num_query_tokens},
      {"d_model", t.text.d_model, r.text.d_model},
      {"d_ff", t.text.d_ff, r.text.d_ff},
      {"text head count", t.text.num_heads, r.text.num_heads},
      {"encoder layer count", t.text.num_layers, r.text.num_layers},
      {"decoder layer count", t.text.num_decoder_layers, r.text.num_decoder_layers},
      {"vocabulary size", t.text.vocab_size, r.text.vocab_size},
      {"tokenizer vocabulary size", test.impl().tokenizer->vocab_size(), reference.impl().tokenizer->vocab_size()},
      {"decoder start token id", t.text.decoder_start_token_id, r.text.decoder_start_token_id},
      {"eos token id", t.text.eos_token_id, r.text.eos_token_id},
  };
  for (const auto& c : checks)
    if (c.a != c.b)
      return invalid_argument("models have different architectures: " + shape_mismatch(c.what, c.a, c.b));
  return Status::Ok();
}

Result<CompareReport> compare_models(const Model& test, const Model& reference, const uint8_t* image, size_t size,
                                     const CompareOptions& opts) {
  MBLIP_RETURN_IF_ERROR(check_same_architecture(test, reference));
  const PreprocessConfig& pt = test.impl().model->config().preprocess;
  const PreprocessConfig& pr = reference.impl().model->config().preprocess;
  if (pt.height != pr.height || pt.width != pr.width || pt.mean != pr.mean || pt.std != pr.std ||
      pt.resample != pr.resample || pt.rescale_factor != pr.rescale_factor)
    return invalid_argument("models preprocess images differently (preprocessor settings in the model files differ)");
  if (image == nullptr || size == 0) return image_decode_error("image is empty (0 bytes)");
  auto rgb = decode_image(image, size, {opts.decode.apply_exif, opts.decode.max_pixels});
  if (!rgb.ok()) return rgb.status();
  MBLIP_ASSIGN_OR_RETURN(std::vector<float> px, preprocess_image(rgb.value(), pr));
  PixelValues pv{pr.height, pr.width, std::move(px)};
  return compare_models_pixels(test, reference, pv, opts);
}

Result<CompareReport> compare_models_pixels(const Model& test, const Model& reference, const PixelValues& pixels,
                                            const CompareOptions& opts) {
  MBLIP_RETURN_IF_ERROR(check_same_architecture(test, reference));
  if (opts.max_new_tokens < 1 || opts.max_new_tokens > kMaxNewTokensLimit)
    return invalid_argument("max_new_tokens must be in 1.." + std::to_string(kMaxNewTokensLimit) + ", got " +
                            std::to_string(opts.max_new_tokens));
  const Model::Impl& mt = test.impl();
  const Model::Impl& mr = reference.impl();
  const ModelConfig& cfg = mr.model->config();
  const int64_t s = cfg.vision.image_size;
  if (pixels.height != s || pixels.width != s || pixels.data.size() != static_cast<size_t>(3 * s * s))
    return invalid_argument("pixel values must be (1, 3, " + std::to_string(s) + ", " + std::to_string(s) +
                            "), got (1, 3, " + std::to_string(pixels.height) + ", " + std::to_string(pixels.width) +
                            ")");
  CompareReport rep;
  // The prompt exactly as `mblip caption` builds it (the task planner owns the template).
  TaskRequest req;
  req.task = Task::kCaption;
  req.lang = opts.language;
  req.prompt = opts.prompt;
  MBLIP_ASSIGN_OR_RETURN(TaskPlan plan, plan_task(req));
  rep.prompt = plan.prompt;
  MBLIP_ASSIGN_OR_RETURN(rep.prompt_tokens, mr.tokenizer->encode_prompt(rep.prompt));
  MBLIP_ASSIGN_OR_RETURN(std::vector<int32_t> test_ids, mt.tokenizer->encode_prompt(rep.prompt));
  if (test_ids != rep.prompt_tokens)
    return invalid_argument("the two models' tokenizers split the prompt differently (different spiece models)");
  const int64_t max_prompt = std::min(mr.info.max_prompt_tokens, mt.info.max_prompt_tokens);
  if (static_cast<int64_t>(rep.prompt_tokens.size()) > max_prompt)
    return invalid_argument("prompt is " + std::to_string(rep.prompt_tokens.size()) + " tokens long; at most " +
                            std::to_string(max_prompt) + " are allowed (including eos)");

  ThreadPool pool(opts.threads > 0 ? opts.threads : mr.threads);
  auto ref_r = run_stages(mr, pixels, rep.prompt_tokens, opts.max_new_tokens, pool);
  if (!ref_r.ok()) return ref_r.status().with_context("reference model");
  auto test_r = run_stages(mt, pixels, rep.prompt_tokens, opts.max_new_tokens, pool);
  if (!test_r.ok()) return test_r.status().with_context("test model");
  StageOutputs& ref = ref_r.value();
  StageOutputs& tst = test_r.value();

  const auto& names = compare_stage_names();
  for (size_t k = 0; k < names.size(); ++k) {
    if (ref.stage[k].size() != tst.stage[k].size())
      return internal_error(names[k] + " outputs differ in size: " + std::to_string(tst.stage[k].size()) + " vs " +
                            std::to_string(ref.stage[k].size()));
    rep.stages.push_back(compare_arrays(names[k], tst.stage[k].data(), ref.stage[k].data(), ref.stage[k].size()));
  }

  rep.reference_tokens = ref.greedy;
  rep.test_tokens = tst.greedy;
  rep.greedy_tokens_agree = ref.greedy == tst.greedy;
  MBLIP_ASSIGN_OR_RETURN(rep.reference_text, mr.tokenizer->decode(mr.decodable(ref.greedy), true));
  MBLIP_ASSIGN_OR_RETURN(rep.test_text, mt.tokenizer->decode(mt.decodable(tst.greedy), true));

  // Teacher forcing along the reference's greedy path (T5ForConditionalGeneration with
  // decoder_input_ids = [start] + reference tokens, the last one dropped).
  const size_t n = ref.greedy.size();
  rep.teacher_forced_positions = static_cast<int>(n);
  if (n > 0) {
    std::vector<int32_t> input;
    input.push_back(static_cast<int32_t>(cfg.text.decoder_start_token_id));
    input.insert(input.end(), ref.greedy.begin(), ref.greedy.end() - 1);
    std::vector<float> lr, lt;
    MBLIP_RETURN_IF_ERROR(ref.decoder->forward_sequence(input, lr).with_context("reference model"));
    MBLIP_RETURN_IF_ERROR(tst.decoder->forward_sequence(input, lt).with_context("test model"));
    const size_t V = static_cast<size_t>(ref.decoder->vocab_size());
    if (lr.size() != n * V || lt.size() != n * V) return internal_error("teacher-forced logits have the wrong size");
    rep.reference_min_top2_gap = rep.test_min_top2_gap = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < n; ++i) {
      int32_t ar = 0, at = 0;
      double gr = 0, gt = 0;
      top2(lr.data() + i * V, V, &ar, &gr);
      top2(lt.data() + i * V, V, &at, &gt);
      rep.reference_min_top2_gap = std::min(rep.reference_min_top2_gap, gr);
      rep.test_min_top2_gap = std::min(rep.test_min_top2_gap, gt);
      if (ar == at) ++rep.teacher_forced_agree;
      else if (rep.first_disagreement < 0) rep.first_disagreement = static_cast<int>(i);
    }
  }
  return rep;
}

}  // namespace api
}  // namespace mblip
