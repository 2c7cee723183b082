// AVX2/FMA/F16C variant of the Q8_0 x q8-block GEMM (kernels/q8_0.h). Per block: |w| as unsigned
// bytes times x with w's sign (maddubs; pair sums <= 2 * 128 * 127 fit int16), pairwise to 8 int32
// lanes (exact); the shared AVX2 micro-kernel scales and accumulates (kernels/block_int8_avx2.h).
#include "kernels/block_int8_avx2.h"
#include "kernels/q8_0.h"

namespace mblip {
namespace {

struct Q8DotAvx2 {
  static constexpr size_t kBlockBytes = 32;
  struct W {
    __m256i w, aw;
  };
  static W prep(const uint8_t* wb) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb));
    return {wv, _mm256_sign_epi8(wv, wv)};  // |w| (-128 -> 128 as unsigned)
  }
  static __m256i dot(const W& w, const int8_t* xb, int32_t) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w.aw, _mm256_sign_epi8(xv, w.w)), _mm256_set1_epi16(1));
  }
};

}  // namespace

void q8_0_gemm_avx2(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                    const float* bias) {
  block_gemm<BlockAvx2Kernel<Q8DotAvx2>>(w, a, r0, r1, y, ldy, bias);
}

}  // namespace mblip
