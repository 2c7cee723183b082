// Demo page logic. Uses only the public `mblip` package API (import map in index.html).
// window.__mblip mirrors the page state for the browser tests.
import { MBlip, relaxedSimdSupport } from 'mblip';

const $ = (id) => document.getElementById(id);
const state = (window.__mblip = { loaded: false, busy: false, result: null, error: null, tokens: [], threaded: null, phases: [] });
let model = null;
let image = null; // a File/Blob
let controller = null;

const isolated = globalThis.crossOriginIsolated === true;
$('isolation').textContent = isolated
  ? 'Cross-origin isolated: the multi-threaded WebAssembly build will be used.'
  : 'Not cross-origin isolated (no COOP/COEP headers): running on a single thread, which is slower.';
// ?build=simd128 (etc.) forces a wasm build; by default the package picks one.
const forcedBuild = new URLSearchParams(location.search).get('build') || undefined;
const BUILD_LABELS = {
  'relaxed-simd-threads': 'relaxed SIMD + threads', 'relaxed-simd': 'relaxed SIMD, single thread',
  'simd128-threads': 'SIMD128 + threads', simd128: 'SIMD128, single thread',
};
$('build-kind').textContent = `${relaxedSimdSupport().ok ? 'relaxed SIMD' : 'SIMD128'}${isolated ? ' + threads' : ', single thread'}`;

function showError(e) {
  state.error = e ? { name: e.name, code: e.code, message: e.message } : null;
  $('error').hidden = !e;
  $('error').textContent = e ? `${e.name}: ${e.message}` : '';
}
function mb(n) { return `${(n / 1048576).toFixed(1)} MB`; }

async function loadModel(source, label) {
  showError(null);
  if (model) { model.dispose(); model = null; }
  state.loaded = false;
  state.phases = [];
  const t0 = performance.now();
  $('run').disabled = true;
  $('progress').removeAttribute('value');
  $('progress-text').textContent = `Loading ${label}…`;
  try {
    model = await MBlip.load(source, {
      build: forcedBuild,
      onProgress: ({ loaded, total, cached, phase, fromStorage }) => {
        const ph = fromStorage ? 'prepare-storage' : phase;
        if (state.phases.at(-1) !== ph) state.phases.push(ph);
        if (phase === 'ready') return;
        if (phase === 'prepare' && !fromStorage) { $('progress-text').textContent = 'Preparing the model…'; return; }
        if (total) { $('progress').max = total; $('progress').value = loaded; }
        const what = fromStorage ? 'Prepared weights from browser storage' : cached ? 'From cache' : 'Downloading';
        $('progress-text').textContent = `${what}: ${mb(loaded)}${total ? ` of ${mb(total)}` : ''}`;
      },
    });
  } catch (e) {
    $('progress').value = 0;
    $('progress-text').textContent = 'Loading failed.';
    showError(e);
    return;
  }
  const info = model.info;
  const cache = model.cache;
  $('progress').max = 1; $('progress').value = 1;
  const notes = [];
  if (cache && cache.hit) notes.push('file from the browser cache');
  else if (cache && cache.stored) notes.push('file saved in the browser cache');
  if (cache && cache.packed && cache.packed.hit) notes.push('prepared weights from browser storage');
  else if (cache && cache.packed && cache.packed.stored) notes.push('prepared weights saved for next time');
  state.readyMs = performance.now() - t0;
  state.cache = cache;
  state.memory = model.memory;
  state.loadTimings = model.loadTimings;
  $('progress-text').textContent = `Loaded ${label} in ${(state.readyMs / 1000).toFixed(1)} s` + (notes.length ? ` (${notes.join('; ')})` : '');
  $('model-info').textContent = `${info.name || 'model'} — ${info.architecture}/${info.textModelType}, ` +
    `${mb(info.weightBytes)} of weights, ${model.threaded ? `${model.threads} threads` : 'single thread'}, ` +
    `WebAssembly build: ${info.build}.`;
  $('build-kind').textContent = BUILD_LABELS[info.build] || info.build;
  $('random-warning').hidden = !info.randomWeights;
  const sel = $('lang');
  const keep = sel.value || 'en';
  sel.replaceChildren(...model.languages.map((l) => new Option(`${l.name} (${l.code})`, l.code, false, l.code === keep)));
  sel.disabled = false;
  state.loaded = true;
  state.threaded = model.threaded;
  state.build = info.build;
  state.randomWeights = info.randomWeights;
  updateRun();
}

