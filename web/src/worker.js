// Inference worker (browser module Worker or Node worker_threads): owns the Emscripten module,
// streams the model bytes through a small heap buffer into the core's stream loader (packed
// tensor by tensor), runs embed + generate for queued requests.
// Protocol (main <-> worker) is documented in web/README.md ("Worker protocol").
import { MBlipError, ModelLoadError, InvalidArgumentError, ImageDecodeError, classForCode, toWire } from './errors.js';
import { openPackedCache, readImage, afterLoad, setWarningSink } from './packed_cache.js';

const IS_NODE = typeof process === 'object' && !!(process.versions && process.versions.node);
// The Emscripten loader hides fetch under Node (cmake/node_nofetch.pre.js): keep our own handle.
const FETCH = typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : null;
const CACHE_NAME = 'mblip-models-v1';
const STREAM_BUFFER = 4 << 20; // the one heap buffer model bytes pass through

let post;
let M = null;          // the Emscripten module
let model = null;      // Embind Model handle
let flag = null;       // Int32Array over a SharedArrayBuffer: id of the request to cancel
let threads = 1;
let variant = '';      // the wasm build file in use ('mt', 'relaxed_st', ...)
let moduleUrl = '';    // options.moduleUrl (a module from elsewhere)
let chunkSink = null;  // receives {type:'chunk'} messages while a buffer source is streaming
let chain = Promise.resolve();

function fail(Cls, message) { throw new Cls(message); }
function check(r, stage = 'run') {
  if (!r || typeof r !== 'object' || !('ok' in r)) return r;
  if (!r.ok) throw new (classForCode(r.code, stage))(r.message, r.code);
  return r.value;
}
function heapU8() {
  const mem = M.wasmMemory;
  if (mem && M.HEAPU8.buffer !== mem.buffer) return new Uint8Array(mem.buffer);
  return M.HEAPU8;
}

async function init(msg) {
  threads = Math.max(1, msg.threads | 0);
  variant = msg.variant || '';
  moduleUrl = msg.moduleUrl || '';
  flag = msg.flag ? new Int32Array(msg.flag) : null;
  const base = new URL('../dist/', import.meta.url);
  const url = msg.moduleUrl || new URL(`mblip_${msg.variant}.mjs`, base).href;
  const opts = { mblipPoolSize: threads + 1 };
  if (IS_NODE) {
    const [{ createRequire }, { fileURLToPath }, path] =
      await Promise.all([import('node:module'), import('node:url'), import('node:path')]);
    // The 3.1.6 ES6 loader still uses require/__dirname under Node; give it both.
    globalThis.require = createRequire(import.meta.url);
    globalThis.__dirname = path.dirname(fileURLToPath(url));
    opts.locateFile = (p) => fileURLToPath(new URL(p, url));
  }
  let factory;
  try {
    ({ default: factory } = await import(url));
  } catch (e) {
    fail(ModelLoadError, `cannot load the wasm module ${url} (${e.message}); run \`npm run build\` in web/ after building the wasm presets`);
  }
  M = await factory(opts);
  return { version: M.version(), build: M.build_info(), variant: msg.variant, threads };
}

// ---- model sources -------------------------------------------------------------------------

