// PackedWeightStore (kernels/weight_cache.h): XNNPACK weights-cache provider backed by a cache
// file. Cold: operators pack into a reused per-thread buffer, each blob is appended to a temp
// file (in whole 2 MiB chunks: write_reserved); finalize() writes the index + header, maps the file
// and renames it into place.
// Warm: the file is mapped (populated, huge pages advised: map_file_huge), every checksum verified, look-ups return its entries.
// Memory stores (streamed wasm loads): the same, with an adopted heap image instead of the file,
// and an export of the packed entries in the file's layout (the npm package stores it).
#include "kernels/weight_cache.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifndef __EMSCRIPTEN__
#include <sys/mman.h>
#endif
#ifdef MBLIP_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace mblip {
namespace {

constexpr size_t kAlign = 64;  // >= XNN_ALLOCATION_ALIGNMENT on every target we build
constexpr size_t kNotFound = SIZE_MAX;

thread_local const std::shared_ptr<PackedWeightStore>* tls_store = nullptr;
thread_local PackedWeightStore::EntryScope* tls_entry = nullptr;

void* aligned_alloc_bytes(size_t n) {
  void* p = nullptr;
  if (::posix_memalign(&p, kAlign, std::max<size_t>(n, kAlign)) != 0) return nullptr;
  return p;
}

uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool write_all(int fd, const void* p, size_t n, uint64_t off) {
  const auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, b, std::min<size_t>(n, size_t{1} << 30), static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return true;
}

#ifndef __EMSCRIPTEN__
// Maps the cache file read-only at a 2 MiB-aligned address, advises huge pages and populates the
// page tables (MAP_POPULATE's work). Where the page cache holds the file in 2 MiB folios (Linux 6.x
// reads a file mapped with MADV_HUGEPAGE into them; ext4 does), the kernel maps it with 2 MiB
// entries: the steps stream their weights without a TLB miss or a stopped hardware prefetch at
// every 4 KiB page (the writer's 2 MiB-aligned chunk writes make the page cache hold a new file so).
// Full-size default recipe, 2 threads, the same file in small vs huge folios
// (`mblip bench --runs 3`, 3 alternating pairs, 2026-12-05): caption 1225-1281 -> 1036-1119 ms,
// vision 577-620 -> 480-509, encoder 140-160 -> 112-124, greedy token 22.3-23.0 -> 20.4-22.0,
// beam-5 step 33.1-35.6 -> 29.9-32.0, first caption 1378-1515 -> 1135-1166, load 3.3-3.7 -> 2.0-2.3 s.
// Where the folios stay small (cached so before, other filesystems / kernels): the old mapping.
void* map_file_huge(int fd, size_t n) {
  constexpr size_t kHuge = kPackedCacheHugePageBytes;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t span = static_cast<size_t>(round_up(n, page)), reserve = span + kHuge;
  void* r = ::mmap(nullptr, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  void* m = MAP_FAILED;
  if (r != MAP_FAILED) {
    auto* base = static_cast<uint8_t*>(r);
    auto* at = reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(base), kHuge));
    m = ::mmap(at, n, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED) {
      ::munmap(r, reserve);
    } else {  // give back the reservation around the mapping
      if (at > base) ::munmap(base, static_cast<size_t>(at - base));
      if (base + reserve > at + span) ::munmap(at + span, static_cast<size_t>(base + reserve - (at + span)));
    }
  }
  if (m == MAP_FAILED) m = ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return m;
#ifdef MADV_HUGEPAGE
  (void)::madvise(m, n, MADV_HUGEPAGE);  // advice only: no huge pages is not an error
#endif
  bool populated = false;
#ifdef MADV_POPULATE_READ
  populated = ::madvise(m, n, MADV_POPULATE_READ) == 0;
#endif
  if (!populated) {  // kernels before 5.14: fault the pages in by reading them
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i += page) sink = sink + static_cast<const uint8_t*>(m)[i];
  }
  return m;
}
#endif

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

}  // namespace

// ---- scopes ----

WeightStoreScope::WeightStoreScope(std::shared_ptr<PackedWeightStore> store) : store_(std::move(store)), prev_(tls_store) {
  tls_store = &store_;
}
WeightStoreScope::~WeightStoreScope() { tls_store = prev_; }
std::shared_ptr<PackedWeightStore> WeightStoreScope::current() { return tls_store ? *tls_store : nullptr; }

