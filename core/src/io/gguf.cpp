// GGUF v2/v3 reader (ggml docs/gguf.md): parses and validates header, metadata and tensor
// infos against the file bytes with bounded reads; tensor views point into the ByteSource.
#include <algorithm>
#include <cstring>
#include <limits>

#include "io/gguf.h"

namespace mblip {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
    if (out.size() > 80) { out += "..."; break; }
  }
  return out + "'";
}

// Bounds-checked little-endian cursor over the file bytes.
// `size` is the file's size (the bound every sanity check uses); `avail` <= size bytes are
// present at `p`. A read beyond `avail` but inside `size` (streaming: the rest has not arrived
// yet) fails and records in want() how many bytes the parse needs; the caller retries later.
class Cursor {
 public:
  Cursor(const uint8_t* p, uint64_t avail, uint64_t size) : p_(p), avail_(avail), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  uint64_t want() const { return want_; }

  Status need(uint64_t n, const std::string& what) {
    if (n > remaining())
      return model_load_error("GGUF truncated: need " + std::to_string(n) + " bytes for " + what + " at offset " +
                              std::to_string(pos_) + ", file has " + std::to_string(size_) + " bytes");
    if (n > avail_ - pos_) {
      want_ = pos_ + n;
      return model_load_error("GGUF prefix too short for " + what);  // replaced by the caller
    }
    return Status::Ok();
  }
  Status u32(uint32_t* v, const std::string& what) {
    MBLIP_RETURN_IF_ERROR(need(4, what));
    *v = static_cast<uint32_t>(le(4));
    return Status::Ok();
  }
  Status u64(uint64_t* v, const std::string& what) {
    MBLIP_RETURN_IF_ERROR(need(8, what));
    *v = le(8);
    return Status::Ok();
  }
  Status bytes(uint64_t n, const uint8_t** out, const std::string& what) {
    MBLIP_RETURN_IF_ERROR(need(n, what));
    *out = p_ + pos_;
    pos_ += n;
    return Status::Ok();
  }
  Status str(std::string* s, const std::string& what, uint64_t max_len = std::numeric_limits<uint64_t>::max()) {
    uint64_t n = 0;
    MBLIP_RETURN_IF_ERROR(u64(&n, "length of " + what));
    if (n > max_len)
      return model_load_error("GGUF " + what + " length " + std::to_string(n) + " exceeds the limit of " +
                              std::to_string(max_len) + " bytes");
    if (n > remaining())
      return model_load_error("GGUF " + what + " length " + std::to_string(n) + " exceeds the " +
                              std::to_string(remaining()) + " bytes left in the file (string length too large)");
    MBLIP_RETURN_IF_ERROR(need(n, what));
    s->assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(n));
    pos_ += n;
    return Status::Ok();
  }

 private:
  uint64_t le(int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(p_[pos_ + k]) << (8 * k);
    pos_ += n;
    return v;
  }
  const uint8_t* p_;
  uint64_t avail_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t want_ = 0;
};

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::FLOAT64); }

// Smallest number of file bytes one element of type t can occupy.
uint64_t min_elem_bytes(GgufType t) {
  if (t == GgufType::STRING) return 8;
  if (t == GgufType::ARRAY) return 12;
  return gguf_scalar_size(t);
}

Status read_value(Cursor& c, GgufType type, GgufValue* out, const std::string& key, int depth);

Status read_scalar(Cursor& c, GgufType type, GgufValue* out, const std::string& key) {
  const uint8_t* p = nullptr;
  const size_t n = gguf_scalar_size(type);
  MBLIP_RETURN_IF_ERROR(c.bytes(n, &p, std::string(gguf_type_name(type)) + " value of key " + quoted(key)));
  GgufValue tmp;  // a one-element array reuses the element decoder
  tmp.type = GgufType::ARRAY;
  tmp.array_type = type;
  tmp.raw.assign(p, p + n);
  *out = tmp.at(0);
  if (type == GgufType::BOOL && p[0] > 1)
    return model_load_error("GGUF key " + quoted(key) + " has invalid BOOL byte " + std::to_string(p[0]));
  return Status::Ok();
}

