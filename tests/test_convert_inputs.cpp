// mblip-convert input handling: bad checkpoints fail with a clear error and leave no output;
// the torch .bin reader on hand-built zip / zip64 archives (strided, f16, bf16, shared storage)
// and the safe pickle VM rejecting anything but a state dict of tensors.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "convert/convert.h"
#include "convert/source_tensor.h"
#include "convert/torch_bin.h"
#include "io/quant.h"
#include "support/golden.h"

using namespace mblip;
using mblip_test::file_exists;
using mblip_test::golden_dir;
using mblip_test::read_file;
using nlohmann::json;

namespace {

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

std::string case_dir(const std::string& name, bool with_meta = true) {
  std::string d = mblip_test::tmp_dir() + "/convert_bad";
  ::mkdir(d.c_str(), 0755);
  d += "/" + name;
  ::mkdir(d.c_str(), 0755);
  for (const char* f : {"model.safetensors", "pytorch_model.bin", "out.gguf", "out.gguf.tmp", "config.json", "spiece.model"})
    std::remove((d + "/" + f).c_str());
  if (with_meta) {
    const std::string src = golden_dir() + "/models/tiny-mt5";
    for (const char* f : {"config.json", "preprocessor_config.json", "generation_config.json", "spiece.model"})
      write_raw(d + "/" + f, read_file(src + "/" + f));
  }
  return d;
}

struct St {
  json header;
  std::string data;
};
St golden_st() {
  const std::string b = read_file(golden_dir() + "/models/tiny-mt5/model.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(b[static_cast<size_t>(i)]);
  return {json::parse(b.substr(8, n)), b.substr(8 + n)};
}
std::string st_bytes(const json& header, const std::string& data) {
  const std::string h = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xFF);
  return out + h + data;
}

// Converts `dir` (expecting failure): the message contains `what` and no output is left.
void expect_failure(const std::string& dir, const std::string& what, const std::string& from = "auto",
                    bool force = true) {
  ConvertOptions o;
  o.input_dir = dir;
  o.output_path = dir + "/out.gguf";
  o.source_format = from;
  o.force = force;
  Status s = convert_checkpoint(o);
  INFO(s.to_string());
  CHECK_FALSE(s.ok());
  CHECK(s.message().find(what) != std::string::npos);
  if (force) CHECK_FALSE(file_exists(o.output_path));
  CHECK_FALSE(file_exists(o.output_path + ".tmp"));
}

}  // namespace

TEST_CASE("convert: corrupt safetensors are rejected with no output", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const St st = golden_st();
  const std::string good = st_bytes(st.header, st.data);
  const std::string some = "qformer.layernorm.weight", other = "qformer.layernorm.bias";
  {
    const std::string d = case_dir("truncated");
    write_raw(d + "/model.safetensors", good.substr(0, good.size() / 2));
    expect_failure(d, "out of range");
  }
  {
    const std::string d = case_dir("header_len");
    std::string b = good;
    b[6] = 1;  // header length ~2^48
    write_raw(d + "/model.safetensors", b);
    expect_failure(d, "runs past the end of the file");
  }
  {
    const std::string d = case_dir("bad_json");
    std::string b = good;
    b[8] = '[';
    b[9] = '{';
    write_raw(d + "/model.safetensors", b);
    expect_failure(d, "not valid JSON");
  }
  {
    const std::string d = case_dir("offsets");
    json h = st.header;
    h[some]["data_offsets"] = {st.data.size() - 4, st.data.size() + 252};
    write_raw(d + "/model.safetensors", st_bytes(h, st.data));
    expect_failure(d, "out of range");
  }
  {
    const std::string d = case_dir("overlap");
    json h = st.header;
    h[some]["data_offsets"] = h[other]["data_offsets"];
    write_raw(d + "/model.safetensors", st_bytes(h, st.data));
    expect_failure(d, "overlap");
  }
  {
    const std::string d = case_dir("size_mismatch");
    json h = st.header;
    h[some]["shape"] = {65};
    write_raw(d + "/model.safetensors", st_bytes(h, st.data));
    expect_failure(d, "needs 260");
  }
}

