// GGUF v3 model file: validated reader (mmap natively, caller-owned buffer in wasm) and a
// streaming writer. Spec: ggml docs/gguf.md. Every failure is a Status naming the problem.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/tensor.h"
#include "mblip/status.h"

namespace mblip {

enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

const char* gguf_type_name(GgufType t);  // "UINT8", ..., "FLOAT64"; "?" for unknown ids
// Bytes one element of a scalar type occupies in the file (0 for STRING / ARRAY / unknown).
size_t gguf_scalar_size(GgufType t);

// One metadata value. Scalars are widened (signed ints and bool to `i`, unsigned to `u`,
// floats to `f`). Arrays hold elements of one type `array_type`: numeric/bool elements are
// kept packed in `raw` (little-endian file bytes, so a 4 MB tokenizer blob is one buffer, not
// 4M values); STRING and nested ARRAY elements are in `array`. Use array_size()/at().
struct GgufValue {
  GgufType type = GgufType::UINT8;
  GgufType array_type = GgufType::UINT8;  // only for ARRAY
  int64_t i = 0;       // signed ints and bool
  uint64_t u = 0;      // unsigned ints
  double f = 0;        // floats
  std::string s;       // STRING
  std::vector<GgufValue> array;  // ARRAY of STRING or ARRAY (nested arrays allowed)
  std::vector<uint8_t> raw;      // ARRAY of numeric/bool: packed little-endian elements

  size_t array_size() const;     // 0 for non-arrays
  GgufValue at(size_t k) const;  // element k of an array (scalar elements decoded from raw)
  bool operator==(const GgufValue& o) const;
  bool operator!=(const GgufValue& o) const { return !(*this == o); }

  static GgufValue make_u8(uint8_t v);
  static GgufValue make_i8(int8_t v);
  static GgufValue make_u16(uint16_t v);
  static GgufValue make_i16(int16_t v);
  static GgufValue make_u32(uint32_t v);
  static GgufValue make_i32(int32_t v);
  static GgufValue make_u64(uint64_t v);
  static GgufValue make_i64(int64_t v);
  static GgufValue make_f32(float v);
  static GgufValue make_f64(double v);
  static GgufValue make_bool(bool v);
  static GgufValue make_string(std::string v);
  // Array of `elem_type` from values of that type (made with the make_* above).
  // Elements of another type are converted (numeric) or skipped (mismatched kinds).
  static GgufValue make_array(GgufType elem_type, const std::vector<GgufValue>& elems);
  static GgufValue make_f32_array(const std::vector<float>& v);
  static GgufValue make_i32_array(const std::vector<int32_t>& v);
  static GgufValue make_u8_array(const std::vector<uint8_t>& v);  // e.g. tokenizer model bytes
  static GgufValue make_string_array(const std::vector<std::string>& v);
};

// Limits the reader enforces (see docs/model-file.md).
constexpr size_t kGgufMaxDims = 4;
constexpr size_t kGgufMaxNameLength = 63;    // ggml GGML_MAX_NAME - 1
constexpr size_t kGgufMaxKeyLength = 65535;  // spec: keys at most 2^16-1 bytes
constexpr int kGgufMaxArrayNesting = 8;      // ARRAY of ARRAY of ... depth
constexpr size_t kGgufDefaultAlignment = 32;

// Owns the bytes of a model file: an mmap (native) or a heap buffer (wasm / fallback).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  // Hint that [offset, offset+len) is no longer needed (tensor packed elsewhere): drops mmap'd
  // pages natively; a no-op for buffers the caller owns.
  virtual void release(size_t offset, size_t len) { (void)offset; (void)len; }
};

Result<std::unique_ptr<ByteSource>> map_file(const std::string& path);  // mmap, read fallback
// Takes ownership of a malloc'ed buffer (wasm: JS streamed the model into it). Freed with free().
std::unique_ptr<ByteSource> adopt_malloc_buffer(uint8_t* data, size_t size);
// Borrows a buffer the caller keeps alive (tests).
std::unique_ptr<ByteSource> borrow_buffer(const uint8_t* data, size_t size);

struct GgufTensorInfo {
  TensorView view;          // shape in HF order (reversed ggml dims)
  uint64_t offset = 0;      // relative to the start of the data section
};

