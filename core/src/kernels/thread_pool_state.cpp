// ThreadPool's per-context kernel state and scratch (thread_pool.h): what makes a Session's pool
// its execution context. Built with and without XNNPACK.
#include <new>
#include <unordered_map>

#include "kernels/thread_pool.h"

namespace mblip {

namespace {
constexpr size_t kScratchAlign = 64;

struct AlignedFree {
  void operator()(void* p) const { ::operator delete(p, std::align_val_t(kScratchAlign)); }
};
}  // namespace

struct ThreadPool::Context {
  std::unordered_map<const void*, std::unique_ptr<KernelState>> states;
  struct Scratch {
    std::unique_ptr<void, AlignedFree> buf;
    size_t bytes = 0;
  } scratch[kScratchSlots];
  // Last look-up (consecutive calls of one kernel, e.g. a slice loop, skip the hash).
  const void* last_key = nullptr;
  KernelState* last_state = nullptr;
};

void ThreadPool::ContextDeleter::operator()(Context* c) const { delete c; }

KernelState* ThreadPool::find_state(const void* key) const {
  if (!ctx_) return nullptr;
  if (ctx_->last_key == key) return ctx_->last_state;
  auto it = ctx_->states.find(key);
  if (it == ctx_->states.end()) return nullptr;
  ctx_->last_key = key;
  ctx_->last_state = it->second.get();
  return it->second.get();
}

KernelState* ThreadPool::put_state(const void* key, std::unique_ptr<KernelState> s) {
  if (!ctx_) ctx_.reset(new Context());
  KernelState* p = s.get();
  ctx_->states[key] = std::move(s);
  ctx_->last_key = key;
  ctx_->last_state = p;
  return p;
}

void* ThreadPool::scratch(int slot, size_t bytes) {
  if (slot < 0 || slot >= kScratchSlots) return nullptr;
  if (!ctx_) ctx_.reset(new Context());
  Context::Scratch& s = ctx_->scratch[slot];
  if (s.bytes < bytes || !s.buf) {
    s.buf.reset();
    s.bytes = 0;
    void* p = ::operator new(bytes ? bytes : 1, std::align_val_t(kScratchAlign), std::nothrow);
    if (!p) return nullptr;
    s.buf.reset(p);
    s.bytes = bytes;
  }
  return s.buf.get();
}

size_t ThreadPool::scratch_bytes() const {
  size_t n = 0;
  if (ctx_)
    for (const auto& s : ctx_->scratch) n += s.bytes;
  return n;
}

}  // namespace mblip
