// Package behaviour against a JS stand-in of the Embind module (fixtures/stub_module.mjs): worker
// protocol, model sources and progress, FIFO queueing, abort, streaming, typed errors, the 4 GB check.
// Runs without any wasm build; golden.test.mjs repeats the important parts on the real wasm core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MBlip, AbortError, ModelLoadError, ImageDecodeError, InvalidArgumentError, MBlipError } from '../src/index.js';
import { startServer } from '../serve.mjs';

const moduleUrl = new URL('./fixtures/stub_module.mjs', import.meta.url).href;
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]);
// 19 MB: more than two 8 MB stream chunks, so buffer sources go through the acknowledged chunk flow.
function fakeModel(n = 19 << 20) { const b = new Uint8Array(n); b.set([71, 71, 85, 70]); for (let i = 4; i < n; i += 4096) b[i] = i & 255; return b; }
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-pkg-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('loads from Uint8Array, ArrayBuffer, Blob, file path and URL with progress', async () => {
  const bytes = fakeModel();
  const file = path.join(tmp, 'm.gguf');
  fs.writeFileSync(file, bytes);
  const srv = await startServer({ root: tmp, port: 0 });
  try {
    for (const src of [bytes, bytes.buffer.slice(0), new Blob([bytes]), file, `${srv.url}m.gguf`]) {
      const seen = [];
      const m = await MBlip.load(src, { moduleUrl, onProgress: (p) => seen.push(p) });
      const reads = seen.filter((p) => p.phase === 'download');
      assert.ok(reads.length >= 1, 'progress events');
      assert.equal(reads.at(-1).loaded, bytes.length);
      assert.equal(reads.at(-1).total, bytes.length);
      for (let i = 1; i < reads.length; i++) assert.ok(reads[i].loaded >= reads[i - 1].loaded);
      assert.equal(m.info.architecture, 'blip2-t5');
      const r = await m.caption(PNG, { maxNewTokens: 2 });
      assert.deepEqual(r.tokens, [100, 101]);
      m.dispose();
    }
  } finally { await srv.close(); }
});

test('caption/ask build the mBLIP prompts, stream tokens and return timings', async () => {
  const m = await MBlip.load(fakeModel(), { moduleUrl });
  try {
    const events = [];
    const r = await m.caption(PNG, { lang: 'German', maxNewTokens: 4, onToken: (e) => events.push(e) });
    assert.equal(r.prompt, 'Caption in German:');
    assert.equal(r.lang, 'de');
    assert.deepEqual(events.map((e) => e.token), r.tokens);
    assert.equal(events.map((e) => e.delta).join(''), events.at(-1).text);
    assert.ok(r.text.endsWith(events.at(-1).text));
    assert.equal(typeof r.timings.total, 'number');
    const a = await m.ask({ data: new Uint8ClampedArray(2 * 2 * 4), width: 2, height: 2 }, 'Who?', { lang: 'ja', maxNewTokens: 1 });
    assert.equal(a.prompt, 'Question: Who? Short answer in Japanese:');
    const p = await m.caption(PNG, { prompt: 'Beschreibe das Bild.', maxNewTokens: 1 });
    assert.equal(p.prompt, 'Beschreibe das Bild.');
  } finally { m.dispose(); }
});

test('concurrent calls queue FIFO and each gets its own result', async () => {
  const m = await MBlip.load(fakeModel(), { moduleUrl });
  try {
    const order = [];
    const calls = [5, 1, 3, 2].map((n, i) => m.caption(PNG, { prompt: `slow ${i}`, maxNewTokens: n }).then((r) => { order.push(i); return r; }));
    const results = await Promise.all(calls);
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.deepEqual(results.map((r) => r.tokens.length), [5, 1, 3, 2]);
    assert.deepEqual(results.map((r) => r.prompt), ['slow 0', 'slow 1', 'slow 2', 'slow 3']);
  } finally { m.dispose(); }
});

