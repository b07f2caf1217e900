// helpers.mjs — shared by the Node and browser tests: fixture lookup and a local HTTP
// server (tools/static-server.mjs) with test routes and fault injection.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStaticServer, fileEntity, dataEntity } from '../../tools/static-server.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.resolve(process.env.WISP_FIXTURES || path.join(ROOT, '../shared'));
export const MODELS = path.join(FIXTURES, 'models');

// Returns the fixture path, or null after a loud skip (a failure under CI=true).
export function fixture(t, rel) {
  const p = path.join(FIXTURES, rel);
  if (fs.existsSync(p)) return p;
  const msg = `fixture missing: ${p} (set WISP_FIXTURES)`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.error(`\n*** SKIP: ${msg} ***\n`);
  t && t.skip(msg);
  return null;
}

export function referenceIds(name = 'stories260K', n = 32) {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference', `${name}.json`), 'utf8'));
  return ref.prompts[0].generated_ids.slice(0, n);
}

// routes: { '/path': {file} | {data: Buffer} } (optional etag, version, lastModified);
// fault(req, info) may return an action:
//   {ignoreRange: true} {status: 500} {drop: bytesBeforeDrop} {truncate: bytesToSend}
//   {contentRange: 'bytes a-b/c'} {html: status} {etag: '"x"'}
// Also serves files under `staticRoot` (the repo) with COOP/COEP so wasm threads work.
// delay(req) -> milliseconds to wait before answering (0: none).
// The server itself (streaming from disk, Range, HEAD, ETag, 416...) is tools/static-server.mjs;
// this adds the test routes and the fault injection. srv.log: {method, path, range, status, bytes}.
export async function startServer({ routes = {}, fault = null, delay = null, staticRoot = null, coi = true, cors = false } = {}) {
  const log = [];
  const srv = createStaticServer({
    root: staticRoot, coi, cors, log, delay,
    route(req, url, { entry, reply }) {
      const route = routes[url.pathname];
      if (!route) return undefined; // staticRoot, or 404
      // the validators come from the route (a test "replaces the file" by changing
      // route.file and route.version), not from the file's mtime
      const size = route.data ? route.data.length : fs.statSync(route.file).size;
      const v = {
        etag: route.etag || `"${size}-${route.version || 1}"`,
        lastModified: route.lastModified || 'Wed, 01 Jan 2025 00:00:00 GMT',
        contentType: 'application/octet-stream',
      };
      const e = route.data ? dataEntity(route.data, v) : fileEntity(route.file, v);
      const act = (fault && fault(req, { entry, log, route, size })) || {};
      if (act.html) {
        reply(act.html, { 'content-type': 'text/html' }, `<!DOCTYPE html><html><body><h1>${act.html}</h1></body></html>`);
        return true;
      }
      if (act.status) {
        reply(act.status, { 'content-type': 'text/plain' }, 'injected failure');
        return true;
      }
      if (act.etag) e.etag = act.etag;
      e.fault = act;
      return e;
    },
  });
  await srv.listen(0, '127.0.0.1');
  return srv;
}
