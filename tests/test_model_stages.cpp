// Stage tests: every golden case of tiny-mt5 and tiny-mt5-odd (f32 weights) compared stage by
// stage with the Hugging Face activations (each stage fed the golden input of that stage):
// vision, Q-Former, projection, LLM input, T5 encoder, decoder step-0 logits, teacher-forced
// logits (full sequence and step by step through the KV cache), plus beam-style cache reordering.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "kernels/thread_pool.h"
#include "model/mblip_model.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;
using mblip_test::Npy;

namespace {

// Named tolerances (golden/README.md "Tolerances").
constexpr double kActivationRelTol = 1e-4;  // max |err| / max_abs of the golden array
constexpr double kLogitAbsTol = 1e-3;       // absolute, on logits
// Quantized weights (whole chain from pixels; errors relative to the golden array's max_abs, and
// the cosine of the step-0 logits). About 2-3x the errors measured on tiny-mt5 with the reference
// and the XNNPACK kernels (f16 6-8e-4; q8_0 1.6-4.7e-2, cosine >= 0.9996 (XNNPACK also
// quantizes activations to int8); q4_0 0.21-0.39, cosine 0.971: 4-bit blocks on a 64-wide
// random model are coarse, the cosine bound is what catches a broken path).
constexpr double kQ16ActTol = 3e-3, kQ16LogitTol = 3e-3, kQ16MinCos = 0.99999;
constexpr double kQ8ActTol = 0.1, kQ8LogitTol = 0.06, kQ8MinCos = 0.999;
constexpr double kQ4ActTol = 1.0, kQ4LogitTol = 0.8, kQ4MinCos = 0.9;

// The backends a float32 model runs on in this build: the default (XNNPACK where built) and,
// when that is not already it, the scalar reference.
std::vector<LinearBackend> backends() {
#ifdef MBLIP_HAVE_XNNPACK
  return {LinearBackend::kAuto, LinearBackend::kReference};
#else
  return {LinearBackend::kAuto};
#endif
}

std::shared_ptr<MBlipModel> load_model(const std::string& name, LinearBackend backend = LinearBackend::kAuto) {
  // Tests only: each (model, backend) is loaded once per process.
  static std::map<std::pair<std::string, int>, std::shared_ptr<MBlipModel>> cache;
  const auto key = std::make_pair(name, static_cast<int>(backend));
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const std::string path = mblip_test::golden_gguf(name, "f32");
  auto file = GgufFile::open_path(path);
  REQUIRE(file.ok());
  ModelLoadOptions opts;
  opts.linear.backend = backend;
  auto m = MBlipModel::load(std::move(file).value(), opts);
  if (!m.ok()) FAIL(m.status().to_string());
  std::shared_ptr<MBlipModel> sp(std::move(m).value().release());
  cache[key] = sp;
  return sp;
}

// Worst error per stage, over all cases of a model.
struct Worst {
  std::map<std::string, std::pair<double, std::string>> by_stage;
  void add(const std::string& stage, double err, const std::string& where) {
    auto& w = by_stage[stage];
    if (err >= w.first) w = {err, where};
  }
  void print(const std::string& model) const {
    std::printf("[stages] %s worst errors (activations: max|err|/max_abs, logits: max|err|):\n", model.c_str());
    for (const auto& kv : by_stage)
      std::printf("  %-34s %.3e  (%s)\n", kv.first.c_str(), kv.second.first, kv.second.second.c_str());
    std::fflush(stdout);
  }
};

std::vector<float> slice(const std::vector<float>& a, size_t b, size_t per) {
  return std::vector<float>(a.begin() + static_cast<std::ptrdiff_t>(b * per),
                            a.begin() + static_cast<std::ptrdiff_t>((b + 1) * per));
}

double max_abs_err(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

void run_model(const std::string& model_name, LinearBackend backend) {
  const std::string g = mblip_test::golden_dir();
  const auto manifest = mblip_test::read_json(g + "/models/manifest.json");
  auto model = load_model(model_name, backend);
  const ModelConfig& cfg = model->config();
  ThreadPool pool(2);
  Worst worst;
  size_t cases = 0;
  for (const auto& c : manifest["cases"]) {
    if (c["model"] != model_name) continue;
    ++cases;
    const std::string id = c["id"];
    const auto& arr = c["arrays"];
    auto npy = [&](const std::string& key) { return mblip_test::load_npy(g + "/" + arr[key]["path"].get<std::string>()); };
    auto max_abs = [&](const std::string& key) { return std::max(arr[key]["max_abs"].get<double>(), 1e-30); };
    const Npy ids_n = npy("input_ids"), am_n = npy("attention_mask");
    const auto ids64 = ids_n.as_int64(), am64 = am_n.as_int64();
    const size_t B = static_cast<size_t>(ids_n.shape[0]), L = static_cast<size_t>(ids_n.shape[1]);
    const auto vis = npy("vision_last_hidden_state").as_float();
    const auto qf = npy("qformer_last_hidden_state").as_float();
    const auto proj = npy("language_projection").as_float();
    const auto emb = npy("llm_inputs_embeds").as_float();
    const auto llm_mask = npy("llm_attention_mask").as_int64();
    const auto enc = npy("llm_encoder_last_hidden_state").as_float();
    const auto step0 = npy("decoder_step0_logits").as_float();
    const bool has_tf = arr.contains("teacher_forced_logits");
    const size_t nq = static_cast<size_t>(cfg.num_query_tokens), d = static_cast<size_t>(cfg.text.d_model);
    const size_t npos = static_cast<size_t>(cfg.vision.num_positions());
    const size_t dv = static_cast<size_t>(cfg.vision.hidden_size), dq = static_cast<size_t>(cfg.qformer.hidden_size);
    const size_t V = static_cast<size_t>(cfg.text.vocab_size), T = nq + L;
    REQUIRE(vis.size() == B * npos * dv);
    for (size_t b = 0; b < B; ++b) {
      const std::string where = id + (B > 1 ? "[" + std::to_string(b) + "]" : "");
      INFO(where);
      const auto px = mblip_test::load_npy(g + "/" + c["pixel_values"][b].get<std::string>()).as_float();
      REQUIRE(px.size() == 3 * static_cast<size_t>(cfg.vision.image_size * cfg.vision.image_size));

      std::vector<float> out;
      REQUIRE(model->vision(px.data(), out, pool).ok());
      double e = max_abs_err(out, slice(vis, b, npos * dv)) / max_abs("vision_last_hidden_state");
      worst.add("vision_last_hidden_state", e, where);
      CHECK(e <= kActivationRelTol);

      const auto vis_b = slice(vis, b, npos * dv);
      REQUIRE(model->qformer(vis_b.data(), out, pool).ok());
      e = max_abs_err(out, slice(qf, b, nq * dq)) / max_abs("qformer_last_hidden_state");
      worst.add("qformer_last_hidden_state", e, where);
      CHECK(e <= kActivationRelTol);

      const auto qf_b = slice(qf, b, nq * dq);
      REQUIRE(model->project(qf_b.data(), out, pool).ok());
      e = max_abs_err(out, slice(proj, b, nq * d)) / max_abs("language_projection");
      worst.add("language_projection", e, where);
      CHECK(e <= kActivationRelTol);

      std::vector<int32_t> ids(L);
      std::vector<float> pmask(L);
      for (size_t i = 0; i < L; ++i) {
        ids[i] = static_cast<int32_t>(ids64[b * L + i]);
        pmask[i] = static_cast<float>(am64[b * L + i]);
      }
      std::vector<float> embeds, mask01;
      REQUIRE(model->build_encoder_input(slice(proj, b, nq * d), ids, pmask, embeds, mask01).ok());
      e = max_abs_err(embeds, slice(emb, b, T * d)) / max_abs("llm_inputs_embeds");
      worst.add("llm_inputs_embeds", e, where);
      CHECK(e <= kActivationRelTol);
      for (size_t i = 0; i < T; ++i) REQUIRE(mask01[i] == static_cast<float>(llm_mask[b * T + i]));

      const auto emb_b = slice(emb, b, T * d);
      REQUIRE(model->encode_text(emb_b, mask01, out, pool).ok());
      const auto enc_b = slice(enc, b, T * d);
      double m = 0;
      for (size_t i = 0; i < T; ++i) {
        if (mask01[i] == 0.0f) continue;  // padding rows are unspecified
        for (size_t j = 0; j < d; ++j) m = std::max(m, std::fabs(double(out[i * d + j]) - enc_b[i * d + j]));
      }
      e = m / max_abs("llm_encoder_last_hidden_state");
      worst.add("llm_encoder_last_hidden_state", e, where);
      CHECK(e <= kActivationRelTol);

      auto dec = model->new_decoder(enc_b, mask01, pool);
      REQUIRE(dec.ok());
      T5DecoderSession& s = *dec.value();
      std::vector<float> logits(V);
      REQUIRE(s.begin(1).ok());
      REQUIRE(s.step({0}, {static_cast<int32_t>(cfg.text.decoder_start_token_id)}, logits.data()).ok());
      e = max_abs_err(logits, slice(step0, b, V));
      worst.add("decoder_step0_logits", e, where);
      CHECK(e <= kLogitAbsTol);

      // The whole chain from pixels (own outputs feeding each stage) to step-0 logits.
      std::vector<float> q_own, enc_own, l_own(V);
      REQUIRE(model->encode_image(px.data(), q_own, pool).ok());
      REQUIRE(model->build_encoder_input(q_own, ids, pmask, embeds, mask01).ok());
      REQUIRE(model->encode_text(embeds, mask01, enc_own, pool).ok());
      auto dec2 = model->new_decoder(enc_own, mask01, pool);
      REQUIRE(dec2.ok());
      REQUIRE(dec2.value()->begin(1).ok());
      REQUIRE(dec2.value()->step({0}, {0}, l_own.data()).ok());
      e = max_abs_err(l_own, slice(step0, b, V));
      worst.add("chained_step0_logits", e, where);
      CHECK(e <= kLogitAbsTol);

      if (has_tf) {
        const Npy seq_n = mblip_test::load_npy(g + "/" + arr["greedy_sequences"]["path"].get<std::string>());
        const auto seq = seq_n.as_int64();
        const size_t S = static_cast<size_t>(seq_n.shape[1]);
        const auto tf = npy("teacher_forced_logits").as_float();
        std::vector<int32_t> toks(seq.begin() + static_cast<std::ptrdiff_t>(b * S),
                                  seq.begin() + static_cast<std::ptrdiff_t>(b * S + S - 1));
        const auto tf_b = slice(tf, b, (S - 1) * V);
        REQUIRE(s.forward_sequence(toks, out).ok());
        e = max_abs_err(out, tf_b);
        worst.add("teacher_forced_logits (full)", e, where);
        CHECK(e <= kLogitAbsTol);
        // The same through the KV cache, one token at a time.
        REQUIRE(s.begin(1).ok());
        double es = 0;
        for (size_t t = 0; t + 1 < S; ++t) {
          REQUIRE(s.step({0}, {toks[t]}, logits.data()).ok());
          es = std::max(es, max_abs_err(logits, slice(tf_b, t, V)));
        }
        worst.add("teacher_forced_logits (steps)", es, where);
        CHECK(es <= kLogitAbsTol);
      }
    }
  }
  CHECK(cases == 10);
  worst.print(model_name + (backend == LinearBackend::kReference ? " (reference kernels)" : " (default kernels)"));
}

}  // namespace

TEST_CASE("tiny-mt5 stages match the Hugging Face activations", "[stages]") {
  MBLIP_REQUIRE_GOLDEN();
  for (LinearBackend b : backends()) run_model("tiny-mt5", b);
}

TEST_CASE("tiny-mt5-odd stages match the Hugging Face activations", "[stages]") {
  MBLIP_REQUIRE_GOLDEN();
  for (LinearBackend b : backends()) run_model("tiny-mt5-odd", b);
}

TEST_CASE("model outputs do not depend on the thread count", "[stages]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string g = mblip_test::golden_dir();
  auto model = load_model("tiny-mt5-odd");
  const auto px = mblip_test::load_npy(g + "/images/chelsea_progressive/pixel_values.npy").as_float();
  const std::vector<int32_t> ids = {100, 200, 300, 1};
  std::vector<std::vector<float>> logits;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> q, embeds, mask, enc;
    REQUIRE(model->encode_image(px.data(), q, pool).ok());
    REQUIRE(model->build_encoder_input(q, ids, {}, embeds, mask).ok());
    REQUIRE(model->encode_text(embeds, mask, enc, pool).ok());
    auto dec = model->new_decoder(enc, mask, pool);
    REQUIRE(dec.ok());
    REQUIRE(dec.value()->forward_sequence({0, 5, 6}, enc).ok());
    logits.push_back(enc);
  }
  CHECK(logits[0] == logits[1]);
  CHECK(logits[0] == logits[2]);
}

