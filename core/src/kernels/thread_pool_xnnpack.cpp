// ThreadPool over pthreadpool (the pool XNNPACK runs on). With one thread there is no pool:
// handle() is nullptr and both XNNPACK and parallel_for run on the calling thread.
#include <pthreadpool.h>

#include <thread>

#include "kernels/thread_pool.h"

namespace mblip {

ThreadPool::ThreadPool(int threads) {
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
  threads = 1;  // single-threaded wasm: pthreadpool is its serial shim
#endif
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  if (threads > 1) pool_ = pthreadpool_create(static_cast<size_t>(threads));
  threads_ = pool_ ? static_cast<int>(pthreadpool_get_threads_count(pool_)) : 1;
}

ThreadPool::~ThreadPool() {
  if (pool_) pthreadpool_destroy(pool_);
}

namespace {
void run_one(void* ctx, size_t i) { (*static_cast<const std::function<void(size_t)>*>(ctx))(i); }
}  // namespace

void ThreadPool::parallel_for_raw(size_t n, TaskFn fn, void* ctx) {
  if (n == 0) return;
  if (!pool_ || n == 1) {
    for (size_t i = 0; i < n; ++i) fn(ctx, i);
    return;
  }
  // pthreadpool's task signature is (void*, size_t): the same as TaskFn.
  pthreadpool_parallelize_1d(pool_, fn, ctx, n, 0);
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  parallel_for_raw(n, &run_one, const_cast<std::function<void(size_t)>*>(&fn));
}

}  // namespace mblip
