// Small-m Q4_0 kernel (AVX-512 VNNI, kernels/q4_0_vnni.h): against a float64 evaluation of the same
// integers and against the scalar reference variant on awkward shapes (m = 1..9, group tails,
// negative / zero / subnormal scales), thread invariance, the packed-weights store (cold and warm),
// malformed weights, the make_linear dispatch; plus a hidden timing case ([bench-q4vnni]).
// The kernel is built natively only (kernels/*_native.cpp): nothing to test in wasm.
#if !defined(__EMSCRIPTEN__)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/linear_impl.h"
#include "kernels/q4_0.h"
#include "kernels/q4_0_vnni.h"
#include "kernels/q8_0.h"
#include "kernels/weight_cache.h"
#include "kernels_block_fixture.h"
#include "support/golden.h"

using namespace mblip;
using namespace mblip_test;

namespace {

double half_exact(uint16_t h) {  // every finite half, subnormals included
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double v = e == 0 ? std::ldexp(m / 1024.0, -14) : std::ldexp(1.0 + m / 1024.0, e - 15);
  return (h & 0x8000) ? -v : v;
}

size_t block_size(DType t) { return t == DType::Q8_0 ? 34 : 18; }

// make_weight (both scale signs, zero blocks, the extreme quants) plus a subnormal scale in every 7th
// block (both signs).
BlockWeight make_weight_sub(int64_t n, int64_t k, uint64_t seed, DType type = DType::Q4_0) {
  BlockWeight w = make_weight(type, n, k, seed);
  const size_t bb = block_size(type);
  for (size_t b = 0; b * bb < w.bytes.size(); b += 7) {
    const uint16_t d = static_cast<uint16_t>(((b & 8) ? 0x8000 : 0) | (1 + (b * 37) % 1023));
    w.bytes[b * bb] = static_cast<uint8_t>(d & 0xFF);
    w.bytes[b * bb + 1] = static_cast<uint8_t>(d >> 8);
  }
  return w;
}

std::vector<float> run(const LinearKernel& kern, const std::vector<float>& x, size_t m, ThreadPool& pool) {
  std::vector<float> y(m * static_cast<size_t>(kern.out_features()), -1.f);
  REQUIRE(kern.forward(x.data(), m, y.data(), pool).ok());
  return y;
}

// y (the kernel) and y_ref (scalar reference variant) against the float64 value of the same
// integer block sums: each within one kernel's float rounding bound, so within twice of each other.
void check_against_exact(const BlockWeight& w, const std::vector<float>& x, size_t m, const std::vector<float>& y,
                         const std::vector<float>& y_ref) {
  const size_t n = static_cast<size_t>(w.n), k = static_cast<size_t>(w.k), nb = k / 32;
  Q8Acts a;
  quantize_acts_q8(x.data(), m, k, (nb + 3) / 4 * 4, a);
  for (size_t i = 0; i < m; ++i)
    for (size_t o = 0; o < n; ++o) {
      double yd = 0, sa = 0;
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = &w.bytes[(o * nb + b) * block_size(w.type)];
        int32_t isum = 0;
        for (size_t j = 0; j < 32; ++j) {
          const int q = w.type == DType::Q8_0 ? static_cast<int8_t>(blk[2 + j])
                                              : (j < 16 ? blk[2 + j] & 0x0F : blk[2 + j - 16] >> 4) - 8;
          isum += q * a.row_q(i)[b * 32 + j];
        }
        const double p = isum * half_exact(static_cast<uint16_t>(blk[0] | (blk[1] << 8))) * a.row_d(i)[b];
        yd += p;
        sa += std::fabs(p);
      }
      INFO("M=" << m << " K=" << k << " N=" << n << " output " << i << "," << o);
      const double bound = float_bound(nb, sa) + 1e-38;
      REQUIRE(std::fabs(y_ref[i * n + o] - yd) <= bound);
      REQUIRE(std::fabs(y[i * n + o] - yd) <= bound);
    }
}

}  // namespace

