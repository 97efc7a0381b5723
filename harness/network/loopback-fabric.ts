import { createHash } from 'node:crypto';
import type { HostAttachment, TaskEni, TaskNetwork } from '../ecs/deps.ts';
import { candidateSubnets, newEniIdentity } from './eni.ts';

export interface SubnetInfo {
  subnetId: string;
  cidrBlock: string;
  availabilityZone: string;
}

/**
 * The VPC fabric without privileges: each task's "ENI" is its own loopback address
 * (127.B.S.H — B from the run id, S the subnet's index, H the host). Linux routes all of
 * 127/8 to lo, so tasks of one service can listen on the same port side by side. Nothing
 * separates them: security groups are NOT enforced here, and the run says so.
 */
export class LoopbackFabric implements TaskNetwork {
  readonly isolationEnforced = false;
  private readonly secondOctet: number;
  private readonly used = new Map<string, string>(); // taskId → ip
  private readonly byIp = new Set<string>();
  private next = new Map<number, number>();

  constructor(
    private readonly subnets: SubnetInfo[],
    runId: string,
    private readonly dns?: { server: string; zones: string[] },
    private readonly region = 'us-west-1',
  ) {
    if (subnets.length === 0) throw new Error('the VPC has no subnets to place tasks in');
    this.secondOctet = 100 + (createHash('sha256').update(runId).digest()[0]! % 100);
  }

  async attach(taskId: string, subnets: string[], _securityGroups: string[]): Promise<TaskEni> {
    // spread tasks across the service's subnets (AZs), as ECS does
    const candidates = candidateSubnets(this.subnets, subnets);
    const pick = candidates[this.used.size % candidates.length]!;
    const ip = this.allocate(pick.i);
    this.used.set(taskId, ip);
    return {
      ...newEniIdentity(),
      ip,
      subnetId: pick.s.subnetId,
      availabilityZone: pick.s.availabilityZone,
      privateDnsName: `ip-${ip.replace(/\./g, '-')}.${this.region}.compute.internal`,
      ...(this.dns ? { dnsServer: this.dns.server, dnsZones: this.dns.zones } : {}),
    };
  }

  private allocate(subnetIndex: number): string {
    for (let tries = 0; tries < 250; tries++) {
      const n = ((this.next.get(subnetIndex) ?? 10) - 10) % 240 + 10;
      this.next.set(subnetIndex, n + 1);
      const ip = `127.${this.secondOctet}.${subnetIndex + 1}.${n}`;
      if (!this.byIp.has(ip)) {
        this.byIp.add(ip);
        return ip;
      }
    }
    throw new Error('no free address left in the subnet');
  }

  /** Harness hosts get a loopback address of their own too (nothing enforces their groups). */
  async attachHost(name: string, subnets: string[], securityGroups: string[]): Promise<HostAttachment> {
    const eni = await this.attach(`host:${name}`, subnets, securityGroups);
    return { ip: eni.ip };
  }

  async detachHost(name: string): Promise<void> {
    await this.detach(`host:${name}`);
  }

  async detach(taskId: string): Promise<void> {
    const ip = this.used.get(taskId);
    if (!ip) return;
    this.used.delete(taskId);
    this.byIp.delete(ip);
  }
}
