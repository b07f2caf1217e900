// faults.test.mjs — fault and limit behaviour of the JS API (js/wisp.js + js/worker.js) under
// Node: oversized models/contexts, out-of-memory inside wasm, prompts past the context, bad
// text and sampling values, aborts, unload mid-generation, two models at once, memory baseline.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { Wisp } from '../../js/wisp.js';
import { fixture, referenceIds, startServer } from './helpers.mjs';

const REF = (() => { try { return referenceIds('stories260K', 32); } catch { return null; } })();
const FAST = { variant: 'st', chunkSize: 128 * 1024, concurrency: 4, retryDelayMs: 5, cache: false, headerBytes: 4096 };
const DATA_START = 14176; // stories260K.gguf: where tensor data begins
const PROMPT = 'Once upon a time';

async function run(model, prompt = PROMPT, opts = {}) {
  const ids = [];
  let text = '';
  let done = null;
  for await (const ev of model.generate(prompt, { maxTokens: 32, temperature: 0, ...opts })) {
    if (ev.done) { done = ev; text += ev.text; } else { ids.push(ev.token); text += ev.text; }
  }
  return { ids, text, stats: done && done.stats };
}

async function rejectsCode(p, code, re) {
  await assert.rejects(typeof p === 'function' ? p() : p, (e) => {
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

const dataReqs = (log) => log.filter((e) => e.range && Number(/bytes=(\d+)/.exec(e.range)[1]) >= DATA_START);
const memStats = (model) => model._e.call('memStats', {});

async function withServer(t, opts, fn) {
  const file = fixture(t, 'models/stories260K.gguf');
  if (!file) return;
  const srv = await startServer({ routes: { '/m.gguf': { file } }, ...opts });
  try { await fn(srv, file); } finally { await srv.close(); }
}

// A server for a file that is mostly imaginary: `header` bytes, then zeros up to `total`.
async function startFakeBigServer(header, total) {
  const log = [];
  const server = http.createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    log.push({ range: req.headers.range || null });
    if (!m) { res.writeHead(200, { 'content-length': String(total) }); res.end(); return; } // never sends a body
    const start = Number(m[1]);
    const end = Math.min(total - 1, m[2] ? Number(m[2]) : start + 65535);
    const body = Buffer.alloc(end - start + 1);
    if (start < header.length) header.copy(body, 0, start, Math.min(header.length, end + 1));
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${total}`, 'content-length': String(body.length), 'accept-ranges': 'bytes', etag: '"big"' });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, log, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

test('too large: bad/oversized contextSize and an 8 GiB model fail before any tensor data is fetched', async (t) => {
  await withServer(t, {}, async (srv) => {
    for (const cs of [-1, 1.5, NaN, 2 ** 40, '512']) {
      await rejectsCode(Wisp.load(srv.url + '/m.gguf', { ...FAST, contextSize: cs }), 'INVALID_ARG', /contextSize/);
    }
    assert.equal(srv.log.length, 0, 'bad options are refused before any request');
    await rejectsCode(Wisp.load(srv.url + '/m.gguf', { ...FAST, contextSize: 100000 }), 'INVALID_ARG', /trained context length/);
    await rejectsCode(Wisp.load(srv.url + '/m.gguf', { ...FAST, contextSize: 8_000_000 }), 'OOM', /4 GiB/);
    assert.equal(dataReqs(srv.log).length, 0, 'no tensor data may be fetched');
  });
  // a header whose last tensor claims 2^31 F32 values (8 GiB), served as a 9 GiB file
  const file = fixture(t, 'models/stories260K.gguf');
  if (!file) return;
  const header = Buffer.from(fs.readFileSync(file).subarray(0, DATA_START));
  const name = Buffer.from('blk.4.ffn_norm.weight');
  const at = header.indexOf(name);
  assert.ok(at > 0 && header.readUInt32LE(at + name.length) === 1, 'tensor record found');
  header.writeBigUInt64LE(2n ** 31n, at + name.length + 4);
  const big = await startFakeBigServer(header, 9 * 2 ** 30);
  try {
    for (const variant of ['st', 'mt']) {
      await rejectsCode(Wisp.load(big.url + '/big.gguf', { ...FAST, variant, threads: 2 }), 'OOM', /weights|address space|memory/);
    }
    assert.equal(dataReqs(big.log).length, 0, 'no tensor data may be fetched for an 8 GiB model');
    // 64 MiB of weights against a 48 MiB cap: OOM from wisp_model_begin, before the download
    header.writeBigUInt64LE(2n ** 24n, at + name.length + 4);
    const mid = await startFakeBigServer(header, 80 * 2 ** 20);
    try {
      await rejectsCode(Wisp.load(mid.url + '/mid.gguf', { ...FAST, variant: 'mt', threads: 2, maxMemory: 48 * 2 ** 20 }), 'OOM', /cannot allocate/);
      assert.equal(dataReqs(mid.log).length, 0);
    } finally { await mid.close(); }
  } finally { await big.close(); }
});

test('out of memory inside wasm (maxMemory): clean OOM errors, never a silent trap', async (t) => {
  await withServer(t, {}, async (srv) => {
    // the minimum cap (32 MiB, the mt build's initial memory) still loads stories260K
    const small = await Wisp.load(srv.url + '/m.gguf', { ...FAST, variant: 'mt', threads: 2, maxMemory: 32 * 2 ** 20 });
    try {
      assert.deepEqual((await run(small)).ids, REF);
      assert.equal((await memStats(small)).wasmMemoryBytes, 32 * 2 ** 20);
    } finally { await small.unload(); }
    // enough to load, then a prompt that cannot fit in the remaining memory
    const model = await Wisp.load(srv.url + '/m.gguf', { ...FAST, variant: 'mt', threads: 2, maxMemory: 72 * 2 ** 20 });
    try {
      const before = await memStats(model);
      assert.ok(before.wasmMemoryBytes <= 72 * 2 ** 20, `memory ${before.wasmMemoryBytes}`);
      const huge = 'Once upon a time '.repeat(2_000_000); // 34 MB of text, 136+ MB of ids
      await rejectsCode(model.tokenize(huge), 'OOM', /out of wasm memory/);
      await rejectsCode(() => run(model, huge), 'OOM', /out of wasm memory/);
      // still usable, and nothing leaked by the failed calls
      const { ids } = await run(model);
      assert.deepEqual(ids, REF);
      const after = await memStats(model);
      assert.ok(after.wasmMemoryBytes <= 72 * 2 ** 20);
      const again = await run(model);
      assert.deepEqual(again.ids, REF);
      assert.equal((await memStats(model)).mallocBytes, after.mallocBytes, 'malloc in use is stable');
    } finally { await model.unload(); }
  });
});

test('prompts past the context, empty prompts, maxTokens 0, invalid UTF-8 and NUL bytes', async (t) => {
  await withServer(t, {}, async (srv) => {
    const model = await Wisp.load(srv.url + '/m.gguf', { ...FAST, contextSize: 32 });
    try {
      assert.equal(model.info.contextSize, 32);
      const long = 'Once upon a time there was a little girl named Lily. She liked to play outside in the sun with her dog.';
      await rejectsCode(() => run(model, long), 'CONTEXT_FULL', /context holds 32/);
      await rejectsCode(() => run(model, Array.from({ length: 40 }, () => 403)), 'CONTEXT_FULL');
      // the context fills up during generation: a clean stop, reason 'context'
      const r = await run(model, PROMPT, { maxTokens: 100, ignoreEos: true });
      assert.equal(r.stats.stopReason, 'context');
      assert.ok(r.ids.length > 20 && r.ids.length <= 28, `${r.ids.length} tokens`);
      assert.deepEqual(r.ids.slice(0, 20), REF.slice(0, 20));
      // empty prompts: BOS alone is a prompt; nothing at all is INVALID_ARG
      const e = await run(model, '', { maxTokens: 4 });
      assert.equal(e.stats.promptTokens, 1);
      await rejectsCode(() => run(model, '', { addBos: false }), 'INVALID_ARG', /empty prompt/);
      await rejectsCode(() => run(model, []), 'INVALID_ARG', /empty prompt/);
      // maxTokens 0: done at once
      const z = await run(model, PROMPT, { maxTokens: 0 });
      assert.equal(z.ids.length, 0);
      assert.equal(z.stats.generatedTokens, 0);
      assert.equal(z.stats.stopReason, 'length');
      // lone surrogates (the JS form of invalid UTF-8) become U+FFFD; NUL bytes are text
      const ids = await model.tokenize('a\uD800b\uDFFFc');
      assert.deepEqual(ids, await model.tokenize('a\uFFFDb\uFFFDc'));
      assert.equal(await model.detokenize(await model.tokenize('Once\0upon\0a time')), 'Once\0upon\0a time');
      const n = await run(model, 'Once\0upon a\uD800 time', { maxTokens: 4 });
      assert.equal(n.ids.length, 4);
      await rejectsCode(model.detokenize([1, -1]), 'INVALID_ARG');
      await rejectsCode(model.detokenize([1.5]), 'INVALID_ARG');
      await rejectsCode(() => run(model, [1, 512]), 'INVALID_ARG');
      await rejectsCode(() => run(model, { not: 'a prompt' }), 'INVALID_ARG');
      // after all that, the model still gives the reference tokens
      const ok = await run(model, PROMPT, { maxTokens: 20 });
      assert.deepEqual(ok.ids, REF.slice(0, 20));
    } finally { await model.unload(); }
  });
});

test('absurd sampling values are INVALID_ARG with a clear message; the model stays usable', async (t) => {
  await withServer(t, {}, async (srv) => {
    const model = await Wisp.load(srv.url + '/m.gguf', FAST);
    try {
      const bad = [
        [{ temperature: -1 }, /temperature/], [{ temperature: NaN }, /temperature/], [{ temperature: Infinity }, /temperature/],
        [{ temperature: '0.5' }, /temperature/], [{ topP: 1.5 }, /top_p/], [{ topP: 0 }, /top_p/], [{ topP: NaN }, /topP/],
        [{ minP: 2 }, /min_p/], [{ minP: -0.1 }, /min_p/], [{ repeatPenalty: 0 }, /repeat_penalty/], [{ repeatPenalty: -2 }, /repeat_penalty/],
        [{ maxTokens: -1 }, /maxTokens/], [{ maxTokens: 1.5 }, /maxTokens/], [{ maxTokens: Infinity }, /maxTokens/],
        [{ topK: 0.5 }, /topK/], [{ seed: -1 }, /seed/], [{ seed: 0.5 }, /seed/], [{ repeatLastN: 2.5 }, /repeatLastN/],
        // negative windows were silently replaced by 64; now refused before reaching wasm
        [{ repeatLastN: -1 }, /invalid repeatLastN.*-1/], [{ repeatLastN: -64 }, /repeatLastN/], [{ repeatLastN: 2 ** 20 + 1 }, /repeatLastN/],
      ];
      for (const [opts, re] of bad) {
        await rejectsCode(() => run(model, PROMPT, opts), 'INVALID_ARG', re);
      }
      const { ids } = await run(model);
      assert.deepEqual(ids, REF);
      // 0 is valid (no penalty window)
      assert.deepEqual((await run(model, PROMPT, { repeatLastN: 0, repeatPenalty: 1.3 })).ids.length, 32);
    } finally { await model.unload(); }
  });
});

test('aborts during load, prefill and decode; the model stays usable', async (t) => {
  let slow = true;
  await withServer(t, { delay: (req) => (slow && req.headers.range && !req.headers.range.startsWith('bytes=0-') ? 100 : 0) }, async (srv) => {
    // load: abort on the first downloaded bytes, and abort before anything happened
    const ac = new AbortController();
    await assert.rejects(Wisp.load(srv.url + '/m.gguf', { ...FAST, chunkSize: 65536, concurrency: 1, signal: ac.signal,
      onProgress: (p) => { if (p.phase === 'download' && p.loaded > 0) ac.abort(); } }), (e) => e.name === 'AbortError' && e.code === 'ABORTED');
    const ac0 = new AbortController();
    ac0.abort();
    await assert.rejects(Wisp.load(srv.url + '/m.gguf', { ...FAST, signal: ac0.signal }), (e) => e.name === 'AbortError');
    slow = false;
    const model = await Wisp.load(srv.url + '/m.gguf', FAST);
    try {
      // prefill: a ~300-token prompt is evaluated in chunks of 64, one per message turn; the
      // abort message lands between chunks
      const long = Array.from({ length: 300 }, (_, i) => 1 + ((i * 37) % 500));
      const ac1 = new AbortController();
      const it = model.generate(long, { maxTokens: 5, temperature: 0, signal: ac1.signal });
      const first = it.next();
      ac1.abort();
      await assert.rejects(first, (e) => e.name === 'AbortError');
      // decode: after 3 tokens
      const ac2 = new AbortController();
      const got = [];
      await assert.rejects(async () => {
        for await (const ev of model.generate(PROMPT, { maxTokens: 100, temperature: 0, signal: ac2.signal })) {
          if (!ev.done) got.push(ev.token);
          if (got.length === 3) ac2.abort();
        }
      }, (e) => e.name === 'AbortError');
      assert.deepEqual(got, REF.slice(0, 3));
      // an already-aborted signal
      await assert.rejects(async () => { for await (const _ of model.generate(PROMPT, { signal: ac2.signal })) ; }, (e) => e.name === 'AbortError');
      const { ids } = await run(model);
      assert.deepEqual(ids, REF);
      // the long prompt after the aborted prefill: the same result as on a fresh model
      const afterAbort = await run(model, long, { maxTokens: 8 });
      const fresh = await Wisp.load(srv.url + '/m.gguf', FAST);
      try { assert.deepEqual(afterAbort.ids, (await run(fresh, long, { maxTokens: 8 })).ids); } finally { await fresh.unload(); }
    } finally { await model.unload(); }
  });
});

test('unload while generating: the generation ends with an error (no hang); later calls are UNLOADED', async (t) => {
  await withServer(t, {}, async (srv) => {
    const model = await Wisp.load(srv.url + '/m.gguf', FAST);
    const got = [];
    let unloading = null;
    const gen = (async () => {
      for await (const ev of model.generate(PROMPT, { maxTokens: 400, temperature: 0, ignoreEos: true })) {
        if (!ev.done) got.push(ev.token);
        if (got.length === 3 && !unloading) unloading = model.unload();
      }
    })();
    const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error('generation hung after unload')), 10000).unref());
    await assert.rejects(Promise.race([gen, timeout]), (e) => {
      assert.ok(['UNLOADED', 'ABORTED'].includes(e.code), `${e.code}: ${e.message}`);
      return true;
    });
    await unloading;
    assert.ok(got.length >= 3 && got.length < 400);
    await rejectsCode(model.tokenize('x'), 'UNLOADED');
    await rejectsCode(() => run(model), 'UNLOADED');
    await model.unload(); // twice is fine
  });
});

test('a second model loaded while the first generates: both usable, memory back to baseline', async (t) => {
  await withServer(t, {}, async (srv) => {
    const a = await Wisp.load(srv.url + '/m.gguf', { ...FAST, variant: 'mt', threads: 2 });
    try {
      await run(a); // warm-up: the sampler is allocated on the first generate
      const base = await memStats(a);
      assert.ok(base.mallocBytes > 0, 'wx_mem_in_use is exported');
      let b = null;
      const genA = run(a, PROMPT, { maxTokens: 32 });
      b = await Wisp.load(srv.url + '/m.gguf', FAST); // while `a` is generating
      const [ra, rb] = await Promise.all([genA, run(b)]);
      assert.deepEqual(ra.ids, REF);
      assert.deepEqual(rb.ids, REF);
      const bBase = await memStats(b);
      await b.unload();
      for (let i = 0; i < 10; i++) await run(a, i % 2 ? PROMPT : 'The cat sat', { maxTokens: 16, temperature: 0.8, seed: i });
      const after = await memStats(a);
      assert.equal(after.mallocBytes, base.mallocBytes, `malloc in use: ${base.mallocBytes} -> ${after.mallocBytes}`);
      assert.equal(after.wasmMemoryBytes, base.wasmMemoryBytes, 'wasm memory did not grow');
      assert.ok(bBase.mallocBytes > 0);
      console.log(`memory: a malloc ${base.mallocBytes} -> ${after.mallocBytes} B, wasm ${base.wasmMemoryBytes} -> ${after.wasmMemoryBytes} B`);
    } finally { await a.unload(); }
  });
});
