// Quantization recipe: which stored type each tensor gets (see docs/model-file.md,
// "Quantization recipe"). Deterministic: depends only on the tensor and the options.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/tensor.h"
#include "mblip/status.h"
#include "model/tensor_names.h"

namespace mblip {

struct RecipeChoice {
  DType type = DType::F32;
  std::string note;  // non-empty when the requested type could not be used (fallback to f16)
};

// Per-tensor rules: a glob on the GGUF name ('*' matches any run of characters, e.g.
// "t.*.ffn.wo", "t.dec.23.*") and the type for the matrix weights it matches. Rules apply after
// the component overrides; the last matching rule wins.
using TensorRules = std::vector<std::pair<std::string, DType>>;
bool glob_match(const std::string& pattern, const std::string& name);
// Whether a rule's glob may match tensors of component `c` (its literal prefix before the first
// '*' is compatible with the component's GGUF prefix); used so that the default recipe's rules
// never override a component the user set explicitly.
bool rule_may_match(const std::string& pattern, Component c);

// Matrix weights get the type of the last matching tensor rule, else the component's override,
// else `weights`; everything else (norms, biases, class/position/query embeddings,
// relative_attention_bias, the patch convolution) stays f32. q8_0/q4_0 need a row length that
// is a multiple of 32; other rows fall back to f16 with a note.
RecipeChoice choose_type(const ExpectedTensor& t, DType weights, const std::map<Component, DType>& overrides,
                         const TensorRules& rules = {});

// The recipe as a value, built from CLI-style options (shared by mblip-convert and mblip-synth).
struct Recipe {
  DType weights = DType::F32;
  std::map<Component, DType> overrides;
  TensorRules tensors;

  // name: "weights", "vision", "qformer", "projection", "text" (encoder + decoder),
  // "embeddings" or "lm-head" with value "f32", "f16", "q8_0" or "q4_0"; or "tensor" with value
  // "GLOB=TYPE" (appended to the tensor rules).
  Status set_option(const std::string& name, const std::string& value);
  DType type_for(const ExpectedTensor& t) const { return choose_type(t, weights, overrides, tensors).type; }
  RecipeChoice choice_for(const ExpectedTensor& t) const { return choose_type(t, weights, overrides, tensors); }
  // "weights=q4_0 vision=q8_0 t.*.ffn.wo=q8_0" (overrides in component order, then the rules).
  std::string describe() const;
  // Stored bytes of every tensor of `cfg` under this recipe (tensor data only, no metadata).
  uint64_t tensor_bytes(const ModelConfig& cfg) const;
  // The largest single tensor (what a streaming load holds raw while building it).
  uint64_t largest_tensor_bytes(const ModelConfig& cfg) const;
  // Bytes of each declared tensor at this recipe's types (the two sums above).
  std::vector<uint64_t> each_tensor_bytes(const ModelConfig& cfg) const;
};

// The default recipe (mblip-convert and mblip-synth without --weights); see recipe.cpp for the
// choice and the measurements behind it.
Recipe default_recipe();

// What the CLIs (mblip-convert, mblip-synth) use: with --weights, exactly the options given;
// without, the default recipe with the given component options and --tensor rules on top (a
// default per-tensor rule is dropped when it may touch a component set explicitly).
Recipe resolve_cli_recipe(const Recipe& given, bool weights_given);

}  // namespace mblip
