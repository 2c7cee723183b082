# Relaxed-SIMD wasm variants (presets wasm-relaxed / wasm-relaxed-st): Debian's emcc 3.1.6 drives
# clang-19 / wasm-ld-19 (EM_*_ADD_VERSION), links -O2 -sWASM_BIGINT with npm binaryen 132's wasm-opt
# first in PATH (Debian's binaryen 108 cannot parse the final relaxed opcodes). See TOOLCHAIN §11.
find_program(MBLIP_CLANG19 clang-19 NO_CMAKE_FIND_ROOT_PATH)
find_program(MBLIP_WASM_LD19 wasm-ld-19 NO_CMAKE_FIND_ROOT_PATH)
if(NOT MBLIP_CLANG19 OR NOT MBLIP_WASM_LD19)
  message(FATAL_ERROR "relaxed SIMD build: clang-19 / wasm-ld-19 not found (apt-get install clang-19 lld-19 llvm-19, "
    "or run scripts/setup.sh)")
endif()
set(MBLIP_BINARYEN_BIN "${CMAKE_SOURCE_DIR}/web/node_modules/.bin" CACHE PATH
  "Folder with npm binaryen's wasm-opt (version 132) for the relaxed SIMD link")
if(NOT EXISTS "${MBLIP_BINARYEN_BIN}/wasm-opt")
  message(FATAL_ERROR "relaxed SIMD build: ${MBLIP_BINARYEN_BIN}/wasm-opt is missing (run scripts/setup.sh, "
    "which runs `npm ci` in web/ and installs binaryen 132)")
endif()
execute_process(COMMAND "${MBLIP_BINARYEN_BIN}/wasm-opt" --version OUTPUT_VARIABLE _mblip_wasm_opt_version
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _mblip_wasm_opt_version MATCHES "version 1[3-9][0-9]")
  message(FATAL_ERROR "relaxed SIMD build: ${MBLIP_BINARYEN_BIN}/wasm-opt is '${_mblip_wasm_opt_version}', need binaryen >= 130")
endif()

set(MBLIP_EMCC19_ENV EM_LLVM_ADD_VERSION=19 EM_CLANG_ADD_VERSION=19)
list(APPEND MBLIP_WASM_FLAGS -mrelaxed-simd -Wno-version-check)
# Every compile (ours and third-party targets of this project) goes through clang-19.
set(CMAKE_C_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env ${MBLIP_EMCC19_ENV})
set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env ${MBLIP_EMCC19_ENV})
list(APPEND _mblip_link_env ${MBLIP_EMCC19_ENV} "PATH=${MBLIP_BINARYEN_BIN}:$ENV{PATH}")
# Compiled at -O2, not the release -O3: V8 allocates the registers of our loops itself, and
# clang-19's -O3 forms (more unrolled, loads hoisted) spill. Headless Chromium, 2 threads, full-size
# default recipe (tools/bench/wasm_fullsize.mjs, same session): the kernel files alone at -O2, caption
# 7.2 -> 5.4 s (Q4_0 row-lane kernel at M = 257, 1 thread: 61 -> 106 GOP/s, tools/bench/wasm_kernels.mjs);
# everything at -O2, 6.0-6.3 -> 4.9-5.2 s.
set(CMAKE_C_FLAGS_RELEASE "-O2 -DNDEBUG")
set(CMAKE_CXX_FLAGS_RELEASE "-O2 -DNDEBUG")
# The link stays at -O2 whatever the build type (-O3 runs metadce, which breaks these modules);
# WASM_BIGINT keeps binaryen 108's finalize read-only.
set(MBLIP_WASM_RELAXED_LINK_FLAGS -O2 -sWASM_BIGINT)

# clang-19's setjmp/longjmp lowering calls __wasm_setjmp / __wasm_setjmp_test (used by the libjpeg
# error handling in core): a small runtime library supplies them for emcc 3.1.6's libc.
add_library(mblip_relaxed_rt STATIC "${CMAKE_CURRENT_LIST_DIR}/wasm_sjlj_clang19.c")
target_compile_options(mblip_relaxed_rt PRIVATE ${MBLIP_WASM_FLAGS})
set_target_properties(mblip_relaxed_rt PROPERTIES C_COMPILER_LAUNCHER "${CMAKE_C_COMPILER_LAUNCHER}")
target_link_libraries(mblip_platform INTERFACE mblip_relaxed_rt)

# clang-19 renames main(int, char**) to __main_argc_argv, which emcc 3.1.6's libc never calls:
# compile the TUs that define main (the Catch2 main, the kernel benchmark) with the stock clang-14
# (no launcher); the kernels they call are in the libraries, built with clang-19.
function(_mblip_relaxed_main_with_clang14)
  foreach(t mblip_catch_main mblip-bench-kernels)
    if(TARGET ${t})
      set_target_properties(${t} PROPERTIES CXX_COMPILER_LAUNCHER "")
    endif()
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _mblip_relaxed_main_with_clang14)
