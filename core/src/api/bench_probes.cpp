// Machine probes of benchmarks (mblip/bench.h): read bandwidth, fp32 and int8 peaks, and the
// model-facing ops timed at full-size shapes. Figures only: nothing here asserts.
#include "mblip/bench.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "io/quant.h"
#include "io/tensor.h"
#include "kernels/linear.h"
#include "kernels/thread_pool.h"
#include "ops/ops.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mblip {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<float> noise(size_t n, uint64_t seed, float scale) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (auto& f : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    f = scale * (static_cast<float>((s >> 40) & 0xFFFFFF) / 16777216.f * 2.f - 1.f);
  }
  return v;
}

uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  for (; i < n; ++i) s0 += p[i];
  return s0 + s1 + s2 + s3;
}

constexpr size_t kFmaIters = 20000000;

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) float fma_loop_avx2(size_t iters, float seed) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(seed + 0.001f * static_cast<float>(i));
  const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (size_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}
bool have_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
float fma_loop_avx2(size_t, float) { return 0; }
bool have_avx2_fma() { return false; }
#endif

// Portable fallback: 4-wide vectors (SSE2 / wasm SIMD128 / NEON), separate mul and add.
float mul_add_loop(size_t iters, float seed) {
  typedef float v4 __attribute__((vector_size(16)));
  v4 a[12];
  for (int i = 0; i < 12; ++i) a[i] = v4{seed, seed, seed, seed} + 0.001f * static_cast<float>(i);
  const v4 b = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, c = {1e-6f, 1e-6f, 1e-6f, 1e-6f};
  for (size_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = a[i] * b + c;
  v4 s = a[0];
  for (int i = 1; i < 12; ++i) s += a[i];
  return s[0] + s[3];
}

template <typename F>
double median_ms(int reps, F&& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    t.push_back(secs(t0) * 1e3);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// A linear kernel on random weights of `type` (n x k), quantized like a converted model's.
Result<std::unique_ptr<LinearKernel>> random_linear(DType type, size_t n, size_t k, uint64_t seed,
                                                    LinearRows rows = LinearRows::kSome) {
  const auto wf = noise(n * k, seed, 0.05f);
  MBLIP_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(type, static_cast<int64_t>(n * k)));
  std::vector<uint8_t> w(nbytes);
  quantize_row(type, wf.data(), w.data(), static_cast<int64_t>(n * k));
  TensorView tv;
  tv.name = "bench.w";
  tv.type = type;
  tv.shape = {static_cast<int64_t>(n), static_cast<int64_t>(k)};
  tv.data = w.data();
  tv.nbytes = w.size();
  LinearOptions lo;
  lo.rows = rows;  // the packed form the model's loader picks for such a weight
  return make_linear(tv, nullptr, lo);  // packs: the bytes may go after this
}

}  // namespace

static ProbeResult probe_read_bandwidth(ThreadPool& pool, size_t bytes, int reps) {
  const size_t words = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
  for (size_t i = 0; i < words; ++i) buf[i] = i;  // touch every page
  const size_t tasks = static_cast<size_t>(pool.threads()) * 16, per = (words + tasks - 1) / tasks;
  std::vector<uint64_t> sums(tasks);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    pool.parallel_for(tasks, [&](size_t t) {
      const size_t a = std::min(words, t * per), b = std::min(words, a + per);
      sums[t] = sum_words(buf.get() + a, b - a);
    });
    best = std::min(best, secs(t0));
  }
  uint64_t check = 0;
  for (uint64_t s : sums) check += s;
  ProbeResult res;
  res.value = static_cast<double>(words * sizeof(uint64_t)) / best * 1e-9;
  res.detail = "sum of uint64 over " + std::to_string(bytes >> 20) + " MiB, " + std::to_string(pool.threads()) +
               " thread(s), best of " + std::to_string(reps) + (check == 1 ? "" : "");
  return res;
}

