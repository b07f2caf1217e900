// widget-cross-origin.test.mjs — the embed snippet on an intranet page of another origin: the
// page (its own server and port) loads widget.js, the engine and the model from the wisp
// server (tools/serve.mjs, another port). Once on a plain page (no COOP/COEP: single-threaded
// engine) and once on a cross-origin-isolated one (multi-threaded: the pthread workers start
// from blob: bootstraps), both under the strict CSP that README.md documents for host pages.
// The reply must be the engine's greedy output, computed in Node.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createServer } from '../../tools/serve.mjs';
import { Wisp } from '../../js/wisp.js';
import { prerequisites, launch, waitFor, startRoutes, nodeChat, OUT } from './support.mjs';

const SYSTEM = 'You tell stories.';

function hostPage(wisp) {
  // the documented minimum CSP for a page embedding the widget from `wisp` (a module worker's
  // imports are checked against worker-src, so it lists the wisp origin too)
  const csp = `default-src 'self'; script-src 'self' ${wisp} 'wasm-unsafe-eval'; style-src 'self' ${wisp}; img-src 'self' data:; ` +
    `worker-src blob: ${wisp}; connect-src 'self' ${wisp}; object-src 'none'; base-uri 'none'`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>Intranet page</title>
<link rel="icon" href="data:,">
<script type="module" src="${wisp}/web/widget.js"></script>
</head><body>
<h1>Intranet page on another origin</h1>
<wisp-chat model="${wisp}/models/stories260K.gguf" title="Story bot" system-prompt="${SYSTEM}" max-tokens="16" temperature="0"></wisp-chat>
</body></html>`;
}

test('widget embedded from another origin (plain page -> st, isolated page -> mt)', { timeout: 360000 }, async (t) => {
  const pre = await prerequisites(t);
  if (!pre) return;
  const { pw, modelPath } = pre;
  // the widget's settings: DEFAULT_SETTINGS of web/chat-ui.js with max-tokens=16, temperature=0
  const node = await Wisp.load(modelPath);
  const exp = await nodeChat(node, [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'Hi' }],
    { maxTokens: 16, topK: 40, topP: 0.9, minP: 0.05, repeatPenalty: 1.1 });
  await node.unload();

  // the wisp server: no COOP/COEP of its own (it only serves subresources here)
  const wisp = createServer({ models: { 'stories260K.gguf': modelPath }, coi: false, log: [] });
  wisp.url = await wisp.listen(0);
  const browser = await launch(pw);
  const hosts = [];
  try {
    for (const [coi, variant] of [[false, 'st'], [true, 'mt']]) {
      await t.test(`host page ${coi ? 'with' : 'without'} COOP/COEP -> ${variant}`, async () => {
        const headers = coi ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
        const host = await startRoutes({ '/intranet.html': { body: hostPage(wisp.url) } }, { headers });
        hosts.push(host);
        assert.notEqual(new URL(host.url).origin, new URL(wisp.url).origin);
        const wispLog0 = wisp.log.length;
        const page = await browser.newPage();
        const violations = [];
        page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text()); });
        await page.goto(`${host.url}/intranet.html`);
        assert.equal(await page.evaluate(() => crossOriginIsolated), coi);
        await page.getByRole('button', { name: /Open chat/ }).click();
        const shadowState = () => document.querySelector('wisp-chat').shadowRoot.querySelector('[data-role=status]').dataset.state;
        await waitFor(page, (f) => ['ready', 'error'].includes(document.querySelector('wisp-chat').shadowRoot.querySelector('[data-role=status]').dataset.state), null, { timeout: 120000 });
        const statusText = await page.locator('wisp-chat [data-role=status]').textContent();
        assert.equal(await page.evaluate(shadowState), 'ready', `widget status: ${statusText}\n${browser.logs.join('\n')}`);
        assert.equal(await page.evaluate(() => document.querySelector('wisp-chat').dataset.variant), variant);
        // Chromium has relaxed SIMD: the worker must pick the -relaxed build of that variant
        assert.equal(await page.evaluate(() => document.querySelector('wisp-chat').dataset.simd), 'relaxed');
        const build = `wisp-${variant}-relaxed`;
        await page.getByRole('textbox', { name: 'Message' }).fill('Hi');
        await page.getByRole('button', { name: 'Send' }).click();
        await waitFor(page, () => {
          const li = document.querySelector('wisp-chat').shadowRoot.querySelector('li.msg.assistant');
          return li && !li.hasAttribute('aria-busy');
        }, null, { timeout: 120000 });
        const li = page.locator('wisp-chat li.msg.assistant');
        assert.equal(await li.getAttribute('data-generated-tokens'), String(exp.ids.length));
        assert.equal(await page.locator('wisp-chat [data-role=assistant]').textContent(), exp.text.replace(/^\s+/, ''), `${variant}: greedy reply`);
        assert.deepEqual(violations, [], 'no CSP violation under the documented host-page policy');
        // the host served only its page; the engine, its wasm and the model came from wisp
        assert.deepEqual([...new Set(host.log.map((e) => e.path))], ['/intranet.html']);
        const wispPaths = new Set(wisp.log.slice(wispLog0).map((e) => e.path));
        for (const p of ['/web/widget.js', '/js/wisp.js', '/js/worker.js', `/js/dist/${build}.wasm`, '/models/stories260K.gguf']) {
          assert.ok(wispPaths.has(p), `${p} fetched from the wisp server`);
        }
        if (variant === 'mt') assert.ok(wispPaths.has(`/js/dist/${build}.worker.js`), 'pthread workers started from the wisp server\'s script');
        assert.ok(![...wispPaths].some((p) => /\/js\/dist\/.*\.wasm$/.test(p) && p !== `/js/dist/${build}.wasm`), `only ${build}.wasm fetched: ${[...wispPaths]}`);
        if (variant === 'st') await page.screenshot({ path: path.join(OUT, 'widget-cross-origin.png') });
        await page.close();
      });
    }
  } catch (e) {
    console.error(browser.logs.join('\n'));
    throw e;
  } finally {
    await browser.close();
    for (const h of hosts) await h.close();
    await wisp.close();
  }
});
