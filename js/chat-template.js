// chat-template.js — renders chat prompts with a model's own Jinja template
// (tokenizer.chat_template from the GGUF metadata) through @huggingface/jinja (vendored in
// js/vendor/jinja.js, patched for Python whitespace semantics), the way transformers'
// apply_chat_template does: trim_blocks + lstrip_blocks, raise_exception, strftime_now,
// tojson, bos_token/eos_token only when the vocabulary has them, tools/documents = null.
//
// Built-in fallbacks (ChatML, Llama 3) are used only when a model has no template.
//
// splitRendered() cuts a rendered prompt into template text (tokenized with parse_special:
// "<|im_end|>" there is the special token) and message content (tokenized without it: a
// user typing "<|im_end|>" does not end their turn).
import { Template, setStrftimeClock } from './vendor/jinja.js';

export const FALLBACK_TEMPLATES = {
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  llama3:
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
};

const cache = new Map(); // template text -> Template (parsing is the expensive part)
function compile(text) {
  let t = cache.get(text);
  if (!t) {
    t = new Template(text);
    if (cache.size > 16) cache.clear();
    cache.set(text, t);
  }
  return t;
}

// Renders `template` for `messages` ([{role, content}, ...]).
//   addGenerationPrompt (default true), bosToken / eosToken (strings or null: left out when
//   null, as transformers passes only the special tokens a tokenizer has), extra (more
//   template variables: tools, enable_thinking, date_string, ...), now (Date or () => Date:
//   the clock of strftime_now; default: the current time).
export function renderChatTemplate(template, messages, opts = {}) {
  const { addGenerationPrompt = true, bosToken = null, eosToken = null, extra = {}, now = null } = opts;
  const clock = typeof now === 'function' ? now : now ? () => now : () => new Date();
  const ctx = {
    messages,
    tools: null,
    documents: null,
    add_generation_prompt: !!addGenerationPrompt,
  };
  if (bosToken != null) ctx.bos_token = bosToken;
  if (eosToken != null) ctx.eos_token = eosToken;
  Object.assign(ctx, extra);
  const prev = setStrftimeClock(clock);
  try {
    return compile(template).render(ctx);
  } catch (e) {
    const err = new Error(`chat template: ${e && e.message ? e.message : e}`);
    err.code = 'TEMPLATE';
    throw err;
  } finally {
    setStrftimeClock(prev);
  }
}

// Splits `rendered` into [{text, content: bool, index}] pieces: content pieces are the text of
// messages[index].content found in order (as is, or with surrounding whitespace stripped for
// templates that trim); everything else is template text. Content a template transformed
// beyond recognition is left inside template text and reported in `unmatched`.
export function splitRendered(rendered, messages) {
  const pieces = [];
  const unmatched = [];
  let pos = 0;
  messages.forEach((m, index) => {
    const c = typeof m.content === 'string' ? m.content : '';
    if (!c) return;
    const candidates = [c, c.trim(), c.replace(/^\s+/, ''), c.replace(/\s+$/, '')].filter((x, i, a) => x && a.indexOf(x) === i);
    for (const cand of candidates) {
      const at = rendered.indexOf(cand, pos);
      if (at < 0) continue;
      if (at > pos) pieces.push({ text: rendered.slice(pos, at), content: false });
      pieces.push({ text: cand, content: true, index });
      pos = at + cand.length;
      return;
    }
    unmatched.push(index);
  });
  if (pos < rendered.length) pieces.push({ text: rendered.slice(pos), content: false });
  return { pieces, unmatched };
}

// <think>…</think> handling for display: [{think: bool, text, open: bool}] (open: unterminated).
export function splitThinking(text) {
  const out = [];
  let rest = text;
  for (;;) {
    const i = rest.indexOf('<think>');
    if (i < 0) { if (rest) out.push({ think: false, text: rest }); break; }
    if (i > 0) out.push({ think: false, text: rest.slice(0, i) });
    const j = rest.indexOf('</think>', i + 7);
    if (j < 0) { out.push({ think: true, text: rest.slice(i + 7), open: true }); break; }
    out.push({ think: true, text: rest.slice(i + 7, j), open: false });
    rest = rest.slice(j + 8);
  }
  return out;
}
