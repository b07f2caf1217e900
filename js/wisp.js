// wisp.js — the public JavaScript API (plain ES module; browsers and Node >= 20).
//
//   import { Wisp } from './wisp.js';
//   const model = await Wisp.load(url | File | Blob, { threads, variant, contextSize, cache, sha256, signal, onProgress });
//   for await (const ev of model.generate('Once upon a time', { maxTokens: 64 })) ...
//
// The engine runs in a dedicated worker (js/worker.js; its protocol is documented at the
// top of that file). The wasm builds are found at ./dist/ relative to this file
// (js/dist/wisp-{mt,st}.{mjs,wasm}, built by `make wasm`); override with options.distUrl.
import { WispError, abortError, deserializeError } from './errors.js';
import { cacheList, cacheDelete } from './cache.js';

export { WispError };

const isNode = typeof process === 'object' && !!(process.versions && process.versions.node) && typeof window === 'undefined';
const DIST_URL = new URL('./dist/', import.meta.url).href;
const WORKER_URL = new URL('./worker.js', import.meta.url);

function hardwareConcurrency() {
  if (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) return navigator.hardwareConcurrency;
  return 0;
}

async function nodeCpus() {
  const os = await import('node:os');
  return os.availableParallelism ? os.availableParallelism() : os.cpus().length;
}

// Picks the wasm variant. Returns {variant, reason}.
function pickVariant(requested) {
  const sab = typeof SharedArrayBuffer !== 'undefined';
  if (requested === 'st') return { variant: 'st', reason: 'requested st' };
  if (isNode) {
    return requested === 'mt'
      ? { variant: 'mt', reason: 'requested mt' }
      : { variant: 'mt', reason: 'auto: Node.js has SharedArrayBuffer and worker_threads' };
  }
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  if (requested === 'mt') {
    if (!isolated || !sab) throw new WispError('UNSUPPORTED', 'variant "mt" needs a cross-origin isolated page (COOP: same-origin + COEP: require-corp) with SharedArrayBuffer');
    return { variant: 'mt', reason: 'requested mt' };
  }
  if (isolated && sab) return { variant: 'mt', reason: 'auto: crossOriginIsolated and SharedArrayBuffer available' };
  return { variant: 'st', reason: `auto: ${!isolated ? 'page is not cross-origin isolated (needs COOP/COEP headers)' : 'SharedArrayBuffer unavailable'}` };
}

// ------------------------------------------------------------------ worker client

class Engine {
  constructor() {
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, onEvent}
    this.dead = null;
  }

  async start() {
    if (isNode) {
      const { Worker } = await import('node:worker_threads');
      const w = new Worker(WORKER_URL);
      this.w = w;
      w.on('message', (m) => this.onMessage(m));
      w.on('error', (e) => this.fail(`worker error: ${e && e.message ? e.message : e}`));
      w.on('exit', (code) => this.fail(`worker exited (code ${code})`));
    } else {
      const w = new Worker(WORKER_URL, { type: 'module' });
      this.w = w;
      w.onmessage = (e) => this.onMessage(e.data);
      w.onerror = (e) => { e.preventDefault && e.preventDefault(); this.fail(`worker error: ${e.message || 'failed to start'}`); };
      w.onmessageerror = () => this.fail('worker message could not be deserialized');
    }
    await new Promise((resolve, reject) => { this.readyWaiter = { resolve, reject }; });
    this.refCount(); // Node: the idle worker does not keep the process alive
  }

  onMessage(m) {
    if (!m) return;
    if (m.type === 'ready') { this.readyWaiter && this.readyWaiter.resolve(); this.readyWaiter = null; return; }
    if (m.type) {
      if (m.type === 'log') { this.onLog && this.onLog(m); return; }
      const p = this.pending.get(m.id);
      if (p && p.onEvent) p.onEvent(m);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.refCount();
    if (m.ok) p.resolve(m.result);
    else {
      const err = deserializeError(m.error);
      if (err.code === 'TRAP') this.fail(err.message);
      p.reject(err);
    }
  }

  // The worker trapped or died: reject everything and terminate it.
  fail(message) {
    if (this.dead) return;
    this.dead = message;
    const err = new WispError('TRAP', `${message} — the model is no longer usable; load it again`);
    if (this.readyWaiter) { this.readyWaiter.reject(err); this.readyWaiter = null; }
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.terminate();
  }

  refCount() {
    if (!isNode || !this.w) return;
    if (this.pending.size) this.w.ref(); else this.w.unref();
  }

  call(op, args, onEvent, transfer) {
    if (this.dead) return Promise.reject(new WispError(this.dead === 'unloaded' ? 'UNLOADED' : 'TRAP', this.dead === 'unloaded' ? 'the model was unloaded' : this.dead));
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, onEvent }));
    promise.id = id;
    this.refCount();
    this.w.postMessage({ id, op, args }, transfer || []);
    return promise;
  }

  post(op, args) {
    if (!this.dead) this.w.postMessage({ id: 0, op, args });
  }

  terminate() {
    if (!this.w) return;
    const w = this.w;
    this.w = null;
    try { w.terminate(); } catch {}
  }
}

// ------------------------------------------------------------------ model

class WispModel {
  constructor(engine, info) {
    this._e = engine;
    this.info = info;
    this._busy = false;
  }

  tokenize(text, { addBos = false, parseSpecial = false } = {}) {
    return this._e.call('tokenize', { text: String(text), addBos, parseSpecial });
  }