function setImage(file) {
  if (!file) return;
  image = file;
  const img = $('preview');
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  img.alt = `Selected image: ${file.name || 'pasted image'}`;
  img.hidden = false;
  state.imageSet = true;
  updateRun();
}

function updateRun() { $('run').disabled = !(model && image) || state.busy; }

$('model-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const url = $('model-url').value.trim();
  if (url) loadModel(url, url);
});
$('model-file').addEventListener('change', (e) => { const f = e.target.files[0]; if (f) loadModel(f, f.name); });
$('image-file').addEventListener('change', (e) => setImage(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('image-file').click(); } });
drop.addEventListener('click', () => $('image-file').click());
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); setImage([...e.dataTransfer.files].find((f) => f.type.startsWith('image/'))); });
document.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith('image/'));
  if (item) setImage(item.getAsFile());
});
for (const r of document.querySelectorAll('input[name=task]')) {
  r.addEventListener('change', () => { $('question-row').hidden = document.querySelector('input[name=task]:checked').value !== 'ask'; });
}

$('run-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!model || !image || state.busy) return;
  showError(null);
  state.busy = true; state.result = null; state.tokens = [];
  updateRun();
  $('stop').disabled = false;
  $('answer').value = '';
  $('answer').textContent = '';
  $('speed').textContent = '';
  controller = new AbortController();
  const task = document.querySelector('input[name=task]:checked').value;
  const opts = {
    lang: $('lang').value,
    // Empty fields keep the task's defaults (decided by the core: beam 5, 50 / 10 tokens).
    numBeams: $('beams').value === '' ? undefined : Number($('beams').value),
    maxNewTokens: $('max-tokens').value === '' ? undefined : Number($('max-tokens').value),
    signal: controller.signal,
    prompt: $('prompt').value.trim() || undefined,
    onToken: (ev) => { $('answer').textContent = ev.text; state.tokens.push(ev.token); },
  };
  try {
    const r = task === 'ask' ? await model.ask(image, $('question').value, opts) : await model.caption(image, opts);
    state.result = r;
    $('answer').textContent = r.text || '(empty answer)';
    $('tokens').textContent = r.tokens.join(' ');
    const body = $('timings').tBodies[0];
    body.replaceChildren(...Object.entries(r.timings).map(([k, v]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th'); th.scope = 'row'; th.textContent = k;
      const td = document.createElement('td'); td.textContent = v.toFixed(1);
      tr.append(th, td);
      return tr;
    }));
    const dec = r.timings.decoder;
    $('speed').textContent = `${r.tokens.length} tokens` + (dec ? `, ${(r.tokens.length / (dec / 1000)).toFixed(1)} tokens/s in the decoder` : '') +
      `, ${(r.timings.total / 1000).toFixed(2)} s in total.`;
  } catch (err) {
    showError(err);
  } finally {
    state.busy = false;
    state.runs = (state.runs || 0) + 1;
    $('stop').disabled = true;
    updateRun();
  }
});
$('stop').addEventListener('click', () => controller && controller.abort());

// ?model=URL loads a model at start (tests and shareable links); ?autoload=0 disables the default.
const params = new URLSearchParams(location.search);
if (params.get('model')) { $('model-url').value = params.get('model'); loadModel(params.get('model'), params.get('model')); }