static ProbeResult probe_fp32_peak(ThreadPool& pool) {
  const bool avx = have_avx2_fma();
  const size_t threads = static_cast<size_t>(pool.threads());
  const size_t iters = avx ? kFmaIters : kFmaIters / 2;
  std::vector<float> sink(threads);
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    pool.parallel_for(threads, [&](size_t t) {
      sink[t] = avx ? fma_loop_avx2(iters, 1.0f + t) : mul_add_loop(iters, 1.0f + t);
    });
    best = std::min(best, secs(t0));
  }
  const double flops = static_cast<double>(threads) * iters * 12 * (avx ? 8 : 4) * 2;
  ProbeResult res;
  res.value = flops / best * 1e-9;
  res.detail = std::string(avx ? "AVX2 FMA" : "4-wide mul+add") + ", 12 accumulators, " + std::to_string(threads) +
               " thread(s)" + (sink[0] == 12345.f ? " " : "");
  return res;
}

static ProbeResult probe_linear_gemm(ThreadPool& pool, const char* dtype, size_t m, size_t k, size_t n,
                              double seconds) {
  ProbeResult res;
  auto type = dtype_from_name(dtype);
  if (!type.ok()) return res;
  const auto x = noise(m * k, 12, 1.0f);
  std::vector<float> y(m * n);
  auto kr = random_linear(type.value(), n, k, 11);
  if (!kr.ok()) {
    res.detail = kr.status().to_string();
    return res;
  }
  const LinearKernel& kern = *kr.value();
  if (!kern.forward(x.data(), m, y.data(), pool).ok()) {
    res.detail = "forward failed";
    return res;
  }
  double best = 1e30;
  const auto start = Clock::now();
  int runs = 0;
  while (runs < 3 || (secs(start) < seconds && runs < 1000)) {
    const auto t0 = Clock::now();
    (void)kern.forward(x.data(), m, y.data(), pool);
    best = std::min(best, secs(t0));
    ++runs;
  }
  bool finite = true;
  for (float f : y) finite = finite && std::isfinite(f);
  res.value = finite ? 2.0 * m * k * n / best * 1e-9 : 0.0;
  res.detail = std::string(finite ? "" : "OUTPUT NOT FINITE (kernel failed): ") + std::string(dtype) + " " + kern.describe() + ", M=" + std::to_string(m) + " K=" + std::to_string(k) +
               " N=" + std::to_string(n) + ", best of " + std::to_string(runs);
  return res;
}

namespace {

// One linear of random weights of `dtype` (n x k), timed at m rows: median ms per call.
double linear_ms(ThreadPool& pool, const std::string& dtype, size_t m, size_t k, size_t n, int reps,
                 LinearRows rows) {
  auto type = dtype_from_name(dtype);
  if (!type.ok()) return 0;
  auto kr = random_linear(type.value(), n, k, 13 + n + k, rows);
  if (!kr.ok()) return 0;
  const auto x = noise(m * k, 14, 1.0f);
  std::vector<float> y(m * n);
  return median_ms(reps, [&] { (void)kr.value()->forward(x.data(), m, y.data(), pool); });
}

}  // namespace

