// Linear-kernel benchmark (not a test): GFLOP/s of the XNNPACK paths (f32, Q8_0->qc8w,
// Q4_0->qb4w/qc4w/qc8w) and of our own Q4_0 kernel (every ISA variant of the build) at every
// linear shape of mBLIP mt0-xl (ViT 1408->4224, 1408<->6144; T5 2048->5120, 5120->2048,
// 2048->2048; head 2048->250112) and M = 1, 5, 45, 257 (head: 1, 5), 1 and 2 threads, plus the
// per-call cost of XNNPACK's reshape+setup at M=1; on AVX-512 VNNI also our small-m kernel. Natively the limits are measured in the same
// run (streaming read bandwidth, int8 GEMM peak; mblip/bench.h) and each row gives its
// ratio: weight bytes / time against the bandwidth for M <= 5, GFLOP/s against the peak above.
// Usage: mblip-bench-kernels [max_threads] [seconds_per_case] [weight-shape filter: 0 = all, 1..7]
//                            [path filter: only paths whose name contains it]
//        mblip-bench-kernels ops [max_threads] [reps]: model ops (attention, GELU, norms) with the
//        switchable paths old vs new in one process, interleaved, best of reps (ops_ab below).
//        mblip-bench-kernels vit [threads] [reps]: the ViT's linears at M = 257, one weight called
//        39 times (cache-resident) vs 39 distinct weights (streamed, as in the vision stage).
//        mblip-bench-kernels enc [threads] [reps]: the same for the T5 encoder's linears at M = 47.
//        mblip-bench-kernels step [threads] [reps] [layers]: the linears of one mt0-xl decoder step
//        (default recipe, `layers` layers, default 24, and the head), distinct weights streamed from
//        memory, at M = 1 and 5 (greedy / beam-5 step), make_linear's choice (step_bench below).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <xnnpack.h>

#include "io/quant.h"
#include "kernels/linear_xnnpack.h"
#include "kernels/q4_0.h"
#include "kernels/q4_0_vnni.h"
#include "kernels/thread_pool.h"
#include "ops/ops.h"
#include "mblip/bench.h"

using namespace mblip;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<float> random_floats(size_t n, uint32_t seed, float scale) {
  std::vector<float> v(n);
  uint64_t s = seed * 2654435761u + 1;
  for (auto& f : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    f = scale * (static_cast<float>((s >> 40) & 0xFFFFFF) / 16777216.f * 2.f - 1.f);
  }
  return v;
}

// Median time of forward over repeated runs for about `budget` seconds (at least 3 runs).
double time_forward(const LinearKernel& k, const float* x, size_t m, float* y, ThreadPool& pool, double budget) {
  if (!k.forward(x, m, y, pool).ok()) return -1;  // warm-up
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 3 || (seconds_since(start) < budget && t.size() < 200)) {
    const auto t0 = Clock::now();
    (void)k.forward(x, m, y, pool);
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void reshape_setup_overhead(ThreadPool& pool) {
  const size_t k = 2048, n = 5120;
  const auto w = random_floats(n * k, 7, 0.05f);
  const auto x = random_floats(k, 8, 1.f);
  std::vector<float> y(n);
  xnn_operator_t op = nullptr;
  if (xnn_create_fully_connected_nc_f32(k, n, k, n, w.data(), nullptr, -INFINITY, INFINITY, 0, nullptr, nullptr,
                                        &op) != xnn_status_success)
    return;
  const int iters = 2000;
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) {
    xnn_reshape_fully_connected_nc_f32(op, 1, pool.handle());
    xnn_setup_fully_connected_nc_f32(op, x.data(), y.data());
  }
  const double rs = seconds_since(t0) / iters;
  xnn_run_operator(op, pool.handle());
  t0 = Clock::now();
  for (int i = 0; i < 50; ++i) xnn_run_operator(op, pool.handle());
  const double run = seconds_since(t0) / 50;
  std::printf("reshape+setup per call (f32 M=1 K=2048 N=5120, %d thr): %.2f us; run: %.1f us (%.2f%%)\n",
              pool.threads(), rs * 1e6, run * 1e6, 100.0 * rs / run);
  xnn_delete_operator(op);
}

}  // namespace

