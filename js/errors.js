// errors.js — WispError and the error codes shared by js/wisp.js and js/worker.js.
//
// Codes mirror the C wisp_status names (wisp_status_name): IO, FORMAT, UNSUPPORTED,
// OOM, ABORTED, INVALID_ARG, NEED_MORE, CONTEXT_FULL; plus JS-side ones:
//   NETWORK   HTTP failure, dropped connection after all retries, bad Content-Range
//   CHANGED   the remote file kept changing during download (after restarts)
//   INTEGRITY sha256 mismatch
//   TRAP      the wasm module trapped / the worker died (the model is unusable; load again)
//   UNLOADED  the model was unloaded
// Aborts (AbortSignal) reject with an error whose name is 'AbortError' (code ABORTED).

export class WispError extends Error {
  constructor(code, message, extra) {
    super(message);
    this.name = 'WispError';
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}

export function abortError(message = 'The operation was aborted') {
  const e = new WispError('ABORTED', message);
  e.name = 'AbortError';
  return e;
}

// Structured-clone-friendly form of an error, and back.
export function serializeError(e) {
  if (e && typeof e === 'object') {
    return { name: e.name || 'Error', code: e.code || (e.name === 'AbortError' ? 'ABORTED' : 'INTERNAL'),
      message: String(e.message || e), status: e.status };
  }
  return { name: 'Error', code: 'INTERNAL', message: String(e) };
}

export function deserializeError(o) {
  const e = new WispError(o.code || 'INTERNAL', o.message || 'unknown error');
  if (o.name === 'AbortError') e.name = 'AbortError';
  if (o.status !== undefined) e.status = o.status;
  return e;
}
