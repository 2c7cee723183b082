// fp16 conversion against known IEEE binary16 encodings, and ggml Q8_0 / Q4_0 block layouts:
// exact results on crafted blocks, error bounds derived from the format on random data, the
// converter's min-error Q4_0 against an independent ggml rule (never worse, per block); the
// conversion recipe (per-tensor rules, full-size bytes) and the --dequantized round trip.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "convert/convert.h"
#include "convert/recipe.h"
#include "io/gguf.h"
#include "io/quant.h"
#include "support/golden.h"
#include "support/models.h"
#include "synth/synth_fill.h"

using namespace mblip;

namespace {
float bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t d_of(const std::vector<uint8_t>& blk, size_t b, size_t stride) {
  return uint16_t(blk[b * stride] | (blk[b * stride + 1] << 8));
}
}  // namespace

TEST_CASE("quant: fp32 -> fp16 known IEEE encodings and ties-to-even", "[quant]") {
  CHECK(fp32_to_fp16(1.0f) == 0x3C00);
  CHECK(fp32_to_fp16(-2.0f) == 0xC000);
  CHECK(fp32_to_fp16(0.0f) == 0x0000);
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);
  CHECK(fp32_to_fp16(0.5f) == 0x3800);
  CHECK(fp32_to_fp16(65504.0f) == 0x7BFF);              // largest finite
  CHECK(fp32_to_fp16(65519.996f) == 0x7BFF);            // below the halfway point
  CHECK(fp32_to_fp16(65520.0f) == 0x7C00);              // tie between 65504 and 65536 -> even = inf
  CHECK(fp32_to_fp16(1e6f) == 0x7C00);
  CHECK(fp32_to_fp16(-1e6f) == 0xFC00);
  CHECK(fp32_to_fp16(INFINITY) == 0x7C00);
  CHECK(fp32_to_fp16(-INFINITY) == 0xFC00);
  const uint16_t nan = fp32_to_fp16(NAN);
  CHECK((nan & 0x7C00) == 0x7C00);
  CHECK((nan & 0x03FF) != 0);
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(fp32_to_fp16(std::ldexp(1023.0f, -24)) == 0x03FF);  // largest subnormal
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);  // tie -> even (0)
  CHECK(fp32_to_fp16(std::ldexp(1.0f, -25) * 1.0001f) == 0x0001);
  CHECK(fp32_to_fp16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 units -> 2 (even)
  CHECK(fp32_to_fp16(std::ldexp(5.0f, -25)) == 0x0002);  // 2.5 units -> 2 (even)
  CHECK(fp32_to_fp16(std::ldexp(2047.0f, -25)) == 0x0400);  // 1023.5 units rounds up into the normals
  CHECK(fp32_to_fp16(-std::ldexp(1.0f, -24)) == 0x8001);
  CHECK(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // tie -> even
  CHECK(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // tie -> even (up)
  CHECK(fp32_to_fp16(bits(0x3F801001)) == 0x3C01);                  // just above a tie
  CHECK(fp32_to_fp16(0.1f) == 0x2E66);
  CHECK(fp32_to_fp16(1.0f / 3.0f) == 0x3555);
  CHECK(fp32_to_fp16(bits(0x33000001)) == 0x0001);  // just above 2^-25
}

TEST_CASE("quant: fp16 -> fp32 is exact and every half value round-trips", "[quant]") {
  CHECK(fp16_to_fp32(0x3C00) == 1.0f);
  CHECK(fp16_to_fp32(0x7BFF) == 65504.0f);
  CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(fp16_to_fp32(0x03FF) == std::ldexp(1023.0f, -24));
  CHECK(fp16_to_fp32(0x0400) == std::ldexp(1.0f, -14));
  CHECK(std::signbit(fp16_to_fp32(0x8000)));
  CHECK(std::isinf(fp16_to_fp32(0x7C00)));
  CHECK(std::isinf(fp16_to_fp32(0xFC00)));
  CHECK(fp16_to_fp32(0xFC00) < 0);
  CHECK(std::isnan(fp16_to_fp32(0x7E00)));
  CHECK(std::isnan(fp16_to_fp32(0x7C01)));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(uint16_t(h));
    if (std::isnan(f)) {
      CHECK(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
      continue;
    }
    if (fp32_to_fp16(f) != h) FAIL("half 0x" << std::hex << h << " does not round-trip");
    // Value check independent of the bit code: sign * mantissa * 2^exp.
    const int e = (h >> 10) & 31, m = h & 1023;
    if (e != 31) {
      const float expect = (h & 0x8000 ? -1.0f : 1.0f) * (e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(1024 + m), e - 25));
      if (f != expect) FAIL("half 0x" << std::hex << h << " decodes wrong");
    }
  }
  // Rounding of arbitrary floats is to the nearest half value (ties checked above).
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-70000.0f, 70000.0f);
  for (int k = 0; k < 20000; ++k) {
    const float x = k % 2 ? u(rng) : u(rng) * 1e-6f;
    const uint16_t h = fp32_to_fp16(x);
    const float y = fp16_to_fp32(h);
    if (std::isinf(y)) {
      CHECK(std::fabs(x) >= 65520.0f);
      continue;
    }
    const float up = fp16_to_fp32(uint16_t(h + 1)), down = fp16_to_fp32(uint16_t(h == 0x8000 ? 0 : h - 1));
    if (!(std::fabs(x - y) <= std::fabs(x - up) && std::fabs(x - y) <= std::fabs(x - down)))
      FAIL("not nearest for " << x);
  }
}

