// cache.js — persistent model cache.
//
// Browsers: the Cache Storage API (cache "wisp-models-v1", key = the model URL).
// Why Cache Storage rather than OPFS: it exists in windows and workers of every
// current browser (OPFS sync handles are worker-only and uneven across engines), and
// Cache.put() is atomic: the entry only appears once the whole body has been written,
// so an interrupted store leaves nothing behind. On top of that every entry carries
// its own metadata headers (x-wisp-size, x-wisp-etag, x-wisp-last-modified,
// x-wisp-sha256, x-wisp-complete) which are checked against the body on every lookup
// (size must match exactly), so a partial file can never pass as a complete one.
// Reading a hit gives a Blob (disk-backed in Chromium) that goes through the same
// Blob.slice() loading path as a user's File.
//
// Node: there is no Cache Storage; caching is a no-op (list() is empty).
export const CACHE_NAME = 'wisp-models-v1';
const VERSION = '1';

export function cacheAvailable() {
  return typeof caches !== 'undefined' && typeof caches.open === 'function';
}

function metaOf(resp) {
  const h = resp.headers;
  return {
    size: Number(h.get('x-wisp-size')),
    etag: h.get('x-wisp-etag') || '',
    lastModified: h.get('x-wisp-last-modified') || '',
    sha256: h.get('x-wisp-sha256') || '',
    storedAt: h.get('x-wisp-stored-at') || '',
    complete: h.get('x-wisp-complete') === '1' && h.get('x-wisp-version') === VERSION,
  };
}

// Returns {blob, meta} for a complete, valid entry; deletes and ignores invalid ones.
export async function cacheLookup(url) {
  if (!cacheAvailable()) return null;
  const cache = await caches.open(CACHE_NAME);
  const resp = await cache.match(url);
  if (!resp) return null;
  const meta = metaOf(resp);
  const blob = await resp.blob();
  if (!meta.complete || !(meta.size > 0) || blob.size !== meta.size) {
    await cache.delete(url);
    return null;
  }
  return { blob, meta };
}

// Stores `size` bytes produced by `chunks()` (an async iterator of Uint8Array) under url.
export async function cacheStore(url, meta, chunks) {
  if (!cacheAvailable()) return false;
  const cache = await caches.open(CACHE_NAME);
  const it = chunks[Symbol.asyncIterator]();
  let written = 0;
  const stream = new ReadableStream({
    async pull(ctrl) {
      const r = await it.next();
      if (r.done) {
        if (written !== meta.size) ctrl.error(new Error(`cache store: produced ${written} of ${meta.size} bytes`));
        else ctrl.close();
        return;
      }
      written += r.value.length;
      ctrl.enqueue(r.value);
    },
    cancel() { it.return && it.return(); },
  });
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': String(meta.size),
    'x-wisp-size': String(meta.size),
    'x-wisp-etag': meta.etag || '',
    'x-wisp-last-modified': meta.lastModified || '',
    'x-wisp-sha256': meta.sha256 || '',
    'x-wisp-stored-at': new Date().toISOString(),
    'x-wisp-complete': '1',
    'x-wisp-version': VERSION,
  };
  await cache.put(url, new Response(stream, { status: 200, headers }));
  return true;
}

export async function cacheList() {
  if (!cacheAvailable()) return [];
  const cache = await caches.open(CACHE_NAME);
  const out = [];
  for (const req of await cache.keys()) {
    const resp = await cache.match(req);
    if (!resp) continue;
    const m = metaOf(resp);
    // complete only when the body really has the recorded size (as cacheLookup requires): an
    // entry that is not whole is never reported as cached. (Chromium's cache blobs are
    // disk-backed: reading .size does not read the body.)
    let bodySize = -1;
    try { bodySize = (await resp.blob()).size; } catch {}
    const complete = m.complete && m.size > 0 && bodySize === m.size;
    out.push({ url: req.url, size: m.size, bodySize, etag: m.etag, lastModified: m.lastModified, sha256: m.sha256, storedAt: m.storedAt, complete });
  }
  return out;
}

export async function cacheDelete(url) {
  if (!cacheAvailable()) return false;
  const cache = await caches.open(CACHE_NAME);
  return cache.delete(url);
}
