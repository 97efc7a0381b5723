import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { CloudMapDnsServer, type DnsZoneSource } from '../harness/network/dns-server.ts';
import { aQuery } from '../harness/network/probe-dns.ts';
import { IP_BIN, NetnsFabric, netnsCapability, run as runCmd, NSENTER_BIN, NFT_BIN } from '../harness/network/netns-fabric.ts';
import { startHarness } from '../harness/scenario/harness.ts';
import { runScript } from '../harness/scenario/run-script.ts';
import { newRunId } from '../harness/scenario/run-id.ts';
import { median, percentile, type BenchResult } from './types.ts';
import { MemorySgs } from '../harness/network/testing.ts';

// ------------------------------------------------------------------ DNS

/** A zone with 8 healthy instances behind one name (the A answer ECS tasks get). */
function zone(): DnsZoneSource {
  const z = { name: 'escher.internal', soaTtl: 15 };
  const ips = Array.from({ length: 8 }, (_, i) => `10.0.1.${10 + i}`);
  return {
    resolve(fqdn: string, type: 'A' | 'AAAA' | 'SRV') {
      const n = fqdn.toLowerCase().replace(/\.$/, '');
      if (!n.endsWith('escher.internal')) return { kind: 'notInZone' } as const;
      if (n !== 'context-engine.escher.internal') return { kind: 'nxdomain', zone: z } as const;
      return { kind: 'answer', ttl: 10, records: type === 'A' ? ips : [], zone: z } as any;
    },
  };
}

/** Closed-loop UDP load: `inflight` outstanding queries for `ms`; qps and per-query latency. */
async function udpLoad(port: number, packet: () => Buffer, ms: number, inflight = 32): Promise<{ qps: number; p50: number; p99: number }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const sent = new Map<number, number>();
  const lat: number[] = [];
  let done = 0;
  let id = 0;
  const end = performance.now() + ms;
  let resolveAll!: () => void;
  const finished = new Promise<void>((r) => (resolveAll = r));
  const fire = () => {
    if (performance.now() > end) {
      if (sent.size === 0) resolveAll();
      return;
    }
    const p = packet();
    id = (id + 1) & 0xffff;
    p.writeUInt16BE(id, 0);
    sent.set(id, performance.now());
    sock.send(p, port, '127.0.0.1');
  };
  sock.on('message', (m) => {
    const t = sent.get(m.readUInt16BE(0));
    if (t !== undefined) {
      sent.delete(m.readUInt16BE(0));
      lat.push(performance.now() - t);
      done++;
    }
    fire();
  });
  for (let i = 0; i < inflight; i++) fire();
  await Promise.race([finished, new Promise((r) => setTimeout(r, ms + 2000))]);
  sock.close();
  return { qps: done / (ms / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

async function dnsBench(): Promise<BenchResult[]> {
  const server = new CloudMapDnsServer({ store: zone(), host: '127.0.0.1', port: 0 });
  const { port } = await server.start();
  // the floor: a UDP echo on the same loopback with the same client (sockets, no DNS work)
  const echo = dgram.createSocket('udp4');
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  echo.on('message', (m, ri) => echo.send(m, ri.port, ri.address));
  const q = aQuery('context-engine.escher.internal');
  try {
    await udpLoad(port, () => Buffer.from(q), 300); // warm-up
    const dns = await udpLoad(port, () => Buffer.from(q), 2000);
    const floor = await udpLoad(echo.address().port, () => Buffer.from(q), 2000);
    return [
      { name: 'DNS A queries/s (8-address answer, UDP, 32 in flight)', value: dns.qps, unit: 'q/s', baseline: { name: 'UDP echo, same client', value: floor.qps }, ratio: dns.qps / floor.qps },
      { name: 'DNS A query p99 latency', value: dns.p99, unit: 'ms', baseline: { name: 'UDP echo p99', value: floor.p99 }, ratio: dns.p99 / floor.p99, note: `p50 ${dns.p50.toFixed(3)} ms` },
    ];
  } finally {
    echo.close();
    await server.stop();
  }
}

// ------------------------------------------------------------------ rule enforcement

async function connectsWithin(host: string, port: number, bind: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress: bind });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

async function enforceBench(): Promise<BenchResult[]> {
  const sgs = new MemorySgs();
  const A = 'sg-0000000000000000a';
  const B = 'sg-0000000000000000b';
  sgs.groups.set(A, { groupId: A, groupName: 'a', ingress: [], egress: [{ direction: 'egress', ipProtocol: '-1', cidrIpv4: '0.0.0.0/0' }] });
  sgs.groups.set(B, { groupId: B, groupName: 'b', ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8000, toPort: 8000, referencedGroupId: A }], egress: [] });
  const runId = newRunId();
  const fabric = new NetnsFabric({
    runId,
    // not the fixture's 10.0.0.0/16, so a topology that is up on this host does not collide
    vpcCidr: '10.123.0.0/16',
    subnets: [{ subnetId: 'subnet-1', cidrBlock: '10.123.1.0/24', availabilityZone: 'us-west-1a' }],
    zones: ['escher.internal'],
    sgs,
    dns: { handle: () => undefined },
  });
  let listener: ChildProcess | undefined;
  try {
    await fabric.start();
    const enis = [];
    for (let i = 0; i < 6; i++) enis.push(await fabric.attach(`bench-${i}`, [], [i === 0 ? B : A]));
    const target = enis[0]!;
    listener = spawn(IP_BIN, ['netns', 'exec', target.netns!, process.execPath, '-e', 'require("net").createServer(s=>s.end()).listen(8000,"0.0.0.0",()=>console.log("up"))'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((r) => listener!.stdout!.once('data', () => r()));
    const toApi: number[] = [];
    const toWire: number[] = [];
    const rounds = Number(process.env.BENCH_ROUNDS_ENFORCE ?? 10);
    const rule = { direction: 'ingress' as const, ipProtocol: 'tcp', fromPort: 8000, toPort: 8000, cidrIpv4: `${fabric.internetIp}/32` };
    for (let i = 0; i < rounds; i++) {
      // authorize: from the store's change to "enforced in every namespace", and to the first connect that succeeds
      const g = sgs.groups.get(B)!;
      g.ingress.push(rule);
      const t0 = performance.now();
      sgs.changed();
      const settled = fabric.settled();
      let opened = false;
      while (!opened && performance.now() - t0 < 5000) opened = await connectsWithin(target.ip, 8000, fabric.internetIp, 5);
      toWire.push(performance.now() - t0);
      await settled;
      toApi.push(fabric.applyTimes.at(-1)!);
      g.ingress.pop();
      sgs.changed();
      await fabric.settled();
      if (await connectsWithin(target.ip, 8000, fabric.internetIp, 300)) throw new Error('revoked rule still admits the connection');
    }
    // floor: one `nft -f` of a one-chain table in one namespace
    const floor: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await runCmd(NSENTER_BIN, [`--net=/run/netns/${target.netns}`, NFT_BIN, '-f', '-'], `table inet ${runId}x\ndelete table inet ${runId}x\ntable inet ${runId}x { chain c {\n type filter hook input priority 10; policy accept;\n }\n}\n`);
      floor.push(performance.now() - t0);
    }
    await runCmd(NSENTER_BIN, [`--net=/run/netns/${target.netns}`, NFT_BIN, 'delete', 'table', 'inet', `${runId}x`]).catch(() => '');
    return [
      { name: 'rule change → enforced in all 6 namespaces (nft -f each, in parallel)', value: median(toApi), unit: 'ms', baseline: { name: 'one nft -f in one namespace', value: median(floor) }, ratio: median(toApi) / median(floor), note: `median of ${rounds}` },
      { name: 'rule change → first connect that succeeds (observed on the wire)', value: median(toWire), unit: 'ms', baseline: { name: 'one nft -f in one namespace', value: median(floor) }, ratio: median(toWire) / median(floor), note: `median of ${rounds}, 5 ms connect attempts (a SYN crosses the bridge in well under 1 ms)` },
    ];
  } finally {
    listener?.kill('SIGKILL');
    await fabric.close();
  }
}

