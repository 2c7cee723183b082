// Q4_0 / Q8_0 linear kernel for few activation rows (decoder steps: m = 1..8, beam search) on x86-64
// with AVX-512 VNNI: one pass over the weights serves every row. Weights are repacked once into groups
// of 16 output rows (kernels/q4_0_vnni_native.cpp); the packed form lives in the packed-weights cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/linear.h"

namespace mblip {

// Packed layout for an {n, k} Q4_0 / Q8_0 weight (k a multiple of 32, nb = k / 32 blocks a row),
// output rows in groups of 16 (ceil(n / 16) groups, the last one padded with zero rows), stored in
// slices of whole groups; a slice of G groups starting at group G0 holds (g: group index in the slice,
// QB = vnni_block_bytes: 256 for Q4_0, 512 for Q8_0):
//   quants: G * nb * QB bytes; group g, block b at (g * nb + b) * QB: QB / 64 vectors of 64 bytes.
//           Q4_0: vector q in 0..3 holds, for row j of the group, the GGUF quant bytes 4q..4q+3 of its
//           block b at bytes 4j..4j+3 (low nibbles: elements 4q..4q+3, high: 16+4q..16+4q+3).
//           Q8_0: vector q in 0..7 holds elements 4q..4q+3 of row j at bytes 4j..4j+3, as q + 128.
//   scales: then G * nb * 16 IEEE halves (the rows' block scales, group-major, as stored).
// Padding rows: scale 0, quants of value 0. As many bytes a row and block as the file (18 / 34).
constexpr size_t kQ4VnniRows = 16;
constexpr size_t vnni_block_bytes(DType type) { return type == DType::Q8_0 ? 512 : 256; }
// Bytes of a slice of `groups` groups of a weight with k columns.
uint64_t q4_vnni_slice_bytes(size_t groups, size_t k, DType type);
// Packs groups [g0, g0 + groups) of the GGUF bytes of a Q4_0 / Q8_0 {n, k} weight (weight.type) into
// dst (q4_vnni_slice_bytes bytes). Error for a non-finite scale (names tensor, row, block).
Status pack_q4_vnni(const TensorView& weight, size_t g0, size_t groups, uint8_t* dst);

// Activations quantized per row and block of 32, as kernels/block_int8.h's quantize_acts_q8 does
// (the same rounding, so results equal the reference's integers): q (m * k int8), d (m * nb float),
// ns8 (m * nb int32: -offset * the block's integer sum; offset 8 for Q4_0, 128 for Q8_0).
struct Q4VnniActs {
  const int8_t* q;
  const float* d;
  const int32_t* ns8;
  size_t m;
};

// Fills the buffers of a Q4VnniActs for m rows of k floats (k a multiple of 32). Only call when
// cpu_has_avx512_vnni().
void q4_vnni_quantize(const float* x, size_t m, size_t k, int32_t offset, int8_t* q, float* d, int32_t* ns8);

// y[i * n + r] = sum_b isum(i, r, b) * d_w(r, b) * d_x(i, b) (+ bias[r]) for rows i < a.m and the
// output groups [g0, g1) of the slice `slice` (slice_groups groups from group s0; s0 <= g0 <= g1 <=
// s0 + slice_groups). Only call when cpu_has_avx512_vnni().
void q4_vnni_gemm(const uint8_t* slice, size_t s0, size_t slice_groups, size_t n, size_t k, DType type,
                  const Q4VnniActs& a, size_t g0, size_t g1, float* y, const float* bias);

// AVX-512 F/BW/VL + VNNI on this CPU (false on other targets).
bool cpu_has_avx512_vnni();

// The kernel for a Q4_0 or Q8_0 weight (error when the CPU lacks AVX-512 VNNI). The packed weights go
// to the current packed-weights store when there is one (warm loads map them), otherwise to the heap.
Result<std::unique_ptr<LinearKernel>> make_linear_q4_0_vnni(const TensorView& weight, const TensorView* bias);

}  // namespace mblip
