// helpers.mjs — shared by the Node and browser tests: fixture lookup and a local HTTP
// server with Range support, COOP/COEP headers and fault injection.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.resolve(process.env.WISP_FIXTURES || path.join(ROOT, '../shared'));
export const MODELS = path.join(FIXTURES, 'models');

// Returns the fixture path, or null after a loud skip (a failure under CI=true).
export function fixture(t, rel) {
  const p = path.join(FIXTURES, rel);
  if (fs.existsSync(p)) return p;
  const msg = `fixture missing: ${p} (set WISP_FIXTURES)`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.error(`\n*** SKIP: ${msg} ***\n`);
  t && t.skip(msg);
  return null;
}

export function referenceIds(name = 'stories260K', n = 32) {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference', `${name}.json`), 'utf8'));
  return ref.prompts[0].generated_ids.slice(0, n);
}

const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json', '.gguf': 'application/octet-stream' };

// routes: { '/path': {file} | {data: Buffer} }; fault(req, info) may return an action:
//   {ignoreRange: true} {status: 500} {drop: bytesBeforeDrop} {truncate: bytesToSend}
//   {contentRange: 'bytes a-b/c'} {html: status} {etag: '"x"'}
// Also serves files under `staticRoot` (the repo) with COOP/COEP so wasm threads work.
// delay(req) -> milliseconds to wait before answering (0: none).
export async function startServer({ routes = {}, fault = null, delay = null, staticRoot = null, coi = true, cors = false } = {}) {
  const log = [];
  const server = http.createServer((req, res) => {
    const ms = delay ? delay(req) : 0;
    if (ms) { setTimeout(() => handle(req, res), ms); return; }
    handle(req, res);
  });
  const handle = (req, res) => {
    const url = new URL(req.url, 'http://x');
    const headers = { 'accept-ranges': 'bytes', 'cache-control': 'no-cache' };
    if (coi) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
      headers['cross-origin-resource-policy'] = cors ? 'cross-origin' : 'same-origin';
    }
    if (cors) {
      headers['access-control-allow-origin'] = '*';
      headers['access-control-allow-headers'] = 'range';
      headers['access-control-expose-headers'] = 'content-range, content-length, etag, last-modified, accept-ranges';
      if (req.method === 'OPTIONS') { res.writeHead(204, headers); res.end(); return; }
    }
    let body = null;
    let etag = null;
    const route = routes[url.pathname];
    if (route) {
      body = route.data || fs.readFileSync(route.file);
      etag = route.etag || `"${body.length}-${route.version || 1}"`;
      headers['content-type'] = 'application/octet-stream';
      headers['last-modified'] = route.lastModified || 'Wed, 01 Jan 2025 00:00:00 GMT';
    } else if (staticRoot) {
      const p = path.join(staticRoot, path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, ''));
      if (p.startsWith(staticRoot) && fs.existsSync(p) && fs.statSync(p).isFile()) {
        body = fs.readFileSync(p);
        headers['content-type'] = MIME[path.extname(p)] || 'application/octet-stream';
      }
    }
    const range = req.headers.range;
    const entry = { path: url.pathname, range: range || null, status: 0 };
    log.push(entry);
    const act = (fault && body && route && fault(req, { entry, log, route, size: body.length })) || {};
    if (act.html || !body) {
      const status = act.html || 404;
      entry.status = status;
      res.writeHead(status, { ...headers, 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><html><body><h1>${status}</h1></body></html>`);
      return;
    }
    if (act.status) {
      entry.status = act.status;
      res.writeHead(act.status, { ...headers, 'content-type': 'text/plain' });
      res.end('injected failure');
      return;
    }
    if (act.etag) etag = act.etag;
    if (etag) headers.etag = etag;
    let start = 0, end = body.length, status = 200;
    const m = range && /^bytes=(\d+)-(\d*)$/.exec(range);
    if (m && !act.ignoreRange) {
      start = Number(m[1]);
      end = m[2] ? Math.min(body.length, Number(m[2]) + 1) : body.length;
      if (start >= body.length) {
        entry.status = 416;
        res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      status = 206;
      headers['content-range'] = act.contentRange || `bytes ${start}-${end - 1}/${body.length}`;
    }
    entry.status = status;
    entry.bytes = end - start;
    const slice = body.subarray(start, end);
    if (act.truncate != null) {
      // chunked encoding, clean end of stream after `truncate` bytes
      res.writeHead(status, headers);
      res.end(slice.subarray(0, act.truncate));
      return;
    }
    headers['content-length'] = String(slice.length);
    res.writeHead(status, headers);
    if (act.drop != null) {
      res.write(slice.subarray(0, act.drop), () => setTimeout(() => res.socket && res.socket.destroy(), 5));
      return;
    }
    res.end(slice);
  };
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () => new Promise((r) => { server.closeAllConnections && server.closeAllConnections(); server.close(() => r()); }),
  };
}
