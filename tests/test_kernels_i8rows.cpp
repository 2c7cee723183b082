// The int8-rows kernel (kernels/int8_rows.h; the vision tower's linears on x86 Chromium) through its
// scalar reference, on every build: the activation quantizer's definition, outputs within the
// rigorous bound of its two int8 grids against float64, threads and bias, bad weights, and its
// packed bytes kept in / reused from a packed-weights store; the build's fast variant (SIMD128 in
// wasm builds) equal to it bit for bit. The relaxed-SIMD variant is checked in Chromium:
// tests/test_kernels_relaxed.cpp.
#include <limits>

#include "i8rows_exact.h"
#include "kernels/int8_rows.h"
#include "kernels/linear.h"
#include "kernels/weight_cache.h"
#include "kernels_block_fixture.h"

using namespace mblip;
using namespace mblip_test;

namespace {

// |y - x.W^T| <= sum_j |w_j| e_x + |x_j| e_w + e_x e_w (e_w = s_w / 2, e_x = s_x / 2 per the two grids), plus
// float rounding of the epilogue.
double bound_of(const float* xr, const float* wr, size_t k) {
  double xlo = 0, xhi = 0, wlo = 0, whi = 0;
  for (size_t j = 0; j < k; ++j) {
    xlo = std::min<double>(xlo, xr[j]), xhi = std::max<double>(xhi, xr[j]);
    wlo = std::min<double>(wlo, wr[j]), whi = std::max<double>(whi, wr[j]);
  }
  const double ex = (xhi - xlo) / 255 * 0.5 * (1 + 1e-4), ew = std::max(whi / 127, -wlo / 128) * 0.5 * (1 + 1e-4);
  double b = 0, ref = 0;
  for (size_t j = 0; j < k; ++j) {
    b += std::fabs(wr[j]) * ex + std::fabs(xr[j]) * ew + ex * ew;
    ref += std::fabs(static_cast<double>(xr[j]) * wr[j]);
  }
  return b + 4 * kU * (ref + b) + 1e-30;
}

}  // namespace

TEST_CASE("int8-rows activations: the definition (range incl. zero onto 0..255, zero exact)", "[kernels]") {
  Rng r(11);
  const size_t k = 37, kp = 48;
  std::vector<float> x(5 * k);
  for (auto& v : x) v = 3.f * r.uniform();
  std::fill(x.begin() + k, x.begin() + 2 * k, 0.f);                       // row 1: all zero
  for (size_t j = 0; j < k; ++j) x[2 * k + j] = 1.f + std::fabs(x[2 * k + j]);  // row 2: all positive
  for (size_t j = 0; j < k; ++j) x[3 * k + j] = -1.f - std::fabs(x[3 * k + j]); // row 3: all negative
  x[4 * k + 3] = 0.f;
  U8Acts a;
  quantize_acts_u8(x.data(), 5, k, kp, a);
  REQUIRE(a.m == 5);
  REQUIRE(a.q.size() == 5 * kp);
  for (size_t i = 0; i < 5; ++i) {
    INFO("row " << i);
    const float* xr = &x[i * k];
    float lo = 0, hi = 0;
    for (size_t j = 0; j < k; ++j) lo = std::min(lo, xr[j]), hi = std::max(hi, xr[j]);
    if (i == 1) {
      CHECK(a.s[i] == 1.f);
      CHECK(a.z[i] == 0);
    } else {
      CHECK(a.s[i] == (hi - lo) / 255.f);
    }
    CHECK(a.z[i] == static_cast<int32_t>(std::nearbyint(-lo / a.s[i])));
    if (i == 2) CHECK(a.z[i] == 0);
    if (i == 3) CHECK(a.z[i] == 255);
    for (size_t j = 0; j < k; ++j) {
      const int u = a.row(i)[j];
      CHECK(std::fabs(a.s[i] * (u - a.z[i]) - xr[j]) <= a.s[i] * 0.5f * 1.001f);
      if (xr[j] == 0.f) CHECK(u == a.z[i]);
    }
    for (size_t j = k; j < kp; ++j) CHECK(a.row(i)[j] == 0);
  }
  // Non-finite activations: defined bytes (the sanitizer builds check the conversions), scale 1, z 0.
  // (21 elements: the wasm builds' 16-wide groups, then 4-wide ones and a tail)
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  std::vector<float> bad = {1.f, inf, nan, -3.f, 2.f, 7.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 300.f, nan, -inf, 4.f, nan};
  const std::vector<int> want = {1, 255, 0, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 4, 0};
  quantize_acts_u8(bad.data(), 1, bad.size(), 32, a);
  CHECK(a.s[0] == 1.f);
  CHECK(a.z[0] == 0);
  for (size_t j = 0; j < bad.size(); ++j) {
    INFO("element " << j);
    CHECK(a.row(0)[j] == want[j]);
  }
}

