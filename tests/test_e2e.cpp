// End to end through the public API (mblip/mblip.h): image FILE -> decode -> preprocess ->
// vision -> Q-Former -> projection -> T5 encoder -> generate, for every golden case of both
// models and every generation setting (greedy, beam 3, beam 5 / 50, beam 5 / 10 / lp -1),
// single and batched, against transformers 4.36.2's sequences and beam scores.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "mblip/mblip.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;
using mblip_test::golden_dir;
using mblip_test::load_npy;
using mblip_test::read_json;

namespace {

struct Setting {
  const char* name;        // golden array prefix
  int beams, max_new;
  double lp;
};
const Setting kSettings[] = {
    {"greedy", 1, 16, 1.0},
    {"beam", 3, 16, 1.0},
    {"beam5_max50", 5, 50, 1.0},
    {"beam5_max10_lpm1", 5, 10, -1.0},
};

GenerateOptions options_for(const Setting& s) {
  GenerateOptions o;
  o.num_beams = s.beams;
  o.max_new_tokens = s.max_new;
  o.length_penalty = s.lp;
  return o;
}

// A golden row (decoder start first, pad after eos) -> generated tokens incl. eos.
std::vector<int32_t> golden_row(const mblip_test::Npy& seqs, int64_t row) {
  const std::vector<int64_t> all = seqs.as_int64();
  const int64_t t = seqs.shape[1];
  std::vector<int32_t> out;
  for (int64_t j = 1; j < t; ++j) {
    const int64_t v = all[static_cast<size_t>(row * t + j)];
    out.push_back(static_cast<int32_t>(v));
    if (v == 1) break;
  }
  return out;
}

std::string image_file(const nlohmann::json& images_manifest, const std::string& stem) {
  for (const auto& im : images_manifest["images"])
    if (im["name"] == stem) return golden_dir() + "/images/" + im["file"].get<std::string>();
  throw std::runtime_error("image " + stem + " not in the images manifest");
}

std::shared_ptr<Model> load_model(const std::string& name) {
  const std::string path = mblip_test::golden_gguf(name, "f32");
  auto m = Model::load_file(path);
  INFO(m.status().to_string());
  REQUIRE(m.ok());
  return m.value();
}

DecodeOptions hf_decode() {
  DecodeOptions d;
  d.apply_exif = false;  // BlipImageProcessor on Image.open(file): no EXIF transpose
  return d;
}

void run_model_cases(const std::string& model_name) {
  const nlohmann::json manifest = read_json(golden_dir() + "/models/manifest.json");
  const nlohmann::json images = read_json(golden_dir() + "/images/manifest.json");
  std::shared_ptr<Model> model = load_model(model_name);
  auto session = model->new_session();
  REQUIRE(session.ok());
  int compared = 0;
  for (const auto& c : manifest["cases"]) {
    if (c["model"] != model_name) continue;
    const std::string case_dir = golden_dir() + "/" + c["model_dir"].get<std::string>() + "/cases/" +
                                 c["id"].get<std::string>().substr(model_name.size() + 1);
    std::vector<ImageEmbedding> embs;
    for (const auto& stem : c["images"]) {
      auto e = session.value()->embed_image_file(image_file(images, stem.get<std::string>()), hf_decode());
      INFO(e.status().to_string());
      REQUIRE(e.ok());
      embs.push_back(std::move(e).value());
    }
    for (const Setting& s : kSettings) {
      const std::string seq_path = case_dir + "/" + s.name + "_sequences.npy";
      if (!mblip_test::file_exists(seq_path)) continue;
      const auto seqs = load_npy(seq_path);
      std::vector<float> scores;
      if (s.beams > 1) scores = load_npy(case_dir + "/" + s.name + "_sequences_scores.npy").as_float();
      std::vector<const ImageEmbedding*> ptrs;
      std::vector<std::string> prompts;
      for (size_t b = 0; b < embs.size(); ++b) {
        ptrs.push_back(&embs[b]);
        prompts.push_back(c["prompts"][b].get<std::string>());
      }
      auto batch = session.value()->generate_batch(ptrs, prompts, options_for(s));
      INFO(batch.status().to_string());
      REQUIRE(batch.ok());
      for (size_t b = 0; b < embs.size(); ++b) {
        INFO(c["id"].get<std::string>() << " item " << b << " setting " << s.name);
        const GenerateResult& r = batch.value()[b];
        CHECK(r.tokens() == golden_row(seqs, static_cast<int64_t>(b)));
        if (s.beams > 1) CHECK(std::abs(r.score() - scores[b]) < 1e-4);
        ++compared;
      }
      if (embs.size() == 1) {
        // the single-prompt entry point gives the same as the batch of one
        auto single = session.value()->generate(embs[0], prompts[0], options_for(s));
        REQUIRE(single.ok());
        CHECK(single.value().tokens() == batch.value()[0].tokens());
      }
    }
  }
  // 9 single cases x (2 or 4 settings) + the batch of 2 x 4 settings
  CHECK(compared == 9 * 2 + 3 * 2 + 2 * 4);
}

}  // namespace

TEST_CASE("e2e tiny-mt5: every golden case and setting from the image file", "[e2e][slow]") {
  MBLIP_REQUIRE_GOLDEN();
  run_model_cases("tiny-mt5");
}

TEST_CASE("e2e tiny-mt5-odd: every golden case and setting from the image file", "[e2e][slow]") {
  MBLIP_REQUIRE_GOLDEN();
  run_model_cases("tiny-mt5-odd");
}

