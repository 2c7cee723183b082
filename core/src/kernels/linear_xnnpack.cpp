// Linear layers on XNNPACK fully-connected operators, created (weights packed) once at load:
// f32/f16 -> fully_connected_nc_f32; Q8_0 -> qd8-f32-qc8w (rows requantized to one int8 scale);
// Q4_0 -> qd8-f32-qb4w (block 32, bf16 scales; nibbles as stored) or qd8-f32-qc4w (requantized).
#include <xnnpack.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "io/quant.h"
#include "kernels/linear_impl.h"
#include "kernels/linear_xnnpack.h"
#include "kernels/linear_xnnpack_requant.h"
#include "kernels/linear_xnnpack_slice.h"
#include "kernels/thread_pool.h"
#include "kernels/weight_cache.h"

namespace mblip {
namespace {

using namespace xnn_requant;
using xnn_detail::kDummyBytes;
using xnn_detail::SliceWeights;

enum class Path { kF32, kQc8w, kQb4w, kQc4w };

const char* path_name(Path p) {
  switch (p) {
    case Path::kF32: return "f32";
    case Path::kQc8w: return "qd8-f32-qc8w";
    case Path::kQb4w: return "qd8-f32-qb4w";
    case Path::kQc4w: return "qd8-f32-qc4w";
  }
  return "?";
}

Path path_for(DType type, XnnQ4Mode q4) {
  switch (type) {
    case DType::Q8_0: return Path::kQc8w;
    case DType::Q4_0:
      return q4 == XnnQ4Mode::kBlockwise ? Path::kQb4w : q4 == XnnQ4Mode::kInt8 ? Path::kQc8w : Path::kQc4w;
    default: return Path::kF32;
  }
}

// Packed bytes per output row (weights + scales + bias): the kernel's memory_bytes() and the
// load-time estimate.
size_t packed_row_bytes(Path path, size_t k) {
  switch (path) {
    case Path::kF32: return k * 4 + 4;
    case Path::kQc8w: return k + 12;
    case Path::kQb4w: return k / 2 + (k / kQBlock) * 2 + 12;
    case Path::kQc4w: return k / 2 + 12;
  }
  return k * 4 + 4;
}

// What every context's operators share: the packed weights (slices) and what is needed to
// create an operator on them. Read-only once the kernel is made.
struct XnnWeights {
  Path path = Path::kF32;
  std::string name;
  DType type = DType::F32;
  size_t n = 0, k = 0;
  bool bias = false;
  std::shared_ptr<PackedWeightStore> store;  // holds the packed weights (when cached)
  std::vector<std::unique_ptr<SliceWeights>> slices;
  // The operators made while packing (one per slice), handed to the first context that runs
  // the kernel: the usual single Session creates no operator of its own (XNNPACK's create
  // checks every block scale, ~0.1 s over a full-size model).
  std::vector<xnn_operator_t> take_spares() const {
    std::lock_guard<std::mutex> lock(spare_mu);
    return std::move(spare_ops);
  }
  mutable std::mutex spare_mu;
  mutable std::vector<xnn_operator_t> spare_ops;
  ~XnnWeights() {  // (not copyable: the mutex)
    for (xnn_operator_t op : spare_ops) xnn_delete_operator(op);
  }
};

Status create_slice_with(const TensorView& w, const float* bias, Path path, size_t n0, size_t ns,
                         xnn_weights_cache_t wc, bool dummy, xnn_operator_t* op);

// One context's operators for a kernel: their reshape state and the rows it was made for.
struct XnnState final : KernelState {
  std::shared_ptr<const XnnWeights> w;  // keeps the packed weights (and the state's key) alive
  std::vector<xnn_operator_t> ops;      // one per slice
  xnn_operator_t convert = nullptr;     // f32 -> qd8 activations
  size_t rows = 0;                      // rows the operators are reshaped for (0: none)
  bool always_reshape = false;          // MBLIP_XNN_RESHAPE=always (before/after timings)
  ~XnnState() override {
    for (xnn_operator_t op : ops)
      if (op) xnn_delete_operator(op);
    if (convert) xnn_delete_operator(convert);
  }
};

Status xnn_error(const std::string& name, const char* what, xnn_status st) {
  return internal_error("XNNPACK " + std::string(what) + " failed for '" + name + "' (xnn_status " +
                        std::to_string(static_cast<int>(st)) + ")");
}

// A context's operators for `w`, on the shared packed weights (no weight bytes are read).
Result<std::unique_ptr<XnnState>> make_state(const std::shared_ptr<const XnnWeights>& w) {
  auto st = std::make_unique<XnnState>();
  st->w = w;
  const char* e = std::getenv("MBLIP_XNN_RESHAPE");  // developer switch, read per context
  st->always_reshape = e && !std::strcmp(e, "always");
  TensorView view;  // shape and type only: the data is never read on a cache hit
  view.name = w->name;
  view.type = w->type;
  view.shape = {static_cast<int64_t>(w->n), static_cast<int64_t>(w->k)};
  const float* bias = w->bias ? reinterpret_cast<const float*>(kDummyBytes) : nullptr;
  st->ops = w->take_spares();  // all slices' operators, or none
  for (size_t i = st->ops.size(); i < w->slices.size(); ++i) {
    SliceWeights& sw = *w->slices[i];
    xnn_operator_t op = nullptr;
    MBLIP_RETURN_IF_ERROR(create_slice_with(view, bias, w->path, sw.n0(), sw.rows(), sw.provider(), true, &op));
    st->ops.push_back(op);
  }
  if (w->path != Path::kF32) {
    const xnn_status s = xnn_create_convert_nc_f32_qd8(0, &st->convert);
    if (s != xnn_status_success) return xnn_error(w->name, "create_convert_nc_f32_qd8", s);
  }
  return Result<std::unique_ptr<XnnState>>(std::move(st));
}

// Scratch slots of the calling context (ThreadPool::scratch).
enum ScratchSlot { kSlotQuantized = 0, kSlotQuantParams = 1, kSlotPaddedOut = 2 };

class XnnpackLinear final : public LinearKernel {
 public:
  explicit XnnpackLinear(std::shared_ptr<const XnnWeights> w) : w_(std::move(w)) {
    out_ = static_cast<int64_t>(w_->n);
    in_ = static_cast<int64_t>(w_->k);
  }

