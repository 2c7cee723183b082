# XNNPACK (git 4ea82e5) + pthreadpool (+ cpuinfo natively), built once per (variant, toolchain,
# flags) into ${MBLIP_DEPS_DIR}/build/xnnpack-4ea82e5-<variant>-<hash>/ at configure time and reused
# by every later configure (stamp file; file(LOCK) makes concurrent configures wait, not race).
# Defines the INTERFACE target mblip_xnnpack (include dirs + static archives).
option(MBLIP_XNNPACK "Use XNNPACK kernels (built from the Debian source tarballs)" ON)
if(NOT MBLIP_XNNPACK)
  return()
endif()

set(MBLIP_XNN_VERSION 4ea82e5)
set(_xnn_src "${MBLIP_DEPS_DIR}/src/xnnpack-${MBLIP_XNN_VERSION}")
set(_ptp_src "${MBLIP_DEPS_DIR}/src/pthreadpool-560c60d")
set(_cpu_src "${MBLIP_DEPS_DIR}/src/cpuinfo-877328f")
set(_fxd_src "${MBLIP_DEPS_DIR}/src/fxdiv-b408327")
foreach(_d "${_xnn_src}/CMakeLists.txt" "${_ptp_src}/include/pthreadpool.h" "${_fxd_src}/include/fxdiv.h")
  if(NOT EXISTS "${_d}")
    message(FATAL_ERROR "XNNPACK: ${_d} is missing: run scripts/setup.sh (or configure with -DMBLIP_XNNPACK=OFF). "
      "Note: the xnnpack orig tarball has no top-level directory, so it must be unpacked without --strip-components.")
  endif()
endforeach()

# --- cache key: variant + toolchain + flags (+ our wasm CMake, whose content decides what is built)
set(_xnn_jobs 2)
cmake_host_system_information(RESULT _xnn_cores QUERY NUMBER_OF_LOGICAL_CORES)
if(_xnn_cores GREATER 2)
  set(_xnn_jobs ${_xnn_cores})
endif()
if(EMSCRIPTEN)
  if(MBLIP_WASM_THREADS)
    set(_xnn_variant wasm-mt)
  else()
    set(_xnn_variant wasm-st)
  endif()
  file(READ "${CMAKE_CURRENT_LIST_DIR}/xnnpack_wasm/CMakeLists.txt" _xnn_own)
  set(_xnn_key "${_xnn_variant};${CMAKE_C_COMPILER_ID};${CMAKE_C_COMPILER_VERSION};${MBLIP_WASM_FLAGS};${_xnn_own}")
  if(MBLIP_WASM_RELAXED_SIMD)
    # clang-19 through emcc (cmake/RelaxedSimd.cmake) + XNNPACK's wasmrelaxedsimd microkernels.
    string(REPLACE "wasm-" "wasm-relaxed-" _xnn_variant "${_xnn_variant}")
    execute_process(COMMAND "${MBLIP_CLANG19}" --version OUTPUT_VARIABLE _xnn_clang19 OUTPUT_STRIP_TRAILING_WHITESPACE)
    file(READ "${CMAKE_CURRENT_LIST_DIR}/xnnpack_wasm/relaxed.cmake" _xnn_relaxed_own)
    set(_xnn_key "${_xnn_variant};${_xnn_clang19};${_xnn_relaxed_own};${_xnn_key}")
  endif()
else()
  if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|aarch64|arm64")
    message(WARNING "XNNPACK: untested processor ${CMAKE_SYSTEM_PROCESSOR}")
  endif()
  set(_xnn_variant native)
  set(_xnn_key "native;${CMAKE_SYSTEM_PROCESSOR};${CMAKE_C_COMPILER_ID};${CMAKE_C_COMPILER_VERSION};${CMAKE_CXX_COMPILER_ID};${CMAKE_CXX_COMPILER_VERSION};${CMAKE_C_FLAGS};${CMAKE_CXX_FLAGS}")
