#!/usr/bin/env node
// vendor-jinja.mjs — copies @huggingface/jinja's ESM build (MIT) from node_modules into
// js/vendor/jinja.js so the page works without a bundler, with two small patches for
// fidelity with Python Jinja2 (what transformers' apply_chat_template uses):
//   1. `| trim`, `.strip()`, `.lstrip()`, `.rstrip()` strip exactly the characters Python's
//      str.isspace() accepts (JS trim() also strips U+FEFF and misses U+0085, U+001C..U+001F);
//   2. strftime_now's clock can be set (setStrftimeClock), so renderings can be pinned to a date.
//   node tools/vendor-jinja.mjs [--check]   (--check: exit 1 if js/vendor/jinja.js is stale)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = path.join(ROOT, 'node_modules/@huggingface/jinja');
const out = path.join(ROOT, 'js/vendor/jinja.js');
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
let src = fs.readFileSync(path.join(pkgDir, 'dist/index.js'), 'utf8');
const license = fs.readFileSync(path.join(pkgDir, 'LICENSE'), 'utf8');

const PY_WS = String.raw`[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]`;
const helpers = `
// --- wisp patch: Python str.isspace() semantics for strip/trim
const __PY_WS_L = /^${PY_WS}+/u;
const __PY_WS_R = /${PY_WS}+$/u;
const __pyLstrip = (s) => s.replace(__PY_WS_L, "");
const __pyRstrip = (s) => s.replace(__PY_WS_R, "");
const __pyStrip = (s) => __pyRstrip(__pyLstrip(s));
// --- wisp patch: the clock of strftime_now (render() is synchronous: set, render, restore)
let __wispClock = () => new Date();
export function setStrftimeClock(fn) { const prev = __wispClock; __wispClock = fn || (() => new Date()); return prev; }
`;
const patches = [
  ['return new StringValue(this.value.trim());', 'return new StringValue(__pyStrip(this.value));', 1],
  ['return new StringValue(this.value.trimEnd());', 'return new StringValue(__pyRstrip(this.value));', 1],
  ['return new StringValue(this.value.trimStart());', 'return new StringValue(__pyLstrip(this.value));', 1],
  ['return new StringValue(operand.value.trim());', 'return new StringValue(__pyStrip(operand.value));', 1],
  ['return strftime(/* @__PURE__ */ new Date(), format2);', 'return strftime(__wispClock(), format2);', 1],
];
for (const [from, to, n] of patches) {
  const count = src.split(from).length - 1;
  if (count !== n) throw new Error(`vendor-jinja: expected ${n} occurrence(s) of ${JSON.stringify(from)}, found ${count} (package version changed?)`);
  src = src.split(from).join(to);
}
const header = `// @huggingface/jinja ${pkg.version} — vendored by tools/vendor-jinja.mjs from node_modules (do not edit).
// Patched: Python whitespace semantics for strip/trim; setStrftimeClock() pins strftime_now's clock.
/*
${license.trim()}
*/
`;
const body = header + helpers + src;
if (process.argv.includes('--check')) {
  const cur = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  if (cur !== body) { console.error('js/vendor/jinja.js is stale: run node tools/vendor-jinja.mjs'); process.exit(1); }
  process.exit(0);
}
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, body);
console.log(`wrote ${path.relative(ROOT, out)} (@huggingface/jinja ${pkg.version}, ${body.length} bytes)`);
