// Ops tests: activations, norms, softmax and attention against double-precision formulas and
// known values; T5 relative position buckets; the scalar reference linear kernel for every
// weight type; KV-cache reordering. Results must not depend on the thread count.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "io/quant.h"
#include "kernels/linear_impl.h"
#include "kernels/thread_pool.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "ops/ops.h"

using namespace mblip;

namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

}  // namespace

TEST_CASE("gelu variants match known values and the double formulas", "[ops]") {
  std::vector<float> one = {1.0f};
  ops::gelu_erf(one.data(), 1);
  CHECK(one[0] == Approx(0.8413447).margin(1e-6));
  one = {1.0f};
  ops::gelu_tanh(one.data(), 1);
  CHECK(one[0] == Approx(0.8411920).margin(1e-6));

  std::vector<float> x;
  for (int i = -800; i <= 800; ++i) x.push_back(i * 0.01f);
  std::vector<float> e = x, t = x, r = x;
  ops::gelu_erf(e.data(), e.size());
  ops::gelu_tanh(t.data(), t.size());
  ops::relu(r.data(), r.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double ge = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    const double gt = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    REQUIRE(e[i] == Approx(ge).margin(2e-6));
    REQUIRE(t[i] == Approx(gt).margin(2e-6));
    REQUIRE(r[i] == (v > 0 ? x[i] : 0.0f));
  }
  CHECK(e[0] == Approx(0.0).margin(1e-6));  // gelu(-8) ~ -5e-15
}

TEST_CASE("softmax matches the double formula and is shift-stable", "[ops]") {
  auto x = randn(3 * 37, 1, 4.0f);
  x[5] = 1000.0f;  // no overflow
  std::vector<float> y = x;
  ops::softmax(y.data(), 3, 37);
  for (size_t r = 0; r < 3; ++r) {
    double mx = -1e300, sum = 0;
    for (size_t i = 0; i < 37; ++i) mx = std::max(mx, static_cast<double>(x[r * 37 + i]));
    for (size_t i = 0; i < 37; ++i) sum += std::exp(x[r * 37 + i] - mx);
    double ys = 0;
    for (size_t i = 0; i < 37; ++i) {
      REQUIRE(y[r * 37 + i] == Approx(std::exp(x[r * 37 + i] - mx) / sum).margin(1e-7));
      ys += y[r * 37 + i];
    }
    CHECK(ys == Approx(1.0).margin(1e-6));
  }
  CHECK(y[5] == Approx(1.0f));
}

TEST_CASE("log_sum_exp matches the double formula on vocabulary-sized rows and edge cases", "[ops]") {
  // Sizes around the vector width and block tails, and a full mT5 vocabulary row.
  for (size_t n : {size_t{1}, size_t{3}, size_t{4}, size_t{7}, size_t{8}, size_t{9}, size_t{15}, size_t{4097}, size_t{4103}, size_t{250112}}) {
    INFO("n = " << n);
    auto x = randn(n, static_cast<uint32_t>(n), 6.0f);
    if (n > 5) x[n / 2] = -std::numeric_limits<float>::infinity();  // a banned token
    double mx = -1e300, sum = 0;
    for (float v : x) mx = std::max(mx, static_cast<double>(v));
    for (float v : x) sum += std::exp(static_cast<double>(v) - mx);
    const double want = mx + std::log(sum);
    CHECK(ops::log_sum_exp(x.data(), n) == Approx(want).epsilon(1e-6).margin(1e-6));
    // The 4-lane path too where the 8-lane AVX2 one is the default (MBLIP_OPS_AVX2=0 selects it).
    ::setenv("MBLIP_OPS_AVX2", "0", 1);
    CHECK(ops::log_sum_exp(x.data(), n) == Approx(want).epsilon(1e-6).margin(1e-6));
    ::unsetenv("MBLIP_OPS_AVX2");
  }
  const float inf = std::numeric_limits<float>::infinity();
  for (const char* lanes : {"8", "0"}) {
    INFO("MBLIP_OPS_AVX2=" << lanes);
    ::setenv("MBLIP_OPS_AVX2", lanes, 1);
    const std::vector<float> all_banned(9, -inf);
    CHECK(ops::log_sum_exp(all_banned.data(), all_banned.size()) == -inf);
    CHECK(ops::log_sum_exp(nullptr, 0) == -inf);
    const std::vector<float> big = {1000.f, 1000.f, -5.f};  // no overflow: 1000 + log 2
    CHECK(ops::log_sum_exp(big.data(), big.size()) == Approx(1000.0 + std::log(2.0)).epsilon(1e-9));
    std::vector<float> big9(17, -5.f);  // the same through the 8-lane body and tail
    big9[3] = big9[16] = 1000.f;
    CHECK(ops::log_sum_exp(big9.data(), big9.size()) == Approx(1000.0 + std::log(2.0)).epsilon(1e-9));
    std::vector<float> pinf(12, 0.f);
    pinf[9] = inf;
    CHECK(ops::log_sum_exp(pinf.data(), pinf.size()) == inf);
  }
  ::unsetenv("MBLIP_OPS_AVX2");
}

