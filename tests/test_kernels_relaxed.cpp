// Relaxed-SIMD kernels (wasm builds with -mrelaxed-simd; elsewhere the cases only note their absence):
// the Q4_0 and Q8_0 relaxed variants (and the SIMD128 ones of the same build) against the scalar
// reference on awkward shapes, bit-identical to the reference where the row-lane kernel runs (Q4_0
// from kQ4RelaxedRowLaneM rows, Q8_0 from kQ8RelaxedRowLaneM; the row-lane kernel:
// exact block sums, the reference's float order; but for a lone row after whole 4-row tiles, which
// the few-row path takes), and exact on extreme weights and activations (their 7-bit operands stay in
// 0..15, so no engine-specific result is possible).
// In Chromium: node tools/bench/wasm_kernels.mjs --build BUILD_DIR --tests.
#include "kernels/int8_rows.h"
#include "kernels/q4_0.h"
#include "kernels/q8_0.h"
#include "i8rows_exact.h"
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

// The row-lane kernel (every M through `large`; the variant itself from rowlane_m rows on, on its row-lane
// rows) equals the scalar reference bit for bit, with a bias, with 1 or 2 threads (tasks of 32 rows).
void check_large_equals_ref(DType type, const std::vector<BlockVariant>& vs, BlockGemmFn large, size_t rowlane_m,
                            uint64_t seed) {
  const BlockVariant* relaxed = relaxed_of(vs);
  if (!relaxed) return;
  const BlockVariant large_v{"wasm_relaxed_large", large, type};
  CHECK(check_bitwise_equals_ref(type, vs, large_v, 1, seed) > 20);
  // The variant itself: a lone row after whole 4-row tiles (M = 5, 9) runs on the few-row path
  // (checked against the reference's float bound in check_format).
#if defined(__wasm_relaxed_simd__)
  CHECK(check_bitwise_equals_ref(type, vs, *relaxed, rowlane_m, seed + 500, rowlane_rows) > 5);
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

TEST_CASE("relaxed SIMD row-lane kernel: equal to the scalar reference bit for bit", "[kernels][relaxed]") {
#if defined(__wasm_relaxed_simd__)
  check_large_equals_ref(DType::Q4_0, q4_0_variants(), &q4_0_gemm_wasm_relaxed_large, kQ4RelaxedRowLaneM, 900);
  // Both forms of the Q4_0 row-lane kernel, whichever this engine runs: exact on every engine (only
  // their speed depends on the dot kind).
  const BlockVariant i16{"wasm_relaxed_large_i16", &q4_0_gemm_wasm_relaxed_large_i16, DType::Q4_0};
  const BlockVariant dot{"wasm_relaxed_large_dot", &q4_0_gemm_wasm_relaxed_large_dot, DType::Q4_0};
  CHECK(check_bitwise_equals_ref(DType::Q4_0, q4_0_variants(), i16, 1, 950) > 20);
  CHECK(check_bitwise_equals_ref(DType::Q4_0, q4_0_variants(), dot, 1, 960) > 20);
  check_large_equals_ref(DType::Q8_0, q8_0_variants(), &q8_0_gemm_wasm_relaxed_large, kQ8RelaxedRowLaneM, 1900);
#else
  check_large_equals_ref(DType::Q4_0, q4_0_variants(), nullptr, 3, 900);
#endif
}

// The dot-kind probe (wasm_relaxed_dot_kind) says what this engine's relaxed int8 dot computes on
// operands beyond the 7-bit range, checked on random full-range bytes; the kind decides whether the
// vision tower's Q4_0 weights (LinearRows::kMany) are widened to XNNPACK's int8 form, which stays
// close to the scalar reference.
TEST_CASE("relaxed SIMD: the probed dot kind is what the engine's dots compute, and picks the Q4_0 form for many rows", "[kernels][relaxed]") {
#if !defined(__wasm_relaxed_simd__)
  WARN("not a relaxed-SIMD build: nothing to test");
#else
  const std::string kind = wasm_relaxed_dot_kind();
  INFO("dot kind: " << kind);
  Rng rng(4242);
  int compared = 0;
  for (int trial = 0; trial < 200; ++trial) {
    alignas(16) int8_t a[16], b[16];
    for (int i = 0; i < 16; ++i) {
      a[i] = static_cast<int8_t>(static_cast<int>(rng.next() % 256) - 128);
      b[i] = static_cast<int8_t>(static_cast<int>(rng.next() % 256) - 128);
    }
    alignas(16) int32_t got[4];
    wasm_v128_store(got, wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(a), wasm_v128_load(b), wasm_i32x4_splat(7)));
    for (int l = 0; l < 4; ++l) {
      int32_t want = 7;
      for (int pair = 0; pair < 2; ++pair) {
        int32_t s = 0;
        for (int j = 0; j < 2; ++j) {
          const int i = 4 * l + 2 * pair + j;
          s += a[i] * (kind == "sdot" ? static_cast<int32_t>(b[i]) : static_cast<int32_t>(static_cast<uint8_t>(b[i])));
        }
        if (kind == "saturating") s = std::max(-32768, std::min(32767, s));
        want += s;
      }
      if (kind == "other") continue;
      CHECK(got[l] == want);
      ++compared;
    }
  }
  if (kind == "other") WARN("this engine's relaxed dot matches none of the known kinds: only the routing is checked");
  else CHECK(compared == 800);

  // Routing and accuracy of a many-row Q4_0 linear.
  const BlockWeight w = make_weight(DType::Q4_0, 40, 96, 7);
  LinearOptions many, narrow, ref;
  many.rows = narrow.rows = LinearRows::kMany;
  narrow.widen_q4_many = false;
  ref.backend = LinearBackend::kReference;
  auto km = make_linear(w.view(), nullptr, many);
  auto kn = make_linear(w.view(), nullptr, narrow);
  auto kr = make_linear(w.view(), nullptr, ref);
  REQUIRE(km.ok());
  REQUIRE(kn.ok());
  REQUIRE(kr.ok());
  const bool wide = wasm_relaxed_dot_is_int8();
  CHECK(wide == (kind == "usdot" || kind == "sdot"));
  // The int8 form runs on our int8-rows kernel where the dot is "usdot" (relaxed variant) or not a
  // full int8 dot (SIMD128 variant), on XNNPACK's qc8w where it is "sdot".
  const bool own = kind != "sdot";
  CHECK((km.value()->describe().find("own int8 rows wasm_relaxed") != std::string::npos) == (kind == "usdot"));
  CHECK((km.value()->describe().find("own int8 rows wasm_simd128") != std::string::npos) == !wide);
  CHECK((km.value()->describe().find("qd8-f32-qc8w") != std::string::npos) == !own);
  CHECK(kn.value()->describe().find("qd8-f32-qc8w") == std::string::npos);
  CHECK((linear_kernel_config().find("many=own_i8rows") != std::string::npos) == own);
  CHECK((linear_kernel_config().find("many=xnnpack_qc8w") != std::string::npos) == !own);
  CHECK(estimate_linear_bytes(DType::Q4_0, 40, 96, false, many) == km.value()->memory_bytes());
  CHECK(km.value()->memory_bytes() > kn.value()->memory_bytes());
  ThreadPool pool(2);
  const auto x = make_x(257, 96, 2);
  std::vector<float> y(257 * 40), yr(257 * 40);
  REQUIRE(km.value()->forward(x.data(), 257, y.data(), pool).ok());
  REQUIRE(kr.value()->forward(x.data(), 257, yr.data(), pool).ok());
  // Rigorous per-output bound of the int8 form (as in test_kernels.cpp's qd8_bound): weights on a
  // per-row grid of step s_w (error <= s_w / 2), activations on a per-row grid of step s_x.
  for (size_t i = 0; i < 257; ++i) {
    const float* xr = &x[i * 96];
    double xmin = 0, xmax = 0;
    for (size_t j = 0; j < 96; ++j) xmin = std::min<double>(xmin, xr[j]), xmax = std::max<double>(xmax, xr[j]);
    const double sx = (xmax - xmin) / 255.0;
    for (size_t o = 0; o < 40; ++o) {
      const double* row = &w.value[o * 96];
      double lo = 0, hi = 0, we = 0, wabs = 0, xw = 0;
      for (size_t j = 0; j < 96; ++j) lo = std::min(lo, row[j]), hi = std::max(hi, row[j]);
      const double ew = std::max(hi / 127, -lo / 128) * 0.5 * (1 + 1e-4);
      for (size_t j = 0; j < 96; ++j) {
        we += std::fabs(xr[j]) * ew;
        wabs += std::fabs(row[j]) + ew;
        xw += std::fabs(xr[j] * row[j]);
      }
      CHECK(std::fabs(y[i * 40 + o] - yr[i * 40 + o]) <= we + 0.5 * sx * wabs * (1 + 1e-3) + 1e-5 * (xw + 1e-6));
    }
  }
#endif
}