test('abort: running generation stops promptly, queued and pre-aborted calls reject, the model stays usable', async () => {
  const m = await MBlip.load(fakeModel(), { moduleUrl });
  try {
    const ac = new AbortController();
    const tokens = [];
    const running = m.caption(PNG, { prompt: 'slow', maxNewTokens: 200, signal: ac.signal, onToken: (e) => tokens.push(e.token) });
    const ac2 = new AbortController();
    const queued = m.caption(PNG, { maxNewTokens: 3, signal: ac2.signal });
    const after = m.caption(PNG, { maxNewTokens: 2 });
    ac2.abort();
    await assert.rejects(queued, (e) => e instanceof AbortError && e.name === 'AbortError');
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    ac.abort();
    await assert.rejects(running, (e) => e instanceof AbortError && e.name === 'AbortError' && e.code === 'Cancelled');
    assert.ok(Date.now() - t0 < 1000, `abort took ${Date.now() - t0} ms`);
    assert.ok(tokens.length > 0 && tokens.length < 200, `streamed ${tokens.length} tokens before the abort`);
    assert.deepEqual((await after).tokens, [100, 101]);
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(m.caption(PNG, { signal: pre.signal }), AbortError);
  } finally { m.dispose(); }
});

test('typed errors: bad model bytes, missing file, bad image, bad options, unknown language', async () => {
  await assert.rejects(MBlip.load(new Uint8Array(100), { moduleUrl }), (e) => e instanceof ModelLoadError && e.code === 'ModelLoad' && /GGUF/.test(e.message));
  await assert.rejects(MBlip.load(path.join(tmp, 'nope.gguf'), { moduleUrl }), (e) => e instanceof ModelLoadError && /nope\.gguf/.test(e.message));
  await assert.rejects(MBlip.load(42, { moduleUrl }), InvalidArgumentError);
  const m = await MBlip.load(fakeModel(), { moduleUrl });
  try {
    await assert.rejects(m.caption(new Uint8Array([1, 2, 3])), (e) => e instanceof ImageDecodeError && e.code === 'ImageDecode');
    await assert.rejects(m.caption(path.join(tmp, 'missing.png')), (e) => e instanceof ImageDecodeError && e.code === 'Io');
    await assert.rejects(m.caption(PNG, { numBeams: 'five' }), (e) => e instanceof InvalidArgumentError && /numBeams/.test(e.message));
    await assert.rejects(m.caption(PNG, { maxNewTokens: 0 }), InvalidArgumentError);
    await assert.rejects(m.caption(PNG, { lang: 'klingon' }), (e) => e instanceof InvalidArgumentError && /klingon/.test(e.message));
    await assert.rejects(m.caption({ data: new Uint8Array(5), width: 2, height: 2 }), InvalidArgumentError);
    await assert.rejects(m.ask(PNG, ''), InvalidArgumentError);
    await assert.rejects(m.caption({}), InvalidArgumentError);
    for (const C of [ModelLoadError, ImageDecodeError, InvalidArgumentError, AbortError]) assert.ok(new C('x') instanceof MBlipError);
    assert.deepEqual((await m.caption(PNG, { maxNewTokens: 1 })).tokens, [100], 'still usable after errors');
  } finally { m.dispose(); }
  await assert.rejects(m.caption(PNG), MBlipError, 'disposed model rejects');
});

test('a model larger than the 4 GB wasm32 heap fails before allocating, naming the sizes', async () => {
  const big = path.join(tmp, 'big.gguf');
  const fd = fs.openSync(big, 'w');
  fs.ftruncateSync(fd, 5 * 1024 ** 3); // sparse: no disk space used
  fs.closeSync(fd);
  const t0 = Date.now();
  await assert.rejects(MBlip.load(big, { moduleUrl }), (e) => e instanceof ModelLoadError &&
    /5\.00 GiB \(5368709120 bytes\)/.test(e.message) && /4\.00 GiB \(4294967296 bytes\)/.test(e.message));
  assert.ok(Date.now() - t0 < 5000, 'no bytes were read');
  fs.rmSync(big);
});