TEST_CASE("sub_double, add_scalar and any_greater equal their scalar definitions", "[ops]") {
  const float inf = std::numeric_limits<float>::infinity();
  for (size_t n : {size_t{1}, size_t{3}, size_t{4}, size_t{7}, size_t{16}, size_t{4097}}) {
    INFO("n = " << n);
    auto x = randn(n, static_cast<uint32_t>(n) + 11, 30.0f);
    x[n - 1] = -inf;
    if (n > 2) x[1] = std::numeric_limits<float>::quiet_NaN();
    const double c = 12.345678901234567;
    auto y = x;
    ops::sub_double(y.data(), n, c);
    for (size_t i = 0; i < n; ++i) {
      const float want = static_cast<float>(static_cast<double>(x[i]) - c);
      if (std::isnan(want)) CHECK(std::isnan(y[i]));
      else CHECK(y[i] == want);  // bit-exact: one rounding to float
    }
    auto z = x;
    ops::add_scalar(z.data(), n, -0.75f);
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(x[i])) CHECK(std::isnan(z[i]));
      else CHECK(z[i] == x[i] + -0.75f);
    }
    // any_greater against every threshold the data suggests (equal is not greater; NaN never is).
    for (size_t j = 0; j < n; ++j) {
      const float t = std::isnan(x[j]) ? 0.0f : x[j];
      bool want = false;
      for (float v : x) want = want || v > t;
      CHECK(ops::any_greater(x.data(), n, t) == want);
    }
    CHECK(ops::any_greater(x.data(), n, -inf) == (n > 1));  // finite entries exist when n > 1
    CHECK_FALSE(ops::any_greater(x.data(), n, inf));
  }
}

TEST_CASE("layer_norm and rms_norm match the double formulas", "[ops]") {
  ThreadPool pool(2);
  const size_t rows = 40, dim = 53;
  auto x = randn(rows * dim, 2, 3.0f);
  for (size_t i = 0; i < dim; ++i) x[i] += 100.0f;  // large mean: needs a stable variance
  auto w = randn(dim, 3), b = randn(dim, 4);
  std::vector<float> ln(rows * dim), rms(rows * dim);
  ops::layer_norm(x.data(), rows, dim, w.data(), b.data(), 1e-6f, ln.data(), pool);
  ops::rms_norm(x.data(), rows, dim, w.data(), 1e-6f, rms.data(), pool);
  std::vector<double> eln(rows * dim), erms(rows * dim);
  for (size_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0, ss = 0;
    for (size_t i = 0; i < dim; ++i) mean += x[r * dim + i];
    mean /= dim;
    for (size_t i = 0; i < dim; ++i) {
      var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
      ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
    }
    var /= dim;
    ss /= dim;
    for (size_t i = 0; i < dim; ++i) {
      eln[r * dim + i] = (x[r * dim + i] - mean) / std::sqrt(var + 1e-6) * w[i] + b[i];
      erms[r * dim + i] = x[r * dim + i] / std::sqrt(ss + 1e-6) * w[i];  // no mean, no bias
    }
  }
  CHECK(max_abs_diff(ln, eln) < 2e-5);
  CHECK(max_abs_diff(rms, erms) < 2e-5);
  // In place gives the same, and one thread gives the same bits.
  ThreadPool one(1);
  std::vector<float> inplace = x;
  ops::layer_norm(inplace.data(), rows, dim, w.data(), b.data(), 1e-6f, inplace.data(), one);
  CHECK(inplace == ln);
}

