// XNNPACK element-wise kernels behind ops (elementwise.cpp): GELU (erf form) on XNNPACK's
// vgelu micro-kernels (AVX-512 natively, SIMD128 in wasm), opt-in with MBLIP_XNN_GELU=1: its
// rational erf has 2.5x our absolute error and moves a golden beam score past its tolerance.
#include <xnnpack.h>

#include <cstdlib>

#include "ops/elementwise_impl.h"

namespace mblip {
namespace ops {
namespace detail {

bool xnn_gelu_erf(float* x, size_t n, ThreadPool& pool) {
  const char* e = std::getenv("MBLIP_XNN_GELU");
  if (!e || e[0] != '1') return false;
  if (xnn_initialize(nullptr) != xnn_status_success) return false;
  // One "row" of n channels; XNNPACK splits it into tiles across the pool.
  return xnn_run_unary_elementwise_nc(xnn_unary_gelu, xnn_datatype_fp32, xnn_datatype_fp32, nullptr, nullptr, nullptr,
                                      0, 1, n, n, n, pool.handle(), x, x) == xnn_status_success;
}

}  // namespace detail
}  // namespace ops
}  // namespace mblip
