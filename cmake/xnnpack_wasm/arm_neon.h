/* Shim for XNNPACK's f32-q{s,u}8-vcvt-wasmsimd-magic kernels, which include <arm_neon.h> but use
   only wasm SIMD128 intrinsics; Debian's Emscripten ships a broken arm_neon.h. */
#pragma once
#include <wasm_simd128.h>
