// GGUF reader/writer: round trips of every metadata and tensor type, byte layout against a
// hand-built file (spec: ggml docs/gguf.md), and hostile files (truncated, garbled, absurd
// counts, bad offsets/alignment, duplicates) which must give a kModelLoad Status, never crash.
// Also writes build/<dir>/test_tmp/gguf_sample.{gguf,json} for web/test/gguf_independent.test.mjs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>

#include "io/gguf.h"
#include "support/golden.h"

using namespace mblip;

namespace {

// Byte-level GGUF composer written from the spec, independent of GgufWriter.
struct Raw {
  std::vector<uint8_t> b;
  Raw& u8(uint8_t v) { b.push_back(v); return *this; }
  Raw& u32(uint32_t v) { for (int k = 0; k < 4; ++k) b.push_back(uint8_t(v >> (8 * k))); return *this; }
  Raw& u64(uint64_t v) { for (int k = 0; k < 8; ++k) b.push_back(uint8_t(v >> (8 * k))); return *this; }
  Raw& str(const std::string& s) { u64(s.size()); b.insert(b.end(), s.begin(), s.end()); return *this; }
  Raw& header(uint64_t nt, uint64_t nkv, uint32_t version = 3) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(nt).u64(nkv);
  }
  Raw& kv_u32(const std::string& k, uint32_t v) { return str(k).u32(4).u32(v); }
  Raw& tinfo(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t off) {
    str(name).u32(uint32_t(ne.size()));
    for (auto d : ne) u64(d);
    return u32(type).u64(off);
  }
  Raw& pad(size_t a) { while (b.size() % a) b.push_back(0); return *this; }
  Raw& fill(size_t n, uint8_t v = 0x5a) { b.insert(b.end(), n, v); return *this; }
};

Result<std::unique_ptr<GgufFile>> open_bytes(const std::vector<uint8_t>& v) {
  return GgufFile::open(borrow_buffer(v.data(), v.size()));
}

// Opens and requires a kModelLoad error whose message contains `needle`.
void require_error(const std::vector<uint8_t>& v, const std::string& needle) {
  auto r = open_bytes(v);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kModelLoad);
  INFO(r.status().message());
  CHECK(r.status().message().find(needle) != std::string::npos);
}

// A valid two-tensor file: key "a" = 7, tensors "x" (F32 [8] at 0) and "y" (Q8_0 [32] at 32).
Raw valid_raw() {
  Raw r;
  r.header(2, 1).kv_u32("a", 7).tinfo("x", {8}, 0, 0).tinfo("y", {32}, 8, 32).pad(32);
  r.fill(32, 1).fill(34, 2).pad(32);
  return r;
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::string s = mblip_test::read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = uint8_t((k * 131u + seed * 7u + (k >> 8)) & 0xff);
  return v;
}

struct TDecl { std::string name; DType type; std::vector<int64_t> shape; };

