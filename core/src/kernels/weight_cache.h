// Packed-weights cache (issue 12): XNNPACK's packed weights written once to a file that later
// loads map read-only (or, for streamed wasm loads, an in-memory image in the same format that the
// npm package keeps in browser storage / a file), via XNNPACK's weights-cache provider.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mblip/cache.h"
#include "mblip/status.h"

namespace mblip {

// ---- file level (weight_cache_file.cpp) ----
constexpr uint32_t kPackedCacheFormat = 2;  // bump when the layout, our requantization or a tensor's rows change
constexpr size_t kPackedCacheHeaderBytes = 4096;

// Fletcher-style 64-bit checksum over 8 lanes (vectorizes; every single changed word changes it).
uint64_t packed_checksum(const uint8_t* p, size_t n);
// Mixes bytes into a 64-bit FNV-1a style hash (for keys, not for data).
uint64_t hash_bytes(const void* p, size_t n, uint64_t h = 1469598103934665603ull);
// What changes XNNPACK's packing besides the model: XNNPACK version, our format, compiler,
// target and the CPU features XNNPACK dispatches on (cpuid / hwcap).
std::string packed_cache_environment_key();
// The cache folder: `override_dir`, else $MBLIP_CACHE_DIR, else $XDG_CACHE_HOME/mblip/packed,
// else $HOME/.cache/mblip/packed ("" when none can be found).
std::string packed_cache_dir(const std::string& override_dir);
// The cache file name for a model path (one file per model path: a changed model replaces it).
std::string packed_cache_file_for(const std::string& dir, const std::string& model_path);

// The first kPackedCacheHeaderBytes of a cache file (little-endian fields, own checksum).
struct PackedCacheHeader {
  uint64_t file_bytes = 0, index_offset = 0, index_bytes = 0, index_checksum = 0, entry_count = 0;
  std::string key, label;
};
// False when key + label do not fit.
bool encode_packed_header(const PackedCacheHeader& h, uint8_t* out /* kPackedCacheHeaderBytes */);
// False (and `why`) for a foreign, truncated or corrupt header.
bool decode_packed_header(const uint8_t* p, size_t n, PackedCacheHeader* h, std::string* why);

struct PackedCacheFileInfo {
  std::string path, label;  // label: the model path recorded when it was written
  uint64_t bytes = 0, entries = 0;
  bool header_ok = false;
};
// Lists the cache files (*.mbpack) in `dir` (header checked, data not).
std::vector<PackedCacheFileInfo> list_packed_cache(const std::string& dir);
// Removes the cache files and stale temporaries in `dir`; returns how many were removed.
Result<int> clear_packed_cache(const std::string& dir);
// This process's mappings of *.mbpack files (mblip/cache.h's weight_cache_mapping).
WeightCacheMapping packed_cache_mapping();
// The huge-page size the cache file is written in chunks of and mapped on a boundary of.
constexpr uint64_t kPackedCacheHugePageBytes = uint64_t{2} << 20;

// ---- the store ----
class PackedWeightStore {
 public:
  // Opens the cache file `path` for a model with identity `key` (environment key included).
  // A valid file is mapped (warm); a missing one is created at finalize(); an invalid one is
  // reported once on stderr and rebuilt. Folder problems: a warning, packing in memory.
  static std::shared_ptr<PackedWeightStore> open(const std::string& path, const std::string& key,
                                                 const std::string& label, int threads);
  // In-memory store for streamed loads (the wasm package): `image` (64-byte aligned, from
  // posix_memalign; adopted, may be null) is a whole cache file's bytes, checked by bind() once
  // the model's key is known (a misaligned buffer is refused: kernels load packed data aligned). Packed
  // weights of a cold load stay in memory and can be exported as an image afterwards.
  static std::shared_ptr<PackedWeightStore> in_memory(uint8_t* image, size_t size, const std::string& label);
  // Memory stores: checks the adopted image against the model's key (header, size, index, every
  // checksum). Match: warm, its entries are used in place. Otherwise the image is freed,
  // rejected() says why, and the load packs. Call before any operator is created.
  void bind(const std::string& key);
  // Why bind() refused the image ("" = accepted, or no image given).
  const std::string& rejected() const { return rejected_; }
  bool in_memory() const { return memory_; }
  // One piece of an exported image: `size` bytes at `data` go to file offset `offset`.
  struct ImagePart {
    uint64_t offset = 0;
    const uint8_t* data = nullptr;
    uint64_t size = 0;
  };
  // After finalize() of a cold memory load: the cache image as parts (the header + index in
  // `meta`, which must outlive `parts`; the entries in place, no copy) and its total size.
  // False when there is nothing to store (warm, no entries, or a failed insert).
  bool export_image(std::string* meta, std::vector<ImagePart>* parts, uint64_t* total) const;
  ~PackedWeightStore();
  PackedWeightStore(const PackedWeightStore&) = delete;
  PackedWeightStore& operator=(const PackedWeightStore&) = delete;

  // Tests: the chunk size of stores created afterwards (a multiple of 64; 0 restores 2 MiB), so
  // that tiny models span many chunks.
  static void set_chunk_bytes_for_tests(uint64_t bytes);
  static uint64_t chunk_bytes_for_new_stores();

  bool warm() const { return warm_; }
  bool writing() const { return fd_ >= 0; }
  // The xnn_weights_cache_t (as void*) operators are created against.
  void* provider() { return provider_.get(); }
  // True when the current entry (EntryScope) is in the mapped file: packing inputs are not read.
  bool has(const std::string& entry) const { return index_.count(entry) != 0; }
  // After every operator was created: writes index + header, maps the file, renames it into
  // place (no fsync: a file torn by a crash fails its checks at the next load). Operators can
  // run only after this.
  Status finalize();
  uint64_t hits() const { return hits_.load(); }
  uint64_t packed() const { return inserted_.load(); }
  uint64_t mapped_bytes() const { return map_bytes_; }
  const std::string& path() const { return path_; }