TEST_CASE("attention matches a double reference with bias, key mask and causal mask", "[ops]") {
  const size_t heads = 3, dh = 10, ql = 7, kl = 9, inner = heads * dh;
  auto q = randn(ql * inner, 5), k = randn(kl * inner, 6), v = randn(kl * inner, 7);
  auto bias = randn(heads * ql * kl, 8);
  std::vector<float> mask(kl, 0.0f);
  mask[3] = ops::kMaskValue;
  for (int causal = 0; causal < 2; ++causal) {
    ops::AttentionArgs a;
    a.heads = heads;
    a.head_dim = dh;
    a.q_len = ql;
    a.kv_len = kl;
    a.q_stride = a.k_stride = a.v_stride = a.out_stride = inner;
    a.scale = 0.37f;
    a.bias = bias.data();
    a.bias_head_stride = ql * kl;
    a.bias_row_stride = kl;
    a.key_mask = mask.data();
    a.causal = causal != 0;
    a.causal_offset = 2;
    std::vector<float> out1(ql * inner), out2(ql * inner);
    ThreadPool p1(1), p2(2);
    ops::attention(q.data(), k.data(), v.data(), out1.data(), a, p1);
    ops::attention(q.data(), k.data(), v.data(), out2.data(), a, p2);
    CHECK(out1 == out2);
    std::vector<double> ref(ql * inner, 0.0);
    for (size_t h = 0; h < heads; ++h)
      for (size_t i = 0; i < ql; ++i) {
        std::vector<double> s(kl);
        double mx = -1e300;
        for (size_t j = 0; j < kl; ++j) {
          double dot = 0;
          for (size_t d = 0; d < dh; ++d) dot += double(q[i * inner + h * dh + d]) * k[j * inner + h * dh + d];
          s[j] = dot * 0.37 + bias[h * ql * kl + i * kl + j];
          if (j == 3 || (causal && j > i + 2)) s[j] = -1e300;
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = (e < -1e200 ? 0.0 : std::exp(e - mx)));
        for (size_t j = 0; j < kl; ++j)
          for (size_t d = 0; d < dh; ++d) ref[i * inner + h * dh + d] += s[j] / sum * v[j * inner + h * dh + d];
      }
    CHECK(max_abs_diff(out1, ref) < 1e-5);
  }
}

TEST_CASE("T5 relative position buckets follow the T5 formula", "[ops]") {
  // Bidirectional, 32 buckets, max distance 128: 16 per direction, 8 exact.
  CHECK(t5_relative_position_bucket(0, true, 32, 128) == 0);
  CHECK(t5_relative_position_bucket(-1, true, 32, 128) == 1);
  CHECK(t5_relative_position_bucket(1, true, 32, 128) == 17);
  CHECK(t5_relative_position_bucket(-7, true, 32, 128) == 7);
  CHECK(t5_relative_position_bucket(-8, true, 32, 128) == 8);
  CHECK(t5_relative_position_bucket(-16, true, 32, 128) == 10);  // 8 + log(2)/log(16)*8 = 10 exactly
  CHECK(t5_relative_position_bucket(15, true, 32, 128) == 16 + 9);  // 8 + 1.79 -> 9
  CHECK(t5_relative_position_bucket(200, true, 32, 128) == 31);
  CHECK(t5_relative_position_bucket(-1000, true, 32, 128) == 15);
  // Causal: only keys at or before the query; 16 exact buckets.
  CHECK(t5_relative_position_bucket(3, false, 32, 128) == 0);
  CHECK(t5_relative_position_bucket(-3, false, 32, 128) == 3);
  CHECK(t5_relative_position_bucket(-15, false, 32, 128) == 15);
  CHECK(t5_relative_position_bucket(-16, false, 32, 128) == 16);
  CHECK(t5_relative_position_bucket(-32, false, 32, 128) == 21);  // 16 + log(2)/log(8)*16 = 21.33 -> 21
  CHECK(t5_relative_position_bucket(-200, false, 32, 128) == 31);
  // 16 buckets / max distance 64 (tiny-mt5-odd): bidirectional 8 per side, 4 exact.
  CHECK(t5_relative_position_bucket(-3, true, 16, 64) == 3);
  CHECK(t5_relative_position_bucket(5, true, 16, 64) == 8 + 4);  // 4 + log(1.25)/log(16)*4 = 4.32
  CHECK(t5_relative_position_bucket(-100, true, 16, 64) == 7);
}

