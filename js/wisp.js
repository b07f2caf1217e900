// wisp.js — the public JavaScript API (plain ES module; browsers and Node >= 20).
//
//   import { Wisp } from './wisp.js';
//   const model = await Wisp.load(url | File | Blob, { threads, variant, simd, contextSize, cache, sha256, signal, onProgress });
//   for await (const ev of model.generate('Once upon a time', { maxTokens: 64 })) ...
//
// The engine runs in a dedicated worker (js/worker.js; its protocol is documented at the
// top of that file). The wasm builds are found at ./dist/ relative to this file
// (js/dist/wisp-{mt,st}.{mjs,wasm}, built by `make wasm`); override with options.distUrl.
import { WispError, abortError, deserializeError } from './errors.js';
import { cacheList, cacheDelete } from './cache.js';
import { renderChatTemplate, splitRendered, FALLBACK_TEMPLATES } from './chat-template.js';

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
      let w;
      if (typeof location !== 'undefined' && WORKER_URL.origin !== location.origin) {
        // wisp.js was loaded from another origin (an embedded widget): workers must be
        // same-origin, so start a blob worker that imports the real one (needs CORS on it)
        const blob = new Blob([`import ${JSON.stringify(WORKER_URL.href)};`], { type: 'text/javascript' });
        w = new Worker(URL.createObjectURL(blob), { type: 'module' });
      } else {
        w = new Worker(WORKER_URL, { type: 'module' });
      }
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
    const { continueFrom, ...rest } = options; // internal to chat()
    for await (const ev of this._generate(prompt, rest)) {
      if (ev.done) { yield { done: true, text: ev.text, stats: ev.stats }; return; }
      yield ev;
    }
  }

  // generate() plus, on the done event, `resume` ({held} when the context filled up: what
  // continueFrom needs to go on with the same text).
  async *_generate(prompt, options = {}) {
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
        yield { done: true, text: x.end.text, stats: x.end.stats, resume: x.end.resume || null };
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


  // ---------------------------------------------------------------- chat

  // What chat() renders for `messages`: {text, ids, template: 'model'|'chatml'|'llama3', stop}.
  //   options: addGenerationPrompt (default true), templateVars (extra template variables),
  //   now (clock for strftime_now), chatTemplate (override the model's template text).
  async chatPrompt(messages, options = {}) {
    const setup = await this._chatSetup(options.chatTemplate);
    return this._chatIds(setup, checkMessages(messages), options, []);
  }

  async _chatSetup(override) {
    if (this._chat && this._chat.override === override) return this._chat;
    const info = this.info;
    const tokText = async (t) => (t >= 0 ? this.detokenize([t], { special: true }) : null);
    const bosToken = await tokText(info.bos);
    const eosToken = await tokText(info.eot >= 0 && !info.chatTemplate ? info.eot : info.eos);
    let template = override || info.chatTemplate;
    let kind = override ? 'custom' : 'model';
    let stop = [];
    if (!template) {
      const isSpecial = async (s) => (await this.tokenize(s, { parseSpecial: true })).length === 1;
      if (await isSpecial('<|start_header_id|>')) kind = 'llama3';
      else kind = 'chatml';
      template = FALLBACK_TEMPLATES[kind];
      // a vocabulary without these special tokens can only spell them as text
      if (kind === 'chatml' && !(await isSpecial('<|im_end|>'))) stop = ['<|im_end|>', '<|im_start|>'];
    }
    this._chat = { override, template, kind, stop, bosToken, eosToken: kind === 'llama3' ? '<|eot_id|>' : eosToken };
    this._replies = this._replies || new Map(); // reply text -> Promise<ids|null> (KV prefix reuse)
    return this._chat;
  }

  // Renders and tokenizes: template text with parse_special, message content without it.
  async _chatIds(setup, messages, options, prefixIds) {
    const text = renderChatTemplate(setup.template, messages, {
      addGenerationPrompt: options.addGenerationPrompt !== false,
      bosToken: setup.bosToken, eosToken: setup.eosToken, extra: options.templateVars || {}, now: options.now,
    });
    const { pieces } = splitRendered(text, messages);
    // Merge content that tokenizes the same with and without parse_special (no special-token
    // text in it) into its neighbours, so the prompt tokenizes as one string would; keep apart
    // content that spells special tokens, and assistant replies whose ids are known.
    const parts = []; // {text, special} | {ids}
    for (const p of pieces) {
      if (p.content) {
        const m = messages[p.index];
        const known = m.role === 'assistant' && this._replies && this._replies.get(p.text);
        const ids = known ? await known : null;
        if (ids) { parts.push({ ids }); continue; }
        const a = await this.tokenize(p.text, { parseSpecial: true });
        const b = await this.tokenize(p.text, { parseSpecial: false });
        if (a.length !== b.length || a.some((x, i) => x !== b[i])) { parts.push({ text: p.text, special: false }); continue; }
      }
      const last = parts[parts.length - 1];
      if (last && last.special) last.text += p.text;
      else parts.push({ text: p.text, special: true });
    }
    const addBos = this.info.addBos && !(setup.bosToken && text.startsWith(setup.bosToken));
    const ids = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p.ids) ids.push(...p.ids);
      else ids.push(...await this.tokenize(p.text, { addBos: addBos && i === 0, parseSpecial: p.special }));
    }
    if (addBos && parts.length && parts[0].ids && this.info.bos >= 0) ids.unshift(this.info.bos);
    ids.push(...prefixIds);
    return { text, ids, template: setup.kind, stop: setup.stop.slice() };
  }

  // OpenAI-shaped chat: messages [{role: 'system'|'user'|'assistant', content}], rendered with
  // the model's chat template. Streams the same events as generate(). The KV cache is kept
  // between calls and only the new tokens are prefilled. When the conversation does not fit,
  // the oldest turns are dropped (system messages are kept) and the prompt is prefilled
  // again; this is reported in stats (droppedMessages, contextTrims) and via onContextTrim.
  async *chat(messages, options = {}) {
    const { signal, addGenerationPrompt, templateVars, now, chatTemplate, onContextTrim, ...gen } = options;
    if (signal && signal.aborted) throw abortError('generation aborted');
    let msgs = checkMessages(messages);
    const setup = await this._chatSetup(chatTemplate);
    const ropts = { addGenerationPrompt, templateVars, now };
    const nCtx = this.info.contextSize;
    const maxTokens = gen.maxTokens == null ? 256 : gen.maxTokens;
    const reserve = Math.max(1, Math.min(maxTokens, Math.floor(nCtx / 2)));
    let dropped = 0;
    let trims = 0;
    const fit = async (prefixIds, need) => {
      for (;;) {
        const p = await this._chatIds(setup, msgs, ropts, prefixIds);
        if (p.ids.length + need <= nCtx) return p;
        const next = dropOldestTurn(msgs);
        if (!next) {
          if (p.ids.length < nCtx) return p;
          throw new WispError('CONTEXT_FULL', `the conversation needs ${p.ids.length} tokens even without older turns; the context holds ${nCtx}`);
        }
        dropped += msgs.length - next.length;
        msgs = next;
        if (!trimmed) { trimmed = true; trims++; }
      }
    };
    let trimmed = false;
    let prompt = await fit([], reserve);
    if (trimmed && onContextTrim) { try { onContextTrim({ droppedMessages: dropped }); } catch {} }
    const stop = [...setup.stop, ...(gen.stop == null ? [] : Array.isArray(gen.stop) ? gen.stop : [gen.stop])];
    const replyIds = [];
    let replyText = '';
    let tail = '';
    let continueFrom = null;
    let total = null;
    let finished = false;
    try {
      for (;;) {
        let stats = null;
        let resume = null;
        tail = '';
        for await (const ev of this._generate(prompt.ids, { ...gen, stop, maxTokens: maxTokens - replyIds.length, addBos: false, signal, continueFrom })) {
          if (ev.done) { stats = ev.stats; tail = ev.text; resume = ev.resume; break; }
          replyIds.push(ev.token);
          replyText += ev.text;
          yield { token: ev.token, text: ev.text };
        }
        total = mergeStats(total, stats);
        if (stats.stopReason === 'context' && replyIds.length < maxTokens) {
          // the context filled up mid-reply: drop the oldest turns and continue the reply. The
          // next generation goes on from the reply's tokens (continueFrom): its detokenizer
          // does not strip the SentencePiece leading space of its first token as it would at
          // the start of a text, and text held back at the cut (a possible stop-string prefix,
          // the first bytes of a split UTF-8 character) is completed rather than flushed.
          const next = dropOldestTurn(msgs);
          if (!next) break;
          dropped += msgs.length - next.length;
          msgs = next;
          trims++;
          trimmed = true;
          prompt = await fit(replyIds, Math.min(64, maxTokens - replyIds.length));
          continueFrom = { ids: replyIds.slice(), held: resume ? resume.held : '' };
          if (onContextTrim) { try { onContextTrim({ droppedMessages: dropped }); } catch {} }
          continue;
        }
        replyText += tail;
        const last = tail;
        tail = '';
        total.droppedMessages = dropped;
        total.contextTrims = trims;
        total.template = setup.kind;
        if (stats.stopReason !== 'stop') this._remember(replyText, replyIds);
        finished = true;
        yield { done: true, text: last, stats: total };
        return;
      }
      // nothing left to drop: the reply ends here
      replyText += tail;
      this._remember(replyText, replyIds);
      total.droppedMessages = dropped;
      total.contextTrims = trims;
      total.template = setup.kind;
      finished = true;
      yield { done: true, text: tail, stats: total };
    } finally {
      if (!finished && replyIds.length) this._remember(replyText, replyIds);
    }
  }

  // Remembers the token ids of a reply so the next turn reuses its KV cache entries (when the
  // ids detokenize to exactly the text the caller will send back).
  _remember(text, ids) {
    if (!text || !this._replies) return;
    const copy = ids.slice();
    const p = this.detokenize(copy).then((t) => (t === text ? copy : null), () => null);
    this._replies.set(text, p);
    if (this._replies.size > 256) this._replies.delete(this._replies.keys().next().value);
  }

  async unload() {
    if (this._e.dead) { this._e.terminate(); return; }
    try { await this._e.call('unload', {}); } catch {}
    this._e.dead = 'unloaded';
    // FIX (reliability): a call still pending here (a generation racing the unload) would
    // never settle once the worker is terminated: reject it instead of hanging its caller
    const gone = new WispError('UNLOADED', 'the model was unloaded');
    for (const p of this._e.pending.values()) p.reject(gone);
    this._e.pending.clear();
    this._e.terminate();
  }
}


