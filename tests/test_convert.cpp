// mblip-convert: HF checkpoint -> GGUF. Bit-exact f32 against an independent safetensors read,
// f16/q8_0/q4_0 within format bounds, safetensors == .bin == sharded inputs, config forms, the
// pickle VM / zip64 reader on hand-built archives, and bad inputs failing with no output left.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "convert/convert.h"
#include "convert/hf_config.h"
#include "convert/recipe.h"
#include "convert/source_tensor.h"
#include "convert/torch_bin.h"
#include "io/gguf.h"
#include "io/quant.h"
#include "model/config.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;
using mblip_test::file_exists;
using mblip_test::golden_dir;
using mblip_test::read_file;
using nlohmann::json;

namespace {

struct St {  // an independently parsed safetensors file
  json header;
  std::string data;
};

St read_st(const std::string& path) {
  const std::string b = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(b[static_cast<size_t>(i)]);
  return {json::parse(b.substr(8, n)), b.substr(8 + n)};
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

std::string st_bytes(const json& header, const std::string& data) {
  const std::string h = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xFF);
  return out + h + data;
}

std::string fresh_dir(const std::string& name) {
  std::string d = mblip_test::tmp_dir() + "/convert";
  ::mkdir(d.c_str(), 0755);
  d += "/" + name;
  ::mkdir(d.c_str(), 0755);
  for (const char* f : {"config.json", "preprocessor_config.json", "generation_config.json", "spiece.model",
                        "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                        "pytorch_model.bin.index.json", "a.safetensors", "b.safetensors", "a.bin", "b.bin", "out.gguf"})
    std::remove((d + "/" + f).c_str());
  return d;
}

// A checkpoint dir with the golden model's config files and (optionally) its weights copied.
std::string copy_model(const std::string& model, const std::string& name, bool st, bool bin) {
  const std::string src = golden_dir() + "/models/" + model, dst = fresh_dir(name);
  for (const char* f : {"config.json", "preprocessor_config.json", "generation_config.json", "spiece.model"})
    write_raw(dst + "/" + f, read_file(src + "/" + f));
  if (st) write_raw(dst + "/model.safetensors", read_file(src + "/model.safetensors"));
  if (bin) write_raw(dst + "/pytorch_model.bin", read_file(src + "/pytorch_model.bin"));
  return dst;
}

Status convert(const std::string& in, const std::string& out, DType w = DType::F32, const std::string& from = "auto",
               std::vector<std::string>* log = nullptr, std::map<Component, DType> overrides = {}) {
  ConvertOptions o;
  o.input_dir = in;
  o.output_path = out;
  o.weights = w;
  o.source_format = from;
  o.overrides = std::move(overrides);
  o.force = true;
  if (log) o.log = [log](const std::string& m) { log->push_back(m); };
  return convert_checkpoint(o);
}

std::unique_ptr<GgufFile> open_gguf(const std::string& path) {
  auto f = GgufFile::open_path(path);
  INFO(f.status().to_string());
  REQUIRE(f.ok());
  return std::move(f).value();
}

std::vector<float> st_floats(const St& st, const std::string& hf) {
  const auto& e = st.header.at(hf);
  const size_t b = e["data_offsets"][0].get<size_t>(), en = e["data_offsets"][1].get<size_t>();
  std::vector<float> v((en - b) / 4);
  std::memcpy(v.data(), st.data.data() + b, en - b);
  return v;
}

std::vector<float> dequant(const GgufTensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.view.numel()));
  const int64_t cols = t.view.cols();
  const size_t row_bytes = dtype_bytes(t.view.type, cols).value();
  for (int64_t r = 0; r < t.view.rows(); ++r)
    dequantize_row(t.view.type, t.view.data + static_cast<size_t>(r) * row_bytes, v.data() + r * cols, cols);
  return v;
}

const char* kModels[] = {"tiny-mt5", "tiny-mt5-odd"};

// Same tensors (names, order, types, shapes, bytes) in two GGUF files.
bool same_tensors(const std::string& a, const std::string& b) {
  auto ga = open_gguf(a), gb = open_gguf(b);
  if (ga->tensors().size() != gb->tensors().size()) return false;
  for (size_t i = 0; i < ga->tensors().size(); ++i) {
    const auto& x = ga->tensors()[i].view;
    const auto& y = gb->tensors()[i].view;
    if (x.name != y.name || x.type != y.type || x.shape != y.shape || x.nbytes != y.nbytes ||
        std::memcmp(x.data, y.data, x.nbytes) != 0)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("convert: f32 output equals the source bit for bit, config and tokenizer stored", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const json manifest = mblip_test::read_json(golden_dir() + "/models/manifest.json");
  for (const std::string model : kModels) {
    INFO(model);
    const std::string dir = golden_dir() + "/models/" + model;
    auto g = open_gguf(mblip_test::golden_gguf(model, "f32"));
    const St st = read_st(dir + "/model.safetensors");
    CHECK(g->tensors().size() == st.header.size() - 1);  // all stored tensors, no aliases, no extras
    for (const auto& t : g->tensors()) {
      const std::string hf = hf_name_for(t.view.name);
      INFO(t.view.name << " <- " << hf);
      REQUIRE(st.header.contains(hf));
      const auto& e = st.header[hf];
      CHECK(t.view.type == DType::F32);
      CHECK(t.view.shape == e["shape"].get<std::vector<int64_t>>());
      const size_t b = e["data_offsets"][0].get<size_t>(), en = e["data_offsets"][1].get<size_t>();
      REQUIRE(t.view.nbytes == en - b);
      CHECK(std::memcmp(t.view.data, st.data.data() + b, en - b) == 0);
    }
    auto spm = g->get_bytes("tokenizer.sentencepiece.model");
    REQUIRE(spm.ok());
    const std::string spm_file = read_file(dir + "/spiece.model");
    CHECK(std::string(spm.value().begin(), spm.value().end()) == spm_file);

    auto cfg = read_config(*g);
    REQUIRE(cfg.ok());
    const json& full = manifest["models"][model]["config_full"];
    const json& tc = full["text_config"];
    CHECK(cfg->vision.hidden_size == full["vision_config"]["hidden_size"].get<int64_t>());
    CHECK(cfg->vision.num_layers == full["vision_config"]["num_hidden_layers"].get<int64_t>());
    CHECK(cfg->vision.patch_size == full["vision_config"]["patch_size"].get<int64_t>());
    CHECK(cfg->vision.layer_norm_eps == full["vision_config"]["layer_norm_eps"].get<double>());
    CHECK(cfg->qformer.intermediate_size == full["qformer_config"]["intermediate_size"].get<int64_t>());
    CHECK(cfg->qformer.cross_attention_frequency == full["qformer_config"]["cross_attention_frequency"].get<int64_t>());
    CHECK(cfg->qformer.encoder_hidden_size == full["vision_config"]["hidden_size"].get<int64_t>());
    CHECK(cfg->qformer.layer_norm_eps == full["qformer_config"]["layer_norm_eps"].get<double>());
    CHECK(cfg->num_query_tokens == full["num_query_tokens"].get<int64_t>());
    CHECK(cfg->text.d_ff == tc["d_ff"].get<int64_t>());
    CHECK(cfg->text.num_decoder_layers == tc["num_decoder_layers"].get<int64_t>());
    CHECK(cfg->text.relative_attention_num_buckets == tc["relative_attention_num_buckets"].get<int64_t>());
    CHECK(cfg->text.relative_attention_max_distance == tc["relative_attention_max_distance"].get<int64_t>());
    CHECK(cfg->text.tie_word_embeddings == tc["tie_word_embeddings"].get<bool>());
    CHECK(cfg->text.gated);
    CHECK(cfg->text.dense_act == "gelu_new");
    CHECK(cfg->text.vocab_size == 8000);
    CHECK(cfg->preprocess.mean[1] == Approx(0.4578275));
    CHECK(cfg->text.decoder_start_token_id == 0);
    CHECK(cfg->text.eos_token_id == 1);
  }
}

TEST_CASE("convert: pytorch_model.bin and model.safetensors give the same file", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  for (const std::string model : kModels) {
    INFO(model);
    const std::string dir = golden_dir() + "/models/" + model, out = fresh_dir("bin_vs_st_" + model);
    Status a = convert(dir, out + "/st.gguf", DType::Q8_0, "safetensors");
    Status b = convert(dir, out + "/bin.gguf", DType::Q8_0, "bin");
    INFO(a.to_string() << " / " << b.to_string());
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    const bool identical = read_file(out + "/st.gguf") == read_file(out + "/bin.gguf");
    CHECK(identical);
  }
}

TEST_CASE("convert: f16 weights are the rounded source, other tensors stay f32", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string dir = golden_dir() + "/models/tiny-mt5-odd";
  auto g = open_gguf(mblip_test::golden_gguf("tiny-mt5-odd", "f16"));
  const St st = read_st(dir + "/model.safetensors");
  size_t n16 = 0;
  for (const auto& t : g->tensors()) {
    const std::string hf = hf_name_for(t.view.name);
    INFO(t.view.name);
    const std::vector<float> src = st_floats(st, hf);
    const bool matrix = t.view.shape.size() == 2 && t.view.name != "t.enc.rel_bias" && t.view.name != "t.dec.rel_bias";
    if (!matrix) {
      CHECK(t.view.type == DType::F32);
      CHECK(std::memcmp(t.view.data, src.data(), src.size() * 4) == 0);
      continue;
    }
    REQUIRE(t.view.type == DType::F16);
    ++n16;
    for (size_t i = 0; i < src.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, t.view.data + 2 * i, 2);
      const float v = fp16_to_fp32(h);
      // round-to-nearest: error at most half an f16 ulp (2^-11 relative; 2^-25 for subnormals)
      CHECK(std::fabs(v - src[i]) <= std::fabs(src[i]) * 0x1p-11f + 0x1p-25f);
    }
  }
  CHECK(n16 > 50);
}

TEST_CASE("convert: q8_0 and q4_0 dequantize within the block-format bounds", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string dir = golden_dir() + "/models/tiny-mt5";
  const St st = read_st(dir + "/model.safetensors");
  for (const std::string w : {"q8_0", "q4_0"}) {
    INFO(w);
    const DType want = w == "q8_0" ? DType::Q8_0 : DType::Q4_0;
    auto g = open_gguf(mblip_test::golden_gguf("tiny-mt5", w));
    size_t nq = 0;
    for (const auto& t : g->tensors()) {
      INFO(t.view.name);
      const std::vector<float> src = st_floats(st, hf_name_for(t.view.name));
      if (t.view.type == DType::F32) {
        CHECK(std::memcmp(t.view.data, src.data(), src.size() * 4) == 0);
        continue;
      }
      REQUIRE(t.view.type == want);  // every row of tiny-mt5 is a multiple of 32
      ++nq;
      const std::vector<float> deq = dequant(t);
      for (size_t b0 = 0; b0 < src.size(); b0 += 32) {
        float amax = 0;
        for (size_t i = b0; i < b0 + 32; ++i) amax = std::max(amax, std::fabs(src[i]));
        // q8_0: d = amax/127, error <= d/2; q4_0: d = amax/8, error <= d (the clamped end);
        // plus the f16 rounding of the stored scale: |q| * d * 2^-11 with |q| <= 127 or 8.
        const float bound = (want == DType::Q8_0 ? amax / 127.f * (0.5f + 127.f / 2048.f)
                                                 : amax / 8.f * (1.f + 8.f / 2048.f)) * 1.001f + 1e-7f;
        for (size_t i = b0; i < b0 + 32; ++i) CHECK(std::fabs(deq[i] - src[i]) <= bound);
      }
    }
    CHECK(nq == 63);
  }
}

TEST_CASE("convert: quantized rows not a multiple of 32 fall back to f16 with a note", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string out = fresh_dir("odd_q4") + "/out.gguf";
  std::vector<std::string> log;
  Status s = convert(golden_dir() + "/models/tiny-mt5-odd", out, DType::Q4_0, "auto", &log);
  REQUIRE(s.ok());
  auto g = open_gguf(out);
  size_t notes = 0, f16 = 0;
  for (const auto& m : log) notes += m.find("stored as f16 instead of q4_0") != std::string::npos;
  for (const auto& t : g->tensors()) f16 += t.view.type == DType::F16;
  CHECK(f16 == 88);  // every matrix weight of tiny-mt5-odd has rows of 48 or 100
  CHECK(notes == f16);
}

TEST_CASE("convert: per-component overrides", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string out = fresh_dir("overrides") + "/out.gguf";
  Status s = convert(golden_dir() + "/models/tiny-mt5", out, DType::F16, "auto", nullptr,
                     {{Component::kVision, DType::Q8_0}, {Component::kTextEncoder, DType::Q4_0},
                      {Component::kTextDecoder, DType::Q4_0}, {Component::kLmHead, DType::F32}});
  REQUIRE(s.ok());
  auto g = open_gguf(out);
  auto type = [&](const char* n) { return g->tensor(n)->view.type; };
  CHECK(type("v.0.qkv.w") == DType::Q8_0);
  CHECK(type("v.0.qkv.b") == DType::F32);
  CHECK(type("v.patch.w") == DType::F32);
  CHECK(type("q.0.ca.k.w") == DType::F16);
  CHECK(type("proj.w") == DType::F16);
  CHECK(type("t.enc.0.ffn.wi0") == DType::Q4_0);
  CHECK(type("t.dec.1.ca.o") == DType::Q4_0);
  CHECK(type("t.dec.rel_bias") == DType::F32);
  CHECK(type("t.emb") == DType::F16);
  CHECK(type("t.head") == DType::F32);
  auto recipe = g->get_string("mblip.convert.recipe");
  REQUIRE(recipe.ok());
  CHECK(recipe.value() == "weights=f16 vision=q8_0 text_encoder=q4_0 text_decoder=q4_0 lm_head=f32");

  Recipe r;  // the same recipe from CLI-style options
  REQUIRE(r.set_option("weights", "f16").ok());
  REQUIRE(r.set_option("vision", "q8_0").ok());
  REQUIRE(r.set_option("text", "q4_0").ok());
  REQUIRE(r.set_option("lm-head", "f32").ok());
  CHECK(r.describe() == recipe.value());
  CHECK_FALSE(r.set_option("vision", "q5_1").ok());
  CHECK_FALSE(r.set_option("decoder", "f16").ok());
}

TEST_CASE("convert: sharded safetensors and sharded .bin give the single-file result", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string src = golden_dir() + "/models/tiny-mt5";
  const std::string ref = fresh_dir("shard_ref") + "/out.gguf";
  REQUIRE(convert(src, ref).ok());

  // safetensors: alternate tensors between two shards (each with its own header and offsets)
  const St st = read_st(src + "/model.safetensors");
  const std::string d1 = copy_model("tiny-mt5", "shard_st", false, false);
  json h[2] = {json::object(), json::object()}, index = {{"metadata", json::object()}, {"weight_map", json::object()}};
  std::string data[2];
  int k = 0;
  for (auto it = st.header.begin(); it != st.header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const int s = k++ % 2;
    const size_t b = it.value()["data_offsets"][0].get<size_t>(), en = it.value()["data_offsets"][1].get<size_t>();
    json e = it.value();
    e["data_offsets"] = {data[s].size(), data[s].size() + (en - b)};
    h[s][it.key()] = e;
    data[s] += st.data.substr(b, en - b);
    index["weight_map"][it.key()] = s ? "b.safetensors" : "a.safetensors";
  }
  write_raw(d1 + "/a.safetensors", st_bytes(h[0], data[0]));
  write_raw(d1 + "/b.safetensors", st_bytes(h[1], data[1]));
  write_raw(d1 + "/model.safetensors.index.json", index.dump());
  Status s1 = convert(d1, d1 + "/out.gguf");
  INFO(s1.to_string());
  REQUIRE(s1.ok());
  CHECK(same_tensors(d1 + "/out.gguf", ref));

  // .bin: two shard files (copies of the full archive); the index picks each tensor from one
  const std::string d2 = copy_model("tiny-mt5", "shard_bin", false, false);
  const std::string bin = read_file(src + "/pytorch_model.bin");
  write_raw(d2 + "/a.bin", bin);
  write_raw(d2 + "/b.bin", bin);
  json bidx = {{"weight_map", json::object()}};
  k = 0;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it)
    bidx["weight_map"][it.key()] = (k++ % 3) ? "a.bin" : "b.bin";
  write_raw(d2 + "/pytorch_model.bin.index.json", bidx.dump());
  Status s2 = convert(d2, d2 + "/out.gguf");
  INFO(s2.to_string());
  REQUIRE(s2.ok());
  CHECK(same_tensors(d2 + "/out.gguf", ref));
}

TEST_CASE("hf_config: diff form, full form and t5/mt5 defaults", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const json manifest = mblip_test::read_json(golden_dir() + "/models/manifest.json");
  for (const std::string model : kModels) {
    INFO(model);
    auto diff = parse_blip2_config(read_file(golden_dir() + "/models/" + model + "/config.json"));
    auto full = parse_blip2_config(manifest["models"][model]["config_full"].dump());
    REQUIRE(diff.ok());
    REQUIRE(full.ok());
    CHECK(diff->vision.image_size == full->vision.image_size);
    CHECK(diff->vision.qkv_bias == full->vision.qkv_bias);
    CHECK(diff->vision.layer_norm_eps == full->vision.layer_norm_eps);
    CHECK(diff->qformer.cross_attention_frequency == full->qformer.cross_attention_frequency);
    CHECK(diff->qformer.layer_norm_eps == full->qformer.layer_norm_eps);
    CHECK(diff->qformer.encoder_hidden_size == full->qformer.encoder_hidden_size);
    CHECK(diff->text.d_ff == full->text.d_ff);
    CHECK(diff->text.gated == full->text.gated);
    CHECK(diff->text.dense_act == full->text.dense_act);
    CHECK(diff->text.tie_word_embeddings == full->text.tie_word_embeddings);
    CHECK(diff->text.num_decoder_layers == full->text.num_decoder_layers);
  }
  auto t5 = parse_blip2_config(R"({"model_type":"blip-2","text_config":{"model_type":"t5"},
                                   "qformer_config":{"encoder_hidden_size":5},"vision_config":{"hidden_size":96}})");
  REQUIRE(t5.ok());
  CHECK(t5->text.tie_word_embeddings);
  CHECK_FALSE(t5->text.gated);
  CHECK(t5->text.dense_act == "relu");
  CHECK(t5->text.d_ff == 2048);
  CHECK(t5->text.vocab_size == 32128);
  CHECK(t5->text.num_decoder_layers == 6);
  CHECK(t5->qformer.encoder_hidden_size == 96);  // forced to the vision width
  CHECK(t5->qformer.cross_attention_frequency == 2);
  CHECK(t5->vision.num_layers == 39);
  auto mt5 = parse_blip2_config(R"({"model_type":"blip-2","text_config":{"model_type":"mt5","num_layers":3}})");
  REQUIRE(mt5.ok());
  CHECK_FALSE(mt5->text.tie_word_embeddings);
  CHECK(mt5->text.gated);
  CHECK(mt5->text.dense_act == "gelu_new");
  CHECK(mt5->text.num_decoder_layers == 3);
  CHECK(mt5->text.vocab_size == 250112);
  auto flan = parse_blip2_config(R"({"model_type":"blip-2","text_config":{"model_type":"t5","feed_forward_proj":"gated-gelu","tie_word_embeddings":false}})");
  REQUIRE(flan.ok());
  CHECK(flan->text.gated);
  CHECK(flan->text.dense_act == "gelu_new");
  auto bad1 = parse_blip2_config(R"({"model_type":"llava"})");
  CHECK(bad1.status().code() == StatusCode::kUnsupported);
  auto bad2 = parse_blip2_config(R"({"model_type":"blip-2"})");  // default OPT text model
  CHECK(bad2.status().code() == StatusCode::kUnsupported);
  CHECK(bad2.status().message().find("opt") != std::string::npos);
  auto bad3 = parse_blip2_config(R"({"model_type":"blip-2","text_config":{"model_type":"t5","feed_forward_proj":"gated-silu"}})");
  CHECK(bad3.status().code() == StatusCode::kUnsupported);
  CHECK_FALSE(parse_blip2_config("{not json").ok());
  CHECK_FALSE(parse_blip2_config(R"({"model_type":"blip-2","text_config":{"model_type":"t5","d_model":"big"}})").ok());
}
