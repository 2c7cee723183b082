// compare_models / `mblip compare` core (mblip/compare.h) on the golden models: f32 vs itself
// is exact; the reference side reproduces HF's greedy tokens and min top-2 gaps; a recipe vs f32
// gives the cosines the stage functions give when run here independently; mismatches are refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "kernels/thread_pool.h"
#include "mblip/compare.h"
#include "mblip/mblip.h"
#include "model/mblip_model.h"
#include "support/golden.h"
#include "support/models.h"
#include "support/recipe_models.h"

namespace {

std::shared_ptr<mblip::Model> load(const std::string& path) {
  mblip::LoadOptions lo;
  lo.threads = 1;
  auto m = mblip::Model::load_file(path, lo);
  if (!m.ok()) FAIL(m.status().to_string());
  return m.value();
}

std::vector<int32_t> golden_tokens(const nlohmann::json& seq) {
  std::vector<int32_t> out;
  for (size_t j = 1; j < seq.size(); ++j) {
    out.push_back(seq[j].get<int32_t>());
    if (out.back() == 1) break;
  }
  return out;
}

struct GoldenItem {
  std::string id, prompt;
  mblip::PixelValues px;
  std::vector<int32_t> greedy;
  double gap = 0;
};

// The first item of every single-image case of `model`.
std::vector<GoldenItem> golden_items(const std::string& model, size_t max_items) {
  const std::string g = mblip_test::golden_dir();
  const auto manifest = mblip_test::read_json(g + "/models/manifest.json");
  std::vector<GoldenItem> out;
  for (const auto& c : manifest["cases"]) {
    if (c["model"] != model || c["prompts"].size() != 1 || out.size() >= max_items) continue;
    GoldenItem it;
    it.id = c["id"];
    it.prompt = c["prompts"][0];
    it.px.height = it.px.width = 224;
    it.px.data = mblip_test::load_npy(g + "/" + c["pixel_values"][0].get<std::string>()).as_float();
    it.greedy = golden_tokens(c["results"]["greedy"][0]);
    it.gap = c["results"]["greedy_min_top2_logit_gap"][0].get<double>();
    out.push_back(std::move(it));
  }
  return out;
}

}  // namespace

TEST_CASE("compare: compare_arrays against hand-computed values", "[compare]") {
  const float a[] = {1, 2, 3}, b[] = {2, 4, 6}, x[] = {1, 0}, y[] = {0, 1}, z[] = {0, 0};
  auto s = mblip::compare_arrays("s", a, b, 3);
  CHECK(s.cosine == Approx(1.0).margin(1e-15));
  CHECK(s.max_abs_error == 3.0);
  CHECK(s.reference_max_abs == 6.0);
  CHECK(s.size == 3);
  CHECK(mblip::compare_arrays("s", x, y, 2).cosine == 0.0);
  const float m[] = {-1, -2, -3};
  CHECK(mblip::compare_arrays("s", m, a, 3).cosine == Approx(-1.0).margin(1e-15));
  CHECK(mblip::compare_arrays("s", z, z, 2).cosine == 1.0);  // both zero: identical
  CHECK(mblip::compare_arrays("s", z, x, 2).cosine == 0.0);
  const float n[] = {1, std::numeric_limits<float>::quiet_NaN(), 3};
  auto bad = mblip::compare_arrays("s", n, a, 3);
  CHECK(std::isnan(bad.cosine));  // a NaN output must not pass any cosine floor
  CHECK(std::isinf(bad.max_abs_error));
}

TEST_CASE("compare: f32 vs itself is exact and reproduces HF's greedy path and top-2 gaps", "[compare]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string path = mblip_test::golden_gguf("tiny-mt5", "f32");
  auto ref = load(path), test = load(path);
  int gaps_checked = 0;
  for (const GoldenItem& it : golden_items("tiny-mt5", 9)) {
    INFO(it.id);
    mblip::CompareOptions o;
    o.prompt = it.prompt;
    o.max_new_tokens = 16;
    auto r = mblip::compare_models_pixels(*test, *ref, it.px, o);
    INFO(r.status().to_string());
    REQUIRE(r.ok());
    const mblip::CompareReport& rep = r.value();
    REQUIRE(rep.stages.size() == 5);
    for (const auto& s : rep.stages) {
      INFO(s.name);
      CHECK(s.size > 0);
      CHECK(s.max_abs_error == 0.0);
      CHECK(s.cosine == Approx(1.0).margin(1e-12));
      CHECK(s.reference_max_abs > 0.0);
    }
    CHECK(rep.greedy_tokens_agree);
    CHECK(rep.teacher_forced_positions == static_cast<int>(rep.reference_tokens.size()));
    CHECK(rep.teacher_forced_agree == rep.teacher_forced_positions);
    CHECK(rep.first_disagreement == -1);
    CHECK(rep.top1_agreement() == 1.0);
    CHECK(rep.reference_min_top2_gap == rep.test_min_top2_gap);
    // Independent expectations from transformers (golden README: f32 reproduces every greedy
    // sequence whose gap exceeds 0.01; the gap is HF's greedy_min_top2_logit_gap).
    if (it.gap > 0.01) {
      CHECK(rep.reference_tokens == it.greedy);
      CHECK(rep.reference_min_top2_gap == Approx(it.gap).margin(2e-4));
      ++gaps_checked;
    }
    CHECK(rep.reference_text == rep.test_text);
  }
  CHECK(gaps_checked >= 5);
}