TEST_CASE("Q4_0 small-m kernel: its activation quantizer equals quantize_acts_q8 exactly", "[kernels][q4vnni]") {
  if (!cpu_has_avx512_vnni()) return;
  const size_t m = 9, k = 2080, nb = k / 32;
  std::vector<float> x = make_x(m, k, 21);
  x[5] = 127.f / 254.f;  // ties at exact halves
  x[40] = -x[41];
  for (size_t j = 64; j < 96; ++j) x[j] = 0.f;  // an all-zero block
  x[100] = 1e-30f;  // tiny values
  Q8Acts a;
  quantize_acts_q8(x.data(), m, k, nb, a);
  std::vector<int8_t> q(m * k);
  std::vector<float> d(m * nb);
  std::vector<int32_t> ns8(m * nb);
  for (int32_t offset : {8, 128}) {
    q4_vnni_quantize(x.data(), m, k, offset, q.data(), d.data(), ns8.data());
    for (size_t i = 0; i < m; ++i)
      for (size_t b = 0; b < nb; ++b) {
        INFO("row " << i << " block " << b);
        CHECK(d[i * nb + b] == a.row_d(i)[b]);
        CHECK(ns8[i * nb + b] == -offset * a.row_s(i)[b]);
        CHECK(std::memcmp(&q[i * k + b * 32], a.row_q(i) + b * 32, 32) == 0);
      }
  }
}

TEST_CASE("small-m kernel (Q4_0, Q8_0) equals the float64 value and the scalar reference", "[kernels][q4vnni]") {
  if (!cpu_has_avx512_vnni()) {
    WARN("no AVX-512 VNNI on this CPU: the small-m kernel is not used");
    CHECK_FALSE(make_linear_q4_0_vnni(make_weight(DType::Q4_0, 4, 64, 1).view(), nullptr).ok());
    return;
  }
  ThreadPool pool(1);
  uint64_t seed = 500;
  for (DType type : {DType::Q4_0, DType::Q8_0}) {
    const BlockVariant& ref = type == DType::Q8_0 ? q8_0_variants().front() : q4_0_variants().front();
    for (size_t k : {32, 64, 2048 + 32})
      for (size_t n : {1, 15, 16, 17, 33, 100})
        // m >= 8: pairs of groups, 6 rows at a time (every remainder 1..6 of the row chunks).
        for (size_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 17}) {
          if (k > 64 && n != 33 && m % 4 != 1) continue;  // keep the big-K part quick
          ++seed;
          const BlockWeight w = make_weight_sub(static_cast<int64_t>(n), static_cast<int64_t>(k), seed, type);
          const auto x = make_x(m, k, seed + 7);
          auto kr = make_linear_q4_0_vnni(w.view(), nullptr);
          REQUIRE(kr.ok());
          CHECK(kr.value()->out_features() == static_cast<int64_t>(n));
          const auto y = run(*kr.value(), x, m, pool);
          check_against_exact(w, x, m, y, run_variant(w, ref, x, m, pool));
        }
    // m > 8 (chunks of 8 rows) on a weight spanning several tasks.
    const BlockWeight w = make_weight_sub(300, 96, 9, type);
    const auto x = make_x(19, 96, 10);
    auto kr = make_linear_q4_0_vnni(w.view(), nullptr);
    REQUIRE(kr.ok());
    check_against_exact(w, x, 19, run(*kr.value(), x, 19, pool), run_variant(w, ref, x, 19, pool));
  }
}

