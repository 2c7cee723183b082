// Weight element types (ggml numbering, as stored in GGUF) and a non-owning tensor view.
// Quantization is a property of a tensor: kernels dispatch on TensorView::type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mblip/status.h"

namespace mblip {

enum class DType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8 };

struct DTypeTraits {
  const char* name;      // "f32", "f16", "q4_0", "q8_0"
  int64_t block_elems;   // elements per block (1 for float types, 32 for q*_0)
  size_t block_bytes;    // bytes per block
};

// False for ggml type ids this runtime does not implement.
bool dtype_supported(uint32_t ggml_type);
const DTypeTraits& dtype_traits(DType t);
inline const char* dtype_name(DType t) { return dtype_traits(t).name; }
// Parses "f32" / "f16" / "q8_0" / "q4_0".
Result<DType> dtype_from_name(const std::string& name);
// Bytes of `elems` contiguous elements; error if elems is not a multiple of the block size
// or the byte count overflows.
Result<size_t> dtype_bytes(DType t, int64_t elems);

// A tensor inside a loaded model file. `shape` is in Hugging Face / row-major order
// (outermost first): a linear weight is {out_features, in_features}. Rows are contiguous.
struct TensorView {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const;
  int64_t dim(size_t i) const { return shape.at(i); }
  int64_t rows() const;  // product of all but the last dim (1 for 1-D)
  int64_t cols() const;  // last dim
};

}  // namespace mblip
