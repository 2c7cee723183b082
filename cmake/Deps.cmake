# Third-party dependencies for both builds. Native: Debian packages. wasm: Debian source
# tarballs fetched by scripts/setup.sh into MBLIP_DEPS_DIR, compiled here with our flags.
find_package(Threads REQUIRED)

# --- stb (header-only; the implementation lives in core/src/image/stb_impl.cpp)
find_path(STB_INCLUDE_DIR stb_image.h PATHS /usr/include/stb NO_CMAKE_FIND_ROOT_PATH REQUIRED)

# --- sentencepiece: Debian's library natively, the same 0.1.97 sources for wasm
if(EMSCRIPTEN)
  set(SPM_SRC "${MBLIP_DEPS_DIR}/src/sentencepiece-0.1.97")
  if(NOT EXISTS "${SPM_SRC}/CMakeLists.txt")
    message(FATAL_ERROR "sentencepiece sources missing in ${SPM_SRC}: run scripts/setup.sh")
  endif()
  set(SPM_ENABLE_SHARED OFF CACHE BOOL "" FORCE)
  set(SPM_ENABLE_TCMALLOC OFF CACHE BOOL "" FORCE)
  set(SPM_BUILD_TEST OFF CACHE BOOL "" FORCE)
  add_subdirectory("${SPM_SRC}" "${CMAKE_BINARY_DIR}/third_party/sentencepiece" EXCLUDE_FROM_ALL)
  target_compile_options(sentencepiece-static PRIVATE ${MBLIP_WASM_FLAGS} -w)
  # No LOG(INFO) output on the page's console: our GetMinLogLevel (level WARNING) replaces util.cc's.
  set_source_files_properties("${SPM_SRC}/src/util.cc" DIRECTORY "${SPM_SRC}/src"
    PROPERTIES COMPILE_DEFINITIONS GetMinLogLevel=GetMinLogLevel_spm_default)
  target_sources(sentencepiece-static PRIVATE "${CMAKE_CURRENT_LIST_DIR}/spm_min_log_level.cc")
  add_library(mblip_sentencepiece INTERFACE)
  target_link_libraries(mblip_sentencepiece INTERFACE sentencepiece-static)
  # Consumers must see the same absl::string_view as the library (its internal one, which
  # sentencepiece_processor.h includes as "third_party/absl/strings/string_view.h").
  target_include_directories(mblip_sentencepiece INTERFACE "${SPM_SRC}/src" "${SPM_SRC}")
  target_compile_definitions(mblip_sentencepiece INTERFACE _USE_INTERNAL_STRING_VIEW)
else()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(SPM REQUIRED IMPORTED_TARGET sentencepiece)
  add_library(mblip_sentencepiece INTERFACE)
  target_link_libraries(mblip_sentencepiece INTERFACE PkgConfig::SPM)
endif()

include(${CMAKE_SOURCE_DIR}/cmake/Jpeg.cmake OPTIONAL)
include(${CMAKE_SOURCE_DIR}/cmake/Xnnpack.cmake OPTIONAL)
