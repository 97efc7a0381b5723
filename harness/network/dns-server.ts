import dgram from 'node:dgram';
import net from 'node:net';

/**
 * The VPC's DNS for the private Cloud Map namespaces: a small authoritative DNS server over
 * UDP and TCP with a hand-written RFC 1035 codec (no dependency). It answers from the Cloud
 * Map registry at query time, so a task registered a moment ago resolves at once, and one
 * deregistered stops resolving (subject to the TTL the client honours).
 *
 * - names inside a private namespace: A / AAAA / SRV from the registry; SOA and NS at the apex;
 *   existing names without records of the asked type (and ANY) → NOERROR with no answers;
 *   unknown names → NXDOMAIN. Negative answers carry the zone's SOA in the authority section.
 * - names outside every namespace: `staticHosts` (stand-ins outside the VPC), else REFUSED.
 * - EDNS(0) OPT is understood enough to size UDP answers and echo an OPT; bad packets get
 *   FORMERR (or are dropped when not even the header is there). Nothing a client sends can
 *   crash it.
 */

// ------------------------------------------------------------------ wire constants

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const RRClass = { IN: 1, CH: 3, ANY: 255 } as const;

export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 16: 'BADVERS' };
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RRType).map(([k, v]) => [v, k]));

// ------------------------------------------------------------------ message model

export interface DnsHeaderFlags {
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** low 4 bits of the response code (the rest lives in the OPT record) */
  rcode: number;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export type RecordData =
  | { kind: 'A'; address: string }
  | { kind: 'AAAA'; address: string }
  | { kind: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { kind: 'SOA'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'NAME'; target: string } // NS, CNAME, PTR
  | { kind: 'raw'; bytes: Buffer };

export interface DnsResourceRecord {
  name: string;
  type: number;
  /** for OPT: the requester's UDP payload size */
  class: number;
  /** for OPT: extended rcode (8) | version (8) | DO (1) | Z (15) */
  ttl: number;
  data: RecordData;
}

export interface DnsMessage {
  id: number;
  flags: DnsHeaderFlags;
  questions: DnsQuestion[];
  answers: DnsResourceRecord[];
  authorities: DnsResourceRecord[];
  additionals: DnsResourceRecord[];
}

/** A packet we cannot parse. `id` is set when the header was readable (so FORMERR can go back). */
export class DnsFormatError extends Error {
  constructor(
    message: string,
    readonly id?: number,
  ) {
    super(message);
    this.name = 'DnsFormatError';
  }
}

// ------------------------------------------------------------------ names

/** Presentation form of one label: `.` `\` and non-printable bytes escaped (RFC 1035 §5.1). */
function labelToText(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
    else if (b < 0x21 || b > 0x7e) s += `\\${String(b).padStart(3, '0')}`;
    else s += String.fromCharCode(b);
  }
  return s;
}

/** Splits a presentation-form name into wire labels, honouring `\.` and `\DDD` escapes. */
export function nameToLabels(name: string): Buffer[] {
  if (name === '' || name === '.') return [];
  const labels: Buffer[] = [];
  let cur: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x5c && i + 1 < name.length) {
      const d = /^\d{3}/.exec(name.slice(i + 1, i + 4));
      if (d) {
        cur.push(Number(d[0]) & 0xff);
        i += 3;
      } else {
        cur.push(name.charCodeAt(i + 1) & 0xff);
        i += 1;
      }
    } else if (c === 0x2e) {
      labels.push(Buffer.from(cur));
      cur = [];
    } else {
      cur.push(c & 0xff);
    }
  }
  if (cur.length > 0) labels.push(Buffer.from(cur));
  for (const l of labels) {
    if (l.length === 0) throw new Error(`empty label in ${JSON.stringify(name)}`);
    if (l.length > 63) throw new Error(`label longer than 63 octets in ${JSON.stringify(name)}`);
  }
  if (labels.reduce((n, l) => n + l.length + 1, 1) > 255) throw new Error(`name longer than 255 octets: ${name}`);
  return labels;
}

