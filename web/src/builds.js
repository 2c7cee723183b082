// Which wasm build runs: relaxed SIMD (if the engine validates a probe module holding the relaxed
// opcodes; never on Node < 22) or SIMD128, each with pthreads (cross-origin isolated pages, Node) or
// single-threaded. MBlip.load(src, { build }) forces one; model.info.build says which one ran.
import { InvalidArgumentError, MBlipError } from './errors.js';

/** Build name -> module file stem in dist/ (mblip_<file>.mjs) and its features. */
export const BUILDS = Object.freeze({
  'relaxed-simd-threads': { file: 'relaxed_mt', relaxed: true, threads: true },
  'relaxed-simd': { file: 'relaxed_st', relaxed: true, threads: false },
  'simd128-threads': { file: 'mt', relaxed: false, threads: true },
  simd128: { file: 'st', relaxed: false, threads: false },
});

// v128.const 0 (opcode 0xfd 0x0c + 16 zero bytes)
const V128_ZERO = [0xfd, 0x0c, ...new Array(16).fill(0)];
// One function () -> v128: i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113) of three constants,
// then f32x4.relaxed_madd (0xfd 0x105) of that and two more. Engines without relaxed SIMD (or
// with only the pre-standard opcodes) reject it in WebAssembly.validate.
function probeModule() {
  const body = [0x00, ...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x93, 0x02,
    ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,       // type section: [] -> [v128]
    0x03, 0x02, 0x01, 0x00,                         // function section: f0 has type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code section
  ]);
}
export const RELAXED_SIMD_PROBE = probeModule();

function nodeMajor() {
  const v = typeof process === 'object' && process.versions && process.versions.node;
  return v ? Number(String(v).split('.')[0]) : null;
}

/**
 * Whether this engine can run the relaxed-SIMD builds. Node before 22 is always refused: Node 20
 * rejects the opcodes without a flag, and with --experimental-wasm-relaxed-simd it computed wrong
 * dot products in our probe.
 * @returns {{ok: boolean, reason: string}}
 */
export function relaxedSimdSupport() {
  const major = nodeMajor();
  if (major !== null && major < 22) return { ok: false, reason: `Node ${process.versions.node} (relaxed SIMD needs Node >= 22)` };
  let valid = false;
  try { valid = typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_SIMD_PROBE); } catch { valid = false; }
  return valid ? { ok: true, reason: '' } : { ok: false, reason: 'this engine does not validate relaxed SIMD instructions' };
}

/**
 * Picks the build. `requested`: undefined / 'auto', or a name of BUILDS. `threadsOk`: pthreads are
 * possible here; `wantThreads`: the caller asked for more than one thread.
 * @returns {{name: string, file: string, relaxed: boolean, threads: boolean, auto: boolean}}
 */
export function selectBuild(requested, { threadsOk, wantThreads }) {
  if (requested === undefined || requested === 'auto') {
    const relaxed = relaxedSimdSupport().ok;
    const threads = wantThreads && threadsOk;
    const name = relaxed ? (threads ? 'relaxed-simd-threads' : 'relaxed-simd') : (threads ? 'simd128-threads' : 'simd128');
    return { name, ...BUILDS[name], auto: true };
  }
  if (typeof requested !== 'string' || !Object.prototype.hasOwnProperty.call(BUILDS, requested)) {
    throw new InvalidArgumentError(`option build must be 'auto' or one of ${Object.keys(BUILDS).map((b) => `'${b}'`).join(', ')}, got ${JSON.stringify(requested)}`);
  }
  const b = BUILDS[requested];
  if (b.relaxed) {
    const s = relaxedSimdSupport();
    if (!s.ok) throw new MBlipError(`the '${requested}' build cannot run here: ${s.reason}`, 'Unsupported');
  }
  if (b.threads && !threadsOk) {
    throw new MBlipError(`the '${requested}' build cannot run here: wasm threads need a cross-origin isolated page (COOP/COEP headers) and SharedArrayBuffer`, 'Unsupported');
  }
  return { name: requested, ...b, auto: false };
}
