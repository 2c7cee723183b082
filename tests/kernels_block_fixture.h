// Shared fixture of the block-int8 kernel tests (test_kernels_q4.cpp, test_kernels_q8.cpp,
// test_kernels_relaxed.cpp): ggml-layout Q4_0 / Q8_0 weights with their exact values, activations,
// float64 references with error bounds, and the checks every ISA variant of a format must pass.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/block_int8.h"
#include "kernels/linear.h"
#include "kernels/thread_pool.h"

namespace mblip_test {
using namespace mblip;

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

inline double half_value(uint16_t h) {  // independent decode: normals and zero
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double v = e == 0 ? 0.0 : std::ldexp(1.0 + m / 1024.0, e - 15);
  return (h & 0x8000) ? -v : v;
}

// A weight as ggml lays it out, with the exact value of every element.
struct BlockWeight {
  DType type;
  int64_t n, k;
  std::vector<uint8_t> bytes;
  std::vector<double> value;  // [n][k]
  TensorView view() const {
    TensorView v;
    v.name = type == DType::Q4_0 ? "test.q4" : "test.q8";
    v.type = type;
    v.shape = {n, k};
    v.data = bytes.data();
    v.nbytes = bytes.size();
    return v;
  }
};

// Scales of both signs and ~3% all-zero blocks. Q4_0: one q = 0 (value -8 d) per block. Q8_0: the
// extremes -128 and 127 in every block (what a file may hold, beyond the quantizer's +-127).
inline BlockWeight make_weight(DType type, int64_t n, int64_t k, uint64_t seed) {
  const bool q4 = type == DType::Q4_0;
  const size_t bb = q4 ? 18 : 34;
  Rng r(seed);
  const size_t total = static_cast<size_t>(n * k), blocks = total / 32;
  BlockWeight w{type, n, k, std::vector<uint8_t>(blocks * bb, 0), std::vector<double>(total)};
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* blk = &w.bytes[b * bb];
    uint16_t d = 0;
    if (r.next() % 32 != 0) {
      const int e = (q4 ? 5 : 3) + static_cast<int>(r.next() % 3);
      d = static_cast<uint16_t>(((r.next() & 1) ? 0x8000 : 0) | (e << 10) | (r.next() & 0x3FF));
    }
    blk[0] = static_cast<uint8_t>(d & 0xFF);
    blk[1] = static_cast<uint8_t>(d >> 8);
    if (q4) {
      const size_t zero_at = r.next() % 32;
      for (size_t j = 0; j < 32; ++j) {
        const uint8_t q = j == zero_at ? 0 : static_cast<uint8_t>(r.next() % 16);
        blk[2 + (j % 16)] |= static_cast<uint8_t>(j < 16 ? q : q << 4);
        w.value[b * 32 + j] = half_value(d) * (static_cast<int>(q) - 8);
      }
    } else {
      const size_t lo_at = r.next() % 32, hi_at = (lo_at + 1 + r.next() % 31) % 32;
      for (size_t j = 0; j < 32; ++j) {
        const int q = j == lo_at ? -128 : j == hi_at ? 127 : static_cast<int>(r.next() % 255) - 127;
        blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
        w.value[b * 32 + j] = half_value(d) * q;
      }
    }
  }
  return w;
}

// A float32 weight (any row length), for the kernels that requantize (kernels/int8_rows.h).
struct F32Weight {
  int64_t n, k;
  std::vector<float> v;
  TensorView view(const char* name = "test.f32") const {
    TensorView t;
    t.name = name;
    t.type = DType::F32;
    t.shape = {n, k};
    t.data = reinterpret_cast<const uint8_t*>(v.data());
    t.nbytes = v.size() * sizeof(float);
    return t;
  }
};

inline F32Weight make_f32_weight(int64_t n, int64_t k, uint64_t seed) {
  Rng r(seed);
  F32Weight w{n, k, std::vector<float>(static_cast<size_t>(n * k))};
  for (auto& x : w.v) x = 0.05f * r.uniform();
  for (int64_t c = 0; c < n; c += 5) w.v[static_cast<size_t>(c * k)] = -0.4f;  // a row minimum well below the rest
  return w;
}