  // Stateless: the operators (and their reshape state) and the scratch belong to the calling
  // context `pool` (one per Session), created on its first call; the weights are shared.
  Status forward(const float* x, size_t m, float* y, ThreadPool& pool) const override {
    if (m == 0) return Status::Ok();
    auto* st = static_cast<XnnState*>(pool.find_state(w_.get()));
    if (!st) {
      auto made = make_state(w_);
      if (!made.ok()) return made.status();
      st = static_cast<XnnState*>(pool.put_state(w_.get(), std::move(made).value()));
    }
    const size_t k = w_->k, n = w_->n;
    const bool pad = pads(m);
    const size_t rows = pad ? m + 1 : m;
    int8_t* xq = nullptr;
    xnn_quantization_params* qp = nullptr;
    float* yp = nullptr;
    if (w_->path != Path::kF32) {
      xq = static_cast<int8_t*>(pool.scratch(kSlotQuantized, rows * k + XNN_EXTRA_BYTES));
      qp = static_cast<xnn_quantization_params*>(
          pool.scratch(kSlotQuantParams, (rows + XNN_EXTRA_QUANTIZATION_PARAMS) * sizeof(xnn_quantization_params)));
      if (pad) yp = static_cast<float*>(pool.scratch(kSlotPaddedOut, rows * n * sizeof(float)));
      if (!xq || !qp || (pad && !yp)) return out_of_memory_error(m);
    }
    const char* failed = run(*st, x, m, pad ? yp : y, pool.handle(), xq, qp);
    // Only reachable on an XNNPACK bug or allocation failure.
    if (failed) {
      st->rows = 0;  // reshape again next time
      return internal_error(std::string("XNNPACK ") + failed + " failed (" + path_name(w_->path) + ", " +
                            std::to_string(m) + " x " + std::to_string(in_) + " -> " + std::to_string(out_) + ")");
    }
    if (pad) std::memcpy(y, yp, m * n * sizeof(float));
    return Status::Ok();
  }

  std::string describe() const override {
    const size_t ns = w_->slices.size();
    return std::string("xnnpack ") + path_name(w_->path) + " (" + std::to_string(ns) + " slice" + (ns == 1 ? "" : "s") +
           ")";
  }
  size_t memory_bytes() const override { return w_->n * packed_row_bytes(w_->path, w_->k); }

