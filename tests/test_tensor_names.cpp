// The tensor table and name mapping: expected_tensors() vs the golden checkpoints' safetensors
// headers, GGUF name limits, round trips, config variants (tied, plain FFN, Q-Former
// cross-attention), roles and bias links, and the loader planning exactly the table.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>

#include "convert/hf_config.h"
#include "io/gguf.h"
#include "model/mblip_model.h"
#include "model/tensor_names.h"
#include "support/golden.h"
#include "support/models.h"

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
  CHECK(component_of("t.enc.final_ln") == Component::kTextEncoder);
  CHECK(component_of("v.99.nope") == Component::kVision);  // unknown names: by their prefix
  CHECK(component_of("t.dec.7.nope") == Component::kTextDecoder);
  CHECK(component_of("q.nope") == Component::kQFormer);
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

TEST_CASE("tensor table: roles, bias links and tied copies", "[tensor_names]") {
  ModelConfig untied;
  untied.vision.num_layers = 2;
  untied.qformer.num_layers = 3;
  untied.text.num_layers = untied.text.num_decoder_layers = 2;
  ModelConfig tied = untied;
  tied.text.tie_word_embeddings = true;
  tied.text.gated = false;
  tied.vision.qkv_bias = false;
  for (const ModelConfig& cfg : {untied, tied}) {
    const bool is_tied = cfg.text.tie_word_embeddings;
    INFO("tied " << is_tied);
    const auto table = expected_tensors(cfg);
    std::map<std::string, const ExpectedTensor*> by_name;
    for (const auto& e : table) REQUIRE(by_name.emplace(e.name, &e).second);
    std::map<std::string, int> bias_users;
    int linears = 0, convs = 0, embeddings = 0;
    for (const auto& e : table) {
      INFO(e.name << " <- " << e.hf_name);
      const bool hf_weight = e.hf_name.size() > 7 && e.hf_name.compare(e.hf_name.size() - 7, 7, ".weight") == 0;
      const bool hf_bias = e.hf_name.size() > 5 && e.hf_name.compare(e.hf_name.size() - 5, 5, ".bias") == 0;
      CHECK(e.is_matrix_weight == (e.role == TensorRole::kLinear || e.role == TensorRole::kEmbedding));
      CHECK(e.also_linear == (e.role == TensorRole::kEmbedding && is_tied));
      switch (e.role) {
        case TensorRole::kLinear:
        case TensorRole::kConv: {
          (e.role == TensorRole::kLinear ? linears : convs)++;
          CHECK(hf_weight);
          CHECK(e.shape.size() == (e.role == TensorRole::kLinear ? 2u : 4u));
          if (e.bias.empty()) break;
          ++bias_users[e.bias];
          REQUIRE(by_name.count(e.bias));
          const ExpectedTensor& b = *by_name.at(e.bias);
          CHECK(b.role == TensorRole::kBias);
          CHECK(b.shape == std::vector<int64_t>{e.shape[0]});
          CHECK(b.hf_name == e.hf_name.substr(0, e.hf_name.size() - 7) + ".bias");
          CHECK(b.component == e.component);
          break;
        }
        case TensorRole::kBias: CHECK(hf_bias); break;
        case TensorRole::kNorm: CHECK(e.shape.size() == 1); CHECK((hf_weight || hf_bias)); break;
        case TensorRole::kFloats: CHECK_FALSE(hf_bias); break;
        case TensorRole::kEmbedding: ++embeddings; CHECK(e.name == "t.emb"); break;
      }
    }
    for (const auto& e : table)
      if (e.role == TensorRole::kBias) CHECK(bias_users[e.name] == 1);
    CHECK(convs == 1);
    CHECK(by_name.at("v.patch.w")->role == TensorRole::kConv);
    CHECK(embeddings == 1);
    CHECK(by_name.at("v.0.qkv.w")->bias == (is_tied ? "" : "v.0.qkv.b"));
    CHECK(by_name.at("t.enc.0.sa.q")->bias.empty());
    // Linears per layer: vision 4 (qkv, proj, fc1, fc2); Q-Former 6 (+4 in the cross-attention
    // layers 0 and 2); projection 1; T5 encoder 4 + FFN, decoder 8 + FFN; lm_head when untied.
    const int ffn = cfg.text.gated ? 3 : 2;
    CHECK(linears == 2 * 4 + (3 * 6 + 2 * 4) + 1 + 2 * (4 + ffn) + 2 * (8 + ffn) + (is_tied ? 0 : 1));
    const auto& aliases = by_name.at("t.emb")->hf_aliases;
    CHECK(std::count(aliases.begin(), aliases.end(), "language_model.encoder.embed_tokens.weight") == 1);
    CHECK(std::count(aliases.begin(), aliases.end(), "language_model.decoder.embed_tokens.weight") == 1);
    CHECK(std::count(aliases.begin(), aliases.end(), "language_model.lm_head.weight") == (is_tied ? 1 : 0));
  }
  // The naming rules hold one "{N}" layer of every tower and every optional tensor.
  std::set<std::string> rules;
  for (const auto& r : tensor_name_rules()) {
    CHECK(r.shape.empty());
    CHECK(rules.insert(r.name).second);
  }
  for (const char* n : {"v.{N}.qkv.b", "q.{N}.ca.k.w", "t.enc.{N}.ffn.wi", "t.dec.{N}.ffn.wi1", "t.head", "t.dec.rel_bias"})
    CHECK(rules.count(n));
}

