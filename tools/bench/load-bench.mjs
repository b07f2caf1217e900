// load-bench.mjs — load time and peak memory of js/wisp.js for a model served over HTTP with
// Range (tools/static-server.mjs, in this process), in Node and in headless Chromium, for the
// mt and st variants; compared with the budget weights + KV cache + 64 MiB.
//
//   node tools/bench/load-bench.mjs [--models a.gguf,b.gguf] [--envs node,chromium]
//        [--variants mt,st] [--threads 2] [--context 0] [--gen 16] [--fill] [--json out.json]
//   --fill: the generation's prompt fills the context (contextSize - gen tokens), so the peak
//   includes a full KV cache (slow: the whole context is prefilled)
//   default models: $WISP_FIXTURES/models/stories260K.gguf and
//   build/models-big/qwen2.5-0.5b-synth-q8_0.gguf (make bench-models makes it)
//
// Every measurement runs in a fresh process: a `node` child (this file with --child) or a
// fresh Chromium profile, so peaks are not polluted by earlier runs, and the server's own
// memory is never counted.
//   load ms   Wisp.load(url) until it resolves (worker start, wasm compile, header, download of
//             the weights straight into wasm memory, context), timed where it is called
//   base      the process's peak RSS before Wisp.load: Node with js/wisp.js imported, or the
//             renderer with the empty page (tools/bench/load.html)
//   peak      the process's peak memory up to the end of a short greedy generation after the
//             load (the generation touches the KV cache and the scratch buffers), sampled from
//             /proc/PID/status every 20 ms for the Node child (all its threads) or the page's
//             renderer (page + engine worker + pthreads), as RSS (max(VmHWM, VmRSS): every
//             resident page, including the executable's own code pages) and as private memory
//             (RssAnon + RssShmem: what the process allocated; Chrome's private footprint)
//   wasm      the wasm memory size (memory.buffer.byteLength) and the bytes malloc'd in it
//   added     peak - base: what loading and running the model cost the page ("added: peak");
//             "added: after load" is the same for the highest VmRSS from the end of Wisp.load to
//             the end of the generation (the download's transients are over by then)
//   budget    weights + KV (at the context size used) + 64 MiB
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = path.resolve(process.env.WISP_FIXTURES || path.join(ROOT, '../shared'));
const PROMPT = 'Once upon a time, in a small village by the sea, there lived an old fisherman who';
const MiB = 2 ** 20;

// ------------------------------------------------------------------ the measured run
// Node child and page do the same thing and report each phase ({phase: 'ready' | 'loaded' |
// 'generated' | 'done' | 'error', ...}) to this process, waiting for the answer, so the
// memory is read at the right moments. Memory is sampled from /proc every 20 ms all along
// (memorySampler): the peak of a phase is the highest RSS seen up to its end.

// --fill: a prompt of contextSize - nGen token ids, so the generation ends with a full KV cache
async function fillPrompt(m, text, nGen) {
  const want = m.info.contextSize - nGen;
  let ids = [];
  for (let k = 1; ids.length < want; k *= 2) ids = await m.tokenize(text.repeat(k), { addBos: true });
  return ids.slice(0, want);
}

async function child({ url, variant, threads, contextSize, nGen, fill }) {
  const lines = (await import('node:readline')).createInterface({ input: process.stdin });
  const acks = lines[Symbol.asyncIterator]();
  const report = async (m) => { process.stdout.write(JSON.stringify(m) + '\n'); await acks.next(); };
  try {
    const { Wisp } = await import(path.join(ROOT, 'js/wisp.js'));
    await report({ phase: 'ready' });
    let kvBytes = null;
    const t0 = performance.now();
    const m = await Wisp.load(url, { variant, threads, contextSize, cache: false, onInfo: (i) => { kvBytes = i.kvBytes; } });
    const loadMs = performance.now() - t0;
    const mem = await m._e.call('memStats', {});
    await report({ phase: 'loaded', loadMs, info: { ...m.info, kvBytes }, wasmMemoryBytes: mem.wasmMemoryBytes, mallocBytes: mem.mallocBytes });
    let stats = null;
    const prompt = fill ? await fillPrompt(m, PROMPT, nGen) : PROMPT;
    for await (const ev of m.generate(prompt, { maxTokens: nGen, temperature: 0, ignoreEos: true })) if (ev.done) stats = ev.stats;
    const mem2 = await m._e.call('memStats', {});
    await report({ phase: 'generated', stats, wasmMemoryBytes: mem2.wasmMemoryBytes, mallocBytes: mem2.mallocBytes });
    await m.unload();
    await report({ phase: 'done' });
  } catch (e) {
    await report({ phase: 'error', message: `${e.code || e.name}: ${e.message}` });
  }
  process.exit(0);
}

