// Q-Former (transformers Blip2QFormerModel / Blip2QFormerLayer / Blip2QFormerAttention with
// query_embeds only: no text tokens, no position embeddings, image attention mask all ones).
#include "model/qformer.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace mblip {

Status QFormer::Attention::load(WeightLoader& w, const std::string& p, int64_t d, int64_t kv_in) {
  MBLIP_ASSIGN_OR_RETURN(q, w.linear(p + ".q.w", p + ".q.b", d, d));
  MBLIP_ASSIGN_OR_RETURN(k, w.linear(p + ".k.w", p + ".k.b", d, kv_in));
  MBLIP_ASSIGN_OR_RETURN(v, w.linear(p + ".v.w", p + ".v.b", d, kv_in));
  MBLIP_ASSIGN_OR_RETURN(o, w.linear(p + ".o.w", p + ".o.b", d, d));
  MBLIP_ASSIGN_OR_RETURN(ln_w, w.floats(p + ".ln.w", {d}));
  MBLIP_ASSIGN_OR_RETURN(ln_b, w.floats(p + ".ln.b", {d}));
  return Status::Ok();
}

Result<QFormer> QFormer::load(WeightLoader& w, const QFormerConfig& cfg, int64_t num_query_tokens) {
  QFormer t;
  t.cfg_ = cfg;
  t.num_queries_ = num_query_tokens;
  const int64_t d = cfg.hidden_size;
  if (cfg.cross_attention_frequency <= 0) return model_load_error("qformer cross_attention_frequency must be > 0");
  MBLIP_ASSIGN_OR_RETURN(t.query_, w.floats("q.query", {1, num_query_tokens, d}));
  MBLIP_ASSIGN_OR_RETURN(t.ln_w_, w.floats("q.ln.w", {d}));
  MBLIP_ASSIGN_OR_RETURN(t.ln_b_, w.floats("q.ln.b", {d}));
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string pre = "q." + std::to_string(i) + ".";
    Layer l;
    MBLIP_RETURN_IF_ERROR(l.self_attn.load(w, pre + "sa", d, d));
    l.has_cross = i % cfg.cross_attention_frequency == 0;
    if (l.has_cross) MBLIP_RETURN_IF_ERROR(l.cross_attn.load(w, pre + "ca", d, cfg.encoder_hidden_size));
    MBLIP_ASSIGN_OR_RETURN(l.ffn.fc1, w.linear(pre + "ffn.up.w", pre + "ffn.up.b", cfg.intermediate_size, d));
    MBLIP_ASSIGN_OR_RETURN(l.ffn.fc2, w.linear(pre + "ffn.down.w", pre + "ffn.down.b", d, cfg.intermediate_size));
    MBLIP_ASSIGN_OR_RETURN(l.ffn_ln_w, w.floats(pre + "ffn.ln.w", {d}));
    MBLIP_ASSIGN_OR_RETURN(l.ffn_ln_b, w.floats(pre + "ffn.ln.b", {d}));
    t.layers_.push_back(std::move(l));
  }
  return Result<QFormer>(std::move(t));
}

Status QFormer::forward(const float* image, size_t image_len, std::vector<float>& out, ThreadPool& pool) const {
  const size_t d = static_cast<size_t>(cfg_.hidden_size), nq = static_cast<size_t>(num_queries_);
  const size_t heads = static_cast<size_t>(cfg_.num_heads), dh = d / heads;
  const float eps = static_cast<float>(cfg_.layer_norm_eps);
  std::vector<float> h(nq * d), q(nq * d), k(std::max(nq, image_len) * d), v(std::max(nq, image_len) * d), ctx(nq * d), tmp(nq * d);
  std::vector<float> ffn_scratch(nq * static_cast<size_t>(cfg_.intermediate_size));
  // Blip2QFormerModel: embedding_output = layernorm(query_embeds)
  ops::layer_norm(query_.data(), nq, d, ln_w_.data(), ln_b_.data(), eps, h.data(), pool);

  ops::AttentionArgs a;
  a.heads = heads;
  a.head_dim = dh;
  a.q_len = nq;
  a.q_stride = a.k_stride = a.v_stride = a.out_stride = d;
  a.scale = 1.0f / std::sqrt(static_cast<float>(dh));
  a.kv_len = std::max(nq, image_len);  // scratch for the larger of the two
  std::vector<float> attn_scratch(ops::attention_scratch_floats(a, pool));
  a.scratch = attn_scratch.data();
  a.scratch_floats = attn_scratch.size();
  // Blip2QFormerAttention: LayerNorm(dense(attention(x, kv)) + x), in place on h.
  auto attend = [&](const Attention& at, const float* kv_src, size_t kv_len) -> Status {
    MBLIP_RETURN_IF_ERROR(at.q.forward(h.data(), nq, q.data(), pool));
    MBLIP_RETURN_IF_ERROR(at.k.forward(kv_src, kv_len, k.data(), pool));
    MBLIP_RETURN_IF_ERROR(at.v.forward(kv_src, kv_len, v.data(), pool));
    a.kv_len = kv_len;
    ops::attention(q.data(), k.data(), v.data(), ctx.data(), a, pool);
    MBLIP_RETURN_IF_ERROR(at.o.forward(ctx.data(), nq, tmp.data(), pool));
    ops::add_inplace(tmp.data(), h.data(), nq * d);
    ops::layer_norm(tmp.data(), nq, d, at.ln_w.data(), at.ln_b.data(), eps, h.data(), pool);
    return Status::Ok();
  };
  for (const Layer& l : layers_) {
    MBLIP_RETURN_IF_ERROR(attend(l.self_attn, h.data(), nq));
    if (l.has_cross) MBLIP_RETURN_IF_ERROR(attend(l.cross_attn, image, image_len));
    // feed_forward_chunk_query: output_query.LayerNorm(dense(gelu(intermediate(x))) + x)
    MBLIP_RETURN_IF_ERROR(l.ffn.forward(h.data(), nq, tmp.data(), ffn_scratch.data(), pool));
    ops::add_inplace(tmp.data(), h.data(), nq * d);
    ops::layer_norm(tmp.data(), nq, d, l.ffn_ln_w.data(), l.ffn_ln_b.data(), eps, h.data(), pool);
  }
  out = std::move(h);
  return Status::Ok();
}

}  // namespace mblip
