/**
 * The VPC fabric with privileges (Linux, root): every task ENI is a network namespace of its
 * own, security groups are enforced statefully by nftables inside each namespace, and the
 * Cloud Map DNS server answers at the VPC resolver address. Layout (run id `ehXXXXXXXX`):
 *
 *   root namespace (the host = "the internet")             VPC namespace `<run>-vpc`
 *   ┌────────────────────────────────────────────┐          ┌──────────────────────────────┐
 *   │ <run>r  10.0.0.1/16  VPC router (gateway)  │── veth ──│ <run>v ─┐                     │
 *   │         10.0.0.2/32  VPC resolver (DNS :53)│          │         bridge <run>br (VPC)  │
 *   │         198.18.x.y/32  "the internet"      │          │ <run>t1 ┘ <run>t2 …           │
 *   │         10.0.S.H/32  harness hosts (ALB,   │          └────│─────────│────────────────┘
 *   │                      SurrealDB): SGs in    │          task ns `<run>-t1`  `<run>-t2` …
 *   │                      table inet <run>      │          eth0 10.0.S.H/16, default via 10.0.0.1,
 *   └────────────────────────────────────────────┘          table inet <run> (its SGs), resolv.conf
 *
 * The bridge lives in a namespace of its own, not in the root namespace, so bridged traffic
 * between tasks never meets the host's own FORWARD rules (Docker sets FORWARD policy DROP,
 * and br_netfilter would apply it to our bridge). The root namespace only gains one veth with
 * the addresses above (and its connected route) and, while harness hosts exist, one nft table
 * that filters only packets to/from those hosts' addresses.
 *
 * Harness hosts (attachHost) are addresses on the root veth that a harness process binds as
 * its local address: their groups are enforced in the root namespace by table inet <run>
 * (input: packets to the host address → its ingress rules; output: packets from it → its
 * egress rules; stateful; everything else dropped). The root namespace's other addresses
 * (router 10.0.0.1 and the "internet" address) belong to no security group.
 */
import { onProcessExit } from '../exit-hook.ts';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { HostAttachment, TaskEni, TaskNetwork } from '../ecs/deps.ts';
import { LoopbackFabric, type SubnetInfo } from './loopback-fabric.ts';
import { cidrsOverlap, inCidr, parseCidr, type HostEni, type SgGroup, type SgView } from './sg-rules.ts';
import { IP_BIN, NFT_BIN, NSENTER_BIN, SgEnforcer, run, type EnforcedEni, type SgSource } from './sg-enforcer.ts';
import { candidateSubnets, internetIpOf, newEniIdentity, writeStateFile } from './eni.ts';
import { pidAlive } from '../pid.ts';

// ------------------------------------------------------------------ names

export const NETNS_RUN_RE = /^(eh[0-9a-f]{8})(?:-|r$|v$|br$|t[0-9a-z]+$)/;
/** Where a run that owns namespaces records its pid (so a later run can tell live from killed). */
export const OWNER_DIR = '/run/escher-harness';

export interface NetnsNames {
  vpcNetns: string;
  bridge: string;
  rootVeth: string;
  vpcVeth: string;
  table: string;
  taskNetns(n: number): string;
  taskVeth(n: number): string;
}

export function netnsNames(runId: string): NetnsNames {
  if (!/^[a-z0-9]{1,10}$/.test(runId)) throw new Error(`run id ${runId} does not fit interface names`);
  return {
    vpcNetns: `${runId}-vpc`,
    bridge: `${runId}br`,
    rootVeth: `${runId}r`,
    vpcVeth: `${runId}v`,
    table: runId,
    taskNetns: (n) => `${runId}-t${n}`,
    taskVeth: (n) => `${runId}t${n.toString(36)}`,
  };
}

// ------------------------------------------------------------------ commands

// (moved to sg-enforcer.ts, shared with the docker fabric; re-exported here)
export { CommandError, IP_BIN, NFT_BIN, NSENTER_BIN, nftApply, run } from './sg-enforcer.ts';

function runSyncQuiet(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  return { ok: r.status === 0, out: r.stdout ?? '' };
}

// ------------------------------------------------------------------ capability

