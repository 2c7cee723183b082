// EVA ViT (transformers Blip2VisionEmbeddings, Blip2EncoderLayer, Blip2Attention, Blip2MLP).
#include "model/vision.h"

#include <cmath>
#include <string>

namespace mblip {

Result<VisionTower> VisionTower::load(WeightLoader& w, const VisionConfig& cfg) {
  VisionTower t;
  t.cfg_ = cfg;
  const int64_t d = cfg.hidden_size, p = cfg.patch_size, np = cfg.num_positions();
  MBLIP_ASSIGN_OR_RETURN(t.patch_, w.linear("v.patch.w", "v.patch.b", d, 3 * p * p));
  MBLIP_ASSIGN_OR_RETURN(t.cls_, w.floats("v.cls", {1, 1, d}));
  MBLIP_ASSIGN_OR_RETURN(t.pos_, w.floats("v.pos", {1, np, d}));
  MBLIP_ASSIGN_OR_RETURN(t.post_w_, w.floats("v.post_ln.w", {d}));
  MBLIP_ASSIGN_OR_RETURN(t.post_b_, w.floats("v.post_ln.b", {d}));
  for (int64_t i = 0; i < cfg.num_layers; ++i) {
    const std::string pre = "v." + std::to_string(i) + ".";
    Layer l;
    MBLIP_ASSIGN_OR_RETURN(l.ln1_w, w.floats(pre + "ln1.w", {d}));
    MBLIP_ASSIGN_OR_RETURN(l.ln1_b, w.floats(pre + "ln1.b", {d}));
    MBLIP_ASSIGN_OR_RETURN(l.ln2_w, w.floats(pre + "ln2.w", {d}));
    MBLIP_ASSIGN_OR_RETURN(l.ln2_b, w.floats(pre + "ln2.b", {d}));
    MBLIP_ASSIGN_OR_RETURN(l.qkv, w.linear(pre + "qkv.w", cfg.qkv_bias ? pre + "qkv.b" : "", 3 * d, d));
    MBLIP_ASSIGN_OR_RETURN(l.proj, w.linear(pre + "proj.w", pre + "proj.b", d, d));
    MBLIP_ASSIGN_OR_RETURN(l.mlp.fc1, w.linear(pre + "fc1.w", pre + "fc1.b", cfg.intermediate_size, d));
    MBLIP_ASSIGN_OR_RETURN(l.mlp.fc2, w.linear(pre + "fc2.w", pre + "fc2.b", d, cfg.intermediate_size));
    t.layers_.push_back(std::move(l));
  }
  return Result<VisionTower>(std::move(t));
}

Status VisionTower::forward(const float* pixels, std::vector<float>& out, ThreadPool& pool) const {
  const size_t d = static_cast<size_t>(cfg_.hidden_size), p = static_cast<size_t>(cfg_.patch_size);
  const size_t img = static_cast<size_t>(cfg_.image_size), grid = img / p, n = grid * grid + 1;
  const size_t heads = static_cast<size_t>(cfg_.num_heads), dh = d / heads;
  const float eps = static_cast<float>(cfg_.layer_norm_eps);

  // Blip2VisionEmbeddings: stride-p conv == linear over (C, ky, kx)-ordered patch vectors.
  const size_t pin = 3 * p * p;
  std::vector<float> patches((n - 1) * pin);
  for (size_t py = 0; py < grid; ++py)
    for (size_t px = 0; px < grid; ++px) {
      float* dst = patches.data() + (py * grid + px) * pin;
      for (size_t c = 0; c < 3; ++c)
        for (size_t ky = 0; ky < p; ++ky) {
          const float* src = pixels + c * img * img + (py * p + ky) * img + px * p;
          for (size_t kx = 0; kx < p; ++kx) *dst++ = src[kx];
        }
    }
  std::vector<float> h(n * d);
  for (size_t i = 0; i < d; ++i) h[i] = cls_[i];  // class token first
  MBLIP_RETURN_IF_ERROR(patch_.forward(patches.data(), n - 1, h.data() + d, pool));
  ops::add_inplace(h.data(), pos_.data(), n * d, pool);

  std::vector<float> x(n * d), qkv(n * 3 * d), ctx(n * d), tmp(n * d);
  std::vector<float> mlp_scratch(n * static_cast<size_t>(cfg_.intermediate_size));
  ops::AttentionArgs a;
  a.heads = heads;
  a.head_dim = dh;
  a.q_len = a.kv_len = n;
  a.q_stride = a.k_stride = a.v_stride = 3 * d;
  a.out_stride = d;
  a.scale = 1.0f / std::sqrt(static_cast<float>(dh));  // head_dim ** -0.5
  std::vector<float> attn_scratch(ops::attention_scratch_floats(a, pool));
  a.scratch = attn_scratch.data();
  a.scratch_floats = attn_scratch.size();
  for (const Layer& l : layers_) {
    // Blip2EncoderLayer: pre-LN self-attention and MLP, each with a residual.
    ops::layer_norm(h.data(), n, d, l.ln1_w.data(), l.ln1_b.data(), eps, x.data(), pool);
    MBLIP_RETURN_IF_ERROR(l.qkv.forward(x.data(), n, qkv.data(), pool));  // per token: [q (H x dh) | k | v]
    ops::attention(qkv.data(), qkv.data() + d, qkv.data() + 2 * d, ctx.data(), a, pool);
    MBLIP_RETURN_IF_ERROR(l.proj.forward(ctx.data(), n, tmp.data(), pool));
    ops::add_inplace(h.data(), tmp.data(), n * d, pool);
    ops::layer_norm(h.data(), n, d, l.ln2_w.data(), l.ln2_b.data(), eps, x.data(), pool);
    MBLIP_RETURN_IF_ERROR(l.mlp.forward(x.data(), n, tmp.data(), mlp_scratch.data(), pool));
    ops::add_inplace(h.data(), tmp.data(), n * d, pool);
  }
  out.resize(n * d);
  ops::layer_norm(h.data(), n, d, post_w_.data(), post_b_.data(), eps, out.data(), pool);
  return Status::Ok();
}

}  // namespace mblip
