// Kernel tests: XNNPACK linear kernels (f32/f16/q8_0/q4_0) against an independent float64
// dequantize-then-dot reference written here, with named, derived tolerances; thread-count
// invariance; concurrent use of one kernel; the ThreadPool itself.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/linear.h"
#include "kernels/linear_impl.h"
#include "kernels/thread_pool.h"
#ifdef MBLIP_HAVE_XNNPACK
#include "kernels/linear_xnnpack.h"
#endif

using namespace mblip;

namespace {

// f32 paths: float accumulation over K <= 2048 terms; measured ~2e-6 (TOOLCHAIN.md section 10).
constexpr double kF32RelTol = 1e-5;
// qd8 paths, aggregate: max|y - ref| / max|ref|. Activations are quantized per row to int8 with
// step s_x = range/255, so each term errs by <= s_x/2; summed with random signs over K terms this
// is ~ s_x/sqrt(12) * ||w_n||, i.e. ~0.1-0.5% of max|y| for our data: 1e-2 leaves margin.
constexpr double kQd8RelTol = 1e-2;
// qb4w additionally loses Q4_0's extreme value in blocks with d < 0 (8|d| becomes 7|d|, see
// linear_xnnpack.cpp) and rounds block scales to bf16 (2^-9 relative). The clamp dominates: one
// error of |d| per 64 weights vs weights of std ~4.3|d| gives ~1/(8*4.3) = 3% of a typical |y|,
// i.e. ~1-4% of max|y| for our data (measured 3.0-3.5%); 5e-2 bounds it.
constexpr double kQb4wRelTol = 5e-2;

struct Rng {  // same sequence on every platform (no std distributions)
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 2654435761u + 1) {}
  uint32_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s >> 33);
  }
  float uniform() { return static_cast<float>(next() & 0xFFFFFF) / 16777216.f * 2.f - 1.f; }  // [-1, 1)
};

// Independent IEEE half decode (normals and zero only; the generator makes nothing else).
double half_value(uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double v = e == 0 ? 0.0 : std::ldexp(1.0 + m / 1024.0, e - 15);
  return (h & 0x8000) ? -v : v;
}
uint16_t random_half(Rng& r, int emin, int emax, bool allow_neg) {
  const int e = emin + static_cast<int>(r.next() % static_cast<uint32_t>(emax - emin + 1));
  const uint16_t sign = (allow_neg && (r.next() & 1)) ? 0x8000 : 0;
  return static_cast<uint16_t>(sign | (e << 10) | (r.next() & 0x3FF));
}

struct Weight {
  DType type;
  int64_t n, k;
  std::vector<uint8_t> bytes;
  std::vector<double> value;  // exact dequantized value, [n][k]
  std::vector<uint16_t> block_d;  // q types: fp16 scale per block (row-major blocks)
  std::vector<uint8_t> block_q;   // q types: stored integer per element (q4: 0..15, q8: int8 as uint8)
  TensorView view() const {
    TensorView v;
    v.name = "test.weight";
    v.type = type;
    v.shape = {n, k};
    v.data = bytes.data();
    v.nbytes = bytes.size();
    return v;
  }
};

