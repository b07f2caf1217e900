// gguf.mjs — a tiny GGUF v2/v3 header reader and writer for the browser tests (crafting model
// files: a model too big for wasm32, a renamed copy, ...). Metadata values are kept as raw bytes
// (so unknown keys round-trip exactly); setU32() replaces one. Tensor data is not handled: the
// writer produces the header (with tensor offsets laid out anew) and the size of the data part.
const ALIGN_KEY = 'general.alignment';
// element types this writer can size: F32, F16, BF16, Q8_0, Q4_0 (block bytes, block elements)
const TYPE_SIZE = { 0: [4, 1], 1: [2, 1], 30: [2, 1], 8: [34, 32], 2: [18, 32] };
const SCALAR = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export function parseGguf(buf) {
  let p = 0;
  const u32 = () => { const v = buf.readUInt32LE(p); p += 4; return v; };
  const u64 = () => { const v = buf.readBigUInt64LE(p); p += 8; return Number(v); };
  const str = () => { const n = u64(); const s = buf.toString('utf8', p, p + n); p += n; return s; };
  const skipValue = (type) => {
    if (type in SCALAR) { p += SCALAR[type]; return; }
    if (type === 8) { str(); return; }
    if (type === 9) { const et = u32(); const n = u64(); for (let i = 0; i < n; i++) skipValue(et); return; }
    throw new Error(`gguf: unknown value type ${type}`);
  };
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error('gguf: bad magic');
  p = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const kv = [];
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    const at = p;
    skipValue(type);
    kv.push({ key, type, raw: Buffer.from(buf.subarray(at, p)) });
  }
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nd = u32();
    const dims = [];
    for (let d = 0; d < nd; d++) dims.push(u64());
    const type = u32();
    const offset = u64();
    tensors.push({ name, dims, type, offset });
  }
  const a = kv.find((e) => e.key === ALIGN_KEY);
  const alignment = a ? a.raw.readUInt32LE(0) : 32;
  const dataOffset = Math.ceil(p / alignment) * alignment;
  return { version, kv, tensors, alignment, dataOffset };
}

export function getU32(g, key) {
  const e = g.kv.find((x) => x.key === key);
  return e ? e.raw.readUInt32LE(0) : undefined;
}

export function setU32(g, key, value) {
  const e = g.kv.find((x) => x.key === key);
  if (!e || e.type !== 4) throw new Error(`gguf: no u32 key ${key}`);
  e.raw = Buffer.alloc(4);
  e.raw.writeUInt32LE(value);
}

export function tensorBytes(t) {
  const s = TYPE_SIZE[t.type];
  if (!s) throw new Error(`gguf: tensor type ${t.type} not supported by this writer`);
  const n = t.dims.reduce((a, b) => a * b, 1);
  return (n / s[1]) * s[0];
}

// -> {header: Buffer (padded to the alignment), dataSize, total}; tensor offsets are recomputed.
export function writeGgufHeader(g) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s) => { const b = Buffer.from(s, 'utf8'); u64(b.length); parts.push(b); };
  parts.push(Buffer.from('GGUF', 'latin1'));
  u32(g.version || 3);
  u64(g.tensors.length);
  u64(g.kv.length);
  for (const e of g.kv) { str(e.key); u32(e.type); parts.push(e.raw); }
  let off = 0;
  for (const t of g.tensors) {
    str(t.name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(t.type);
    u64(off);
    off += Math.ceil(tensorBytes(t) / g.alignment) * g.alignment;
  }
  let header = Buffer.concat(parts);
  const padded = Math.ceil(header.length / g.alignment) * g.alignment;
  header = Buffer.concat([header, Buffer.alloc(padded - header.length)]);
  return { header, dataSize: off, total: header.length + off };
}