/** Can this process build the namespace fabric? (Linux, root, `ip netns`, nft, nsenter.) */
export function netnsCapability(): { ok: boolean; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'not root (network namespaces and nftables need CAP_NET_ADMIN)' };
  if (!runSyncQuiet(IP_BIN, ['netns', 'list']).ok) return { ok: false, reason: '`ip netns` does not work (apt-get install iproute2)' };
  if (!runSyncQuiet(NFT_BIN, ['list', 'tables']).ok) return { ok: false, reason: '`nft` does not work (apt-get install nftables)' };
  if (!runSyncQuiet(NSENTER_BIN, ['--version']).ok) return { ok: false, reason: '`nsenter` not found (util-linux)' };
  return { ok: true, reason: 'root, `ip netns` and nft work' };
}

// ------------------------------------------------------------------ addresses

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
}

/** The host's IPv4 routes (all tables), as CIDRs with a description. */
export function hostRoutes(): { cidr: string; text: string }[] {
  const r = runSyncQuiet(IP_BIN, ['-j', '-4', 'route', 'show', 'table', 'all']);
  if (!r.ok) return [];
  let rows: { dst: string; dev?: string; type?: string; table?: string; gateway?: string }[];
  try {
    rows = JSON.parse(r.out);
  } catch {
    return [];
  }
  const out: { cidr: string; text: string }[] = [];
  for (const x of rows) {
    if (!x.dst || x.dst === 'default') continue;
    const cidr = x.dst.includes('/') ? x.dst : `${x.dst}/32`;
    if (!parseCidr(cidr)) continue;
    out.push({ cidr, text: [x.type && x.type !== 'unicast' ? x.type : '', x.dst, x.gateway ? `via ${x.gateway}` : '', x.dev ? `dev ${x.dev}` : '', x.table ? `table ${x.table}` : ''].filter(Boolean).join(' ') });
  }
  return out;
}

/**
 * Refuses a VPC CIDR that overlaps anything the host already routes (or its DNS servers /
 * default gateways): creating it would hijack that traffic. Throws a message saying what
 * overlaps and how to fix it.
 */
export function checkVpcCidrFree(vpcCidr: string, extra: string[] = []): void {
  const conflicts: string[] = [];
  for (const r of hostRoutes()) if (cidrsOverlap(vpcCidr, r.cidr)) conflicts.push(`route "${r.text}"`);
  const gw = runSyncQuiet(IP_BIN, ['-j', '-4', 'route', 'show', 'default']);
  try {
    for (const d of JSON.parse(gw.out || '[]') as { gateway?: string }[]) if (d.gateway && inCidr(vpcCidr, d.gateway)) conflicts.push(`default gateway ${d.gateway}`);
  } catch {
    /* no default route */
  }
  try {
    for (const line of fs.readFileSync('/etc/resolv.conf', 'utf8').split('\n')) {
      const m = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)/.exec(line);
      if (m && inCidr(vpcCidr, m[1]!)) conflicts.push(`the host's DNS server ${m[1]} (/etc/resolv.conf)`);
    }
  } catch {
    /* none */
  }
  for (const c of extra) if (cidrsOverlap(vpcCidr, c)) conflicts.push(c);
  if (conflicts.length) {
    const other = conflicts.map((c) => /dev (eh[0-9a-f]{8})r\b/.exec(c)?.[1]).find(Boolean);
    throw new Error(
      `the VPC CIDR ${vpcCidr} overlaps what this host already routes: ${conflicts.join('; ')}. ` +
        (other
          ? `Another harness run (${other}) has its VPC up on this host; stop it (harness down) or run with --network loopback.`
          : `Creating it would hijack that traffic: change VPC_CIDR and the subnet CIDRs in the config, or run with --network loopback.`),
    );
  }
}

// ------------------------------------------------------------------ security group source

export type { SgSource } from './sg-enforcer.ts';

/** What answers DNS queries (CloudMapDnsServer.handle). */
export interface DnsHandler {
  handle(packet: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined;
}

// ------------------------------------------------------------------ the VPC resolver listener

/** UDP + TCP listeners on the VPC resolver address (port 53) handing queries to the DNS server. */
class ResolverListener {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly dns: DnsHandler) {}