// ------------------------------------------------------------------ chat helpers

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
function checkMessages(messages) {
  if (!Array.isArray(messages) || !messages.length) throw new WispError('INVALID_ARG', 'messages must be a non-empty array');
  return messages.map((m, i) => {
    if (!m || typeof m !== 'object' || !ROLES.has(m.role)) throw new WispError('INVALID_ARG', `messages[${i}].role must be system, user or assistant`);
    if (typeof m.content !== 'string') throw new WispError('INVALID_ARG', `messages[${i}].content must be a string`);
    return { ...m };
  });
}

// Drops the oldest non-system turn (a user message and the replies up to the next user
// message). Returns the shorter array, or null when only system messages and the last user
// turn are left.
function dropOldestTurn(msgs) {
  const idx = msgs.map((m, i) => (m.role === 'system' ? -1 : i)).filter((i) => i >= 0);
  if (idx.length <= 1) return null;
  const first = idx[0];
  let end = first + 1;
  while (end < msgs.length && msgs[end].role !== 'user' && msgs[end].role !== 'system') end++;
  const next = msgs.slice(0, first).concat(msgs.slice(end));
  if (!next.some((m) => m.role !== 'system')) return null; // never drop the last turn
  return next;
}

function mergeStats(a, b) {
  if (!a) return { ...b };
  const gen = a.generatedTokens + b.generatedTokens;
  return {
    ...a,
    prefilledTokens: a.prefilledTokens + b.prefilledTokens,
    generatedTokens: gen,
    decodeTokPerSec: b.decodeTokPerSec ?? a.decodeTokPerSec,
    totalMs: a.totalMs + b.totalMs,
    stopReason: b.stopReason,
  };
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
  const simd = options.simd || 'auto';
  if (!['auto', 'relaxed', 'base'].includes(simd)) throw new WispError('INVALID_ARG', `simd must be 'auto', 'relaxed' or 'base'`);
  const hw = hardwareConcurrency() || (isNode ? await nodeCpus() : 1);
  let threads = options.threads == null ? hw : Math.floor(options.threads);
  if (!(threads >= 1)) throw new WispError('INVALID_ARG', `threads must be >= 1`);
  threads = Math.max(1, Math.min(hw, threads, 64));
  if (pick.variant === 'st') threads = 1;
  // FIX (reliability): `contextSize | 0` turned NaN/negative/huge values into something else
  // silently; refuse them up front (0 or absent = the default)
  const cs = options.contextSize;
  if (cs != null && !(Number.isInteger(cs) && cs >= 0 && cs <= 2 ** 31 - 1)) {
    throw new WispError('INVALID_ARG', `contextSize must be a non-negative integer (got ${cs})`);
  }

  const engine = new Engine();
  engine.onLog = onLog || ((m) => { if (m.level === 'warn' || m.level === 'error') console.warn(`wisp: ${m.message}`); });
  await engine.start();
  const onAbort = () => engine.post('abort', { target: loadPromise.id });
  const loadPromise = engine.call('load', {
    source: src,
    variant: pick.variant,
    variantReason: pick.reason,
    simd,
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
    maxMemory: options.maxMemory,
  }, (ev) => {
    if (ev.type === 'info' && options.onInfo) { try { options.onInfo(ev.info); } catch {} return; }
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
