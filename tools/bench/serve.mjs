// serve.mjs — static HTTP server for the browser benchmark: cross-origin isolated
// (COOP/COEP, so both engines can use threads) and with Range support streamed from
// disk (model files are hundreds of MB; nothing is read into memory whole).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const MIME = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json',
  '.wasm': 'application/wasm', '.gguf': 'application/octet-stream',
};

export async function serve(root) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const p = path.join(root, path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, ''));
    const headers = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'accept-ranges': 'bytes',
      'cache-control': 'no-store',
    };
    let st = null;
    try { st = p.startsWith(root) ? fs.statSync(p) : null; } catch { st = null; }
    if (!st || !st.isFile()) { res.writeHead(404, headers); res.end('not found'); return; }
    headers['content-type'] = MIME[path.extname(p)] || 'application/octet-stream';
    headers['last-modified'] = st.mtime.toUTCString();
    headers.etag = `"${st.size}-${st.mtimeMs}"`;
    let start = 0, end = st.size;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    if (m) {
      start = Number(m[1]);
      end = m[2] ? Math.min(st.size, Number(m[2]) + 1) : st.size;
      if (start >= st.size) { res.writeHead(416, { ...headers, 'content-range': `bytes */${st.size}` }); res.end(); return; }
      headers['content-range'] = `bytes ${start}-${end - 1}/${st.size}`;
    }
    headers['content-length'] = String(end - start);
    res.writeHead(m ? 206 : 200, headers);
    if (req.method === 'HEAD' || end === start) { res.end(); return; }
    fs.createReadStream(p, { start, end: end - 1 }).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}
