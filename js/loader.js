// loader.js — streaming GGUF loader used inside js/worker.js.
//
// A model file is:  [0, dataOffset) header   [dataOffset, dataOffset+size) tensor data   [.., total) tail
// 1. The header is read with a small Range request and grown until wisp_model_begin
//    stops saying NEED_MORE (sink.begin returns 0). begin() allocates the weights buffer,
//    and the caller checks memory for weights + KV cache, so a model that cannot fit
//    fails BEFORE any tensor data is downloaded.
// 2. Tensor data is fetched with parallel Range requests (`concurrency` in flight,
//    `chunkSize` bytes each); every piece of every response body is written straight
//    into the wasm weights buffer (sink.write -> HEAPU8.set at the right offset): no
//    whole-file ArrayBuffer and no second copy.
// 3. Robustness: retries with exponential backoff on network errors, 5xx/408/429,
//    truncated bodies and bad Content-Range (resuming at the last byte written);
//    validators (ETag, Last-Modified, total size) are compared on every response and a
//    change restarts the whole load cleanly (ChangedError); a server that ignores Range
//    (200 + whole body) is streamed sequentially; 404 / HTML / wrong magic fail clearly.
// File/Blob sources (and cached models) go through the same path with Blob.slice().
import { WispError, abortError } from './errors.js';

export class ChangedError extends WispError {
  constructor(message) { super('CHANGED', message); }
}
class RangeIgnored extends Error {
  constructor(resp) { super('server ignored the Range header'); this.resp = resp; }
}
class Retryable extends Error {}

const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46]; // "GGUF"

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(abortError());
    const t = setTimeout(() => { signal && signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(abortError()); };
    signal && signal.addEventListener('abort', onAbort, { once: true });
  });
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function fmtBytes(n) {
  if (n >= 2 ** 30) return (n / 2 ** 30).toFixed(2) + ' GiB';
  if (n >= 2 ** 20) return (n / 2 ** 20).toFixed(1) + ' MiB';
  if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
  return n + ' B';
}
export { fmtBytes };

// Checks the first bytes: a clear error for HTML pages and other non-GGUF content.
export function checkMagic(bytes, what, contentType) {
  if (bytes.length >= 4 && GGUF_MAGIC.every((b, i) => bytes[i] === b)) return;
  const head = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 256)).trimStart().toLowerCase();
  if ((contentType && /text\/html/i.test(contentType)) || head.startsWith('<!doctype') || head.startsWith('<html') || head.startsWith('<')) {
    throw new WispError('FORMAT', `${what} is an HTML page, not a GGUF model (content-type ${contentType || 'unknown'}); check the URL`);
  }
  if (bytes.length < 4) throw new WispError('FORMAT', `${what} is too short (${bytes.length} bytes) to be a GGUF model`);
  const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new WispError('FORMAT', `${what} is not a GGUF file (magic bytes ${hex}, expected 47 47 55 46 "GGUF")`);
}

function parseContentRange(v) {
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v || '');
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]) + 1, total: m[3] === '*' ? null : Number(m[3]) };
}

function validatorsOf(resp, total) {
  return { etag: resp.headers.get('etag') || '', lastModified: resp.headers.get('last-modified') || '', total };
}

function sameFile(a, b) {
  if (a.total != null && b.total != null && a.total !== b.total) return `size changed from ${a.total} to ${b.total} bytes`;
  if (a.etag && b.etag && a.etag !== b.etag) return `ETag changed from ${a.etag} to ${b.etag}`;
  if (a.lastModified && b.lastModified && a.lastModified !== b.lastModified) return `Last-Modified changed from ${a.lastModified} to ${b.lastModified}`;
  return null;
}

async function httpError(resp, url) {
  try { await resp.body?.cancel(); } catch {}
  return new WispError('NETWORK', `HTTP ${resp.status}${resp.statusText ? ' ' + resp.statusText : ''} for ${url}`, { status: resp.status });
}

const retryableStatus = (s) => s >= 500 || s === 408 || s === 429;

