// T5 decoder (transformers T5Stack decoder side: T5LayerSelfAttention with causal relative
// bias and past_key_values, T5LayerCrossAttention, T5LayerFF, final_layer_norm) and the
// T5ForConditionalGeneration lm_head (scaled by d_model^-0.5 when embeddings are tied).
#include "model/t5_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace mblip {

Result<std::unique_ptr<T5Decoder>> T5Decoder::load(WeightLoader& w, const TextConfig& cfg, const Embedding* shared) {
  if (!shared) return internal_error("T5 decoder needs the shared embedding");
  std::unique_ptr<T5Decoder> dp(new T5Decoder());
  T5Decoder& dec = *dp;
  dec.cfg_ = cfg;
  dec.emb_ = shared;
  dec.bias_.heads = cfg.num_heads;
  dec.bias_.num_buckets = cfg.relative_attention_num_buckets;
  dec.bias_.max_distance = cfg.relative_attention_max_distance;
  dec.bias_.bidirectional = false;
  // Names and shapes are declared in tensor_table.cpp (declare_t5_stack, declare_t5).
  MBLIP_ASSIGN_OR_RETURN(dec.bias_.table, w.floats("t.dec.rel_bias"));
  for (int64_t i = 0; i < cfg.num_decoder_layers; ++i) {
    const std::string pre = "t.dec." + std::to_string(i) + ".";
    Layer l;
    MBLIP_ASSIGN_OR_RETURN(l.sa_ln, w.floats(pre + "sa.ln"));
    MBLIP_RETURN_IF_ERROR(l.sa.load(w, pre + "sa"));
    MBLIP_ASSIGN_OR_RETURN(l.ca_ln, w.floats(pre + "ca.ln"));
    MBLIP_RETURN_IF_ERROR(l.ca.load(w, pre + "ca"));
    MBLIP_ASSIGN_OR_RETURN(l.ffn_ln, w.floats(pre + "ffn.ln"));
    MBLIP_RETURN_IF_ERROR(l.ffn.load(w, pre + "ffn", cfg));
    dec.layers_.push_back(std::move(l));
  }
  MBLIP_ASSIGN_OR_RETURN(dec.final_ln_, w.floats("t.dec.final_ln"));
  if (cfg.tie_word_embeddings) {  // the shared table, read as a linear too (also_linear)
    MBLIP_ASSIGN_OR_RETURN(dec.head_, w.linear("t.emb"));
    dec.head_scale_ = static_cast<float>(std::pow(static_cast<double>(cfg.d_model), -0.5));
  } else {
    MBLIP_ASSIGN_OR_RETURN(dec.head_, w.linear("t.head"));
  }
  return Result<std::unique_ptr<T5Decoder>>(std::move(dp));
}

Result<std::unique_ptr<T5DecoderSession>> T5Decoder::new_session(const float* enc, size_t enc_len,
                                                                  const float* mask01, ThreadPool& pool,
                                                                  size_t capacity) const {
  if (!enc || enc_len == 0) return invalid_argument("decoder needs a non-empty encoder output");
  std::unique_ptr<T5DecoderSession> s(new T5DecoderSession(*this, pool));
  MBLIP_RETURN_IF_ERROR(s->restart(enc, enc_len, mask01, capacity));
  return Result<std::unique_ptr<T5DecoderSession>>(std::move(s));
}

Status T5DecoderSession::restart(const float* enc, size_t enc_len, const float* mask01, size_t capacity) {
  if (!enc || enc_len == 0) return invalid_argument("decoder needs a non-empty encoder output");
  const TextConfig& c = dec_.cfg_;
  const size_t inner = static_cast<size_t>(c.num_heads * c.d_kv);
  enc_len_ = enc_len;
  enc_mask_.resize(mask01 ? enc_len : 0);
  if (mask01) additive_mask(mask01, enc_len, enc_mask_.data());
  // Cross-attention keys/values depend only on the encoder output: computed once here, into
  // the buffers of the previous generation when there was one.
  const size_t layers = dec_.layers_.size();
  cross_k_.resize(layers);
  cross_v_.resize(layers);
  for (size_t li = 0; li < layers; ++li) {
    const T5Decoder::Layer& l = dec_.layers_[li];
    cross_k_[li].resize(enc_len * inner);
    cross_v_[li].resize(enc_len * inner);
    MBLIP_RETURN_IF_ERROR(l.ca.k.forward(enc, enc_len, cross_k_[li].data(), pool_));
    MBLIP_RETURN_IF_ERROR(l.ca.v.forward(enc, enc_len, cross_v_[li].data(), pool_));
  }
  cache_.configure(layers, inner, capacity);
  return Status::Ok();
}

