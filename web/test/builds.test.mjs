// Build selection under Node (Debian's Node 20): the relaxed-SIMD probe module, the relaxed .wasm files
// really use relaxed opcodes (Node 20 rejects them, and accepts them with its relaxed flag), forced builds
// give typed errors, and auto-selection loads the SIMD128 builds and gives the golden greedy tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RELAXED_SIMD_PROBE, relaxedSimdSupport, selectBuild } from '../src/builds.js';
import { goldenDir, findConverter, convertGolden, expectedTokens } from './fixtures/golden_models.mjs';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const dist = (f) => path.join(web, 'dist', f);
// Runs `WebAssembly.validate` on a file in a child Node with extra flags.
function validateIn(flags, file) {
  return execFileSync(process.execPath, [...flags, '-e',
    'process.stdout.write(String(WebAssembly.validate(require("fs").readFileSync(process.argv[1]))))', file], { encoding: 'utf8' }) === 'true';
}

test('relaxed SIMD probe module: Node 20 rejects it, and accepts it with its relaxed-SIMD flag', { skip: NODE_MAJOR !== 20 && 'needs Node 20' }, (t) => {
  assert.equal(RELAXED_SIMD_PROBE[0], 0);
  assert.equal(WebAssembly.validate(RELAXED_SIMD_PROBE), false);
  const tmp = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'mblip-probe-')), 'probe.wasm');
  fs.writeFileSync(tmp, RELAXED_SIMD_PROBE);
  try {
    assert.equal(validateIn(['--experimental-wasm-relaxed-simd'], tmp), true, 'the probe is a well-formed module apart from the relaxed opcodes');
  } finally { fs.rmSync(path.dirname(tmp), { recursive: true, force: true }); }
  const s = relaxedSimdSupport();
  assert.equal(s.ok, false);
  assert.match(s.reason, /Node 20.*>= 22/);
});

test('forced builds: unknown names and builds the engine cannot run are typed errors', () => {
  assert.throws(() => selectBuild('wasm64', { threadsOk: true, wantThreads: true }), { name: 'InvalidArgumentError', message: /'relaxed-simd-threads'/ });
  assert.throws(() => selectBuild(3, { threadsOk: true, wantThreads: true }), { name: 'InvalidArgumentError' });
  assert.throws(() => selectBuild('simd128-threads', { threadsOk: false, wantThreads: true }), { name: 'MBlipError', code: 'Unsupported', message: /cross-origin isolated/ });
  assert.equal(selectBuild('simd128', { threadsOk: true, wantThreads: true }).file, 'st');
  assert.equal(selectBuild('simd128-threads', { threadsOk: true, wantThreads: false }).file, 'mt');
  if (NODE_MAJOR < 22) {
    assert.throws(() => selectBuild('relaxed-simd', { threadsOk: true, wantThreads: true }), { name: 'MBlipError', code: 'Unsupported', message: /Node/ });
    assert.equal(selectBuild(undefined, { threadsOk: true, wantThreads: true }).name, 'simd128-threads');
    assert.equal(selectBuild('auto', { threadsOk: true, wantThreads: false }).name, 'simd128');
  }
});

for (const v of ['relaxed_mt', 'relaxed_st']) {
  test(`dist/mblip_${v}.wasm uses relaxed SIMD: Node 20 rejects it, its relaxed flag makes it valid; the SIMD128 build validates plainly`, (t) => {
    execFileSync(process.execPath, ['scripts/build.mjs', '--if-present'], { cwd: web, stdio: 'ignore' });
    if (NODE_MAJOR !== 20) { t.skip('needs Node 20'); return; }
    const simd = dist(`mblip_${v.replace('relaxed_', '')}.wasm`);
    if (!fs.existsSync(dist(`mblip_${v}.wasm`)) || !fs.existsSync(simd)) { t.skip(`build the wasm presets (web/dist/mblip_${v}.wasm or its SIMD128 twin missing)`); return; }
    assert.equal(validateIn([], dist(`mblip_${v}.wasm`)), false);
    assert.equal(validateIn(['--experimental-wasm-relaxed-simd'], dist(`mblip_${v}.wasm`)), true);
    assert.equal(validateIn([], simd), true);
  });
}

test('Node 20 auto-selects the SIMD128 builds; golden greedy tokens through simd128-threads', async (t) => {
  if (NODE_MAJOR >= 22) { t.skip('Node >= 22 may pick relaxed SIMD'); return; }
  if (!goldenDir || !findConverter()) { t.skip('golden data or mblip-convert missing'); return; }
  execFileSync(process.execPath, ['scripts/build.mjs', '--if-present'], { cwd: web, stdio: 'ignore' });
  if (!fs.existsSync(dist('mblip_mt.mjs'))) { t.skip('SIMD128 pthreads build missing in web/dist'); return; }
  const { MBlip } = await import('../src/index.js');
  const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
  const c = manifest.cases.find((x) => x.id === 'tiny-mt5/c07_coffee_rgb');
  const model = convertGolden('tiny-mt5');
  const m = await MBlip.load(model, { threads: 2 });
  try {
    assert.equal(m.info.build, 'simd128-threads');
    assert.equal(m.build, 'simd128-threads');
    const r = await m.caption(fs.readFileSync(path.join(goldenDir, 'images/files/coffee_rgb.png')), { prompt: c.prompts[0], numBeams: 1, maxNewTokens: 16 });
    assert.deepEqual(r.tokens, expectedTokens(c.results.greedy[0]));
  } finally { m.dispose(); }
  if (fs.existsSync(dist('mblip_st.mjs'))) {
    const one = await MBlip.load(model, { threads: 1 });
    try { assert.equal(one.info.build, 'simd128'); } finally { one.dispose(); }
  } else t.diagnostic('web/dist/mblip_st.mjs missing: threads 1 not checked');
  await assert.rejects(MBlip.load(model, { build: 'relaxed-simd-threads' }), { name: 'MBlipError', code: 'Unsupported' });
  await assert.rejects(MBlip.load(model, { build: 'simd256' }), { name: 'InvalidArgumentError' });
});