// A reader of a response body that, when the stream is a byte stream (fetch bodies in
// Chromium, Firefox and Node), reads every piece into ONE reused buffer (BYOB): the buffer
// is handed to the stream and comes back with the bytes, so a download leaves no garbage.
// With a default reader every piece is a fresh ArrayBuffer that only a GC frees, and a
// worker that goes idle after the load may not collect for a long time: measured in
// Chromium, a 531 MB model left ~300 MiB of dead pieces in the renderer after the load.
// A piece is valid only until the next read() (consumers copy it: into the wasm heap, the
// header buffer...). cancel() ends the reader and gives its buffer to the next one: a
// download makes one Range request per chunk (64 for a 531 MB model in 8 MiB chunks), and a
// new 256 KiB buffer for each was 16 MiB of garbage the worker kept until some later GC.
export const BYOB_BYTES = 256 * 1024;
const byobPool = []; // buffers of finished readers (at most BYOB_POOL_MAX)
const BYOB_POOL_MAX = 8;
export const byobPoolSize = () => byobPool.length;
export function bodyReader(body) {
  let byob = null;
  try { byob = body.getReader({ mode: 'byob' }); } catch { byob = null; }
  if (!byob) {
    const r = body.getReader();
    return { read: () => r.read(), cancel: () => r.cancel(), byob: false };
  }
  let buf = byobPool.pop() || new ArrayBuffer(BYOB_BYTES);
  return {
    async read() {
      const r = await byob.read(new Uint8Array(buf, 0, buf.byteLength));
      if (r.value) buf = r.value.buffer; // the same memory, transferred back
      if (r.done) return { done: true, value: undefined };
      return r;
    },
    cancel() {
      // a buffer still out with the stream (a read that failed) is detached: byteLength 0
      if (buf && buf.byteLength === BYOB_BYTES && byobPool.length < BYOB_POOL_MAX) byobPool.push(buf);
      buf = null;
      return byob.cancel();
    },
    byob: true,
  };
}

// ------------------------------------------------------------------ HTTP source

class HttpSource {
  constructor(url, o) {
    this.url = url;
    this.o = o; // {signal, retries, retryDelayMs, fetch, log}
    this.validators = null;
    this.total = null;
    this.describe = url;
  }

  async backoff(attempt, why) {
    if (attempt > this.o.retries) {
      throw new WispError('NETWORK', `giving up on ${this.url} after ${this.o.retries} retries: ${why}`);
    }
    const ms = Math.min(8000, this.o.retryDelayMs * 2 ** (attempt - 1)) * (0.75 + 0.5 * Math.random());
    this.o.log && this.o.log(`retry ${attempt}/${this.o.retries} in ${Math.round(ms)} ms: ${why}`);
    await sleep(ms, this.o.signal);
  }

  async fetch(headers) {
    const init = { headers, signal: this.o.signal };
    if (!this.o.isNode) init.cache = 'no-store';
    return (this.o.fetch || fetch)(this.url, init);
  }