// Old vs new path of each switchable op, timed alternately in one process (env switch read per
// call), best of `reps` each: robust against the load of a shared machine.
template <typename F>
void ab(const char* name, const char* env, int reps, F&& f) {
  double best[2] = {1e30, 1e30};
  for (int r = 0; r < reps; ++r)
    for (int v = 0; v < 2; ++v) {
      setenv(env, v == 0 ? "0" : "1", 1);
      const auto t0 = Clock::now();
      f();
      best[v] = std::min(best[v], seconds_since(t0));
    }
  unsetenv(env);
  std::printf("  %-46s old %8.3f ms  new %8.3f ms  old/new %5.2fx  (%s=0 / 1)\n", name, best[0] * 1e3, best[1] * 1e3,
              best[0] / best[1], env);
}

int ops_ab(int max_threads, int reps) {
  for (int threads = 1; threads <= max_threads; ++threads) {
    ThreadPool pool(threads);
    if (pool.threads() != threads) continue;
    std::printf("ops, %d thread(s), best of %d:\n", threads, reps);
    struct Att { const char* name; size_t heads, dh, ql, kl, stride_mul; bool bias; };
    const Att shapes[] = {{"vit attention 257x257, 16 x 88", 16, 88, 257, 257, 3, false},
                          {"qformer cross-attention 32x257, 12 x 64", 12, 64, 32, 257, 1, false},
                          {"t5 encoder attention 47x47, 32 x 64 (bias)", 32, 64, 47, 47, 1, true}};
    for (const Att& s : shapes) {
      const size_t inner = s.heads * s.dh, st = inner * s.stride_mul;
      auto q = random_floats(s.ql * st, 1, 1.0f), k = random_floats(s.kl * st, 2, 1.0f), v = random_floats(s.kl * st, 3, 1.0f);
      auto bias = random_floats(s.heads * s.ql * s.kl, 4, 1.0f);
      std::vector<float> out(s.ql * inner);
      ops::AttentionArgs a;
      a.heads = s.heads;
      a.head_dim = s.dh;
      a.q_len = s.ql;
      a.kv_len = s.kl;
      a.q_stride = a.k_stride = a.v_stride = st;
      a.out_stride = inner;
      a.scale = 0.1f;
      if (s.bias) {
        a.bias = bias.data();
        a.bias_head_stride = s.ql * s.kl;
        a.bias_row_stride = s.kl;
      }
      setenv("MBLIP_ATTENTION_GEMM", "1", 1);
      std::vector<float> scratch(ops::attention_scratch_floats(a, pool));
      a.scratch = scratch.data();
      a.scratch_floats = scratch.size();
      ab(s.name, "MBLIP_ATTENTION_GEMM", reps,
         [&] { ops::attention(q.data(), k.data(), v.data(), out.data(), a, pool); });
    }
    {
      // Fresh input every call (repeated GELU would drift into denormals); the copy is in both.
      const auto x0 = random_floats(257 * 6144, 5, 3.0f);
      std::vector<float> x(x0.size());
      ab("vit gelu_erf 257x6144 (+ input copy), 4 vs 8 lanes", "MBLIP_OPS_AVX2", reps, [&] {
        std::copy(x0.begin(), x0.end(), x.begin());
        ops::gelu_erf(x.data(), x.size(), pool);
      });
      ab("vit gelu_erf 257x6144 (+ input copy), ours vs XNNPACK", "MBLIP_XNN_GELU", reps, [&] {
        std::copy(x0.begin(), x0.end(), x.begin());
        ops::gelu_erf(x.data(), x.size(), pool);
      });
    }
    {  // a beam-5 decoder step's cross-attention: 5 query rows, one encoder K/V of 47 keys
      const size_t heads = 32, dh = 64, kl = 47, rows = 5, inner = heads * dh;
      auto q = random_floats(rows * inner, 7, 1.0f), k = random_floats(kl * inner, 8, 1.0f),
           v = random_floats(kl * inner, 9, 1.0f);
      std::vector<float> out(rows * inner);
      std::vector<const float*> kr(rows, k.data()), vr(rows, v.data());
      ops::AttentionArgs a;
      a.heads = heads;
      a.head_dim = dh;
      a.q_len = 1;
      a.kv_len = kl;
      a.q_stride = a.k_stride = a.v_stride = a.out_stride = inner;
      a.scale = 1.0f;
      std::vector<float> scratch(ops::attention_scratch_floats(a, pool));
      a.scratch = scratch.data();
      a.scratch_floats = scratch.size();
      ab("t5 decoder attention 5 rows x 1x47, 32 x 64, 4 vs 8 lanes", "MBLIP_OPS_AVX2", reps * 10, [&] {
        ops::attention_rows(q.data(), kr.data(), vr.data(), out.data(), a, rows, pool);
      });
    }
    {
      const auto x0 = random_floats(47 * 5120, 6, 3.0f);
      std::vector<float> x(x0.size());
      ab("t5 gelu_tanh 47x5120 (+ input copy), 4 vs 8 lanes", "MBLIP_OPS_AVX2", reps, [&] {
        std::copy(x0.begin(), x0.end(), x.begin());
        ops::gelu_tanh(x.data(), x.size(), pool);
      });
    }
    if (threads == 1) {  // one thread a row in beam search (generate.cpp)
      const auto x = random_floats(250112, 7, 4.0f);
      volatile double sink = 0;
      ab("log_sum_exp 250112 (one beam row), 4 vs 8 lanes", "MBLIP_OPS_AVX2", reps * 5,
         [&] { sink = sink + ops::log_sum_exp(x.data(), x.size()); });
    }
  }
  return 0;
}

