import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupNetnsLeftovers, IP_BIN, NetnsFabric, netnsCapability, OWNER_DIR, checkVpcCidrFree } from './netns-fabric.ts';
import { resolveProbe, tcpProbe } from './probe.ts';
import { aQuery } from './probe-dns.ts';
import { CloudMapDnsServer } from './dns-server.ts';
import { MemorySgs } from './testing.ts';

/**
 * The netns fabric on a real kernel (root only): namespaces per ENI, SGs enforced statefully,
 * rules following changes live, DNS at the VPC resolver, and nothing left behind.
 */
const cap = netnsCapability();
if (!cap.ok) console.log(`netns fabric tests skipped: ${cap.reason}`);

const CLIENT = 'sg-00000000000000c11';
const SERVER = 'sg-00000000000000d22';
const VPC = '10.124.0.0/16';
const runId = `eh${Math.floor(Math.random() * 0xffffffff).toString(16).padStart(8, '0')}`;

function names(): string[] {
  return spawnSync(IP_BIN, ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(runId));
}

describe.runIf(cap.ok)('NetnsFabric (root)', () => {
  const sgs = new MemorySgs();
  let dnsServer: CloudMapDnsServer;
  let fabric: NetnsFabric;
  let listener: ChildProcess | undefined;
  const eni: Record<string, { ip: string; netns: string }> = {};

  beforeAll(async () => {
    sgs.groups.set(CLIENT, { groupId: CLIENT, groupName: 'client', ingress: [], egress: [{ direction: 'egress', ipProtocol: 'tcp', fromPort: 8000, toPort: 8000, referencedGroupId: SERVER }] });
    sgs.groups.set(SERVER, { groupId: SERVER, groupName: 'server', ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8000, toPort: 8000, referencedGroupId: CLIENT }], egress: [] });
    dnsServer = new CloudMapDnsServer({
      store: { resolve: () => ({ kind: 'notInZone' }) },
      staticHosts: { 'server.stand-in': '10.124.1.10' },
    });
    fabric = new NetnsFabric({ runId, vpcCidr: VPC, subnets: [{ subnetId: 'subnet-a', cidrBlock: '10.124.1.0/24', availabilityZone: 'us-west-1a' }, { subnetId: 'subnet-b', cidrBlock: '10.124.2.0/24', availabilityZone: 'us-west-1c' }], zones: ['x.internal'], sgs, dns: dnsServer });
    await fabric.start();
    for (const [name, sg] of [
      ['server', SERVER],
      ['client', CLIENT],
      ['outsider', CLIENT],
    ] as const) {
      const e = await fabric.attach(name, [], [sg]);
      eni[name] = { ip: e.ip, netns: e.netns! };
    }
    // the outsider leaves the client group: it keeps its namespace, but is in no group
    await fabric.detach('outsider');
    const o = await fabric.attach('outsider', ['subnet-b'], []);
    eni.outsider = { ip: o.ip, netns: o.netns! };
    listener = spawn(IP_BIN, ['netns', 'exec', eni.server!.netns, process.execPath, '-e', 'require("net").createServer(s=>s.end()).listen(8000,"0.0.0.0",()=>console.log("up"))'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => listener!.stdout!.once('data', () => r()));
  });

  afterAll(async () => {
    listener?.kill('SIGKILL');
    await fabric?.close();
    await dnsServer?.stop();
  });

  it('places ENIs in their subnets, each in a namespace named after the run', () => {
    expect(eni.server!.ip).toMatch(/^10\.124\.1\.\d+$/);
    expect(eni.outsider!.ip).toMatch(/^10\.124\.2\.\d+$/);
    expect(names()).toEqual(expect.arrayContaining([`${runId}-vpc`, eni.server!.netns, eni.client!.netns, eni.outsider!.netns]));
    expect(fs.readFileSync(`/etc/netns/${eni.client!.netns}/resolv.conf`, 'utf8')).toContain(`nameserver ${fabric.resolverIp}`);
  });

  it('admits what the groups allow, drops the rest (blocked = timeout, not refused)', async () => {
    const [fromClient] = await tcpProbe({ netns: eni.client!.netns }, [`${eni.server!.ip}:8000`, `${eni.server!.ip}:8001`], 500).then((r) => [r]);
    expect(fromClient!.map((r) => r.result)).toEqual(['open', 'blocked']); // 8001: no egress rule
    const [outsider] = await tcpProbe({ netns: eni.outsider!.netns }, [`${eni.server!.ip}:8000`], 500);
    expect(outsider!.result).toBe('blocked'); // no ingress for it (and its egress is empty)
    const [internet] = await tcpProbe({ bind: fabric.internetIp }, [`${eni.server!.ip}:8000`], 500);
    expect(internet!.result).toBe('blocked');
  });

  it('follows rule changes live: authorize opens, revoke closes', async () => {
    const g = sgs.groups.get(SERVER)!;
    g.ingress.push({ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8000, toPort: 8000, cidrIpv4: `${fabric.internetIp}/32` });
    sgs.changed();
    await fabric.settled();
    expect((await tcpProbe({ bind: fabric.internetIp }, [`${eni.server!.ip}:8000`], 500))[0]!.result).toBe('open');
    g.ingress.pop();
    sgs.changed();
    await fabric.settled();
    expect((await tcpProbe({ bind: fabric.internetIp }, [`${eni.server!.ip}:8000`], 500))[0]!.result).toBe('blocked');
  });

  it('answers DNS at the VPC resolver from inside a namespace, whatever the groups say', async () => {
    const [r] = await resolveProbe({ netns: eni.outsider!.netns }, ['server.stand-in']);
    expect(r!.addresses).toEqual(['10.124.1.10']);
    expect(dnsServer.handle(aQuery('server.stand-in'), 'udp')).toBeDefined();
  });

  it('harness hosts: an address on the root veth, filtered by its groups in the root namespace', async () => {
    const host = await fabric.attachHost('db', [], ['server']); // by name: resolved to the group id
    const srv = spawn(process.execPath, ['-e', `require("net").createServer(s=>s.end()).listen(4000,${JSON.stringify(host.ip)},()=>console.log("up"))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((r) => srv.stdout!.once('data', () => r()));
      const [fromClient] = await tcpProbe({ netns: eni.client!.netns }, [`${host.ip}:4000`], 500);
      expect(fromClient!.result).toBe('blocked'); // server group admits 8000 only
      sgs.groups.get(SERVER)!.ingress.push({ direction: 'ingress', ipProtocol: 'tcp', fromPort: 4000, toPort: 4000, referencedGroupId: CLIENT });
      sgs.groups.get(CLIENT)!.egress.push({ direction: 'egress', ipProtocol: 'tcp', fromPort: 4000, toPort: 4000, referencedGroupId: SERVER });
      sgs.changed();
      await fabric.settled();
      expect((await tcpProbe({ netns: eni.client!.netns }, [`${host.ip}:4000`], 500))[0]!.result).toBe('open');
      expect((await tcpProbe({ bind: fabric.internetIp }, [`${host.ip}:4000`], 500))[0]!.result).toBe('blocked');
    } finally {
      srv.kill('SIGKILL');
      await fabric.detachHost('db');
    }
  });

  it('refuses a VPC CIDR that overlaps a route the host has', () => {
    expect(() => checkVpcCidrFree(VPC)).toThrow(new RegExp(`Another harness run \\(${runId}\\)`));
  });

  it('detach removes the namespace; close removes everything, and a killed run is cleaned up by name', async () => {
    await fabric.detach('outsider');
    expect(names()).not.toContain(eni.outsider!.netns);
    expect(fs.existsSync(`/etc/netns/${eni.outsider!.netns}`)).toBe(false);

    // a "killed" run: make this run's owner marker name a dead pid, then let cleanup find it
    const marker = path.join(OWNER_DIR, `${runId}.json`);
    fs.writeFileSync(marker, JSON.stringify({ runId, pid: 2 ** 22 + 12345 }));
    listener?.kill('SIGKILL');
    const { runs } = cleanupNetnsLeftovers();
    expect(runs).toContain(runId);
    expect(names()).toEqual([]);
    expect(spawnSync(IP_BIN, ['link', 'show', `${runId}r`]).status).not.toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
    await fabric.close(); // idempotent over what is already gone
  });
});