async function openUrl(src, progress) {
  if (!FETCH) fail(ModelLoadError, 'fetch() is not available in this environment');
  const cacheable = src.cache !== false && typeof caches === 'object' && /^https?:/.test(src.url);
  let cache = null;
  let size = null;
  if (cacheable) {
    try { cache = await caches.open(CACHE_NAME); } catch { cache = null; }
  }
  if (cache) {
    // The cache key carries the size, so a changed remote file is never served from a stale entry.
    let head = null;
    try { head = await FETCH(src.url, { method: 'HEAD' }); } catch { head = null; }
    if (head && head.ok && head.headers.get('content-length')) size = Number(head.headers.get('content-length'));
    const keys = await cache.keys();
    const prefix = cacheKeyPrefix(src.url);
    const hit = keys.find((k) => k.url.startsWith(prefix) && (size === null || k.url === prefix + size));
    if (hit) {
      const r = await cache.match(hit);
      const n = Number(new URL(hit.url).searchParams.get('mblip-size'));
      if (r && r.body) return { size: n, body: r.body, cached: true, store: null };
    }
  }
  let resp;
  try { resp = await FETCH(src.url); } catch (e) { fail(ModelLoadError, `download of ${src.url} failed: ${e.message}`); }
  if (!resp.ok) fail(ModelLoadError, `download of ${src.url} failed: HTTP ${resp.status} ${resp.statusText}`);
  const len = resp.headers.get('content-length');
  const encoded = resp.headers.get('content-encoding');
  size = len !== null && !encoded ? Number(len) : null;
  let body = resp.body;
  let store = null;
  if (cache && size !== null) {
    const [a, b] = body.tee();
    body = a;
    const expected = size;
    let count = 0;
    // Counts the bytes and errors the stream on a short or long body, so cache.put() rejects and
    // a partial download is never stored.
    const verify = new TransformStream({
      transform(chunk, c) { count += chunk.byteLength; if (count > expected) c.error(new Error('too many bytes')); else c.enqueue(chunk); },
      flush(c) { if (count !== expected) c.error(new Error(`got ${count} of ${expected} bytes`)); },
    });
    const key = cacheKeyPrefix(src.url) + size;
    store = cache.put(key, new Response(b.pipeThrough(verify), { headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' } }))
      .then(() => true, async () => { try { await cache.delete(key); } catch { /* ignore */ } return false; });
  }
  return { size, body, cached: false, store };
}
function cacheKeyPrefix(url) {
  const u = new URL(url);
  u.searchParams.delete('mblip-size');
  return u.href + (u.search ? '&' : '?') + 'mblip-size=';
}

// The size rule (wasm32 heap) is the core's: checked before any byte is downloaded.
function checkFits(size) {
  if (!Number.isFinite(size) || size <= 0) fail(ModelLoadError, `model size ${size} is not a positive byte count`);
  check(M.check_model_file_size(size), 'load');
}

// Feeds the core's ModelStreamLoader through one reusable heap buffer: the file's bytes go from
// the source into that buffer and are packed tensor by tensor, so neither JS nor the heap ever
// holds the whole raw file. The core checks the header (and the memory it implies) as soon as
// it has arrived, so a model that cannot fit fails after the first chunk.
class HeapFeeder {
  // extra: StreamLoader options (packed cache: packedCache, cacheImage, cacheImageSize, cacheLabel).
  constructor(total, extra = {}) {
    if (total !== null) checkFits(total);
    const { owner, ...opts } = extra;
    this.loader = new M.StreamLoader(total || 0, { threads, ...opts });
    if (owner) owner.adopted = true; // the loader owns (and frees) the cache image now
    this.cap = STREAM_BUFFER;
    this.ptr = this.loader.buffer(this.cap);
    if (!this.ptr) { this.dispose(); fail(ModelLoadError, `cannot allocate a ${this.cap}-byte stream buffer in the wasm heap`); }
    this.fill = 0;
  }
  // Copies a chunk (any size) into the heap buffer, pushing whenever it is full.
  write(u8) {
    for (let off = 0; off < u8.byteLength;) {
      const n = Math.min(this.cap - this.fill, u8.byteLength - off);
      heapU8().set(u8.subarray(off, off + n), this.ptr + this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.cap) this.flush();
    }
  }
  flush() {
    if (this.fill === 0) return;
    const n = this.fill;
    this.fill = 0;
    check(this.loader.push(n), 'load');
  }
  // The heap buffer as a view (Node reads the file straight into it; then push(n)).
  view(n) { return heapU8().subarray(this.ptr, this.ptr + Math.min(n, this.cap)); }
  pushRead(n) { check(this.loader.push(n), 'load'); }
  finish() { this.flush(); const r = this.loader.finish(); this.stats = this.loader.stats(); return r; }
  dispose() { if (this.loader) { this.loader.delete(); this.loader = null; } }
}

// Reads a ReadableStream into the feeder; returns the byte count.
async function streamInto(body, feeder, size, progress) {
  const reader = body.getReader();
  let off = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size !== null && off + value.byteLength > size) fail(ModelLoadError, `model source sent more than the announced ${size} bytes`);
      feeder.write(value);
      off += value.byteLength;
      progress(off);
    }
  } catch (e) {
    try { reader.cancel(); } catch { /* ignore */ }
    throw e;
  }
  return off;
}

