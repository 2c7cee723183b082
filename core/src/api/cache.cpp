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

WeightCacheMapping weight_cache_mapping() { return packed_cache_mapping(); }

std::shared_ptr<PackedWeightStore> make_memory_weight_cache(uint8_t* image, size_t bytes, const std::string& label) {
  return PackedWeightStore::in_memory(image, bytes, label);
}

MemoryWeightCacheState memory_weight_cache_state(const PackedWeightStore& store) {
  MemoryWeightCacheState s;
  s.warm = store.warm();
  s.rejected = store.rejected();
  s.hits = store.hits();
  s.packed = store.packed();
  return s;
}

bool export_memory_weight_cache(const PackedWeightStore& store, std::string* meta,
                                std::vector<WeightCachePart>* parts, uint64_t* total) {
  std::vector<PackedWeightStore::ImagePart> inner;
  if (!store.export_image(meta, &inner, total)) return false;
  parts->clear();
  for (const auto& p : inner) parts->push_back(WeightCachePart{p.offset, p.data, p.size});
  return true;
}

}  // namespace mblip