TEST_CASE("reference linear matches a double matmul for every weight type", "[ops]") {
  const int64_t out = 37, in = 96;  // out not a multiple of 4 (tail rows), in = 3 blocks of 32
  const size_t m = 5;
  auto wf = randn(static_cast<size_t>(out * in), 9, 0.5f);
  auto bias = randn(static_cast<size_t>(out), 10);
  auto x = randn(m * static_cast<size_t>(in), 11);
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
    INFO("type " << dtype_name(t));
    const size_t row_bytes = dtype_bytes(t, in).value();
    std::vector<uint8_t> bytes(row_bytes * static_cast<size_t>(out));
    std::vector<float> deq(wf.size());
    for (int64_t r = 0; r < out; ++r) {
      if (t == DType::F32)
        std::memcpy(bytes.data() + r * row_bytes, wf.data() + r * in, row_bytes);
      else
        quantize_row(t, wf.data() + r * in, bytes.data() + r * row_bytes, in);
      dequantize_row(t, bytes.data() + r * row_bytes, deq.data() + r * in, in);
    }
    if (t == DType::F32) CHECK(deq == wf);
    TensorView wv;
    wv.name = "w";
    wv.type = t;
    wv.shape = {out, in};
    wv.data = bytes.data();
    wv.nbytes = bytes.size();
    TensorView bv;
    bv.name = "b";
    bv.shape = {out};
    bv.data = reinterpret_cast<const uint8_t*>(bias.data());
    bv.nbytes = bias.size() * 4;
    auto k = make_linear_reference(wv, &bv);
    REQUIRE(k.ok());
    std::fill(bytes.begin(), bytes.end(), 0);  // the kernel owns a copy: file bytes may go away
    std::vector<float> y1(m * out), y2(m * out);
    ThreadPool p1(1), p2(2);
    REQUIRE(k.value()->forward(x.data(), m, y1.data(), p1).ok());
    REQUIRE(k.value()->forward(x.data(), m, y2.data(), p2).ok());
    CHECK(y1 == y2);
    std::vector<double> ref(m * out);
    for (size_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < out; ++r) {
        double s = bias[r];
        for (int64_t c = 0; c < in; ++c) s += double(x[i * in + c]) * deq[r * in + c];
        ref[i * out + r] = s;
      }
    CHECK(max_abs_diff(y1, ref) < 1e-4);
    CHECK(k.value()->describe() == std::string("ref ") + dtype_name(t));
  }
  // Bad shapes are errors, not crashes.
  TensorView bad;
  bad.name = "bad";
  bad.type = DType::Q8_0;
  bad.shape = {4, 33};
  std::vector<uint8_t> junk(1000);
  bad.data = junk.data();
  bad.nbytes = junk.size();
  CHECK_FALSE(make_linear_reference(bad, nullptr).ok());
}

TEST_CASE("KV cache reorders rows by parents", "[ops]") {
  KvCache c;
  c.configure(2, 3, 2);
  c.reset(3);
  // Fill 3 positions (forces a capacity grow) with values identifying (row, layer, k/v, pos).
  c.ensure_capacity(3);
  for (size_t r = 0; r < 3; ++r)
    for (size_t l = 0; l < 2; ++l)
      for (size_t p = 0; p < 3; ++p)
        for (size_t i = 0; i < 3; ++i) {
          c.k(r, l)[p * 3 + i] = float(r * 1000 + l * 100 + p * 10 + i);
          c.v(r, l)[p * 3 + i] = -float(r * 1000 + l * 100 + p * 10 + i);
        }
  c.set_len(3);
  REQUIRE(c.reorder({2, 2, 0, 1}).ok());
  REQUIRE(c.rows() == 4);
  const int parents[4] = {2, 2, 0, 1};
  for (size_t r = 0; r < 4; ++r)
    for (size_t l = 0; l < 2; ++l)
      for (size_t p = 0; p < 3; ++p)
        for (size_t i = 0; i < 3; ++i) {
          REQUIRE(c.k(r, l)[p * 3 + i] == float(parents[r] * 1000 + l * 100 + p * 10 + i));
          REQUIRE(c.v(r, l)[p * 3 + i] == -float(parents[r] * 1000 + l * 100 + p * 10 + i));
        }
  CHECK_FALSE(c.reorder({4}).ok());
  CHECK_FALSE(c.reorder({-1}).ok());
}

