// A tensor inside an input checkpoint file (safetensors or torch .bin): where its bytes are and
// how to read them, a row range at a time, as float32 (bounded memory, no mmap needed).
#pragma once
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mblip/status.h"

namespace mblip {

enum class SrcDType { F32, F16, BF16, Other };

struct SourceTensor {
  std::string name;
  std::string file;          // path of the file holding the bytes
  SrcDType dtype = SrcDType::F32;
  std::string dtype_name;    // as the source spells it ("F32", "FloatStorage", ...)
  size_t elem_size = 4;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements; empty = row-major contiguous
  uint64_t offset = 0;           // absolute byte offset of element [0,...,0] in `file`

  int64_t numel() const;
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const { return cols() == 0 ? 0 : numel() / cols(); }
  bool contiguous() const;
};

std::string shape_to_string(const std::vector<int64_t>& shape);  // "[3, 4]"
// Size of a file, or an Io error naming it.
Result<uint64_t> file_size_of(const std::string& path);
// Reads exactly `n` bytes at `offset`; errors name the file.
Status read_exact(std::ifstream& f, const std::string& path, uint64_t offset, void* dst, size_t n);

// Reads rows of source tensors as float32. Keeps the files it opened (one handle per shard).
class TensorReader {
 public:
  // Rows are along the last dimension: rows [row0, row0+nrows) -> out (nrows * cols floats).
  Status read_rows(const SourceTensor& t, int64_t row0, int64_t nrows, float* out);

 private:
  Result<std::ifstream*> open(const std::string& path);
  std::map<std::string, std::unique_ptr<std::ifstream>> files_;
  std::vector<uint8_t> buf_;
};

}  // namespace mblip
