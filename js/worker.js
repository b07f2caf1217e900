// worker.js — runs the wisp engine (one wasm module instance, one model) off the main
// thread. Browser: a module Web Worker. Node: a worker_threads Worker.
//
// PROTOCOL (messages are structured-cloned):
//   request  main -> worker   {id, op, args}
//   reply    worker -> main   {id, ok: true, result} | {id, ok: false, error: {name, code, message}}
//   event    worker -> main   {type: 'progress', id, phase, loaded, total, bytesPerSec, etaSec}
//                             {type: 'info', id, info} (load: model facts once the header is parsed)
//                             {type: 'token', id, token, text}
//                             {type: 'log', level, message}
// ops (args):
//   load       {source: url string | Blob, variant: 'mt'|'st', variantReason, simd: 'auto'|'relaxed'|'base',
//               threads, contextSize,
//               cache, sha256, distUrl, chunkSize, concurrency, retries, retryDelayMs, headerBytes}
//              -> info (see wisp.d.ts ModelInfo). Emits progress events with the load's id.
//   tokenize   {text, addBos, parseSpecial} -> number[]
//   detokenize {ids, special} -> string
//   generate   {prompt: string | number[], continueFrom?: {ids, held}, ...GenerateOptions}
//              -> {stats, text, resume}; emits one 'token'
//              event per generated token with the generate request's id. Generation runs one
//              decode step per message turn, so an 'abort' is seen within one token.
//   abort      {target: id of a running load/generate} -> true
//   unload     {} -> true (frees the model; the worker can then be terminated)
//   memStats   {} -> {wasmMemoryBytes, mallocBytes} (wasm memory size, malloc'd bytes in use)
//   __trap     {} -> never returns: makes the wasm code trap (tests of trap recovery)
// A wasm trap (RuntimeError / Emscripten abort) makes every later request fail with code
// TRAP; js/wisp.js then rejects everything pending and terminates this worker.
import { WispError, abortError, serializeError } from './errors.js';
import { streamModel, ChangedError, fmtBytes } from './loader.js';
import { cacheLookup, cacheStore, cacheAvailable } from './cache.js';
import { createSha256 } from './sha256.js';

const isNode = typeof process === 'object' && !!(process.versions && process.versions.node);
let port;
if (isNode) {
  const wt = await import('node:worker_threads');
  port = {
    post: (m) => wt.parentPort.postMessage(m),
    on: (fn) => wt.parentPort.on('message', (data) => fn(data)),
  };
} else {
  port = {
    post: (m) => self.postMessage(m),
    on: (fn) => { self.onmessage = (e) => fn(e.data); },
  };
}

const post = (m) => port.post(m);
const log = (message, level = 'info') => post({ type: 'log', level, message });

// ------------------------------------------------------------------ engine state
let M = null;          // the Emscripten module
let variant = null;
let dead = null;       // trap message once the module trapped
let info = null;
let kvTokens = [];     // tokens currently in the KV cache (for prompt-prefix reuse)
const running = new Map(); // id -> {abort()} for loads and generations
let busy = false;      // a generation is in progress

function heap() {
  // with pthreads the memory may have grown from another thread: refresh the view
  const mem = M.wasmMemory;
  if (mem && M.HEAPU8.buffer !== mem.buffer) return new Uint8Array(mem.buffer);
  return M.HEAPU8;
}

function lastError() { return M.UTF8ToString(M._wx_last_error()); }
function statusName(s) { return M.UTF8ToString(M._wx_status_name(s)); }
function check(s, what) {
  if (s !== 0) throw new WispError(statusName(s), `${what}: ${lastError() || statusName(s)}`);
}

function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError || (e && /^Aborted\(|RuntimeError|unreachable|memory access out of bounds/.test(String(e.message || e)));
}

