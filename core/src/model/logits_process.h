// Logits processors and warpers of transformers 4.36 (generation/logits_process.py), applied
// in HF's order to one row of scores, plus log-softmax and a portable PRNG for sampling.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mblip {

// RepetitionPenaltyLogitsProcessor: for every distinct token in `history` (the decoder input
// ids, decoder start included), score < 0 ? score * penalty : score / penalty.
void apply_repetition_penalty(float* scores, int64_t vocab, const std::vector<int32_t>& history,
                              double penalty);

// NoRepeatNGramLogitsProcessor: bans tokens that would complete an n-gram already present in
// `history` (decoder start included), by setting their score to -inf.
void apply_no_repeat_ngram(float* scores, int64_t vocab, const std::vector<int32_t>& history, int n);

// MinNewTokensLengthLogitsProcessor: eos -> -inf while fewer than min_new_tokens were generated.
void apply_min_new_tokens(float* scores, int64_t vocab, int generated, int min_new_tokens,
                          int32_t eos);

// TemperatureLogitsWarper / TopKLogitsWarper / TopPLogitsWarper (filter value -inf).
void apply_temperature(float* scores, int64_t vocab, double temperature);
void apply_top_k(float* scores, int64_t vocab, int top_k, int min_tokens_to_keep = 1);
void apply_top_p(float* scores, int64_t vocab, double top_p, int min_tokens_to_keep = 1);

// In place: scores[v] = scores[v] - logsumexp(scores) (float32 result, double accumulation).
void log_softmax(float* scores, int64_t vocab);

// A score and its index (beam search: beam * vocab + token).
struct ScoredIndex {
  float score;
  int64_t index;
};
// torch.topk(largest=True, sorted=True) order: higher score first, the lower index among equals
// (a NaN compares unordered: it never enters a top-k once the first `count` slots are filled).
bool ranks_before(const ScoredIndex& a, const ScoredIndex& b);
// The min(count, n) first entries of scores[0..n) in ranks_before order, indices offset by `base`,
// into `out` (replaced): a heap of the best so far, and blocks of 16 scores none above the worst of
// them skipped whole. Without NaNs: equal to sorting every entry and keeping the first `count`.
void top_scores(const float* scores, int64_t n, int64_t base, size_t count, std::vector<ScoredIndex>& out);

// Index of the largest score; the lowest index among equal maxima (torch.argmax).
int32_t argmax(const float* scores, int64_t vocab);

// xoshiro256** seeded through splitmix64: the same stream on every platform and compiler.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next_u64();
  double next_double();  // uniform in [0, 1), 53 random bits
 private:
  uint64_t s_[4];
};

// Draws a token from softmax(scores) (torch.multinomial on the probabilities); -inf entries
// never get drawn.
int32_t sample_from_scores(const float* scores, int64_t vocab, Rng& rng);

}  // namespace mblip
