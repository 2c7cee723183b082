# Per-target compile/link settings: wasm (SIMD128, exceptions, optional pthreads, node fixes)
# and native (warnings, sanitizers). See TOOLCHAIN notes in docs/building.md.
add_library(mblip_platform INTERFACE)
option(MBLIP_WASM_RELAXED_SIMD "wasm: relaxed SIMD build (clang-19 through emcc, npm binaryen's wasm-opt)" OFF)
if(EMSCRIPTEN)
  set(MBLIP_WASM_FLAGS -msimd128 -fexceptions)
  if(MBLIP_WASM_THREADS)
    list(APPEND MBLIP_WASM_FLAGS -pthread)
  endif()
  set(_mblip_link_env NODE_PATH=/usr/share/nodejs)
  if(MBLIP_WASM_RELAXED_SIMD)
    include(RelaxedSimd)   # adds -mrelaxed-simd, the clang-19 launchers and the link environment
  endif()
  target_compile_options(mblip_platform INTERFACE ${MBLIP_WASM_FLAGS})
  target_link_options(mblip_platform INTERFACE ${MBLIP_WASM_FLAGS}
    -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB
    "--pre-js=${CMAKE_SOURCE_DIR}/cmake/node_nofetch.pre.js" ${MBLIP_WASM_RELAXED_LINK_FLAGS})
  # emcc's link step needs Debian's acorn (in /usr/share/nodejs) at -O1 and above.
  set(CMAKE_CXX_LINKER_LAUNCHER ${CMAKE_COMMAND} -E env ${_mblip_link_env})
  set(CMAKE_C_LINKER_LAUNCHER ${CMAKE_COMMAND} -E env ${_mblip_link_env})
  # emcmake passes a node flag Node 20 rejects; run tests with plain node.
  set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/node CACHE FILEPATH "" FORCE)
  # C flags used when we compile third-party C/C++ sources for wasm.
  string(JOIN " " MBLIP_WASM_FLAGS_STR ${MBLIP_WASM_FLAGS})
else()
  target_compile_options(mblip_platform INTERFACE -Wall -Wextra -Wno-unused-parameter)
  if(MBLIP_SANITIZE)
    target_compile_options(mblip_platform INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(mblip_platform INTERFACE -fsanitize=address,undefined)
  endif()
endif()

# Header shims: expose only catch2/ and nlohmann/ (never all of /usr/include to a wasm build).
set(MBLIP_SHIM_DIR "${CMAKE_BINARY_DIR}/shim_include")
file(MAKE_DIRECTORY "${MBLIP_SHIM_DIR}")
foreach(dir catch2 nlohmann)
  if(EXISTS "/usr/include/${dir}" AND NOT EXISTS "${MBLIP_SHIM_DIR}/${dir}")
    file(CREATE_LINK "/usr/include/${dir}" "${MBLIP_SHIM_DIR}/${dir}" SYMBOLIC)
  endif()
endforeach()
