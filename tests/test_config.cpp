// ModelConfig <-> GGUF metadata: round trip, missing / mistyped keys, architecture check,
// validate(), and that docs/model-file.md lists every key the code reads.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "io/gguf.h"
#include "model/config.h"
#include "support/golden.h"

using namespace mblip;

namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.name = "tiny test";
  c.vision.hidden_size = 64; c.vision.intermediate_size = 96; c.vision.num_layers = 2; c.vision.num_heads = 4;
  c.vision.patch_size = 16; c.vision.layer_norm_eps = 1e-5; c.vision.qkv_bias = false;
  c.qformer.hidden_size = 48; c.qformer.intermediate_size = 80; c.qformer.num_layers = 3; c.qformer.num_heads = 2;
  c.qformer.encoder_hidden_size = 64; c.qformer.cross_attention_frequency = 1; c.qformer.layer_norm_eps = 1e-12;
  c.text.model_type = "t5"; c.text.vocab_size = 8000; c.text.d_model = 40; c.text.d_kv = 12; c.text.num_heads = 3;
  c.text.d_ff = 72; c.text.num_layers = 2; c.text.num_decoder_layers = 3; c.text.gated = false;
  c.text.dense_act = "relu"; c.text.tie_word_embeddings = true; c.text.layer_norm_epsilon = 1e-6;
  c.text.relative_attention_num_buckets = 8; c.text.relative_attention_max_distance = 20;
  c.num_query_tokens = 5;
  c.preprocess.rescale_factor = 1.0 / 255.0;
  c.preprocess.do_convert_rgb = false;
  c.preprocess.mean = {0.5f, 0.25f, 0.125f};
  c.random_weights = true;
  return c;
}

// Writes `cfg` (minus `drop`, plus `extra`) and opens it.
std::unique_ptr<GgufFile> roundtrip(const ModelConfig& cfg, const std::string& drop = "",
                                    const std::pair<std::string, GgufValue>* extra = nullptr) {
  GgufWriter w;
  write_config(cfg, w);
  GgufWriter w2;
  // GgufWriter has no erase: rebuild from the key list.
  // Names of this process only: ctest runs the test cases of this file as concurrent processes.
  static const std::string unique = std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  const auto f0_path = mblip_test::tmp_dir() + "/config_tmp0." + unique + ".gguf";
  REQUIRE(w.write(f0_path, {}).ok());
  auto f0 = GgufFile::open_path(f0_path);
  REQUIRE(f0.ok());
  for (const auto& kv : f0.value()->metadata())
    if (kv.first != drop) w2.set(kv.first, kv.second);
  if (extra) w2.set(extra->first, extra->second);
  const auto path = mblip_test::tmp_dir() + "/config_tmp." + unique + ".gguf";
  REQUIRE(w2.write(path, {}).ok());
  auto f = GgufFile::open_path(path);
  REQUIRE(f.ok());
  std::remove(f0_path.c_str());  // the open file stays readable
  std::remove(path.c_str());
  return std::move(f).value();
}

}  // namespace

TEST_CASE("config: defaults (mBLIP mt0-xl) are valid", "[config]") {
  ModelConfig c;
  CHECK(c.validate().ok());
  CHECK(c.vision.num_positions() == 257);
  CHECK(tiny_config().validate().ok());
}

TEST_CASE("config: write_config -> read_config round trip", "[config]") {
  const ModelConfig c = tiny_config();
  auto f = roundtrip(c);
  auto r = read_config(*f);
  REQUIRE(r.ok());
  const ModelConfig& d = r.value();
  CHECK(d.architecture == "blip2-t5");
  CHECK(d.name == c.name);
  CHECK(d.vision.hidden_size == 64);
  CHECK(d.vision.patch_size == 16);
  CHECK(d.vision.layer_norm_eps == 1e-5);
  CHECK(d.vision.qkv_bias == false);
  CHECK(d.qformer.num_layers == 3);
  CHECK(d.qformer.layer_norm_eps == 1e-12);
  CHECK(d.qformer.cross_attention_frequency == 1);
  CHECK(d.text.model_type == "t5");
  CHECK(d.text.d_kv == 12);
  CHECK(d.text.num_decoder_layers == 3);
  CHECK(d.text.gated == false);
  CHECK(d.text.dense_act == "relu");
  CHECK(d.text.tie_word_embeddings == true);
  CHECK(d.text.relative_attention_max_distance == 20);
  CHECK(d.num_query_tokens == 5);
  CHECK(d.preprocess.rescale_factor == 1.0 / 255.0);
  CHECK(d.preprocess.do_convert_rgb == false);
  CHECK(d.preprocess.mean == std::vector<float>{0.5f, 0.25f, 0.125f});
  CHECK(d.preprocess.std == c.preprocess.std);
  CHECK(d.random_weights == true);
  // Types as documented.
  CHECK(f->find("mblip.vision.hidden_size")->type == GgufType::UINT32);
  CHECK(f->find("mblip.qformer.layer_norm_eps")->type == GgufType::FLOAT64);
  CHECK(f->find("mblip.preprocess.mean")->array_type == GgufType::FLOAT32);
  CHECK(f->find("mblip.text.gated")->type == GgufType::BOOL);
}

