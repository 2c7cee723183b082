// Quantization quality on the golden models: per conversion recipe (f16, q8_0, q4_0, the default
// recipe, a 4-bit LLM with the rest f32) greedy / beam-3 token agreement with the float32 HF
// goldens and the worst cosine similarity of every stage, with named thresholds and a printed table.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "convert/recipe.h"
#include "io/gguf.h"
#include "kernels/linear.h"
#include "kernels/q4_0.h"
#include "kernels/q8_0.h"
#include "kernels/thread_pool.h"
#include "mblip/mblip.h"
#include "model/mblip_model.h"
#include "support/golden.h"
#include "support/models.h"
#include "synth/synth_fill.h"

namespace {

using mblip::Component;
using mblip::DType;

constexpr int kNumStages = 5;
const char* const kStages[kNumStages] = {"vision_last_hidden_state", "qformer_last_hidden_state",
                                         "language_projection", "llm_encoder_last_hidden_state",
                                         "decoder_step0_logits"};
const char* const kStageShort[kNumStages] = {"vision", "qformer", "proj", "encoder", "logits0"};

constexpr double kNever = std::numeric_limits<double>::infinity();

// One conversion recipe and the quality it must keep. Tokens must equal the float32 golden on
// every item whose greedy_min_top2_logit_gap (manifest) exceeds greedy_gap / beam_gap (kNever:
// no token requirement); every stage's worst cosine (over all items, chained from the pixels)
// must reach min_cos[stage]. Thresholds: see recipes() below.
struct Recipe {
  const char* name;
  DType weights;
  std::map<Component, DType> overrides;
  double greedy_gap, beam_gap;
  double min_cos[kNumStages];
  const char* q8_kernel = nullptr;  // MBLIP_Q8_KERNEL while the model loads (nullptr: the default)
  mblip::TensorRules rules = {};     // per-tensor globs on top (tools/convert/recipe.h)
  const char* q4_kernel = nullptr;   // MBLIP_Q4_KERNEL while the model loads
  bool dequantized = false;          // weights stored as f32 after the round trip (float kernels)
};

// --- Thresholds, from the measured table in docs/model-file.md "Quality on the golden models"
// (default kernels: XNNPACK natively, whose q8_0 path also quantizes activations to int8) ---
// Cosine bounds: 1 - 2 * (1 - worst measured cosine of either model), rounded down, i.e. the
// regression must double the distance from 1 before the test fails.
// f32: the control row; must reproduce every golden sequence where gap > 0.01 (golden README).
// f16: identical greedy and beam tokens where gap > 0.01 (measured: 11/11 and 11/11 on both
//   models); worst cosine 0.99999964, bound 0.999999.
// q8_0: identical greedy tokens where gap > 0.05 (measured: tiny-mt5 6/11, every miss has a gap
//   <= 0.045; the 3 items above 0.05 all agree). Worst cosines 0.99986 / 0.99973 / 0.99966 /
//   0.99926 / 0.99960 (vision .. logits) with the default kernels (XNNPACK qc8w: weights
//   requantized per row, activations per row). Issue 13 asked for >= 0.9999 per stage; that is
//   beyond the Q8_0 format on these models: q8_0-ref (exact dequantized weights, float
//   activations) measures 0.99996 / 0.99992 / 0.99990 / 0.99976 / 0.99979.
// q8_0-own: the own Q8_0 kernel (block scales kept, activations per block of 32; opt-in with
//   MBLIP_Q8_KERNEL=own, slower): 0.99993 / 0.99988 / 0.99984 / 0.99958 / 0.99971. No token
//   requirement: greedy 3/11 natively, 2/11 in wasm (c00, gap 0.104, flips there: only the
//   float summation order differs). At logits cosine ~0.9997 (error ~0.07 per logit at std 3)
//   flips at gaps of 0.05-0.1 are chance, so the gap > 0.05 rule holds for no q8_0 path reliably.
// 4-bit (q4_0 everywhere, q4v8 = q4_0 + vision q8_0 (the default before 2026-12-04), q4_0-llm =
//   q4_0 text/embeddings/head and f32 elsewhere): no token requirement (measured 0/11 on
//   tiny-mt5). These tiny random models have top-2 gaps of 0.002-0.12 on unit-scale logits, and
//   4-bit blocks of 32 on 64-wide random matrices move the step-0 logits by far more (cosine
//   0.96-0.97); a trained mT5-XL has wide gaps and 2048-wide rows that average the rounding
//   noise. The cosines catch a broken or degraded 4-bit path. With the min-error Q4_0 scales
//   (2026-12-04) q4_0 measures 0.98958 / 0.97709 / 0.97436 / 0.92432 / 0.94323 natively (ggml's
//   rule: 0.99145 / 0.97704 / 0.97095 / 0.92720 / 0.95950; own kernel 0.98959 / 0.97999 / 0.97898
//   / 0.94082 / 0.95987): within the realization noise (see default), inside the floors.
// qfv8 = q4_0 + vision, Q-Former, projection q8_0 (the default for a few hours on 2026-12-04):
//   0.99986 / 0.99974 / 0.99967 / 0.98224 / 0.97432.
// default (tools/convert/recipe.cpp default_recipe(): q4_0; ViT attention, Q-Former, projection,
//   token embedding, decoder self-attention v/o and cross-attention v at q8_0), with the
//   converter's min-error Q4_0 scales (io/quant.h quantize_row_weights, since 2026-12-04):
//   measured 0.99592 / 0.99775 / 0.99770 / 0.98019 / 0.98737 (XNNPACK natively; 0.98717 with
//   MBLIP_Q4_SMALL_M=off, the path of CPUs without AVX-512 VNNI); with the own Q4_0 kernel
//   (default-own; the wasm default) 0.99600 / 0.99778 / 0.99770 / 0.98495 / 0.98753.
//   ggml's scale rule gave 0.99586 / 0.99867 / 0.99842 / 0.98088 / 0.98567 and own 0.99599 /
//   0.99868 / 0.99847 / 0.98319 / 0.98490 (the Q-Former is q8_0 here: its isolated cosine is
//   unchanged, 0.99984; the chained one follows the ViT MLP's 4-bit noise, whose realization
//   moves these tiny-model cosines by +-0.002: five scale jitters of ggml's rule gave logits0
//   0.9819-0.9859 natively, 0.9816-0.9853 own).
//   Floors: step-0 logits = issue 13's target 0.985 for both kernels (ggml's rule: 0.98490 with
//   the own kernel, so going back fails in wasm), encoder = issue 13's 0.975; vision .. projection
//   1 - 2 * (1 - measured), rounded down (the Q-Former 0.996 / 0.997 -> 0.995 with the new
//   realization; the ViT MLP at q4_0 costs the vision stage 0.004: the price of t.emb at q8_0
//   within the wasm memory budget, see recipe.cpp).
// tiny-mt5-odd: every matrix row (48 / 100) is not a multiple of 32, so the converter stores
//   f16 for all q8_0 / q4_0 weights: its rows equal f16 and still run the whole pipeline.
// q8_0-deq: the Q8_0 rounding alone (mblip-convert --dequantized: weights quantized to Q8_0 and
//   back, stored as f32, run by the f32 kernels, no quantized kernel involved): 0.99996 / 0.99992
//   / 0.99990 / 0.99976 / 0.99979 chained, and with each stage fed the golden input (isolated)
//   0.99996 / 0.99995 / 0.99998 / 0.99994 / 0.99988. So issue 13's >= 0.9999 per stage is beyond
//   the Q8_0 format itself for the chained encoder and the step-0 logits (isolated logits too);
//   identical to q8_0-ref (the reference kernel's float math). Its floors mirror q8_0-ref's.
std::vector<Recipe> recipes() {
  std::vector<Recipe> v = {
      {"f32", DType::F32, {}, 0.01, 0.01, {0.9999999, 0.9999999, 0.9999999, 0.9999999, 0.9999999}},
      {"f16", DType::F16, {}, 0.01, 0.01, {0.999999, 0.999999, 0.999999, 0.999999, 0.999999}},
      {"q8_0", DType::Q8_0, {}, 0.05, kNever, {0.9997, 0.9994, 0.9993, 0.9985, 0.9992}},
      {"q8_0-own", DType::Q8_0, {}, kNever, kNever, {0.9998, 0.9997, 0.9996, 0.9991, 0.9994}, "own"},
      {"q8_0-ref", DType::Q8_0, {}, 0.05, kNever, {0.99992, 0.99984, 0.9998, 0.9995, 0.9995}, "ref"},
      {"q8_0-deq", DType::Q8_0, {}, 0.05, kNever, {0.99992, 0.99984, 0.9998, 0.9995, 0.9995}},
      {"q4_0", DType::Q4_0, {}, kNever, kNever, {0.97, 0.95, 0.94, 0.87, 0.93}},
      {"q4v8", DType::Q4_0, {{Component::kVision, DType::Q8_0}}, kNever, kNever, {0.9997, 0.96, 0.95, 0.88, 0.92}},
      {"qfv8",
       DType::Q4_0,
       {{Component::kVision, DType::Q8_0}, {Component::kQFormer, DType::Q8_0}, {Component::kProjection, DType::Q8_0}},
       kNever,
       kNever,
       {0.9997, 0.9994, 0.9993, 0.975, 0.95}},
      {"q4_0-llm",
       DType::F32,
       {{Component::kTextEncoder, DType::Q4_0},
        {Component::kTextDecoder, DType::Q4_0},
        {Component::kEmbeddings, DType::Q4_0},
        {Component::kLmHead, DType::Q4_0}},
       kNever,
       kNever,
       {0.9999999, 0.9999999, 0.9999999, 0.96, 0.94}},
  };
  v[5].dequantized = true;
  const mblip::Recipe d = mblip::default_recipe();
  for (const char* q4 : {static_cast<const char*>(nullptr), "own"}) {
    Recipe r{q4 ? "default-own" : "default", d.weights, d.overrides, kNever, kNever,
             {0.991, 0.995, 0.995, 0.975, 0.985}};
    r.rules = d.tensors;
    r.q4_kernel = q4;
    v.push_back(r);
  }
  return v;
}

// The golden checkpoint `model` converted with `r`, cached as tmp_dir()/quality-<model>-<recipe>.gguf
// like golden_gguf (reused when newer than the test binary; written under a unique name, renamed).
std::string recipe_gguf(const std::string& model, const Recipe& r) {
  if (r.overrides.empty() && r.rules.empty() && r.weights == DType::F32) return mblip_test::golden_gguf(model, "f32");
  static std::mutex mu;
  static std::set<std::string> done;
  std::lock_guard<std::mutex> lock(mu);
  const std::string out = mblip_test::tmp_dir() + "/quality-" + model + "-" + r.name + ".gguf";
  if (done.count(out) || mblip_test::newer_than_binary(out)) {
    done.insert(out);
    return out;
  }
  std::random_device rd;
  const std::string unique = out + "." + std::to_string(::getpid()) + "." + std::to_string(rd()) + "." +
                             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  mblip::ConvertOptions o;
  o.input_dir = mblip_test::golden_dir() + "/models/" + model;
  o.output_path = unique;
  o.weights = r.weights;
  o.overrides = r.overrides;
  o.tensor_rules = r.rules;
  o.store_dequantized = r.dequantized;
  mblip::Status st = mblip::convert_checkpoint(o);
  if (!st.ok()) throw std::runtime_error("recipe_gguf(" + model + ", " + r.name + "): " + st.to_string());
  if (std::rename(unique.c_str(), out.c_str()) != 0) {
    std::remove(unique.c_str());
    throw std::runtime_error("recipe_gguf: cannot rename to " + out);
  }
  done.insert(out);
  return out;
}

// Generated tokens (decoder start dropped, stop after eos) of a golden sequence.
std::vector<int32_t> golden_tokens(const nlohmann::json& seq) {
  std::vector<int32_t> out;
  for (size_t j = 1; j < seq.size(); ++j) {
    out.push_back(seq[j].get<int32_t>());
    if (out.back() == 1) break;
  }
  return out;
}

std::vector<float> slice(const std::vector<float>& a, size_t b, size_t per) {
  return std::vector<float>(a.begin() + static_cast<std::ptrdiff_t>(b * per),
                            a.begin() + static_cast<std::ptrdiff_t>((b + 1) * per));
}

struct Measured {
  int greedy_ok = 0, beam_ok = 0, items = 0;
  std::vector<std::string> failures;  // token requirements missed
  std::vector<std::string> misses;    // every item whose tokens differ, with its gap
  double min_cos[kNumStages] = {1, 1, 1, 1, 1};
  double sum_cos[kNumStages] = {0, 0, 0, 0, 0};  // mean = sum / items
  std::string worst_where[kNumStages];
  // Each stage fed the golden output of the previous stage (its own error only).
  double min_cos_isolated[kNumStages] = {1, 1, 1, 1, 1};
  double mean(int s) const { return items ? sum_cos[s] / items : 1.0; }
  // Teacher forcing along the golden greedy path (cases with teacher_forced_logits): logits
  // cosine per decoder position, worst and mean over all positions.
  double tf_min = 1, tf_sum = 0;
  int tf_n = 0;
  double tf_mean() const { return tf_n ? tf_sum / tf_n : 1.0; }
};

// Sets an MBLIP_Q8_KERNEL / MBLIP_Q4_KERNEL (kernels/linear.cpp) for the lifetime of the object.
struct KernelEnv {
  KernelEnv(const char* var, const char* v) : var(var), set(v != nullptr) {
    if (set) ::setenv(var, v, 1);
  }
  ~KernelEnv() {
    if (set) ::unsetenv(var);
  }
  const char* var;
  bool set;
};

Measured measure(const std::string& model_name, const Recipe& r, bool tokens = true) {
  const KernelEnv env8("MBLIP_Q8_KERNEL", r.q8_kernel), env4("MBLIP_Q4_KERNEL", r.q4_kernel);
  const std::string g = mblip_test::golden_dir();
  const auto manifest = mblip_test::read_json(g + "/models/manifest.json");
  const std::string path = recipe_gguf(model_name, r);
  // Stage functions (cosines per stage, chained from the pixels).
  auto file = mblip::GgufFile::open_path(path);
  REQUIRE(file.ok());
  auto sm = mblip::MBlipModel::load(std::move(file).value());
  if (!sm.ok()) FAIL(sm.status().to_string());
  const mblip::MBlipModel& model = *sm.value();
  // Public API (tokens).
  // One thread: the tiny matrices gain nothing from more, and on a loaded machine a worker
  // waiting for a core slows every call (results do not depend on the thread count).
  mblip::LoadOptions lo;
  lo.threads = 1;
  auto pm = mblip::Model::load_file(path, lo);
  if (!pm.ok()) FAIL(pm.status().to_string());
  auto ps = pm.value()->new_session();
  REQUIRE(ps.ok());
  mblip::Session& session = *ps.value();
  mblip::ThreadPool pool(1);
  const auto& cfg = model.config();
  const size_t nq = static_cast<size_t>(cfg.num_query_tokens), d = static_cast<size_t>(cfg.text.d_model);
  const size_t npos = static_cast<size_t>(cfg.vision.num_positions());
  const size_t dv = static_cast<size_t>(cfg.vision.hidden_size), dq = static_cast<size_t>(cfg.qformer.hidden_size);
  const size_t V = static_cast<size_t>(cfg.text.vocab_size);
  Measured m;
  for (const auto& c : manifest["cases"]) {
    if (c["model"] != model_name) continue;
    const std::string id = c["id"];
    const auto& arr = c["arrays"];
    auto npy = [&](const std::string& key) { return mblip_test::load_npy(g + "/" + arr[key]["path"].get<std::string>()); };
    const auto ids_n = npy("input_ids");
    const auto ids64 = ids_n.as_int64(), am64 = npy("attention_mask").as_int64();
    const size_t B = static_cast<size_t>(ids_n.shape[0]), L = static_cast<size_t>(ids_n.shape[1]);
    std::vector<float> gold[kNumStages];
    for (int s = 0; s < kNumStages; ++s) gold[s] = npy(kStages[s]).as_float();
    for (size_t b = 0; b < B; ++b) {
      const std::string where = id + (B > 1 ? "[" + std::to_string(b) + "]" : "");
      INFO(r.name << " " << where);
      ++m.items;
      const auto px = mblip_test::load_npy(g + "/" + c["pixel_values"][b].get<std::string>()).as_float();
      // The prompt without its right padding (masked positions do not change the others).
      std::vector<int32_t> ids;
      for (size_t i = 0; i < L; ++i)
        if (am64[b * L + i] != 0) ids.push_back(static_cast<int32_t>(ids64[b * L + i]));
      const size_t T = nq + ids.size();
      std::vector<float> out[kNumStages], embeds, mask01;
      REQUIRE(model.vision(px.data(), out[0], pool).ok());
      REQUIRE(model.qformer(out[0].data(), out[1], pool).ok());
      REQUIRE(model.project(out[1].data(), out[2], pool).ok());
      REQUIRE(model.build_encoder_input(out[2], ids, {}, embeds, mask01).ok());
      REQUIRE(model.encode_text(embeds, mask01, out[3], pool).ok());
      auto dec = model.new_decoder(out[3], mask01, pool);
      REQUIRE(dec.ok());
      out[4].resize(V);
      REQUIRE(dec.value()->begin(1).ok());
      REQUIRE(dec.value()->step({0}, {static_cast<int32_t>(cfg.text.decoder_start_token_id)}, out[4].data()).ok());
      const size_t per[kNumStages] = {npos * dv, nq * dq, nq * d, (nq + L) * d, V};
      for (int s = 0; s < kNumStages; ++s) {
        std::vector<float> ref = slice(gold[s], b, per[s]);
        if (s == 3) ref.resize(T * d);  // encoder rows of the unpadded prompt
        const double cs = mblip_test::cosine_similarity(out[s], ref);
        m.sum_cos[s] += cs;
        if (cs < m.min_cos[s]) {
          m.min_cos[s] = cs;
          m.worst_where[s] = where;
        }
      }
      if (arr.contains("teacher_forced_logits")) {
        const auto tf = npy("teacher_forced_logits");
        const auto tfv = tf.as_float();
        const size_t Tm1 = static_cast<size_t>(tf.shape[1]);
        const auto& seq = c["results"]["greedy"][b];
        const std::vector<int32_t> gen = golden_tokens(seq);
        auto dtf = model.new_decoder(out[3], mask01, pool);
        REQUIRE(dtf.ok());
        REQUIRE(dtf.value()->begin(1).ok());
        std::vector<float> lg(V);
        for (size_t j = 0; j < gen.size() && j < Tm1; ++j) {
          const int32_t in = j == 0 ? static_cast<int32_t>(cfg.text.decoder_start_token_id) : gen[j - 1];
          REQUIRE(dtf.value()->step({0}, {in}, lg.data()).ok());
          const std::vector<float> ref(tfv.begin() + static_cast<std::ptrdiff_t>((b * Tm1 + j) * V),
                                       tfv.begin() + static_cast<std::ptrdiff_t>((b * Tm1 + j + 1) * V));
          const double cs = mblip_test::cosine_similarity(lg, ref);
          m.tf_min = std::min(m.tf_min, cs);
          m.tf_sum += cs;
          ++m.tf_n;
        }
      }
      // Isolated: each stage from the golden input of that stage.
      {
        std::vector<float> iso[kNumStages], emb2, mask2;
        const std::vector<float> gv = slice(gold[0], b, per[0]), gq = slice(gold[1], b, per[1]),
                                 gp = slice(gold[2], b, per[2]);
        std::vector<float> ge = slice(gold[3], b, per[3]);
        ge.resize(T * d);
        iso[0] = out[0];
        REQUIRE(model.qformer(gv.data(), iso[1], pool).ok());
        REQUIRE(model.project(gq.data(), iso[2], pool).ok());
        REQUIRE(model.build_encoder_input(gp, ids, {}, emb2, mask2).ok());
        REQUIRE(model.encode_text(emb2, mask2, iso[3], pool).ok());
        auto dec2 = model.new_decoder(ge, mask2, pool);
        REQUIRE(dec2.ok());
        iso[4].resize(V);
        REQUIRE(dec2.value()->begin(1).ok());
        REQUIRE(dec2.value()->step({0}, {static_cast<int32_t>(cfg.text.decoder_start_token_id)}, iso[4].data()).ok());
        for (int s = 0; s < kNumStages; ++s) {
          std::vector<float> ref = slice(gold[s], b, per[s]);
          if (s == 3) ref.resize(T * d);
          m.min_cos_isolated[s] = std::min(m.min_cos_isolated[s], mblip_test::cosine_similarity(iso[s], ref));
        }
      }
      if (!tokens) continue;
      // Tokens through the public API, from the golden pixel values.
      mblip::PixelValues pv;
      pv.height = pv.width = cfg.vision.image_size;
      pv.data = px;
      auto emb = session.embed_pixel_values(pv);
      REQUIRE(emb.ok());
      const std::string prompt = c["prompts"][b].get<std::string>();
      const double gap = c["results"]["greedy_min_top2_logit_gap"][b].get<double>();
      for (int beams : {1, 3}) {
        mblip::GenerateOptions o;
        o.num_beams = beams;
        o.max_new_tokens = 16;
        auto res = session.generate(emb.value(), prompt, o);
        INFO(res.status().to_string());
        REQUIRE(res.ok());
        const auto want = golden_tokens(c["results"][beams == 1 ? "greedy" : "beam"][b]);
        const bool same = res.value().tokens() == want;
        (beams == 1 ? m.greedy_ok : m.beam_ok) += same ? 1 : 0;
        const double need_gap = beams == 1 ? r.greedy_gap : r.beam_gap;
        if (!same) {
          char buf[160];
          std::snprintf(buf, sizeof buf, "%s %s gap %.4f", where.c_str(), beams == 1 ? "greedy" : "beam3", gap);
          m.misses.push_back(buf);
        }
        if (!same && gap > need_gap) {
          std::ostringstream os;
          os << where << (beams == 1 ? " greedy" : " beam3") << " (gap " << gap << ")";
          m.failures.push_back(os.str());
        }
      }
    }
  }
  return m;
}

}  // namespace