Weight make_weight(DType type, int64_t n, int64_t k, uint64_t seed) {
  Rng r(seed);
  Weight w{type, n, k, {}, std::vector<double>(static_cast<size_t>(n * k)), {}, {}};
  const size_t total = static_cast<size_t>(n * k);
  if (type == DType::F32) {
    w.bytes.resize(total * 4);
    for (size_t i = 0; i < total; ++i) {
      const float f = 0.1f * r.uniform();
      std::memcpy(&w.bytes[i * 4], &f, 4);
      w.value[i] = f;
    }
  } else if (type == DType::F16) {
    w.bytes.resize(total * 2);
    for (size_t i = 0; i < total; ++i) {
      const uint16_t h = random_half(r, 8, 12, true);  // |w| in [2^-7, 2^-2]
      std::memcpy(&w.bytes[i * 2], &h, 2);
      w.value[i] = half_value(h);
    }
  } else {
    const bool q8 = type == DType::Q8_0;
    const size_t blocks = total / 32, bb = q8 ? 34 : 18;
    w.bytes.resize(blocks * bb);
    w.block_d.resize(blocks);
    w.block_q.resize(total);
    for (size_t b = 0; b < blocks; ++b) {
      uint8_t* blk = &w.bytes[b * bb];
      // ~3% all-zero blocks (d = 0); q4 scales of both signs, as ggml's Q4_0 produces.
      const uint16_t d = (r.next() % 32 == 0) ? 0 : (q8 ? random_half(r, 6, 6, false) : random_half(r, 5, 7, true));
      w.block_d[b] = d;
      std::memcpy(blk, &d, 2);
      const size_t zero_at = r.next() % 32;
      for (size_t j = 0; j < 32; ++j) {
        const size_t i = b * 32 + j;
        if (q8) {
          const int8_t q = static_cast<int8_t>(static_cast<int>(r.next() % 255) - 127);
          blk[2 + j] = static_cast<uint8_t>(q);
          w.block_q[i] = static_cast<uint8_t>(q);
          w.value[i] = half_value(d) * q;
        } else {
          // As ggml's Q4_0 produces: q = 0 is the block's extreme value (once), others 1..15.
          const uint8_t q = j == zero_at ? 0 : static_cast<uint8_t>(1 + r.next() % 15);
          blk[2 + (j % 16)] |= static_cast<uint8_t>(j < 16 ? q : q << 4);
          w.block_q[i] = q;
          w.value[i] = half_value(d) * (static_cast<int>(q) - 8);
        }
      }
    }
  }
  return w;
}

std::vector<float> make_x(size_t m, size_t k, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(m * k);
  for (auto& v : x) v = r.uniform();
  return x;
}

std::vector<double> reference(const Weight& w, const std::vector<float>& x, const std::vector<float>& bias,
                              size_t m) {
  const size_t n = static_cast<size_t>(w.n), k = static_cast<size_t>(w.k);
  std::vector<double> y(m * n);
  for (size_t i = 0; i < m; ++i)
    for (size_t o = 0; o < n; ++o) {
      double s = bias.empty() ? 0.0 : bias[o];
      for (size_t j = 0; j < k; ++j) s += static_cast<double>(x[i * k + j]) * w.value[o * k + j];
      y[i * n + o] = s;
    }
  return y;
}

#ifdef MBLIP_HAVE_XNNPACK
// Per-element error bound of the qd8 paths (rigorous, from the data):
//   |err| <= sum_j |x_j| e_j  +  (s_x/2) sum_j (|w_j| + e_j)  +  float slack,
// e_j = weight error of the path (requantization / bf16 scale / clamp), s_x = the row's int8 step.
std::vector<double> qd8_bound(const Weight& w, const std::vector<float>& x, size_t m, XnnQ4Mode q4) {
  const size_t n = static_cast<size_t>(w.n), k = static_cast<size_t>(w.k);
  std::vector<double> e(n * k, 0.0);
  for (size_t o = 0; o < n; ++o) {
    const double* row = &w.value[o * k];
    if (w.type == DType::Q8_0 || q4 != XnnQ4Mode::kBlockwise) {
      const int qmax = (w.type == DType::Q8_0 || q4 == XnnQ4Mode::kInt8) ? 127 : 7;
      double lo = 0, hi = 0;
      for (size_t j = 0; j < k; ++j) lo = std::min(lo, row[j]), hi = std::max(hi, row[j]);
      const double s = std::max(hi / qmax, -lo / (qmax + 1));
      for (size_t j = 0; j < k; ++j) e[o * k + j] = s * 0.5 * (1 + 1e-4);
    } else {  // qb4w: bf16(|d|) * (q' - 8) per the XNNPACK spec, q' = q or min(15, 16 - q)
      for (size_t j = 0; j < k; ++j) {
        const size_t i = o * k + j;
        const double d = half_value(w.block_d[i / 32]);
        if (d == 0) continue;
        float ad = static_cast<float>(std::fabs(d));
        uint32_t u;
        std::memcpy(&u, &ad, 4);
        const uint32_t lo16 = u & 0xFFFF;
        u &= 0xFFFF0000u;
        if (lo16 > 0x8000 || (lo16 == 0x8000 && (u & 0x10000))) u += 0x10000;  // round to nearest even
        std::memcpy(&ad, &u, 4);
        const int q = w.block_q[i];
        const int qq = d > 0 ? q : std::min(15, 16 - q);
        e[i] = std::fabs(static_cast<double>(ad) * (qq - 8) - w.value[i]);
      }
    }
  }
  std::vector<double> bound(m * n);
  for (size_t i = 0; i < m; ++i) {
    const float* xr = &x[i * k];
    double xmin = 0, xmax = 0, xabs = 0;
    for (size_t j = 0; j < k; ++j) xmin = std::min<double>(xmin, xr[j]), xmax = std::max<double>(xmax, xr[j]);
    const double sx = (xmax - xmin) / 255.0;
    for (size_t o = 0; o < n; ++o) {
      double we = 0, wabs = 0;
      xabs = 0;
      for (size_t j = 0; j < k; ++j) {
        we += std::fabs(xr[j]) * e[o * k + j];
        wabs += std::fabs(w.value[o * k + j]) + e[o * k + j];
        xabs += std::fabs(xr[j]) * std::fabs(w.value[o * k + j]);
      }
      bound[i * n + o] = we + 0.5 * sx * wabs * (1 + 1e-3) + kF32RelTol * (xabs + 1e-6);
    }
  }
  return bound;
}

