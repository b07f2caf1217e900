// static-server.mjs — the one static HTTP server of the repository: `make serve`
// (tools/serve.mjs), the benchmarks (tools/bench/*.mjs) and the tests (tests/js/helpers.mjs,
// which adds fault injection on top, and the e2e tests) all use it.
//
//   - files are streamed from disk (fs.createReadStream), never read whole: model files are
//     hundreds of MB and one GET or Range request must not cost their size in server memory
//   - Range: "bytes=a-b", "bytes=a-", "bytes=-n" -> 206 + Content-Range; a start beyond the
//     end (or an empty suffix) -> 416 + "Content-Range: bytes */size"; a malformed or
//     multi-range header is ignored (200, whole body), as RFC 9110 allows; If-Range with a
//     validator that does not match -> 200 with the whole body
//   - HEAD (headers only), strong ETag (size + mtime) and Last-Modified, If-None-Match /
//     If-Modified-Since -> 304 on whole-body GET/HEAD
//   - COOP/COEP (coi, default on: the page is cross-origin isolated and wasm threads work),
//     Cross-Origin-Resource-Policy, optional CORS (cors: true) for a model on another origin
//   - no directory listings, no dotfiles, no path traversal out of `root`
//
// createStaticServer(options) -> {server, log, url, listen(port, host) -> url, close()}
//   root          directory served (null: nothing but what `route` answers)
//   coi           COOP: same-origin + COEP: require-corp (default true)
//   corp          Cross-Origin-Resource-Policy value (default 'same-origin'; cors -> 'cross-origin')
//   cors          Access-Control-Allow-Origin: * (+ exposed Range headers) on every response
//   cacheControl  default 'no-cache' (revalidate every time; ETags make that cheap)
//   log           array: one entry per request {method, path, range, status, bytes}
//   delay(req)    milliseconds to wait before answering (tests)
//   route(req, url, ctx) -> undefined (fall through to `root`) | entity | true (answered)
//                 entity: fileEntity(...) / dataEntity(...), optionally with .fault (see
//                 sendEntity); ctx: {entry, log, headers (mutable, sent with the answer),
//                 reply(status, headers, body)}
//   headersFor(entity, url) -> extra headers for that answer (e.g. a CSP for HTML) or null
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

export const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.gguf': 'application/octet-stream',
};

export const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'content-range, content-length, etag, last-modified, accept-ranges',
};

// Range header -> null (send the whole body) | {start, end} (end exclusive) | 'unsatisfiable'.
export function parseRange(header, size) {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (!m[1] && !m[2])) return null; // malformed or several ranges: ignored
  if (!m[1]) { // suffix: the last n bytes
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  if (m[2] && Number(m[2]) < start) return null; // invalid range-spec: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: m[2] ? Math.min(size, Number(m[2]) + 1) : size };
}