// The mt build starts its pthreads with `new Worker(url)` (classic workers). A worker script
// must be same-origin with its creator, so when the engine's files are on another origin than
// the page (an embedded widget: this worker is then itself a blob: worker) the pthread
// workers start from a same-origin blob: that importScripts() the real file (which needs CORS
// or CORP, and the page's CSP to allow blob: workers and the engine's origin in script-src).
let pthreadBlob = null;
function pthreadWorkerUrl(u) {
  if (isNode || new URL(u).origin === self.location.origin) return u;
  if (!pthreadBlob || pthreadBlob.src !== u) {
    const blob = new Blob([`importScripts(${JSON.stringify(u)});`], { type: 'text/javascript' });
    pthreadBlob = { src: u, url: URL.createObjectURL(blob) };
  }
  return pthreadBlob.url;
}

// A module whose one function uses i16x8.relaxed_dot_i8x16_i7x16_s (0xfd 0x112): engines
// that validate it run the "-relaxed" builds (wasm/build.sh), whose Q4/Q5 kernels use that
// int8 dot. Checked here, in the engine that will compile the module.
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 43, 1, 41, 0,
  253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  253, 146, 2, 11]);
function relaxedSimdSupported() {
  try { return WebAssembly.validate(RELAXED_PROBE); } catch { return false; }
}

async function instantiate(args) {
  const dist = args.distUrl;
  const name = `wisp-${args.variant}${args.simd === 'relaxed' ? '-relaxed' : ''}`;
  const glue = new URL(`${name}.mjs`, dist);
  const wasmUrl = new URL(`${name}.wasm`, dist);
  let modPromise;
  if (isNode) {
    const fs = await import('node:fs/promises');
    const { fileURLToPath } = await import('node:url');
    modPromise = fs.readFile(fileURLToPath(wasmUrl)).then((b) => WebAssembly.compile(b));
  } else {
    modPromise = fetch(wasmUrl).then(async (r) => {
      if (!r.ok) throw new WispError('NETWORK', `cannot fetch ${wasmUrl}: HTTP ${r.status}`);
      if (WebAssembly.compileStreaming && /application\/wasm/.test(r.headers.get('content-type') || '')) {
        return WebAssembly.compileStreaming(r);
      }
      return WebAssembly.compile(await r.arrayBuffer());
    });
  }
  const { default: createWisp } = await import(glue.href);
  const wasmModule = await modPromise;
  let nodePath = null;
  if (isNode) nodePath = await import('node:url');
  // maxMemory (bytes; mt only, whose memory is imported): cap the wasm memory, e.g. to keep a
  // tab's footprint bounded or to test out-of-memory handling. malloc then fails cleanly (OOM).
  const extra = {};
  if (args.maxMemory > 0) {
    if (args.variant === 'mt') {
      const pages = Math.min(65536, Math.max(512, Math.floor(args.maxMemory / 65536))); // >= INITIAL_MEMORY (32 MiB)
      extra.wasmMemory = new WebAssembly.Memory({ initial: 512, maximum: pages, shared: true });
    } else {
      log('maxMemory applies to the mt variant only; ignored', 'warn');
    }
  }
  // FIX (reliability): a failed instantiation used to be only logged, leaving the load
  // pending forever; now it rejects (and 'auto' falls back to st)
  let instFailed;
  const instFailure = new Promise((_, reject) => { instFailed = reject; });
  const poolSize = args.variant === 'mt' ? Math.max(0, args.threads - 1) : 0;
  // The glue runs with this object as its `Module` (MODULARIZE): after instantiation we need
  // its runtime methods (removeRunDependency, PThread), see instantiateWasm below.
  const moduleArg = {
    ...extra,
    wispPoolSize: poolSize,
    locateFile: (p) => {
      if (isNode) return nodePath.fileURLToPath(new URL(p, dist));
      const u = new URL(p, dist).href;
      return /\.worker\.js$/.test(p) ? pthreadWorkerUrl(u) : u;
    },
    mainScriptUrlOrBlob: glue.href,
    print: (s) => log(s, 'info'),
    printErr: (s) => log(s, 'warn'),
    onAbort: (what) => { dead = `wasm module aborted: ${what}`; },
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(wasmModule, imports).then((inst) => {
        receive(inst, wasmModule);
        // FIX (mt with threads: 1 hung forever): the mt glue is built with a pthread pool
        // whose size is a runtime expression (-sPTHREAD_POOL_SIZE=Module['wispPoolSize']|0).
        // Emscripten 3.1.6 chooses at compile time, from that non-empty expression, the code
        // path that removes the 'wasm-instantiate' run dependency only when the last
        // preloaded pool worker has loaded the module; with an empty pool (threads - 1 = 0)
        // no worker ever reports, so the dependency stays and createWisp() never resolves.
        // With no pool worker to wait for, remove it here (receive() has just installed the
        // exports and queued the constructors, so the runtime can start).
        if (args.variant === 'mt' && moduleArg.PThread && moduleArg.PThread.unusedWorkers.length === 0) {
          moduleArg.removeRunDependency('wasm-instantiate');
        }
      }, (e) => {
        log(`wasm instantiation failed: ${e.message || e}`, 'error');
        instFailed(new WispError('UNSUPPORTED', `wasm instantiation failed (${args.variant}): ${e.message || e}`));
      });
      return {};
    },
  };
  const mod = await Promise.race([instFailure, createWisp(moduleArg)]);
  return mod;
}

