// The decoder as seen by generation (greedy / beam / sampling): a stateful object that holds
// one prompt's encoder output and a self-attention KV cache for `rows` hypotheses.
// Implemented by the T5 decoder (model/t5_decoder), used by model/generate.
#pragma once
#include <cstdint>
#include <vector>

#include "mblip/status.h"

namespace mblip {

class ThreadPool;

class StepModel {
 public:
  virtual ~StepModel() = default;
  virtual int64_t vocab_size() const = 0;
  // Starts a new sequence set with `rows` hypotheses, all empty (cache cleared).
  virtual Status begin(size_t rows) = 0;
  // One decoding step. New row r continues old row parents[r] (the cache is reordered
  // accordingly; parents.size() may differ from the previous row count) and appends tokens[r].
  // Writes logits[r * vocab_size() + v] for every row (raw scores, before any processing).
  virtual Status step(const std::vector<int32_t>& parents, const std::vector<int32_t>& tokens,
                      float* logits) = 0;
  // The pool the model runs on, for generation's per-row work between steps (nullptr: none).
  virtual ThreadPool* worker_pool() { return nullptr; }
};

}  // namespace mblip