TEST_CASE("decoder cache reordering equals recomputing each hypothesis", "[stages]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string g = mblip_test::golden_dir();
  auto model = load_model("tiny-mt5-odd");
  const size_t V = static_cast<size_t>(model->config().text.vocab_size);
  const auto enc = mblip_test::load_npy(g + "/models/tiny-mt5-odd/cases/c09_batch/llm_encoder_last_hidden_state.npy");
  const auto mask = mblip_test::load_npy(g + "/models/tiny-mt5-odd/cases/c09_batch/llm_attention_mask.npy");
  const size_t T = static_cast<size_t>(enc.shape[1]), d = static_cast<size_t>(enc.shape[2]);
  // Batch row 1 (the padded one).
  auto enc_all = enc.as_float();
  std::vector<float> enc1(enc_all.begin() + static_cast<std::ptrdiff_t>(T * d), enc_all.end());
  auto m64 = mask.as_int64();
  std::vector<float> mask1;
  for (size_t i = 0; i < T; ++i) mask1.push_back(static_cast<float>(m64[T + i]));
  ThreadPool pool(2);
  auto dec = model->new_decoder(enc1, mask1, pool, 2);  // tiny capacity: exercises growth
  REQUIRE(dec.ok());
  T5DecoderSession& s = *dec.value();
  // Hypotheses as (parents, tokens) per step; histories tracked alongside.
  const std::vector<std::vector<int32_t>> parents = {{0, 0}, {1, 0, 1}, {2, 2, 0, 1}, {3, 0}};
  const std::vector<std::vector<int32_t>> tokens = {{0, 0}, {17, 5, 923}, {1, 44, 7, 3000}, {8, 9}};
  std::vector<std::vector<int32_t>> hist(2);
  REQUIRE(s.begin(2).ok());
  for (size_t st = 0; st < parents.size(); ++st) {
    std::vector<std::vector<int32_t>> nh;
    for (size_t r = 0; r < parents[st].size(); ++r) {
      nh.push_back(hist[static_cast<size_t>(parents[st][r])]);
      nh.back().push_back(tokens[st][r]);
    }
    hist = nh;
    std::vector<float> logits(parents[st].size() * V);
    REQUIRE(s.step(parents[st], tokens[st], logits.data()).ok());
    // Check against an independent session recomputing each history from scratch.
    auto ref = model->new_decoder(enc1, mask1, pool);
    REQUIRE(ref.ok());
    for (size_t r = 0; r < hist.size(); ++r) {
      std::vector<float> full;
      REQUIRE(ref.value()->forward_sequence(hist[r], full).ok());
      std::vector<float> last(full.end() - static_cast<std::ptrdiff_t>(V), full.end());
      std::vector<float> got(logits.begin() + static_cast<std::ptrdiff_t>(r * V),
                             logits.begin() + static_cast<std::ptrdiff_t>((r + 1) * V));
      INFO("step " << st << " row " << r);
      CHECK(max_abs_err(got, last) <= 1e-5);
    }
  }
  // Bad inputs are errors.
  std::vector<float> logits(V);
  CHECK_FALSE(s.step({5}, {0}, logits.data()).ok());
  CHECK_FALSE(s.step({0}, {1 << 30}, logits.data()).ok());
  CHECK_FALSE(s.step({0, 0}, {0}, logits.data()).ok());
}

