// Copies the four Emscripten builds into web/dist/ (the package's wasm artifacts).
//   node scripts/build.mjs [--if-present]
// Sources: $MBLIP_WASM_DIR (default ../build/wasm, SIMD128 + pthreads), $MBLIP_WASM_ST_DIR (default
// ../build/wasm-st, SIMD128 single-threaded), $MBLIP_WASM_RELAXED_DIR (../build/wasm-relaxed, relaxed
// SIMD + pthreads), $MBLIP_WASM_RELAXED_ST_DIR (../build/wasm-relaxed-st). With --if-present,
// missing builds only warn (the package then falls back from relaxed SIMD to SIMD128 at load).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.resolve(web, '..');
const dist = path.join(web, 'dist');
const ifPresent = process.argv.includes('--if-present');
const variants = [
  { dir: process.env.MBLIP_WASM_DIR || path.join(root, 'build/wasm'), files: ['mblip_mt.mjs', 'mblip_mt.wasm', 'mblip_mt.worker.js'] },
  { dir: process.env.MBLIP_WASM_ST_DIR || path.join(root, 'build/wasm-st'), files: ['mblip_st.mjs', 'mblip_st.wasm'] },
  { dir: process.env.MBLIP_WASM_RELAXED_DIR || path.join(root, 'build/wasm-relaxed'),
    files: ['mblip_relaxed_mt.mjs', 'mblip_relaxed_mt.wasm', 'mblip_relaxed_mt.worker.js'] },
  { dir: process.env.MBLIP_WASM_RELAXED_ST_DIR || path.join(root, 'build/wasm-relaxed-st'),
    files: ['mblip_relaxed_st.mjs', 'mblip_relaxed_st.wasm'] },
];
fs.mkdirSync(dist, { recursive: true });
// The pthread worker script is CommonJS-style; the .mjs factories stay ES modules.
fs.writeFileSync(path.join(dist, 'package.json'), '{\n  "type": "commonjs"\n}\n');
let missing = 0;
for (const v of variants) {
  for (const f of v.files) {
    const src = path.join(v.dir, f);
    if (!fs.existsSync(src)) {
      console.warn(`mblip build: missing ${src}`);
      missing++;
      continue;
    }
    fs.copyFileSync(src, path.join(dist, f));
    console.error(`mblip build: ${path.relative(root, src)} -> dist/${f} (${fs.statSync(src).size} bytes)`);
  }
}
if (missing && !ifPresent) {
  console.error('mblip build: build the wasm presets first (cmake --preset wasm && cmake --build --preset wasm; same for wasm-st, wasm-relaxed, wasm-relaxed-st)');
  process.exit(1);
}
