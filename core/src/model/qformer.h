// Q-Former (Blip2QFormerModel driven by the learned query tokens): qformer.layernorm on the
// queries, then BERT-style post-LN layers with cross-attention to the image every Nth layer.
#pragma once
#include <vector>

#include "model/activations.h"
#include "model/config.h"
#include "model/layers.h"

namespace mblip {

class QFormer {
 public:
  static Result<QFormer> load(WeightLoader& w, const QFormerConfig& cfg, int64_t num_query_tokens);
  const QFormerConfig& config() const { return cfg_; }
  int64_t num_queries() const { return num_queries_; }
  // image: image_len x encoder_hidden_size (vision last_hidden_state);
  // out: num_query_tokens x hidden_size (last_hidden_state).
  Status forward(const float* image, size_t image_len, std::vector<float>& out, ThreadPool& pool) const;
  // The same on a Session's buffers: *out (num_queries x hidden) points into act.
  Status forward(const float* image, size_t image_len, Activations& act, const float** out, ThreadPool& pool) const;

 private:
  // Blip2QFormerAttention: self (or cross) attention + output dense + LayerNorm(x + input).
  struct Attention {
    ops::Linear q, k, v, o;
    std::vector<float> ln_w, ln_b;
    Status load(WeightLoader& w, const std::string& prefix);
  };
  struct Layer {
    Attention self_attn;
    bool has_cross = false;
    Attention cross_attn;
    GeluMlp ffn;  // intermediate_query.dense + output_query.dense
    std::vector<float> ffn_ln_w, ffn_ln_b;
  };
  QFormerConfig cfg_;
  int64_t num_queries_ = 0;
  std::vector<float> query_, ln_w_, ln_b_;
  std::vector<Layer> layers_;
};

}  // namespace mblip