struct Check {
  double max_err = 0, max_ref = 0;
  size_t bound_violations = 0;
};

Check compare(const std::vector<float>& y, const std::vector<double>& ref, const std::vector<double>* bound) {
  Check c;
  for (size_t i = 0; i < y.size(); ++i) {
    const double err = std::fabs(y[i] - ref[i]);
    c.max_err = std::max(c.max_err, err);
    c.max_ref = std::max(c.max_ref, std::fabs(ref[i]));
    if (bound && !(err <= (*bound)[i])) ++c.bound_violations;
    if (std::isnan(y[i])) ++c.bound_violations;
  }
  return c;
}

void run_case(DType type, int64_t n, int64_t k, XnnQ4Mode q4, bool with_bias) {
  const Weight w = make_weight(type, n, k, static_cast<uint64_t>(n * 131 + k * 7 + static_cast<int>(type)));
  std::vector<float> bias;
  if (with_bias) bias = make_x(1, static_cast<size_t>(n), 99);
  TensorView bv;
  bv.name = "test.bias";
  bv.shape = {n};
  bv.data = reinterpret_cast<const uint8_t*>(bias.data());
  bv.nbytes = bias.size() * 4;
  XnnLinearOptions opts;
  opts.q4 = q4;
  opts.max_slice_elems = 100 * k;  // force several slices when n > 100 (exercises the slicing)
  auto kr = make_linear_xnnpack_with(w.view(), with_bias ? &bv : nullptr, opts);
  REQUIRE(kr.ok());
  const LinearKernel& kernel = *kr.value();
  REQUIRE(kernel.in_features() == k);
  REQUIRE(kernel.out_features() == n);
  ThreadPool pool1(1);
  for (size_t m : {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{15}, size_t{17}, size_t{45}, size_t{257}}) {
    INFO(dtype_name(type) << " " << kernel.describe() << " n=" << n << " k=" << k << " m=" << m);
    const auto x = make_x(m, static_cast<size_t>(k), m * 17 + static_cast<uint64_t>(k));
    std::vector<float> y(m * static_cast<size_t>(n));
    REQUIRE(kernel.forward(x.data(), m, y.data(), pool1).ok());
    const auto ref = reference(w, x, bias, m);
    if (type == DType::F32 || type == DType::F16) {
      const Check c = compare(y, ref, nullptr);
      INFO("max_err/max_ref = " << c.max_err / c.max_ref);
      CHECK(c.max_err <= kF32RelTol * c.max_ref);
    } else {
      const auto bound = qd8_bound(w, x, m, q4);
      const Check c = compare(y, ref, &bound);
      INFO("max_err/max_ref = " << c.max_err / c.max_ref << ", bound violations " << c.bound_violations);
      CHECK(c.bound_violations == 0);
      // The aggregate tolerances are statistical: only meaningful for long rows and enough outputs.
      if (k >= 1024 && m * static_cast<size_t>(n) >= 256) {
        if (type == DType::Q8_0 || q4 == XnnQ4Mode::kInt8) CHECK(c.max_err <= kQd8RelTol * c.max_ref);
        if (type == DType::Q4_0 && q4 == XnnQ4Mode::kBlockwise) CHECK(c.max_err <= kQb4wRelTol * c.max_ref);
      }
    }
  }
}
#endif

}  // namespace