PackedWeightStore::EntryScope::EntryScope(PackedWeightStore* store, std::string entry, bool dummies)
    : store_(store), entry_(std::move(entry)), dummies_(dummies), prev_(tls_entry) {
  tls_entry = this;
}
PackedWeightStore::EntryScope::~EntryScope() { tls_entry = prev_; }

// ---- store ----

PackedWeightStore::~PackedWeightStore() {
#ifndef __EMSCRIPTEN__
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
#endif
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_path_.c_str());
  }
}

void PackedWeightStore::warn_once(const std::string& msg) {
  std::lock_guard<std::mutex> lock(mu_);
  if (warned_) return;
  warned_ = true;
  std::fprintf(stderr, "mblip: weight cache: %s\n", msg.c_str());
}

std::shared_ptr<PackedWeightStore> PackedWeightStore::open(const std::string& path, const std::string& key,
                                                           const std::string& label, int threads) {
  std::shared_ptr<PackedWeightStore> s(new PackedWeightStore());
  s->path_ = path;
  s->key_ = key;
  s->label_ = label;
  s->setup_provider();
  std::string why;
  if (s->load_existing(threads, &why)) return s;
  if (!why.empty()) std::fprintf(stderr, "mblip: weight cache %s ignored (%s); rebuilding it\n", path.c_str(), why.c_str());
  s->start_writing();
  return s;
}

bool PackedWeightStore::load_existing(int threads, std::string* why) {
#ifdef __EMSCRIPTEN__
  (void)threads;
  (void)why;
  return false;
#else
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // no cache yet: silent
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(kPackedCacheHeaderBytes)) {
    ::close(fd);
    *why = "truncated: " + std::to_string(static_cast<long long>(st.st_size)) + " bytes";
    return false;
  }
  const size_t n = static_cast<size_t>(st.st_size);
  void* m = map_file_huge(fd, n);
  ::close(fd);
  if (m == MAP_FAILED) return *why = std::string("cannot map it: ") + std::strerror(errno), false;
  if (!adopt_image(static_cast<const uint8_t*>(m), n, threads, why)) {
    ::munmap(m, n);
    return false;
  }
  map_ = static_cast<const uint8_t*>(m);
  map_bytes_ = n;
  warm_ = finalized_ = true;
  return true;
#endif
}

bool PackedWeightStore::adopt_image(const uint8_t* p, size_t n, int threads, std::string* why) {
  auto fail = [&](std::string w) {
    entries_.clear();
    index_.clear();
    *why = std::move(w);
    return false;
  };
  PackedCacheHeader h;
  if (!decode_packed_header(p, n, &h, why)) return fail(*why);
  if (h.key != key_) return fail("made for another model file or CPU/build (key mismatch)");
  if (h.file_bytes != n) return fail("size " + std::to_string(n) + " != recorded " + std::to_string(h.file_bytes) + " (truncated?)");
  if (h.index_offset < kPackedCacheHeaderBytes || h.index_offset > n || h.index_bytes != n - h.index_offset)
    return fail("index out of range");
  if (packed_checksum(p + h.index_offset, h.index_bytes) != h.index_checksum) return fail("index checksum mismatch");
  // Index: per entry u32 name_len, name, u32 seed, u64 offset, u64 size, u64 checksum.
  const uint8_t* q = p + h.index_offset;
  const uint8_t* end = q + h.index_bytes;
  for (uint64_t i = 0; i < h.entry_count; ++i) {
    uint32_t len = 0;
    if (end - q < 4) return fail("index truncated");
    std::memcpy(&len, q, 4);
    q += 4;
    if (static_cast<uint64_t>(end - q) < uint64_t{len} + 28) return fail("index truncated");
    auto e = std::make_unique<Entry>();
    e->name.assign(reinterpret_cast<const char*>(q), len);
    q += len;
    std::memcpy(&e->seed, q, 4);
    std::memcpy(&e->offset, q + 4, 8);
    std::memcpy(&e->size, q + 12, 8);
    std::memcpy(&e->checksum, q + 20, 8);
    q += 28;
    if (e->offset < kPackedCacheHeaderBytes || e->offset % kAlign || e->size > h.index_offset - e->offset)
      return fail("entry '" + e->name + "' out of range");
    e->addr = p + e->offset;
    if (!index_.emplace(e->name, entries_.size()).second) return fail("duplicate entry '" + e->name + "'");
    entries_.push_back(std::move(e));
  }
  // Every entry's data checksum, spread over the load's threads (bandwidth-bound).
  const size_t nt = static_cast<size_t>(std::max(1, std::min(threads, 8)));
  std::vector<int> bad(nt, -1);
  auto check = [&](size_t t) {
    for (size_t i = t; i < entries_.size(); i += nt)
      if (packed_checksum(entries_[i]->addr, entries_[i]->size) != entries_[i]->checksum) {
        bad[t] = static_cast<int>(i);
        return;
      }
  };
  std::vector<std::thread> workers;
  for (size_t t = 1; t < nt; ++t) workers.emplace_back(check, t);
  check(0);
  for (auto& w : workers) w.join();
  for (int b : bad)
    if (b >= 0) return fail("data checksum mismatch in '" + entries_[static_cast<size_t>(b)]->name + "' (corrupt)");
  return true;
}