static std::vector<OpTiming> probe_ops(ThreadPool& pool, const OpShapes& shapes) {
  using namespace mblip;
  std::vector<OpTiming> out;
  const int reps = 5;
  const double VL = static_cast<double>(shapes.vision_layers), TL = static_cast<double>(shapes.text_layers);
  // ViT block: 257 tokens x 1408, 16 heads of 88, MLP 6144 (+ the patch embedding once).
  {
    const size_t n = 257, d = 1408, heads = 16, dh = 88, mlp = 6144;
    const LinearRows many = LinearRows::kMany;  // as the tensor table declares the tower's linears
    out.push_back({"vit patch linear 256x588->1408 (f32)", linear_ms(pool, "f32", n - 1, 588, d, 3, many), 1, "vision"});
    out.push_back({"vit qkv linear 257x1408->4224 (" + shapes.vit_qkv + ")",
                   linear_ms(pool, shapes.vit_qkv, n, d, 3 * d, 3, many), VL, "vision"});
    out.push_back({"vit proj linear 257x1408->1408 (" + shapes.vit_proj + ")",
                   linear_ms(pool, shapes.vit_proj, n, d, d, 3, many), VL, "vision"});
    out.push_back({"vit fc1 linear 257x1408->6144 (" + shapes.vit_fc1 + ")",
                   linear_ms(pool, shapes.vit_fc1, n, d, mlp, 3, many), VL, "vision"});
    out.push_back({"vit fc2 linear 257x6144->1408 (" + shapes.vit_fc2 + ")",
                   linear_ms(pool, shapes.vit_fc2, n, mlp, d, 3, many), VL, "vision"});
    auto qkv = noise(n * 3 * d, 1, 1.0f);
    std::vector<float> ctx(n * d);
    ops::AttentionArgs a;
    a.heads = heads;
    a.head_dim = dh;
    a.q_len = a.kv_len = n;
    a.q_stride = a.k_stride = a.v_stride = 3 * d;
    a.out_stride = d;
    a.scale = 1.0f / std::sqrt(static_cast<float>(dh));
    std::vector<float> scratch(ops::attention_scratch_floats(a, pool));
    a.scratch = scratch.data();
    a.scratch_floats = scratch.size();
    out.push_back({"vit attention 257x257, 16 heads x 88", median_ms(reps, [&] {
                     ops::attention(qkv.data(), qkv.data() + d, qkv.data() + 2 * d, ctx.data(), a, pool);
                   }), VL, "vision"});
    auto h = noise(n * mlp, 2, 3.0f);
    std::vector<float> hh(h.size());
    // The copy restoring the input is timed apart and taken off.
    const double copy_ms = median_ms(reps, [&] { std::copy(h.begin(), h.end(), hh.begin()); });
    out.push_back({"vit gelu_erf 257x6144", std::max(0.0, median_ms(reps, [&] {
                     std::copy(h.begin(), h.end(), hh.begin());
                     ops::gelu_erf(hh.data(), hh.size(), pool);
                   }) - copy_ms), VL, "vision"});
    auto x = noise(n * d, 3, 2.0f), w = noise(d, 4, 1.0f), b = noise(d, 5, 1.0f);
    std::vector<float> y(n * d);
    out.push_back({"vit layer_norm 257x1408", median_ms(reps, [&] {
                     ops::layer_norm(x.data(), n, d, w.data(), b.data(), 1e-6f, y.data(), pool);
                   }), 2.0 * VL + 1, "vision"});
    out.push_back({"vit residual add 257x1408", median_ms(reps, [&] {
                     ops::add_inplace(y.data(), x.data(), n * d, pool);
                   }), 2.0 * VL + 1, "vision"});
  }
  // mT5 encoder layer (enc_len tokens) and the decoder step's small ops (1 query, 20 tokens).
  {
    const size_t len = shapes.enc_len, d = 2048, heads = 32, dk = 64, ff = 5120;
    const LinearRows some = LinearRows::kSome;
    out.push_back({"t5 q/k/v/o linear " + std::to_string(len) + "x2048->2048 (" + shapes.t5_attn + ")",
                   linear_ms(pool, shapes.t5_attn, len, d, d, 3, some), 4 * TL, "encoder"});
    out.push_back({"t5 wi0/wi1 linear " + std::to_string(len) + "x2048->5120 (" + shapes.t5_wi + ")",
                   linear_ms(pool, shapes.t5_wi, len, d, ff, 3, some), 2 * TL, "encoder"});
    out.push_back({"t5 wo linear " + std::to_string(len) + "x5120->2048 (" + shapes.t5_wo + ")",
                   linear_ms(pool, shapes.t5_wo, len, ff, d, 3, some), TL, "encoder"});
    auto x = noise(len * d, 6, 2.0f), w = noise(d, 7, 1.0f);
    std::vector<float> y(len * d);
    out.push_back({"t5 rms_norm " + std::to_string(len) + "x2048", median_ms(reps, [&] {
                     ops::rms_norm(x.data(), len, d, w.data(), 1e-6f, y.data(), pool);
                   }), 2.0 * TL + 1, "encoder"});
    auto g = noise(len * ff, 8, 3.0f);
    std::vector<float> gg(g.size());
    const double copy_ms = median_ms(reps, [&] { std::copy(g.begin(), g.end(), gg.begin()); });
    out.push_back({"t5 gelu_tanh " + std::to_string(len) + "x5120", std::max(0.0, median_ms(reps, [&] {
                     std::copy(g.begin(), g.end(), gg.begin());
                     ops::gelu_tanh(gg.data(), gg.size(), pool);
                   }) - copy_ms), TL, "encoder"});
    out.push_back({"t5 gate mul " + std::to_string(len) + "x5120", median_ms(reps, [&] {
                     ops::mul_inplace(gg.data(), g.data(), gg.size(), pool);
                   }), TL, "encoder"});
    out.push_back({"t5 residual add " + std::to_string(len) + "x2048", median_ms(reps, [&] {
                     ops::add_inplace(y.data(), x.data(), len * d, pool);
                   }), 2 * TL, "encoder"});
    auto q = noise(len * d, 9, 1.0f), k = noise(len * d, 10, 1.0f), v = noise(len * d, 11, 1.0f);
    auto bias = noise(heads * len * len, 12, 1.0f);
    std::vector<float> ctx(len * d);
    ops::AttentionArgs a;
    a.heads = heads;
    a.head_dim = dk;
    a.q_len = a.kv_len = len;
    a.q_stride = a.k_stride = a.v_stride = a.out_stride = d;
    a.bias = bias.data();
    a.bias_head_stride = len * len;
    a.bias_row_stride = len;
    std::vector<float> scratch(ops::attention_scratch_floats(a, pool));
    a.scratch = scratch.data();
    a.scratch_floats = scratch.size();
    out.push_back({"t5 encoder attention " + std::to_string(len) + "x" + std::to_string(len) + ", 32 heads x 64",
                   median_ms(reps, [&] { ops::attention(q.data(), k.data(), v.data(), ctx.data(), a, pool); }), TL,
                   "encoder"});
    // Decoder step: 1 query row against the encoder keys (cross-attention), 20 greedy tokens.
    a.q_len = 1;
    a.bias = nullptr;
    out.push_back({"t5 decoder attention 1x" + std::to_string(len) + ", 32 heads x 64", median_ms(reps * 4, [&] {
                     ops::attention(q.data(), k.data(), v.data(), ctx.data(), a, pool);
                   }), 2.0 * TL * 20, "decode"});
    out.push_back({"t5 decoder rms_norm 1x2048", median_ms(reps * 4, [&] {
                     ops::rms_norm(x.data(), 1, d, w.data(), 1e-6f, y.data(), pool);
                   }), 3.0 * TL * 20, "decode"});
  }
  return out;
}

