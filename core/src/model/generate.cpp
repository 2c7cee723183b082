// Greedy search, beam search and sampling over a StepModel, mirroring transformers 4.36.2
// GenerationMixin.{greedy_search, beam_search, sample} and generation/beam_search.py.
#include "model/generate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kernels/thread_pool.h"
#include "model/logits_process.h"
#include "ops/ops.h"

namespace mblip {

namespace {


// GenerationMixin._get_logits_processor (4.36 order): repetition penalty, no-repeat n-gram,
// min new tokens. `history` = decoder input ids incl. the decoder start; `generated` = tokens
// generated so far.
void process_row(float* scores, int64_t vocab, const std::vector<int32_t>& history, int generated,
                 const GenerateOptions& o, const SpecialTokens& sp) {
  apply_repetition_penalty(scores, vocab, history, o.repetition_penalty);
  apply_no_repeat_ngram(scores, vocab, history, o.no_repeat_ngram_size);
  apply_min_new_tokens(scores, vocab, generated, o.min_new_tokens, sp.eos);
}

Status check_cancel(const GenerateHooks& hooks) {
  if (hooks.cancel && hooks.cancel->load(std::memory_order_relaxed))
    return cancelled("generation cancelled by the caller");
  return Status::Ok();
}

Status report(const GenerateHooks& hooks, int step, const std::vector<int32_t>& history,
              bool provisional) {
  if (!hooks.on_step) return Status::Ok();
  std::vector<int32_t> gen(history.begin() + 1, history.end());
  if (!hooks.on_step(step, gen, provisional)) return cancelled("generation cancelled by the callback");
  return Status::Ok();
}

// greedy_search / sample: rows are independent; finished rows leave the model.
Result<std::vector<GeneratedSequence>> run_greedy_or_sample(StepModel& model, const GenerateOptions& o,
                                                            const SpecialTokens& sp,
                                                            const GenerateHooks& hooks) {
  const int64_t vocab = model.vocab_size();
  const size_t rows = o.do_sample ? static_cast<size_t>(o.num_return_sequences) : 1;
  std::vector<std::vector<int32_t>> hist(rows, std::vector<int32_t>{sp.decoder_start});
  std::vector<GeneratedSequence> out(rows);
  std::vector<bool> done(rows, false);
  Rng rng(o.seed);
  // active[i] = sequence index of model row i
  std::vector<int32_t> active(rows), parents(rows), tokens(rows, sp.decoder_start);
  for (size_t i = 0; i < rows; ++i) active[i] = parents[i] = static_cast<int32_t>(i);
  MBLIP_RETURN_IF_ERROR(model.begin(rows));
  std::vector<float> logits, kept;
  for (int t = 0; t < o.max_new_tokens && !active.empty(); ++t) {
    MBLIP_RETURN_IF_ERROR(check_cancel(hooks));
    logits.resize(active.size() * static_cast<size_t>(vocab));
    MBLIP_RETURN_IF_ERROR(model.step(parents, tokens, logits.data()));
    std::vector<int32_t> next_active, next_parents, next_tokens;
    for (size_t r = 0; r < active.size(); ++r) {
      const int32_t seq = active[r];
      float* s = logits.data() + r * static_cast<size_t>(vocab);
      process_row(s, vocab, hist[seq], t, o, sp);
      // The sequence score sums log_softmax(processed scores)[token] = s[token] - logsumexp(s).
      const double lse = ops::log_sum_exp(s, static_cast<size_t>(vocab));
      int32_t tok;
      float picked;
      if (o.do_sample) {
        // _get_logits_warper: temperature, top-k, top-p (min_tokens_to_keep 1 without beams)
        // change s in place: keep a copy of the processed scores for the sequence score.
        kept.assign(s, s + vocab);
        apply_temperature(s, vocab, o.temperature);
        apply_top_k(s, vocab, o.top_k, 1);
        apply_top_p(s, vocab, o.top_p, 1);
        tok = sample_from_scores(s, vocab, rng);
        picked = kept[tok];
      } else {
        tok = argmax(s, vocab);
        picked = s[tok];
      }
      out[seq].score += std::isinf(lse) ? picked : static_cast<float>(static_cast<double>(picked) - lse);
      hist[seq].push_back(tok);
      if (tok == sp.eos) {
        done[seq] = true;
        out[seq].ended_with_eos = true;
      } else {
        next_active.push_back(seq);
        next_parents.push_back(static_cast<int32_t>(r));
        next_tokens.push_back(tok);
      }
    }
    MBLIP_RETURN_IF_ERROR(report(hooks, t + 1, hist[0], false));
    active.swap(next_active);
    parents.swap(next_parents);
    tokens.swap(next_tokens);
  }
  for (size_t i = 0; i < rows; ++i) out[i].tokens.assign(hist[i].begin() + 1, hist[i].end());
  return out;
}

// BeamHypotheses (generation/beam_search.py) for one prompt.
struct Hypotheses {
  struct Hyp {
    double score;
    std::vector<int32_t> history;  // incl. decoder start, without the final eos
    bool eos;
  };
  int num_beams;
  double length_penalty;
  EarlyStopping early_stopping;
  int max_new_tokens;
  std::vector<Hyp> beams;
  double worst_score = 1e9;

