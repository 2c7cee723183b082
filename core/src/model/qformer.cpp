// Q-Former (transformers Blip2QFormerModel / Blip2QFormerLayer / Blip2QFormerAttention with
// query_embeds only: no text tokens, no position embeddings, image attention mask all ones).
#include "model/qformer.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace mblip {

Status QFormer::Attention::load(WeightLoader& w, const std::string& p) {
  MBLIP_ASSIGN_OR_RETURN(q, w.linear(p + ".q.w"));
  MBLIP_ASSIGN_OR_RETURN(k, w.linear(p + ".k.w"));
  MBLIP_ASSIGN_OR_RETURN(v, w.linear(p + ".v.w"));
  MBLIP_ASSIGN_OR_RETURN(o, w.linear(p + ".o.w"));
  MBLIP_ASSIGN_OR_RETURN(ln_w, w.floats(p + ".ln.w"));
  MBLIP_ASSIGN_OR_RETURN(ln_b, w.floats(p + ".ln.b"));
  return Status::Ok();
}

Result<QFormer> QFormer::load(WeightLoader& w, const QFormerConfig& cfg, int64_t num_query_tokens) {
  QFormer t;
  t.cfg_ = cfg;
  t.num_queries_ = num_query_tokens;
  if (cfg.cross_attention_frequency <= 0) return model_load_error("qformer cross_attention_frequency must be > 0");
  // Names and shapes are declared in tensor_table.cpp (declare_qformer).
  MBLIP_ASSIGN_OR_RETURN(t.query_, w.floats("q.query"));
  MBLIP_ASSIGN_OR_RETURN(t.ln_w_, w.floats("q.ln.w"));
  MBLIP_ASSIGN_OR_RETURN(t.ln_b_, w.floats("q.ln.b"));
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string pre = "q." + std::to_string(i) + ".";
    Layer l;
    MBLIP_RETURN_IF_ERROR(l.self_attn.load(w, pre + "sa"));
    l.has_cross = i % cfg.cross_attention_frequency == 0;
    if (l.has_cross) MBLIP_RETURN_IF_ERROR(l.cross_attn.load(w, pre + "ca"));
    MBLIP_ASSIGN_OR_RETURN(l.ffn.fc1, w.linear(pre + "ffn.up.w"));
    MBLIP_ASSIGN_OR_RETURN(l.ffn.fc2, w.linear(pre + "ffn.down.w"));
    MBLIP_ASSIGN_OR_RETURN(l.ffn_ln_w, w.floats(pre + "ffn.ln.w"));
    MBLIP_ASSIGN_OR_RETURN(l.ffn_ln_b, w.floats(pre + "ffn.ln.b"));
    t.layers_.push_back(std::move(l));
  }
  return Result<QFormer>(std::move(t));
}

Status QFormer::forward(const float* image, size_t image_len, std::vector<float>& out, ThreadPool& pool) const {
  Activations act;  // a call without a Session: buffers for this call only
  const float* h = nullptr;
  MBLIP_RETURN_IF_ERROR(forward(image, image_len, act, &h, pool));
  out.assign(h, h + static_cast<size_t>(num_queries_ * cfg_.hidden_size));
  return Status::Ok();
}

Status QFormer::forward(const float* image, size_t image_len, Activations& act, const float** out,
                        ThreadPool& pool) const {
  const size_t d = static_cast<size_t>(cfg_.hidden_size), nq = static_cast<size_t>(num_queries_);
  const size_t heads = static_cast<size_t>(cfg_.num_heads), dh = d / heads;
  const float eps = static_cast<float>(cfg_.layer_norm_eps);
  using A = Activations;
  const size_t kv_max = std::max(nq, image_len);
  float* h = A::at_least(act.q_h, nq * d);
  float* q = A::at_least(act.q_q, nq * d);
  float* k = A::at_least(act.q_k, kv_max * d);
  float* v = A::at_least(act.q_v, kv_max * d);
  float* ctx = A::at_least(act.q_ctx, nq * d);
  float* tmp = A::at_least(act.q_tmp, nq * d);
  float* ffn_scratch = A::at_least(act.q_ffn, nq * static_cast<size_t>(cfg_.intermediate_size));
  // Blip2QFormerModel: embedding_output = layernorm(query_embeds)
  ops::layer_norm(query_.data(), nq, d, ln_w_.data(), ln_b_.data(), eps, h, pool);

  ops::AttentionArgs a;
  a.heads = heads;
  a.head_dim = dh;
  a.q_len = nq;
  a.q_stride = a.k_stride = a.v_stride = a.out_stride = d;
  a.scale = 1.0f / std::sqrt(static_cast<float>(dh));
  a.kv_len = kv_max;  // scratch for the larger of the two
  a.scratch_floats = ops::attention_scratch_floats(a, pool);
  a.scratch = A::at_least(act.q_attn, a.scratch_floats);
  // Blip2QFormerAttention: LayerNorm(dense(attention(x, kv)) + x), in place on h.
  auto attend = [&](const Attention& at, const float* kv_src, size_t kv_len) -> Status {
    MBLIP_RETURN_IF_ERROR(at.q.forward(h, nq, q, pool));
    MBLIP_RETURN_IF_ERROR(at.k.forward(kv_src, kv_len, k, pool));
    MBLIP_RETURN_IF_ERROR(at.v.forward(kv_src, kv_len, v, pool));
    a.kv_len = kv_len;
    ops::attention(q, k, v, ctx, a, pool);
    MBLIP_RETURN_IF_ERROR(at.o.forward(ctx, nq, tmp, pool));
    ops::add_inplace(tmp, h, nq * d);
    ops::layer_norm(tmp, nq, d, at.ln_w.data(), at.ln_b.data(), eps, h, pool);
    return Status::Ok();
  };
  for (const Layer& l : layers_) {
    MBLIP_RETURN_IF_ERROR(attend(l.self_attn, h, nq));
    if (l.has_cross) MBLIP_RETURN_IF_ERROR(attend(l.cross_attn, image, image_len));
    // feed_forward_chunk_query: output_query.LayerNorm(dense(gelu(intermediate(x))) + x)
    MBLIP_RETURN_IF_ERROR(l.ffn.forward(h, nq, tmp, ffn_scratch, pool));
    ops::add_inplace(tmp, h, nq * d);
    ops::layer_norm(tmp, nq, d, l.ffn_ln_w.data(), l.ffn_ln_b.data(), eps, h, pool);
  }
  *out = h;
  return Status::Ok();
}

}  // namespace mblip