 private:
  Status out_of_memory_error(size_t m) const {
    return internal_error("out of memory for the activation scratch of '" + w_->name + "' (" + std::to_string(m) +
                          " rows)");
  }

  // XNNPACK 4ea82e5 bug: for m > 1, qd8-f32-qb4w writes a wrong LAST row (errors of ~5% of the
  // row's range, seen with the AVX512-VNNI-GFNI kernel; the other rows and m = 1 are right).
  // Those calls run one padding row more (a copy of the last) into a scratch output and drop it:
  // no extra pass over the weights, one m x n copy.
  bool pads(size_t m) const { return w_->path == Path::kQb4w && m > 1; }

  // Returns nullptr on success, else the name of the step that failed. Reshapes only when the
  // row count changed since the last call in this context (setup binds the pointers each call).
  const char* run(XnnState& st, const float* x, size_t m, float* y, pthreadpool_t tp, int8_t* xq,
                  xnn_quantization_params* qp) const {
    const size_t k = w_->k;
    const bool reshape = st.always_reshape || st.rows != m;
    st.rows = m;
    const auto& sl = w_->slices;
    if (w_->path == Path::kF32) {
      for (size_t i = 0; i < sl.size(); ++i) {
        if (reshape && xnn_reshape_fully_connected_nc_f32(st.ops[i], m, tp) != xnn_status_success) return "reshape";
        if (xnn_setup_fully_connected_nc_f32(st.ops[i], x, y + sl[i]->n0()) != xnn_status_success) return "setup";
        if (xnn_run_operator(st.ops[i], tp) != xnn_status_success) return "run";
      }
      return nullptr;
    }
    // Dynamic per-row int8 quantization of the activations (asymmetric, zero point per row).
    if (reshape && xnn_reshape_convert_nc_f32_qd8(st.convert, m, k, k, k, tp) != xnn_status_success)
      return "convert reshape";
    if (xnn_setup_convert_nc_f32_qd8(st.convert, x, xq, qp) != xnn_status_success) return "convert setup";
    if (xnn_run_operator(st.convert, tp) != xnn_status_success) return "convert run";
    // Padding row (see pads()): a copy of the last quantized row; y has room for it.
    size_t mm = m;
    if (pads(m)) {
      std::memcpy(xq + m * k, xq + (m - 1) * k, k);
      qp[m] = qp[m - 1];
      mm = m + 1;
    }
    for (size_t i = 0; i < sl.size(); ++i) {
      xnn_operator_t op = st.ops[i];
      float* yo = y + sl[i]->n0();
      xnn_status s = xnn_status_success;
      switch (w_->path) {
        case Path::kQc8w:
          if (reshape) s = xnn_reshape_fully_connected_nc_qd8_f32_qc8w(op, m, tp);
          if (s == xnn_status_success) s = xnn_setup_fully_connected_nc_qd8_f32_qc8w(op, xq, yo, qp);
          break;
        case Path::kQb4w:
          if (reshape) s = xnn_reshape_fully_connected_nc_qd8_f32_qb4w(op, mm, tp);
          if (s == xnn_status_success) s = xnn_setup_fully_connected_nc_qd8_f32_qb4w(op, xq, yo, qp);
          break;
        case Path::kQc4w:
          if (reshape) s = xnn_reshape_fully_connected_nc_qd8_f32_qc4w(op, m, tp);
          if (s == xnn_status_success) s = xnn_setup_fully_connected_nc_qd8_f32_qc4w(op, xq, yo, qp);
          break;
        case Path::kF32: break;
      }
      if (s != xnn_status_success) return "reshape/setup";
      if (xnn_run_operator(op, tp) != xnn_status_success) return "run";
    }
    return nullptr;
  }