namespace {

// Copies a GGUF file with some metadata changed, some tensors dropped and some replaced.
void rewrite_gguf(const GgufFile& src, const std::string& path, const std::map<std::string, GgufValue>& set_kv,
                  const std::string& drop, const std::map<std::string, std::vector<float>>& replace) {
  GgufWriter w(src.alignment());
  for (const auto& kv : src.metadata())
    if (kv.first != "general.alignment") w.set(kv.first, kv.second);
  for (const auto& kv : set_kv) w.set(kv.first, kv.second);
  std::vector<const GgufTensorInfo*> order;
  for (const GgufTensorInfo& t : src.tensors()) {
    if (t.view.name == drop) continue;
    const bool repl = replace.count(t.view.name) > 0;
    REQUIRE(w.add_tensor(t.view.name, repl ? DType::F32 : t.view.type, t.view.shape).ok());
    order.push_back(&t);
  }
  for (const auto& kv : replace)
    if (!src.tensor(kv.first)) {
      // New tensor with the shape of t.emb (used for the scaled head).
      REQUIRE(w.add_tensor(kv.first, DType::F32, src.tensor("t.emb")->view.shape).ok());
      order.push_back(nullptr);
    }
  Status st = w.write(path, [&](size_t i, std::vector<uint8_t>& out) {
    std::string name = order[i] ? order[i]->view.name : std::string();
    if (!order[i]) {
      for (const auto& kv : replace)
        if (!src.tensor(kv.first)) name = kv.first;
    }
    auto it = replace.find(name);
    if (it != replace.end()) {
      const auto* p = reinterpret_cast<const uint8_t*>(it->second.data());
      out.assign(p, p + it->second.size() * sizeof(float));
    } else {
      out.assign(order[i]->view.data, order[i]->view.data + order[i]->view.nbytes);
    }
    return Status::Ok();
  });
  REQUIRE(st.ok());
}

}  // namespace

