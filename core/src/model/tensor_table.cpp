// The tensor declarations, one function per tower, mirroring the state dict of transformers'
// Blip2ForConditionalGeneration with a T5/MT5 language model (modeling_blip_2.py / modeling_t5.py,
// transformers 4.36.2). Everything else about tensor names and shapes derives from here.
#include <cstring>
#include <utility>

#include "model/tensor_names.h"

namespace mblip {
namespace {

// The declarations being made. In rules mode a stack has one layer, "{N}", and every optional
// tensor is declared (see tensor_name_rules).
class Table {
 public:
  struct Layer {
    std::string id;     // "0", "1", ... or "{N}"
    int64_t index = -1;  // -1 in rules mode
  };
  explicit Table(bool rules) : rules_(rules) {}
  std::vector<Layer> layers(int64_t n) const {
    if (rules_) return {Layer{"{N}", -1}};
    std::vector<Layer> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(Layer{std::to_string(i), i});
    return out;
  }
  // An optional tensor (or group) is declared when `present`, and always for the naming rules.
  bool has(bool present) const { return rules_ || present; }
  std::vector<ExpectedTensor> out;

 private:
  bool rules_;
};

// A pair of name prefixes (GGUF, HF) in one tower, like candle's VarBuilder::pp.
struct Scope {
  Table* t;
  Component component;
  std::string g, h;      // prefixes, each empty or ending in '.'
  const char* w_suffix;  // GGUF suffix of a ".weight": ".w" (ViT, Q-Former, projection) or "" (T5)