TEST_CASE("int8-rows kernel: the fast variant equals the scalar reference bit for bit, and is routed", "[kernels]") {
  const auto& vs = i8rows_variants();
#if defined(__wasm_simd128__) && !defined(__wasm_relaxed_simd__)
  REQUIRE(vs.size() == 2);
  REQUIRE(std::string(vs.back().name) == "wasm_simd128");
  // The vision tower's Q8_0 / Q4_0 linears (LinearRows::kMany) run on it, and Q8_0 ones of tens of
  // rows (kSome: the Q-Former); Q4_0 ones of tens of rows (the encoder) stay 4-bit, a decoder step's
  // (kFew) stay where they were.
  BlockWeight w4 = make_weight(DType::Q4_0, 40, 96, 7), w8 = make_weight(DType::Q8_0, 40, 96, 8);
  LinearOptions many, some, few;
  many.rows = LinearRows::kMany;
  few.rows = LinearRows::kFew;
  auto on = [](const BlockWeight& w, const LinearOptions& o) {
    return make_linear(w.view(), nullptr, o).value()->describe().find("own int8 rows wasm_simd128") != std::string::npos;
  };
  CHECK(on(w4, many));
  CHECK(on(w8, many));
  CHECK(on(w8, some));
  CHECK_FALSE(on(w4, some));
  CHECK_FALSE(on(w4, few));
  CHECK_FALSE(on(w8, few));
  CHECK(estimate_linear_bytes(DType::Q8_0, 40, 96, false, some) == make_linear(w8.view(), nullptr, some).value()->memory_bytes());
  CHECK(linear_kernel_config().find("many=own_i8rows") != std::string::npos);
  CHECK(linear_kernel_config().find("some=own_i8rows") != std::string::npos);
#endif
  if (vs.size() == 1) {
    WARN("no fast int8-rows variant in this build / engine (the relaxed one is tested in Chromium)");
    return;
  }
  ThreadPool p1(1), p3(3);
  CHECK(i8rows_outputs_differing(vs.back(), p1) == 0);
  CHECK(i8rows_outputs_differing(vs.back(), p3) == 0);
}

TEST_CASE("int8-rows reference: within the bound of its int8 grids on awkward shapes, any threads, bias", "[kernels]") {
  const I8RowsVariant& ref = i8rows_variants().front();
  REQUIRE(std::string(ref.name) == "ref");
  const Shape shapes[] = {{1, 16, 1}, {2, 40, 2}, {3, 7, 4}, {5, 96, 7}, {45, 1000, 40}, {257, 160, 100}, {4, 2048, 9}};
  for (const Shape& sh : shapes) {
    INFO("m " << sh.m << " k " << sh.k << " n " << sh.n);
    const F32Weight w = make_f32_weight(static_cast<int64_t>(sh.n), static_cast<int64_t>(sh.k), sh.k + sh.n);
    const std::vector<float> x = make_x(sh.m, sh.k, sh.m);
    std::vector<float> bias(sh.n);
    for (size_t c = 0; c < sh.n; ++c) bias[c] = 0.25f * static_cast<float>(c % 7) - 0.5f;
    const TensorView bv = bias_view(bias);
    auto kb = make_linear_i8rows(w.view(), &bv, &ref);
    auto kn = make_linear_i8rows(w.view(), nullptr, &ref);
    REQUIRE(kb.ok());
    REQUIRE(kn.ok());
    CHECK(kb.value()->memory_bytes() >= sh.n * sh.k);
    std::vector<float> y1(sh.m * sh.n, -1.f), y3(sh.m * sh.n, -2.f), yn(sh.m * sh.n);
    ThreadPool p1(1), p3(3);
    REQUIRE(kb.value()->forward(x.data(), sh.m, y1.data(), p1).ok());
    REQUIRE(kb.value()->forward(x.data(), sh.m, y3.data(), p3).ok());
    REQUIRE(kn.value()->forward(x.data(), sh.m, yn.data(), p1).ok());
    CHECK(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
    size_t violations = 0;
    for (size_t i = 0; i < sh.m; ++i)
      for (size_t c = 0; c < sh.n; ++c) {
        const float* xr = &x[i * sh.k];
        const float* wr = &w.v[c * sh.k];
        double want = 0;
        for (size_t j = 0; j < sh.k; ++j) want += static_cast<double>(xr[j]) * wr[j];
        const double b = bound_of(xr, wr, sh.k);
        violations += std::fabs(yn[i * sh.n + c] - want) > b;
        violations += std::fabs(y1[i * sh.n + c] - (want + bias[c])) > b + 2 * kU * std::fabs(want + bias[c]);
      }
    CHECK(violations == 0);
  }
}

TEST_CASE("int8-rows kernel: Q8_0 and Q4_0 weights requantized per row, bad weights refused", "[kernels]") {
  const I8RowsVariant& ref = i8rows_variants().front();
  ThreadPool pool(2);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    const BlockWeight w = make_weight(t, 10, 96, 5);
    const std::vector<float> x = make_x(6, 96, 3);
    auto k = make_linear_i8rows(w.view(), nullptr, &ref);
    REQUIRE(k.ok());
    CHECK(k.value()->describe().find("own int8 rows ref") != std::string::npos);
    std::vector<float> y(6 * 10), wf(w.value.begin(), w.value.end());
    REQUIRE(k.value()->forward(x.data(), 6, y.data(), pool).ok());
    for (size_t i = 0; i < 6; ++i)
      for (size_t c = 0; c < 10; ++c) {
        double want = 0;
        for (size_t j = 0; j < 96; ++j) want += static_cast<double>(x[i * 96 + j]) * w.value[c * 96 + j];
        CHECK(std::fabs(y[i * 10 + c] - want) <= bound_of(&x[i * 96], &wf[c * 96], 96));
      }
  }
  const F32Weight w = make_f32_weight(3, 8, 1);
  TensorView v = w.view();
  v.nbytes -= 4;  // truncated
  auto short_bytes = make_linear_i8rows(v, nullptr, &ref);
  REQUIRE_FALSE(short_bytes.ok());
  CHECK(short_bytes.status().message().find("bytes") != std::string::npos);
  v = w.view();
  v.shape = {3, 8, 1};
  CHECK_FALSE(make_linear_i8rows(v, nullptr, &ref).ok());
  v = w.view();
  v.shape = {1, static_cast<int64_t>(kI8RowsMaxK) + 32};  // too long for exact int32 sums
  auto too_long = make_linear_i8rows(v, nullptr, &ref);
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.status().message().find("too long") != std::string::npos);
  v = w.view();
  std::vector<float> bias(2, 0.f);
  const TensorView bv = bias_view(bias);
  CHECK_FALSE(make_linear_i8rows(v, &bv, &ref).ok());  // bias of the wrong length
}

