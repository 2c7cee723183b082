# Compile cache: every compile of every preset goes through ccache (when it is installed and
# MBLIP_CCACHE is ON), with its store under ${MBLIP_DEPS_DIR}/ccache beside the cached XNNPACK
# archives, so a rebuild on a machine that keeps ~/.cache (CI with warm caches, a second clone)
# recompiles only what changed. Paths are made relative to the source tree (CCACHE_BASEDIR,
# CCACHE_NOHASHDIR) so that clones in different directories share entries.
# Natively ccache wraps the compiler; under Emscripten it is emcc's EM_COMPILER_WRAPPER, so ccache
# sees the real clang (14, or 19 for the relaxed presets) and its whole command line.
option(MBLIP_CCACHE "Cache compiles with ccache (if installed) under MBLIP_DEPS_DIR/ccache" ON)
find_program(MBLIP_CCACHE_PROGRAM ccache NO_CMAKE_FIND_ROOT_PATH)
if(NOT MBLIP_CCACHE OR NOT MBLIP_CCACHE_PROGRAM)
  return()
endif()
set(_mblip_ccache_env "CCACHE_DIR=${MBLIP_DEPS_DIR}/ccache" "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}"
  CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=8G)
if(EMSCRIPTEN)
  list(APPEND _mblip_ccache_env "EM_COMPILER_WRAPPER=${MBLIP_CCACHE_PROGRAM}")
  set(_mblip_ccache_cmd)
else()
  set(_mblip_ccache_cmd "${MBLIP_CCACHE_PROGRAM}")
endif()
foreach(_lang C CXX)
  # An existing launcher is `cmake -E env VAR=...` (cmake/RelaxedSimd.cmake): add our variables to it.
  if(CMAKE_${_lang}_COMPILER_LAUNCHER)
    set(CMAKE_${_lang}_COMPILER_LAUNCHER ${CMAKE_${_lang}_COMPILER_LAUNCHER} ${_mblip_ccache_env} ${_mblip_ccache_cmd})
  else()
    set(CMAKE_${_lang}_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env ${_mblip_ccache_env} ${_mblip_ccache_cmd})
  endif()
endforeach()
message(STATUS "ccache: ${MBLIP_CCACHE_PROGRAM}, store ${MBLIP_DEPS_DIR}/ccache")
