// chat-ui.js — the conversation view and controller shared by the chat page (web/app.js) and
// the <wisp-chat> widget (web/widget.js). Model output is only ever shown as text
// (textContent): never parsed as HTML. "<think>…</think>" is shown in a collapsed <details>.
import { splitThinking } from '../js/chat-template.js';

export const DEFAULT_SETTINGS = Object.freeze({
  temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, repeatPenalty: 1.1, maxTokens: 512, seed: null,
});

const el = (doc, tag, props = {}, ...kids) => {
  const e = doc.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of kids) e.append(c);
  return e;
};

export function fmtBytes(n) {
  if (n == null || !Number.isFinite(n)) return '?';
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${u[i]}`;
}

export function fmtStats(stats, info) {
  const f = (x, d = 0) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(d));
  const parts = [
    `TTFT ${f(stats.ttftMs)} ms`,
    `prefill ${stats.prefilledTokens}/${stats.promptTokens} tok @ ${f(stats.prefillTokPerSec)} tok/s`,
    `decode ${stats.generatedTokens} tok @ ${f(stats.decodeTokPerSec, 1)} tok/s`,
  ];
  if (info) parts.push(info.variant === 'mt' ? `threads on (${info.threads})` : 'threads off');
  return parts.join(' · ');
}

export class ChatUI {
  // els: {list, input, send, stop, newChat, status, form?}; opts: {getSettings(), getSystemPrompt(),
  // setStatus(text, state)}
  constructor(els, opts = {}) {
    this.els = els;
    this.doc = els.list.ownerDocument;
    this.opts = opts;
    this.model = null;
    this.entries = []; // [{role, content, li}]
    this.busy = false;
    this.ctl = null;
    els.send.addEventListener('click', (e) => { e.preventDefault(); this.send(); });
    els.stop.addEventListener('click', (e) => { e.preventDefault(); this.stop(); });
    els.newChat.addEventListener('click', (e) => { e.preventDefault(); this.newChat(); });
    els.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
    });
    // Escape stops a running generation from anywhere in the chat
    (els.root || els.list.parentNode).addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.busy) { e.preventDefault(); this.stop(); }
    });
    this.sync();
  }

  status(text, state) {
    if (this.opts.setStatus) this.opts.setStatus(text, state);
    else { this.els.status.textContent = text; this.els.status.dataset.state = state || ''; }
  }

  setModel(model) {
    this.model = model;
    this.sync();
  }

  sync() {
    this.els.send.disabled = this.busy || !this.model;
    this.els.stop.disabled = !this.busy;
    this.els.newChat.disabled = this.busy;
  }

  newChat() {
    if (this.busy) return;
    this.entries = [];
    this.els.list.replaceChildren();
    if (this.model) this.status(`Ready: new chat with ${this.model.info.name || 'the model'}`, 'ready');
    this.els.input.focus();
  }

  stop() {
    if (this.ctl) this.ctl.abort();
  }

  addUser(text) {
    const li = el(this.doc, 'li', { class: 'msg user' },
      el(this.doc, 'div', { class: 'who', text: 'You' }),
      el(this.doc, 'div', { class: 'text', 'data-role': 'user', text }));
    this.els.list.append(li);
    return li;
  }

  // An assistant message element; update(text) re-renders it (text only), stats(...) fills the
  // stats line. Also the test hook's path (tests/e2e/chat.test.mjs XSS test).
  addAssistant() {
    const d = this.doc;
    const thinkText = el(d, 'div', { class: 'think-text' });
    const think = el(d, 'details', { class: 'think', hidden: true }, el(d, 'summary', { text: 'Thinking' }), thinkText);
    const body = el(d, 'div', { class: 'text', 'data-role': 'assistant' });
    const stats = el(d, 'div', { class: 'stats' });
    const li = el(d, 'li', { class: 'msg assistant', 'aria-busy': 'true' }, el(d, 'div', { class: 'who', text: 'Assistant' }), think, body, stats);
    this.els.list.append(li);
    const view = {
      li, body, stats,
      update(text) {
        const parts = splitThinking(text);
        const t = parts.filter((p) => p.think).map((p) => p.text.trim()).join('\n\n');
        const a = parts.filter((p) => !p.think).map((p) => p.text).join('');
        think.hidden = !parts.some((p) => p.think);
        const open = parts.some((p) => p.think && p.open);
        think.querySelector('summary').textContent = open ? 'Thinking…' : 'Thinking';
        thinkText.textContent = t;
        body.textContent = a.replace(/^\s+/, '');
      },
    };
    return view;
  }

  renderAssistantText(text) {
    const v = this.addAssistant();
    v.update(String(text));
    v.li.removeAttribute('aria-busy');
    return v.body;
  }

  notice(text) {
    const li = el(this.doc, 'li', { class: 'notice', role: 'note', 'data-role': 'notice', text });
    this.els.list.append(li);
    return li;
  }

  scroll() {
    const l = this.els.list;
    const sc = l.closest('[data-scroll]') || l;
    sc.scrollTop = sc.scrollHeight;
  }

  // Marks the n oldest (non-system) messages as dropped from the model's context.
  dropOldest(n) {
    const gone = this.entries.splice(0, n);
    for (const g of gone) { g.li.classList.add('dropped'); g.li.title = 'No longer in the model\'s context'; }
    return gone.length;
  }

  async send(textArg) {
    const text = (textArg ?? this.els.input.value).trim();
    if (!text || this.busy || !this.model) return;
    this.els.input.value = '';
    const model = this.model;
    const settings = this.opts.getSettings ? this.opts.getSettings() : { ...DEFAULT_SETTINGS };
    const system = this.opts.getSystemPrompt ? this.opts.getSystemPrompt() : '';
    const userLi = this.addUser(text);
    const view = this.addAssistant();
    this.scroll();
    const messages = [];
    if (system && system.trim()) messages.push({ role: 'system', content: system });
    for (const e of this.entries) messages.push({ role: e.role, content: e.content });
    messages.push({ role: 'user', content: text });
    this.busy = true;
    this.ctl = new AbortController();
    this.sync();
    this.status('Generating…', 'generating');
    let reply = '';
    let droppedNotified = 0;
    const opts = { ...settings, signal: this.ctl.signal };
    if (opts.seed == null) delete opts.seed;
    opts.onContextTrim = ({ droppedMessages }) => {
      if (droppedMessages > droppedNotified) {
        const n = this.dropOldest(droppedMessages - droppedNotified);
        droppedNotified = droppedMessages;
        this.notice(`The context is full: the ${n} oldest message${n === 1 ? ' was' : 's were'} dropped (the system prompt is kept) and the conversation continues.`);
        this.status('Context full: dropped older messages, continuing…', 'generating');
      }
    };
    let outcome = 'done';
    try {
      let lastPaint = 0;
      for await (const ev of model.chat(messages, opts)) {
        if (ev.done) {
          reply += ev.text;
          view.update(reply);
          const s = ev.stats;
          view.stats.textContent = fmtStats(s, model.info);
          Object.assign(view.li.dataset, {
            promptTokens: s.promptTokens, prefilledTokens: s.prefilledTokens, generatedTokens: s.generatedTokens,
            stopReason: s.stopReason, droppedMessages: s.droppedMessages || 0,
          });
          if (s.droppedMessages > droppedNotified) opts.onContextTrim({ droppedMessages: s.droppedMessages });
          break;
        }
        reply += ev.text;
        const now = performance.now();
        if (now - lastPaint > 30) { view.update(reply); this.scroll(); lastPaint = now; }
      }
      view.update(reply);
    } catch (e) {
      view.update(reply);
      if (e && e.name === 'AbortError') {
        outcome = 'stopped';
        view.stats.textContent = `stopped after ${reply.length} characters`;
        view.li.dataset.stopReason = 'aborted';
      } else {
        outcome = 'error';
        const msg = e && e.message ? e.message : String(e);
        view.stats.textContent = '';
        view.stats.append(el(this.doc, 'span', { class: 'error', role: 'alert', text: `Error: ${msg}` }));
        this.status(`Error: ${msg}`, 'error');
      }
    } finally {
      view.li.removeAttribute('aria-busy');
      this.busy = false;
      this.ctl = null;
      this.sync();
    }
    if (outcome !== 'error') {
      this.entries.push({ role: 'user', content: text, li: userLi });
      this.entries.push({ role: 'assistant', content: reply, li: view.li });
      this.status(outcome === 'stopped' ? 'Stopped' : 'Ready', outcome === 'stopped' ? 'stopped' : 'ready');
    } else {
      userLi.classList.add('failed');
    }
    this.scroll();
    if (this.doc.activeElement === this.els.stop || this.doc.activeElement === this.doc.body) this.els.input.focus();
    return outcome;
  }
}