TEST_CASE("quality: token agreement and stage cosines per quantization recipe", "[quality]") {
  MBLIP_REQUIRE_GOLDEN();
  const char* const models[] = {"tiny-mt5", "tiny-mt5-odd"};
  std::ostringstream table;
  table << "quality vs the float32 HF goldens (greedy / beam 3, 16 new tokens; min cosine over all items,"
           " chained from the pixels)\n";
  // Which kernels computed it: in the relaxed-SIMD builds (run in Chromium, scripts/run_tests.sh) the
  // floors below hold for the relaxed kernels, and a build that fell back to SIMD128 fails here.
  const std::string own_q4 = mblip::q4_0_variants().back().name, own_q8 = mblip::q8_0_variants().back().name;
  table << "kernels: " << mblip::linear_kernel_config() << " own q4_0=" << own_q4 << " q8_0=" << own_q8 << "\n";
#if defined(__wasm_relaxed_simd__)
  CHECK(own_q4 == "wasm_relaxed");  // (Q8_0's own relaxed variant is not its default: kernels/q8_0.cpp)
#endif
  char line[512];
  std::snprintf(line, sizeof line, "%-11s %-13s %-7s %-7s %-10s  %-10s  %-10s  %-10s  %-10s  %s\n", "recipe", "model",
                "greedy", "beam3", kStageShort[0], kStageShort[1], kStageShort[2], kStageShort[3], kStageShort[4],
                "teacher-forced");
  table << line;
  std::vector<std::string> problems;
  std::ostringstream misses;  // of the recipes with a token requirement
  std::ostringstream isolated;
  for (const Recipe& r : recipes()) {
    for (const char* mn : models) {
      const Measured m = measure(mn, r);
      std::snprintf(line, sizeof line, "%-11s %-13s %2d/%-4d %2d/%-4d %.8f  %.8f  %.8f  %.8f  %.8f  %.8f\n", r.name, mn,
                    m.greedy_ok, m.items, m.beam_ok, m.items, m.min_cos[0], m.min_cos[1], m.min_cos[2], m.min_cos[3],
                    m.min_cos[4], m.tf_min);
      table << line;
      std::snprintf(line, sizeof line, "%-11s %-13s %-15s %.8f  %.8f  %.8f  %.8f  %.8f\n", r.name, mn, "  (isolated)",
                    m.min_cos_isolated[0], m.min_cos_isolated[1], m.min_cos_isolated[2], m.min_cos_isolated[3],
                    m.min_cos_isolated[4]);
      isolated << line;
      if (r.greedy_gap != kNever && !m.misses.empty()) {
        misses << r.name << " " << mn << " token misses:";
        for (const auto& x : m.misses) misses << " [" << x << "]";
        misses << "\n";
      }
      for (const auto& f : m.failures) problems.push_back(std::string(r.name) + " " + mn + ": tokens differ: " + f);
      for (int s = 0; s < kNumStages; ++s)
        if (!(m.min_cos[s] >= r.min_cos[s])) {
          std::ostringstream os;
          os << r.name << " " << mn << ": " << kStages[s] << " cosine " << m.min_cos[s] << " < " << r.min_cos[s]
             << " (" << m.worst_where[s] << ")";
          problems.push_back(os.str());
        }
    }
  }
  table << "each stage fed the golden output of the previous stage (its own error only; vision = chained):\n"
        << isolated.str() << misses.str();
  WARN(table.str());
  std::printf("%s", table.str().c_str());
  std::fflush(stdout);
  for (const auto& p : problems) {
    INFO(p);
    CHECK(false);
  }
  CHECK(problems.empty());
}

