// Writers for the PyTorch torch.save zip format (what a .bin checkpoint is): a streaming zip
// writer (STORED entries, 64-byte aligned data like torch's, zip64 past 4 GB, real CRC-32)
// and the protocol-2 pickle of a state dict of float32 tensors (archive/data.pkl).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "mblip/status.h"

namespace mblip {

// CRC-32 (IEEE 802.3, as zip uses) of `n` bytes, continuing from `crc` (0 to start).
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t n);

// Writes a zip archive entry by entry; each entry's size is declared up front and its bytes are
// streamed in any number of pieces. Entries are STORED (uncompressed); data starts 64-byte
// aligned (padding in an extra field, as torch's writer does). zip64 records are written when
// an offset, size or the entry count needs them (APPNOTE.TXT 4.3.14-4.5.3).
class ZipWriter {
 public:
  ZipWriter() = default;
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  Status open(const std::string& path);  // creates/truncates the file
  Status begin_entry(const std::string& name, uint64_t size);
  Status write(const void* data, size_t n);  // part of the current entry
  Status end_entry();                        // checks the declared size, patches the CRC
  Status add_entry(const std::string& name, const std::string& bytes);  // begin + write + end
  Status finish();                           // central directory + end records, closes the file
  uint64_t bytes_written() const { return pos_; }

 private:
  struct Entry { std::string name; uint64_t size, local_offset; uint32_t crc; };
  Status raw(const void* p, size_t n);
  Status fail(const std::string& what);
  std::string path_;
  FILE* f_ = nullptr;
  uint64_t pos_ = 0;
  std::vector<Entry> entries_;
  bool in_entry_ = false;
  uint64_t entry_written_ = 0;
  uint32_t crc_ = 0;
};

// One tensor of a state dict: a contiguous float32 tensor backed by storage `storage_key`
// (tensors that share a key alias the same storage, like tied weights).
struct PickleTensor {
  std::string name;
  std::string storage_key;
  std::vector<int64_t> shape;
};

// The data.pkl bytes torch.save writes for an OrderedDict of these tensors (protocol 2):
// name -> torch._utils._rebuild_tensor_v2(persistent_load(('storage', torch.FloatStorage, key,
// 'cpu', numel)), 0, size, stride, False, OrderedDict()).
std::string torch_state_dict_pickle(const std::vector<PickleTensor>& tensors);

}  // namespace mblip
