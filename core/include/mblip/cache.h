// The packed-weights cache as frontends see it: where it lives, what it holds, how to clear it.
// (Its format and the provider XNNPACK packs into are internal: core/src/kernels/weight_cache.h.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mblip/status.h"

namespace mblip {

// The cache folder: `override_dir`, else $MBLIP_CACHE_DIR, else $XDG_CACHE_HOME/mblip/packed,
// else $HOME/.cache/mblip/packed ("" when none can be found).
std::string weight_cache_dir(const std::string& override_dir = "");

struct WeightCacheFile {
  std::string path;   // the cache file
  std::string model;  // the model path recorded when it was written ("" when the header is invalid)
  uint64_t bytes = 0, entries = 0;
  bool valid = false;  // header checked (the data is checked when a load uses it)
};
// The cache files in `dir`.
std::vector<WeightCacheFile> list_weight_cache(const std::string& dir);
// Removes the cache files (and stale temporaries) in `dir`; returns how many were removed.
Result<int> clear_weight_cache(const std::string& dir);

// What this process maps of packed-weights cache files (native Linux, from /proc/self/smaps; zeros
// elsewhere): bytes mapped, the part the kernel maps with 2 MiB pages (the page cache holds the
// file in huge folios: captions about 15% faster here), and whether every mapping starts on a
// 2 MiB boundary (the loader asks for it). A cache written before that was known, or copied, stays
// in small pages while the page cache holds it: `mblip cache clear` rebuilds it.
struct WeightCacheMapping {
  uint64_t mapped_bytes = 0, huge_page_bytes = 0;
  int files = 0;
  bool aligned = true;
  // Worth a `mblip cache clear`: a large cache (>= 256 MiB) less than half in 2 MiB pages.
  bool mostly_small_pages() const {
    return mapped_bytes >= (uint64_t{256} << 20) && huge_page_bytes * 2 < mapped_bytes;
  }
};
WeightCacheMapping weight_cache_mapping();

// ---- in-memory cache (browsers and Node: the image lives in the page's own storage) ----
// The store is opaque here; LoadOptions::memory_weight_cache takes it.
class PackedWeightStore;

// A store for one streamed load. `image` (malloc()ed, 64-byte aligned; adopted, also on failure)
// is a cache image read back from storage, or nullptr for a first load; it is checked against
// the model once the model's header is known, and refused (rejected()) rather than trusted.
std::shared_ptr<PackedWeightStore> make_memory_weight_cache(uint8_t* image, size_t bytes, const std::string& label);

struct MemoryWeightCacheState {
  bool warm = false;      // the weights came from the image
  std::string rejected;   // why the image was refused ("" = accepted or none)
  uint64_t hits = 0;      // operators served from the image
  uint64_t packed = 0;    // operators this load packed
};
MemoryWeightCacheState memory_weight_cache_state(const PackedWeightStore& store);

// One piece of an image to store: `size` bytes at `data` belong at file offset `offset`.
struct WeightCachePart {
  uint64_t offset = 0;
  const uint8_t* data = nullptr;
  uint64_t size = 0;
};
// After a load that packed: the image as parts (header + index in `meta`, which must outlive the
// parts; entries in place, no copy) and its total size. False when there is nothing to store.
bool export_memory_weight_cache(const PackedWeightStore& store, std::string* meta,
                                std::vector<WeightCachePart>* parts, uint64_t* total);

}  // namespace mblip
