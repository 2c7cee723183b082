#!/usr/bin/env node
// Which XNNPACK int8 kernels a wasm engine gets (not a test): compiles a tiny program against the
// relaxed-SIMD XNNPACK build the wasm-relaxed preset links (cached under ~/.cache/mblip/build), asks
// XNNPACK's own hardware config (its run-time sdot / usdot semantics probe) and its qd8-f32-qc8w GEMM
// config (tile mr x nr, kr: 4x8c8 = wasmusdot/wasmsdot_u2, 2x8c8 = wasmsdot x86, 4x4c2s4 = SIMD128
// dot16x2), and runs it in headless Chromium and, if given, other Node binaries.
//   node tools/bench/wasm_xnn_config.mjs [--node /path/to/node22] [--xnn-lib DIR]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const web = path.join(repo, 'web');
const deps = process.env.MBLIP_DEPS_DIR || path.join(os.homedir(), '.cache/mblip');
const args = { node: [], lib: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = () => process.argv[++i];
  if (a === '--node') args.node.push(path.resolve(v()));
  else if (a === '--xnn-lib') args.lib = path.resolve(v());
  else { console.error(`unknown argument ${a}`); process.exit(2); }
}
const src = fs.readdirSync(path.join(deps, 'src')).find((d) => d.startsWith('xnnpack-'));
const lib = args.lib || (() => {
  const d = fs.readdirSync(path.join(deps, 'build')).find((x) => /^xnnpack-.*-wasm-relaxed-st-[0-9a-f]+$/.test(x));
  return d && path.join(deps, 'build', d, 'lib');
})();
if (!src || !lib || !fs.existsSync(path.join(lib, 'libXNNPACK.a'))) {
  console.error('no relaxed-SIMD single-threaded XNNPACK build found (configure the wasm-relaxed-st preset first)');
  process.exit(1);
}
const xnn = path.join(deps, 'src', src);
const C = String.raw`
#include <stdio.h>
#include <xnnpack.h>
#include "xnnpack/config.h"
#include "xnnpack/hardware-config.h"
#include <wasm_simd128.h>
// XNNPACK's dot semantics inputs (hardware-config.c), here to print the raw lanes the engine returns.
static void raw_dot(int out[8]) {
  const v128_t one = wasm_i8x16_const(0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0);
  const volatile v128_t x = wasm_i8x16_const(0, 0, 0, -128, 0, 0, -128, 0, 0, -128, 0, 0, -128, 0, 0, 0);
  const volatile v128_t o = wasm_i8x16_const(-128, -128, -128, -128, -128, -128, -1, -1, -1, -1, -128, -128, -1, -1, -1, -1);
  wasm_v128_store(out, wasm_i32x4_relaxed_dot_i8x16_i7x16_add(one, x, wasm_i8x16_const_splat(0)));
  wasm_v128_store(out + 4, wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_i8x16_const_splat(-128), o, wasm_i8x16_const_splat(0)));
}
int main(void) {
  int raw[8];
  for (int rep = 0; rep < 3; ++rep) {  // the first call may run in a baseline tier, later ones optimized
    raw_dot(raw);
    printf("{\"raw_dot\":[%d,%d,%d,%d,%d,%d,%d,%d]}\n", raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
  }
  if (xnn_initialize(NULL) != xnn_status_success) { printf("{\"error\":\"xnn_initialize\"}\n"); return 1; }
  const struct xnn_hardware_config* h = xnn_init_hardware_config();
  const struct xnn_gemm_config* g = xnn_init_qd8_f32_qc8w_gemm_config();
  const struct xnn_gemm_config* g4 = xnn_init_qd8_f32_qc4w_gemm_config();
  printf("{\"is_x86\":%d,\"use_wasm_sdot\":%d,\"use_wasm_usdot\":%d,\"use_wasm_fma\":%d,"
         "\"qc8w\":{\"mr\":%d,\"nr\":%d,\"kr\":%d,\"sr\":%d},\"qc4w\":{\"mr\":%d,\"nr\":%d,\"kr\":%d,\"sr\":%d}}\n",
         h->is_x86, h->use_wasm_sdot, h->use_wasm_usdot, h->use_wasm_fma, g->mr, g->nr, 1 << g->log2_kr,
         1 << g->log2_sr, g4->mr, g4->nr, 1 << g4->log2_kr, 1 << g4->log2_sr);
  return 0;
}
`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-xnncfg-'));
fs.writeFileSync(path.join(tmp, 'probe.c'), C);
const env = { ...process.env, EM_LLVM_ADD_VERSION: '19', EM_CLANG_ADD_VERSION: '19', NODE_PATH: '/usr/share/nodejs',
  PATH: `${path.join(web, 'node_modules/.bin')}:${process.env.PATH}` };
