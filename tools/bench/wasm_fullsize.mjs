#!/usr/bin/env node
// Benchmark (not a test): a full-size model (e.g. `mblip-synth OUT.gguf --preset full --weights q4_0`)
// loaded and captioned (greedy, N new tokens) by the native CLI, by the npm package in Node (wasm,
// streamed tensor by tensor into the heap) and by the package in headless Chromium served from
// localhost. Reports load / download-to-ready time, caption time, native peak RSS and the wasm
// heap size after the run (wasm memory never shrinks, so that is the heap's peak), and the wasm /
// native ratios. Runs are sequential (2 shared cores).
//
//   node tools/bench/wasm_fullsize.mjs --model /work/tmp_full/full_q4.gguf [--model ...]
//        [--image samples/sunset.jpg] [--tokens 20] [--threads 1,2] [--cli build/native/bin/mblip]
//        [--skip native,node,browser] [--builds auto,relaxed,simd128] [--beams 5] [--again] [--js-flags F]
//        [--web DIR] [--json out.json]
// --builds: wasm build families to time (each with threads when --threads > 1): auto (the package's
// choice), relaxed (relaxed-simd[-threads]), simd128 (simd128[-threads]). Default: auto.
// --beams N: after the greedy caption, one beam-N caption of as many tokens on the same loaded model;
// reports its decoder time per step (and the native CLI's, same options).
// --again: a second greedy caption on the same loaded model (same page), its stages printed beside the
// first's: what a first caption after load costs beyond a warm one.
// --js-flags F: V8 flags for Chromium (e.g. --no-wasm-dynamic-tiering: every function optimized at
// instantiation).
// --web DIR: a package folder to serve / import instead of web/ (e.g. a copy whose dist/ holds other
// builds: src/, serve.mjs, test/fixtures/ and node_modules/ may be symlinks to web/'s).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = { model: [], image: path.join(repo, 'samples/sunset.jpg'), tokens: 20, threads: [1, 2],
  cli: path.join(repo, 'build/native/bin/mblip'), skip: [], json: null, builds: ['auto'], beams: 0, web: path.join(repo, 'web'), again: false, jsFlags: '' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = () => process.argv[++i];
  if (a === '--model') args.model.push(path.resolve(v()));
  else if (a === '--image') args.image = path.resolve(v());
  else if (a === '--tokens') args.tokens = Number(v());
  else if (a === '--threads') args.threads = v().split(',').map(Number);
  else if (a === '--cli') args.cli = path.resolve(v());
  else if (a === '--skip') args.skip = v().split(',');
  else if (a === '--json') args.json = path.resolve(v());
  else if (a === '--builds') args.builds = v().split(',');
  else if (a === '--beams') args.beams = Number(v());
  else if (a === '--web') args.web = path.resolve(v());
  else if (a === '--again') args.again = true;
  else if (a === '--js-flags') args.jsFlags = v();
  else { console.error(`unknown argument ${a}`); process.exit(2); }
}
const web = args.web;
if (!args.model.length) { console.error('usage: wasm_fullsize.mjs --model FILE.gguf [...]'); process.exit(2); }

const MB = (b) => (b / 1048576).toFixed(0);
const s = (ms) => (ms / 1000).toFixed(1);
const log = (...x) => console.log(new Date().toISOString().slice(11, 19), ...x);
const caption = { numBeams: 1, maxNewTokens: args.tokens };
const beamCaption = args.beams > 1 ? { numBeams: args.beams, maxNewTokens: args.tokens } : null;
// Build family + thread count -> the package's build option (undefined = auto).
function buildName(family, threads) {
  if (family === 'auto') return undefined;
  if (family !== 'relaxed' && family !== 'simd128') { console.error(`unknown build family ${family}`); process.exit(2); }
  return `${family === 'relaxed' ? 'relaxed-simd' : 'simd128'}${threads > 1 ? '-threads' : ''}`;
}

