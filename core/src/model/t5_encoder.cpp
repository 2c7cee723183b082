// T5 encoder (transformers T5Stack / T5Block / T5LayerSelfAttention / T5LayerFF, encoder side).
#include "model/t5_encoder.h"

#include <algorithm>
#include <string>

#include "model/op_profile.h"

namespace mblip {

Result<T5Encoder> T5Encoder::load(WeightLoader& w, const TextConfig& cfg) {
  T5Encoder e;
  e.cfg_ = cfg;
  e.bias_.heads = cfg.num_heads;
  e.bias_.num_buckets = cfg.relative_attention_num_buckets;
  e.bias_.max_distance = cfg.relative_attention_max_distance;
  e.bias_.bidirectional = true;
  // Names and shapes are declared in tensor_table.cpp (declare_t5_stack).
  MBLIP_ASSIGN_OR_RETURN(e.bias_.table, w.floats("t.enc.rel_bias"));
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string pre = "t.enc." + std::to_string(i) + ".";
    Layer l;
    MBLIP_ASSIGN_OR_RETURN(l.sa_ln, w.floats(pre + "sa.ln"));
    MBLIP_RETURN_IF_ERROR(l.sa.load(w, pre + "sa"));
    MBLIP_ASSIGN_OR_RETURN(l.ffn_ln, w.floats(pre + "ffn.ln"));
    MBLIP_RETURN_IF_ERROR(l.ffn.load(w, pre + "ffn", cfg));
    e.layers_.push_back(std::move(l));
  }
  MBLIP_ASSIGN_OR_RETURN(e.final_ln_, w.floats("t.enc.final_ln"));
  return Result<T5Encoder>(std::move(e));
}

Status T5Encoder::forward(const float* embeds, size_t len, const float* mask01, std::vector<float>& out,
                          ThreadPool& pool) const {
  Activations act;  // a call without a Session: buffers for this call only
  const float* o = nullptr;
  MBLIP_RETURN_IF_ERROR(forward(embeds, len, mask01, act, &o, pool));
  out.assign(o, o + len * static_cast<size_t>(cfg_.d_model));
  return Status::Ok();
}

Status T5Encoder::forward(const float* embeds, size_t len, const float* mask01, Activations& act, const float** out,
                          ThreadPool& pool) const {
  if (len == 0) return invalid_argument("T5 encoder input is empty");
  const size_t d = static_cast<size_t>(cfg_.d_model), heads = static_cast<size_t>(cfg_.num_heads);
  const size_t dk = static_cast<size_t>(cfg_.d_kv), inner = heads * dk;
  const float eps = static_cast<float>(cfg_.layer_norm_epsilon);
  using A = Activations;
  OpProfile* prof = act.profile;  // per-op times for `mblip bench` (model/op_profile.h); usually null
  float* h = A::at_least(act.e_h, len * d);
  std::copy(embeds, embeds + len * d, h);
  float* x = A::at_least(act.e_x, len * d);
  float* q = A::at_least(act.e_q, len * inner);
  float* k = A::at_least(act.e_k, len * inner);
  float* v = A::at_least(act.e_v, len * inner);
  float* ctx = A::at_least(act.e_ctx, len * inner);
  float* tmp = A::at_least(act.e_tmp, len * d);
  float* ffn_scratch = A::at_least(act.e_ffn, 2 * len * static_cast<size_t>(cfg_.d_ff));
  // Position bias (one table for the stack, computed once, added in every layer) and key mask.
  float* bias = A::at_least(act.e_bias, heads * len * len);
  float* mask = A::at_least(act.e_mask, len);
  {
    OpTimer t(prof, "t5 position bias + mask");
    bias_.compute(len, len, 0, bias);
    if (mask01) additive_mask(mask01, len, mask);
  }

  ops::AttentionArgs a;
  a.heads = heads;
  a.head_dim = dk;
  a.q_len = a.kv_len = len;
  a.q_stride = a.k_stride = a.v_stride = a.out_stride = inner;
  a.scale = 1.0f;  // T5: no 1/sqrt(d_kv)
  a.bias = bias;
  a.bias_head_stride = len * len;
  a.bias_row_stride = len;
  a.key_mask = mask01 ? mask : nullptr;
  a.scratch_floats = ops::attention_scratch_floats(a, pool);
  a.scratch = A::at_least(act.e_attn, a.scratch_floats);
  for (const Layer& l : layers_) {
    {
      OpTimer t(prof, "t5 rms_norm");
      ops::rms_norm(h, len, d, l.sa_ln.data(), eps, x, pool);
    }
    {
      OpTimer t(prof, "t5 q/k/v/o linear");
      MBLIP_RETURN_IF_ERROR(l.sa.q.forward(x, len, q, pool));
      MBLIP_RETURN_IF_ERROR(l.sa.k.forward(x, len, k, pool));
      MBLIP_RETURN_IF_ERROR(l.sa.v.forward(x, len, v, pool));
    }
    {
      OpTimer t(prof, "t5 encoder attention");
      ops::attention(q, k, v, ctx, a, pool);
    }
    {
      OpTimer t(prof, "t5 q/k/v/o linear");
      MBLIP_RETURN_IF_ERROR(l.sa.o.forward(ctx, len, tmp, pool));
    }
    {
      OpTimer t(prof, "t5 residual add");
      ops::add_inplace(h, tmp, len * d, pool);
    }
    {
      OpTimer t(prof, "t5 rms_norm");
      ops::rms_norm(h, len, d, l.ffn_ln.data(), eps, x, pool);
    }
    MBLIP_RETURN_IF_ERROR(l.ffn.forward(x, len, tmp, ffn_scratch, pool, prof));
    OpTimer t(prof, "t5 residual add");
    ops::add_inplace(h, tmp, len * d, pool);
  }
  float* o = A::at_least(act.e_out, len * d);
  {
    OpTimer t(prof, "t5 rms_norm");
    ops::rms_norm(h, len, d, final_ln_.data(), eps, o, pool);
  }
  *out = o;
  return Status::Ok();
}

}  // namespace mblip
