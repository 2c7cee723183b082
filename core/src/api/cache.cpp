// Public face of the packed-weights cache (mblip/cache.h) over kernels/weight_cache.h.
#include "mblip/cache.h"

#include "kernels/weight_cache.h"

namespace mblip {

std::string weight_cache_dir(const std::string& override_dir) { return packed_cache_dir(override_dir); }

std::vector<WeightCacheFile> list_weight_cache(const std::string& dir) {
  std::vector<WeightCacheFile> out;
  for (const PackedCacheFileInfo& f : list_packed_cache(dir)) {
    WeightCacheFile w;
    w.path = f.path;
    w.model = f.header_ok ? f.label : "";
    w.bytes = f.bytes;
    w.entries = f.entries;
    w.valid = f.header_ok;
    out.push_back(std::move(w));
  }
  return out;
}

Result<int> clear_weight_cache(const std::string& dir) { return clear_packed_cache(dir); }

}  // namespace mblip
