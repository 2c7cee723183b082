// Packed-weights cache (core/src/kernels/weight_cache.h): a load from the cache gives the same
// tokens and beam scores as an uncached load (and the golden tokens for f32); every kind of
// corrupt / foreign / truncated cache is detected and rebuilt; concurrent loads; unwritable folder.
// The in-memory store of streamed loads (the wasm package's browser / Node cache) at the end:
// native and wasm.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/weight_cache.h"
#include "mblip/mblip.h"
#include "support/golden.h"
#include "support/models.h"

// The file cache is native only (wasm loads stream into the heap).
#ifndef __EMSCRIPTEN__

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/convert.h"
#include "kernels/weight_cache.h"
#include "mblip/cache.h"
#include "mblip/mblip.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;

namespace {

struct Outcome {
  std::vector<int32_t> greedy, beam;
  float beam_score = 0;
  bool operator==(const Outcome& o) const { return greedy == o.greedy && beam == o.beam && beam_score == o.beam_score; }
};

// Converts the golden tiny-mt5 with a recipe once per process ("f32", "q8_0", "default" =
// q4_0 + vision q8_0), under tmp_dir().
std::string recipe_model(const std::string& recipe) {
  const std::string out = mblip_test::tmp_dir() + "/wcache-tiny-mt5-" + recipe + ".gguf";
  if (mblip_test::newer_than_binary(out)) return out;
  const std::string unique = out + "." + std::to_string(::getpid());
  ConvertOptions o;
  o.input_dir = mblip_test::golden_dir() + "/models/tiny-mt5";
  o.output_path = unique;
  o.weights = recipe == "f32" ? DType::F32 : recipe == "q8_0" ? DType::Q8_0 : DType::Q4_0;
  if (recipe == "default") o.overrides = {{Component::kVision, DType::Q8_0}};
  const Status st = convert_checkpoint(o);
  INFO(st.to_string());
  REQUIRE(st.ok());
  REQUIRE(std::rename(unique.c_str(), out.c_str()) == 0);
  return out;
}

// A fresh, empty cache folder for one test.
std::string fresh_dir(const std::string& name) {
  const std::string d = mblip_test::tmp_dir() + "/wcache-" + name + "-" + std::to_string(::getpid());
  ::mkdir(d.c_str(), 0755);
  REQUIRE(clear_packed_cache(d).ok());
  return d;
}

Outcome run(const std::string& model_path, bool cache, const std::string& dir) {
  LoadOptions lo;
  lo.threads = 2;
  lo.weight_cache = cache;
  lo.weight_cache_dir = dir;
  auto m = Model::load_file(model_path, lo);
  INFO(m.status().to_string());
  REQUIRE(m.ok());
  auto s = m.value()->new_session();
  REQUIRE(s.ok());
  DecodeOptions d;
  d.apply_exif = false;
  auto e = s.value()->embed_image_file(mblip_test::golden_dir() + "/images/files/astronaut_baseline.jpg", d);
  INFO(e.status().to_string());
  REQUIRE(e.ok());
  Outcome out;
  GenerateOptions g;
  g.num_beams = 1;
  g.max_new_tokens = 12;
  auto r1 = s.value()->generate(e.value(), "Describe the image in German.", g);
  REQUIRE(r1.ok());
  out.greedy = r1.value().tokens();
  g.num_beams = 3;
  auto r3 = s.value()->generate(e.value(), "Describe the image in German.", g);
  REQUIRE(r3.ok());
  out.beam = r3.value().tokens();
  out.beam_score = r3.value().score();
  return out;
}

ino_t inode_of(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

uint64_t size_of(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// The one cache file in `dir`, which must have a valid header.
std::string the_cache_file(const std::string& dir) {
  const auto files = list_packed_cache(dir);
  REQUIRE(files.size() == 1);
  CHECK(files[0].header_ok);
  CHECK(files[0].entries > 0);
  return files[0].path;
}

std::vector<char> read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
void write_all(const std::string& p, const std::vector<char>& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

// Two loads at once on an empty cache folder: both right, one valid file left.
void check_two_cold_loads_at_once(const std::string& model, const std::string& dir, const Outcome& ref) {
  Outcome a, b;
  std::thread t([&] { a = run(model, true, dir); });
  b = run(model, true, dir);
  t.join();
  CHECK(a == ref);
  CHECK(b == ref);
  the_cache_file(dir);  // exactly one file, valid (no temp files left: list only sees .mbpack)
}

// A cached load under a file size limit (writes then fail midway, like on a full disk).
Outcome run_with_file_limit(const std::string& model, const std::string& dir, rlim_t limit) {
  struct rlimit old {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto prev = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = limit;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
  const Outcome got = run(model, true, dir);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, prev);
  return got;
}

}  // namespace

TEST_CASE("weight cache: cached loads equal uncached ones for each recipe", "[cache]") {
  MBLIP_REQUIRE_GOLDEN();
  for (const char* recipe : {"f32", "q8_0", "default"}) {
    INFO("recipe " << recipe);
    const std::string model = recipe_model(recipe);
    const std::string dir = fresh_dir(std::string("eq-") + recipe);
    const Outcome ref = run(model, false, dir);
    CHECK(list_packed_cache(dir).empty());  // --no-cache writes nothing
    const Outcome cold = run(model, true, dir);
    const std::string file = the_cache_file(dir);
    const ino_t ino = inode_of(file);
    const Outcome warm = run(model, true, dir);
    CHECK(cold == ref);
    CHECK(warm == ref);
    CHECK(inode_of(file) == ino);  // the warm load used the file (a rebuild renames a new one)
    if (std::string(recipe) == "f32") {
      // Independent reference: the golden float32 greedy tokens of this case (HF transformers).
      const auto seqs = mblip_test::load_npy(mblip_test::golden_dir() +
                                             "/models/tiny-mt5/cases/c00_astronaut_baseline/greedy_sequences.npy");
      std::vector<int32_t> golden;
      for (int64_t j = 1; j < seqs.shape[1] && golden.size() < ref.greedy.size(); ++j)
        golden.push_back(static_cast<int32_t>(seqs.as_int64()[static_cast<size_t>(j)]));
      CHECK(warm.greedy == golden);
    }
  }
}

TEST_CASE("weight cache: mapped on a 2 MiB boundary, cold and warm, as weight_cache_mapping reports", "[cache]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string model = recipe_model("default");
  const std::string dir = fresh_dir("map");
  const WeightCacheMapping before = packed_cache_mapping();
  for (const char* pass : {"cold", "warm"}) {
    INFO(pass);
    LoadOptions lo;
    lo.threads = 2;
    lo.weight_cache_dir = dir;
    {
    auto m = Model::load_file(model, lo);
    REQUIRE(m.ok());
    const uint64_t bytes = size_of(the_cache_file(dir));
    const WeightCacheMapping now = packed_cache_mapping();
    const WeightCacheMapping pub = weight_cache_mapping();
#ifdef __linux__
    CHECK(now.files == before.files + 1);
    CHECK(now.mapped_bytes > before.mapped_bytes);
    // warm: the whole file; cold: the entries written (the index follows them)
    if (std::string(pass) == "warm") CHECK(now.mapped_bytes >= before.mapped_bytes + bytes);
    CHECK(now.aligned);  // map_file_huge reserves an aligned range: huge pages are possible
    CHECK(now.huge_page_bytes <= now.mapped_bytes);
#endif
    CHECK(pub.files == now.files);
    CHECK(pub.mapped_bytes == now.mapped_bytes);
    if (std::string(pass) == "warm") {  // the token embedding is an entry of the file (no heap copy)
      const std::vector<char> bytes = read_all(the_cache_file(dir));
      const std::string name = "|embedding|";
      CHECK(std::search(bytes.begin(), bytes.end(), name.begin(), name.end()) != bytes.end());
    }
    }  // the Model goes: its mapping too
    CHECK(packed_cache_mapping().files == before.files);
  }
  // When `mblip bench` advises clearing the cache: a large one, mostly in small pages.
  WeightCacheMapping big;
  big.mapped_bytes = uint64_t{3} << 30;
  CHECK(big.mostly_small_pages());
  big.huge_page_bytes = big.mapped_bytes - (uint64_t{1} << 20);
  CHECK_FALSE(big.mostly_small_pages());
  WeightCacheMapping tiny;
  tiny.mapped_bytes = uint64_t{1} << 20;
  CHECK_FALSE(tiny.mostly_small_pages());
}

TEST_CASE("weight cache written in many chunks: equal loads, two writers, a write failure midway", "[cache]") {
  MBLIP_REQUIRE_GOLDEN();
  // The writer copies entries into 2 MiB chunks and writes each once it is complete; a tiny
  // model fits in one, so the chunks are made 4 KiB here: entries span chunks, chunks hold parts
  // of several entries, and a failing write hits chunks completed during the load.
  struct ChunkScope {
    explicit ChunkScope(uint64_t b) { PackedWeightStore::set_chunk_bytes_for_tests(b); }
    ~ChunkScope() { PackedWeightStore::set_chunk_bytes_for_tests(0); }
  } chunks(4096);
  const std::string model = recipe_model("default");
  const std::string dir = fresh_dir("chunks");
  const Outcome ref = run(model, false, dir);
  SECTION("cold, then warm, then two cold loads at once") {
    CHECK(run(model, true, dir) == ref);
    const std::string file = the_cache_file(dir);
    const ino_t ino = inode_of(file);
    CHECK(run(model, true, dir) == ref);
    CHECK(inode_of(file) == ino);  // the warm load used the file: every checksum matched
    REQUIRE(clear_packed_cache(dir).ok());
    check_two_cold_loads_at_once(model, dir, ref);
  }
  SECTION("writes failing midway: the entries come back from the file and the unwritten chunks") {
    for (rlim_t limit : {rlim_t{6000}, rlim_t{64 * 1024}, rlim_t{256 * 1024}}) {
      INFO("file size limit " << limit);
      CHECK(run_with_file_limit(model, dir, limit) == ref);
      CHECK(list_packed_cache(dir).empty());
    }
  }
}

TEST_CASE("weight cache: truncated, corrupt, foreign and old caches are detected and rebuilt", "[cache]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string model = recipe_model("default"), other = recipe_model("q8_0");
  const std::string dir = fresh_dir("corrupt");
  const Outcome ref = run(model, false, dir);
  REQUIRE(run(model, true, dir) == ref);
  const std::string file = the_cache_file(dir);
  const std::vector<char> good = read_all(file);
  REQUIRE(good.size() > 3 * kPackedCacheHeaderBytes);
  const size_t n = good.size();

  struct Damage {
    std::string what;
    std::vector<char> bytes;
  };
  std::vector<Damage> cases;
  for (size_t cut : {size_t{0}, size_t{7}, size_t{100}, kPackedCacheHeaderBytes - 1, kPackedCacheHeaderBytes,
                     kPackedCacheHeaderBytes + 100, n / 2, n - 100, n - 1})
    cases.push_back({"truncated at " + std::to_string(cut), std::vector<char>(good.begin(), good.begin() + cut)});
  for (size_t at : {size_t{3}, size_t{20}, size_t{80}, kPackedCacheHeaderBytes - 3, kPackedCacheHeaderBytes + 5,
                    n / 3, n / 2, n - 3}) {
    auto b = good;
    b[at] = static_cast<char>(b[at] ^ 0x10);
    cases.push_back({"byte flipped at " + std::to_string(at), b});
  }
  {  // another format version, header checksum recomputed
    auto b = good;
    b[8] = static_cast<char>(b[8] + 1);
    const uint64_t c = packed_checksum(reinterpret_cast<const uint8_t*>(b.data()), kPackedCacheHeaderBytes - 8);
    for (int i = 0; i < 8; ++i) b[kPackedCacheHeaderBytes - 8 + i] = static_cast<char>(c >> (8 * i));
    cases.push_back({"format version + 1", b});
  }
  {  // written by another XNNPACK version (key differs), otherwise valid
    PackedCacheHeader h;
    std::string why;
    REQUIRE(decode_packed_header(reinterpret_cast<const uint8_t*>(good.data()), n, &h, &why));
    const size_t at = h.key.find("xnnpack=");
    REQUIRE(at != std::string::npos);
    h.key[at + 8] = h.key[at + 8] == '0' ? '1' : '0';
    auto b = good;
    REQUIRE(encode_packed_header(h, reinterpret_cast<uint8_t*>(b.data())));
    cases.push_back({"other XNNPACK version", b});
  }
  {  // the cache of another model under this model's name
    const std::string odir = fresh_dir("corrupt-other");
    run(other, true, odir);
    cases.push_back({"another model's cache", read_all(the_cache_file(odir))});
  }
  for (const Damage& d : cases) {
    INFO(d.what);
    write_all(file, d.bytes);
    const ino_t damaged = inode_of(file);
    CHECK(run(model, true, dir) == ref);
    CHECK(inode_of(file) != damaged);  // replaced by a rebuilt file ...
    CHECK(size_of(file) == n);         // ... of the right size (entry order varies: parallel packing)
    the_cache_file(dir);               // ... with a valid header
  }
}

TEST_CASE("weight cache: concurrent loads, unwritable folder, write failures", "[cache]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string model = recipe_model("q8_0");
  const std::string dir = fresh_dir("conc");
  const Outcome ref = run(model, false, dir);

  SECTION("two threads load at once with an empty cache, then one warm load") {
    check_two_cold_loads_at_once(model, dir, ref);
    CHECK(run(model, true, dir) == ref);
  }
  SECTION("a cache folder that cannot be created: packs in memory") {
    const std::string blocker = dir + "/not-a-folder";
    std::ofstream(blocker) << "x";
    CHECK(run(model, true, blocker + "/packed") == ref);
    if (::geteuid() != 0) {  // root ignores permissions
      const std::string ro = dir + "/read-only";
      ::mkdir(ro.c_str(), 0555);
      CHECK(run(model, true, ro) == ref);
      CHECK(list_packed_cache(ro).empty());
    }
  }
  SECTION("writes failing midway (file size limit, like a full disk): packs in memory, keeps no file") {
    CHECK(run_with_file_limit(model, dir, 64 * 1024) == ref);
    CHECK(list_packed_cache(dir).empty());
  }
}

#endif  // __EMSCRIPTEN__

// ---- in-memory store (streamed loads: what the npm package stores in OPFS / a file) ----------

namespace {

struct StreamRun {
  std::vector<int32_t> greedy, beam;
  float beam_score = 0;
  bool warm = false;
  std::string rejected;
  uint64_t hits = 0, packed = 0;
  std::vector<uint8_t> image;  // the exported cache image (cold loads)
  uint64_t biggest_entry_offset = 0, biggest_entry_size = 0;
  bool misaligned_copy = false;  // the image buffer given to the store was not 64-byte aligned
};

// Streams `model_path` through ModelStreamLoader in 1 MiB pushes; `image` (may be empty) is given
// to a memory store like the npm package does. cache=false: no store at all.
// `misalign`: the image copy starts 16 bytes past a 64-byte boundary (must be refused, not crash).
StreamRun stream_run(const std::string& model_path, bool cache, const std::vector<uint8_t>& image, bool misalign = false) {
  std::shared_ptr<mblip::PackedWeightStore> store;
  mblip::LoadOptions lo;
  lo.threads = 2;
  bool misaligned = false;
  if (cache) {
    uint8_t* copy = nullptr;
    if (!image.empty()) {  // aligned like the package's alloc_cache_image (wasm/bindings.cpp)
      void* p = nullptr;
      if (misalign) p = std::malloc(image.size());  // glibc / dlmalloc: 16 / 8-byte aligned
      else REQUIRE(::posix_memalign(&p, 64, image.size()) == 0);
      REQUIRE(p);
      copy = static_cast<uint8_t*>(p);
      std::memcpy(copy, image.data(), image.size());
      misaligned = reinterpret_cast<uintptr_t>(copy) % 64 != 0;
    }
    store = mblip::PackedWeightStore::in_memory(copy, image.size(), "test");
    lo.memory_weight_cache = store;
  }
  std::FILE* f = std::fopen(model_path.c_str(), "rb");
  REQUIRE(f);
  std::fseek(f, 0, SEEK_END);
  const uint64_t total = static_cast<uint64_t>(std::ftell(f));
  std::fseek(f, 0, SEEK_SET);
  mblip::ModelStreamLoader loader(lo, total);
  std::vector<uint8_t> buf(1 << 20);
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), f)) > 0;) REQUIRE(loader.push(buf.data(), n).ok());
  std::fclose(f);
  auto m = loader.finish();
  INFO(m.status().to_string());
  REQUIRE(m.ok());
  StreamRun out;
  out.misaligned_copy = misaligned;
  if (store) {
    out.warm = store->warm();
    out.rejected = store->rejected();
    out.hits = store->hits();
    out.packed = store->packed();
    std::string meta;
    std::vector<mblip::PackedWeightStore::ImagePart> parts;
    uint64_t size = 0;
    if (store->export_image(&meta, &parts, &size)) {
      out.image.assign(static_cast<size_t>(size), 0xEE);  // unwritten gaps stay 0xEE (alignment padding)
      for (size_t i = 0; i < parts.size(); ++i) {
        const auto& p = parts[i];
        REQUIRE(p.offset + p.size <= size);
        if (i > 0 && i + 1 < parts.size() && p.size > out.biggest_entry_size) {  // not header / index
          out.biggest_entry_offset = p.offset;
          out.biggest_entry_size = p.size;
        }
        std::memcpy(out.image.data() + p.offset, p.data, static_cast<size_t>(p.size));
      }
    }
  }
  auto s = m.value()->new_session();
  REQUIRE(s.ok());
  mblip::DecodeOptions d;
  d.apply_exif = false;
  auto e = s.value()->embed_image_file(mblip_test::golden_dir() + "/images/files/coffee_rgb.png", d);
  INFO(e.status().to_string());
  REQUIRE(e.ok());
  mblip::GenerateOptions g;
  g.max_new_tokens = 16;
  auto r1 = s.value()->generate(e.value(), "Caption in Japanese.", g);
  REQUIRE(r1.ok());
  out.greedy = r1.value().tokens();
  g.num_beams = 3;
  auto r3 = s.value()->generate(e.value(), "Caption in Japanese.", g);
  REQUIRE(r3.ok());
  out.beam = r3.value().tokens();
  out.beam_score = r3.value().score();
  return out;
}

}  // namespace

