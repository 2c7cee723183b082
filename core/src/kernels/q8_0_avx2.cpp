// AVX2/FMA/F16C variant of the Q8_0 x q8-block GEMM (kernels/q8_0.h). Per block: |w| as unsigned
// bytes times x with w's sign (maddubs; pair sums <= 2 * 128 * 127 fit int16), pairwise to 8 int32
// lanes (exact), one FMA with d_w * d_x into 8 float lanes. Tiles of 4 activation rows share each
// weight block load; single rows use 4 independent accumulators.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/q8_0.h"

namespace mblip {
namespace {

constexpr size_t kMChunk = 16;  // activation rows per pass over a task's weight rows (16 x K int8 in L1)

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int MR>
inline void tile(const int8_t* qs, const float* dw, const Q8Acts& a, size_t i0, size_t r, float* y, size_t ldy,
                 const float* bias) {
  const size_t nbp = a.nbp;
  constexpr int kAcc = MR >= 4 ? 1 : (MR == 1 ? 4 : 2);  // nbp is a multiple of 4
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[MR][kAcc];
  const int8_t* xq[MR];
  const float* dx[MR];
  for (int t = 0; t < MR; ++t) {
    for (int u = 0; u < kAcc; ++u) acc[t][u] = _mm256_setzero_ps();
    xq[t] = a.row_q(i0 + t);
    dx[t] = a.row_d(i0 + t);
  }
  for (size_t b0 = 0; b0 < nbp; b0 += kAcc)
    for (int u = 0; u < kAcc; ++u) {
      const size_t b = b0 + static_cast<size_t>(u);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + b * kQ4Block));
      const __m256i aw = _mm256_sign_epi8(wv, wv);  // |w| (-128 -> 128 as unsigned)
      const __m256 dwv = _mm256_broadcast_ss(dw + b);
      for (int t = 0; t < MR; ++t) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[t] + b * kQ4Block));
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wv)), ones);
        const __m256 s = _mm256_mul_ps(dwv, _mm256_broadcast_ss(dx[t] + b));
        acc[t][u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), s, acc[t][u]);
      }
    }
  for (int t = 0; t < MR; ++t) {
    for (int u = kAcc / 2; u > 0; u /= 2)
      for (int j = 0; j < u; ++j) acc[t][j] = _mm256_add_ps(acc[t][j], acc[t][j + u]);
    const float v = hsum(acc[t][0]);
    y[(i0 + t) * ldy + r] = bias ? v + bias[r] : v;
  }
}

}  // namespace

void q8_0_gemm_avx2(const Q8Packed& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                    const float* bias) {
  thread_local std::vector<float> dw;
  if (dw.size() < w.nbp) dw.resize(w.nbp);
  for (size_t i0 = 0; i0 < a.m; i0 += kMChunk) {
    const size_t i1 = std::min(a.m, i0 + kMChunk);
    for (size_t r = r0; r < r1; ++r) {
      const uint16_t* dh = w.row_d(r);
      for (size_t b = 0; b < w.nbp; b += 4)  // nbp is a multiple of 4
        _mm_storeu_ps(dw.data() + b, _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(dh + b))));
      const int8_t* qs = w.row_qs(r);
      size_t i = i0;
      for (; i + 4 <= i1; i += 4) tile<4>(qs, dw.data(), a, i, r, y, ldy, bias);
      switch (i1 - i) {
        case 3: tile<3>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        case 2: tile<2>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        case 1: tile<1>(qs, dw.data(), a, i, r, y, ldy, bias); break;
        default: break;
      }
    }
  }
}

}  // namespace mblip