void T5DecoderSession::reserve(size_t m, size_t kv_len) {
  const TextConfig& c = dec_.cfg_;
  const size_t d = static_cast<size_t>(c.d_model), heads = static_cast<size_t>(c.num_heads);
  const size_t inner = heads * static_cast<size_t>(c.d_kv);
  auto grow = [](std::vector<float>& b, size_t n) {
    if (b.size() < n) b.resize(n);
  };
  grow(h_, m * d);
  grow(x_, m * d);
  grow(tmp_, m * d);
  grow(q_, m * inner);
  grow(kn_, m * inner);
  grow(vn_, m * inner);
  grow(ctx_, m * inner);
  grow(ffn_, 2 * m * static_cast<size_t>(c.d_ff));
  // Attention scratch and the position bias for the largest key length this cache holds
  // without growing, so steady-state steps do not allocate.
  ops::AttentionArgs a;
  a.heads = heads;
  a.head_dim = static_cast<size_t>(c.d_kv);
  a.q_len = m;
  a.kv_len = std::max({kv_len, enc_len_, cache_.capacity()});
  grow(scratch_, ops::attention_scratch_floats(a, pool_));
  grow(bias_, heads * m * a.kv_len);
}

Status T5DecoderSession::begin(size_t rows) {
  if (rows == 0) return invalid_argument("decoder begin() needs at least one row");
  cache_.reset(rows);
  reserve(rows, cache_.capacity());
  return Status::Ok();
}

Status T5DecoderSession::step(const std::vector<int32_t>& parents, const std::vector<int32_t>& tokens,
                              float* logits) {
  if (parents.size() != tokens.size() || tokens.empty())
    return invalid_argument("decoder step: parents (" + std::to_string(parents.size()) + ") and tokens (" +
                            std::to_string(tokens.size()) + ") must have the same non-zero length");
  MBLIP_RETURN_IF_ERROR(cache_.reorder(parents));
  return run(1, tokens.data(), logits);
}

Status T5DecoderSession::forward_sequence(const std::vector<int32_t>& tokens, std::vector<float>& logits) {
  if (tokens.empty()) return invalid_argument("decoder input is empty");
  cache_.reset(1);
  logits.resize(tokens.size() * static_cast<size_t>(dec_.vocab_size()));
  return run(tokens.size(), tokens.data(), logits.data());
}