TEST_CASE("quant: Q8_0 crafted blocks decode exactly, layout as ggml", "[quant]") {
  const float d = 0.0625f;  // power of two: amax/127 = d exactly, x * (1/d) exact
  std::vector<float> x(64);
  for (int j = 0; j < 64; ++j) x[size_t(j)] = float((j * 37) % 255 - 127) * d;
  x[5] = 127 * d;  // amax of block 0
  x[40] = -127 * d;  // amax of block 1 (negative)
  std::vector<uint8_t> q(68);
  quantize_row(DType::Q8_0, x.data(), q.data(), 64);
  CHECK(d_of(q, 0, 34) == 0x2C00);  // f16(0.0625)
  CHECK(d_of(q, 1, 34) == 0x2C00);
  CHECK(int8_t(q[2 + 5]) == 127);
  CHECK(int8_t(q[34 + 2 + 8]) == -127);
  for (int j = 0; j < 32; ++j) CHECK(int8_t(q[size_t(2 + j)]) == int(std::lround(x[size_t(j)] / d)));
  std::vector<float> y(64);
  dequantize_row(DType::Q8_0, q.data(), y.data(), 64);
  CHECK(y == x);

  // All-zero block: d = 0, all codes 0, decodes to zeros.
  std::vector<float> z(32, 0.0f), zy(32, 1.0f);
  std::vector<uint8_t> zq(34, 0xff);
  quantize_row(DType::Q8_0, z.data(), zq.data(), 32);
  CHECK(std::all_of(zq.begin(), zq.end(), [](uint8_t b) { return b == 0; }));
  dequantize_row(DType::Q8_0, zq.data(), zy.data(), 32);
  CHECK(zy == z);

  // Rounding is half away from zero (roundf): 0.5 d -> 1, -0.5 d -> -1, 1.5 d -> 2.
  std::vector<float> h(32, 0.0f);
  h[0] = 127 * d; h[1] = 0.5f * d; h[2] = -0.5f * d; h[3] = 1.5f * d; h[4] = 2.5f * d;
  quantize_row(DType::Q8_0, h.data(), zq.data(), 32);
  CHECK(int8_t(zq[3]) == 1);
  CHECK(int8_t(zq[4]) == -1);
  CHECK(int8_t(zq[5]) == 2);
  CHECK(int8_t(zq[6]) == 3);
}

