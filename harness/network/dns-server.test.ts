import dgram from 'node:dgram';
import { promises as dnsp } from 'node:dns';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceDiscoveryStore } from '../aws/servicediscovery/store.ts';
import {
  CloudMapDnsServer,
  DnsFormatError,
  Rcode,
  RRClass,
  RRType,
  decodeMessage,
  encodeMessage,
  readName,
  type DnsMessage,
} from './dns-server.ts';

function query(name: string, type: number, opts: { id?: number; edns?: number; ednsVersion?: number; opcode?: number } = {}): Buffer {
  const msg: DnsMessage = {
    id: opts.id ?? 0x1234,
    flags: { qr: false, opcode: opts.opcode ?? 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [{ name, type, class: RRClass.IN }],
    answers: [],
    authorities: [],
    additionals:
      opts.edns !== undefined
        ? [{ name: '', type: RRType.OPT, class: opts.edns, ttl: ((opts.ednsVersion ?? 0) & 0xff) << 16, data: { kind: 'raw', bytes: Buffer.alloc(0) } }]
        : [],
  };
  return encodeMessage(msg);
}

describe('DNS codec', () => {
  it('round-trips a response with every record kind', () => {
    const msg: DnsMessage = {
      id: 4242,
      flags: { qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, rcode: Rcode.NOERROR },
      questions: [{ name: 'gateway.escher.internal', type: RRType.SRV, class: RRClass.IN }],
      answers: [
        { name: 'gateway.escher.internal', type: RRType.SRV, class: 1, ttl: 10, data: { kind: 'SRV', priority: 1, weight: 1, port: 8080, target: 't1.gateway.escher.internal' } },
        { name: 'gateway.escher.internal', type: RRType.A, class: 1, ttl: 10, data: { kind: 'A', address: '10.0.1.5' } },
        { name: 'gateway.escher.internal', type: RRType.AAAA, class: 1, ttl: 10, data: { kind: 'AAAA', address: 'fd00::1:5' } },
        { name: 'alias.escher.internal', type: RRType.CNAME, class: 1, ttl: 10, data: { kind: 'NAME', target: 'gateway.escher.internal' } },
        { name: 'txt.escher.internal', type: RRType.TXT, class: 1, ttl: 10, data: { kind: 'raw', bytes: Buffer.from('\x05hello') } },
      ],
      authorities: [
        {
          name: 'escher.internal',
          type: RRType.SOA,
          class: 1,
          ttl: 15,
          data: { kind: 'SOA', mname: 'ns-1.example', rname: 'hostmaster.example', serial: 7, refresh: 1, retry: 2, expire: 3, minimum: 4 },
        },
      ],
      additionals: [],
    };
    const wire = encodeMessage(msg);
    expect(decodeMessage(wire)).toEqual(msg);
    // compression: the zone name is written once in full; later owners point back at it
    expect(wire.toString('latin1').split('escher').length - 1).toBeLessThan(4);
  });

  it('reads compression pointers and rejects pointer loops and truncation', () => {
    // header + "a.example" at 12, then "www" + pointer to "example" at 14
    const head = Buffer.alloc(12);
    const name1 = Buffer.from([1, 0x61, 7, ...Buffer.from('example'), 0]);
    const name2 = Buffer.from([3, ...Buffer.from('www'), 0xc0, 14]);
    const buf = Buffer.concat([head, name1, name2]);
    expect(readName(buf, 12)).toEqual({ name: 'a.example', next: 12 + name1.length });
    expect(readName(buf, 12 + name1.length)).toEqual({ name: 'www.example', next: buf.length });
    const loop = Buffer.concat([head, Buffer.from([0xc0, 12])]);
    expect(() => readName(loop, 12)).toThrow(DnsFormatError);

    const q = query('gateway.escher.internal', RRType.A, { id: 77 });
    try {
      decodeMessage(q.subarray(0, q.length - 3));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DnsFormatError);
      expect((e as DnsFormatError).id).toBe(77);
    }
    expect(() => decodeMessage(Buffer.alloc(5))).toThrow(DnsFormatError);
  });

  it('escapes odd bytes in labels and round-trips them', () => {
    const name = 'we\\.ird\\032name.zone';
    const wire = query(name, RRType.A);
    expect(decodeMessage(wire).questions[0]!.name).toBe(name);
  });
});

