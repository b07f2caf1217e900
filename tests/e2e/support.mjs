// support.mjs — shared by the browser tests of the chat page and the widget: Chromium via
// playwright-core, polling helpers (the page's CSP forbids the string evaluation that
// page.waitForFunction uses), a chat driver, and small HTTP servers.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ROOT, fixture } from '../js/helpers.mjs';

export { ROOT, fixture };
export const CHROMIUM = process.env.WISP_CHROMIUM || '/usr/bin/chromium';
export const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
export const OUT = path.join(ROOT, 'tests/out');

// -> {pw, modelPath} or null after t.skip (a failure under CI=true)
export async function prerequisites(t) {
  const modelPath = fixture(t, 'models/stories260K.gguf');
  if (!modelPath) return null;
  if (!fs.existsSync(path.join(ROOT, 'js/dist/wisp-st.wasm'))) throw new Error('js/dist is not built: run make wasm');
  if (!fs.existsSync(CHROMIUM)) { if (process.env.CI === 'true') throw new Error(`${CHROMIUM} missing`); t.skip(`${CHROMIUM} missing`); return null; }
  let pw;
  try { pw = await import('playwright-core'); } catch { if (process.env.CI === 'true') throw new Error('playwright-core missing'); t.skip('playwright-core missing (npm ci)'); return null; }
  fs.mkdirSync(OUT, { recursive: true });
  return { pw, modelPath };
}

// A persistent context (Cache Storage works as in a normal profile); close() removes the profile.
export async function launch(pw) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-e2e-'));
  const ctx = await pw.chromium.launchPersistentContext(userDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 820 } });
  const logs = [];
  return {
    ctx, logs,
    async newPage() {
      const page = await ctx.newPage();
      page.on('console', (m) => logs.push(`[console.${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
      page.on('dialog', (d) => { logs.push(`[dialog] ${d.message()}`); d.dismiss(); });
      return page;
    },
    async close() {
      await ctx.close().catch(() => {});
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}

export async function waitFor(page, fn, arg, { timeout = 90000 } = {}) {
  const t0 = Date.now();
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() - t0 > timeout) throw new Error(`timed out waiting for ${fn.toString().slice(0, 160)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// the page's status element (data-role=status) reaching data-state=state
export async function waitState(page, state, timeout = 90000) {
  await waitFor(page, (s) => {
    const e = document.querySelector('[data-role=status]');
    return e && e.dataset.state === s;
  }, state, { timeout });
}

// waits until the status is one of `states`; returns it
export async function waitStates(page, states, timeout = 90000) {
  await waitFor(page, (ss) => {
    const e = document.querySelector('[data-role=status]');
    return e && ss.includes(e.dataset.state);
  }, states, { timeout });
  return page.locator('[data-role=status]').first().getAttribute('data-state');
}

export async function setSettings(page, s) {
  for (const [k, v] of Object.entries(s)) await page.locator(`#${k}`).fill(String(v));
}

// Sends a message with the UI; -> {text, data (the reply's li dataset)}
export async function sendAndWait(page, text, timeout = 120000) {
  const n = await page.locator('li.msg.assistant').count();
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await waitFor(page, (i) => {
    const li = document.querySelectorAll('li.msg.assistant')[i];
    return li && !li.hasAttribute('aria-busy');
  }, n, { timeout });
  const li = page.locator('li.msg.assistant').nth(n);
  return { text: await li.locator('[data-role=assistant]').textContent(), data: await li.evaluate((e) => ({ ...e.dataset })) };
}

// The greedy reply the page must show for `messages` (computed with the JS API in Node).
export async function nodeChat(model, messages, opts) {
  const ids = [];
  let text = '';
  let stats = null;
  for await (const ev of model.chat(messages, { temperature: 0, ...opts })) {
    if (ev.done) { text += ev.text; stats = ev.stats; } else { ids.push(ev.token); text += ev.text; }
  }
  return { ids, text, stats };
}

// A plain HTTP server for routes {path: {body, type, headers}} (host pages of the widget tests,
// a model server that says what it was asked). Every request is logged.
export async function startRoutes(routes, { headers = {} } = {}) {
  const log = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    log.push({ method: req.method, path: u.pathname, range: req.headers.range || null });
    const r = routes[u.pathname];
    if (!r) { res.writeHead(404, headers); res.end(); return; }
    if (typeof r === 'function') { r(req, res, headers); return; }
    res.writeHead(200, { ...headers, 'content-type': r.type || 'text/html; charset=utf-8', ...(r.headers || {}) });
    res.end(r.body);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    close: () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

// Range handler for a file that is `header` followed by zeros up to `total` bytes (a model far
// too big to exist on disk), with CORS for pages on other origins. Never sends more than 1 MiB.
export function fakeModelRoute(header, total) {
  return (req, res, base) => {
    const h = { ...base, 'access-control-allow-origin': '*', 'access-control-allow-headers': 'range',
      'access-control-expose-headers': 'content-range, content-length, etag, last-modified, accept-ranges',
      'cross-origin-resource-policy': 'cross-origin', 'accept-ranges': 'bytes', etag: '"fake"' };
    if (req.method === 'OPTIONS') { res.writeHead(204, h); res.end(); return; }
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    if (!m) { res.writeHead(200, { ...h, 'content-length': String(total) }); res.end(); return; } // no body: Range only
    const start = Number(m[1]);
    const end = Math.min(total - 1, m[2] ? Number(m[2]) : start + 2 ** 20 - 1, start + 2 ** 20 - 1);
    const body = Buffer.alloc(end - start + 1);
    if (start < header.length) header.copy(body, 0, start, Math.min(header.length, end + 1));
    res.writeHead(206, { ...h, 'content-range': `bytes ${start}-${end}/${total}`, 'content-length': String(body.length) });
    res.end(body);
  };
}
