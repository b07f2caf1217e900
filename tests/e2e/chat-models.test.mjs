// chat-models.test.mjs — how the chat page gets its model, in headless Chromium: drag and drop
// of a local .gguf, the model cache (badge, delete, partial downloads never shown as cached),
// a model too big for wasm32 refused before its download with a clear message, and the
// catalog's sha256 passed to Wisp.load (right one: verified; wrong one: clear error). After
// every failure the page must still load a good model and chat.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer } from '../../tools/serve.mjs';
import { Wisp } from '../../js/wisp.js';
import { parseGguf, writeGgufHeader, getU32, setU32 } from './gguf.mjs';
import { prerequisites, launch, waitFor, waitState, waitStates, setSettings, sendAndWait, nodeChat, startRoutes, fakeModelRoute, OUT } from './support.mjs';

const SYSTEM = 'You are a helpful assistant.';
const CACHE = 'wisp-models-v1';
const cacheUrls = (page) => page.evaluate((name) => caches.open(name).then((c) => c.keys()).then((k) => k.map((r) => r.url)), CACHE);
const dataRequests = (log, p, dataOffset) => log.filter((e) => e.path === p && e.range && Number(/bytes=(\d+)/.exec(e.range)[1]) >= dataOffset);

test('chat page: local files, cache, memory limits, integrity', { timeout: 600000 }, async (t) => {
  const pre = await prerequisites(t);
  if (!pre) return;
  const { pw, modelPath } = pre;
  const bytes = fs.readFileSync(modelPath);
  const sha = crypto.createHash('sha256').update(bytes).digest('hex');
  const gguf = parseGguf(bytes);

  // the greedy reply the page must show (same settings as below), computed in Node
  const node = await Wisp.load(modelPath);
  const exp = await nodeChat(node, [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'Hello there' }], { maxTokens: 24, repeatPenalty: 1 });
  await node.unload();
  const expText = exp.text.replace(/^\s+/, '');
  assert.ok(expText.length > 10);

  // a test catalog: the model with its real sha256, a copy with a wrong one, a copy with none
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-models-'));
  const catalogFile = path.join(tmp, 'catalog.json');
  const entry = (id, name, file, sha256) => ({ id, name, quant: 'F32', url: `/models/${file}`, size: bytes.length, sizeApprox: false, sha256,
    license: 'MIT', licenseUrl: 'https://example.invalid/', arch: 'llama', template: 'chatml', note: `${name}.` });
  fs.writeFileSync(catalogFile, JSON.stringify({ models: [
    entry('good', 'Stories verified', 'stories260K.gguf', sha),
    entry('bad', 'Stories wrong checksum', 'stories-badsha.gguf', 'ab'.repeat(32)),
    entry('nosha', 'Stories unchecked', 'stories-nosha.gguf', null),
  ] }));
  const app = createServer({
    models: { 'stories260K.gguf': modelPath, 'stories-badsha.gguf': modelPath, 'stories-nosha.gguf': modelPath },
    extraRoutes: { '/models/catalog.json': catalogFile }, log: [],
  });
  app.url = await app.listen(0);
  const page0 = `${app.url}/web/index.html`;
  const withModel = (u, extra = '') => `${page0}?model=${encodeURIComponent(u)}${extra}`;

  // A model far too big for wasm32: stories260K's header with feed_forward_length 2^21 (every
  // FFN tensor resized to match): 7.5 GiB of F32 weights, served as header + zeros.
  const big = parseGguf(bytes);
  const nff = getU32(big, 'llama.feed_forward_length');
  setU32(big, 'llama.feed_forward_length', 2 ** 21);
  for (const tt of big.tensors) if (/ffn_(gate|up|down)/.test(tt.name)) tt.dims = tt.dims.map((d) => (d === nff ? 2 ** 21 : d));
  const bigFile = writeGgufHeader(big);
  assert.ok(bigFile.total > 7 * 2 ** 30, `crafted model is ${bigFile.total} bytes`);

  // A server whose model download stalls halfway (the tab closes or another model is chosen
  // in the middle of a download)
  const stallRoute = (req, res, base) => {
    const h = { ...base, 'access-control-allow-origin': '*', 'access-control-allow-headers': 'range', 'cross-origin-resource-policy': 'cross-origin',
      'access-control-expose-headers': 'content-range, content-length, etag, last-modified, accept-ranges', 'accept-ranges': 'bytes', etag: '"stall"' };
    if (req.method === 'OPTIONS') { res.writeHead(204, h); res.end(); return; }
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(bytes.length - 1, Number(m[2])) : bytes.length - 1;
    res.writeHead(m ? 206 : 200, { ...h, 'content-length': String(end - start + 1), ...(m ? { 'content-range': `bytes ${start}-${end}/${bytes.length}` } : {}) });
    if (start < gguf.dataOffset) { res.end(bytes.subarray(start, end + 1)); return; } // the header: whole
    res.write(bytes.subarray(start, start + Math.floor((end - start) / 2))); // then nothing more
  };
  const other = await startRoutes({ '/models/huge.gguf': fakeModelRoute(bigFile.header, bigFile.total), '/models/stall.gguf': stallRoute });

  const browser = await launch(pw);
  const chatCheck = async (page) => {
    await setSettings(page, { temperature: 0, maxTokens: 24, repeatPenalty: 1 });
    const r = await sendAndWait(page, 'Hello there');
    assert.equal(r.text, expText, 'greedy reply equals the engine output');
  };
  try {
    await t.test('drag and drop of a local .gguf (and of a wrong file)', async () => {
      const page = await browser.newPage();
      await page.goto(page0);
      await waitState(page, 'idle');
      const drop = page.locator('#drop');
      // a file that is not a .gguf: a clear message, nothing loaded
      const txt = await page.evaluateHandle(() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['hello'], 'notes.txt', { type: 'text/plain' }));
        return dt;
      });
      await drop.dispatchEvent('dragenter', { dataTransfer: txt });
      await drop.dispatchEvent('drop', { dataTransfer: txt });
      await waitState(page, 'error');
      assert.match(await page.locator('#load-error').textContent(), /Not a \.gguf file: notes\.txt/);
      // the model file, built in the page from the fixture's bytes
      const dt = await page.evaluateHandle((b64) => {
        const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const d = new DataTransfer();
        d.items.add(new File([bin], 'stories260K.gguf', { type: 'application/octet-stream' }));
        return d;
      }, bytes.toString('base64'));
      await drop.dispatchEvent('dragenter', { dataTransfer: dt });
      await drop.dispatchEvent('dragover', { dataTransfer: dt });
      assert.equal(await drop.evaluate((e) => e.classList.contains('over')), true, 'the drop zone is highlighted while dragging');
      await drop.dispatchEvent('drop', { dataTransfer: dt });
      await waitState(page, 'ready');
      assert.equal(await drop.evaluate((e) => e.classList.contains('over')), false);
      assert.equal(await page.locator('#load-error').isHidden(), true);
      assert.match(await page.locator('#info').textContent(), /stories260K\.gguf|Architecture/);
      assert.equal(await page.evaluate(() => window.wispModel.info.loadMode), 'blob');
      assert.equal(await page.locator('#badge-cached').isHidden(), true, 'a local file is never cached');
      assert.deepEqual(await cacheUrls(page), []);
      // nothing was requested for the model: it was read in place
      assert.equal(app.log.filter((e) => /\.gguf$/.test(e.path)).length, 0);
      await chatCheck(page);
      await page.close();
    });

    await t.test('cached badge, delete, and partial downloads never shown as cached', async () => {
      const page = await browser.newPage();
      const url = `${app.url}/models/stories-nosha.gguf`;
      await page.goto(withModel('/models/stories-nosha.gguf'));
      await waitState(page, 'ready');
      assert.equal(await page.locator('#badge-cached').isVisible(), true, 'badge after a download that was stored');
      assert.match(await page.locator('#info').textContent(), /saved to the cache/);
      assert.deepEqual(await cacheUrls(page), [url]);
      await page.locator('summary', { hasText: 'Cached models' }).click();
      const item = page.locator(`#cache-list li[data-url="${url}"]`);
      assert.equal(await item.getAttribute('data-complete'), 'true');
      assert.match(await page.locator('#catalog option', { hasText: 'Stories unchecked' }).textContent(), /· cached$/);

      // reopened: loaded from the cache (no model bytes requested), still badged
      const before = app.log.length;
      await page.reload();
      await waitState(page, 'ready');
      assert.equal(await page.evaluate(() => window.wispModel.info.loadMode), 'cache');
      assert.deepEqual(app.log.slice(before).filter((e) => /\.gguf$/.test(e.path)), []);
      assert.equal(await page.locator('#badge-cached').isVisible(), true);
      await page.screenshot({ path: path.join(OUT, 'chat-cached.png') });

      // delete: gone from Cache Storage, the list, the picker and the badge
      await page.locator('summary', { hasText: 'Cached models' }).click();
      await page.getByRole('button', { name: 'Delete cached stories-nosha.gguf' }).click();
      await waitFor(page, () => document.querySelectorAll('#cache-list li').length === 0);
      assert.deepEqual(await cacheUrls(page), []);
      assert.equal(await page.locator('#badge-cached').isHidden(), true);
      assert.equal(await page.locator('#cache-empty').isVisible(), true);
      assert.doesNotMatch(await page.locator('#catalog option', { hasText: 'Stories unchecked' }).textContent(), /cached/);
      await chatCheck(page); // the loaded model is unaffected

      // a download cut off halfway (another model is opened meanwhile): nothing is cached
      const stall = `${other.url}/models/stall.gguf`;
      await page.goto(withModel(stall));
      await waitFor(page, () => /Downloading/.test(document.getElementById('progress-text').textContent));
      await page.locator('#file').setInputFiles(modelPath);
      await waitState(page, 'ready');
      assert.equal(await page.evaluate(() => window.wispModel.info.loadMode), 'blob');
      assert.deepEqual(await cacheUrls(page), []);
      assert.equal(await page.locator('#cache-list li').count(), 0);
      assert.equal(await page.locator('#badge-cached').isHidden(), true);

      // an entry whose body is shorter than recorded (as a cut-off write would leave): listed as
      // incomplete, not cached; loading the URL downloads it again
      await page.evaluate(async ({ name, url, half, size }) => {
        const c = await caches.open(name);
        await c.put(url, new Response(new Uint8Array(half), { headers: { 'x-wisp-size': String(size), 'x-wisp-complete': '1', 'x-wisp-version': '1' } }));
      }, { name: CACHE, url, half: Math.floor(bytes.length / 2), size: bytes.length });
      await page.goto(page0);
      await waitState(page, 'idle');
      const partial = page.locator(`#cache-list li[data-url="${url}"]`);
      assert.equal(await partial.getAttribute('data-complete'), 'false');
      assert.match(await partial.textContent(), /incomplete/);
      assert.doesNotMatch(await page.locator('#catalog option', { hasText: 'Stories unchecked' }).textContent(), /cached/);
      const l0 = app.log.length;
      await page.goto(withModel('/models/stories-nosha.gguf'));
      await waitState(page, 'ready');
      assert.notEqual(await page.evaluate(() => window.wispModel.info.loadMode), 'cache');
      assert.ok(dataRequests(app.log.slice(l0), '/models/stories-nosha.gguf', gguf.dataOffset).length > 0, 'downloaded again');
      assert.equal(await page.locator('#badge-cached').isVisible(), true);
      assert.equal(await page.locator(`#cache-list li[data-url="${url}"]`).getAttribute('data-complete'), 'true');
      await page.locator('summary', { hasText: 'Cached models' }).click();
      await page.getByRole('button', { name: 'Delete cached stories-nosha.gguf' }).click();
      await waitFor(page, () => document.querySelectorAll('#cache-list li').length === 0);
      await page.close();
    });

    await t.test('a model that does not fit in memory: clear message before the download; page stays usable', async () => {
      const page = await browser.newPage();
      const huge = `${other.url}/models/huge.gguf`;
      await page.goto(withModel(huge));
      assert.equal(await waitStates(page, ['error', 'ready']), 'error');
      const msg = await page.locator('#load-error').textContent();
      assert.equal(await page.locator('#load-error').getAttribute('data-code'), 'OOM');
      assert.match(msg, /does not fit in the memory a browser tab can use/);
      assert.match(msg, /weights need 8\.1 GB/, 'sizes in human units');
      assert.match(await page.locator('[data-role=status]').textContent(), /does not fit in memory/);
      assert.equal(await page.locator('#progress-box').isHidden(), true);
      assert.deepEqual(dataRequests(other.log, '/models/huge.gguf', bigFile.header.length), [], 'no tensor data was downloaded');
      assert.deepEqual(await cacheUrls(page), []);
      // the KV cache alone too big: a huge context size
      const l0 = app.log.length;
      await page.goto(withModel('/models/stories260K.gguf', '&ctx=8000000'));
      assert.equal(await waitStates(page, ['error', 'ready']), 'error');
      assert.equal(await page.locator('#load-error').getAttribute('data-code'), 'OOM');
      assert.match(await page.locator('#load-error').textContent(), /KV cache at context 8000000.*smaller context size/);
      assert.deepEqual(dataRequests(app.log.slice(l0), '/models/stories260K.gguf', gguf.dataOffset), []);
      // still usable: as the message suggests, a smaller context (here: the default), then a
      // good model opened in the same page, and a chat
      assert.equal(await page.locator('#contextSize').inputValue(), '8000000');
      await page.locator('#contextSize').fill('');
      await page.locator('#file').setInputFiles(modelPath);
      await waitState(page, 'ready');
      assert.equal(await page.locator('#load-error').isHidden(), true);
      await chatCheck(page);
      await page.close();
    });

    await t.test('catalog sha256: passed to Wisp.load, verified; a wrong one is a clear error', async () => {
      const page = await browser.newPage();
      await page.goto(page0);
      await waitState(page, 'idle');
      const pick = async (label, file) => {
        await page.locator('#catalog').selectOption({ label: new RegExp(`^${label}`) }).catch(async () => {
          const v = await page.locator('#catalog option', { hasText: label }).getAttribute('value');
          await page.locator('#catalog').selectOption(v);
        });
        assert.equal(await page.locator('#model-url').inputValue(), `/models/${file}`);
        const note = await page.locator('#catalog-note').textContent();
        await Promise.all([page.waitForURL((u) => u.searchParams.get('model') === `/models/${file}`), page.getByRole('button', { name: 'Load' }).click()]);
        return note;
      };
      // the right sha256: verified, shown
      let note = await pick('Stories verified', 'stories260K.gguf');
      assert.match(note, new RegExp(`checked against the catalog's sha256 \\(${sha.slice(0, 12)}…\\)`));
      await waitState(page, 'ready');
      assert.equal(await page.evaluate(() => window.wispModel.info.sha256), sha);
      assert.match(await page.locator('#info').textContent(), new RegExp(`Integritysha256 verified: ${sha}`));
      // a wrong sha256: INTEGRITY, nothing cached
      note = await pick('Stories wrong checksum', 'stories-badsha.gguf');
      assert.equal(await waitStates(page, ['error', 'ready']), 'error');
      assert.equal(await page.locator('#load-error').getAttribute('data-code'), 'INTEGRITY');
      assert.match(await page.locator('#load-error').textContent(), /does not match the expected sha256: .*expected abab.*got [0-9a-f]{64}/);
      assert.match(await page.locator('[data-role=status]').textContent(), /does not match its sha256/);
      assert.ok(!(await cacheUrls(page)).some((u) => u.endsWith('stories-badsha.gguf')), 'a mismatching download is not cached');
      // no sha256: said so, loads unchecked
      note = await pick('Stories unchecked', 'stories-nosha.gguf');
      assert.match(note, /No sha256 in the catalog .* not integrity-checked/);
      await waitState(page, 'ready');
      assert.equal(await page.evaluate(() => window.wispModel.info.sha256), null);
      assert.match(await page.locator('#info').textContent(), /Integritynot checked/);
      // the verified one again, now from the cache (its stored sha256 matches): usable, chats
      await pick('Stories verified', 'stories260K.gguf');
      await waitState(page, 'ready');
      assert.equal(await page.evaluate(() => [window.wispModel.info.loadMode, window.wispModel.info.sha256].join()), `cache,${sha}`);
      await chatCheck(page);
      await page.close();
    });
  } catch (e) {
    console.error(browser.logs.join('\n'));
    throw e;
  } finally {
    await browser.close();
    await other.close();
    await app.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