if (process.argv[2] === '--child') await child(JSON.parse(process.argv[3]));

// Collects one run's phases into a result; resolve/reject when it is over.
function phases(sampler, resolve, reject) {
  const r = {};
  return (m) => {
    const peak = sampler.peak();
    const since = sampler.since();
    if (m.phase === 'ready') {
      if (m.crossOriginIsolated === false) return reject(new Error('the page is not cross-origin isolated'));
      r.base = peak;
    } else if (m.phase === 'loaded') {
      Object.assign(r, { loadMs: m.loadMs, info: m.info, mallocAfterLoad: m.mallocBytes, peakLoad: peak });
    } else if (m.phase === 'generated') {
      Object.assign(r, { peak, peakAfterLoad: since, wasmMemoryBytes: m.wasmMemoryBytes, mallocBytes: m.mallocBytes,
        decodeTokS: m.stats && m.stats.decodeTokPerSec });
    } else if (m.phase === 'done') {
      resolve(r);
    } else {
      reject(new Error(m.message || 'error'));
    }
    return null;
  };
}

async function runNode(arg) {
  const { memorySampler } = await import('./chromium.mjs');
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(arg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const sampler = memorySampler(() => [p.pid]);
  try {
    return await new Promise((resolve, reject) => {
      const on = phases(sampler, resolve, reject);
      p.on('exit', (code) => reject(new Error(`node child exited (${code})`)));
      let buf = '';
      p.stdout.on('data', (d) => {
        buf += d;
        for (let i; (i = buf.indexOf('\n')) >= 0;) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          on(JSON.parse(line));
          p.stdin.write('ok\n');
        }
      });
    });
  } finally {
    sampler.stop();
    p.kill();
  }
}

// A plain headless Chromium, NOT driven by playwright: playwright enables the DevTools Network
// domain, and the renderer then keeps copies of response bodies (measured with a bare fetch
// loop over the 531 MB file: ~210 MiB kept with 8 MiB Range responses, none with 32 MiB ones,
// none without DevTools), which is not what a user's page costs. The page
// (tools/bench/load.html) POSTs its phases to /__report.
const reports = new Map(); // run id -> phase handler

async function runChromium(appUrl, arg) {
  const { CHROMIUM, ARGS, memorySampler, rendererPids } = await import('./chromium.mjs');
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-load-'));
  const id = path.basename(userDir);
  const hash = encodeURIComponent(JSON.stringify({ ...arg, id, prompt: PROMPT }));
  const proc = spawn(CHROMIUM, [...ARGS, `--user-data-dir=${userDir}`, `${appUrl}/tools/bench/load.html?run=${id}#${hash}`], { stdio: 'ignore' });
  const sampler = memorySampler(() => rendererPids(userDir));
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out (900 s)')), 900000);
      const done = (f) => (x) => { clearTimeout(timer); f(x); };
      proc.once('exit', (code) => reject(new Error(`chromium exited (${code})`)));
      reports.set(id, phases(sampler, done(resolve), done(reject)));
    });
  } finally {
    sampler.stop();
    reports.delete(id);
    proc.kill();
    await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', r)));
    for (let i = 0; i < 20; i++) {
      try { fs.rmSync(userDir, { recursive: true, force: true }); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
    }
  }
}

