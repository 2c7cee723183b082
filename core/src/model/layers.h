// Shared building blocks of the towers: T5 relative position buckets/bias, T5 attention and
// feed-forward weights, the ViT/Q-Former GELU MLP. Each mirrors a transformers module.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "ops/ops.h"

namespace mblip {

// T5Attention._relative_position_bucket (float32 log, bucket index truncated toward zero).
// relative_position = key_position - query_position.
int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                    int64_t max_distance);

// T5 relative attention bias table (num_buckets x heads, as stored in relative_attention_bias).
struct T5PositionBias {
  std::vector<float> table;
  int64_t heads = 0, num_buckets = 0, max_distance = 0;
  bool bidirectional = true;
  // T5Attention.compute_bias: out[h*q_len*k_len + i*k_len + j] = table[bucket(j - (q_offset+i))][h].
  void compute(size_t q_len, size_t k_len, size_t q_offset, float* out) const;
};

// T5Attention projections (no biases); inner = heads * d_kv.
struct T5AttentionWeights {
  ops::Linear q, k, v, o;
  Status load(WeightLoader& w, const std::string& prefix);  // <prefix>.{q,k,v,o}
};

// T5DenseGatedActDense (wo(act(wi_0 x) * wi_1 x)) or T5DenseActDense (wo(act(wi x))).
struct OpProfile;
struct T5FeedForward {
  bool gated = true;
  enum class Act { kRelu, kGeluNew, kGeluErf } act = Act::kGeluNew;  // ACT2FN[dense_act_fn]
  int64_t d_ff = 0;
  ops::Linear wi0, wi1, wo;  // wi0 doubles as `wi` when not gated
  Status load(WeightLoader& w, const std::string& prefix, const TextConfig& cfg);
  // x: rows x d_model -> y (rows x d_model). scratch: 2 * rows * d_ff floats. prof: when set, each
  // op adds its time (model/op_profile.h: "t5 wi0/wi1 linear", the activation, "t5 gate mul", "t5 wo
  // linear").
  Status forward(const float* x, size_t rows, float* y, float* scratch, ThreadPool& pool,
                 OpProfile* prof = nullptr) const;
};

// Blip2MLP / BERT intermediate+output dense: fc2(gelu_erf(fc1 x)). scratch: rows*hidden floats.
struct GeluMlp {
  ops::Linear fc1, fc2;
  // prof: when set, each of fc1 / GELU / fc2 adds its time under `names` (model/op_profile.h).
  Status forward(const float* x, size_t rows, float* y, float* scratch, ThreadPool& pool,
                 OpProfile* prof = nullptr, const char* const names[3] = nullptr) const;
};

// Additive key mask from a 0/1 attention mask: 0 where kept, ops::kMaskValue where masked.
// out[i] for i < n (out may not alias mask01); writes into a caller's buffer (no allocation).
void additive_mask(const float* mask01, size_t n, float* out);

}  // namespace mblip
