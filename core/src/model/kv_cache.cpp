// KvCache (see kv_cache.h): the cache reordering of beam search (HF _reorder_cache /
// index_select over the beam dimension) without a second full copy of the cache.
#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace mblip {

void KvCache::configure(size_t layers, size_t inner, size_t capacity) {
  capacity = std::max<size_t>(capacity, 1);
  // Row buffers of the same size are kept as spares (a reused cache does not allocate);
  // take_buffer() drops those of another size.
  const bool same = layers == layers_ && inner == inner_ && capacity == capacity_;
  layers_ = layers;
  inner_ = inner;
  capacity_ = capacity;
  if (same) {
    for (auto& r : rows_) spare_.push_back(std::move(r));
  } else {
    spare_.clear();
  }
  rows_.clear();
  len_ = 0;
}

std::vector<float> KvCache::take_buffer() {
  const size_t n = 2 * layers_ * capacity_ * inner_;
  while (!spare_.empty()) {
    std::vector<float> b = std::move(spare_.back());
    spare_.pop_back();
    if (b.size() == n) return b;
  }
  return std::vector<float>(n);
}

void KvCache::reset(size_t rows) {
  for (auto& r : rows_) spare_.push_back(std::move(r));
  rows_.clear();
  for (size_t i = 0; i < rows; ++i) rows_.push_back(take_buffer());
  len_ = 0;
}

Status KvCache::reorder(const std::vector<int32_t>& parents) {
  const size_t old_n = rows_.size();
  for (int32_t p : parents)
    if (p < 0 || static_cast<size_t>(p) >= old_n)
      return invalid_argument("parent row " + std::to_string(p) + " is out of range (" + std::to_string(old_n) +
                              " rows)");
  bool identity = parents.size() == old_n;
  for (size_t r = 0; identity && r < old_n; ++r) identity = parents[r] == static_cast<int32_t>(r);
  if (identity) return Status::Ok();

  old_.swap(rows_);  // old_ = previous rows; rows_ = moved-from shells
  rows_.resize(parents.size());
  for (auto& r : rows_) std::vector<float>().swap(r);
  holder_.assign(old_n, -1);  // new row that received old row's buffer
  for (size_t r = 0; r < parents.size(); ++r) {
    const size_t p = static_cast<size_t>(parents[r]);
    if (holder_[p] < 0) {
      rows_[r] = std::move(old_[p]);
      holder_[p] = static_cast<int64_t>(r);
    }
  }
  for (auto& b : old_)
    if (!b.empty()) spare_.push_back(std::move(b));
  old_.clear();
  for (size_t r = 0; r < parents.size(); ++r) {
    if (!rows_[r].empty()) continue;
    rows_[r] = take_buffer();
    const std::vector<float>& src = rows_[static_cast<size_t>(holder_[static_cast<size_t>(parents[r])])];
    for (size_t kv = 0; kv < 2 * layers_; ++kv)
      std::memcpy(rows_[r].data() + kv * capacity_ * inner_, src.data() + kv * capacity_ * inner_,
                  len_ * inner_ * sizeof(float));
  }
  return Status::Ok();
}

void KvCache::ensure_capacity(size_t len) {
  if (len <= capacity_) return;
  size_t cap = capacity_;
  while (cap < len) cap *= 2;
  for (auto& r : rows_) {
    std::vector<float> b(2 * layers_ * cap * inner_);
    for (size_t kv = 0; kv < 2 * layers_; ++kv)
      std::memcpy(b.data() + kv * cap * inner_, r.data() + kv * capacity_ * inner_, len_ * inner_ * sizeof(float));
    r = std::move(b);
  }
  spare_.clear();
  capacity_ = cap;
}

}  // namespace mblip
