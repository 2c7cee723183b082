// DType traits and TensorView helpers.
#include "io/tensor.h"

#include <limits>

namespace mblip {

bool dtype_supported(uint32_t t) { return t == 0 || t == 1 || t == 2 || t == 8; }

const DTypeTraits& dtype_traits(DType t) {
  static const DTypeTraits kF32{"f32", 1, 4}, kF16{"f16", 1, 2}, kQ4{"q4_0", 32, 18}, kQ8{"q8_0", 32, 34};
  switch (t) {
    case DType::F16: return kF16;
    case DType::Q4_0: return kQ4;
    case DType::Q8_0: return kQ8;
    case DType::F32: break;
  }
  return kF32;
}

Result<DType> dtype_from_name(const std::string& n) {
  if (n == "f32") return DType::F32;
  if (n == "f16") return DType::F16;
  if (n == "q8_0") return DType::Q8_0;
  if (n == "q4_0") return DType::Q4_0;
  return invalid_argument("unknown weight type '" + n + "' (expected f32, f16, q8_0 or q4_0)");
}

Result<size_t> dtype_bytes(DType t, int64_t elems) {
  const auto& tr = dtype_traits(t);
  if (elems < 0) return invalid_argument("negative element count");
  if (elems % tr.block_elems != 0)
    return invalid_argument(std::to_string(elems) + " elements is not a multiple of the " + tr.name +
                            " block size " + std::to_string(tr.block_elems));
  uint64_t blocks = static_cast<uint64_t>(elems / tr.block_elems);
  if (blocks > std::numeric_limits<size_t>::max() / tr.block_bytes)
    return invalid_argument("tensor byte size overflows");
  return static_cast<size_t>(blocks * tr.block_bytes);
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int64_t TensorView::rows() const {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) n *= shape[i];
  return n;
}

int64_t TensorView::cols() const { return shape.empty() ? 1 : shape.back(); }

}  // namespace mblip
