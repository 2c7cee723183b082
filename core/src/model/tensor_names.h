// The one declaration of every tensor an mBLIP checkpoint holds (GGUF name, Hugging Face name,
// shape from the config, role), written once per tower in tensor_table.cpp. Derived from it: the
// converter's expectations, the HF <-> GGUF name mapping (here), the weight loader's plan and
// memory estimate (model/weights.cpp). The tables are documented in docs/model-file.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/linear.h"  // LinearRows
#include "model/config.h"

namespace mblip {

enum class Component { kVision, kQFormer, kProjection, kTextEncoder, kTextDecoder, kEmbeddings, kLmHead };
const char* component_name(Component c);  // "vision", "qformer", "projection", "text_encoder", ...

// What a tensor is: how it is checked, stored (quantizable or not) and built at load.
enum class TensorRole {
  kLinear,     // nn.Linear weight (out, in): quantizable; built into a kernel with `bias`
  kConv,       // patch-embedding conv weight: kept f32; built as a linear over (C, p, p) patches
  kBias,       // f32 bias (out) of the linear that names it in `bias`
  kNorm,       // LayerNorm / T5LayerNorm weight or bias (f32 or f16)
  kFloats,     // other float parameter: class / position embedding, query tokens, relative bias
  kEmbedding,  // token embedding table (vocab, d_model): quantizable, rows dequantized on lookup
};

struct ExpectedTensor {
  std::string name;             // GGUF name (at most 63 bytes)
  std::string hf_name;          // Hugging Face name (the tensor the converter reads)
  std::vector<int64_t> shape;   // HF order
  Component component = Component::kVision;
  bool is_matrix_weight = false;  // kLinear or kEmbedding: the recipe may quantize it
  TensorRole role = TensorRole::kFloats;
  std::string bias;             // kLinear / kConv: GGUF name of its bias ("" = none)
  bool also_linear = false;     // kEmbedding: also read as the tied lm_head's linear weight
  LinearRows rows = LinearRows::kSome;  // kLinear (or also_linear): activation rows per call
  std::vector<std::string> hf_aliases;  // other HF names of the same values (tied copies)
};

// Every tensor the runtime needs for `cfg`, in a stable order (the converter writes the GGUF in
// this order; the loader builds and the towers look their weights up by `name`).
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& cfg);
// The same declarations as naming rules: one layer whose index is the text "{N}", every
// optional tensor included, shapes empty. The mapping below is made from these.
std::vector<ExpectedTensor> tensor_name_rules();

// GGUF name -> HF name ("" if unknown) and back.
std::string hf_name_for(const std::string& gguf_name);
std::string gguf_name_for(const std::string& hf_name);
// The tower a GGUF name belongs to (by its rule; unknown names by their prefix).
Component component_of(const std::string& gguf_name);
// Whether a declared tensor is multiplied as a matrix: a linear, the patch conv, or the tied
// embedding read as the lm_head (its `rows` then say how many activation rows a call has).
inline bool is_linear_weight(const ExpectedTensor& e) {
  return e.role == TensorRole::kLinear || e.role == TensorRole::kConv || e.also_linear;
}
// Whether a declared tensor is read once per generated token: the decoder's (but the
// cross-attention K/V weights, run once per caption) and the lm_head, tied or not.
inline bool read_per_step(const ExpectedTensor& e) {
  return (is_linear_weight(e) && e.rows == LinearRows::kFew) ||
         (e.component == Component::kTextDecoder && e.role != TensorRole::kLinear);
}
const char* rows_name(LinearRows r);  // "few", "some", "many"

}  // namespace mblip