  async start(host: string, port: number): Promise<void> {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((res, rej) => {
      udp.once('error', rej);
      udp.bind(port, host, () => {
        udp.off('error', rej);
        res();
      });
    });
    udp.on('error', () => {});
    udp.on('message', (msg, rinfo) => {
      let reply: Buffer | undefined;
      try {
        reply = this.dns.handle(msg, 'udp');
      } catch {
        reply = undefined;
      }
      if (reply) udp.send(reply, rinfo.port, rinfo.address, () => {});
    });
    const tcp = net.createServer((sock) => this.onTcp(sock));
    await new Promise<void>((res, rej) => {
      tcp.once('error', rej);
      tcp.listen(port, host, () => {
        tcp.off('error', rej);
        res();
      });
    });
    tcp.on('error', () => {});
    this.udp = udp;
    this.tcp = tcp;
  }

  private onTcp(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const frame = Buffer.from(pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
        let reply: Buffer | undefined;
        try {
          reply = this.dns.handle(frame, 'tcp');
        } catch {
          reply = undefined;
        }
        if (!reply) continue;
        const head = Buffer.alloc(2);
        head.writeUInt16BE(reply.length);
        sock.write(Buffer.concat([head, reply]));
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const { udp, tcp } = this;
    this.udp = undefined;
    this.tcp = undefined;
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }
}

// ------------------------------------------------------------------ the fabric

export interface NetnsFabricOptions {
  runId: string;
  vpcCidr: string;
  subnets: SubnetInfo[];
  region?: string;
  /** Cloud Map zones (informational, passed on to tasks) */
  zones: string[];
  sgs: SgSource;
  dns: DnsHandler;
  /** where to write the fabric's state (task → namespace), e.g. .harness/runs/<id>/network.json */
  stateFile?: string;
  events?: { append(type: string, fields: Record<string, unknown>): void };
  log?: (line: string) => void;
}

interface EniRecord extends EnforcedEni {
  veth: string;
}

interface HostRecord extends HostEni {
  subnetId: string;
}

export interface NetnsFabricState {
  runId: string;
  mode: 'netns';
  vpcCidr: string;
  vpcNetns: string;
  bridge: string;
  rootVeth: string;
  routerIp: string;
  resolverIp: string;
  internetIp: string;
  enis: { taskId: string; ip: string; netns: string; securityGroups: string[] }[];
  hosts: { name: string; ip: string; securityGroups: string[] }[];
}

/** Live fabrics: a process 'exit' hook removes what they created if teardown never ran. */
const liveFabrics = new Set<NetnsFabric>();
let exitHook = false;

export class NetnsFabric implements TaskNetwork {
  readonly isolationEnforced = true;
  readonly names: NetnsNames;
  readonly routerIp: string;
  readonly resolverIp: string;
  readonly internetIp: string;
  private readonly prefixLen: number;
  /** the ENIs, harness hosts and their rules (shared with the docker fabric) */
  private readonly sg: SgEnforcer<EniRecord, HostRecord>;
  private get enis(): Map<string, EniRecord> {
    return this.sg.enis;
  }
  private get hosts(): Map<string, HostRecord> {
    return this.sg.hosts;
  }
  private readonly usedIps = new Set<string>();
  private readonly nextHost = new Map<string, number>();
  private counter = 0;
  private placed = 0;
  private readonly resolver: ResolverListener;
  private started = false;
  private closed = false;
  /** ms each whole re-application took (for the benchmark) */
  get applyTimes(): number[] {
    return this.sg.applyTimes;
  }

