/**
 * Just enough CBOR (RFC 8949) to carry SurrealDB RPC frames between a WebSocket and the
 * engine without decoding them: split the top-level map of a frame into raw key → value byte
 * ranges, read the few small values the server needs (method, session, id), and build new
 * maps from raw pieces. A 100-row insert passes through as bytes, never as JS objects.
 */

export class CborFrameError extends Error {}

const TAG_UUID = 37; // SurrealDB's (and RFC 9562's) UUID tag: 16-byte byte string

interface Head {
  major: number;
  /** the argument (length, count, value, tag number); -1 for indefinite length */
  arg: number;
  /** offset of the first byte after the head */
  next: number;
}

function readHead(buf: Uint8Array, off: number): Head {
  if (off >= buf.length) throw new CborFrameError('unexpected end of CBOR data');
  const b = buf[off]!;
  const major = b >> 5;
  const ai = b & 0x1f;
  if (ai < 24) return { major, arg: ai, next: off + 1 };
  const need = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
  if (need > 0) {
    if (off + 1 + need > buf.length) throw new CborFrameError('unexpected end of CBOR data');
    let v = 0;
    for (let i = 0; i < need; i++) v = v * 256 + buf[off + 1 + i]!;
    return { major, arg: v, next: off + 1 + need };
  }
  if (ai === 31 && major >= 2 && major <= 5) return { major, arg: -1, next: off + 1 };
  if (ai === 31 && major === 7) throw new CborFrameError('unexpected break');
  throw new CborFrameError(`reserved CBOR additional information ${ai}`);
}

const MAX_DEPTH = 256;

/** Offset just past the data item starting at `off`. Throws CborFrameError on malformed input. */
export function skipItem(buf: Uint8Array, off: number, depth = 0): number {
  if (depth > MAX_DEPTH) throw new CborFrameError('CBOR nesting too deep');
  const h = readHead(buf, off);
  switch (h.major) {
    case 0:
    case 1:
      return h.next;
    case 2:
    case 3:
      if (h.arg >= 0) {
        const end = h.next + h.arg;
        if (end > buf.length) throw new CborFrameError('unexpected end of CBOR data');
        return end;
      }
      return skipIndefinite(buf, h.next, depth, h.major);
    case 4:
    case 5: {
      const per = h.major === 5 ? 2 : 1;
      if (h.arg >= 0) {
        let p = h.next;
        for (let i = 0; i < h.arg * per; i++) p = skipItem(buf, p, depth + 1);
        return p;
      }
      return skipIndefinite(buf, h.next, depth, undefined);
    }
    case 6:
      return skipItem(buf, h.next, depth + 1);
    default:
      return h.next; // simple values and floats: the head carries them
  }
}

function skipIndefinite(buf: Uint8Array, off: number, depth: number, chunkMajor: number | undefined): number {
  let p = off;
  for (;;) {
    if (p >= buf.length) throw new CborFrameError('unexpected end of CBOR data');
    if (buf[p] === 0xff) return p + 1;
    if (chunkMajor !== undefined && buf[p]! >> 5 !== chunkMajor) throw new CborFrameError('bad chunk in indefinite-length string');
    p = skipItem(buf, p, depth + 1);
  }
}

/** [start, end) of one raw value inside the frame. */
export type Range = readonly [number, number];

/**
 * The top-level map of a frame as text key → raw value range. Throws CborFrameError when the
 * bytes are not exactly one CBOR map with text keys.
 */
export function splitTopMap(buf: Uint8Array): Map<string, Range> {
  const h = readHead(buf, 0);
  if (h.major !== 5) throw new CborFrameError('an RPC frame must be a CBOR map');
  const out = new Map<string, Range>();
  let p = h.next;
  for (let i = 0; h.arg < 0 || i < h.arg; i++) {
    if (h.arg < 0 && buf[p] === 0xff) {
      p++;
      break;
    }
    const kh = readHead(buf, p);
    if (kh.major !== 3 || kh.arg < 0) throw new CborFrameError('RPC frame keys must be text strings');
    const keyEnd = kh.next + kh.arg;
    if (keyEnd > buf.length) throw new CborFrameError('unexpected end of CBOR data');
    const key = Buffer.from(buf.buffer, buf.byteOffset + kh.next, kh.arg).toString('utf8');
    const vEnd = skipItem(buf, keyEnd);
    out.set(key, [keyEnd, vEnd]);
    p = vEnd;
  }
  if (p !== buf.length) throw new CborFrameError('trailing bytes after the RPC frame');
  return out;
}

/** A definite-length text string value, or undefined if the range holds something else. */
export function readText(buf: Uint8Array, r: Range | undefined): string | undefined {
  if (!r) return undefined;
  const h = readHead(buf, r[0]);
  if (h.major !== 3 || h.arg < 0) return undefined;
  return Buffer.from(buf.buffer, buf.byteOffset + h.next, h.arg).toString('utf8');
}

/** A UUID value (tag 37 + 16 bytes, or a text string) as its canonical lower-case string. */
export function readUuid(buf: Uint8Array, r: Range | undefined): string | undefined {
  if (!r) return undefined;
  const h = readHead(buf, r[0]);
  if (h.major === 6 && h.arg === TAG_UUID) {
    const b = readHead(buf, h.next);
    if (b.major !== 2 || b.arg !== 16) return undefined;
    return uuidBytesToString(buf.subarray(b.next, b.next + 16));
  }
  if (h.major === 3) {
    const s = readText(buf, r)!.toLowerCase();
    return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s) ? s : undefined;
  }
  return undefined;
}

export function uuidBytesToString(b: Uint8Array): string {
  const hex = Buffer.from(b).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

const textCache = new Map<string, Buffer>();
/** CBOR text string. */
export function cborText(s: string): Buffer {
  let b = textCache.get(s);
  if (!b) {
    const body = Buffer.from(s, 'utf8');
    b = Buffer.concat([head(3, body.length), body]);
    if (textCache.size < 64) textCache.set(s, b);
  }
  return b;
}

/** CBOR UUID (tag 37, 16-byte byte string) from its string form. */
export function cborUuid(uuid: string): Buffer {
  const bytes = Buffer.from(uuid.replace(/-/g, ''), 'hex');
  if (bytes.length !== 16) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.concat([Buffer.from([0xd8, TAG_UUID, 0x50]), bytes]);
}

export const CBOR_NULL = Buffer.from([0xf6]);

/** A map from (text key, raw encoded value) pairs. */
export function cborMap(entries: readonly (readonly [string, Uint8Array])[]): Buffer {
  const parts: Uint8Array[] = [head(5, entries.length)];
  for (const [k, v] of entries) parts.push(cborText(k), v);
  return Buffer.concat(parts);
}

/** An array from raw encoded items. */
export function cborArray(items: readonly Uint8Array[]): Buffer {
  return Buffer.concat([head(4, items.length), ...items]);
}

/**
 * The engine answers a call with the bare result, or `{error: …}` (a one-entry map). Returns the
 * raw error value's range when it is the latter (the check the SDK's own engine makes).
 */
export function engineErrorRange(buf: Uint8Array): Range | undefined {
  if (buf.length < 8 || buf[0] !== 0xa1 || buf[1] !== 0x65) return undefined; // map(1), text(5)
  if (Buffer.from(buf.buffer, buf.byteOffset + 2, 5).toString('latin1') !== 'error') return undefined;
  return [7, buf.length];
}
