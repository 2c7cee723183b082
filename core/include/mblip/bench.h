// Machine probes for benchmarks (`mblip bench`), measured in the same run as the model: streaming
// read bandwidth, fp32 FMA peak, int8 GEMM peak, and the model's ops timed at full-size shapes.
// Figures only: nothing here asserts.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "mblip/mblip.h"  // TensorEntry

namespace mblip {
class ThreadPool;

namespace bench {

struct ProbeResult {
  double value = 0;    // GB/s or GFLOP/s
  std::string detail;  // what was measured
};

struct OpTiming {
  std::string name;      // op and shape
  double ms = 0;         // one call, median
  double per_image = 0;  // calls per caption (image + 20 greedy tokens)
  std::string stage;     // "vision", "encoder" or "decode": the stage whose time it is part of
};

// Full-size shapes of the ops table (the model's layer counts, prompt length and weight types).
struct OpShapes {
  size_t vision_layers = 39, text_layers = 24, enc_len = 47;
  // Types of the timed linears ("f32", "f16", "q8_0", "q4_0"): set_linear_types takes the model's.
  std::string vit_qkv = "q8_0", vit_proj = "q8_0", vit_fc1 = "q8_0", vit_fc2 = "q8_0";
  std::string t5_attn = "q4_0", t5_wi = "q4_0", t5_wo = "q4_0";
};

// The vision stage of `session` run once on fixed pixel values with each op timed where it runs
// (wall milliseconds summed over the stage's calls, in first-call order; model/op_profile.h), then
// the whole stage's time as the last entry, "vision stage". Unlike Probes::ops (each op alone, its
// weights cache-resident) this accounts for the stage as a caption runs it.
Result<std::vector<std::pair<std::string, double>>> profile_vision(api::Session& session);
// The same for the T5 encoder on `len` positions (fixed inputs, no padding), the last entry
// "encoder stage".
Result<std::vector<std::pair<std::string, double>>> profile_encoder(api::Session& session, size_t len);

// The model's types for the timed linears, from its tensors (ModelFile::tensors()): those of its
// first ViT block and encoder layer. Types of tensors the model lacks stay as they are.
void set_linear_types(OpShapes& shapes, const std::vector<TensorEntry>& tensors);

// The probes run on their own pool of `threads` workers.
class Probes {
 public:
  explicit Probes(int threads);
  ~Probes();
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  // Streaming read over `bytes` (> LLC), split over the pool; best of `reps`. GB/s.
  ProbeResult read_bandwidth(size_t bytes, int reps = 5);
  // Register-resident FMA loop on every pool thread (AVX2+FMA when the CPU has it). GFLOP/s.
  ProbeResult fp32_peak();
  // Linear of `dtype` weights on M x K x N (XNNPACK int8 GEMM for q8_0); best of runs for ~`seconds`.
  // With a small K x N the weights stay cache-resident (the "peak"). GFLOP/s.
  ProbeResult linear_gemm(const char* dtype, size_t m, size_t k, size_t n, double seconds = 0.5);
  // Every op of a ViT block and of a T5 encoder layer (so that a stage's time minus their sum is
  // its "other" time), plus the decoder's small ops; random weights of the model's types.
  std::vector<OpTiming> ops(const OpShapes& shapes);

 private:
  std::unique_ptr<ThreadPool> pool_;
};

// Peak and current resident set in bytes (/proc/self/status; getrusage fallback for the peak).
size_t peak_rss_bytes();
size_t current_rss_bytes();
// Last-level cache size in bytes (0 if unknown).
size_t llc_bytes();
// /proc/loadavg's first three fields ("" if unknown).
std::string loadavg();

}  // namespace bench
}  // namespace mblip