std::shared_ptr<PackedWeightStore> PackedWeightStore::in_memory(uint8_t* image, size_t size, const std::string& label) {
  std::shared_ptr<PackedWeightStore> s(new PackedWeightStore());
  s->memory_ = true;
  s->label_ = label;
  s->image_ = std::unique_ptr<uint8_t, void (*)(void*)>(image, std::free);
  s->image_bytes_ = image ? size : 0;
  s->setup_provider();
  return s;
}

void PackedWeightStore::bind(const std::string& key) {
  key_ = key;
  if (!memory_ || !image_) return;
  if (reinterpret_cast<uintptr_t>(image_.get()) % kAlign != 0) {  // kernels may load packed data aligned
    rejected_ = "image buffer is not " + std::to_string(kAlign) + "-byte aligned";
    image_.reset();
    image_bytes_ = 0;
    return;
  }
  // Threads: 1. In wasm the pthread pool is sized for the inference pool (more would deadlock).
  if (adopt_image(image_.get(), image_bytes_, 1, &rejected_)) {
    warm_ = finalized_ = true;
    return;
  }
  image_.reset();
  image_bytes_ = 0;
}

std::string PackedWeightStore::encode_index(uint64_t* count) const {
  std::string index;
  *count = 0;
  for (const auto& e : entries_) {
    if (e->offset == 0) continue;
    ++*count;
    put_u32(index, static_cast<uint32_t>(e->name.size()));
    index += e->name;
    put_u32(index, e->seed);
    put_u64(index, e->offset);
    put_u64(index, e->size);
    put_u64(index, e->checksum);
  }
  return index;
}

PackedCacheHeader PackedWeightStore::header_for(const std::string& index, uint64_t entry_count) const {
  PackedCacheHeader h;
  h.index_offset = write_end_;
  h.index_bytes = index.size();
  h.index_checksum = packed_checksum(reinterpret_cast<const uint8_t*>(index.data()), index.size());
  h.entry_count = entry_count;
  h.file_bytes = write_end_ + index.size();
  h.key = key_;
  h.label = label_;
  return h;
}

bool PackedWeightStore::export_image(std::string* meta, std::vector<ImagePart>* parts, uint64_t* total) const {
  std::lock_guard<std::mutex> lock(mu_);
  parts->clear();
  *total = 0;
  if (!memory_ || warm_ || !finalized_ || write_failed_) return false;
  uint64_t count = 0;
  const std::string index = encode_index(&count);
  if (count == 0) return false;
  const PackedCacheHeader h = header_for(index, count);
  meta->assign(kPackedCacheHeaderBytes, '\0');
  if (!encode_packed_header(h, reinterpret_cast<uint8_t*>(&(*meta)[0]))) return false;
  *meta += index;
  const auto* m = reinterpret_cast<const uint8_t*>(meta->data());
  parts->push_back({0, m, kPackedCacheHeaderBytes});
  for (const auto& e : entries_)
    if (e->offset != 0) parts->push_back({e->offset, e->addr, e->size});
  parts->push_back({write_end_, m + kPackedCacheHeaderBytes, index.size()});
  *total = h.file_bytes;
  return true;
}

void PackedWeightStore::start_writing() {
  const size_t slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  // mkdir -p (errors surface when the temp file cannot be created).
  for (size_t i = 1; i <= dir.size(); ++i)
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%lx", static_cast<long>(::getpid()),
                static_cast<unsigned long>(reinterpret_cast<uintptr_t>(this) & 0xFFFFFFu));
  tmp_path_ = path_ + suffix;
  fd_ = ::open(tmp_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    warn_once("cannot create '" + tmp_path_ + "' (" + std::strerror(errno) + "); packing in memory");
    write_failed_ = true;
  }
}