TEST_CASE("tied embeddings: lm_head is the shared embedding applied to d_model^-0.5 * output", "[stages]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string g = mblip_test::golden_dir();
  auto src = GgufFile::open_path(mblip_test::golden_gguf("tiny-mt5", "f32"));
  REQUIRE(src.ok());
  const GgufFile& f = *src.value();
  const TensorView& emb = f.tensor("t.emb")->view;
  REQUIRE(emb.type == DType::F32);
  const int64_t d = emb.shape[1];
  std::vector<float> scaled(static_cast<size_t>(emb.numel()));
  std::memcpy(scaled.data(), emb.data, emb.nbytes);
  const float s = static_cast<float>(std::pow(static_cast<double>(d), -0.5));
  for (auto& x : scaled) x *= s;
  const std::string tied_path = mblip_test::tmp_dir() + "/stages-tied.gguf";
  const std::string head_path = mblip_test::tmp_dir() + "/stages-scaled-head.gguf";
  // Tied: t.head dropped, tie flag set. Reference: untied, with t.head = t.emb * d^-0.5.
  rewrite_gguf(f, tied_path, {{"mblip.text.tie_word_embeddings", GgufValue::make_bool(true)}}, "t.head", {});
  rewrite_gguf(f, head_path, {}, "", {{"t.head", scaled}});
  std::vector<std::vector<float>> logits;
  for (const std::string& p : {tied_path, head_path}) {
    auto file = GgufFile::open_path(p);
    REQUIRE(file.ok());
    auto m = MBlipModel::load(std::move(file).value());
    if (!m.ok()) FAIL(m.status().to_string());
    CHECK(m.value()->config().text.tie_word_embeddings == (p == tied_path));
    ThreadPool pool(1);
    auto enc = mblip_test::load_npy(g + "/models/tiny-mt5/cases/c00_astronaut_baseline/llm_encoder_last_hidden_state.npy");
    auto dec = m.value()->new_decoder(enc.as_float(), {}, pool);
    REQUIRE(dec.ok());
    std::vector<float> out;
    REQUIRE(dec.value()->forward_sequence({0, 25, 900, 3}, out).ok());
    logits.push_back(out);
  }
  double e = 0, mx = 0;
  for (size_t i = 0; i < logits[0].size(); ++i) {
    e = std::max(e, std::fabs(double(logits[0][i]) - logits[1][i]));
    mx = std::max(mx, std::fabs(double(logits[1][i])));
  }
  CHECK(mx > 0.1);
  CHECK(e <= 1e-5 * std::max(1.0, mx));
}

