#!/usr/bin/env node
// serve.mjs — a small static server for the chat page (make serve) and the browser tests.
// Serves the repository (web/, js/, models/catalog.json) with Range requests, ETag, and by
// default Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy (so the page is
// cross-origin isolated and wasm threads work); local .gguf files are served under
// /models/<name> with CORS. "/" redirects to the chat page, opening on --model if given.
//
//   node tools/serve.mjs [--port 8080] [--host 127.0.0.1] [--model FILE.gguf]... [--no-coi]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.gguf': 'application/octet-stream',
};

// The CSP the server sends with HTML (the page also carries it as a meta tag, plus a narrower
// connect-src for the chosen model; see web/boot.js).
export const PAGE_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
  "worker-src 'self' blob:; connect-src 'self' https: http://localhost:* http://127.0.0.1:*; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

// options: root (served directory), coi (COOP/COEP headers, default true), models ({name: file}
// served at /models/<name>), index (where "/" redirects), log (array: every request is pushed)
export function createServer({ root = ROOT, coi = true, models = {}, index = '/web/index.html', log = null, extraRoutes = {} } = {}) {
  const server = http.createServer((req, res) => {
    let url;
    try { url = new URL(req.url, 'http://x'); } catch { res.writeHead(400); res.end(); return; }
    if (log) log.push({ method: req.method, path: url.pathname, range: req.headers.range || null });
    const headers = { 'accept-ranges': 'bytes', 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' };
    if (coi) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    // Any page may embed the widget (<script type="module" src=".../web/widget.js">) or load a
    // model from here: module scripts, the wasm and the models are fetched in CORS mode, and
    // under the embedding page's COEP every subresource needs CORP (or CORS).
    headers['cross-origin-resource-policy'] = 'cross-origin';
    headers['access-control-allow-origin'] = '*';
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...headers, 'access-control-allow-origin': '*', 'access-control-allow-headers': 'range', 'access-control-max-age': '600' });
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, headers); res.end(); return; }
    if (url.pathname === '/') {
      const first = Object.keys(models)[0];
      res.writeHead(302, { ...headers, location: first ? `${index}?model=${encodeURIComponent('/models/' + first)}` : index });
      res.end();
      return;
    }
    let file = null;
    const extra = extraRoutes[url.pathname];
    const m = /^\/models\/([^/]+\.gguf)$/.exec(url.pathname);
    if (extra) file = extra;
    else if (m && models[decodeURIComponent(m[1])]) file = models[decodeURIComponent(m[1])];
    else {
      let rel;
      try { rel = decodeURIComponent(url.pathname); } catch { rel = ''; }
      const p = path.resolve(root, '.' + path.posix.normalize('/' + rel));
      if (rel && !rel.includes('\0') && (p === root || p.startsWith(root + path.sep))) {
        let q = p;
        try { if (fs.statSync(q).isDirectory()) q = path.join(q, 'index.html'); } catch {}
        if (!/(^|\/)\.[^/]/.test(path.relative(root, q)) && fs.existsSync(q) && fs.statSync(q).isFile()) file = q;
      }
    }
    if (!file) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found\n');
      return;
    }
    const ext = path.extname(file);
    const st = fs.statSync(file);
    headers['content-type'] = MIME[ext] || 'application/octet-stream';
    headers.etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    headers['last-modified'] = st.mtime.toUTCString();
    if (ext === '.html') headers['content-security-policy'] = PAGE_CSP;
    if (ext === '.gguf') {
      headers['access-control-expose-headers'] = 'content-range, content-length, etag, last-modified, accept-ranges';
    }
    let start = 0, end = st.size, status = 200;
    const range = req.headers.range && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range);
    if (range && (range[1] || range[2])) {
      if (range[1]) { start = Number(range[1]); end = range[2] ? Math.min(st.size, Number(range[2]) + 1) : st.size; }
      else { start = Math.max(0, st.size - Number(range[2])); }
      if (start >= st.size || start >= end) {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${st.size}` });
        res.end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end - 1}/${st.size}`;
    }
    headers['content-length'] = String(end - start);
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || end === start) { res.end(); return; }
    fs.createReadStream(file, { start, end: end - 1 }).pipe(res);
  });
  return {
    server,
    log,
    listen: (port = 8080, host = '127.0.0.1') => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(`http://${host}:${server.address().port}`));
    }),
    close: () => new Promise((r) => { server.closeAllConnections && server.closeAllConnections(); server.close(() => r()); }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let port = Number(process.env.PORT) || 8080, host = process.env.HOST || '127.0.0.1', coi = true;
  const models = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--port') port = Number(args[++i]);
    else if (a === '--host') host = args[++i];
    else if (a === '--no-coi') coi = false;
    else if (a === '--model') {
      const f = path.resolve(args[++i]);
      if (fs.existsSync(f)) models[path.basename(f)] = f;
      else console.error(`serve: ${f} not found; opening on the first catalog model instead`);
    } else { console.error(`serve: unknown argument ${a}`); process.exit(2); }
  }
  const srv = createServer({ coi, models });
  const base = await srv.listen(port, host).catch((e) => { console.error(`serve: cannot listen on ${host}:${port}: ${e.message}`); process.exit(1); });
  const first = Object.keys(models)[0];
  console.log(`wisp chat page: ${base}/${first ? `  (opens ${base}/web/index.html?model=/models/${first})` : ''}`);
  console.log(`  widget demo:  ${base}/web/widget-demo.html`);
  console.log(`  ${coi ? 'cross-origin isolated (COOP/COEP): multi-threaded variant' : 'no COOP/COEP: single-threaded variant'}; Ctrl+C to stop`);
}
