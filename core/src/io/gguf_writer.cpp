// Streaming GGUF v3 writer: header + metadata + tensor infos, then each tensor's bytes produced
// on demand and padded to the alignment; written to `path.tmp`, fsync'ed, renamed to `path`.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

#include "io/gguf.h"

namespace mblip {
namespace {

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

class Buf {
 public:
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void str(const std::string& s) {
    u64(s.size());
    b_.insert(b_.end(), s.begin(), s.end());
  }
  void bytes(const std::vector<uint8_t>& r) { b_.insert(b_.end(), r.begin(), r.end()); }
  void value(const GgufValue& v) {
    switch (v.type) {
      case GgufType::STRING: str(v.s); return;
      case GgufType::ARRAY: {
        u32(static_cast<uint32_t>(v.array_type));
        const size_t es = gguf_scalar_size(v.array_type);
        if (es) {
          u64(v.raw.size() / es);
          b_.insert(b_.end(), v.raw.begin(), v.raw.begin() + static_cast<std::ptrdiff_t>(v.raw.size() / es * es));
        } else {
          u64(v.array.size());
          for (const auto& e : v.array) value(e);
        }
        return;
      }
      default: {
        // Encode through a one-element array so scalar and array encodings are the same code.
        GgufValue one = GgufValue::make_array(v.type, {v});
        bytes(one.raw);
        return;
      }
    }
  }
  std::vector<uint8_t>& data() { return b_; }

 private:
  void le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b_.push_back(static_cast<uint8_t>(v >> (8 * k)));
  }
  std::vector<uint8_t> b_;
};

// Nested values must have consistent element types (the file cannot express anything else).
Status check_value(const std::string& key, const GgufValue& v, int depth) {
  if (static_cast<uint32_t>(v.type) > static_cast<uint32_t>(GgufType::FLOAT64))
    return invalid_argument("metadata key '" + key + "' has an unknown value type");
  if (v.type != GgufType::ARRAY) return Status::Ok();
  if (depth >= kGgufMaxArrayNesting) return invalid_argument("metadata key '" + key + "' nests arrays too deeply");
  if (static_cast<uint32_t>(v.array_type) > static_cast<uint32_t>(GgufType::FLOAT64))
    return invalid_argument("metadata key '" + key + "' has an unknown array element type");
  const size_t es = gguf_scalar_size(v.array_type);
  if (es && (v.raw.size() % es != 0 || !v.array.empty()))
    return invalid_argument("metadata key '" + key + "': numeric array must be packed in raw");
  for (const auto& e : v.array) {
    if (e.type != v.array_type)
      return invalid_argument("metadata key '" + key + "': array element of type " + gguf_type_name(e.type) +
                              " in an array of " + gguf_type_name(v.array_type));
    MBLIP_RETURN_IF_ERROR(check_value(key, e, depth + 1));
  }
  return Status::Ok();
}

class TmpFile {
 public:
  explicit TmpFile(std::string path) : path_(std::move(path)) {}
  ~TmpFile() {
    if (f_) std::fclose(f_);
    if (!committed_) std::remove(path_.c_str());
  }
  Status open() {
    f_ = std::fopen(path_.c_str(), "wb");
    if (!f_) return io_error("cannot create '" + path_ + "': " + std::strerror(errno));
    return Status::Ok();
  }
  Status write(const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f_) != n) return io_error("writing '" + path_ + "' failed: " + std::strerror(errno));
    return Status::Ok();
  }
  Status pad(uint64_t n) {
    static const uint8_t zeros[64] = {0};
    while (n > 0) {
      size_t k = n > sizeof(zeros) ? sizeof(zeros) : static_cast<size_t>(n);
      MBLIP_RETURN_IF_ERROR(write(zeros, k));
      n -= k;
    }
    return Status::Ok();
  }
  Status finish_and_rename(const std::string& dest) {
    if (std::fflush(f_) != 0) return io_error("writing '" + path_ + "' failed: " + std::strerror(errno));
    if (::fsync(fileno(f_)) != 0 && errno != EINVAL && errno != ENOSYS)
      return io_error("fsync of '" + path_ + "' failed: " + std::strerror(errno));
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) return io_error("closing '" + path_ + "' failed: " + std::strerror(errno));
    if (std::rename(path_.c_str(), dest.c_str()) != 0)
      return io_error("renaming '" + path_ + "' to '" + dest + "' failed: " + std::strerror(errno));
    committed_ = true;
    return Status::Ok();
  }

 private:
  std::string path_;
  FILE* f_ = nullptr;
  bool committed_ = false;
};

}  // namespace

GgufWriter::GgufWriter(size_t alignment) : alignment_(alignment) {}

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

