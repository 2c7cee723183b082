// Logits processors / warpers mirroring transformers 4.36 generation/logits_process.py.
#include "model/logits_process.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "ops/ops.h"

namespace mblip {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}

// RepetitionPenaltyLogitsProcessor.__call__: gather, penalise, scatter (each token once).
void apply_repetition_penalty(float* scores, int64_t vocab, const std::vector<int32_t>& history,
                              double penalty) {
  if (penalty == 1.0) return;
  const float p = static_cast<float>(penalty);
  // Each distinct token once (its first occurrence), without allocating: beam search runs this on
  // its pool's threads, which must not allocate (model/generate.cpp). Histories are short.
  for (size_t i = 0; i < history.size(); ++i) {
    const int32_t t = history[i];
    if (t < 0 || t >= vocab || std::find(history.begin(), history.begin() + static_cast<std::ptrdiff_t>(i), t) !=
                                   history.begin() + static_cast<std::ptrdiff_t>(i))
      continue;
    float& s = scores[t];
    s = s < 0 ? s * p : s / p;
  }
}

// NoRepeatNGramLogitsProcessor / _get_ngrams + _get_generated_ngrams.
void apply_no_repeat_ngram(float* scores, int64_t vocab, const std::vector<int32_t>& history, int n) {
  if (n <= 0) return;
  const size_t cur_len = history.size();
  if (cur_len + 1 < static_cast<size_t>(n)) return;
  const size_t start = cur_len + 1 - static_cast<size_t>(n);  // prefix of the n-gram to complete
  // Every earlier n-gram whose first n-1 tokens equal history[start..cur_len) bans its last token.
  for (size_t i = 0; i + static_cast<size_t>(n) <= cur_len; ++i) {
    bool match = true;
    for (size_t j = 0; j + 1 < static_cast<size_t>(n); ++j) {
      if (history[i + j] != history[start + j]) { match = false; break; }
    }
    if (!match) continue;
    const int32_t banned = history[i + n - 1];
    if (banned >= 0 && banned < vocab) scores[banned] = kNegInf;
  }
}

// MinNewTokensLengthLogitsProcessor.__call__
void apply_min_new_tokens(float* scores, int64_t vocab, int generated, int min_new_tokens,
                          int32_t eos) {
  if (generated < min_new_tokens && eos >= 0 && eos < vocab) scores[eos] = kNegInf;
}

// TemperatureLogitsWarper.__call__: scores / temperature
void apply_temperature(float* scores, int64_t vocab, double temperature) {
  if (temperature == 1.0) return;
  const float t = static_cast<float>(temperature);
  for (int64_t v = 0; v < vocab; ++v) scores[v] = scores[v] / t;
}

// TopKLogitsWarper.__call__: removes scores below the k-th largest (ties with it are kept).
void apply_top_k(float* scores, int64_t vocab, int top_k, int min_tokens_to_keep) {
  if (top_k <= 0) return;
  const int64_t k = std::min<int64_t>(std::max(top_k, min_tokens_to_keep), vocab);
  std::vector<float> sorted(scores, scores + vocab);
  std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
  const float kth = sorted[static_cast<size_t>(k - 1)];
  for (int64_t v = 0; v < vocab; ++v)
    if (scores[v] < kth) scores[v] = kNegInf;
}

// TopPLogitsWarper.__call__: sort ascending, cumulative softmax; remove entries whose
// cumulative probability is <= 1 - top_p, but always keep the min_tokens_to_keep largest.
void apply_top_p(float* scores, int64_t vocab, double top_p, int min_tokens_to_keep) {
  if (top_p >= 1.0) return;
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  // torch.sort is not stable by default; a stable sort makes ties deterministic here.
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return scores[a] < scores[b]; });
  const float mx = scores[order.back()];
  double total = 0;
  std::vector<double> e(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    const float s = scores[order[i]];
    e[i] = std::isinf(s) && s < 0 ? 0.0 : std::exp(static_cast<double>(s) - mx);
    total += e[i];
  }
  double cum = 0;
  const double threshold = 1.0 - top_p;
  std::vector<bool> remove(static_cast<size_t>(vocab), false);
  for (int64_t i = 0; i < vocab; ++i) {
    cum += e[i] / total;
    remove[i] = static_cast<float>(cum) <= static_cast<float>(threshold);
  }
  for (int64_t i = std::max<int64_t>(0, vocab - min_tokens_to_keep); i < vocab; ++i) remove[i] = false;
  for (int64_t i = 0; i < vocab; ++i)
    if (remove[i]) scores[order[i]] = kNegInf;
}

void log_softmax(float* scores, int64_t vocab) {
  if (vocab <= 0) return;
  const double lse = ops::log_sum_exp(scores, static_cast<size_t>(vocab));
  if (std::isinf(lse) && lse < 0) return;  // all -inf: leave as is
  ops::sub_double(scores, static_cast<size_t>(vocab), lse);
}

bool ranks_before(const ScoredIndex& a, const ScoredIndex& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.index < b.index;
}

void top_scores(const float* scores, int64_t n, int64_t base, size_t count, std::vector<ScoredIndex>& out) {
  // A min-heap (worst on top) while scanning. Entries come in index order, so one equal to the worst
  // kept never displaces it (it has the higher index): only a score above the worst can enter.
  std::vector<ScoredIndex>& heap = out;
  heap.clear();
  if (count == 0) return;
  int64_t v = 0;
  for (; v < n && heap.size() < count; ++v) {
    heap.push_back({scores[v], base + v});
    std::push_heap(heap.begin(), heap.end(), ranks_before);
  }
  constexpr int64_t kBlock = 16;
  while (v < n) {
    const int64_t end = std::min(n, v + kBlock);
    if (end - v == kBlock && !ops::any_greater(scores + v, kBlock, heap.front().score)) {
      v = end;
      continue;
    }
    for (; v < end; ++v) {
      const ScoredIndex c{scores[v], base + v};
      if (ranks_before(c, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), ranks_before);
        heap.back() = c;
        std::push_heap(heap.begin(), heap.end(), ranks_before);
      }
    }
  }
  std::sort(heap.begin(), heap.end(), ranks_before);
}

int32_t argmax(const float* scores, int64_t vocab) {
  int64_t best = 0;
  for (int64_t v = 1; v < vocab; ++v)
    if (scores[v] > scores[best]) best = v;
  return static_cast<int32_t>(best);
}

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

int32_t sample_from_scores(const float* scores, int64_t vocab, Rng& rng) {
  float mx = kNegInf;
  for (int64_t v = 0; v < vocab; ++v) mx = std::max(mx, scores[v]);
  std::vector<double> p(static_cast<size_t>(vocab));
  double total = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    p[v] = (std::isinf(scores[v]) && scores[v] < 0) ? 0.0 : std::exp(static_cast<double>(scores[v]) - mx);
    total += p[v];
  }
  const double u = rng.next_double() * total;
  double cum = 0;
  int32_t last_valid = argmax(scores, vocab);
  for (int64_t v = 0; v < vocab; ++v) {
    if (p[v] == 0.0) continue;
    cum += p[v];
    last_valid = static_cast<int32_t>(v);
    if (u < cum) return static_cast<int32_t>(v);
  }
  return last_valid;  // rounding at the very end of the range
}

}  // namespace mblip
