// Shared by tests/test_kernels_i8rows.cpp (every build's fast variant) and test_kernels_relaxed.cpp
// (the relaxed variant, in Chromium): an int8-rows variant against the scalar reference, which must
// give identical outputs (same exact integer sums and float epilogue) on tiles with row and column
// tails (M = 1..5, 45, 257; N = 1..4, 7..9, 17, 100), K not a multiple of 16, bias, and extreme
// operands (weight codes -128 / 127, activation bytes 0 / 255 on one row), plus Q8_0 weights at a
// vision shape's tail. Returns the number of outputs that differ in any bit.
#pragma once
#include <cstring>

#include "kernels/int8_rows.h"
#include "kernels_block_fixture.h"

namespace mblip_test {

inline size_t i8rows_outputs_differing(const mblip::I8RowsVariant& v, mblip::ThreadPool& pool) {
  using namespace mblip;
  const I8RowsVariant& ref = i8rows_variants().front();
  const Shape shapes[] = {{1, 16, 1}, {2, 40, 2}, {3, 7, 3}, {4, 96, 4}, {5, 1000, 7}, {6, 48, 8}, {7, 33, 9},
                          {9, 160, 17}, {45, 1408, 100}, {257, 160, 7}, {257, 72, 100}};
  size_t differ = 0;
  for (const Shape& sh : shapes) {
    INFO("m " << sh.m << " k " << sh.k << " n " << sh.n);
    F32Weight w = make_f32_weight(static_cast<int64_t>(sh.n), static_cast<int64_t>(sh.k), sh.k * 3 + sh.n);
    w.v[0] = 1.f, w.v[1] = -1.f;  // row 0: codes 127 and -127 (-128 where a row's minimum is the larger)
    std::vector<float> x = make_x(sh.m, sh.k, sh.m + 1);
    for (size_t j = 0; j < sh.k; ++j) x[j] = (j % 2) ? 1e4f : -1e4f;  // row 0: bytes 0 and 255 only
    std::vector<float> bias(sh.n);
    for (size_t c = 0; c < sh.n; ++c) bias[c] = 0.125f * static_cast<float>(c);
    const TensorView bv = bias_view(bias);
    for (const TensorView* b : {static_cast<const TensorView*>(nullptr), &bv}) {
      std::vector<float> yr(sh.m * sh.n, -1.f), yv(sh.m * sh.n, -2.f);
      REQUIRE(make_linear_i8rows(w.view(), b, &ref).value()->forward(x.data(), sh.m, yr.data(), pool).ok());
      REQUIRE(make_linear_i8rows(w.view(), b, &v).value()->forward(x.data(), sh.m, yv.data(), pool).ok());
      for (size_t i = 0; i < yr.size(); ++i) differ += std::memcmp(&yr[i], &yv[i], 4) != 0;
    }
  }
  // Q8_0 weights (the ViT's attention in the default recipe) at a vision shape's tail.
  const BlockWeight q8 = make_weight(DType::Q8_0, 11, 1408, 3);
  const std::vector<float> x = make_x(257, 1408, 8);
  std::vector<float> yr(257 * 11), yv(257 * 11);
  REQUIRE(make_linear_i8rows(q8.view(), nullptr, &ref).value()->forward(x.data(), 257, yr.data(), pool).ok());
  REQUIRE(make_linear_i8rows(q8.view(), nullptr, &v).value()->forward(x.data(), 257, yv.data(), pool).ok());
  for (size_t i = 0; i < yr.size(); ++i) differ += std::memcmp(&yr[i], &yv[i], 4) != 0;
  return differ;
}

}  // namespace mblip_test