TEST_CASE("quant: Q4_0 crafted blocks decode exactly, nibble layout as ggml", "[quant]") {
  // max = +2.0 (largest magnitude, positive) -> d = 2 / -8 = -0.25; x = (q - 8) * d.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = float((j * 5) % 16 - 8) * -0.25f;
  x[0] = 2.0f;  // q = 0
  std::vector<uint8_t> q(18);
  quantize_row(DType::Q4_0, x.data(), q.data(), 32);
  CHECK(d_of(q, 0, 18) == 0xB400);  // f16(-0.25)
  for (int j = 0; j < 16; ++j) {
    const int lo = (j * 5) % 16, hi = ((j + 16) * 5) % 16;
    CHECK(q[size_t(2 + j)] == uint8_t((j == 0 ? 0 : lo) | (hi << 4)));
  }
  std::vector<float> y(32);
  dequantize_row(DType::Q4_0, q.data(), y.data(), 32);
  CHECK(y == x);

  // The clamp: with max = -8 (d = 1), the value +8 would be code 16 and is stored as 15 (-> 7).
  std::vector<float> c(32, 0.0f);
  c[0] = -8.0f; c[1] = 8.0f; c[2] = 7.4f; c[3] = -0.6f;
  quantize_row(DType::Q4_0, c.data(), q.data(), 32);
  CHECK(d_of(q, 0, 18) == 0x3C00);
  dequantize_row(DType::Q4_0, q.data(), y.data(), 32);
  CHECK(y[0] == -8.0f);
  CHECK(y[1] == 7.0f);
  CHECK(y[2] == 7.0f);   // trunc(7.4 + 8.5) = 15
  CHECK(y[3] == -1.0f);  // trunc(-0.6 + 8.5) = 7 -> -1
  CHECK(y[4] == 0.0f);
}

TEST_CASE("quant: Q8_0 / Q4_0 / F16 random data within the format's error bounds", "[quant]") {
  std::mt19937 rng(42);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 32 * 512;
  for (float scale : {1.0f, 1e-3f, 1e-6f, 300.0f}) {
    INFO("scale " << scale);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = nd(rng) * scale;
    x[7] = 0.0f;
    std::vector<uint8_t> q8(static_cast<size_t>(n / 32 * 34)), q4(static_cast<size_t>(n / 32 * 18)), h(static_cast<size_t>(n * 2));
    const size_t nn = static_cast<size_t>(n);
    std::vector<float> y8(nn), y4(nn), yh(nn);
    quantize_row(DType::Q8_0, x.data(), q8.data(), n);
    quantize_row(DType::Q4_0, x.data(), q4.data(), n);
    quantize_row(DType::F16, x.data(), h.data(), n);
    dequantize_row(DType::Q8_0, q8.data(), y8.data(), n);
    dequantize_row(DType::Q4_0, q4.data(), y4.data(), n);
    dequantize_row(DType::F16, h.data(), yh.data(), n);
    double worst8 = 0, worst4 = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0, mx = 0;
      for (int j = 0; j < 32; ++j) {
        const float v = x[size_t(b * 32 + j)];
        if (std::fabs(v) > amax) { amax = std::fabs(v); mx = v; }
      }
      const float b8 = q8_0_error_bound(amax), b4 = q4_0_error_bound(amax), b4u = q4_0_unclamped_error_bound(amax);
      for (int j = 0; j < 32; ++j) {
        const size_t k = size_t(b * 32 + j);
        const float e8 = std::fabs(x[k] - y8[k]), e4 = std::fabs(x[k] - y4[k]);
        worst8 = std::max(worst8, double(e8 / b8));
        worst4 = std::max(worst4, double(e4 / b4));
        if (e8 > b8) FAIL("Q8_0 error " << e8 << " > bound " << b8);
        if (e4 > b4) FAIL("Q4_0 error " << e4 << " > bound " << b4);
        if (x[k] / (mx / -8.0f) <= 7.5f && e4 > b4u) FAIL("Q4_0 unclamped error " << e4 << " > " << b4u);
      }
    }
    CHECK(worst8 > 0.3);  // the bounds are not vacuous
    CHECK(worst4 > 0.3);
    for (int64_t k = 0; k < n; ++k) {
      const float ax = std::fabs(x[size_t(k)]);
      // f16: half an ulp relative (normals) or 2^-25 absolute (subnormals).
      const float bound = std::max(ax * 0x1p-11f, 0x1p-25f);
      if (std::fabs(x[size_t(k)] - yh[size_t(k)]) > bound) FAIL("f16 error too large at " << k);
    }
  }
  // Deterministic: same input, same bytes.
  std::vector<float> x(64);
  for (auto& v : x) v = nd(rng);
  std::vector<uint8_t> a(36), b(36);
  quantize_row(DType::Q4_0, x.data(), a.data(), 64);
  quantize_row(DType::Q4_0, x.data(), b.data(), 64);
  CHECK(a == b);
}

