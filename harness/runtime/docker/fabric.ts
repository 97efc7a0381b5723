/**
 * The VPC fabric in docker mode: one Docker bridge network per run (`eh-<runId>`), whose
 * subnet is the VPC's CIDR when the host has it free (10.0.0.0/16 → task IPs in 10.0.1.x,
 * 10.0.2.x as Fargate would give them), else a free 10.<n>.0.0/16 with the same layout.
 *
 * attach() creates nothing: it reserves an address in the task's subnet, and the docker
 * runtime starts the container with exactly that IPv4 on this network. So the ENI address in
 * DescribeTasks, Cloud Map's AWS_INSTANCE_IPV4 and the container's real address are one.
 *
 * Cloud Map DNS: a second CloudMapDnsServer listens on the network's gateway, port 53 (the
 * only port resolv.conf can name); containers get it as their DNS server (Docker's embedded
 * resolver forwards to it). Harness hosts (attachHost) are the gateway address: host
 * processes can bind it and every container reaches it.
 *
 * Security groups are NOT enforced between containers on the bridge (isolationEnforced false).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type Dockerode from 'dockerode';
import { getContainerRuntimeClient } from 'testcontainers';
import type { HostAttachment, TaskEni, TaskNetwork } from '../../ecs/deps.ts';
import { CloudMapDnsServer, type DnsZoneSource } from '../../network/dns-server.ts';
import { HARNESS_LABEL } from './images.ts';
import { LABEL_OWNER_PID, LABEL_RUN_ID } from './docker-runtime.ts';

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
  readonly isolationEnforced = false;
  readonly networkName: string;
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

  private constructor(private readonly opts: DockerFabricOptions) {
    if (opts.subnets.length === 0) throw new Error('the VPC has no subnets to place tasks in');
    this.networkName = `eh-${opts.runId}`;
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

  async attach(taskId: string, subnets: string[], _securityGroups: string[]): Promise<TaskEni> {
    const wanted = subnets.length ? subnets : [this.subnets[0]!.subnetId];
    const candidates = this.subnets.map((s, i) => ({ s, i })).filter(({ s }) => wanted.includes(s.subnetId));
    if (candidates.length === 0) throw new Error(`The subnet ID '${wanted.join(', ')}' does not exist`);
    const pick = candidates[this.used.size % candidates.length]!;
    const ip = this.allocate(pick.i);
    this.used.set(taskId, ip);
    return {
      eniId: `eni-${randomBytes(9).toString('hex').slice(0, 17)}`,
      ip,
      mac: `0a:${randomBytes(5).toString('hex').match(/../g)!.join(':')}`,
      subnetId: pick.s.subnetId,
      availabilityZone: pick.s.availabilityZone,
      privateDnsName: `ip-${ip.replace(/\./g, '-')}.${this.region}.compute.internal`,
      ...(this.dnsServer ? { dnsServer: `${this.gateway}:53`, dnsZones: this.opts.dns!.zones } : {}),
    };
  }

  async detach(taskId: string): Promise<void> {
    const ip = this.used.get(taskId);
    if (!ip) return;
    this.used.delete(taskId);
    this.byIp.delete(ip);
  }

  /** Harness hosts are the gateway: host processes can bind it, and containers reach it. */
  async attachHost(_name: string, _subnets: string[], _securityGroups: string[]): Promise<HostAttachment> {
    return { ip: this.gateway };
  }

  async detachHost(_name: string): Promise<void> {}

  /** Stops the DNS listener and removes the network (containers must be gone first). */
  private exitHook?: () => void;

  async close(): Promise<void> {
    if (this.exitHook) process.off('exit', this.exitHook);
    this.exitHook = undefined;
    await this.dnsServer?.stop().catch(() => undefined);
    this.dnsServer = undefined;
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