TEST_CASE("T5 feed-forward variants match the double formulas", "[ops]") {
  const int64_t d = 24, ff = 40;
  const size_t rows = 3;
  auto w0 = randn(static_cast<size_t>(ff * d), 21, 0.3f), w1 = randn(static_cast<size_t>(ff * d), 22, 0.3f);
  auto wo = randn(static_cast<size_t>(d * ff), 23, 0.3f), x = randn(rows * d, 24);
  auto lin = [](const std::vector<float>& w, int64_t out, int64_t in) {
    TensorView v;
    v.name = "w";
    v.shape = {out, in};
    v.data = reinterpret_cast<const uint8_t*>(w.data());
    v.nbytes = w.size() * 4;
    return ops::Linear(std::move(make_linear_reference(v, nullptr)).value());
  };
  ThreadPool pool(1);
  for (int variant = 0; variant < 3; ++variant) {  // relu (classic T5), gated gelu_new (mT5), gated relu
    T5FeedForward f;
    f.gated = variant != 0;
    f.act = variant == 1 ? T5FeedForward::Act::kGeluNew : T5FeedForward::Act::kRelu;
    f.d_ff = ff;
    f.wi0 = lin(w0, ff, d);
    if (f.gated) f.wi1 = lin(w1, ff, d);
    f.wo = lin(wo, d, ff);
    std::vector<float> y(rows * d), scratch(2 * rows * ff);
    REQUIRE(f.forward(x.data(), rows, y.data(), scratch.data(), pool).ok());
    std::vector<double> ref(rows * d, 0.0);
    for (size_t r = 0; r < rows; ++r) {
      std::vector<double> h(ff);
      for (int64_t j = 0; j < ff; ++j) {
        double a = 0, b = 0;
        for (int64_t i = 0; i < d; ++i) {
          a += double(w0[j * d + i]) * x[r * d + i];
          b += double(w1[j * d + i]) * x[r * d + i];
        }
        a = variant == 1 ? 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)))
                         : std::max(a, 0.0);
        h[j] = f.gated ? a * b : a;
      }
      for (int64_t o = 0; o < d; ++o)
        for (int64_t j = 0; j < ff; ++j) ref[r * d + o] += double(wo[o * ff + j]) * h[j];
    }
    INFO("variant " << variant);
    CHECK(max_abs_diff(y, ref) < 1e-4);
  }
}

