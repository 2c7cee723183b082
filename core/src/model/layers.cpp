// Shared blocks (see layers.h): T5 relative position bias, T5 attention/FFN weights, GELU MLP.
#include "model/layers.h"

#include <cmath>

#include "model/op_profile.h"

namespace mblip {

// transformers T5Attention._relative_position_bucket
int64_t t5_relative_position_bucket(int64_t rp, bool bidirectional, int64_t num_buckets, int64_t max_distance) {
  int64_t bucket = 0;
  if (bidirectional) {
    num_buckets /= 2;
    if (rp > 0) bucket += num_buckets;
    rp = rp < 0 ? -rp : rp;
  } else {
    rp = rp < 0 ? -rp : 0;
  }
  const int64_t max_exact = num_buckets / 2;
  if (rp < max_exact) return bucket + rp;
  // Computed in float32 like torch: log(rp / max_exact) / log(max_distance / max_exact) * (nb - me).
  const float ratio = static_cast<float>(rp) / static_cast<float>(max_exact);
  const float denom = static_cast<float>(std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)));
  const float scaled = std::log(ratio) / denom * static_cast<float>(num_buckets - max_exact);
  int64_t large = max_exact + static_cast<int64_t>(scaled);  // .to(torch.long) truncates toward zero
  if (large > num_buckets - 1) large = num_buckets - 1;
  return bucket + large;
}

void T5PositionBias::compute(size_t q_len, size_t k_len, size_t q_offset, float* out) const {
  for (size_t i = 0; i < q_len; ++i) {
    for (size_t j = 0; j < k_len; ++j) {
      const int64_t rp = static_cast<int64_t>(j) - static_cast<int64_t>(q_offset + i);
      const int64_t b = t5_relative_position_bucket(rp, bidirectional, num_buckets, max_distance);
      for (int64_t h = 0; h < heads; ++h)
        out[static_cast<size_t>(h) * q_len * k_len + i * k_len + j] = table[static_cast<size_t>(b * heads + h)];
    }
  }
}

Status T5AttentionWeights::load(WeightLoader& w, const std::string& p) {
  MBLIP_ASSIGN_OR_RETURN(q, w.linear(p + ".q"));
  MBLIP_ASSIGN_OR_RETURN(k, w.linear(p + ".k"));
  MBLIP_ASSIGN_OR_RETURN(v, w.linear(p + ".v"));
  MBLIP_ASSIGN_OR_RETURN(o, w.linear(p + ".o"));
  return Status::Ok();
}

Status T5FeedForward::load(WeightLoader& w, const std::string& p, const TextConfig& cfg) {
  gated = cfg.gated;
  d_ff = cfg.d_ff;
  if (cfg.dense_act == "relu") {
    act = Act::kRelu;
  } else if (cfg.dense_act == "gelu_new" || cfg.dense_act == "gelu_pytorch_tanh") {
    act = Act::kGeluNew;
  } else if (cfg.dense_act == "gelu") {
    act = Act::kGeluErf;
  } else {
    return unsupported("T5 feed-forward activation '" + cfg.dense_act + "' is not supported (relu, gelu_new, gelu)");
  }
  if (gated) {
    MBLIP_ASSIGN_OR_RETURN(wi0, w.linear(p + ".wi0"));
    MBLIP_ASSIGN_OR_RETURN(wi1, w.linear(p + ".wi1"));
  } else {
    MBLIP_ASSIGN_OR_RETURN(wi0, w.linear(p + ".wi"));
  }
  MBLIP_ASSIGN_OR_RETURN(wo, w.linear(p + ".wo"));
  return Status::Ok();
}

Status T5FeedForward::forward(const float* x, size_t rows, float* y, float* scratch, ThreadPool& pool,
                              OpProfile* prof) const {
  const size_t n = rows * static_cast<size_t>(d_ff);
  float* h0 = scratch;
  {
    OpTimer t(prof, "t5 wi0/wi1 linear");
    MBLIP_RETURN_IF_ERROR(wi0.forward(x, rows, h0, pool));
  }
  {
    OpTimer t(prof, act == Act::kRelu ? "t5 relu" : act == Act::kGeluNew ? "t5 gelu_tanh" : "t5 gelu_erf");
    switch (act) {
      case Act::kRelu: ops::relu(h0, n); break;
      case Act::kGeluNew: ops::gelu_tanh(h0, n, pool); break;
      case Act::kGeluErf: ops::gelu_erf(h0, n, pool); break;
    }
  }
  if (gated) {
    float* h1 = scratch + n;
    {
      OpTimer t(prof, "t5 wi0/wi1 linear");
      MBLIP_RETURN_IF_ERROR(wi1.forward(x, rows, h1, pool));
    }
    OpTimer t(prof, "t5 gate mul");
    ops::mul_inplace(h0, h1, n, pool);
  }
  OpTimer t(prof, "t5 wo linear");
  return wo.forward(h0, rows, y, pool);
}

Status GeluMlp::forward(const float* x, size_t rows, float* y, float* scratch, ThreadPool& pool, OpProfile* prof,
                        const char* const names[3]) const {
  static const char* const kNames[3] = {"fc1", "gelu", "fc2"};
  const char* const* n = names ? names : kNames;
  {
    OpTimer t(prof, n[0]);
    MBLIP_RETURN_IF_ERROR(fc1.forward(x, rows, scratch, pool));
  }
  {
    OpTimer t(prof, n[1]);
    ops::gelu_erf(scratch, rows * static_cast<size_t>(fc1.out_features()), pool);
  }
  OpTimer t(prof, n[2]);
  return fc2.forward(scratch, rows, y, pool);
}

void additive_mask(const float* mask01, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = mask01[i] != 0.0f ? 0.0f : ops::kMaskValue;
}

}  // namespace mblip
