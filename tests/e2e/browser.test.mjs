// browser.test.mjs — headless Chromium (playwright-core driving /usr/bin/chromium) against
// local servers (tools/static-server.mjs via tests/js/helpers.mjs): the app (page + js/ +
// js/dist/, with COOP/COEP) and, on another origin, the model (Range + CORS). Loads
// stories260K.gguf with the mt (2 threads, then 1) and st variants, checks greedy tokens
// against llama.cpp's reference, aborts a generation and generates again, and loads from the
// Cache Storage with the model server stopped.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, fixture, referenceIds, startServer } from '../js/helpers.mjs';

const CHROMIUM = process.env.WISP_CHROMIUM || '/usr/bin/chromium';

async function getPlaywright(t) {
  try {
    return await import('playwright-core');
  } catch {
    const msg = 'playwright-core is not installed (run npm install)';
    if (process.env.CI === 'true') throw new Error(msg);
    console.error(`\n*** SKIP: ${msg} ***\n`);
    t.skip(msg);
    return null;
  }
}

test('Chromium: mt + st greedy tokens, abort, cache with the server stopped', { timeout: 180000 }, async (t) => {
  const model = fixture(t, 'models/stories260K.gguf');
  if (!model) return;
  if (!fs.existsSync(path.join(ROOT, 'js/dist/wisp-st.wasm'))) throw new Error('js/dist is not built: run make wasm');
  if (!fs.existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error(`${CHROMIUM} missing`);
    t.skip(`${CHROMIUM} missing`);
    return;
  }
  const pw = await getPlaywright(t);
  if (!pw) return;
  const REF = referenceIds('stories260K', 32);
  const app = await startServer({ staticRoot: ROOT });
  let modelSrv = await startServer({ routes: { '/stories260K.gguf': { file: model } }, cors: true });
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-chromium-'));
  const ctx = await pw.chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const logs = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (m) => logs.push(`[console.${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(`${app.url}/tests/e2e/page.html`);
    await page.waitForFunction(() => window.ready === true);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'page must be cross-origin isolated');
    const url = `${modelSrv.url}/stories260K.gguf`;

    // mt (auto picks mt on an isolated page), with the cache on
    const mt = await page.evaluate(async (url) => {
      const m = await Wisp.load(url, { threads: 2, chunkSize: 256 * 1024 });
      const r = await greedy(m, 32);
      // abort mid-generation, then generate again
      const ctl = new AbortController();
      let abortName = null;
      try { await greedy(m, 200, ctl.signal, { n: 5, ctl }); } catch (e) { abortName = e.name; }
      const again = await greedy(m, 32);
      const info = m.info;
      await m.unload();
      return { info, ids: r.ids, text: r.text, stats: r.stats, abortName, again: again.ids };
    }, url);
    console.log(`mt: variant=${mt.info.variant} threads=${mt.info.threads} (${mt.info.variantReason}) load ${mt.info.loadMs} ms, cache=${mt.info.cache}, decode ${mt.stats.decodeTokPerSec?.toFixed(0)} tok/s, wasm memory ${mt.info.wasmMemoryBytes}`);
    assert.equal(mt.info.variant, 'mt');
    assert.match(mt.info.variantReason, /crossOriginIsolated/);
    assert.deepEqual(mt.ids, REF);
    assert.equal(mt.abortName, 'AbortError');
    assert.deepEqual(mt.again, REF);
    assert.equal(mt.info.cache, 'stored');

    // st
    const st = await page.evaluate(async (url) => {
      const m = await Wisp.load(url, { variant: 'st', cache: false });
      const r = await greedy(m, 32);
      const info = m.info;
      await m.unload();
      return { info, ids: r.ids, stats: r.stats };
    }, url);
    console.log(`st: load ${st.info.loadMs} ms, decode ${st.stats.decodeTokPerSec?.toFixed(0)} tok/s`);
    assert.equal(st.info.variant, 'st');
    assert.deepEqual(st.ids, REF);

    // mt with one thread (an empty pthread pool: used to hang at instantiation)
    const mt1 = await page.evaluate(async (url) => {
      const m = await Wisp.load(url, { variant: 'mt', threads: 1, cache: false, signal: AbortSignal.timeout(60000) });
      const r = await greedy(m, 32);
      const info = m.info;
      await m.unload();
      return { info, ids: r.ids, stats: r.stats };
    }, url);
    console.log(`mt threads=1: load ${mt1.info.loadMs} ms, decode ${mt1.stats.decodeTokPerSec?.toFixed(0)} tok/s`);
    assert.equal(mt1.info.variant, 'mt');
    assert.equal(mt1.info.threads, 1);
    assert.deepEqual(mt1.ids, REF);

    // the cache, with the model server stopped
    const listed = await page.evaluate(() => Wisp.cache.list());
    assert.ok(listed.some((e) => e.url === url && e.size === 1185376 && e.complete), JSON.stringify(listed));
    await modelSrv.close();
    modelSrv = null;
    const cached = await page.evaluate(async (url) => {
      const phases = new Set();
      const m = await Wisp.load(url, { onProgress: (p) => phases.add(p.phase) });
      const r = await greedy(m, 32);
      const info = m.info;
      await m.unload();
      return { info, ids: r.ids, phases: [...phases] };
    }, url);
    console.log(`cached: loadMode=${cached.info.loadMode} load ${cached.info.loadMs} ms, phases ${cached.phases.join(',')}`);
    assert.equal(cached.info.loadMode, 'cache');
    assert.equal(cached.info.cache, 'hit');
    assert.deepEqual(cached.ids, REF);
    // delete, then a load fails (server is down) with a NETWORK error
    const after = await page.evaluate(async (url) => {
      await Wisp.cache.delete(url);
      const left = await Wisp.cache.list();
      try { await Wisp.load(url, { retries: 1, retryDelayMs: 10 }); return { left, err: null }; } catch (e) { return { left, err: e.code }; }
    }, url);
    assert.equal(after.left.length, 0);
    assert.equal(after.err, 'NETWORK');
  } catch (e) {
    console.error(logs.join('\n'));
    throw e;
  } finally {
    await ctx.close();
    await app.close();
    if (modelSrv) await modelSrv.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
});
