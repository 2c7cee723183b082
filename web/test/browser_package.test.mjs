// The package in headless Chromium against the JS stand-in module (fixtures/stub_module.mjs):
// Cache API reuse, a truncated download is never cached, browser image kinds (Blob, ImageData,
// canvas, ImageBitmap, <img>), and abort without SharedArrayBuffer (terminate + reload the worker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CHROMIUM, playwright, withBrowser } from './fixtures/chromium.mjs';

const why = !playwright ? 'playwright-core is not installed' : !fs.existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}` : false;

const MODEL = new Uint8Array(2 << 20); MODEL.set([71, 71, 85, 70]);
function handler(req, res, headers) {
  if (req.url.startsWith('/m/')) {
    res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': MODEL.length });
    res.end(req.method === 'HEAD' ? undefined : Buffer.from(MODEL));
    return true;
  }
  if (req.url.startsWith('/trunc/')) {
    res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': MODEL.length });
    if (req.method === 'HEAD') { res.end(); return true; }
    res.write(Buffer.from(MODEL.subarray(0, MODEL.length / 2)), () => setTimeout(() => res.socket.destroy(), 50));
    return true;
  }
  return false;
}

for (const isolated of [true, false]) {
  test(`package in Chromium with the stub module (${isolated ? 'isolated' : 'not isolated'}): cache, images, abort`, { skip: why }, async () => {
    await withBrowser({ isolated, handler }, async (page) => {
      const r = await page.evaluate(async () => {
        const { MBlip, ModelLoadError, AbortError } = await import('/src/index.js');
        const moduleUrl = new URL('/test/fixtures/stub_module.mjs', location.href).href;
        const out = {};
        const progress = [];
        let m = await MBlip.load('/m/model.gguf', { moduleUrl, onProgress: (p) => progress.push(p) });
        out.first = { cache: m.cache, threaded: m.threaded, last: progress.filter((p) => p.phase === 'download').at(-1) };
        m.dispose();
        const progress2 = [];
        m = await MBlip.load('/m/model.gguf', { moduleUrl, onProgress: (p) => progress2.push(p) });
        out.second = { cache: m.cache, cachedEvents: progress2.filter((p) => p.phase === 'download').every((p) => p.cached) };
        try { await MBlip.load('/trunc/model.gguf', { moduleUrl }); out.trunc = 'loaded?!'; } catch (e) { out.trunc = { name: e.name, isModelLoad: e instanceof ModelLoadError, message: e.message }; }
        const keys = await (await caches.open('mblip-models-v1')).keys();
        out.cacheKeys = keys.map((k) => new URL(k.url).pathname + new URL(k.url).search);
        // Image kinds.
        const png = await (await fetch('/demo/../test/fixtures/blank.html')).blob(); // not an image: ImageDecodeError
        const c = document.getElementById('c');
        c.getContext('2d').fillRect(0, 0, 3, 2);
        const pngBlob = await new Promise((res) => c.toBlob(res, 'image/png'));
        const bmp = await createImageBitmap(c);
        const img = new Image(); img.src = URL.createObjectURL(pngBlob); await img.decode();
        const oc = new OffscreenCanvas(4, 4); oc.getContext('2d').fillRect(0, 0, 4, 4);
        out.images = {};
        for (const [name, im] of Object.entries({ blob: pngBlob, imageData: c.getContext('2d').getImageData(0, 0, 3, 2), canvas: c, bitmap: bmp, img, offscreen: oc, bytes: new Uint8Array(await pngBlob.arrayBuffer()) })) {
          try { out.images[name] = (await m.caption(im, { maxNewTokens: 2 })).tokens; } catch (e) { out.images[name] = e.name + ': ' + e.message; }
        }
        try { await m.caption(png); } catch (e) { out.badImage = e.name; }
        // Abort a running generation, then a queued call still completes.
        const ac = new AbortController();
        let streamed = 0;
        const running = m.caption(pngBlob, { prompt: 'slow', maxNewTokens: 300, signal: ac.signal, onToken: () => { streamed++; } });
        const next = m.caption(pngBlob, { maxNewTokens: 3 });
        await new Promise((res) => setTimeout(res, 400));
        const t0 = performance.now();
        ac.abort();
        try { await running; out.abort = 'not aborted'; } catch (e) { out.abort = { name: e.name, isAbort: e instanceof AbortError, ms: performance.now() - t0, streamed }; }
        out.next = (await next).tokens;
        m.dispose();
        return out;
      });
      assert.equal(r.first.threaded, isolated);
      assert.deepEqual(r.first.cache, { hit: false, stored: true, packed: null }); // the stub module keeps no packed weights
      assert.equal(r.first.last.loaded, MODEL.length);
      assert.deepEqual(r.second.cache, { hit: true, stored: false, packed: null });
      assert.ok(r.second.cachedEvents);
      assert.equal(r.trunc.name, 'ModelLoadError', JSON.stringify(r.trunc));
      assert.deepEqual(r.cacheKeys, [`/m/model.gguf?mblip-size=${MODEL.length}`]);
      for (const [k, v] of Object.entries(r.images)) assert.deepEqual(v, [100, 101], `image kind ${k}: ${v}`);
      assert.equal(r.badImage, 'ImageDecodeError');
      assert.equal(r.abort.name, 'AbortError', JSON.stringify(r.abort));
      assert.ok(r.abort.isAbort && r.abort.ms < 1000 && r.abort.streamed < 300, JSON.stringify(r.abort));
      assert.deepEqual(r.next, [100, 101, 102]);
    });
  });
}