  Scope pp(const std::string& gn, const std::string& hn) const {
    return Scope{t, component, gn.empty() ? g : g + gn + ".", hn.empty() ? h : h + hn + ".", w_suffix};
  }
  ExpectedTensor& add(const std::string& gn, const std::string& hn, std::vector<int64_t> shape, TensorRole role) const {
    ExpectedTensor e;
    e.name = g + gn;
    e.hf_name = h + hn;
    e.shape = std::move(shape);
    e.component = component;
    e.role = role;
    e.is_matrix_weight = role == TensorRole::kLinear || role == TensorRole::kEmbedding;
    t->out.push_back(std::move(e));
    return t->out.back();
  }
  // A "<hn>.weight" parameter.
  ExpectedTensor& weight(const std::string& gn, const std::string& hn, std::vector<int64_t> shape,
                         TensorRole role) const {
    return add(gn + w_suffix, hn + ".weight", std::move(shape), role);
  }
  // nn.Linear (or the patch conv): weight of `shape` (out first), then an f32 bias (out).
  // Returns the weight's declaration (rows per call: kSome unless the caller says otherwise).
  ExpectedTensor& linear(const std::string& gn, const std::string& hn, std::vector<int64_t> shape, bool bias,
                         TensorRole role = TensorRole::kLinear) const {
    const int64_t out = shape[0];
    const std::string bias_name = g + gn + ".b";
    weight(gn, hn, std::move(shape), role).bias = bias ? bias_name : "";
    const size_t at = t->out.size() - 1;  // the bias below may reallocate the table
    if (bias) add(gn + ".b", hn + ".bias", {out}, TensorRole::kBias);
    return t->out[at];
  }
  // nn.LayerNorm: weight and bias (d).
  void layer_norm(const std::string& gn, const std::string& hn, int64_t d) const {
    weight(gn, hn, {d}, TensorRole::kNorm);
    add(gn + ".b", hn + ".bias", {d}, TensorRole::kNorm);
  }
};

// Blip2VisionModel: Blip2VisionEmbeddings, Blip2EncoderLayer x N, post_layernorm.
void declare_vision(Table& t, const VisionConfig& v) {
  Scope s{&t, Component::kVision, "v.", "vision_model.", ".w"};
  const int64_t d = v.hidden_size, p = v.patch_size, ff = v.intermediate_size;
  s.add("cls", "embeddings.class_embedding", {1, 1, d}, TensorRole::kFloats);
  s.linear("patch", "embeddings.patch_embedding", {d, 3, p, p}, true, TensorRole::kConv);
  s.add("pos", "embeddings.position_embedding", {1, v.num_positions(), d}, TensorRole::kFloats);
  for (const Table::Layer& i : t.layers(v.num_layers)) {
    const Scope l = s.pp(i.id, "encoder.layers." + i.id);
    l.layer_norm("ln1", "layer_norm1", d);
    l.linear("qkv", "self_attn.qkv", {3 * d, d}, t.has(v.qkv_bias));
    l.linear("proj", "self_attn.projection", {d, d}, true);
    l.layer_norm("ln2", "layer_norm2", d);
    l.linear("fc1", "mlp.fc1", {ff, d}, true);
    l.linear("fc2", "mlp.fc2", {d, ff}, true);
  }
  s.layer_norm("post_ln", "post_layernorm", d);
  for (ExpectedTensor& e : t.out)  // every linear of the tower runs on all patches (+ class token)
    if (e.component == Component::kVision && (e.role == TensorRole::kLinear || e.role == TensorRole::kConv))
      e.rows = LinearRows::kMany;
}

// Blip2QFormerAttention: {query, key, value} + output.dense + output.LayerNorm. `kv_rows`: the
// key / value inputs' rows (the query tokens, or the image tokens for cross-attention).
void declare_qformer_attention(const Scope& a, int64_t d, int64_t kv_in, LinearRows kv_rows) {
  a.linear("q", "attention.query", {d, d}, true);
  a.linear("k", "attention.key", {d, kv_in}, true).rows = kv_rows;
  a.linear("v", "attention.value", {d, kv_in}, true).rows = kv_rows;
  a.linear("o", "output.dense", {d, d}, true);
  a.layer_norm("ln", "output.LayerNorm", d);
}

// query_tokens and Blip2QFormerModel (layernorm, Blip2QFormerLayer x N with the query branch).
void declare_qformer(Table& t, const QFormerConfig& q, int64_t num_query_tokens) {
  const int64_t d = q.hidden_size, ff = q.intermediate_size, freq = q.cross_attention_frequency;
  Scope{&t, Component::kQFormer, "q.", "", ".w"}.add("query", "query_tokens", {1, num_query_tokens, d},
                                                     TensorRole::kFloats);
  Scope s{&t, Component::kQFormer, "q.", "qformer.", ".w"};
  s.layer_norm("ln", "layernorm", d);
  for (const Table::Layer& i : t.layers(q.num_layers)) {
    const Scope l = s.pp(i.id, "encoder.layer." + i.id);
    declare_qformer_attention(l.pp("sa", "attention"), d, d, LinearRows::kSome);
    if (t.has(freq > 0 && i.index % freq == 0))  // K/V of the vision tower's tokens (257 at full size)
      declare_qformer_attention(l.pp("ca", "crossattention"), d, q.encoder_hidden_size, LinearRows::kMany);
    l.linear("ffn.up", "intermediate_query.dense", {ff, d}, true);
    l.linear("ffn.down", "output_query.dense", {d, ff}, true);
    l.layer_norm("ffn.ln", "output_query.LayerNorm", d);
  }
}

// T5Attention (q, k, v, o without bias) and the T5LayerNorm of its layer.
void declare_t5_attention(const Scope& layer, const std::string& module, const TextConfig& x) {
  const int64_t d = x.d_model, inner = x.num_heads * x.d_kv;
  layer.linear("q", module + ".q", {inner, d}, false);
  layer.linear("k", module + ".k", {inner, d}, false);
  layer.linear("v", module + ".v", {inner, d}, false);
  layer.linear("o", module + ".o", {d, inner}, false);
  layer.weight("ln", "layer_norm", {d}, TensorRole::kNorm);
}

// T5Stack: relative_attention_bias (block 0), T5Block x N, final_layer_norm.
void declare_t5_stack(Table& t, const TextConfig& x, bool decoder) {
  const int64_t d = x.d_model, ff = x.d_ff;
  const Scope s{&t, decoder ? Component::kTextDecoder : Component::kTextEncoder, decoder ? "t.dec." : "t.enc.",
                decoder ? "language_model.decoder." : "language_model.encoder.", ""};
  s.weight("rel_bias", "block.0.layer.0.SelfAttention.relative_attention_bias",
           {x.relative_attention_num_buckets, x.num_heads}, TensorRole::kFloats);
  for (const Table::Layer& i : t.layers(decoder ? x.num_decoder_layers : x.num_layers)) {
    const Scope b = s.pp(i.id, "block." + i.id);
    declare_t5_attention(b.pp("sa", "layer.0"), "SelfAttention", x);
    if (decoder) declare_t5_attention(b.pp("ca", "layer.1"), "EncDecAttention", x);
    const Scope f = b.pp("ffn", decoder ? "layer.2" : "layer.1");  // T5LayerFF
    if (t.has(x.gated)) {  // T5DenseGatedActDense
      f.linear("wi0", "DenseReluDense.wi_0", {ff, d}, false);
      f.linear("wi1", "DenseReluDense.wi_1", {ff, d}, false);
    }
    if (t.has(!x.gated)) f.linear("wi", "DenseReluDense.wi", {ff, d}, false);  // T5DenseActDense
    f.linear("wo", "DenseReluDense.wo", {d, ff}, false);
    f.weight("ln", "layer_norm", {d}, TensorRole::kNorm);
  }
  s.weight("final_ln", "final_layer_norm", {d}, TensorRole::kNorm);
  if (!decoder) return;
  // The decoder's linears run once per generated token on 1 row (greedy) or num_beams rows, except
  // the cross-attention K/V (once per caption, on the encoder's rows).
  auto ends_with = [](const std::string& n, const char* tail) {
    const size_t k = std::strlen(tail);
    return n.size() >= k && n.compare(n.size() - k, k, tail) == 0;
  };
  for (ExpectedTensor& e : t.out)
    if (e.component == Component::kTextDecoder && e.role == TensorRole::kLinear)
      if (!ends_with(e.name, ".ca.k") && !ends_with(e.name, ".ca.v")) e.rows = LinearRows::kFew;
}

// T5ForConditionalGeneration: shared embedding, encoder, decoder, lm_head (or the tied shared).
void declare_t5(Table& t, const TextConfig& x) {
  ExpectedTensor& emb = Scope{&t, Component::kEmbeddings, "t.", "language_model.", ""}.weight(
      "emb", "shared", {x.vocab_size, x.d_model}, TensorRole::kEmbedding);
  emb.also_linear = x.tie_word_embeddings;
  if (x.tie_word_embeddings) emb.rows = LinearRows::kFew;  // as the lm_head
  emb.hf_aliases = {"language_model.encoder.embed_tokens.weight", "language_model.decoder.embed_tokens.weight"};
  if (x.tie_word_embeddings) emb.hf_aliases.push_back("language_model.lm_head.weight");
  declare_t5_stack(t, x, false);
  declare_t5_stack(t, x, true);
  if (t.has(!x.tie_word_embeddings))
  {
    Scope{&t, Component::kLmHead, "t.", "language_model.", ""}.linear("head", "lm_head", {x.vocab_size, x.d_model},
                                                                       false);
    t.out.back().rows = LinearRows::kFew;
  }
}

std::vector<ExpectedTensor> declare_all(const ModelConfig& c, bool rules) {
  Table t(rules);
  declare_vision(t, c.vision);
  declare_qformer(t, c.qformer, c.num_query_tokens);
  // Blip2ForConditionalGeneration.language_projection
  Scope{&t, Component::kProjection, "", "", ".w"}.linear("proj", "language_projection",
                                                         {c.text.d_model, c.qformer.hidden_size}, true);
  declare_t5(t, c.text);
  return std::move(t.out);
}

}  // namespace

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& cfg) { return declare_all(cfg, false); }

std::vector<ExpectedTensor> tensor_name_rules() {
  std::vector<ExpectedTensor> r = declare_all(ModelConfig(), true);
  for (ExpectedTensor& e : r) e.shape.clear();
  return r;
}

}  // namespace mblip
