// loader.test.mjs — the JS API and streaming loader under Node, against a local HTTP
// server with fault injection. Every scenario must end in a correct model (greedy
// tokens identical to llama.cpp's reference) or a clear error.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Wisp } from '../../js/wisp.js';
import { bodyReader, BYOB_BYTES, byobPoolSize } from '../../js/loader.js';
import { fixture, referenceIds, startServer } from './helpers.mjs';

const REF = (() => { try { return referenceIds('stories260K', 32); } catch { return null; } })();
const FAST = { variant: 'st', chunkSize: 128 * 1024, concurrency: 4, retryDelayMs: 5, cache: false, headerBytes: 4096 };
const DATA_START = 14176; // stories260K.gguf: where tensor data begins

async function greedy(model, n = 32) {
  const ids = [];
  let text = '';
  let last;
  for await (const ev of model.generate('Once upon a time', { maxTokens: n, temperature: 0 })) {
    if (ev.done) last = ev; else { ids.push(ev.token); text += ev.text; }
  }
  return { ids, text, last };
}

async function withServer(t, opts, fn) {
  const file = fixture(t, 'models/stories260K.gguf');
  if (!file) return;
  const srv = await startServer({ routes: { '/m.gguf': { file } }, ...opts });
  try { await fn(srv, file); } finally { await srv.close(); }
}

async function loadAndCheck(url, opts = {}) {
  const model = await Wisp.load(url, { ...FAST, ...opts });
  try {
    const { ids } = await greedy(model);
    assert.deepEqual(ids, REF, 'greedy tokens differ from the llama.cpp reference');
    return model.info;
  } finally {
    await model.unload();
  }
}

const dataReqs = (log) => log.filter((e) => e.path === '/m.gguf' && e.range && Number(/bytes=(\d+)/.exec(e.range)[1]) >= DATA_START);

test('plain Range server: greedy tokens match the reference (st and mt)', async (t) => {
  await withServer(t, {}, async (srv) => {
    const info = await loadAndCheck(srv.url + '/m.gguf');
    assert.equal(info.variant, 'st');
    assert.equal(info.loadMode, 'range');
    assert.ok(dataReqs(srv.log).length >= 8, 'expected parallel chunked range requests');
    const info2 = await loadAndCheck(srv.url + '/m.gguf', { variant: 'mt', threads: 2 });
    assert.equal(info2.variant, 'mt');
    assert.equal(info2.threads, 2);
  });
});

// Regression: the mt build with threads: 1 (an empty pthread pool) never finished
// instantiating (Emscripten 3.1.6 waited for pool workers that do not exist). The signal turns
// a hang into a failure instead of a stuck test run.
test('mt variant with threads: 1 loads and matches the reference (Range and file path)', { timeout: 120000 }, async (t) => {
  await withServer(t, {}, async (srv, file) => {
    for (const src of [srv.url + '/m.gguf', file]) {
      const signal = AbortSignal.timeout(60000);
      let info;
      try {
        info = await loadAndCheck(src, { variant: 'mt', threads: 1, signal });
      } catch (e) {
        if (signal.aborted) assert.fail(`mt threads:1 did not load ${src} within 60 s (hang at instantiation?)`);
        throw e;
      }
      assert.equal(info.variant, 'mt');
      assert.equal(info.threads, 1);
    }
  });
});

test('bodyReader: byte streams are read into one reused buffer; other streams as they come', async () => {
  const data = new Uint8Array(1_000_000).map((_, i) => (i * 7) & 255);
  const r = bodyReader(new Response(data).body);
  assert.equal(r.byob, true);
  let n = 0;
  for (;;) {
    const { done, value } = await r.read();
    if (done) break;
    // every piece is a view of the BYOB_BYTES buffer handed back and forth, not a new chunk
    assert.equal(value.buffer.byteLength, BYOB_BYTES);
    assert.ok(value.every((b, i) => b === (((n + i) * 7) & 255)));
    n += value.length;
  }
  assert.equal(n, data.length);
  // a finished reader's buffer goes to the next reader (one per Range request): no garbage
  const pooled = byobPoolSize();
  await r.cancel();
  assert.equal(byobPoolSize(), pooled + 1);
  const r1 = bodyReader(new Response(data.subarray(0, 1000)).body);
  assert.equal(byobPoolSize(), pooled);
  const first = await r1.read();
  assert.equal(first.value.buffer.byteLength, BYOB_BYTES);
  assert.ok(first.value.every((b, i) => b === ((i * 7) & 255)));
  await r1.cancel();
  const r2 = bodyReader(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1, 2])); c.close(); } }));
  assert.equal(r2.byob, false);
  assert.deepEqual(Array.from((await r2.read()).value), [1, 2]);
  assert.equal((await r2.read()).done, true);
});