TEST_CASE("vectorized ops match the scalar references at model-like shapes", "[ops]") {
  ThreadPool one(1), two(2);
  // Activations over a wide range, lengths with vector tails.
  for (size_t n : {size_t(1), size_t(7), size_t(37), size_t(40000)}) {
    auto x = randn(n, 21, 4.0f);
    if (n > 2) x[1] = -12.0f, x[2] = 30.0f;
    std::vector<float> e = x, er = x, t = x, tr = x, e2 = x, ep = x, t1 = x, tp = x;
    ops::gelu_erf(e.data(), n, one);  // pooled form: XNNPACK's vgelu where built in
    ops::gelu_erf(e2.data(), n, two);
    ops::gelu_erf(ep.data(), n);      // portable vector code
    ops::ref::gelu_erf(er.data(), n);
    ops::gelu_tanh(t.data(), n, two);  // pooled form: 8 lanes on AVX2 machines
    ops::gelu_tanh(t1.data(), n, one);
    ops::gelu_tanh(tp.data(), n);      // portable vector code
    ops::ref::gelu_tanh(tr.data(), n);
    CHECK(e == e2);  // thread-count independent
    CHECK(t == t1);
    for (size_t i = 0; i < n; ++i) {
      REQUIRE(e[i] == Approx(er[i]).margin(1e-6).epsilon(1e-5));
      REQUIRE(ep[i] == Approx(er[i]).margin(1e-6).epsilon(1e-5));
      REQUIRE(t[i] == Approx(tr[i]).margin(1e-6).epsilon(1e-5));
      REQUIRE(tp[i] == Approx(tr[i]).margin(1e-6).epsilon(1e-5));
    }
  }
  // softmax with masked (lowest) entries: exactly 0 there.
  {
    auto x = randn(5 * 259, 22, 5.0f), xr = x;
    x[3] = xr[3] = ops::kMaskValue;
    ops::softmax(x.data(), 5, 259);
    ops::ref::softmax(xr.data(), 5, 259);
    CHECK(x[3] == 0.0f);
    for (size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == Approx(xr[i]).margin(1e-7).epsilon(1e-5));
  }
  // Norms at a ViT-like width with a large offset.
  {
    const size_t rows = 33, dim = 1411;
    auto x = randn(rows * dim, 23, 3.0f), w = randn(dim, 24), b = randn(dim, 25);
    for (size_t i = 0; i < dim; ++i) x[i] += 50.0f;
    std::vector<float> ln(rows * dim), lr(rows * dim), rn(rows * dim), rr(rows * dim), ln1(rows * dim);
    ops::layer_norm(x.data(), rows, dim, w.data(), b.data(), 1e-6f, ln.data(), two);
    ops::layer_norm(x.data(), rows, dim, w.data(), b.data(), 1e-6f, ln1.data(), one);
    ops::ref::layer_norm(x.data(), rows, dim, w.data(), b.data(), 1e-6f, lr.data(), one);
    ops::rms_norm(x.data(), rows, dim, w.data(), 1e-6f, rn.data(), two);
    ops::ref::rms_norm(x.data(), rows, dim, w.data(), 1e-6f, rr.data(), one);
    CHECK(ln == ln1);
    for (size_t i = 0; i < ln.size(); ++i) {
      REQUIRE(ln[i] == Approx(lr[i]).margin(2e-5));
      REQUIRE(rn[i] == Approx(rr[i]).margin(2e-5));
    }
  }
}

TEST_CASE("blocked attention matches the scalar reference for every thread count", "[ops]") {
  struct Shape { size_t heads, dh, ql, kl; bool causal; size_t off; bool bias; };
  const Shape shapes[] = {{16, 88, 45, 45, false, 0, false},   // ViT-like (odd rows, kv tail)
                          {12, 64, 32, 61, false, 0, false},   // Q-Former cross-attention
                          {8, 64, 1, 21, true, 20, true},      // decoder step with cache
                          {5, 10, 9, 13, true, 1, true}};      // odd head_dim
  for (const Shape& sh : shapes) {
    const size_t inner = sh.heads * sh.dh;
    auto q = randn(sh.ql * inner, 31, 1.5f), k = randn(sh.kl * inner, 32, 1.5f), v = randn(sh.kl * inner, 33);
    auto bias = randn(sh.heads * sh.ql * sh.kl, 34);
    std::vector<float> mask(sh.kl, 0.0f);
    mask[sh.kl / 2] = ops::kMaskValue;
    ops::AttentionArgs a;
    a.heads = sh.heads;
    a.head_dim = sh.dh;
    a.q_len = sh.ql;
    a.kv_len = sh.kl;
    a.q_stride = a.k_stride = a.v_stride = a.out_stride = inner;
    a.scale = 0.125f;
    if (sh.bias) {
      a.bias = bias.data();
      a.bias_head_stride = sh.ql * sh.kl;
      a.bias_row_stride = sh.kl;
    }
    a.key_mask = mask.data();
    a.causal = sh.causal;
    a.causal_offset = sh.off;
    ThreadPool p1(1), p2(2), p3(3);
    std::vector<float> o1(sh.ql * inner), o2(o1.size()), o3(o1.size()), ref(o1.size());
    ops::attention(q.data(), k.data(), v.data(), o1.data(), a, p1);
    std::vector<float> scratch(ops::attention_scratch_floats(a, p2));
    ops::AttentionArgs a2 = a;
    a2.scratch = scratch.data();
    a2.scratch_floats = scratch.size();
    ops::attention(q.data(), k.data(), v.data(), o2.data(), a2, p2);
    ops::attention(q.data(), k.data(), v.data(), o3.data(), a, p3);
    ops::ref::attention(q.data(), k.data(), v.data(), ref.data(), a, p1);
    CHECK(o1 == o2);
    CHECK(o1 == o3);
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(double(o1[i]) - ref[i]));
    CHECK(worst < 2e-5);
  }
}