Status read_array(Cursor& c, GgufValue* out, const std::string& key, int depth) {
  if (depth >= kGgufMaxArrayNesting)
    return model_load_error("GGUF key " + quoted(key) + ": arrays nested deeper than " +
                            std::to_string(kGgufMaxArrayNesting) + " levels");
  uint32_t et = 0;
  uint64_t n = 0;
  MBLIP_RETURN_IF_ERROR(c.u32(&et, "array element type of key " + quoted(key)));
  if (!valid_value_type(et))
    return model_load_error("GGUF key " + quoted(key) + " has unknown array element type " + std::to_string(et));
  MBLIP_RETURN_IF_ERROR(c.u64(&n, "array length of key " + quoted(key)));
  const auto etype = static_cast<GgufType>(et);
  if (n > c.remaining() / min_elem_bytes(etype))
    return model_load_error("GGUF key " + quoted(key) + ": array length " + std::to_string(n) + " of " +
                            gguf_type_name(etype) + " exceeds the " + std::to_string(c.remaining()) +
                            " bytes left in the file");
  out->type = GgufType::ARRAY;
  out->array_type = etype;
  const size_t es = gguf_scalar_size(etype);
  if (es) {
    const uint8_t* p = nullptr;
    MBLIP_RETURN_IF_ERROR(c.bytes(n * es, &p, "array data of key " + quoted(key)));
    out->raw.assign(p, p + n * es);
    if (etype == GgufType::BOOL)
      for (uint64_t k = 0; k < n; ++k)
        if (p[k] > 1) return model_load_error("GGUF key " + quoted(key) + " has invalid BOOL byte in array");
    return Status::Ok();
  }
  out->array.reserve(static_cast<size_t>(n));
  for (uint64_t k = 0; k < n; ++k) {
    GgufValue e;
    MBLIP_RETURN_IF_ERROR(read_value(c, etype, &e, key, depth + 1));
    out->array.push_back(std::move(e));
  }
  return Status::Ok();
}

Status read_value(Cursor& c, GgufType type, GgufValue* out, const std::string& key, int depth) {
  if (type == GgufType::STRING) {
    out->type = GgufType::STRING;
    return c.str(&out->s, "string value of key " + quoted(key));
  }
  if (type == GgufType::ARRAY) return read_array(c, out, key, depth);
  return read_scalar(c, type, out, key);
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

std::string type_list() { return "supported: F32=0, F16=1, Q4_0=2, Q8_0=8"; }

}  // namespace

