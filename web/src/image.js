// Main-thread image normalisation: turns every accepted image kind into either encoded bytes
// (decoded by the core's decoder in the worker) or raw RGBA/RGB pixels (used as given).
import { ImageDecodeError, InvalidArgumentError } from './errors.js';

const IS_NODE = typeof process === 'object' && !!(process.versions && process.versions.node);

function encoded(buf) { return { msg: { kind: 'encoded', data: buf }, transfer: [buf] }; }
function pixels(data, width, height, channels) {
  const buf = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  return { msg: { kind: 'pixels', data: buf, width, height, channels }, transfer: [buf] };
}
function copyView(v) { return v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength); }

async function fromUrl(url) {
  if (IS_NODE && url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return encoded(copyView(await fs.readFile(url)));
  }
  let r;
  try { r = await fetch(url); } catch (e) { throw new ImageDecodeError(`cannot fetch image ${url.href}: ${e.message}`, 'Io'); }
  if (!r.ok) throw new ImageDecodeError(`cannot fetch image ${url.href}: HTTP ${r.status}`, 'Io');
  return encoded(await r.arrayBuffer());
}

function drawToPixels(source, width, height) {
  if (!width || !height) throw new ImageDecodeError('the image has no pixels (width or height is 0; not loaded yet?)');
  let canvas;
  if (typeof OffscreenCanvas === 'function') canvas = new OffscreenCanvas(width, height);
  else { canvas = document.createElement('canvas'); canvas.width = width; canvas.height = height; }
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, width, height);
  const d = ctx.getImageData(0, 0, width, height);
  return pixels(d.data, width, height, 4);
}

/**
 * @param {any} image see MBlip#caption
 * @returns {Promise<{msg: object, transfer: ArrayBuffer[]}>}
 */
export async function prepareImage(image) {
  if (image == null) throw new InvalidArgumentError('image is required');
  if (typeof image === 'string') {
    if (IS_NODE && !/^(https?|data|blob|file):/i.test(image)) {
      const fs = await import('node:fs/promises');
      let b;
      try { b = await fs.readFile(image); } catch (e) { throw new ImageDecodeError(`cannot read image file ${image}: ${e.message}`, 'Io'); }
      return encoded(copyView(b));
    }
    const base = typeof location === 'object' && location ? location.href : undefined;
    return fromUrl(new URL(image, base));
  }
  if (typeof URL === 'function' && image instanceof URL) return fromUrl(image);
  if (typeof Blob === 'function' && image instanceof Blob) return encoded(await image.arrayBuffer());
  if (image instanceof ArrayBuffer) return encoded(image.slice(0));
  if (ArrayBuffer.isView(image)) return encoded(copyView(image));
  // Decoded pixels: ImageData or any {data, width, height} (RGBA or RGB, 8-bit, rows top to bottom).
  if (typeof image === 'object' && image.data && Number.isInteger(image.width) && Number.isInteger(image.height)) {
    const { data, width, height } = image;
    const n = width * height;
    if (!(n > 0)) throw new InvalidArgumentError(`image size ${width}x${height} has no pixels`);
    const channels = data.length / n;
    if (channels !== 4 && channels !== 3) {
      throw new InvalidArgumentError(`pixel data has ${data.length} values for ${width}x${height}: expected RGBA (${n * 4}) or RGB (${n * 3})`);
    }
    const bytes = data instanceof Uint8Array || data instanceof Uint8ClampedArray ? data : Uint8Array.from(data);
    return pixels(bytes, width, height, channels);
  }
  if (typeof HTMLImageElement === 'function' && image instanceof HTMLImageElement) {
    if (!image.complete || !image.naturalWidth) {
      try { await image.decode(); } catch (e) { throw new ImageDecodeError(`the <img> could not be decoded: ${e.message}`); }
    }
    return drawToPixels(image, image.naturalWidth, image.naturalHeight);
  }
  if (typeof ImageBitmap === 'function' && image instanceof ImageBitmap) return drawToPixels(image, image.width, image.height);
  if ((typeof HTMLCanvasElement === 'function' && image instanceof HTMLCanvasElement) ||
      (typeof OffscreenCanvas === 'function' && image instanceof OffscreenCanvas)) {
    const ctx = image.getContext('2d');
    if (ctx) { const d = ctx.getImageData(0, 0, image.width, image.height); return pixels(d.data, image.width, image.height, 4); }
    return drawToPixels(image, image.width, image.height);
  }
  throw new InvalidArgumentError(`unsupported image type ${Object.prototype.toString.call(image)}; pass a Blob/File, ArrayBuffer/Uint8Array, ImageData, ImageBitmap, <img>, canvas, URL${IS_NODE ? ' or file path' : ''}`);
}