// Every metadata type, including nested and empty arrays.
std::vector<std::pair<std::string, GgufValue>> sample_metadata() {
  using V = GgufValue;
  return {
      {"general.architecture", V::make_string("blip2-t5")},
      {"test.u8", V::make_u8(255)},           {"test.i8", V::make_i8(-128)},
      {"test.u16", V::make_u16(65535)},       {"test.i16", V::make_i16(-32768)},
      {"test.u32", V::make_u32(4294967295u)}, {"test.i32", V::make_i32(-2147483647 - 1)},
      {"test.u64", V::make_u64(18446744073709551615ull)}, {"test.i64", V::make_i64(INT64_MIN)},
      {"test.f32", V::make_f32(-1.5e-3f)},    {"test.f64", V::make_f64(1e-12)},
      {"test.bool_t", V::make_bool(true)},    {"test.bool_f", V::make_bool(false)},
      {"test.str", V::make_string(std::string("caf\xc3\xa9 \0 nul", 11))},
      {"test.str_empty", V::make_string("")},
      {"test.arr_f32", V::make_f32_array({0.48145466f, -2.0f, 1e30f})},
      {"test.arr_i32", V::make_i32_array({-1, 0, 2147483647})},
      {"test.arr_u8", V::make_u8_array({0, 1, 254, 255})},
      {"test.arr_str", V::make_string_array({"a", "", "\xe2\x96\x81piece"})},
      {"test.arr_u16", V::make_array(GgufType::UINT16, {V::make_u16(1), V::make_u16(65535)})},
      {"test.arr_i64", V::make_array(GgufType::INT64, {V::make_i64(-5), V::make_i64(INT64_MAX)})},
      {"test.arr_u64", V::make_array(GgufType::UINT64, {V::make_u64(UINT64_MAX)})},
      {"test.arr_f64", V::make_array(GgufType::FLOAT64, {V::make_f64(0.1), V::make_f64(-0.0)})},
      {"test.arr_bool", V::make_array(GgufType::BOOL, {V::make_bool(true), V::make_bool(false)})},
      {"test.arr_i8", V::make_array(GgufType::INT8, {V::make_i8(-1), V::make_i8(127)})},
      {"test.arr_i16", V::make_array(GgufType::INT16, {V::make_i16(-300)})},
      {"test.arr_u32", V::make_array(GgufType::UINT32, {V::make_u32(7)})},
      {"test.arr_empty", V::make_array(GgufType::INT32, {})},
      {"test.arr_nested",
       V::make_array(GgufType::ARRAY, {V::make_i32_array({1, 2}), V::make_i32_array({}),
                                       V::make_array(GgufType::ARRAY, {V::make_string_array({"deep"})})})},
  };
}

std::vector<TDecl> sample_tensors() {
  return {{"t.f32_odd", DType::F32, {3, 5, 7}},    {"t.f16_odd", DType::F16, {1, 3}},
          {"t.q8", DType::Q8_0, {3, 64}},          {"t.q4", DType::Q4_0, {5, 32}},
          {"t.f32_4d", DType::F32, {2, 1, 3, 2}},  {"t.f32_1d", DType::F32, {7}},
          {"t.q4_3d", DType::Q4_0, {2, 3, 96}}};
}

// Writes the sample file; returns the path.
std::string write_sample(const std::string& path, size_t alignment) {
  GgufWriter w(alignment);
  for (auto& kv : sample_metadata()) w.set(kv.first, kv.second);
  auto ts = sample_tensors();
  for (auto& t : ts) REQUIRE(w.add_tensor(t.name, t.type, t.shape).ok());
  std::vector<std::pair<size_t, size_t>> seen;
  Status st = w.write(
      path,
      [&](size_t i, std::vector<uint8_t>& out) {
        int64_t n = 1;
        for (auto d : ts[i].shape) n *= d;
        out = pattern(dtype_bytes(ts[i].type, n).value(), uint32_t(i));
        return Status::Ok();
      },
      [&](size_t done, size_t total) { seen.emplace_back(done, total); });
  REQUIRE(st.ok());
  REQUIRE(seen.size() == ts.size());
  CHECK(seen.back() == std::make_pair(ts.size(), ts.size()));
  return path;
}

nlohmann::json value_json(const GgufValue& v) {
  nlohmann::json j;
  j["type"] = int(v.type);
  if (v.type == GgufType::ARRAY) {
    j["subType"] = int(v.array_type);
    j["length"] = v.array_size();
  } else if (v.type == GgufType::STRING) {
    j["value"] = v.s;
  } else if (v.type == GgufType::FLOAT32 || v.type == GgufType::FLOAT64) {
    j["value"] = v.f;
  } else if (v.type == GgufType::UINT64 || v.type == GgufType::INT64) {
    j["value"] = v.type == GgufType::UINT64 ? std::to_string(v.u) : std::to_string(v.i);  // bigint in JS
  } else if (v.type == GgufType::BOOL) {
    j["value"] = v.i != 0;
  } else {
    j["value"] = (v.type == GgufType::UINT8 || v.type == GgufType::UINT16 || v.type == GgufType::UINT32)
                     ? nlohmann::json(v.u) : nlohmann::json(v.i);
  }
  return j;
}

}  // namespace