Result<std::unique_ptr<GgufFile>> GgufFile::open_path(const std::string& path) {
  MBLIP_ASSIGN_OR_RETURN(auto src, map_file(path));
  auto r = open(std::move(src));
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(std::unique_ptr<ByteSource> bytes) {
  if (!bytes) return model_load_error("GGUF: no bytes");
  const uint8_t* base = bytes->data();
  const uint64_t size = bytes->size();
  if (size > 0 && !base) return model_load_error("GGUF: null buffer");
  uint64_t need = 0;
  MBLIP_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> f, parse(base, size, size, /*with_data=*/true, &need));
  f->bytes_ = std::move(bytes);
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse_header(const uint8_t* data, size_t avail, uint64_t total_size,
                                                         uint64_t* need) {
  if (need) *need = 0;
  if (avail > 0 && !data) return model_load_error("GGUF: null buffer");
  const uint64_t size = total_size ? total_size : std::numeric_limits<uint64_t>::max();
  if (avail > size)
    return model_load_error("GGUF stream has " + std::to_string(avail) + " bytes, more than the declared " +
                            std::to_string(total_size));
  uint64_t want = 0;
  auto r = parse(data, avail, size, /*with_data=*/false, &want);
  if (want) {  // the prefix ended inside the header: not an error yet
    if (need) *need = want;
    return std::unique_ptr<GgufFile>();
  }
  return r;
}

// Shared by open() (whole file: avail == size) and parse_header() (a prefix of a stream). `want`
// is set (and the returned status is meaningless) when the bytes end inside the header.
Result<std::unique_ptr<GgufFile>> GgufFile::parse(const uint8_t* base, uint64_t avail, uint64_t size, bool with_data,
                                                  uint64_t* want) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  Cursor c(base, avail, size);
  struct WantGuard {  // reports the cursor's need for more bytes on every return path
    Cursor& c;
    uint64_t* out;
    ~WantGuard() { *out = c.want(); }
  } guard{c, want};

  // Header: magic, version, tensor count, kv count.
  const uint8_t* magic = nullptr;
  MBLIP_RETURN_IF_ERROR(c.bytes(4, &magic, "magic"));
  if (std::memcmp(magic, "GGUF", 4) != 0)
    return model_load_error("bad magic " + quoted(std::string(reinterpret_cast<const char*>(magic), 4)) +
                            ": not a GGUF file (expected 'GGUF')");
  uint32_t version = 0;
  MBLIP_RETURN_IF_ERROR(c.u32(&version, "version"));
  if (version != 2 && version != 3) {
    std::string extra = (version & 0xffffu) == 0 && version != 0 ? " (big-endian GGUF files are not supported)"
                        : version == 1                            ? " (GGUF v1 is obsolete)"
                                                                  : "";
    return model_load_error("unsupported GGUF version " + std::to_string(version) + ", expected 2 or 3" + extra);
  }
  f->version_ = version;
  uint64_t n_tensors = 0, n_kv = 0;
  MBLIP_RETURN_IF_ERROR(c.u64(&n_tensors, "tensor count"));
  MBLIP_RETURN_IF_ERROR(c.u64(&n_kv, "metadata kv count"));
  // A kv takes >= 13 bytes (key length, type, 1-byte value); a tensor info >= 32.
  if (n_kv > c.remaining() / 13)
    return model_load_error("GGUF metadata kv count " + std::to_string(n_kv) + " is larger than the file can hold (" +
                            std::to_string(size) + " bytes)");
  if (n_tensors > c.remaining() / 32)
    return model_load_error("GGUF tensor count " + std::to_string(n_tensors) + " is larger than the file can hold (" +
                            std::to_string(size) + " bytes)");

  // Metadata.
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    MBLIP_RETURN_IF_ERROR(c.str(&key, "key of metadata entry " + std::to_string(k), kGgufMaxKeyLength));
    if (key.empty()) return model_load_error("GGUF metadata entry " + std::to_string(k) + " has an empty key");
    if (f->kv_.count(key)) return model_load_error("duplicate metadata key " + quoted(key));
    uint32_t t = 0;
    MBLIP_RETURN_IF_ERROR(c.u32(&t, "value type of key " + quoted(key)));
    if (!valid_value_type(t))
      return model_load_error("GGUF key " + quoted(key) + " has unknown value type " + std::to_string(t));
    GgufValue v;
    MBLIP_RETURN_IF_ERROR(read_value(c, static_cast<GgufType>(t), &v, key, 0));
    f->kv_.emplace(std::move(key), std::move(v));
  }

  if (const GgufValue* a = f->find("general.alignment")) {
    const bool is_int = gguf_scalar_size(a->type) && a->type != GgufType::FLOAT32 && a->type != GgufType::FLOAT64 &&
                        a->type != GgufType::BOOL;
    const bool is_unsigned_type = a->type == GgufType::UINT8 || a->type == GgufType::UINT16 ||
                                  a->type == GgufType::UINT32 || a->type == GgufType::UINT64;
    const uint64_t al = is_unsigned_type ? a->u : static_cast<uint64_t>(a->i);
    if (!is_int) return model_load_error(std::string("general.alignment has type ") + gguf_type_name(a->type) +
                                         ", expected an integer (UINT32)");
    if ((!is_unsigned_type && a->i <= 0) || al == 0 || (al & (al - 1)) != 0 || al > (1u << 30))
      return model_load_error("general.alignment must be a power of two (1 .. 2^30), got " +
                              (is_unsigned_type ? std::to_string(a->u) : std::to_string(a->i)));
    f->alignment_ = static_cast<size_t>(al);
  }

  // Tensor infos.
  struct Span { uint64_t begin, end; size_t index; };
  std::vector<Span> spans;
  f->tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo ti;
    std::string& name = ti.view.name;
    MBLIP_RETURN_IF_ERROR(c.str(&name, "name of tensor " + std::to_string(k)));
    if (name.empty()) return model_load_error("GGUF tensor " + std::to_string(k) + " has an empty name");
    if (name.size() > kGgufMaxNameLength)
      return model_load_error("GGUF tensor name " + quoted(name) + " is too long (" + std::to_string(name.size()) +
                              " bytes, max " + std::to_string(kGgufMaxNameLength) + ")");
    if (f->by_name_.count(name)) return model_load_error("duplicate tensor name " + quoted(name));
    const std::string tq = "tensor " + quoted(name);
    uint32_t n_dims = 0;
    MBLIP_RETURN_IF_ERROR(c.u32(&n_dims, "dims count of " + tq));
    if (n_dims < 1 || n_dims > kGgufMaxDims)
      return model_load_error(tq + " has " + std::to_string(n_dims) + " dims (must be 1.." +
                              std::to_string(kGgufMaxDims) + ")");
    std::vector<int64_t> ne(n_dims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t v = 0;
      MBLIP_RETURN_IF_ERROR(c.u64(&v, "dim " + std::to_string(d) + " of " + tq));
      if (v == 0) return model_load_error(tq + " dim " + std::to_string(d) + " is 0 (must be >= 1)");
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / v)
        return model_load_error(tq + " element count overflows (dim " + std::to_string(d) + " = " +
                                std::to_string(v) + ")");
      numel *= v;
      ne[d] = static_cast<int64_t>(v);
    }
    uint32_t type = 0;
    MBLIP_RETURN_IF_ERROR(c.u32(&type, "type of " + tq));
    if (!dtype_supported(type))
      return model_load_error(tq + " has unsupported tensor type id " + std::to_string(type) + " (" + type_list() + ")");
    ti.view.type = static_cast<DType>(type);
    const auto& tr = dtype_traits(ti.view.type);
    if (ne[0] % tr.block_elems != 0)
      return model_load_error(tq + " row length " + std::to_string(ne[0]) + " is not a multiple of the " + tr.name +
                              " block size " + std::to_string(tr.block_elems));
    auto nbytes = dtype_bytes(ti.view.type, static_cast<int64_t>(numel));
    if (!nbytes.ok()) return model_load_error(tq + ": " + nbytes.status().message());
    MBLIP_RETURN_IF_ERROR(c.u64(&ti.offset, "data offset of " + tq));
    if (ti.offset % f->alignment_ != 0)
      return model_load_error(tq + " data offset " + std::to_string(ti.offset) + " is not a multiple of the alignment " +
                              std::to_string(f->alignment_));
    ti.view.nbytes = nbytes.value();
    ti.view.shape.assign(ne.rbegin(), ne.rend());  // HF order
    f->by_name_.emplace(name, f->tensors_.size());
    f->tensors_.push_back(std::move(ti));
  }

  // Data section: aligned start; every tensor inside the file; no overlaps.
  const uint64_t data_offset = align_up(c.pos(), f->alignment_);
  if (!f->tensors_.empty() && data_offset > size)
    return model_load_error("GGUF truncated: data section would start at offset " + std::to_string(data_offset) +
                            ", file has " + std::to_string(size) + " bytes");
  const uint64_t data_start = std::min<uint64_t>(data_offset, size);
  if (data_start > std::numeric_limits<size_t>::max())
    return model_load_error("GGUF header of " + std::to_string(data_start) + " bytes is too large");
  f->data_offset_ = static_cast<size_t>(data_start);
  const uint64_t data_size = size - f->data_offset_;
  for (size_t k = 0; k < f->tensors_.size(); ++k) {
    auto& ti = f->tensors_[k];
    const uint64_t nb = ti.view.nbytes;
    if (ti.offset > data_size || nb > data_size - ti.offset)
      return model_load_error("tensor " + quoted(ti.view.name) + " data [" + std::to_string(ti.offset) + ", +" +
                              std::to_string(nb) + ") extends past the end of the file (data section has " +
                              std::to_string(data_size) + " bytes; file truncated?)");
    ti.view.data = with_data ? base + f->data_offset_ + ti.offset : nullptr;
    spans.push_back({ti.offset, ti.offset + nb, k});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t k = 1; k < spans.size(); ++k)
    if (spans[k].begin < spans[k - 1].end)
      return model_load_error("tensors " + quoted(f->tensors_[spans[k - 1].index].view.name) + " and " +
                              quoted(f->tensors_[spans[k].index].view.name) + " overlap in the data section");
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

