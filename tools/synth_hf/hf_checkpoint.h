// mblip-synth-hf as a library: writes a Hugging Face Blip2ForConditionalGeneration checkpoint
// directory with real mBLIP shapes and deterministic random float32 weights, as sharded
// torch.save .bin files or sharded safetensors, streaming one block of rows at a time.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mblip/status.h"
#include "model/config.h"
#include "synth/synth_outliers.h"

namespace mblip {

struct SynthHfOptions {
  std::string out_dir;         // created if missing; existing weight files are replaced
  std::string preset = "mini";  // "full" (Gregor/mblip-mt0-xl shapes), "mini" or "tiny"
  std::string format = "bin";   // "bin" (pytorch_model*.bin) or "safetensors"
  int shards = 1;              // 1: a single file without an index
  uint64_t seed = 1;
  // Planted activation outliers (synth/synth_outliers.h; channels = 0: none). The float model
  // computes the same function either way; quantized recipes see the outliers.
  synth::OutlierOptions outliers;
  // Called after each tensor (done, total, bytes written so far); may be empty.
  std::function<void(size_t done, size_t total, uint64_t bytes)> progress;
};

// Writes config.json, preprocessor_config.json, generation_config.json, spiece.model,
// tokenizer_config.json, special_tokens_map.json and the weights (+ *.index.json if sharded).
Status write_synthetic_hf_checkpoint(const SynthHfOptions& opts);

// The checkpoint writer with an explicit config (the presets call this).
Status write_synthetic_hf_checkpoint(const ModelConfig& cfg, const SynthHfOptions& opts);

// The float32 values the writer stores for `gguf_name` (tensor of `cfg`), row-major: the same
// stream mblip-synth quantizes, except that the key third of the ViT qkv bias is zero, as in
// every BLIP-2 checkpoint (Blip2Attention concatenates q_bias, zeros, v_bias). Small tensors
// only (tests).
std::vector<float> synthetic_tensor_values(const ModelConfig& cfg, const std::string& gguf_name, uint64_t seed,
                                           const synth::OutlierOptions& outliers = {});

}  // namespace mblip
