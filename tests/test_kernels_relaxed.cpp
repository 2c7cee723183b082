// Relaxed-SIMD kernels (wasm builds with -mrelaxed-simd; elsewhere the cases only note their absence):
// the Q4_0 and Q8_0 relaxed variants (and the SIMD128 ones of the same build) against the scalar
// reference on awkward shapes, bit-identical to the reference from 3 rows on (the row-lane kernel:
// exact block sums, the reference's float order; but for a lone row after whole 4-row tiles, which
// the few-row path takes), and exact on extreme weights and activations (their 7-bit operands stay in
// 0..15, so no engine-specific result is possible).
// In Chromium: node tools/bench/wasm_kernels.mjs --build BUILD_DIR --tests.
#include "kernels/q4_0.h"
#include "kernels/q8_0.h"
#include "kernels_block_fixture.h"
#if defined(__wasm_relaxed_simd__)
#include "kernels/block_int8_rowlane_wasm.h"
#endif

using namespace mblip;
using namespace mblip_test;

namespace {

// The relaxed variant of `vs`, or nullptr (and a note) when this is not a relaxed-SIMD build.
const BlockVariant* relaxed_of(const std::vector<BlockVariant>& vs) {
  const BlockVariant* r = find_variant(vs, "wasm_relaxed");
#if defined(__wasm_relaxed_simd__)
  REQUIRE(r != nullptr);
#else
  REQUIRE(r == nullptr);
  WARN("not a relaxed-SIMD build: nothing to test");
#endif
  return r;
}

void check_format(DType type, const std::vector<BlockVariant>& vs, size_t big_k, uint64_t seed) {
  const BlockVariant* relaxed = relaxed_of(vs);
  if (!relaxed) return;
  const BlockVariant* simd = find_variant(vs, "wasm_simd128");
  REQUIRE(simd != nullptr);
  // Both variants of this build against the reference (the bound of the float summation order: the
  // few-row paths differ from it and from each other only there; exact integers: check_extremes).
  check_variants(type, {vs.front(), *relaxed, *simd}, awkward_shapes(big_k, 257), seed);
}

// The row-lane kernel (every M through `large`; the variant itself from M = 3 on, on its row-lane
// rows) equals the scalar reference bit for bit, with a bias, with 1 or 2 threads (tasks of 32 rows).
void check_large_equals_ref(DType type, const std::vector<BlockVariant>& vs, BlockGemmFn large, uint64_t seed) {
  const BlockVariant* relaxed = relaxed_of(vs);
  if (!relaxed) return;
  const BlockVariant large_v{"wasm_relaxed_large", large, type};
  CHECK(check_bitwise_equals_ref(type, vs, large_v, 1, seed) > 20);
  // The variant itself: a lone row after whole 4-row tiles (M = 5, 9) runs on the few-row path
  // (checked against the reference's float bound in check_format).
#if defined(__wasm_relaxed_simd__)
  CHECK(check_bitwise_equals_ref(type, vs, *relaxed, 3, seed + 500, rowlane_rows) > 10);
#endif
}

}  // namespace

TEST_CASE("relaxed SIMD Q4_0 kernel: relaxed and SIMD128 variants within the reference's bounds on awkward shapes", "[kernels][relaxed]") {
#if defined(__wasm_relaxed_simd__)
  CHECK(std::string(q4_0_variants().back().name) == "wasm_relaxed");  // the default of this build
#endif
  check_format(DType::Q4_0, q4_0_variants(), 2048 + 96, 500);
}

TEST_CASE("relaxed SIMD Q8_0 kernel: relaxed and SIMD128 variants within the reference's bounds on awkward shapes", "[kernels][relaxed]") {
  check_format(DType::Q8_0, q8_0_variants(), 1408, 700);
}

TEST_CASE("relaxed SIMD kernels: extreme weights and activations give the exact integer sums", "[kernels][relaxed]") {
  if (const BlockVariant* r = relaxed_of(q4_0_variants())) check_extremes(DType::Q4_0, *r);
  if (const BlockVariant* r = relaxed_of(q8_0_variants())) check_extremes(DType::Q8_0, *r);
}

TEST_CASE("relaxed SIMD row-lane kernel (M >= 3): equal to the scalar reference bit for bit", "[kernels][relaxed]") {
#if defined(__wasm_relaxed_simd__)
  check_large_equals_ref(DType::Q4_0, q4_0_variants(), &q4_0_gemm_wasm_relaxed_large, 900);
  check_large_equals_ref(DType::Q8_0, q8_0_variants(), &q8_0_gemm_wasm_relaxed_large, 1900);
#else
  check_large_equals_ref(DType::Q4_0, q4_0_variants(), nullptr, 900);
#endif
}
