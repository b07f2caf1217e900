// chat.test.mjs — the chat page (web/) and the <wisp-chat> widget in headless Chromium
// (playwright-core + /usr/bin/chromium), served by tools/serve.mjs. With stories260K:
// greedy streamed reply equal to the engine's output computed in Node on the same rendered
// prompt, prefix reuse on the second turn, Stop, context overflow, XSS, privacy (every
// request), the widget on a plain page (st) and an isolated one (mt), keyboard-only use.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, fixture } from '../js/helpers.mjs';
import { waitFor, waitState, setSettings } from './support.mjs';
import { createServer } from '../../tools/serve.mjs';
import { Wisp } from '../../js/wisp.js';
import { renderChatTemplate, FALLBACK_TEMPLATES } from '../../js/chat-template.js';

const CHROMIUM = process.env.WISP_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const SYSTEM = 'You are a helpful assistant.';

let pw = null, ctx = null, userDir = null, app = null, plain = null, modelSrv = null, modelPath = null;
const logs = [];

async function setup(t) {
  modelPath = fixture(t, 'models/stories260K.gguf');
  if (!modelPath) return false;
  if (!fs.existsSync(path.join(ROOT, 'js/dist/wisp-st.wasm'))) throw new Error('js/dist is not built: run make wasm');
  if (!fs.existsSync(CHROMIUM)) { if (process.env.CI === 'true') throw new Error(`${CHROMIUM} missing`); t.skip(`${CHROMIUM} missing`); return false; }
  try { pw = await import('playwright-core'); } catch { if (process.env.CI === 'true') throw new Error('playwright-core missing'); t.skip('playwright-core missing (npm ci)'); return false; }
  const models = { 'stories260K.gguf': modelPath };
  app = createServer({ models, log: [] });
  app.url = await app.listen(0);
  plain = createServer({ models, coi: false, log: [] });
  plain.url = await plain.listen(0);
  modelSrv = createServer({ models, root: fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-empty-')), log: [] });
  modelSrv.url = await modelSrv.listen(0);
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-chat-'));
  ctx = await pw.chromium.launchPersistentContext(userDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 820 } });
  return true;
}