TEST_CASE("convert: missing tensors, wrong shapes, bad configs and existing outputs", "[convert]") {
  MBLIP_REQUIRE_GOLDEN();
  const St st = golden_st();
  {
    const std::string d = case_dir("missing_tensor");
    json h = st.header;
    h.erase("language_model.decoder.block.1.layer.1.EncDecAttention.k.weight");
    write_raw(d + "/model.safetensors", st_bytes(h, st.data));
    expect_failure(d, "language_model.decoder.block.1.layer.1.EncDecAttention.k.weight");
  }
  {
    const std::string d = case_dir("wrong_shape");
    json h = st.header;
    h["language_projection.weight"]["shape"] = {32, 128};  // same byte count, wrong shape
    write_raw(d + "/model.safetensors", st_bytes(h, st.data));
    expect_failure(d, "'language_projection.weight' has shape [32, 128], expected [64, 64]");
  }
  {
    const std::string d = case_dir("extra_tensor");
    json h = st.header;
    h["vision_model.unused.weight"] = h["qformer.layernorm.weight"];
    h["vision_model.unused.weight"]["data_offsets"] = {st.data.size(), st.data.size() + 256};
    write_raw(d + "/model.safetensors", st_bytes(h, st.data + std::string(256, '\0')));
    ConvertOptions o;
    o.input_dir = d;
    o.output_path = d + "/out.gguf";
    std::vector<std::string> log;
    o.log = [&](const std::string& m) { log.push_back(m); };
    REQUIRE(convert_checkpoint(o).ok());  // unknown extras only warn
    bool warned = false;
    for (const auto& m : log) warned |= m.find("warning") != std::string::npos && m.find("vision_model.unused.weight") != std::string::npos;
    CHECK(warned);
  }
  {
    const std::string d = case_dir("model_type");
    write_raw(d + "/model.safetensors", st_bytes(st.header, st.data));
    json c = json::parse(read_file(d + "/config.json"));
    c["model_type"] = "instructblip";
    write_raw(d + "/config.json", c.dump());
    expect_failure(d, "unsupported architecture");
    c["model_type"] = "blip-2";
    c["text_config"]["model_type"] = "opt";
    write_raw(d + "/config.json", c.dump());
    expect_failure(d, "unsupported architecture");
  }
  {
    const std::string d = case_dir("no_files", false);
    expect_failure(d, "config.json");
    const std::string d2 = case_dir("no_weights");
    expect_failure(d2, "no weights found");
    const std::string d3 = case_dir("no_spiece");
    write_raw(d3 + "/model.safetensors", st_bytes(st.header, st.data));
    std::remove((d3 + "/spiece.model").c_str());
    expect_failure(d3, "spiece.model");
  }
  {
    const std::string d = case_dir("garbage_bin");
    std::string junk(5000, '\0');
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 2654435761u) >> 13);
    write_raw(d + "/pytorch_model.bin", junk);
    expect_failure(d, "not a readable PyTorch zip", "bin");
  }
  {
    const std::string d = case_dir("exists");
    write_raw(d + "/model.safetensors", st_bytes(st.header, st.data));
    write_raw(d + "/out.gguf", "keep me");
    expect_failure(d, "already exists", "auto", /*force=*/false);
    CHECK(read_file(d + "/out.gguf") == "keep me");
  }
}

namespace {

// ---- hand-built torch.save archives ----
std::string u32le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}
std::string pk_str(const std::string& s) { return "X" + u32le(s.size(), 4) + s; }
std::string pk_int(int64_t v) {
  if (v >= 0 && v < 256) return "K" + u32le(static_cast<uint64_t>(v), 1);
  return std::string("\x8a\x08", 2) + u32le(static_cast<uint64_t>(v), 8);  // LONG1
}
std::string pk_tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (auto x : v) s += pk_int(x);
  return s + "t";
}
// _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
std::string pk_tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
                      const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
  const std::string kFalse(1, '\x89');
  return "ctorch._utils\n_rebuild_tensor_v2\n((" + pk_str("storage") + "ctorch\n" + type + "\n" + pk_str(key) +
         pk_str("cpu") + pk_int(numel) + "tQ" + pk_int(offset) + pk_tuple(size) + pk_tuple(stride) + kFalse +
         "ccollections\nOrderedDict\n)RtR";
}

