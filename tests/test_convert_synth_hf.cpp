// mblip-synth-hf: a synthetic mini checkpoint written as sharded torch .bin and as sharded
// safetensors converts to identical GGUF tensors holding exactly the generated values; the
// zip is a valid torch archive (CRC-32 test vector, entries, aliases of the tied embedding).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstring>

#include "convert/convert.h"
#include "convert/torch_bin.h"
#include "io/gguf.h"
#include "support/golden.h"
#include "synth/synth_fill.h"
#include "synth_hf/hf_checkpoint.h"
#include "synth_hf/torch_zip_writer.h"

using namespace mblip;

namespace {

std::string synth_dir(const std::string& name) {
  std::string d = mblip_test::tmp_dir() + "/synth_hf";
  ::mkdir(d.c_str(), 0755);
  return d + "/" + name;
}

Status convert_dir(const std::string& in, const std::string& out) {
  ConvertOptions o;
  o.input_dir = in;
  o.output_path = out;
  o.force = true;
  return convert_checkpoint(o);
}

}  // namespace

TEST_CASE("synth_hf: CRC-32 matches the standard check value", "[synth_hf]") {
  const char* s = "123456789";  // CRC-32/ISO-HDLC check value (used by zip)
  CHECK(crc32_update(0, reinterpret_cast<const uint8_t*>(s), 9) == 0xCBF43926u);
  CHECK(crc32_update(crc32_update(0, reinterpret_cast<const uint8_t*>(s), 4), reinterpret_cast<const uint8_t*>(s + 4), 5) ==
        0xCBF43926u);
  CHECK(crc32_update(0, nullptr, 0) == 0u);
}