test('model.info, tokenize, detokenize, stop strings, prefix reuse', async (t) => {
  await withServer(t, {}, async (srv) => {
    const progress = [];
    const model = await Wisp.load(srv.url + '/m.gguf', { ...FAST, onProgress: (p) => progress.push(p) });
    try {
      const i = model.info;
      assert.equal(i.arch, 'llama');
      assert.equal(i.nVocab, 512);
      assert.equal(i.nParams, 292800);
      assert.deepEqual(i.quantTypes, { F32: 48 });
      assert.equal(i.fileBytes, 1185376);
      assert.match(i.variantReason, /st/);
      assert.ok(progress.some((p) => p.phase === 'download' && p.loaded === p.total && p.total === 1171200));
      assert.deepEqual(await model.tokenize('Once upon a time', { addBos: true }), [1, 403, 407, 261, 378]);
      assert.equal(await model.detokenize([403, 407, 261, 378]), 'Once upon a time');
      const a = await greedy(model);
      assert.deepEqual(a.ids, REF);
      assert.equal(a.last.stats.promptTokens, 5);
      assert.equal(a.last.stats.generatedTokens, 32);
      assert.ok(a.last.stats.decodeTokPerSec > 0 && a.last.stats.ttftMs >= 0);
      // the same prompt again: the KV cache prefix is reused, result identical
      const b = await greedy(model);
      assert.deepEqual(b.ids, REF);
      assert.ok(b.last.stats.prefilledTokens < 5, `prefilled ${b.last.stats.prefilledTokens}`);
      // stop string: text ends right before it
      let text = '';
      let done;
      for await (const ev of model.generate('Once upon a time', { maxTokens: 64, temperature: 0, stop: ['Lily'] })) {
        if (ev.done) done = ev; else text += ev.text;
      }
      assert.equal(done.stats.stopReason, 'stop');
      assert.equal(text + done.text, ', there was a little girl named ');
      // bad parameters are INVALID_ARG
      await assert.rejects(async () => { for await (const _ of model.generate('x', { topP: 0 })) ; }, (e) => e.code === 'INVALID_ARG');
      await assert.rejects(model.detokenize([100000]), (e) => e.code === 'INVALID_ARG');
    } finally {
      await model.unload();
    }
    await assert.rejects(model.tokenize('x'), (e) => e.code === 'UNLOADED');
  });
});

test('server ignores Range (200 + whole body): streamed sequentially', async (t) => {
  await withServer(t, { fault: () => ({ ignoreRange: true }) }, async (srv) => {
    const info = await loadAndCheck(srv.url + '/m.gguf');
    assert.equal(info.loadMode, 'sequential');
  });
});

test('server ignores Range and drops the connection mid-body: resumes', async (t) => {
  let n = 0;
  await withServer(t, { fault: () => (n++ === 0 ? { ignoreRange: true, drop: 300000 } : { ignoreRange: true }) }, async (srv) => {
    const info = await loadAndCheck(srv.url + '/m.gguf');
    assert.equal(info.loadMode, 'sequential');
    assert.ok(srv.log.length >= 2);
  });
});

test('connection dropped mid-chunk: retried and resumed', async (t) => {
  let drops = 0;
  await withServer(t, {
    fault: (req, { entry }) => {
      const s = entry.range && Number(/bytes=(\d+)/.exec(entry.range)[1]);
      if (s >= DATA_START && drops < 3) { drops++; return { drop: 50000 }; }
      return null;
    },
  }, async (srv) => {
    await loadAndCheck(srv.url + '/m.gguf');
    assert.equal(drops, 3);
    // resumed: some request starts in the middle of a chunk
    assert.ok(dataReqs(srv.log).some((e) => (Number(/bytes=(\d+)/.exec(e.range)[1]) - DATA_START) % (128 * 1024) !== 0));
  });
});

test('HTTP 500 then OK: retried', async (t) => {
  let fails = 0;
  await withServer(t, { fault: () => (fails++ < 4 ? { status: 500 } : null) }, async (srv) => {
    await loadAndCheck(srv.url + '/m.gguf');
    assert.ok(srv.log.filter((e) => e.status === 500).length === 4);
  });
});

