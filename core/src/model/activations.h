// Activations: one Session's working buffers for the image stages and the T5 encoder, sized from
// the config when the Session is made and passed to each stage's forward(), so steady-state
// calls do not allocate; bytes() of the same plan is the load-time working-memory estimate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/thread_pool.h"
#include "mblip/status.h"
#include "model/config.h"

namespace mblip {

class T5DecoderSession;
struct OpProfile;

// The largest inputs the buffers are planned for (larger ones grow them on first use).
struct ActivationLimits {
  size_t prompt_tokens = 64;  // prompt tokens (with eos) next to the queries in the encoder
  size_t beams = 5;           // decoder rows (the authors' caption setting)
  size_t new_tokens = 51;     // decoder positions (50 new tokens + the start token)
};

struct Activations {
  Activations();
  ~Activations();
  Activations(Activations&&) noexcept;
  Activations& operator=(Activations&&) noexcept;

  // Vision (EVA ViT): n = num_positions rows.
  std::vector<float> v_patches, v_h, v_x, v_qkv, v_ctx, v_tmp, v_mlp, v_attn, v_out;
  // Q-Former and projection: nq query rows, keys from max(nq, n) rows.
  std::vector<float> q_h, q_q, q_k, q_v, q_ctx, q_tmp, q_ffn, q_attn, q_out, queries;
  // T5 encoder over len = nq + prompt rows: input, mask, layers, output.
  std::vector<float> e_embeds, e_mask01, e_h, e_x, e_q, e_k, e_v, e_ctx, e_tmp, e_ffn, e_bias, e_mask, e_attn, e_out;
  // The decoder of the last generation (cross K/V, KV cache, step activations), restarted by
  // the next one (MBlipModel::decoder_for) so its buffers are reused.
  std::unique_ptr<T5DecoderSession> decoder;
  // When set, the vision stage and the T5 encoder add each op's wall time to it (model/op_profile.h;
  // `mblip bench`).
  OpProfile* profile = nullptr;

  // Sizes every buffer for `c` and `lim` (attention scratch for `pool`'s thread count).
  Status reserve(const ModelConfig& c, const ActivationLimits& lim, const ThreadPool& pool);
  // Bytes reserve() holds for these sizes, plus what the decoder holds per generation (cross
  // K/V, self-attention cache, step activations and logits for lim.beams rows).
  static uint64_t bytes(const ModelConfig& c, const ActivationLimits& lim, const ThreadPool& pool);
  // Bytes currently held.
  uint64_t held_bytes() const;

  // Resizes `b` to at least n floats (only grows) and returns its data.
  static float* at_least(std::vector<float>& b, size_t n) {
    if (b.size() < n) b.resize(n);
    return b.data();
  }
};

}  // namespace mblip