  std::shared_ptr<const XnnWeights> w_;
};

// `count` bf16 ones from a process-wide read-only buffer (one slice's worth: max_slice_elems / 32
// scales), or nullptr when a slice needs more (the caller then fills its own).
const uint16_t* bf16_ones(size_t count) {
  static const std::vector<uint16_t> ones(static_cast<size_t>(XnnLinearOptions{}.max_slice_elems) / kQBlock,
                                          to_bf16(1.f));
  return count <= ones.size() ? ones.data() : nullptr;
}

// The packing step's large inputs (requantized weights, block scales). Natively reused by the next
// slice the thread packs (load workers are transient threads; fresh pages cost ~3 s/GiB on small
// VMs, and zero-filling them is wasted work); wasm builds on the long-lived loading thread: `local`.
template <typename T>
T* pack_buffer(std::vector<T>& local, size_t n) {
#ifndef __EMSCRIPTEN__
  (void)local;
  thread_local std::vector<T> reused;
  if (reused.size() < n) reused.resize(n);
  return reused.data();
#else
  local.resize(n);
  return local.data();
#endif
}

// Creates the operator for weight rows [n0, n0 + ns). Temporary buffers live only in here.
// `wc`: the packed-weights cache (or nullptr). `dummy`: the cache holds this slice's packed
// form, so the weight bytes are not read and nothing is requantized: valid-looking stand-ins
// (scales 1, kDummyBytes) are passed instead; weight_cache.cpp reports if the look-up missed
// after all (a context's SliceWeights never misses).
Status create_slice_with(const TensorView& w, const float* bias, Path path, size_t n0, size_t ns,
                         xnn_weights_cache_t wc, bool dummy, xnn_operator_t* op) {
  const size_t n = static_cast<size_t>(w.dim(0)), k = static_cast<size_t>(w.dim(1));
  const float* b = bias ? (dummy ? reinterpret_cast<const float*>(kDummyBytes) : bias + n0) : nullptr;
  const float inf = std::numeric_limits<float>::infinity();
  xnn_status st = xnn_status_success;
  if (path == Path::kF32) {
    const float* src = dummy ? reinterpret_cast<const float*>(kDummyBytes) : reinterpret_cast<const float*>(w.data) + n0 * k;
    std::vector<float> tmp;
    if (w.type == DType::F16 && !dummy) {
      tmp.resize(ns * k);
      dequantize_row(DType::F16, w.data + n0 * k * 2, tmp.data(), static_cast<int64_t>(ns * k));
      src = tmp.data();
    }
    st = xnn_create_fully_connected_nc_f32(k, ns, k, n, src, b, -inf, inf, 0, nullptr, wc, op);
    return st == xnn_status_success ? Status::Ok() : xnn_error(w.name, "create_fully_connected_nc_f32", st);
  }
  const size_t row_bytes = (k / kQBlock) * dtype_traits(w.type).block_bytes;
  const uint8_t* rows = dummy ? kDummyBytes : w.data + n0 * row_bytes;
  if (path == Path::kQc8w || path == Path::kQc4w) {
    const bool q8 = path == Path::kQc8w;
    const int qmax = q8 ? 127 : 7;
    std::vector<float> scale(ns, 1.f);
    std::vector<uint8_t> kernel_mem;
    uint8_t* kernel = dummy ? nullptr : pack_buffer(kernel_mem, q8 ? ns * k : ns * k / 2);
    const void* kptr = dummy ? static_cast<const void*>(rows) : kernel;  // rows: unread
    std::vector<float> deq(dummy ? 0 : k);
    for (size_t r = 0; r < (dummy ? 0 : ns); ++r) {
      dequantize_row(w.type, rows + r * row_bytes, deq.data(), static_cast<int64_t>(k));
      scale[r] = symmetric_scale(deq.data(), k, qmax);
      const float inv = 1.f / scale[r];
      if (q8) {
        quantize_row_int8(deq.data(), k, inv, reinterpret_cast<int8_t*>(kernel) + r * k);
      } else {  // unsigned nibbles with zero point 8; element 2j in the low nibble of byte j
        uint8_t* dst = kernel + r * k / 2;
        for (size_t i = 0; i < k; i += 2) {
          const int lo = quantize_to(deq[i], inv, -8, 7) + 8, hi = quantize_to(deq[i + 1], inv, -8, 7) + 8;
          dst[i / 2] = static_cast<uint8_t>(lo | (hi << 4));
        }
      }
    }
    if (q8) {
      st = xnn_create_fully_connected_nc_qd8_f32_qc8w(k, ns, k, n, scale.data(), static_cast<const int8_t*>(kptr),
                                                       b, -inf, inf, 0, nullptr, wc, op);
    } else {
      st = xnn_create_fully_connected_nc_qd8_f32_qc4w(k, ns, k, n, 8, scale.data(), kptr, b, -inf, inf, 0, nullptr,
                                                       wc, op);
    }
    return st == xnn_status_success ? Status::Ok() : xnn_error(w.name, "create_fully_connected_nc_qd8", st);
  }
  // Q4_0 -> qb4w: x = d*(q-8) per block. XNNPACK wants a positive bf16 scale and zero point 8:
  // d > 0 keeps q; d < 0 uses |d| and 16-q (q = 0, the block's extreme value, clamps to 15).
  const size_t nb = k / kQBlock;
  const uint16_t one_bf16 = to_bf16(1.f);
  // XNNPACK checks every scale, also on a cache hit: with dummy inputs the scales come from one
  // shared read-only buffer of ones (a fresh vector per Session's operator cost a page-faulting
  // allocation per slice, ~0.1 s for the lm_head alone).
  const uint16_t* shared_ones = dummy ? bf16_ones(ns * nb) : nullptr;
  std::vector<uint16_t> scale_mem;
  std::vector<uint8_t> kernel_mem;
  uint16_t* scale = shared_ones ? nullptr : pack_buffer(scale_mem, ns * nb);  // every one written below
  if (dummy && !shared_ones) std::fill(scale, scale + ns * nb, one_bf16);
  const uint16_t* scale_ptr = shared_ones ? shared_ones : scale;
  uint8_t* kernel = dummy ? nullptr : pack_buffer(kernel_mem, ns * k / 2);
  const void* kptr = dummy ? static_cast<const void*>(rows) : kernel;
  for (size_t r = 0; r < (dummy ? 0 : ns); ++r) {
    for (size_t blk = 0; blk < nb; ++blk) {
      const uint8_t* src = rows + r * row_bytes + blk * 18;
      uint16_t dh;
      std::memcpy(&dh, src, 2);
      const float d = fp16_to_fp32(dh);
      const bool usable = std::isnormal(d);
      scale[r * nb + blk] = usable ? to_bf16(std::fabs(d)) : one_bf16;
      repack_q4_block(src + 2, usable ? (d < 0 ? -1 : 1) : 0, kernel + r * k / 2 + blk * kQBlock / 2);
    }
  }
  st = xnn_create_fully_connected_nc_qd8_f32_qb4w(k, ns, k, n, kQBlock, 8, scale_ptr, kptr, b, -inf, inf, 0,
                                                   nullptr, wc, op);
  return st == xnn_status_success ? Status::Ok() : xnn_error(w.name, "create_fully_connected_nc_qd8_f32_qb4w", st);
}

// Packs one slice (recorded by `sw`, which forwards to the store when there is one), from the
// packed-weights cache when it has the slice. The operator made here is only the packing step.
Status create_slice(const TensorView& w, const float* bias, Path path, SliceWeights& sw, PackedWeightStore* store,
                    xnn_operator_t* op) {
  const size_t n0 = sw.n0(), ns = sw.rows();
  xnn_weights_cache_t wc = sw.provider();
  if (!store) return create_slice_with(w, bias, path, n0, ns, wc, false, op);
  const std::string entry = w.name + "|" + path_name(path) + "|" + std::to_string(n0) + "+" + std::to_string(ns) +
                            "x" + std::to_string(w.dim(1));
  if (store->has(entry)) {
    PackedWeightStore::EntryScope scope(store, entry, /*inputs_are_dummies=*/true);
    Status s = create_slice_with(w, bias, path, n0, ns, wc, true, op);
    if (s.ok() && !scope.missed_with_dummies()) return s;
    if (*op) xnn_delete_operator(*op);
    *op = nullptr;
  }
  PackedWeightStore::EntryScope scope(store, entry, false);
  return create_slice_with(w, bias, path, n0, ns, wc, false, op);
}

}  // namespace

Result<std::unique_ptr<LinearKernel>> make_linear_xnnpack_with(const TensorView& weight, const TensorView* bias,
                                                               const XnnLinearOptions& opts) {
  if (weight.shape.size() != 2 || weight.dim(0) <= 0 || weight.dim(1) <= 0)
    return model_load_error("linear weight '" + weight.name + "' must be 2-D and non-empty");
  const size_t n = static_cast<size_t>(weight.dim(0)), k = static_cast<size_t>(weight.dim(1));
  MBLIP_ASSIGN_OR_RETURN(size_t nbytes, dtype_bytes(weight.type, weight.numel()));
  if (!weight.data || weight.nbytes < nbytes)
    return model_load_error("linear weight '" + weight.name + "' has " + std::to_string(weight.nbytes) +
                            " bytes, expected " + std::to_string(nbytes));
  if (bias && (bias->type != DType::F32 || bias->numel() != weight.dim(0) || !bias->data))
    return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(n) + " elements");
  if ((weight.type == DType::Q8_0 || weight.type == DType::Q4_0) && k % kQBlock != 0)
    return model_load_error("linear weight '" + weight.name + "': " + dtype_name(weight.type) +
                            " rows must be a multiple of 32 elements, got " + std::to_string(k));
  const xnn_status init = xnn_initialize(nullptr);  // idempotent and thread-safe
  if (init != xnn_status_success) return unsupported("XNNPACK is not supported on this CPU");

