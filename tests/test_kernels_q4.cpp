// Own Q4_0 kernel tests (shared fixture: kernels_block_fixture.h): the activation quantizer against
// its definition, every ISA variant of this build against the scalar reference (odd shapes, block
// tails), the reference against a float64 dequantize-then-dot with bounds derived from float rounding
// and the int8 activation step, thread-count invariance, and the make_linear dispatch for Q4_0.
#include "kernels/q4_0.h"
#include "kernels_block_fixture.h"

using namespace mblip;
using namespace mblip_test;

// The quantizer's bytes equal a direct transcription of its definition (float ops, round half to
// even via std::nearbyint) on finite values of every magnitude, for any row count and thread count,
// reusing one Q8Acts across calls of different shapes (stale padding would show): this covers the
// SIMD128 form in the wasm build and the parallel row split.
TEST_CASE("q8 activation blocks: identical to the definition for any rows, threads and reuse", "[kernels]") {
  Q8Acts a;
  ThreadPool pool1(1), pool2(2);
  for (const auto& [m, k] : std::vector<std::pair<size_t, size_t>>{{257, 1408}, {1, 96}, {3, 6144}, {45, 2048}, {2, 32}}) {
    const size_t nb = k / 32, nbp = (nb + 3) / 4 * 4;
    std::vector<float> x = make_x(m, k, 5 + m);
    for (size_t i = 0; i < x.size(); i += 37) x[i] *= 1e30f;  // huge
    for (size_t i = 3; i < x.size(); i += 41) x[i] *= 1e-40f;  // subnormal
    for (size_t i = 0; i < std::min<size_t>(64, x.size()); ++i) x[i] = 0.f;  // all-zero blocks
    if (x.size() > 70) x[70] = -0.f, x[69] = 0.5f * (x[68] = 127.f);  // a tie at the block's max
    for (ThreadPool* pool : {&pool1, &pool2}) {
      quantize_acts_q8(x.data(), m, k, nbp, a, pool);
      REQUIRE(a.m == m);
      REQUIRE(a.q.size() >= m * nbp * 32);
      size_t bad = 0;
      for (size_t i = 0; i < m; ++i)
        for (size_t b = 0; b < nbp; ++b) {
          float amax = 0.f;
          for (size_t j = 0; b < nb && j < 32; ++j) amax = std::max(amax, std::fabs(x[i * k + b * 32 + j]));
          const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;
          int32_t sum = 0;
          for (size_t j = 0; j < 32; ++j) {
            const int q = b < nb ? static_cast<int>(std::min(127.f, std::max(-127.f, std::nearbyint(x[i * k + b * 32 + j] * id)))) : 0;
            sum += q;
            bad += a.row_q(i)[b * 32 + j] != q;
          }
          bad += a.row_d(i)[b] != d;
          bad += a.row_s(i)[b] != sum;
        }
      INFO("m=" << m << " k=" << k << " threads=" << pool->threads());
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("q8 activation blocks: round-half-even of x / (max|x| / 127), sums, zero padding", "[kernels]") {
  const size_t k = 96, nbp = 4;
  std::vector<float> x = make_x(3, k, 11);
  x[5] = 127.f / 254.f;  // ties are possible only at exact halves; the bound below covers them
  Q8Acts a;
  quantize_acts_q8(x.data(), 3, k, nbp, a);
  REQUIRE(a.q.size() == 3 * nbp * 32);
  for (size_t i = 0; i < 3; ++i)
    for (size_t b = 0; b < nbp; ++b) {
      int32_t s = 0;
      double amax = 0;
      for (size_t j = 0; j < 32; ++j) {
        s += a.row_q(i)[b * 32 + j];
        if (b < k / 32) amax = std::max(amax, std::fabs(static_cast<double>(x[i * k + b * 32 + j])));
      }
      CHECK(a.row_s(i)[b] == s);
      if (b >= k / 32) {  // padding block
        CHECK(a.row_d(i)[b] == 0.f);
        CHECK(s == 0);
        continue;
      }
      const double d = a.row_d(i)[b];
      CHECK(std::fabs(d - amax / 127) <= amax / 127 * kU);
      for (size_t j = 0; j < 32; ++j) {
        const int q = a.row_q(i)[b * 32 + j];
        CHECK(std::abs(q) <= 127);
        CHECK(std::fabs(q * d - x[i * k + b * 32 + j]) <= 0.5 * d + 4 * kU * amax);
      }
    }
}

TEST_CASE("Q4_0 kernel: every ISA variant equals the scalar reference, reference equals float64", "[kernels]") {
  check_variants(DType::Q4_0, q4_0_variants(), awkward_shapes(2048, 257), 100);
}

TEST_CASE("Q4_0 kernel: bias, thread-count invariance, dispatch through make_linear", "[kernels]") {
  const size_t m = 5, k = 160, n = 100;
  const BlockWeight w = make_weight(DType::Q4_0, n, k, 77);
  const auto x = make_x(m, k, 78);
  std::vector<float> bias(n);
  for (size_t i = 0; i < n; ++i) bias[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  check_bias_and_threads(w, q4_0_variants(), x, m, bias);
  // make_linear picks a Q4_0 path for this target (docs/model-file.md): whatever it is, it must be
  // within the activation-quantization bound plus the qb4w clamp allowance of the XNNPACK path.
  const TensorView bv = bias_view(bias);
  auto auto_k = make_linear(w.view(), &bv);
  REQUIRE(auto_k.ok());
  INFO("make_linear chose: " << auto_k.value()->describe());
  ThreadPool p2(2);
  std::vector<float> y(m * n);
  REQUIRE(auto_k.value()->forward(x.data(), m, y.data(), p2).ok());
  double max_ref = 0, max_err = 0;
  for (size_t i = 0; i < m; ++i)
    for (size_t o = 0; o < n; ++o) {
      double t = bias[o];
      for (size_t j = 0; j < k; ++j) t += static_cast<double>(x[i * k + j]) * w.value[o * k + j];
      max_ref = std::max(max_ref, std::fabs(t));
      max_err = std::max(max_err, std::fabs(t - y[i * n + o]));
    }
  // Own kernel: activation step only (measured < 1%); XNNPACK qb4w (native dispatch for now): plus
  // the clamp of one value per block with d < 0, measured 8.4% of max|y| on this data.
  const bool own = auto_k.value()->describe().find("own q4_0") != std::string::npos;
  CHECK(max_err <= (own ? 2e-2 : 1.2e-1) * max_ref);
#if defined(__EMSCRIPTEN__)
  // XNNPACK qb4w is scalar in wasm: the own kernel, on the fastest variant of the build.
  CHECK(auto_k.value()->describe() == std::string("own q4_0 ") + q4_0_variants().back().name + " (q8 blocks of 32)");
#endif
}

TEST_CASE("Q4_0 kernel rejects malformed weights with a message", "[kernels]") {
  check_malformed(DType::Q4_0, q4_0_variants().back());
}

// The SIMD128 variant's path for 8 rows and more (the row-lane kernel, kernels/block_int8_rowlane_wasm.h)
// sums exact integers and does the scalar reference's float work in its order: bit-identical outputs,
// on awkward shapes (rows not a multiple of the 4-row tile, outputs not of the 4-row one, one block), with a bias,
// at 1 and 2 threads. Natively there is no SIMD128 variant: the test then has nothing to run.
TEST_CASE("Q4_0 SIMD128 kernel at M >= 8 equals the scalar reference bit for bit", "[kernels]") {
  const BlockVariant* simd = find_variant(q4_0_variants(), "wasm_simd128");
  if (!simd) return;
  CHECK(check_bitwise_equals_ref(DType::Q4_0, q4_0_variants(), *simd, 8, 4200) >= 8);
}

// The SIMD128 variant (wasm builds; natively there is none and nothing runs) sums exact integers on
// every path: its few-row kernel scales the weights by a power of two inside int16 lanes.
TEST_CASE("Q4_0 SIMD128 kernel: extreme weights and activations give the exact integer sums", "[kernels]") {
  if (const BlockVariant* simd = find_variant(q4_0_variants(), "wasm_simd128")) check_extremes(DType::Q4_0, *simd);
}
