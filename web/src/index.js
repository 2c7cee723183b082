// Public API of the `mblip` npm package: MBlip.load() -> model.caption() / model.ask().
// Inference runs in a worker (module Web Worker in browsers, worker_threads in Node); calls queue
// FIFO and can be aborted with an AbortSignal. See index.d.ts for the typed surface.
import { MBlipError, ModelLoadError, InvalidArgumentError, AbortError, fromWire } from './errors.js';
import { prepareImage } from './image.js';
import { selectBuild } from './builds.js';

export { MBlipError, ModelLoadError, ImageDecodeError, InvalidArgumentError, TokenizerError, AbortError } from './errors.js';
export { BUILDS, relaxedSimdSupport } from './builds.js';

const IS_NODE = typeof process === 'object' && !!(process.versions && process.versions.node) && typeof window === 'undefined';
const CHUNK = 8 << 20;
const CHUNKS_IN_FLIGHT = 2;

// Keys of caption()/ask() options that the package itself handles; every other key is a
// generation setting (maxNewTokens, numBeams, ...) passed by name to the core, which parses and
// checks it (plan_task) exactly as for the CLI.
const PACKAGE_KEYS = new Set(['signal', 'onToken', 'lang', 'prompt', 'applyExif']);

function generationOptions(opts) {
  const out = {};
  for (const [k, v] of Object.entries(opts)) if (!PACKAGE_KEYS.has(k) && v !== undefined) out[k] = v;
  return out;
}

/** True when this page may use SharedArrayBuffer + wasm threads. */
function threadsAllowed() {
  if (IS_NODE) return true;
  return globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
}
function defaultThreads() {
  const n = IS_NODE ? 2 : (globalThis.navigator && navigator.hardwareConcurrency) || 2;
  return Math.max(1, Math.min(8, n));
}

async function spawnWorker() {
  const url = new URL('./worker.js', import.meta.url);
  if (IS_NODE) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(url);
    return {
      post: (m, t) => w.postMessage(m, t),
      on: (fn) => w.on('message', fn),
      onError: (fn) => { w.on('error', fn); w.on('exit', (code) => fn(new Error(`worker exited with code ${code}`))); },
      terminate: () => w.terminate(),
      ref: (on) => (on ? w.ref() : w.unref()),
    };
  }
  const w = new Worker(url, { type: 'module', name: 'mblip' });
  return {
    post: (m, t) => w.postMessage(m, t),
    on: (fn) => w.addEventListener('message', (e) => fn(e.data)),
    onError: (fn) => w.addEventListener('error', (e) => fn(new Error(e.message || 'worker failed to start'))),
    terminate: () => w.terminate(),
    ref: () => {},
  };
}

/** Normalises a model source to the worker's wire form; `keep` is what a reload needs. */
function describeSource(source) {
  if (typeof source === 'string' || (typeof URL === 'function' && source instanceof URL)) {
    const s = String(source);
    if (IS_NODE && !/^(https?|data|blob):/i.test(s)) {
      const path = s.startsWith('file:') ? decodeURIComponent(new URL(s).pathname) : s;
      return { kind: 'path', path };
    }
    const base = typeof location === 'object' && location ? location.href : undefined;
    return { kind: 'url', url: new URL(s, base).href };
  }
  if (typeof Blob === 'function' && source instanceof Blob) return { kind: 'blob', blob: source };
  if (source instanceof ArrayBuffer) return { kind: 'chunks', size: source.byteLength, bytes: new Uint8Array(source) };
  if (ArrayBuffer.isView(source)) return { kind: 'chunks', size: source.byteLength, bytes: new Uint8Array(source.buffer, source.byteOffset, source.byteLength) };
  throw new InvalidArgumentError('model source must be a URL, File/Blob, ArrayBuffer/Uint8Array' + (IS_NODE ? ' or a file path' : ''));
}

