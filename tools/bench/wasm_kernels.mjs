#!/usr/bin/env node
// Kernel benchmark in headless Chromium (not a test): links a small timing program against a wasm
// build dir's mblip_core (e.g. build/hw-relaxed, a relaxed-SIMD + pthreads configuration) and times,
// on the full-size model's layer shapes, each shape with Q4_0 and Q8_0 weights: our own kernels on
// every variant of the build (ref skipped; wasm_simd128; in relaxed builds both paths of wasm_relaxed,
// the transposed `small` one and the row-lane `large` one) and make_linear's pick when it is not our
// own (XNNPACK qd8-f32-qc8w for Q8_0). Prints GOP/s per shape, type, thread count and kernel.
//   node tools/bench/wasm_kernels.mjs --build build/hw-relaxed [--reps 3] [--threads 1,2]
//        [--shapes vit|all|M:K:N,...] [--types q4_0,q8_0] [--check] [--tiles 4x1,2x2]
// Repetitions go round-robin over the kernels (a busy machine slows them alike); best time each.
// --tiles MVxNR,...: also times the row-lane kernel with other tile shapes (4*MV activation rows x
// NR weight rows), in both its forms (int16 dots, and "i32": int32 dot-adds); in SIMD128 builds the
// SIMD128 row-lane kernel's (Q4_0; the library's tile is 1x4).
// --node PATH (repeatable): the same program in that Node binary too, before Chromium (e.g.
// /usr/bin/node: Node 20, where #11's SIMD128 targets are measured).
//   node tools/bench/wasm_kernels.mjs --build build/hw-relaxed --tests ['[relaxed],[quality]']
// --tests: instead of timing, runs tests/test_kernels_relaxed.cpp and tests/test_quality.cpp (Catch2,
// optional test spec) in Chromium (and each --node) against the build's library; exits non-zero when a
// test fails.
// --ops [q8_0|q4_0,...]: instead of the linears, the ops table of `mblip bench` (every op of a ViT block
// and an encoder layer at full-size shapes, ms per call and per caption; core/src/api/bench_probes.cpp)
// in Chromium, at each --threads count. The list gives the ViT's qkv, proj, fc1, fc2 weight types
// (default q8_0,q8_0,q4_0,q4_0: the default recipe, whose fc1/fc2 are Q4_0).
// --env NAME=VALUE (repeatable): set in the module's environment before main, e.g. MBLIP_I8ROWS=off.
// --check: also runs the scalar reference once per shape and counts outputs differing from it in bits
// (the `large` path must give 0).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const web = path.join(repo, 'web');
const args = { build: path.join(repo, 'build/hw-relaxed'), reps: 3, node: [], threads: '1', tiles: '', tests: null, ops: null, shapes: 'vit', types: 'q4_0,q8_0', check: false, env: [] };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = () => process.argv[++i];
  if (a === '--build') args.build = path.resolve(v());
  else if (a === '--reps') args.reps = Number(v());
  else if (a === '--node') args.node.push(path.resolve(v()));
  else if (a === '--threads') args.threads = v();
  else if (a === '--shapes') args.shapes = v();
  else if (a === '--types') args.types = v();
  else if (a === '--check') args.check = true;
  else if (a === '--tests') args.tests = process.argv[i + 1] && !process.argv[i + 1].startsWith('--') ? v() : '[relaxed],[quality]';
  else if (a === '--ops') args.ops = process.argv[i + 1] && !process.argv[i + 1].startsWith('--') ? v() : 'q8_0,q8_0,q4_0,q4_0';
  else if (a === '--env') {  // NAME=VALUE set in the module before main (developer switches, e.g. MBLIP_I8ROWS=off)
    const e = v() || '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) { console.error(`--env takes NAME=VALUE, got '${e}'`); process.exit(2); }
    args.env.push(e);
  }
  else if (a === '--tiles') args.tiles = v();  // extra row-lane tile shapes to time, e.g. 4x1,2x2 (MVxNR)
  else { console.error(`unknown argument ${a}`); process.exit(2); }
}
// The vision tower's four linears at one image (M = 257 rows), then other full-size model shapes.
const VIT = [['vit qkv', 257, 1408, 4224], ['vit proj', 257, 1408, 1408], ['vit fc1', 257, 1408, 6144], ['vit fc2', 257, 6144, 1408]];
const OTHER = [['small', 5, 32, 100], ['small', 45, 160, 7], ['encoder ffn wi', 40, 2048, 5120], ['decoder ffn wi', 1, 2048, 5120],
  ['qformer ca.k', 257, 1408, 768], ['lm_head slice', 1, 2048, 16384]];