TEST_CASE("e2e: sessions in parallel threads give identical results", "[e2e]") {
  MBLIP_REQUIRE_GOLDEN();
  std::shared_ptr<Model> model = load_model("tiny-mt5");
  const std::string img = golden_dir() + "/images/files/chelsea_progressive.jpg";
  GenerateOptions o;
  o.num_beams = 3;
  o.max_new_tokens = 12;
  std::vector<int32_t> results[2];
  std::string errors[2];
  auto work = [&](int k) {
    auto s = model->new_session();
    if (!s.ok()) { errors[k] = s.status().to_string(); return; }
    auto e = s.value()->embed_image_file(img, hf_decode());
    if (!e.ok()) { errors[k] = e.status().to_string(); return; }
    auto r = s.value()->generate(e.value(), "Caption in Japanese.", o);
    if (!r.ok()) { errors[k] = r.status().to_string(); return; }
    results[k] = r.value().tokens();
  };
  std::thread t0(work, 0), t1(work, 1);
  t0.join();
  t1.join();
  CHECK(errors[0].empty());
  CHECK(errors[1].empty());
  CHECK(!results[0].empty());
  CHECK(results[0] == results[1]);
}

TEST_CASE("e2e: load_buffer, streaming, prompt helpers and input errors", "[e2e]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string path = mblip_test::golden_gguf("tiny-mt5", "f32");
  const std::string bytes = mblip_test::read_file(path);
  auto* buf = static_cast<uint8_t*>(std::malloc(bytes.size()));
  REQUIRE(buf != nullptr);
  std::memcpy(buf, bytes.data(), bytes.size());
  auto model = Model::load_buffer(buf, bytes.size());  // takes ownership
  INFO(model.status().to_string());
  REQUIRE(model.ok());
  const ModelInfo& info = model.value()->info();
  CHECK(info.architecture == "blip2-t5");
  CHECK(info.num_query_tokens == 32);
  CHECK(info.d_model == 64);
  CHECK(info.languages.size() == 96);

  LoadOptions small;
  small.max_memory_bytes = 1000;
  auto too_big = Model::load_file(path, small);
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().code() == StatusCode::kOutOfMemory);
  auto missing = Model::load_file(mblip_test::tmp_dir() + "/no-such-model.gguf");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kIo);

  auto s = model.value()->new_session();
  REQUIRE(s.ok());
  Session& session = *s.value();
  const std::string img = mblip_test::read_file(golden_dir() + "/images/files/astronaut_baseline.jpg");
  auto emb = session.embed_image(reinterpret_cast<const uint8_t*>(img.data()), img.size(), hf_decode());
  REQUIRE(emb.ok());
  CHECK(emb.value().num_queries == 32);

  // greedy streaming: the deltas concatenate to the final text, one event per token
  GenerateOptions g;
  g.max_new_tokens = 16;
  std::string streamed;
  int token_events = 0;
  Callbacks cb;
  cb.on_token = [&](const TokenEvent& e) {
    CHECK_FALSE(e.provisional);
    if (e.token >= 0) ++token_events;
    streamed += e.delta;
    CHECK(e.text == streamed);
    return true;
  };
  auto r = session.generate(emb.value(), "Describe the image in German.", g, cb);
  REQUIRE(r.ok());
  CHECK(token_events == static_cast<int>(r.value().tokens().size()));
  CHECK(streamed == r.value().text());
  auto dt = model.value()->detokenize(r.value().tokens());
  REQUIRE(dt.ok());
  CHECK(dt.value() == r.value().text());
  auto pt = model.value()->tokenize("Describe the image in German.", true);
  REQUIRE(pt.ok());
  CHECK(pt.value() == r.value().prompt_tokens);
  CHECK(pt.value().back() == 1);

  // cancellation from the callback
  cb.on_token = [](const TokenEvent& e) { return e.step < 3; };
  auto c = session.generate(emb.value(), "Describe the image in German.", g, cb);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == StatusCode::kCancelled);

  // errors
  auto bad_utf8 = session.generate(emb.value(), std::string("Caption \xff\xfe in German."), g);
  REQUIRE_FALSE(bad_utf8.ok());
  CHECK(bad_utf8.status().code() == StatusCode::kInvalidArgument);
  std::string long_prompt;
  for (int i = 0; i < 600; ++i) long_prompt += "word ";
  auto too_long = session.generate(emb.value(), long_prompt, g);
  REQUIRE_FALSE(too_long.ok());
  CHECK_THAT(too_long.status().message(), Catch::Contains("tokens"));
  GenerateOptions bad = g;
  bad.max_new_tokens = kMaxNewTokensLimit + 1;
  auto bad_opts = session.generate(emb.value(), "x", bad);
  REQUIRE_FALSE(bad_opts.ok());
  CHECK_THAT(bad_opts.status().message(), Catch::Contains("max_new_tokens"));
  ImageEmbedding wrong = emb.value();
  wrong.data.resize(10);
  CHECK_FALSE(session.generate(wrong, "x", g).ok());
  auto empty = session.embed_image(reinterpret_cast<const uint8_t*>(img.data()), 0);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == StatusCode::kImageDecode);
  auto garbage = session.embed_image(reinterpret_cast<const uint8_t*>("not an image"), 12);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.status().code() == StatusCode::kImageDecode);

  // raw pixels: the decoded RGB of the golden image gives the same embedding as the file
  const auto rgb = load_npy(golden_dir() + "/images/astronaut_baseline/decoded_rgb_u8.npy");
  auto from_px = session.embed_pixels(rgb.as_u8().data(), rgb.shape[1], rgb.shape[0], PixelFormat::kRGB);
  REQUIRE(from_px.ok());
  CHECK(mblip_test::max_rel_error(from_px.value().data, emb.value().data) < 1e-5);
}