TEST_CASE("ThreadPool parallel_for visits every index once", "[kernels]") {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    REQUIRE(pool.threads() >= 1);
    std::vector<std::atomic<int>> hits(1000);
    for (auto& h : hits) h = 0;
    pool.parallel_for(hits.size(), [&](size_t i) { hits[i]++; });
    for (auto& h : hits) REQUIRE(h.load() == 1);
    pool.parallel_for(0, [&](size_t) { FAIL("called for n = 0"); });
  }
}

#ifdef MBLIP_HAVE_XNNPACK
TEST_CASE("XNNPACK f32/f16 linear matches the float64 reference", "[kernels]") {
  for (DType t : {DType::F32, DType::F16})
    for (int64_t k : {48, 100, 64, 2048})
      for (int64_t n : {12, 100, 257}) run_case(t, n, k, XnnQ4Mode::kBlockwise, n != 100);
}

TEST_CASE("XNNPACK qd8-f32-qc8w linear (Q8_0) within the activation-quantization bound", "[kernels]") {
  for (int64_t k : {64, 2048})
    for (int64_t n : {12, 100, 257}) run_case(DType::Q8_0, n, k, XnnQ4Mode::kBlockwise, n != 12);
}

TEST_CASE("XNNPACK qd8-f32-qb4w / qc4w / qc8w linear (Q4_0) within their bounds", "[kernels]") {
  for (XnnQ4Mode mode : {XnnQ4Mode::kBlockwise, XnnQ4Mode::kPerChannel, XnnQ4Mode::kInt8})
    for (int64_t k : {64, 2048})
      for (int64_t n : {12, 100, 257}) run_case(DType::Q4_0, n, k, mode, n == 257);
}

TEST_CASE("make_linear uses XNNPACK and agrees with the reference kernel", "[kernels]") {
  // (a decoder step's Q8_0 weight: XNNPACK on every build; tens of rows go to the int8-rows kernel in
  // the SIMD128 builds, tests/test_kernels_i8rows.cpp)
  const Weight w = make_weight(DType::Q8_0, 40, 96, 5);
  LinearOptions few;
  few.rows = LinearRows::kFew;
  auto fast = make_linear(w.view(), nullptr, few);
  LinearOptions ro;
  ro.backend = LinearBackend::kReference;
  auto ref = make_linear(w.view(), nullptr, ro);
  REQUIRE(fast.ok());
  REQUIRE(ref.ok());
  CHECK(fast.value()->describe().find("xnnpack") != std::string::npos);
  ThreadPool pool(1);
  const auto x = make_x(3, 96, 1);
  std::vector<float> y1(3 * 40), y2(3 * 40);
  REQUIRE(fast.value()->forward(x.data(), 3, y1.data(), pool).ok());
  REQUIRE(ref.value()->forward(x.data(), 3, y2.data(), pool).ok());
  const auto bound = qd8_bound(w, x, 3, XnnQ4Mode::kBlockwise);
  for (size_t i = 0; i < y1.size(); ++i) CHECK(std::fabs(y1[i] - y2[i]) <= bound[i]);
}

