// chat-context.test.mjs — a reply that fills the context: model.chat() drops the oldest turn,
// prefills again and continues the same reply. The text shown must be what the tokens say:
// with SentencePiece (stories260K) the continuation's first token often starts with "▁", whose
// space used to be stripped (the detokenizer of each generate() call treated its first token
// as the start of a text). Checked through the JS API in Node and on the chat page.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from '../../tools/serve.mjs';
import { Wisp } from '../../js/wisp.js';
import { fixture, prerequisites, launch, waitState, setSettings, sendAndWait, nodeChat } from './support.mjs';

const CTX = 512;
const SYSTEM = 'S';
const LONG = 400; // > CTX/2: the chat reserves only half the context, so this reply overflows

// The conversation: turn 1 with a short reply (n0 tokens), turn 2 with a long one that fills
// the context mid-reply. -> {turn1, turn2, cut (index of the first token after the cut)}
async function conversation(model, n0) {
  const msgs = [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'Tell me story 1.' }];
  const turn1 = await nodeChat(model, msgs, { maxTokens: n0, repeatPenalty: 1 });
  msgs.push({ role: 'assistant', content: turn1.text }, { role: 'user', content: 'Tell me story 2.' });
  let cut = -1;
  const ids = [];
  let text = '';
  let stats = null;
  for await (const ev of model.chat(msgs, { temperature: 0, maxTokens: LONG, repeatPenalty: 1, onContextTrim: () => { if (cut < 0) cut = ids.length; } })) {
    if (ev.done) { text += ev.text; stats = ev.stats; } else { ids.push(ev.token); text += ev.text; }
  }
  return { turn1, turn2: { ids, text, stats }, cut };
}

test('context full mid-reply: the continuation keeps its leading space (JS API and page)', { timeout: 480000 }, async (t) => {
  const modelPath = fixture(t, 'models/stories260K.gguf');
  if (!modelPath) return;
  const model = await Wisp.load(modelPath, { contextSize: CTX });
  let chosen = null;
  try {
    // find a first-turn length whose overflowing second reply continues with a "▁word" token
    for (let n0 = 4; n0 <= 40 && !chosen; n0 += 3) {
      const c = await conversation(model, n0);
      const s = c.turn2.stats;
      assert.equal(s.contextTrims, 1, `n0=${n0}: one trim`);
      assert.ok(c.cut > 0 && c.cut < c.turn2.ids.length, `n0=${n0}: the context filled up mid-reply (cut at ${c.cut})`);
      // whatever the first token after the cut: the streamed text is exactly the tokens' text
      assert.equal(c.turn2.text, await model.detokenize(c.turn2.ids), `n0=${n0}: streamed text == detokenize(ids)`);
      const before = await model.detokenize(c.turn2.ids.slice(0, c.cut));
      const upto = await model.detokenize(c.turn2.ids.slice(0, c.cut + 1));
      if (upto.slice(before.length).startsWith(' ')) chosen = { n0, ...c, piece: upto.slice(before.length) };
    }
    assert.ok(chosen, 'a conversation whose continuation starts with a space-prefixed token');
    // the whole reply is remembered for KV reuse only when its ids spell its text
    const next = [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'Tell me story 2.' }];
    const p = await model.chatPrompt([...next, { role: 'assistant', content: chosen.turn2.text }, { role: 'user', content: 'More.' }]);
    const at = p.ids.findIndex((x, i) => chosen.turn2.ids.every((y, j) => p.ids[i + j] === y));
    assert.ok(at > 0, 'the next prompt reuses the reply\'s own token ids');
  } finally {
    await model.unload();
  }

  await t.test('chat page shows the same text, says the context was trimmed', async (t2) => {
    const pre = await prerequisites(t2);
    if (!pre) return;
    const app = createServer({ models: { 'stories260K.gguf': modelPath }, log: [] });
    app.url = await app.listen(0);
    const browser = await launch(pre.pw);
    try {
      const page = await browser.newPage();
      await page.goto(`${app.url}/web/index.html?model=${encodeURIComponent('/models/stories260K.gguf')}&ctx=${CTX}`);
      await waitState(page, 'ready');
      await page.locator('#system').fill(SYSTEM);
      await setSettings(page, { temperature: 0, repeatPenalty: 1, maxTokens: chosen.n0 });
      const r1 = await sendAndWait(page, 'Tell me story 1.');
      assert.equal(r1.text, chosen.turn1.text.replace(/^\s+/, ''));
      await setSettings(page, { maxTokens: LONG });
      const r2 = await sendAndWait(page, 'Tell me story 2.');
      assert.equal(r2.data.droppedMessages, '2');
      assert.equal(Number(r2.data.generatedTokens), chosen.turn2.ids.length);
      assert.equal(r2.text, chosen.turn2.text.replace(/^\s+/, ''), 'the page shows exactly the tokens\' text');
      assert.ok(r2.text.includes(chosen.piece), `the continuation "${chosen.piece}" keeps its space`);
      assert.match(await page.locator('[data-role=notice]').first().textContent(), /context is full: the 2 oldest messages were dropped \(the system prompt is kept\)/);
      assert.equal(await page.locator('li.msg.dropped').count(), 2);
      assert.equal(await page.locator('[data-role=status]').getAttribute('data-state'), 'ready');
    } catch (e) {
      console.error(browser.logs.join('\n'));
      throw e;
    } finally {
      await browser.close();
      await app.close();
    }
  });
});
