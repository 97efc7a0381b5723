/**
 * The VPC fabric in docker mode: one Docker bridge network per run (`eh-<runId>`, bridge
 * interface `<runId>br`), whose subnet is a free 10.<n>.0.0/16 with the VPC's layout (or the
 * VPC CIDR itself with HARNESS_DOCKER_SUBNET=vpc).
 *
 * attach() reserves an address in the task's subnet; the docker runtime starts the container
 * with exactly that IPv4 on this network. So the ENI address in DescribeTasks, Cloud Map's
 * AWS_INSTANCE_IPV4 and the container's real address are one.
 *
 * Cloud Map DNS: a CloudMapDnsServer listens on the network's gateway, port 53 (the VPC
 * resolver of this fabric); containers get it as their DNS server (Docker's embedded resolver
 * 127.0.0.11 forwards to it from inside the container's namespace).
 *
 * Security groups (root + nft + nsenter + `ip netns`; else `isolationEnforced` is false and
 * nothing below happens): each container's network namespace gets a name (`ip netns attach
 * <runId>-c<n> <pid>`, resolv.conf copied to /etc/netns/<name>/) and the ENI's ruleset from
 * sg-rules.ts, applied and kept live by the SgEnforcer the netns fabric uses (stateful, group
 * reference sets, re-applied on rule changes and attach/detach, coalesced, `settled()`). The
 * runtime's containers start behind a gate: their entry point waits for a marker file the
 * fabric writes into the container's root only after the rules are in place
 * (`containerStarted`), so nothing of the app runs before its security groups do.
 * Harness hosts (attachHost: ALB nodes, SurrealDB) get their own VPC address on the bridge
 * interface (a host process binds it; containers reach it), filtered in the root namespace by
 * table inet <runId> (renderHostRuleset). `internetIp` (198.18.x.y/32 on the bridge) is "the
 * internet": containers reach it through their default route, and no group filters it there.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type Dockerode from 'dockerode';
import { getContainerRuntimeClient } from 'testcontainers';
import path from 'node:path';
import type { HostAttachment, TaskEni, TaskNetwork } from '../../ecs/deps.ts';
import { CloudMapDnsServer, type DnsZoneSource } from '../../network/dns-server.ts';
import { netnsCapability, OWNER_DIR, removeRunNetworkSync } from '../../network/netns-fabric.ts';
import { IP_BIN, run, SgEnforcer, type EnforcedEni, type SgSource } from '../../network/sg-enforcer.ts';
import type { HostEni, SgView } from '../../network/sg-rules.ts';
import { HARNESS_LABEL } from './images.ts';
import { GATE_MARKER, gateTokenOf, LABEL_OWNER_PID, LABEL_RUN_ID } from './docker-runtime.ts';
import { candidateSubnets, internetIpOf, newEniIdentity, writeStateFile } from '../../network/eni.ts';

export interface DockerSubnet {
  subnetId: string;
  cidrBlock: string;
  availabilityZone: string;
}

export interface DockerFabricOptions {
  runId: string;
  subnets: DockerSubnet[];
  /** the VPC CIDR (default: the /16 around the first subnet) */
  vpcCidr?: string;
  region?: string;
  /** Cloud Map zones to serve on the gateway (omit for no DNS) */
  dns?: { store: DnsZoneSource; zones: string[] };
  /** security groups to enforce (omit: not enforced) */
  sgs?: SgSource;
  /** where to write the fabric's state (task → namespace), e.g. .harness/runs/<id>/network.json */
  stateFile?: string;
  events?: { append(type: string, fields: Record<string, unknown>): void };
  log?: (line: string) => void;
}

interface DockerEni extends EnforcedEni {
  containerId?: string;
}

interface DockerHost extends HostEni {
  subnetId: string;
}

export interface DockerFabricState {
  runId: string;
  mode: 'docker';
  network: string;
  bridge: string;
  subnet: string;
  resolverIp: string;
  internetIp: string;
  isolationEnforced: boolean;
  enis: { taskId: string; ip: string; netns?: string; containerId?: string; securityGroups: string[] }[];
  hosts: { name: string; ip: string; securityGroups: string[] }[];
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
function parseCidr(cidr: string): { base: number; bits: number } {
  const [ip, bits] = cidr.split('/');
  const b = Number(bits);
  const size = 2 ** (32 - b);
  return { base: Math.floor(ipToInt(ip!) / size) * size, bits: b };
}
function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const xEnd = x.base + 2 ** (32 - x.bits);
  const yEnd = y.base + 2 ** (32 - y.bits);
  return x.base < yEnd && y.base < xEnd;
}