/** Reads a (possibly compressed) name at `offset`; returns it and the offset after it. */
export function readName(buf: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let jumps = 0;
  let wireLen = 1;
  for (;;) {
    if (pos >= buf.length) throw new DnsFormatError('name runs past the end of the packet');
    const len = buf[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsFormatError('truncated compression pointer');
      const ptr = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (next < 0) next = pos + 2;
      if (++jumps > 64 || ptr >= buf.length) throw new DnsFormatError('bad compression pointer');
      pos = ptr;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError('unsupported label type');
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if (pos + 1 + len > buf.length) throw new DnsFormatError('label runs past the end of the packet');
    wireLen += len + 1;
    if (wireLen > 255) throw new DnsFormatError('name longer than 255 octets');
    labels.push(labelToText(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.join('.'), next };
}

// ------------------------------------------------------------------ decoding

function need(buf: Buffer, offset: number, n: number, what: string): void {
  if (offset + n > buf.length) throw new DnsFormatError(`truncated ${what}`);
}

function ipv4FromBytes(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function ipv6FromBytes(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // compress the longest run of zero groups
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

function readRecord(buf: Buffer, offset: number): { rr: DnsResourceRecord; next: number } {
  const { name, next: afterName } = readName(buf, offset);
  need(buf, afterName, 10, 'resource record header');
  const type = buf.readUInt16BE(afterName);
  const klass = buf.readUInt16BE(afterName + 2);
  const ttl = buf.readUInt32BE(afterName + 4);
  const rdlen = buf.readUInt16BE(afterName + 8);
  const start = afterName + 10;
  need(buf, start, rdlen, 'RDATA');
  const end = start + rdlen;
  const rdata = buf.subarray(start, end);
  let data: RecordData;
  switch (type) {
    case RRType.A:
      if (rdlen !== 4) throw new DnsFormatError('A RDATA must be 4 octets');
      data = { kind: 'A', address: ipv4FromBytes(rdata) };
      break;
    case RRType.AAAA:
      if (rdlen !== 16) throw new DnsFormatError('AAAA RDATA must be 16 octets');
      data = { kind: 'AAAA', address: ipv6FromBytes(rdata) };
      break;
    case RRType.SRV: {
      if (rdlen < 7) throw new DnsFormatError('SRV RDATA too short');
      const t = readName(buf, start + 6);
      if (t.next > end) throw new DnsFormatError('SRV target runs past RDATA');
      data = { kind: 'SRV', priority: rdata.readUInt16BE(0), weight: rdata.readUInt16BE(2), port: rdata.readUInt16BE(4), target: t.name };
      break;
    }
    case RRType.NS:
    case RRType.CNAME:
    case RRType.PTR: {
      const t = readName(buf, start);
      if (t.next > end) throw new DnsFormatError('name runs past RDATA');
      data = { kind: 'NAME', target: t.name };
      break;
    }
    case RRType.SOA: {
      const m = readName(buf, start);
      const r = readName(buf, m.next);
      if (r.next + 20 > end) throw new DnsFormatError('SOA RDATA too short');
      data = {
        kind: 'SOA',
        mname: m.name,
        rname: r.name,
        serial: buf.readUInt32BE(r.next),
        refresh: buf.readUInt32BE(r.next + 4),
        retry: buf.readUInt32BE(r.next + 8),
        expire: buf.readUInt32BE(r.next + 12),
        minimum: buf.readUInt32BE(r.next + 16),
      };
      break;
    }
    default:
      data = { kind: 'raw', bytes: Buffer.from(rdata) };
  }
  return { rr: { name, type, class: klass, ttl, data }, next: end };
}

/** Parses a whole DNS message. Throws DnsFormatError (with the id when known) on bad input. */
export function decodeMessage(buf: Buffer): DnsMessage {
  if (buf.length < 12) throw new DnsFormatError('packet shorter than a DNS header');
  const id = buf.readUInt16BE(0);
  const f = buf.readUInt16BE(2);
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  const msg: DnsMessage = {
    id,
    flags: {
      qr: (f & 0x8000) !== 0,
      opcode: (f >> 11) & 0xf,
      aa: (f & 0x0400) !== 0,
      tc: (f & 0x0200) !== 0,
      rd: (f & 0x0100) !== 0,
      ra: (f & 0x0080) !== 0,
      rcode: f & 0xf,
    },
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  try {
    let pos = 12;
    for (let i = 0; i < counts[0]; i++) {
      const { name, next } = readName(buf, pos);
      need(buf, next, 4, 'question');
      msg.questions.push({ name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) });
      pos = next + 4;
    }
    const sections = [msg.answers, msg.authorities, msg.additionals];
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s + 1]!; i++) {
        const { rr, next } = readRecord(buf, pos);
        sections[s]!.push(rr);
        pos = next;
      }
    }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new DnsFormatError(why, id);
  }
  return msg;
}

// ------------------------------------------------------------------ encoding

class Writer {
  private buf = Buffer.alloc(512);
  length = 0;
  private readonly names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v & 0xff, this.length);
    this.length += 1;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.length);
    this.length += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }

  setU16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }

  /** Writes a name, pointing at an earlier copy of any suffix when `compress` (RFC 1035 §4.1.4). */
  name(name: string, compress: boolean): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels
        .slice(i)
        .map((l) => l.toString('latin1').toLowerCase())
        .join('.');
      const at = this.names.get(key);
      if (compress && at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.length < 0x3fff && !this.names.has(key)) this.names.set(key, this.length);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function ipv4ToBytes(addr: string): Buffer {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${addr}`);
  return Buffer.from(parts);
}

function ipv6ToBytes(addr: string): Buffer {
  let a = addr;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const b = ipv4ToBytes(v4[1]!);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    a = a.slice(0, -v4[1]!.length).replace(/:$/, '') || ':';
    if (a === ':') a = '::';
  }
  const [head, rest] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':').filter((x) => x !== '') : [];
  const r = rest !== undefined ? rest.split(':').filter((x) => x !== '') : [];
  const fill = 8 - tail.length - h.length - r.length;
  if (rest === undefined && fill !== 0) throw new Error(`bad IPv6 address ${addr}`);
  if (fill < 0) throw new Error(`bad IPv6 address ${addr}`);
  const groups = [...h.map((x) => parseInt(x, 16)), ...new Array(rest === undefined ? 0 : fill).fill(0), ...r.map((x) => parseInt(x, 16)), ...tail];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) throw new Error(`bad IPv6 address ${addr}`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function writeRecord(w: Writer, rr: DnsResourceRecord): void {
  w.name(rr.name, true);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.length;
  w.u16(0);
  const start = w.length;
  const d = rr.data;
  switch (d.kind) {
    case 'A':
      w.bytes(ipv4ToBytes(d.address));
      break;
    case 'AAAA':
      w.bytes(ipv6ToBytes(d.address));
      break;
    case 'SRV':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      w.name(d.target, false); // RFC 2782: the target is never compressed
      break;
    case 'NAME':
      w.name(d.target, true);
      break;
    case 'SOA':
      w.name(d.mname, true);
      w.name(d.rname, true);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      break;
    case 'raw':
      w.bytes(d.bytes);
      break;
  }
  w.setU16(lenAt, w.length - start);
}

/** Serializes a DNS message (names compressed where RFC 1035 allows). */
export function encodeMessage(msg: DnsMessage): Buffer {
  const w = new Writer();
  const f = msg.flags;
  w.u16(msg.id);
  w.u16(
    (f.qr ? 0x8000 : 0) |
      ((f.opcode & 0xf) << 11) |
      (f.aa ? 0x0400 : 0) |
      (f.tc ? 0x0200 : 0) |
      (f.rd ? 0x0100 : 0) |
      (f.ra ? 0x0080 : 0) |
      (f.rcode & 0xf),
  );
  w.u16(msg.questions.length);
  w.u16(msg.answers.length);
  w.u16(msg.authorities.length);
  w.u16(msg.additionals.length);
  for (const q of msg.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of msg.answers) writeRecord(w, rr);
  for (const rr of msg.authorities) writeRecord(w, rr);
  for (const rr of msg.additionals) writeRecord(w, rr);
  return w.result();
}

// ------------------------------------------------------------------ the zone source

/** A private zone as the registry describes it. */
export interface DnsZoneInfo {
  /** lower case, no trailing dot */
  name: string;
  soaTtl: number;
  hostedZoneId?: string;
}

export interface DnsSrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export type DnsLookupResult<R> =
  | { kind: 'answer'; ttl: number; records: R[]; zone: DnsZoneInfo }
  | { kind: 'nxdomain'; zone: DnsZoneInfo }
  | { kind: 'notInZone' };

/**
 * What the server answers from. `ServiceDiscoveryStore` (aws/servicediscovery) is one; the
 * network layer depends only on this shape.
 */
export interface DnsZoneSource {
  resolve(fqdn: string, type: 'A' | 'AAAA' | 'SRV'): DnsLookupResult<string> | DnsLookupResult<DnsSrvData>;
}

// ------------------------------------------------------------------ the server

export interface CloudMapDnsServerOptions {
  store: DnsZoneSource;
  /** default 127.0.0.1 */
  host?: string;
  /** 0 (default) picks a free port, the same for UDP and TCP */
  port?: number;
  /** names outside every namespace → IPv4 (stand-ins outside the VPC) */
  staticHosts?: Record<string, string>;
  /** TTL of static answers, default 60 */
  staticTtl?: number;
  /** idle TCP connections are closed after this many ms, default 10 000 */
  tcpIdleMs?: number;
}

export interface DnsServerStats {
  /** messages received (UDP datagrams + TCP frames), including ones dropped */
  received: number;
  udp: number;
  tcp: number;
  /** answered messages by RCODE name (NOERROR, NXDOMAIN, REFUSED, FORMERR, SERVFAIL, NOTIMP, BADVERS) */
  byRcode: Record<string, number>;
  /** answered questions by QTYPE name (A, SRV, …, or TYPEnnn) */
  byType: Record<string, number>;
  /** NOERROR answers that carried at least one record */
  withAnswers: number;
  /** UDP answers cut down with TC set */
  truncated: number;
  /** packets dropped unanswered (shorter than a header, or responses) */
  dropped: number;
}

/** Route 53's name servers and SOA timers (the MINIMUM and the record TTL bound negative caching). */
const SOA_MNAME = 'ns-1536.awsdns-00.co.uk';
const SOA_RNAME = 'awsdns-hostmaster.amazon.com';

export class CloudMapDnsServer {
  private readonly store: DnsZoneSource;
  private readonly host: string;
  private readonly port: number;
  private readonly staticHosts = new Map<string, string>();
  private readonly staticTtl: number;
  private readonly tcpIdleMs: number;
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly counters: DnsServerStats = emptyStats();
  private bound?: { host: string; port: number };

  constructor(opts: CloudMapDnsServerOptions) {
    this.store = opts.store;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.staticTtl = opts.staticTtl ?? 60;
    this.tcpIdleMs = opts.tcpIdleMs ?? 10_000;
    for (const [k, v] of Object.entries(opts.staticHosts ?? {})) this.setStaticHost(k, v);
  }

  /** Adds or replaces a name outside the namespaces (e.g. a stand-in the tasks must reach). */
  setStaticHost(name: string, ipv4: string): void {
    ipv4ToBytes(ipv4); // validates
    this.staticHosts.set(normalize(name), ipv4);
  }

  deleteStaticHost(name: string): void {
    this.staticHosts.delete(normalize(name));
  }

  /** The bound address ("host:port" for resolv.conf-less clients is `${host}:${port}`). */
  get address(): { host: string; port: number } | undefined {
    return this.bound;
  }

  /** A copy of the query counters (for benchmarks and diagnostics). */
  get stats(): DnsServerStats {
    return structuredClone(this.counters);
  }

  resetStats(): void {
    Object.assign(this.counters, emptyStats());
  }

  async start(): Promise<{ host: string; port: number }> {
    if (this.bound) return this.bound;
    const family = net.isIPv6(this.host) ? 'udp6' : 'udp4';
    const attempts = this.port === 0 ? 20 : 1;
    let lastErr: unknown;
    for (let i = 0; i < attempts; i++) {
      const udp = dgram.createSocket({ type: family, reuseAddr: false });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(this.port, this.host, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        udp.close();
        throw e;
      }
      const port = udp.address().port;
      const tcp = net.createServer((s) => this.onTcpConnection(s));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, this.host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        lastErr = e;
        udp.close();
        tcp.close();
        if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && this.port === 0) continue;
        throw e;
      }
      udp.on('message', (msg, rinfo) => this.onUdp(udp, msg, rinfo));
      udp.on('error', () => {
        // a send failure to one client must not stop the server
      });
      tcp.on('error', () => {});
      this.udp = udp;
      this.tcp = tcp;
      this.bound = { host: this.host, port };
      return this.bound;
    }
    throw lastErr instanceof Error ? lastErr : new Error('could not bind the DNS server');
  }

  async stop(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    this.bound = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  // -------------------------------------------------------------- transport

  private onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.received++;
    this.counters.udp++;
    let reply: Buffer | undefined;
    try {
      reply = this.handle(msg, 'udp');
    } catch {
      reply = undefined;
    }
    if (!reply) return;
    sock.send(reply, rinfo.port, rinfo.address, () => {});
  }

  private onTcpConnection(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.tcpIdleMs, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const frame = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        this.counters.received++;
        this.counters.tcp++;
        let reply: Buffer | undefined;
        try {
          reply = this.handle(Buffer.from(frame), 'tcp');
        } catch {
          reply = undefined;
        }
        if (!reply) {
          // RFC 7766: a server may close on unparseable input
          if (len < 12) sock.destroy();
          continue;
        }
        const head = Buffer.alloc(2);
        head.writeUInt16BE(reply.length);
        sock.write(Buffer.concat([head, reply]));
      }
    });
  }

  // -------------------------------------------------------------- query handling

  /**
   * Answers one DNS message (exposed for tests and benchmarks without sockets). Returns
   * undefined when the packet must be dropped.
   */
  handle(packet: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    if (packet.length < 12) {
      this.counters.dropped++;
      return undefined;
    }
    if ((packet.readUInt16BE(2) & 0x8000) !== 0) {
      this.counters.dropped++; // a response: never answer those (loops)
      return undefined;
    }
    let query: DnsMessage;
    try {
      query = decodeMessage(packet);
    } catch (e) {
      const id = e instanceof DnsFormatError && e.id !== undefined ? e.id : packet.readUInt16BE(0);
      const opcode = (packet.readUInt16BE(2) >> 11) & 0xf;
      return this.finish(
        {
          id,
          flags: { qr: true, opcode, aa: false, tc: false, rd: (packet.readUInt16BE(2) & 0x0100) !== 0, ra: false, rcode: Rcode.FORMERR },
          questions: [],
          answers: [],
          authorities: [],
          additionals: [],
        },
        undefined,
        transport,
        'FORMERR',
      );
    }

    const opts = query.additionals.filter((r) => r.type === RRType.OPT);
    const opt = opts[0];
    const reply: DnsMessage = {
      id: query.id,
      flags: { qr: true, opcode: query.flags.opcode, aa: false, tc: false, rd: query.flags.rd, ra: false, rcode: Rcode.NOERROR },
      questions: query.questions.slice(0, 1),
      answers: [],
      authorities: [],
      additionals: [],
    };
    const q = query.questions[0];
    if (query.questions.length !== 1 || opts.length > 1 || (opt && opt.name !== '')) {
      reply.flags.rcode = Rcode.FORMERR;
      return this.finish(reply, opt, transport, 'FORMERR');
    }
    if (query.flags.opcode !== 0) {
      reply.flags.rcode = Rcode.NOTIMP;
      return this.finish(reply, opt, transport, 'NOTIMP', q!.type);
    }
    if (opt && ((opt.ttl >>> 16) & 0xff) > 0) {
      // EDNS version we do not speak: BADVERS (extended rcode 16 = 1 << 4, low bits 0)
      reply.questions = [];
      return this.finish(reply, opt, transport, 'BADVERS', q!.type, 1);
    }
    try {
      this.answer(q!, reply);
    } catch {
      reply.answers = [];
      reply.authorities = [];
      reply.additionals = [];
      reply.flags.rcode = Rcode.SERVFAIL;
    }
    return this.finish(reply, opt, transport, RCODE_NAMES[reply.flags.rcode] ?? String(reply.flags.rcode), q!.type);
  }

  private finish(reply: DnsMessage, opt: DnsResourceRecord | undefined, transport: 'udp' | 'tcp', rcodeName: string, qtype?: number, extRcode = 0): Buffer {
    this.counters.byRcode[rcodeName] = (this.counters.byRcode[rcodeName] ?? 0) + 1;
    if (qtype !== undefined) {
      const t = TYPE_NAMES[qtype] ?? `TYPE${qtype}`;
      this.counters.byType[t] = (this.counters.byType[t] ?? 0) + 1;
    }
    if (reply.flags.rcode === Rcode.NOERROR && reply.answers.length > 0) this.counters.withAnswers++;
    if (opt) {
      reply.additionals.push({ name: '', type: RRType.OPT, class: 1232, ttl: (extRcode & 0xff) << 24, data: { kind: 'raw', bytes: Buffer.alloc(0) } });
    }
    let out = encodeMessage(reply);
    if (transport === 'udp') {
      const limit = opt ? Math.max(512, Math.min(opt.class, 1232)) : 512;
      if (out.length > limit) {
        this.counters.truncated++;
        reply.flags.tc = true;
        reply.answers = [];
        reply.authorities = [];
        reply.additionals = reply.additionals.filter((r) => r.type === RRType.OPT);
        out = encodeMessage(reply);
      }
    }
    return out;
  }

  private soa(zone: DnsZoneInfo): DnsResourceRecord {
    return {
      name: zone.name,
      type: RRType.SOA,
      class: RRClass.IN,
      ttl: zone.soaTtl,
      data: { kind: 'SOA', mname: SOA_MNAME, rname: SOA_RNAME, serial: 1, refresh: 7200, retry: 900, expire: 1209600, minimum: 86400 },
    };
  }

  private answer(q: DnsQuestion, reply: DnsMessage): void {
    if (q.class !== RRClass.IN && q.class !== RRClass.ANY) {
      reply.flags.rcode = Rcode.REFUSED;
      return;
    }
    const lookupType: 'A' | 'AAAA' | 'SRV' = q.type === RRType.AAAA ? 'AAAA' : q.type === RRType.SRV ? 'SRV' : 'A';
    const res = this.store.resolve(q.name, lookupType);

    if (res.kind === 'notInZone') {
      const ip = this.staticHosts.get(normalize(q.name));
      if (ip === undefined) {
        reply.flags.rcode = Rcode.REFUSED;
        return;
      }
      reply.flags.aa = true;
      if (q.type === RRType.A || q.type === RRType.ANY) {
        reply.answers.push({ name: q.name, type: RRType.A, class: RRClass.IN, ttl: this.staticTtl, data: { kind: 'A', address: ip } });
      }
      return;
    }

    reply.flags.aa = true;
    const zone = res.zone;
    if (res.kind === 'nxdomain') {
      reply.flags.rcode = Rcode.NXDOMAIN;
      reply.authorities.push(this.soa(zone));
      return;
    }

    const atApex = normalize(q.name) === zone.name;
    if (q.type === RRType.A || q.type === RRType.AAAA) {
      for (const addr of res.records as string[]) {
        reply.answers.push({
          name: q.name,
          type: q.type,
          class: RRClass.IN,
          ttl: res.ttl,
          data: q.type === RRType.A ? { kind: 'A', address: addr } : { kind: 'AAAA', address: addr },
        });
      }
    } else if (q.type === RRType.SRV) {
      for (const srv of res.records as DnsSrvData[]) {
        reply.answers.push({ name: q.name, type: RRType.SRV, class: RRClass.IN, ttl: res.ttl, data: { kind: 'SRV', ...srv } });
        const glue = this.store.resolve(srv.target, 'A');
        if (glue.kind === 'answer') {
          for (const addr of glue.records as string[]) {
            reply.additionals.push({ name: srv.target, type: RRType.A, class: RRClass.IN, ttl: glue.ttl, data: { kind: 'A', address: addr } });
          }
        }
      }
    } else if (q.type === RRType.SOA && atApex) {
      reply.answers.push(this.soa(zone));
    } else if (q.type === RRType.NS && atApex) {
      reply.answers.push({ name: zone.name, type: RRType.NS, class: RRClass.IN, ttl: 172800, data: { kind: 'NAME', target: SOA_MNAME } });
    }
    if (reply.answers.length === 0) reply.authorities.push(this.soa(zone)); // NODATA
  }
}

function normalize(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}

function emptyStats(): DnsServerStats {
  return { received: 0, udp: 0, tcp: 0, byRcode: {}, byType: {}, withAnswers: 0, truncated: 0, dropped: 0 };
}