// ------------------------------------------------------------------ main
function opt(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

const models = opt('models', [path.join(FIXTURES, 'models/stories260K.gguf'), path.join(ROOT, 'build/models-big/qwen2.5-0.5b-synth-q8_0.gguf')].join(','))
  .split(',').map((f) => path.resolve(f));
const envs = opt('envs', 'node,chromium').split(',');
const variants = opt('variants', 'mt,st').split(',');
const threads = Number(opt('threads', 2));
const contextSize = Number(opt('context', 0));
const nGen = Number(opt('gen', 16));
const fill = process.argv.includes('--fill');
const jsonOut = opt('json', null);

const { createStaticServer, fileEntity } = await import('../static-server.mjs');
const modelMap = {};
for (const f of models) {
  if (!fs.existsSync(f)) { console.error(`load-bench: ${f} missing (skipped)`); continue; }
  modelMap[path.basename(f)] = f;
}
// the repository (page, js/, js/dist/) cross-origin isolated, and the models at /models/<name>
const app = createStaticServer({
  root: ROOT,
  route: async (req, url, { reply }) => {
    if (url.pathname === '/__report' && req.method === 'POST') {
      let body = '';
      for await (const c of req) body += c;
      const run = new URL(req.headers.referer || 'http://x/').searchParams.get('run');
      const handler = reports.get(run);
      if (handler) handler(JSON.parse(body));
      reply(200, { 'content-type': 'text/plain' }, 'ok');
      return true;
    }
    const m = /^\/models\/([^/]+)$/.exec(url.pathname);
    return m && modelMap[m[1]] ? fileEntity(modelMap[m[1]]) : undefined;
  },
});
const appUrl = await app.listen(0);
const loadavg = os.loadavg().map((x) => x.toFixed(2)).join(' ');
const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0].model;
console.log(`# ${new Date().toISOString()}  ${cpu}, ${os.cpus().length} CPUs, load average ${loadavg}, node ${process.version}`);

// what a page downloads before the model: gzip -9 sizes of the builds and of js/*.js
{
  const { gzipSync } = await import('node:zlib');
  const gz = (f) => gzipSync(fs.readFileSync(f), { level: 9 }).length;
  const kb = (n) => (n / 1000).toFixed(1) + ' KB';
  const dist = path.join(ROOT, 'js/dist');
  const jsFiles = fs.readdirSync(path.join(ROOT, 'js')).filter((f) => f.endsWith('.js')).map((f) => path.join(ROOT, 'js', f));
  const sizes = {
    'wisp-st.wasm': gz(path.join(dist, 'wisp-st.wasm')), 'wisp-mt.wasm': gz(path.join(dist, 'wisp-mt.wasm')),
    'wisp-st-relaxed.wasm': gz(path.join(dist, 'wisp-st-relaxed.wasm')), 'wisp-mt-relaxed.wasm': gz(path.join(dist, 'wisp-mt-relaxed.wasm')),
    'wisp-st.mjs': gz(path.join(dist, 'wisp-st.mjs')), 'wisp-mt.mjs + worker': gz(path.join(dist, 'wisp-mt.mjs')) + gz(path.join(dist, 'wisp-mt.worker.js')),
    'js/*.js': jsFiles.reduce((a, f) => a + gz(f), 0),
  };
  console.log(`# gzip -9: ${Object.entries(sizes).map(([k, v]) => `${k} ${kb(v)}`).join(', ')}`);
}

