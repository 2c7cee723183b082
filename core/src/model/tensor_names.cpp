// HF parameter name <-> GGUF tensor name mapping, made from the tensor declarations
// (tensor_table.cpp) in their naming-rule form: "{N}" stands for a layer index in both names.
#include "model/tensor_names.h"

#include <cctype>

namespace mblip {

const char* component_name(Component c) {
  switch (c) {
    case Component::kVision: return "vision";
    case Component::kQFormer: return "qformer";
    case Component::kProjection: return "projection";
    case Component::kTextEncoder: return "text_encoder";
    case Component::kTextDecoder: return "text_decoder";
    case Component::kEmbeddings: return "embeddings";
    case Component::kLmHead: return "lm_head";
  }
  return "unknown";
}

namespace {

// Built once from the declarations; read-only afterwards.
const std::vector<ExpectedTensor>& rules() {
  static const std::vector<ExpectedTensor> r = tensor_name_rules();
  return r;
}

// Matches `name` against template `tmpl`; on success stores the layer index text ("" if the
// template has none) in `index`.
bool match(const std::string& tmpl, const std::string& name, std::string& index) {
  const size_t p = tmpl.find("{N}");
  if (p == std::string::npos) {
    index.clear();
    return tmpl == name;
  }
  const std::string pre = tmpl.substr(0, p), post = tmpl.substr(p + 3);
  if (name.size() <= pre.size() + post.size()) return false;
  if (name.compare(0, pre.size(), pre) != 0) return false;
  if (name.compare(name.size() - post.size(), post.size(), post) != 0) return false;
  index = name.substr(pre.size(), name.size() - pre.size() - post.size());
  if (index.size() > 6) return false;
  for (char c : index)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  if (index.size() > 1 && index[0] == '0') return false;  // canonical decimal only
  return true;
}

std::string fill(const std::string& tmpl, const std::string& index) {
  const size_t p = tmpl.find("{N}");
  if (p == std::string::npos) return tmpl;
  return tmpl.substr(0, p) + index + tmpl.substr(p + 3);
}

}  // namespace

std::string gguf_name_for(const std::string& hf_name) {
  std::string idx;
  for (const ExpectedTensor& r : rules())
    if (match(r.hf_name, hf_name, idx)) return fill(r.name, idx);
  return "";
}

std::string hf_name_for(const std::string& gguf_name) {
  std::string idx;
  for (const ExpectedTensor& r : rules())
    if (match(r.name, gguf_name, idx)) return fill(r.hf_name, idx);
  return "";
}

const char* rows_name(LinearRows r) {
  switch (r) {
    case LinearRows::kFew: return "few";
    case LinearRows::kSome: return "some";
    case LinearRows::kMany: return "many";
  }
  return "some";
}

Component component_of(const std::string& g) {
  std::string idx;
  const ExpectedTensor* best = &rules().front();
  size_t best_len = 0;
  for (const ExpectedTensor& r : rules()) {
    if (match(r.name, g, idx)) return r.component;
    size_t n = 0;  // an unknown name goes with the rule it shares the longest prefix with
    while (n < g.size() && n < r.name.size() && g[n] == r.name[n]) ++n;
    if (n > best_len) best = &r, best_len = n;
  }
  return best->component;
}

}  // namespace mblip