  // First request: Range for the first `n` bytes. Returns {mode:'range', bytes} or
  // {mode:'sequential', resp} when the server ignores Range.
  async open(n) {
    for (let attempt = 1; ; attempt++) {
      let resp;
      try {
        resp = await this.fetch({ Range: `bytes=0-${n - 1}` });
      } catch (e) {
        if (this.o.signal.aborted) throw abortError();
        await this.backoff(attempt, `network error: ${e.message || e}`);
        continue;
      }
      if (retryableStatus(resp.status)) {
        try { await resp.body?.cancel(); } catch {}
        await this.backoff(attempt, `HTTP ${resp.status}`);
        continue;
      }
      const ctype = resp.headers.get('content-type') || '';
      if (resp.status === 200) {
        const len = resp.headers.get('content-length');
        if (len == null) {
          // look at the first bytes first: an HTML page deserves a clearer error
          const reader = bodyReader(resp.body);
          let head = new Uint8Array(0);
          try {
            while (head.length < 64) {
              const r = await reader.read();
              if (r.done) break;
              head = concat(head, r.value);
            }
          } finally { reader.cancel().catch(() => {}); }
          checkMagic(head, this.url, ctype);
          throw new WispError('UNSUPPORTED', `${this.url}: the server supports neither Range requests nor Content-Length`);
        }
        this.total = Number(len);
        this.validators = validatorsOf(resp, this.total);
        this.contentType = ctype;
        return { mode: 'sequential', resp };
      }
      if (resp.status !== 206) throw await httpError(resp, this.url);
      const cr = parseContentRange(resp.headers.get('content-range'));
      if (!cr || cr.start !== 0 || cr.total == null) {
        try { await resp.body?.cancel(); } catch {}
        if (attempt <= this.o.retries) { await this.backoff(attempt, `bad Content-Range "${resp.headers.get('content-range')}"`); continue; }
        throw new WispError('NETWORK', `${this.url}: bad Content-Range "${resp.headers.get('content-range')}" for bytes 0-${n - 1}`);
      }
      this.total = cr.total;
      this.validators = validatorsOf(resp, cr.total);
      this.contentType = ctype;
      const want = Math.min(n, cr.total);
      const buf = new Uint8Array(want);
      try {
        await this.readBody(resp, 0, want, (pos, piece) => buf.set(piece, pos));
        return { mode: 'range', bytes: buf };
      } catch (e) {
        if (e instanceof Retryable) {
          // fall back to the general range reader for what is missing
          const got = e.pos || 0;
          await this.readRange(got, want, (pos, piece) => buf.set(piece, pos));
          return { mode: 'range', bytes: buf };
        }
        throw e;
      }
    }
  }

  // Streams resp's body (which should hold file bytes [start, end)) to onPiece(pos, piece).
  // Throws Retryable (with .pos = next byte wanted) on a dropped or truncated body.
  async readBody(resp, start, end, onPiece) {
    let pos = start;
    const reader = bodyReader(resp.body);
    try {
      for (;;) {
        let r;
        try {
          r = await reader.read();
        } catch (e) {
          if (this.o.signal.aborted) throw abortError();
          const err = new Retryable(`connection lost at byte ${pos}: ${e.message || e}`);
          err.pos = pos;
          throw err;
        }
        if (r.done) break;
        let piece = r.value;
        if (pos + piece.length > end) piece = piece.subarray(0, end - pos);
        if (piece.length) onPiece(pos, piece);
        pos += piece.length;
        if (pos >= end) break;
      }
    } finally {
      try { reader.cancel().catch(() => {}); } catch {}
    }
    if (pos < end) {
      const err = new Retryable(`body ended early at byte ${pos} (expected up to ${end})`);
      err.pos = pos;
      throw err;
    }
  }

  // Reads file bytes [start, end) with Range requests, retrying and resuming.
  async readRange(start, end, onPiece) {
    let pos = start;
    let attempt = 0;
    while (pos < end) {
      let resp;
      try {
        resp = await this.fetch({ Range: `bytes=${pos}-${end - 1}` });
      } catch (e) {
        if (this.o.signal.aborted) throw abortError();
        await this.backoff(++attempt, `network error: ${e.message || e}`);
        continue;
      }
      if (retryableStatus(resp.status)) {
        try { await resp.body?.cancel(); } catch {}
        await this.backoff(++attempt, `HTTP ${resp.status}`);
        continue;
      }
      if (resp.status === 200) {
        const v = validatorsOf(resp, resp.headers.get('content-length') != null ? Number(resp.headers.get('content-length')) : null);
        const why = sameFile(this.validators, v);
        try { await resp.body?.cancel(); } catch {}
        if (why) throw new ChangedError(`${this.url} changed during the download (${why})`);
        throw new RangeIgnored(resp);
      }
      if (resp.status === 416) {
        // FIX (reliability): bytes inside the size the file had are "not satisfiable": it
        // shrank (was replaced) since the download started; restart, as for a new ETag
        const m = /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(resp.headers.get('content-range') || '');
        try { await resp.body?.cancel(); } catch {}
        throw new ChangedError(`${this.url} changed during the download (HTTP 416 for bytes ${pos}-${end - 1} of ${this.validators.total ?? '?'}${m ? `; the file now has ${m[1]} bytes` : ''})`);
      }
      if (resp.status !== 206) throw await httpError(resp, this.url);
      const cr = parseContentRange(resp.headers.get('content-range'));
      const v = validatorsOf(resp, cr ? cr.total : null);
      const why = sameFile(this.validators, v);
      if (why) {
        try { await resp.body?.cancel(); } catch {}
        throw new ChangedError(`${this.url} changed during the download (${why})`);
      }
      if (!cr || cr.start !== pos || cr.end > end || cr.end <= pos) {
        try { await resp.body?.cancel(); } catch {}
        await this.backoff(++attempt, `wrong Content-Range "${resp.headers.get('content-range')}" for requested bytes ${pos}-${end - 1}`);
        continue;
      }
      const before = pos;
      try {
        await this.readBody(resp, pos, cr.end, (p, piece) => { onPiece(p, piece); pos = p + piece.length; });
      } catch (e) {
        if (!(e instanceof Retryable)) throw e;
        if (pos > before) attempt = 0; // progress was made: the retry budget is per stall
        await this.backoff(++attempt, e.message);
        continue;
      }
      if (pos > before) attempt = 0;
    }
  }

