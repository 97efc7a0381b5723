import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { extractZip, readZip, writeZip, ZipError } from './zip.ts';

/** Archives made by Python's zipfile (what `zip`-like tools and build scripts produce). */
function pythonZip(script: string): Buffer {
  return execFileSync('python3', ['-c', `import io, sys, zipfile\n${script}`], { maxBuffer: 64 << 20 });
}

/**
 * The same single-entry archive with every size and offset in ZIP64 records (the central
 * directory entry's extra field, the ZIP64 end record and its locator), as archivers write
 * packages over 4 GB.
 */
function asZip64(zip: Buffer): Buffer {
  const eocd = zip.length - 22;
  const cdOffset = zip.readUInt32LE(eocd + 16);
  const cd = zip.subarray(cdOffset, eocd);
  const nameLen = cd.readUInt16LE(28);
  const head = Buffer.from(cd.subarray(0, 46));
  const size = head.readUInt32LE(24);
  const compSize = head.readUInt32LE(20);
  const localOffset = head.readUInt32LE(42);
  head.writeUInt32LE(0xffffffff, 20);
  head.writeUInt32LE(0xffffffff, 24);
  head.writeUInt32LE(0xffffffff, 42);
  head.writeUInt16LE(28, 30);
  const extra = Buffer.alloc(28);
  extra.writeUInt16LE(1, 0);
  extra.writeUInt16LE(24, 2);
  extra.writeBigUInt64LE(BigInt(size), 4);
  extra.writeBigUInt64LE(BigInt(compSize), 12);
  extra.writeBigUInt64LE(BigInt(localOffset), 20);
  const newCd = Buffer.concat([head, cd.subarray(46, 46 + nameLen), extra]);
  const z64 = Buffer.alloc(56);
  z64.writeUInt32LE(0x06064b50, 0);
  z64.writeBigUInt64LE(44n, 4);
  z64.writeUInt16LE(45, 12);
  z64.writeUInt16LE(45, 14);
  z64.writeBigUInt64LE(1n, 24);
  z64.writeBigUInt64LE(1n, 32);
  z64.writeBigUInt64LE(BigInt(newCd.length), 40);
  z64.writeBigUInt64LE(BigInt(cdOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(cdOffset + newCd.length), 8);
  locator.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([zip.subarray(0, cdOffset), newCd, z64, locator, end]);
}

describe('zip reader', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-zip-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads back what writeZip wrote, directories and modes included', () => {
    const zip = writeZip([
      { name: 'lib/', data: '' },
      { name: 'index.mjs', data: 'export const handler = async (e) => e;\n' },
      { name: 'bin/run', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
    ]);
    const entries = readZip(zip);
    expect(entries.map((e) => [e.name, e.isDirectory, e.mode])).toEqual([
      ['lib/', true, 0o755],
      ['index.mjs', false, 0o644],
      ['bin/run', false, 0o755],
    ]);
    expect(entries[1]!.data.toString()).toBe('export const handler = async (e) => e;\n');
  });

  it("unpacks Python zipfile's stored and deflated entries, an archive comment and the executable bit", () => {
    const zip = pythonZip(`
b = io.BytesIO()
with zipfile.ZipFile(b, 'w') as z:
    z.comment = b'built by a deploy script'
    z.writestr(zipfile.ZipInfo('app/'), b'')
    z.writestr('app/handler.py', 'def handler(event, context):\\n    return event\\n' * 50, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr('data.json', '{"a": 1}', compress_type=zipfile.ZIP_STORED)
    i = zipfile.ZipInfo('bootstrap'); i.external_attr = 0o100755 << 16; i.create_system = 3
    z.writestr(i, '#!/bin/sh\\n')
sys.stdout.buffer.write(b.getvalue())`);
    const dir = path.join(tmp, 'py');
    expect(extractZip(zip, dir)).toBe(3);
    expect(fs.readFileSync(path.join(dir, 'app/handler.py'), 'utf8')).toBe('def handler(event, context):\n    return event\n'.repeat(50));
    expect(fs.readFileSync(path.join(dir, 'data.json'), 'utf8')).toBe('{"a": 1}');
    expect(fs.statSync(path.join(dir, 'bootstrap')).mode & 0o777).toBe(0o755);
  });

  it('reads ZIP64 sizes and offsets', () => {
    const entries = readZip(asZip64(writeZip([{ name: 'index.js', data: 'exports.handler = async () => 64;' }])));
    expect(entries.map((e) => [e.name, e.data.toString()])).toEqual([['index.js', 'exports.handler = async () => 64;']]);
  });

  it('reads entries written to a pipe (data descriptors after the data, ZIP64 local headers)', () => {
    // writing to an unseekable stream makes zipfile use data descriptors; force_zip64 adds ZIP64 local extras
    const zip = pythonZip(`
class Pipe(io.RawIOBase):
    def writable(self): return True
    def write(self, b): sys.stdout.buffer.write(b); return len(b)
with zipfile.ZipFile(Pipe(), 'w', compression=zipfile.ZIP_DEFLATED) as z:
    with z.open('streamed.txt', 'w', force_zip64=True) as f:
        f.write(b'x' * 100000)
    z.writestr('small.txt', 'ok')
sys.stdout.buffer.flush()`);
    const entries = readZip(zip);
    expect(entries.map((e) => [e.name, e.data.length])).toEqual([
      ['streamed.txt', 100000],
      ['small.txt', 2],
    ]);
  });

  it('refuses what is not a zip, a corrupt entry, an entry leaving the root and a package too large unzipped', () => {
    expect(() => readZip(Buffer.from('not a zip file at all, just some text'))).toThrow(ZipError);
    const zip = writeZip([{ name: 'index.js', data: 'exports.handler = async () => 1;' }]);
    const corrupt = Buffer.from(zip);
    // the central directory's CRC is the one checked (a local header's may sit in a data descriptor)
    const cdCrc = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 16;
    corrupt.writeUInt32LE((corrupt.readUInt32LE(cdCrc) ^ 1) >>> 0, cdCrc);
    expect(() => readZip(corrupt)).toThrow(/CRC-32 mismatch/);
    expect(() => extractZip(writeZip([{ name: '../escape.js', data: 'x' }]), path.join(tmp, 'slip'))).toThrow(/leaves the archive root/);
    expect(fs.existsSync(path.join(tmp, 'escape.js'))).toBe(false);
    expect(() => readZip(writeZip([{ name: 'big.bin', data: Buffer.alloc(2048) }]), { maxUncompressedBytes: 1024 })).toThrow(/unzipped size exceeds 1024/);
  });
});