TEST_CASE("quantized weights stay close to the float32 goldens", "[stages]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string g = mblip_test::golden_dir();
  // Per weight type: tolerance on chained activations (max|err|/max_abs) and on step-0 logits
  // (max|err| relative to the logits' max_abs); about 3x the errors measured on tiny-mt5.
  struct Q { const char* type; double act_tol, logit_tol, min_cos; };
  const Q qs[] = {{"f16", kQ16ActTol, kQ16LogitTol, kQ16MinCos},
                  {"q8_0", kQ8ActTol, kQ8LogitTol, kQ8MinCos},
                  {"q4_0", kQ4ActTol, kQ4LogitTol, kQ4MinCos}};
  const char* cases[] = {"c00_astronaut_baseline", "c03_chelsea_progressive"};
  ThreadPool pool(2);
  for (const Q& q : qs) {
    auto file = GgufFile::open_path(mblip_test::golden_gguf("tiny-mt5", q.type));
    REQUIRE(file.ok());
    auto m = MBlipModel::load(std::move(file).value());
    if (!m.ok()) FAIL(m.status().to_string());
    const MBlipModel& model = *m.value();
    const auto manifest = mblip_test::read_json(g + "/models/manifest.json");
    double worst_proj = 0, worst_enc = 0, worst_logit = 0, min_cos = 1;
    for (const auto& c : manifest["cases"]) {
      const std::string id = c["id"];
      if (id != std::string("tiny-mt5/") + cases[0] && id != std::string("tiny-mt5/") + cases[1]) continue;
      const auto& arr = c["arrays"];
      auto path = [&](const std::string& k) { return g + "/" + arr[k]["path"].get<std::string>(); };
      const auto px = mblip_test::load_npy(g + "/" + c["pixel_values"][0].get<std::string>()).as_float();
      const auto ids64 = mblip_test::load_npy(path("input_ids")).as_int64();
      std::vector<int32_t> ids(ids64.begin(), ids64.end());
      std::vector<float> queries, embeds, mask, enc, logits(static_cast<size_t>(model.config().text.vocab_size));
      REQUIRE(model.encode_image(px.data(), queries, pool).ok());
      REQUIRE(model.build_encoder_input(queries, ids, {}, embeds, mask).ok());
      REQUIRE(model.encode_text(embeds, mask, enc, pool).ok());
      auto dec = model.new_decoder(enc, mask, pool);
      REQUIRE(dec.ok());
      REQUIRE(dec.value()->begin(1).ok());
      REQUIRE(dec.value()->step({0}, {0}, logits.data()).ok());
      worst_proj = std::max(worst_proj, max_abs_err(queries, mblip_test::load_npy(path("language_projection")).as_float()) /
                                            arr["language_projection"]["max_abs"].get<double>());
      worst_enc = std::max(worst_enc, max_abs_err(enc, mblip_test::load_npy(path("llm_encoder_last_hidden_state")).as_float()) /
                                          arr["llm_encoder_last_hidden_state"]["max_abs"].get<double>());
      min_cos = std::min(min_cos, mblip_test::cosine_similarity(logits, mblip_test::load_npy(path("decoder_step0_logits")).as_float()));
      worst_logit = std::max(worst_logit, max_abs_err(logits, mblip_test::load_npy(path("decoder_step0_logits")).as_float()) /
                                              arr["decoder_step0_logits"]["max_abs"].get<double>());
    }
    std::printf("[stages] tiny-mt5 %-5s chained: projection %.3e  encoder %.3e  step0 logits %.3e (rel. to max_abs), logits cosine %.6f\n",
                q.type, worst_proj, worst_enc, worst_logit, min_cos);
    INFO(q.type);
    CHECK(worst_proj <= q.act_tol);
    CHECK(worst_enc <= q.act_tol);
    CHECK(worst_logit <= q.logit_tol);
    CHECK(min_cos >= q.min_cos);
  }
}