namespace {
Status missing(const std::string& key) { return model_load_error("metadata key '" + key + "' is missing"); }
Status wrong_type(const std::string& key, const GgufValue& v, const char* expected) {
  std::string t = gguf_type_name(v.type);
  if (v.type == GgufType::ARRAY) t += std::string(" of ") + gguf_type_name(v.array_type);
  return model_load_error("metadata key '" + key + "' has type " + t + ", expected " + expected);
}
bool is_int_type(GgufType t) {
  return gguf_scalar_size(t) && t != GgufType::FLOAT32 && t != GgufType::FLOAT64;
}
bool is_unsigned_type(GgufType t) {
  return t == GgufType::UINT8 || t == GgufType::UINT16 || t == GgufType::UINT32 || t == GgufType::UINT64;
}
}  // namespace

Result<int64_t> GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (!is_int_type(v->type)) return wrong_type(key, *v, "an integer");
  if (is_unsigned_type(v->type)) {
    if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return model_load_error("metadata key '" + key + "' value " + std::to_string(v->u) + " is out of range");
    return static_cast<int64_t>(v->u);
  }
  return v->i;
}

Result<double> GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type == GgufType::FLOAT32 || v->type == GgufType::FLOAT64) return v->f;
  if (v->type != GgufType::BOOL && is_int_type(v->type))
    return is_unsigned_type(v->type) ? static_cast<double>(v->u) : static_cast<double>(v->i);
  return wrong_type(key, *v, "a number");
}