/** A loaded mBLIP model running in its own worker. Create with MBlip.load(). */
export class MBlip {
  /** @private */
  constructor() {
    this._worker = null;
    this._pending = new Map(); // id -> {resolve, reject, onToken}
    this._queue = [];
    this._running = null;
    this._nextId = 1;
    this._flag = null;
    this._ready = null;
    this._disposed = false;
    /** @type {object|null} */ this.info = null;
    /** @type {{code:string,name:string}[]} */ this.languages = [];
    /** Model file in the Cache API (hit, stored) and the packed-weights cache (packed: hit = weights
     * came from storage, stored = written by this load, bytes, rejected = why a stored image was refused).
     * @type {{hit:boolean, stored:boolean, packed: {hit:boolean, stored:boolean, bytes:number, rejected:string, where:string}|null}|null} */ this.cache = null;
    /** Milliseconds the worker spent loading (storage read, download, build). @type {number} */ this.loadMs = 0;
    /** Where they went: {storage, download, finish, store} in ms. @type {object|null} */ this.loadTimings = null;
    /** wasm heap size after loading, and the most raw model bytes the stream loader held at once.
     * @type {{heapBytes:number, streamPeakBufferedBytes:number}|null} */ this.memory = null;
    /** @type {boolean} */ this.threaded = false;
    /** Which wasm build runs: 'relaxed-simd-threads' | 'relaxed-simd' | 'simd128-threads' | 'simd128'.
     * @type {string} */ this.build = '';
    /** @type {number} */ this.threads = 1;
    /** @type {string} */ this.version = '';
  }

  /**
   * Loads a model (GGUF written by mblip-convert) into a new worker.
   * @param {string|URL|Blob|ArrayBuffer|ArrayBufferView} source
   * @param {import('../index.d.ts').LoadOptions} [options]
   * @returns {Promise<MBlip>}
   */
  static async load(source, options = {}) {
    const m = new MBlip();
    m._source = describeSource(source);
    m._options = options;
    const want = options.threads === undefined ? defaultThreads() : options.threads;
    if (!Number.isInteger(want) || want < 1) throw new InvalidArgumentError(`option threads must be a positive integer, got ${want}`);
    m._build = selectBuild(options.build, { threadsOk: threadsAllowed(), wantThreads: want > 1 });
    m.threaded = m._build.threads;
    if (m._build.auto && want > 1 && !m.threaded) {
      console.warn('mblip: this page is not cross-origin isolated (COOP/COEP headers), so the single-threaded wasm build is used');
    }
    m.threads = m.threaded ? want : 1;
    m.build = m._build.name;
    if (typeof SharedArrayBuffer === 'function' && (IS_NODE || globalThis.crossOriginIsolated)) {
      m._flag = new Int32Array(new SharedArrayBuffer(4));
    }
    m._ready = m._start(options.onProgress);
    try {
      await m._ready;
    } catch (e) {
      m.dispose();
      throw e;
    }
    return m;
  }

  /** @private Starts a worker and loads the model into it. */
  async _start(onProgress) {
    const w = await spawnWorker();
    this._worker = w;
    const started = new Promise((resolve) => { this._onStarted = resolve; });
    w.on((msg) => this._onMessage(w, msg, onProgress));
    w.onError((e) => this._onWorkerError(w, e));
    await started;
    let init;
    try {
      init = await this._request(w, { type: 'init', variant: this._build.file, threads: this.threads, flag: this._flag ? this._flag.buffer : null, moduleUrl: this._options.moduleUrl });
    } catch (e) {
      // An automatically chosen relaxed-SIMD build that does not load (missing from dist/, or the
      // engine refuses it): fall back to the SIMD128 build of the same threading.
      if (!this._build.auto || !this._build.relaxed || this._options.moduleUrl) throw e;
      console.warn(`mblip: the ${this._build.name} build did not load (${e.message}); using SIMD128`);
      const name = this._build.threads ? 'simd128-threads' : 'simd128';
      this._build = selectBuild(name, { threadsOk: this._build.threads, wantThreads: this._build.threads });
      this._build.auto = true;
      this.build = name;
      return this._restartWorker(w, onProgress);
    }
    this.version = init.version;
    const src = { ...this._source };
    delete src.bytes;
    const o = this._options;
    const packedCache = { enabled: o.packedCache !== false, cacheDir: o.cacheDir, hooks: o._cacheTestHooks };
    const loaded = await this._request(w, { type: 'load', source: { ...src, cache: o.cache !== false }, packedCache }, 'load');
    this.info = { ...loaded.info, build: this.build };
    this.languages = loaded.languages;
    this.cache = loaded.cache;
    this.memory = loaded.memory;
    this.loadMs = loaded.loadMs;
    this.loadTimings = loaded.loadTimings;
    w.ref(false);
    this._pump();
  }

