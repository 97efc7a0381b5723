import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

/**
 * A small ZIP reader (and writer, for tests and fixtures) for Lambda deployment packages. It reads
 * the central directory (so local headers with data descriptors are fine), stored and deflated
 * entries, ZIP64 sizes and offsets, and the Unix mode bits the `zip` tools record; it checks
 * every entry's CRC-32 and refuses names that would leave the target directory.
 */
export interface ZipEntry {
  /** the entry's path inside the archive, '/'-separated; directories end with '/' */
  name: string;
  isDirectory: boolean;
  /** Unix permission bits when the archive recorded them (made on Unix), else undefined */
  mode?: number;
  data: Buffer;
}

export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

const EOCD = 0x06054b50;
const ZIP64_EOCD = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** (year - 1980) << 9 | month << 5 | day: the earliest date ZIP can say, so packages are reproducible */
const DOS_DATE_1980_01_01 = (1 << 5) | 1;

function findEocd(buf: Buffer): number {
  // the record is 22 bytes plus a comment of at most 65535 bytes
  const stop = Math.max(0, buf.length - 22 - 0xffff);
  for (let i = buf.length - 22; i >= stop; i--) {
    if (buf.readUInt32LE(i) === EOCD && i + 22 + buf.readUInt16LE(i + 20) <= buf.length) return i;
  }
  throw new ZipError('not a zip archive (no end of central directory record)');
}

function need(buf: Buffer, off: number, len: number, what: string): void {
  if (off < 0 || off + len > buf.length) throw new ZipError(`truncated zip archive (${what})`);
}

/** Every entry of the archive, in central-directory order, with its contents. */
export function readZip(buf: Buffer, opts: { maxUncompressedBytes?: number } = {}): ZipEntry[] {
  if (buf.length < 22) throw new ZipError('not a zip archive (too short)');
  const eocd = findEocd(buf);
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    need(buf, loc, 20, 'zip64 locator');
    if (buf.readUInt32LE(loc) !== ZIP64_LOCATOR) throw new ZipError('zip64 archive without its locator');
    const z = Number(buf.readBigUInt64LE(loc + 8));
    need(buf, z, 56, 'zip64 end of central directory');
    if (buf.readUInt32LE(z) !== ZIP64_EOCD) throw new ZipError('bad zip64 end of central directory');
    count = Number(buf.readBigUInt64LE(z + 32));
    cdSize = Number(buf.readBigUInt64LE(z + 40));
    cdOffset = Number(buf.readBigUInt64LE(z + 48));
  }
  need(buf, cdOffset, cdSize, 'central directory');
  const entries: ZipEntry[] = [];
  let total = 0;
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    need(buf, p, 46, 'central directory entry');
    if (buf.readUInt32LE(p) !== CENTRAL) throw new ZipError('bad central directory entry');
    const madeBy = buf.readUInt16LE(p + 4);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    let compSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const external = buf.readUInt32LE(p + 38);
    let localOffset = buf.readUInt32LE(p + 42);
    need(buf, p + 46, nameLen + extraLen + commentLen, 'central directory entry');
    const name = buf.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nameLen);
    // ZIP64 extended information: only the fields whose 32-bit value is saturated, in this order
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(buf.readBigUInt64LE(q))), (q += 8);
        if (compSize === 0xffffffff) (compSize = Number(buf.readBigUInt64LE(q))), (q += 8);
        if (localOffset === 0xffffffff) localOffset = Number(buf.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    p = extraEnd + commentLen;

    if (flags & 0x1) throw new ZipError(`${name}: encrypted entries are not supported`);
    const isDirectory = name.endsWith('/');
    const unixMode = madeBy >> 8 === 3 ? (external >>> 16) & 0o7777 : undefined;
    need(buf, localOffset, 30, `local header of ${name}`);
    if (buf.readUInt32LE(localOffset) !== LOCAL) throw new ZipError(`${name}: bad local header`);
    const dataStart = localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
    need(buf, dataStart, compSize, `data of ${name}`);
    const raw = buf.subarray(dataStart, dataStart + compSize);
    total += size;
    if (opts.maxUncompressedBytes !== undefined && total > opts.maxUncompressedBytes) {
      throw new ZipError(`unzipped size exceeds ${opts.maxUncompressedBytes} bytes`);
    }
    let data: Buffer;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) });
      } catch (err) {
        throw new ZipError(`${name}: cannot inflate (${(err as Error).message})`);
      }
    } else throw new ZipError(`${name}: compression method ${method} is not supported`);
    if (data.length !== size) throw new ZipError(`${name}: size mismatch`);
    if (zlib.crc32(data) >>> 0 !== crc) throw new ZipError(`${name}: CRC-32 mismatch`);
    entries.push({ name, isDirectory, ...(unixMode ? { mode: unixMode } : {}), data });
  }
  return entries;
}

/** The entry's path below a root, or a ZipError when it is absolute or climbs out (zip slip). */
export function safeEntryPath(root: string, name: string): string {
  const clean = name.replace(/\\/g, '/');
  if (clean.startsWith('/') || /^[a-zA-Z]:/.test(clean) || clean.split('/').includes('..')) {
    throw new ZipError(`${name}: entry path leaves the archive root`);
  }
  const target = path.resolve(root, clean);
  if (target !== path.resolve(root) && !target.startsWith(path.resolve(root) + path.sep)) throw new ZipError(`${name}: entry path leaves the archive root`);
  return target;
}

/**
 * Unpacks an archive into `dir` (created; must not exist yet or be empty). Files keep their Unix
 * mode when recorded, else 0644; directories 0755. Returns the number of files written.
 */
export function extractZip(buf: Buffer, dir: string, opts: { maxUncompressedBytes?: number } = {}): number {
  const entries = readZip(buf, opts);
  fs.mkdirSync(dir, { recursive: true });
  let files = 0;
  for (const ent of entries) {
    const target = safeEntryPath(dir, ent.name);
    if (ent.isDirectory) {
      fs.mkdirSync(target, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const mode = ent.mode ? (ent.mode & 0o777) | 0o400 : 0o644;
    fs.writeFileSync(target, ent.data, { mode });
    fs.chmodSync(target, mode);
    files++;
  }
  return files;
}

/** Writes a ZIP archive (deflated entries, Unix modes) — deployment packages for tests and fixtures. */
export function writeZip(files: { name: string; data: Buffer | string; mode?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const data = Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data);
    const isDir = f.name.endsWith('/');
    const packed = isDir ? Buffer.alloc(0) : zlib.deflateRawSync(data);
    const method = isDir ? 0 : 8;
    const name = Buffer.from(f.name, 'utf8');
    const crc = zlib.crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // time 00:00
    local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, packed);
    const mode = (isDir ? 0o40000 : 0o100000) | (f.mode ?? (isDir ? 0o755 : 0o644));
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(DOS_DATE_1980_01_01, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