TEST_CASE("weight cache in memory (streamed loads): export, warm import, every corruption refused", "[cache]") {
  MBLIP_REQUIRE_GOLDEN();
  // transformers' greedy tokens for tiny-mt5/c07_coffee_rgb (golden manifest), eos included.
  const std::vector<int32_t> golden_greedy = {7211, 5253, 6479, 1};
  for (const char* weights : {"f32", "q8_0"}) {
    INFO("weights " << weights);
    const std::string model = mblip_test::golden_gguf("tiny-mt5", weights);
    const StreamRun ref = stream_run(model, false, {});
    if (std::string(weights) == "f32") CHECK(ref.greedy == golden_greedy);
    const StreamRun cold = stream_run(model, true, {});
    CHECK_FALSE(cold.warm);
    CHECK(cold.rejected.empty());
    CHECK(cold.packed > 0);
    REQUIRE(cold.image.size() > mblip::kPackedCacheHeaderBytes);
    CHECK((cold.greedy == ref.greedy && cold.beam == ref.beam && cold.beam_score == ref.beam_score));
    // Warm: every operator from the image, nothing packed, identical results.
    const StreamRun warm = stream_run(model, true, cold.image);
    CHECK(warm.warm);
    CHECK(warm.rejected.empty());
    CHECK(warm.hits == cold.packed);
    CHECK(warm.packed == 0);
    CHECK(warm.image.empty());  // nothing new to store
    CHECK((warm.greedy == ref.greedy && warm.beam == ref.beam && warm.beam_score == ref.beam_score));
    // Corrupt images: refused with a reason, repacked, same results, and a fresh image exported.
    const std::vector<uint8_t>& img = cold.image;
    std::vector<std::pair<std::string, std::vector<uint8_t>>> bad;
    for (size_t cut : {size_t{100}, mblip::kPackedCacheHeaderBytes, img.size() / 2, img.size() - 1})
      bad.push_back({"truncated at " + std::to_string(cut), std::vector<uint8_t>(img.begin(), img.begin() + static_cast<long>(cut))});
    REQUIRE(cold.biggest_entry_size > 8);
    const size_t mid = static_cast<size_t>(cold.biggest_entry_offset + cold.biggest_entry_size / 2);
    // magic, a header field, the header checksum, packed data (first entry, the biggest one's
    // middle), the index at the end.
    for (size_t at : {size_t{3}, size_t{40}, mblip::kPackedCacheHeaderBytes - 1, mblip::kPackedCacheHeaderBytes + 5,
                      mid, img.size() - 3}) {
      std::vector<uint8_t> b = img;
      b[at] ^= 0x10;
      bad.push_back({"byte flipped at " + std::to_string(at), b});
    }
    {
      std::vector<uint8_t> longer = img;
      longer.push_back(0);
      bad.push_back({"one byte appended", longer});
    }
    for (const auto& [what, b] : bad) {
      INFO(what);
      const StreamRun r = stream_run(model, true, b);
      CHECK_FALSE(r.warm);
      CHECK_FALSE(r.rejected.empty());
      CHECK(r.packed == cold.packed);
      CHECK(r.image.size() == cold.image.size());  // rebuilt and exportable again
      CHECK((r.greedy == ref.greedy && r.beam == ref.beam && r.beam_score == ref.beam_score));
    }
  }
  // A misaligned image buffer is refused (kernels load packed weights aligned), not used.
  {
    const std::string f32 = mblip_test::golden_gguf("tiny-mt5", "f32");
    const StreamRun cold = stream_run(f32, true, {});
    const StreamRun r = stream_run(f32, true, cold.image, /*misalign=*/true);
    if (r.misaligned_copy) {  // malloc() happened to return a 64-byte aligned block otherwise
      CHECK_FALSE(r.warm);
      CHECK(r.rejected.find("aligned") != std::string::npos);
      CHECK(r.greedy == golden_greedy);
    }
  }
  // An image made for another model (same shapes, other weights: q8_0 vs f32) is refused by key.
  const StreamRun f32_cold = stream_run(mblip_test::golden_gguf("tiny-mt5", "f32"), true, {});
  const StreamRun other = stream_run(mblip_test::golden_gguf("tiny-mt5", "q8_0"), true, f32_cold.image);
  CHECK_FALSE(other.warm);
  CHECK(other.rejected.find("key mismatch") != std::string::npos);
}

TEST_CASE("weight cache key names the build's SIMD variant (wasm SIMD128 and relaxed SIMD differ)", "[cache]") {
  const std::string k = mblip::packed_cache_environment_key();
#if defined(__EMSCRIPTEN__) && defined(__wasm_relaxed_simd__)
  CHECK(k.find(";arch=wasm-relaxed-simd;") != std::string::npos);
#elif defined(__EMSCRIPTEN__)
  CHECK(k.find(";arch=wasm-simd128;") != std::string::npos);
#else
  CHECK(k.find(";arch=wasm") == std::string::npos);
#endif
  CHECK(k.find("xnnpack=") == 0);
}
