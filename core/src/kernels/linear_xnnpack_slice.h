// Internal to kernels/linear_xnnpack.cpp: SliceWeights, the XNNPACK weights-cache provider that
// lets every Session create its own operators on one shared copy of a slice's packed weights.
#pragma once
#include <xnnpack.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace mblip {
namespace xnn_detail {

// Stand-in for weight / bias / scale inputs XNNPACK does not read (its cache has the packed form).
alignas(64) const uint8_t kDummyBytes[64] = {};

// The packed weights of one slice (rows [n0, n0 + ns)), shared read-only by the operator every
// context (Session) creates for it. Operators are created against provider(): while the kernel
// is made (recording) it forwards to the packed-weights store's provider, or packs into a buffer
// of its own when there is no store, and remembers where the packed weights are; afterwards
// (replay) every look-up answers with that entry, so a context's operator is made without the
// weight bytes, without packing and without a copy of the packed weights.
class SliceWeights {
 public:
  SliceWeights(xnn_weights_cache_t base, size_t n0, size_t ns) : base_(base), n0_(n0), ns_(ns) {
    provider_.context = this;
    provider_.look_up = &look_up;
    provider_.reserve_space = &reserve_space;
    provider_.look_up_or_insert = &look_up_or_insert;
    provider_.is_finalized = &is_finalized;
    provider_.offset_to_addr = &offset_to_addr;
    provider_.delete_cache = &delete_cache;
  }
  ~SliceWeights() {
    if (own_) ::operator delete(own_, std::align_val_t(kOwnAlign));
  }
  SliceWeights(const SliceWeights&) = delete;
  SliceWeights& operator=(const SliceWeights&) = delete;

  xnn_weights_cache_t provider() { return &provider_; }
  size_t n0() const { return n0_; }
  size_t rows() const { return ns_; }
  // Ends recording; false when no packed weights were recorded (an XNNPACK change).
  bool finish_recording() {
    recording_ = false;
    return offset_ != kNotFound;
  }

 private:
  static constexpr size_t kNotFound = SIZE_MAX;  // XNNPACK's XNN_CACHE_NOT_FOUND
  static constexpr size_t kOwnAlign = 128;       // >= XNN_ALLOCATION_ALIGNMENT on every target
  static SliceWeights* self(void* c) { return static_cast<SliceWeights*>(c); }
  static size_t look_up(void* c, const xnn_weights_cache_look_up_key* key) {
    SliceWeights* s = self(c);
    if (!s->recording_) return s->offset_;
    if (!s->base_) return kNotFound;
    const size_t r = s->base_->look_up(s->base_->context, key);
    if (r != kNotFound) s->offset_ = r;
    return r;
  }
  static void* reserve_space(void* c, size_t n) {
    SliceWeights* s = self(c);
    if (!s->recording_) return nullptr;
    if (s->base_) return s->base_->reserve_space(s->base_->context, n);
    if (s->own_) ::operator delete(s->own_, std::align_val_t(kOwnAlign));
    s->own_ = ::operator new(n, std::align_val_t(kOwnAlign), std::nothrow);
    return s->own_;
  }
  static size_t look_up_or_insert(void* c, const xnn_weights_cache_look_up_key* key, void* ptr, size_t size) {
    SliceWeights* s = self(c);
    if (!s->recording_) return s->offset_;
    s->offset_ = s->base_ ? s->base_->look_up_or_insert(s->base_->context, key, ptr, size) : 0;
    return s->offset_;
  }
  static bool is_finalized(void* c) {
    SliceWeights* s = self(c);
    return s->base_ ? s->base_->is_finalized(s->base_->context) : !s->recording_;
  }
  static void* offset_to_addr(void* c, size_t offset) {
    SliceWeights* s = self(c);
    if (s->base_) return s->base_->offset_to_addr(s->base_->context, offset);
    return static_cast<uint8_t*>(s->own_) + offset;
  }
  static xnn_status delete_cache(void*) { return xnn_status_success; }  // owned by the kernel

  xnn_weights_cache_provider provider_{};
  xnn_weights_cache_t base_;  // the store's provider, or nullptr
  size_t n0_, ns_;
  size_t offset_ = kNotFound;
  void* own_ = nullptr;  // packed weights when there is no store
  bool recording_ = true;
};

}  // namespace xnn_detail
}  // namespace mblip
