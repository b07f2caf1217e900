// node-bench.mjs — the wasm build (js/wisp.js + js/dist) benchmarked under Node, for a
// quick check without a browser: node tools/bench/node-bench.mjs MODEL [-t T] [-n N] [-r R] [--json]
// Same prompt text as the browser benchmark; greedy; prints the CLI's JSON shape
// ({"prefill_tok_s","decode_tok_s","runs":[...]}) with --json.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { Wisp } = await import(path.join(ROOT, 'js/wisp.js'));

const args = process.argv.slice(2);
let model = null, threads = 1, nGen = 128, runs = 3, json = false, variant = 'mt';
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '-t') threads = Number(args[++i]);
  else if (a === '-n') nGen = Number(args[++i]);
  else if (a === '-r') runs = Number(args[++i]);
  else if (a === '--st') variant = 'st';
  else if (a === '--json') json = true;
  else model = a;
}
if (!model) { console.error('usage: node tools/bench/node-bench.mjs MODEL [-t T] [-n N] [-r R] [--st] [--json]'); process.exit(2); }

const PROMPT = ('The old lighthouse keeper climbed the narrow stairs every evening, carrying a lamp, a notebook '
  + 'and a small loaf of bread. From the top he could see the harbour, the fishing boats coming home, and the '
  + 'long line of hills where the sun went down. He wrote down the weather, the ships he saw, and anything '
  + 'strange that happened on the water. One night, a light appeared far out at sea where no ship should be. '
  + 'It moved slowly towards the rocks, then stopped, as if it was waiting for something. The keeper watched '
  + 'it for a long time, and then he picked up his pen and began to write.');

const t0 = performance.now();
const m = await Wisp.load(path.resolve(model), { threads, variant, cache: false });
const loadMs = performance.now() - t0;
const out = [];
for (let r = 0; r < runs; r++) {
  let stats = null;
  // a fresh conversation each run: generate() reuses a shared KV prefix, so vary the first byte
  for await (const ev of m.generate((r % 2 ? ' ' : '') + PROMPT, { maxTokens: nGen, temperature: 0, ignoreEos: true })) if (ev.done) stats = ev.stats;
  out.push({ prefill_tok_s: stats.prefillTokPerSec, decode_tok_s: stats.decodeTokPerSec, prompt_tokens: stats.prefilledTokens });
}
const info = m.info;
await m.unload();
const mean = (k) => out.reduce((s, x) => s + x[k], 0) / out.length;
const res = { model, variant: info.variant, threads: info.threads, load_ms: loadMs, prefill_tok_s: mean('prefill_tok_s'), decode_tok_s: mean('decode_tok_s'), runs: out };
if (json) console.log(JSON.stringify(res));
else console.log(`${model}: wasm ${info.variant} threads ${info.threads}: load ${loadMs.toFixed(0)} ms, prefill ${res.prefill_tok_s.toFixed(1)} tok/s, decode ${res.decode_tok_s.toFixed(1)} tok/s (mean of ${runs})`);
process.exit(0);
