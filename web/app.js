// app.js — the chat page. Plain ES modules, no framework, no build step. The only requests
// are this page's own files and the model URL (or none for a local file).
//   index.html?model=URL[&ctx=N][&variant=st|mt]   loads that model on open
import { Wisp } from '../js/wisp.js';
import { ChatUI, DEFAULT_SETTINGS, fmtBytes } from './chat-ui.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const els = {
  status: $('status'), catalog: $('catalog'), catalogNote: $('catalog-note'), url: $('model-url'), load: $('load'),
  file: $('file'), drop: $('drop'), progressBox: $('progress-box'), progress: $('progress'), progressText: $('progress-text'),
  loadError: $('load-error'), info: $('info'), infoName: $('info-name'), infoList: $('info-list'), badge: $('badge-cached'),
  system: $('system'), cacheList: $('cache-list'), cacheEmpty: $('cache-empty'), contextSize: $('contextSize'),
};

function setStatus(text, state) {
  els.status.textContent = text;
  els.status.dataset.state = state || '';
}

const NUM = ['temperature', 'topK', 'topP', 'minP', 'repeatPenalty', 'maxTokens', 'seed'];
function getSettings() {
  const s = { ...DEFAULT_SETTINGS };
  for (const k of NUM) {
    const v = $(k).value.trim();
    if (v === '') continue;
    const n = Number(v);
    if (Number.isFinite(n)) s[k] = ['topK', 'maxTokens', 'seed'].includes(k) ? Math.round(n) : n;
  }
  return s;
}

const ui = new ChatUI({
  root: document.body, list: $('messages'), input: $('message'), send: $('send'), stop: $('stop'), newChat: $('new-chat'), status: els.status,
}, { getSettings, getSystemPrompt: () => els.system.value, setStatus });
$('composer').addEventListener('submit', (e) => e.preventDefault());

// ------------------------------------------------------------------ catalog

let catalog = [];
async function loadCatalog() {
  try {
    const r = await fetch(new URL('../models/catalog.json', import.meta.url));
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    catalog = (await r.json()).models || [];
  } catch (e) {
    els.catalogNote.textContent = `Model catalog unavailable (${e.message}); use a URL or a local file.`;
    return;
  }
  await refreshCatalog();
}

// Only whole entries count as cached (Wisp.cache.list() checks the stored body against the
// recorded size); anything else is listed as incomplete and is downloaded again on load.
async function refreshCatalog() {
  let cached = [];
  try { cached = await Wisp.cache.list(); } catch {}
  const isCached = (u) => cached.some((c) => c.url === new URL(u, location.href).href && c.complete);
  els.badge.hidden = !(model && modelUrl && isCached(modelUrl));
  const keep = els.catalog.value;
  els.catalog.replaceChildren(new Option('— catalog —', ''));
  catalog.forEach((m, i) => {
    const label = `${m.name} · ${m.quant} · ${fmtBytes(m.size)}${isCached(m.url) ? ' · cached' : ''}`;
    els.catalog.append(new Option(label, String(i)));
  });
  els.catalog.value = keep;
  renderCacheList(cached);
}

els.catalog.addEventListener('change', () => {
  const m = catalog[Number(els.catalog.value)];
  if (!m) { els.catalogNote.textContent = ''; return; }
  els.url.value = m.url;
  const integrity = m.sha256
    ? `The download is checked against the catalog's sha256 (${m.sha256.slice(0, 12)}…).`
    : 'No sha256 in the catalog for this file (it could not be verified when the catalog was written): the download is not integrity-checked.';
  els.catalogNote.textContent = `${m.note} License: ${m.license}.${m.sizeApprox ? ' Size is approximate.' : ''} ${integrity} Press Load.`;
});

