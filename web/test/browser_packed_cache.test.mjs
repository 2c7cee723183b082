// Packed-weights cache in headless Chromium (issue 12): the first load stores the packed weights in
// the Origin Private File System; after a page reload they come from there (model.cache.packed.hit,
// 'prepare' progress from storage) with transformers' tokens; a corrupt or truncated stored file is
// refused, repacked and rewritten; a quota error (simulated) warns and packs; clearModelCache()
// empties OPFS and the Cache API. The relaxed-SIMD build with an 8-bit model, whose vision tower runs
// on our own int8 kernel where Chromium's relaxed dot is "usdot" (its packed bytes are entries of the
// same store): the reloaded page's caption equals the first one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CHROMIUM, playwright, withBrowser } from './fixtures/chromium.mjs';
import { goldenDir, findConverter, convertGolden, expectedTokens } from './fixtures/golden_models.mjs';
import { moduleUnderTest } from './fixtures/module_under_test.mjs';

const CASE = 'tiny-mt5/c07_coffee_rgb';
const mod = moduleUnderTest('mt');
const why = !playwright ? 'playwright-core is not installed' : !fs.existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}`
  : !goldenDir ? 'golden data not found' : !findConverter() ? 'mblip-convert not built'
    : !mod ? 'no wasm module with the packed-weights cache (build the wasm preset, or set MBLIP_WEB_MODULE_DIR)' : false;

test('packed-weights cache in Chromium: OPFS after reload, corrupt files refused, quota warning, clear', { skip: why }, async () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
  const c = manifest.cases.find((x) => x.id === CASE);
  const want = expectedTokens(c.results.greedy[0]);
  const modelFile = convertGolden('tiny-mt5');
  const mounts = { '/golden-models/': path.dirname(modelFile), '/module/': mod.dir, '/images/': path.join(goldenDir, 'images/files') };
  await withBrowser({ isolated: true, mounts }, async (page, _fetched, logs) => {
    // A step that does not finish within 3 minutes fails the test with the page's console.
    let step = '';
    const within = (what, p) => {
      step = what;
      let timer;
      const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}\n${logs.join('\n')}`)), 180000); });
      return Promise.race([p, limit]).finally(() => clearTimeout(timer));
    };
    // One load + caption in the page; returns what the test asserts on.
    let loads = 0;
    const loadOnce = (extra = {}) => within(`load ${++loads} (${JSON.stringify(extra)})`, page.evaluate(async ({ model, moduleUrl, prompt, extra }) => {
      const { MBlip } = await import('/src/index.js');
      const progress = [];
      const m = await MBlip.load(model, { moduleUrl, threads: 2, onProgress: (p) => progress.push(p), ...extra });
      try {
        const img = await (await fetch('/images/coffee_rgb.png')).blob();
        const r = await m.caption(img, { prompt, maxNewTokens: 16, numBeams: 1 });
        return { packed: m.cache.packed, tokens: r.tokens, threaded: m.threaded,
          fromStorage: progress.some((p) => p.phase === 'prepare' && p.fromStorage), phases: [...new Set(progress.map((p) => p.phase))] };
      } finally { m.dispose(); }
    }, { model: `/golden-models/${path.basename(modelFile)}`, moduleUrl: `/module/${mod.file}`, prompt: c.prompts[0], extra }));
    // The stored files in OPFS: [{name, size}].
    const opfs = () => within('list OPFS', page.evaluate(async () => {
      const out = [];
      let dir;
      try { dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('mblip-packed'); } catch { return out; }
      for await (const [name, h] of dir.entries()) out.push({ name, size: (await h.getFile()).size });
      return out;
    }));
    // Rewrites the stored file's bytes: keep the first `keep` bytes and flip the byte at `flip`.
    const damage = (keep, flip) => within('damage the stored file', page.evaluate(async ({ keep, flip }) => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('mblip-packed');
      const [[, h]] = await Array.fromAsync(dir.entries());
      const bytes = new Uint8Array(await (await h.getFile()).arrayBuffer()).slice(0, keep ?? undefined);
      if (flip !== null && flip < bytes.length) bytes[flip] ^= 0x40;
      const w = await h.createWritable();
      await w.write(bytes);
      await w.close();
    }, { keep, flip }));

    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    await page.evaluate(async () => (await import('/src/index.js')).clearModelCache());
    const cold = await loadOnce();
    assert.deepEqual(cold.tokens, want, `first visit: transformers tokens\n${logs.join('\n')}`);
    assert.equal(cold.threaded, true);
    assert.equal(cold.packed.hit, false);
    assert.equal(cold.packed.stored, true, `stored in OPFS\n${logs.join('\n')}`);
    assert.equal(cold.packed.where, 'opfs');
    assert.equal(cold.fromStorage, false);
    let files = await opfs();
    assert.equal(files.length, 1, `one file, no temporaries: ${JSON.stringify(files)}`);
    assert.match(files[0].name, /^web-[0-9a-f]{16}-[a-z_]+\.mbpack$/);
    const size = files[0].size;
    assert.equal(size, cold.packed.bytes);

    // Second visit: a page reload, the weights come from OPFS.
    await page.reload();
    const warm = await loadOnce();
    assert.equal(warm.packed.hit, true, `after reload: packed weights from storage\n${logs.join('\n')}`);
    assert.equal(warm.fromStorage, true);
    assert.deepEqual(warm.phases, ['prepare', 'download', 'ready']);
    assert.deepEqual(warm.tokens, want);

    // Corrupt and partial files: refused with a warning, repacked, rewritten, then used again.
    for (const [what, keep, flip] of [['truncated', Math.floor(size * 0.7), null], ['byte flipped', null, Math.floor(size / 2)],
      ['header byte flipped', null, 20], ['index byte flipped', null, size - 2]]) {
      await damage(keep, flip);
      await page.reload();
      logs.length = 0;
      const r = await loadOnce();
      assert.deepEqual(r.tokens, want, what);
      assert.equal(r.packed.hit, false, `${what}: not used`);
      assert.ok(r.packed.rejected.length > 0, `${what}: a reason`);
      assert.ok(logs.some((l) => l.startsWith('warning') && l.includes('refused')), `${what}: console warning\n${logs.join('\n')}`);
      assert.equal(r.packed.stored, true, `${what}: rewritten`);
      files = await opfs();
      assert.deepEqual(files.map((f) => f.size), [size]);
      assert.equal((await loadOnce()).packed.hit, true, `${what}: the rewritten file is used`);
    }

    // Storage quota exceeded while storing (simulated): a console warning, the load works, nothing kept.
    await page.evaluate(async () => (await import('/src/index.js')).clearModelCache());
    await page.reload();
    logs.length = 0;
    const quota = await loadOnce({ _cacheTestHooks: { quotaError: true } });
    assert.deepEqual(quota.tokens, want);
    assert.equal(quota.packed.stored, false);
    assert.ok(logs.some((l) => l.startsWith('warning') && l.includes('quota')), `quota warning\n${logs.join('\n')}`);
    assert.deepEqual(await opfs(), []);

    // clearModelCache() empties both stores: the next load downloads and packs again.
    await loadOnce();
    assert.equal((await opfs()).length, 1);
    assert.ok((await page.evaluate(async () => (await caches.open('mblip-models-v1')).keys())).length >= 0);
    assert.equal(await page.evaluate(async () => (await import('/src/index.js')).clearModelCache()), true);
    assert.deepEqual(await opfs(), []);
    assert.equal(await page.evaluate(async () => (await (await caches.open('mblip-models-v1')).keys()).length), 0);
    await page.reload();
    const again = await loadOnce();
    assert.equal(again.packed.hit, false);
    assert.deepEqual(again.tokens, want);
  });
});