TEST_CASE("attention_rows (one query per row, own K/V per row) matches the scalar reference", "[ops]") {
  struct Shape { size_t heads, dh, kl, rows; bool causal; size_t off; bool bias; bool mask; };
  const Shape shapes[] = {{32, 64, 21, 5, true, 20, true, false},   // beam-5 decoder self-attention step
                          {32, 64, 47, 5, false, 0, false, true},   // cross-attention, padded prompt keys
                          {3, 7, 1, 1, true, 0, true, false},       // first step: one key, odd head_dim
                          {5, 10, 13, 3, true, 12, true, true},     // head_dim not a multiple of 4
                          {2, 88, 9, 2, false, 0, false, false},
                          {3, 67, 8, 2, true, 7, true, true},       // exactly 8 keys; head_dim 64 + 3
                          {4, 130, 17, 3, false, 0, true, false}};  // 2 x 64 + 2 columns, 16 + 1 keys
  for (const Shape& sh : shapes) {
    const size_t inner = sh.heads * sh.dh;
    auto q = randn(sh.rows * inner, 41, 1.5f), bias = randn(sh.heads * sh.kl, 44);
    std::vector<std::vector<float>> k, v;
    std::vector<const float*> kp, vp;
    for (size_t r = 0; r < sh.rows; ++r) {
      k.push_back(randn(sh.kl * inner, 42 + 7 * r, 1.5f));
      v.push_back(randn(sh.kl * inner, 43 + 7 * r));
    }
    for (size_t r = 0; r < sh.rows; ++r) {
      kp.push_back(k[r].data());
      vp.push_back(v[r].data());
    }
    std::vector<float> mask(sh.kl, 0.0f);
    if (sh.mask) mask[sh.kl - 1] = ops::kMaskValue;
    ops::AttentionArgs a;
    a.heads = sh.heads;
    a.head_dim = sh.dh;
    a.q_len = 1;
    a.kv_len = sh.kl;
    a.q_stride = a.k_stride = a.v_stride = a.out_stride = inner;
    a.scale = 0.125f;
    if (sh.bias) {
      a.bias = bias.data();
      a.bias_head_stride = sh.kl;
      a.bias_row_stride = sh.kl;
    }
    a.key_mask = sh.mask ? mask.data() : nullptr;
    a.causal = sh.causal;
    a.causal_offset = sh.off;
    ThreadPool p1(1), p2(2), p3(3);
    std::vector<float> o1(sh.rows * inner), o2(o1.size()), o3(o1.size()), one(o1.size()), ref(o1.size());
    // The 4-lane path too where the 8-lane AVX2 one is the default (MBLIP_OPS_AVX2=0 selects it).
    std::vector<float> o4(o1.size());
    ::setenv("MBLIP_OPS_AVX2", "0", 1);
    ops::attention_rows(q.data(), kp.data(), vp.data(), o4.data(), a, sh.rows, p2);
    ::unsetenv("MBLIP_OPS_AVX2");
    ops::attention_rows(q.data(), kp.data(), vp.data(), o1.data(), a, sh.rows, p1);
    std::vector<float> scratch(ops::attention_scratch_floats(a, p2));
    ops::AttentionArgs a2 = a;
    a2.scratch = scratch.data();
    a2.scratch_floats = scratch.size();
    ops::attention_rows(q.data(), kp.data(), vp.data(), o2.data(), a2, sh.rows, p2);
    ops::attention_rows(q.data(), kp.data(), vp.data(), o3.data(), a, sh.rows, p3);
    for (size_t r = 0; r < sh.rows; ++r) {
      ops::attention(q.data() + r * inner, kp[r], vp[r], one.data() + r * inner, a, p2);
      ops::ref::attention(q.data() + r * inner, kp[r], vp[r], ref.data() + r * inner, a, p1);
    }
    CHECK(o1 == o2);  // independent of the thread count
    CHECK(o1 == o3);
    CHECK(o1 == one);  // same as one attention() per row
    double worst = 0, worst4 = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      worst = std::max(worst, std::fabs(double(o1[i]) - ref[i]));
      worst4 = std::max(worst4, std::fabs(double(o4[i]) - ref[i]));
    }
    INFO("heads " << sh.heads << " dh " << sh.dh << " kv " << sh.kl << " rows " << sh.rows);
    CHECK(worst < 2e-5);
    CHECK(worst4 < 2e-5);
  }
}

