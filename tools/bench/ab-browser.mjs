// ab-browser.mjs — A/B of wasm builds in headless Chromium, interleaved, for decisions on a
// noisy machine (make bench compares wisp with wllama; this compares wisp with itself):
//
//   node tools/bench/ab-browser.mjs [--models a,b] [--threads 1,2] [--runs 4] [--ngen 64] LABEL=DIST ...
//
// DIST is a directory under the repository holding a `make wasm` output (js/dist, or e.g.
// OUT=build/dist-b wasm/build.sh). Each run loads the model in a fresh browser with
// tools/bench/bench.html's benchWisp (mt build, relaxed where the browser has it) and
// generates NGEN greedy tokens after the bench prompt; runs go model, threads, then label in
// turn, so a slow minute of the machine hits every variant. Prints the median and the best
// of each cell's prefill and decode tok/s, and each label's decode relative to the first.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStaticServer } from '../static-server.mjs';
import { withBrowser } from './chromium.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const models = opt('models', 'smollm2-135m-synth-q4_0,qwen2.5-0.5b-synth-q8_0').split(',');
const threads = opt('threads', '1,2').split(',').map(Number);
const runs = Number(opt('runs', '4'));
const nGen = Number(opt('ngen', '64'));
const variants = args.map((a) => {
  const i = a.indexOf('=');
  if (i < 1) throw new Error(`expected LABEL=DIST, got ${a}`);
  return { label: a.slice(0, i), dist: '/' + path.relative(ROOT, path.resolve(a.slice(i + 1))) + '/' };
});
if (variants.length === 0) {
  console.error('usage: node tools/bench/ab-browser.mjs [--models a,b] [--threads 1,2] [--runs N] [--ngen N] LABEL=DIST ...');
  process.exit(2);
}
const PROMPT = ('The old lighthouse keeper climbed the narrow stairs every evening, carrying a lamp, a notebook '
  + 'and a small loaf of bread. From the top he could see the harbour, the fishing boats coming home, and the '
  + 'long line of hills where the sun went down. He wrote down the weather, the ships he saw, and anything '
  + 'strange that happened on the water. One night, a light appeared far out at sea where no ship should be. '
  + 'It moved slowly towards the rocks, then stopped, as if it was waiting for something. The keeper watched '
  + 'it for a long time, and then he picked up his pen and began to write.');

const app = createStaticServer({ root: ROOT, cacheControl: 'no-store' });
await app.listen(0);
const res = new Map(); // `${model} t=${t}` -> label -> [{pp, tg}]
try {
  for (let r = 0; r < runs; r++) {
    for (const model of models) {
      for (const t of threads) {
        for (const v of variants) {
          const x = await withBrowser(`${app.url}/tools/bench/bench.html`, (page) => page.evaluate((a) => window.benchWisp(a),
            { url: `/build/models-big/${model}.gguf`, threads: t, prompt: PROMPT, nGen, distUrl: v.dist }));
          const key = `${model} t=${t}`;
          if (!res.has(key)) res.set(key, new Map());
          const m = res.get(key);
          if (!m.has(v.label)) m.set(v.label, []);
          m.get(v.label).push({ pp: x.prefillTokS, tg: x.decodeTokS });
          console.log(`run ${r + 1}/${runs} ${key} ${v.label} (${x.variant}): pp ${x.prefillTokS.toFixed(1)} tg ${x.decodeTokS.toFixed(1)} tok/s`);
        }
      }
    }
  }
} finally {
  await app.close();
}
const median = (a) => { const s = [...a].sort((p, q) => p - q); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
console.log('\n| cell | build | prefill median / best | decode median / best | decode median vs first |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const [key, m] of res) {
  let first = null;
  for (const [label, xs] of m) {
    const tg = median(xs.map((x) => x.tg));
    if (first === null) first = tg;
    console.log(`| ${key} | ${label} | ${median(xs.map((x) => x.pp)).toFixed(1)} / ${Math.max(...xs.map((x) => x.pp)).toFixed(1)} | `
      + `${tg.toFixed(1)} / ${Math.max(...xs.map((x) => x.tg)).toFixed(1)} | ${((tg / first - 1) * 100).toFixed(1)} % |`);
  }
}