TEST_CASE("config: missing, mistyped and unsupported keys give named errors", "[config]") {
  const ModelConfig c = tiny_config();
  {
    auto f = roundtrip(c, "mblip.text.d_kv");
    auto r = read_config(*f);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kModelLoad);
    CHECK(r.status().message().find("'mblip.text.d_kv' is missing") != std::string::npos);
  }
  {
    auto f = roundtrip(c, "general.architecture");
    CHECK(read_config(*f).status().message().find("general.architecture") != std::string::npos);
  }
  {  // optional keys fall back to defaults
    auto f = roundtrip(c, "mblip.random_weights");
    auto r = read_config(*f);
    REQUIRE(r.ok());
    CHECK(r.value().random_weights == ModelConfig().random_weights);
  }
  {
    std::pair<std::string, GgufValue> e{"mblip.vision.num_heads", GgufValue::make_string("four")};
    auto f = roundtrip(c, "", &e);
    auto m = read_config(*f).status().message();
    CHECK(m.find("mblip.vision.num_heads") != std::string::npos);
    CHECK(m.find("STRING") != std::string::npos);
  }
  {
    std::pair<std::string, GgufValue> e{"mblip.text.gated", GgufValue::make_u32(1)};
    auto f = roundtrip(c, "", &e);
    CHECK(read_config(*f).status().message().find("expected BOOL") != std::string::npos);
  }
  {
    std::pair<std::string, GgufValue> e{"general.architecture", GgufValue::make_string("llama")};
    auto f = roundtrip(c, "", &e);
    auto m = read_config(*f).status().message();
    CHECK(m.find("unsupported general.architecture 'llama'") != std::string::npos);
  }
  {
    std::pair<std::string, GgufValue> e{"mblip.vision.num_heads", GgufValue::make_u32(5)};
    auto f = roundtrip(c, "", &e);
    CHECK(read_config(*f).status().message().find("divisible") != std::string::npos);
  }
}

TEST_CASE("config: validate checks positivity, divisibility and ranges", "[config]") {
  auto expect = [](ModelConfig c, const char* needle) {
    Status s = c.validate();
    INFO(s.message());
    CHECK_FALSE(s.ok());
    CHECK(s.message().find(needle) != std::string::npos);
  };
  ModelConfig c;
  { auto x = c; x.vision.hidden_size = 0; expect(x, "vision.hidden_size"); }
  { auto x = c; x.vision.num_heads = 15; expect(x, "divisible by vision.num_heads"); }
  { auto x = c; x.vision.patch_size = 15; expect(x, "divisible by vision.patch_size"); }
  { auto x = c; x.qformer.num_heads = 7; expect(x, "qformer.num_heads"); }
  { auto x = c; x.qformer.encoder_hidden_size = 1024; expect(x, "encoder_hidden_size"); }
  { auto x = c; x.text.d_kv = -1; expect(x, "text.d_kv"); }
  { auto x = c; x.text.d_kv = int64_t(1) << 20; x.text.num_heads = 1000; expect(x, "d_kv * text.num_heads"); }
  { auto x = c; x.text.eos_token_id = 250112; expect(x, "eos_token_id"); }
  { auto x = c; x.text.model_type = "llama"; expect(x, "model_type"); }
  { auto x = c; x.text.layer_norm_epsilon = 0; expect(x, "layer_norm_epsilon"); }
  { auto x = c; x.preprocess.mean = {0.5f}; expect(x, "mean"); }
  { auto x = c; x.preprocess.std[1] = 0.0f; expect(x, "std"); }
  { auto x = c; x.preprocess.height = 256; expect(x, "image_size"); }
  { auto x = c; x.num_query_tokens = 0; expect(x, "num_query_tokens"); }
  { auto x = c; x.architecture = "gpt2"; expect(x, "architecture"); }
}

TEST_CASE("config: docs/model-file.md documents every metadata key", "[config]") {
  const std::string doc_path = std::string(MBLIP_SOURCE_DIR) + "/docs/model-file.md";
  REQUIRE(mblip_test::file_exists(doc_path));
  const std::string doc = mblip_test::read_file(doc_path);
  for (const auto& k : config_keys()) {
    INFO(k.key);
    CHECK(doc.find("`" + k.key + "`") != std::string::npos);
  }
  CHECK(doc.find(std::string("`") + kTokenizerModelKey + "`") != std::string::npos);
  CHECK(config_keys().size() > 40);
}
