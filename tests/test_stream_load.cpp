// Streaming model load (ModelStreamLoader, GgufFile::parse_header, MBlipModelBuilder): the
// stream gives the same model as the file, holds at most about one tensor of raw bytes, and
// reports the same header errors as GgufFile::open.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "mblip/mblip.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;
using mblip_test::golden_dir;

namespace {

Result<std::shared_ptr<Model>> stream_load(const std::string& bytes, size_t chunk, uint64_t total,
                                           uint64_t* peak = nullptr, const LoadOptions& opts = {}) {
  ModelStreamLoader loader(opts, total);
  std::vector<uint8_t> buf(chunk);
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    const size_t n = std::min(chunk, bytes.size() - off);
    std::memcpy(buf.data(), bytes.data() + off, n);  // the loader must copy: buf is reused
    Status s = loader.push(buf.data(), n);
    if (!s.ok()) return s;
    std::fill(buf.begin(), buf.end(), 0xAB);
  }
  auto r = loader.finish();
  if (peak) *peak = loader.peak_buffered_bytes();
  return r;
}

std::vector<int32_t> caption_tokens(Model& m, const std::string& image) {
  auto s = m.new_session();
  REQUIRE(s.ok());
  DecodeOptions d;
  d.apply_exif = false;
  auto e = s.value()->embed_image(reinterpret_cast<const uint8_t*>(image.data()), image.size(), d);
  REQUIRE(e.ok());
  GenerateOptions g;
  g.max_new_tokens = 8;
  auto r = s.value()->generate(e.value(), task_prompt(Task::kCaption, "English"), g);
  REQUIRE(r.ok());
  return r.value().tokens();
}

}  // namespace

TEST_CASE("stream: chunked load gives the same tokens as load_file", "[stream]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string image = mblip_test::read_file(golden_dir() + "/images/files/astronaut_baseline.jpg");
  for (const char* weights : {"f32", "q4_0"}) {
    INFO(weights);
    const std::string path = mblip_test::golden_gguf("tiny-mt5", weights);
    const std::string bytes = mblip_test::read_file(path);
    auto ref = Model::load_file(path);
    REQUIRE(ref.ok());
    const std::vector<int32_t> want = caption_tokens(*ref.value(), image);
    REQUIRE_FALSE(want.empty());
    // odd chunk sizes split the header, the padding and the tensors at every kind of boundary
    for (size_t chunk : {size_t{4093}, size_t{65536}, bytes.size()}) {
      for (uint64_t total : {uint64_t{bytes.size()}, uint64_t{0}}) {
        INFO("chunk " << chunk << " total " << total);
        uint64_t peak = 0;
        auto m = stream_load(bytes, chunk, total, &peak);
        INFO(m.status().to_string());
        REQUIRE(m.ok());
        CHECK(m.value()->info().weight_bytes == ref.value()->info().weight_bytes);
        CHECK(caption_tokens(*m.value(), image) == want);
        CHECK(peak > 0);
        // never the whole raw file (the tiny model has ~300 tensors), unless pushed in one piece
        if (chunk < bytes.size()) CHECK(peak < bytes.size() / 2);
      }
    }
  }
}

