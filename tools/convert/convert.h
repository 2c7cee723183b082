// mblip-convert as a library: Hugging Face BLIP-2 / mBLIP checkpoint directory -> one GGUF.
// Used by the CLI (tools/convert/main.cpp) and by the tests (natively and in wasm).
#pragma once
#include <functional>
#include <map>
#include <string>

#include "io/tensor.h"
#include "mblip/status.h"
#include "model/tensor_names.h"

namespace mblip {

struct ConvertOptions {
  std::string input_dir;      // config.json, preprocessor_config.json, spiece.model, weights
  std::string output_path;    // written as output_path.tmp then renamed
  DType weights = DType::F32; // default type of matrix weights
  std::map<Component, DType> overrides;  // per-component weight type
  bool force = false;         // overwrite an existing output
  // Called as tensors are written (done, total); may be empty.
  std::function<void(size_t done, size_t total, const std::string& name)> progress;
};

Status convert_checkpoint(const ConvertOptions& opts);

}  // namespace mblip