TEST_CASE("compare: a recipe vs f32 gives the stage cosines and top-1 agreement computed independently", "[compare]") {
  MBLIP_REQUIRE_GOLDEN();
  size_t nr = 0;
  const mblip_test::TestRecipe* recipes = mblip_test::standard_recipes(&nr);
  const std::string input = mblip_test::golden_dir() + "/models/tiny-mt5";
  const std::string ref_path = mblip_test::golden_gguf("tiny-mt5", "f32");
  auto ref = load(ref_path);
  auto ref_file = mblip::GgufFile::open_path(ref_path);
  REQUIRE(ref_file.ok());
  auto ref_stages = mblip::MBlipModel::load(std::move(ref_file).value());
  REQUIRE(ref_stages.ok());
  const auto items = golden_items("tiny-mt5", 3);
  for (size_t k = 0; k < nr; ++k) {
    const auto& rc = recipes[k];
    if (std::string(rc.name) != "q8_0" && std::string(rc.name) != "default") continue;
    INFO(rc.name);
    const std::string path = mblip_test::recipe_gguf_of(input, "compare-tiny-mt5", rc);
    auto test = load(path);
    auto f = mblip::GgufFile::open_path(path);
    REQUIRE(f.ok());
    auto test_stages = mblip::MBlipModel::load(std::move(f).value());
    REQUIRE(test_stages.ok());
    for (const GoldenItem& it : items) {
      INFO(it.id);
      mblip::CompareOptions o;
      o.prompt = it.prompt;
      o.max_new_tokens = 16;
      auto r = mblip::compare_models_pixels(*test, *ref, it.px, o);
      INFO(r.status().to_string());
      REQUIRE(r.ok());
      const mblip::CompareReport& rep = r.value();
      // The same chain here, through the stage functions, and the cosines of test_quality.
      mblip::ThreadPool pool(1);
      std::vector<float> out[2][5];
      std::vector<std::vector<int32_t>> steps_argmax(2);
      const mblip::MBlipModel* models[2] = {test_stages.value().get(), ref_stages.value().get()};
      auto ids = ref->tokenize(it.prompt, true);
      REQUIRE(ids.ok());
      for (int m = 0; m < 2; ++m) {
        const mblip::MBlipModel& mm = *models[m];
        std::vector<float> embeds, mask01;
        REQUIRE(mm.vision(it.px.data.data(), out[m][0], pool).ok());
        REQUIRE(mm.qformer(out[m][0].data(), out[m][1], pool).ok());
        REQUIRE(mm.project(out[m][1].data(), out[m][2], pool).ok());
        REQUIRE(mm.build_encoder_input(out[m][2], ids.value(), {}, embeds, mask01).ok());
        REQUIRE(mm.encode_text(embeds, mask01, out[m][3], pool).ok());
        auto dec = mm.new_decoder(out[m][3], mask01, pool);
        REQUIRE(dec.ok());
        const size_t V = static_cast<size_t>(dec.value()->vocab_size());
        out[m][4].resize(V);
        REQUIRE(dec.value()->begin(1).ok());
        // Teacher forcing one step at a time (compare_models runs one forward over the path).
        std::vector<float> logits(V);
        int32_t prev = 0;  // decoder start
        for (size_t p = 0; p < rep.reference_tokens.size(); ++p) {
          REQUIRE(dec.value()->step({0}, {prev}, logits.data()).ok());
          if (p == 0) out[m][4] = logits;
          size_t best = 0;
          for (size_t v = 1; v < V; ++v)
            if (logits[v] > logits[best]) best = v;
          steps_argmax[m].push_back(static_cast<int32_t>(best));
          prev = rep.reference_tokens[p];
        }
      }
      for (int s = 0; s < 5; ++s) {
        INFO(rep.stages[static_cast<size_t>(s)].name);
        const double cs = mblip_test::cosine_similarity(out[0][s], out[1][s]);
        CHECK(rep.stages[static_cast<size_t>(s)].cosine == Approx(cs).margin(1e-6));
        CHECK(rep.stages[static_cast<size_t>(s)].max_abs_error ==
              Approx(mblip_test::max_abs_error(out[0][s], out[1][s])).margin(1e-5));
        CHECK(rep.stages[static_cast<size_t>(s)].cosine < 1.0);  // quantized: not bit-identical
        CHECK(rep.stages[static_cast<size_t>(s)].cosine > 0.8);
      }
      // The reference's own argmax along its greedy path is its greedy path.
      CHECK(steps_argmax[1] == rep.reference_tokens);
      int agree = 0;
      for (size_t p = 0; p < steps_argmax[0].size(); ++p) agree += steps_argmax[0][p] == steps_argmax[1][p] ? 1 : 0;
      CHECK(rep.teacher_forced_agree == agree);
      CHECK(rep.greedy_tokens_agree == (rep.test_tokens == rep.reference_tokens));
      WARN(rc.name << " " << it.id << ": cosines " << rep.stages[0].cosine << " " << rep.stages[1].cosine << " "
                   << rep.stages[2].cosine << " " << rep.stages[3].cosine << " " << rep.stages[4].cosine << "; top-1 "
                   << rep.teacher_forced_agree << "/" << rep.teacher_forced_positions << "; greedy "
                   << (rep.greedy_tokens_agree ? "same" : "differs") << "; ref gap " << rep.reference_min_top2_gap);
    }
  }
}