// The file with main() goes through clang-19 here: it has no argc/argv, so no __main_argc_argv rename.
const cc = spawnSync('emcc', ['-Wno-version-check', '-O2', '-msimd128', '-mrelaxed-simd', '-sWASM_BIGINT',
  '-sMODULARIZE=1', '-sEXPORT_ES6=1', '-sEXPORT_NAME=createProbe', '-sENVIRONMENT=web,node', '-sEXIT_RUNTIME=1',
  `-I${path.join(xnn, 'include')}`, `-I${path.join(xnn, 'src')}`, `-I${path.join(deps, 'src', fs.readdirSync(path.join(deps, 'src')).find((d) => d.startsWith('pthreadpool-')), 'include')}`,
  path.join(tmp, 'probe.c'), path.join(lib, 'libXNNPACK.a'), path.join(lib, 'libpthreadpool.a'), '-o', path.join(tmp, 'probe.mjs')],
{ env, encoding: 'utf8' });
if (cc.status !== 0) { console.error(cc.stderr); process.exit(1); }

const results = [];
for (const node of args.node) {
  const r = spawnSync(node, ['--input-type=module', '-e', `await (await import(${JSON.stringify(pathToFileURL(path.join(tmp, 'probe.mjs')).href)})).default({ print: (s) => console.log(s) });`], { encoding: 'utf8' });
  results.push({ engine: `node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}`, out: (r.stdout || r.stderr).trim() });
}
const playwright = await import(pathToFileURL(path.join(web, 'node_modules/playwright-core/index.mjs')).href);
const { startServer } = await import(pathToFileURL(path.join(web, 'serve.mjs')).href);
const srv = await startServer({ root: tmp, port: 0, isolated: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-xnncfg-chromium-'));
fs.writeFileSync(path.join(tmp, 'index.html'), '<!doctype html><title>probe</title>');
const ctx = await playwright.chromium.launchPersistentContext(profile, { executablePath: process.env.MBLIP_CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  await page.goto(`${srv.url}index.html`);
  const out = await page.evaluate(async () => {
    const lines = [];
    await (await import('/probe.mjs')).default({ print: (s) => lines.push(s) });
    return { ua: navigator.userAgent.match(/Chrome\/[\d.]+/)[0], out: lines.join('\n') };
  });
  results.push({ engine: `chromium ${out.ua}`, out: out.out });
} finally {
  await ctx.close();
  await srv.close();
  fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  fs.rmSync(tmp, { recursive: true, force: true });
}
const name = (c) => {
  if (!c.qc8w) return '?';
  const { mr, nr, kr, sr } = c.qc8w;
  if (nr === 8 && kr === 8) return c.use_wasm_usdot && !c.use_wasm_sdot ? `${mr}x8c8 wasmusdot` : `${mr}x8c8 wasmsdot`;
  if (nr === 4 && kr === 2 && sr === 4) return `${mr}x4c2s4 wasmsimd dot16x2 (SIMD128)`;
  return `${mr}x${nr}c${kr}s${sr}`;
};
for (const r of results) {
  let c = null;
  try { c = JSON.parse(r.out.split('\n').pop()); } catch { c = null; }
  console.log(`${r.engine}: ${r.out}\n  -> qd8-f32-qc8w kernel: ${c ? name(c) : 'probe failed'}`);
}