  // The whole body from byte 0 (server without Range support); skips `skip` bytes.
  async *sequential(firstResp) {
    let resp = firstResp;
    let pos = 0;
    let attempt = 0;
    for (;;) {
      if (!resp) {
        try {
          resp = await this.fetch({});
        } catch (e) {
          if (this.o.signal.aborted) throw abortError();
          await this.backoff(++attempt, `network error: ${e.message || e}`);
          continue;
        }
        if (retryableStatus(resp.status)) {
          const st = resp.status;
          try { await resp.body?.cancel(); } catch {}
          resp = null;
          await this.backoff(++attempt, `HTTP ${st}`);
          continue;
        }
        if (resp.status !== 200 && resp.status !== 206) throw await httpError(resp, this.url);
        const v = validatorsOf(resp, resp.headers.get('content-length') != null ? Number(resp.headers.get('content-length')) : null);
        const why = sameFile(this.validators, v);
        if (why) {
          try { await resp.body?.cancel(); } catch {}
          throw new ChangedError(`${this.url} changed during the download (${why})`);
        }
      }
      let filePos = 0;
      const reader = bodyReader(resp.body);
      let failed = null;
      try {
        for (;;) {
          let r;
          try {
            r = await reader.read();
          } catch (e) {
            if (this.o.signal.aborted) throw abortError();
            failed = `connection lost at byte ${filePos}: ${e.message || e}`;
            break;
          }
          if (r.done) break;
          let piece = r.value;
          const end = filePos + piece.length;
          if (end > pos) {
            if (filePos < pos) piece = piece.subarray(pos - filePos);
            if (pos + piece.length > this.total) piece = piece.subarray(0, this.total - pos);
            if (piece.length) {
              yield { pos, piece };
              pos += piece.length;
              attempt = 0;
            }
          }
          filePos = end;
          if (pos >= this.total) break;
        }
      } finally {
        try { reader.cancel().catch(() => {}); } catch {}
      }
      if (pos >= this.total) return;
      resp = null;
      await this.backoff(++attempt, failed || `body ended early at byte ${pos} of ${this.total}`);
    }
  }
}

// ------------------------------------------------------------------ Blob source

class BlobSource {
  constructor(blob, o, describe) {
    this.blob = blob;
    this.o = o;
    this.total = blob.size;
    this.validators = { etag: '', lastModified: '', total: blob.size };
    this.describe = describe || (blob.name ? `file "${blob.name}"` : 'the Blob');
  }
  async open(n) {
    const want = Math.min(n, this.total);
    return { mode: 'range', bytes: new Uint8Array(await this.blob.slice(0, want).arrayBuffer()) };
  }
  async readRange(start, end, onPiece) {
    const slice = this.blob.slice(start, end);
    if (slice.stream) {
      const reader = slice.stream().getReader();
      let pos = start;
      for (;;) {
        if (this.o.signal.aborted) { reader.cancel().catch(() => {}); throw abortError(); }
        const r = await reader.read();
        if (r.done) break;
        onPiece(pos, r.value);
        pos += r.value.length;
      }
      if (pos !== end) throw new WispError('IO', `${this.describe}: read ${pos - start} of ${end - start} bytes at offset ${start}`);
    } else {
      onPiece(start, new Uint8Array(await slice.arrayBuffer()));
    }
  }
}

