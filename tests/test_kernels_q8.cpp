// Own Q8_0 kernel tests: every ISA variant of this build against the scalar reference on awkward
// shapes (M = 1, 2, 5, 45, 257; K with block tails of the 4-block groups), the reference against a
// float64 dequantize-then-dot with bounds from float rounding and the int8 activation step,
// thread-count invariance and bias, malformed weights.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/linear.h"
#include "kernels/q8_0.h"
#include "kernels/thread_pool.h"

using namespace mblip;

namespace {

constexpr double kU = 0x1p-24;  // unit roundoff of float32

struct Rng {  // same sequence on every platform
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 2654435761u + 7) {}
  uint32_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s >> 33);
  }
  float uniform() { return static_cast<float>(next() & 0xFFFFFF) / 16777216.f * 2.f - 1.f; }
};

double half_value(uint16_t h) {  // independent decode: normals and zero
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double v = e == 0 ? 0.0 : std::ldexp(1.0 + m / 1024.0, e - 15);
  return (h & 0x8000) ? -v : v;
}

// A Q8_0 weight as ggml lays it out (f16 d, 32 int8): scales of both signs, ~3% all-zero blocks,
// the extremes -128 and 127 in every block (what a file may hold, beyond the quantizer's +-127).
struct Q8Weight {
  int64_t n, k;
  std::vector<uint8_t> bytes;
  std::vector<double> value;  // [n][k]
  TensorView view() const {
    TensorView v;
    v.name = "test.q8";
    v.type = DType::Q8_0;
    v.shape = {n, k};
    v.data = bytes.data();
    v.nbytes = bytes.size();
    return v;
  }
};

Q8Weight make_q8(int64_t n, int64_t k, uint64_t seed) {
  Rng r(seed);
  const size_t total = static_cast<size_t>(n * k), blocks = total / 32;
  Q8Weight w{n, k, std::vector<uint8_t>(blocks * 34, 0), std::vector<double>(total)};
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* blk = &w.bytes[b * 34];
    uint16_t d = 0;
    if (r.next() % 32 != 0) {
      const int e = 3 + static_cast<int>(r.next() % 3);
      d = static_cast<uint16_t>(((r.next() & 1) ? 0x8000 : 0) | (e << 10) | (r.next() & 0x3FF));
    }
    blk[0] = static_cast<uint8_t>(d & 0xFF);
    blk[1] = static_cast<uint8_t>(d >> 8);
    const size_t lo_at = r.next() % 32, hi_at = (lo_at + 1 + r.next() % 31) % 32;
    for (size_t j = 0; j < 32; ++j) {
      const int q = j == lo_at ? -128 : j == hi_at ? 127 : static_cast<int>(r.next() % 255) - 127;
      blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
      w.value[b * 32 + j] = half_value(d) * q;
    }
  }
  return w;
}

// Activations with the range of hidden states: mostly O(1), some large values, some zero blocks.
std::vector<float> make_x(size_t m, size_t k, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(m * k);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = r.uniform();
    if (r.next() % 97 == 0) x[i] *= 40.f;
  }
  for (size_t i = 0; i + 32 <= x.size(); i += 32)
    if (r.next() % 29 == 0) std::fill(x.begin() + static_cast<long>(i), x.begin() + static_cast<long>(i + 32), 0.f);
  return x;
}

// Float rounding of one kernel: each block product is rounded twice (scale, product) and the block
// sums added in some order: |err| <= (nb + 3) u * sum|p_b|. Two kernels differ by at most twice that.
double float_bound(size_t nb, double s_abs) { return (static_cast<double>(nb) + 3.0) * kU * s_abs * 1.0001; }

std::vector<float> run_variant(const Q8Weight& w, const Q8Variant& v, const std::vector<float>& x, size_t m,
                               ThreadPool& pool, const TensorView* bias = nullptr) {
  auto kr = make_linear_q8_0(w.view(), bias, &v);
  REQUIRE(kr.ok());
  std::vector<float> y(m * static_cast<size_t>(w.n), -1.f);
  REQUIRE(kr.value()->forward(x.data(), m, y.data(), pool).ok());
  return y;
}

}  // namespace

