/**
 * DNS probes for scenarios and benchmarks: an A query answered by the Cloud Map DNS server
 * in-process (its `handle()`, the same code path as the wire, for exact snapshots at an
 * event), and the same over UDP through a real resolver (node:dns, c-ares).
 */
import { Resolver } from 'node:dns/promises';
import { decodeMessage, encodeMessage, RRClass, RRType, Rcode } from './dns-server.ts';

export interface AAnswer {
  rcode: number;
  addresses: string[];
  /** the records' TTL (max), when there are records */
  ttl?: number;
}

let nextId = 1;

/** The wire form of an A query. */
export function aQuery(name: string): Buffer {
  nextId = (nextId % 0xffff) + 1;
  return encodeMessage({
    id: nextId,
    flags: { qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [{ name, type: RRType.A, class: RRClass.IN }],
    answers: [],
    authorities: [],
    additionals: [],
  });
}

/** Asks the server (its handle(), synchronously) what it answers for `name` A right now. */
export function answerNow(server: { handle(packet: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined }, name: string): AAnswer {
  const reply = server.handle(aQuery(name), 'udp');
  if (!reply) return { rcode: Rcode.SERVFAIL, addresses: [] };
  const m = decodeMessage(reply);
  const a = m.answers.filter((r) => r.type === RRType.A && r.data.kind === 'A');
  return {
    rcode: m.flags.rcode,
    addresses: a.map((r) => (r.data as { address: string }).address).sort(),
    ...(a.length ? { ttl: Math.max(...a.map((r) => r.ttl)) } : {}),
  };
}

/** A over UDP to host:port through c-ares (no cache): addresses + TTL, or the error code. */
export async function resolveOverWire(server: { host: string; port: number }, name: string): Promise<{ addresses: string[] | null; ttl?: number; code?: string }> {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`${server.host}:${server.port}`]);
  try {
    const recs = await r.resolve4(name, { ttl: true });
    return { addresses: recs.map((x) => x.address).sort(), ttl: Math.max(...recs.map((x) => x.ttl)) };
  } catch (e) {
    return { addresses: null, code: (e as NodeJS.ErrnoException).code };
  }
}
