// mblip-convert as a library: Hugging Face BLIP-2 / mBLIP checkpoint directory -> one GGUF.
// Used by the CLI (tools/convert/main.cpp) and by the tests (natively and in wasm).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "io/tensor.h"
#include "mblip/status.h"
#include "model/tensor_names.h"
#include "recipe.h"

namespace mblip {

struct ConvertProgress {
  size_t index = 0, total = 0;  // tensor index (1-based once written) of total
  std::string name;             // GGUF name
  DType type = DType::F32;      // stored type
  uint64_t bytes_written = 0;   // tensor bytes produced so far
  double elapsed_s = 0;
};

struct ConvertOptions {
  std::string input_dir;      // config.json, preprocessor_config.json, spiece.model, weights
  std::string output_path;    // written as output_path.tmp then renamed
  DType weights = DType::F32; // default type of matrix weights
  std::map<Component, DType> overrides;  // per-component weight type
  TensorRules tensor_rules;   // per-tensor globs, applied after the overrides (recipe.h)
  // Measurement aid: every matrix weight is quantized to its recipe type and dequantized again,
  // and stored as f32 (the format's rounding without any quantized kernel; recipe name gets
  // " dequantized").
  bool store_dequantized = false;
  bool force = false;         // overwrite an existing output
  // Which weights to read: "auto" (safetensors first, then .bin), "safetensors" or "bin".
  std::string source_format = "auto";
  // Called as tensors are written (done, total); may be empty.
  std::function<void(size_t done, size_t total, const std::string& name)> progress;
  // Called after each tensor with sizes and time; may be empty.
  std::function<void(const ConvertProgress&)> on_tensor;
  // Notes and warnings (f16 fallbacks, unknown extra tensors); may be empty.
  std::function<void(const std::string&)> log;
};

// Sets weights, overrides and tensor rules from `r`.
void set_recipe(ConvertOptions& o, const Recipe& r);

Status convert_checkpoint(const ConvertOptions& opts);

}  // namespace mblip