// ------------------------------------------------------------------ load

async function opLoad(id, args) {
  if (M) throw new WispError('INVALID_ARG', 'this worker already holds a model');
  const ctl = new AbortController();
  running.set(id, { abort: () => ctl.abort() });
  try {
    variant = args.variant;
    // relaxed SIMD where the engine has it ('auto'), or as asked
    const wantSimd = args.simd || 'auto';
    const haveRelaxed = relaxedSimdSupported();
    if (wantSimd === 'relaxed' && !haveRelaxed) {
      throw new WispError('UNSUPPORTED', 'simd "relaxed" needs a WebAssembly engine with relaxed SIMD (Chrome/Edge 114+, Firefox 120+; Node.js 20 with --experimental-wasm-relaxed-simd)');
    }
    args = { ...args, simd: wantSimd === 'base' || !haveRelaxed ? 'base' : 'relaxed' };
    // an abort is honoured while the module starts too (instantiation never looks at the
    // signal; a start that never finishes must not make the load unabortable)
    const aborted = new Promise((_, reject) => ctl.signal.addEventListener('abort', () => reject(abortError('model load aborted')), { once: true }));
    aborted.catch(() => {});
    for (;;) {
      try {
        M = await Promise.race([instantiate(args), aborted]);
        break;
      } catch (e) {
        if (ctl.signal.aborted) throw e;
        if (args.simd === 'relaxed' && wantSimd === 'auto') {
          log(`relaxed-SIMD build failed to start (${e.message || e}); using the plain SIMD128 build`, 'warn');
          args = { ...args, simd: 'base' };
        } else if (args.variant === 'mt' && args.allowFallback) {
          log(`mt variant failed to start (${e.message || e}); falling back to st`, 'warn');
          variant = 'st';
          args = { ...args, variant: 'st', variantReason: `mt failed to start: ${e.message || e}` };
        } else {
          throw e;
        }
      }
    }
    if (ctl.signal.aborted) throw abortError();
    const emit = (p) => post({ type: 'progress', id, ...p });
    const t0 = Date.now();

    // Node file path: a disk-backed Blob
    if (args.source && typeof args.source === 'object' && typeof args.source.file === 'string') {
      const fs = await import('node:fs');
      const path = await import('node:path');
      if (!fs.openAsBlob) throw new WispError('UNSUPPORTED', 'loading a file path needs Node >= 19.8 (fs.openAsBlob)');
      let blob;
      try { blob = await fs.openAsBlob(args.source.file); } catch (e) { throw new WispError('IO', `cannot open ${args.source.file}: ${e.message}`); }
      Object.defineProperty(blob, 'name', { value: path.basename(args.source.file) });
      args = { ...args, source: blob };
    }
    // cache lookup
    let source = args.source;
    let fromCache = false;
    let cacheMeta = null;
    const useCache = args.cache !== false && typeof source === 'string' && cacheAvailable();
    if (useCache) {
      try {
        const hit = await cacheLookup(source);
        if (hit) {
          log(`loading ${source} from the cache (${fmtBytes(hit.meta.size)})`);
          source = hit.blob;
          fromCache = true;
          cacheMeta = hit.meta;
        }
      } catch (e) {
        log(`cache lookup failed: ${e.message || e}`, 'warn');
      }
    }

    const o = {
      signal: ctl.signal, retries: args.retries ?? 5, retryDelayMs: args.retryDelayMs ?? 500,
      chunkSize: args.chunkSize, concurrency: args.concurrency, headerBytes: args.headerBytes,
      emit: (p) => emit(fromCache ? { ...p, phase: p.phase === 'download' ? 'cache' : p.phase } : p),
      log: (m) => log(m, 'warn'), isNode,
      describe: fromCache ? `cached copy of ${args.source}` : undefined,
      // the header bytes are needed after the load only to hash the file or to cache it
      keepHeader: useCache || !!args.sha256,
    };
    const nCtxWanted = args.contextSize | 0;
    let weightsPtr = 0;
    let ctxSize = 0;
    const sink = {
      begin(hdr, total) {
        const p = M._wx_malloc(hdr.length) >>> 0;
        if (!p) throw new WispError('OOM', `cannot allocate ${hdr.length} bytes for the header`);
        heap().set(hdr, p);
        const s = M._wx_begin(p, hdr.length, total);
        if (s === 7 /* NEED_MORE */) return M._wx_needed();
        check(s, 'cannot load the model');
        return 0;
      },
      layout() {
        weightsPtr = M._wx_weights_ptr() >>> 0;
        return { dataOffset: M._wx_weights_offset(), size: M._wx_weights_size() };
      },
      async afterBegin(L, total) {
        const hdrInfo = JSON.parse(M.UTF8ToString(M._wx_info_json()));
        ctxSize = nCtxWanted > 0 ? nCtxWanted : Math.min(hdrInfo.nCtxTrain || 4096, 4096);
        const kv = M._wx_kv_bytes(ctxSize);
        // logits + activations + attention scratch: generous upper bound
        const scratch = 16 * 2 ** 20 + hdrInfo.nVocab * 4 * 4 + ctxSize * hdrInfo.nHead * 4 * 4 + hdrInfo.nEmbd * 64 * 4;
        const used = heap().length;
        const need = L.size + kv + scratch;
        const msg = `model needs ${fmtBytes(L.size)} of weights + ${fmtBytes(kv)} of KV cache at context ${ctxSize}`;
        if (need > 4 * 2 ** 30 - 64 * 2 ** 20) {
          throw new WispError('OOM', `${msg}: more than fits in wasm32's 4 GiB address space; try a smaller contextSize or a smaller model`);
        }
        // FIX (reliability): refuse a context the model cannot have before the download,
        // not after it (wisp_context_init would refuse it only once the weights are in)
        if (hdrInfo.nCtxTrain && ctxSize > hdrInfo.nCtxTrain) {
          throw new WispError('INVALID_ARG', `contextSize ${ctxSize} exceeds the model's trained context length ${hdrInfo.nCtxTrain}`);
        }
        // model facts as soon as the header is parsed (before the weights are downloaded)
        post({ type: 'info', id, info: { ...hdrInfo, contextSize: ctxSize, fileBytes: total ?? null, kvBytes: kv, variant, simd: args.simd, threads: variant === 'mt' ? args.threads : 1, variantReason: args.variantReason } });
        const s = M._wx_reserve(kv + scratch);
        if (s !== 0) throw new WispError('OOM', `${msg}: ${lastError()} (wasm memory is ${fmtBytes(used)})`);
      },
      write(pos, piece) {
        heap().set(piece, weightsPtr + pos);
      },
    };

    let res;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await streamModel(source, sink, o);
        break;
      } catch (e) {
        M._wx_unload();
        if (e instanceof ChangedError && attempt < 2) {
          log(`${e.message}; restarting the download`, 'warn');
          continue;
        }
        if (fromCache && !(e && e.name === 'AbortError')) {
          // a bad cache entry: drop it and go to the network
          log(`cached copy unusable (${e.message}); fetching again`, 'warn');
          try { const { cacheDelete } = await import('./cache.js'); await cacheDelete(args.source); } catch {}
          source = args.source;
          fromCache = false;
          o.describe = undefined;
          continue;
        }
        throw e;
      }
    }
    if (ctl.signal.aborted) throw abortError();
    const downloadMs = Date.now() - t0;

    // whole file, in order, from the heap: for sha256 and the cache
    const W = { off: M._wx_weights_offset(), size: M._wx_weights_size() };
    async function* fileChunks() {
      yield res.header.slice();
      const step = 4 * 2 ** 20;
      for (let p = 0; p < W.size; p += step) {
        if (!M) return;
        yield heap().slice(weightsPtr + p, weightsPtr + Math.min(W.size, p + step));
      }
      if (res.tail.length) yield res.tail.slice();
    }

    let sha = '';
    const wantSha = (args.sha256 || '').toLowerCase();
    if (wantSha && !(fromCache && cacheMeta && cacheMeta.sha256 === wantSha)) {
      emit({ phase: 'verify', loaded: 0, total: res.total, bytesPerSec: 0, etaSec: null });
      const h = await createSha256();
      for await (const c of fileChunks()) h.update(c);
      sha = h.hex();
      if (sha !== wantSha) {
        if (fromCache) { try { const { cacheDelete } = await import('./cache.js'); await cacheDelete(args.source); } catch {} }
        throw new WispError('INTEGRITY', `sha256 mismatch for ${args.source}: expected ${wantSha}, got ${sha}`);
      }
    } else if (wantSha) {
      sha = wantSha;
    }

    emit({ phase: 'init', loaded: res.total, total: res.total, bytesPerSec: 0, etaSec: 0 });
    check(M._wx_finish(), 'cannot load the model');
    check(M._wx_context_init(ctxSize, variant === 'mt' ? args.threads : 1), 'cannot create the context');

    let cached = fromCache ? 'hit' : 'off';
    if (useCache && !fromCache) {
      try {
        emit({ phase: 'cache-store', loaded: 0, total: res.total, bytesPerSec: 0, etaSec: null });
        await cacheStore(args.source, { size: res.total, etag: res.validators.etag, lastModified: res.validators.lastModified, sha256: sha }, fileChunks());
        cached = 'stored';
      } catch (e) {
        cached = `store failed: ${e.message || e}`;
        log(`could not cache the model: ${e.message || e}`, 'warn');
      }
    }

    info = JSON.parse(M.UTF8ToString(M._wx_info_json()));
    Object.assign(info, {
      contextSize: M._wx_n_ctx(),
      fileBytes: res.total,
      variant,
      variantReason: args.variantReason,
      simd: args.simd,
      threads: variant === 'mt' ? args.threads : 1,
      source: typeof args.source === 'string' ? args.source : (args.source.name || 'Blob'),
      loadMode: fromCache ? 'cache' : res.mode,
      cache: cached,
      sha256: sha || null,
      loadMs: Date.now() - t0,
      downloadMs,
      wasmMemoryBytes: heap().length,
    });
    kvTokens = [];
    return info;
  } catch (e) {
    if (M && !dead) { try { M._wx_unload(); } catch {} }
    if (ctl.signal.aborted && !(e && e.name === 'AbortError')) throw abortError('model load aborted');
    throw e;
  } finally {
    running.delete(id);
  }
}