TEST_CASE("model loading and stage calls report bad input as errors", "[stages]") {
  MBLIP_REQUIRE_GOLDEN();
  auto src = GgufFile::open_path(mblip_test::golden_gguf("tiny-mt5-odd", "f32"));
  REQUIRE(src.ok());
  // A missing tensor is a ModelLoad error naming it.
  const std::string missing = mblip_test::tmp_dir() + "/stages-missing.gguf";
  rewrite_gguf(*src.value(), missing, {}, "q.1.ffn.down.w", {});
  auto f1 = GgufFile::open_path(missing);
  REQUIRE(f1.ok());
  auto m1 = MBlipModel::load(std::move(f1).value());
  REQUIRE_FALSE(m1.ok());
  CHECK(m1.status().code() == StatusCode::kModelLoad);
  CHECK(m1.status().message().find("q.1.ffn.down.w") != std::string::npos);
  // Tensors of the wrong shape: num_heads 4 -> 6 no longer matches q/k/v and the rel-bias tables.
  const std::string wrong = mblip_test::tmp_dir() + "/stages-wrong-shape.gguf";
  rewrite_gguf(*src.value(), wrong, {{"mblip.text.num_heads", GgufValue::make_u32(6)}}, "", {});
  auto f2 = GgufFile::open_path(wrong);
  REQUIRE(f2.ok());
  auto m2 = MBlipModel::load(std::move(f2).value());
  REQUIRE_FALSE(m2.ok());
  INFO(m2.status().to_string());
  CHECK(m2.status().code() == StatusCode::kModelLoad);
  // Stage calls with inconsistent sizes.
  auto model = load_model("tiny-mt5-odd");
  ThreadPool pool(1);
  std::vector<float> out, embeds, mask;
  CHECK_FALSE(model->vision(nullptr, out, pool).ok());
  CHECK_FALSE(model->build_encoder_input(std::vector<float>(5), {1}, {}, embeds, mask).ok());
  const size_t qd = static_cast<size_t>(model->num_query_tokens() * model->d_model());
  CHECK_FALSE(model->build_encoder_input(std::vector<float>(qd), {1, 2}, {1}, embeds, mask).ok());
  CHECK_FALSE(model->build_encoder_input(std::vector<float>(qd), {-3}, {}, embeds, mask).ok());
  CHECK_FALSE(model->encode_text(std::vector<float>(7), {}, out, pool).ok());
  CHECK_FALSE(model->encode_text(std::vector<float>(qd), {1, 1}, out, pool).ok());
  CHECK_FALSE(model->new_decoder({}, {}, pool).ok());
}