// Hidden exploration tables (not regression tests), used to choose the default recipe
// (tools/convert/recipe.cpp): run with mblip_tests "[.ablation]". On tiny-mt5, for every group
// of matrix weights: (A) that group alone at q4_0, everything else f32; (B) the current default
// recipe with that group raised to q8_0. Each with the native Q4_0 path (XNNPACK qb4w: one
// activation scale per row) and the own Q4_0 kernel (activations per block of 32; the wasm
// default), worst / mean cosine over the 11 items. "full MB": what the recipe change costs at
// mblip-mt0-xl size (synthetic full preset, tensor bytes). MBLIP_ABLATION_ONLY=A|B|C picks a table.
namespace {

struct Group {
  const char* name;
  std::vector<std::string> globs;
};

const std::vector<Group>& ablation_groups() {
  static const std::vector<Group> g = {
      {"vision", {"v.*"}},
      {"qformer", {"q.*"}},
      {"projection", {"proj.*"}},
      {"emb", {"t.emb"}},
      {"head", {"t.head"}},
      {"enc.attn", {"t.enc.*.sa.*"}},
      {"enc.ffn.wi", {"t.enc.*.ffn.wi*"}},
      {"enc.ffn.wo", {"t.enc.*.ffn.wo"}},
      {"dec.sa", {"t.dec.*.sa.*"}},
      {"dec.ca", {"t.dec.*.ca.*"}},
      {"dec.ca.kv", {"t.dec.*.ca.k", "t.dec.*.ca.v"}},
      {"dec.ffn.wi", {"t.dec.*.ffn.wi*"}},
      {"dec.ffn.wo", {"t.dec.*.ffn.wo"}},
      {"ffn.wo", {"t.*.ffn.wo"}},
      {"enc.0", {"t.enc.0.*"}},
      {"enc.last", {"t.enc.1.*"}},
      {"dec.0", {"t.dec.0.*"}},
      {"dec.last", {"t.dec.1.*"}},
  };
  return g;
}

// Full-size globs: "last" layers are 23 in mt0-xl, 1 in tiny-mt5.
std::string full_glob(const std::string& g) {
  std::string s = g;
  for (const char* stack : {"t.enc.1.", "t.dec.1."}) {
    const size_t p = s.find(stack);
    if (p != std::string::npos) s.replace(p, std::strlen(stack), std::string(stack).substr(0, 6) + "23.");
  }
  return s;
}

double full_mb(const mblip::Recipe& r) {
  mblip::ModelConfig cfg;
  REQUIRE(mblip::synth::preset_config("full", cfg));
  mblip::Recipe f = r;
  for (auto& rule : f.tensors) rule.first = full_glob(rule.first);
  return static_cast<double>(f.tensor_bytes(cfg)) / 1e6;
}

Recipe as_test_recipe(const std::string& name, const mblip::Recipe& r, const char* q4_kernel) {
  static std::vector<std::unique_ptr<std::string>> names;  // Recipe::name is a const char*
  names.push_back(std::make_unique<std::string>(name));
  Recipe t{names.back()->c_str(), r.weights, r.overrides, kNever, kNever, {0, 0, 0, 0, 0}};
  t.rules = r.tensors;
  t.q4_kernel = q4_kernel;
  return t;
}

}  // namespace

