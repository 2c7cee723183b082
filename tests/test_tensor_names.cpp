// Tensor-name mapping: expected_tensors() vs the golden checkpoints' safetensors headers, GGUF
// name limits, round trips, and config variants (tied, plain FFN, Q-Former cross-attention).
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <set>

#include "convert/hf_config.h"
#include "model/tensor_names.h"
#include "support/golden.h"

using namespace mblip;

namespace {

// Independent read of a safetensors header: name -> shape.
std::map<std::string, std::vector<int64_t>> safetensors_shapes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  uint8_t lb[8];
  f.read(reinterpret_cast<char*>(lb), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lb[i];
  std::string h(n, '\0');
  f.read(&h[0], static_cast<std::streamsize>(n));
  auto j = nlohmann::json::parse(h);
  std::map<std::string, std::vector<int64_t>> out;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "__metadata__") out[it.key()] = it.value()["shape"].get<std::vector<int64_t>>();
  return out;
}

}  // namespace

TEST_CASE("expected_tensors matches the golden safetensors exactly", "[tensor_names]") {
  MBLIP_REQUIRE_GOLDEN();
  for (const std::string model : {"tiny-mt5", "tiny-mt5-odd"}) {
    INFO(model);
    const std::string dir = mblip_test::golden_dir() + "/models/" + model;
    auto cfg = load_hf_config(dir);
    REQUIRE(cfg.ok());
    const auto expected = expected_tensors(cfg.value());
    const auto file = safetensors_shapes(dir + "/model.safetensors");  // aliases are not stored there
    std::map<std::string, std::vector<int64_t>> got;
    std::set<std::string> gguf_names;
    for (const auto& e : expected) {
      INFO(e.name);
      CHECK(e.name.size() <= 63);
      CHECK(gguf_names.insert(e.name).second);
      CHECK(got.emplace(e.hf_name, e.shape).second);
      CHECK(gguf_name_for(e.hf_name) == e.name);
      CHECK(hf_name_for(e.name) == e.hf_name);
    }
    CHECK(got == file);
  }
}

TEST_CASE("name mapping round-trips and rejects unknown names", "[tensor_names]") {
  CHECK(gguf_name_for("vision_model.encoder.layers.38.self_attn.qkv.weight") == "v.38.qkv.w");
  CHECK(hf_name_for("v.38.qkv.b") == "vision_model.encoder.layers.38.self_attn.qkv.bias");
  CHECK(gguf_name_for("qformer.encoder.layer.10.crossattention.output.LayerNorm.bias") == "q.10.ca.ln.b");
  CHECK(gguf_name_for("language_model.decoder.block.23.layer.2.DenseReluDense.wi_1.weight") == "t.dec.23.ffn.wi1");
  CHECK(gguf_name_for("language_model.decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight") ==
        "t.dec.rel_bias");
  CHECK(gguf_name_for("language_model.encoder.block.5.layer.1.DenseReluDense.wi.weight") == "t.enc.5.ffn.wi");
  CHECK(gguf_name_for("language_model.encoder.embed_tokens.weight").empty());  // tied alias
  CHECK(gguf_name_for("vision_model.encoder.layers.x.mlp.fc1.weight").empty());
  CHECK(gguf_name_for("vision_model.encoder.layers.01.mlp.fc1.weight").empty());
  CHECK(gguf_name_for("something.else").empty());
  CHECK(hf_name_for("v.1.nope").empty());
  CHECK(component_of("v.3.fc1.w") == Component::kVision);
  CHECK(component_of("q.query") == Component::kQFormer);
  CHECK(component_of("proj.w") == Component::kProjection);
  CHECK(component_of("t.emb") == Component::kEmbeddings);
  CHECK(component_of("t.head") == Component::kLmHead);
  CHECK(component_of("t.enc.0.sa.q") == Component::kTextEncoder);
  CHECK(component_of("t.dec.rel_bias") == Component::kTextDecoder);
  CHECK(std::string(component_name(Component::kLmHead)) == "lm_head");
}

TEST_CASE("expected_tensors follows the config: tied head, plain FFN, cross-attention layers", "[tensor_names]") {
  ModelConfig cfg;  // real mBLIP sizes by default
  auto names = [](const ModelConfig& c) {
    std::map<std::string, std::vector<int64_t>> m;
    for (const auto& e : expected_tensors(c)) m[e.name] = e.shape;
    return m;
  };
  auto full = names(cfg);
  CHECK(full.count("t.head"));
  CHECK(full.at("t.head") == std::vector<int64_t>{250112, 2048});
  CHECK(full.count("t.enc.23.ffn.wi0"));
  CHECK(full.count("t.enc.23.ffn.wi1"));
  CHECK_FALSE(full.count("t.enc.23.ffn.wi"));
  CHECK(full.at("v.pos") == std::vector<int64_t>{1, 257, 1408});
  CHECK(full.at("q.0.ca.k.w") == std::vector<int64_t>{768, 1408});
  CHECK_FALSE(full.count("q.1.ca.q.w"));
  CHECK(full.count("q.10.ca.q.w"));
  CHECK_FALSE(full.count("v.39.fc1.w"));
  for (const auto& kv : full) CHECK(kv.first.size() <= 63);

  cfg.text.tie_word_embeddings = true;
  cfg.text.gated = false;
  cfg.qformer.num_layers = 3;
  cfg.qformer.cross_attention_frequency = 1;
  auto t5 = names(cfg);
  CHECK_FALSE(t5.count("t.head"));
  CHECK(t5.count("t.dec.0.ffn.wi"));
  CHECK_FALSE(t5.count("t.dec.0.ffn.wi0"));
  CHECK(t5.count("q.1.ca.q.w"));
  CHECK(t5.count("q.2.ca.ln.b"));
  cfg.vision.qkv_bias = false;
  CHECK_FALSE(names(cfg).count("v.0.qkv.b"));
  // Matrix weights are exactly the 2-D linear/embedding weights (the patch conv stays f32).
  for (const auto& e : expected_tensors(cfg)) {
    INFO(e.name);
    if (e.is_matrix_weight) CHECK(e.shape.size() == 2);
    if (e.name == "v.patch.w" || e.name == "t.enc.rel_bias" || e.name == "q.query") CHECK_FALSE(e.is_matrix_weight);
  }
}