struct Entry { std::string name, data; };
std::string make_zip(const std::vector<Entry>& entries, bool zip64) {
  std::string out, cd;
  for (const auto& e : entries) {
    const uint64_t off = out.size();
    const std::string x64 = zip64 ? u32le(1, 2) + u32le(16, 2) + u32le(e.data.size(), 8) + u32le(e.data.size(), 8) : "";
    const uint64_t sz = zip64 ? 0xFFFFFFFFu : e.data.size();
    out += u32le(0x04034b50, 4) + u32le(45, 2) + u32le(0, 2) + u32le(0, 2) + u32le(0, 4) + u32le(0, 4) + u32le(sz, 4) +
           u32le(sz, 4) + u32le(e.name.size(), 2) + u32le(x64.size(), 2) + e.name + x64 + e.data;
    const std::string cx = zip64 ? u32le(1, 2) + u32le(24, 2) + u32le(e.data.size(), 8) + u32le(e.data.size(), 8) + u32le(off, 8) : "";
    cd += u32le(0x02014b50, 4) + u32le(45, 2) + u32le(45, 2) + u32le(0, 2) + u32le(0, 2) + u32le(0, 4) + u32le(0, 4) +
          u32le(sz, 4) + u32le(sz, 4) + u32le(e.name.size(), 2) + u32le(cx.size(), 2) + u32le(0, 2) + u32le(0, 2) +
          u32le(0, 2) + u32le(0, 4) + u32le(zip64 ? 0xFFFFFFFFu : off, 4) + e.name + cx;
  }
  const uint64_t cd_off = out.size();
  out += cd;
  if (zip64) {
    const uint64_t z64 = out.size();
    out += u32le(0x06064b50, 4) + u32le(44, 8) + u32le(45, 2) + u32le(45, 2) + u32le(0, 4) + u32le(0, 4) +
           u32le(entries.size(), 8) + u32le(entries.size(), 8) + u32le(cd.size(), 8) + u32le(cd_off, 8);
    out += u32le(0x07064b50, 4) + u32le(0, 4) + u32le(z64, 8) + u32le(1, 4);
    out += u32le(0x06054b50, 4) + u32le(0, 4) + u32le(0xFFFF, 2) + u32le(0xFFFF, 2) + u32le(0xFFFFFFFFu, 4) +
           u32le(0xFFFFFFFFu, 4) + u32le(0, 2);
  } else {
    out += u32le(0x06054b50, 4) + u32le(0, 4) + u32le(entries.size(), 2) + u32le(entries.size(), 2) +
           u32le(cd.size(), 4) + u32le(cd_off, 4) + u32le(0, 2);
  }
  return out;
}

}  // namespace