class GgufFile {
 public:
  // Parses and validates header, metadata and tensor infos against the bytes.
  static Result<std::unique_ptr<GgufFile>> open(std::unique_ptr<ByteSource> bytes);
  static Result<std::unique_ptr<GgufFile>> open_path(const std::string& path);
  // Streaming: parses header, metadata and tensor infos from the first `avail` bytes of a file
  // of `total_size` bytes (0: unknown), with exactly open()'s validation (the same code). The
  // result has no bytes (tensor views' data is null; offsets are set). When the bytes end inside
  // the header it returns a null file and sets *need to the byte count the parse needs next.
  static Result<std::unique_ptr<GgufFile>> parse_header(const uint8_t* data, size_t avail, uint64_t total_size,
                                                        uint64_t* need);

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  // Typed getters: error names the key when absent or of the wrong type.
  Result<int64_t> get_int(const std::string& key) const;       // any integer type or bool
  Result<double> get_float(const std::string& key) const;      // float or integer
  Result<std::string> get_string(const std::string& key) const;
  Result<std::vector<float>> get_float_array(const std::string& key) const;
  Result<std::vector<uint8_t>> get_bytes(const std::string& key) const;  // UINT8/INT8 array
  Result<std::vector<int64_t>> get_int_array(const std::string& key) const;  // integer/bool array
  Result<std::vector<std::string>> get_string_array(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* tensor(const std::string& name) const;
  // Drops the bytes of a tensor that has been copied/packed (see ByteSource::release).
  void release(const GgufTensorInfo& t);
  // Releases bytes [offset, offset + len) of tensor `t` only (a memory hint, like release()).
  void release_part(const GgufTensorInfo& t, size_t offset, size_t len);
  bool has_bytes() const { return bytes_ != nullptr; }  // false for parse_header() results
  const ByteSource& bytes() const { return *bytes_; }
  size_t data_offset() const { return data_offset_; }

 private:
  static Result<std::unique_ptr<GgufFile>> parse(const uint8_t* base, uint64_t avail, uint64_t size, bool with_data,
                                                 uint64_t* want);
  std::unique_ptr<ByteSource> bytes_;
  uint32_t version_ = 0;
  size_t alignment_ = kGgufDefaultAlignment;
  size_t data_offset_ = 0;  // absolute file offset of the (aligned) data section
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> by_name_;
};

// Streaming writer: declare all metadata and tensors (name, type, HF-order shape), then
// write: tensor bytes are produced in declaration order, one tensor at a time, and may be
// handed over in pieces (write_chunked), so peak memory is one chunk, not one tensor.
// Writes `path.tmp`, fsyncs and renames on success; removes it on failure (including a
// producer that delivers more or fewer bytes than the tensor's declared size).
// `general.alignment` (UINT32) is always written with the writer's alignment.
class GgufWriter {
 public:
  explicit GgufWriter(size_t alignment = kGgufDefaultAlignment);  // power of two (checked by write)
  // Sets (or replaces) a metadata key; keys keep their first-set order in the file.
  void set(const std::string& key, GgufValue value);
  // Checks the name (unique, 1..63 bytes), 1..4 dims each >= 1, last dim a multiple of the
  // type's block size.
  Status add_tensor(const std::string& name, DType type, std::vector<int64_t> shape);

  using Progress = std::function<void(size_t done, size_t total)>;
  // Appends the next `n` bytes of the current tensor to the file. Returns an error (passed
  // back by the producer) when the bytes would exceed the declared size or the write fails.
  using Sink = std::function<Status(const uint8_t* data, size_t n)>;
  // chunked producer(index, sink): hands tensor `index`'s bytes to `sink` in order, in pieces
  // of any size (e.g. a block of rows at a time); they must add up to the declared size.
  using ChunkedProducer = std::function<Status(size_t index, const Sink& sink)>;
  Status write_chunked(const std::string& path, const ChunkedProducer& produce, const Progress& progress = {}) const;

  // Whole-tensor convenience form (small files, tests): produce(index, out) fills `out` with
  // exactly the tensor's bytes. Holds one tensor in memory.
  using Producer = std::function<Status(size_t index, std::vector<uint8_t>& out)>;
  Status write(const std::string& path, const Producer& produce, const Progress& progress = {}) const;

  size_t tensor_count() const;
  // Where tensor i's bytes start, relative to the data section (valid after add_tensor).
  uint64_t tensor_offset(size_t index) const;
  // Byte size of tensor i (0 for an unknown index).
  size_t tensor_nbytes(size_t index) const;

 private:
  struct Decl { std::string name; DType type; std::vector<int64_t> shape; size_t nbytes; uint64_t offset; };
  size_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Decl> tensors_;
};

}  // namespace mblip
