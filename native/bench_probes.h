// Machine probes of `mblip bench`, measured in the same run as the model: streaming read
// bandwidth, fp32 FMA peak, XNNPACK int8 (qd8-f32-qc8w) GEMM peak, and ops at model shapes.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"

namespace mblip_cli {

struct ProbeResult {
  double value = 0;       // GB/s or GFLOP/s
  std::string detail;     // what was measured
};

// Streaming read over `bytes` (> LLC), split over the pool; best of `reps`. GB/s.
ProbeResult probe_read_bandwidth(mblip::ThreadPool& pool, size_t bytes, int reps = 5);
// Register-resident FMA loop on every pool thread (AVX2+FMA when the CPU has it). GFLOP/s.
ProbeResult probe_fp32_peak(mblip::ThreadPool& pool);
// XNNPACK int8 GEMM (Q8_0 weights -> qd8-f32-qc8w) on M x K x N; best of runs for ~0.5 s.
// With a small K x N the weights stay cache-resident (the "peak"). GFLOP/s.
ProbeResult probe_linear_gemm(mblip::ThreadPool& pool, const char* dtype, size_t m, size_t k, size_t n,
                              double seconds = 0.5);

struct OpTiming {
  std::string name;   // op and shape
  double ms = 0;      // one call, median
  double per_image = 0;  // calls per caption (image + 20 greedy tokens)
  std::string stage;  // "vision", "encoder" or "decode": the stage whose time it is part of
};
// Model-facing ops and linears at the full-size shapes: every op of a ViT block and of a T5
// encoder layer (so that stage time minus their sum is the "other" time), plus the decoder's
// small ops; random weights of the model's types. Median of a few calls each.
struct OpShapes {
  size_t vision_layers = 39, text_layers = 24, enc_len = 47;
  std::string vision_dtype = "q8_0", text_dtype = "q4_0";
};
std::vector<OpTiming> probe_ops(mblip::ThreadPool& pool, const OpShapes& shapes);

// Peak and current resident set (bytes) from /proc/self/status (VmHWM / VmRSS); getrusage
// fallback for the peak.
size_t peak_rss_bytes();
size_t current_rss_bytes();
// Last-level cache size in bytes (0 if unknown).
size_t llc_bytes();
std::string loadavg();

}  // namespace mblip_cli