// One decoder step's linears as the default recipe stores them (per layer Q4_0: self q / k, cross q /
// o, wi0, wi1, wo; Q8_0: self v / o; then the Q4_0 head; cross k / v are computed once per caption),
// distinct weights so that they stream from memory as in a step; make_linear's kFew choice; best of
// reps per M. `layers` scales the model down (the head always full).
int step_bench(int threads, int reps, int layers) {
  struct Shape { size_t k, n; DType type; };
  const Shape per_layer[] = {{2048, 2048, DType::Q4_0}, {2048, 2048, DType::Q4_0}, {2048, 2048, DType::Q4_0},
                             {2048, 2048, DType::Q4_0}, {2048, 5120, DType::Q4_0}, {2048, 5120, DType::Q4_0},
                             {5120, 2048, DType::Q4_0}, {2048, 2048, DType::Q8_0}, {2048, 2048, DType::Q8_0}};
  std::vector<Shape> shapes;
  for (int l = 0; l < layers; ++l) shapes.insert(shapes.end(), std::begin(per_layer), std::end(per_layer));
  shapes.push_back({2048, 250112, DType::Q4_0});
  struct Group { std::string what; std::vector<std::unique_ptr<LinearKernel>> k; size_t bytes = 0, params = 0; };
  Group groups[3];
  groups[0].what = "q4_0 layers";
  groups[1].what = "q8_0 layers";
  groups[2].what = "q4_0 head";
  LinearOptions lo;
  lo.rows = LinearRows::kFew;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const auto wf = random_floats(s.n * s.k, 100 + static_cast<uint32_t>(i), 0.05f);
    std::vector<uint8_t> w(dtype_bytes(s.type, static_cast<int64_t>(s.n * s.k)).value());
    quantize_row(s.type, wf.data(), w.data(), static_cast<int64_t>(s.n * s.k));
    TensorView tv;
    tv.name = "w" + std::to_string(i);
    tv.type = s.type;
    tv.shape = {static_cast<int64_t>(s.n), static_cast<int64_t>(s.k)};
    tv.data = w.data();
    tv.nbytes = w.size();
    auto kr = make_linear(tv, nullptr, lo);  // packs a copy: w may go
    if (!kr.ok()) {
      std::printf("%s\n", kr.status().to_string().c_str());
      return 1;
    }
    Group& g = groups[i + 1 == shapes.size() ? 2 : s.type == DType::Q8_0 ? 1 : 0];
    g.bytes += kr.value()->memory_bytes();
    g.params += s.n * s.k;
    g.k.push_back(std::move(kr).value());
  }
  ThreadPool pool(threads);
  {  // what each of a step's ~500 pooled calls costs besides its work
    volatile size_t sink = 0;
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = Clock::now();
      for (int i = 0; i < 10000; ++i) pool.parallel_for(16, [&](size_t j) { sink = sink + j; });
      best = std::min(best, seconds_since(t0) / 10000);
    }
    std::printf("pool dispatch (parallel_for of 16 trivial tasks, %d threads): %.2f us a call\n", pool.threads(),
                best * 1e6);
  }
  const auto x = random_floats(5 * 5120, 3, 1.f);
  std::vector<float> y(5 * 250112);
  std::printf("decoder-step linears, %d layer(s), %d thread(s), best of %d:\n", layers, pool.threads(), reps);
  for (const Group& g : groups) {
    std::printf("  %-12s %3zu x %-40s %5.0f MB:", g.what.c_str(), g.k.size(), g.k.front()->describe().c_str(),
                g.bytes * 1e-6);
    for (size_t m : {1, 5}) {
      double best = 1e30;
      for (int r = 0; r < reps; ++r) {
        const auto t0 = Clock::now();
        for (const auto& k : g.k) (void)k->forward(x.data(), m, y.data(), pool);
        best = std::min(best, seconds_since(t0));
      }
      std::printf("  M=%zu %6.2f ms %5.1f GB/s", m, best * 1e3, g.bytes / best * 1e-9);
    }
    std::printf("\n");
  }
  return 0;
}