endif()
string(SHA1 _xnn_hash "${_xnn_key}")
string(SUBSTRING "${_xnn_hash}" 0 10 _xnn_hash)
set(_xnn_root "${MBLIP_DEPS_DIR}/build/xnnpack-${MBLIP_XNN_VERSION}-${_xnn_variant}-${_xnn_hash}")
set(_xnn_stamp "${_xnn_root}/mblip-stamp.txt")
set(_xnn_lib "${_xnn_root}/lib")
if(_xnn_variant STREQUAL "native")
  set(_xnn_archives XNNPACK microkernels-prod cpuinfo pthreadpool)
else()
  set(_xnn_archives XNNPACK pthreadpool)
endif()

# --- build when the stamp is missing (one configure at a time per cache entry)
file(MAKE_DIRECTORY "${MBLIP_DEPS_DIR}/build")
if(NOT EXISTS "${_xnn_stamp}")
  message(STATUS "XNNPACK: ${_xnn_variant} not cached yet; waiting for ${_xnn_root}.lock (another configure may be building it)")
endif()
file(LOCK "${_xnn_root}.lock" GUARD FILE TIMEOUT 3600 RESULT_VARIABLE _xnn_lock)
if(NOT _xnn_lock EQUAL 0)
  message(FATAL_ERROR "XNNPACK: could not lock ${_xnn_root}.lock: ${_xnn_lock}")
