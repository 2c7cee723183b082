// mblip bench's ops table: the timed linears take the model's weight types (set_linear_types); the
// vision and encoder stages profiled in place (profile_vision, profile_encoder).
#include <catch2/catch.hpp>

#include "mblip/bench.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;

TEST_CASE("bench ops table uses the model's type for each timed linear", "[bench]") {
  auto entry = [](const char* name, const char* type) {
    TensorEntry e;
    e.name = name;
    e.type = type;
    return e;
  };
  bench::OpShapes s;
  // The default recipe's mix: ViT attention q8_0, ViT MLP q4_0, encoder q4_0 with an f16 wo; a
  // later layer's type must not override the first one's (all layers share a recipe rule).
  const std::vector<TensorEntry> gated = {entry("v.0.qkv.w", "q8_0"),       entry("v.0.proj.w", "q8_0"),
                                          entry("v.0.fc1.w", "q4_0"),       entry("v.0.fc2.w", "q4_0"),
                                          entry("t.enc.0.sa.q", "q4_0"),    entry("t.enc.0.ffn.wi0", "q4_0"),
                                          entry("t.enc.0.ffn.wo", "f16"),   entry("v.1.fc1.w", "f32")};
  bench::set_linear_types(s, gated);
  CHECK(s.vit_qkv == "q8_0");
  CHECK(s.vit_proj == "q8_0");
  CHECK(s.vit_fc1 == "q4_0");
  CHECK(s.vit_fc2 == "q4_0");
  CHECK(s.t5_attn == "q4_0");
  CHECK(s.t5_wi == "q4_0");
  CHECK(s.t5_wo == "f16");
  bench::OpShapes plain;  // a non-gated T5 (wi) and a model without a ViT layer 0: defaults kept
  bench::set_linear_types(plain, {entry("t.enc.0.ffn.wi", "f16")});
  CHECK(plain.t5_wi == "f16");
  CHECK(plain.vit_fc1 == bench::OpShapes().vit_fc1);
}

TEST_CASE("bench profiles time every vision / encoder op in place and leave results unchanged", "[bench]") {
  MBLIP_REQUIRE_GOLDEN();
  auto m = Model::load_file(mblip_test::golden_gguf("tiny-mt5", "f32"));
  REQUIRE(m.ok());
  auto s = m.value()->new_session();
  REQUIRE(s.ok());
  Session& sess = *s.value();
  std::vector<uint8_t> rgb(64 * 48 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  auto before = sess.embed_pixels(rgb.data(), 64, 48);
  REQUIRE(before.ok());
  auto p = bench::profile_vision(sess);
  INFO(p.status().to_string());
  REQUIRE(p.ok());
  const auto& ms = p.value();
  REQUIRE(ms.size() >= 2);
  CHECK(ms.back().first == "vision stage");
  double sum = 0;
  std::vector<std::string> names;
  for (size_t i = 0; i + 1 < ms.size(); ++i) {
    CHECK(ms[i].second >= 0.0);
    sum += ms[i].second;
    names.push_back(ms[i].first);
  }
  // Every op of the stage, each once (summed over the layers), in the order they first run.
  const std::vector<std::string> want = {"vit patch embedding", "vit layer_norm", "vit qkv linear",
                                         "vit attention",       "vit proj linear", "vit residual add",
                                         "vit fc1 linear",      "vit gelu_erf",   "vit fc2 linear"};
  CHECK(names == want);
  CHECK(sum <= ms.back().second * 1.0001 + 1e-3);  // the scopes do not overlap
  // The encoder the same way (tiny-mt5: gated gelu_new FFN).
  auto e = bench::profile_encoder(sess, 7);
  INFO(e.status().to_string());
  REQUIRE(e.ok());
  std::vector<std::string> enames;
  double esum = 0;
  for (size_t i = 0; i + 1 < e.value().size(); ++i) {
    CHECK(e.value()[i].second >= 0.0);
    esum += e.value()[i].second;
    enames.push_back(e.value()[i].first);
  }
  CHECK(e.value().back().first == "encoder stage");
  const std::vector<std::string> ewant = {"t5 position bias + mask", "t5 rms_norm", "t5 q/k/v/o linear",
                                          "t5 encoder attention", "t5 residual add", "t5 wi0/wi1 linear",
                                          "t5 gelu_tanh", "t5 gate mul", "t5 wo linear"};
  CHECK(enames == ewant);
  CHECK(esum <= e.value().back().second * 1.0001 + 1e-3);
  CHECK_FALSE(bench::profile_encoder(sess, 0).ok());
  // Profiling is switched off again and changes nothing: the next embedding is the same.
  auto after = sess.embed_pixels(rgb.data(), 64, 48);
  REQUIRE(after.ok());
  CHECK(after.value().data == before.value().data);
}
