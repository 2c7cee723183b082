// Own Q8_0 kernel tests (shared fixture: kernels_block_fixture.h): every ISA variant of this build
// against the scalar reference on awkward shapes (M = 1, 2, 5, 45, 257; K with block tails of the
// 4-block groups), the reference against a float64 dequantize-then-dot with bounds from float
// rounding and the int8 activation step, thread-count invariance and bias, malformed weights.
#include "kernels/q8_0.h"
#include "kernels_block_fixture.h"

using namespace mblip;
using namespace mblip_test;

TEST_CASE("Q8_0 kernel: every ISA variant equals the scalar reference, reference equals float64", "[kernels]") {
  check_variants(DType::Q8_0, q8_0_variants(), awkward_shapes(1408, 33), 300);
}

TEST_CASE("Q8_0 kernel: bias, thread-count invariance, dispatch through make_linear", "[kernels]") {
  const size_t m = 5, k = 160, n = 100;
  const BlockWeight w = make_weight(DType::Q8_0, n, k, 77);
  const auto x = make_x(m, k, 78);
  std::vector<float> bias(n);
  for (size_t i = 0; i < n; ++i) bias[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  check_bias_and_threads(w, q8_0_variants(), x, m, bias);
  // make_linear's Q8_0 path on this target, against the float64 product with the bound of its
  // quantization: own kernel: the activation step d_x / 2 per block of 32 (plus float rounding);
  // XNNPACK qd8-f32-qc8w: one asymmetric activation scale per row (range / 255) and the weights
  // requantized to one scale per output row (max|w_row| / 127).
  const TensorView bv = bias_view(bias);
  auto auto_k = make_linear(w.view(), &bv);
  REQUIRE(auto_k.ok());
  const bool own = auto_k.value()->describe().find("own q8_0") != std::string::npos;
  INFO("make_linear chose: " << auto_k.value()->describe());
  ThreadPool p2(2);
  std::vector<float> y(m * n);
  REQUIRE(auto_k.value()->forward(x.data(), m, y.data(), p2).ok());
  Q8Acts a;
  quantize_acts_q8(x.data(), m, k, (k / 32 + 3) / 4 * 4, a);
  for (size_t i = 0; i < m; ++i) {
    double lo = 0, hi = 0;
    for (size_t j = 0; j < k; ++j) {
      lo = std::min(lo, static_cast<double>(x[i * k + j]));
      hi = std::max(hi, static_cast<double>(x[i * k + j]));
    }
    for (size_t o = 0; o < n; ++o) {
      double t = bias[o], sa = 0, own_b = 0, row_b = 0, wmax = 0;
      for (size_t j = 0; j < k; ++j) wmax = std::max(wmax, std::fabs(w.value[o * k + j]));
      for (size_t j = 0; j < k; ++j) {
        const double wv = w.value[o * k + j], xv = x[i * k + j];
        t += xv * wv;
        sa += std::fabs(xv * wv);
        own_b += (0.5 * a.row_d(i)[j / 32] + 4 * kU * std::fabs(xv)) * std::fabs(wv);
        row_b += 0.5 * (hi - lo) / 255 * (std::fabs(wv) + 0.5 * wmax / 127) + std::fabs(xv) * 0.5 * wmax / 127;
      }
      const double bound = (own ? own_b : row_b) + 2 * float_bound(k / 32, sa) + 1e-6 * std::fabs(t);
      INFO("output " << i << "," << o);
      REQUIRE(std::fabs(t - y[i * n + o]) <= bound);
    }
  }
}

TEST_CASE("Q8_0 kernel rejects malformed weights with a message", "[kernels]") {
  check_malformed(DType::Q8_0, q8_0_variants().back());
}

// The SIMD128 variant (wasm builds; natively there is none and nothing runs) sums exact integers on
// every path (few-row and, when MBLIP_Q8_KERNEL=own picks it for many rows, the same driver).
TEST_CASE("Q8_0 SIMD128 kernel: extreme weights and activations give the exact integer sums", "[kernels]") {
  if (const BlockVariant* simd = find_variant(q8_0_variants(), "wasm_simd128")) check_extremes(DType::Q8_0, *simd);
}