TEST_CASE("quant: non-finite inputs do not crash", "[quant]") {
  std::vector<float> x(32, 1.0f);
  x[3] = NAN;
  x[4] = INFINITY;
  std::vector<uint8_t> q8(34), q4(18);
  std::vector<float> y(32);
  quantize_row(DType::Q8_0, x.data(), q8.data(), 32);
  quantize_row(DType::Q4_0, x.data(), q4.data(), 32);
  dequantize_row(DType::Q8_0, q8.data(), y.data(), 32);
  dequantize_row(DType::Q4_0, q4.data(), y.data(), 32);
  SUCCEED();
}

// --- quantize_row_weights: the converter's Q4_0, scales by least squared error (io/quant.h) ---

namespace {

// ggml's reference Q4_0 rule (quantize_row_q4_0_ref), written out here independently of
// core/src/io: d = max / -8 with max the first element of largest magnitude, code =
// min(15, trunc(x / d + 8.5)) (0 for a NaN or negative argument), d stored as f16. Returns the
// dequantized block.
void ggml_q4_0_dequantized(const float* x, float* y) {
  float amax = 0, mx = 0;
  for (int j = 0; j < 32; ++j)
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      mx = x[j];
    }
  const float d = mx / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  const float dh = fp16_to_fp32(fp32_to_fp16(d));
  for (int j = 0; j < 32; ++j) {
    const float t = x[j] * id + 8.5f;
    const int q = !(t > 0.0f) ? 0 : t >= 15.0f ? 15 : static_cast<int>(t);
    y[j] = static_cast<float>(q - 8) * dh;
  }
}

// Squared error of a block in double, summed in element order; inf if y has a non-finite value.
double block_sq_error(const float* x, const float* y) {
  double s = 0;
  for (int j = 0; j < 32; ++j) {
    if (!std::isfinite(y[j])) return INFINITY;
    const double e = double(x[j]) - double(y[j]);
    s += e * e;
  }
  return s;
}

// Blocks of 32: random (Gaussian and uniform at many scales) and adversarial (one outlier, all
// equal, all zero, one nonzero, grid values, near-ties, float subnormals, beyond f16's range).
std::vector<std::vector<float>> test_blocks() {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  std::vector<std::vector<float>> out;
  auto add = [&](std::vector<float> b) { out.push_back(std::move(b)); };
  for (float scale : {1.0f, 0.02f, 1e-3f, 1e-5f, 1e-6f, 1e-7f, 1e-30f, 1e-39f, 300.0f, 5e4f, 2e5f, 1e30f})
    for (int k = 0; k < 300; ++k) {
      std::vector<float> g(32), u(32);
      for (auto& v : g) v = nd(rng) * scale;
      for (auto& v : u) v = ud(rng) * scale;
      add(g);
      add(u);
      g[size_t(k % 32)] = (k % 2 ? 50.0f : -50.0f) * scale;  // one outlier, either sign
      add(g);
    }
  for (float c : {1.0f, -1.0f, 0.3f, 7.0f, -1e-5f, 3e-8f, 6e5f})
    add(std::vector<float>(32, c));
  add(std::vector<float>(32, 0.0f));
  for (int j = 0; j < 32; j += 7) {
    std::vector<float> one(32, 0.0f);
    one[size_t(j)] = j % 2 ? -0.7f : 0.7f;
    add(one);
  }
  for (int k = 0; k < 50; ++k) {  // values on a grid, and on the midpoints of one (near-ties)
    std::vector<float> g(32), t(32);
    const float d = 0.01f * float(k + 1);
    for (int j = 0; j < 32; ++j) {
      const int q = int(rng() % 16) - 8;
      g[size_t(j)] = float(q) * d;
      t[size_t(j)] = (float(q) + 0.5f) * d;
    }
    add(g);
    add(t);
  }
  return out;
}

}  // namespace

