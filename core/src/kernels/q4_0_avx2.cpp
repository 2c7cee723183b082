// AVX2/FMA/F16C variant of the Q4_0 x q8-block GEMM (kernels/q4_0.h). Per block: the 32 nibbles
// as unsigned bytes (maddubs with the int8 activations), minus 8 * the activation block sum
// (exact integers); the shared AVX2 micro-kernel scales and accumulates (kernels/block_int8_avx2.h).
#include "kernels/block_int8_avx2.h"
#include "kernels/q4_0.h"

namespace mblip {
namespace {

struct Q4DotAvx2 {
  static constexpr size_t kBlockBytes = 16;
  static __m256i prep(const uint8_t* wb) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
  }
  static __m256i dot(__m256i wv, const int8_t* xb, int32_t xsum) {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb));
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xv), _mm256_set1_epi16(1));
    return _mm256_sub_epi32(p, _mm256_set1_epi32(xsum));  // 8 lanes: sum - 8 * sum(x)
  }
};

}  // namespace

void q4_0_gemm_avx2(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy,
                    const float* bias) {
  block_gemm<BlockAvx2Kernel<Q4DotAvx2>>(w, a, r0, r1, y, ldy, bias);
}

}  // namespace mblip