Status T5DecoderSession::run(size_t q_len, const int32_t* tokens, float* logits) {
  const TextConfig& c = dec_.cfg_;
  const size_t rows = cache_.rows(), m = rows * q_len;
  const size_t d = static_cast<size_t>(c.d_model), heads = static_cast<size_t>(c.num_heads);
  const size_t dk = static_cast<size_t>(c.d_kv), inner = heads * dk;
  const float eps = static_cast<float>(c.layer_norm_epsilon);
  const size_t pos0 = cache_.len(), kv_len = pos0 + q_len;
  cache_.ensure_capacity(kv_len);
  reserve(m, kv_len);
  ThreadPool& pool = pool_;

  // Token embeddings (unscaled), then the causal relative bias for positions pos0.. (compute_bias
  // over the full length, last q_len query rows kept).
  for (size_t i = 0; i < m; ++i) MBLIP_RETURN_IF_ERROR(dec_.emb_->lookup(tokens[i], h_.data() + i * d));
  dec_.bias_.compute(q_len, kv_len, pos0, bias_.data());

  ops::AttentionArgs sa;
  sa.heads = heads;
  sa.head_dim = dk;
  sa.q_len = q_len;
  sa.kv_len = kv_len;
  sa.q_stride = sa.k_stride = sa.v_stride = sa.out_stride = inner;
  sa.scale = 1.0f;
  sa.bias = bias_.data();
  sa.bias_head_stride = q_len * kv_len;
  sa.bias_row_stride = kv_len;
  sa.causal = true;
  sa.causal_offset = pos0;
  sa.scratch = scratch_.data();
  sa.scratch_floats = scratch_.size();
  ops::AttentionArgs ca = sa;
  ca.kv_len = enc_len_;
  ca.bias = nullptr;
  ca.causal = false;
  ca.key_mask = enc_mask_.empty() ? nullptr : enc_mask_.data();

  for (size_t li = 0; li < dec_.layers_.size(); ++li) {
    const T5Decoder::Layer& l = dec_.layers_[li];
    // Self-attention with the cache.
    ops::rms_norm(h_.data(), m, d, l.sa_ln.data(), eps, x_.data(), pool);
    MBLIP_RETURN_IF_ERROR(l.sa.q.forward(x_.data(), m, q_.data(), pool));
    MBLIP_RETURN_IF_ERROR(l.sa.k.forward(x_.data(), m, kn_.data(), pool));
    MBLIP_RETURN_IF_ERROR(l.sa.v.forward(x_.data(), m, vn_.data(), pool));
    k_rows_.resize(rows);
    v_rows_.resize(rows);
    for (size_t r = 0; r < rows; ++r) {
      float* kc = cache_.k(r, li);
      float* vc = cache_.v(r, li);
      std::memcpy(kc + pos0 * inner, kn_.data() + r * q_len * inner, q_len * inner * sizeof(float));
      std::memcpy(vc + pos0 * inner, vn_.data() + r * q_len * inner, q_len * inner * sizeof(float));
      k_rows_[r] = kc;
      v_rows_[r] = vc;
    }
    ops::attention_rows(q_.data(), k_rows_.data(), v_rows_.data(), ctx_.data(), sa, rows, pool);
    MBLIP_RETURN_IF_ERROR(l.sa.o.forward(ctx_.data(), m, tmp_.data(), pool));
    ops::add_inplace(h_.data(), tmp_.data(), m * d, pool);
    // Cross-attention to the encoder output (no position bias; padded prompt keys masked).
    ops::rms_norm(h_.data(), m, d, l.ca_ln.data(), eps, x_.data(), pool);
    MBLIP_RETURN_IF_ERROR(l.ca.q.forward(x_.data(), m, q_.data(), pool));
    // Every row attends to the same encoder K/V (a greedy row and a beam row alike).
    std::fill(k_rows_.begin(), k_rows_.end(), cross_k_[li].data());
    std::fill(v_rows_.begin(), v_rows_.end(), cross_v_[li].data());
    ops::attention_rows(q_.data(), k_rows_.data(), v_rows_.data(), ctx_.data(), ca, rows, pool);
    MBLIP_RETURN_IF_ERROR(l.ca.o.forward(ctx_.data(), m, tmp_.data(), pool));
    ops::add_inplace(h_.data(), tmp_.data(), m * d, pool);
    // Feed-forward.
    ops::rms_norm(h_.data(), m, d, l.ffn_ln.data(), eps, x_.data(), pool);
    MBLIP_RETURN_IF_ERROR(l.ffn.forward(x_.data(), m, tmp_.data(), ffn_.data(), pool));
    ops::add_inplace(h_.data(), tmp_.data(), m * d, pool);
  }
  cache_.set_len(kv_len);
  ops::rms_norm(h_.data(), m, d, dec_.final_ln_.data(), eps, x_.data(), pool);
  if (dec_.head_scale_ != 1.0f)
    for (size_t i = 0; i < m * d; ++i) x_[i] *= dec_.head_scale_;
  MBLIP_RETURN_IF_ERROR(dec_.head_.forward(x_.data(), m, logits, pool));
  return Status::Ok();
}

}  // namespace mblip
