// The relaxed-SIMD and SIMD128 builds in one headless Chromium: auto-selection picks relaxed SIMD (the
// probe validates, the relaxed .wasm is the file fetched), and every build (auto and forced) gives the
// golden greedy tokens of f32 golden models (and beam 3 through relaxed SIMD); forcing a build the page cannot run is a typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { goldenDir, findConverter, convertGolden, expectedTokens } from './fixtures/golden_models.mjs';
import { CHROMIUM, playwright, withBrowser } from './fixtures/chromium.mjs';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CASES = ['tiny-mt5/c07_coffee_rgb', 'tiny-mt5/c06_coffee_rgb'];
const FILES = ['mt', 'relaxed_mt', 'relaxed_st']; // required; the SIMD128 single-threaded one runs when present


function skipReason() {
  if (!playwright) return 'playwright-core is not installed (npm ci in web/)';
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}`;
  if (!goldenDir) return 'golden data not found';
  if (!findConverter()) return 'mblip-convert not built';
  execFileSync(process.execPath, ['scripts/build.mjs', '--if-present'], { cwd: web, stdio: 'ignore' });
  const missing = FILES.filter((f) => !fs.existsSync(path.join(web, `dist/mblip_${f}.mjs`)));
  if (missing.length) return `web/dist lacks ${missing.map((f) => `mblip_${f}.mjs`).join(', ')} (presets wasm, wasm-st, wasm-relaxed, wasm-relaxed-st)`;
  return false;
}

// In the page: load `model` with `build` (undefined = auto), caption the PNG, report build + tokens.
async function captionIn(page, { model, build, threads, prompt, numBeams = 1 }) {
  return page.evaluate(async ({ model, build, threads, prompt, numBeams }) => {
    const { MBlip } = await import('/src/index.js');
    const png = await (await fetch('/golden-images/coffee_rgb.png')).blob();
    let m;
    try { m = await MBlip.load(model, { build, threads, cache: false }); } catch (e) { return { error: { name: e.name, code: e.code, message: e.message } }; }
    try {
      const r = await m.caption(png, { prompt, numBeams, maxNewTokens: 16 });
      return { build: m.info.build, sameField: m.build === m.info.build, threaded: m.threaded, tokens: r.tokens };
    } finally { m.dispose(); }
  }, { model, build, threads, prompt, numBeams });
}

test('Chromium, cross-origin isolated: relaxed SIMD auto-selected and forced SIMD128, golden greedy tokens through every build', async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
  const cases = CASES.map((id) => {
    const c = manifest.cases.find((x) => x.id === id);
    const file = convertGolden(c.model);
    return { id, url: `/golden-models/${path.basename(file)}`, dir: path.dirname(file), prompt: c.prompts[0],
      want: expectedTokens(c.results.greedy[0]), wantBeam: expectedTokens(c.results.beam[0]) };
  });
  const mounts = { '/golden-models/': cases[0].dir, '/golden-images/': path.join(goldenDir, 'images/files') };
  await withBrowser({ isolated: true, mounts }, async (page, fetched) => {
    const probe = await page.evaluate(async () => {
      const { relaxedSimdSupport } = await import('/src/index.js');
      const { RELAXED_SIMD_PROBE } = await import('/src/builds.js');
      const wasm = async (f) => WebAssembly.validate(new Uint8Array(await (await fetch(`/dist/${f}`)).arrayBuffer()));
      return { support: relaxedSimdSupport(), probeValid: WebAssembly.validate(RELAXED_SIMD_PROBE), isolated: crossOriginIsolated,
        relaxedWasmValid: await wasm('mblip_relaxed_mt.wasm') };
    });
    assert.deepEqual(probe, { support: { ok: true, reason: '' }, probeValid: true, isolated: true, relaxedWasmValid: true });
    // Auto: relaxed SIMD + threads, and the relaxed module is the one the worker fetched.
    for (const c of cases) {
      fetched.length = 0;
      const r = await captionIn(page, { model: c.url, threads: 2, prompt: c.prompt });
      assert.ok(!r.error, JSON.stringify(r.error));
      assert.equal(r.build, 'relaxed-simd-threads');
      assert.ok(r.sameField && r.threaded);
      assert.ok(fetched.includes('/dist/mblip_relaxed_mt.wasm') && !fetched.includes('/dist/mblip_mt.wasm'), `fetched: ${fetched.filter((f) => f.startsWith('/dist/')).join(' ')}`);
      assert.deepEqual(r.tokens, c.want, `${c.id}: relaxed-simd-threads tokens`);
    }
    const beam = await captionIn(page, { model: cases[0].url, threads: 2, prompt: cases[0].prompt, numBeams: 3 });
    assert.deepEqual(beam.tokens, cases[0].wantBeam, `${cases[0].id}: relaxed-simd-threads beam-3 tokens`);
    // Forced builds, one golden case each.
    const c = cases[0];
    for (const [build, file] of [['simd128-threads', 'mt'], ['relaxed-simd', 'relaxed_st'], ['simd128', 'st']]) {
      if (!fs.existsSync(path.join(web, `dist/mblip_${file}.mjs`))) { t.diagnostic(`${build}: web/dist/mblip_${file}.mjs missing, not run`); continue; }
      fetched.length = 0;
      const r = await captionIn(page, { model: c.url, build, threads: 2, prompt: c.prompt });
      assert.ok(!r.error, `${build}: ${JSON.stringify(r.error)}`);
      assert.equal(r.build, build);
      assert.ok(fetched.includes(`/dist/mblip_${file}.wasm`), `${build} fetched: ${fetched.filter((f) => f.startsWith('/dist/')).join(' ')}`);
      assert.deepEqual(r.tokens, c.want, `${c.id}: ${build} tokens`);
    }
    const bad = await captionIn(page, { model: c.url, build: 'relaxed', prompt: c.prompt });
    assert.equal(bad.error && bad.error.name, 'InvalidArgumentError', JSON.stringify(bad));
  });
});

test('Chromium, not isolated: relaxed SIMD single-threaded auto-selected; forcing a threads build is Unsupported', async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
  const c = manifest.cases.find((x) => x.id === CASES[0]);
  const file = convertGolden(c.model);
  const mounts = { '/golden-models/': path.dirname(file), '/golden-images/': path.join(goldenDir, 'images/files') };
  await withBrowser({ isolated: false, mounts }, async (page, fetched) => {
    const url = `/golden-models/${path.basename(file)}`;
    const r = await captionIn(page, { model: url, threads: 2, prompt: c.prompts[0] });
    assert.ok(!r.error, JSON.stringify(r.error));
    assert.equal(r.build, 'relaxed-simd');
    assert.ok(fetched.includes('/dist/mblip_relaxed_st.wasm'));
    assert.deepEqual(r.tokens, expectedTokens(c.results.greedy[0]));
    const bad = await captionIn(page, { model: url, build: 'relaxed-simd-threads', prompt: c.prompts[0] });
    assert.equal(bad.error && bad.error.code, 'Unsupported', JSON.stringify(bad));
  });
});
