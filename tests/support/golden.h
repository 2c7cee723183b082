// Test helpers: where the golden data lives (../shared/golden, read-only), .npy loading,
// array comparison with named tolerances, and a per-build scratch directory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mblip_test {

// $MBLIP_GOLDEN_DIR or the configured default; "" when the folder is absent.
std::string golden_dir();
// Scratch directory inside the build tree (created on demand).
std::string tmp_dir();
std::string read_file(const std::string& path);  // throws std::runtime_error
nlohmann::json read_json(const std::string& path);
bool file_exists(const std::string& path);
// Writes via path.tmp + rename, so concurrent test processes never see a partial file.
void write_file_atomic(const std::string& path, const std::string& bytes);

struct Npy {
  std::string dtype;            // "<f4", "<i8", "|u1", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> raw;     // little-endian payload
  int64_t numel() const;
  std::vector<float> as_float() const;    // from <f4 / <f8
  std::vector<int64_t> as_int64() const;  // from <i8 / <i4
  std::vector<uint8_t> as_u8() const;     // from |u1
};
Npy load_npy(const std::string& path);  // throws std::runtime_error

// max |a-b| / max(max|b|, tiny): error relative to the reference's largest magnitude.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b);
double max_abs_error(const std::vector<float>& a, const std::vector<float>& b);
double cosine_similarity(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace mblip_test

// Ends the current test case with a visible note when the golden data is absent.
#define MBLIP_REQUIRE_GOLDEN()                                                       \
  do {                                                                               \
    if (::mblip_test::golden_dir().empty()) {                                        \
      WARN("SKIPPED: golden data not found (set MBLIP_GOLDEN_DIR or provide ../shared/golden)"); \
      return;                                                                        \
    }                                                                                \
  } while (0)