TEST_CASE("quant: min-error Q4_0 is never worse than ggml's rule, on every block", "[quant]") {
  const auto blocks = test_blocks();
  int better = 0, bounded = 0;
  double worst_ratio = 0;
  for (const auto& x : blocks) {
    uint8_t q[18];
    float y[32], g[32];
    quantize_row_weights(DType::Q4_0, x.data(), q, 32);
    dequantize_row(DType::Q4_0, q, y, 32);
    ggml_q4_0_dequantized(x.data(), g);
    const double e_new = block_sq_error(x.data(), y), e_ggml = block_sq_error(x.data(), g);
    INFO("block starting " << x[0] << ", " << x[1] << " (amax scale)");
    const float d = fp16_to_fp32(uint16_t(q[0] | (q[1] << 8)));
    if (!std::isfinite(d)) FAIL("stored scale is not finite: " << d);
    for (int j = 0; j < 32; ++j)
      if (!std::isfinite(y[j])) FAIL("dequantized value " << j << " is not finite");
    if (!(e_new <= e_ggml)) FAIL("squared error " << e_new << " > ggml's " << e_ggml);
    better += e_new < e_ggml ? 1 : 0;
    float amax = 0;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    if (amax <= 8.0f * 65504.0f) {  // ggml's worst case, which the search keeps (io/quant.h)
      const float bound = q4_0_error_bound(amax);
      for (int j = 0; j < 32; ++j) {
        const float e = std::fabs(x[size_t(j)] - y[j]);
        if (e > bound) FAIL("element " << j << ": error " << e << " > bound " << bound << " (amax " << amax << ")");
        if (amax > 1e-30f) worst_ratio = std::max(worst_ratio, double(e / bound));
      }
      ++bounded;
    }
  }
  CHECK(better > int(blocks.size()) / 2);  // the search finds a strictly better scale on most blocks
  CHECK(bounded > int(blocks.size()) * 3 / 4);
  CHECK(worst_ratio > 0.3);  // the bound is not vacuous

  // Crafted: one 8.5 and 31 x 7.0. ggml: d = -8.5/8 = -1.0625, the 7s decode to 7.4375 (error
  // 31 x 0.4375^2 = 5.93). The candidate -max/8.5 = -1 is exact for the 7s (-7) and leaves 0.5
  // on 8.5 (-8): 0.25; the least-squares refit for these codes, d = -(8 * 8.5 + 31 * 49) / (64 +
  // 31 * 49) = -1.002527, rounds to the f16 -(1 + 3/1024) (0xBC03): error 0.2402.
  std::vector<float> c(32, 7.0f);
  c[0] = 8.5f;
  uint8_t q[18];
  float y[32], g[32];
  quantize_row_weights(DType::Q4_0, c.data(), q, 32);
  dequantize_row(DType::Q4_0, q, y, 32);
  ggml_q4_0_dequantized(c.data(), g);
  CHECK(block_sq_error(c.data(), g) == Approx(31 * 0.4375 * 0.4375));
  CHECK(block_sq_error(c.data(), y) <= 0.25);
  CHECK(uint16_t(q[0] | (q[1] << 8)) == 0xBC03);
  CHECK(q[2] == 0x10);  // element 0: code -8 (nibble 0); element 16: code -7 (nibble 1)
  for (int j = 3; j < 18; ++j) CHECK(q[j] == 0x11);
  CHECK(block_sq_error(c.data(), y) == Approx(std::pow(8.5 - 8 * (1 + 3.0 / 1024), 2) +
                                                31 * std::pow(7 - 7 * (1 + 3.0 / 1024), 2)));
}

