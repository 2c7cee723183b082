// ByteSource implementations: a read-only private mmap (native), a malloc'ed buffer we own
// (wasm: JS streamed the model into the heap; also the native read fallback), a borrowed buffer.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifndef __EMSCRIPTEN__
#include <sys/mman.h>
#endif

#include "io/gguf.h"

namespace mblip {
namespace {

class MallocSource final : public ByteSource {
 public:
  MallocSource(uint8_t* data, size_t size) : data_(data), size_(size) {}
  ~MallocSource() override { std::free(data_); }
  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  uint8_t* data_;
  size_t size_;
};

class BorrowedSource final : public ByteSource {
 public:
  BorrowedSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  const uint8_t* data_;
  size_t size_;
};

#ifndef __EMSCRIPTEN__
class MmapSource final : public ByteSource {
 public:
  MmapSource(void* addr, size_t size) : addr_(addr), size_(size) {}
  ~MmapSource() override { ::munmap(addr_, size_); }
  const uint8_t* data() const override { return static_cast<const uint8_t*>(addr_); }
  size_t size() const override { return size_; }
  // Drops the pages fully inside [offset, offset+len): a private read-only mapping re-reads
  // them from the file if touched again, so this is only a memory hint, never a data change.
  void release(size_t offset, size_t len) override {
    if (offset >= size_) return;
    if (len > size_ - offset) len = size_ - offset;
    const long page_l = ::sysconf(_SC_PAGESIZE);
    const size_t page = page_l > 0 ? static_cast<size_t>(page_l) : 4096;
    const size_t begin = (offset + page - 1) / page * page;
    const size_t end = (offset + len) / page * page;
    if (end <= begin) return;
    ::madvise(static_cast<uint8_t*>(addr_) + begin, end - begin, MADV_DONTNEED);
  }

 private:
  void* addr_;
  size_t size_;
};
#endif

std::string errno_text() { return std::strerror(errno); }

// Reads the whole file into a malloc'ed buffer (mmap unavailable, or wasm).
Result<std::unique_ptr<ByteSource>> read_whole(int fd, const std::string& path, uint64_t size) {
  if (size > static_cast<uint64_t>(SIZE_MAX) - 1)
    return io_error("model file '" + path + "' is too large for this address space");
  auto n = static_cast<size_t>(size);
  auto* buf = static_cast<uint8_t*>(std::malloc(n > 0 ? n : 1));
  if (!buf) return out_of_memory("cannot allocate " + std::to_string(n) + " bytes to read '" + path + "'");
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      std::string why = r < 0 ? errno_text() : "unexpected end of file";
      std::free(buf);
      return io_error("reading '" + path + "': " + why);
    }
    got += static_cast<size_t>(r);
  }
  return std::unique_ptr<ByteSource>(new MallocSource(buf, n));
}

}  // namespace

Result<std::unique_ptr<ByteSource>> map_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return io_error("cannot open model file '" + path + "': " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = errno_text();
    ::close(fd);
    return io_error("cannot stat '" + path + "': " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error("'" + path + "' is not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
#ifndef __EMSCRIPTEN__
  if (size > 0 && size <= static_cast<uint64_t>(SIZE_MAX)) {
    void* addr = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr != MAP_FAILED) {
      ::close(fd);  // the mapping keeps the file referenced
      return std::unique_ptr<ByteSource>(new MmapSource(addr, static_cast<size_t>(size)));
    }
    // fall through to a plain read (e.g. filesystems without mmap support)
  }
#endif
  auto r = read_whole(fd, path, size);
  ::close(fd);
  return r;
}

std::unique_ptr<ByteSource> adopt_malloc_buffer(uint8_t* data, size_t size) {
  return std::unique_ptr<ByteSource>(new MallocSource(data, size));
}

std::unique_ptr<ByteSource> borrow_buffer(const uint8_t* data, size_t size) {
  return std::unique_ptr<ByteSource>(new BorrowedSource(data, size));
}

}  // namespace mblip
