// node-shim.js — prepended (outside the module factory) to the ES-module glue by
// wasm/build.sh (--extern-pre-js). Emscripten 3.1.6's EXPORT_ES6 output still calls
// require()/__dirname when it runs under Node; ES modules have neither, so give the
// glue module-scoped ones. In browsers `process` is undefined and nothing happens.
const __wispIsNode = typeof process == 'object' && !!(process.versions && process.versions.node);
var require = __wispIsNode ? (globalThis.require || (await import('module')).createRequire(import.meta.url)) : undefined;
var __filename = __wispIsNode ? (await import('url')).fileURLToPath(import.meta.url) : undefined;
var __dirname = __wispIsNode ? (await import('path')).dirname(__filename) : undefined;
