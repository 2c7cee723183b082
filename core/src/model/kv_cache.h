// Self-attention key/value cache of the T5 decoder for a set of hypotheses (beam rows).
// Each row owns one buffer [layer][K|V][capacity][inner]; reordering by parents moves buffers
// (O(1)) and copies only for parents chosen more than once, reusing the freed buffers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mblip/status.h"

namespace mblip {

class KvCache {
 public:
  void configure(size_t layers, size_t inner, size_t capacity);
  // Starts over with `rows` empty rows.
  void reset(size_t rows);
  // New row r continues old row parents[r]; the row count becomes parents.size().
  Status reorder(const std::vector<int32_t>& parents);
  // Makes room for `len` positions per row (keeps contents).
  void ensure_capacity(size_t len);
  size_t rows() const { return rows_.size(); }
  size_t len() const { return len_; }
  void set_len(size_t len) { len_ = len; }
  size_t inner() const { return inner_; }
  // Positions per row the buffers hold without growing.
  size_t capacity() const { return capacity_; }
  // Position 0 of row `row`'s keys/values in `layer`; positions are `inner` floats apart.
  float* k(size_t row, size_t layer) { return rows_[row].data() + (2 * layer) * capacity_ * inner_; }
  float* v(size_t row, size_t layer) { return rows_[row].data() + (2 * layer + 1) * capacity_ * inner_; }

 private:
  std::vector<float> take_buffer();
  size_t layers_ = 0, inner_ = 0, capacity_ = 0, len_ = 0;
  std::vector<std::vector<float>> rows_;
  std::vector<std::vector<float>> spare_;  // buffers of dropped rows, reused
  std::vector<std::vector<float>> old_;    // reorder scratch (kept to avoid per-step allocations)
  std::vector<int64_t> holder_;
};

}  // namespace mblip
