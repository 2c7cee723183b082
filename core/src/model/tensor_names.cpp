// HF parameter name <-> GGUF tensor name mapping and the tensor list a ModelConfig requires
// (mirrors the state dict of transformers' Blip2ForConditionalGeneration with a T5/MT5 LM).
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

// One naming rule: "{N}" stands for a layer index in both templates.
struct Rule {
  const char* hf;
  const char* gguf;
};

// Order matters only where two templates could match the same name: the fixed block-0
// relative_attention_bias names come before the general per-block patterns.
const Rule kRules[] = {
    {"vision_model.embeddings.class_embedding", "v.cls"},
    {"vision_model.embeddings.patch_embedding.weight", "v.patch.w"},
    {"vision_model.embeddings.patch_embedding.bias", "v.patch.b"},
    {"vision_model.embeddings.position_embedding", "v.pos"},
    {"vision_model.encoder.layers.{N}.layer_norm1.weight", "v.{N}.ln1.w"},
    {"vision_model.encoder.layers.{N}.layer_norm1.bias", "v.{N}.ln1.b"},
    {"vision_model.encoder.layers.{N}.self_attn.qkv.weight", "v.{N}.qkv.w"},
    {"vision_model.encoder.layers.{N}.self_attn.qkv.bias", "v.{N}.qkv.b"},
    {"vision_model.encoder.layers.{N}.self_attn.projection.weight", "v.{N}.proj.w"},
    {"vision_model.encoder.layers.{N}.self_attn.projection.bias", "v.{N}.proj.b"},
    {"vision_model.encoder.layers.{N}.layer_norm2.weight", "v.{N}.ln2.w"},
    {"vision_model.encoder.layers.{N}.layer_norm2.bias", "v.{N}.ln2.b"},
    {"vision_model.encoder.layers.{N}.mlp.fc1.weight", "v.{N}.fc1.w"},
    {"vision_model.encoder.layers.{N}.mlp.fc1.bias", "v.{N}.fc1.b"},
    {"vision_model.encoder.layers.{N}.mlp.fc2.weight", "v.{N}.fc2.w"},
    {"vision_model.encoder.layers.{N}.mlp.fc2.bias", "v.{N}.fc2.b"},
    {"vision_model.post_layernorm.weight", "v.post_ln.w"},
    {"vision_model.post_layernorm.bias", "v.post_ln.b"},
    {"query_tokens", "q.query"},
    {"qformer.layernorm.weight", "q.ln.w"},
    {"qformer.layernorm.bias", "q.ln.b"},
    {"qformer.encoder.layer.{N}.attention.attention.query.weight", "q.{N}.sa.q.w"},
    {"qformer.encoder.layer.{N}.attention.attention.query.bias", "q.{N}.sa.q.b"},
    {"qformer.encoder.layer.{N}.attention.attention.key.weight", "q.{N}.sa.k.w"},
    {"qformer.encoder.layer.{N}.attention.attention.key.bias", "q.{N}.sa.k.b"},
    {"qformer.encoder.layer.{N}.attention.attention.value.weight", "q.{N}.sa.v.w"},
    {"qformer.encoder.layer.{N}.attention.attention.value.bias", "q.{N}.sa.v.b"},
    {"qformer.encoder.layer.{N}.attention.output.dense.weight", "q.{N}.sa.o.w"},
    {"qformer.encoder.layer.{N}.attention.output.dense.bias", "q.{N}.sa.o.b"},
    {"qformer.encoder.layer.{N}.attention.output.LayerNorm.weight", "q.{N}.sa.ln.w"},
    {"qformer.encoder.layer.{N}.attention.output.LayerNorm.bias", "q.{N}.sa.ln.b"},
    {"qformer.encoder.layer.{N}.crossattention.attention.query.weight", "q.{N}.ca.q.w"},
    {"qformer.encoder.layer.{N}.crossattention.attention.query.bias", "q.{N}.ca.q.b"},
    {"qformer.encoder.layer.{N}.crossattention.attention.key.weight", "q.{N}.ca.k.w"},
    {"qformer.encoder.layer.{N}.crossattention.attention.key.bias", "q.{N}.ca.k.b"},
    {"qformer.encoder.layer.{N}.crossattention.attention.value.weight", "q.{N}.ca.v.w"},
    {"qformer.encoder.layer.{N}.crossattention.attention.value.bias", "q.{N}.ca.v.b"},
    {"qformer.encoder.layer.{N}.crossattention.output.dense.weight", "q.{N}.ca.o.w"},
    {"qformer.encoder.layer.{N}.crossattention.output.dense.bias", "q.{N}.ca.o.b"},
    {"qformer.encoder.layer.{N}.crossattention.output.LayerNorm.weight", "q.{N}.ca.ln.w"},
    {"qformer.encoder.layer.{N}.crossattention.output.LayerNorm.bias", "q.{N}.ca.ln.b"},
    {"qformer.encoder.layer.{N}.intermediate_query.dense.weight", "q.{N}.ffn.up.w"},
    {"qformer.encoder.layer.{N}.intermediate_query.dense.bias", "q.{N}.ffn.up.b"},
    {"qformer.encoder.layer.{N}.output_query.dense.weight", "q.{N}.ffn.down.w"},
    {"qformer.encoder.layer.{N}.output_query.dense.bias", "q.{N}.ffn.down.b"},
    {"qformer.encoder.layer.{N}.output_query.LayerNorm.weight", "q.{N}.ffn.ln.w"},
    {"qformer.encoder.layer.{N}.output_query.LayerNorm.bias", "q.{N}.ffn.ln.b"},
    {"language_projection.weight", "proj.w"},
    {"language_projection.bias", "proj.b"},
    {"language_model.shared.weight", "t.emb"},
    {"language_model.lm_head.weight", "t.head"},
    {"language_model.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "t.enc.rel_bias"},
    {"language_model.decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "t.dec.rel_bias"},
    {"language_model.encoder.block.{N}.layer.0.SelfAttention.q.weight", "t.enc.{N}.sa.q"},
    {"language_model.encoder.block.{N}.layer.0.SelfAttention.k.weight", "t.enc.{N}.sa.k"},
    {"language_model.encoder.block.{N}.layer.0.SelfAttention.v.weight", "t.enc.{N}.sa.v"},
    {"language_model.encoder.block.{N}.layer.0.SelfAttention.o.weight", "t.enc.{N}.sa.o"},
    {"language_model.encoder.block.{N}.layer.0.layer_norm.weight", "t.enc.{N}.sa.ln"},
    {"language_model.encoder.block.{N}.layer.1.DenseReluDense.wi_0.weight", "t.enc.{N}.ffn.wi0"},
    {"language_model.encoder.block.{N}.layer.1.DenseReluDense.wi_1.weight", "t.enc.{N}.ffn.wi1"},
    {"language_model.encoder.block.{N}.layer.1.DenseReluDense.wi.weight", "t.enc.{N}.ffn.wi"},
    {"language_model.encoder.block.{N}.layer.1.DenseReluDense.wo.weight", "t.enc.{N}.ffn.wo"},
    {"language_model.encoder.block.{N}.layer.1.layer_norm.weight", "t.enc.{N}.ffn.ln"},
    {"language_model.encoder.final_layer_norm.weight", "t.enc.final_ln"},
    {"language_model.decoder.block.{N}.layer.0.SelfAttention.q.weight", "t.dec.{N}.sa.q"},
    {"language_model.decoder.block.{N}.layer.0.SelfAttention.k.weight", "t.dec.{N}.sa.k"},
    {"language_model.decoder.block.{N}.layer.0.SelfAttention.v.weight", "t.dec.{N}.sa.v"},
    {"language_model.decoder.block.{N}.layer.0.SelfAttention.o.weight", "t.dec.{N}.sa.o"},
    {"language_model.decoder.block.{N}.layer.0.layer_norm.weight", "t.dec.{N}.sa.ln"},
    {"language_model.decoder.block.{N}.layer.1.EncDecAttention.q.weight", "t.dec.{N}.ca.q"},
    {"language_model.decoder.block.{N}.layer.1.EncDecAttention.k.weight", "t.dec.{N}.ca.k"},
    {"language_model.decoder.block.{N}.layer.1.EncDecAttention.v.weight", "t.dec.{N}.ca.v"},
    {"language_model.decoder.block.{N}.layer.1.EncDecAttention.o.weight", "t.dec.{N}.ca.o"},
    {"language_model.decoder.block.{N}.layer.1.layer_norm.weight", "t.dec.{N}.ca.ln"},
    {"language_model.decoder.block.{N}.layer.2.DenseReluDense.wi_0.weight", "t.dec.{N}.ffn.wi0"},
    {"language_model.decoder.block.{N}.layer.2.DenseReluDense.wi_1.weight", "t.dec.{N}.ffn.wi1"},
    {"language_model.decoder.block.{N}.layer.2.DenseReluDense.wi.weight", "t.dec.{N}.ffn.wi"},
    {"language_model.decoder.block.{N}.layer.2.DenseReluDense.wo.weight", "t.dec.{N}.ffn.wo"},
    {"language_model.decoder.block.{N}.layer.2.layer_norm.weight", "t.dec.{N}.ffn.ln"},
    {"language_model.decoder.final_layer_norm.weight", "t.dec.final_ln"},
};

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
  for (const Rule& r : kRules)
    if (match(r.hf, hf_name, idx)) return fill(r.gguf, idx);
  return "";
}

std::string hf_name_for(const std::string& gguf_name) {
  std::string idx;
  for (const Rule& r : kRules)
    if (match(r.gguf, gguf_name, idx)) return fill(r.hf, idx);
  return "";
}

Component component_of(const std::string& g) {
  auto starts = [&](const char* p) { return g.compare(0, std::char_traits<char>::length(p), p) == 0; };
  if (starts("v.")) return Component::kVision;
  if (starts("q.")) return Component::kQFormer;
  if (starts("proj.")) return Component::kProjection;
  if (g == "t.emb") return Component::kEmbeddings;
  if (g == "t.head") return Component::kLmHead;
  if (starts("t.dec.")) return Component::kTextDecoder;
  return Component::kTextEncoder;
}

// Mirrors the parameters of Blip2VisionModel, Blip2QFormerModel, language_projection and
// T5ForConditionalGeneration (modeling_blip_2.py / modeling_t5.py, transformers 4.36.2).
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& cfg) {
  std::vector<ExpectedTensor> out;
  auto add = [&](const std::string& gguf, std::vector<int64_t> shape, bool matrix) {
    out.push_back({gguf, hf_name_for(gguf), std::move(shape), component_of(gguf), matrix});
  };
  // Linear layer: weight (out, in) is a matrix weight; bias (out) when present.
  auto linear = [&](const std::string& base, int64_t out_f, int64_t in_f, bool bias) {
    add(base + (bias ? ".w" : ""), {out_f, in_f}, true);
    if (bias) add(base + ".b", {out_f}, false);
  };
  auto layer_norm = [&](const std::string& base, int64_t d) {
    add(base + ".w", {d}, false);
    add(base + ".b", {d}, false);
  };

  const VisionConfig& v = cfg.vision;
  const int64_t D = v.hidden_size;
  add("v.cls", {1, 1, D}, false);
  add("v.patch.w", {D, 3, v.patch_size, v.patch_size}, false);  // conv weight: kept f32
  add("v.patch.b", {D}, false);
  add("v.pos", {1, v.num_positions(), D}, false);
  for (int64_t i = 0; i < v.num_layers; ++i) {
    const std::string p = "v." + std::to_string(i);
    layer_norm(p + ".ln1", D);
    add(p + ".qkv.w", {3 * D, D}, true);
    if (v.qkv_bias) add(p + ".qkv.b", {3 * D}, false);
    linear(p + ".proj", D, D, true);
    layer_norm(p + ".ln2", D);
    linear(p + ".fc1", v.intermediate_size, D, true);
    linear(p + ".fc2", D, v.intermediate_size, true);
  }
  layer_norm("v.post_ln", D);

  const QFormerConfig& q = cfg.qformer;
  const int64_t Dq = q.hidden_size;
  add("q.query", {1, cfg.num_query_tokens, Dq}, false);
  layer_norm("q.ln", Dq);
  for (int64_t i = 0; i < q.num_layers; ++i) {
    const std::string p = "q." + std::to_string(i);
    linear(p + ".sa.q", Dq, Dq, true);
    linear(p + ".sa.k", Dq, Dq, true);
    linear(p + ".sa.v", Dq, Dq, true);
    linear(p + ".sa.o", Dq, Dq, true);
    layer_norm(p + ".sa.ln", Dq);
    if (q.cross_attention_frequency > 0 && i % q.cross_attention_frequency == 0) {
      linear(p + ".ca.q", Dq, Dq, true);
      linear(p + ".ca.k", Dq, q.encoder_hidden_size, true);
      linear(p + ".ca.v", Dq, q.encoder_hidden_size, true);
      linear(p + ".ca.o", Dq, Dq, true);
      layer_norm(p + ".ca.ln", Dq);
    }
    linear(p + ".ffn.up", q.intermediate_size, Dq, true);
    linear(p + ".ffn.down", Dq, q.intermediate_size, true);
    layer_norm(p + ".ffn.ln", Dq);
  }

  const TextConfig& t = cfg.text;
  linear("proj", t.d_model, Dq, true);

  const int64_t d = t.d_model, inner = t.num_heads * t.d_kv, f = t.d_ff;
  add("t.emb", {t.vocab_size, d}, true);
  auto stack = [&](const std::string& s, int64_t layers, bool decoder) {
    add("t." + s + ".rel_bias", {t.relative_attention_num_buckets, t.num_heads}, false);
    for (int64_t i = 0; i < layers; ++i) {
      const std::string p = "t." + s + "." + std::to_string(i);
      for (const char* a : decoder ? std::vector<const char*>{"sa", "ca"} : std::vector<const char*>{"sa"}) {
        const std::string pa = p + "." + a;
        linear(pa + ".q", inner, d, false);
        linear(pa + ".k", inner, d, false);
        linear(pa + ".v", inner, d, false);
        linear(pa + ".o", d, inner, false);
        add(pa + ".ln", {d}, false);
      }
      if (t.gated) {
        linear(p + ".ffn.wi0", f, d, false);
        linear(p + ".ffn.wi1", f, d, false);
      } else {
        linear(p + ".ffn.wi", f, d, false);
      }
      linear(p + ".ffn.wo", d, f, false);
      add(p + ".ffn.ln", {d}, false);
    }
    add("t." + s + ".final_ln", {d}, false);
  };
  stack("enc", t.num_layers, false);
  stack("dec", t.num_decoder_layers, true);
  if (!t.tie_word_embeddings) add("t.head", {t.vocab_size, d}, true);
  return out;
}

}  // namespace mblip
