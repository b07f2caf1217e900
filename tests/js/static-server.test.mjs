// static-server.test.mjs — tools/static-server.mjs (the server behind make serve, the
// benchmarks and every test): Range / 416 / HEAD / validators / conditional requests,
// COOP/COEP and CORS toggles, path safety, and the fault actions tests/js/helpers.mjs uses.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createStaticServer, parseRange } from '../../tools/static-server.mjs';
import { createServer } from '../../tools/serve.mjs';
import { startServer } from './helpers.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-static-'));
const BODY = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 255));
fs.writeFileSync(path.join(dir, 'f.gguf'), BODY);
fs.writeFileSync(path.join(dir, '.secret'), 'no');
fs.mkdirSync(path.join(dir, 'sub'));
fs.writeFileSync(path.join(dir, 'sub', 'index.html'), '<p>hi</p>');
fs.writeFileSync(path.join(dir, 'empty.txt'), '');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function withStatic(opts, fn) {
  const srv = createStaticServer({ root: dir, log: [], ...opts });
  await srv.listen(0);
  try { await fn(srv); } finally { await srv.close(); }
}
const get = (srv, p, headers = {}, method = 'GET') => fetch(srv.url + p, { method, headers });

test('parseRange', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 10 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 100 });
  assert.deepEqual(parseRange('bytes=90-500', 100), { start: 90, end: 100 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 100 });
  assert.deepEqual(parseRange('bytes=-500', 100), { start: 0, end: 100 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
  assert.equal(parseRange('bytes=5-2', 100), null);
  assert.equal(parseRange('bytes=0-1,5-6', 100), null);
  assert.equal(parseRange('items=0-1', 100), null);
  assert.equal(parseRange(undefined, 100), null);
});

test('Range, 416, HEAD, ETag / Last-Modified, 304, If-Range', async () => {
  await withStatic({}, async (srv) => {
    let r = await get(srv, '/f.gguf');
    assert.equal(r.status, 200);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), BODY);
    assert.equal(r.headers.get('content-length'), '1000');
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
    const etag = r.headers.get('etag');
    const lm = r.headers.get('last-modified');
    assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(lm);

    r = await get(srv, '/f.gguf', { range: 'bytes=10-19' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), 'bytes 10-19/1000');
    assert.equal(r.headers.get('content-length'), '10');
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), BODY.subarray(10, 20));

    r = await get(srv, '/f.gguf', { range: 'bytes=-5' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), 'bytes 995-999/1000');
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), BODY.subarray(995));

    r = await get(srv, '/f.gguf', { range: 'bytes=1000-' });
    assert.equal(r.status, 416);
    assert.equal(r.headers.get('content-range'), 'bytes */1000');
    await r.arrayBuffer();

    r = await get(srv, '/f.gguf', { range: 'bytes=0-1,5-6' }); // multi-range: ignored
    assert.equal(r.status, 200);
    assert.equal((await r.arrayBuffer()).byteLength, 1000);

    r = await get(srv, '/f.gguf', {}, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), '1000');
    assert.equal((await r.arrayBuffer()).byteLength, 0);
    r = await get(srv, '/f.gguf', { range: 'bytes=0-99' }, 'HEAD');
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-length'), '100');

    r = await get(srv, '/f.gguf', { 'if-none-match': etag });
    assert.equal(r.status, 304);
    r = await get(srv, '/f.gguf', { 'if-modified-since': lm });
    assert.equal(r.status, 304);
    r = await get(srv, '/f.gguf', { 'if-none-match': '"other"' });
    assert.equal(r.status, 200);
    await r.arrayBuffer();

    r = await get(srv, '/f.gguf', { range: 'bytes=0-9', 'if-range': etag });
    assert.equal(r.status, 206);
    await r.arrayBuffer();
    r = await get(srv, '/f.gguf', { range: 'bytes=0-9', 'if-range': '"stale"' });
    assert.equal(r.status, 200, 'If-Range with a stale validator: the whole (new) body');
    assert.equal((await r.arrayBuffer()).byteLength, 1000);

    r = await get(srv, '/empty.txt');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), '0');
    r = await get(srv, '/f.gguf', {}, 'POST');
    assert.equal(r.status, 405);
    assert.deepEqual(srv.log.slice(0, 2).map((e) => [e.method, e.path, e.range, e.status, e.bytes]),
      [['GET', '/f.gguf', null, 200, 1000], ['GET', '/f.gguf', 'bytes=10-19', 206, 10]]);
  });
});