// A stage's linears as the default recipe stores them, make_linear's choice for the stage's rows:
// `layers` x `per_layer` calls on one weight (it stays cache-resident: what the ops table of `mblip
// bench` times) against one call on each of as many distinct weights (streamed from memory: what the
// stage does). Best of reps, ms a stage run.
struct StageShape {
  const char* what;
  size_t k, n;
  DType type;
  int per_layer;
};
int stage_linears_bench(const char* title, const std::vector<StageShape>& shapes, int layers, size_t m,
                        LinearRows rows, int threads, int reps) {
  ThreadPool pool(threads);
  LinearOptions lo;
  lo.rows = rows;
  const auto x = random_floats(m * 6144, 3, 1.f);
  std::vector<float> y(m * 6144);
  std::printf("%s linears at M = %zu, %d thread(s), best of %d, ms a stage (%d layers):\n", title, m, pool.threads(),
              reps, layers);
  for (const StageShape& s : shapes) {
    const int calls = layers * s.per_layer;
    std::vector<std::unique_ptr<LinearKernel>> ks;
    for (int l = 0; l < calls; ++l) {
      const auto wf = random_floats(s.n * s.k, 200 + static_cast<uint32_t>(l), 0.05f);
      std::vector<uint8_t> w(dtype_bytes(s.type, static_cast<int64_t>(s.n * s.k)).value());
      quantize_row(s.type, wf.data(), w.data(), static_cast<int64_t>(s.n * s.k));
      TensorView tv;
      tv.name = std::string(s.what) + std::to_string(l);
      tv.type = s.type;
      tv.shape = {static_cast<int64_t>(s.n), static_cast<int64_t>(s.k)};
      tv.data = w.data();
      tv.nbytes = w.size();
      auto kr = make_linear(tv, nullptr, lo);
      if (!kr.ok()) {
        std::printf("%s\n", kr.status().to_string().c_str());
        return 1;
      }
      ks.push_back(std::move(kr).value());
    }
    double same = 1e30, distinct = 1e30;
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      for (int l = 0; l < calls; ++l) (void)ks[0]->forward(x.data(), m, y.data(), pool);
      same = std::min(same, seconds_since(t0));
      t0 = Clock::now();
      for (int l = 0; l < calls; ++l) (void)ks[static_cast<size_t>(l)]->forward(x.data(), m, y.data(), pool);
      distinct = std::min(distinct, seconds_since(t0));
    }
    const double gflop = 2e-9 * static_cast<double>(m * s.k * s.n) * calls;
    std::printf("  %-12s %5zu->%-5zu %-36s one weight %7.1f ms   %3d weights %7.1f ms (%6.1f GFLOP/s)   x%.2f\n",
                s.what, s.k, s.n, ks[0]->describe().c_str(), same * 1e3, calls, distinct * 1e3, gflop / distinct,
                distinct / same);
  }
  return 0;
}

// The ViT's four linears at M = 257 (qkv / proj Q8_0, fc1 / fc2 Q4_0, kMany), 39 layers.
int vit_bench(int threads, int reps) {
  return stage_linears_bench("ViT", {{"vit qkv", 1408, 4224, DType::Q8_0, 1}, {"vit proj", 1408, 1408, DType::Q8_0, 1},
                                     {"vit fc1", 1408, 6144, DType::Q4_0, 1}, {"vit fc2", 6144, 1408, DType::Q4_0, 1}},
                             39, 257, LinearRows::kMany, threads, reps);
}