endif()
if(NOT EXISTS "${_xnn_stamp}")
  message(STATUS "XNNPACK: building ${_xnn_variant} into ${_xnn_root} (once; about 2-3 min on 2 cores)")
  string(TIMESTAMP _xnn_t0 "%s")
  file(REMOVE_RECURSE "${_xnn_root}")
  file(MAKE_DIRECTORY "${_xnn_root}")
  set(_xnn_bld "${_xnn_root}/build")
  set(_xnn_gen -G "${CMAKE_GENERATOR}")
  if(CMAKE_MAKE_PROGRAM)
    list(APPEND _xnn_gen "-DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}")
  endif()
  if(_xnn_variant STREQUAL "native")
    set(_xnn_cfg -S "${_xnn_src}" -B "${_xnn_bld}" ${_xnn_gen}
      -DCMAKE_BUILD_TYPE=Release
      "-DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}" "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "-DCMAKE_C_FLAGS=${CMAKE_C_FLAGS}" "-DCMAKE_CXX_FLAGS=${CMAKE_CXX_FLAGS}"
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON
      -DXNNPACK_LIBRARY_TYPE=static -DXNNPACK_BUILD_TESTS=OFF -DXNNPACK_BUILD_BENCHMARKS=OFF
      -DXNNPACK_BUILD_ALL_MICROKERNELS=OFF -DXNNPACK_ENABLE_KLEIDIAI=OFF
      -DCPUINFO_BUILD_TOOLS=OFF -DCPUINFO_BUILD_UNIT_TESTS=OFF -DCPUINFO_BUILD_MOCK_TESTS=OFF
      -DCPUINFO_BUILD_BENCHMARKS=OFF -DPTHREADPOOL_BUILD_TESTS=OFF -DPTHREADPOOL_BUILD_BENCHMARKS=OFF
      -DCPUINFO_LIBRARY_TYPE=static -DPTHREADPOOL_LIBRARY_TYPE=static
      "-DCPUINFO_SOURCE_DIR=${_cpu_src}" "-DPTHREADPOOL_SOURCE_DIR=${_ptp_src}" "-DFXDIV_SOURCE_DIR=${_fxd_src}")
    set(_xnn_targets XNNPACK microkernels-prod cpuinfo pthreadpool)
  else()
    find_package(Python3 COMPONENTS Interpreter REQUIRED)
    string(JOIN " " _xnn_flags_str ${MBLIP_WASM_FLAGS})
    set(_xnn_cfg -S "${CMAKE_CURRENT_LIST_DIR}/xnnpack_wasm" -B "${_xnn_bld}" ${_xnn_gen}
      -DCMAKE_BUILD_TYPE=Release "-DCMAKE_TOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE}"
      "-DXNNPACK_SOURCE_DIR=${_xnn_src}" "-DPTHREADPOOL_SOURCE_DIR=${_ptp_src}" "-DFXDIV_SOURCE_DIR=${_fxd_src}"
      "-DMBLIP_XNN_FLAGS_STR=${_xnn_flags_str}" "-DMBLIP_XNN_THREADS=${MBLIP_WASM_THREADS}"
      "-DPython3_EXECUTABLE=${Python3_EXECUTABLE}")
    if(MBLIP_WASM_RELAXED_SIMD)
      list(APPEND _xnn_cfg "-DCMAKE_PROJECT_mblip_xnnpack_wasm_INCLUDE=${CMAKE_CURRENT_LIST_DIR}/xnnpack_wasm/relaxed.cmake")
    endif()
    set(_xnn_targets XNNPACK pthreadpool)
  endif()
  execute_process(COMMAND "${CMAKE_COMMAND}" ${_xnn_cfg}
    OUTPUT_FILE "${_xnn_root}/configure.log" ERROR_FILE "${_xnn_root}/configure.log"
    RESULT_VARIABLE _xnn_rc)
  if(NOT _xnn_rc EQUAL 0)
    message(FATAL_ERROR "XNNPACK: configure failed (${_xnn_rc}); see ${_xnn_root}/configure.log")
  endif()
  execute_process(COMMAND "${CMAKE_COMMAND}" --build "${_xnn_bld}" -j ${_xnn_jobs} --target ${_xnn_targets}
    OUTPUT_FILE "${_xnn_root}/build.log" ERROR_FILE "${_xnn_root}/build.log"
    RESULT_VARIABLE _xnn_rc)
  if(NOT _xnn_rc EQUAL 0)
    message(FATAL_ERROR "XNNPACK: build failed (${_xnn_rc}); see ${_xnn_root}/build.log")
  endif()
  file(MAKE_DIRECTORY "${_xnn_lib}")
  foreach(_a ${_xnn_archives})
    file(GLOB_RECURSE _f "${_xnn_bld}/lib${_a}.a")
    list(LENGTH _f _n)
    if(NOT _n EQUAL 1)
      message(FATAL_ERROR "XNNPACK: expected one lib${_a}.a under ${_xnn_bld}, found '${_f}'")
    endif()
    file(COPY ${_f} DESTINATION "${_xnn_lib}")
  endforeach()
  file(REMOVE_RECURSE "${_xnn_bld}")   # keep only the archives (+ logs)
  string(TIMESTAMP _xnn_t1 "%s")
  math(EXPR _xnn_dt "${_xnn_t1} - ${_xnn_t0}")
  file(WRITE "${_xnn_stamp}" "${_xnn_key}\nbuilt in ${_xnn_dt} s\n")
  message(STATUS "XNNPACK: ${_xnn_variant} built in ${_xnn_dt} s")
else()
  message(STATUS "XNNPACK: reusing ${_xnn_root}")
endif()
file(LOCK "${_xnn_root}.lock" RELEASE)

# --- the interface target
add_library(mblip_xnnpack INTERFACE)
target_include_directories(mblip_xnnpack SYSTEM INTERFACE "${_xnn_src}/include" "${_ptp_src}/include")
target_compile_definitions(mblip_xnnpack INTERFACE PTHREADPOOL_NO_DEPRECATED_API=1)
foreach(_a ${_xnn_archives})
  add_library(mblip_xnn_${_a} STATIC IMPORTED)
  set_target_properties(mblip_xnn_${_a} PROPERTIES IMPORTED_LOCATION "${_xnn_lib}/lib${_a}.a")
  target_link_libraries(mblip_xnnpack INTERFACE mblip_xnn_${_a})
endforeach()
if(NOT EMSCRIPTEN)
  target_link_libraries(mblip_xnnpack INTERFACE Threads::Threads m)
endif()
