#!/usr/bin/env node
// Kernel benchmark in headless Chromium (not a test): links a small timing program against a wasm
// build dir's mblip_core (e.g. build/hw-relaxed, a relaxed-SIMD + pthreads configuration) and times,
// on the full-size model's layer shapes, our own Q4_0 / Q8_0 kernels on every variant of the build
// (ref skipped; wasm_simd128, wasm_relaxed) and what make_linear picks (XNNPACK qd8-f32-qc8w for Q8_0).
// One thread (the per-thread speed the stage times scale with). Prints GOP/s per shape and variant.
//   node tools/bench/wasm_kernels.mjs --build build/hw-relaxed [--reps 3] [--node /path/to/node22]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const web = path.join(repo, 'web');
const args = { build: path.join(repo, 'build/hw-relaxed'), reps: 3, node: [] };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = () => process.argv[++i];
  if (a === '--build') args.build = path.resolve(v());
  else if (a === '--reps') args.reps = Number(v());
  else if (a === '--node') args.node.push(path.resolve(v()));
  else { console.error(`unknown argument ${a}`); process.exit(2); }
}
const cache = fs.readFileSync(path.join(args.build, 'CMakeCache.txt'), 'utf8');
const relaxed = /MBLIP_WASM_RELAXED_SIMD:BOOL=ON/.test(cache);
const threads = /MBLIP_WASM_THREADS:BOOL=ON/.test(cache);
// The link line of the build's wasm module names every library mblip_core needs.
const ninja = fs.readFileSync(path.join(args.build, 'build.ninja'), 'utf8');
const link = ninja.split('\nbuild ').find((b) => /^[^\n]*mblip_[a-z_]*\.mjs:/.test(b) && b.includes('LINK_LIBRARIES'));
if (!link) { console.error(`no wasm module link step in ${args.build}/build.ninja`); process.exit(1); }
const libs = link.match(/LINK_LIBRARIES = ([^\n]*)/)[1].split(/\s+/).filter((x) => x.endsWith('.a'))
  .map((x) => (path.isAbsolute(x) ? x : path.join(args.build, x)));

const CPP = String.raw`
#include <chrono>
#include <cstdio>
#include <vector>
#include "io/quant.h"
#include "kernels/linear.h"
#include "kernels/q4_0.h"
#include "kernels/q8_0.h"
#include "kernels/thread_pool.h"
using namespace mblip;
static double now_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
struct Shape { const char* what; DType type; size_t m, k, n; };
int main() {
  const Shape shapes[] = {{"small", DType::Q4_0, 5, 32, 100}, {"small", DType::Q4_0, 45, 160, 7}, {"small", DType::Q8_0, 45, 160, 7}, {"vision qkv", DType::Q8_0, 257, 1408, 4224}, {"vision fc2", DType::Q8_0, 257, 6144, 1408},
    {"encoder ffn wi", DType::Q4_0, 40, 2048, 5120}, {"decoder ffn wi", DType::Q4_0, 1, 2048, 5120},
    {"qformer ca.k", DType::Q4_0, 257, 1408, 768}, {"lm_head slice", DType::Q4_0, 1, 2048, 16384}};
  ThreadPool pool(1);
  uint64_t s = 1;
  auto rnd = [&] { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return ((s >> 40) & 0xFFFFFF) / 16777216.f * 2.f - 1.f; };
  for (const Shape& sh : shapes) {
    std::vector<float> wf(sh.n * sh.k), x(sh.m * sh.k), y(sh.m * sh.n);
    for (auto& v : wf) v = 0.05f * rnd();
    for (auto& v : x) v = rnd();
    const size_t bb = sh.type == DType::Q4_0 ? 18 : 34;
    std::vector<uint8_t> wq(sh.n * sh.k / 32 * bb);
    quantize_row(sh.type, wf.data(), wq.data(), static_cast<int64_t>(sh.n * sh.k));
    TensorView tv; tv.name = "w"; tv.type = sh.type; tv.shape = {(int64_t)sh.n, (int64_t)sh.k}; tv.data = wq.data(); tv.nbytes = wq.size();
    const auto& vs = sh.type == DType::Q4_0 ? q4_0_variants() : q8_0_variants();
    std::vector<std::unique_ptr<LinearKernel>> ks;
    for (size_t i = 1; i < vs.size(); ++i) ks.push_back(std::move(make_linear_block(tv, nullptr, vs[i]).value()));
    auto def = make_linear(tv, nullptr);
    if (def.ok()) ks.push_back(std::move(def.value()));
    std::vector<float> y0;
    for (auto& k : ks) {
      double best = 1e30;
      for (int r = 0; r < REPS; ++r) {
        const double t0 = now_ms();
        if (!k->forward(x.data(), sh.m, y.data(), pool).ok()) { std::printf("forward failed\n"); return 1; }
        best = std::min(best, now_ms() - t0);
      }
      // Own variants compute the same integers in the same float order: compare bits with the first one.
      size_t diff = 0;
      if (y0.empty()) y0 = y;
      else if (k->describe().rfind("own", 0) == 0)
        for (size_t i = 0; i < y.size(); ++i) diff += y[i] != y0[i];
      std::printf("{\"shape\":\"%s M=%zu K=%zu N=%zu\",\"kernel\":\"%s\",\"ms\":%.3f,\"gops\":%.1f,\"differ\":%zu}\n", sh.what, sh.m, sh.k, sh.n,
                  k->describe().c_str(), best, 2.0 * sh.m * sh.k * sh.n / best / 1e6, diff);
    }
  }
  return 0;
}
`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-wasmkern-'));
fs.writeFileSync(path.join(tmp, 'bench.cpp'), CPP);
const env = { ...process.env, NODE_PATH: '/usr/share/nodejs',
  ...(relaxed ? { EM_LLVM_ADD_VERSION: '19', EM_CLANG_ADD_VERSION: '19', PATH: `${path.join(web, 'node_modules/.bin')}:${process.env.PATH}` } : {}) };