/** IPv4 routes the host has (destination/prefix), from /proc/net/route. */
function hostRoutes(): string[] {
  try {
    return fs
      .readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 7 && f[1] !== '00000000')
      .map((f) => {
        const le = (h: string) => Buffer.from(h, 'hex').reverse().join('.');
        const mask = ipToInt(le(f[7]!));
        const bits = mask.toString(2).replace(/0/g, '').length;
        return `${le(f[1]!)}/${bits}`;
      });
  } catch {
    return [];
  }
}

export class DockerFabric implements TaskNetwork {
  /** true when the security groups are enforced (root, nft, nsenter, `ip netns`, a local engine) */
  isolationEnforced = false;
  /** why (not) enforced, one line */
  isolationNote = '';
  readonly networkName: string;
  /** the bridge interface of the run network on the host (carries the run id) */
  readonly bridge: string;
  /** "the internet": 198.18.x.y/32 on the bridge (the gateway when isolation is not enforced) */
  internetIp = '';
  /** the network's gateway (the host's address on it) */
  gateway = '';
  /** the network's subnet (the VPC CIDR, or a stand-in of the same shape) */
  subnet = '';
  /** why this subnet (the VPC CIDR, or which stand-in and how addresses map) */
  subnetNote = '';
  private readonly used = new Map<string, string>();
  private readonly byIp = new Set<string>();
  private readonly next = new Map<number, number>();
  private dnsServer?: CloudMapDnsServer;
  private docker!: Dockerode;
  private networkId?: string;
  private readonly region: string;
  private readonly subnets: DockerSubnet[];
  private vpc!: { base: number; bits: number };
  private readonly vpcCidr: string;
  private sg?: SgEnforcer<DockerEni, DockerHost>;
  /** reserved ENIs (attach), whether or not their container runs yet */
  private readonly reserved = new Map<string, DockerEni>();
  private readonly hostList = new Map<string, DockerHost>();
  private nsCounter = 0;
  private closed = false;
  private readonly derivedInternetIp: string;

  private constructor(private readonly opts: DockerFabricOptions) {
    if (opts.subnets.length === 0) throw new Error('the VPC has no subnets to place tasks in');
    this.networkName = `eh-${opts.runId}`;
    this.bridge = `${opts.runId}br`.slice(0, 15);
    this.derivedInternetIp = internetIpOf(opts.runId);
    this.region = opts.region ?? 'us-west-1';
    this.subnets = opts.subnets;
    this.vpcCidr = opts.vpcCidr ?? `${intToIp(Math.floor(parseCidr(opts.subnets[0]!.cidrBlock).base / 65536) * 65536)}/16`;
  }

  static async create(opts: DockerFabricOptions): Promise<DockerFabric> {
    const f = new DockerFabric(opts);
    await f.start();
    return f;
  }