const relaxedMod = moduleUnderTest('relaxed_mt');
const whyRelaxed = why || (!relaxedMod ? 'no relaxed-SIMD threads module in web/dist (make wasm-relaxed && node web/scripts/build.mjs)' : false);

test('packed-weights cache in Chromium, relaxed-SIMD build, q8_0 model: the reloaded page captions the same', { skip: whyRelaxed }, async () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
  const c = manifest.cases.find((x) => x.id === CASE);
  const modelFile = convertGolden('tiny-mt5', 'q8_0');
  const mounts = { '/golden-models/': path.dirname(modelFile), '/module/': relaxedMod.dir, '/images/': path.join(goldenDir, 'images/files') };
  await withBrowser({ isolated: true, mounts }, async (page) => {
    const loadOnce = () => page.evaluate(async ({ model, moduleUrl, prompt }) => {
      const { MBlip } = await import('/src/index.js');
      const m = await MBlip.load(model, { moduleUrl, build: 'relaxed-simd-threads', threads: 2 });
      try {
        const img = await (await fetch('/images/coffee_rgb.png')).blob();
        const g = await m.caption(img, { prompt, maxNewTokens: 16, numBeams: 1 });
        const b = await m.caption(img, { prompt, maxNewTokens: 16, numBeams: 3 });
        return { packed: m.cache.packed, build: m.info.build, greedy: g.tokens, beam: b.tokens };
      } finally { m.dispose(); }
    }, { model: `/golden-models/${path.basename(modelFile)}`, moduleUrl: `/module/${relaxedMod.file}`, prompt: c.prompts[0] });
    await page.evaluate(async () => (await import('/src/index.js')).clearModelCache());
    const cold = await loadOnce();
    assert.equal(cold.build, 'relaxed-simd-threads');
    assert.equal(cold.packed.hit, false);
    assert.equal(cold.packed.stored, true, 'stored in OPFS');
    assert.ok(cold.greedy.length > 0);
    await page.reload();
    const warm = await loadOnce();
    assert.equal(warm.packed.hit, true, 'after reload: packed weights from storage');
    assert.deepEqual(warm.greedy, cold.greedy);
    assert.deepEqual(warm.beam, cold.beam);
  });
});