// ------------------------------------------------------------------ tokenizer

const enc = new TextEncoder();
const dec = new TextDecoder();

function needModel() {
  if (!M || !info) throw new WispError('INVALID_ARG', 'no model loaded');
}

function tokenize(text, addBos, parseSpecial) {
  const bytes = enc.encode(text);
  const tp = M._wx_malloc(bytes.length) >>> 0;
  // FIX (reliability): malloc returns 0 when wasm memory cannot grow; writing there would
  // silently corrupt the heap, so fail with OOM instead
  if (!tp) throw new WispError('OOM', `out of wasm memory: cannot allocate ${bytes.length} bytes for the text`);
  heap().set(bytes, tp);
  let cap = bytes.length + 8;
  try {
    for (;;) {
      const op = M._wx_malloc(cap * 4) >>> 0;
      if (!op) throw new WispError('OOM', `out of wasm memory: cannot allocate ${cap} token ids`); // FIX (reliability)
      try {
        const n = M._wx_tokenize(tp, bytes.length, op, cap, addBos ? 1 : 0, parseSpecial ? 1 : 0);
        if (n < 0) throw new WispError(statusName(-n), lastError());
        if (n <= cap) return Array.from(new Int32Array(heap().buffer, op, n));
        cap = n;
      } finally {
        M._wx_free(op);
      }
    }
  } finally {
    M._wx_free(tp);
  }
}