TEST_CASE("stream: raw bytes held are bounded by the header plus one tensor and its bias", "[stream]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string path = mblip_test::golden_gguf("tiny-mt5", "f32");
  const std::string bytes = mblip_test::read_file(path);
  auto f = GgufFile::open(borrow_buffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  REQUIRE(f.ok());
  uint64_t largest = 0, second = 0;
  for (const auto& t : f.value()->tensors()) {
    if (t.view.nbytes > largest) { second = largest; largest = t.view.nbytes; }
    else second = std::max<uint64_t>(second, t.view.nbytes);
  }
  uint64_t peak = 0;
  auto m = stream_load(bytes, 1 << 16, bytes.size(), &peak);
  REQUIRE(m.ok());
  // the header buffer holds at most what arrived with it (one chunk past the data offset)
  CHECK(peak <= std::max<uint64_t>(f.value()->data_offset() + (1 << 16), largest + second));
}

TEST_CASE("stream: parse_header on any prefix agrees with GgufFile::open", "[stream]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string bytes = mblip_test::read_file(mblip_test::golden_gguf("tiny-mt5", "f32"));
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  auto full = GgufFile::open(borrow_buffer(p, bytes.size()));
  REQUIRE(full.ok());
  const size_t header = full.value()->data_offset();
  size_t parsed_at = 0;
  for (size_t n : {size_t{0}, size_t{3}, size_t{24}, header / 3, header / 2, header - 1, header, bytes.size()}) {
    uint64_t need = 0;
    auto r = GgufFile::parse_header(p, n, bytes.size(), &need);
    INFO("prefix " << n);
    REQUIRE(r.ok());
    if (!r.value()) {
      CHECK(need > n);
      CHECK(need <= header);
      continue;
    }
    if (!parsed_at) parsed_at = n;
    const GgufFile& h = *r.value();
    CHECK(h.metadata() == full.value()->metadata());
    REQUIRE(h.tensors().size() == full.value()->tensors().size());
    for (size_t k = 0; k < h.tensors().size(); ++k) {
      CHECK(h.tensors()[k].view.name == full.value()->tensors()[k].view.name);
      CHECK(h.tensors()[k].offset == full.value()->tensors()[k].offset);
      CHECK(h.tensors()[k].view.data == nullptr);
    }
    CHECK(h.data_offset() == header);
  }
  CHECK(parsed_at > 0);
  CHECK(parsed_at <= header);

  // A truncated file: the stream's error is the reader's error, word for word.
  for (size_t cut : {size_t{10}, header / 2}) {
    auto file_err = GgufFile::open(borrow_buffer(p, cut));
    REQUIRE_FALSE(file_err.ok());
    auto stream_err = stream_load(bytes.substr(0, cut), 4096, 0);
    REQUIRE_FALSE(stream_err.ok());
    CHECK(stream_err.status().code() == StatusCode::kModelLoad);
    CHECK_THAT(stream_err.status().message(), Catch::Contains(file_err.status().message()));
  }
  // Bad magic fails on the first push, before any more bytes.
  std::string bad = bytes;
  bad[0] = 'X';
  ModelStreamLoader l;
  Status s = l.push(reinterpret_cast<const uint8_t*>(bad.data()), 64);
  REQUIRE_FALSE(s.ok());
  CHECK_THAT(s.message(), Catch::Contains("not a GGUF file"));
  CHECK(l.push(reinterpret_cast<const uint8_t*>(bad.data()), 1).message() == s.message());  // sticky
  CHECK_FALSE(l.finish().ok());
}

TEST_CASE("stream: wrong sizes and truncated data are model-load errors", "[stream]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string bytes = mblip_test::read_file(mblip_test::golden_gguf("tiny-mt5", "q8_0"));
  // a declared size the tensors do not fit in: the reader's own check, at the header
  auto small = stream_load(bytes, 1 << 16, bytes.size() - 1);
  REQUIRE_FALSE(small.ok());
  CHECK_THAT(small.status().message(), Catch::Contains("extends past the end of the file"));
  // more bytes than declared
  auto more = stream_load(bytes + std::string(10, '\0'), 1 << 16, bytes.size());
  REQUIRE_FALSE(more.ok());
  CHECK_THAT(more.status().message(), Catch::Contains("more than the declared"));
  // stream ends inside the tensor data: size known / unknown
  const std::string cut = bytes.substr(0, bytes.size() - 100);
  auto known = stream_load(cut, 1 << 16, bytes.size());
  REQUIRE_FALSE(known.ok());
  CHECK(known.status().code() == StatusCode::kModelLoad);
  CHECK_THAT(known.status().message(), Catch::Contains("ended after"));
  auto unknown = stream_load(cut, 1 << 16, 0);
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.status().message(), Catch::Contains("inside tensor"));
  // a file cut at the header with a declared size: the header checks see the real size
  auto empty = stream_load(std::string(), 16, 0);
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.status().message(), Catch::Contains("empty"));
  // the explicit weight cap applies before any tensor is built
  LoadOptions cap;
  cap.max_memory_bytes = 1000;
  auto capped = stream_load(bytes, 1 << 16, bytes.size(), nullptr, cap);
  REQUIRE_FALSE(capped.ok());
  CHECK(capped.status().code() == StatusCode::kOutOfMemory);
}
