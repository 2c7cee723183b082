// T5/mT5 decoder stack + lm_head (T5Stack is_decoder=True, T5ForConditionalGeneration head):
// weights in T5Decoder; per-prompt state (cross K/V, self-attention cache) in T5DecoderSession,
// which implements StepModel for generation.
#pragma once
#include <memory>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "model/step_model.h"

namespace mblip {

class T5DecoderSession;

class T5Decoder {
 public:
  // `shared` (t.emb) must outlive the decoder. The head is t.head, or t.emb when tied.
  static Result<std::unique_ptr<T5Decoder>> load(WeightLoader& w, const TextConfig& cfg, const Embedding* shared);
  const TextConfig& config() const { return cfg_; }
  int64_t vocab_size() const { return cfg_.vocab_size; }
  // A session for one encoder output (enc_len x d_model) and its 0/1 mask (nullptr = all ones).
  // Cross-attention K/V are computed here, once. `capacity` = expected decoder length.
  Result<std::unique_ptr<T5DecoderSession>> new_session(const float* enc, size_t enc_len, const float* mask01,
                                                        ThreadPool& pool, size_t capacity = 64) const;

 private:
  friend class T5DecoderSession;
  struct Layer {
    std::vector<float> sa_ln, ca_ln, ffn_ln;
    T5AttentionWeights sa, ca;
    T5FeedForward ffn;
  };
  TextConfig cfg_;
  const Embedding* emb_ = nullptr;
  T5PositionBias bias_;
  std::vector<Layer> layers_;
  std::vector<float> final_ln_;
  ops::Linear head_;
  float head_scale_ = 1.0f;  // d_model^-0.5 when tied
};

class T5DecoderSession final : public StepModel {
 public:
  int64_t vocab_size() const override { return dec_.vocab_size(); }
  Status begin(size_t rows) override;
  Status step(const std::vector<int32_t>& parents, const std::vector<int32_t>& tokens, float* logits) override;
  // Teacher forcing: one forward over a whole decoder input (rows = 1), as HF's
  // model(decoder_input_ids=...) does; logits: tokens.size() x vocab. Resets the session.
  Status forward_sequence(const std::vector<int32_t>& tokens, std::vector<float>& logits);
  // Starts over on another encoder output (as T5Decoder::new_session), reusing this session's
  // buffers (cross K/V, KV cache, step activations): a Session keeps one across generations.
  Status restart(const float* enc, size_t enc_len, const float* mask01, size_t capacity);
  const T5Decoder& decoder() const { return dec_; }
  const ThreadPool& pool() const { return pool_; }
  ThreadPool* worker_pool() override { return &pool_; }

 private:
  friend class T5Decoder;
  T5DecoderSession(const T5Decoder& dec, ThreadPool& pool) : dec_(dec), pool_(pool) {}
  // Appends q_len tokens to every cache row (tokens row-major: rows x q_len) and writes
  // logits (rows*q_len x vocab).
  Status run(size_t q_len, const int32_t* tokens, float* logits);
  void reserve(size_t m, size_t kv_len);

  const T5Decoder& dec_;
  ThreadPool& pool_;
  size_t enc_len_ = 0;
  std::vector<float> enc_mask_;               // additive, enc_len (empty = no mask)
  std::vector<std::vector<float>> cross_k_, cross_v_;  // per layer: enc_len x inner
  KvCache cache_;
  // Activations, grown on demand (steady-state steps do not allocate).
  std::vector<float> h_, x_, q_, kn_, vn_, ctx_, tmp_, ffn_, bias_, scratch_;
  std::vector<const float*> k_rows_, v_rows_;  // per row: its K/V for ops::attention_rows
};

}  // namespace mblip