TEST_CASE("gguf: writer -> reader round trip of every metadata and tensor type", "[gguf]") {
  for (size_t alignment : {size_t(32), size_t(64), size_t(1)}) {
    INFO("alignment " << alignment);
    const std::string path = mblip_test::tmp_dir() + "/gguf_roundtrip_" + std::to_string(alignment) + ".gguf";
    write_sample(path, alignment);
    auto r = GgufFile::open_path(path);
    REQUIRE(r.ok());
    const GgufFile& f = *r.value();
    CHECK(f.version() == 3);
    CHECK(f.alignment() == alignment);
    CHECK(f.get_int("general.alignment").value() == int64_t(alignment));
    for (auto& kv : sample_metadata()) {
      INFO(kv.first);
      const GgufValue* v = f.find(kv.first);
      REQUIRE(v);
      CHECK(*v == kv.second);
    }
    CHECK(f.metadata().size() == sample_metadata().size() + 1);  // + general.alignment
    CHECK(f.get_int("test.i64").value() == INT64_MIN);
    CHECK_FALSE(f.get_int("test.u64").ok());  // > INT64_MAX
    CHECK(f.get_float("test.f64").value() == 1e-12);
    CHECK(f.get_float_array("test.arr_f32").value() == std::vector<float>{0.48145466f, -2.0f, 1e30f});
    CHECK(f.get_int_array("test.arr_i32").value() == std::vector<int64_t>{-1, 0, 2147483647});
    CHECK(f.get_bytes("test.arr_u8").value() == std::vector<uint8_t>{0, 1, 254, 255});
    CHECK(f.get_string_array("test.arr_str").value()[2] == "\xe2\x96\x81piece");
    CHECK(f.get_string("test.str").value().size() == 11);
    CHECK(f.find("test.arr_nested")->at(2).at(0).at(0).s == "deep");
    auto miss = f.get_int("no.such.key");
    CHECK(miss.status().message().find("no.such.key") != std::string::npos);
    auto wt = f.get_string("test.u8");
    CHECK(wt.status().message().find("UINT8") != std::string::npos);

    auto ts = sample_tensors();
    REQUIRE(f.tensors().size() == ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
      INFO(ts[i].name);
      const GgufTensorInfo* t = f.tensor(ts[i].name);
      REQUIRE(t);
      CHECK(t == &f.tensors()[i]);
      CHECK(t->view.type == ts[i].type);
      CHECK(t->view.shape == ts[i].shape);
      CHECK(t->offset % alignment == 0);
      const size_t off = size_t(t->view.data - f.bytes().data());
      CHECK(off == f.data_offset() + t->offset);
      CHECK(off % alignment == 0);
      auto expect = pattern(t->view.nbytes, uint32_t(i));
      CHECK(std::memcmp(t->view.data, expect.data(), expect.size()) == 0);
    }
    const GgufTensorInfo* q = f.tensor("t.q4_3d");
    CHECK(q->view.nbytes == size_t(2 * 3 * 3 * 18));
    r.value()->release(*q);  // bytes stay readable: a private mapping re-reads dropped pages
    CHECK(std::memcmp(q->view.data, pattern(q->view.nbytes, 6).data(), q->view.nbytes) == 0);
    CHECK(f.tensor("missing") == nullptr);
  }
}

