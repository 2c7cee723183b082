// Emscripten 3.1.6 loads the .wasm with fetch() whenever fetch exists; under Node >= 18 that
// fails on file paths. Hide fetch from the loader under Node (no-op in browsers).
if (typeof process === 'object' && typeof process.versions === 'object' &&
    typeof process.versions.node === 'string' && typeof globalThis.fetch === 'function') {
  globalThis.fetch = undefined;
}