test('COOP/COEP/CORP and CORS toggles; paths stay inside root', async () => {
  await withStatic({}, async (srv) => {
    let r = await get(srv, '/sub/');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '<p>hi</p>');
    assert.match(r.headers.get('content-type'), /text\/html/);
    assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal(r.headers.get('cross-origin-resource-policy'), 'same-origin');
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    for (const p of ['/.secret', '/%2e%2e/%2e%2e/etc/passwd', '/../etc/passwd', '/sub/../../x', '/nope', '/%zz']) {
      r = await get(srv, p);
      assert.equal(r.status, 404, p);
      await r.arrayBuffer();
    }
  });
  await withStatic({ coi: false, cors: true }, async (srv) => {
    const r = await get(srv, '/f.gguf', { range: 'bytes=0-0' });
    assert.equal(r.headers.get('cross-origin-opener-policy'), null);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.match(r.headers.get('access-control-expose-headers'), /content-range/);
    assert.equal(r.headers.get('cross-origin-resource-policy'), 'cross-origin');
    await r.arrayBuffer();
    const o = await get(srv, '/f.gguf', {}, 'OPTIONS');
    assert.equal(o.status, 204);
    assert.match(o.headers.get('access-control-allow-headers'), /range/);
  });
});

test('tools/serve.mjs: redirect, models with CORS, CSP on HTML', async () => {
  const srv = createServer({ root: dir, models: { 'm.gguf': path.join(dir, 'f.gguf') }, log: [] });
  await srv.listen(0);
  try {
    let r = await fetch(srv.url + '/', { redirect: 'manual' });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/web/index.html?model=%2Fmodels%2Fm.gguf');
    r = await get(srv, '/models/m.gguf', { range: 'bytes=1-2' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), BODY.subarray(1, 3));
    r = await get(srv, '/sub/index.html');
    assert.match(r.headers.get('content-security-policy'), /default-src 'self'/);
    await r.arrayBuffer();
    assert.deepEqual(srv.log.map((e) => e.path), ['/', '/models/m.gguf', '/sub/index.html']);
  } finally { await srv.close(); }
});

test('tests/js/helpers.mjs faults: truncate, drop, wrong Content-Range, injected status', async () => {
  const file = path.join(dir, 'f.gguf');
  const srv = await startServer({
    routes: { '/m': { file } },
    fault: (req) => ({ '1': { truncate: 10 }, '2': { drop: 100 }, '3': { contentRange: 'bytes 0-0/1' }, '4': { status: 503 }, '5': { html: 200 } })[req.headers['x-fault']] || null,
  });
  try {
    let r = await fetch(srv.url + '/m', { headers: { 'x-fault': '1' } });
    assert.equal(r.headers.get('content-length'), null);
    assert.equal((await r.arrayBuffer()).byteLength, 10);
    r = await fetch(srv.url + '/m', { headers: { 'x-fault': '2' } });
    await assert.rejects(r.arrayBuffer());
    r = await fetch(srv.url + '/m', { headers: { 'x-fault': '3', range: 'bytes=5-9' } });
    assert.equal(r.headers.get('content-range'), 'bytes 0-0/1');
    await r.arrayBuffer();
    r = await fetch(srv.url + '/m', { headers: { 'x-fault': '4' } });
    assert.equal(r.status, 503);
    await r.arrayBuffer();
    r = await fetch(srv.url + '/m', { headers: { 'x-fault': '5' } });
    assert.match(await r.text(), /<!DOCTYPE html>/);
    r = await fetch(srv.url + '/m', { headers: { range: 'bytes=0-3' } });
    assert.equal(r.headers.get('etag'), '"1000-1"');
    assert.equal(r.status, 206);
    await r.arrayBuffer();
    assert.deepEqual(srv.log.map((e) => e.status), [200, 200, 206, 503, 200, 206]);
  } finally { await srv.close(); }
});