size_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, 6, "VmHWM:") == 0) return std::stoull(line.substr(6)) * 1024;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) return static_cast<size_t>(ru.ru_maxrss) * 1024;
  return 0;
}

size_t current_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, 6, "VmRSS:") == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

size_t llc_bytes() {
  size_t best = 0;
#ifdef _SC_LEVEL3_CACHE_SIZE
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) best = static_cast<size_t>(l3);
#endif
  for (int i = 0; i < 8 && best == 0; ++i) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    std::string s;
    if (!(f >> s) || s.empty()) continue;
    size_t v = std::stoull(s);
    if (s.back() == 'K') v <<= 10;
    if (s.back() == 'M') v <<= 20;
    best = std::max(best, v);
  }
  return best;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (!(f >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

Probes::Probes(int threads) : pool_(std::make_unique<ThreadPool>(threads)) {}
Probes::~Probes() = default;
ProbeResult Probes::read_bandwidth(size_t bytes, int reps) { return probe_read_bandwidth(*pool_, bytes, reps); }
ProbeResult Probes::fp32_peak() { return probe_fp32_peak(*pool_); }
ProbeResult Probes::linear_gemm(const char* dtype, size_t m, size_t k, size_t n, double seconds) {
  return probe_linear_gemm(*pool_, dtype, m, k, n, seconds);
}
std::vector<OpTiming> Probes::ops(const OpShapes& shapes) { return probe_ops(*pool_, shapes); }

void set_linear_types(OpShapes& shapes, const std::vector<TensorEntry>& tensors) {
  const std::pair<const char*, std::string*> names[] = {
      {"v.0.qkv.w", &shapes.vit_qkv},   {"v.0.proj.w", &shapes.vit_proj},  {"v.0.fc1.w", &shapes.vit_fc1},
      {"v.0.fc2.w", &shapes.vit_fc2},   {"t.enc.0.sa.q", &shapes.t5_attn}, {"t.enc.0.ffn.wi0", &shapes.t5_wi},
      {"t.enc.0.ffn.wi", &shapes.t5_wi}, {"t.enc.0.ffn.wo", &shapes.t5_wo}};
  for (const TensorEntry& t : tensors)
    for (const auto& [name, type] : names)
      if (t.name == name) *type = t.type;
}

}  // namespace bench
}  // namespace mblip