const shapeList = args.shapes === 'vit' ? VIT : args.shapes === 'all' ? [...VIT, ...OTHER]
  : args.shapes.split(',').map((t) => ['shape', ...t.split(':').map(Number)]);
const SHAPES = shapeList.map(([w, m, k, n]) => `{"${w}", ${m}, ${k}, ${n}}`).join(', ');
const TYPES = args.types.split(',').map((t) => (t === 'q4_0' ? 'DType::Q4_0' : 'DType::Q8_0')).join(', ');
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
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "io/quant.h"
#include "kernels/int8_rows.h"
#include "kernels/linear.h"
#include "kernels/q4_0.h"
#include "kernels/q8_0.h"
#include "kernels/thread_pool.h"
#include "kernels/block_int8_rowlane_wasm.h"
using namespace mblip;
template <int MV, int NR> void q4_tile128(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy, const float* b) {
  RowLaneGemm<Q4RelaxedFmt, Simd128Q4Sums, MV, NR>::gemm(w, a, r0, r1, y, ldy, b);
}
#if defined(__wasm_relaxed_simd__)
template <int MV, int NR> void q4_tile(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy, const float* b) {
  RowLaneGemm<Q4RelaxedFmt, RelaxedSums<Q4RelaxedFmt>, MV, NR>::gemm(w, a, r0, r1, y, ldy, b);
}
template <int MV, int NR> void q4_tile32(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy, const float* b) {
  RowLaneGemm<Q4RelaxedFmt, RelaxedSums<Q4RelaxedFmt, true>, MV, NR>::gemm(w, a, r0, r1, y, ldy, b);
}
template <int MV, int NR> void q8_tile32(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy, const float* b) {
  RowLaneGemm<Q8RelaxedFmt, RelaxedSums<Q8RelaxedFmt, true>, MV, NR>::gemm(w, a, r0, r1, y, ldy, b);
}
template <int MV, int NR> void q8_tile(const BlockPacked& w, const Q8Acts& a, size_t r0, size_t r1, float* y, size_t ldy, const float* b) {
  RowLaneGemm<Q8RelaxedFmt, RelaxedSums<Q8RelaxedFmt>, MV, NR>::gemm(w, a, r0, r1, y, ldy, b);
}
#endif
static double now_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
struct Shape { const char* what; size_t m, k, n; };
int main() {
  const Shape shapes[] = { SHAPES };
  const DType types[] = { TYPES };
  const size_t thread_counts[] = { THREADS };
  uint64_t s = 1;
  auto rnd = [&] { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return ((s >> 40) & 0xFFFFFF) / 16777216.f * 2.f - 1.f; };
  for (const Shape& sh : shapes) for (DType type : types) {
    std::vector<float> wf(sh.n * sh.k), x(sh.m * sh.k), y(sh.m * sh.n);
    for (auto& v : wf) v = 0.05f * rnd();
    for (auto& v : x) v = rnd();
    const size_t bb = type == DType::Q4_0 ? 18 : 34;
    std::vector<uint8_t> wq(sh.n * sh.k / 32 * bb);
    quantize_row(type, wf.data(), wq.data(), static_cast<int64_t>(sh.n * sh.k));
    TensorView tv; tv.name = "w"; tv.type = type; tv.shape = {(int64_t)sh.n, (int64_t)sh.k}; tv.data = wq.data(); tv.nbytes = wq.size();
    const bool q4 = type == DType::Q4_0;
    const auto& vs = q4 ? q4_0_variants() : q8_0_variants();
    std::vector<BlockVariant> run;
    for (size_t i = 1; i < vs.size(); ++i) if (std::string(vs[i].name) != "wasm_relaxed") run.push_back(vs[i]);
#if defined(__wasm_relaxed_simd__)
    run.push_back({"relaxed_small(old)", q4 ? &q4_0_gemm_wasm_relaxed_small : &q8_0_gemm_wasm_relaxed_small, type});
    run.push_back({"relaxed_large(new)", q4 ? &q4_0_gemm_wasm_relaxed_large : &q8_0_gemm_wasm_relaxed_large, type});
#define TILE(MV, NR) run.push_back({"large tile " #MV "x" #NR, q4 ? &q4_tile<MV, NR> : &q8_tile<MV, NR>, type}); \
    run.push_back({"large i32 tile " #MV "x" #NR, q4 ? &q4_tile32<MV, NR> : &q8_tile32<MV, NR>, type});
    TILES
#else
#define TILE(MV, NR) if (q4) run.push_back({"simd128 row-lane tile " #MV "x" #NR, &q4_tile128<MV, NR>, type});
    TILES
#endif
    std::vector<std::unique_ptr<LinearKernel>> ks;
    for (const BlockVariant& v : run) ks.push_back(std::move(make_linear_block(tv, nullptr, v).value()));
    auto def = make_linear(tv, nullptr);
    if (def.ok() && def.value()->describe().rfind("own", 0) != 0) ks.push_back(std::move(def.value()));
    // The vision tower's pick (LinearRows::kMany), and what it is with our int8-rows kernel off
    // (the switch is put back as it was: --env may have set it).
    LinearOptions many;
    many.rows = LinearRows::kMany;
    const char* was = std::getenv("MBLIP_I8ROWS");
    const std::string saved = was ? was : "";
    for (const char* i8 : {"on", "off"}) {
      setenv("MBLIP_I8ROWS", i8, 1);
      auto dm = make_linear(tv, nullptr, many);
      if (dm.ok() && (ks.empty() || dm.value()->describe() != ks.back()->describe())) ks.push_back(std::move(dm.value()));
    }
    if (was) setenv("MBLIP_I8ROWS", saved.c_str(), 1);
    else unsetenv("MBLIP_I8ROWS");
    std::vector<float> yref;
    if (CHECK) {  // the scalar reference's outputs: the row-lane kernel must equal them bit for bit
      ThreadPool p1(1);
      auto kr = make_linear_block(tv, nullptr, vs.front()).value();
      yref.resize(y.size());
      kr->forward(x.data(), sh.m, yref.data(), p1);
    }
    if (type == types[0]) {  // the activation quantizer every own kernel runs first (single-threaded)
      Q8Acts qa;
      double qbest = 1e30;
      for (int r = 0; r < REPS; ++r) {
        const double t0 = now_ms();
        quantize_acts_q8(x.data(), sh.m, sh.k, (sh.k / 32 + 3) / 4 * 4, qa);
        qbest = std::min(qbest, now_ms() - t0);
      }
      std::printf("{\"shape\":\"%s M=%zu K=%zu N=%zu\",\"type\":\"-\",\"threads\":1,\"kernel\":\"quantize_acts_q8 (M x K floats)\",\"ms\":%.3f,\"gops\":0,\"differ\":-1}\n", sh.what, sh.m, sh.k, sh.n, qbest);
      U8Acts ua;  // the int8-rows kernel's (kernels/int8_rows.h)
      double ubest = 1e30;
      for (int r = 0; r < REPS; ++r) {
        const double t0 = now_ms();
        quantize_acts_u8(x.data(), sh.m, sh.k, (sh.k + 15) / 16 * 16, ua);
        ubest = std::min(ubest, now_ms() - t0);
      }
      std::printf("{\"shape\":\"%s M=%zu K=%zu N=%zu\",\"type\":\"-\",\"threads\":1,\"kernel\":\"quantize_acts_u8 (M x K floats)\",\"ms\":%.3f,\"gops\":0,\"differ\":-1}\n", sh.what, sh.m, sh.k, sh.n, ubest);
    }
    for (size_t th : thread_counts) {
      ThreadPool pool(th);
      // Repetitions round-robin over the kernels (a busy machine slows them alike), best time each.
      std::vector<double> best(ks.size(), 1e30);
      std::vector<long> diff(ks.size(), -1);
      for (int r = 0; r < REPS; ++r)
        for (size_t ki = 0; ki < ks.size(); ++ki) {
          std::fill(y.begin(), y.end(), -1.f);
          const double t0 = now_ms();
          if (!ks[ki]->forward(x.data(), sh.m, y.data(), pool).ok()) { std::printf("forward failed\n"); return 1; }
          best[ki] = std::min(best[ki], now_ms() - t0);
          if (r == 0 && !yref.empty()) { diff[ki] = 0; for (size_t i = 0; i < y.size(); ++i) diff[ki] += std::memcmp(&y[i], &yref[i], 4) != 0; }
        }
      for (size_t ki = 0; ki < ks.size(); ++ki)
        std::printf("{\"shape\":\"%s M=%zu K=%zu N=%zu\",\"type\":\"%s\",\"threads\":%zu,\"kernel\":\"%s\",\"ms\":%.3f,\"gops\":%.1f,\"differ\":%ld}\n", sh.what, sh.m, sh.k, sh.n,
                    q4 ? "q4_0" : "q8_0", th, ks[ki]->describe().c_str(), best[ki], 2.0 * sh.m * sh.k * sh.n / best[ki] / 1e6, diff[ki]);
    }
  }
  return 0;
}
`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-wasmkern-'));
// Test mode: a Catch2 runner without main's arguments (clang-19 would rename main(int, char**)).
const RUNNER = String.raw`
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
int main() {
  const char* argv[] = {"mblip_tests", TEST_SPEC, "--use-colour", "no"};
  return Catch::Session().run(4, argv);
}
`;
// Ops mode: the ops table of mblip bench at each thread count, one JSON line per op.
const OPS = String.raw`
#include <cstdio>
#include "mblip/bench.h"
int main() {
  const size_t thread_counts[] = { THREADS };
  for (size_t th : thread_counts) {
    mblip::bench::OpShapes shapes;
    const char* const vt[] = VIT_TYPES;
    shapes.vit_qkv = vt[0]; shapes.vit_proj = vt[1]; shapes.vit_fc1 = vt[2]; shapes.vit_fc2 = vt[3];
    mblip::bench::Probes probes(static_cast<int>(th));
    // Warm-up, untimed, at each thread count: V8 compiles the module's optimized tier in the
    // background during the first seconds, and a new pool's first calls start its threads (the first
    // op timed after a 1-thread warm-up ran 1.6x slow at 2 threads).
    probes.ops(shapes);
    for (const auto& t : probes.ops(shapes))
      std::printf("{\"op\":\"%s\",\"threads\":%zu,\"ms\":%.3f,\"per_caption\":%.1f,\"stage\":\"%s\"}\n", t.name.c_str(), th, t.ms, t.per_image, t.stage.c_str());
  }
  return 0;
}
`;
const vitTypes = (args.ops || 'q8_0,q8_0,q4_0,q4_0').split(',');
if (vitTypes.length !== 4) { console.error('--ops takes four types: qkv,proj,fc1,fc2'); process.exit(2); }
// --env: the module's environment (getenv) is set before main by a static initializer.
const ENV_INIT = args.env.length === 0 ? '' : `#include <cstdlib>
static const int env_set = [] { ${args.env.map((e) => { const i = e.indexOf('='); return `setenv(${JSON.stringify(e.slice(0, i))}, ${JSON.stringify(e.slice(i + 1))}, 1);`; }).join(' ')} return 0; }();
`;
fs.writeFileSync(path.join(tmp, 'bench.cpp'), ENV_INIT + (args.tests ? RUNNER : args.ops ? OPS : CPP));
// Tests mode compiles the relaxed kernel tests and the quantization-quality tests (tests/test_quality.cpp:
// every recipe's stage cosines and token agreement on the golden models, the floors natively checked)
// with the test helpers and the build's converter library; the golden data is preloaded into the
// module's in-memory filesystem at /golden (the quality test reports a skip when it is absent).
const goldenDir = path.resolve(process.env.MBLIP_GOLDEN_DIR || path.join(repo, '../shared/golden'));
const haveGolden = fs.existsSync(path.join(goldenDir, 'README.md'));
const convertLib = path.join(args.build, 'tools/libmblip_convert.a');
if (args.tests && !fs.existsSync(convertLib)) { console.error(`${convertLib} is missing: build the preset's mblip_convert target`); process.exit(1); }
const testSources = args.tests ? [path.join(repo, 'tests/test_kernels_relaxed.cpp'), path.join(repo, 'tests/test_quality.cpp'),
  ...fs.readdirSync(path.join(repo, 'tests/support')).filter((f) => f.endsWith('.cpp')).map((f) => path.join(repo, 'tests/support', f)),
  convertLib, `-DTEST_SPEC=${JSON.stringify(args.tests)}`, '-DMBLIP_GOLDEN_DIR_DEFAULT="/golden"', '-DMBLIP_TEST_TMP_DEFAULT="/tmp/mblip_test_tmp"',
  `-DMBLIP_SOURCE_DIR=${JSON.stringify(repo)}`, `-I${path.join(repo, 'tests')}`, `-I${path.join(repo, 'tools')}`, `-I${path.join(args.build, 'shim_include')}`,
  ...(haveGolden ? ['--preload-file', `${goldenDir}@/golden`] : [])] : [];
const env = { ...process.env, NODE_PATH: '/usr/share/nodejs',
  ...(relaxed ? { EM_LLVM_ADD_VERSION: '19', EM_CLANG_ADD_VERSION: '19', PATH: `${path.join(web, 'node_modules/.bin')}:${process.env.PATH}` } : {}) };
const flags = ['-Wno-version-check', '-O2', '-std=c++17', '-msimd128', '-fexceptions', ...(relaxed ? ['-mrelaxed-simd', '-sWASM_BIGINT'] : []),
  ...(threads ? ['-pthread', '-sPTHREAD_POOL_SIZE=4'] : []), '-sALLOW_MEMORY_GROWTH=1', '-sMAXIMUM_MEMORY=4GB',
  '-sMODULARIZE=1', '-sEXPORT_ES6=1', '-sEXPORT_NAME=createBench', '-sENVIRONMENT=web,worker,node', '-sEXIT_RUNTIME=1', `-DREPS=${args.reps}`, `-DSHAPES=${SHAPES}`, `-DTYPES=${TYPES}`, `-DTHREADS=${args.threads}`, `-DVIT_TYPES={${vitTypes.map((t) => JSON.stringify(t)).join(',')}}`, `-DCHECK=${args.check ? 1 : 0}`, `-DTILES=${args.tiles.split(',').filter(Boolean).map((t) => `TILE(${t.replace('x', ',')})`).join(' ')}`,
  `-I${path.join(repo, 'core/src')}`, `-I${path.join(repo, 'core/include')}`];
const cc = spawnSync('em++', [...flags, path.join(tmp, 'bench.cpp'), ...testSources, ...libs, '-o', path.join(tmp, 'bench.mjs')], { env, encoding: 'utf8' });
if (cc.status !== 0) { console.error(cc.stderr.slice(-4000)); process.exit(1); }

const rows = [];
const collect = (engine, text) => { for (const l of text.split('\n')) if (l.startsWith('{')) rows.push({ engine, ...JSON.parse(l) }); };
for (const node of args.node) {
  // emcc 3.1.6's ES6 output reads the CommonJS globals under Node: provide them to the module.
  const prelude = `import { createRequire } from 'node:module'; globalThis.require = createRequire(${JSON.stringify(pathToFileURL(path.join(tmp, 'bench.mjs')).href)}); globalThis.__dirname = ${JSON.stringify(tmp)}; globalThis.__filename = ${JSON.stringify(path.join(tmp, 'bench.mjs'))};`;
  const r = spawnSync(node, ['--no-experimental-fetch', '--input-type=module', '-e', `${prelude} await (await import(${JSON.stringify(pathToFileURL(path.join(tmp, 'bench.mjs')).href)})).default({ print: (s) => console.log(s), locateFile: (f) => ${JSON.stringify(tmp + '/')} + f });`], { encoding: 'utf8' });
  if (args.tests) {
    console.log(`== ${node}\n${(r.stdout + r.stderr).slice(-3000)}`);
    if (r.status !== 0) process.exitCode = 1;
  }
  const before = rows.length;
  collect(`node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}`, r.stdout + r.stderr);
  if (!args.tests && rows.length === before) {  // say why instead of an empty table
    console.error(`${node}: no timings; its output ends with:\n${(r.stdout + r.stderr).slice(-1500)}`);
    process.exitCode = 1;
  }
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
    const src = `import('${location.origin}/bench.mjs').then((m) => m.default({ locateFile: (f) => '${location.origin}/' + f, print: (s) => postMessage(s), printErr: (s) => postMessage(s), onExit: (c) => { postMessage('exit code ' + c); postMessage(null); } })).catch((e) => { postMessage('error ' + e); postMessage(null); });`;
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
    const lines = [];
    w.onmessage = (e) => { if (e.data === null) resolve(lines.join('\n')); else lines.push(e.data); };
    w.onerror = (e) => { lines.push(`error ${e.message}`); resolve(lines.join('\n')); };  // keep what it printed
  }));
  if (args.tests) {
    console.log(text);
    process.exitCode = /exit code 0$/m.test(text) ? 0 : 1;
  }
  collect('chromium', text);
} finally {
  await ctx.close();
  await srv.close();
  fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`build ${path.relative(repo, args.build)} (${relaxed ? 'relaxed SIMD' : 'SIMD128'}${threads ? ', pthreads' : ''})${args.ops ? '' : `, best of ${args.reps}`}`);
if (args.ops) {
  // Per stage: the ops' sum per caption (what `mblip bench` subtracts from a stage to get its "other").
  console.log('| engine | threads | op | ms a call | calls a caption | ms a caption |\n|---|---|---|---|---|---|');
  const sums = {};
  for (const r of rows) {
    console.log(`| ${r.engine} | ${r.threads} | ${r.op} | ${r.ms.toFixed(2)} | ${r.per_caption} | ${(r.ms * r.per_caption).toFixed(0)} |`);
    const k = `${r.engine}, ${r.threads} thread(s), ${r.stage}`;
    sums[k] = (sums[k] || 0) + r.ms * r.per_caption;
  }
  for (const [k, v] of Object.entries(sums)) console.log(`sum of ops per caption, ${k}: ${v.toFixed(0)} ms`);
  process.exit(process.exitCode || 0);
}
console.log('| engine | shape | weights | threads | kernel | ms | GOP/s | outputs differing from ref |\n|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.engine} | ${r.shape} | ${r.type} | ${r.threads} | ${r.kernel} | ${r.ms.toFixed(1)} | ${r.gops.toFixed(1)} | ${r.differ < 0 ? '-' : r.differ} |`);
