// Feeds every committed fuzz input (fuzz/corpus/<target>/*, fuzz/regressions/<target>/*) through
// the same entry functions as the libFuzzer mains (fuzz/targets.cpp), natively and in wasm:
// no crash, and every Status is clean (ok, or a typed non-internal error with a message).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../fuzz/targets.cpp"  // the entry functions themselves (one definition, shared)
#include "support/golden.h"

namespace {

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("fuzz: every corpus and regression input gives a clean Status", "[fuzz]") {
  const std::string root = std::string(MBLIP_SOURCE_DIR) + "/fuzz";
  std::unique_ptr<mblip::Tokenizer> tok;
  const std::string golden = mblip_test::golden_dir();
  if (!golden.empty()) {
    std::string error;
    tok = mblip_fuzz::load_tokenizer(golden + "/tokenizer/spiece.model", &error);
    INFO(error);
    REQUIRE(tok);
  }
  size_t total = 0;
  for (const auto& t : mblip_fuzz::all_targets()) {
    if (t.needs_tokenizer && !tok) {
      WARN("golden data absent: fuzz target " << t.name << " skipped");
      continue;
    }
    mblip_fuzz::Context ctx;
    ctx.scratch_path = mblip_test::tmp_dir() + "/fuzz_regression_" + t.name;
    ctx.tokenizer = tok.get();
    size_t n = 0;
    for (const char* kind : {"corpus", "regressions"}) {
      for (const auto& path : files_in(root + "/" + kind + "/" + t.name)) {
        const std::string bytes = slurp(path);
        const mblip::Status st = t.fn(ctx, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        INFO(path << " -> " << st.to_string());
        CHECK(mblip_fuzz::is_clean(st));
        ++n;
      }
    }
    CHECK(n > 0);  // every target has committed seeds
    total += n;
  }
  // The committed inputs number in the hundreds; the tokenizer targets' alone are about 100.
  CHECK(total >= (tok ? 100u : 20u));
}

TEST_CASE("fuzz regression: palette PNG indices past the PLTE decode deterministically", "[fuzz]") {
  // 4x1, 8-bit palette with 2 entries, pixel indices [0, 1, 2, 200]. stb_image used to read
  // indices 2 and 200 from an uninitialised stack palette; missing entries are now Pillow's
  // default gray ramp (ImagingPaletteNew: entry i = (i, i, i)).
  const std::string bytes = slurp(std::string(MBLIP_SOURCE_DIR) + "/fuzz/regressions/image/palette_index_out_of_range.png");
  REQUIRE(bytes.size() == 88);
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  auto a = mblip::decode_image(p, bytes.size());
  INFO(a.status().to_string());
  REQUIRE(a.ok());
  REQUIRE(a->width == 4);
  REQUIRE(a->height == 1);
  CHECK(a->rgb == std::vector<uint8_t>{10, 20, 30, 40, 50, 60, 2, 2, 2, 200, 200, 200});
  auto b = mblip::decode_image(p, bytes.size());
  REQUIRE(b.ok());
  CHECK(b->rgb == a->rgb);
}

TEST_CASE("fuzz regression: empty IDAT chunks are skipped, the image decodes", "[fuzz]") {
  // 2x1 RGB PNG: IHDR, an empty IDAT, the IDAT with the pixels (10,20,30) (200,100,50), another
  // empty IDAT, IEND. stb_image copied the first (0-byte) IDAT to a null buffer: undefined
  // behaviour caught by UBSan in the image fuzzer. Pillow reads empty IDATs as no data.
  const std::string bytes = slurp(std::string(MBLIP_SOURCE_DIR) + "/fuzz/regressions/image/empty_first_idat.png");
  REQUIRE(bytes.size() == 96);
  auto a = mblip::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  INFO(a.status().to_string());
  REQUIRE(a.ok());
  REQUIRE(a->width == 2);
  REQUIRE(a->height == 1);
  CHECK(a->rgb == std::vector<uint8_t>{10, 20, 30, 200, 100, 50});
}

TEST_CASE("fuzz regression: pickle reference cycles and deep nesting are refused", "[fuzz]") {
  // A dict set as its own value (a shared_ptr cycle: leaked memory) and 200,000 nested lists
  // (their destruction recursed once per level: stack overflow).
  const std::string root = std::string(MBLIP_SOURCE_DIR) + "/fuzz/regressions/pickle/";
  auto cyc = mblip::parse_state_dict_pickle(slurp(root + "self_cycle.pkl"));
  REQUIRE_FALSE(cyc.ok());
  CHECK_THAT(cyc.status().message(), Catch::Contains("element of another one"));
  auto nest = mblip::parse_state_dict_pickle(slurp(root + "nesting_1001.pkl"));
  REQUIRE_FALSE(nest.ok());
  CHECK_THAT(nest.status().message(), Catch::Contains("nested deeper than 1000"));
  const std::string deep = "\x80\x02" + std::string(200000, ']') + std::string(199999, 'a') + ".";
  auto r = mblip::parse_state_dict_pickle(deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == mblip::StatusCode::kModelLoad);
}