  detokenize(ids, { special = false } = {}) {
    return this._e.call('detokenize', { ids: Array.from(ids), special });
  }

  // Async iterator of {token, text} per generated token, then {done: true, text, stats}.
  async *generate(prompt, options = {}) {
    const { signal, ...opts } = options;
    if (signal && signal.aborted) throw abortError('generation aborted');
    const queue = [];
    let wake = null;
    const push = (x) => { queue.push(x); if (wake) { wake(); wake = null; } };
    const p = this._e.call('generate', { prompt, ...opts }, (ev) => {
      if (ev.type === 'token') push({ ev: { token: ev.token, text: ev.text } });
    });
    p.then((r) => push({ end: r }), (e) => push({ err: e }));
    const onAbort = () => { this._e.post('abort', { target: p.id }); push({ aborted: true }); };
    signal && signal.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    try {
      for (;;) {
        if (!queue.length) await new Promise((r) => { wake = r; });
        // once aborted, nothing more is yielded (tokens the worker already sent are dropped)
        if (signal && signal.aborted) throw abortError('generation aborted');
        const x = queue.shift();
        if (x.ev) { yield x.ev; continue; }
        finished = true;
        if (x.err) {
          if (x.err.name === 'AbortError' || (signal && signal.aborted && x.err.code === 'ABORTED')) throw abortError('generation aborted');
          throw x.err;
        }
        yield { done: true, text: x.end.text, stats: x.end.stats };
        return;
      }
    } finally {
      signal && signal.removeEventListener('abort', onAbort);
      if (!finished) {
        // the consumer stopped early (break/return): stop the worker and wait for it
        this._e.post('abort', { target: p.id });
        await p.catch(() => {});
      }
    }
  }

  async unload() {
    if (this._e.dead) { this._e.terminate(); return; }
    try { await this._e.call('unload', {}); } catch {}
    this._e.dead = 'unloaded';
    this._e.terminate();
  }
}

// ------------------------------------------------------------------ Wisp

async function load(source, options = {}) {
  const { signal, onProgress, onLog } = options;
  if (signal && signal.aborted) throw abortError('model load aborted');
  let src = source;
  if (typeof src === 'string' || src instanceof URL) {
    src = String(src);
    if (isNode && (src.startsWith('file:') || !/^[a-z][a-z0-9+.-]*:/i.test(src))) {
      // a local file: the worker opens it as a disk-backed Blob (those cannot be posted)
      const path = await import('node:path');
      const { fileURLToPath } = await import('node:url');
      src = { file: path.resolve(src.startsWith('file:') ? fileURLToPath(src) : src) };
    } else if (typeof location !== 'undefined') {
      src = new URL(src, location.href).href; // the worker's base URL differs from the page's
    }
  } else if (!(typeof Blob !== 'undefined' && src instanceof Blob)) {
    throw new WispError('INVALID_ARG', 'source must be a URL string, a File or a Blob');
  }
  const requested = options.variant || 'auto';
  if (!['auto', 'mt', 'st'].includes(requested)) throw new WispError('INVALID_ARG', `variant must be 'auto', 'mt' or 'st'`);
  const pick = pickVariant(requested);
  const hw = hardwareConcurrency() || (isNode ? await nodeCpus() : 1);
  let threads = options.threads == null ? hw : Math.floor(options.threads);
  if (!(threads >= 1)) throw new WispError('INVALID_ARG', `threads must be >= 1`);
  threads = Math.max(1, Math.min(hw, threads, 64));
  if (pick.variant === 'st') threads = 1;

  const engine = new Engine();
  engine.onLog = onLog || ((m) => { if (m.level === 'warn' || m.level === 'error') console.warn(`wisp: ${m.message}`); });
  await engine.start();
  const onAbort = () => engine.post('abort', { target: loadPromise.id });
  const loadPromise = engine.call('load', {
    source: src,
    variant: pick.variant,
    variantReason: pick.reason,
    allowFallback: requested === 'auto',
    threads,
    contextSize: options.contextSize | 0,
    cache: options.cache !== false,
    sha256: options.sha256 || '',
    distUrl: options.distUrl ? new URL(options.distUrl, typeof location !== 'undefined' ? location.href : undefined).href : DIST_URL,
    chunkSize: options.chunkSize,
    concurrency: options.concurrency,
    retries: options.retries,
    retryDelayMs: options.retryDelayMs,
    headerBytes: options.headerBytes,
  }, (ev) => {
    if (ev.type === 'progress' && onProgress) {
      try { onProgress({ loaded: ev.loaded, total: ev.total, bytesPerSec: ev.bytesPerSec, etaSec: ev.etaSec, phase: ev.phase }); } catch {}
    }
  });
  signal && signal.addEventListener('abort', onAbort, { once: true });
  try {
    const info = await loadPromise;
    return new WispModel(engine, info);
  } catch (e) {
    engine.terminate();
    if (signal && signal.aborted) throw abortError('model load aborted');
    throw e;
  } finally {
    signal && signal.removeEventListener('abort', onAbort);
  }
}

export const Wisp = {
  load,
  cache: {
    // [{url, size, etag, lastModified, sha256, storedAt, complete}] (browsers; [] in Node)
    list: () => cacheList(),
    delete: (url) => cacheDelete(typeof location !== 'undefined' ? new URL(url, location.href).href : url),
  },
  WispError,
};
export default Wisp;