TEST_CASE("GEMM-shaped attention matches the scalar reference on awkward shapes", "[ops]") {
  // Shapes with >= 16 query rows (wasm: >= 128) take the batch-GEMM path where it is built in: the ViT (fused
  // qkv rows, 257 tokens, 16 x 88, no mask), a causal teacher-forcing shape with an offset and
  // bias, a masked odd shape at the threshold, and a single head.
  struct Shape { size_t heads, dh, ql, kl, stride_mul; bool causal; size_t off; bool bias, mask; };
  const Shape shapes[] = {{16, 88, 257, 257, 3, false, 0, false, false},
                          {7, 36, 33, 50, 1, true, 17, true, false},
                          {3, 12, 16, 17, 2, false, 0, true, true},
                          {1, 80, 19, 300, 1, false, 0, false, true}};
  for (const Shape& sh : shapes) {
    const size_t inner = sh.heads * sh.dh, st = inner * sh.stride_mul;
    auto q = randn(sh.ql * st, 41, 1.5f), k = randn(sh.kl * st, 42, 1.5f), v = randn(sh.kl * st, 43);
    auto bias = randn(sh.heads * sh.ql * sh.kl, 44);
    std::vector<float> mask(sh.kl, 0.0f);
    for (size_t j = 1; j < sh.kl; j += 5) mask[j] = ops::kMaskValue;
    ops::AttentionArgs a;
    a.heads = sh.heads;
    a.head_dim = sh.dh;
    a.q_len = sh.ql;
    a.kv_len = sh.kl;
    a.q_stride = a.k_stride = a.v_stride = st;
    a.out_stride = inner + 3;  // output rows wider than the heads: the gap must stay untouched
    a.scale = 1.0f / std::sqrt(static_cast<float>(sh.dh));
    if (sh.bias) {
      a.bias = bias.data();
      a.bias_head_stride = sh.ql * sh.kl;
      a.bias_row_stride = sh.kl;
    }
    if (sh.mask) a.key_mask = mask.data();
    a.causal = sh.causal;
    a.causal_offset = sh.off;
    ThreadPool p1(1), p2(2), p3(3);
    const float kGap = 12345.0f;
    std::vector<float> o1(sh.ql * a.out_stride, kGap), o2(o1), o3(o1), ref(o1);
    ops::attention(q.data(), k.data(), v.data(), o1.data(), a, p1);
    std::vector<float> scratch(ops::attention_scratch_floats(a, p2));
    ops::AttentionArgs a2 = a;
    a2.scratch = scratch.data();
    a2.scratch_floats = scratch.size();
    ops::attention(q.data(), k.data(), v.data(), o2.data(), a2, p2);
    ops::attention(q.data(), k.data(), v.data(), o3.data(), a, p3);
    ops::ref::attention(q.data(), k.data(), v.data(), ref.data(), a, p1);
    INFO("heads " << sh.heads << " dh " << sh.dh << " q " << sh.ql << " kv " << sh.kl);
    CHECK(o1 == o2);  // thread-count independent
    CHECK(o1 == o3);
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(double(o1[i]) - ref[i]));
    CHECK(worst < 2e-5);
    for (size_t i = 0; i < sh.ql; ++i)
      for (size_t c = inner; c < a.out_stride; ++c) REQUIRE(o1[i * a.out_stride + c] == kGap);
  }
}

TEST_CASE("ThreadPool template and function-pointer paths visit every index once", "[ops]") {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<int> hits(1000, 0);
    pool.parallel_for(hits.size(), [&](size_t i) { hits[i]++; });
    for (int h : hits) REQUIRE(h == 1);
    struct Ctx { std::vector<int>* hits; };
    Ctx ctx{&hits};
    pool.parallel_for_raw(hits.size(), [](void* c, size_t i) { (*static_cast<Ctx*>(c)->hits)[i] += 2; }, &ctx);
    for (int h : hits) REQUIRE(h == 3);
  }
}
