// Relaxed-SIMD (clang-19) wasm builds: the two setjmp helpers that clang-19's Emscripten SjLj lowering
// calls and emcc 3.1.6's libc predates. longjmp still goes through 3.1.6's emscripten_longjmp (setThrew +
// throw with the jmp_buf address), after which the caller asks __wasm_setjmp_test for the setjmp label.
#include <stdint.h>

struct mblip_sjlj_state {
  void* invocation;  // identifies the live call of the function that ran setjmp
  uint32_t label;    // which setjmp in that function
};

void __wasm_setjmp(void* env, uint32_t label, void* invocation) {
  struct mblip_sjlj_state* s = (struct mblip_sjlj_state*)env;
  s->invocation = invocation;
  s->label = label;
}

uint32_t __wasm_setjmp_test(void* env, void* invocation) {
  const struct mblip_sjlj_state* s = (const struct mblip_sjlj_state*)env;
  return s->invocation == invocation ? s->label : 0;
}