TEST_CASE("gguf: writer byte layout matches the spec, reader reads a hand-built file", "[gguf]") {
  const std::string path = mblip_test::tmp_dir() + "/gguf_layout.gguf";
  GgufWriter w;
  w.set("k", GgufValue::make_u8(9));
  REQUIRE(w.add_tensor("w", DType::F32, {2, 3}).ok());  // HF [2,3] -> ggml ne = {3, 2}
  REQUIRE(w.add_tensor("v", DType::F16, {1}).ok());
  CHECK(w.tensor_offset(1) == 32);
  REQUIRE(w.write(path, [](size_t i, std::vector<uint8_t>& o) {
                    o.assign(i == 0 ? 24 : 2, uint8_t(0x10 + i));
                    return Status::Ok();
                  }).ok());
  Raw e;
  e.header(2, 2).str("general.alignment").u32(4).u32(32).str("k").u32(0).u8(9);
  e.tinfo("w", {3, 2}, 0, 0).tinfo("v", {1}, 1, 32).pad(32);
  e.fill(24, 0x10).pad(32).fill(2, 0x11).pad(32);
  CHECK(read_all(path) == e.b);

  // And the reader on the hand-built bytes.
  auto r = open_bytes(e.b);
  REQUIRE(r.ok());
  CHECK(r.value()->tensor("w")->view.shape == std::vector<int64_t>{2, 3});
  CHECK(r.value()->data_offset() == 160);  // 24 header + 33 + 14 kv + 41 + 33 infos = 145 -> 160
  CHECK(r.value()->tensor("v")->view.data == e.b.data() + 160 + 32);
  auto v2 = valid_raw();
  v2.b[4] = 2;  // version 2 reads the same way
  CHECK(open_bytes(v2.b).ok());
}

TEST_CASE("gguf: sample file + JSON sidecar for the independent JS reader", "[gguf]") {
  const std::string dir = mblip_test::tmp_dir();
  const std::string path = write_sample(dir + "/gguf_sample.gguf", 32);
  auto r = GgufFile::open_path(path);
  REQUIRE(r.ok());
  nlohmann::json j;
  j["version"] = r.value()->version();
  j["alignment"] = r.value()->alignment();
  j["tensor_data_offset"] = r.value()->data_offset();
  for (const auto& kv : r.value()->metadata()) j["metadata"][kv.first] = value_json(kv.second);
  j["tensors"] = nlohmann::json::array();
  for (const auto& t : r.value()->tensors()) {
    nlohmann::json tj;
    tj["name"] = t.view.name;
    tj["type"] = int(t.view.type);
    tj["ggml_dims"] = std::vector<int64_t>(t.view.shape.rbegin(), t.view.shape.rend());
    tj["offset"] = t.offset;
    tj["nbytes"] = t.view.nbytes;
    j["tensors"].push_back(tj);
  }
  mblip_test::write_file_atomic(dir + "/gguf_sample.json", j.dump(1));
  CHECK(mblip_test::file_exists(dir + "/gguf_sample.json"));
}

TEST_CASE("gguf: writer errors leave no file behind", "[gguf]") {
  const std::string dir = mblip_test::tmp_dir();
  GgufWriter w;
  REQUIRE(w.add_tensor("a", DType::Q8_0, {2, 32}).ok());
  CHECK(w.add_tensor("a", DType::F32, {1}).message().find("duplicate") != std::string::npos);
  CHECK_FALSE(w.add_tensor("b", DType::Q4_0, {33}).ok());  // not a block multiple
  CHECK_FALSE(w.add_tensor("c", DType::F32, {}).ok());
  CHECK_FALSE(w.add_tensor("d", DType::F32, {1, 1, 1, 1, 1}).ok());
  CHECK_FALSE(w.add_tensor("e", DType::F32, {0}).ok());
  CHECK_FALSE(w.add_tensor(std::string(64, 'n'), DType::F32, {1}).ok());

  const std::string p1 = dir + "/gguf_bad_size.gguf";
  std::remove(p1.c_str());
  Status st = w.write(p1, [](size_t, std::vector<uint8_t>& o) { o.resize(5); return Status::Ok(); });
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("expected 68") != std::string::npos);
  CHECK_FALSE(mblip_test::file_exists(p1));
  CHECK_FALSE(mblip_test::file_exists(p1 + ".tmp"));

  st = w.write(p1, [](size_t, std::vector<uint8_t>&) { return io_error("disk full"); });
  CHECK(st.code() == StatusCode::kIo);
  CHECK(st.message().find("disk full") != std::string::npos);
  CHECK_FALSE(mblip_test::file_exists(p1 + ".tmp"));

  st = w.write(dir + "/no/such/dir/x.gguf", [](size_t, std::vector<uint8_t>& o) { o.resize(68); return Status::Ok(); });
  CHECK(st.code() == StatusCode::kIo);

  GgufWriter bad_align(48);
  CHECK(bad_align.write(p1, {}).message().find("power of two") != std::string::npos);

  auto missing = GgufFile::open_path(dir + "/does_not_exist.gguf");
  CHECK(missing.status().code() == StatusCode::kIo);
}