TEST_CASE("quality: recipe ablation on tiny-mt5 (table only)", "[.ablation]") {
  MBLIP_REQUIRE_GOLDEN();
  const char* only = std::getenv("MBLIP_ABLATION_ONLY");
  const char* kernels[2] = {"xnnpack", "own"};
  char line[512];
  auto row = [&](const std::string& label, const mblip::Recipe& r, double mb) {
    std::string out;
    std::snprintf(line, sizeof line, "%-26s %+8.0f", label.c_str(), mb);
    out += line;
    for (const char* k : kernels) {
      const Measured m = measure("tiny-mt5", as_test_recipe(label + "-" + k, r, k), false);
      std::snprintf(line, sizeof line, " | %.5f %.5f %.5f %.5f %.5f %.5f", m.min_cos[3], m.mean(3), m.min_cos[4],
                    m.mean(4), m.tf_min, m.tf_mean());
      out += line;
    }
    std::printf("%s\n", out.c_str());
    std::fflush(stdout);
  };
  const char* head = "%-26s %8s | xnnpack: enc min/mean, logits0 min/mean, teacher-forced min/mean | own: the same\n";
  mblip::Recipe f32;
  if (!only || std::string(only) == "A") {
    std::printf("(A) one group at q4_0, the rest f32; full MB = size at mt0-xl vs all-f32\n");
    std::printf(head, "group", "full MB");
    for (const Group& g : ablation_groups()) {
      mblip::Recipe r;
      for (const auto& gl : g.globs) r.tensors.emplace_back(gl, DType::Q4_0);
      row(std::string("A.") + g.name, r, full_mb(r) - full_mb(f32));
    }
  }
  const mblip::Recipe base = mblip::default_recipe();
  if (!only || std::string(only) == "B") {
    std::printf("(B) the default recipe (%s) with one group raised to q8_0; full MB = extra over it (%.0f MB)\n",
                base.describe().c_str(), full_mb(base));
    std::printf(head, "group", "extra MB");
    row("B.none", base, 0);
    for (const Group& g : ablation_groups()) {
      mblip::Recipe r = base;
      for (const auto& gl : g.globs) r.tensors.emplace_back(gl, DType::Q8_0);
      row(std::string("B.") + g.name, r, full_mb(r) - full_mb(base));
    }
  }
  if (!only || std::string(only) == "C") {
    // Candidate recipes from MBLIP_ABLATION_CANDIDATES: "name:glob=type,glob=type;name2:..."
    // on top of the default.
    const char* c = std::getenv("MBLIP_ABLATION_CANDIDATES");
    std::printf("(C) candidates on top of the default; full MB = extra over it\n");
    std::printf(head, "candidate", "extra MB");
    std::string all = c ? c : "";
    size_t pos = 0;
    while (pos < all.size()) {
      size_t end = all.find(';', pos);
      if (end == std::string::npos) end = all.size();
      const std::string item = all.substr(pos, end - pos);
      pos = end + 1;
      const size_t colon = item.find(':');
      if (colon == std::string::npos) continue;
      mblip::Recipe r = base;
      std::string rules = item.substr(colon + 1);
      size_t q = 0;
      while (q < rules.size()) {
        size_t e = rules.find(',', q);
        if (e == std::string::npos) e = rules.size();
        REQUIRE(r.set_option("tensor", rules.substr(q, e - q)).ok());
        q = e + 1;
      }
      row("C." + item.substr(0, colon), r, full_mb(r) - full_mb(base));
    }
  }
}