function renderCacheList(list) {
  els.cacheList.replaceChildren();
  els.cacheEmpty.hidden = list.length > 0;
  for (const c of list) {
    const name = decodeURIComponent(c.url.split('/').pop() || c.url);
    const li = document.createElement('li');
    const span = document.createElement('span');
    span.textContent = `${name} (${fmtBytes(c.size)}${c.complete ? '' : ', incomplete: not used, downloaded again on load'})`;
    li.dataset.url = c.url;
    li.dataset.complete = String(c.complete);
    span.title = c.url;
    const del = document.createElement('button');
    del.type = 'button';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete cached ${name}`);
    del.addEventListener('click', async () => {
      await Wisp.cache.delete(c.url);
      await refreshCatalog();
      setStatus(`Deleted ${name} from the cache`, model ? 'ready' : 'idle');
    });
    li.append(span, del);
    els.cacheList.append(li);
  }
}

// ------------------------------------------------------------------ loading

let model = null;
let modelUrl = null; // the loaded model's URL (null for a local file)
let loadCtl = null;

function showInfo(info, final) {
  els.info.hidden = false;
  els.infoName.textContent = info.name || info.source || 'model';
  const quant = Object.entries(info.quantTypes || {}).map(([k, v]) => `${k}×${v}`).join(', ');
  const rows = [
    ['Architecture', `${info.arch}, ${info.nLayer} layers, ${info.nEmbd} dim, ${info.nHead}/${info.nHeadKv} heads`],
    ['Parameters', `${(info.nParams / 1e6).toFixed(1)} M (${quant})`],
    ['File', fmtBytes(info.fileBytes)],
    ['Vocabulary', `${info.nVocab} (${info.tokenizer})`],
    ['Context', `${info.contextSize} tokens (trained ${info.nCtxTrain})${info.kvBytes ? `, KV cache ${fmtBytes(info.kvBytes)}` : ''}`],
    ['Engine', `${info.variant === 'mt' ? `threads on: ${info.threads} threads (${info.variantReason})` : `threads off (${info.variantReason})`}${info.simd ? `; ${info.simd === 'relaxed' ? 'relaxed SIMD' : 'SIMD128'}` : ''}`],
  ];
  if (final) {
    rows.push(['Chat template', info.chatTemplate ? 'the model\'s own (Jinja)' : 'none in the file: built-in fallback']);
    rows.push(['Loaded', `${(info.loadMs / 1000).toFixed(1)} s via ${info.loadMode}${info.cache === 'stored' ? ', saved to the cache' : ''}`]);
    rows.push(['Integrity', info.sha256 ? `sha256 verified: ${info.sha256}` : 'not checked (no sha256 given for this file)']);
  }
  els.infoList.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    els.infoList.append(dt, dd);
  }
  if (!final) els.badge.hidden = true; // set from the cache listing once loaded
}

function showProgress(p, t0) {
  els.progressBox.hidden = false;
  const frac = p.total ? p.loaded / p.total : 0;
  els.progress.value = frac;
  const phase = { header: 'Reading header', download: 'Downloading', cache: 'Reading from the cache', verify: 'Verifying sha256',
    init: 'Initializing', 'cache-store': 'Saving to the cache' }[p.phase] || p.phase;
  const bits = [`${phase}: ${fmtBytes(p.loaded)}${p.total ? ` / ${fmtBytes(p.total)} (${(frac * 100).toFixed(0)}%)` : ''}`];
  if (p.bytesPerSec > 0) bits.push(`${fmtBytes(p.bytesPerSec)}/s`);
  if (p.etaSec != null && p.etaSec > 0 && Number.isFinite(p.etaSec)) bits.push(`ETA ${p.etaSec < 90 ? `${Math.ceil(p.etaSec)} s` : `${Math.ceil(p.etaSec / 60)} min`}`);
  els.progressText.textContent = bits.join(' · ');
  setStatus(`Loading… ${(frac * 100).toFixed(0)}%`, 'loading');
}

function explain(e) {
  // byte counts from the engine ("needs 8053574400 bytes") in human units
  const msg = (e && e.message ? e.message : String(e)).replace(/\b(\d{6,}) bytes\b/g, (m, n) => fmtBytes(Number(n)));
  switch (e && e.code) {
    case 'OOM': return `This model does not fit in the memory a browser tab can use (${msg}). Try a smaller model or quantization, or a smaller context size.`;
    case 'NETWORK': return `Could not download the model: ${msg}. The server must allow Range requests and CORS (see models/README.md).`;
    case 'FORMAT': return `Not a valid GGUF model: ${msg}`;
    case 'UNSUPPORTED': return `This model is not supported: ${msg}`;
    case 'INTEGRITY': return `The download does not match the expected sha256: ${msg}`;
    default: return msg;
  }
}

async function loadModel(source) {
  if (loadCtl) loadCtl.abort();
  const ctl = new AbortController();
  loadCtl = ctl;
  ui.stop();
  if (model) { const m = model; model = null; modelUrl = null; ui.setModel(null); await m.unload().catch(() => {}); }
  ui.newChat();
  els.loadError.hidden = true;
  els.info.hidden = true;
  els.badge.hidden = true;
  const isUrl = typeof source === 'string';
  const entry = isUrl ? catalog.find((m) => new URL(m.url, location.href).href === new URL(source, location.href).href) : null;
  const ctx = Number(els.contextSize.value) || 0; // initialized from ?ctx=; the user may change it after an error
  setStatus(`Loading ${isUrl ? source : source.name}…`, 'loading');
  const t0 = performance.now();
  try {
    const m = await Wisp.load(source, {
      signal: ctl.signal,
      contextSize: ctx,
      variant: params.get('variant') || 'auto',
      sha256: entry && entry.sha256 ? entry.sha256 : undefined,
      onProgress: (p) => { if (loadCtl === ctl) showProgress(p, t0); },
      onInfo: (info) => { if (loadCtl === ctl) showInfo({ ...info, source: isUrl ? source : source.name }, false); },
    });
    if (loadCtl !== ctl) { m.unload(); return; }
    model = m;
    modelUrl = isUrl ? new URL(source, location.href).href : null;
    window.wispModel = m; // for the console
    showInfo(m.info, true);
    els.progress.value = 1;
    els.progressText.textContent = `Loaded ${fmtBytes(m.info.fileBytes)} in ${(m.info.loadMs / 1000).toFixed(1)} s${m.info.cache === 'hit' ? ' from the cache' : ''}`;
    ui.setModel(m);
    setStatus(`Ready: ${m.info.name || 'model'} (${m.info.variant === 'mt' ? `${m.info.threads} threads` : 'single thread'})`, 'ready');
    await refreshCatalog();
    $('message').focus();
  } catch (e) {
    if (loadCtl !== ctl || (e && e.name === 'AbortError')) return;
    els.loadError.textContent = explain(e);
    els.loadError.hidden = false;
    els.loadError.dataset.code = (e && e.code) || '';
    els.progressBox.hidden = true;
    els.info.hidden = true;
    setStatus(`Error: ${e && e.code === 'OOM' ? 'the model does not fit in memory' : e && e.code === 'INTEGRITY' ? 'the download does not match its sha256' : (e.message || e)}`, 'error');
    refreshCatalog();
  } finally {
    if (loadCtl === ctl) loadCtl = null;
  }
}

// A model URL is loaded through ?model= so that boot.js can allow exactly its origin.
function loadUrl(u) {
  u = u.trim();
  if (!u) { els.url.focus(); return; }
  let abs;
  try { abs = new URL(u, location.href); } catch { setStatus('Error: not a valid URL', 'error'); return; }
  if (abs.protocol !== 'https:' && abs.protocol !== 'http:') { setStatus('Error: only http(s) URLs can be loaded', 'error'); return; }
  if (params.get('model') === u) { loadModel(u); return; }
  const next = new URLSearchParams(params);
  next.set('model', u);
  const ctx = els.contextSize.value.trim();
  if (ctx) next.set('ctx', ctx); else next.delete('ctx');
  location.search = next.toString();
}

els.load.addEventListener('click', () => loadUrl(els.url.value));
els.url.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); loadUrl(els.url.value); } });
els.file.addEventListener('change', () => {
  const f = els.file.files[0];
  els.file.value = ''; // choosing the same file again loads it again
  if (f) loadModel(f);
});
// Drag and drop of a local .gguf anywhere on the page (only file drags: dragging text into the
// message box keeps working). The file is read in place, never uploaded.
const hasFiles = (e) => !!e.dataTransfer && [...e.dataTransfer.types].includes('Files');
for (const ev of ['dragenter', 'dragover']) {
  document.addEventListener(ev, (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    els.drop.classList.add('over');
  });
}
document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) els.drop.classList.remove('over'); });
document.addEventListener('drop', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  els.drop.classList.remove('over');
  const files = [...e.dataTransfer.files];
  const f = files.find((x) => /\.gguf$/i.test(x.name));
  if (f) { loadModel(f); return; }
  els.loadError.textContent = `Not a .gguf file: ${files.map((x) => x.name).join(', ') || '(nothing)'}. Drop a GGUF model file.`;
  els.loadError.hidden = false;
  setStatus('Error: drop a .gguf file', 'error');
});

// Test hook (tests/e2e/chat.test.mjs): feeds text through the same rendering path as model output.
if (params.get('test-hooks') === '1') {
  window.__wispTest = { renderAssistant: (text) => ui.renderAssistantText(text), ui };
}

if (params.get('ctx')) els.contextSize.value = params.get('ctx');
ui.sync();
await loadCatalog();
const initial = params.get('model');
if (initial) {
  els.url.value = initial;
  const i = catalog.findIndex((m) => m.url === initial);
  if (i >= 0) els.catalog.value = String(i);
  loadModel(initial);
} else {
  setStatus('No model loaded: choose one from the catalog, enter a URL, or open a local .gguf file', 'idle');
}