// Natively, Q4_0 weights declared to run on hundreds of rows (the vision tower) are packed for
// XNNPACK's int8 qc8w (faster at large M), other Q4_0 weights keep the 4-bit qb4w form; the estimate
// used before loading matches what the kernel holds, and the results stay within the int8 bound.
TEST_CASE("make_linear packs Q4_0 weights run on many rows as int8", "[kernels]") {
#if defined(__EMSCRIPTEN__) && !defined(__wasm_relaxed_simd__)
  // SIMD128 wasm: int8 too, on our int8-rows kernel rather than XNNPACK's qc8w (its SIMD128 variant:
  // tests/test_kernels_i8rows.cpp; relaxed builds: test_kernels_relaxed.cpp); fewer rows stay 4-bit.
  const Weight w = make_weight(DType::Q4_0, 40, 96, 7);
  LinearOptions many;
  many.rows = LinearRows::kMany;
  auto km = make_linear(w.view(), nullptr, many);
  auto ks = make_linear(w.view(), nullptr);
  REQUIRE(km.ok());
  REQUIRE(ks.ok());
  CHECK(km.value()->describe().find("own int8 rows wasm_simd128") != std::string::npos);
  CHECK(ks.value()->describe().find("own q4_0") != std::string::npos);
  CHECK(estimate_linear_bytes(DType::Q4_0, 40, 96, false, many) == km.value()->memory_bytes());
  CHECK(linear_kernel_config().find("many=own_i8rows") != std::string::npos);
#elif defined(__EMSCRIPTEN__)
  SUCCEED("relaxed SIMD: tests/test_kernels_relaxed.cpp");
#else
  if (std::getenv("MBLIP_Q4_KERNEL") || std::getenv("MBLIP_Q4_XNN")) return;  // a developer override
  // (the estimate of the tens-of-rows form is checked whichever kernel this CPU gets)
  const Weight w = make_weight(DType::Q4_0, 40, 96, 7);
  LinearOptions many, ref;
  many.rows = LinearRows::kMany;
  ref.backend = LinearBackend::kReference;
  auto km = make_linear(w.view(), nullptr, many);
  auto ks = make_linear(w.view(), nullptr);
  auto kr = make_linear(w.view(), nullptr, ref);
  REQUIRE(km.ok());
  REQUIRE(ks.ok());
  REQUIRE(kr.ok());
  CHECK(km.value()->describe().find("qd8-f32-qc8w") != std::string::npos);
  // (tens of rows: XNNPACK qb4w, or the VNNI kernel on CPUs with AVX-512 VNNI: kernels/q4_0_vnni.h)
  CHECK(ks.value()->describe().find("qd8-f32-qc8w") == std::string::npos);
  CHECK(estimate_linear_bytes(DType::Q4_0, 40, 96, false, many) == km.value()->memory_bytes());
  CHECK(estimate_linear_bytes(DType::Q4_0, 40, 96, false) == ks.value()->memory_bytes());
  CHECK(km.value()->memory_bytes() > ks.value()->memory_bytes());
  LinearOptions narrow = many;  // what a load that would not fit otherwise plans
  narrow.widen_q4_many = false;
  auto kn = make_linear(w.view(), nullptr, narrow);
  REQUIRE(kn.ok());
  CHECK(kn.value()->describe().find("qd8-f32-qc8w") == std::string::npos);
  CHECK(estimate_linear_bytes(DType::Q4_0, 40, 96, false, narrow) == kn.value()->memory_bytes());
  ThreadPool pool(1);
  const auto x = make_x(5, 96, 2);
  std::vector<float> y1(5 * 40), y2(5 * 40);
  REQUIRE(km.value()->forward(x.data(), 5, y1.data(), pool).ok());
  REQUIRE(kr.value()->forward(x.data(), 5, y2.data(), pool).ok());
  const auto bound = qd8_bound(w, x, 5, XnnQ4Mode::kInt8);
  for (size_t i = 0; i < y1.size(); ++i) CHECK(std::fabs(y1[i] - y2[i]) <= bound[i]);
#endif
}

TEST_CASE("XNNPACK linear results are bitwise identical for 1 and 2 threads", "[kernels]") {
  ThreadPool p1(1), p2(2);
  for (DType t : {DType::F32, DType::Q8_0, DType::Q4_0}) {
    const Weight w = make_weight(t, 257, 2048, 11);
    auto kr = make_linear_xnnpack(w.view(), nullptr);
    REQUIRE(kr.ok());
    for (size_t m : {size_t{1}, size_t{45}}) {
      const auto x = make_x(m, 2048, 3);
      std::vector<float> y1(m * 257), y2(m * 257, -1.f);
      REQUIRE(kr.value()->forward(x.data(), m, y1.data(), p1).ok());
      REQUIRE(kr.value()->forward(x.data(), m, y2.data(), p2).ok());
      INFO(dtype_name(t) << " m=" << m << " threads=" << p2.threads());
      CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
    }
  }
}