TEST_CASE("synth_hf: mini sharded .bin and sharded safetensors convert to identical GGUF tensors", "[synth_hf]") {
  ModelConfig cfg;
  REQUIRE(synth::preset_config("mini", cfg));
  const uint64_t seed = 7;
  SynthHfOptions ob;
  ob.out_dir = synth_dir("mini_bin");
  ob.preset = "mini";
  ob.format = "bin";
  ob.shards = 3;
  ob.seed = seed;
  size_t last_done = 0, total = 0;
  ob.progress = [&](size_t done, size_t t, uint64_t) { last_done = done; total = t; };
  Status sb = write_synthetic_hf_checkpoint(ob);
  INFO(sb.to_string());
  REQUIRE(sb.ok());
  const std::vector<ExpectedTensor> expected = expected_tensors(cfg);
  CHECK(last_done == expected.size());
  CHECK(total == expected.size());

  SynthHfOptions os = ob;
  os.out_dir = synth_dir("mini_st");
  os.format = "safetensors";
  os.shards = 2;
  Status ss = write_synthetic_hf_checkpoint(os);
  INFO(ss.to_string());
  REQUIRE(ss.ok());

  // Index files: every expected tensor mapped to a shard; the .bin also lists the tied aliases.
  const auto bidx = mblip_test::read_json(ob.out_dir + "/pytorch_model.bin.index.json");
  const auto sidx = mblip_test::read_json(os.out_dir + "/model.safetensors.index.json");
  CHECK(bidx["weight_map"].size() == expected.size() + 2);
  CHECK(sidx["weight_map"].size() == expected.size());
  CHECK(bidx["weight_map"]["language_model.encoder.embed_tokens.weight"] ==
        bidx["weight_map"]["language_model.shared.weight"]);
  CHECK(bidx["weight_map"]["language_model.decoder.embed_tokens.weight"] ==
        bidx["weight_map"]["language_model.shared.weight"]);
  CHECK(sidx["weight_map"]["query_tokens"] == "model-00001-of-00002.safetensors");
  uint64_t total_size = 0;
  for (const auto& e : expected) {
    INFO(e.hf_name);
    CHECK(bidx["weight_map"].contains(e.hf_name));
    CHECK(sidx["weight_map"].contains(e.hf_name));
    uint64_t n = 4;
    for (int64_t d : e.shape) n *= static_cast<uint64_t>(d);
    total_size += n;
  }
  CHECK(bidx["metadata"]["total_size"].get<uint64_t>() == total_size);

  // The .bin shard is a torch archive: data.pkl first, 64-byte aligned storages, version last.
  auto zip = read_zip_directory(ob.out_dir + "/pytorch_model-00001-of-00003.bin");
  REQUIRE(zip.ok());
  REQUIRE(zip->size() >= 4);
  CHECK(zip->front().name == "pytorch_model-00001-of-00003/data.pkl");
  CHECK(zip->back().name == "pytorch_model-00001-of-00003/version");
  for (const auto& z : zip.value()) {
    CHECK(z.method == 0);
    CHECK(z.data_offset % 64 == 0);
  }
  auto listed = read_torch_bin_index(ob.out_dir + "/" +
                                     bidx["weight_map"]["language_model.shared.weight"].get<std::string>());
  REQUIRE(listed.ok());
  uint64_t shared_off = 0, enc_off = 1;
  for (const auto& t : listed.value()) {
    if (t.name == "language_model.shared.weight") shared_off = t.offset;
    if (t.name == "language_model.encoder.embed_tokens.weight") enc_off = t.offset;
  }
  CHECK(shared_off == enc_off);  // an alias of the same storage, not a copy

  // Both formats convert, to the same tensors, holding exactly the generated values.
  const std::string gb = synth_dir("mini_bin.gguf"), gs = synth_dir("mini_st.gguf");
  Status cb = convert_dir(ob.out_dir, gb), cs = convert_dir(os.out_dir, gs);
  INFO(cb.to_string() << " / " << cs.to_string());
  REQUIRE(cb.ok());
  REQUIRE(cs.ok());
  auto fb = GgufFile::open_path(gb);
  auto fs = GgufFile::open_path(gs);
  REQUIRE(fb.ok());
  REQUIRE(fs.ok());
  REQUIRE(fb.value()->tensors().size() == expected.size());
  REQUIRE(fs.value()->tensors().size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorView& a = fb.value()->tensors()[i].view;
    const TensorView& b = fs.value()->tensors()[i].view;
    INFO(a.name);
    CHECK(a.name == expected[i].name);
    CHECK(b.name == a.name);
    CHECK(a.type == DType::F32);
    CHECK(b.shape == a.shape);
    REQUIRE(a.nbytes == b.nbytes);
    CHECK(std::memcmp(a.data, b.data, a.nbytes) == 0);
    const std::vector<float> want = synthetic_tensor_values(cfg, a.name, seed);
    REQUIRE(want.size() * 4 == a.nbytes);
    CHECK(std::memcmp(a.data, want.data(), a.nbytes) == 0);
  }
  // BLIP-2's qkv bias is [q_bias, zeros, v_bias].
  const TensorView& qkv_b = fb.value()->tensor("v.0.qkv.b")->view;
  const float* qb = reinterpret_cast<const float*>(qkv_b.data);
  const int64_t d = cfg.vision.hidden_size;
  bool k_zero = true, q_nonzero = false;
  for (int64_t i = 0; i < d; ++i) {
    k_zero = k_zero && qb[d + i] == 0.f;
    q_nonzero = q_nonzero || qb[i] != 0.f;
  }
  CHECK(k_zero);
  CHECK(q_nonzero);
  // Config and tokenizer made it across.
  auto vocab = fb.value()->get_int("mblip.text.vocab_size");
  REQUIRE(vocab.ok());
  CHECK(vocab.value() == cfg.text.vocab_size);
  CHECK(fb.value()->get_bytes("tokenizer.sentencepiece.model").ok());
}

TEST_CASE("synth_hf: bad options are errors", "[synth_hf]") {
  SynthHfOptions o;
  o.out_dir = synth_dir("bad");
  o.preset = "huge";
  CHECK(write_synthetic_hf_checkpoint(o).code() == StatusCode::kInvalidArgument);
  o.preset = "mini";
  o.format = "gguf";
  CHECK_FALSE(write_synthetic_hf_checkpoint(o).ok());
  o.format = "bin";
  o.shards = 0;
  CHECK_FALSE(write_synthetic_hf_checkpoint(o).ok());
  o.shards = 1;
  o.out_dir = synth_dir("no/such/parent");
  CHECK(write_synthetic_hf_checkpoint(o).code() == StatusCode::kIo);
}
