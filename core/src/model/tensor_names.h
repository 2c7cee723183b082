// The deterministic mapping between Hugging Face parameter names and our short GGUF tensor
// names (GGUF names are limited to 63 bytes), plus the list of tensors and shapes a config
// requires. The table is documented in docs/model-file.md.
//
//   HF                                                              GGUF
//   vision_model.embeddings.class_embedding                         v.cls
//   vision_model.embeddings.patch_embedding.{weight,bias}           v.patch.{w,b}
//   vision_model.embeddings.position_embedding                      v.pos
//   vision_model.encoder.layers.N.layer_norm1.{weight,bias}         v.N.ln1.{w,b}
//   vision_model.encoder.layers.N.self_attn.qkv.{weight,bias}       v.N.qkv.{w,b}
//   vision_model.encoder.layers.N.self_attn.projection.*            v.N.proj.*
//   vision_model.encoder.layers.N.layer_norm2.*                     v.N.ln2.*
//   vision_model.encoder.layers.N.mlp.fc1.* / fc2.*                 v.N.fc1.* / v.N.fc2.*
//   vision_model.post_layernorm.*                                   v.post_ln.*
//   query_tokens                                                    q.query
//   qformer.layernorm.*                                             q.ln.*
//   qformer.encoder.layer.N.attention.attention.{query,key,value}.* q.N.sa.{q,k,v}.*
//   qformer.encoder.layer.N.attention.output.dense.*                q.N.sa.o.*
//   qformer.encoder.layer.N.attention.output.LayerNorm.*            q.N.sa.ln.*
//   qformer.encoder.layer.N.crossattention.*  (same pattern)        q.N.ca.{q,k,v,o,ln}.*
//   qformer.encoder.layer.N.intermediate_query.dense.*              q.N.ffn.up.*
//   qformer.encoder.layer.N.output_query.dense.*                    q.N.ffn.down.*
//   qformer.encoder.layer.N.output_query.LayerNorm.*                q.N.ffn.ln.*
//   language_projection.*                                           proj.*
//   language_model.shared.weight                                    t.emb
//   language_model.lm_head.weight (untied only)                     t.head
//   language_model.{encoder,decoder}.block.0.layer.0.SelfAttention.relative_attention_bias.weight
//                                                                   t.{enc,dec}.rel_bias
//   language_model.encoder.block.N.layer.0.SelfAttention.{q,k,v,o}.weight   t.enc.N.sa.{q,k,v,o}
//   language_model.encoder.block.N.layer.0.layer_norm.weight                t.enc.N.sa.ln
//   language_model.encoder.block.N.layer.1.DenseReluDense.{wi_0,wi_1,wi,wo}.weight
//                                                                   t.enc.N.ffn.{wi0,wi1,wi,wo}
//   language_model.encoder.block.N.layer.1.layer_norm.weight        t.enc.N.ffn.ln
//   language_model.decoder.block.N.layer.0.* (self-attention)       t.dec.N.sa.*
//   language_model.decoder.block.N.layer.1.EncDecAttention.{q,k,v,o}.weight t.dec.N.ca.{q,k,v,o}
//   language_model.decoder.block.N.layer.1.layer_norm.weight        t.dec.N.ca.ln
//   language_model.decoder.block.N.layer.2.*  (FFN)                 t.dec.N.ffn.*
//   language_model.{encoder,decoder}.final_layer_norm.weight        t.{enc,dec}.final_ln
//   ".weight" -> ".w", ".bias" -> ".b" where the HF name has a bias too (vision, Q-Former,
//   projection); T5 weights have no bias and no suffix.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace mblip {

enum class Component { kVision, kQFormer, kProjection, kTextEncoder, kTextDecoder, kEmbeddings, kLmHead };
const char* component_name(Component c);  // "vision", "qformer", "projection", "text_encoder", ...

struct ExpectedTensor {
  std::string name;             // GGUF name
  std::string hf_name;          // Hugging Face name (the tensor the converter reads)
  std::vector<int64_t> shape;   // HF order
  Component component;
  bool is_matrix_weight;        // a linear/embedding weight that may be quantized
};

// Every tensor the runtime needs for `cfg`, in a stable order.
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& cfg);
// GGUF name -> HF name ("" if unknown) and back.
std::string hf_name_for(const std::string& gguf_name);
std::string gguf_name_for(const std::string& hf_name);
Component component_of(const std::string& gguf_name);

}  // namespace mblip