const mib = (b) => (b == null ? '—' : (b / MiB).toFixed(1));
const rows = [];
try {
  for (const name of Object.keys(modelMap)) {
    for (const env of envs) {
      for (const variant of variants) {
        const arg = { url: `${appUrl}/models/${name}`, variant, threads: variant === 'mt' ? threads : 1, contextSize, nGen, fill };
        let r;
        try {
          r = env === 'node' ? await runNode(arg) : await runChromium(appUrl, arg);
        } catch (e) {
          console.log(`${name} ${env} ${variant}: ERROR ${String(e.message || e).split('\n')[0]}`);
          rows.push({ model: name, env, variant, error: String(e.message || e) });
          continue;
        }
        const i = r.info;
        const budget = i.weightBytes + i.kvBytes + 64 * MiB;
        // added = peak - base of the same process, for both measures; "after load": from the end of
        // Wisp.load on. base/peak: of the process that grew most (the page's renderer)
        const { added } = await import('./chromium.mjs');
        const a = added(r.base, r.peak), b = added(r.base, r.peakAfterLoad);
        const zero = { rss: 0, private: 0 };
        const growth = (p) => r.peak.get(p).rss - (r.base.get(p) || zero).rss;
        const pid = [...r.peak.keys()].sort((x, y) => growth(y) - growth(x))[0];
        const baseOf = r.base.get(pid) || { rss: 0, private: 0 };
        const peakOf = r.peak.get(pid) || { rss: 0, private: 0 };
        const row = { model: name, env, variant, threads: i.threads, contextSize: i.contextSize, fileBytes: i.fileBytes,
          weightBytes: i.weightBytes, kvBytes: i.kvBytes, budget, loadMs: r.loadMs, base: baseOf, peak: peakOf,
          addedRss: { peak: a.rss, afterLoad: b.rss }, addedPrivate: { peak: a.private, afterLoad: b.private },
          wasmMemoryBytes: r.wasmMemoryBytes, mallocBytes: r.mallocBytes, mallocAfterLoad: r.mallocAfterLoad, decodeTokS: r.decodeTokS };
        rows.push(row);
        console.log(`${name} ${env} ${variant}/${i.threads} ctx ${i.contextSize}: load ${r.loadMs.toFixed(0)} ms; `
          + `RSS base ${mib(baseOf.rss)} peak ${mib(peakOf.rss)} MiB (added ${mib(row.addedRss.peak)}; after the load ${mib(row.addedRss.afterLoad)}); `
          + `private base ${mib(baseOf.private)} peak ${mib(peakOf.private)} MiB (added ${mib(row.addedPrivate.peak)}; after the load ${mib(row.addedPrivate.afterLoad)}); `
          + `wasm ${mib(r.wasmMemoryBytes)} MiB, malloc ${mib(r.mallocBytes)} MiB; `
          + `budget ${mib(budget)} MiB (weights ${mib(i.weightBytes)} + KV ${mib(i.kvBytes)} + 64)`);
      }
    }
  }
} finally {
  await app.close();
}

const within = (a, b) => (a <= b ? 'yes' : `no (+${mib(a - b)})`);
console.log('\nadded = peak - the same process before Wisp.load; "after load" = highest value from the end of Wisp.load to the end of the generation');
console.log('| model | ctx | env | variant/threads | load ms | added RSS: peak | after load | added private: peak | after load | wasm memory | malloc | budget: weights + KV + 64 MiB | private peak within | private after load within |');
console.log('| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
for (const r of rows) {
  if (r.error) { console.log(`| ${r.model} | | ${r.env} | ${r.variant} | error: ${r.error.split('\n')[0]} | | | | | | | | | |`); continue; }
  console.log(`| ${r.model} | ${r.contextSize} | ${r.env} | ${r.variant}/${r.threads} | ${r.loadMs.toFixed(0)} | ${mib(r.addedRss.peak)} | ${mib(r.addedRss.afterLoad)} | `
    + `${mib(r.addedPrivate.peak)} | ${mib(r.addedPrivate.afterLoad)} | ${mib(r.wasmMemoryBytes)} | ${mib(r.mallocBytes)} | ${mib(r.budget)} | `
    + `${within(r.addedPrivate.peak, r.budget)} | ${within(r.addedPrivate.afterLoad, r.budget)} |`);
}
console.log('(MiB; RSS: all resident pages, incl. the browser/Node executable pages the run touches; private: RssAnon + RssShmem)');
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), loadavg, cpu, rows }, null, 2));
