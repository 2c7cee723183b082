// The one thread pool shared by XNNPACK operators and our own loops. Natively and in the
// threaded wasm build it wraps pthreadpool; with one thread, work runs on the calling thread.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>

struct pthreadpool;

namespace mblip {

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

 private:
  template <typename Fn>
  static void invoke(void* ctx, size_t i) {
    (*static_cast<Fn*>(ctx))(i);
  }
  int threads_ = 1;
  pthreadpool* pool_ = nullptr;
};

}  // namespace mblip
