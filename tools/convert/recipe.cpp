// Quantization recipe (see recipe.h).
#include "recipe.h"


namespace mblip {

RecipeChoice choose_type(const ExpectedTensor& t, DType weights, const std::map<Component, DType>& overrides) {
  RecipeChoice c;
  if (!t.is_matrix_weight) return c;
  auto it = overrides.find(t.component);
  c.type = it != overrides.end() ? it->second : weights;
  const auto& tr = dtype_traits(c.type);
  const int64_t row = t.shape.empty() ? 1 : t.shape.back();
  if (tr.block_elems > 1 && row % tr.block_elems != 0) {
    c.note = t.name + ": row length " + std::to_string(row) + " is not a multiple of " +
             std::to_string(tr.block_elems) + ", stored as f16 instead of " + tr.name;
    c.type = DType::F16;
  }
  return c;
}

Status Recipe::set_option(const std::string& name, const std::string& value) {
  auto t = dtype_from_name(value);
  if (!t.ok()) return t.status().with_context("--" + name);
  if (name == "weights") weights = t.value();
  else if (name == "vision") overrides[Component::kVision] = t.value();
  else if (name == "qformer") overrides[Component::kQFormer] = t.value();
  else if (name == "projection") overrides[Component::kProjection] = t.value();
  else if (name == "text") overrides[Component::kTextEncoder] = overrides[Component::kTextDecoder] = t.value();
  else if (name == "embeddings") overrides[Component::kEmbeddings] = t.value();
  else if (name == "lm-head" || name == "lm_head") overrides[Component::kLmHead] = t.value();
  else return invalid_argument("unknown option '--" + name + "'");
  return Status::Ok();
}

Recipe default_recipe() {
  Recipe r;
  r.weights = DType::Q4_0;
  r.overrides[Component::kVision] = DType::Q8_0;
  r.overrides[Component::kQFormer] = DType::Q8_0;
  r.overrides[Component::kProjection] = DType::Q8_0;
  return r;
}

std::string Recipe::describe() const {
  std::string s = std::string("weights=") + dtype_name(weights);
  for (const auto& kv : overrides) s += std::string(" ") + component_name(kv.first) + "=" + dtype_name(kv.second);
  return s;
}

}  // namespace mblip