// Activations with the range of hidden states: mostly O(1), some large values, some zero blocks.
inline std::vector<float> make_x(size_t m, size_t k, uint64_t seed) {
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

// Float rounding of one kernel: each block product is rounded twice (scale, product) and the
// block sums are added in some order: |err| <= (nb + 3) u * sum|p_b| (sequential worst case;
// lane-parallel orders are tighter). Two kernels differ by at most twice that.
inline double float_bound(size_t nb, double s_abs) { return (static_cast<double>(nb) + 3.0) * kU * s_abs * 1.0001; }

inline std::vector<float> run_variant(const BlockWeight& w, const BlockVariant& v, const std::vector<float>& x,
                                      size_t m, ThreadPool& pool, const TensorView* bias = nullptr) {
  auto kr = make_linear_block(w.view(), bias, v);
  REQUIRE(kr.ok());
  std::vector<float> y(m * static_cast<size_t>(w.n), -1.f);
  REQUIRE(kr.value()->forward(x.data(), m, y.data(), pool).ok());
  return y;
}

struct Shape {
  size_t m, k, n;
};
// M = 1, 2, 5, 45, 257 over K of 1..5 blocks (tails of the 4-block groups) and N with row-pair and
// task tails, then model-sized K (`big_k`, with N = `big_n`).
inline std::vector<Shape> awkward_shapes(size_t big_k, size_t big_n) {
  std::vector<Shape> shapes;
  const size_t ms[] = {1, 2, 5, 45, 257};
  int idx = 0;
  for (size_t k : {32, 64, 96, 160})
    for (size_t n : {1, 7, 100, 257}) shapes.push_back({ms[idx++ % 5], k, n});
  for (size_t m : ms) shapes.push_back({m, 160, 7});
  for (size_t m : {1, 2, 3, 5, 45}) shapes.push_back({m, big_k, m == 45 ? size_t{100} : big_n});
  shapes.push_back({257, big_k + 32, 9});
  return shapes;
}

// The reference against float64 (dequantize-then-dot: only float rounding; against the float
// activations: plus the int8 activation step), then every other variant against the reference.
inline void check_variants(DType type, const std::vector<BlockVariant>& variants, const std::vector<Shape>& shapes,
                           uint64_t seed) {
  REQUIRE(!variants.empty());
  CHECK(std::string(variants.front().name) == "ref");
  INFO("variants in this build: " << variants.size() << ", fastest " << variants.back().name);
#if defined(__aarch64__)
  CHECK(std::string(variants.back().name) == "neon");  // tests/neon_q4_test.sh relies on it
#elif defined(__EMSCRIPTEN__)
  CHECK(std::string(variants.back().name).rfind("wasm_", 0) == 0);
#endif
  ThreadPool pool(1);
  for (const Shape& s : shapes) {
    ++seed;
    const BlockWeight w = make_weight(type, static_cast<int64_t>(s.n), static_cast<int64_t>(s.k), seed);
    const auto x = make_x(s.m, s.k, seed + 1000);
    Q8Acts a;
    quantize_acts_q8(x.data(), s.m, s.k, (s.k / 32 + 3) / 4 * 4, a);
    const size_t nb = s.k / 32, n = s.n, k = s.k;
    std::vector<double> s_abs(s.m * n);
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
        s_abs[i * n + o] = sa;
        INFO("M=" << s.m << " K=" << s.k << " N=" << s.n << " output " << i << "," << o);
        const double yr = y_ref[i * n + o];
        REQUIRE(std::fabs(yr - yd) <= float_bound(nb, sa) + 1e-30);
        REQUIRE(std::fabs(yr - yt) <= ae + float_bound(nb, sa) + 1e-30);
      }
    for (size_t v = 1; v < variants.size(); ++v) {
      const auto y = run_variant(w, variants[v], x, s.m, pool);
      for (size_t i = 0; i < y.size(); ++i) {
        INFO(variants[v].name << " M=" << s.m << " K=" << s.k << " N=" << s.n << " output " << i);
        REQUIRE(std::fabs(y[i] - y_ref[i]) <= 2 * float_bound(nb, s_abs[i]) + 1e-30);
      }
    }
  }
}

// An f32 bias view over `bias`.
inline TensorView bias_view(const std::vector<float>& bias) {
  TensorView bv;
  bv.name = "test.bias";
  bv.type = DType::F32;
  bv.shape = {static_cast<int64_t>(bias.size())};
  bv.data = reinterpret_cast<const uint8_t*>(bias.data());
  bv.nbytes = bias.size() * 4;
  return bv;
}

// The variant of `vs` named `name` (e.g. "wasm_simd128"), or nullptr when this build lacks it.
inline const BlockVariant* find_variant(const std::vector<BlockVariant>& vs, const std::string& name) {
  for (const BlockVariant& v : vs)
    if (name == v.name) return &v;
  return nullptr;
}

// Shapes for the row-lane kernels (kernels/block_int8_rowlane_wasm.h): awkward_shapes plus row counts
// around their 4- to 12-row tiles and one single-block, single-output case.
inline std::vector<Shape> row_tile_shapes() {
  std::vector<Shape> shapes = awkward_shapes(1408 + 96, 65);
  for (size_t m : {1, 2, 3, 4, 6, 8, 9, 12, 13, 17, 257}) shapes.push_back({m, 96, 33});
  shapes.push_back({11, 32, 1});
  return shapes;
}