TEST_CASE("tensor table: the loader plans and reads exactly the declared tensors", "[tensor_names]") {
  MBLIP_REQUIRE_GOLDEN();
  auto file = GgufFile::open_path(mblip_test::golden_gguf("tiny-mt5-odd", "q8_0"));
  REQUIRE(file.ok());
  auto b = MBlipModelBuilder::create(*file.value());
  REQUIRE(b.ok());
  const auto table = expected_tensors(b.value()->config());
  CHECK(table.size() == file.value()->tensors().size());
  for (const auto& e : table) {
    INFO(e.name);
    CHECK(b.value()->wants(e.name));  // biases too (read by their linear)
  }
  CHECK_FALSE(b.value()->wants("v.0.nope"));
  CHECK(b.value()->planned_weight_bytes() > 0);
  REQUIRE(b.value()->add_file_tensors(*file.value()).ok());
  auto m = b.value()->finish();
  INFO(m.status().to_string());
  REQUIRE(m.ok());
  CHECK(m.value()->config().vision.num_layers == b.value()->config().vision.num_layers);
}

TEST_CASE("linear weights and their rows per call come from the declarations", "[tensor_names]") {
  // The matrices the runtime multiplies by, with their activation rows per call (what `mblip bench`
  // counts as GEMM work, and what picks a Q4_0 kernel): the patch conv and every ViT linear on all
  // 257 tokens, the Q-Former's cross-attention K/V on the image tokens, its other linears on the
  // 32 queries, the decoder on 1 row per beam but its cross-attention K/V, the lm_head per step.
  auto rows_of = [](const ModelConfig& cfg) {
    std::map<std::string, std::string> r;
    for (const ExpectedTensor& e : expected_tensors(cfg)) r[e.name] = is_linear_weight(e) ? rows_name(e.rows) : "-";
    return r;
  };
  ModelConfig cfg;  // mblip-mt0-xl: untied lm_head
  REQUIRE_FALSE(cfg.text.tie_word_embeddings);
  auto r = rows_of(cfg);
  CHECK(r.at("v.patch.w") == "many");
  CHECK(r.at("v.38.fc1.w") == "many");
  CHECK(r.at("q.4.ca.k.w") == "many");
  CHECK(r.at("q.4.ca.v.w") == "many");
  CHECK(r.at("q.4.ca.q.w") == "some");
  CHECK(r.at("q.4.sa.k.w") == "some");
  CHECK(r.at("q.4.ffn.up.w") == "some");
  CHECK(r.at("t.enc.0.sa.q") == "some");
  CHECK(r.at("t.dec.3.sa.q") == "few");
  CHECK(r.at("t.dec.3.ca.k") == "some");
  CHECK(r.at("t.head") == "few");
  for (const char* not_linear : {"v.cls", "v.pos", "q.query", "t.dec.rel_bias", "v.38.qkv.b", "t.enc.0.sa.ln", "t.emb"})
    CHECK(r.at(not_linear) == "-");
  // Read once per generated token: the decoder (weights, norms, relative bias) but its
  // cross-attention K/V (once per caption), and the lm_head; nothing of the image / prompt stages.
  auto per_step = [](const ModelConfig& c) {
    std::map<std::string, bool> p;
    for (const ExpectedTensor& e : expected_tensors(c)) p[e.name] = read_per_step(e);
    return p;
  };
  auto ps = per_step(cfg);
  for (const char* n : {"t.dec.3.sa.q", "t.dec.3.ca.q", "t.dec.3.ffn.wo", "t.dec.3.ffn.ln", "t.dec.rel_bias", "t.head"})
    CHECK(ps.at(n));
  for (const char* n : {"t.dec.3.ca.k", "t.dec.3.ca.v", "t.enc.0.sa.q", "v.3.fc1.w", "q.4.ca.k.w", "t.emb"})
    CHECK_FALSE(ps.at(n));
  // Tied (BLIP-2 Flan-T5): the shared embedding is also the lm_head, one row per beam, per step.
  cfg.text.tie_word_embeddings = true;
  r = rows_of(cfg);
  CHECK(r.at("t.emb") == "few");
  CHECK(r.count("t.head") == 0);
  CHECK(per_step(cfg).at("t.emb"));
}