  auto w = std::make_shared<XnnWeights>();
  w->path = path_for(weight.type, opts.q4);
  w->name = weight.name;
  w->type = weight.type;
  w->n = n;
  w->k = k;
  w->bias = bias != nullptr;
  const float* b = bias ? reinterpret_cast<const float*>(bias->data) : nullptr;
  // Set by the model loader (api/model.cpp); the kernel keeps it alive (its packed weights).
  w->store = WeightStoreScope::current();
  auto* base = w->store ? static_cast<xnn_weights_cache_t>(w->store->provider()) : nullptr;
  const size_t max_rows =
      std::max<size_t>(1, static_cast<size_t>(std::max<int64_t>(1, opts.max_slice_elems)) / k);
  const size_t slices = (n + max_rows - 1) / max_rows;
  const size_t rows_per = (n + slices - 1) / slices;  // balanced slices
  for (size_t n0 = 0; n0 < n; n0 += rows_per)
    w->slices.push_back(std::make_unique<SliceWeights>(base, n0, std::min(rows_per, n - n0)));
  // Slices are packed in parallel when there are several (the lm_head, last in the file, was
  // packed alone on one core at the end of the load): helper threads take slices with the caller.
  std::vector<xnn_operator_t> ops(slices, nullptr);
  std::vector<Status> errors(slices);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto pack = [&] {
    for (size_t i; !failed.load() && (i = next.fetch_add(1)) < slices;) {
      Status s = create_slice(weight, b, w->path, *w->slices[i], w->store.get(), &ops[i]);
      if (s.ok() && !w->slices[i]->finish_recording())
        s = internal_error("XNNPACK did not report packed weights for '" + weight.name + "'");
      if (!s.ok()) failed.store(true), errors[i] = std::move(s);
    }
  };
  std::vector<std::thread> helpers;
#ifndef __EMSCRIPTEN__
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  for (size_t t = 1; t < std::min<size_t>({slices, cores, 4}); ++t) {
    try {
      helpers.emplace_back(pack);
    } catch (...) {  // no thread: the caller packs the rest
      break;
    }
  }
#endif
  pack();
  for (auto& t : helpers) t.join();
  for (xnn_operator_t op : ops)
    if (op) w->spare_ops.push_back(op);  // runs on the packed weights in the slice / the store
  for (Status& s : errors) MBLIP_RETURN_IF_ERROR(s);  // (the spare operators go with w)
  if (w->spare_ops.size() != w->slices.size()) {  // all or none (take_spares)
    for (xnn_operator_t op : w->spare_ops) xnn_delete_operator(op);
    w->spare_ops.clear();
  }
  return std::unique_ptr<LinearKernel>(std::make_unique<XnnpackLinear>(std::move(w)));
}

uint64_t estimate_linear_xnnpack_bytes(DType type, int64_t out, int64_t in, XnnQ4Mode q4) {
  const Path path = path_for(type, q4);
  return static_cast<uint64_t>(std::max<int64_t>(out, 0)) * packed_row_bytes(path, static_cast<size_t>(std::max<int64_t>(in, 0)));
}

Result<std::unique_ptr<LinearKernel>> make_linear_xnnpack(const TensorView& weight, const TensorView* bias,
                                                          XnnQ4Mode q4) {
  XnnLinearOptions opts;
  opts.q4 = q4;
  return make_linear_xnnpack_with(weight, bias, opts);
}

}  // namespace mblip