test('HTTP 500 forever: clear NETWORK error after the retries', async (t) => {
  await withServer(t, { fault: () => ({ status: 503 }) }, async (srv) => {
    await assert.rejects(Wisp.load(srv.url + '/m.gguf', { ...FAST, retries: 2 }),
      (e) => e.code === 'NETWORK' && /503/.test(e.message) && /retries/.test(e.message));
  });
});

test('truncated body: the rest is fetched again', async (t) => {
  let cuts = 0;
  await withServer(t, {
    fault: (req, { entry }) => {
      const s = entry.range && Number(/bytes=(\d+)/.exec(entry.range)[1]);
      if (s >= DATA_START && cuts < 2) { cuts++; return { truncate: 1000 }; }
      return null;
    },
  }, async (srv) => {
    await loadAndCheck(srv.url + '/m.gguf');
    assert.equal(cuts, 2);
  });
});

test('wrong Content-Range once: retried; always: clear error', async (t) => {
  let bad = 0;
  await withServer(t, {
    fault: (req, { entry, size }) => {
      const m = entry.range && /bytes=(\d+)-(\d+)/.exec(entry.range);
      if (m && Number(m[1]) >= DATA_START && bad < 1) { bad++; return { contentRange: `bytes ${Number(m[1]) + 16}-${Number(m[2]) + 16}/${size}` }; }
      return null;
    },
  }, async (srv) => {
    await loadAndCheck(srv.url + '/m.gguf');
  });
  await withServer(t, {
    fault: (req, { entry, size }) => {
      const m = entry.range && /bytes=(\d+)-(\d+)/.exec(entry.range);
      if (m && Number(m[1]) >= DATA_START) return { contentRange: `bytes 0-${Number(m[2]) - Number(m[1])}/${size}` };
      return null;
    },
  }, async (srv) => {
    await assert.rejects(Wisp.load(srv.url + '/m.gguf', { ...FAST, retries: 2 }),
      (e) => e.code === 'NETWORK' && /Content-Range/.test(e.message));
  });
});

test('404 HTML page, HTML page with 200, wrong magic: clear errors', async (t) => {
  await withServer(t, {}, async (srv) => {
    await assert.rejects(Wisp.load(srv.url + '/missing.gguf', FAST), (e) => e.code === 'NETWORK' && e.status === 404 && /404/.test(e.message));
  });
  await withServer(t, { fault: () => ({ html: 200 }) }, async (srv) => {
    await assert.rejects(Wisp.load(srv.url + '/m.gguf', FAST), (e) => e.code === 'FORMAT' && /HTML/.test(e.message));
  });
  const srv = await startServer({ routes: { '/x.gguf': { data: Buffer.from('PK\x03\x04 this is a zip file, not a model'.repeat(10)) } } });
  try {
    await assert.rejects(Wisp.load(srv.url + '/x.gguf', FAST), (e) => e.code === 'FORMAT' && /magic/.test(e.message));
  } finally { await srv.close(); }
});

test('file changed mid-download (new ETag): restarts cleanly', async (t) => {
  let n = 0;
  await withServer(t, {
    fault: (req, { entry }) => {
      const s = entry.range && Number(/bytes=(\d+)/.exec(entry.range)[1]);
      if (s >= DATA_START) n++;
      return n >= 3 ? { etag: '"v2"' } : null;
    },
  }, async (srv) => {
    await loadAndCheck(srv.url + '/m.gguf');
    assert.ok(srv.log.filter((e) => e.range && e.range.startsWith('bytes=0-')).length >= 2, 'expected a restart from byte 0');
  });
});

test('file replaced by a different file mid-download: restarts and loads the new one', async (t) => {
  const f16 = fixture(t, 'models/stories260K-f16.gguf');
  const f32 = fixture(t, 'models/stories260K.gguf');
  if (!f16 || !f32) return;
  const route = { file: f32 };
  let n = 0;
  const srv = await startServer({
    routes: { '/m.gguf': route },
    fault: (req, { entry }) => {
      const s = entry.range && Number(/bytes=(\d+)/.exec(entry.range)[1]);
      if (s >= DATA_START && ++n === 3) { route.file = f16; route.version = 2; }
      return null;
    },
  });
  try {
    const model = await Wisp.load(srv.url + '/m.gguf', FAST);
    try {
      assert.equal(model.info.fileBytes, fs.statSync(f16).size);
      assert.deepEqual(model.info.quantTypes.F16 > 0, true);
      const { ids } = await greedy(model, 8);
      assert.equal(ids.length, 8);
    } finally { await model.unload(); }
  } finally { await srv.close(); }
});