// ------------------------------------------------------------------ the load

// sink: { begin(headerBytes, total) -> needed (0 = ok), layout() -> {dataOffset, size},
//         afterBegin(layout) (memory checks; may throw), write(pos within weights, piece) }
// Returns { header: Uint8Array [0, dataOffset) (null with o.keepHeader === false, range mode),
//           tail: Uint8Array, total, validators, mode }.
export async function streamModel(source, sink, o) {
  const progress = makeProgress(o.emit);
  const src = (typeof source === 'string')
    ? new HttpSource(source, o)
    : new BlobSource(source, o, o.describe);
  const firstN = Math.max(4096, o.headerBytes || 256 * 1024);
  progress.phase('header', 0, null);
  const first = await src.open(firstN);
  const total = src.total;
  if (!total) throw new WispError('FORMAT', `${src.describe} is empty`);

  if (first.mode === 'range') {
    let hdr = first.bytes;
    checkMagic(hdr, src.describe, src.contentType);
    for (;;) {
      const needed = sink.begin(hdr, total);
      if (!needed) break;
      if (needed <= hdr.length || hdr.length >= total) throw new WispError('FORMAT', `${src.describe}: the header claims to need ${needed} bytes but the file has ${total}`);
      // the parser already grows its ask geometrically and extrapolates big arrays
      // (src/gguf.c): take it as is, read straight into the grown buffer (no concat)
      hdr = await growTo(src, hdr, Math.min(total, needed));
    }
    const L = sink.layout();
    const wEnd = L.dataOffset + L.size;
    if (wEnd > total) throw new WispError('FORMAT', `${src.describe}: tensor data ends at byte ${wEnd} but the file has ${total}`);
    await sink.afterBegin(L, total);
    progress.phase('download', 0, L.size);
    // header bytes [0, dataOffset) (kept for the cache / sha256 when o.keepHeader); overlap
    // goes to the weights
    if (hdr.length < L.dataOffset) hdr = await growTo(src, hdr, L.dataOffset);
    if (hdr.length > L.dataOffset) {
      const over = hdr.subarray(L.dataOffset, Math.min(hdr.length, wEnd));
      sink.write(0, over);
      progress.add(over.length);
    }
    const header = o.keepHeader === false ? null : hdr.length === L.dataOffset ? hdr : hdr.slice(0, L.dataOffset);
    const hdrLen = hdr.length;
    const tailStart = Math.max(wEnd, hdrLen);
    const tail = new Uint8Array(total - wEnd);
    if (hdr.length > wEnd) tail.set(hdr.subarray(wEnd, Math.min(hdr.length, total)), 0);
    // nothing holds the header buffer from here on: a worker that stays busy in wasm after
    // the load may not collect it for a long time (measured: tens of MiB of such garbage)
    hdr = null;
    // tensor data: parallel chunks straight into the heap
    const start = Math.min(Math.max(L.dataOffset, hdrLen), wEnd);
    const chunk = Math.max(64 * 1024, o.chunkSize || 8 * 2 ** 20);
    const chunks = [];
    for (let p = start; p < wEnd; p += chunk) chunks.push([p, Math.min(wEnd, p + chunk)]);
    let next = 0;
    let firstErr = null;
    const worker = async () => {
      while (next < chunks.length && !firstErr) {
        const [a, b] = chunks[next++];
        await src.readRange(a, b, (pos, piece) => {
          sink.write(pos - L.dataOffset, piece);
          progress.add(piece.length);
        });
      }
    };
    const n = Math.max(1, Math.min(o.concurrency || 4, chunks.length));
    await Promise.all(Array.from({ length: n }, () => worker().catch((e) => { firstErr = firstErr || e; })));
    if (firstErr) {
      if (firstErr instanceof RangeIgnored) throw new ChangedError(`${src.describe}: the server stopped honouring Range requests`);
      throw firstErr;
    }
    if (tailStart < total) await src.readRange(tailStart, total, (pos, piece) => tail.set(piece, pos - wEnd));
    progress.done();
    return { header, tail, total, validators: src.validators, mode: src instanceof HttpSource ? 'range' : 'blob' };
  }

  // sequential: the server sent the whole file with 200
  o.log && o.log(`${src.describe}: server ignores Range requests; streaming the body sequentially`);
  let hdr = new Uint8Array(0);
  let needed = firstN;
  let L = null;
  let header = null;
  let tail = null;
  let wEnd = 0;
  for await (const { pos, piece } of src.sequential(first.resp)) {
    if (!L) {
      hdr = concat(hdr, piece);
      if (hdr.length < 4) continue;
      if (hdr.length < Math.min(needed, total)) continue;
      checkMagic(hdr, src.describe, src.contentType);
      needed = sink.begin(hdr, total);
      if (needed) {
        if (needed <= hdr.length || hdr.length >= total) throw new WispError('FORMAT', `${src.describe}: the header claims to need ${needed} bytes but the file has ${total}`);
        continue;
      }
      L = sink.layout();
      wEnd = L.dataOffset + L.size;
      if (wEnd > total) throw new WispError('FORMAT', `${src.describe}: tensor data ends at byte ${wEnd} but the file has ${total}`);
      await sink.afterBegin(L, total);
      progress.phase('download', 0, L.size);
      tail = new Uint8Array(total - wEnd);
      if (hdr.length < L.dataOffset) { header = null; continue; }
      header = hdr.slice(0, L.dataOffset);
      routeSeq(hdr.subarray(L.dataOffset), L.dataOffset);
      hdr = null;
      continue;
    }
    if (!header) {
      // still collecting [0, dataOffset)
      hdr = concat(hdr, piece);
      if (hdr.length < L.dataOffset) continue;
      header = hdr.slice(0, L.dataOffset);
      routeSeq(hdr.subarray(L.dataOffset), L.dataOffset);
      hdr = null;
      continue;
    }
    routeSeq(piece, pos);
  }
  function routeSeq(piece, pos) {
    if (!piece.length) return;
    const a = Math.max(pos, L.dataOffset), b = Math.min(pos + piece.length, wEnd);
    if (b > a) {
      sink.write(a - L.dataOffset, piece.subarray(a - pos, b - pos));
      progress.add(b - a);
    }
    const ta = Math.max(pos, wEnd), tb = pos + piece.length;
    if (tb > ta) tail.set(piece.subarray(ta - pos, tb - pos), ta - wEnd);
  }
  if (!L) throw new WispError('FORMAT', `${src.describe}: incomplete GGUF header`);
  if (!header) throw new WispError('NETWORK', `${src.describe}: body ended inside the header`);
  progress.done();
  return { header, tail, total, validators: src.validators, mode: 'sequential' };
}

// A copy of hdr grown to `want` bytes, the new bytes read straight into it (one
// allocation per round; hdr itself becomes garbage).
async function growTo(src, hdr, want) {
  const grown = new Uint8Array(want);
  grown.set(hdr, 0);
  const base = hdr.length;
  hdr = null;
  await src.readRange(base, want, (pos, piece) => grown.set(piece, pos));
  return grown;
}

function makeProgress(emit) {
  let phase = 'header', loaded = 0, total = null, t0 = Date.now(), lastEmit = 0;
  const send = (force) => {
    const now = Date.now();
    if (!force && now - lastEmit < 100) return;
    lastEmit = now;
    const dt = (now - t0) / 1000;
    const bytesPerSec = dt > 0 ? loaded / dt : 0;
    const etaSec = total != null && bytesPerSec > 0 ? Math.max(0, (total - loaded) / bytesPerSec) : null;
    emit && emit({ phase, loaded, total, bytesPerSec, etaSec });
  };
  return {
    phase(p, l, t) { phase = p; loaded = l; total = t; t0 = Date.now(); send(true); },
    add(n) { loaded += n; send(false); },
    done() { send(true); },
  };
}
export { makeProgress };
