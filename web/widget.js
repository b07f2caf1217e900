// widget.js — <wisp-chat>: an embeddable private chat (custom element, shadow DOM).
//
//   <script type="module" src="https://your-host/web/widget.js"></script>
//   <wisp-chat model="https://your-host/models/model.gguf" title="Ask me" system-prompt="You are…"></wisp-chat>
//
// A launcher button opens the chat panel; the model is loaded the first time the panel opens
// (attribute `preload` loads it right away). Same engine and API as the chat page: on a page
// without COOP/COEP the single-threaded build is used automatically, with them the
// multi-threaded one. Optional attributes: context-size, max-tokens, temperature.
import { Wisp } from '../js/wisp.js';
import { ChatUI, DEFAULT_SETTINGS } from './chat-ui.js';

const CSS_URL = new URL('./widget.css', import.meta.url).href;

class WispChat extends HTMLElement {
  static get observedAttributes() { return ['title']; }

  constructor() {
    super();
    this.model = null;
    this._loading = null;
    const root = this.attachShadow({ mode: 'open' });
    const h = (tag, props = {}, ...kids) => {
      const e = document.createElement(tag);
      for (const [k, v] of Object.entries(props)) {
        if (k === 'text') e.textContent = v; else if (k === 'class') e.className = v; else e.setAttribute(k, v);
      }
      e.append(...kids);
      return e;
    };
    const link = h('link', { rel: 'stylesheet', href: CSS_URL });
    this.$launcher = h('button', { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'panel', text: 'Chat' });
    this.$title = h('h2', { id: 'title' });
    this.$close = h('button', { class: 'close', type: 'button', 'aria-label': 'Close chat', text: '×' });
    this.$status = h('p', { class: 'status', 'data-role': 'status', role: 'status', 'aria-live': 'polite', 'data-state': 'idle', text: 'Not loaded' });
    this.$progress = h('progress', { max: '1', value: '0', 'aria-label': 'Download progress', hidden: '' });
    const list = h('ol', { class: 'messages', 'aria-label': 'Conversation', 'aria-live': 'polite' });
    const scroll = h('div', { class: 'scroll', 'data-scroll': '' }, list);
    const input = h('textarea', { rows: '2', 'aria-label': 'Message', placeholder: 'Message (Enter to send, Esc to stop)' });
    const send = h('button', { type: 'button', class: 'primary', text: 'Send' });
    const stop = h('button', { type: 'button', text: 'Stop' });
    const newChat = h('button', { type: 'button', text: 'New chat' });
    const form = h('div', { class: 'composer' }, input, h('div', { class: 'buttons' }, send, stop, newChat));
    this.$panel = h('section', { id: 'panel', class: 'panel', role: 'dialog', 'aria-labelledby': 'title', hidden: '' },
      h('header', {}, this.$title, this.$close), this.$status, this.$progress, scroll, form,
      h('p', { class: 'foot', text: 'Runs in your browser: nothing you type leaves this device.' }));
    root.append(link, this.$launcher, this.$panel);
    this.ui = new ChatUI({ root: this.$panel, list, input, send, stop, newChat, status: this.$status }, {
      getSettings: () => {
        const s = { ...DEFAULT_SETTINGS };
        const mt = Number(this.getAttribute('max-tokens'));
        if (mt > 0) s.maxTokens = Math.round(mt);
        const t = this.getAttribute('temperature');
        if (t != null && t !== '' && Number.isFinite(Number(t))) s.temperature = Number(t);
        return s;
      },
      getSystemPrompt: () => this.getAttribute('system-prompt') || '',
    });
    this.$input = input;
    this.$launcher.addEventListener('click', () => (this.$panel.hidden ? this.open() : this.close()));
    this.$close.addEventListener('click', () => this.close());
    this.$panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.ui.busy) { e.preventDefault(); this.close(); }
    });
  }

  connectedCallback() {
    this.attributeChangedCallback();
    if (this.hasAttribute('preload')) this.load();
  }

  attributeChangedCallback() {
    const t = this.getAttribute('title') || 'Chat';
    this.$title.textContent = t;
    this.$launcher.textContent = t;
    this.$launcher.setAttribute('aria-label', `Open chat: ${t}`);
  }

  open() {
    this.$panel.hidden = false;
    this.$launcher.setAttribute('aria-expanded', 'true');
    this.$input.focus();
    this.load();
  }

  close() {
    this.$panel.hidden = true;
    this.$launcher.setAttribute('aria-expanded', 'false');
    this.$launcher.focus();
  }

  setStatus(text, state) {
    this.$status.textContent = text;
    this.$status.dataset.state = state;
  }

  load() {
    if (this._loading) return this._loading;
    const url = this.getAttribute('model');
    if (!url) { this.setStatus('Error: no model attribute', 'error'); return Promise.resolve(null); }
    this.setStatus('Loading the model…', 'loading');
    this.$progress.hidden = false;
    this._loading = Wisp.load(new URL(url, document.baseURI).href, {
      contextSize: Number(this.getAttribute('context-size')) || 0,
      onProgress: (p) => {
        if (p.total) this.$progress.value = p.loaded / p.total;
        const mb = (n) => (n / 1e6).toFixed(1);
        this.setStatus(`Loading… ${mb(p.loaded)}${p.total ? ` / ${mb(p.total)}` : ''} MB${p.bytesPerSec ? ` · ${mb(p.bytesPerSec)} MB/s` : ''}${p.etaSec ? ` · ETA ${Math.ceil(p.etaSec)} s` : ''}`, 'loading');
      },
    }).then((m) => {
      this.model = m;
      this.$progress.hidden = true;
      this.ui.setModel(m);
      this.dataset.variant = m.info.variant;
      this.dataset.simd = m.info.simd;
      this.setStatus(`Ready (${m.info.variant === 'mt' ? `${m.info.threads} threads` : 'single thread'})`, 'ready');
      this.dispatchEvent(new CustomEvent('wisp-ready', { detail: m.info }));
      return m;
    }, (e) => {
      this._loading = null;
      this.$progress.hidden = true;
      this.setStatus(`Error: ${e.code === 'OOM' ? 'the model does not fit in memory' : e.message}`, 'error');
      return null;
    });
    return this._loading;
  }

  disconnectedCallback() {
    this.ui.stop();
  }
}

if (!customElements.get('wisp-chat')) customElements.define('wisp-chat', WispChat);
export { WispChat };
