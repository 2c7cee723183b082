// A Session's execution context: the thread pool shared by XNNPACK operators and our own loops
// (pthreadpool natively and in threaded wasm; one thread: the calling thread) and the per-call
// state of the kernels run on it (kernel states, scratch), so weights stay shared and read-only.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>

struct pthreadpool;

namespace mblip {

// What a kernel keeps per context between calls (e.g. XNNPACK operator instances with their
// reshape state, kernels/linear_xnnpack.cpp). Owned by the ThreadPool, destroyed with it.
class KernelState {
 public:
  virtual ~KernelState() = default;
};

class ThreadPool {
 public:
  // A task body: fn(ctx, i).
  using TaskFn = void (*)(void* ctx, size_t i);

  // threads <= 0: hardware concurrency. The single-threaded wasm build always uses 1.
  explicit ThreadPool(int threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  // Calls fn(i) for i in [0, n), split across the pool; returns when all are done.
  // fn must not depend on which thread runs which i (results identical for any thread count).
  // The template form (any callable, e.g. a lambda) neither allocates nor type-erases through
  // std::function: it is the one to use in hot paths.
  template <typename F, typename = std::enable_if_t<!std::is_same<std::decay_t<F>, std::function<void(size_t)>>::value>>
  void parallel_for(size_t n, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    parallel_for_raw(n, &invoke<Fn>, const_cast<void*>(static_cast<const void*>(&fn)));
  }
  void parallel_for(size_t n, const std::function<void(size_t)>& fn);
  // Function-pointer form: fn(ctx, i) for i in [0, n).
  void parallel_for_raw(size_t n, TaskFn fn, void* ctx);
  // Raw pthreadpool handle for XNNPACK (nullptr when single-threaded).
  pthreadpool* handle() const { return pool_; }

  // Per-call kernel state, one per (context, key). Keys are addresses the caller keeps alive
  // while the state exists (a kernel's state holds a reference to its shared weights and uses
  // their address). A context serves one caller thread at a time (a Session is used by one
  // thread at a time); different contexts never share state, so they run in parallel.
  KernelState* find_state(const void* key) const;
  // Stores `s` under `key` (replacing any previous state) and returns it.
  KernelState* put_state(const void* key, std::unique_ptr<KernelState> s);
  // Scratch buffer `slot` (< kScratchSlots) of at least `bytes` bytes, 64-byte aligned; grown
  // when too small (contents are not kept then), never shrunk. nullptr if allocation fails.
  static constexpr int kScratchSlots = 4;
  void* scratch(int slot, size_t bytes);
  // Bytes held by the states' scratch buffers (for memory reports).
  size_t scratch_bytes() const;

 private:
  struct Context;  // thread_pool_state.cpp
  struct ContextDeleter {
    void operator()(Context* c) const;
  };
  std::unique_ptr<Context, ContextDeleter> ctx_;
  template <typename Fn>
  static void invoke(void* ctx, size_t i) {
    (*static_cast<Fn*>(ctx))(i);
  }
  int threads_ = 1;
  pthreadpool* pool_ = nullptr;
};

}  // namespace mblip
