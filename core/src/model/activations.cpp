// Activations (activations.h): the buffer plan shared by Session creation (reserve) and the
// load-time memory estimate (bytes). The shapes mirror each stage's forward().
#include "model/activations.h"

#include <algorithm>
#include <cmath>
#include <new>

#include "model/t5_decoder.h"
#include "ops/ops.h"

namespace mblip {
namespace {

using Buf = std::vector<float> Activations::*;

// Calls f(member, floats) for every buffer; returns the decoder's per-generation floats (held
// by the decoder session, counted by bytes() only).
template <typename F>
uint64_t plan(const ModelConfig& c, const ActivationLimits& lim, const ThreadPool& pool, F&& f) {
  const auto& v = c.vision;
  const size_t n = static_cast<size_t>(std::max<int64_t>(v.num_positions(), 1));
  const size_t d = static_cast<size_t>(v.hidden_size), p = static_cast<size_t>(v.patch_size);
  ops::AttentionArgs a;
  a.heads = static_cast<size_t>(std::max<int64_t>(v.num_heads, 1));
  a.head_dim = d / a.heads;
  a.q_len = a.kv_len = n;
  f(&Activations::v_patches, (n - 1) * 3 * p * p);
  for (Buf b : {&Activations::v_h, &Activations::v_x, &Activations::v_ctx, &Activations::v_tmp, &Activations::v_out})
    f(b, n * d);
  f(&Activations::v_qkv, 3 * n * d);
  f(&Activations::v_mlp, n * static_cast<size_t>(v.intermediate_size));
  f(&Activations::v_attn, ops::attention_scratch_floats(a, pool));

  const auto& q = c.qformer;
  const size_t nq = static_cast<size_t>(c.num_query_tokens), dq = static_cast<size_t>(q.hidden_size);
  const size_t kv = std::max(nq, n);
  for (Buf b : {&Activations::q_h, &Activations::q_q, &Activations::q_ctx, &Activations::q_tmp, &Activations::q_out})
    f(b, nq * dq);
  f(&Activations::q_k, kv * dq);
  f(&Activations::q_v, kv * dq);
  f(&Activations::q_ffn, nq * static_cast<size_t>(q.intermediate_size));
  a.heads = static_cast<size_t>(std::max<int64_t>(q.num_heads, 1));
  a.head_dim = dq / a.heads;
  a.q_len = nq;
  a.kv_len = kv;
  f(&Activations::q_attn, ops::attention_scratch_floats(a, pool));

  const auto& t = c.text;
  const size_t dm = static_cast<size_t>(t.d_model), inner = static_cast<size_t>(t.num_heads * t.d_kv);
  const size_t len = nq + lim.prompt_tokens, ff = static_cast<size_t>(t.d_ff);
  f(&Activations::queries, nq * dm);
  for (Buf b : {&Activations::e_embeds, &Activations::e_h, &Activations::e_x, &Activations::e_tmp, &Activations::e_out})
    f(b, len * dm);
  f(&Activations::e_mask01, len);
  f(&Activations::e_mask, len);
  for (Buf b : {&Activations::e_q, &Activations::e_k, &Activations::e_v, &Activations::e_ctx}) f(b, len * inner);
  f(&Activations::e_ffn, 2 * len * ff);
  f(&Activations::e_bias, static_cast<size_t>(t.num_heads) * len * len);
  a.heads = static_cast<size_t>(std::max<int64_t>(t.num_heads, 1));
  a.head_dim = static_cast<size_t>(t.d_kv);
  a.q_len = a.kv_len = len;
  f(&Activations::e_attn, ops::attention_scratch_floats(a, pool));

  // Decoder (t5_decoder.cpp, per generation): cross K/V per layer, the self-attention cache,
  // the step activations of `beams` rows and two rows of logits per beam (scores, processed).
  const uint64_t layers = static_cast<uint64_t>(t.num_decoder_layers), rows = lim.beams;
  const uint64_t cross = layers * 2 * len * inner, self = layers * 2 * rows * lim.new_tokens * inner;
  const uint64_t step = rows * (4 * dm + 3 * inner + 2 * ff) + static_cast<uint64_t>(t.num_heads) * rows * len;
  const uint64_t logits = 2 * rows * static_cast<uint64_t>(t.vocab_size);
  return cross + self + step + logits;
}

}  // namespace

Activations::Activations() = default;
Activations::~Activations() = default;
Activations::Activations(Activations&&) noexcept = default;
Activations& Activations::operator=(Activations&&) noexcept = default;

Status Activations::reserve(const ModelConfig& c, const ActivationLimits& lim, const ThreadPool& pool) {
  try {
    plan(c, lim, pool, [this](Buf b, size_t floats) { at_least(this->*b, floats); });
  } catch (const std::bad_alloc&) {
    return out_of_memory("not enough memory for a Session's activations (" +
                         std::to_string(bytes(c, lim, pool) >> 20) + " MB)");
  }
  return Status::Ok();
}

uint64_t Activations::bytes(const ModelConfig& c, const ActivationLimits& lim, const ThreadPool& pool) {
  uint64_t floats = 0;
  floats += plan(c, lim, pool, [&floats](Buf, size_t n) { floats += n; });
  return 4 * floats;
}

uint64_t Activations::held_bytes() const {
  uint64_t floats = 0;
  for (Buf b : {&Activations::v_patches, &Activations::v_h, &Activations::v_x, &Activations::v_qkv,
                &Activations::v_ctx, &Activations::v_tmp, &Activations::v_mlp, &Activations::v_attn,
                &Activations::v_out, &Activations::q_h, &Activations::q_q, &Activations::q_k, &Activations::q_v,
                &Activations::q_ctx, &Activations::q_tmp, &Activations::q_ffn, &Activations::q_attn,
                &Activations::q_out, &Activations::queries, &Activations::e_embeds, &Activations::e_mask01,
                &Activations::e_h, &Activations::e_x, &Activations::e_q, &Activations::e_k, &Activations::e_v,
                &Activations::e_ctx, &Activations::e_tmp, &Activations::e_ffn, &Activations::e_bias,
                &Activations::e_mask, &Activations::e_attn, &Activations::e_out})
    floats += (this->*b).capacity();
  return 4 * floats;
}

}  // namespace mblip