// ------------------------------------------------------------------ deploy-all overhead

async function deployAllMs(network: 'netns' | 'loopback'): Promise<number> {
  const h = await startHarness({ runtime: 'process', network, kind: 'bench' });
  try {
    const r = await runScript({
      script: path.join(h.deployDir, 'deploy-all.sh'),
      args: ['v2.15.0'],
      cwd: h.deployDir,
      env: h.cliEnv,
      logFile: path.join(h.runDir, 'scripts', `bench-network-${network}.log`),
    });
    if (r.exitCode !== 0) throw new Error(`deploy-all.sh failed (${network}):\n${r.output.slice(-1500)}`);
    return r.durationMs;
  } finally {
    await h.stop();
  }
}

/**
 * DNS queries/s and p99 (vs a UDP echo floor), time to enforce a security group change in
 * every namespace (vs one nft invocation), and deploy-all in netns mode vs loopback mode.
 */
export async function run(): Promise<BenchResult[]> {
  const out = await dnsBench();
  const cap = netnsCapability();
  if (!cap.ok) {
    out.push({ name: 'netns measurements', value: 0, unit: '', note: `not measured: ${cap.reason}` });
    return out;
  }
  out.push(...(await enforceBench()));
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const loop: number[] = [];
  const ns: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      loop.push(await deployAllMs('loopback'));
      ns.push(await deployAllMs('netns'));
    }
  } catch (e) {
    if (!/overlaps what this host already routes/.test((e as Error).message)) throw e;
    out.push({ name: 'deploy-all.sh v2.15.0 in netns mode', value: 0, unit: 's', note: `not measured: ${(e as Error).message.split('. ')[1] ?? 'the VPC is in use'}` });
    return out;
  }
  out.push({ name: 'deploy-all.sh v2.15.0 in netns mode', value: median(ns) / 1000, unit: 's', baseline: { name: 'loopback mode', value: median(loop) / 1000 }, ratio: median(ns) / median(loop), note: `median of ${rounds}; process runtime` });
  return out;
}