void PackedWeightStore::setup_provider() {
#ifdef MBLIP_HAVE_XNNPACK
  auto* p = new xnn_weights_cache_provider();
  p->context = this;
  p->look_up = [](void* c, const xnn_weights_cache_look_up_key* k) { return static_cast<PackedWeightStore*>(c)->look_up(k->seed); };
  p->reserve_space = [](void* c, size_t n) { return static_cast<PackedWeightStore*>(c)->reserve_space(n); };
  p->look_up_or_insert = [](void* c, const xnn_weights_cache_look_up_key* k, void* ptr, size_t n) {
    return static_cast<PackedWeightStore*>(c)->insert(k->seed, ptr, n);
  };
  p->is_finalized = [](void* c) { return static_cast<PackedWeightStore*>(c)->finalized_; };
  p->offset_to_addr = [](void* c, size_t id) { return const_cast<void*>(static_cast<PackedWeightStore*>(c)->addr(id)); };
  p->delete_cache = [](void*) { return xnn_status_success; };  // the Model owns the store
  provider_ = std::shared_ptr<void>(p, [](void* q) { delete static_cast<xnn_weights_cache_provider*>(q); });
#endif
}

size_t PackedWeightStore::look_up(uint32_t seed) {
  EntryScope* e = tls_entry;
  if (!e || e->store_ != this) return kNotFound;
  auto it = index_.find(e->entry_);  // index_ is read-only after open()
  bool hit = false;
  if (it != index_.end()) {
    std::lock_guard<std::mutex> lock(mu_);  // entries_ may grow (in-memory misses)
    hit = entries_[it->second]->seed == seed;
  }
  if (hit) {
    hits_.fetch_add(1);
    return it->second;
  }
  if (e->dummies_) e->missed_ = true;  // the caller re-creates with the real inputs
  return kNotFound;
}

void* PackedWeightStore::reserve_space(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto me = std::this_thread::get_id();
  Scratch* s = nullptr;
  for (auto& x : scratch_)
    if (x.thread == me) s = &x;
  if (!s) {
    scratch_.push_back(Scratch{me, 0, {nullptr, nullptr}});
    s = &scratch_.back();
  }
  if (s->size < n) {
    s->buf.reset();
    s->buf = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(aligned_alloc_bytes(n)), std::free);
    s->size = s->buf ? n : 0;
  }
  return s->buf.get();
}

size_t PackedWeightStore::insert(uint32_t seed, const void* ptr, size_t size) {
  EntryScope* scope = tls_entry;
  auto e = std::make_unique<Entry>();
  e->name = (scope && scope->store_ == this) ? scope->entry_ : std::string();
  e->seed = seed;
  e->size = size;
  if (scope && scope->dummies_) scope->missed_ = true;  // packed from dummies: never kept
  const bool named = !e->name.empty() && !(scope && scope->dummies_);
  const bool to_file = fd_ >= 0 && named, to_image = memory_ && named;
  uint64_t off = 0;
  if (to_file || to_image) e->checksum = packed_checksum(static_cast<const uint8_t*>(ptr), size);
  if (to_file) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!write_failed_) {
      off = write_end_;
      write_end_ = round_up(off + size, kAlign);
      const uint64_t end = write_end_;
      lock.unlock();
      write_reserved(ptr, size, off, end);
      e->offset = off;  // in the file, or in an unwritten chunk until finalize() reads it back
    }
  }
  if (e->offset == 0) {  // in memory
    e->heap = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(aligned_alloc_bytes(size)), std::free);
    if (!e->heap) return kNotFound;  // XNNPACK then fails the operator: out of memory
    std::memcpy(e->heap.get(), ptr, size);
    e->addr = e->heap.get();
  }
  inserted_.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu_);
  if (to_image) {  // its place in an exported image (the bytes stay on the heap)
    e->offset = write_end_;
    write_end_ = round_up(write_end_ + size, kAlign);
  }
  entries_.push_back(std::move(e));
  return entries_.size() - 1;
}

namespace {
std::atomic<uint64_t> g_test_chunk_bytes{0};
}  // namespace
void PackedWeightStore::set_chunk_bytes_for_tests(uint64_t bytes) { g_test_chunk_bytes = bytes; }
uint64_t PackedWeightStore::chunk_bytes_for_new_stores() {
  const uint64_t t = g_test_chunk_bytes.load();
  return t ? t : kPackedCacheHugePageBytes;
}