  private async start(): Promise<void> {
    this.docker = (await getContainerRuntimeClient()).container.dockerode;
    // the owner marker first: another run's leftover cleanup must see this run as alive
    // before anything named after it (the bridge, namespaces, the nft table) exists
    try {
      fs.mkdirSync(OWNER_DIR, { recursive: true });
      fs.writeFileSync(path.join(OWNER_DIR, `${this.opts.runId}.json`), JSON.stringify({ runId: this.opts.runId, pid: process.pid, mode: 'docker', startedAt: new Date().toISOString() }));
    } catch {
      /* not root: nothing of the netns kind will be created */
    }
    const nets = await this.docker.listNetworks();
    const taken = [
      ...hostRoutes(),
      ...nets.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => !!s && s.includes('.'))),
    ];
    // A stand-in /16 by default: the VPC CIDR itself stays free for a netns-fabric run on the
    // same host (HARNESS_DOCKER_SUBNET=vpc puts the network on the VPC CIDR, when free).
    const candidates = process.env.HARNESS_DOCKER_SUBNET === 'vpc' ? [this.vpcCidr] : [];
    const seed = createHash('sha256').update(this.opts.runId).digest()[0]!;
    for (let i = 0; i < 50; i++) candidates.push(`10.${200 + ((seed + i) % 50)}.0.0/16`);
    let lastErr: unknown;
    for (const cidr of candidates) {
      const clash = taken.find((t) => overlaps(t, cidr));
      if (clash) continue;
      const p = parseCidr(cidr);
      const gateway = intToIp(p.base + 1);
      try {
        const net = await this.docker.createNetwork({
          Name: this.networkName,
          Driver: 'bridge',
          CheckDuplicate: true,
          IPAM: { Driver: 'default', Config: [{ Subnet: cidr, Gateway: gateway }] },
          Options: { 'com.docker.network.bridge.name': this.bridge },
          Labels: { [HARNESS_LABEL]: '1', [LABEL_RUN_ID]: this.opts.runId, [LABEL_OWNER_PID]: String(process.pid) },
        });
        this.networkId = net.id;
        this.subnet = cidr;
        this.gateway = gateway;
        this.vpc = p;
        this.subnetNote = cidr === this.vpcCidr ? `the VPC CIDR ${cidr}` : `${cidr}, a stand-in for the VPC CIDR ${this.vpcCidr} (same layout: subnet ${this.vpcCidr.split('.').slice(0, 2).join('.')}.S.0/24 → ${cidr.split('.').slice(0, 2).join('.')}.S.0/24)`;
        break;
      } catch (e) {
        lastErr = e;
      }
    }
    if (this.networkId) {
      // Ctrl-C without teardown: remove the run's containers (by label), then the network
      const name = this.networkName;
      const runId = this.opts.runId;
      this.exitHook = () => {
        const ps = spawnSync('docker', ['ps', '-aq', '--filter', `label=${LABEL_RUN_ID}=${runId}`], { encoding: 'utf8', timeout: 10_000 });
        const ids = (ps.stdout ?? '').split('\n').filter(Boolean);
        if (ids.length) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore', timeout: 20_000 });
        spawnSync('docker', ['network', 'rm', name], { stdio: 'ignore', timeout: 10_000 });
        // named namespaces, /etc/netns dirs, the hosts' nft table, the owner marker
        try {
          removeRunNetworkSync(runId);
        } catch {
          /* not root */
        }
      };
      process.once('exit', this.exitHook);
    }
    if (!this.networkId) throw new Error(`cannot create the run's Docker network ${this.networkName}: ${(lastErr as Error)?.message ?? 'no free 10.x.0.0/16'}`);
    if (this.opts.dns) {
      try {
        this.dnsServer = new CloudMapDnsServer({ store: this.opts.dns.store, host: this.gateway, port: 53 });
        await this.dnsServer.start();
      } catch (e) {
        await this.close();
        throw new Error(`cannot serve Cloud Map DNS on ${this.gateway}:53 for the containers (needs root or CAP_NET_BIND_SERVICE): ${(e as Error).message}`);
      }
    }
    this.internetIp = this.gateway;
    this.isolationNote = 'security groups are NOT enforced';
    if (!this.opts.sgs) return;
    const cap = netnsCapability();
    if (!cap.ok) {
      this.isolationNote = `security groups are NOT enforced (${cap.reason})`;
      return;
    }
    try {
      await run(IP_BIN, ['addr', 'add', `${this.derivedInternetIp}/32`, 'dev', this.bridge]);
      this.internetIp = this.derivedInternetIp;
      this.sg = new SgEnforcer<DockerEni, DockerHost>({ table: this.opts.runId, resolverIp: this.gateway, sgs: this.opts.sgs, events: this.opts.events });
      this.sg.start();
      this.isolationEnforced = true;
      this.isolationNote = `security groups enforced by nftables in each container's network namespace (${cap.reason})`;
    } catch (e) {
      await this.close();
      throw new Error(`cannot set up security group enforcement on ${this.bridge}: ${(e as Error).message}`);
    }
    this.writeState();
  }

  /** The VPC resolver of this fabric (Cloud Map DNS on the gateway; never filtered). */
  get resolverIp(): string {
    return this.gateway;
  }

  /** The address of host n in VPC subnet i, moved into this network's subnet. */
  private allocate(subnetIndex: number): string {
    const { base: sBase, bits } = parseCidr(this.subnets[subnetIndex]!.cidrBlock);
    const offsetInVpc = sBase - parseCidr(this.vpcCidr).base;
    const size = 2 ** (32 - bits);
    for (let tries = 0; tries < size; tries++) {
      const n = this.next.get(subnetIndex) ?? 10;
      this.next.set(subnetIndex, n + 1 >= size - 1 ? 10 : n + 1);
      const ip = intToIp(this.vpc.base + offsetInVpc + n);
      if (!this.byIp.has(ip)) {
        this.byIp.add(ip);
        return ip;
      }
    }
    throw new Error('no free address left in the subnet');
  }

  async attach(taskId: string, subnets: string[], securityGroups: string[]): Promise<TaskEni> {
    if (this.closed) throw new Error('the docker fabric is closed');
    const candidates = candidateSubnets(this.subnets, subnets);
    const pick = candidates[this.used.size % candidates.length]!;
    const ip = this.allocate(pick.i);
    this.used.set(taskId, ip);
    this.reserved.set(taskId, { taskId, ip, netns: '', groupIds: [...securityGroups] });
    return {
      ...newEniIdentity(),
      ip,
      subnetId: pick.s.subnetId,
      availabilityZone: pick.s.availabilityZone,
      privateDnsName: `ip-${ip.replace(/\./g, '-')}.${this.region}.compute.internal`,
      ...(this.dnsServer ? { dnsServer: `${this.gateway}:53`, dnsZones: this.opts.dns!.zones } : {}),
    };
  }

  /**
   * A container of ENI `id` (reserved with attach(id, …)) runs: enforce its security groups.
   *
   * Contract (the docker runtime calls this for its task containers; a harness component that
   * starts a container itself at a reserved address calls it too, right after `docker start`):
   * - finds the container's init pid (docker inspect), names its network namespace
   *   `<runId>-c<n>` (`ip netns attach`; removed by detach(id)) and copies its resolv.conf to
   *   /etc/netns/<name>/ (so `ip netns exec` resolves as the container does);
   * - applies the ENI's ruleset in that namespace, then re-applies everyone else's (the new
   *   member joins the group sets) and waits until that is enforced;
   * - if the container is not yet connected to the run network (created with NetworkMode
   *   "none"), connects it now at the reserved address: its traffic can only begin after the
   *   rules are in place (for images without a shell);
   * - writes GATE_MARKER (this start's process start time) into the container's root: a
   *   container whose entry point is gatedEntrypoint() starts the app only now;
   * - may be called again after the same container is started again (new namespace, new
   *   rules, new marker);
   * - rejects if any step fails (the caller should remove the container); a no-op when
   *   isolation is not enforced (apart from connecting a container that is not connected).
   */
  async containerStarted(id: string, containerId: string): Promise<void> {
    const rec = this.reserved.get(id);
    if (!rec) throw new Error(`containerStarted: no ENI reserved for ${id} (attach it first)`);
    const c = this.docker.getContainer(containerId);
    const info = await c.inspect();
    const connected = !!info.NetworkSettings?.Networks?.[this.networkName];
    const connect = async () => {
      if (!connected) await this.docker.getNetwork(this.networkName).connect({ Container: containerId, EndpointConfig: { IPAMConfig: { IPv4Address: rec.ip } } });
    };
    rec.containerId = containerId;
    if (!this.sg || !this.isolationEnforced) {
      await connect();
      this.writeState();
      return;
    }
    const pid = info.State?.Pid;
    if (!pid) throw new Error(`container ${containerId.slice(0, 12)} of ${id} is not running`);
    // started again (`docker start` of the same container): a new namespace, a new name
    if (rec.netns) {
      this.sg.enis.delete(id);
      await this.removeNetns(rec);
    }
    const netns = `${this.opts.runId}-c${++this.nsCounter}`;
    await run(IP_BIN, ['netns', 'attach', netns, String(pid)]);
    rec.netns = netns;
    try {
      const etc = path.join('/etc/netns', netns);
      fs.mkdirSync(etc, { recursive: true });
      let resolv = '';
      try {
        resolv = fs.readFileSync(info.ResolvConfPath, 'utf8');
      } catch {
        resolv = `nameserver ${this.gateway}\n`;
      }
      fs.writeFileSync(path.join(etc, 'resolv.conf'), `# escher-harness ${this.opts.runId}: as container ${containerId.slice(0, 12)} has it\n${resolv}`);
      this.sg.enis.set(id, rec);
      await this.sg.applyNow(rec);
      await this.sg.reapply('attach');
      await connect();
      fs.writeFileSync(`/proc/${pid}/root${GATE_MARKER}`, `${gateTokenOf(pid)}\n`);
    } catch (e) {
      this.sg.enis.delete(id);
      await this.removeNetns(rec);
      throw e;
    } finally {
      this.writeState();
    }
  }

  /** A name outside the Cloud Map zones that the containers' resolver answers (e.g. api.anthropic.com → internetIp). */
  setStaticHost(name: string, ipv4: string): void {
    this.dnsServer?.setStaticHost(name, ipv4);
  }

  deleteStaticHost(name: string): void {
    this.dnsServer?.deleteStaticHost(name);
  }

  /** The named namespace of the container at this address (probes and `harness exec` run there). */
  netnsOfIp(ip: string): string | undefined {
    for (const e of this.reserved.values()) if (e.ip === ip && e.netns) return e.netns;
    return undefined;
  }

  netnsOfTask(taskId: string): string | undefined {
    return this.reserved.get(taskId)?.netns || undefined;
  }

  /** Groups of an address in the VPC (task ENI or harness host); undefined = not an ENI. */
  groupsOfIp(ip: string): string[] | undefined {
    return this.sg?.groupsOfIp(ip);
  }

  /** The current security groups and their members (what the rules are rendered from). */
  view(): SgView | undefined {
    return this.sg?.view();
  }

  /** Resolves once every change so far is enforced in every namespace. */
  settled(): Promise<void> {
    return this.sg?.settled() ?? Promise.resolve();
  }

  /** Changes the groups of a harness host and re-enforces (as the netns fabric's). */
  async setHostGroups(name: string, securityGroups: string[]): Promise<void> {
    const h = this.hostList.get(name);
    if (!h) throw new Error(`no harness host ${name}`);
    h.groupIds = [...securityGroups];
    this.writeState();
    await this.sg?.reapply('setHostGroups');
  }

  state(): DockerFabricState {
    const groups = this.sg?.groupMap();
    const resolve = (ids: string[]) => (this.sg ? this.sg.resolveGroups(ids, groups) : ids);
    return {
      runId: this.opts.runId,
      mode: 'docker',
      network: this.networkName,
      bridge: this.bridge,
      subnet: this.subnet,
      resolverIp: this.resolverIp,
      internetIp: this.internetIp,
      isolationEnforced: this.isolationEnforced,
      enis: [...this.reserved.values()].map((e) => ({ taskId: e.taskId, ip: e.ip, ...(e.netns ? { netns: e.netns } : {}), ...(e.containerId ? { containerId: e.containerId } : {}), securityGroups: resolve(e.groupIds) })),
      hosts: [...this.hostList.values()].map((h) => ({ name: h.name, ip: h.ip, securityGroups: resolve(h.groupIds) })),
    };
  }

  private writeState(): void {
    writeStateFile(this.opts.stateFile, this.state());
  }

  private async removeNetns(rec: DockerEni): Promise<void> {
    if (!rec.netns) return;
    await run(IP_BIN, ['netns', 'del', rec.netns]).catch(() => {});
    fs.rmSync(path.join('/etc/netns', rec.netns), { recursive: true, force: true });
    rec.netns = '';
  }

  async detach(taskId: string): Promise<void> {
    const ip = this.used.get(taskId);
    if (!ip) return;
    this.used.delete(taskId);
    this.byIp.delete(ip);
    const rec = this.reserved.get(taskId);
    this.reserved.delete(taskId);
    if (rec && this.sg?.enis.get(taskId) === rec) {
      this.sg.enis.delete(taskId);
      await this.removeNetns(rec);
      this.writeState();
      await this.sg.reapply('detach');
    } else {
      this.writeState();
    }
  }

  /**
   * A harness host: its own address from the subnet on the bridge interface (a host process
   * binds it as its local address; containers reach it on the bridge), filtered by its groups
   * in the root namespace (table inet <runId>). Without enforcement: the gateway.
   */
  async attachHost(name: string, subnets: string[], securityGroups: string[]): Promise<HostAttachment> {
    if (!this.sg || !this.isolationEnforced) return { ip: this.gateway };
    if (this.hostList.has(name)) throw new Error(`host ${name} is attached already`);
    const wanted = subnets.length ? subnets : [this.subnets[0]!.subnetId];
    const i = this.subnets.findIndex((s) => wanted.includes(s.subnetId));
    if (i < 0) throw new Error(`The subnet ID '${wanted.join(', ')}' does not exist`);
    const ip = this.allocate(i);
    try {
      await run(IP_BIN, ['addr', 'add', `${ip}/32`, 'dev', this.bridge]);
    } catch (e) {
      this.byIp.delete(ip);
      throw e;
    }
    const h: DockerHost = { name, ip, groupIds: [...securityGroups], subnetId: this.subnets[i]!.subnetId };
    this.hostList.set(name, h);
    this.sg.hosts.set(name, h);
    this.writeState();
    await this.sg.reapply('attachHost');
    return { ip };
  }

  async detachHost(name: string): Promise<void> {
    const h = this.hostList.get(name);
    if (!h) return;
    this.hostList.delete(name);
    this.sg?.hosts.delete(name);
    await run(IP_BIN, ['addr', 'del', `${h.ip}/32`, 'dev', this.bridge]).catch(() => {});
    this.byIp.delete(h.ip);
    this.writeState();
    await this.sg?.reapply('detachHost');
  }

  /** Stops the DNS listener and removes the network (containers must be gone first). */
  private exitHook?: () => void;

  async close(): Promise<void> {
    this.closed = true;
    if (this.exitHook) process.off('exit', this.exitHook);
    this.exitHook = undefined;
    await this.dnsServer?.stop().catch(() => undefined);
    this.dnsServer = undefined;
    if (this.sg) {
      await this.sg.close();
      for (const rec of this.reserved.values()) await this.removeNetns(rec);
      for (const h of this.hostList.values()) await run(IP_BIN, ['addr', 'del', `${h.ip}/32`, 'dev', this.bridge]).catch(() => {});
      this.hostList.clear();
      if (this.internetIp !== this.gateway) await run(IP_BIN, ['addr', 'del', `${this.internetIp}/32`, 'dev', this.bridge]).catch(() => {});
      this.sg = undefined;
      this.isolationEnforced = false;
    }
    if (this.networkId) {
      const net = this.docker.getNetwork(this.networkId);
      for (let i = 0; i < 5; i++) {
        try {
          await net.remove();
          break;
        } catch (e) {
          if ((e as { statusCode?: number }).statusCode === 404) break;
          // endpoints still detaching: disconnect this run's leftovers, then retry
          const info = (await net.inspect().catch(() => undefined)) as { Containers?: Record<string, unknown> } | undefined;
          for (const id of Object.keys(info?.Containers ?? {})) await net.disconnect({ Container: id, Force: true }).catch(() => undefined);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      this.networkId = undefined;
    }
    fs.rmSync(path.join(OWNER_DIR, `${this.opts.runId}.json`), { force: true });
  }
}

/** Removes containers and networks of harness runs whose owner process is gone. */
export async function removeDockerLeftovers(isLive: (runId: string, ownerPid: number) => boolean = defaultLive): Promise<{ containers: number; networks: number }> {
  const d = (await getContainerRuntimeClient()).container.dockerode;
  const filters = { label: [`${HARNESS_LABEL}=1`, LABEL_RUN_ID] };
  const containers = (await d.listContainers({ all: true, filters })).filter((c) => !isLive(c.Labels[LABEL_RUN_ID]!, Number(c.Labels[LABEL_OWNER_PID])));
  await Promise.all(containers.map((c) => d.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const networks = (await d.listNetworks({ filters })).filter((n) => !isLive(n.Labels?.[LABEL_RUN_ID] ?? '', Number(n.Labels?.[LABEL_OWNER_PID])));
  await Promise.all(networks.map((n) => d.getNetwork(n.Id).remove().catch(() => undefined)));
  return { containers: containers.length, networks: networks.length };
}

function defaultLive(_runId: string, pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}
