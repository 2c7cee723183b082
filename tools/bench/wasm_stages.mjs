#!/usr/bin/env node
// Benchmark (not a test): per-stage timings of the npm package's captions in Node (wasm), to see
// where a caption's time goes. Loads MODEL once and captions IMAGE twice (greedy, 20 new tokens),
// printing the wall time and the `timings` object of each result.
//   node tools/bench/wasm_stages.mjs MODEL.gguf [THREADS=2] [IMAGE=samples/sunset.jpg]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [model, threadsArg, imageArg] = process.argv.slice(2);
if (!model) { console.error('usage: wasm_stages.mjs MODEL.gguf [THREADS] [IMAGE]'); process.exit(2); }
const threads = Number(threadsArg || 2);
const { MBlip } = await import(pathToFileURL(path.join(repo, 'web/src/index.js')).href);
const m = await MBlip.load(path.resolve(model), { threads });
const img = fs.readFileSync(imageArg ? path.resolve(imageArg) : path.join(repo, 'samples/sunset.jpg'));
try {
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    const r = await m.caption(img, { numBeams: 1, maxNewTokens: 20 });
    const stages = Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
    console.log(`${threads}T caption ${(performance.now() - t).toFixed(0)} ms: ${stages} (ms)`);
  }
} finally {
  m.dispose();
}