  // Packed bytes of our own kernels (kernels/int8_rows.cpp), beside XNNPACK's and under names like
  // theirs. find_own: the id of `entry` when the store holds it with `size` bytes (a warm load),
  // else kNoEntry. insert_own: stores a copy; its id, or kNoEntry (out of memory). own_bytes: the
  // entry's bytes, 64-byte aligned; valid once finalize() has run.
  static constexpr size_t kNoEntry = SIZE_MAX;
  size_t find_own(const std::string& entry, size_t size);
  size_t insert_own(const std::string& entry, const void* bytes, size_t size);
  const uint8_t* own_bytes(size_t id) const;

  // The entry being created on this thread (XNNPACK's keys are pointers; ours are names).
  class EntryScope {
   public:
    EntryScope(PackedWeightStore* store, std::string entry, bool inputs_are_dummies);
    ~EntryScope();
    // A look-up missed while the inputs were dummies: the operator must be created again.
    bool missed_with_dummies() const { return missed_; }

   private:
    friend class PackedWeightStore;
    PackedWeightStore* store_;
    std::string entry_;
    bool dummies_, missed_ = false;
    EntryScope* prev_;
  };

 private:
  PackedWeightStore() = default;
  struct Entry {
    std::string name;
    uint32_t seed = 0;
    uint64_t offset = 0, size = 0, checksum = 0;
    const uint8_t* addr = nullptr;
    std::unique_ptr<uint8_t, void (*)(void*)> heap{nullptr, nullptr};
  };
  bool load_existing(int threads, std::string* why);
  // Checks a whole cache image at p (header, key, sizes, index, data checksums) and fills
  // entries_ / index_ with entries pointing into it; false (and `why`, entries cleared) if bad.
  bool adopt_image(const uint8_t* p, size_t n, int threads, std::string* why);
  // Index bytes of the entries with an offset (file or image) and the header describing them.
  std::string encode_index(uint64_t* count) const;
  // The header describing `index` (entry_count entries) after the data written so far.
  PackedCacheHeader header_for(const std::string& index, uint64_t entry_count) const;
  void start_writing();
  void warn_once(const std::string& msg);
  // Provider callbacks.
  size_t look_up(uint32_t seed);
  void* reserve_space(size_t n);
  size_t insert(uint32_t seed, const void* ptr, size_t size);
  const void* addr(size_t id) const;
  void setup_provider();
  // The file is written in whole 2 MiB chunks at 2 MiB offsets (Linux then caches it in 2 MiB
  // folios, which map_file_huge maps with 2 MiB pages): entries are copied into the chunks they
  // span, a chunk is written once every byte of it is reserved and copied (padding and the header
  // region as zeros), the last one at finalize(). A chunk that cannot be written stays in memory
  // (unwritten_) and the entries are read back from file + memory at finalize(). Call with mu_ held:
  uint8_t* chunk_buffer(uint64_t chunk);
  uint64_t chunk_bytes_ = chunk_bytes_for_new_stores();
  struct Chunk {
    std::unique_ptr<uint8_t[]> buf;
    uint64_t filled = 0;
  };
  std::unordered_map<uint64_t, Chunk> chunks_;                     // chunk index -> being filled
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> unwritten_;  // chunks whose write failed
  std::vector<std::unique_ptr<uint8_t[]>> spare_chunks_;           // written chunks' buffers, reused
  // Copies [ptr, ptr + size) to the reserved file range [off, end) (end: off + size rounded up to
  // kAlign) through the chunks, and writes every chunk it completes.
  void write_reserved(const void* ptr, uint64_t size, uint64_t off, uint64_t end);
  // After the last insert, with mu_ held: writes the partial chunks (the file's end).
  void flush_chunks();
  // Entries of the file read back into memory (file + unwritten chunks), checksums checked.
  Status read_back_entries();

  std::string path_, tmp_path_, key_, label_;
  bool warm_ = false, finalized_ = false, write_failed_ = false, warned_ = false, memory_ = false;
  std::unique_ptr<uint8_t, void (*)(void*)> image_{nullptr, nullptr};  // memory store: adopted image
  size_t image_bytes_ = 0;
  std::string rejected_;
  int fd_ = -1;
  uint64_t write_end_ = kPackedCacheHeaderBytes;
  const uint8_t* map_ = nullptr;
  size_t map_bytes_ = 0;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> entry (mapped file)
  struct Scratch {
    std::thread::id thread;
    size_t size = 0;
    std::unique_ptr<uint8_t, void (*)(void*)> buf{nullptr, nullptr};
  };
  std::vector<Scratch> scratch_;  // one reusable packing buffer per creating thread
  std::atomic<uint64_t> hits_{0}, inserted_{0};
  std::shared_ptr<void> provider_;  // xnn_weights_cache_provider
};

// The store the current load packs into, per thread (set by the model loader around the build;
// the linear factory reads it). nullptr: no cache.
// Kernels created meanwhile keep a reference to the store (their packed weights live in it).
class WeightStoreScope {
 public:
  explicit WeightStoreScope(std::shared_ptr<PackedWeightStore> store);
  ~WeightStoreScope();
  WeightStoreScope(const WeightStoreScope&) = delete;
  WeightStoreScope& operator=(const WeightStoreScope&) = delete;
  static std::shared_ptr<PackedWeightStore> current();

 private:
  std::shared_ptr<PackedWeightStore> store_;
  const std::shared_ptr<PackedWeightStore>* prev_;
};

}  // namespace mblip