function pieceText(n) {
  if (n < 0) throw new WispError(statusName(-n), lastError());
  const p = M._wx_piece_ptr() >>> 0;
  return dec.decode(heap().slice(p, p + n));
}

function detokenize(ids, special) {
  M._wx_detok_reset(special ? 1 : 0);
  let s = '';
  for (const t of ids) {
    if (!Number.isInteger(t) || t < 0 || t >= info.nVocab) throw new WispError('INVALID_ARG', `invalid token id ${t}`);
    s += pieceText(M._wx_detok_push(t));
  }
  s += pieceText(M._wx_detok_flush());
  return s;
}

// ------------------------------------------------------------------ generation

const yieldTurn = (() => {
  // A macrotask without setTimeout's 4 ms clamp: lets 'abort' messages in between steps.
  // FIX (reliability): not a MessageChannel in Node: Node drains a port's queue (up to 1000
  // messages) before looking at parentPort, so 'abort'/'unload' waited for the whole
  // generation. setImmediate runs after the poll phase, where parentPort messages arrive.
  if (isNode && typeof setImmediate === 'function') return () => new Promise((r) => setImmediate(r));
  if (typeof MessageChannel !== 'undefined') {
    const ch = new MessageChannel();
    const q = [];
    ch.port1.onmessage = () => q.shift()();
    if (ch.port1.unref) ch.port1.unref();
    return () => new Promise((r) => { q.push(r); ch.port2.postMessage(0); });
  }
  return () => new Promise((r) => setTimeout(r, 0));
})();

