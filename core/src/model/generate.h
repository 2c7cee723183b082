// Text generation over a StepModel with transformers 4.36.2 semantics: greedy search, beam
// search (BeamSearchScorer / BeamHypotheses) and multinomial sampling, with HF's logits
// processors (repetition penalty, no-repeat n-gram, min new tokens) and warpers.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "mblip/mblip.h"
#include "mblip/status.h"
#include "model/step_model.h"

namespace mblip {

struct SpecialTokens {
  int32_t decoder_start = 0, eos = 1, pad = 0;
};

struct GenerateHooks {
  // Called after every decoding step with the tokens generated so far (without the decoder
  // start) of row 0 (greedy / sampling, final) or of the best running beam (beam search,
  // provisional). Return false to cancel.
  std::function<bool(int step, const std::vector<int32_t>& tokens, bool provisional)> on_step;
  const std::atomic<bool>* cancel = nullptr;  // polled before every step
};

struct GeneratedSequence {
  std::vector<int32_t> tokens;  // without decoder start; eos included when produced
  // Beam search: HF's sequences_scores (sum of processed log-probs / length ** length_penalty).
  // Greedy / sampling: sum of log-probs of the chosen tokens under the processed scores.
  double score = 0;
  bool ended_with_eos = false;
};

// Runs generation for one prompt (the StepModel holds its encoder output).
// Returns num_return_sequences sequences, best first (beam search) or in row order (sampling).
Result<std::vector<GeneratedSequence>> generate_tokens(StepModel& model, const GenerateOptions& opts,
                                                       const SpecialTokens& special,
                                                       const GenerateHooks& hooks = {});

}  // namespace mblip