#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
TEST_CASE("one XNNPACK kernel can be used from two threads at once", "[kernels]") {
  const Weight w = make_weight(DType::Q8_0, 300, 256, 21);
  auto kr = make_linear_xnnpack(w.view(), nullptr);
  REQUIRE(kr.ok());
  const LinearKernel& kernel = *kr.value();
  const size_t ma = 7, mb = 1;
  const auto xa = make_x(ma, 256, 1), xb = make_x(mb, 256, 2);
  std::vector<float> ea(ma * 300), eb(mb * 300);
  ThreadPool serial(1);
  REQUIRE(kernel.forward(xa.data(), ma, ea.data(), serial).ok());
  REQUIRE(kernel.forward(xb.data(), mb, eb.data(), serial).ok());
  std::atomic<int> mismatches{0};
  auto worker = [&](const std::vector<float>& x, size_t m, const std::vector<float>& expect) {
    ThreadPool pool(1);
    std::vector<float> y(m * 300);
    for (int it = 0; it < 50; ++it) {
      REQUIRE(kernel.forward(x.data(), m, y.data(), pool).ok());
      if (std::memcmp(y.data(), expect.data(), y.size() * 4) != 0) mismatches++;
    }
  };
  std::thread ta(worker, std::cref(xa), ma, std::cref(ea)), tb(worker, std::cref(xb), mb, std::cref(eb));
  ta.join();
  tb.join();
  CHECK(mismatches.load() == 0);
}
#endif

TEST_CASE("XNNPACK kernel state is per context: interleaved contexts and row counts match fresh runs", "[kernels]") {
  // The operators (and their reshape state, reused while the row count stays the same) belong to
  // the calling ThreadPool. Two contexts alternate on one kernel with different row counts and
  // inputs; every result must equal a run on a fresh context (first call, full reshape).
  XnnLinearOptions sliced;
  sliced.max_slice_elems = 40 * 64;  // 3 slices of rows: each context creates one operator per slice
  struct Case {
    DType type;
    XnnLinearOptions opts;
  } cases[] = {{DType::F32, {}}, {DType::Q8_0, {}}, {DType::Q4_0, {}}, {DType::Q4_0, sliced}};
  for (const Case& c : cases) {
    const Weight w = make_weight(c.type, 100, 64, 31);
    auto kr = make_linear_xnnpack_with(w.view(), nullptr, c.opts);
    REQUIRE(kr.ok());
    const LinearKernel& kernel = *kr.value();
    ThreadPool a(1), b(1);
    const size_t ms[] = {5, 1, 5, 5, 2, 1, 1, 7};
    for (size_t i = 0; i < 16; ++i) {
      ThreadPool& ctx = i % 2 ? b : a;
      const size_t m = ms[i % 8];
      const auto x = make_x(m, 64, 100 + i);  // new input (and address) every call
      std::vector<float> y(m * 100, -1.f), expect(m * 100);
      ThreadPool fresh(1);
      REQUIRE(kernel.forward(x.data(), m, expect.data(), fresh).ok());
      REQUIRE(kernel.forward(x.data(), m, y.data(), ctx).ok());
      INFO(dtype_name(c.type) << " " << kernel.describe() << " call " << i << " m=" << m);
      CHECK(std::memcmp(y.data(), expect.data(), y.size() * 4) == 0);
    }
  }
}

TEST_CASE("make_linear_xnnpack rejects malformed weights with a message", "[kernels]") {
  Weight w = make_weight(DType::F32, 8, 16, 1);
  TensorView v = w.view();
  v.nbytes = 10;  // truncated
  auto r = make_linear_xnnpack(v, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("test.weight") != std::string::npos);
  v = w.view();
  v.type = DType::Q8_0;  // 16 columns is not a multiple of the Q8_0 block
  CHECK_FALSE(make_linear_xnnpack(v, nullptr).ok());
  std::vector<float> b(3);
  TensorView bv;
  bv.name = "short.bias";
  bv.shape = {3};
  bv.data = reinterpret_cast<const uint8_t*>(b.data());
  bv.nbytes = 12;
  auto rb = make_linear_xnnpack(w.view(), &bv);
  REQUIRE_FALSE(rb.ok());
  CHECK(rb.status().message().find("short.bias") != std::string::npos);
}
#endif