const flags = ['-Wno-version-check', '-O2', '-std=c++17', '-msimd128', '-fexceptions', ...(relaxed ? ['-mrelaxed-simd', '-sWASM_BIGINT'] : []),
  ...(threads ? ['-pthread', '-sPTHREAD_POOL_SIZE=4'] : []), '-sALLOW_MEMORY_GROWTH=1', '-sMAXIMUM_MEMORY=4GB',
  '-sMODULARIZE=1', '-sEXPORT_ES6=1', '-sEXPORT_NAME=createBench', '-sENVIRONMENT=web,worker,node', '-sEXIT_RUNTIME=1', `-DREPS=${args.reps}`,
  `-I${path.join(repo, 'core/src')}`, `-I${path.join(repo, 'core/include')}`];
const cc = spawnSync('em++', [...flags, path.join(tmp, 'bench.cpp'), ...libs, '-o', path.join(tmp, 'bench.mjs')], { env, encoding: 'utf8' });
if (cc.status !== 0) { console.error(cc.stderr.slice(-4000)); process.exit(1); }

const rows = [];
const collect = (engine, text) => { for (const l of text.split('\n')) if (l.startsWith('{')) rows.push({ engine, ...JSON.parse(l) }); };
for (const node of args.node) {
  const r = spawnSync(node, ['--no-experimental-fetch', '--input-type=module', '-e', `await (await import(${JSON.stringify(pathToFileURL(path.join(tmp, 'bench.mjs')).href)})).default({ print: (s) => console.log(s) });`], { encoding: 'utf8' });
  collect(`node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}`, r.stdout + r.stderr);
}
const playwright = await import(pathToFileURL(path.join(web, 'node_modules/playwright-core/index.mjs')).href);
const { startServer } = await import(pathToFileURL(path.join(web, 'serve.mjs')).href);
fs.writeFileSync(path.join(tmp, 'index.html'), '<!doctype html><title>bench</title>');
const srv = await startServer({ root: tmp, port: 0, isolated: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-wasmkern-chromium-'));
const ctx = await playwright.chromium.launchPersistentContext(profile, { executablePath: process.env.MBLIP_CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(0);
  await page.goto(`${srv.url}index.html`);
  // In a worker: the main browser thread must not block (pthread joins busy-wait there).
  const text = await page.evaluate(() => new Promise((resolve, reject) => {
    const src = `import('${location.origin}/bench.mjs').then((m) => m.default({ print: (s) => postMessage(s), onExit: () => postMessage(null) })).catch((e) => postMessage('error ' + e));`;
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
    const lines = [];
    w.onmessage = (e) => { if (e.data === null) resolve(lines.join('\n')); else lines.push(e.data); };
    w.onerror = (e) => reject(new Error(e.message));
  }));
  collect('chromium', text);
} finally {
  await ctx.close();
  await srv.close();
  fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`build ${path.relative(repo, args.build)} (${relaxed ? 'relaxed SIMD' : 'SIMD128'}${threads ? ', pthreads' : ''}), 1 thread, best of ${args.reps}`);
console.log('| engine | shape | kernel | ms | GOP/s | outputs differing from the first own variant |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.engine} | ${r.shape} | ${r.kernel} | ${r.ms.toFixed(1)} | ${r.gops.toFixed(1)} | ${r.differ} |`);
