// The small-m Q4_0 / Q8_0 LinearKernel (kernels/q4_0_vnni.h): packs the weight once into the packed-weights
// store (a warm load maps it; no store: the heap), quantizes the activations per block of 32 and
// splits the 16-row groups over the Session's thread pool.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/q4_0_vnni.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_cache.h"

#ifdef MBLIP_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace mblip {
namespace {

constexpr uint32_t kStoreSeed = 0x51340016u;  // names this layout in the packed-weights store (version 1)

struct AlignedFree {
  void operator()(uint8_t* p) const { std::free(p); }
};

constexpr uint64_t kSliceBytes = uint64_t{32} << 20;  // packing buffer / store entry size bound

// One slice of whole groups: on the heap (no store) or a store entry (address valid after the
// store's finalize(), so resolved at run time).
struct Slice {
  size_t g0 = 0, groups = 0;
  std::unique_ptr<uint8_t, AlignedFree> heap;
  size_t store_id = 0;
};

class Q4VnniLinear final : public LinearKernel {
 public:
  Q4VnniLinear(size_t n, size_t k, DType type, std::vector<float> bias) : type_(type), b_(std::move(bias)) {
    out_ = static_cast<int64_t>(n);
    in_ = static_cast<int64_t>(k);
  }
  std::vector<Slice> slices;
  std::shared_ptr<PackedWeightStore> store;  // holds the slices when set

  const uint8_t* address(const Slice& s) const {
    if (s.heap) return s.heap.get();
#ifdef MBLIP_HAVE_XNNPACK
    if (store) {
      auto* p = static_cast<xnn_weights_cache_provider*>(store->provider());
      return static_cast<const uint8_t*>(p->offset_to_addr(p->context, s.store_id));
    }
#endif
    return nullptr;
  }

  // Mirrors nn.Linear.forward (torch.nn.functional.linear) with Q4_0 weights.
  Status forward(const float* x, size_t m, float* y, ThreadPool& pool) const override {
    if (m == 0) return Status::Ok();
    constexpr size_t kMaxSlices = 64;
    const uint8_t* addr[kMaxSlices];
    for (size_t i = 0; i < slices.size(); ++i)
      if (!(addr[i] = address(slices[i])))
        return internal_error("q4_0 vnni kernel: packed weights are not available (store not finalized?)");
    const size_t n = static_cast<size_t>(out_), k = static_cast<size_t>(in_), nb = k / 32;
    const size_t qbytes = (m * k + 63) / 64 * 64, dbytes = (m * nb * 4 + 63) / 64 * 64;
    auto* buf = static_cast<uint8_t*>(pool.scratch(0, qbytes + 2 * dbytes));
    if (!buf) return out_of_memory("q4_0 vnni kernel: cannot allocate activation scratch");
    auto* q = reinterpret_cast<int8_t*>(buf);
    auto* d = reinterpret_cast<float*>(buf + qbytes);
    auto* ns8 = reinterpret_cast<int32_t*>(buf + qbytes + dbytes);
    q4_vnni_quantize(x, m, k, type_ == DType::Q8_0 ? 128 : 8, q, d, ns8);
    const Q4VnniActs a{q, d, ns8, m};
    const size_t groups = (n + kQ4VnniRows - 1) / kQ4VnniRows;
    const size_t threads = static_cast<size_t>(std::max(1, pool.threads()));
    // Enough tasks to balance (4 a thread), at most 8 groups (128 rows) each.
    const size_t per = std::max<size_t>(1, std::min<size_t>(8, groups / (4 * threads)));
    const size_t tasks = (groups + per - 1) / per;
    const float* bias = b_.empty() ? nullptr : b_.data();
    pool.parallel_for(tasks, [&](size_t t) {
      const size_t g0 = t * per, g1 = std::min(groups, g0 + per);
      for (size_t i = 0; i < slices.size(); ++i) {
        const Slice& s = slices[i];
        const size_t lo = std::max(g0, s.g0), hi = std::min(g1, s.g0 + s.groups);
        if (lo < hi) q4_vnni_gemm(addr[i], s.g0, s.groups, n, k, type_, a, lo, hi, y, bias);
      }
    });
    return Status::Ok();
  }

  std::string describe() const override {
    const char* tn = type_ == DType::Q8_0 ? "q8_0" : "q4_0";
    return std::string("own ") + tn + " avx512-vnni small-m" + (store ? " (cached)" : "");
  }
  size_t memory_bytes() const override {
    uint64_t t = 0;
    for (const Slice& s : slices) t += q4_vnni_slice_bytes(s.groups, static_cast<size_t>(in_), type_);
    return static_cast<size_t>(t) + b_.size() * sizeof(float);
  }