TEST_CASE("int8-rows kernel: packed bytes kept in a packed-weights store and reused from its image", "[kernels][cache]") {
  const I8RowsVariant& ref = i8rows_variants().front();
  const F32Weight w = make_f32_weight(7, 40, 9);
  const std::vector<float> x = make_x(5, 40, 4);
  ThreadPool pool(1);
  std::vector<float> y_plain(5 * 7), y_cold(5 * 7, -1.f), y_warm(5 * 7, -2.f);
  REQUIRE(make_linear_i8rows(w.view("vit.fc1"), nullptr, &ref).value()->forward(x.data(), 5, y_plain.data(), pool).ok());

  auto cold = PackedWeightStore::in_memory(nullptr, 0, "test");
  cold->bind("model-key");
  std::unique_ptr<LinearKernel> kc;
  {
    WeightStoreScope scope(cold);
    auto k = make_linear_i8rows(w.view("vit.fc1"), nullptr, &ref);
    REQUIRE(k.ok());
    kc = std::move(k.value());
  }
  REQUIRE(cold->finalize().ok());
  CHECK(cold->packed() == 1);
  REQUIRE(kc->forward(x.data(), 5, y_cold.data(), pool).ok());
  CHECK(std::memcmp(y_plain.data(), y_cold.data(), y_plain.size() * 4) == 0);

  std::string meta;
  std::vector<PackedWeightStore::ImagePart> parts;
  uint64_t size = 0;
  REQUIRE(cold->export_image(&meta, &parts, &size));
  void* p = nullptr;
  REQUIRE(::posix_memalign(&p, 64, static_cast<size_t>(size)) == 0);
  for (const auto& part : parts) std::memcpy(static_cast<uint8_t*>(p) + part.offset, part.data, static_cast<size_t>(part.size));
  auto warm = PackedWeightStore::in_memory(static_cast<uint8_t*>(p), static_cast<size_t>(size), "test");
  warm->bind("model-key");
  REQUIRE(warm->rejected().empty());
  REQUIRE(warm->warm());
  F32Weight changed = w;
  for (auto& v : changed.v) v = 0.f;  // not read on a hit: the warm kernel must still give the packed results
  const F32Weight other = make_f32_weight(7, 48, 9);
  std::unique_ptr<LinearKernel> kw;
  {
    WeightStoreScope scope(warm);
    auto k = make_linear_i8rows(changed.view("vit.fc1"), nullptr, &ref);
    REQUIRE(k.ok());
    kw = std::move(k.value());
    // Another shape under the same name is not that entry: packed afresh.
    REQUIRE(make_linear_i8rows(other.view("vit.fc1"), nullptr, &ref).ok());
  }
  REQUIRE(warm->finalize().ok());
  CHECK(warm->hits() == 1);
  CHECK(warm->packed() == 1);
  REQUIRE(kw->forward(x.data(), 5, y_warm.data(), pool).ok());
  CHECK(std::memcmp(y_plain.data(), y_warm.data(), y_plain.size() * 4) == 0);
}