uint8_t* PackedWeightStore::chunk_buffer(uint64_t c) {
  auto it = chunks_.find(c);
  if (it != chunks_.end()) return it->second.buf.get();
  Chunk ch;
  if (!spare_chunks_.empty()) {
    ch.buf = std::move(spare_chunks_.back());
    spare_chunks_.pop_back();
  } else {
    ch.buf.reset(new (std::nothrow) uint8_t[chunk_bytes_]);  // null: out of memory, counted all the same
  }
  const uint64_t c0 = c * chunk_bytes_;
  if (c0 < kPackedCacheHeaderBytes) {  // the header region: written at finalize(), zeros until then
    const uint64_t n = std::min(chunk_bytes_, kPackedCacheHeaderBytes - c0);
    if (ch.buf) std::memset(ch.buf.get(), 0, n);
    ch.filled = n;
  }
  uint8_t* b = ch.buf.get();
  chunks_.emplace(c, std::move(ch));
  return b;
}

void PackedWeightStore::write_reserved(const void* ptr, uint64_t size, uint64_t off, uint64_t end) {
  const auto* src = static_cast<const uint8_t*>(ptr);
  std::vector<std::pair<uint64_t, uint8_t*>> parts;  // (chunk, its buffer)
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t c = off / chunk_bytes_; c * chunk_bytes_ < end; ++c) parts.emplace_back(c, chunk_buffer(c));
  }
  for (const auto& [c, buf] : parts) {  // our bytes of each chunk: no other writer touches them
    const uint64_t c0 = c * chunk_bytes_, lo = std::max(off, c0), hi = std::min(end, c0 + chunk_bytes_);
    const uint64_t data_hi = std::min(hi, off + size);
    if (!buf) continue;  // no memory for the chunk: written as zeros by flush_chunks (checksum fails)
    if (data_hi > lo) std::memcpy(buf + (lo - c0), src + (lo - off), data_hi - lo);
    if (hi > std::max(lo, data_hi)) std::memset(buf + (std::max(lo, data_hi) - c0), 0, hi - std::max(lo, data_hi));
  }
  std::vector<std::pair<uint64_t, std::unique_ptr<uint8_t[]>>> ready;
  bool failed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed = write_failed_;
    for (const auto& part : parts) {
      const uint64_t c = part.first, c0 = c * chunk_bytes_;
      auto it = chunks_.find(c);
      it->second.filled += std::min(end, c0 + chunk_bytes_) - std::max(off, c0);
      if (it->second.filled == chunk_bytes_) {
        ready.emplace_back(c, std::move(it->second.buf));
        chunks_.erase(it);
      }
    }
  }
  for (auto& [c, buf] : ready) {
    const bool ok = buf && !failed && write_all(fd_, buf.get(), chunk_bytes_, c * chunk_bytes_);
    const std::string why = ok ? "" : std::strerror(errno);
    std::lock_guard<std::mutex> lock(mu_);
    if (ok) {
      spare_chunks_.push_back(std::move(buf));
      continue;
    }
    if (!write_failed_ && !warned_) {
      warned_ = true;
      std::fprintf(stderr, "mblip: weight cache: writing '%s' failed (%s); packing in memory, no cache file\n",
                   tmp_path_.c_str(), why.c_str());
    }
    write_failed_ = true;
    unwritten_[c] = std::move(buf);
  }
}

void PackedWeightStore::flush_chunks() {  // finalize() holds mu_
  for (auto& [c, ch] : chunks_) {
    const uint64_t c0 = c * chunk_bytes_, len = std::min(chunk_bytes_, write_end_ - c0);
    if (!write_failed_ && ch.buf && write_all(fd_, ch.buf.get(), len, c0)) continue;
    write_failed_ = true;
    unwritten_[c] = std::move(ch.buf);
  }
  chunks_.clear();
  spare_chunks_.clear();
}