 private:
  DType type_;
  std::vector<float> b_;
};

// Packs (or finds, warm) one slice in the store.
#ifdef MBLIP_HAVE_XNNPACK
Status store_slice(PackedWeightStore& store, const TensorView& weight, Slice& s) {
  auto* p = static_cast<xnn_weights_cache_provider*>(store.provider());
  const size_t k = static_cast<size_t>(weight.dim(1));
  const auto bytes = static_cast<size_t>(q4_vnni_slice_bytes(s.groups, k, weight.type));
  const std::string entry = weight.name + (weight.type == DType::Q8_0 ? "|q8vnni16|" : "|q4vnni16|") +
                            std::to_string(s.g0) + "+" + std::to_string(s.groups) + "x" + std::to_string(k);
  PackedWeightStore::EntryScope scope(&store, entry, /*inputs_are_dummies=*/false);
  const xnn_weights_cache_look_up_key key{kStoreSeed, nullptr, nullptr};
  size_t id = store.has(entry) ? p->look_up(p->context, &key) : SIZE_MAX;
  if (id == SIZE_MAX) {  // cold: pack into the store's buffer; it writes the file (or keeps a copy)
    auto* dst = static_cast<uint8_t*>(p->reserve_space(p->context, bytes));
    if (!dst) return out_of_memory("q4_0 vnni kernel: cannot allocate " + std::to_string(bytes) + " bytes");
    MBLIP_RETURN_IF_ERROR(pack_q4_vnni(weight, s.g0, s.groups, dst));
    id = p->look_up_or_insert(p->context, &key, dst, bytes);
    if (id == SIZE_MAX) return out_of_memory("q4_0 vnni kernel: cannot store the packed '" + weight.name + "'");
  }
  s.store_id = id;
  return Status::Ok();
}
#endif

}  // namespace

Result<std::unique_ptr<LinearKernel>> make_linear_q4_0_vnni(const TensorView& weight, const TensorView* bias) {
  if (!cpu_has_avx512_vnni()) return unsupported("q4_0 vnni kernel: this CPU has no AVX-512 VNNI");
  if ((weight.type != DType::Q4_0 && weight.type != DType::Q8_0) || weight.shape.size() != 2 || weight.dim(0) <= 0 ||
      weight.dim(1) <= 0)
    return model_load_error("linear weight '" + weight.name + "' must be a non-empty 2-D q4_0 or q8_0 tensor");
  const size_t src_block = weight.type == DType::Q8_0 ? 34 : 18;
  const char* tn = weight.type == DType::Q8_0 ? "q8_0" : "q4_0";
  const size_t n = static_cast<size_t>(weight.dim(0)), k = static_cast<size_t>(weight.dim(1));
  if (k % 32 != 0)
    return model_load_error("linear weight '" + weight.name + "': " + tn +
                            " rows must be a multiple of 32 elements, got " + std::to_string(k));
  if (!weight.data || weight.nbytes != n * (k / 32) * src_block)
    return model_load_error("linear weight '" + weight.name + "' has " + std::to_string(weight.nbytes) +
                            " bytes, expected " + std::to_string(n * (k / 32) * src_block));
  std::vector<float> b;
  if (bias) {
    if (bias->type != DType::F32 || bias->numel() != weight.dim(0) || !bias->data || bias->nbytes != n * sizeof(float))
      return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(n) + " elements");
    b.resize(n);
    std::memcpy(b.data(), bias->data, n * sizeof(float));
  }
  auto kern = std::make_unique<Q4VnniLinear>(n, k, weight.type, std::move(b));
  const size_t groups = (n + kQ4VnniRows - 1) / kQ4VnniRows;
  const uint64_t group_bytes = q4_vnni_slice_bytes(1, k, weight.type);
  const size_t per_slice = static_cast<size_t>(std::max<uint64_t>(1, kSliceBytes / group_bytes));
  const size_t nslices = (groups + per_slice - 1) / per_slice;
  const size_t each = (groups + nslices - 1) / nslices;  // balanced
  for (size_t g0 = 0; g0 < groups; g0 += each) {
    Slice s;
    s.g0 = g0;
    s.groups = std::min(each, groups - g0);
    kern->slices.push_back(std::move(s));
  }
  if (kern->slices.size() > 64) return unsupported("q4_0 vnni kernel: weight '" + weight.name + "' is too large");
#ifdef MBLIP_HAVE_XNNPACK
  if (std::shared_ptr<PackedWeightStore> store = WeightStoreScope::current()) {
    for (Slice& s : kern->slices) MBLIP_RETURN_IF_ERROR(store_slice(*store, weight, s));
    kern->store = std::move(store);
    return std::unique_ptr<LinearKernel>(std::move(kern));
  }
#endif
  for (Slice& s : kern->slices) {
    const auto bytes = static_cast<size_t>(q4_vnni_slice_bytes(s.groups, k, weight.type));
    void* mem = nullptr;
    if (::posix_memalign(&mem, 64, std::max<size_t>(bytes, 64)) != 0 || !mem)
      return out_of_memory("q4_0 vnni kernel: cannot allocate " + std::to_string(bytes) + " bytes");
    s.heap.reset(static_cast<uint8_t*>(mem));
    MBLIP_RETURN_IF_ERROR(pack_q4_vnni(weight, s.g0, s.groups, s.heap.get()));
  }
  return std::unique_ptr<LinearKernel>(std::move(kern));
}

}  // namespace mblip
