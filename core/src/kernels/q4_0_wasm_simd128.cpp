// WASM SIMD128 variant of the Q4_0 x q8-block GEMM (kernels/q4_0.h). Few rows (decode, beam steps):
// nibbles to int16 4096 * (q - 8) in place, i32x4.dot_i16x8_s with activations widened to int16 once
// per task, tiling and scaling in the shared wasm micro-kernel (kernels/block_int8_wasm.h). From 8
// rows on: the row-lane kernel (kernels/block_int8_rowlane_wasm.h, weights unpacked once per task to
// int16), equal to the scalar reference bit for bit.
#include "kernels/block_int8_rowlane_wasm.h"
#include "kernels/block_int8_wasm.h"
#include "kernels/q4_0.h"

#include <vector>

namespace mblip {
namespace {

// Few rows (decode, beam steps): each 16-byte weight block read as 8 int16 lanes after XOR 0x88
// (each nibble q becomes the 4-bit two's complement of q - 8): lane j holds elements 2j (bits 0-3),
// 2j + 16 (4-7), 2j + 1 (8-11) and 2j + 17 (12-15). Moving a nibble to the top 4 bits (shl 12, shl 8 /
// shl 4 + and 0xF000, and 0xF000) gives 4096 * (q - 8) as int16 for 8 elements in 1-2 operations; the
// activations are widened to int16 once per task in the same element order (Acts16), so the dots read
// them with plain loads. Block sums are 4096x the true ones: exact in int32 (|4096 * 8 * 127| * 32).
struct Acts16 {
  size_t m = 0, nbp = 0;
  std::vector<int16_t> q;  // per block: elements 0, 2, .., 14 | 16, 18, .., 30 | 1, 3, .., 15 | 17, .., 31
  const float* d = nullptr;
  const int32_t* s = nullptr;
  const int16_t* row_q(size_t i) const { return q.data() + i * nbp * kQ4Block; }
  const float* row_d(size_t i) const { return d + i * nbp; }
  const int32_t* row_s(size_t i) const { return s + i * nbp; }

  void widen(const Q8Acts& a) {
    m = a.m;
    nbp = a.nbp;
    d = a.d.data();
    s = a.s.data();
    q.resize(m * nbp * kQ4Block);
    for (size_t i = 0; i < m * nbp; ++i) {
      const v128_t lo = wasm_v128_load(a.q.data() + i * kQ4Block), hi = wasm_v128_load(a.q.data() + i * kQ4Block + 16);
      const v128_t even = wasm_i8x16_shuffle(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      const v128_t odd = wasm_i8x16_shuffle(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
      int16_t* dst = q.data() + i * kQ4Block;
      wasm_v128_store(dst, wasm_i16x8_extend_low_i8x16(even));
      wasm_v128_store(dst + 8, wasm_i16x8_extend_high_i8x16(even));
      wasm_v128_store(dst + 16, wasm_i16x8_extend_low_i8x16(odd));
      wasm_v128_store(dst + 24, wasm_i16x8_extend_high_i8x16(odd));
    }
  }
};

struct Q4DotPlanes {
  static constexpr size_t kBlockBytes = 16;
  static constexpr float kScale = 1.0f / 4096.0f;  // undoes the 4096x of unpack (exact: a power of two)
  static constexpr bool kPerBlockOk = true;
  static constexpr int32_t kSumOffset = 0;
  using W = WasmI16Block;
  using X = WasmI16Block;
  static W unpack(const uint8_t* q) {
    const v128_t v = wasm_v128_xor(wasm_v128_load(q), wasm_i8x16_splat(static_cast<int8_t>(0x88)));
    const v128_t top = wasm_i16x8_splat(static_cast<int16_t>(0xF000));
    return {{wasm_i16x8_shl(v, 12), wasm_v128_and(wasm_i16x8_shl(v, 8), top), wasm_v128_and(wasm_i16x8_shl(v, 4), top),
             wasm_v128_and(v, top)}};
  }
  static X load(const int16_t* xb) {
    return {{wasm_v128_load(xb), wasm_v128_load(xb + 8), wasm_v128_load(xb + 16), wasm_v128_load(xb + 24)}};
  }
  static v128_t dot(const W& w, const X& x) { return wasm_i16_block_dot(w, x); }
};

constexpr size_t kLargeM = 8;  // from this many rows on, the row-lane kernel (at M = 5 the driver is faster)

}  // namespace

void q4_0_gemm_wasm_simd128(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                            const float* bias) {
  if (a.m >= kLargeM) RowLaneGemm<Q4RelaxedFmt, Simd128Q4Sums, 1, 4>::gemm(w, a, r0, r1, y, ldy, bias);
  else {
    thread_local Acts16 a16;  // per task: a few rows, little work next to the task's 32 weight rows
    a16.widen(a);
    block_gemm<BlockWasmKernel<Q4DotPlanes>>(w, a16, r0, r1, y, ldy, bias);
  }
}

}  // namespace mblip