TEST_CASE("Q8_0 kernel: every ISA variant equals the scalar reference; reference equals float64", "[kernels]") {
  const auto& variants = q8_0_variants();
  REQUIRE(!variants.empty());
  CHECK(std::string(variants.front().name) == "ref");
  INFO("variants in this build: " << variants.size() << ", fastest " << variants.back().name);
  ThreadPool pool(1);
  struct Shape {
    size_t m, k, n;
  };
  std::vector<Shape> shapes;
  const size_t ms[] = {1, 2, 5, 45, 257};
  int idx = 0;
  for (size_t k : {32, 64, 96, 160})  // 1..5 blocks: tails of the 4-block groups
    for (size_t n : {1, 7, 100, 257}) shapes.push_back({ms[idx++ % 5], k, n});
  for (size_t m : ms) shapes.push_back({m, 160, 7});
  for (size_t m : {1, 2, 5, 45}) shapes.push_back({m, 1408, m == 45 ? size_t{100} : size_t{33}});
  shapes.push_back({257, 1440, 9});
  uint64_t seed = 300;
  for (const Shape& s : shapes) {
    ++seed;
    const Q8Weight w = make_q8(static_cast<int64_t>(s.n), static_cast<int64_t>(s.k), seed);
    const auto x = make_x(s.m, s.k, seed + 1000);
    Q8Acts a;
    quantize_acts_q8(x.data(), s.m, s.k, (s.k / 32 + 3) / 4 * 4, a);
    const size_t nb = s.k / 32, n = s.n, k = s.k;
    const auto y_ref = run_variant(w, variants.front(), x, s.m, pool);
    for (size_t i = 0; i < s.m; ++i)
      for (size_t o = 0; o < n; ++o) {
        double yd = 0, yt = 0, sa = 0, ae = 0;
        for (size_t j = 0; j < k; ++j) {
          const double wv = w.value[o * k + j], dx = a.row_d(i)[j / 32];
          const double xq = a.row_q(i)[j] * dx;
          yd += xq * wv;
          yt += static_cast<double>(x[i * k + j]) * wv;
          sa += std::fabs(xq * wv);
          ae += (0.5 * dx + 4 * kU * std::fabs(x[i * k + j])) * std::fabs(wv);
        }
        INFO("M=" << s.m << " K=" << s.k << " N=" << s.n << " output " << i << "," << o);
        const double yr = y_ref[i * n + o];
        // The reference's only errors are float rounding of the block products and sums...
        REQUIRE(std::fabs(yr - yd) <= float_bound(nb, sa) + 1e-30);
        // ...plus, against the float activations, the int8 activation step.
        REQUIRE(std::fabs(yr - yt) <= ae + float_bound(nb, sa) + 1e-30);
      }
    for (size_t v = 1; v < variants.size(); ++v) {
      const auto y = run_variant(w, variants[v], x, s.m, pool);
      for (size_t i = 0; i < s.m; ++i)
        for (size_t o = 0; o < n; ++o) {
          double sa = 0;
          for (size_t j = 0; j < k; ++j) sa += std::fabs(a.row_q(i)[j] * static_cast<double>(a.row_d(i)[j / 32]) * w.value[o * k + j]);
          INFO(variants[v].name << " M=" << s.m << " K=" << s.k << " N=" << s.n << " output " << i << "," << o);
          REQUIRE(std::fabs(y[i * n + o] - y_ref[i * n + o]) <= 2 * float_bound(nb, sa) + 1e-30);
        }
    }
  }
}

TEST_CASE("Q8_0 kernel: bias, thread-count invariance, dispatch through make_linear", "[kernels]") {
  const size_t m = 5, k = 160, n = 100;
  const Q8Weight w = make_q8(n, k, 77);
  const auto x = make_x(m, k, 78);
  std::vector<float> bias(n);
  for (size_t i = 0; i < n; ++i) bias[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  TensorView bv;
  bv.name = "test.bias";
  bv.type = DType::F32;
  bv.shape = {static_cast<int64_t>(n)};
  bv.data = reinterpret_cast<const uint8_t*>(bias.data());
  bv.nbytes = n * 4;
  ThreadPool p1(1), p2(2), p3(3);
  for (const Q8Variant& v : q8_0_variants()) {
    INFO(v.name);
    const auto y1 = run_variant(w, v, x, m, p1, &bv), y2 = run_variant(w, v, x, m, p2, &bv);
    const auto y3 = run_variant(w, v, x, m, p3, &bv), y0 = run_variant(w, v, x, m, p1);
    CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
    CHECK(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
    for (size_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == y0[i] + bias[i % n]);  // bias added once, last
  }
  // make_linear's Q8_0 path on this target, against the float64 product with the bound of its
  // quantization: own kernel: the activation step d_x / 2 per block of 32 (plus float rounding);
  // XNNPACK qd8-f32-qc8w: one asymmetric activation scale per row (range / 255) and the weights
  // requantized to one scale per output row (max|w_row| / 127).
  auto auto_k = make_linear(w.view(), &bv);
  REQUIRE(auto_k.ok());
  const bool own = auto_k.value()->describe().find("own q8_0") != std::string::npos;
  INFO("make_linear chose: " << auto_k.value()->describe());
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
  Q8Weight w = make_q8(4, 64, 3);
  TensorView v = w.view();
  v.shape = {4, 48};
  auto r = make_linear_q8_0(v, nullptr);
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("multiple of 32") != std::string::npos);
  v = w.view();
  v.nbytes -= 1;
  CHECK_FALSE(make_linear_q8_0(v, nullptr).ok());
  w.bytes[1] = 0x7C;  // first block scale -> inf
  w.bytes[0] = 0x00;
  auto r2 = make_linear_q8_0(w.view(), nullptr);
  REQUIRE(!r2.ok());
  CHECK(r2.status().message().find("non-finite") != std::string::npos);
}