TEST_CASE("torch_bin: zip and zip64 archives, strided, f16, bf16 and shared storages", "[convert]") {
  std::string f32(6 * 4, '\0'), f16(4 * 2, '\0'), bf16(3 * 2, '\0');
  for (int i = 0; i < 6; ++i) { const float v = static_cast<float>(i); std::memcpy(&f32[static_cast<size_t>(i) * 4], &v, 4); }
  const float hv[4] = {1.0f, -2.0f, 0.5f, 65504.0f};
  for (int i = 0; i < 4; ++i) { const uint16_t h = fp32_to_fp16(hv[i]); std::memcpy(&f16[static_cast<size_t>(i) * 2], &h, 2); }
  const uint16_t bv[3] = {0x3f80, 0xc040, 0x3e00};  // 1.0, -3.0, 0.125
  std::memcpy(&bf16[0], bv, 6);
  const std::string pkl = "\x80\x02}q\x09(" + pk_str("a") + pk_tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1}) +
                          pk_str("t") + pk_tensor("FloatStorage", "0", 6, 0, {3, 2}, {1, 3}) +
                          pk_str("h") + pk_tensor("HalfStorage", "1", 4, 0, {4}, {1}) +
                          pk_str("b") + pk_tensor("BFloat16Storage", "2", 3, 1, {2}, {1}) + "u.";
  for (bool zip64 : {false, true}) {
    INFO("zip64 " << zip64);
    const std::string path = mblip_test::tmp_dir() + "/convert_hand" + (zip64 ? "64" : "") + ".bin";
    write_raw(path, make_zip({{"archive/data.pkl", pkl}, {"archive/byteorder", "little"}, {"archive/data/0", f32},
                              {"archive/data/1", f16}, {"archive/data/2", bf16}, {"archive/version", "3\n"}},
                             zip64));
    auto list = read_torch_bin_index(path);
    INFO(list.status().to_string());
    REQUIRE(list.ok());
    REQUIRE(list->size() == 4);
    std::map<std::string, SourceTensor> m;
    for (auto& t : list.value()) m[t.name] = t;
    TensorReader r;
    std::vector<float> v(6);
    REQUIRE(r.read_rows(m["a"], 0, 2, v.data()).ok());
    CHECK(v == std::vector<float>{0, 1, 2, 3, 4, 5});
    REQUIRE(r.read_rows(m["t"], 0, 3, v.data()).ok());  // transposed view of the same storage
    CHECK(v == std::vector<float>{0, 3, 1, 4, 2, 5});
    REQUIRE(r.read_rows(m["h"], 0, 1, v.data()).ok());
    CHECK(std::vector<float>(v.begin(), v.begin() + 4) == std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f});
    REQUIRE(r.read_rows(m["b"], 0, 1, v.data()).ok());  // storage offset 1
    CHECK(std::vector<float>(v.begin(), v.begin() + 2) == std::vector<float>{-3.0f, 0.125f});
  }
  // A view reaching past its storage is rejected.
  const std::string bad = "\x80\x02}(" + pk_str("a") + pk_tensor("FloatStorage", "0", 6, 2, {2, 3}, {3, 1}) + "u.";
  const std::string path = mblip_test::tmp_dir() + "/convert_hand_bad.bin";
  write_raw(path, make_zip({{"x/data.pkl", bad}, {"x/data/0", f32}}, false));
  auto r = read_torch_bin_index(path);
  CHECK_FALSE(r.ok());
  CHECK(r.status().message().find("past the end of its storage") != std::string::npos);
}

TEST_CASE("torch_bin: the pickle VM accepts only a state dict of tensors", "[convert]") {
  auto fails_with = [](const std::string& pkl, const std::string& what) {
    auto r = parse_state_dict_pickle(pkl);
    INFO(r.status().to_string());
    CHECK_FALSE(r.ok());
    CHECK(r.status().message().find(what) != std::string::npos);
  };
  fails_with("\x80\x02" "cos\nsystem\n(" + pk_str("ls") + "tR.", "'os.system', which is not allowed");
  fails_with("\x80\x02" "cbuiltins\neval\n.", "not allowed");
  fails_with("\x80\x02}" + pk_str("a") + "K\x01s.", "not a tensor");
  fails_with("\x80\x02}", "without STOP");
  fails_with("\x80\x02\xff", "unsupported pickle opcode 0xff");
  fails_with("\x80\x02h\x05", "unknown memo key");
  fails_with("\x80\x02t.", "no MARK");
  fails_with("\x80\x02K\x01.", "not a state dict");
  fails_with("\x80\x02(" + pk_str("storage") + "ccollections\nOrderedDict\n" + pk_str("0") + pk_str("cpu") + "K\x01tQ.",
             "not a storage type");
  // OrderedDict with a BUILD state (as torch.save of model.state_dict() writes _metadata) is fine.
  const std::string ok = "\x80\x02" "ccollections\nOrderedDict\nq\x09)Rq\x01(" + pk_str("w") +
                         pk_tensor("FloatStorage", "7", 4, 0, {2, 2}, {2, 1}) + "u}q\x02(" + pk_str("_metadata") +
                         "}ub.";
  auto r = parse_state_dict_pickle(ok);
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK(r->at(0).name == "w");
  CHECK(r->at(0).file == "7");
  CHECK(r->at(0).shape == std::vector<int64_t>{2, 2});
}
