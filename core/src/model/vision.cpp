// EVA ViT (transformers Blip2VisionEmbeddings, Blip2EncoderLayer, Blip2Attention, Blip2MLP).
#include "model/vision.h"

#include "model/op_profile.h"

#include <cmath>
#include <string>

namespace mblip {

Result<VisionTower> VisionTower::load(WeightLoader& w, const VisionConfig& cfg) {
  VisionTower t;
  t.cfg_ = cfg;
  // Names, shapes and biases are declared in tensor_table.cpp (declare_vision).
  MBLIP_ASSIGN_OR_RETURN(t.patch_, w.linear("v.patch.w"));
  MBLIP_ASSIGN_OR_RETURN(t.cls_, w.floats("v.cls"));
  MBLIP_ASSIGN_OR_RETURN(t.pos_, w.floats("v.pos"));
  MBLIP_ASSIGN_OR_RETURN(t.post_w_, w.floats("v.post_ln.w"));
  MBLIP_ASSIGN_OR_RETURN(t.post_b_, w.floats("v.post_ln.b"));
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string pre = "v." + std::to_string(i) + ".";
    Layer l;
    MBLIP_ASSIGN_OR_RETURN(l.ln1_w, w.floats(pre + "ln1.w"));
    MBLIP_ASSIGN_OR_RETURN(l.ln1_b, w.floats(pre + "ln1.b"));
    MBLIP_ASSIGN_OR_RETURN(l.ln2_w, w.floats(pre + "ln2.w"));
    MBLIP_ASSIGN_OR_RETURN(l.ln2_b, w.floats(pre + "ln2.b"));
    MBLIP_ASSIGN_OR_RETURN(l.qkv, w.linear(pre + "qkv.w"));
    MBLIP_ASSIGN_OR_RETURN(l.proj, w.linear(pre + "proj.w"));
    MBLIP_ASSIGN_OR_RETURN(l.mlp.fc1, w.linear(pre + "fc1.w"));
    MBLIP_ASSIGN_OR_RETURN(l.mlp.fc2, w.linear(pre + "fc2.w"));
    t.layers_.push_back(std::move(l));
  }
  return Result<VisionTower>(std::move(t));
}

Status VisionTower::forward(const float* pixels, std::vector<float>& out, ThreadPool& pool) const {
  Activations act;  // a call without a Session: buffers for this call only
  const float* h = nullptr;
  MBLIP_RETURN_IF_ERROR(forward(pixels, act, &h, pool));
  out.assign(h, h + static_cast<size_t>(cfg_.num_positions() * cfg_.hidden_size));
  return Status::Ok();
}

Status VisionTower::forward(const float* pixels, Activations& act, const float** out, ThreadPool& pool) const {
  const size_t d = static_cast<size_t>(cfg_.hidden_size), p = static_cast<size_t>(cfg_.patch_size);
  const size_t img = static_cast<size_t>(cfg_.image_size), grid = img / p, n = grid * grid + 1;
  const size_t heads = static_cast<size_t>(cfg_.num_heads), dh = d / heads;
  const float eps = static_cast<float>(cfg_.layer_norm_eps);
  using A = Activations;

  OpProfile* prof = act.profile;  // per-op times for `mblip bench` (model/op_profile.h); usually null
  // Blip2VisionEmbeddings: stride-p conv == linear over (C, ky, kx)-ordered patch vectors.
  const size_t pin = 3 * p * p;
  float* h = A::at_least(act.v_h, n * d);
  {
    OpTimer t(prof, "vit patch embedding");
    float* patches = A::at_least(act.v_patches, (n - 1) * pin);
    for (size_t py = 0; py < grid; ++py)
      for (size_t px = 0; px < grid; ++px) {
        float* dst = patches + (py * grid + px) * pin;
        for (size_t c = 0; c < 3; ++c)
          for (size_t ky = 0; ky < p; ++ky) {
            const float* src = pixels + c * img * img + (py * p + ky) * img + px * p;
            for (size_t kx = 0; kx < p; ++kx) *dst++ = src[kx];
          }
      }
    for (size_t i = 0; i < d; ++i) h[i] = cls_[i];  // class token first
    MBLIP_RETURN_IF_ERROR(patch_.forward(patches, n - 1, h + d, pool));
    ops::add_inplace(h, pos_.data(), n * d, pool);
  }

  float* x = A::at_least(act.v_x, n * d);
  float* qkv = A::at_least(act.v_qkv, n * 3 * d);
  float* ctx = A::at_least(act.v_ctx, n * d);
  float* tmp = A::at_least(act.v_tmp, n * d);
  float* mlp_scratch = A::at_least(act.v_mlp, n * static_cast<size_t>(cfg_.intermediate_size));
  ops::AttentionArgs a;
  a.heads = heads;
  a.head_dim = dh;
  a.q_len = a.kv_len = n;
  a.q_stride = a.k_stride = a.v_stride = 3 * d;
  a.out_stride = d;
  a.scale = 1.0f / std::sqrt(static_cast<float>(dh));  // head_dim ** -0.5
  a.scratch_floats = ops::attention_scratch_floats(a, pool);
  a.scratch = A::at_least(act.v_attn, a.scratch_floats);
  static const char* const kMlp[3] = {"vit fc1 linear", "vit gelu_erf", "vit fc2 linear"};
  for (const Layer& l : layers_) {
    // Blip2EncoderLayer: pre-LN self-attention and MLP, each with a residual.
    {
      OpTimer t(prof, "vit layer_norm");
      ops::layer_norm(h, n, d, l.ln1_w.data(), l.ln1_b.data(), eps, x, pool);
    }
    {
      OpTimer t(prof, "vit qkv linear");
      MBLIP_RETURN_IF_ERROR(l.qkv.forward(x, n, qkv, pool));  // per token: [q (H x dh) | k | v]
    }
    {
      OpTimer t(prof, "vit attention");
      ops::attention(qkv, qkv + d, qkv + 2 * d, ctx, a, pool);
    }
    {
      OpTimer t(prof, "vit proj linear");
      MBLIP_RETURN_IF_ERROR(l.proj.forward(ctx, n, tmp, pool));
    }
    {
      OpTimer t(prof, "vit residual add");
      ops::add_inplace(h, tmp, n * d, pool);
    }
    {
      OpTimer t(prof, "vit layer_norm");
      ops::layer_norm(h, n, d, l.ln2_w.data(), l.ln2_b.data(), eps, x, pool);
    }
    MBLIP_RETURN_IF_ERROR(l.mlp.forward(x, n, tmp, mlp_scratch, pool, prof, kMlp));
    OpTimer t(prof, "vit residual add");
    ops::add_inplace(h, tmp, n * d, pool);
  }
  float* o = A::at_least(act.v_out, n * d);
  {
    OpTimer t(prof, "vit layer_norm");
    ops::layer_norm(h, n, d, post_w_.data(), post_b_.data(), eps, o, pool);
  }
  *out = o;
  return Status::Ok();
}

}  // namespace mblip
