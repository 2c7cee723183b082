// Load-time memory budget: the bytes a model needs (weights + an estimate of one Session's
// working memory) against what this process can get (native: MemAvailable; wasm: heap maximum).
#pragma once
#include <cstdint>

#include "mblip/status.h"
#include "model/config.h"

namespace mblip {

// Activations, KV caches and logits of one Session at the authors' caption setting (beam 5,
// 50 new tokens, a 64-token prompt), plus a fixed 64 MB for stacks, tokenizer and allocator.
uint64_t estimate_working_bytes(const ModelConfig& c);

// Native: /proc/meminfo MemAvailable (else sysconf free pages); wasm: the heap maximum
// (emscripten_get_heap_max, at most 4 GB). 0 when unknown.
uint64_t available_memory_bytes();

// kOutOfMemory with the numbers when model_bytes + working bytes exceed available memory
// (no check when the available memory is unknown).
Status check_memory_budget(uint64_t model_bytes, const ModelConfig& c);

}  // namespace mblip