TEST_CASE("gguf: chunked producer gives the same file, wrong totals fail with no file left", "[gguf]") {
  const std::string dir = mblip_test::tmp_dir();
  auto ts = sample_tensors();
  auto bytes_of = [&](size_t i) {
    int64_t n = 1;
    for (auto d : ts[i].shape) n *= d;
    return pattern(dtype_bytes(ts[i].type, n).value(), uint32_t(i));
  };
  GgufWriter w(32);
  for (auto& kv : sample_metadata()) w.set(kv.first, kv.second);
  for (auto& t : ts) REQUIRE(w.add_tensor(t.name, t.type, t.shape).ok());

  // The same bytes in pieces of 1, 7 and 13 bytes (and an empty piece) give the whole-tensor file.
  const std::string whole = write_sample(dir + "/gguf_whole.gguf", 32);
  const std::string chunked = dir + "/gguf_chunked.gguf";
  size_t calls = 0;
  Status st = w.write_chunked(chunked, [&](size_t i, const GgufWriter::Sink& sink) -> Status {
    const std::vector<uint8_t> b = bytes_of(i);
    CHECK(w.tensor_nbytes(i) == b.size());
    MBLIP_RETURN_IF_ERROR(sink(b.data(), 0));
    const size_t piece = i % 3 == 0 ? 1 : i % 3 == 1 ? 7 : 13;
    for (size_t o = 0; o < b.size(); o += piece, ++calls)
      MBLIP_RETURN_IF_ERROR(sink(b.data() + o, std::min(piece, b.size() - o)));
    return Status::Ok();
  });
  INFO(st.to_string());
  REQUIRE(st.ok());
  CHECK(calls > ts.size());
  CHECK(read_all(chunked) == read_all(whole));

  const std::string bad = dir + "/gguf_bad_chunks.gguf";
  std::remove(bad.c_str());
  auto no_file = [&] {
    CHECK_FALSE(mblip_test::file_exists(bad));
    CHECK_FALSE(mblip_test::file_exists(bad + ".tmp"));
  };
  // Too few bytes for tensor 2: the writer names the tensor and both counts.
  st = w.write_chunked(bad, [&](size_t i, const GgufWriter::Sink& sink) -> Status {
    std::vector<uint8_t> b = bytes_of(i);
    if (i == 2) b.resize(b.size() - 3);
    const size_t half = b.size() / 2;
    MBLIP_RETURN_IF_ERROR(sink(b.data(), half));
    return sink(b.data() + half, b.size() - half);
  });
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("t.q8") != std::string::npos);
  CHECK(st.message().find("expected " + std::to_string(w.tensor_nbytes(2))) != std::string::npos);
  no_file();
  // Too many bytes: the sink refuses the piece that overflows.
  Status refused = Status::Ok();
  st = w.write_chunked(bad, [&](size_t i, const GgufWriter::Sink& sink) -> Status {
    std::vector<uint8_t> b = bytes_of(i);
    MBLIP_RETURN_IF_ERROR(sink(b.data(), b.size()));
    if (i == 1) {
      refused = sink(b.data(), 1);
      return refused;
    }
    return Status::Ok();
  });
  CHECK_FALSE(refused.ok());
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("more than the declared") != std::string::npos);
  no_file();
  // A producer that ignores the sink's refusal still fails the write.
  st = w.write_chunked(bad, [&](size_t i, const GgufWriter::Sink& sink) -> Status {
    std::vector<uint8_t> b = bytes_of(i);
    (void)sink(b.data(), b.size());
    if (i == 4) (void)sink(b.data(), b.size());
    return Status::Ok();
  });
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("t.f32_4d") != std::string::npos);
  no_file();
  // A producer error is passed on with the tensor name.
  st = w.write_chunked(bad, [&](size_t i, const GgufWriter::Sink& sink) -> Status {
    if (i == 3) return io_error("source read failed");
    std::vector<uint8_t> b = bytes_of(i);
    return sink(b.data(), b.size());
  });
  CHECK(st.code() == StatusCode::kIo);
  CHECK(st.message().find("source read failed") != std::string::npos);
  CHECK(st.message().find("t.q4") != std::string::npos);
  no_file();
}

