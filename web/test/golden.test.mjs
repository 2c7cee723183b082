// End-to-end tests of the packed npm package on the real wasm core: `npm pack`, install the tarball
// into a temporary project (offline, no runtime deps), then caption/ask the golden tiny models
// converted to GGUF and compare tokens with transformers' (greedy and beam), for the pthreads and the
// single-threaded build; plus typed errors, abort and queueing. Skips visibly without the wasm builds,
// the converter, or the golden data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { goldenDir, findConverter, convertGolden, expectedTokens } from './fixtures/golden_models.mjs';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifest = goldenDir && JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
const images = goldenDir && JSON.parse(fs.readFileSync(path.join(goldenDir, 'images/manifest.json'), 'utf8')).images;

let skip = false;
if (!goldenDir) skip = 'golden data not found (set MBLIP_GOLDEN_DIR)';
else if (!findConverter()) skip = 'mblip-convert not built (build/native/bin/mblip-convert or $MBLIP_CONVERT)';

// ---- one packed + installed copy of the package for all tests ----
let project = null; let packed = null;
function setup() {
  if (project) return project;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-npm-'));
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
  const info = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: web, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  packed = info[0];
  const proj = path.join(tmp, 'app');
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)], { cwd: proj, stdio: ['ignore', 'pipe', 'pipe'] });
  fs.copyFileSync(path.join(web, 'test/fixtures/golden_runner.mjs'), path.join(proj, 'golden_runner.mjs'));
  project = proj;
  return proj;
}
function hasVariant(v) {
  setup();
  return packed.files.some((f) => f.path === `dist/mblip_${v}.mjs`) ? false : `dist/mblip_${v}.mjs is not in the package (build preset ${v === 'mt' ? 'wasm' : 'wasm-st'}, then npm run build)`;
}
function run(plan) {
  const proj = setup();
  const file = path.join(proj, `plan-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(plan));
  const out = execFileSync(process.execPath, ['golden_runner.mjs', file], { cwd: proj, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600000 });
  return JSON.parse(out);
}

function imageSpecs(stem) {
  const im = images.find((i) => i.name === stem);
  const specs = [{ how: 'pixels', npy: path.join(goldenDir, 'images', im.arrays.decoded_rgb_u8.path) }];
  // HF's pixel_values ignore EXIF orientation; the package applies it to encoded files, so the
  // EXIF-rotated file is compared through its decoded pixels only.
  if (!im.exif_orientation || im.exif_orientation === 1) specs.push({ how: 'encoded', file: path.join(goldenDir, 'images', im.file) });
  return specs;
}

test('npm pack gives an installable tarball with no runtime dependencies', { skip: goldenDir ? false : skip }, () => {
  const proj = setup();
  const pkg = JSON.parse(fs.readFileSync(path.join(proj, 'node_modules/mblip/package.json'), 'utf8'));
  assert.equal(pkg.name, 'mblip');
  assert.ok(!pkg.dependencies || Object.keys(pkg.dependencies).length === 0);
  for (const f of ['src/index.js', 'src/worker.js', 'src/errors.js', 'index.d.ts']) assert.ok(packed.files.some((x) => x.path === f), f);
  const lock = JSON.parse(fs.readFileSync(path.join(proj, 'package-lock.json'), 'utf8'));
  assert.deepEqual(Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/')), ['node_modules/mblip']);
});

for (const variant of ['mt', 'st']) {
  const threads = variant === 'mt' ? 2 : 1;
  for (const modelName of ['tiny-mt5', 'tiny-mt5-odd']) {
    test(`golden tokens, ${modelName}, ${variant === 'mt' ? 'pthreads' : 'single-threaded'} build (greedy + beam 3)`, async (t) => {
      const why = skip || hasVariant(variant);
      if (why) { t.skip(why); return; }
      const cases = manifest.cases.filter((c) => c.model === modelName && c.batch_size === 1);
      const steps = [];
      for (const c of cases) {
        for (const spec of imageSpecs(c.images[0])) {
          steps.push({ kind: 'caption', id: `${c.id}/${spec.how}/greedy`, image: spec, options: { prompt: c.prompts[0], numBeams: 1, maxNewTokens: 16 }, want: expectedTokens(c.results.greedy[0]) });
          if (spec.how === 'encoded' || c.images[0].includes('exif')) {
            steps.push({ kind: 'caption', id: `${c.id}/${spec.how}/beam3`, image: spec, options: { prompt: c.prompts[0], numBeams: 3, maxNewTokens: 16 }, want: expectedTokens(c.results.beam[0]) });
          }
        }
      }
      const out = run({ model: convertGolden(modelName), threads, steps });
      assert.ok(out.load.ok, `load: ${JSON.stringify(out.load)}`);
      assert.equal(out.load.threaded, variant === 'mt');
      assert.equal(out.load.languages, 96);
      for (const [i, s] of out.steps.entries()) {
        assert.ok(s.ok, `${s.id}: ${s.name} ${s.message}`);
        assert.deepEqual(s.tokens, steps[i].want, `${s.id} tokens`);
      }
      t.diagnostic(`${out.steps.length} generations matched transformers`);
    });
  }
}

test('typed errors, abort and queueing on the real core', async (t) => {
  const why = skip || hasVariant('mt');
  if (why) { t.skip(why); return; }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-bad-'));
  try {
    const bad = path.join(tmp, 'bad.gguf');
    fs.writeFileSync(bad, Buffer.from('GGUF this is not really a model file'.repeat(10)));
    const r1 = run({ model: bad, threads: 2, steps: [] });
    assert.equal(r1.load.ok, false);
    assert.equal(r1.load.name, 'ModelLoadError', JSON.stringify(r1.load));
    assert.equal(r1.load.code, 'ModelLoad');
    const garbage = path.join(tmp, 'garbage.jpg');
    fs.writeFileSync(garbage, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]));
    const img = { file: path.join(goldenDir, 'images/files/coffee_rgb.png') };
    const out = run({ model: convertGolden('tiny-mt5'), threads: 2, steps: [
      { kind: 'caption', id: 'bad-image', image: { file: garbage }, options: {} },
      { kind: 'caption', id: 'bad-beams', image: img, options: { numBeams: 0 } },
      { kind: 'caption', id: 'bad-tokens', image: img, options: { maxNewTokens: 100000 } },
      { kind: 'caption', id: 'bad-sampling', image: img, options: { doSample: true, temperature: -1 } },
      { kind: 'ask', id: 'ask', image: img, question: 'What is this?', options: { lang: 'fr', numBeams: 1 } },
      { kind: 'abort', id: 'abort', image: img, options: { prompt: 'Caption in English:', numBeams: 1, maxNewTokens: 500, minNewTokens: 500 }, after: { numBeams: 1, maxNewTokens: 3 } },
      { kind: 'queue', id: 'queue', image: img, calls: [{ numBeams: 1, maxNewTokens: 5 }, { numBeams: 3, maxNewTokens: 2 }, { numBeams: 1, maxNewTokens: 1 }] },
    ] });
    const by = Object.fromEntries(out.steps.map((s) => [s.id, s]));
    assert.equal(by['bad-image'].name, 'ImageDecodeError', JSON.stringify(by['bad-image']));
    for (const id of ['bad-beams', 'bad-tokens', 'bad-sampling']) assert.equal(by[id].name, 'InvalidArgumentError', `${id}: ${JSON.stringify(by[id])}`);
    assert.ok(by.ask.ok && by.ask.prompt === 'Question: What is this? Short answer in French:', JSON.stringify(by.ask));
    assert.equal(by.abort.first.name, 'AbortError', JSON.stringify(by.abort.first));
    assert.ok(by.abort.first.streamed < 500);
    assert.ok(by.abort.second.ok && by.abort.second.tokens.length <= 3);
    assert.deepEqual(by.queue.order, [0, 1, 2]);
    assert.ok(by.queue.results.every((r) => r.ok));
    assert.ok(by.queue.results[2].tokens.length === 1 && by.queue.results[1].tokens.length <= 2);
  } finally { fs.rmSync(tmp, { recursive: true, force: true }); }
});
