// Quantization recipe: which stored type each tensor gets (see docs/model-file.md,
// "Quantization recipe"). Deterministic: depends only on the tensor and the options.
#pragma once
#include <map>
#include <string>

#include "io/tensor.h"
#include "mblip/status.h"
#include "model/tensor_names.h"

namespace mblip {

struct RecipeChoice {
  DType type = DType::F32;
  std::string note;  // non-empty when the requested type could not be used (fallback to f16)
};

// Matrix weights get the component's type (override, else `weights`); everything else
// (norms, biases, class/position/query embeddings, relative_attention_bias, the patch
// convolution) stays f32. q8_0/q4_0 need a row length that is a multiple of 32; other
// rows fall back to f16 with a note.
RecipeChoice choose_type(const ExpectedTensor& t, DType weights, const std::map<Component, DType>& overrides);

// The recipe as a value, built from CLI-style options (shared by mblip-convert and mblip-synth).
struct Recipe {
  DType weights = DType::F32;
  std::map<Component, DType> overrides;

  // name: "weights", "vision", "qformer", "projection", "text" (encoder + decoder),
  // "embeddings" or "lm-head"; value: "f32", "f16", "q8_0" or "q4_0".
  Status set_option(const std::string& name, const std::string& value);
  DType type_for(const ExpectedTensor& t) const { return choose_type(t, weights, overrides).type; }
  RecipeChoice choice_for(const ExpectedTensor& t) const { return choose_type(t, weights, overrides); }
  // "weights=q4_0 vision=q8_0" (overrides in component order).
  std::string describe() const;
};

// The default recipe (no --weights / component options): q4_0, with the ViT, the Q-Former and
// the language projection at q8_0. mblip-mt0-xl: 3.27 GB (q4_0 + ViT q8_0 alone: 3.22 GB).
// On golden tiny-mt5 the Q-Former/projection at q8_0 lift the encoder cosine from 0.943 to 0.982
// and the step-0 logits from 0.962 to 0.975 (docs/model-file.md "Quantization recipe").
Recipe default_recipe();

}  // namespace mblip