TEST_CASE("gguf: truncation at every header byte and across the file", "[gguf]") {
  const std::string path = write_sample(mblip_test::tmp_dir() + "/gguf_trunc.gguf", 32);
  const auto full = read_all(path);
  size_t data_off = 0, data_end = 0;  // data_end: end of the last tensor's bytes (padding after it is optional)
  {
    auto r = open_bytes(full);
    REQUIRE(r.ok());
    data_off = r.value()->data_offset();
    for (const auto& t : r.value()->tensors()) data_end = std::max(data_end, data_off + size_t(t.offset) + t.view.nbytes);
  }
  std::vector<size_t> cuts;
  for (size_t k = 0; k <= data_off; ++k) cuts.push_back(k);
  for (size_t k = data_off; k < data_end; k += 7) cuts.push_back(k);
  cuts.push_back(data_end - 1);
  for (size_t k = data_end; k <= full.size(); ++k) CHECK(open_bytes(std::vector<uint8_t>(full.begin(), full.begin() + std::ptrdiff_t(k))).ok());
  const char* expected[] = {"truncated", "exceeds the", "larger than the file", "past the end"};
  for (size_t cut : cuts) {
    std::vector<uint8_t> part(full.begin(), full.begin() + std::ptrdiff_t(cut));
    auto r = open_bytes(part);
    INFO("cut at " << cut << ": " << r.status().message());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kModelLoad);
    bool named = false;
    for (const char* e : expected) named = named || r.status().message().find(e) != std::string::npos;
    CHECK(named);
  }
}

TEST_CASE("gguf: flipped and garbled bytes never crash", "[gguf]") {
  const std::string path = write_sample(mblip_test::tmp_dir() + "/gguf_garble.gguf", 32);
  const auto full = read_all(path);
  const size_t data_off = open_bytes(full).value()->data_offset();
  size_t failures = 0;
  for (size_t k = 0; k < data_off; ++k) {
    auto v = full;
    v[k] ^= 0xff;
    auto r = open_bytes(v);
    if (!r.ok()) {
      ++failures;
      CHECK(r.status().code() == StatusCode::kModelLoad);
      CHECK_FALSE(r.status().message().empty());
    }
  }
  CHECK(failures > data_off / 4);  // most header bytes are structural
  std::mt19937 rng(1234);
  for (int it = 0; it < 300; ++it) {
    auto v = full;
    const int n = 1 + int(rng() % 8);
    for (int k = 0; k < n; ++k) v[rng() % data_off] = uint8_t(rng());
    auto r = open_bytes(v);
    if (!r.ok()) CHECK(r.status().code() == StatusCode::kModelLoad);
  }
}