test('416 for bytes inside the known size (the file shrank): restarts cleanly', async (t) => {
  let n = 0;
  await withServer(t, {
    fault: (req, { entry }) => {
      const s = entry.range && Number(/bytes=(\d+)/.exec(entry.range)[1]);
      return s >= DATA_START && ++n === 2 ? { status: 416 } : null;
    },
  }, async (srv) => {
    await loadAndCheck(srv.url + '/m.gguf');
    assert.equal(srv.log.filter((e) => e.status === 416).length, 1);
    assert.ok(srv.log.filter((e) => e.range && e.range.startsWith('bytes=0-')).length >= 2, 'expected a restart from byte 0');
  });
});

test('File/Blob sources and Node file paths go through the same path', async (t) => {
  const file = fixture(t, 'models/stories260K.gguf');
  if (!file) return;
  const blob = new Blob([fs.readFileSync(file)]);
  const info = await loadAndCheck(blob);
  assert.equal(info.loadMode, 'blob');
  await loadAndCheck(file);
});

test('sha256: verified, and a mismatch is an INTEGRITY error', async (t) => {
  await withServer(t, {}, async (srv) => {
    const good = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';
    const info = await loadAndCheck(srv.url + '/m.gguf', { sha256: good });
    assert.equal(info.sha256, good);
    await assert.rejects(Wisp.load(srv.url + '/m.gguf', { ...FAST, sha256: '00'.repeat(32) }), (e) => e.code === 'INTEGRITY');
  });
});

test('too big for wasm32: OOM before any tensor data is downloaded', async (t) => {
  await withServer(t, {}, async (srv) => {
    await assert.rejects(Wisp.load(srv.url + '/m.gguf', { ...FAST, contextSize: 8_000_000 }),
      (e) => e.code === 'OOM' && /KV cache/.test(e.message) && /4 GiB/.test(e.message));
    assert.equal(dataReqs(srv.log).length, 0, 'no tensor data may be fetched');
  });
});

test('abort: load and generation stop with AbortError; the model stays usable', async (t) => {
  let slow = true;
  await withServer(t, { delay: (req) => (slow && req.headers.range && !req.headers.range.startsWith('bytes=0-') ? 200 : 0) }, async (srv) => {
    const ac = new AbortController();
    const p = Wisp.load(srv.url + '/m.gguf', { ...FAST, chunkSize: 65536, concurrency: 1, signal: ac.signal, onProgress: (pr) => { if (pr.phase === 'download' && pr.loaded > 0) ac.abort(); } });
    await assert.rejects(p, (e) => e.name === 'AbortError');
    slow = false;

    const model = await Wisp.load(srv.url + '/m.gguf', FAST);
    try {
      const ac2 = new AbortController();
      const got = [];
      await assert.rejects(async () => {
        for await (const ev of model.generate('Once upon a time', { maxTokens: 200, temperature: 0, signal: ac2.signal })) {
          if (!ev.done) got.push(ev.token);
          if (got.length === 5) ac2.abort();
        }
      }, (e) => e.name === 'AbortError');
      assert.ok(got.length >= 5 && got.length <= 6, `stopped after ${got.length} tokens`);
      // breaking out of the loop early also stops the worker
      for await (const ev of model.generate('Once upon a time', { maxTokens: 200, temperature: 0 })) { if (ev.token) break; }
      const { ids } = await greedy(model);
      assert.deepEqual(ids, REF);
    } finally { await model.unload(); }
  });
});

test('a wasm trap rejects pending calls with TRAP; a new load works', async (t) => {
  await withServer(t, {}, async (srv) => {
    const model = await Wisp.load(srv.url + '/m.gguf', FAST);
    const pending = model.tokenize('hello');
    await assert.rejects(model._e.call('__trap', {}), (e) => e.code === 'TRAP' && /trap|bounds|unreachable/i.test(e.message));
    await pending.catch(() => {});
    await assert.rejects(model.tokenize('x'), (e) => e.code === 'TRAP');
    await model.unload();
    await loadAndCheck(srv.url + '/m.gguf');
  });
});
