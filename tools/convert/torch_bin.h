// PyTorch checkpoint reader (torch.save zip format, zip64 capable, STORED entries only): a
// minimal zip directory reader plus a safe pickle VM that accepts only the opcodes and
// globals torch emits for a state dict of tensors. No Python object is ever executed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mblip/status.h"
#include "source_tensor.h"

namespace mblip {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // absolute offset of the (stored, uncompressed) bytes
  uint64_t size = 0;
  uint16_t method = 0;       // 0 = stored
};

// Reads the central directory (zip64 aware) and resolves each entry's data offset.
Result<std::vector<ZipEntry>> read_zip_directory(const std::string& path);

// Lists every tensor of a torch.save'd state dict (bytes are not read; the pickle is).
Result<std::vector<SourceTensor>> read_torch_bin_index(const std::string& path);

// The pickle VM alone, for tests: parses `pkl` (data.pkl bytes) and returns the tensors
// with `offset` = storage element offset * element size (relative to the storage start)
// and `file` = the storage key. Storage sizes are not checked here.
Result<std::vector<SourceTensor>> parse_state_dict_pickle(const std::string& pkl);

}  // namespace mblip
