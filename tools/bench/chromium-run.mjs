// chromium-run.mjs — runs an Emscripten program (built with -sENVIRONMENT=web
// -sEXIT_RUNTIME=1) in headless Chromium and prints its output, for micro-benchmarks that
// must be measured in the browser's V8 (tools/bench/kernel-bench.c's header):
//   node tools/bench/chromium-run.mjs DIR PROGRAM.js [args...]
// DIR is served on localhost (cross-origin isolated, so pthread builds work too); the
// program's argv are args; it ends when the runtime exits.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ARGS, CHROMIUM } from './chromium.mjs';

const [dir, file, ...args] = process.argv.slice(2);
if (!dir || !file) {
  console.error('usage: node tools/bench/chromium-run.mjs DIR PROGRAM.js [args...]');
  process.exit(2);
}
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
const page = `<!DOCTYPE html><meta charset="utf-8"><script>var Module = { arguments: ${JSON.stringify(args)},
  print: (t) => console.log(t), printErr: (t) => console.log(t), onExit: (c) => console.log('__exit__ ' + c) };</script>
<script src="/${file}"></script>`;
const root = path.resolve(dir);
const server = http.createServer((req, res) => {
  const url = decodeURIComponent(req.url.split('?')[0]);
  if (url === '/favicon.ico') {
    res.writeHead(204);
    return res.end();
  }
  if (url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html', ...isolation });
    return res.end(page);
  }
  const p = path.join(root, path.normalize(url));
  if (!p.startsWith(root + path.sep) || !fs.existsSync(p)) {
    res.writeHead(404);
    return res.end();
  }
  const type = p.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
  res.writeHead(200, { 'Content-Type': type, ...isolation });
  fs.createReadStream(p).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { chromium } = await import('playwright-core');
const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-run-'));
const ctx = await chromium.launchPersistentContext(userDir, { executablePath: CHROMIUM, headless: true, args: ARGS });
let code = 1;
try {
  const tab = ctx.pages()[0] || await ctx.newPage();
  const done = new Promise((resolve) => {
    tab.on('console', (m) => {
      const t = m.text();
      const e = /^__exit__ (\d+)$/.exec(t);
      if (e) { code = Number(e[1]); resolve(); } else console.log(t);
    });
    tab.on('pageerror', (e) => { console.error(`page error: ${e.message}`); resolve(); });
  });
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  await done;
} finally {
  await ctx.close();
  server.close();
  fs.rmSync(userDir, { recursive: true, force: true });
}
process.exit(code);