// A file on disk (stat'ed now; null if it is not a regular file). opts override the
// validators and the content type.
export function fileEntity(file, { etag, lastModified, contentType } = {}) {
  let st;
  try { st = fs.statSync(file); } catch { return null; }
  if (!st.isFile()) return null;
  return {
    file,
    size: st.size,
    etag: etag || `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
    lastModified: lastModified || st.mtime.toUTCString(),
    contentType: contentType || MIME[path.extname(file)] || 'application/octet-stream',
  };
}

// Bytes in memory (small test bodies).
export function dataEntity(data, { etag, lastModified, contentType } = {}) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return {
    data: buf,
    size: buf.length,
    etag: etag || `"${buf.length.toString(16)}-0"`,
    lastModified: lastModified || new Date(0).toUTCString(),
    contentType: contentType || 'application/octet-stream',
  };
}

// The file under root that url path p names, or null: no traversal, no dotfiles, a directory
// means its index.html.
export function resolveStatic(root, p) {
  if (!root) return null;
  let rel;
  try { rel = decodeURIComponent(p); } catch { return null; }
  if (!rel || rel.includes('\0')) return null;
  let file = path.resolve(root, '.' + path.posix.normalize('/' + rel));
  if (file !== root && !file.startsWith(root + path.sep)) return null;
  try { if (fs.statSync(file).isDirectory()) file = path.join(file, 'index.html'); } catch { return null; }
  if (/(^|[/\\])\.[^/\\]/.test(path.relative(root, file))) return null;
  return file;
}

const notModified = (req, e) => {
  const inm = req.headers['if-none-match'];
  if (inm) return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === e.etag || t.trim() === '*');
  const ims = req.headers['if-modified-since'];
  if (ims && e.lastModified) {
    const a = Date.parse(ims), b = Date.parse(e.lastModified);
    return Number.isFinite(a) && Number.isFinite(b) && b <= a;
  }
  return false;
};

// Answers req with entity e (fileEntity/dataEntity). headers are added to the answer; entry
// (a log record) gets .status and .bytes. fault (tests/js/helpers.mjs) bends the answer:
//   ignoreRange  answer 200 + the whole body whatever the Range header says
//   contentRange a wrong Content-Range value on a 206
//   truncate: n  send n bytes without a Content-Length, then end cleanly (chunked encoding)
//   drop: n      send n bytes of a Content-Length answer, then reset the connection
export function sendEntity(req, res, e, { headers = {}, entry = null, fault = {} } = {}) {
  const h = { ...headers, 'accept-ranges': 'bytes', 'content-type': e.contentType };
  if (e.etag) h.etag = e.etag;
  if (e.lastModified) h['last-modified'] = e.lastModified;
  const done = (status, bytes) => { if (entry) { entry.status = status; entry.bytes = bytes; } };
  let range = fault.ignoreRange ? null : parseRange(req.headers.range, e.size);
  const ifRange = req.headers['if-range'];
  if (range && ifRange && ifRange !== e.etag && ifRange !== e.lastModified) range = null;
  if (range === 'unsatisfiable') {
    done(416, 0);
    res.writeHead(416, { ...h, 'content-range': `bytes */${e.size}` });
    res.end();
    return;
  }
  if (!range && !req.headers.range && notModified(req, e)) {
    done(304, 0);
    const { 'content-type': _ct, ...rest } = h;
    res.writeHead(304, rest);
    res.end();
    return;
  }
  let start = 0, end = e.size, status = 200;
  if (range) {
    ({ start, end } = range);
    status = 206;
    h['content-range'] = fault.contentRange || `bytes ${start}-${end - 1}/${e.size}`;
  }
  let send = end - start;
  if (fault.truncate != null) send = Math.min(send, fault.truncate);
  else h['content-length'] = String(end - start);
  if (fault.drop != null) send = Math.min(send, fault.drop);
  done(status, end - start);
  res.writeHead(status, h);
  if (req.method === 'HEAD' || send === 0) {
    if (fault.drop != null && req.method !== 'HEAD') setTimeout(() => res.socket && res.socket.destroy(), 5);
    else res.end();
    return;
  }
  const finish = () => {
    // drop: reset once what was sent has been flushed to the socket
    if (fault.drop != null) res.write(Buffer.alloc(0), () => setTimeout(() => res.socket && res.socket.destroy(), 5));
    else res.end();
  };
  if (e.data) {
    res.write(e.data.subarray(start, start + send));
    finish();
    return;
  }
  const rs = fs.createReadStream(e.file, { start, end: start + send - 1, highWaterMark: 256 * 1024 });
  rs.on('error', () => res.destroy());
  res.on('close', () => rs.destroy());
  rs.pipe(res, { end: false });
  rs.on('end', finish);
}

export function createStaticServer({
  root = null, coi = true, corp, cors = false, cacheControl = 'no-cache', log = null, delay = null, route = null, headersFor = null,
} = {}) {
  const base = { 'x-content-type-options': 'nosniff', 'cache-control': cacheControl };
  if (coi) {
    base['cross-origin-opener-policy'] = 'same-origin';
    base['cross-origin-embedder-policy'] = 'require-corp';
  }
  base['cross-origin-resource-policy'] = corp || (cors ? 'cross-origin' : 'same-origin');
  if (cors) Object.assign(base, CORS_HEADERS);
  const rootDir = root ? path.resolve(root) : null;

  const handle = async (req, res) => {
    let url;
    try { url = new URL(req.url, 'http://x'); } catch { res.writeHead(400); res.end(); return; }
    const entry = { method: req.method, path: url.pathname, range: req.headers.range || null, status: 0 };
    if (log) log.push(entry);
    const headers = { ...base };
    const reply = (status, h = {}, body = '') => {
      entry.status = status;
      res.writeHead(status, { ...headers, ...h });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method === 'OPTIONS') {
      reply(204, { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'range, if-range', 'access-control-max-age': '600' });
      return;
    }
    let e;
    if (route) {
      e = await route(req, url, { entry, log, headers, reply }); // any method (e.g. a POST it answers)
      if (e === true) return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { reply(405, { allow: 'GET, HEAD, OPTIONS' }); return; }
    if (!e) {
      const file = resolveStatic(rootDir, url.pathname);
      e = file && fileEntity(file);
    }
    if (!e) { reply(404, { 'content-type': 'text/plain; charset=utf-8' }, 'not found\n'); return; }
    if (headersFor) Object.assign(headers, headersFor(e, url));
    sendEntity(req, res, e, { headers, entry, fault: e.fault || {} });
  };

  const server = http.createServer((req, res) => {
    const go = () => Promise.resolve(handle(req, res)).catch((err) => {
      if (!res.headersSent) { res.writeHead(500, { 'content-type': 'text/plain' }); res.end(String(err && err.message)); } else res.destroy();
    });
    const ms = delay ? delay(req) : 0;
    if (ms) setTimeout(go, ms); else go();
  });
  const srv = {
    server,
    log,
    url: null,
    listen: (port = 0, host = '127.0.0.1') => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        srv.url = `http://${host}:${server.address().port}`;
        resolve(srv.url);
      });
    }),
    close: () => new Promise((r) => { server.closeAllConnections && server.closeAllConnections(); server.close(() => r()); }),
  };
  return srv;
}