function native(model, threads, beams = 1) {
  const r = spawnSync('/usr/bin/time', ['-v', args.cli, 'caption', '-m', model, '--beams', String(beams), '--max-new-tokens',
    String(args.tokens), '--threads', String(threads), '--json', args.image], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = r.stderr.match(/Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/);
  const rss = r.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/);
  if (r.status !== 0 || !wall) throw new Error(`native run failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const wallMs = ((Number(wall[1] || 0) * 60 + Number(wall[2])) * 60 + Number(wall[3])) * 1000;
  const out = JSON.parse(r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop());
  const captionMs = Object.values(out.timings_ms || {}).reduce((a, b) => a + b, 0);
  return { wallMs, loadMs: wallMs - captionMs, captionMs, peakRssBytes: Number(rss[1]) * 1024, tokens: out.tokens, text: out.text,
    timings: out.timings_ms };
}

// Decoder ms per generated step of a caption result (beam search: one step advances every beam).
const perStep = (r) => (r && r.timings && r.tokens && r.tokens.length ? r.timings.decoder / r.tokens.length : null);

async function node(model, threads, build) {
  const { MBlip } = await import(pathToFileURL(path.join(web, 'src/index.js')).href);
  const t0 = performance.now();
  const m = await MBlip.load(model, { threads, build });
  const readyMs = performance.now() - t0;
  try {
    const t1 = performance.now();
    const r = await m.caption(fs.readFileSync(args.image), caption);
    const captionMs = performance.now() - t1;
    const again = args.again ? await m.caption(fs.readFileSync(args.image), caption) : null;
    const beam = beamCaption ? await m.caption(fs.readFileSync(args.image), beamCaption) : null;
    return { readyMs, again: again ? again.timings : null, captionMs, heapAfterLoad: m.memory.heapBytes, heapPeakBytes: beam ? beam.heapBytes : r.heapBytes,
      streamPeakBufferedBytes: m.memory.streamPeakBufferedBytes, threaded: m.threaded, build: m.build, timings: r.timings, tokens: r.tokens, text: r.text,
      beam: beam ? { timings: beam.timings, tokens: beam.tokens } : null };
  } finally { m.dispose(); }
}

async function browser(model, threads, build) {
  const playwright = await import(pathToFileURL(path.join(web, 'node_modules/playwright-core/index.mjs')).href);
  const { startServer } = await import(pathToFileURL(path.join(web, 'serve.mjs')).href);
  const srv = await startServer({ root: web, port: 0, isolated: true, mounts: { '/bench-models/': path.dirname(model) } });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-bench-chromium-'));
  const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ...(args.jsFlags ? [`--js-flags=${args.jsFlags}`] : [])];
  const ctx = await playwright.chromium.launchPersistentContext(profile, { executablePath: process.env.MBLIP_CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });
  const logs = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (msg) => logs.push(msg.text()));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    page.setDefaultTimeout(0);
    await page.goto(`${srv.url}test/fixtures/blank.html`);
    const image = fs.readFileSync(args.image).toString('base64');
    return await page.evaluate(async ({ url, threads, build, image, caption, beamCaption, again }) => {
      const { MBlip } = await import('/src/index.js');
      const bytes = Uint8Array.from(atob(image), (c) => c.charCodeAt(0));
      const t0 = performance.now();
      const m = await MBlip.load(url, { threads, build, cache: false });
      const readyMs = performance.now() - t0;
      const t1 = performance.now();
      const r = await m.caption(new Blob([bytes], { type: 'image/jpeg' }), caption);
      const captionMs = performance.now() - t1;
      const second = again ? await m.caption(new Blob([bytes], { type: 'image/jpeg' }), caption) : null;
      const beam = beamCaption ? await m.caption(new Blob([bytes], { type: 'image/jpeg' }), beamCaption) : null;
      const out = { readyMs, captionMs, again: second ? second.timings : null, heapAfterLoad: m.memory.heapBytes, heapPeakBytes: beam ? beam.heapBytes : r.heapBytes,
        streamPeakBufferedBytes: m.memory.streamPeakBufferedBytes, threaded: m.threaded, build: m.build, timings: r.timings, crossOriginIsolated, tokens: r.tokens, text: r.text,
        beam: beam ? { timings: beam.timings, tokens: beam.tokens } : null };
      m.dispose();
      return out;
    }, { url: `/bench-models/${path.basename(model)}`, threads, build, image, caption, beamCaption, again: args.again });
  } catch (e) {
    e.message += `\n--- browser log ---\n${logs.slice(-30).join('\n')}`;
    throw e;
  } finally {
    await ctx.close();
    await srv.close();
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

const stages = (t) => JSON.stringify(Object.fromEntries(Object.entries(t || {}).map(([k, x]) => [k, Math.round(x)])));
const rows = [];
for (const model of args.model) {
  const size = fs.statSync(model).size;
  log(`model ${model} (${MB(size)} MB)`);
  const nat = {};
  for (const t of args.threads) {
    if (args.skip.includes('native')) break;
    nat[t] = native(model, t);
    if (beamCaption) { const b = native(model, t, args.beams); nat[t].beam = { timings: b.timings, tokens: b.tokens }; }
    rows.push({ model: path.basename(model), fileBytes: size, where: 'native CLI', threads: t, ...nat[t] });
    log(`native ${t}T: load ${s(nat[t].loadMs)} s, caption ${s(nat[t].captionMs)} s, peak RSS ${MB(nat[t].peakRssBytes)} MB (${(nat[t].peakRssBytes / size).toFixed(2)}x file), ` +
      `stages ms ${stages(nat[t].timings)}` + (nat[t].beam ? `, beam-${args.beams} decoder ${perStep(nat[t].beam).toFixed(0)} ms/step` : ''));
  }
  for (const [where, fn] of [['node', node], ['chromium', browser]]) {
    if (args.skip.includes(where === 'node' ? 'node' : 'browser')) continue;
    for (const t of args.threads) for (const family of args.builds) {
      let r;
      try { r = await fn(model, t, buildName(family, t)); } catch (e) { log(`${where} ${t}T ${family} failed: ${e.message}`); rows.push({ model: path.basename(model), where, threads: t, build: family, error: e.message }); continue; }
      const n = nat[t];
      const ratio = n ? { loadRatio: r.readyMs / n.loadMs, captionRatio: r.captionMs / n.captionMs, sameTokens: JSON.stringify(r.tokens) === JSON.stringify(n.tokens) } : {};
      rows.push({ model: path.basename(model), fileBytes: size, where, threads: t, ...r, ...ratio });
      log(`${where} ${t}T ${r.build}: ready ${s(r.readyMs)} s, caption ${s(r.captionMs)} s, heap ${MB(r.heapPeakBytes)} MB (${(r.heapPeakBytes / size).toFixed(2)}x file), ` +
        `stream held ${MB(r.streamPeakBufferedBytes)} MB, stages ms ${stages(r.timings)}` + (r.again ? `, again ${stages(r.again)}` : '') +
        (r.beam ? `, beam-${args.beams} decoder ${perStep(r.beam).toFixed(0)} ms/step (greedy ${perStep(r).toFixed(0)})` : '') + (n ? `, vs native: load x${ratio.loadRatio.toFixed(2)}, caption x${ratio.captionRatio.toFixed(2)}, same tokens ${ratio.sameTokens}` : ''));
    }
  }
}
console.log('\n| model | where | threads | build | load / ready s | caption s | vision s | encoder s | decoder s | beam step ms | peak memory MB | x file | vs native load | vs native caption |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
const st = (r, k) => (r.timings && r.timings[k] !== undefined ? s(r.timings[k]) : '-');
for (const r of rows) {
  if (r.error) { console.log(`| ${r.model} | ${r.where} | ${r.threads} | ${r.build} | error: ${r.error.split('\n')[0]} |||||||||`); continue; }
  const mem = r.peakRssBytes ?? r.heapPeakBytes;
  console.log(`| ${r.model} | ${r.where} | ${r.threads} | ${r.build || 'native'} | ${s(r.loadMs ?? r.readyMs)} | ${s(r.captionMs)} | ${st(r, 'vision')} | ${st(r, 'encoder')} | ${st(r, 'decoder')} | ${r.beam ? perStep(r.beam).toFixed(0) : '-'} | ${MB(mem)}${r.peakRssBytes ? ' (RSS)' : ' (heap)'} | ${(mem / r.fileBytes).toFixed(2)} | ${r.loadRatio ? r.loadRatio.toFixed(2) : '-'} | ${r.captionRatio ? r.captionRatio.toFixed(2) : '-'} |`);
}
if (args.json) fs.writeFileSync(args.json, JSON.stringify(rows, null, 2));
process.exit(0);