async function newPage() {
  const page = await ctx.newPage();
  page.on('console', (m) => logs.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  page.on('dialog', (d) => { logs.push(`[dialog] ${d.message()}`); d.dismiss(); });
  return page;
}

const status = (page) => page.locator('[data-role=status]').first();


// Sends a message with the UI and returns {text, snapshots, li dataset}.
async function sendAndWait(page, text) {
  const n = await page.locator('[data-role=assistant]').count();
  await page.evaluate(() => {
    window.__snaps = [];
    const list = document.getElementById('messages');
    window.__obs && window.__obs.disconnect();
    window.__obs = new MutationObserver(() => {
      const a = list.querySelectorAll('[data-role=assistant]');
      if (a.length) window.__snaps.push(a[a.length - 1].textContent);
    });
    window.__obs.observe(list, { subtree: true, childList: true, characterData: true });
  });
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await waitFor(page, (n) => {
    const li = document.querySelectorAll('li.msg.assistant')[n];
    return li && !li.hasAttribute('aria-busy');
  }, n, { timeout: 120000 });
  const li = page.locator('li.msg.assistant').nth(n);
  return {
    text: await li.locator('[data-role=assistant]').textContent(),
    data: await li.evaluate((e) => ({ ...e.dataset })),
    snaps: await page.evaluate(() => window.__snaps),
  };
}

test('chat page and widget in Chromium', { timeout: 600000 }, async (t) => {
  if (!(await setup(t))) return;
  // expected greedy output, computed with the JS API in Node on the same rendered prompt
  const node = await Wisp.load(modelPath);
  const msgs1 = [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'Hello there' }];
  const rendered = renderChatTemplate(FALLBACK_TEMPLATES.chatml, msgs1, { bosToken: '<s>', eosToken: '</s>' });
  const ids = await node.tokenize(rendered, { addBos: true, parseSpecial: true });
  const exp = { ids: [], text: '' };
  for await (const ev of node.generate(ids, { temperature: 0, maxTokens: 24, stop: ['<|im_end|>', '<|im_start|>'] })) {
    if (ev.done) exp.text += ev.text; else { exp.ids.push(ev.token); exp.text += ev.text; }
  }
  await node.unload();

  try {
    await t.test('local model file, streamed greedy reply, prefix reuse, Stop, keyboard, XSS', async () => {
      const page = await newPage();
      await page.goto(`${app.url}/web/index.html?test-hooks=1`);
      assert.equal(await page.evaluate(() => crossOriginIsolated), true);
      await page.locator('#file').setInputFiles(modelPath); // "Open a local .gguf"
      await waitState(page, 'ready');
      assert.match(await page.locator('#info').textContent(), /threads on.*; relaxed SIMD/);
      await setSettings(page, { temperature: 0, maxTokens: 24, seed: 1, repeatPenalty: 1 });
      await page.locator('#system').fill(SYSTEM);

      const r1 = await sendAndWait(page, 'Hello there');
      assert.equal(r1.text, exp.text.replace(/^\s+/, ''), 'greedy reply equals the engine output');
      assert.equal(Number(r1.data.generatedTokens), exp.ids.length);
      assert.equal(Number(r1.data.promptTokens), ids.length);
      assert.equal(Number(r1.data.prefilledTokens), ids.length);
      const growing = [...new Set(r1.snaps)].filter((s) => s.length && s.length < r1.text.length);
      // the page paints the growing reply at most every 30 ms (the first token at once), so a
      // fast engine may finish 24 tokens within one interval: at least one partial state must
      // have been on screen before the whole reply
      assert.ok(growing.length >= 1, `streamed in pieces (${growing.length} partial states)`);
      assert.match(await page.locator('li.msg.assistant .stats').first().textContent(), /TTFT \d+ ms · prefill .* tok\/s · decode .* tok\/s · threads on/);

      // second turn: only the new tokens are prefilled
      const r2 = await sendAndWait(page, 'Tell me more.');
      const p1 = Number(r1.data.promptTokens), g1 = Number(r1.data.generatedTokens);
      const kv1 = p1 + g1 - (r1.data.stopReason === 'length' ? 1 : 0); // the last sampled token is not evaluated
      assert.equal(Number(r2.data.prefilledTokens), Number(r2.data.promptTokens) - kv1, `prefilled only new tokens: ${JSON.stringify(r2.data)}`);
      assert.ok(Number(r2.data.prefilledTokens) <= Number(r2.data.promptTokens) - p1, 'the first turn was not prefilled again');
      await page.screenshot({ path: path.join(ROOT, 'tests/out/chat.png') });
      if (process.env.WISP_UPDATE_SCREENSHOT) await page.screenshot({ path: path.join(ROOT, 'docs/screenshot.png') });

      // Stop mid-stream
      await setSettings(page, { maxTokens: 400, temperature: 0.8 });
      await page.getByRole('textbox', { name: 'Message' }).fill('Another story, please.');
      await page.getByRole('button', { name: 'Send' }).click();
      await waitFor(page, () => { const a = document.querySelectorAll('[data-role=assistant]'); return a.length === 3 && a[2].textContent.length > 10; }, null, { timeout: 90000 });
      await page.getByRole('button', { name: 'Stop' }).click();
      await waitState(page, 'stopped');
      const stopped = page.locator('li.msg.assistant').nth(2);
      assert.equal(await stopped.getAttribute('data-stop-reason'), 'aborted');
      assert.ok((await stopped.locator('[data-role=assistant]').textContent()).length > 10);

      // keyboard only: Tab to the message box, Enter sends, Escape stops
      await page.locator('body').click({ position: { x: 5, y: 5 } }).catch(() => {});
      await page.evaluate(() => document.activeElement && document.activeElement.blur());
      let found = false;
      for (let i = 0; i < 60 && !found; i++) {
        await page.keyboard.press('Tab');
        found = await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('aria-label') === 'Message');
      }
      assert.ok(found, 'the Message box is reachable with Tab');
      await page.keyboard.type('Keyboard story');
      await page.keyboard.press('Enter');
      await waitFor(page, () => { const a = document.querySelectorAll('[data-role=assistant]'); return a.length === 4 && a[3].textContent.length > 5; }, null, { timeout: 90000 });
      await page.keyboard.press('Escape');
      await waitState(page, 'stopped');
      assert.equal(await page.locator('li.msg.assistant').nth(3).getAttribute('data-stop-reason'), 'aborted');
      // Send and New chat are buttons reachable by keyboard too
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Send');

      // XSS: output through the same rendering path is text, never markup
      const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>';
      const shown = await page.evaluate((p) => window.__wispTest.renderAssistant(p).textContent, payload);
      assert.equal(shown, payload);
      await page.waitForTimeout(300);
      assert.equal(await page.evaluate(() => window.__xss), undefined);
      assert.equal(await page.locator('#messages img, #messages script, #messages b').count(), 0);
      // New chat
      await page.getByRole('button', { name: 'New chat' }).click();
      assert.equal(await page.locator('[data-role=assistant]').count(), 0);
      await page.close();
    });

    await t.test('?model= on another origin: only own origin + the model URL are requested; context overflow', async () => {
      const page = await newPage();
      const requests = [];
      page.on('request', (r) => requests.push(r.url()));
      const modelUrl = `${modelSrv.url}/models/stories260K.gguf`;
      const appLogStart = app.log.length;
      await page.goto(`${app.url}/web/index.html?model=${encodeURIComponent(modelUrl)}&ctx=160`);
      await waitState(page, 'ready');
      await setSettings(page, { temperature: 0, maxTokens: 48 });
      let notice = 0;
      for (let i = 0; i < 5; i++) {
        const r = await sendAndWait(page, `Tell me story number ${i + 1} about a dog.`);
        assert.ok(r.text.length > 0, `turn ${i + 1} replied`);
        assert.notEqual(await status(page).getAttribute('data-state'), 'error');
        notice = await page.locator('[data-role=notice]').count();
        if (notice && i >= 2) break;
      }
      assert.ok(notice > 0, 'the UI says older messages were dropped');
      assert.match(await page.locator('[data-role=notice]').first().textContent(), /context is full/);
      assert.ok(await page.locator('li.msg.dropped').count() > 0);
      // the page's CSP only allows its own origin and the model's
      const blocked = await page.evaluate(() => fetch('http://127.0.0.1:9/x').then(() => 'fetched', (e) => 'blocked'));
      assert.equal(blocked, 'blocked');
      const own = new URL(app.url).origin;
      const other = requests.filter((u) => !u.startsWith(own + '/') && u !== modelUrl && !u.startsWith('data:') && u !== 'http://127.0.0.1:9/x');
      assert.deepEqual(other, [], 'no request other than own origin and the model URL');
      // server side (includes the worker's requests): the model host saw only the model file,
      // the page's host only the page's own files
      assert.ok(modelSrv.log.length > 0);
      assert.deepEqual([...new Set(modelSrv.log.map((e) => e.path))], ['/models/stories260K.gguf']);
      const appPaths = [...new Set(app.log.slice(appLogStart).map((e) => e.path))];
      assert.deepEqual(appPaths.filter((p) => !/^\/(web|js)\/[\w./-]+$/.test(p) && p !== '/models/catalog.json'), [], appPaths.join(' '));
      await page.close();
    });

    await t.test('widget: plain page (no COOP/COEP) -> st; isolated page -> mt', async () => {
      for (const [srv, variant] of [[plain, 'st'], [app, 'mt']]) {
        const page = await newPage();
        await page.goto(`${srv.url}/tests/e2e/widget.html`);
        assert.equal(await page.evaluate(() => crossOriginIsolated), variant === 'mt');
        await page.getByRole('button', { name: /Open chat/ }).click();
        await waitFor(page, () => document.querySelector('wisp-chat').shadowRoot.querySelector('[data-role=status]').dataset.state === 'ready', null, { timeout: 90000 });
        assert.equal(await page.evaluate(() => document.querySelector('wisp-chat').dataset.variant), variant);
        await page.getByRole('textbox', { name: 'Message' }).fill('Hi');
        await page.getByRole('button', { name: 'Send' }).click();
        await waitFor(page, () => {
          const li = document.querySelector('wisp-chat').shadowRoot.querySelector('li.msg.assistant');
          return li && !li.hasAttribute('aria-busy');
        }, null, { timeout: 90000 });
        const reply = await page.locator('wisp-chat [data-role=assistant]').textContent();
        assert.ok(reply.length > 0, `${variant}: reply`);
        assert.equal(await page.locator('wisp-chat li.msg.assistant').getAttribute('data-generated-tokens'), '16');
        if (variant === 'st') await page.screenshot({ path: path.join(ROOT, 'tests/out/widget.png') });
        await page.close();
      }
    });
  } catch (e) {
    console.error(logs.join('\n'));
    throw e;
  } finally {
    await ctx.close();
    await app.close();
    await plain.close();
    await modelSrv.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
});
