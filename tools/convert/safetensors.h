// safetensors reader: validates the JSON header (length, dtypes, shapes, offsets in range,
// sizes = dtype x shape, no overlaps) and lists tensors with absolute file offsets.
// Format: 8-byte little-endian header length N, N bytes of JSON, then the data section.
#pragma once
#include <string>
#include <vector>

#include "mblip/status.h"
#include "source_tensor.h"

namespace mblip {

// Lists every tensor of one .safetensors file (bytes are not read).
Result<std::vector<SourceTensor>> read_safetensors_index(const std::string& path);

}  // namespace mblip