// The int8-rows kernel's relaxed variant (engines with a "usdot" relaxed dot) against its scalar
// reference: identical outputs on awkward shapes and extreme operands (tests/i8rows_exact.h).
TEST_CASE("relaxed SIMD int8-rows kernel: equal to the scalar reference bit for bit", "[kernels][relaxed]") {
#if !defined(__wasm_relaxed_simd__)
  WARN("not a relaxed-SIMD build: nothing to test");
#else
  const auto& vs = i8rows_variants();
  const std::string kind = wasm_relaxed_dot_kind();
  if (kind != "usdot") {  // "sdot": XNNPACK's sdot kernels; otherwise the SIMD128 variant
    CHECK(vs.size() == (kind == "sdot" ? 1u : 2u));
    CHECK(std::string(vs.back().name) == (kind == "sdot" ? "ref" : "wasm_simd128"));
    if (vs.size() == 2) {
      ThreadPool pool(2);
      CHECK(i8rows_outputs_differing(vs.back(), pool) == 0);
    }
    WARN("relaxed dot kind " << kind << ": no relaxed int8-rows variant on this engine (the SIMD128 one checked)");
    return;
  }
  REQUIRE(vs.size() == 2);
  REQUIRE(std::string(vs.back().name) == "wasm_relaxed");
  ThreadPool pool(2);
  CHECK(i8rows_outputs_differing(vs.back(), pool) == 0);
#endif
}
