// Packed-weights cache of the package in Node (issue 12): the first load stores the packed weights
// in the cache folder, the second loads them from there (model.cache.packed.hit, 'prepare' progress
// from storage) with transformers' tokens; a corrupt or truncated file is refused, repacked and
// rewritten; a full disk (simulated ENOSPC) warns and packs; clearModelCache() removes the files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { goldenDir, findConverter, convertGolden, expectedTokens } from './fixtures/golden_models.mjs';
import { moduleUnderTest } from './fixtures/module_under_test.mjs';

const mod = moduleUnderTest('mt');
const why = !goldenDir ? 'golden data not found' : !findConverter() ? 'mblip-convert not built'
  : !mod ? 'no wasm module with the packed-weights cache (build the wasm preset, or set MBLIP_WEB_MODULE_DIR)' : false;
const CASE = 'tiny-mt5/c07_coffee_rgb';

test('packed-weights cache in Node: stored, reused, corrupt files refused, ENOSPC warns, clear', { skip: why }, async () => {
  const { MBlip, clearModelCache } = await import('../src/index.js');
  const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
  const c = manifest.cases.find((x) => x.id === CASE);
  const want = expectedTokens(c.results.greedy[0]);
  const modelFile = convertGolden('tiny-mt5');
  const image = path.join(goldenDir, 'images/files/coffee_rgb.png');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-packed-'));
  const moduleUrl = pathToFileURL(mod.mjs).href;
  const warnings = [];
  const origWarn = console.warn;
  console.warn = (...a) => { warnings.push(a.join(' ')); };
  const files = () => fs.readdirSync(cacheDir);
  async function run(extra = {}) {
    const progress = [];
    const m = await MBlip.load(modelFile, { moduleUrl, threads: 2, cacheDir, onProgress: (p) => progress.push(p), ...extra });
    try {
      const r = await m.caption(image, { prompt: c.prompts[0], maxNewTokens: 16, numBeams: 1 });
      return { packed: m.cache.packed, tokens: r.tokens, fromStorage: progress.some((p) => p.phase === 'prepare' && p.fromStorage),
        phases: [...new Set(progress.map((p) => p.phase))] };
    } finally { m.dispose(); }
  }
  try {
    const cold = await run();
    assert.deepEqual(cold.tokens, want, 'first load: transformers tokens');
    assert.equal(cold.packed.hit, false);
    assert.equal(cold.packed.stored, true);
    assert.equal(cold.fromStorage, false);
    assert.deepEqual(cold.phases, ['download', 'prepare', 'ready']);
    assert.equal(files().length, 1, `one file, no temporaries: ${files()}`);
    const file = path.join(cacheDir, files()[0]);
    assert.match(files()[0], /^web-[0-9a-f]{16}-[a-z_]+\.mbpack$/);
    assert.equal(fs.statSync(file).size, cold.packed.bytes);
    const good = fs.readFileSync(file);
    assert.equal(good.subarray(0, 8).toString('latin1'), 'MBLPACK1', 'the native cache file format');

    const warm = await run();
    assert.equal(warm.packed.hit, true, 'second load: packed weights from the cache folder');
    assert.equal(warm.packed.stored, false);
    assert.equal(warm.fromStorage, true);
    assert.deepEqual(warm.tokens, want);

    // Corrupt / partial files: refused (with a warning), repacked, the file rewritten.
    const flipped = Buffer.from(good); flipped[Math.floor(good.length / 2)] ^= 0x40;
    const trailer = Buffer.from(good); trailer[good.length - 2] ^= 0x01; // inside the index
    for (const [what, bytes] of [['truncated', good.subarray(0, Math.floor(good.length * 0.6))], ['byte flipped', flipped],
      ['index byte flipped', trailer], ['header only', good.subarray(0, 4096)], ['empty', Buffer.alloc(0)]]) {
      fs.writeFileSync(file, bytes);
      warnings.length = 0;
      const r = await run();
      assert.deepEqual(r.tokens, want, what);
      assert.equal(r.packed.hit, false, `${what}: not used`);
      if (bytes.length) {
        assert.ok(r.packed.rejected.length > 0, `${what}: a reason`);
        assert.ok(warnings.some((w) => w.includes('refused')), `${what}: warned: ${warnings}`);
      }
      assert.equal(r.packed.stored, true, `${what}: rewritten`);
      assert.equal(fs.statSync(file).size, good.length);
      assert.equal((await run()).packed.hit, true, `${what}: the rewritten file is used`);
    }

    // A full disk while storing: a warning, the load still works, no file or temporary is left.
    fs.rmSync(file);
    warnings.length = 0;
    const full = await run({ _cacheTestHooks: { quotaError: true } });
    assert.deepEqual(full.tokens, want);
    assert.equal(full.packed.stored, false);
    assert.ok(warnings.some((w) => /quota|ENOSPC/.test(w)), `warned: ${warnings}`);
    assert.deepEqual(files(), []);

    // packedCache: false neither reads nor writes.
    assert.equal((await run({ packedCache: false })).packed, null);
    assert.deepEqual(files(), []);

    await run();
    assert.equal(files().length, 1);
    fs.writeFileSync(path.join(cacheDir, 'native.gguf.0123456789ab.mbpack'), 'x'); // the CLI's: kept
    assert.equal(await clearModelCache({ cacheDir }), true);
    assert.deepEqual(files(), ['native.gguf.0123456789ab.mbpack']);
    assert.equal((await run()).packed.hit, false, 'after clearModelCache the weights are packed again');
  } finally {
    console.warn = origWarn;
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
});