Result<std::string> GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::STRING) return wrong_type(key, *v, "STRING");
  return v->s;
}

Result<std::vector<float>> GgufFile::get_float_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::ARRAY || !gguf_scalar_size(v->array_type) || v->array_type == GgufType::BOOL)
    return wrong_type(key, *v, "an ARRAY of numbers");
  std::vector<float> out(v->array_size());
  for (size_t k = 0; k < out.size(); ++k) {
    GgufValue e = v->at(k);
    out[k] = e.type == GgufType::FLOAT32 || e.type == GgufType::FLOAT64 ? static_cast<float>(e.f)
             : is_unsigned_type(e.type)                                 ? static_cast<float>(e.u)
                                                                        : static_cast<float>(e.i);
  }
  return out;
}

Result<std::vector<uint8_t>> GgufFile::get_bytes(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::ARRAY || (v->array_type != GgufType::UINT8 && v->array_type != GgufType::INT8))
    return wrong_type(key, *v, "an ARRAY of UINT8");
  return v->raw;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::ARRAY || !is_int_type(v->array_type)) return wrong_type(key, *v, "an ARRAY of integers");
  std::vector<int64_t> out(v->array_size());
  for (size_t k = 0; k < out.size(); ++k) {
    GgufValue e = v->at(k);
    out[k] = is_unsigned_type(e.type) ? static_cast<int64_t>(e.u) : e.i;
  }
  return out;
}

Result<std::vector<std::string>> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::ARRAY || v->array_type != GgufType::STRING) return wrong_type(key, *v, "an ARRAY of STRING");
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const auto& e : v->array) out.push_back(e.s);
  return out;
}

const GgufTensorInfo* GgufFile::tensor(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::release(const GgufTensorInfo& t) {
  if (!bytes_ || !t.view.data) return;
  const uint8_t* base = bytes_->data();
  if (t.view.data < base || t.view.data > base + bytes_->size()) return;
  bytes_->release(static_cast<size_t>(t.view.data - base), t.view.nbytes);
}

void GgufFile::release_part(const GgufTensorInfo& t, size_t offset, size_t len) {
  if (!bytes_ || !t.view.data || offset >= t.view.nbytes) return;
  const uint8_t* base = bytes_->data();
  if (t.view.data < base || t.view.data > base + bytes_->size()) return;
  bytes_->release(static_cast<size_t>(t.view.data - base) + offset, std::min<size_t>(len, t.view.nbytes - offset));
}

}  // namespace mblip
