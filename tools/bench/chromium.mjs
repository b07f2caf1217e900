// chromium.mjs — what the browser benchmarks share: the headless Chromium launch (fresh
// profile per measurement) and the renderer's memory from /proc (Linux).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.WISP_CHROMIUM || '/usr/bin/chromium';
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Memory of the renderer process(es) of the browser using userDir: the page and all its
// workers (the engine's worker and its pthreads) live there. {hwm: peak RSS (VmHWM), rss:
// current RSS (VmRSS), n: renderer count}; the biggest renderer when there are several.
export function rendererMemory(userDir) {
  let best = { hwm: 0, rss: 0, n: 0 };
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes(userDir) || !cmd.includes('--type=renderer')) continue;
      const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const hwm = Number((/VmHWM:\s+(\d+) kB/.exec(st) || [])[1] || 0) * 1024;
      const rss = Number((/VmRSS:\s+(\d+) kB/.exec(st) || [])[1] || 0) * 1024;
      best = { hwm: Math.max(best.hwm, hwm), rss: hwm >= best.hwm ? rss : best.rss, n: best.n + 1 };
    } catch { /* process gone */ }
  }
  return best;
}
export const rendererPeakBytes = (userDir) => rendererMemory(userDir).hwm;

// The pids of the renderer processes of the browser using userDir.
export function rendererPids(userDir) {
  const out = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(userDir) && cmd.includes('--type=renderer')) out.push(Number(pid));
    } catch { /* process gone */ }
  }
  return out;
}

// Samples the memory of processes every intervalMs. Two measures per process:
//   rss      max(VmHWM, VmRSS): all resident pages, including the browser's or Node's own
//            executable pages (file-backed, shared by every process running that binary)
//   private  RssAnon + RssShmem: memory the process itself allocated (heaps, wasm memory,
//            shared memory), like Chrome's "private memory footprint" without swap
// peak(): Map pid -> the highest {rss, private} that process reached so far. VmHWM alone is
// not enough: the kernel refreshes the recorded high-water mark only on some events (munmap,
// exit...), so memory given back with madvise (PartitionAlloc, V8, glibc do that) can hide a
// peak that was never sampled. since(): the same, but only since the previous since() call,
// from the current values (a phase's own peak).
// added(base, now): the largest growth of one process between two such maps, per measure.
// pids: a function returning the pids to watch (re-evaluated every rescanMs).
export function memorySampler(pids, { intervalMs = 20, rescanMs = 250 } = {}) {
  const kb = (st, k) => Number((new RegExp(`${k}:\\s+(\\d+) kB`).exec(st) || [])[1] || 0) * 1024;
  const all = new Map();   // pid -> {rss, private}
  let phase = new Map();   // pid -> {rss, private} since the last since()
  let watched = [];
  let lastScan = 0;
  const bump = (m, pid, rss, priv) => {
    const o = m.get(pid) || { rss: 0, private: 0 };
    m.set(pid, { rss: Math.max(o.rss, rss), private: Math.max(o.private, priv) });
  };
  const sample = () => {
    const now = Date.now();
    if (now - lastScan >= rescanMs) { watched = pids(); lastScan = now; }
    for (const pid of watched) {
      try {
        const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const rss = kb(st, 'VmRSS');
        const priv = kb(st, 'RssAnon') + kb(st, 'RssShmem');
        bump(all, pid, Math.max(rss, kb(st, 'VmHWM')), priv);
        bump(phase, pid, rss, priv);
      } catch { /* process gone */ }
    }
  };
  const timer = setInterval(sample, intervalMs);
  return {
    peak() { sample(); return new Map(all); },
    since() { sample(); const v = phase; phase = new Map(); return v; },
    stop() { clearInterval(timer); },
  };
}

export function added(base, now) {
  const out = { rss: 0, private: 0 };
  for (const [pid, v] of now) {
    const b = base.get(pid) || { rss: 0, private: 0 };
    out.rss = Math.max(out.rss, v.rss - b.rss);
    out.private = Math.max(out.private, v.private - b.private);
  }
  return out;
}

// Opens url in a fresh headless Chromium (playwright-core, fresh --user-data-dir), waits
// until the page sets window.ready and checks that it is cross-origin isolated, then
// returns fn(page, userDir) (page errors seen meanwhile added as r.errors); BENCH_VERBOSE=1 prints
// the page's last console lines when fn throws. The profile is removed afterwards.
export async function withBrowser(url, fn) {
  const { chromium } = await import('playwright-core');
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wisp-bench-'));
  const ctx = await chromium.launchPersistentContext(userDir, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    const errors = [];
    const logs = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('crash', () => errors.push('page crashed'));
    await page.goto(url);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 60000 });
    if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error('page is not cross-origin isolated');
    let r;
    try {
      r = await fn(page, userDir);
    } catch (e) {
      if (process.env.BENCH_VERBOSE) console.error(logs.slice(-20).join('\n'), errors);
      throw e;
    }
    if (errors.length && r && typeof r === 'object') r.errors = errors;
    return r;
  } finally {
    await ctx.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}