  // BeamHypotheses.add(hyp, sum_logprobs, generated_len)
  void add(const std::vector<int32_t>& history, double sum_logprobs, int generated_len, bool eos) {
    const double score = sum_logprobs / std::pow(static_cast<double>(generated_len), length_penalty);
    if (static_cast<int>(beams.size()) < num_beams || score > worst_score) {
      beams.push_back({score, history, eos});
      if (static_cast<int>(beams.size()) > num_beams) {
        // sorted([(s, idx)]) : the lowest score (lowest index on ties) goes, next is the worst
        std::vector<std::pair<double, size_t>> sorted;
        for (size_t i = 0; i < beams.size(); ++i) sorted.emplace_back(beams[i].score, i);
        std::sort(sorted.begin(), sorted.end());
        beams.erase(beams.begin() + static_cast<std::ptrdiff_t>(sorted[0].second));
        worst_score = sorted[1].first;
      } else {
        worst_score = std::min(score, worst_score);
      }
    }
  }

  // BeamHypotheses.is_done(best_sum_logprobs, cur_len, decoder_prompt_len); `generated` =
  // cur_len - decoder_prompt_len = tokens generated including this step.
  bool is_done(double best_sum_logprobs, int generated) const {
    if (static_cast<int>(beams.size()) < num_beams) return false;
    if (early_stopping == EarlyStopping::kTrue) return true;
    int len = generated;
    if (early_stopping == EarlyStopping::kNever && length_penalty > 0.0) len = max_new_tokens;
    const double highest = best_sum_logprobs / std::pow(static_cast<double>(len), length_penalty);
    return worst_score >= highest;
  }
};

// torch.topk over (beam, token) of the beams' own best entries (flat index beam * vocab + token).
std::vector<ScoredIndex> merge_candidates(const std::vector<std::vector<ScoredIndex>>& rows, size_t count) {
  std::vector<ScoredIndex> all;
  for (const auto& r : rows) all.insert(all.end(), r.begin(), r.end());
  std::sort(all.begin(), all.end(), ranks_before);
  if (all.size() > count) all.resize(count);
  return all;
}

// GenerationMixin.beam_search + BeamSearchScorer.process / finalize, batch size 1.
Result<std::vector<GeneratedSequence>> run_beam_search(StepModel& model, const GenerateOptions& o,
                                                       const SpecialTokens& sp,
                                                       const GenerateHooks& hooks) {
  const int64_t vocab = model.vocab_size();
  const size_t k = static_cast<size_t>(o.num_beams);
  Hypotheses hyps{o.num_beams, o.length_penalty, o.early_stopping, o.max_new_tokens, {}, 1e9};

  std::vector<std::vector<int32_t>> hist(k, std::vector<int32_t>{sp.decoder_start});
  std::vector<float> beam_scores(k, -1e9f);
  beam_scores[0] = 0.0f;  // the first step expands only beam 0
  // Before the first step all beams are the same empty hypothesis: one model row serves them.
  std::vector<int32_t> row_of_beam(k, 0);
  std::vector<int32_t> parents{0}, tokens{sp.decoder_start};
  MBLIP_RETURN_IF_ERROR(model.begin(1));

  std::vector<float> logits, scores(k * static_cast<size_t>(vocab));
  // The beams' candidate lists are reserved here so that the pooled per-beam work allocates nothing
  // (nor do the logits processors). In headless Chromium (pthreads, growing memory) a reserve inside
  // the pooled lambda made the quality tests' beam searches trap "memory access out of bounds" in the
  // caller; without memory growth, or with the reserve here, they pass.
  std::vector<std::vector<ScoredIndex>> row_cand(k);
  for (auto& r : row_cand) r.reserve(2 * k);
  bool done = false;
  for (int t = 0; t < o.max_new_tokens; ++t) {
    MBLIP_RETURN_IF_ERROR(check_cancel(hooks));
    logits.resize(parents.size() * static_cast<size_t>(vocab));
    MBLIP_RETURN_IF_ERROR(model.step(parents, tokens, logits.data()));
    // Each beam's scores and its 2k best, independent of the other beams: on the model's pool.
    auto beam_row = [&](size_t b) {
      float* s = scores.data() + b * static_cast<size_t>(vocab);
      const float* l = logits.data() + static_cast<size_t>(row_of_beam[b]) * static_cast<size_t>(vocab);
      std::copy(l, l + vocab, s);
      log_softmax(s, vocab);                       // scores are log-probs before processing
      process_row(s, vocab, hist[b], t, o, sp);
      ops::add_scalar(s, static_cast<size_t>(vocab), beam_scores[b]);  // float32 like torch
      top_scores(s, vocab, static_cast<int64_t>(b) * vocab, 2 * k, row_cand[b]);
    };
    if (ThreadPool* pool = model.worker_pool()) {
      pool->parallel_for(k, beam_row);
    } else {
      for (size_t b = 0; b < k; ++b) beam_row(b);
    }
    const std::vector<ScoredIndex> cand = merge_candidates(row_cand, 2 * k);

    // BeamSearchScorer.process
    std::vector<int32_t> next_beam, next_token;
    std::vector<float> next_score;
    for (size_t rank = 0; rank < cand.size() && next_beam.size() < k; ++rank) {
      const int32_t beam = static_cast<int32_t>(cand[rank].index / vocab);
      const int32_t tok = static_cast<int32_t>(cand[rank].index % vocab);
      if (tok == sp.eos) {
        if (rank >= k) continue;  // eos only counts among the first num_beams candidates
        hyps.add(hist[beam], cand[rank].score, t + 1, true);
      } else {
        next_beam.push_back(beam);
        next_token.push_back(tok);
        next_score.push_back(cand[rank].score);
      }
    }
    if (next_beam.size() < k)
      return internal_error("beam search: fewer than num_beams non-eos candidates (vocabulary too small?)");
    done = hyps.is_done(static_cast<double>(cand[0].score), t + 1);

    std::vector<std::vector<int32_t>> new_hist(k);
    std::vector<int32_t> new_parents(k);
    for (size_t j = 0; j < k; ++j) {
      new_hist[j] = hist[next_beam[j]];
      new_hist[j].push_back(next_token[j]);
      new_parents[j] = row_of_beam[next_beam[j]];
    }
    hist.swap(new_hist);
    beam_scores = next_score;
    for (size_t j = 0; j < k; ++j) row_of_beam[j] = static_cast<int32_t>(j);
    parents.swap(new_parents);
    tokens = next_token;
    MBLIP_RETURN_IF_ERROR(report(hooks, t + 1, hist[0], true));
    if (done) break;
  }

  // BeamSearchScorer.finalize: at the length limit the running beams become hypotheses.
  if (!done) {
    for (size_t j = 0; j < k; ++j)
      hyps.add(hist[j], beam_scores[j], static_cast<int>(hist[j].size()) - 1, false);
  }
  std::vector<Hypotheses::Hyp> sorted = hyps.beams;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Hypotheses::Hyp& a, const Hypotheses::Hyp& b) { return a.score < b.score; });
  std::vector<GeneratedSequence> out;
  for (int i = 0; i < o.num_return_sequences && !sorted.empty(); ++i) {
    const Hypotheses::Hyp& h = sorted.back();
    GeneratedSequence g;
    g.tokens.assign(h.history.begin() + 1, h.history.end());
    if (h.eos) g.tokens.push_back(sp.eos);
    g.ended_with_eos = h.eos;
    g.score = h.score;
    out.push_back(std::move(g));
    sorted.pop_back();
  }
  return out;
}

}  // namespace

Result<std::vector<GeneratedSequence>> generate_tokens(StepModel& model, const GenerateOptions& opts,
                                                       const SpecialTokens& special,
                                                       const GenerateHooks& hooks) {
  // Options were validated by the caller (Session::generate).
  const int64_t vocab = model.vocab_size();
  if (vocab < 2) return invalid_argument("model vocabulary must have at least 2 tokens");
  if (special.eos < 0 || special.eos >= vocab || special.decoder_start < 0 || special.decoder_start >= vocab)
    return invalid_argument("eos / decoder start token id outside the vocabulary");
  if (opts.num_beams > 1) return run_beam_search(model, opts, special, hooks);
  return run_greedy_or_sample(model, opts, special, hooks);
}

}  // namespace mblip
