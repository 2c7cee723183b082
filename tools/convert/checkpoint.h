// Finds and indexes the weights of a Hugging Face checkpoint directory: model.safetensors,
// model.safetensors.index.json (shards), pytorch_model.bin or pytorch_model.bin.index.json.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "mblip/status.h"
#include "source_tensor.h"

namespace mblip {

struct Checkpoint {
  std::string format;                         // "safetensors" or "bin"
  std::vector<std::string> files;             // weight files read
  std::map<std::string, SourceTensor> tensors;  // HF name -> location
};

// format: "auto" (safetensors preferred), "safetensors" or "bin".
Result<Checkpoint> open_checkpoint(const std::string& dir, const std::string& format);

}  // namespace mblip
