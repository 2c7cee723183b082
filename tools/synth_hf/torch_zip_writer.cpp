// torch.save-compatible zip writer and state-dict pickle writer (see torch_zip_writer.h).
// Zip: PKWARE APPNOTE.TXT; pickle opcodes: CPython Lib/pickletools.py (protocol 2).
#include "torch_zip_writer.h"

#include <cerrno>
#include <cstring>

namespace mblip {

namespace {

constexpr uint64_t kMax32 = 0xFFFFFFFFull;
constexpr size_t kZipDataAlign = 64;  // torch's PyTorchFileWriter aligns record data to 64

// Slicing-by-8 tables for the reflected polynomial 0xEDB88320.
struct CrcTables {
  uint32_t t[8][256];
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};

void put(std::string& b, uint64_t v, int n) {
  for (int k = 0; k < n; ++k) b.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

}  // namespace

uint32_t crc32_update(uint32_t crc, const uint8_t* p, size_t n) {
  static const CrcTables tables;  // immutable after construction
  const auto& t = tables.t;
  uint32_t c = ~crc;
  while (n >= 8) {
    const uint32_t lo = c ^ (static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                             static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
    const uint32_t hi = static_cast<uint32_t>(p[4]) | static_cast<uint32_t>(p[5]) << 8 |
                        static_cast<uint32_t>(p[6]) << 16 | static_cast<uint32_t>(p[7]) << 24;
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
        t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return ~c;
}

// ---- ZipWriter ----

ZipWriter::~ZipWriter() {
  if (f_) std::fclose(f_);
}

Status ZipWriter::fail(const std::string& what) {
  return io_error(what + " '" + path_ + "' failed: " + std::strerror(errno));
}

Status ZipWriter::open(const std::string& path) {
  path_ = path;
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return io_error("cannot create '" + path + "': " + std::strerror(errno));
  pos_ = 0;
  return Status::Ok();
}

Status ZipWriter::raw(const void* p, size_t n) {
  if (!f_) return invalid_argument("zip writer: file is not open");
  if (n && std::fwrite(p, 1, n, f_) != n) return fail("writing");
  pos_ += n;
  return Status::Ok();
}

// Local file header (4.3.7): CRC patched by end_entry; sizes are known, so no data descriptor.
Status ZipWriter::begin_entry(const std::string& name, uint64_t size) {
  if (in_entry_) return invalid_argument("zip writer: entry '" + entries_.back().name + "' is still open");
  if (name.empty() || name.size() > 0xFFFF) return invalid_argument("zip writer: bad entry name '" + name + "'");
  const bool z64 = size >= kMax32;
  std::string h;
  put(h, 0x04034b50, 4);
  put(h, z64 ? 45 : 20, 2);  // version needed
  put(h, 0, 2);              // flags
  put(h, 0, 2);              // method: stored
  put(h, 0, 4);              // time, date
  put(h, 0, 4);              // crc-32 (patched)
  put(h, z64 ? kMax32 : size, 4);
  put(h, z64 ? kMax32 : size, 4);
  put(h, name.size(), 2);
  const size_t z64_len = z64 ? 20 : 0;
  const uint64_t base = pos_ + 30 + name.size() + z64_len + 4;  // + the padding field's header
  const size_t pad = static_cast<size_t>((kZipDataAlign - base % kZipDataAlign) % kZipDataAlign);
  put(h, z64_len + 4 + pad, 2);
  h += name;
  if (z64) {
    put(h, 0x0001, 2);
    put(h, 16, 2);
    put(h, size, 8);
    put(h, size, 8);
  }
  put(h, 0x4246, 2);  // "FB": torch's alignment padding field
  put(h, pad, 2);
  h.append(pad, 'Z');
  entries_.push_back({name, size, pos_, 0});
  MBLIP_RETURN_IF_ERROR(raw(h.data(), h.size()));
  in_entry_ = true;
  entry_written_ = 0;
  crc_ = 0;
  return Status::Ok();
}

Status ZipWriter::write(const void* data, size_t n) {
  if (!in_entry_) return invalid_argument("zip writer: write outside an entry");
  if (n > entries_.back().size - entry_written_)
    return invalid_argument("zip writer: entry '" + entries_.back().name + "' gets more than its declared " +
                            std::to_string(entries_.back().size) + " bytes");
  crc_ = crc32_update(crc_, static_cast<const uint8_t*>(data), n);
  entry_written_ += n;
  return raw(data, n);
}

Status ZipWriter::end_entry() {
  if (!in_entry_) return invalid_argument("zip writer: no open entry");
  Entry& e = entries_.back();
  if (entry_written_ != e.size)
    return invalid_argument("zip writer: entry '" + e.name + "' got " + std::to_string(entry_written_) +
                            " bytes, declared " + std::to_string(e.size));
  e.crc = crc_;
  in_entry_ = false;
  std::string c;
  put(c, crc_, 4);
  if (std::fflush(f_) != 0) return fail("writing");
  if (fseeko(f_, static_cast<off_t>(e.local_offset + 14), SEEK_SET) != 0) return fail("seeking in");
  if (std::fwrite(c.data(), 1, 4, f_) != 4) return fail("writing");
  if (fseeko(f_, static_cast<off_t>(pos_), SEEK_SET) != 0) return fail("seeking in");
  return Status::Ok();
}

Status ZipWriter::add_entry(const std::string& name, const std::string& bytes) {
  MBLIP_RETURN_IF_ERROR(begin_entry(name, bytes.size()));
  MBLIP_RETURN_IF_ERROR(write(bytes.data(), bytes.size()));
  return end_entry();
}

// Central directory (4.3.12), zip64 end record + locator (4.3.14-15) when needed, end record.
Status ZipWriter::finish() {
  if (in_entry_) return invalid_argument("zip writer: entry '" + entries_.back().name + "' is still open");
  const uint64_t cd_offset = pos_;
  std::string cd;
  for (const Entry& e : entries_) {
    const bool big = e.size >= kMax32, far = e.local_offset >= kMax32;
    std::string x;
    if (big) { put(x, e.size, 8); put(x, e.size, 8); }
    if (far) put(x, e.local_offset, 8);
    put(cd, 0x02014b50, 4);
    put(cd, 45, 2);                       // version made by
    put(cd, (big || far) ? 45 : 20, 2);   // version needed
    put(cd, 0, 2);
    put(cd, 0, 2);
    put(cd, 0, 4);
    put(cd, e.crc, 4);
    put(cd, big ? kMax32 : e.size, 4);
    put(cd, big ? kMax32 : e.size, 4);
    put(cd, e.name.size(), 2);
    put(cd, x.empty() ? 0 : x.size() + 4, 2);
    put(cd, 0, 2);  // comment
    put(cd, 0, 2);  // disk
    put(cd, 0, 2);  // internal attributes
    put(cd, 0, 4);  // external attributes
    put(cd, far ? kMax32 : e.local_offset, 4);
    cd += e.name;
    if (!x.empty()) {
      put(cd, 0x0001, 2);
      put(cd, x.size(), 2);
      cd += x;
    }
  }
  const uint64_t n = entries_.size(), cd_size = cd.size();
  const bool z64 = n >= 0xFFFF || cd_offset >= kMax32 || cd_size >= kMax32;
  if (z64) {
    const uint64_t rec = cd_offset + cd_size;
    put(cd, 0x06064b50, 4);
    put(cd, 44, 8);
    put(cd, 45, 2);
    put(cd, 45, 2);
    put(cd, 0, 4);
    put(cd, 0, 4);
    put(cd, n, 8);
    put(cd, n, 8);
    put(cd, cd_size, 8);
    put(cd, cd_offset, 8);
    put(cd, 0x07064b50, 4);
    put(cd, 0, 4);
    put(cd, rec, 8);
    put(cd, 1, 4);
  }
  put(cd, 0x06054b50, 4);
  put(cd, 0, 2);
  put(cd, 0, 2);
  put(cd, n >= 0xFFFF ? 0xFFFF : n, 2);
  put(cd, n >= 0xFFFF ? 0xFFFF : n, 2);
  put(cd, cd_size >= kMax32 ? kMax32 : cd_size, 4);
  put(cd, cd_offset >= kMax32 ? kMax32 : cd_offset, 4);
  put(cd, 0, 2);
  MBLIP_RETURN_IF_ERROR(raw(cd.data(), cd.size()));
  FILE* f = f_;
  f_ = nullptr;
  if (std::fclose(f) != 0) return fail("closing");
  return Status::Ok();
}

// ---- pickle ----

namespace {

class Pickler {
 public:
  void op(char c) { b_.push_back(c); }
  void global(const char* module, const char* name) {
    op('c');
    b_ += module;
    b_ += '\n';
    b_ += name;
    b_ += '\n';
  }
  void str(const std::string& s) {  // BINUNICODE
    op('X');
    put(b_, s.size(), 4);
    b_ += s;
  }
  void integer(int64_t v) {  // BININT1 / BININT2 / BININT / LONG1, as CPython picks
    if (v >= 0 && v < 256) { op('K'); put(b_, static_cast<uint64_t>(v), 1); }
    else if (v >= 0 && v < 65536) { op('M'); put(b_, static_cast<uint64_t>(v), 2); }
    else if (v >= INT32_MIN && v <= INT32_MAX) { op('J'); put(b_, static_cast<uint64_t>(static_cast<uint32_t>(v)), 4); }
    else {
      int n = 8;  // shortest two's complement
      while (n > 1 && ((v >> (8 * (n - 1) - 1)) == 0 || (v >> (8 * (n - 1) - 1)) == -1)) --n;
      op('\x8a');
      put(b_, static_cast<uint64_t>(n), 1);
      put(b_, static_cast<uint64_t>(v), n);
    }
  }
  void int_tuple(const std::vector<int64_t>& v) {
    if (v.empty()) { op(')'); return; }
    if (v.size() > 3) op('(');
    for (int64_t x : v) integer(x);
    if (v.size() > 3) op('t');
    else op(static_cast<char>(0x84 + v.size()));  // TUPLE1..3
  }
  std::string& bytes() { return b_; }

 private:
  std::string b_;
};

}  // namespace

std::string torch_state_dict_pickle(const std::vector<PickleTensor>& tensors) {
  Pickler p;
  p.op('\x80');
  p.op('\x02');                                  // PROTO 2
  p.global("collections", "OrderedDict");
  p.op(')');
  p.op('R');                                     // OrderedDict()
  for (size_t b0 = 0; b0 < tensors.size(); b0 += 1000) {  // CPython batches SETITEMS by 1000
    p.op('(');
    for (size_t i = b0; i < tensors.size() && i < b0 + 1000; ++i) {
      const PickleTensor& t = tensors[i];
      int64_t numel = 1;
      for (int64_t d : t.shape) numel *= d;
      std::vector<int64_t> stride(t.shape.size());
      int64_t s = 1;
      for (size_t d = t.shape.size(); d-- > 0;) { stride[d] = s; s *= t.shape[d]; }
      p.str(t.name);
      p.global("torch._utils", "_rebuild_tensor_v2");
      p.op('(');
      p.op('(');
      p.str("storage");
      p.global("torch", "FloatStorage");
      p.str(t.storage_key);
      p.str("cpu");
      p.integer(numel);
      p.op('t');
      p.op('Q');                                 // BINPERSID
      p.integer(0);                              // storage offset
      p.int_tuple(t.shape);
      p.int_tuple(stride);
      p.op('\x89');                              // requires_grad = False
      p.global("collections", "OrderedDict");
      p.op(')');
      p.op('R');                                 // backward_hooks = OrderedDict()
      p.op('t');
      p.op('R');
    }
    p.op('u');                                   // SETITEMS
  }
  p.op('.');
  return p.bytes();
}

}  // namespace mblip
