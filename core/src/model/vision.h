// EVA ViT vision tower (Blip2VisionModel): patch embedding, class token, position embedding,
// pre-LN encoder blocks with fused qkv, post_layernorm.
#pragma once
#include <vector>

#include "model/activations.h"
#include "model/config.h"
#include "model/layers.h"

namespace mblip {

class VisionTower {
 public:
  static Result<VisionTower> load(WeightLoader& w, const VisionConfig& cfg);
  const VisionConfig& config() const { return cfg_; }
  // Blip2VisionModel.forward -> last_hidden_state (after post_layernorm).
  // pixels: (3, image_size, image_size) float32, channels first; out: num_positions x hidden.
  Status forward(const float* pixels, std::vector<float>& out, ThreadPool& pool) const;
  // The same on a Session's buffers: *out points into act (num_positions x hidden), valid
  // until act is used again. No allocation once act is sized (Activations::reserve).
  Status forward(const float* pixels, Activations& act, const float** out, ThreadPool& pool) const;

 private:
  struct Layer {
    std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;
    ops::Linear qkv, proj;
    GeluMlp mlp;
  };
  VisionConfig cfg_;
  ops::Linear patch_;  // conv as a linear over (C, p, p)-ordered patches
  std::vector<float> cls_, pos_, post_w_, post_b_;
  std::vector<Layer> layers_;
};

}  // namespace mblip
