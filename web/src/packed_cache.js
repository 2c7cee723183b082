// Packed-weights cache of the npm package (issue 12), used by the worker: after a load that
// packed, the core's cache image (kernels/weight_cache.h format: header, entries, index, checksums)
// is written to the Origin Private File System (browsers) or a file in the cache folder (Node),
// through a temporary name renamed into place; later loads read it straight into the wasm heap.
// The core checks every byte against the model before using it (a stale or corrupt image is
// refused and the load packs).

const IS_NODE = typeof process === 'object' && !!(process.versions && process.versions.node);
export const OPFS_DIR = 'mblip-packed';
const CHUNK = 64 << 20; // bytes per read/write call
const PREFIX = 'web-';  // the package's files among the native CLI's *.mbpack files (Node)

// 64-bit FNV-1a of a string, as hex (names only, not integrity).
function hashName(s) {
  let h = 0xcbf29ce484222325n;
  for (const c of new TextEncoder().encode(s)) h = BigInt.asUintN(64, (h ^ BigInt(c)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}

/** The cache folder in Node: $MBLIP_CACHE_DIR, $XDG_CACHE_HOME/mblip/packed, ~/.cache/mblip/packed (the CLI's). */
export async function nodeCacheDir(override) {
  if (override) return override;
  const env = process.env;
  if (env.MBLIP_CACHE_DIR) return env.MBLIP_CACHE_DIR;
  const path = await import('node:path');
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'mblip', 'packed');
  const os = await import('node:os');
  return path.join(os.homedir(), '.cache', 'mblip', 'packed');
}

/**
 * The identity of a model source for the file name, or null when it has none worth caching
 * (in-memory bytes). The core's key (model header hash, size, build) decides whether an image fits.
 */
async function sourceId(src) {
  if (src.kind === 'url') return `url:${src.url}`;
  if (src.kind === 'path' && IS_NODE) {
    const fs = await import('node:fs');
    try { return `path:${fs.realpathSync(src.path)}`; } catch { return null; }
  }
  if (src.kind === 'blob' && src.blob && typeof src.blob.name === 'string' && src.blob.name) {
    return `file:${src.blob.name}:${src.blob.size}:${src.blob.lastModified}`;
  }
  return null;
}

// Warnings go through the worker to the main thread's console (where pages and tests see them).
let warnSink = (m) => console.warn(m);
export function setWarningSink(fn) { warnSink = fn; }
function warn(msg) { warnSink(`mblip: packed-weights cache: ${msg}`); }

// ---- storage backends: {size(), readInto(heap, ptr, n, progress), write(parts, total, heap), remove()} ----

async function opfsBackend(name) {
  if (typeof navigator !== 'object' || !navigator.storage || typeof navigator.storage.getDirectory !== 'function') return null;
  let dir;
  try { dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(OPFS_DIR, { create: true }); } catch { return null; }
  const sync = async (n, create) => (await dir.getFileHandle(n, { create })).createSyncAccessHandle();
  return {
    where: 'opfs',
    async size() {
      try { const h = await sync(name, false); try { return h.getSize(); } finally { h.close(); } } catch { return 0; }
    },
    async readInto(heap, ptr, n, progress) {
      const h = await sync(name, false);
      try {
        let tmp = null;
        for (let off = 0; off < n;) {
          const len = Math.min(CHUNK, n - off);
          let got;
          try { got = h.read(heap().subarray(ptr + off, ptr + off + len), { at: off }); } catch (e) {
            if (!(e instanceof TypeError)) throw e; // engines that refuse a shared-memory view: copy
            tmp = tmp || new Uint8Array(CHUNK);
            got = h.read(tmp.subarray(0, len), { at: off });
            heap().set(tmp.subarray(0, got), ptr + off);
          }
          if (got <= 0) throw new Error(`stored file ended after ${off} of ${n} bytes`);
          off += got;
          progress(off);
        }
      } finally { h.close(); }
    },
    async write(parts, total, heap, hooks) {
      const tmpName = `${name}.tmp-${Math.random().toString(36).slice(2)}`;
      let h = null;
      try {
        h = await sync(tmpName, true);
        if (hooks && hooks.quotaError) throw new DOMException('simulated quota error (test hook)', 'QuotaExceededError');
        h.truncate(total);
        let tmp = null;
        for (const p of parts) {
          for (let off = 0; off < p.size;) {
            const len = Math.min(CHUNK, p.size - off);
            const view = heap().subarray(p.ptr + off, p.ptr + off + len);
            let put;
            try { put = h.write(view, { at: p.offset + off }); } catch (e) {
              if (!(e instanceof TypeError)) throw e;
              tmp = tmp || new Uint8Array(CHUNK);
              tmp.set(view);
              put = h.write(tmp.subarray(0, len), { at: p.offset + off });
            }
            if (put !== len) throw new DOMException(`wrote ${put} of ${len} bytes`, 'QuotaExceededError');
            off += len;
          }
        }
        h.flush();
        h.close();
        h = null;
        // Only a complete, flushed file gets the real name.
        try { await dir.removeEntry(name); } catch { /* none yet */ }
        const fh = await dir.getFileHandle(tmpName);
        await fh.move(name);
      } catch (e) {
        if (h) { try { h.close(); } catch { /* ignore */ } }
        try { await dir.removeEntry(tmpName); } catch { /* ignore */ }
        throw e;
      }
    },
    async remove() { try { await dir.removeEntry(name); } catch { /* none */ } },
  };
}

async function fileBackend(name, cacheDir) {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const dir = await nodeCacheDir(cacheDir);
  const file = path.join(dir, name);
  return {
    where: 'file',
    path: file,
    async size() { try { return fs.statSync(file).size; } catch { return 0; } },
    async readInto(heap, ptr, n, progress) {
      const fd = fs.openSync(file, 'r');
      try {
        for (let off = 0; off < n;) {
          const len = Math.min(CHUNK, n - off);
          const got = fs.readSync(fd, heap().subarray(ptr + off, ptr + off + len), 0, len, off);
          if (got <= 0) throw new Error(`${file} ended after ${off} of ${n} bytes`);
          off += got;
          progress(off);
        }
      } finally { fs.closeSync(fd); }
    },
    async write(parts, total, heap, hooks) {
      fs.mkdirSync(dir, { recursive: true });
      const tmp = `${file}.tmp.${process.pid}.${Math.random().toString(36).slice(2)}`;
      let fd = null;
      try {
        fd = fs.openSync(tmp, 'wx');
        if (hooks && hooks.quotaError) throw Object.assign(new Error('simulated ENOSPC (test hook)'), { code: 'ENOSPC' });
        for (const p of parts) {
          for (let off = 0; off < p.size;) {
            const len = Math.min(CHUNK, p.size - off);
            off += fs.writeSync(fd, heap().subarray(p.ptr + off, p.ptr + off + len), 0, len, p.offset + off);
          }
        }
        fs.ftruncateSync(fd, total);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fd = null;
        fs.renameSync(tmp, file); // atomic: concurrent loads each write their own temporary
      } catch (e) {
        if (fd !== null) { try { fs.closeSync(fd); } catch { /* ignore */ } }
        try { fs.rmSync(tmp, { force: true }); } catch { /* ignore */ }
        throw e;
      }
    },
    async remove() { try { fs.rmSync(file, { force: true }); } catch { /* ignore */ } },
  };
}

/**
 * Opens the packed cache for a load: null when disabled or unavailable. `variant` is the wasm build
 * file ('mt', 'relaxed_st', ...): each build has its own entry (their packings may differ).
 */
export async function openPackedCache(src, variant, opts = {}) {
  if (opts.enabled === false) return null;
  const id = await sourceId(src);
  if (!id) return null;
  // A module from elsewhere (options.moduleUrl) may pack differently: its own entry.
  const name = `${PREFIX}${hashName(opts.moduleUrl ? `${id}|${opts.moduleUrl}` : id)}-${variant}.mbpack`;
  let backend = null;
  try { backend = IS_NODE ? await fileBackend(name, opts.cacheDir) : await opfsBackend(name); } catch { backend = null; }
  if (!backend) return null;
  return { name, label: id, backend, hooks: opts.hooks || null };
}

/**
 * Reads the stored image (if any) into a malloc()ed heap buffer. Returns {ptr, size} (the core
 * adopts it) or null. A read failure only means packing: the partial buffer is freed.
 */
export async function readImage(pc, M, heap, progress) {
  const size = await pc.backend.size();
  if (!size) return null;
  // 64-byte aligned like the file's entries (XNNPACK reads them in place).
  const ptr = M.alloc_cache_image ? M.alloc_cache_image(size) : M._malloc(size) >>> 0;
  if (!ptr) { warn(`cannot allocate ${size} bytes for the stored packed weights; packing instead`); return null; }
  try {
    await pc.backend.readInto(heap, ptr, size, (n) => progress(n, size));
    return { ptr, size };
  } catch (e) {
    M._free(ptr);
    warn(`reading the stored packed weights failed (${e.message}); packing instead`);
    return null;
  }
}

/**
 * After the load: stores the image when this load packed (cold, or the stored one was refused).
 * Returns {hit, stored, bytes, rejected, where}. Storage errors (quota, full disk) only warn.
 */
export async function afterLoad(pc, loader, heap) {
  const info = loader.cache_info();
  const out = { hit: !!info.warm, stored: false, bytes: 0, rejected: info.rejected || '', where: pc.backend.where };
  if (info.rejected) warn(`the stored packed weights were refused (${info.rejected}); repacked`);
  if (info.warm && info.packed > 0) { await pc.backend.remove(); return out; } // incomplete: rebuilt next time
  if (info.warm) { out.bytes = await pc.backend.size(); return out; }
  const plan = loader.export_cache();
  if (!plan) { if (info.rejected) await pc.backend.remove(); return out; }
  try {
    await pc.backend.write(plan.parts, plan.size, heap, pc.hooks);
    out.stored = true;
    out.bytes = plan.size;
  } catch (e) {
    const quota = e && (e.name === 'QuotaExceededError' || e.code === 'ENOSPC' || e.code === 'EDQUOT');
    warn(`${quota ? 'storage quota exceeded' : 'storing failed'} (${e && e.message}); the weights stay packed in memory, the next load packs again`);
    await pc.backend.remove();
  }
  return out;
}

/** Removes every stored packed-weights image of the package (OPFS folder, or the web-*.mbpack files in Node). */
export async function clearPackedCache(opts = {}) {
  if (IS_NODE) {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const dir = await nodeCacheDir(opts.cacheDir);
    let n = 0;
    let names = [];
    try { names = fs.readdirSync(dir); } catch { return 0; }
    for (const f of names) {
      if (f.startsWith(PREFIX) && f.includes('.mbpack')) { fs.rmSync(path.join(dir, f), { force: true }); n++; }
    }
    return n;
  }
  if (typeof navigator !== 'object' || !navigator.storage || typeof navigator.storage.getDirectory !== 'function') return 0;
  try {
    await (await navigator.storage.getDirectory()).removeEntry(OPFS_DIR, { recursive: true });
    return 1;
  } catch { return 0; }
}
