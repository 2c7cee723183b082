// T5 encoder (transformers T5Stack / T5Block / T5LayerSelfAttention / T5LayerFF, encoder side).
#include "model/t5_encoder.h"

#include <string>

namespace mblip {

Result<T5Encoder> T5Encoder::load(WeightLoader& w, const TextConfig& cfg) {
  T5Encoder e;
  e.cfg_ = cfg;
  const int64_t d = cfg.d_model, inner = cfg.num_heads * cfg.d_kv;
  e.bias_.heads = cfg.num_heads;
  e.bias_.num_buckets = cfg.relative_attention_num_buckets;
  e.bias_.max_distance = cfg.relative_attention_max_distance;
  e.bias_.bidirectional = true;
  MBLIP_ASSIGN_OR_RETURN(e.bias_.table, w.floats("t.enc.rel_bias", {cfg.relative_attention_num_buckets, cfg.num_heads}));
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string pre = "t.enc." + std::to_string(i) + ".";
    Layer l;
    MBLIP_ASSIGN_OR_RETURN(l.sa_ln, w.floats(pre + "sa.ln", {d}));
    MBLIP_RETURN_IF_ERROR(l.sa.load(w, pre + "sa", d, inner));
    MBLIP_ASSIGN_OR_RETURN(l.ffn_ln, w.floats(pre + "ffn.ln", {d}));
    MBLIP_RETURN_IF_ERROR(l.ffn.load(w, pre + "ffn", cfg));
    e.layers_.push_back(std::move(l));
  }
  MBLIP_ASSIGN_OR_RETURN(e.final_ln_, w.floats("t.enc.final_ln", {d}));
  return Result<T5Encoder>(std::move(e));
}

Status T5Encoder::forward(const float* embeds, size_t len, const float* mask01, std::vector<float>& out,
                          ThreadPool& pool) const {
  if (len == 0) return invalid_argument("T5 encoder input is empty");
  const size_t d = static_cast<size_t>(cfg_.d_model), heads = static_cast<size_t>(cfg_.num_heads);
  const size_t dk = static_cast<size_t>(cfg_.d_kv), inner = heads * dk;
  const float eps = static_cast<float>(cfg_.layer_norm_epsilon);
  std::vector<float> h(embeds, embeds + len * d), x(len * d), q(len * inner), k(len * inner), v(len * inner),
      ctx(len * inner), tmp(len * d), ffn_scratch(2 * len * static_cast<size_t>(cfg_.d_ff));
  // Position bias (one table for the stack, computed once, added in every layer) and key mask.
  std::vector<float> bias(heads * len * len);
  bias_.compute(len, len, 0, bias.data());
  std::vector<float> mask;
  if (mask01) mask = additive_mask(std::vector<float>(mask01, mask01 + len));

  ops::AttentionArgs a;
  a.heads = heads;
  a.head_dim = dk;
  a.q_len = a.kv_len = len;
  a.q_stride = a.k_stride = a.v_stride = a.out_stride = inner;
  a.scale = 1.0f;  // T5: no 1/sqrt(d_kv)
  a.bias = bias.data();
  a.bias_head_stride = len * len;
  a.bias_row_stride = len;
  a.key_mask = mask01 ? mask.data() : nullptr;
  std::vector<float> scratch(ops::attention_scratch_floats(a, pool));
  a.scratch = scratch.data();
  a.scratch_floats = scratch.size();
  for (const Layer& l : layers_) {
    ops::rms_norm(h.data(), len, d, l.sa_ln.data(), eps, x.data(), pool);
    MBLIP_RETURN_IF_ERROR(l.sa.q.forward(x.data(), len, q.data(), pool));
    MBLIP_RETURN_IF_ERROR(l.sa.k.forward(x.data(), len, k.data(), pool));
    MBLIP_RETURN_IF_ERROR(l.sa.v.forward(x.data(), len, v.data(), pool));
    ops::attention(q.data(), k.data(), v.data(), ctx.data(), a, pool);
    MBLIP_RETURN_IF_ERROR(l.sa.o.forward(ctx.data(), len, tmp.data(), pool));
    ops::add_inplace(h.data(), tmp.data(), len * d, pool);
    ops::rms_norm(h.data(), len, d, l.ffn_ln.data(), eps, x.data(), pool);
    MBLIP_RETURN_IF_ERROR(l.ffn.forward(x.data(), len, tmp.data(), ffn_scratch.data(), pool));
    ops::add_inplace(h.data(), tmp.data(), len * d, pool);
  }
  out.resize(len * d);
  ops::rms_norm(h.data(), len, d, final_ln_.data(), eps, out.data(), pool);
  return Status::Ok();
}

}  // namespace mblip
