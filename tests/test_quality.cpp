// Quantization quality on the golden models: per conversion recipe (f16, q8_0, q4_0, the default
// recipe, a 4-bit LLM with the rest f32) greedy / beam-3 token agreement with the float32 HF
// goldens and the worst cosine similarity of every stage, with named thresholds and a printed table.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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
#include "io/gguf.h"
#include "kernels/thread_pool.h"
#include "mblip/mblip.h"
#include "model/mblip_model.h"
#include "support/golden.h"
#include "support/models.h"

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
// must reach min_cos[stage]. Thresholds: see kRecipes below.
struct Recipe {
  const char* name;
  DType weights;
  std::map<Component, DType> overrides;
  double greedy_gap, beam_gap;
  double min_cos[kNumStages];
  const char* q8_kernel = nullptr;  // MBLIP_Q8_KERNEL while the model loads (nullptr: the default)
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
//   noise. The cosines catch a broken or degraded 4-bit path.
// default (tools/convert/recipe.h default_recipe(): q4_0 + vision, Q-Former, projection q8_0):
//   measured 0.99986 / 0.99974 / 0.99967 / 0.98224 / 0.97467 (XNNPACK natively; own Q4_0
//   kernel: encoder 0.98484, logits 0.97640). Encoder floor = issue 13's target 0.975; the
//   logits target 0.985 is not reached within the 3.6 GB budget (table in docs/model-file.md).
// tiny-mt5-odd: every matrix row (48 / 100) is not a multiple of 32, so the converter stores
//   f16 for all q8_0 / q4_0 weights: its rows equal f16 and still run the whole pipeline.
const Recipe kRecipes[] = {
    {"f32", DType::F32, {}, 0.01, 0.01, {0.9999999, 0.9999999, 0.9999999, 0.9999999, 0.9999999}},
    {"f16", DType::F16, {}, 0.01, 0.01, {0.999999, 0.999999, 0.999999, 0.999999, 0.999999}},
    {"q8_0", DType::Q8_0, {}, 0.05, kNever, {0.9997, 0.9994, 0.9993, 0.9985, 0.9992}},
    {"q8_0-own", DType::Q8_0, {}, kNever, kNever, {0.9998, 0.9997, 0.9996, 0.9991, 0.9994}, "own"},
    {"q8_0-ref", DType::Q8_0, {}, 0.05, kNever, {0.99992, 0.99984, 0.9998, 0.9995, 0.9995}, "ref"},
    {"q4_0", DType::Q4_0, {}, kNever, kNever, {0.97, 0.95, 0.94, 0.87, 0.93}},
    {"q4v8", DType::Q4_0, {{Component::kVision, DType::Q8_0}}, kNever, kNever, {0.9997, 0.96, 0.95, 0.88, 0.92}},
    {"default",
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

// The golden checkpoint `model` converted with `r`, cached as tmp_dir()/quality-<model>-<recipe>.gguf
// like golden_gguf (reused when newer than the test binary; written under a unique name, renamed).
std::string recipe_gguf(const std::string& model, const Recipe& r) {
  if (r.overrides.empty() && r.weights == DType::F32) return mblip_test::golden_gguf(model, "f32");
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
  std::string worst_where[kNumStages];
};

// Sets MBLIP_Q8_KERNEL (kernels/linear.cpp) for the lifetime of the object, then unsets it.
struct Q8KernelEnv {
  explicit Q8KernelEnv(const char* v) : set(v != nullptr) {
    if (set) ::setenv("MBLIP_Q8_KERNEL", v, 1);
  }
  ~Q8KernelEnv() {
    if (set) ::unsetenv("MBLIP_Q8_KERNEL");
  }
  bool set;
};

Measured measure(const std::string& model_name, const Recipe& r) {
  const Q8KernelEnv env(r.q8_kernel);
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
        if (cs < m.min_cos[s]) {
          m.min_cos[s] = cs;
          m.worst_where[s] = where;
        }
      }
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
  char line[512];
  std::snprintf(line, sizeof line, "%-9s %-13s %-7s %-7s %-10s  %-10s  %-10s  %-10s  %-10s\n", "recipe", "model", "greedy",
                "beam3", kStageShort[0], kStageShort[1], kStageShort[2], kStageShort[3], kStageShort[4]);
  table << line;
  std::vector<std::string> problems;
  std::ostringstream misses;  // of the recipes with a token requirement
  for (const Recipe& r : kRecipes) {
    for (const char* mn : models) {
      const Measured m = measure(mn, r);
      std::snprintf(line, sizeof line, "%-9s %-13s %2d/%-4d %2d/%-4d %.8f  %.8f  %.8f  %.8f  %.8f\n", r.name, mn,
                    m.greedy_ok, m.items, m.beam_ok, m.items, m.min_cos[0], m.min_cos[1], m.min_cos[2], m.min_cos[3],
                    m.min_cos[4]);
      table << line;
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
  table << misses.str();
  WARN(table.str());
  std::printf("%s", table.str().c_str());
  std::fflush(stdout);
  for (const auto& p : problems) {
    INFO(p);
    CHECK(false);
  }
  CHECK(problems.empty());
}

// Hidden exploration table (not a regression test): candidate 4-bit recipes on tiny-mt5, used
// to choose the default recipe (docs/model-file.md). Run with: mblip_tests "[.recipes]".
TEST_CASE("quality: candidate 4-bit recipes (table only)", "[.recipes]") {
  MBLIP_REQUIRE_GOLDEN();
  using C = Component;
  const DType q8 = DType::Q8_0;
  const Recipe cands[] = {
      {"d", DType::Q4_0, {{C::kVision, q8}}, kNever, kNever, {}},
      {"d+head", DType::Q4_0, {{C::kVision, q8}, {C::kLmHead, q8}}, kNever, kNever, {}},
      {"d+qf", DType::Q4_0, {{C::kVision, q8}, {C::kQFormer, q8}, {C::kProjection, q8}}, kNever, kNever, {}},
      {"d+qf+head", DType::Q4_0, {{C::kVision, q8}, {C::kQFormer, q8}, {C::kProjection, q8}, {C::kLmHead, q8}}, kNever, kNever, {}},
      {"d+qf+emb", DType::Q4_0, {{C::kVision, q8}, {C::kQFormer, q8}, {C::kProjection, q8}, {C::kEmbeddings, q8}}, kNever, kNever, {}},
      {"d+qf+emb+head", DType::Q4_0, {{C::kVision, q8}, {C::kQFormer, q8}, {C::kProjection, q8}, {C::kEmbeddings, q8}, {C::kLmHead, q8}}, kNever, kNever, {}},
      {"d+qf+enc", DType::Q4_0, {{C::kVision, q8}, {C::kQFormer, q8}, {C::kProjection, q8}, {C::kTextEncoder, q8}}, kNever, kNever, {}},
      {"d+qf+dec", DType::Q4_0, {{C::kVision, q8}, {C::kQFormer, q8}, {C::kProjection, q8}, {C::kTextDecoder, q8}}, kNever, kNever, {}},
  };
  std::ostringstream table;
  char line[512];
  const char* only = std::getenv("MBLIP_EXPLORE_ONLY");
  for (const Recipe& r : cands) {
    if (only && std::string(only) != r.name) continue;
    const Measured m = measure("tiny-mt5", r);
    std::snprintf(line, sizeof line, "%-16s greedy %2d/%-3d beam %2d/%-3d %.5f %.5f %.5f %.5f %.5f\n", r.name, m.greedy_ok,
                  m.items, m.beam_ok, m.items, m.min_cos[0], m.min_cos[1], m.min_cos[2], m.min_cos[3], m.min_cos[4]);
    table << line;
  }
  std::printf("%s", table.str().c_str());
}