// The T5 encoder's linears at M = 47 (32 queries + a 15-token prompt; all Q4_0, kSome), 24 layers.
int encoder_bench(int threads, int reps) {
  return stage_linears_bench("T5 encoder", {{"t5 q/k/v/o", 2048, 2048, DType::Q4_0, 4},
                                            {"t5 wi0/wi1", 2048, 5120, DType::Q4_0, 2},
                                            {"t5 wo", 5120, 2048, DType::Q4_0, 1}},
                             24, 47, LinearRows::kSome, threads, reps);
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "vit") == 0)
    return vit_bench(argc > 2 ? std::atoi(argv[2]) : 2, argc > 3 ? std::atoi(argv[3]) : 5);
  if (argc > 1 && std::strcmp(argv[1], "enc") == 0)
    return encoder_bench(argc > 2 ? std::atoi(argv[2]) : 2, argc > 3 ? std::atoi(argv[3]) : 5);
  if (argc > 1 && std::strcmp(argv[1], "step") == 0)
    return step_bench(argc > 2 ? std::atoi(argv[2]) : 2, argc > 3 ? std::atoi(argv[3]) : 10,
                      argc > 4 ? std::atoi(argv[4]) : 24);
  if (argc > 1 && std::strcmp(argv[1], "ops") == 0)
    return ops_ab(argc > 2 ? std::atoi(argv[2]) : 2, argc > 3 ? std::atoi(argv[3]) : 20);
  const int max_threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double budget = argc > 2 ? std::atof(argv[2]) : 1.0;
  const int only = argc > 3 ? std::atoi(argv[3]) : 0;
  const std::string path_filter = argc > 4 ? argv[4] : "";
  struct WeightShape {
    size_t k, n;
    const char* what;
    std::vector<size_t> ms;
  };
  const std::vector<size_t> all_m = {1, 5, 45, 257};
  const WeightShape shapes[] = {{1408, 4224, "vit qkv", all_m},     {1408, 6144, "vit fc1", all_m},
                                {6144, 1408, "vit fc2", all_m},     {2048, 5120, "t5 wi", all_m},
                                {5120, 2048, "t5 wo", all_m},       {2048, 2048, "t5 q/k/v/o", all_m},
                                {2048, 250112, "lm head", {1, 5}}};
  struct Variant {
    const char* name;
    DType type;
    XnnQ4Mode q4;
    const Q4Variant* own;  // non-null: our own Q4_0 kernel on this ISA variant
    bool vnni = false;     // our small-m AVX-512 VNNI kernel (kernels/q4_0_vnni.h)
  };
  std::vector<Variant> variants = {{"f32", DType::F32, XnnQ4Mode::kBlockwise, nullptr},
                                   {"q8_0->qc8w", DType::Q8_0, XnnQ4Mode::kBlockwise, nullptr},
                                   {"q4_0->qb4w", DType::Q4_0, XnnQ4Mode::kBlockwise, nullptr},
                                   {"q4_0->qc4w", DType::Q4_0, XnnQ4Mode::kPerChannel, nullptr},
                                   {"q4_0->qc8w", DType::Q4_0, XnnQ4Mode::kInt8, nullptr}};
  static std::vector<std::string> own_names;
  for (const Q4Variant& v : q4_0_variants()) own_names.push_back(std::string("q4_0 own ") + v.name);
  for (size_t i = 0; i < q4_0_variants().size(); ++i)
    variants.push_back({own_names[i].c_str(), DType::Q4_0, XnnQ4Mode::kBlockwise, &q4_0_variants()[i]});
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
  if (cpu_has_avx512_vnni()) {
    variants.push_back({"q4_0 own vnni small-m", DType::Q4_0, XnnQ4Mode::kBlockwise, nullptr, true});
    variants.push_back({"q8_0 own vnni small-m", DType::Q8_0, XnnQ4Mode::kBlockwise, nullptr, true});
  }
#endif
  if (xnn_initialize(nullptr) != xnn_status_success) {
    std::printf("XNNPACK unsupported here\n");
    return 1;
  }
  for (int threads = 1; threads <= max_threads; ++threads) {
    ThreadPool pool(threads);
    if (pool.threads() != threads) continue;  // single-threaded wasm
    reshape_setup_overhead(pool);
  }
  double bandwidth = 0, int8_peak = 0;  // limits at max_threads; 0 = not measured (wasm)
#ifndef __EMSCRIPTEN__
  {
    bench::Probes probe(max_threads);
    const auto bw = probe.read_bandwidth(size_t{1} << 30);
    const auto pk = probe.linear_gemm("q8_0", 256, 512, 512);
    bandwidth = bw.value;
    int8_peak = pk.value;
    std::printf("limits (%d threads): read bandwidth %.1f GB/s (%s); int8 GEMM peak %.1f GFLOP/s (%s)\n",
                max_threads, bandwidth, bw.detail.c_str(), int8_peak, pk.detail.c_str());
  }