// `v` gives the scalar reference's (vs.front()) outputs bit for bit on every row_tile_shapes() shape
// with at least `min_m` rows, with a bias, at 1 and 2 threads (tasks of 32 output rows); with
// `exact_rows`, only on that many leading rows of M (the rest runs another path). Returns the number
// of shapes checked.
inline size_t check_bitwise_equals_ref(DType type, const std::vector<BlockVariant>& vs, const BlockVariant& v,
                                       size_t min_m, uint64_t seed, size_t (*exact_rows)(size_t) = nullptr) {
  ThreadPool p1(1), p2(2);
  size_t checked = 0;
  for (const Shape& s : row_tile_shapes()) {
    ++seed;
    if (s.m < min_m) continue;
    const BlockWeight w = make_weight(type, static_cast<int64_t>(s.n), static_cast<int64_t>(s.k), seed);
    const auto x = make_x(s.m, s.k, seed + 77);
    std::vector<float> bias(s.n);
    for (size_t i = 0; i < s.n; ++i) bias[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
    const TensorView bv = bias_view(bias);
    const auto y_ref = run_variant(w, vs.front(), x, s.m, p1, &bv);
    INFO(v.name << " M=" << s.m << " K=" << s.k << " N=" << s.n);
    const auto y1 = run_variant(w, v, x, s.m, p1, &bv), y2 = run_variant(w, v, x, s.m, p2, &bv);
    const size_t floats = (exact_rows ? exact_rows(s.m) : s.m) * s.n;
    CHECK(std::memcmp(y1.data(), y_ref.data(), floats * 4) == 0);
    CHECK(std::memcmp(y2.data(), y_ref.data(), floats * 4) == 0);
    ++checked;
  }
  return checked;
}

// Every variant: the same bits with 1, 2 and 3 threads; the bias added once, last.
inline void check_bias_and_threads(const BlockWeight& w, const std::vector<BlockVariant>& variants,
                                   const std::vector<float>& x, size_t m, const std::vector<float>& bias) {
  const TensorView bv = bias_view(bias);
  ThreadPool p1(1), p2(2), p3(3);
  for (const BlockVariant& v : variants) {
    INFO(v.name);
    const auto y1 = run_variant(w, v, x, m, p1, &bv), y2 = run_variant(w, v, x, m, p2, &bv);
    const auto y3 = run_variant(w, v, x, m, p3, &bv), y0 = run_variant(w, v, x, m, p1);
    CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
    CHECK(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
    for (size_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == y0[i] + bias[i % bias.size()]);
  }
}

// Malformed weights are refused with a message naming the problem.
inline void check_malformed(DType type, const BlockVariant& v) {
  BlockWeight w = make_weight(type, 4, 64, 3);
  TensorView t = w.view();
  t.shape = {4, 48};
  auto r = make_linear_block(t, nullptr, v);
  REQUIRE(!r.ok());
  CHECK(r.status().message().find("multiple of 32") != std::string::npos);
  t = w.view();
  t.nbytes -= 1;
  CHECK_FALSE(make_linear_block(t, nullptr, v).ok());
  t = w.view();
  t.type = type == DType::Q4_0 ? DType::Q8_0 : DType::Q4_0;  // a variant of the other format
  CHECK_FALSE(make_linear_block(t, nullptr, v).ok());
  w.bytes[1] = 0x7C;  // first block scale -> inf
  w.bytes[0] = 0x00;
  auto r2 = make_linear_block(w.view(), nullptr, v);
  REQUIRE(!r2.ok());
  CHECK(r2.status().message().find("non-finite") != std::string::npos);
}

// `v` on d_w = 1 and activations +-127 (d_x = 1): every quant value of the format against both signs,
// at M = 1, 2, 5 (few-row paths) and 13 (row-lane). The outputs are integers below 2^24, computed
// exactly: compared for equality with the integer dot.
inline void check_extremes(DType type, const BlockVariant& v) {
  const bool q4 = type == DType::Q4_0;
  const size_t k = 32 * 5, n = q4 ? 16 : 256, bb = q4 ? 18 : 34;
  BlockWeight w{type, static_cast<int64_t>(n), static_cast<int64_t>(k), std::vector<uint8_t>(n * k / 32 * bb, 0),
                std::vector<double>(n * k)};
  for (size_t r = 0; r < n; ++r)
    for (size_t b = 0; b < k / 32; ++b) {
      uint8_t* blk = &w.bytes[(r * (k / 32) + b) * bb];
      blk[1] = 0x3C;  // d = 1.0
      for (size_t j = 0; j < 32; ++j) {
        const size_t v = (r + 3 * j + b) % (q4 ? 16 : 256);
        if (q4) blk[2 + (j % 16)] |= static_cast<uint8_t>(j < 16 ? v : v << 4);
        else blk[2 + j] = static_cast<uint8_t>(v);
        w.value[r * k + b * 32 + j] = q4 ? static_cast<double>(v) - 8 : static_cast<int8_t>(v);
      }
    }
  std::vector<float> x(k);
  for (size_t j = 0; j < k; ++j) x[j] = (j * 7 % 3 == 0) ? -127.f : 127.f;
  ThreadPool pool(1);
  for (size_t m : {1, 2, 5, 13}) {
    std::vector<float> xm;
    for (size_t i = 0; i < m; ++i) xm.insert(xm.end(), x.begin(), x.end());
    const auto y = run_variant(w, v, xm, m, pool);
    for (size_t i = 0; i < m; ++i)
      for (size_t r = 0; r < n; ++r) {
        double t = 0;
        for (size_t j = 0; j < k; ++j) t += x[j] * w.value[r * k + j];
        INFO(v.name << " M=" << m << " row " << r);
        REQUIRE(y[i * n + r] == static_cast<float>(t));
      }
  }
}

}  // namespace mblip_test