TEST_CASE("gguf: hostile headers give named errors", "[gguf]") {
  CHECK(open_bytes(valid_raw().b).ok());
  require_error({}, "truncated");
  { auto v = valid_raw().b; v[0] = 'X'; require_error(v, "magic"); }
  { auto v = valid_raw().b; v[4] = 1; require_error(v, "version 1"); }
  { auto v = valid_raw().b; v[4] = 4; require_error(v, "version 4"); }
  { auto v = valid_raw().b; v[4] = 0; v[7] = 3; require_error(v, "big-endian"); }
  { Raw r; r.header(1ull << 40, 0).fill(64); require_error(r.b, "tensor count"); }
  { Raw r; r.header(0, UINT64_MAX).fill(64); require_error(r.b, "kv count"); }
  { Raw r; r.header(0, 1).u64(UINT64_MAX - 3).fill(20); require_error(r.b, "exceeds the limit"); }
  { Raw r; r.header(0, 1).str(std::string(70000, 'k')).u32(4).u32(1); require_error(r.b, "exceeds the limit"); }
  { Raw r; r.header(0, 1).str("s").u32(8).u64(1ull << 62).fill(20); require_error(r.b, "string length too large"); }
  { Raw r; r.header(0, 1).str("a").u32(9).u32(6).u64(1ull << 60).fill(40); require_error(r.b, "array length"); }
  { Raw r; r.header(0, 1).str("a").u32(9).u32(8).u64(1ull << 60).fill(40); require_error(r.b, "array length"); }
  { Raw r; r.header(0, 1).str("a").u32(9).u32(77).u64(1); require_error(r.b, "unknown array element type 77"); }
  { Raw r; r.header(0, 1).str("a").u32(13).u32(1); require_error(r.b, "unknown value type 13"); }
  { Raw r; r.header(0, 1).str("b").u32(7).u8(2).fill(16); require_error(r.b, "BOOL"); }
  { Raw r; r.header(0, 1).str("").u32(4).u32(1).fill(8); require_error(r.b, "empty key"); }
  {  // arrays nested 9 deep
    Raw r;
    r.header(0, 1).str("deep").u32(9);
    for (int k = 0; k < 9; ++k) r.u32(9).u64(1);
    r.u32(4).u64(0).fill(16);
    require_error(r.b, "nested deeper");
  }
  { Raw r; r.header(0, 2).kv_u32("a", 1).kv_u32("a", 2); require_error(r.b, "duplicate metadata key 'a'"); }
  { Raw r; r.header(0, 1).kv_u32("general.alignment", 48); require_error(r.b, "power of two"); }
  { Raw r; r.header(0, 1).kv_u32("general.alignment", 0); require_error(r.b, "power of two"); }
  { Raw r; r.header(0, 1).str("general.alignment").u32(8).str("32"); require_error(r.b, "general.alignment has type STRING"); }

  auto with_tensor = [](const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t off) {
    Raw r;
    r.header(1, 0).tinfo(name, std::move(ne), type, off).pad(32).fill(256).pad(32);
    return r.b;
  };
  CHECK(open_bytes(with_tensor("ok", {4, 2}, 0, 0)).ok());
  require_error(with_tensor("t5d", {1, 1, 1, 1, 1}, 0, 0), "tensor 't5d' has 5 dims");
  require_error(with_tensor("t0d", {}, 0, 0), "has 0 dims");
  require_error(with_tensor("tz", {4, 0}, 0, 0), "tensor 'tz' dim 1 is 0");
  require_error(with_tensor("tov", {1ull << 32, 1ull << 32}, 0, 0), "element count overflows");
  require_error(with_tensor("tbig", {1ull << 62}, 0, 0), "overflows");
  require_error(with_tensor("tq", {4}, 14, 0), "tensor 'tq' has unsupported tensor type id 14");
  require_error(with_tensor("tq3", {32}, 3, 0), "type id 3");
  require_error(with_tensor("tblk", {33}, 8, 0), "not a multiple of the q8_0 block size");
  require_error(with_tensor("tal", {4}, 0, 16), "not a multiple of the alignment");
  require_error(with_tensor("tout", {4}, 0, 1ull << 40), "past the end");
  require_error(with_tensor("twrap", {4}, 0, UINT64_MAX - 31), "past the end");
  require_error(with_tensor("tsize", {128}, 0, 0), "past the end");  // 512 bytes > 256
  require_error(with_tensor(std::string(64, 'n'), {4}, 0, 0), "too long");
  require_error(with_tensor("", {4}, 0, 0), "empty name");
  {
    Raw r;
    r.header(2, 0).tinfo("x", {16}, 0, 0).tinfo("y", {8}, 0, 32).pad(32).fill(128);
    require_error(r.b, "tensors 'x' and 'y' overlap");
  }
  {
    Raw r;
    r.header(2, 0).tinfo("x", {8}, 0, 0).tinfo("x", {8}, 0, 32).pad(32).fill(64);
    require_error(r.b, "duplicate tensor name 'x'");
  }
  {  // data section start beyond the file
    Raw r;
    r.header(1, 0).tinfo("x", {1}, 0, 0);
    require_error(r.b, "truncated");
  }
}
