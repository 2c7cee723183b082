// The packed-weights cache as frontends see it: where it lives, what it holds, how to clear it.
// (Its format and the provider XNNPACK packs into are internal: core/src/kernels/weight_cache.h.)
#pragma once
#include <cstdint>
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

}  // namespace mblip
