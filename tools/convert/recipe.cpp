// Quantization recipe (see recipe.h): type choice per tensor, CLI-style options, the default.
#include "recipe.h"

#include <algorithm>

namespace mblip {

bool glob_match(const std::string& p, const std::string& s) {
  // Iterative '*' matching with backtracking to the last star.
  size_t i = 0, j = 0, star = std::string::npos, mark = 0;
  while (j < s.size()) {
    if (i < p.size() && p[i] == '*') {
      star = i++;
      mark = j;
    } else if (i < p.size() && p[i] == s[j]) {
      ++i;
      ++j;
    } else if (star != std::string::npos) {
      i = star + 1;
      j = ++mark;
    } else {
      return false;
    }
  }
  while (i < p.size() && p[i] == '*') ++i;
  return i == p.size();
}

bool rule_may_match(const std::string& pattern, Component c) {
  const std::string lit = pattern.substr(0, pattern.find('*'));
  const char* prefix = "";
  switch (c) {
    case Component::kVision: prefix = "v."; break;
    case Component::kQFormer: prefix = "q."; break;
    case Component::kProjection: prefix = "proj."; break;
    case Component::kTextEncoder: prefix = "t.enc."; break;
    case Component::kTextDecoder: prefix = "t.dec."; break;
    case Component::kEmbeddings: prefix = "t.emb"; break;
    case Component::kLmHead: prefix = "t.head"; break;
  }
  const std::string pre = prefix;
  const size_t n = std::min(lit.size(), pre.size());
  return lit.compare(0, n, pre, 0, n) == 0;
}

RecipeChoice choose_type(const ExpectedTensor& t, DType weights, const std::map<Component, DType>& overrides,
                         const TensorRules& rules) {
  RecipeChoice c;
  if (!t.is_matrix_weight) return c;
  auto it = overrides.find(t.component);
  c.type = it != overrides.end() ? it->second : weights;
  for (const auto& r : rules)
    if (glob_match(r.first, t.name)) c.type = r.second;
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
  if (name == "tensor") {
    const size_t eq = value.rfind('=');
    if (eq == std::string::npos || eq == 0)
      return invalid_argument("--tensor expects GLOB=TYPE (e.g. 't.*.ffn.wo=q8_0'), got '" + value + "'");
    auto t = dtype_from_name(value.substr(eq + 1));
    if (!t.ok()) return t.status().with_context("--tensor " + value);
    tensors.emplace_back(value.substr(0, eq), t.value());
    return Status::Ok();
  }
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

// The default recipe (since 2026-12-04, issue 13), chosen from the ablation in
// tests/test_quality.cpp (mblip_tests "[.ablation]", numbers in the test's comments):
// - q4_0 for the bulk; the ViT attention, the Q-Former and the projection at q8_0: they feed every
//   later stage (the Q-Former alone at q4_0 costs the step-0 logits more than any other group);
// - t.emb at q8_0 (+256 MB at mt0-xl): the prompt embeddings enter the encoder unchanged; a
//   lookup table, so it costs no decode time;
// - the decoder's self-attention v/o and cross-attention v at q8_0 (+151 MB): their rounding
//   passes linearly into the residual stream at every step (the sensitive "attn_v" of LLM
//   recipes); cross-attention v is applied once per caption (the encoder's K/V are cached);
// - the ViT MLP (fc1, fc2) at q4_0 (-337 MB) pays for them: of the ViT's weights the MLP costs
//   the least when rounded to 4 bits (its attention at q4_0 costs 3x more).
// Budget (wasm32, 4 GiB): loading holds the packed weights plus the raw bytes of the largest
// tensor (t.emb at q8_0: 544 MB) plus ~400 MB of working memory (api/memory_check.h): mt0-xl
// 3.34 GB of tensors, ~4.26 GB (3.97 GiB) at the load peak. The lm_head at q8_0 would not fit
// (+256 MB, and +24% bytes per decode step); with t.emb at q8_0 the ViT MLP must be at q4_0.
// tiny-mt5, worst item, XNNPACK / own Q4_0 kernel: T5 encoder 0.980 / 0.983, step-0 logits
// 0.9855 / 0.9849 (previous default 0.982 / 0.974).
Recipe default_recipe() {
  Recipe r;
  r.weights = DType::Q4_0;
  r.overrides[Component::kVision] = DType::Q8_0;
  r.overrides[Component::kQFormer] = DType::Q8_0;
  r.overrides[Component::kProjection] = DType::Q8_0;
  r.overrides[Component::kEmbeddings] = DType::Q8_0;
  r.tensors = {{"v.*.fc1.w", DType::Q4_0},
               {"v.*.fc2.w", DType::Q4_0},
               {"t.dec.*.sa.v", DType::Q8_0},
               {"t.dec.*.sa.o", DType::Q8_0},
               {"t.dec.*.ca.v", DType::Q8_0}};
  return r;
}

Recipe resolve_cli_recipe(const Recipe& given, bool weights_given) {
  if (weights_given) return given;
  Recipe r = default_recipe();
  for (const auto& kv : given.overrides) r.overrides[kv.first] = kv.second;
  TensorRules rules;
  for (const auto& rule : r.tensors) {
    bool touches_explicit = false;
    for (const auto& kv : given.overrides) touches_explicit |= rule_may_match(rule.first, kv.first);
    if (!touches_explicit) rules.push_back(rule);
  }
  rules.insert(rules.end(), given.tensors.begin(), given.tensors.end());
  r.tensors = rules;
  return r;
}

std::string Recipe::describe() const {
  std::string s = std::string("weights=") + dtype_name(weights);
  for (const auto& kv : overrides) s += std::string(" ") + component_name(kv.first) + "=" + dtype_name(kv.second);
  for (const auto& r : tensors) s += " " + r.first + "=" + dtype_name(r.second);
  return s;
}

// Bytes of each tensor the model declares, stored at this recipe's types (0 where undefined).
std::vector<uint64_t> Recipe::each_tensor_bytes(const ModelConfig& cfg) const {
  std::vector<uint64_t> out;
  for (const auto& t : expected_tensors(cfg)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    auto b = dtype_bytes(type_for(t), n);
    out.push_back(b.ok() ? b.value() : 0);
  }
  return out;
}

uint64_t Recipe::largest_tensor_bytes(const ModelConfig& cfg) const {
  uint64_t best = 0;
  for (uint64_t b : each_tensor_bytes(cfg)) best = std::max(best, b);
  return best;
}

uint64_t Recipe::tensor_bytes(const ModelConfig& cfg) const {
  uint64_t total = 0;
  for (uint64_t b : each_tensor_bytes(cfg)) total += b;
  return total;
}

}  // namespace mblip
