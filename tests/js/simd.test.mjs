// simd.test.mjs — the relaxed-SIMD builds (js/dist/wisp-*-relaxed, wasm/build.sh) against the
// plain SIMD128 ones: the same greedy tokens on models of every weight type whose kernels
// differ between them, equal to llama.cpp's reference, in both the st and the mt variant.
// Node 20 has relaxed SIMD behind a V8 flag; it is switched on here, before any module
// is compiled (worker threads share the process's V8 flags).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { Wisp } from '../../js/wisp.js';
import { FIXTURES, fixture } from './helpers.mjs';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const N = 24;
const MODELS = [
  ['models/stories260K-q4_0.gguf', 'stories260K-q4_0'],
  ['models/synthetic/tiny-tok512-q5_0.gguf', 'tiny-tok512-q5_0'],
  ['models/synthetic/tiny-tok512-q4_k_m.gguf', 'tiny-tok512-q4_k_m'],
  ['models/synthetic/tiny-qwen2-q4_0.gguf', 'tiny-qwen2-q4_0'],
  ['models/synthetic/tiny-llama3-q4_0.gguf', 'tiny-llama3-q4_0'],
];

async function greedy(file, prompt, opts) {
  const model = await Wisp.load(file, { cache: false, ...opts });
  try {
    const ids = [];
    for await (const ev of model.generate(prompt, { maxTokens: N, temperature: 0 })) if (!ev.done) ids.push(ev.token);
    return { ids, info: model.info };
  } finally {
    await model.unload();
  }
}

test('the engine validates relaxed SIMD once the flag is on (else this test proves nothing)', () => {
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 43, 1, 41, 0,
    253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    253, 146, 2, 11]);
  assert.equal(WebAssembly.validate(probe), true);
});

for (const [rel, ref] of MODELS) {
  test(`relaxed and plain builds: same greedy tokens as llama.cpp on ${path.basename(rel)}`, async (t) => {
    const file = fixture(t, rel);
    if (!file) return;
    const r = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference', `${ref}.json`), 'utf8')).prompts[0];
    const want = r.generated_ids.slice(0, N);
    const base = await greedy(file, r.prompt, { variant: 'st', simd: 'base' });
    const relaxed = await greedy(file, r.prompt, { variant: 'st', simd: 'relaxed' });
    assert.equal(base.info.simd, 'base');
    assert.equal(relaxed.info.simd, 'relaxed');
    assert.deepEqual(relaxed.ids, base.ids);
    assert.ok(relaxed.ids.length >= Math.min(N, want.length), `only ${relaxed.ids.length} tokens`);
    // llama.cpp's tokens, up to a near tie (random synthetic weights give next-token
    // probabilities a few 1e-5 apart, where float summation order may pick either)
    for (let i = 0; i < Math.min(want.length, relaxed.ids.length); i++) {
      if (relaxed.ids[i] === want[i]) continue;
      const top = (r.steps[i] && r.steps[i].top) || [];
      const mine = top.find((e) => e.id === relaxed.ids[i]);
      assert.ok(mine && top[0].logp - mine.logp < 0.02,
        `token ${i}: ${relaxed.ids[i]}, llama.cpp ${want[i]} (not a near tie: ${JSON.stringify(top.slice(0, 3))})`);
      break;
    }
  });
}

test('mt relaxed with 2 threads and auto selection: same tokens as st plain', async (t) => {
  const file = fixture(t, 'models/synthetic/tiny-qwen2-q4_0.gguf');
  if (!file) return;
  const base = await greedy(file, 'Once upon a time', { variant: 'st', simd: 'base' });
  const mt = await greedy(file, 'Once upon a time', { variant: 'mt', threads: 2 });
  assert.equal(mt.info.simd, 'relaxed'); // 'auto' picks relaxed where the engine has it
  assert.equal(mt.info.variant, 'mt');
  assert.deepEqual(mt.ids, base.ids);
});

test('simd option: bad values are INVALID_ARG', async () => {
  await assert.rejects(Wisp.load('x.gguf', { simd: 'fast' }), (e) => e.code === 'INVALID_ARG' && /simd must be/.test(e.message));
});