TEST_CASE("quant: min-error Q4_0 lowers the mean squared error, other types are quantize_row's", "[quant]") {
  std::mt19937 rng(12);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::uniform_real_distribution<float> ud(-0.05f, 0.05f);
  const int64_t n = 32 * 20000;
  for (int dist = 0; dist < 2; ++dist) {
    std::vector<float> x(static_cast<size_t>(n)), y(x.size()), g(32);
    for (auto& v : x) v = dist == 0 ? nd(rng) : ud(rng);
    std::vector<uint8_t> q(static_cast<size_t>(n / 32 * 18));
    quantize_row_weights(DType::Q4_0, x.data(), q.data(), n);
    dequantize_row(DType::Q4_0, q.data(), y.data(), n);
    double e_new = 0, e_ggml = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
      ggml_q4_0_dequantized(x.data() + b * 32, g.data());
      e_new += block_sq_error(x.data() + b * 32, y.data() + b * 32);
      e_ggml += block_sq_error(x.data() + b * 32, g.data());
    }
    // Measured 2026-12-04: Gaussian 0.900, uniform 0.836 (bench: same on N(0, 1), U(-1, 1)).
    INFO((dist == 0 ? "Gaussian" : "uniform") << ": min-error / ggml squared error " << e_new / e_ggml);
    CHECK(e_new / e_ggml < (dist == 0 ? 0.93 : 0.87));
  }
  // Q8_0, F16, F32: byte for byte quantize_row.
  std::vector<float> x(64);
  for (auto& v : x) v = nd(rng);
  for (DType t : {DType::Q8_0, DType::F16, DType::F32}) {
    const size_t bytes = dtype_bytes(t, 64).value();
    std::vector<uint8_t> a(bytes), b(bytes);
    quantize_row(t, x.data(), a.data(), 64);
    quantize_row_weights(t, x.data(), b.data(), 64);
    CHECK(a == b);
  }
  // Non-finite inputs: no crash, ggml's bytes (the search needs finite blocks).
  x[3] = NAN;
  x[40] = INFINITY;
  std::vector<uint8_t> a(36), b(36);
  quantize_row(DType::Q4_0, x.data(), a.data(), 64);
  quantize_row_weights(DType::Q4_0, x.data(), b.data(), 64);
  CHECK(a == b);
}

// --- The conversion recipe (tools/convert/recipe.h) and the --dequantized measurement aid ---

namespace {
ExpectedTensor tensor(const std::string& name, std::vector<int64_t> shape, Component c, bool matrix) {
  ExpectedTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.component = c;
  t.is_matrix_weight = matrix;
  return t;
}
}  // namespace