#endif
  std::printf("\n%-22s %4s %-24s %10s %10s %9s %8s %s\n", "shape (K->N)", "M", "path", "1T GF/s", "2T GF/s",
              "GB/s", "limit", "(pack s)");
  int shape_no = 0;
  for (const WeightShape& s : shapes) {
    if (only != 0 && ++shape_no != only) continue;
    const size_t max_m = *std::max_element(s.ms.begin(), s.ms.end());
    const auto x = random_floats(max_m * s.k, 2, 1.f);
    std::vector<float> y(max_m * s.n);
    for (const Variant& v : variants) {
      if (!path_filter.empty() && std::string(v.name).find(path_filter) == std::string::npos) continue;
      if (v.type == DType::F32 && s.n * s.k > (size_t{1} << 28)) {  // 2 GB of f32: not in wasm32
        std::printf("%-22s      %-24s skipped (f32 weights > 1 GB)\n", s.what, v.name);
        continue;
      }
      const auto bytes = dtype_bytes(v.type, static_cast<int64_t>(s.n * s.k));
      std::vector<uint8_t> w(bytes.value());
      const size_t chunk_rows = 4096, row_bytes = w.size() / s.n;  // generated in slices (bounded memory)
      for (size_t r0 = 0; r0 < s.n; r0 += chunk_rows) {
        const size_t rows = std::min(chunk_rows, s.n - r0);
        const auto wf = random_floats(rows * s.k, 1 + static_cast<uint32_t>(r0), 0.05f);
        if (v.type == DType::F32)
          std::memcpy(w.data() + r0 * row_bytes, wf.data(), rows * row_bytes);
        else
          quantize_row(v.type, wf.data(), w.data() + r0 * row_bytes, static_cast<int64_t>(rows * s.k));
      }
      TensorView tv;
      tv.name = "bench";
      tv.type = v.type;
      tv.shape = {static_cast<int64_t>(s.n), static_cast<int64_t>(s.k)};
      tv.data = w.data();
      tv.nbytes = w.size();
      XnnLinearOptions opts;
      opts.q4 = v.q4;
      const auto t0 = Clock::now();
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
      auto kr = v.vnni ? make_linear_q4_0_vnni(tv, nullptr)
                : v.own ? make_linear_q4_0(tv, nullptr, v.own) : make_linear_xnnpack_with(tv, nullptr, opts);
#else
      auto kr = v.own ? make_linear_q4_0(tv, nullptr, v.own) : make_linear_xnnpack_with(tv, nullptr, opts);
#endif
      const double create = seconds_since(t0);
      if (!kr.ok()) {
        std::printf("%s: %s\n", v.name, kr.status().to_string().c_str());
        continue;
      }
      char label[64];
      std::snprintf(label, sizeof label, "%s %zu->%zu", s.what, s.k, s.n);
      for (size_t m : s.ms) {
        // The scalar reference is only timed at M = 1 below the head (seconds per call otherwise).
        if (v.own && std::string(v.own->name) == "ref" && (m > 1 || s.n > 8192)) continue;
        double gf[2] = {0, 0}, t2 = 0;
        for (int threads = 1; threads <= std::min(max_threads, 2); ++threads) {
          ThreadPool pool(threads);
          if (pool.threads() != threads) continue;
          const double t = time_forward(*kr.value(), x.data(), m, y.data(), pool, budget);
          gf[threads - 1] = 2.0 * m * s.k * s.n / t * 1e-9;
          t2 = t;
        }
        // Weight bytes per second at the largest thread count timed (2 when max_threads >= 2).
        const double gbs = t2 > 0 ? kr.value()->memory_bytes() / t2 * 1e-9 : 0;
        char limit[32] = "";
        if (m <= 5 && bandwidth > 0) std::snprintf(limit, sizeof limit, "%.0f%% bw", 100 * gbs / bandwidth);
        if (m > 5 && int8_peak > 0) std::snprintf(limit, sizeof limit, "%.0f%% pk", 100 * std::max(gf[0], gf[1]) / int8_peak);
        std::printf("%-22s %4zu %-24s %10.1f %10.1f %9.1f %8s (%.2f)\n", label, m, v.name, gf[0], gf[1], gbs, limit,
                    create);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