TEST_CASE("compare: different architectures and bad options are refused with clear errors", "[compare]") {
  MBLIP_REQUIRE_GOLDEN();
  auto a = load(mblip_test::golden_gguf("tiny-mt5", "f32"));
  auto b = load(mblip_test::golden_gguf("tiny-mt5-odd", "f32"));
  mblip::Status st = mblip::check_same_architecture(*a, *b);
  CHECK(st.code() == mblip::StatusCode::kInvalidArgument);
  CHECK_THAT(st.message(), Catch::Contains("different architectures"));
  CHECK_THAT(st.message(), Catch::Contains("hidden size"));
  const auto items = golden_items("tiny-mt5", 1);
  REQUIRE(items.size() == 1);
  auto r = mblip::compare_models_pixels(*a, *b, items[0].px);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == mblip::StatusCode::kInvalidArgument);
  CHECK(mblip::check_same_architecture(*a, *a).ok());

  mblip::CompareOptions o;
  o.max_new_tokens = 0;
  auto r0 = mblip::compare_models_pixels(*a, *a, items[0].px, o);
  REQUIRE_FALSE(r0.ok());
  CHECK_THAT(r0.status().message(), Catch::Contains("max_new_tokens"));
  o = {};
  o.language = "Klingon";
  auto rl = mblip::compare_models_pixels(*a, *a, items[0].px, o);
  REQUIRE_FALSE(rl.ok());
  CHECK_THAT(rl.status().message(), Catch::Contains("Klingon"));
  mblip::PixelValues small;
  small.height = small.width = 32;
  small.data.assign(3 * 32 * 32, 0.f);
  auto rp = mblip::compare_models_pixels(*a, *a, small);
  REQUIRE_FALSE(rp.ok());
  CHECK_THAT(rp.status().message(), Catch::Contains("pixel values"));
  const uint8_t junk[] = {1, 2, 3, 4};
  auto rj = mblip::compare_models(*a, *a, junk, sizeof junk);
  REQUIRE_FALSE(rj.ok());
  CHECK(rj.status().code() == mblip::StatusCode::kImageDecode);
  // From image bytes: the default prompt ("Caption in English:") and a real photo.
  const std::string img = mblip_test::read_file(mblip_test::golden_dir() + "/images/files/astronaut_baseline.jpg");
  o = {};
  o.max_new_tokens = 4;
  auto ri = mblip::compare_models(*a, *a, reinterpret_cast<const uint8_t*>(img.data()), img.size(), o);
  INFO(ri.status().to_string());
  REQUIRE(ri.ok());
  CHECK(ri.value().prompt == "Caption in English:");
  CHECK(ri.value().greedy_tokens_agree);
  CHECK(ri.value().teacher_forced_positions <= 4);
}