  constructor(private readonly opts: NetnsFabricOptions) {
    this.names = netnsNames(opts.runId);
    const vpc = parseCidr(opts.vpcCidr);
    if (!vpc || vpc.bits > 28) throw new Error(`VPC CIDR ${opts.vpcCidr} is not a valid IPv4 block (/16 … /28)`);
    if (opts.subnets.length === 0) throw new Error('the VPC has no subnets to place tasks in');
    for (const s of opts.subnets) {
      const p = parseCidr(s.cidrBlock);
      if (!p || !inCidr(opts.vpcCidr, s.cidrBlock.split('/')[0]!) || p.bits < vpc.bits) throw new Error(`subnet ${s.subnetId} (${s.cidrBlock}) is not inside the VPC ${opts.vpcCidr}`);
    }
    this.prefixLen = vpc.bits;
    this.routerIp = intToIp(vpc.base + 1);
    this.resolverIp = intToIp(vpc.base + 2);
    this.internetIp = internetIpOf(opts.runId);
    this.resolver = new ResolverListener(opts.dns);
    this.sg = new SgEnforcer<EniRecord, HostRecord>({ table: this.names.table, resolverIp: this.resolverIp, sgs: opts.sgs, events: opts.events });
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Creates the VPC (after checking the CIDR is free) and starts the resolver. */
  async start(): Promise<void> {
    if (this.started) return;
    checkVpcCidrFree(this.opts.vpcCidr, []);
    checkVpcCidrFree(`${this.internetIp}/32`, []);
    fs.mkdirSync(OWNER_DIR, { recursive: true });
    fs.writeFileSync(path.join(OWNER_DIR, `${this.opts.runId}.json`), JSON.stringify({ runId: this.opts.runId, pid: process.pid, startedAt: new Date().toISOString() }));
    this.started = true;
    liveFabrics.add(this);
    if (!exitHook) {
      exitHook = true;
      onProcessExit(() => {
        for (const f of liveFabrics) f.removeAllSync();
      });
    }
    const n = this.names;
    try {
      await run(IP_BIN, ['netns', 'add', n.vpcNetns]);
      await run(IP_BIN, ['-n', n.vpcNetns, '-batch', '-'], [`link set lo up`, `link add ${n.bridge} type bridge`, `link set ${n.bridge} up`].join('\n') + '\n');
      await run(IP_BIN, ['link', 'add', n.rootVeth, 'type', 'veth', 'peer', 'name', n.vpcVeth, 'netns', n.vpcNetns]);
      await run(IP_BIN, ['-n', n.vpcNetns, 'link', 'set', n.vpcVeth, 'master', n.bridge, 'up']);
      await run(
        IP_BIN,
        ['-batch', '-'],
        [
          `addr add ${this.routerIp}/${this.prefixLen} dev ${n.rootVeth}`,
          `addr add ${this.resolverIp}/32 dev ${n.rootVeth}`,
          `addr add ${this.internetIp}/32 dev ${n.rootVeth}`,
          `link set ${n.rootVeth} up`,
        ].join('\n') + '\n',
      );
      this.usedIps.add(this.routerIp).add(this.resolverIp);
      await this.resolver.start(this.resolverIp, 53);
      this.sg.start();
      this.writeState();
      this.log(`network: VPC ${this.opts.vpcCidr} as bridge ${n.bridge} in namespace ${n.vpcNetns}; router ${this.routerIp}, resolver ${this.resolverIp}:53, internet ${this.internetIp}`);
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  // -------------------------------------------------------------- addresses

  private allocate(subnetIds: string[]): { ip: string; subnet: SubnetInfo } {
    const candidates = candidateSubnets(this.opts.subnets, subnetIds);
    for (let k = 0; k < candidates.length; k++) {
      const subnet = candidates[(this.placed + k) % candidates.length]!.s;
      const c = parseCidr(subnet.cidrBlock)!;
      const size = 2 ** (32 - c.bits);
      for (let tries = 0; tries < size; tries++) {
        const off = this.nextHost.get(subnet.subnetId) ?? 10;
        // AWS reserves the first four and the last address of a subnet
        const next = off + 1 >= size - 1 ? 4 : off + 1;
        this.nextHost.set(subnet.subnetId, next);
        if (off < 4 || off >= size - 1) continue;
        const ip = intToIp(c.base + off);
        if (this.usedIps.has(ip)) continue;
        this.usedIps.add(ip);
        this.placed++;
        return { ip, subnet };
      }
    }
    throw new Error(`no free address left in subnet(s) ${candidates.map((c) => c.s.subnetId).join(', ')}`);
  }

  // -------------------------------------------------------------- TaskNetwork

  async attach(taskId: string, subnets: string[], securityGroups: string[]): Promise<TaskEni> {
    if (!this.started || this.closed) throw new Error('the VPC fabric is not running');
    const { ip, subnet } = this.allocate(subnets);
    const n = ++this.counter;
    const netns = this.names.taskNetns(n);
    const veth = this.names.taskVeth(n);
    const { eniId, mac } = newEniIdentity();
    const rec: EniRecord = { taskId, ip, netns, veth, groupIds: [...securityGroups] };
    try {
      const etc = path.join('/etc/netns', netns);
      fs.mkdirSync(etc, { recursive: true });
      fs.writeFileSync(path.join(etc, 'resolv.conf'), `# escher-harness ${this.opts.runId}: the VPC resolver\nnameserver ${this.resolverIp}\nsearch ${this.opts.region ?? 'us-west-1'}.compute.internal\noptions timeout:2 attempts:3\n`);
      await run(IP_BIN, ['netns', 'add', netns]);
      await run(IP_BIN, ['link', 'add', veth, 'netns', this.names.vpcNetns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      await run(IP_BIN, ['-n', this.names.vpcNetns, 'link', 'set', veth, 'master', this.names.bridge, 'up']);
      await run(
        IP_BIN,
        ['-n', netns, '-batch', '-'],
        [`link set lo up`, `link set eth0 address ${mac}`, `addr add ${ip}/${this.prefixLen} dev eth0`, `link set eth0 up`, `route add default via ${this.routerIp}`].join('\n') + '\n',
      );
      // its own rules first (nothing runs in it yet), then everyone else learns the new member
      this.enis.set(taskId, rec);
      await this.sg.applyNow(rec);
    } catch (e) {
      this.enis.delete(taskId);
      this.usedIps.delete(ip);
      await this.removeEni(rec).catch(() => {});
      throw e;
    }
    this.writeState();
    await this.reapply('attach');
    return {
      eniId,
      ip,
      mac,
      subnetId: subnet.subnetId,
      availabilityZone: subnet.availabilityZone,
      privateDnsName: `ip-${ip.replace(/\./g, '-')}.${this.opts.region ?? 'us-west-1'}.compute.internal`,
      dnsServer: `${this.resolverIp}:53`,
      dnsZones: this.opts.zones,
      netns,
    };
  }

  async detach(taskId: string): Promise<void> {
    const rec = this.enis.get(taskId);
    if (!rec) return;
    this.enis.delete(taskId);
    await this.removeEni(rec);
    this.usedIps.delete(rec.ip);
    this.writeState();
    await this.reapply('detach');
  }

  private async removeEni(rec: EniRecord): Promise<void> {
    await run(IP_BIN, ['-n', this.names.vpcNetns, 'link', 'del', rec.veth]).catch(() => {});
    await killNetnsPids(rec.netns);
    await run(IP_BIN, ['netns', 'del', rec.netns]).catch(() => {});
    fs.rmSync(path.join('/etc/netns', rec.netns), { recursive: true, force: true });
  }

  /**
   * A harness host: an address from the subnet on the root veth, which a harness process
   * binds as its local address (`localAddress`/`host`); its groups are enforced in the root
   * namespace's table inet <run>. No namespace of its own.
   */
  async attachHost(name: string, subnets: string[], securityGroups: string[]): Promise<HostAttachment> {
    if (!this.started || this.closed) throw new Error('the VPC fabric is not running');
    if (this.hosts.has(name)) throw new Error(`host ${name} is attached already`);
    const { ip, subnet } = this.allocate(subnets);
    await run(IP_BIN, ['addr', 'add', `${ip}/32`, 'dev', this.names.rootVeth]);
    this.hosts.set(name, { name, ip, groupIds: [...securityGroups], subnetId: subnet.subnetId });
    this.writeState();
    await this.reapply('attachHost');
    return { ip };
  }

  async detachHost(name: string): Promise<void> {
    const h = this.hosts.get(name);
    if (!h) return;
    this.hosts.delete(name);
    await run(IP_BIN, ['addr', 'del', `${h.ip}/32`, 'dev', this.names.rootVeth]).catch(() => {});
    this.usedIps.delete(h.ip);
    this.writeState();
    await this.reapply('detachHost');
  }

  // -------------------------------------------------------------- lookups

  /** The namespace of the task ENI with this address, if any. */
  netnsOfIp(ip: string): string | undefined {
    for (const e of this.enis.values()) if (e.ip === ip) return e.netns;
    return undefined;
  }

  netnsOfTask(taskId: string): string | undefined {
    return this.enis.get(taskId)?.netns;
  }

  /** Groups of an address in the VPC (task ENI or harness host); undefined = not an ENI. */
  groupsOfIp(ip: string): string[] | undefined {
    return this.sg.groupsOfIp(ip);
  }

  /**
   * Changes the groups of a harness host (as ModifyNetworkInterfaceAttribute would) and
   * re-enforces. Entries are group ids, or group names resolved whenever rules are rendered
   * (so a host attached before the deploy scripts create its group joins it when they do).
   */
  async setHostGroups(name: string, securityGroups: string[]): Promise<void> {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no harness host ${name}`);
    h.groupIds = [...securityGroups];
    this.writeState();
    await this.reapply('setHostGroups');
  }

  private resolveGroups(entries: string[], groups?: Map<string, SgGroup>): string[] {
    return this.sg.resolveGroups(entries, groups);
  }

  /** The current security groups and their members (what the rules are rendered from). */
  view(): SgView {
    return this.sg.view();
  }

  state(): NetnsFabricState {
    const groups = this.sg.groupMap();
    return {
      runId: this.opts.runId,
      mode: 'netns',
      vpcCidr: this.opts.vpcCidr,
      vpcNetns: this.names.vpcNetns,
      bridge: this.names.bridge,
      rootVeth: this.names.rootVeth,
      routerIp: this.routerIp,
      resolverIp: this.resolverIp,
      internetIp: this.internetIp,
      enis: [...this.enis.values()].map((e) => ({ taskId: e.taskId, ip: e.ip, netns: e.netns, securityGroups: this.resolveGroups(e.groupIds, groups) })),
      hosts: [...this.hosts.values()].map((h) => ({ name: h.name, ip: h.ip, securityGroups: this.resolveGroups(h.groupIds, groups) })),
    };
  }

  private writeState(): void {
    writeStateFile(this.opts.stateFile, this.state());
  }

  // -------------------------------------------------------------- enforcement

  /** Resolves once every change so far is enforced in every namespace. */
  settled(): Promise<void> {
    return this.sg.settled();
  }

  /** Re-renders every ruleset and applies those that changed (coalesced; resolves when enforced). */
  reapply(why: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.sg.reapply(why);
  }

  // -------------------------------------------------------------- teardown

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sg.close();
    await this.resolver.stop().catch(() => {});
    for (const e of [...this.enis.values()]) await this.removeEni(e).catch(() => {});
    this.enis.clear();
    await run(IP_BIN, ['link', 'del', this.names.rootVeth]).catch(() => {});
    await killNetnsPids(this.names.vpcNetns);
    await run(IP_BIN, ['netns', 'del', this.names.vpcNetns]).catch(() => {});
    fs.rmSync(path.join(OWNER_DIR, `${this.opts.runId}.json`), { force: true });
    liveFabrics.delete(this);
    this.writeState();
  }

  /** Synchronous last resort ('exit' hook): removes everything of this run. */
  removeAllSync(): void {
    if (this.closed) return;
    removeRunNetworkSync(this.opts.runId);
  }
}

async function killNetnsPids(netns: string): Promise<void> {
  const out = await run(IP_BIN, ['netns', 'pids', netns]).catch(() => '');
  for (const p of out.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

// ------------------------------------------------------------------ leftovers

/** Everything the network fabric of `runId` may have left on this host, removed synchronously. */
export function removeRunNetworkSync(runId: string): string[] {
  const removed: string[] = [];
  const names = netnsNames(runId);
  const nsList = runSyncQuiet(IP_BIN, ['netns', 'list']).out.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${runId}-`));
  // task namespaces first (their processes), the VPC namespace last
  nsList.sort((a, b) => (a === names.vpcNetns ? 1 : b === names.vpcNetns ? -1 : a.localeCompare(b)));
  for (const ns of nsList) {
    for (const p of runSyncQuiet(IP_BIN, ['netns', 'pids', ns]).out.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (runSyncQuiet(IP_BIN, ['netns', 'del', ns]).ok) removed.push(`netns ${ns}`);
  }
  if (runSyncQuiet(IP_BIN, ['link', 'show', names.rootVeth]).ok && runSyncQuiet(IP_BIN, ['link', 'del', names.rootVeth]).ok) removed.push(`link ${names.rootVeth}`);
  if (runSyncQuiet(NFT_BIN, ['list', 'table', 'inet', names.table]).ok && runSyncQuiet(NFT_BIN, ['delete', 'table', 'inet', names.table]).ok) removed.push(`nft table inet ${names.table}`);
  try {
    for (const d of fs.readdirSync('/etc/netns')) {
      if (d.startsWith(`${runId}-`)) {
        fs.rmSync(path.join('/etc/netns', d), { recursive: true, force: true });
        removed.push(`/etc/netns/${d}`);
      }
    }
  } catch {
    /* no /etc/netns */
  }
  fs.rmSync(path.join(OWNER_DIR, `${runId}.json`), { force: true });
  return removed;
}

function ownerAlive(runId: string): boolean {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(OWNER_DIR, `${runId}.json`), 'utf8')) as { pid: number };
    process.kill(o.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException)?.code === 'EPERM';
  }
}

/**
 * Finds namespaces, veths, nft tables and /etc/netns dirs named after a harness run whose
 * owner process is gone (killed) and removes them. Runs whose owner is alive are never
 * touched. Does nothing without root.
 */
export function cleanupNetnsLeftovers(log: (l: string) => void = () => {}): { runs: string[]; removed: string[] } {
  if (process.platform !== 'linux' || typeof process.getuid !== 'function' || process.getuid() !== 0) return { runs: [], removed: [] };
  const ids = new Set<string>();
  const collect = (name: string) => {
    const m = NETNS_RUN_RE.exec(name);
    if (m) ids.add(m[1]!);
  };
  for (const l of runSyncQuiet(IP_BIN, ['netns', 'list']).out.split('\n')) collect(l.split(' ')[0] ?? '');
  for (const l of runSyncQuiet(IP_BIN, ['-o', 'link', 'show']).out.split('\n')) collect(/^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '');
  for (const l of runSyncQuiet(NFT_BIN, ['list', 'tables']).out.split('\n')) {
    const m = /^table inet (eh[0-9a-f]{8})$/.exec(l.trim());
    if (m) ids.add(m[1]!);
  }
  try {
    for (const d of fs.readdirSync('/etc/netns')) collect(d);
  } catch {
    /* none */
  }
  try {
    for (const f of fs.readdirSync(OWNER_DIR)) if (/^eh[0-9a-f]{8}\.json$/.test(f)) ids.add(f.slice(0, -5));
  } catch {
    /* none */
  }
  const runs: string[] = [];
  const removed: string[] = [];
  for (const id of ids) {
    if (ownerAlive(id)) continue;
    runs.push(id);
    removed.push(...removeRunNetworkSync(id));
  }
  if (runs.length) log(`removed network leftovers of killed run(s) ${runs.join(', ')}: ${removed.join(', ') || 'owner marker only'}`);
  return { runs, removed };
}

// ------------------------------------------------------------------ choosing the fabric

export type NetworkMode = 'netns' | 'loopback';

export interface ChooseNetworkOptions {
  /** 'auto' (default): netns when root + ip netns + nft work, else loopback */
  wanted?: 'auto' | NetworkMode;
  runId: string;
  vpcCidr: string;
  subnets: SubnetInfo[];
  region: string;
  zones: string[];
  sgs: SgSource;
  dns: DnsHandler & { address?: { host: string; port: number } };
  /** the DNS server's own address (loopback mode points tasks at it) */
  dnsAddress: { host: string; port: number };
  stateFile?: string;
  events?: NetnsFabricOptions['events'];
  log?: (line: string) => void;
  /**
   * When another live harness run holds this VPC CIDR on the host (two runs of one repo):
   * wait up to this long for it to end before falling back to loopback (HARNESS_NETNS_WAIT_S;
   * the test suite runs two fixtures side by side and sets it). 0: fall back at once.
   */
  waitForCidrMs?: number;
}

export interface ChosenNetwork {
  fabric: TaskNetwork;
  mode: NetworkMode;
  reason: string;
  close(): Promise<void>;
}

/**
 * Picks and starts the fabric: netns when asked, or in auto mode when this host can; with
 * the reason the summary prints. A forced netns that cannot start throws; auto falls back to
 * loopback and says why.
 */
export async function chooseNetwork(o: ChooseNetworkOptions): Promise<ChosenNetwork> {
  const wanted = o.wanted ?? 'auto';
  if (wanted !== 'auto' && wanted !== 'netns' && wanted !== 'loopback') throw new Error(`network mode must be auto, netns or loopback, got ${String(wanted)}`);
  const loopback = (reason: string): ChosenNetwork => ({
    fabric: new LoopbackFabric(o.subnets, o.runId, { server: `${o.dnsAddress.host}:${o.dnsAddress.port}`, zones: o.zones }, o.region),
    mode: 'loopback',
    reason,
    close: async () => {},
  });
  if (wanted === 'loopback') return loopback('loopback (asked for): tasks share the host network on 127.x addresses; security groups are NOT enforced');
  const cap = netnsCapability();
  if (!cap.ok) {
    if (wanted === 'netns') throw new Error(`--network netns: cannot build network namespaces here: ${cap.reason}`);
    return loopback(`loopback: ${cap.reason}; security groups are NOT enforced`);
  }
  const lock = await acquireCidrLock(o.vpcCidr, o.runId, o.waitForCidrMs ?? 0, o.log);
  if (!lock.ok) {
    if (wanted === 'netns') throw new Error(`--network netns: ${lock.reason}`);
    return loopback(`loopback: ${lock.reason}; security groups are NOT enforced`);
  }
  const fabric = new NetnsFabric({
    runId: o.runId,
    vpcCidr: o.vpcCidr,
    subnets: o.subnets,
    region: o.region,
    zones: o.zones,
    sgs: o.sgs,
    dns: o.dns,
    stateFile: o.stateFile,
    events: o.events,
    log: o.log,
  });
  try {
    await fabric.start();
  } catch (e) {
    lock.release();
    if (wanted === 'netns') throw e;
    return loopback(`loopback: the netns fabric could not start (${(e as Error).message}); security groups are NOT enforced`);
  }
  return {
    fabric,
    mode: 'netns',
    reason: `netns (${wanted === 'netns' ? 'asked for' : 'auto'}: ${cap.reason}): one network namespace per task on bridge ${fabric.names.bridge}, security groups enforced by nftables${lock.waitedMs > 0 ? ` (waited ${(lock.waitedMs / 1000).toFixed(1)} s for another run of this VPC CIDR to end)` : ''}`,
    close: async () => {
      try {
        await fabric.close();
      } finally {
        lock.release();
      }
    },
  };
}

/**
 * One live run per VPC CIDR on a host: a netns fabric routes the CIDR on the host, so a second
 * run of the same repo cannot have it. The lock is a file under OWNER_DIR naming the holder's
 * pid and run; a dead holder's lock is taken over. Waits up to `waitMs` for a live holder,
 * watching the directory (no fixed sleep), then says who holds it.
 */
export async function acquireCidrLock(cidr: string, runId: string, waitMs: number, log?: (line: string) => void): Promise<{ ok: true; waitedMs: number; release(): void } | { ok: false; reason: string }> {
  const file = path.join(OWNER_DIR, `cidr-${cidr.replace(/[^0-9.]/g, '_')}.lock`);
  fs.mkdirSync(OWNER_DIR, { recursive: true });
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid, runId }), { flag: 'wx' });
      let released = false;
      return {
        ok: true,
        waitedMs: Date.now() - started,
        release: () => {
          if (released) return;
          released = true;
          try {
            if ((JSON.parse(fs.readFileSync(file, 'utf8')) as { runId?: string }).runId === runId) fs.rmSync(file, { force: true });
          } catch {
            /* gone */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return { ok: false, reason: `cannot lock VPC CIDR ${cidr} (${(e as Error).message})` };
    }
    let holder: { pid?: number; runId?: string } = {};
    try {
      holder = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      /* being written or removed: look again */
    }
    if (holder.pid !== undefined && !pidAlive(holder.pid)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    const left = waitMs - (Date.now() - started);
    const reason = `another harness run (${holder.runId ?? '?'}, pid ${holder.pid ?? '?'}) holds VPC CIDR ${cidr} on this host`;
    if (left <= 0) return { ok: false, reason };
    if (!announced) log?.(`${reason}: waiting up to ${Math.round(left / 1000)} s for it to end`);
    announced = true;
    await new Promise<void>((resolve) => {
      const w = fs.watch(OWNER_DIR, () => done());
      // a holder killed without cleanup changes nothing on disk: look again now and then
      const t = setTimeout(done, Math.min(left, 1000));
      function done() {
        clearTimeout(t);
        w.close();
        resolve();
      }
    });
  }
}

export { ipToInt };