function decode(tokens) {
  const p = M._wx_malloc(tokens.length * 4) >>> 0;
  if (!p) throw new WispError('OOM', `out of wasm memory: cannot allocate ${tokens.length} token ids`); // FIX (reliability)
  try {
    new Int32Array(heap().buffer, p, tokens.length).set(tokens);
    const s = M._wx_decode(p, tokens.length);
    if (s !== 0) throw new WispError(statusName(s), `decode failed: ${lastError() || statusName(s)}`);
  } finally {
    M._wx_free(p);
  }
  kvTokens.push(...tokens);
}

function num(v, dflt, name, ok) {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || (ok && !ok(v))) throw new WispError('INVALID_ARG', `invalid ${name}: ${v}`);
  return v;
}

async function opGenerate(id, a) {
  needModel();
  if (busy) throw new WispError('INVALID_ARG', 'a generation is already running on this model');
  busy = true;
  let aborted = false;
  running.set(id, { abort: () => { aborted = true; } });
  try {
    const t0 = performance.now();
    const maxTokens = num(a.maxTokens, 256, 'maxTokens', (v) => v >= 0 && Number.isInteger(v));
    const temperature = num(a.temperature, 0.8, 'temperature');
    const topK = num(a.topK, 40, 'topK', Number.isInteger);
    const topP = num(a.topP, 0.95, 'topP');
    const minP = num(a.minP, 0.05, 'minP');
    const repeatPenalty = num(a.repeatPenalty, 1.0, 'repeatPenalty');
    // FIX (reliability): a negative window used to become 64 silently (in wx_sampler_init);
    // it is an error, like in the C API (0 disables the penalty window)
    const repeatLastN = num(a.repeatLastN, 64, 'repeatLastN (an integer in [0, 1048576])', (v) => Number.isInteger(v) && v >= 0 && v <= 2 ** 20);
    const seed = num(a.seed, Math.floor(Math.random() * 2 ** 32), 'seed', (v) => v >= 0 && Number.isInteger(v));
    const stops = (a.stop == null ? [] : Array.isArray(a.stop) ? a.stop : [a.stop]).filter((s) => typeof s === 'string' && s.length);
    const ignoreEos = !!a.ignoreEos;

    let prompt;
    if (typeof a.prompt === 'string') {
      prompt = tokenize(a.prompt, a.addBos !== false && info.addBos, !!a.parseSpecial);
    } else if (Array.isArray(a.prompt)) {
      prompt = a.prompt.map((t) => {
        if (!Number.isInteger(t) || t < 0 || t >= info.nVocab) throw new WispError('INVALID_ARG', `invalid token id ${t}`);
        return t;
      });
    } else {
      throw new WispError('INVALID_ARG', 'prompt must be a string or an array of token ids');
    }
    if (!prompt.length) throw new WispError('INVALID_ARG', 'empty prompt');
    const nCtx = M._wx_n_ctx();
    if (prompt.length >= nCtx) throw new WispError('CONTEXT_FULL', `prompt has ${prompt.length} tokens; the context holds ${nCtx}`);

    check(M._wx_sampler_init(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed), 'invalid sampling parameters');

    // reuse the KV cache for the longest common prefix (at least one token is evaluated)
    let k = 0;
    while (k < kvTokens.length && k < prompt.length && kvTokens[k] === prompt[k]) k++;
    if (k === prompt.length) k--;
    check(M._wx_truncate(k), 'truncate');
    kvTokens.length = k;
    for (const t of prompt.slice(Math.max(0, prompt.length - repeatLastN))) M._wx_sampler_accept(t);

    // prefill in chunks, one per message turn (abortable between chunks)
    const tp0 = performance.now();
    const todo = prompt.slice(k);
    const CHUNK = 64;
    for (let i = 0; i < todo.length; i += CHUNK) {
      if (aborted) throw abortError('generation aborted');
      decode(todo.slice(i, i + CHUNK));
      if (i + CHUNK < todo.length) await yieldTurn();
    }
    const prefillMs = performance.now() - tp0;

    M._wx_detok_reset(0);
    let held = '';       // text not yet emitted (may be the start of a stop string)
    // continueFrom {ids, held}: this generation continues a reply whose first tokens (ids) were
    // produced by an earlier generate() that stopped at a full context (model.chat() after
    // dropping old turns). The detokenizer is replayed over them so that it is in the state it
    // was: no SentencePiece leading-space strip on the first new token (that strip is for the
    // start of a text only), and a UTF-8 character split across the two generations completes.
    // held is the earlier generation's held-back text (a possible stop-string prefix).
    const cont = a.continueFrom;
    if (cont != null) {
      if (typeof cont !== 'object' || !Array.isArray(cont.ids)) throw new WispError('INVALID_ARG', 'continueFrom must be {ids: number[], held?: string}');
      for (const t of cont.ids) {
        if (!Number.isInteger(t) || t < 0 || t >= info.nVocab) throw new WispError('INVALID_ARG', `invalid token id ${t}`);
        if (M._wx_detok_push(t) < 0) throw new WispError('INVALID_ARG', lastError());
      }
      held = typeof cont.held === 'string' ? cont.held : '';
    }
    let generated = 0;
    let ttftMs = null;
    let stopReason = 'length';
    let tDecode0 = performance.now();
    let pendingToken = null;
    const holdLen = (s) => {
      // longest suffix of s that is a proper prefix of some stop string
      let best = 0;
      for (const st of stops) {
        for (let n = Math.min(st.length - 1, s.length); n > best; n--) {
          if (s.endsWith(st.slice(0, n))) { best = n; break; }
        }
      }
      return best;
    };
    while (generated < maxTokens) {
      await yieldTurn();
      if (aborted) throw abortError('generation aborted');
      if (pendingToken !== null) {
        if (M._wx_n_past() >= nCtx) { stopReason = 'context'; break; }
        decode([pendingToken]);
        pendingToken = null;
      }
      const t = M._wx_sample();
      if (t < 0) throw new WispError(statusName(-t), lastError());
      if (!ignoreEos && M._wx_is_eog(t)) { stopReason = 'eos'; break; }
      M._wx_sampler_accept(t);
      generated++;
      if (ttftMs === null) { ttftMs = performance.now() - t0; tDecode0 = performance.now(); }
      held += pieceText(M._wx_detok_push(t));
      let text = '';
      let stopHit = -1;
      for (const st of stops) {
        const i = held.indexOf(st);
        if (i >= 0 && (stopHit < 0 || i < stopHit)) stopHit = i;
      }
      if (stopHit >= 0) {
        text = held.slice(0, stopHit);
        held = '';
        post({ type: 'token', id, token: t, text });
        stopReason = 'stop';
        pendingToken = t;
        break;
      }
      const h = holdLen(held);
      text = held.slice(0, held.length - h);
      held = held.slice(held.length - h);
      post({ type: 'token', id, token: t, text });
      pendingToken = t;
    }
    // kvTokens holds exactly what is in the KV cache (the last sampled token is never
    // evaluated), so the next generate() reuses the longest common prefix
    const heldAtEnd = held;
    const rest = stopReason === 'stop' ? '' : held + pieceText(M._wx_detok_flush());
    const decodeMs = performance.now() - tDecode0;
    const stats = {
      promptTokens: prompt.length,
      prefilledTokens: todo.length,
      generatedTokens: generated,
      prefillTokPerSec: prefillMs > 0 ? todo.length / (prefillMs / 1000) : null,
      decodeTokPerSec: generated > 1 && decodeMs > 0 ? (generated - 1) / (decodeMs / 1000) : null,
      ttftMs,
      totalMs: performance.now() - t0,
      stopReason,
    };
    // resume: what a continuation needs (continueFrom.held); `rest` has the same text plus any
    // incomplete UTF-8 bytes flushed as U+FFFD, which a continuation completes instead
    return { stats, text: rest, resume: stopReason === 'context' ? { held: heldAtEnd } : null };
  } finally {
    running.delete(id);
    busy = false;
  }
}