Status PackedWeightStore::read_back_entries() {
  for (auto& e : entries_) {
    if (e->offset == 0) continue;
    e->heap = std::unique_ptr<uint8_t, void (*)(void*)>(static_cast<uint8_t*>(aligned_alloc_bytes(e->size)), std::free);
    if (!e->heap) return out_of_memory("weight cache: cannot read back '" + tmp_path_ + "'");
    uint8_t* dst = e->heap.get();
    const ssize_t got = ::pread(fd_, dst, e->size, static_cast<off_t>(e->offset));
    const size_t have = got > 0 ? static_cast<size_t>(got) : 0;
    if (have < e->size) std::memset(dst + have, 0, e->size - have);
    for (uint64_t c = e->offset / chunk_bytes_; c * chunk_bytes_ < e->offset + e->size; ++c) {
      auto it = unwritten_.find(c);
      if (it == unwritten_.end() || !it->second) continue;
      const uint64_t c0 = c * chunk_bytes_, lo = std::max(e->offset, c0), hi = std::min(e->offset + e->size, c0 + chunk_bytes_);
      std::memcpy(dst + (lo - e->offset), it->second.get() + (lo - c0), hi - lo);
    }
    if (packed_checksum(dst, e->size) != e->checksum)
      return io_error("weight cache: cannot read back '" + tmp_path_ + "' (entry '" + e->name + "' damaged)");
    e->addr = dst;
  }
  unwritten_.clear();
  return Status::Ok();
}

namespace {
constexpr uint32_t kOwnSeed = 0x316e776f;  // "own1": our kernels' entries (XNNPACK's seeds hash its packing)
}  // namespace

size_t PackedWeightStore::find_own(const std::string& entry, size_t size) {
  EntryScope scope(this, entry, /*inputs_are_dummies=*/false);
  const size_t id = look_up(kOwnSeed);
  if (id == kNotFound) return kNoEntry;
  std::lock_guard<std::mutex> lock(mu_);
  return entries_[id]->size == size ? id : kNoEntry;
}

size_t PackedWeightStore::insert_own(const std::string& entry, const void* bytes, size_t size) {
  EntryScope scope(this, entry, /*inputs_are_dummies=*/false);
  const size_t id = insert(kOwnSeed, bytes, size);
  return id == kNotFound ? kNoEntry : id;
}

const uint8_t* PackedWeightStore::own_bytes(size_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<const uint8_t*>(addr(id));
}

const void* PackedWeightStore::addr(size_t id) const { return id < entries_.size() ? entries_[id]->addr : nullptr; }

Status PackedWeightStore::finalize() {
  std::lock_guard<std::mutex> lock(mu_);
  scratch_.clear();
  if (finalized_) return Status::Ok();
  finalized_ = true;
#ifndef __EMSCRIPTEN__
  if (fd_ < 0) return Status::Ok();
  flush_chunks();
  uint64_t count = 0;
  const std::string index = encode_index(&count);
  const bool any_file = count > 0;
  bool publish = any_file && !write_failed_;
  const PackedCacheHeader h = header_for(index, count);
  std::vector<uint8_t> head(kPackedCacheHeaderBytes);
  if (publish && !encode_packed_header(h, head.data())) publish = false;
  // No fsync: the kernel writes the pages back on its own, and a file torn by a crash fails its
  // size or checksum checks at the next load and is rebuilt (the fsync cost ~1 s of a cold load).
  if (publish && !(write_all(fd_, index.data(), index.size(), write_end_) && write_all(fd_, head.data(), head.size(), 0))) {
    std::fprintf(stderr, "mblip: weight cache: writing '%s' failed (%s); not kept\n", tmp_path_.c_str(), std::strerror(errno));
    publish = false;
  }
  if (any_file) {  // the entries written so far live in the file: map it (also when not published)
    const size_t n = static_cast<size_t>(std::max<uint64_t>(write_end_, kPackedCacheHeaderBytes));
    void* m = unwritten_.empty() ? map_file_huge(fd_, n) : MAP_FAILED;
    if (m == MAP_FAILED) {  // read them back into memory instead (from the file and unwritten chunks)
      MBLIP_RETURN_IF_ERROR(read_back_entries());
    } else {
      map_ = static_cast<const uint8_t*>(m);
      map_bytes_ = n;
      for (auto& e : entries_)
        if (e->offset != 0) e->addr = map_ + e->offset;
    }
  }
  if (publish && ::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    std::fprintf(stderr, "mblip: weight cache: cannot rename to '%s' (%s)\n", path_.c_str(), std::strerror(errno));
    publish = false;
  }
  if (!publish) ::unlink(tmp_path_.c_str());
  ::close(fd_);
  fd_ = -1;
#endif
  return Status::Ok();
}

}  // namespace mblip
