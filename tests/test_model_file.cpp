// ModelFile (metadata-only open): the same info, tokenizer and preprocessing as a loaded Model
// and the golden preprocessing, without reading a weight; check_model_file_size.
#include <catch2/catch.hpp>

#include <map>

#include <cmath>
#include <string>
#include <vector>

#include "mblip/mblip.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;
using mblip_test::golden_dir;

TEST_CASE("model file: metadata-only open agrees with a loaded model", "[model_file]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string path = mblip_test::golden_gguf("tiny-mt5", "q8_0");
  auto f = ModelFile::open(path);
  REQUIRE(f.ok());
  auto m = Model::load_file(path);
  REQUIRE(m.ok());
  const ModelInfo& a = f.value()->info();
  const ModelInfo& b = m.value()->info();
  CHECK(a.architecture == b.architecture);
  CHECK(a.num_query_tokens == b.num_query_tokens);
  CHECK(a.d_model == b.d_model);
  CHECK(a.vocab_size == b.vocab_size);
  CHECK(a.max_prompt_tokens == b.max_prompt_tokens);
  CHECK(a.vision_layers == b.vision_layers);
  CHECK(a.languages.size() == 96);
  CHECK(f.value()->gguf_version() == 3);

  // The tensor table: every entry named both ways, q8_0 matrices present, bytes add up.
  uint64_t sum = 0;
  bool has_q8 = false;
  for (const TensorEntry& t : f.value()->tensors()) {
    CHECK_FALSE(t.name.empty());
    CHECK_FALSE(t.hf_name.empty());
    CHECK_FALSE(t.shape.empty());
    has_q8 = has_q8 || t.type == "q8_0";
    sum += t.bytes;
  }
  CHECK(has_q8);
  CHECK(sum == a.weight_bytes);
  // Each entry's role from the tensor table: the matrices the runtime multiplies by (a linear or
  // the patch conv) with their rows per call; everything else (norms, biases, embeddings read by
  // row, class / position / query tokens) is not one.
  std::map<std::string, std::string> rows;
  for (const TensorEntry& t : f.value()->tensors()) {
    CHECK(t.linear == !t.rows.empty());
    if (t.linear) rows[t.name] = t.rows;
  }
  CHECK(rows.at("v.patch.w") == "many");
  CHECK(rows.at("v.0.fc1.w") == "many");
  CHECK(rows.at("q.0.ca.k.w") == "many");
  CHECK(rows.at("q.0.sa.q.w") == "some");
  CHECK(rows.at("t.enc.0.sa.q") == "some");
  CHECK(rows.at("t.dec.0.sa.q") == "few");
  for (const char* name : {"v.cls", "v.pos", "q.query", "v.0.qkv.b", "t.emb"}) CHECK(rows.count(name) == 0);

  // Tokenizer: identical to the loaded model's.
  const std::string text = "Caption in German: ein Hund läuft über die Wiese.";
  CHECK(f.value()->tokenize(text, true).value() == m.value()->tokenize(text, true).value());
  auto ids = f.value()->tokenize(text).value();
  CHECK(f.value()->detokenize(ids).value() == m.value()->detokenize(ids).value());
  CHECK_FALSE(f.value()->token_pieces({-1}).ok());

  // Config JSON carries the hyperparameters `mblip info` prints.
  const std::string cfg = f.value()->config_json();
  CHECK(cfg.find("\"vision\"") != std::string::npos);
  CHECK(cfg.find("\"num_query_tokens\":" + std::to_string(a.num_query_tokens)) != std::string::npos);
}

TEST_CASE("model file: preprocess gives the golden pixel values", "[model_file]") {
  MBLIP_REQUIRE_GOLDEN();
  auto f = ModelFile::open(mblip_test::golden_gguf("tiny-mt5", "f32"));
  REQUIRE(f.ok());
  const std::string img = golden_dir() + "/images/files/astronaut_baseline.jpg";
  const std::string bytes = mblip_test::read_file(img);
  auto px = f.value()->preprocess(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  REQUIRE(px.ok());
  const std::vector<float> want =
      mblip_test::load_npy(golden_dir() + "/images/astronaut_baseline/pixel_values.npy").as_float();
  REQUIRE(px.value().data.size() == want.size());
  CHECK(mblip_test::max_rel_error(px.value().data, want) < 1e-6);
  auto bad = f.value()->preprocess(reinterpret_cast<const uint8_t*>("nope"), 4);
  CHECK(bad.status().code() == StatusCode::kImageDecode);
}

TEST_CASE("model file: errors for missing, foreign and tokenizer-only files", "[model_file]") {
  CHECK_FALSE(ModelFile::open("/nonexistent/model.gguf").ok());
  const std::string junk = mblip_test::tmp_dir() + "/model_file_junk.gguf";
  mblip_test::write_file_atomic(junk, "GGUF but not really");
  auto r = ModelFile::open(junk);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kModelLoad);
  if (golden_dir().empty()) return;
  auto t = ModelFile::open_tokenizer(golden_dir() + "/tokenizer/spiece.model");
  REQUIRE(t.ok());
  CHECK(t.value()->tokenize("hello").ok());
  CHECK(t.value()->tensors().empty());
  CHECK(t.value()->preprocess(reinterpret_cast<const uint8_t*>("x"), 1).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("model file: check_model_file_size", "[model_file]") {
  CHECK(check_model_file_size(0).code() == StatusCode::kModelLoad);
  CHECK(check_model_file_size(3ull << 30).ok());
#ifdef __EMSCRIPTEN__
  const Status big = check_model_file_size(5ull << 30);
  CHECK(big.code() == StatusCode::kModelLoad);
  CHECK_THAT(big.message(), Catch::Contains("5.00 GiB (5368709120 bytes)") && Catch::Contains("4.00 GiB"));
#else
  CHECK(check_model_file_size(5ull << 30).ok());  // natively the load-time budget decides
#endif
}
