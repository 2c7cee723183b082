// Browser test: headless Chromium (playwright-core) opens the demo page, which loads the golden
// tiny-mt5 model converted to GGUF; an image from the golden set is chosen in the file picker and the
// caption's tokens must equal transformers' greedy tokens. Once cross-origin isolated (pthreads build)
// and once without COOP/COEP (single-threaded build). Screenshots go to build/web-test/ and docs/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer } from '../serve.mjs';
import { root, goldenDir, findConverter, convertGolden, expectedTokens } from './fixtures/golden_models.mjs';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.MBLIP_CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CASE = 'tiny-mt5/c07_coffee_rgb'; // PNG: decoded identically by every decoder

let playwright = null;
try { playwright = await import('playwright-core'); } catch { playwright = null; }

function skipReason(variant) {
  if (!playwright) return 'playwright-core is not installed (npm ci in web/)';
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}`;
  if (!goldenDir) return 'golden data not found';
  if (!findConverter()) return 'mblip-convert not built';
  execFileSync(process.execPath, ['scripts/build.mjs', '--if-present'], { cwd: web, stdio: 'ignore' });
  if (!fs.existsSync(path.join(web, `dist/mblip_${variant}.mjs`))) return `web/dist/mblip_${variant}.mjs missing (build the ${variant === 'mt' ? 'wasm' : 'wasm-st'} preset)`;
  return false;
}

for (const isolated of [true, false]) {
  const variant = isolated ? 'mt' : 'st';
  test(`demo page captions a golden image in Chromium, ${isolated ? 'cross-origin isolated (threads)' : 'not isolated (single thread)'}`, async (t) => {
    const why = skipReason(variant);
    if (why) { t.skip(why); return; }
    const manifest = JSON.parse(fs.readFileSync(path.join(goldenDir, 'models/manifest.json'), 'utf8'));
    const c = manifest.cases.find((x) => x.id === CASE);
    const want = expectedTokens(c.results.greedy[0]);
    const modelFile = convertGolden('tiny-mt5');
    const srv = await startServer({ root: web, port: 0, isolated, mounts: { '/golden-models/': path.dirname(modelFile) } });
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mblip-chromium-'));
    const ctx = await playwright.chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 900, height: 1400 } });
    const logs = [];
    try {
      const page = ctx.pages()[0] || await ctx.newPage();
      page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
      await page.goto(`${srv.url}demo/?model=/golden-models/${path.basename(modelFile)}`);
      assert.equal(await page.evaluate(() => crossOriginIsolated), isolated);
      await page.waitForFunction(() => window.__mblip.loaded || window.__mblip.error, null, { timeout: 120000 });
      const st = await page.evaluate(() => window.__mblip);
      assert.ok(st.loaded, `model did not load: ${JSON.stringify(st.error)}\n${logs.join('\n')}`);
      assert.equal(st.threaded, isolated);
      // The page names the wasm build in use (relaxed SIMD where Chromium validates it and it was built).
      assert.match(st.build, isolated ? /^(relaxed-simd|simd128)-threads$/ : /^(relaxed-simd|simd128)$/);
      assert.ok((await page.textContent('#model-info')).includes(`WebAssembly build: ${st.build}`));
      assert.equal(await page.isVisible('#random-warning'), st.randomWeights, 'random-weights notice shown exactly when the model says so');
      assert.equal(await page.locator('#lang option').count(), 96);
      assert.match(await page.textContent('#isolation'), isolated ? /multi-threaded/ : /single thread/);
      await page.setInputFiles('#image-file', path.join(goldenDir, 'images/files/coffee_rgb.png'));
      await page.waitForFunction(() => window.__mblip.imageSet);
      await page.fill('#beams', '1');
      await page.fill('#max-tokens', '16');
      await page.click('summary:has-text("Advanced")');
      await page.fill('#prompt', c.prompts[0]);
      await page.click('#run');
      await page.waitForFunction(() => window.__mblip.runs >= 1, null, { timeout: 120000 });
      const done = await page.evaluate(() => window.__mblip);
      assert.ok(done.result, `no result: ${JSON.stringify(done.error)}\n${logs.join('\n')}`);
      assert.deepEqual(done.result.tokens, want, 'caption tokens equal transformers greedy tokens');
      assert.deepEqual(done.tokens, want, 'streamed tokens equal the result');
      assert.equal(await page.textContent('#answer'), done.result.text || '(empty answer)');
      await page.click('#h-answer ~ details summary');
      const shot = path.join(root, 'build/web-test', `demo-${isolated ? 'isolated' : 'single-thread'}.png`);
      fs.mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      if (isolated) { fs.mkdirSync(path.join(root, 'docs'), { recursive: true }); fs.copyFileSync(shot, path.join(root, 'docs/screenshot.png')); }
      // Narrow phone screen: nothing overflows horizontally.
      await page.setViewportSize({ width: 360, height: 800 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `page overflows a 360px screen by ${overflow}px`);
      t.diagnostic(`tokens ${done.result.tokens.join(' ')}; screenshot ${shot}`);
    } finally {
      await ctx.close();
      await srv.close();
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    }
  });
}