// Streams a model source into a new HeapFeeder; returns {feeder, size, cached, store}.
async function streamSource(src, progressCb, extra = {}) {
  // At most one event per 50 ms (and the last one): a message per 4 MiB chunk cost ~0.25 s per 3 GB.
  let last = -Infinity;
  const progress = (loaded, total, cached) => {
    const now = performance.now();
    if (now - last < 50 && loaded !== total) return;
    last = now;
    progressCb({ loaded, total, cached: !!cached });
  };
  if (src.kind === 'path') {
    if (!IS_NODE) fail(InvalidArgumentError, 'file paths are only supported in Node');
    const fs = await import('node:fs');
    let fd;
    try { fd = fs.openSync(src.path, 'r'); } catch (e) { fail(ModelLoadError, `cannot open model file ${src.path}: ${e.message}`); }
    let feeder = null;
    try {
      const size = fs.fstatSync(fd).size;
      feeder = new HeapFeeder(size, extra);
      let off = 0;
      while (off < size) {
        const n = fs.readSync(fd, feeder.view(size - off), 0, Math.min(feeder.cap, size - off), off);
        if (n <= 0) fail(ModelLoadError, `model file ${src.path} ended after ${off} of ${size} bytes`);
        feeder.pushRead(n);
        off += n;
        progress(off, size);
      }
      return { feeder, size, cached: false };
    } catch (e) { if (feeder) feeder.dispose(); throw e; } finally { fs.closeSync(fd); }
  }
  if (src.kind === 'blob') {
    const size = src.blob.size;
    const feeder = new HeapFeeder(size, extra);
    try {
      const n = await streamInto(src.blob.stream(), feeder, size, (o) => progress(o, size));
      if (n !== size) fail(ModelLoadError, `read ${n} of ${size} bytes of the model file`);
    } catch (e) { feeder.dispose(); throw e.name ? e : new ModelLoadError(String(e)); }
    return { feeder, size, cached: false };
  }
  if (src.kind === 'chunks') {
    const size = src.size;
    const feeder = new HeapFeeder(size, extra);
    let off = 0;
    try {
      await new Promise((resolve, reject) => {
        chunkSink = (m) => {
          try {
            if (m.error) throw new ModelLoadError(m.error);
            const v = new Uint8Array(m.data);
            if (off + v.byteLength > size) throw new ModelLoadError(`received more than ${size} model bytes`);
            feeder.write(v);
            off += v.byteLength;
            progress(off, size);
            if (off === size) resolve();
            else post({ type: 'chunk-ack' });
          } catch (e) { chunkSink = () => {}; reject(e); }
        };
        post({ type: 'send-chunks' });
        if (size === 0) resolve();
      });
    } catch (e) { feeder.dispose(); throw e; } finally { chunkSink = null; }
    return { feeder, size, cached: false };
  }
  if (src.kind === 'url') {
    let opened;
    try { opened = await openUrl(src, progress); } catch (e) { throw e instanceof MBlipError ? e : new ModelLoadError(e.message); }
    const { size, body, cached, store } = opened;
    // Without Content-Length (or with a compressed transfer) the size is unknown: the core then
    // checks the end of the stream itself.
    const feeder = new HeapFeeder(size, extra);
    let n;
    try {
      n = await streamInto(body, feeder, size, (o) => progress(o, size, cached));
      if (size !== null && n !== size) fail(ModelLoadError, `download of ${src.url} stopped after ${n} of ${size} bytes`);
    } catch (e) {
      feeder.dispose();
      throw e instanceof MBlipError ? e : new ModelLoadError(`download of ${src.url} failed: ${e.message}`);
    }
    return { feeder, size: n, cached, store };
  }
  fail(InvalidArgumentError, `unknown model source kind ${src.kind}`);
}

// Whether this module can keep packed weights (builds from before issue 12, and the tests' stub, cannot).
function packedCacheSupported() {
  return !!(M.StreamLoader && M.StreamLoader.prototype && typeof M.StreamLoader.prototype.export_cache === 'function');
}

