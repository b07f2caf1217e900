#!/usr/bin/env node
// serve.mjs — the chat page's server (make serve), on tools/static-server.mjs.
// Serves the repository (web/, js/, models/catalog.json) with Range requests, ETag, and by
// default Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy (so the page is
// cross-origin isolated and wasm threads work); local .gguf files are served under
// /models/<name> with CORS. "/" redirects to the chat page, opening on --model if given.
//
//   node tools/serve.mjs [--port 8080] [--host 127.0.0.1] [--model FILE.gguf]... [--no-coi]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStaticServer, fileEntity } from './static-server.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// The CSP the server sends with HTML (the page also carries it as a meta tag, plus a narrower
// connect-src for the chosen model; see web/boot.js).
export const PAGE_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
  "worker-src 'self' blob:; connect-src 'self' https: http://localhost:* http://127.0.0.1:*; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

// options: root (served directory), coi (COOP/COEP headers, default true), models ({name: file}
// served at /models/<name>, with CORS), index (where "/" redirects), log (array: every request
// is pushed), extraRoutes ({'/path': file}). Range, HEAD, ETag etc.: tools/static-server.mjs.
export function createServer({ root = ROOT, coi = true, models = {}, index = '/web/index.html', log = null, extraRoutes = {} } = {}) {
  return createStaticServer({
    // Any page may embed the widget (<script type="module" src=".../web/widget.js">) or load a
    // model from here: module scripts, the wasm and the models are fetched in CORS mode, and
    // under the embedding page's COEP every subresource needs CORP (or CORS).
    root, coi, log, corp: 'cross-origin', cors: true,
    route(req, url, { headers, reply }) {
      if (url.pathname === '/') {
        const first = Object.keys(models)[0];
        reply(302, { location: first ? `${index}?model=${encodeURIComponent('/models/' + first)}` : index });
        return true;
      }
      let file = extraRoutes[url.pathname] || null;
      const m = /^\/models\/([^/]+\.gguf)$/.exec(url.pathname);
      if (!file && m) {
        try { file = models[decodeURIComponent(m[1])] || null; } catch { file = null; }
      }
      if (!file) return undefined; // a file under root
      return fileEntity(file);
    },
    // HTML gets the CSP
    headersFor(e) {
      if (/\.html$/.test(e.file || '')) return { 'content-security-policy': PAGE_CSP };
      return null;
    },
  });
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
