// Load-time memory budget: the bytes a model needs (weights + an estimate of one Session's
// working memory) against what this process can get (native: MemAvailable; wasm: heap maximum).
#pragma once
#include <cstdint>

#include "mblip/status.h"
#include "model/config.h"

namespace mblip {

// Activations, KV caches and logits of one Session at the authors' caption setting (beam 5,
// 50 new tokens, a 64-token prompt: Activations::bytes, model/activations.h), plus a fixed
// 64 MB for stacks, tokenizer and allocator.
uint64_t estimate_working_bytes(const ModelConfig& c);

// Native: /proc/meminfo MemAvailable (else sysconf free pages); wasm: the heap maximum
// (emscripten_get_heap_max, at most 4 GB). 0 when unknown.
uint64_t available_memory_bytes();

// kOutOfMemory with the numbers when model_bytes + working bytes exceed available memory
// (no check when the available memory is unknown).
Status check_memory_budget(uint64_t model_bytes, const ModelConfig& c);

// What loading needs besides working memory: the built weights (packed kernels, vectors) and
// the raw file bytes held at the same time (one tensor when streaming / mmap, the whole file
// for a caller's buffer). file_tensor_bytes is only reported.
struct LoadMemory {
  uint64_t file_tensor_bytes = 0;  // tensor bytes declared by the GGUF header
  uint64_t built_bytes = 0;        // estimated packed weights + f32 vectors + embeddings
  uint64_t raw_held_bytes = 0;     // raw bytes resident at the same time (peak)
  // The raw bytes stay after the load (a caller's buffer); otherwise (mmap, stream) they are
  // released before a Session reserves its working memory, so only the larger of the two counts.
  bool raw_outlives_load = false;
};
// Same check, with a message naming every part; `avail`: available_memory_bytes() (0: no check).
Status check_memory_budget(const LoadMemory& need, const ModelConfig& c, uint64_t avail);

}  // namespace mblip