async function load(msg) {
  if (model) { model.delete(); model = null; }
  const t0 = performance.now();
  // Packed-weights cache: the stored image (if any) goes into the heap first ('prepare'); the core
  // checks it against the model's header as it streams in and uses its packed weights in place.
  const pcOpts = msg.packedCache || {};
  const pc = packedCacheSupported() ? await openPackedCache(msg.source, variant, { ...pcOpts, moduleUrl }) : null;
  const extra = {};
  const ms = {}; // where the load's time went: storage (packed image read), download (stream + build), finish, store
  if (pc) {
    extra.packedCache = true;
    extra.cacheLabel = pc.label;
    const image = await readImage(pc, M, heapU8, (loaded, total) =>
      post({ type: 'progress', loaded, total, cached: true, phase: 'prepare', fromStorage: true }));
    if (image) { extra.cacheImage = image.ptr; extra.cacheImageSize = image.size; }
  }
  ms.storage = performance.now() - t0;
  const owner = { adopted: false };
  let streamed;
  try {
    streamed = await streamSource(msg.source, (p) => post({ type: 'progress', phase: 'download', ...p }), { ...extra, owner });
  } catch (e) {
    if (extra.cacheImage && !owner.adopted) M._free(extra.cacheImage); // failed before a loader took it
    throw e;
  }
  const { feeder, size, cached, store } = streamed;
  ms.download = performance.now() - t0 - ms.storage;
  post({ type: 'progress', loaded: size, total: size, cached, phase: 'prepare' });
  let stats;
  let packed = null;
  try {
    const t1 = performance.now();
    model = check(feeder.finish(), 'load');
    stats = feeder.stats;
    ms.finish = performance.now() - t1;
    if (pc) packed = await afterLoad(pc, feeder.loader, heapU8);
    ms.store = performance.now() - t1 - ms.finish;
  } finally { feeder.dispose(); }
  const stored = store ? await store : false;
  const readyMs = performance.now() - t0;
  post({ type: 'progress', loaded: size, total: size, cached, phase: 'ready' });
  return { info: model.info(), languages: M.languages(), size, cache: { hit: !!cached, stored, packed },
    memory: { heapBytes: heapU8().length, streamPeakBufferedBytes: stats ? stats.peakBufferedBytes : 0 },
    loadMs: readyMs, loadTimings: ms };
}

// ---- inference -----------------------------------------------------------------------------

function embed(image, plan) {
  const bytes = new Uint8Array(image.data);
  if (bytes.byteLength === 0) throw new ImageDecodeError('the image is empty (0 bytes)');
  const ptr = M._malloc(bytes.byteLength) >>> 0; // unsigned: the heap may be above 2 GiB
  if (!ptr) throw new MBlipError(`cannot allocate ${bytes.byteLength} bytes for the image`, 'OutOfMemory');
  try {
    heapU8().set(bytes, ptr);
    if (image.kind === 'encoded') return check(model.embed_image(ptr, bytes.byteLength, plan));
    return check(model.embed_pixels(ptr, image.width, image.height, image.channels));
  } finally { M._free(ptr); }
}

function run(msg) {
  if (!model) throw new MBlipError('no model is loaded', 'InvalidArgument');
  const id = msg.id;
  const cancelled = () => flag !== null && Atomics.load(flag, 0) === id;
  // The core decides prompt, defaults and settings (and rejects bad options) for every frontend.
  const plan = check(M.plan_task({ task: msg.task, lang: msg.lang, question: msg.question, prompt: msg.prompt,
    applyExif: msg.applyExif, options: msg.options }));
  try {
    if (cancelled()) throw new MBlipError('aborted', 'Cancelled');
    const t0 = performance.now();
    const emb = embed(msg.image, plan);
    try {
      if (cancelled()) throw new MBlipError('aborted', 'Cancelled');
      const onToken = (ev) => {
        if (cancelled()) return false;
        if (msg.stream) post({ type: 'token', id, event: ev });
        return true;
      };
      const r = check(model.generate(emb, plan, onToken));
      const timings = { ...emb.timings(), ...r.timings };
      timings.total = performance.now() - t0;
      return { ...r, timings, prompt: plan.prompt(), lang: plan.lang(), heapBytes: heapU8().length };
    } finally { emb.delete(); }
  } finally { plan.delete(); }
}

// ---- message loop --------------------------------------------------------------------------

async function handle(msg) {
  const reply = (type, value) => post({ type, id: msg.id, value });
  try {
    if (msg.type === 'init') reply('ready', await init(msg));
    else if (msg.type === 'load') reply('loaded', await load(msg));
    else if (msg.type === 'run') reply('result', run(msg));
  } catch (e) {
    let err = e;
    if (!(e instanceof MBlipError)) {
      // A wasm trap (RuntimeError) or an Embind error: the module may be unusable now.
      err = new MBlipError(`internal error in the wasm module: ${e && e.message ? e.message : e}`, 'Internal');
    }
    post({ type: 'error', id: msg.id, error: toWire(err) });
  }
}

function onMessage(msg) {
  if (msg.type === 'chunk') { if (chunkSink) chunkSink(msg); return; }
  chain = chain.then(() => handle(msg));
}

if (IS_NODE) {
  const { parentPort } = await import('node:worker_threads');
  post = (m, t) => parentPort.postMessage(m, t);
  parentPort.on('message', onMessage);
} else {
  post = (m, t) => self.postMessage(m, t);
  self.onmessage = (e) => onMessage(e.data);
}
setWarningSink((message) => post({ type: 'warning', message }));
post({ type: 'started' });