TEST_CASE("quant: recipe globs, per-tensor rules and the CLI merge with the default", "[quant]") {
  CHECK(glob_match("t.*.ffn.wo", "t.enc.3.ffn.wo"));
  CHECK(glob_match("t.*.ffn.wo", "t.dec.23.ffn.wo"));
  CHECK_FALSE(glob_match("t.*.ffn.wo", "t.dec.23.ffn.wi0"));
  CHECK_FALSE(glob_match("t.*.ffn.wo", "t.enc.3.ffn.wox"));
  CHECK(glob_match("v.*.fc2.w", "v.38.fc2.w"));
  CHECK_FALSE(glob_match("v.*.fc2.w", "v.38.fc2.b"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("t.emb", "t.emb"));
  CHECK_FALSE(glob_match("t.emb", "t.emb2"));
  CHECK(glob_match("a*b*c", "aXbYbZc"));
  CHECK_FALSE(glob_match("a*b*c", "aXbYbZ"));

  const ExpectedTensor wo = tensor("t.dec.1.ffn.wo", {64, 128}, Component::kTextDecoder, true);
  const ExpectedTensor odd = tensor("t.dec.1.ffn.wi0", {100, 48}, Component::kTextDecoder, true);
  const ExpectedTensor norm = tensor("t.dec.1.ffn.ln", {64}, Component::kTextDecoder, false);
  Recipe r;
  REQUIRE(r.set_option("weights", "q4_0").ok());
  REQUIRE(r.set_option("text", "f16").ok());
  CHECK(r.type_for(wo) == DType::F16);  // component override
  REQUIRE(r.set_option("tensor", "t.*.ffn.wo=q8_0").ok());
  CHECK(r.type_for(wo) == DType::Q8_0);  // a rule beats the component
  REQUIRE(r.set_option("tensor", "t.dec.1.*=q4_0").ok());
  CHECK(r.type_for(wo) == DType::Q4_0);  // the last matching rule wins
  CHECK(r.type_for(norm) == DType::F32);  // never quantized
  REQUIRE(r.set_option("tensor", "t.dec.1.ffn.wi0=q8_0").ok());
  CHECK(r.choice_for(odd).type == DType::F16);  // 48 is not a multiple of 32
  CHECK_FALSE(r.choice_for(odd).note.empty());
  CHECK(r.describe() == "weights=q4_0 text_encoder=f16 text_decoder=f16 t.*.ffn.wo=q8_0 t.dec.1.*=q4_0 "
                        "t.dec.1.ffn.wi0=q8_0");
  CHECK(r.set_option("tensor", "t.*.ffn.wo").code() == StatusCode::kInvalidArgument);
  CHECK(r.set_option("tensor", "=q8_0").code() == StatusCode::kInvalidArgument);
  CHECK(r.set_option("tensor", "t.*=q5_0").code() == StatusCode::kInvalidArgument);

  CHECK(rule_may_match("t.*.sa.v", Component::kTextDecoder));
  CHECK(rule_may_match("t.*.sa.v", Component::kLmHead));  // conservative
  CHECK_FALSE(rule_may_match("t.dec.*.sa.v", Component::kTextEncoder));
  CHECK_FALSE(rule_may_match("v.*.fc2.w", Component::kQFormer));
  CHECK(rule_may_match("*", Component::kProjection));

  // Without --weights the CLIs start from the default; explicit component options replace the
  // default's rules on that component; with --weights only what was given counts.
  const Recipe d = default_recipe();
  Recipe given;
  REQUIRE(given.set_option("vision", "q8_0").ok());
  REQUIRE(given.set_option("tensor", "t.head=q8_0").ok());
  const Recipe merged = resolve_cli_recipe(given, false);
  CHECK(merged.weights == d.weights);
  const ExpectedTensor fc2 = tensor("v.3.fc2.w", {64, 128}, Component::kVision, true);
  const ExpectedTensor head = tensor("t.head", {8000, 64}, Component::kLmHead, true);
  CHECK(merged.type_for(fc2) == DType::Q8_0);
  CHECK(merged.type_for(head) == DType::Q8_0);
  for (const auto& rule : d.tensors)
    if (!rule_may_match(rule.first, Component::kVision)) {
      bool kept = false;
      for (const auto& m : merged.tensors) kept |= m == rule;
      CHECK(kept);
    }
  const Recipe exact = resolve_cli_recipe(given, true);
  CHECK(exact.weights == DType::F32);
  CHECK(exact.tensors.size() == 1);
}

TEST_CASE("quant: full-size bytes of the recipes (mblip-mt0-xl shapes), default within the 3.6 GB budget", "[quant]") {
  ModelConfig cfg;
  REQUIRE(synth::preset_config("full", cfg));
  // Independent count from the mt0-xl shapes: matrix weights at 18 (q4_0) / 34 (q8_0) bytes per
  // 32 values, everything else f32 (norms, biases, embeddings tables, patch conv).
  Recipe q4;
  q4.weights = DType::Q4_0;
  Recipe q8 = q4;
  q8.weights = DType::Q8_0;
  const uint64_t b4 = q4.tensor_bytes(cfg), b8 = q8.tensor_bytes(cfg);
  uint64_t matrix = 0, total_elems = 0;
  for (const auto& t : expected_tensors(cfg)) {
    int64_t n = 1;
    for (int64_t x : t.shape) n *= x;
    total_elems += static_cast<uint64_t>(n);
    if (t.is_matrix_weight) matrix += static_cast<uint64_t>(n);
  }
  CHECK(b8 - b4 == matrix / 32 * 16);  // q8_0 minus q4_0: 16 bytes per block
  CHECK(b4 == matrix / 32 * 18 + (total_elems - matrix) * 4);
  // mt0-xl: 4.8 B parameters, token embedding and head 250112 x 2048 each.
  CHECK(total_elems > 4'700'000'000ull);
  CHECK(total_elems < 5'000'000'000ull);
  Recipe emb8 = q4;
  REQUIRE(emb8.set_option("embeddings", "q8_0").ok());
  CHECK(emb8.tensor_bytes(cfg) - b4 == 250112ull * 2048 / 32 * 16);
  const uint64_t def = default_recipe().tensor_bytes(cfg);
  CHECK(def < 3'600'000'000ull - 16'000'000ull);  // room for metadata and the tokenizer
  CHECK(def > b4);
  // wasm32 load peak (api/memory_check.h): packed weights (~ the tensor bytes) + the raw bytes of
  // the largest tensor held while it is built + ~400 MB working memory must stay under 4 GiB.
  CHECK(q4.largest_tensor_bytes(cfg) == 250112ull * 2048 / 32 * 18);
  CHECK(emb8.largest_tensor_bytes(cfg) == 250112ull * 2048 / 32 * 34);
  CHECK(def + default_recipe().largest_tensor_bytes(cfg) + 400'000'000ull < (4ull << 30));
  // Relaxed-SIMD engines with a full int8 dot widen the ViT MLP's Q4_0 weights to int8 (14 more
  // bytes a block of 32) when the plan fits (kernels/linear.cpp): the raw bytes are released before
  // a Session reserves its working memory, so the larger of the two counts, and the widened plan fits.
  const uint64_t vit_mlp = 2ull * static_cast<uint64_t>(cfg.vision.num_layers * cfg.vision.hidden_size *
                                                        cfg.vision.intermediate_size);
  CHECK(def + vit_mlp / 32 * 14 + std::max<uint64_t>(default_recipe().largest_tensor_bytes(cfg), 400'000'000ull) <
        (4ull << 30));
}

TEST_CASE("quant: --dequantized stores Q8_0 / Q4_0 grid values as f32 within the format bounds", "[quant]") {
  MBLIP_REQUIRE_GOLDEN();
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    const std::string out = mblip_test::tmp_dir() + "/quant-deq-" + dtype_name(type) + "-" +
                            std::to_string(::getpid()) + ".gguf";
    ConvertOptions o;
    o.input_dir = mblip_test::golden_dir() + "/models/tiny-mt5";
    o.output_path = out;
    o.weights = type;
    o.store_dequantized = true;
    o.force = true;
    Status st = convert_checkpoint(o);
    INFO(st.to_string());
    REQUIRE(st.ok());
    auto fq = GgufFile::open_path(out);
    auto ff = GgufFile::open_path(mblip_test::golden_gguf("tiny-mt5", "f32"));
    REQUIRE(fq.ok());
    REQUIRE(ff.ok());
    CHECK(fq.value()->get_string("mblip.convert.recipe").value() ==
          std::string("weights=") + dtype_name(type) + " dequantized");
    int checked = 0;
    for (const auto& t : ff.value()->tensors()) {
      const GgufTensorInfo* q = fq.value()->tensor(t.view.name);
      REQUIRE(q);
      REQUIRE(q->view.type == DType::F32);
      const float* a = reinterpret_cast<const float*>(t.view.data);
      const float* b = reinterpret_cast<const float*>(q->view.data);
      const size_t n = static_cast<size_t>(t.view.numel());
      const bool matrix = t.view.shape.size() == 2 && t.view.name != "v.pos" && t.view.name != "q.query" &&
                          t.view.name.find("rel_bias") == std::string::npos;
      if (!matrix) {
        CHECK(std::memcmp(a, b, n * 4) == 0);  // non-matrix tensors are untouched
        continue;
      }
      bool changed = false;
      for (size_t i0 = 0; i0 < n; i0 += 32) {
        float amax = 0;
        for (size_t i = i0; i < i0 + 32; ++i) amax = std::max(amax, std::fabs(a[i]));
        // Q4_0 weights are the converter's (quantize_row_weights: least squared error per block,
        // within ggml's per-element bound).
        const float bound = type == DType::Q8_0 ? q8_0_error_bound(amax) : q4_0_error_bound(amax);
        // Every value of a block is an integer multiple of one common step (the block scale): the
        // largest |value| is 127 steps (Q8_0) or, for Q4_0, 8, 7 or 6 (amax/8.5 <= |d| <= amax/6.5).
        float top = 0;
        for (size_t i = i0; i < i0 + 32; ++i) {
          if (std::fabs(b[i] - a[i]) > bound) FAIL(t.view.name << "[" << i << "] " << b[i] << " vs " << a[i]);
          top = std::max(top, std::fabs(b[i]));
          changed |= b[i] != a[i];
        }
        bool on_grid = top == 0;
        for (float steps : type == DType::Q8_0 ? std::vector<float>{127.f} : std::vector<float>{8.f, 7.f, 6.f}) {
          bool all = top > 0;
          for (size_t i = i0; i < i0 + 32 && all; ++i) {
            const float k = b[i] / (top / steps);
            all = std::fabs(k - std::round(k)) <= 2e-3f;
          }
          on_grid |= all;
        }
        if (!on_grid) FAIL(t.view.name << "[" << i0 << "..] not on a grid of the block's scale");
      }
      CHECK(changed);
      ++checked;
    }
    CHECK(checked > 40);
    std::remove(out.c_str());
  }
}
