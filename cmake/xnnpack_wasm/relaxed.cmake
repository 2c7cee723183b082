# Relaxed-SIMD additions to cmake/xnnpack_wasm/CMakeLists.txt (injected by cmake/Xnnpack.cmake as
# CMAKE_PROJECT_mblip_xnnpack_wasm_INCLUDE, so the SIMD128 builds and their cache keys stay as they are):
# every compile through clang-19, plus XNNPACK's wasmrelaxedsimd production microkernels.
# The flags already carry -mrelaxed-simd: XNNPACK's common.h then sets XNN_ARCH_WASMRELAXEDSIMD and its
# hardware config probes the engine's relaxed dot semantics (usdot / sdot / SIMD128) at run time.
set(CMAKE_C_COMPILER_LAUNCHER env EM_LLVM_ADD_VERSION=19 EM_CLANG_ADD_VERSION=19)
set(CMAKE_CXX_COMPILER_LAUNCHER env EM_LLVM_ADD_VERSION=19 EM_CLANG_ADD_VERSION=19)

function(mblip_xnn_add_relaxed_kernels)
  include("${XNNPACK_SOURCE_DIR}/cmake/gen/wasmrelaxedsimd_microkernels.cmake")
  set(_relaxed ${PROD_WASMRELAXEDSIMD_MICROKERNEL_SRCS})
  list(TRANSFORM _relaxed PREPEND "${XNNPACK_SOURCE_DIR}/")
  target_sources(XNNPACK PRIVATE ${_relaxed})
  set_source_files_properties(${_relaxed} PROPERTIES COMPILE_OPTIONS "-fno-fast-math;-fno-math-errno")
endfunction()
cmake_language(DEFER CALL mblip_xnn_add_relaxed_kernels)
