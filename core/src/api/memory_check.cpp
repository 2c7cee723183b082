// Memory budget check done by Model::load_* before any weight is packed (see memory_check.h
// and docs/limits.md).
#include "api/memory_check.h"

#include "mblip/mblip.h"
#include "kernels/thread_pool.h"
#include "model/activations.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include <unistd.h>
#ifdef __EMSCRIPTEN__
#include <emscripten/heap.h>
#endif

namespace mblip {

uint64_t estimate_working_bytes(const ModelConfig& c) {
  // The buffers a Session reserves (model/activations.cpp, the one plan of every stage's
  // activations) plus the decoder's per-generation state, at the authors' caption setting.
  const ThreadPool one(1);  // attention scratch for one worker (no threads are started)
  return Activations::bytes(c, ActivationLimits{}, one) + (64ull << 20);
}

uint64_t available_memory_bytes() {
#ifdef __EMSCRIPTEN__
  return static_cast<uint64_t>(emscripten_get_heap_max());
#else
  if (FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    unsigned long long kb = 0;
    bool found = false;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) { found = true; break; }
    std::fclose(f);
    if (found) return static_cast<uint64_t>(kb) * 1024;
  }
#if defined(_SC_AVPHYS_PAGES)
  const long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
#endif
  return 0;
#endif
}

namespace {
std::string mb(uint64_t b) { return std::to_string((b + (1u << 19)) >> 20) + " MB"; }
[[maybe_unused]] std::string gib(uint64_t b) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.2f GiB (%llu bytes)", static_cast<double>(b) / 1073741824.0,
                static_cast<unsigned long long>(b));
  return buf;
}
}  // namespace

Status api::check_model_file_size(uint64_t file_bytes) {
  if (file_bytes == 0) return model_load_error("the model file is empty (0 bytes)");
#ifdef __EMSCRIPTEN__
  const uint64_t limit = 4294967296ull;       // wasm32 address space
  const uint64_t reserve = 64ull << 20;       // code, stacks, the stream buffer, first activations
  if (file_bytes + reserve > limit)
    return model_load_error("the model is " + gib(file_bytes) + " but a wasm32 heap holds at most " + gib(limit) +
                            " (and the runtime needs about " + gib(reserve) +
                            " beside the weights); use a smaller quantization (mblip-convert --weights q4_0) or "
                            "the native runtime");
#endif
  return Status::Ok();
}

Status check_memory_budget(uint64_t model_bytes, const ModelConfig& c) {
  const uint64_t avail = available_memory_bytes();
  if (avail == 0) return Status::Ok();  // unknown: do not guess
  const uint64_t work = estimate_working_bytes(c);
  if (model_bytes + work <= avail) return Status::Ok();
#ifdef __EMSCRIPTEN__
  const std::string limit = "the wasm32 heap maximum of " + mb(avail) + " (4 GB address space)";
#else
  const std::string limit = "the " + mb(avail) + " of memory available (MemAvailable)";
#endif
  return out_of_memory("the model needs about " + mb(model_bytes + work) + " (weights " + mb(model_bytes) +
                       " + working memory " + mb(work) + "), more than " + limit +
                       "; use a more quantized model file, or set LoadOptions.check_available_memory = false to try anyway");
}

Status check_memory_budget(const LoadMemory& need, const ModelConfig& c, uint64_t avail) {
  if (avail == 0) return Status::Ok();
  const uint64_t work = estimate_working_bytes(c);
  const uint64_t total = need.built_bytes + (need.raw_outlives_load ? need.raw_held_bytes + work
                                                                     : std::max(need.raw_held_bytes, work));
  if (total <= avail) return Status::Ok();
#ifdef __EMSCRIPTEN__
  const std::string limit = "the wasm32 heap maximum of " + mb(avail) + " (4 GB address space)";
#else
  const std::string limit = "the " + mb(avail) + " of memory available (MemAvailable)";
#endif
  return out_of_memory("the model needs about " + mb(total) + " (" + mb(need.file_tensor_bytes) +
                       " of tensors in the file, packed for the kernels: weights ~" + mb(need.built_bytes) +
                       (need.raw_outlives_load ? " + the raw file " : " + the larger of the raw bytes held while packing ") +
                       mb(need.raw_held_bytes) + (need.raw_outlives_load ? " + " : " and ") + "the working memory " +
                       mb(work) + "), more than " + limit +
                       "; use a more quantized model file, or set LoadOptions.check_available_memory = false to try anyway");
}

}  // namespace mblip