  /** @private Replaces a worker whose module failed to initialise and starts again. */
  _restartWorker(w, onProgress) {
    w.terminate();
    this._worker = null;
    return this._start(onProgress);
  }

  /** @private */
  _request(w, msg, stage) {
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, stage });
      w.post({ ...msg, id });
    });
  }

  /** @private */
  _onMessage(w, msg, onProgress) {
    if (w !== this._worker) return;
    if (msg.type === 'started') { this._onStarted(); return; }
    if (msg.type === 'warning') { console.warn(msg.message); return; }
    if (msg.type === 'progress') {
      if (onProgress) {
        const p = { loaded: msg.loaded, total: msg.total, cached: msg.cached, phase: msg.phase || 'download' };
        if (msg.fromStorage) p.fromStorage = true;
        onProgress(p);
      }
      return;
    }
    if (msg.type === 'send-chunks' || msg.type === 'chunk-ack') { this._sendChunks(w, msg.type === 'send-chunks'); return; }
    const p = this._pending.get(msg.id);
    if (!p) return;
    if (msg.type === 'token') { if (p.onToken) { try { p.onToken(msg.event); } catch (e) { console.error(e); } } return; }
    this._pending.delete(msg.id);
    if (msg.type === 'error') {
      let err = fromWire(msg.error);
      if (p.stage === 'load' && err.name === 'MBlipError') err = new ModelLoadError(err.message, err.code);
      p.reject(err);
    } else p.resolve(msg.value);
  }

  /** @private Streams an in-memory source to the worker in transferred chunks: at most
   * CHUNKS_IN_FLIGHT copies exist at once (the worker acknowledges each one it has consumed). */
  _sendChunks(w, first) {
    const bytes = this._source.bytes;
    if (first) { this._chunkOff = 0; this._chunksInFlight = 0; } else this._chunksInFlight--;
    while (this._chunksInFlight < CHUNKS_IN_FLIGHT && this._chunkOff < bytes.byteLength) {
      const end = Math.min(bytes.byteLength, this._chunkOff + CHUNK);
      const part = bytes.slice(this._chunkOff, end);
      this._chunkOff = end;
      this._chunksInFlight++;
      w.post({ type: 'chunk', data: part.buffer }, [part.buffer]);
    }
  }

  /** @private */
  _onWorkerError(w, e) {
    if (w !== this._worker || this._disposed) return;
    const err = new MBlipError(`the mblip worker failed: ${e && e.message ? e.message : e}`, 'Internal');
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
    for (const job of this._queue) job.reject(err);
    this._queue = [];
    this._running = null;
    this._worker = null;
    this._dead = err;
  }

  /**
   * Captions an image.
   * @param {any} image
   * @param {import('../index.d.ts').CaptionOptions} [options]
   * @returns {Promise<import('../index.d.ts').GenerateResult>}
   */
  caption(image, options = {}) {
    return this._enqueue('caption', image, null, options);
  }

  /**
   * Answers a question about an image (mBLIP's short-answer prompt and settings).
   * @param {any} image
   * @param {string} question
   * @param {import('../index.d.ts').CaptionOptions} [options]
   */
  ask(image, question, options = {}) {
    if (typeof question !== 'string' || question.trim() === '') {
      return Promise.reject(new InvalidArgumentError('question must be a non-empty string'));
    }
    return this._enqueue('ask', image, question, options);
  }

  /** @private */
  _enqueue(task, image, question, options) {
    return new Promise((resolve, reject) => {
      if (this._disposed) { reject(new MBlipError('the model was disposed', 'InvalidArgument')); return; }
      if (this._dead) { reject(this._dead); return; }
      const { signal } = options;
      if (signal && signal.aborted) { reject(new AbortError()); return; }
      let gen;
      try {
        gen = generationOptions(options);
        if (options.lang !== undefined && typeof options.lang !== 'string') throw new InvalidArgumentError('option lang must be a string such as "en" or "German"');
        if (options.prompt !== undefined && typeof options.prompt !== 'string') throw new InvalidArgumentError('option prompt must be a string');
        if (options.applyExif !== undefined && typeof options.applyExif !== 'boolean') throw new InvalidArgumentError('option applyExif must be true or false');
        if (options.onToken !== undefined && typeof options.onToken !== 'function') throw new InvalidArgumentError('option onToken must be a function');
      } catch (e) { reject(e); return; }
      const job = { id: this._nextId++, task, question, options, gen, resolve, reject, imagePromise: prepareImage(image) };
      job.imagePromise.catch(() => {}); // reported when the job runs
      if (signal) {
        job.onAbort = () => this._abort(job);
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this._queue.push(job);
      this._pump();
    });
  }

  /** @private Runs the next queued job when the worker is free. */
  async _pump() {
    if (this._running || !this._worker || !this.info || this._queue.length === 0) return;
    const job = this._queue.shift();
    this._running = job;
    const w = this._worker;
    const finish = (fn) => (v) => {
      if (job.done) return;
      job.done = true;
      if (job.options.signal && job.onAbort) job.options.signal.removeEventListener('abort', job.onAbort);
      if (this._running === job) this._running = null;
      w.ref(false);
      fn(v);
      this._pump();
    };
    const resolve = finish(job.resolve);
    const reject = finish(job.reject);
    job.fail = reject;
    let image;
    try { image = await job.imagePromise; } catch (e) { reject(e); return; }
    if (job.done) return;
    if (this._worker !== w) {
      // The worker was replaced while the image was prepared: run the job on the new one.
      this._running = null;
      this._queue.unshift(job);
      return;
    }
    const o = job.options;
    this._pending.set(job.id, {
      resolve: (v) => resolve(v),
      reject: (e) => reject(e.code === 'Cancelled' ? new AbortError(e.message === 'aborted' ? undefined : e.message) : e),
      onToken: o.onToken,
    });
    w.ref(true);
    w.post({ type: 'run', id: job.id, task: job.task, question: job.question, prompt: o.prompt, lang: o.lang,
      applyExif: o.applyExif, options: job.gen, stream: typeof o.onToken === 'function', image: image.msg }, image.transfer);
  }

  /** @private */
  _abort(job) {
    if (job.done) return;
    const qi = this._queue.indexOf(job);
    if (qi >= 0) {
      this._queue.splice(qi, 1);
      job.done = true;
      job.reject(new AbortError());
      return;
    }
    if (this._running !== job) return;
    if (this._flag) {
      // The worker polls this flag between tokens (and before each stage) and answers Cancelled.
      Atomics.store(this._flag, 0, job.id);
      return;
    }
    // No SharedArrayBuffer (page not cross-origin isolated): the worker is blocked inside wasm and
    // cannot see a message, so it is terminated and a fresh one reloads the model.
    this._pending.delete(job.id);
    this._restart();
    job.fail(new AbortError());
  }

  /** @private */
  _restart() {
    const old = this._worker;
    this._worker = null;
    this.info = null;
    for (const p of this._pending.values()) p.reject(new AbortError('the worker was restarted'));
    this._pending.clear();
    if (old) old.terminate();
    this._ready = this._start(this._options.onProgress).catch((e) => {
      this._dead = e;
      for (const job of this._queue) job.reject(e);
      this._queue = [];
    });
  }

  /** Stops the worker and frees the model. Pending and queued calls reject. */
  dispose() {
    if (this._disposed) return;
    this._disposed = true;
    const err = new MBlipError('the model was disposed', 'InvalidArgument');
    for (const job of this._queue) { job.done = true; job.reject(err); }
    this._queue = [];
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
    this._running = null;
    if (this._worker) this._worker.terminate();
    this._worker = null;
  }
}

/**
 * Removes what MBlip.load() stored: the downloaded model files (browser Cache API) and the packed
 * weights (Origin Private File System; in Node the package's web-*.mbpack files in the cache folder,
 * `options.cacheDir` or $MBLIP_CACHE_DIR / $XDG_CACHE_HOME/mblip/packed / ~/.cache/mblip/packed).
 * Resolves true when anything was removed.
 */
export async function clearModelCache(options = {}) {
  const { clearPackedCache } = await import('./packed_cache.js');
  const packed = await clearPackedCache(options);
  let files = false;
  if (typeof caches === 'object') files = await caches.delete('mblip-models-v1');
  return files || packed > 0;
}

export default MBlip;
