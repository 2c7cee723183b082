// Shared part of our block-int8 linear kernels (Q4_0 and Q8_0 weights x activations quantized per
// block of 32): packed weights, the activation quantizer, the variant table type and the LinearKernel
// (thread split over output channels). The per-ISA row/tile driver is in kernels/block_int8_driver.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/linear.h"

namespace mblip {

constexpr size_t kQ4Block = 32;      // elements per weight / activation block (Q4_0 and Q8_0)
constexpr size_t kQ4BlockGroup = 4;  // rows are padded to a multiple of this many blocks

// Weights repacked for the kernels: per output row, nbp blocks (nb real + padding to a multiple of
// kQ4BlockGroup) of `block_bytes` quant bytes, and the f16 scales in a separate array (aligned SIMD
// loads, no 18- / 34-byte stride). Padding blocks have d = 0 (and q = 8 for Q4_0, 0 for Q8_0).
// Q4_0: 16 bytes a block, byte j holds element j (low nibble) and j + 16 (high); value = d (q - 8).
// Q8_0: 32 int8 a block; value = d q.
struct BlockPacked {
  DType type = DType::Q4_0;
  size_t n = 0, k = 0, nb = 0, nbp = 0, block_bytes = 0;
  std::vector<uint8_t> qs;  // n * nbp * block_bytes
  std::vector<uint16_t> d;  // n * nbp, IEEE half (finite)
  const uint8_t* row_qs(size_t r) const { return qs.data() + r * nbp * block_bytes; }
  const uint16_t* row_d(size_t r) const { return d.data() + r * nbp; }
};

// Activations quantized per row and block of 32: q = round_half_even(x / d), d = max|x| / 127
// (0 for an all-zero block), plus the block's integer sum (for kernels using unsigned nibbles).
// Produced by one function for every ISA (SIMD128 lanes compute the same IEEE operations as the
// scalar form), so all variants see identical integers.
struct Q8Acts {
  size_t m = 0, nbp = 0;
  std::vector<int8_t> q;   // m * nbp * 32
  std::vector<float> d;    // m * nbp
  std::vector<int32_t> s;  // m * nbp: sum of the block's q
  // A new value from every quantize_acts_q8 call: kernels may keep derived forms of these
  // activations under it across the tasks of one call (0: unknown, never reused).
  uint64_t generation = 0;
  const int8_t* row_q(size_t i) const { return q.data() + i * nbp * kQ4Block; }
  const float* row_d(size_t i) const { return d.data() + i * nbp; }
  const int32_t* row_s(size_t i) const { return s.data() + i * nbp; }
};

// pool: rows are quantized in parallel on it when given and the work is large (same bytes).
void quantize_acts_q8(const float* x, size_t m, size_t k, size_t nbp, Q8Acts& out, ThreadPool* pool = nullptr);

// Computes y[i * ldy + r] = sum_b (isum_b * d_w * d_x) (+ bias[r]) for all rows i < a.m and output
// channels r in [r0, r1). Each output is computed entirely by one call; only the float summation
// order over blocks differs between ISAs (the block integer sums are exact).
using BlockGemmFn = void (*)(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                             const float* bias);

struct BlockVariant {
  const char* name;  // "ref", "avx2", "neon", "wasm_simd128", "wasm_relaxed"
  BlockGemmFn fn;
  DType type;  // the weight type it computes
};

// Packs a 2-D Q4_0 / Q8_0 weight {out, in} (in a multiple of 32; scales finite).
Result<BlockPacked> pack_block_weight(const TensorView& weight, DType type);

// The block-int8 linear kernel computing with `variant` (its type must be the weight's).
Result<std::unique_ptr<LinearKernel>> make_linear_block(const TensorView& weight, const TensorView* bias,
                                                        const BlockVariant& variant);

// Whether this x86-64 CPU has AVX2 + FMA + F16C (false elsewhere).
bool cpu_has_avx2_fma_f16c();

}  // namespace mblip
