// The one thread pool shared by XNNPACK operators and our own loops. Natively and in the
// threaded wasm build it wraps pthreadpool; with one thread, work runs on the calling thread.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>

struct pthreadpool;

namespace mblip {

class ThreadPool {
 public:
  // threads <= 0: hardware concurrency. The single-threaded wasm build always uses 1.
  explicit ThreadPool(int threads = 1);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  // Calls fn(i) for i in [0, n), split across the pool; returns when all are done.
  // fn must not depend on which thread runs which i (results identical for any thread count).
  void parallel_for(size_t n, const std::function<void(size_t)>& fn);
  // Raw pthreadpool handle for XNNPACK (nullptr when single-threaded).
  pthreadpool* handle() const { return pool_; }

 private:
  int threads_ = 1;
  pthreadpool* pool_ = nullptr;
};

}  // namespace mblip
