// make_linear: picks the kernel for a weight from its type and the build: our own Q8_0 / Q4_0
// kernels (kernels/q8_0.h, q4_0.h: block scales kept, activations quantized per block of 32),
// XNNPACK for the other types / paths where available, otherwise the scalar reference.
#include "kernels/linear.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/int8_rows.h"
#include "kernels/linear_impl.h"
#include "kernels/q4_0.h"
#include "kernels/q4_0_vnni.h"
#include "kernels/q8_0.h"

namespace mblip {
namespace {

enum class QuantPath { kDefault, kOwn, kXnnpack, kReference };

// Developer switch for measurements (same-run before/after comparisons, docs/model-file.md):
// MBLIP_Q8_KERNEL / MBLIP_Q4_KERNEL = own | xnnpack | ref. Unset or unknown: the default below.
QuantPath path_from_env(const char* var) {
  const char* v = std::getenv(var);
  if (!v) return QuantPath::kDefault;
  if (!std::strcmp(v, "own")) return QuantPath::kOwn;
  if (!std::strcmp(v, "xnnpack")) return QuantPath::kXnnpack;
  if (!std::strcmp(v, "ref")) return QuantPath::kReference;
  return QuantPath::kDefault;
}

bool q4_many_as_int8(const LinearOptions& opts);

// The path for a quantized weight type under kAuto.
QuantPath choose(DType type, const LinearOptions& opts = LinearOptions()) {
  QuantPath p = QuantPath::kDefault;
  if (type == DType::Q8_0) p = path_from_env("MBLIP_Q8_KERNEL");
  else if (type == DType::Q4_0) p = path_from_env("MBLIP_Q4_KERNEL");
  else return QuantPath::kXnnpack;
  // Defaults (measured 2026-12-04 with a same-run microbenchmark, docs/model-file.md "Kernels"):
  // - Q4_0: own kernel in wasm (XNNPACK qb4w has no SIMD kernel there: own is 3-11x faster) but
  //   for q4_many_as_int8's weights (XNNPACK qc8w); XNNPACK natively.
  // - Q8_0: XNNPACK qc8w everywhere. The own Q8_0 kernel keeps the block scales and quantizes
  //   activations per 32 (encoder cosine 0.99958 vs 0.99926 on tiny-mt5) but is 1.4-3.7x slower
  //   in wasm and 2.4-10x slower natively (no VNNI path yet): opt in with MBLIP_Q8_KERNEL=own.
  if (p == QuantPath::kDefault) {
#if defined(__EMSCRIPTEN__)
    p = type == DType::Q4_0 && !q4_many_as_int8(opts) ? QuantPath::kOwn : QuantPath::kXnnpack;
#else
    p = QuantPath::kXnnpack;
#endif
  }
#ifndef MBLIP_HAVE_XNNPACK
  if (p == QuantPath::kXnnpack) p = QuantPath::kOwn;
#endif
  return p;
}

// Q4_0 / Q8_0 weights run on LinearRows::kFew on CPUs with AVX-512 VNNI: the small-m kernel, one
// pass over the weights for all rows (XNNPACK's qb4w has 1- and 8-row tiles, qc8w 1- and 10-row ones:
// m = 5 computes 8 or 10 rows). MBLIP_Q4_SMALL_M / MBLIP_Q8_SMALL_M = on | off override the defaults
// (same-run comparisons). Q4_0: on by default: beam-5 steps 16-28% faster, greedy unchanged at 2
// threads (measured 2026-12-04, `mblip bench`), and its per-block activation quantization is closer
// to the HF goldens (tests/test_quality.cpp: default recipe teacher-forced 0.951 -> 0.957, greedy
// 0 -> 1 / 11, beam 3 0 -> 2 / 11). Q8_0: off. In cache XNNPACK qc8w (per-row scales, no per-block
// epilogue) is faster (0.30 vs 0.43 ms at m = 5 on 2048 x 2048); streamed from memory as in a decoder
// step the kernel is ahead since it prefetches 8 KiB (the default recipe's 48 self-attention v / o of a
// step: 3.5-4.9 vs 4.6-5.4 ms at m = 5, about equal at m = 1; `mblip-bench-kernels step`, 2026-12-05),
// but switched on it makes the all-q8_0 recipe miss a golden greedy token at a top-2 gap of 0.104
// (tests/test_quality.cpp, issue 13's rule: none above 0.05), so it stays a measurement switch.
bool small_m_by_default(DType type) { return type == DType::Q4_0; }

bool use_vnni(DType type, const LinearOptions& opts) {
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
  if ((type != DType::Q4_0 && type != DType::Q8_0) || opts.backend != LinearBackend::kAuto) return false;
  bool on = false;
  if (opts.rows == LinearRows::kFew) {
    const char* v = std::getenv(type == DType::Q4_0 ? "MBLIP_Q4_SMALL_M" : "MBLIP_Q8_SMALL_M");
    on = v && !std::strcmp(v, "on") ? true : v && !std::strcmp(v, "off") ? false : small_m_by_default(type);
  } else if (opts.rows == LinearRows::kSome && type == DType::Q4_0) {
    // Tens of rows (the encoder, the decoder's cross-attention K/V): the kernel runs them 8 at a
    // time on weights kept in cache. Encoder 246-250 -> 212-217 ms at 2 threads (`mblip bench`,
    // full-size default recipe, 3 alternating runs, 2026-12-04), and exact for the Q4_0 blocks
    // with a negative scale, which qb4w (positive bf16 scales) shifts by one code.
    // MBLIP_Q4_VNNI_SOME=off: XNNPACK qb4w (same-run comparisons).
    const char* v = std::getenv("MBLIP_Q4_VNNI_SOME");
    on = !(v && !std::strcmp(v, "off"));
  }
  if (!on) return false;
  if (choose(type) != QuantPath::kXnnpack) return false;  // an explicit MBLIP_Q4_KERNEL / MBLIP_Q8_KERNEL wins
  return cpu_has_avx512_vnni();
#else
  (void)type, (void)opts;
  return false;
#endif
}

// Whether our int8-rows kernel (kernels/int8_rows.h) has a fast variant here and is not switched off:
// MBLIP_I8ROWS=off gives the previous kernels (same-run comparisons).
bool i8rows_on() {
  const char* v = std::getenv("MBLIP_I8ROWS");
  return !(v && !std::strcmp(v, "off")) && i8rows_preferred();
}

// Q4_0 weights run on LinearRows::kMany (the ViT's MLP in the default recipe) are requantized to
// int8 with one scale per output row (XNNPACK's qc8w or our int8-rows kernel) rather than kept in
// 4 bits, for twice the packed bytes (+0.29 GB for mblip-mt0-xl's ViT). The per-row int8 grid is ~8x
// finer than Q4_0's per-block one, so the requantization adds little (tests/test_quality.cpp).
// - Natively: at M = 257 on AVX-512 VNNI, 777-812 vs 482-491 GFLOP/s for qb4w (1.6x;
//   `mblip-bench-kernels 2 0.3 2`, fc1 / fc2 shapes, 2026-12-04). MBLIP_Q4_XNN = qb4w | qc8w sets
//   the form of every Q4_0 weight on XNNPACK (same-run comparisons).
// - Relaxed-SIMD wasm, where the engine's relaxed dot is a full int8 dot (XNNPACK then runs its
//   usdot / sdot kernels): headless Chromium on AVX-VNNI, 1 thread, M = 257: qc8w 151 GOP/s vs 106
//   for the own Q4_0 kernel; vision 2.7-4.1 -> 2.2-2.8 s at 2 threads (README).
// - Other wasm (SIMD128 builds, saturating relaxed dots): on the int8-rows kernel's SIMD128 variant
//   (XNNPACK's qc8w there is no faster than the own Q4_0 kernel, ~50 GOP/s a thread).
bool q4_many_as_int8(const LinearOptions& opts) {
  if (opts.rows != LinearRows::kMany || !opts.widen_q4_many) return false;
#if defined(__EMSCRIPTEN__)
  if (i8rows_on()) return true;
#endif
#if defined(__wasm_relaxed_simd__) && defined(MBLIP_HAVE_XNNPACK)
  return wasm_relaxed_dot_is_int8();
#elif defined(__EMSCRIPTEN__) || !defined(MBLIP_HAVE_XNNPACK)
  return false;
#else
  return true;
#endif
}

// Q8_0 weights, and the Q4_0 ones q4_many_as_int8 widens, of LinearRows::kMany (the ViT) run on our
// int8-rows kernel where it has a fast variant: relaxed-SIMD wasm on "usdot" engines (x86 Chromium)
// and SIMD128 wasm without a full int8 relaxed dot. Same int8 weights and activation resolution as
// XNNPACK's qc8w, in register tiles V8 keeps without spills. Relaxed, headless Chromium, 1 thread,
// M = 257, the four ViT shapes: 189-198 vs 146-159 GOP/s for XNNPACK's usdot kernel
// (tools/bench/wasm_kernels.mjs, same run); at M = 32 / 47 (Q-Former, cross-attention v) only
// 0.9-1.15x, so those stay on XNNPACK there. The SIMD128 variant also takes the Q8_0 weights of
// tens of rows (LinearRows::kSome: the Q-Former, the projection, the decoder's cross-attention):
// Node 20, 1 / 2 threads, M = 32 / 47: 61-75 / 117-135 GOP/s vs 49-57 / 97-105 for XNNPACK's
// SIMD128 qc8w (M = 257: 88-91 / 174-182 vs 59-60 / 117-119; same session, 2026-12-05 17:05 UTC);
// Q4_0 ones stay 4-bit (the T5 encoder: no heap for int8).
bool use_i8rows(DType type, const LinearOptions& opts) {
  if (opts.backend != LinearBackend::kAuto) return false;
  const bool some_q8 = opts.rows == LinearRows::kSome && type == DType::Q8_0 &&
                       std::string(i8rows_variants().back().name) == "wasm_simd128";
  if (opts.rows != LinearRows::kMany && !some_q8) return false;
  if (type != DType::Q8_0 && !(type == DType::Q4_0 && q4_many_as_int8(opts))) return false;
  if (choose(type, opts) != QuantPath::kXnnpack) return false;  // an explicit MBLIP_Q4_KERNEL / MBLIP_Q8_KERNEL wins
  return i8rows_on();
}

#ifdef MBLIP_HAVE_XNNPACK
XnnQ4Mode xnn_q4_mode(const LinearOptions& opts) {
#if !defined(__EMSCRIPTEN__)
  const char* v = std::getenv("MBLIP_Q4_XNN");
  if (v && !std::strcmp(v, "qb4w")) return XnnQ4Mode::kBlockwise;
  if (v && !std::strcmp(v, "qc8w")) return XnnQ4Mode::kInt8;
#endif
  return q4_many_as_int8(opts) ? XnnQ4Mode::kInt8 : XnnQ4Mode::kBlockwise;
}
#endif

}  // namespace

Result<std::unique_ptr<LinearKernel>> make_linear(const TensorView& weight, const TensorView* bias,
                                                  const LinearOptions& opts) {
  if (weight.shape.size() != 2)
    return model_load_error("linear weight '" + weight.name + "' must be 2-D");
  const int64_t out = weight.shape[0];
  if (bias && (bias->type != DType::F32 || bias->numel() != out))
    return model_load_error("bias '" + bias->name + "' must be f32 with " + std::to_string(out) + " elements");
  if (opts.backend == LinearBackend::kReference) return make_linear_reference(weight, bias);
#if !defined(__EMSCRIPTEN__)
  if (use_vnni(weight.type, opts)) return make_linear_q4_0_vnni(weight, bias);
#endif
  if (use_i8rows(weight.type, opts)) return make_linear_i8rows(weight, bias);
  const QuantPath p = choose(weight.type, opts);
  if (p == QuantPath::kReference) return make_linear_reference(weight, bias);
  if (p == QuantPath::kOwn && weight.type == DType::Q8_0) return make_linear_q8_0(weight, bias);
  if (p == QuantPath::kOwn && weight.type == DType::Q4_0) return make_linear_q4_0(weight, bias);
#ifdef MBLIP_HAVE_XNNPACK
  return make_linear_xnnpack(weight, bias, xnn_q4_mode(opts));
#else
  return make_linear_reference(weight, bias);
#endif
}

uint64_t estimate_linear_bytes(DType type, int64_t out, int64_t in, bool bias, const LinearOptions& opts) {
  const uint64_t b = bias ? 4 * static_cast<uint64_t>(out) : 0;
#if !defined(__EMSCRIPTEN__)
  if (use_vnni(type, opts) && in % 32 == 0 && out > 0)
    return q4_vnni_slice_bytes((static_cast<size_t>(out) + kQ4VnniRows - 1) / kQ4VnniRows, static_cast<size_t>(in),
                               type) + b;
#endif
  if (use_i8rows(type, opts) && out > 0 && in > 0)
    return i8rows_kernel_bytes(static_cast<size_t>(out), static_cast<size_t>(in), bias);
  const QuantPath p = opts.backend == LinearBackend::kReference ? QuantPath::kReference : choose(type, opts);
  if (p == QuantPath::kOwn) {  // packed blocks padded to a multiple of kQ4BlockGroup per row
    const uint64_t nbp = (static_cast<uint64_t>(in) / kQ4Block + kQ4BlockGroup - 1) / kQ4BlockGroup * kQ4BlockGroup;
    const uint64_t block = type == DType::Q8_0 ? 2 + kQ4Block : 2 + kQ4Block / 2;
    return static_cast<uint64_t>(out) * nbp * block + b;
  }
#ifdef MBLIP_HAVE_XNNPACK
  if (p == QuantPath::kXnnpack) return estimate_linear_xnnpack_bytes(type, out, in, xnn_q4_mode(opts));
#endif
  auto w = dtype_bytes(type, out * in);  // the reference kernel keeps the bytes as stored
  return (w.ok() ? w.value() : 0) + b;
}

std::string linear_kernel_config() {
  std::string k;
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    const QuantPath p = choose(t);
    LinearOptions some, few, many;
    few.rows = LinearRows::kFew;
    many.rows = LinearRows::kMany;
    k += std::string(t == DType::Q8_0 ? "q8=" : "q4=") +
         (p == QuantPath::kOwn ? "own" : p == QuantPath::kXnnpack ? "xnnpack" : "ref") +
         (use_vnni(t, few) ? "+vnni_few" : "") + (use_vnni(t, some) ? "+vnni_some" : "");
#ifdef MBLIP_HAVE_XNNPACK
    if (t == DType::Q4_0 && p == QuantPath::kXnnpack)  // the packed form of each row count
      for (const LinearOptions* o : {&some, &many}) k += xnn_q4_mode(*o) == XnnQ4Mode::kInt8 ? ",qc8w" : ",qb4w";
    else if (t == DType::Q4_0 && choose(t, many) == QuantPath::kXnnpack && !use_i8rows(t, many))
      k += ",many=xnnpack_qc8w";
#endif
    if (use_i8rows(t, many)) k += ",many=own_i8rows";
    if (use_i8rows(t, some)) k += ",some=own_i8rows";
    k += ";";
  }
  return k;
}

}  // namespace mblip