TEST_CASE("small-m kernel: bias added last, same bits for 1, 2 and 3 threads", "[kernels][q4vnni]") {
  if (!cpu_has_avx512_vnni()) return;
  for (DType type : {DType::Q4_0, DType::Q8_0})
  for (size_t m : {5, 13}) {  // 13: pairs of groups (the bias of both groups)
  const size_t k = 160, n = 1000;  // enough groups for several tasks per thread
  const BlockWeight w = make_weight_sub(n, k, 77, type);
  const auto x = make_x(m, k, 78);
  std::vector<float> bias(n);
  for (size_t i = 0; i < n; ++i) bias[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  const TensorView bv = bias_view(bias);
  auto kb = make_linear_q4_0_vnni(w.view(), &bv);
  auto k0 = make_linear_q4_0_vnni(w.view(), nullptr);
  REQUIRE(kb.ok());
  REQUIRE(k0.ok());
  ThreadPool p1(1), p2(2), p3(3);
  const auto y1 = run(*kb.value(), x, m, p1), y2 = run(*kb.value(), x, m, p2), y3 = run(*kb.value(), x, m, p3);
  const auto y0 = run(*k0.value(), x, m, p2);
  CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
  CHECK(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
  for (size_t i = 0; i < y1.size(); ++i) REQUIRE(y1[i] == y0[i] + bias[i % n]);
  }
}

TEST_CASE("small-m kernel: packed once into the store, a warm store does not read the weight",
          "[kernels][q4vnni]") {
  if (!cpu_has_avx512_vnni()) return;
  for (DType type : {DType::Q4_0, DType::Q8_0}) {
  const size_t m = 3, k = 128, n = 70;
  const BlockWeight w = make_weight_sub(n, k, 31, type);
  const auto x = make_x(m, k, 32);
  ThreadPool pool(2);
  auto heap = make_linear_q4_0_vnni(w.view(), nullptr);
  REQUIRE(heap.ok());
  const auto y_heap = run(*heap.value(), x, m, pool);
  const std::string path = tmp_dir() + "/q4vnni_store.mbpack";
  std::remove(path.c_str());
  {  // cold: packs into the store's file
    auto store = PackedWeightStore::open(path, "q4vnni-test-key", "test", 1);
    REQUIRE(store);
    REQUIRE_FALSE(store->warm());
    Result<std::unique_ptr<LinearKernel>> kr = [&] {
      WeightStoreScope scope(store);
      return make_linear_q4_0_vnni(w.view(), nullptr);
    }();
    REQUIRE(kr.ok());
    CHECK(store->packed() == 1);
    REQUIRE(store->finalize().ok());
    CHECK(run(*kr.value(), x, m, pool) == y_heap);
  }
  {  // warm: the weight bytes are zeros here; a kernel reading them would output zeros
    auto store = PackedWeightStore::open(path, "q4vnni-test-key", "test", 1);
    REQUIRE(store);
    REQUIRE(store->warm());
    std::vector<uint8_t> zeros(w.bytes.size(), 0);
    TensorView v = w.view();
    v.data = zeros.data();
    Result<std::unique_ptr<LinearKernel>> kr = [&] {
      WeightStoreScope scope(store);
      return make_linear_q4_0_vnni(v, nullptr);
    }();
    REQUIRE(kr.ok());
    CHECK(store->hits() == 1);
    CHECK(store->packed() == 0);
    REQUIRE(store->finalize().ok());
    CHECK(run(*kr.value(), x, m, pool) == y_heap);
  }
  std::remove(path.c_str());
  }
}

TEST_CASE("Q4_0 small-m kernel rejects malformed weights, make_linear dispatch", "[kernels][q4vnni]") {
  if (!cpu_has_avx512_vnni()) return;
  BlockWeight w = make_weight(DType::Q4_0, 4, 64, 3);
  TensorView t = w.view();
  t.shape = {4, 48};
  t.nbytes = 4 * 48 / 32 * 18;
  auto r = make_linear_q4_0_vnni(t, nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("multiple of 32") != std::string::npos);
  t = w.view();
  t.nbytes -= 1;
  CHECK_FALSE(make_linear_q4_0_vnni(t, nullptr).ok());
  t = w.view();
  t.type = DType::Q8_0;  // Q4_0 bytes read as Q8_0: wrong size
  CHECK_FALSE(make_linear_q4_0_vnni(t, nullptr).ok());
  t = w.view();
  t.type = DType::F16;
  t.nbytes = 4 * 64 * 2;
  CHECK_FALSE(make_linear_q4_0_vnni(t, nullptr).ok());
  LinearOptions lo;
  lo.rows = LinearRows::kFew;
  if (!std::getenv("MBLIP_Q4_KERNEL")) {  // the row hint picks this kernel for Q4_0 when switched on
    auto with_env = [&](const char* var, const char* value, const LinearOptions& o) {
      const char* prev = std::getenv(var);
      const std::string saved = prev ? prev : "";
      ::setenv(var, value, 1);
      auto k = make_linear(w.view(), nullptr, o);
      if (prev) ::setenv(var, saved.c_str(), 1);
      else ::unsetenv(var);
      REQUIRE(k.ok());
      return k.value()->describe();
    };
    LinearOptions some, many;
    many.rows = LinearRows::kMany;
    CHECK(with_env("MBLIP_Q4_SMALL_M", "on", lo).find("avx512-vnni") != std::string::npos);
    CHECK(with_env("MBLIP_Q4_SMALL_M", "off", lo).find("avx512-vnni") == std::string::npos);
    CHECK(with_env("MBLIP_Q4_VNNI_SOME", "on", some).find("avx512-vnni") != std::string::npos);  // the default
    CHECK(with_env("MBLIP_Q4_VNNI_SOME", "off", some).find("avx512-vnni") == std::string::npos);
    CHECK(with_env("MBLIP_Q4_VNNI_SOME", "on", many).find("avx512-vnni") == std::string::npos);  // never
  }
  w.bytes[1] = 0x7C;  // first block scale -> inf
  w.bytes[0] = 0x00;
  auto r2 = make_linear_q4_0_vnni(w.view(), nullptr);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.status().message().find("non-finite") != std::string::npos);
}

// Timing on the decoder's shapes, the small-m kernel vs XNNPACK: mblip_tests "[.][bench-q4vnni]".
// Several copies of each weight (>= 256 MB in all) are cycled so the weights stream from memory
// as in a decoder step (one copy would stay in the last-level cache).
TEST_CASE("Q4_0 small-m kernel timing vs XNNPACK (prints)", "[.][bench-q4vnni]") {
#ifdef MBLIP_HAVE_XNNPACK
  if (!cpu_has_avx512_vnni()) return;
  const int threads = std::getenv("BENCH_THREADS") ? std::atoi(std::getenv("BENCH_THREADS")) : 2;
  ThreadPool pool(threads);
  const size_t shapes[][3] = {{2048, 2048, 4}, {5120, 2048, 4}, {2048, 5120, 4}, {250112, 2048, 4}, {2048, 2048, 8}};
  for (const auto& s : shapes) {
    const size_t n = s[0], k = s[1];
    const DType type = s[2] == 8 ? DType::Q8_0 : DType::Q4_0;
    const BlockWeight w = make_weight(type, static_cast<int64_t>(n), static_cast<int64_t>(k), 1);
    const size_t copies = std::max<size_t>(1, (size_t{256} << 20) / w.bytes.size());
    std::vector<std::unique_ptr<LinearKernel>> kx, kv;
    for (size_t c = 0; c < copies; ++c) {
      auto a = make_linear_xnnpack(w.view(), nullptr);
      auto b = make_linear_q4_0_vnni(w.view(), nullptr);
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      kx.push_back(std::move(a).value());
      kv.push_back(std::move(b).value());
    }
    const size_t reps = std::max<size_t>(copies, 3);
    for (size_t m : {1, 2, 5, 8, 47}) {  // 47: the encoder's rows (32 queries + a prompt)
      const auto x = make_x(m, k, 2);
      std::vector<float> y(m * n);
      double best[2] = {1e9, 1e9};
      for (int round = 0; round < 3; ++round)
        for (int which = 0; which < 2; ++which) {
          const auto& ks = which ? kv : kx;
          const auto t0 = std::chrono::steady_clock::now();
          for (size_t r = 0; r < reps; ++r) REQUIRE(ks[r % copies]->forward(x.data(), m, y.data(), pool).ok());
          const auto dt = std::chrono::steady_clock::now() - t0;
          const double ms = std::chrono::duration<double, std::milli>(dt).count() / static_cast<double>(reps);
          best[which] = std::min(best[which], ms);
        }
      const double gbs = static_cast<double>(w.bytes.size()) / best[1] * 1e-6;
      std::printf("%s n=%6zu k=%4zu m=%zu threads=%d: xnnpack %.3f ms, vnni %.3f ms (%.2fx; vnni %.1f GB/s)\n",
                  dtype_name(type), n, k, m, threads, best[0], best[1], best[0] / best[1], gbs);
    }
  }
#endif
}

#endif  // !__EMSCRIPTEN__
