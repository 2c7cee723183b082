// T5/mT5 encoder stack (T5Stack, is_decoder=False) over precomputed input embeddings
// ([projected queries ; prompt embeddings]) with a 0/1 attention mask.
#pragma once
#include <vector>

#include "model/activations.h"
#include "model/config.h"
#include "model/layers.h"

namespace mblip {

class T5Encoder {
 public:
  static Result<T5Encoder> load(WeightLoader& w, const TextConfig& cfg);
  // embeds: len x d_model; mask01: len values (1 = attend, 0 = padding) or nullptr for all ones.
  // out: len x d_model (after final_layer_norm; rows with mask 0 are meaningless, as in HF).
  Status forward(const float* embeds, size_t len, const float* mask01, std::vector<float>& out,
                 ThreadPool& pool) const;
  // The same on a Session's buffers: *out (len x d_model) points into act.
  Status forward(const float* embeds, size_t len, const float* mask01, Activations& act, const float** out,
                 ThreadPool& pool) const;

 private:
  struct Layer {
    std::vector<float> sa_ln, ffn_ln;
    T5AttentionWeights sa;
    T5FeedForward ffn;
  };
  TextConfig cfg_;
  T5PositionBias bias_;
  std::vector<Layer> layers_;
  std::vector<float> final_ln_;
};

}  // namespace mblip