Status GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> shape) {
  if (name.empty() || name.size() > kGgufMaxNameLength)
    return invalid_argument("tensor name '" + name + "' must be 1.." + std::to_string(kGgufMaxNameLength) + " bytes");
  for (const auto& d : tensors_)
    if (d.name == name) return invalid_argument("duplicate tensor name '" + name + "'");
  if (!dtype_supported(static_cast<uint32_t>(type)))
    return invalid_argument("tensor '" + name + "' has an unsupported type");
  if (shape.empty() || shape.size() > kGgufMaxDims)
    return invalid_argument("tensor '" + name + "' must have 1.." + std::to_string(kGgufMaxDims) + " dims");
  int64_t numel = 1;
  for (auto d : shape) {
    if (d < 1) return invalid_argument("tensor '" + name + "' has a dim < 1");
    if (numel > INT64_MAX / d) return invalid_argument("tensor '" + name + "' element count overflows");
    numel *= d;
  }
  const auto& tr = dtype_traits(type);
  if (shape.back() % tr.block_elems != 0)
    return invalid_argument("tensor '" + name + "' last dim " + std::to_string(shape.back()) +
                            " is not a multiple of the " + tr.name + " block size " + std::to_string(tr.block_elems));
  auto nb = dtype_bytes(type, numel);
  if (!nb.ok()) return invalid_argument("tensor '" + name + "': " + nb.status().message());
  uint64_t offset = 0;
  if (!tensors_.empty()) {
    const auto& last = tensors_.back();
    offset = align_up(last.offset + last.nbytes, alignment_ ? alignment_ : 1);
  }
  tensors_.push_back({name, type, std::move(shape), nb.value(), offset});
  return Status::Ok();
}

size_t GgufWriter::tensor_count() const { return tensors_.size(); }

uint64_t GgufWriter::tensor_offset(size_t index) const { return index < tensors_.size() ? tensors_[index].offset : 0; }

size_t GgufWriter::tensor_nbytes(size_t index) const { return index < tensors_.size() ? tensors_[index].nbytes : 0; }

Status GgufWriter::write_chunked(const std::string& path, const ChunkedProducer& produce,
                                 const Progress& progress) const {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0 || alignment_ > (1u << 30))
    return invalid_argument("GGUF alignment " + std::to_string(alignment_) + " is not a power of two");
  if (!tensors_.empty() && !produce) return invalid_argument("GGUF writer: no tensor producer");

  // Header, metadata (general.alignment first), tensor infos.
  std::vector<std::pair<std::string, GgufValue>> kv;
  kv.emplace_back("general.alignment", GgufValue::make_u32(static_cast<uint32_t>(alignment_)));
  for (const auto& e : kv_)
    if (e.first != "general.alignment") kv.push_back(e);
  Buf h;
  h.bytes({'G', 'G', 'U', 'F'});
  h.u32(3);
  h.u64(tensors_.size());
  h.u64(kv.size());
  for (const auto& e : kv) {
    if (e.first.empty() || e.first.size() > kGgufMaxKeyLength)
      return invalid_argument("metadata key '" + e.first.substr(0, 80) + "' has an invalid length");
    MBLIP_RETURN_IF_ERROR(check_value(e.first, e.second, 0));
    h.str(e.first);
    h.u32(static_cast<uint32_t>(e.second.type));
    h.value(e.second);
  }
  for (const auto& t : tensors_) {
    h.str(t.name);
    h.u32(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) h.u64(static_cast<uint64_t>(*it));  // ggml order
    h.u32(static_cast<uint32_t>(t.type));
    h.u64(t.offset);
  }
  const uint64_t header_size = h.data().size();
  const uint64_t data_start = align_up(header_size, alignment_);

  TmpFile out(path + ".tmp");
  MBLIP_RETURN_IF_ERROR(out.open());
  MBLIP_RETURN_IF_ERROR(out.write(h.data().data(), h.data().size()));
  MBLIP_RETURN_IF_ERROR(out.pad(data_start - header_size));
  std::vector<uint8_t>().swap(h.data());

  uint64_t pos = 0;  // relative to data_start
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const auto& t = tensors_[k];
    MBLIP_RETURN_IF_ERROR(out.pad(t.offset - pos));
    // The sink counts bytes and remembers its first error, so a producer that ignores the
    // sink's status still fails the write.
    uint64_t got = 0;
    Status sink_error = Status::Ok();
    const Sink sink = [&](const uint8_t* p, size_t n) -> Status {
      if (!sink_error.ok()) return sink_error;
      if (n > t.nbytes - got) {
        sink_error = invalid_argument("tensor '" + t.name + "': producer gave more than the declared " +
                                      std::to_string(t.nbytes) + " bytes (" + std::to_string(got + n) + " so far)");
        return sink_error;
      }
      if (n && !p) {
        sink_error = invalid_argument("tensor '" + t.name + "': producer passed a null chunk");
        return sink_error;
      }
      Status st = out.write(p, n);
      if (!st.ok()) { sink_error = st; return st; }
      got += n;
      return Status::Ok();
    };
    Status st = produce(k, sink);
    if (!sink_error.ok()) return sink_error;
    if (!st.ok()) return st.with_context("tensor '" + t.name + "'");
    if (got != t.nbytes)
      return invalid_argument("tensor '" + t.name + "': producer gave " + std::to_string(got) + " bytes, expected " +
                              std::to_string(t.nbytes));
    pos = t.offset + t.nbytes;
    if (progress) progress(k + 1, tensors_.size());
  }
  MBLIP_RETURN_IF_ERROR(out.pad(align_up(pos, alignment_) - pos));
  return out.finish_and_rename(path);
}

Status GgufWriter::write(const std::string& path, const Producer& produce, const Progress& progress) const {
  if (!tensors_.empty() && !produce) return write_chunked(path, ChunkedProducer(), progress);
  std::vector<uint8_t> buf;
  return write_chunked(
      path,
      [&](size_t index, const Sink& sink) -> Status {
        buf.clear();
        MBLIP_RETURN_IF_ERROR(produce(index, buf));
        return sink(buf.data(), buf.size());
      },
      progress);
}

}  // namespace mblip
