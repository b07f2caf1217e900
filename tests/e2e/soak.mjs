// soak.mjs — long-running chat soak in headless Chromium: N multi-turn chat turns (default 500)
// on stories260K with a growing conversation, context overflows and aborts mixed in; samples
// wasm memory, malloc'd bytes and the page's JS heap every 50 turns and fails on growth after
// warm-up.   node tests/e2e/soak.mjs [--turns N] [--variant mt|st] [--every 50] [--worker-heap]
// (make test-soak runs 50 turns)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, fixture, startServer } from '../js/helpers.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : (process.env[`SOAK_${name.toUpperCase()}`] || dflt);
};
const TURNS = Number(arg('turns', 500));
const EVERY = Number(arg('every', 50));
const VARIANT = arg('variant', 'auto');
const WORKER_HEAP = process.argv.includes('--worker-heap');
const CONTEXT = 256;
const CHROMIUM = process.env.WISP_CHROMIUM || '/usr/bin/chromium';
// allowed drift after warm-up (the first sample): wasm memory never grows; malloc'd bytes and
// the page's JS heap (measured after a forced GC) stay within small noise bands
const MALLOC_SLACK = 64 * 1024;
const HEAP_SLACK = 3 * 2 ** 20;

async function main() {
  const model = fixture(null, 'models/stories260K.gguf');
  if (!model) throw new Error('stories260K.gguf missing');
  if (!fs.existsSync(path.join(ROOT, 'js/dist/wisp-st.wasm'))) throw new Error('js/dist is not built: run make wasm');
  const pw = await import('playwright-core');
  const app = await startServer({ staticRoot: ROOT });
  const modelSrv = await startServer({ routes: { '/stories260K.gguf': { file: model } }, cors: true });
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-soak-'));
  const ctx = await pw.chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const logs = [];
  const t0 = Date.now();
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') logs.push(`[console.${m.type()}] ${m.text()}`); });
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    await page.goto(`${app.url}/tests/e2e/page.html`);
    await page.waitForFunction(() => window.ready === true);
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('HeapProfiler.enable');

    await page.evaluate((on) => { window.soakWorkerHeap = on; }, WORKER_HEAP);
    const info = await page.evaluate(async ({ url, variant, contextSize }) => {
      window.soakModel = await Wisp.load(url, { variant, threads: 2, contextSize, cache: false });
      // one chat turn: returns a small record (kind: ok | overflow | abort | context-stop)
      window.soakTurn = async (i, state) => {
        const m = window.soakModel;
        const users = ['Tell me about the cat.', 'What did Lily do next?', 'And then?', 'Why was the dog sad?',
          'Once upon a time', 'The end. Another one?', 'She said hello.'];
        let prompt;
        const kind = i % 13 === 5 ? 'overflow' : i % 7 === 3 ? 'abort' : 'chat';
        if (kind === 'overflow') prompt = state.conv + ' ' + 'and the big dog ran '.repeat(80); // > context
        else prompt = (state.conv ? state.conv + '\n' : '') + users[i % users.length];
        const ctl = new AbortController();
        let text = '', n = 0, stats = null;
        try {
          for await (const ev of m.generate(prompt, { maxTokens: 24, temperature: 0.8, seed: i, signal: ctl.signal })) {
            if (ev.done) { stats = ev.stats; text += ev.text; break; }
            text += ev.text;
            if (++n === 3 && kind === 'abort') ctl.abort();
          }
        } catch (e) {
          if (kind === 'abort' && e.name === 'AbortError') { state.conv = prompt; return { kind: 'abort', n }; }
          if (e.code === 'CONTEXT_FULL') {
            // a real chat UI drops the oldest turns: keep the tail of the conversation
            state.conv = state.conv.slice(-300);
            return { kind: kind === 'overflow' ? 'overflow' : 'full', n };
          }
          return { kind: 'error', code: e.code, message: e.message };
        }
        if (kind === 'overflow') return { kind: 'unexpected-' + kind, n };
        // (an 'abort' turn whose reply ended before 3 tokens simply completed)
        state.conv = prompt + text;
        return { kind: stats.stopReason === 'context' ? 'context-stop' : 'ok', n, prefilled: stats.prefilledTokens };
      };
      window.soakBatch = async (from, to) => {
        const counts = {};
        const errors = [];
        window.soakState = window.soakState || { conv: '' };
        for (let i = from; i < to; i++) {
          const r = await window.soakTurn(i, window.soakState);
          counts[r.kind] = (counts[r.kind] || 0) + 1;
          if (r.kind === 'error' || r.kind.startsWith('unexpected')) errors.push({ i, ...r });
        }
        const mem = await window.soakModel._e.call('memStats', {});
        // --worker-heap: page + worker memory (performance.measureUserAgentSpecificMemory, cross-origin
        // isolated pages). Chromium answers ~60 s later, so each batch starts one and the next
        // collects it (the batches then take >= 60 s each: meant for long runs)
        const ua = window.uaPending ? await window.uaPending : null;
        window.uaPending = window.soakWorkerHeap && performance.measureUserAgentSpecificMemory
          ? performance.measureUserAgentSpecificMemory().then((r) => ({
            total: r.bytes,
            worker: r.breakdown.filter((b) => b.attribution.some((a) => a.scope === 'DedicatedWorkerGlobalScope')).reduce((n, b) => n + b.bytes, 0),
          }), () => null)
          : null;
        return { counts, errors, mem, ua };
      };
      return window.soakModel.info;
    }, { url: `${modelSrv.url}/stories260K.gguf`, variant: VARIANT, contextSize: CONTEXT });
    console.log(`soak: ${TURNS} turns, variant ${info.variant} (threads ${info.threads}), context ${info.contextSize}, sample every ${EVERY}`);

    const samples = [];
    const totals = {};
    for (let done = 0; done < TURNS;) {
      const to = Math.min(TURNS, done + EVERY);
      const r = await page.evaluate(([a, b]) => window.soakBatch(a, b), [done, to]);
      assert.deepEqual(r.errors, [], `turns ${done}..${to} had errors`);
      for (const [k, v] of Object.entries(r.counts)) totals[k] = (totals[k] || 0) + v;
      await cdp.send('HeapProfiler.collectGarbage');
      const heap = await cdp.send('Runtime.getHeapUsage');
      // worker: its JS heap + wasm memory as measured by Chromium, minus the wasm memory
      const workerJs = r.ua ? r.ua.worker - r.mem.wasmMemoryBytes : null;
      const s = { turn: to, wasm: r.mem.wasmMemoryBytes, malloc: r.mem.mallocBytes, jsHeap: heap.usedSize, workerJs, sec: (Date.now() - t0) / 1000 };
      samples.push(s);
      console.log(`  turn ${String(to).padStart(5)}  wasm ${(s.wasm / 2 ** 20).toFixed(1)} MiB  malloc ${s.malloc} B  page JS heap ${s.jsHeap} B  worker JS ${s.workerJs == null ? '-' : s.workerJs + ' B'}  (${s.sec.toFixed(1)} s)  ${JSON.stringify(r.counts)}`);
      done = to;
    }
    console.log(`soak: totals ${JSON.stringify(totals)}`);
    // every kind of turn happened
    assert.ok(totals.ok > 0 && totals.abort > 0 && (totals.overflow || 0) + (totals.full || 0) > 0, JSON.stringify(totals));
    // no growth after warm-up (the first sample)
    const base = samples[0];
    for (const s of samples.slice(1)) {
      assert.equal(s.wasm, base.wasm, `wasm memory grew: ${base.wasm} -> ${s.wasm} at turn ${s.turn}`);
      assert.ok(s.malloc <= base.malloc + MALLOC_SLACK, `malloc'd bytes grew: ${base.malloc} -> ${s.malloc} at turn ${s.turn}`);
      assert.ok(s.jsHeap <= base.jsHeap + HEAP_SLACK, `page JS heap grew: ${base.jsHeap} -> ${s.jsHeap} at turn ${s.turn}`);
    }
    const w = samples.filter((s) => s.workerJs != null);
    if (w.length >= 2) {
      assert.ok(w[w.length - 1].workerJs <= w[0].workerJs + HEAP_SLACK, `worker JS heap grew: ${w[0].workerJs} -> ${w[w.length - 1].workerJs}`);
    }
    await page.evaluate(() => window.soakModel.unload());
    console.log(`soak: PASS in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(logs.slice(-30).join('\n'));
    throw e;
  } finally {
    await ctx.close();
    await app.close();
    await modelSrv.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(`soak: FAIL: ${e.stack || e}`); process.exit(1); });
