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

// One metadata value. Scalars are widened (ints to int64/uint64, floats to double);
// arrays hold elements of one type `array_type`.
struct GgufValue {
  GgufType type = GgufType::UINT8;
  GgufType array_type = GgufType::UINT8;  // only for ARRAY
  int64_t i = 0;       // signed ints and bool
  uint64_t u = 0;      // unsigned ints
  double f = 0;        // floats
  std::string s;       // STRING
  std::vector<GgufValue> array;  // ARRAY of scalars/strings (nested arrays allowed)

  static GgufValue make_u32(uint32_t v);
  static GgufValue make_i32(int32_t v);
  static GgufValue make_u64(uint64_t v);
  static GgufValue make_f32(float v);
  static GgufValue make_bool(bool v);
  static GgufValue make_string(std::string v);
  static GgufValue make_f32_array(const std::vector<float>& v);
  static GgufValue make_i32_array(const std::vector<int32_t>& v);
  static GgufValue make_u8_array(const std::vector<uint8_t>& v);  // e.g. tokenizer model bytes
  static GgufValue make_string_array(const std::vector<std::string>& v);
};

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

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* tensor(const std::string& name) const;
  // Drops the bytes of a tensor that has been copied/packed (see ByteSource::release).
  void release(const GgufTensorInfo& t);
  const ByteSource& bytes() const { return *bytes_; }

 private:
  std::unique_ptr<ByteSource> bytes_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> by_name_;
};

// Streaming writer: declare all metadata and tensors (name, type, HF-order shape), then
// write: tensor bytes are produced one at a time by `produce` in declaration order, so peak
// memory stays at one tensor. Writes `path.tmp` and renames on success; removes it on failure.
class GgufWriter {
 public:
  explicit GgufWriter(size_t alignment = 32);
  void set(const std::string& key, GgufValue value);
  Status add_tensor(const std::string& name, DType type, std::vector<int64_t> shape);
  // produce(index, out_bytes): fill exactly the tensor's byte size.
  using Producer = std::function<Status(size_t index, std::vector<uint8_t>& out)>;
  Status write(const std::string& path, const Producer& produce,
               const std::function<void(size_t done, size_t total)>& progress = {}) const;
  size_t tensor_count() const;

 private:
  struct Decl { std::string name; DType type; std::vector<int64_t> shape; size_t nbytes; };
  size_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Decl> tensors_;
};

}  // namespace mblip