// ------------------------------------------------------------------ dispatch

const ops = {
  load: opLoad,
  tokenize: async (id, a) => { needModel(); return tokenize(String(a.text), !!a.addBos && info.addBos, !!a.parseSpecial); },
  detokenize: async (id, a) => { needModel(); return detokenize(Array.from(a.ids || []), !!a.special); },
  generate: opGenerate,
  abort: async (id, a) => { const r = running.get(a.target); if (r) r.abort(); return !!r; },
  unload: async () => {
    for (const r of running.values()) r.abort();
    if (M && !dead) M._wx_unload();
    info = null;
    kvTokens = [];
    return true;
  },
  // wasm memory size and malloc'd bytes in use (tests: leaks across loads/generations)
  memStats: async () => ({
    wasmMemoryBytes: M ? heap().length : 0,
    mallocBytes: M && M._wx_mem_in_use ? M._wx_mem_in_use() : null,
  }),
  __trap: async () => {
    needModel();
    // an out-of-bounds read far beyond the current memory size
    M._wx_tokenize(0xfff00000, 4096, 0xfff00000, 16, 0, 0);
    return 'no trap';
  },
};

port.on(async (msg) => {
  const { id, op, args } = msg || {};
  if (dead && op !== 'unload') {
    post({ id, ok: false, error: { name: 'WispError', code: 'TRAP', message: dead } });
    return;
  }
  const fn = ops[op];
  if (!fn) {
    post({ id, ok: false, error: { name: 'WispError', code: 'INVALID_ARG', message: `unknown op ${op}` } });
    return;
  }
  try {
    const result = await fn(id, args || {});
    post({ id, ok: true, result });
  } catch (e) {
    if (isTrap(e) || dead) {
      dead = dead || `the wasm module trapped during ${op}: ${e && e.message ? e.message : e}`;
      post({ id, ok: false, error: { name: 'WispError', code: 'TRAP', message: dead } });
      return;
    }
    post({ id, ok: false, error: serializeError(e) });
  }
});
post({ type: 'ready' });