describe('CloudMapDnsServer', () => {
  let store: ServiceDiscoveryStore;
  let server: CloudMapDnsServer;
  let port = 0;
  let resolver: dnsp.Resolver;
  let serviceId = '';
  let srvServiceId = '';

  beforeAll(async () => {
    store = new ServiceDiscoveryStore({ account: '123456789012', region: 'us-west-1' });
    const { namespace } = store.createNamespace({ name: 'escher.internal', type: 'DNS_PRIVATE', vpc: 'vpc-1', soaTtl: 30 });
    const svc = store.createService({
      name: 'gateway',
      namespaceId: namespace.id,
      dnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
      healthCheckCustomConfig: { FailureThreshold: 1 },
    });
    serviceId = svc.id;
    store.registerInstance(svc.id, 'task-1', { AWS_INSTANCE_IPV4: '10.0.1.5' });
    store.registerInstance(svc.id, 'task-2', { AWS_INSTANCE_IPV4: '10.0.1.6' });
    const srv = store.createService({
      name: 'context-engine',
      namespaceId: namespace.id,
      dnsConfig: { DnsRecords: [{ Type: 'A', TTL: 20 }, { Type: 'SRV', TTL: 20 }] },
    });
    srvServiceId = srv.id;
    store.registerInstance(srv.id, 'abc', { AWS_INSTANCE_IPV4: '10.0.2.7', AWS_INSTANCE_PORT: '8001' });
    store.createService({ name: 'empty', namespaceId: namespace.id, dnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] } });

    server = new CloudMapDnsServer({ store, host: '127.0.0.1', port: 0, staticHosts: { 'surrealdb.stand-in': '127.0.0.9' } });
    ({ port } = await server.start());
    resolver = new dnsp.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
  });

  afterAll(async () => {
    await server.stop();
  });

  it('binds UDP and TCP on the same free port', () => {
    expect(port).toBeGreaterThan(0);
    expect(server.address).toEqual({ host: '127.0.0.1', port });
  });

  it('answers A with the healthy instances and the service TTL', async () => {
    const rs = await resolver.resolve4('gateway.escher.internal', { ttl: true });
    expect(rs.map((r) => r.address).sort()).toEqual(['10.0.1.5', '10.0.1.6']);
    expect(rs.every((r) => r.ttl === 10)).toBe(true);
    store.setHealth(serviceId, 'task-2', 'UNHEALTHY');
    expect(await resolver.resolve4('GATEWAY.escher.internal')).toEqual(['10.0.1.5']);
    store.setHealth(serviceId, 'task-2', 'HEALTHY');
  });

  it('follows registrations live', async () => {
    store.registerInstance(serviceId, 'task-3', { AWS_INSTANCE_IPV4: '10.0.1.7' });
    expect(await resolver.resolve4('gateway.escher.internal')).toContain('10.0.1.7');
    store.deregisterInstance(serviceId, 'task-3');
    expect(await resolver.resolve4('gateway.escher.internal')).not.toContain('10.0.1.7');
  });

  it('answers SRV, and the SRV targets resolve to the instance', async () => {
    const srv = await resolver.resolveSrv('context-engine.escher.internal');
    expect(srv).toEqual([{ name: 'abc.context-engine.escher.internal', port: 8001, priority: 1, weight: 1 }]);
    expect(await resolver.resolve4('abc.context-engine.escher.internal')).toEqual(['10.0.2.7']);
  });

  it('gives NXDOMAIN (ENOTFOUND) with the SOA for unknown names and services without instances', async () => {
    await expect(resolver.resolve4('nope.escher.internal')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve4('empty.escher.internal')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    const reply = decodeMessage(server.handle(query('nope.escher.internal', RRType.A), 'udp')!);
    expect(reply.flags).toMatchObject({ qr: true, aa: true, rcode: Rcode.NXDOMAIN });
    expect(reply.authorities[0]).toMatchObject({ name: 'escher.internal', type: RRType.SOA, ttl: 30 });
  });

  it('answers AAAA and ANY for existing names with an empty NOERROR', async () => {
    await expect(resolver.resolve6('gateway.escher.internal')).rejects.toMatchObject({ code: 'ENODATA' });
    const any = decodeMessage(server.handle(query('gateway.escher.internal', RRType.ANY), 'udp')!);
    expect(any.flags.rcode).toBe(Rcode.NOERROR);
    expect(any.answers).toEqual([]);
    const soa = await resolver.resolveSoa('escher.internal');
    expect(soa).toMatchObject({ nsname: 'ns-1536.awsdns-00.co.uk', minttl: 86400 });
  });

  it('REFUSES names outside the namespaces, except static hosts', async () => {
    await expect(resolver.resolve4('example.com')).rejects.toMatchObject({ code: 'EREFUSED' });
    expect(await resolver.resolve4('surrealdb.stand-in')).toEqual(['127.0.0.9']);
    server.setStaticHost('anthropic.stand-in', '127.0.0.10');
    expect(await resolver.resolve4('anthropic.stand-in')).toEqual(['127.0.0.10']);
  });

  it('answers over TCP with length framing, several queries on one connection', async () => {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const frames: Buffer[] = [];
    const got = new Promise<void>((resolve) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          frames.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (frames.length === 2) resolve();
      });
    });
    const frame = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
    const both = Buffer.concat([frame(query('gateway.escher.internal', RRType.A, { id: 1 })), frame(query('nope.escher.internal', RRType.A, { id: 2 }))]);
    sock.write(both.subarray(0, 5)); // split mid-frame
    sock.write(both.subarray(5));
    await got;
    sock.destroy();
    const [a, b] = frames.map((f) => decodeMessage(f));
    expect(a!.id).toBe(1);
    expect(a!.answers).toHaveLength(2);
    expect(b!.id).toBe(2);
    expect(b!.flags.rcode).toBe(Rcode.NXDOMAIN);
  });

  it('echoes EDNS, answers BADVERS to unknown EDNS versions and NOTIMP to other opcodes', () => {
    const withOpt = decodeMessage(server.handle(query('gateway.escher.internal', RRType.A, { edns: 4096 }), 'udp')!);
    expect(withOpt.answers).toHaveLength(2);
    expect(withOpt.additionals.find((r) => r.type === RRType.OPT)).toBeTruthy();
    const badvers = decodeMessage(server.handle(query('gateway.escher.internal', RRType.A, { edns: 4096, ednsVersion: 1 }), 'udp')!);
    const opt = badvers.additionals.find((r) => r.type === RRType.OPT)!;
    expect(opt.ttl >>> 24).toBe(1);
    const notimp = decodeMessage(server.handle(query('gateway.escher.internal', RRType.A, { opcode: 2 }), 'udp')!);
    expect(notimp.flags.rcode).toBe(Rcode.NOTIMP);
  });

  it('answers FORMERR to malformed packets, drops runts and responses, and keeps serving', async () => {
    const bad = query('gateway.escher.internal', RRType.A, { id: 99 });
    const formerr = decodeMessage(server.handle(bad.subarray(0, 20), 'udp')!);
    expect(formerr).toMatchObject({ id: 99, flags: { qr: true, rcode: Rcode.FORMERR } });
    const twoQuestions = Buffer.from(bad);
    twoQuestions.writeUInt16BE(2, 4);
    expect(decodeMessage(server.handle(twoQuestions, 'udp')!).flags.rcode).toBe(Rcode.FORMERR);
    expect(server.handle(Buffer.from([1, 2, 3]), 'udp')).toBeUndefined();
    const response = Buffer.from(bad);
    response.writeUInt16BE(0x8000, 2);
    expect(server.handle(response, 'udp')).toBeUndefined();

    // the same garbage over the wire does not hurt the server
    const sock = dgram.createSocket('udp4');
    const replies: Buffer[] = [];
    sock.on('message', (m) => replies.push(m));
    const before = server.stats.received;
    for (const junk of [Buffer.from([0]), Buffer.alloc(12, 0xff), bad.subarray(0, 15), Buffer.from('not dns at all, really')]) {
      sock.send(junk, port, '127.0.0.1');
    }
    const ok = await resolver.resolve4('gateway.escher.internal');
    sock.close();
    expect(ok).toHaveLength(2);
    expect(server.stats.received).toBeGreaterThanOrEqual(before + 5);
  });

  it('truncates UDP answers that do not fit and sets TC', () => {
    for (let i = 0; i < 8; i++) {
      store.registerInstance(srvServiceId, `instance-with-a-rather-long-identifier-number-${i}`, { AWS_INSTANCE_IPV4: `10.0.3.${i}`, AWS_INSTANCE_PORT: '8001' });
    }
    const udp = decodeMessage(server.handle(query('context-engine.escher.internal', RRType.SRV), 'udp')!);
    expect(udp.flags.tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const tcp = decodeMessage(server.handle(query('context-engine.escher.internal', RRType.SRV), 'tcp')!);
    expect(tcp.flags.tc).toBe(false);
    expect(tcp.answers).toHaveLength(8);
    expect(tcp.additionals.filter((r) => r.type === RRType.A)).toHaveLength(8);
    expect(server.stats.truncated).toBeGreaterThanOrEqual(1);
  });

  it('counts queries by rcode and type', () => {
    const s = server.stats;
    expect(s.byRcode.NOERROR).toBeGreaterThan(0);
    expect(s.byRcode.NXDOMAIN).toBeGreaterThan(0);
    expect(s.byRcode.REFUSED).toBeGreaterThan(0);
    expect(s.byType.A).toBeGreaterThan(0);
    expect(s.byType.SRV).toBeGreaterThan(0);
    expect(s.udp + s.tcp).toBe(s.received);
  });
});
