// Reading rows of checkpoint tensors as float32 (f32 / f16 / bf16 sources, strided gathers).
#include "source_tensor.h"

#include <cstring>

#include "io/quant.h"

namespace mblip {

int64_t SourceTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool SourceTensor::contiguous() const {
  if (strides.empty()) return true;
  int64_t expect = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1 && strides[i] != expect) return false;
    expect *= shape[i];
  }
  return true;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Result<uint64_t> file_size_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return io_error("cannot open '" + path + "'");
  std::streamoff n = f.tellg();
  if (n < 0) return io_error("cannot determine the size of '" + path + "'");
  return static_cast<uint64_t>(n);
}

Status read_exact(std::ifstream& f, const std::string& path, uint64_t offset, void* dst, size_t n) {
  f.clear();
  f.seekg(static_cast<std::streamoff>(offset), std::ios::beg);
  if (!f) return io_error("cannot seek to byte " + std::to_string(offset) + " of '" + path + "'");
  if (n == 0) return Status::Ok();
  f.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
  if (static_cast<size_t>(f.gcount()) != n)
    return io_error("'" + path + "' is truncated: cannot read " + std::to_string(n) + " bytes at offset " +
                    std::to_string(offset));
  return Status::Ok();
}

Result<std::ifstream*> TensorReader::open(const std::string& path) {
  auto it = files_.find(path);
  if (it != files_.end()) return it->second.get();
  auto f = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*f) return io_error("cannot open '" + path + "'");
  std::ifstream* p = f.get();
  files_[path] = std::move(f);
  return p;
}

namespace {

void to_f32(SrcDType t, const uint8_t* src, float* dst, int64_t n) {
  switch (t) {
    case SrcDType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      break;
    case SrcDType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = fp16_to_fp32(h);
      }
      break;
    case SrcDType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      break;
    case SrcDType::Other:
      break;
  }
}

}  // namespace

Status TensorReader::read_rows(const SourceTensor& t, int64_t row0, int64_t nrows, float* out) {
  if (t.dtype == SrcDType::Other)
    return unsupported("tensor '" + t.name + "' has element type " + t.dtype_name +
                       " (only float32, float16 and bfloat16 weights can be converted)");
  MBLIP_ASSIGN_OR_RETURN(std::ifstream * f, open(t.file));
  const int64_t cols = t.cols();
  if (nrows <= 0 || cols == 0) return Status::Ok();
  if (t.contiguous()) {
    const size_t n = static_cast<size_t>(nrows * cols) * t.elem_size;
    buf_.resize(n);
    MBLIP_RETURN_IF_ERROR(
        read_exact(*f, t.file, t.offset + static_cast<uint64_t>(row0 * cols) * t.elem_size, buf_.data(), n));
    to_f32(t.dtype, buf_.data(), out, nrows * cols);
    return Status::Ok();
  }
  // Strided storage (rare in checkpoints): gather row by row, element by element when the
  // last dimension is itself strided.
  const size_t nd = t.shape.size();
  const int64_t last_stride = t.strides.back();
  buf_.resize(static_cast<size_t>(cols) * t.elem_size);
  for (int64_t r = row0; r < row0 + nrows; ++r) {
    int64_t rem = r, elem = 0;
    for (size_t k = nd - 1; k-- > 0;) {
      elem += (rem % t.shape[k]) * t.strides[k];
      rem /= t.shape[k];
    }
    const uint64_t base = t.offset + static_cast<uint64_t>(elem) * t.elem_size;
    if (last_stride == 1 || cols == 1) {
      MBLIP_RETURN_IF_ERROR(read_exact(*f, t.file, base, buf_.data(), buf_.size()));
    } else {
      for (int64_t c = 0; c < cols; ++c)
        MBLIP_RETURN_IF_ERROR(read_exact(*f, t.file, base + static_cast<uint64_t>(c * last_stride) * t.elem_size,
                                         buf_.data() + c * t.elem_size, t.elem_size));
    }
    to_f32(t.dtype, buf_.data(), out + (r - row0) * cols, cols);
  }
  return Status::Ok();
}

}  // namespace mblip
