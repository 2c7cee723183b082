// ThreadPool: serial fallback used until/unless pthreadpool is linked (see thread_pool_xnnpack.cpp).
#ifndef MBLIP_HAVE_XNNPACK
#include "kernels/thread_pool.h"

namespace mblip {

ThreadPool::ThreadPool(int threads) : threads_(1) { (void)threads; }
ThreadPool::~ThreadPool() = default;

void ThreadPool::parallel_for_raw(size_t n, TaskFn fn, void* ctx) {
  for (size_t i = 0; i < n; ++i) fn(ctx, i);
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  for (size_t i = 0; i < n; ++i) fn(i);
}

}  // namespace mblip
#endif
