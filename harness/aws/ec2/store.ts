import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';

export interface Ec2StoreDeps {
  account: string;
  region: string;
  now?: () => Date;
  events?: EventSink;
}

export interface Tag {
  Key: string;
  Value: string;
}

export interface Vpc {
  vpcId: string;
  cidrBlock: string;
  isDefault: boolean;
  dhcpOptionsId: string;
  cidrAssociationId: string;
  tags: Tag[];
}

export interface Subnet {
  subnetId: string;
  vpcId: string;
  cidrBlock: string;
  availabilityZone: string;
  availabilityZoneId: string;
  mapPublicIpOnLaunch: boolean;
  tags: Tag[];
}

/**
 * One security group rule, flattened as AWS's SecurityGroupRule: exactly one peer (a CIDR or a
 * referenced group). `ipProtocol` is `tcp`, `udp`, `icmp`, `icmpv6`, `-1` (all traffic) or a
 * protocol number; ports are absent when the protocol has none (-1, numbers), and for icmp
 * they are type/code (-1 = any).
 */
export interface SecurityGroupRule {
  ruleId: string;
  groupId: string;
  direction: 'ingress' | 'egress';
  ipProtocol: string;
  fromPort?: number;
  toPort?: number;
  cidrIpv4?: string;
  referencedGroupId?: string;
  description?: string;
}

export interface SecurityGroup {
  groupId: string;
  groupName: string;
  description: string;
  vpcId: string;
  ownerId: string;
  arn: string;
  tags: Tag[];
  ingress: SecurityGroupRule[];
  egress: SecurityGroupRule[];
}

/** One permission as a client states it (IpPermissions[] member), before flattening. */
export interface IpPermissionSpec {
  ipProtocol: string;
  fromPort?: number;
  toPort?: number;
  ipRanges?: { cidrIp: string; description?: string }[];
  groups?: { groupId?: string; groupName?: string; description?: string }[];
}

export interface SecurityGroupChange {
  type: 'created' | 'deleted' | 'authorized' | 'revoked';
  groupId: string;
  direction?: 'ingress' | 'egress';
  rules?: SecurityGroupRule[];
}

export interface SeedSubnet {
  subnetId: string;
  cidrBlock: string;
  availabilityZone: string;
  name?: string;
  mapPublicIpOnLaunch?: boolean;
}

export const ec2Errors = {
  invalidParameterValue: (msg: string) => new AwsError('InvalidParameterValue', msg),
  missingParameter: (name: string) => new AwsError('MissingParameter', `The request must contain the parameter ${name}`),
  groupNotFound: (id: string) => new AwsError('InvalidGroup.NotFound', `The security group '${id}' does not exist`),
  groupNotFoundInDefaultVpc: (name: string, vpcId: string) =>
    new AwsError('InvalidGroup.NotFound', `The security group '${name}' does not exist in default VPC '${vpcId}'`),
  groupIdMalformed: (id: string) => new AwsError('InvalidGroupId.Malformed', `Invalid id: "${id}" (expecting "sg-...")`),
  groupDuplicate: (name: string, vpcId: string) => new AwsError('InvalidGroup.Duplicate', `The security group '${name}' already exists for VPC '${vpcId}'`),
  noDefaultVpc: () => new AwsError('VPCIdNotSpecified', 'No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.'),
  vpcNotFound: (id: string) => new AwsError('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`),
  subnetNotFound: (id: string) => new AwsError('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`),
  permissionDuplicate: (desc: string) => new AwsError('InvalidPermission.Duplicate', `the specified rule "${desc}" already exists`),
  permissionNotFound: () => new AwsError('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.'),
  ruleIdNotFound: (id: string) => new AwsError('InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${id}' does not exist`),
  dependencyViolation: (id: string) => new AwsError('DependencyViolation', `resource ${id} has a dependent object`),
  cannotDeleteDefault: (id: string) => new AwsError('CannotDelete', `the specified group: "${id}" name: "default" cannot be deleted by a user`),
  invalidId: (id: string) => new AwsError('InvalidID', `The ID '${id}' is not valid`),
};

const PROTOCOL_NUMBERS: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6' };
const SG_ID = /^sg-[0-9a-f]{8,17}$/;

function hex(n: number): string {
  return randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
}

function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

function validCidr(cidr: string): boolean {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  return !!m && ipv4ToInt(m[1]!) !== undefined && Number(m[2]) <= 32;
}

function protoLabel(p: string): string {
  return p === '-1' ? 'ALL' : p.toUpperCase();
}

/** AWS's description of a rule in InvalidPermission.Duplicate messages. */
function describeRule(r: SecurityGroupRule): string {
  const peer = r.cidrIpv4 ?? r.referencedGroupId;
  if (r.fromPort === undefined) return `peer: ${peer}, ${protoLabel(r.ipProtocol)}, ALLOW`;
  if (r.ipProtocol === 'icmp' || r.ipProtocol === 'icmpv6') return `peer: ${peer}, ${protoLabel(r.ipProtocol)}, type: ${r.fromPort}, code: ${r.toPort}, ALLOW`;
  return `peer: ${peer}, ${protoLabel(r.ipProtocol)}, from port: ${r.fromPort}, to port: ${r.toPort}, ALLOW`;
}

function ruleKey(r: Pick<SecurityGroupRule, 'direction' | 'ipProtocol' | 'fromPort' | 'toPort' | 'cidrIpv4' | 'referencedGroupId'>): string {
  return [r.direction, r.ipProtocol, r.fromPort ?? '', r.toPort ?? '', r.cidrIpv4 ?? '', r.referencedGroupId ?? ''].join('|');
}

function regionCode(region: string): string {
  const [a = '', b = '', c = ''] = region.split('-');
  return `${a}${b.charAt(0)}${c}`;
}

/**
 * EC2 state the deploy needs: the seeded VPC and subnets, and security groups with their
 * rules (the deploy scripts create those). Every security group change is reported to
 * `onRulesChanged` listeners so the network fabric can re-enforce rules live.
 */
export class Ec2Store {
  readonly account: string;
  readonly region: string;
  readonly now: () => Date;
  private readonly sink?: EventSink;
  private readonly vpcs = new Map<string, Vpc>();
  private readonly subnets = new Map<string, Subnet>();
  private readonly groups = new Map<string, SecurityGroup>();
  private readonly emitter = new EventEmitter();
  private inUseChecks: ((groupId: string) => boolean)[] = [];

  constructor(deps: Ec2StoreDeps) {
    this.account = deps.account;
    this.region = deps.region;
    this.now = deps.now ?? (() => new Date());
    this.sink = deps.events;
    this.emitter.setMaxListeners(0);
  }

  // ------------------------------------------------------------------ VPCs ----

  /** Seeds a VPC (what existed before the deploy) with its subnets and its `default` group. */
  seedVpc(spec: { vpcId: string; cidrBlock: string; subnets: SeedSubnet[]; isDefault?: boolean; name?: string }): Vpc {
    if (this.vpcs.has(spec.vpcId)) throw new Error(`VPC ${spec.vpcId} is already seeded`);
    if (!validCidr(spec.cidrBlock)) throw new Error(`invalid VPC CIDR ${spec.cidrBlock}`);
    if (spec.isDefault && this.defaultVpc()) throw new Error('there is already a default VPC');
    const vpc: Vpc = {
      vpcId: spec.vpcId,
      cidrBlock: spec.cidrBlock,
      isDefault: spec.isDefault ?? false,
      dhcpOptionsId: `dopt-${hex(17)}`,
      cidrAssociationId: `vpc-cidr-assoc-${hex(17)}`,
      tags: spec.name ? [{ Key: 'Name', Value: spec.name }] : [],
    };
    this.vpcs.set(vpc.vpcId, vpc);
    for (const s of spec.subnets) {
      if (!validCidr(s.cidrBlock)) throw new Error(`invalid subnet CIDR ${s.cidrBlock}`);
      const letter = s.availabilityZone.slice(-1);
      this.subnets.set(s.subnetId, {
        subnetId: s.subnetId,
        vpcId: vpc.vpcId,
        cidrBlock: s.cidrBlock,
        availabilityZone: s.availabilityZone,
        availabilityZoneId: `${regionCode(this.region)}-az${Math.max(1, letter.charCodeAt(0) - 96)}`,
        mapPublicIpOnLaunch: s.mapPublicIpOnLaunch ?? false,
        tags: s.name ? [{ Key: 'Name', Value: s.name }] : [],
      });
    }
    // every VPC has a 'default' group: ingress from itself, egress to anywhere
    const def = this.newGroup('default', 'default VPC security group', vpc.vpcId, []);
    this.addRule(def, { direction: 'ingress', ipProtocol: '-1', referencedGroupId: def.groupId });
    this.addRule(def, { direction: 'egress', ipProtocol: '-1', cidrIpv4: '0.0.0.0/0' });
    this.sink?.append('ec2.vpc.seeded', { vpcId: vpc.vpcId, subnets: spec.subnets.map((s) => s.subnetId) });
    return vpc;
  }

  getVpc(id: string): Vpc {
    const v = this.vpcs.get(id);
    if (!v) throw ec2Errors.vpcNotFound(id);
    return v;
  }

  listVpcs(): Vpc[] {
    return [...this.vpcs.values()];
  }

  defaultVpc(): Vpc | undefined {
    return [...this.vpcs.values()].find((v) => v.isDefault);
  }

  getSubnet(id: string): Subnet {
    const s = this.subnets.get(id);
    if (!s) throw ec2Errors.subnetNotFound(id);
    return s;
  }

  listSubnets(): Subnet[] {
    return [...this.subnets.values()];
  }

  /** Zones of the seeded subnets, else the region's a/b/c. */
  availabilityZones(): { zoneName: string; zoneId: string }[] {
    const zones = new Map<string, string>();
    for (const s of this.subnets.values()) zones.set(s.availabilityZone, s.availabilityZoneId);
    if (zones.size === 0) for (const l of ['a', 'b', 'c']) zones.set(`${this.region}${l}`, `${regionCode(this.region)}-az${l.charCodeAt(0) - 96}`);
    return [...zones].sort(([a], [b]) => (a < b ? -1 : 1)).map(([zoneName, zoneId]) => ({ zoneName, zoneId }));
  }

  // -------------------------------------------------------- security groups ----

  createSecurityGroup(spec: { groupName: string; description: string; vpcId?: string; tags?: Tag[] }): SecurityGroup {
    const name = spec.groupName;
    if (!name || name.length > 255) throw ec2Errors.invalidParameterValue(`Invalid value '${name}' for groupName. Length of group name must be between 1 and 255 characters.`);
    if (name.startsWith('sg-')) throw ec2Errors.invalidParameterValue(`Group names may not be in the format sg-*.`);
    if (!spec.description || spec.description.length > 255) {
      throw ec2Errors.invalidParameterValue(`Invalid value for groupDescription. Length of group description must be between 1 and 255 characters.`);
    }
    let vpcId = spec.vpcId;
    if (vpcId === undefined) {
      const def = this.defaultVpc();
      if (!def) throw ec2Errors.noDefaultVpc();
      vpcId = def.vpcId;
    }
    this.getVpc(vpcId);
    if ([...this.groups.values()].some((g) => g.vpcId === vpcId && g.groupName === name)) throw ec2Errors.groupDuplicate(name, vpcId);
    const g = this.newGroup(name, spec.description, vpcId, spec.tags ?? []);
    // a new group: no ingress, one allow-all egress rule
    this.addRule(g, { direction: 'egress', ipProtocol: '-1', cidrIpv4: '0.0.0.0/0' });
    this.sink?.append('ec2.sg.created', { groupId: g.groupId, groupName: name, vpcId });
    this.emit({ type: 'created', groupId: g.groupId });
    return g;
  }

  /** A snapshot of a group (its rules included), or undefined. */
  getSecurityGroup(id: string): SecurityGroup | undefined {
    const g = this.groups.get(id);
    return g ? structuredClone(g) : undefined;
  }

  /** Snapshots of every group. */
  listSecurityGroups(): SecurityGroup[] {
    return [...this.groups.values()].map((g) => structuredClone(g));
  }

  /** The live group (provider use): malformed id → InvalidGroupId.Malformed, missing → InvalidGroup.NotFound. */
  requireGroup(id: string): SecurityGroup {
    if (!SG_ID.test(id)) throw ec2Errors.groupIdMalformed(id);
    const g = this.groups.get(id);
    if (!g) throw ec2Errors.groupNotFound(id);
    return g;
  }

  /** A group by name, which (outside a VpcId) only works in the default VPC, as in AWS. */
  requireGroupByName(name: string, vpcId?: string): SecurityGroup {
    const vpc = vpcId ?? this.defaultVpc()?.vpcId;
    if (!vpc) throw ec2Errors.noDefaultVpc();
    const g = [...this.groups.values()].find((x) => x.vpcId === vpc && x.groupName === name);
    if (!g) throw vpcId ? ec2Errors.groupNotFound(name) : ec2Errors.groupNotFoundInDefaultVpc(name, vpc);
    return g;
  }

  /**
   * Lets the harness refuse deleting a group still attached to something (a task ENI):
   * the check returns true while the group is in use.
   */
  addInUseCheck(check: (groupId: string) => boolean): () => void {
    this.inUseChecks.push(check);
    return () => {
      this.inUseChecks = this.inUseChecks.filter((c) => c !== check);
    };
  }

  deleteSecurityGroup(id: string): SecurityGroup {
    const g = this.requireGroup(id);
    if (g.groupName === 'default') throw ec2Errors.cannotDeleteDefault(id);
    for (const other of this.groups.values()) {
      if (other.groupId === id) continue;
      if ([...other.ingress, ...other.egress].some((r) => r.referencedGroupId === id)) throw ec2Errors.dependencyViolation(id);
    }
    if (this.inUseChecks.some((c) => c(id))) throw ec2Errors.dependencyViolation(id);
    this.groups.delete(id);
    this.sink?.append('ec2.sg.deleted', { groupId: id, groupName: g.groupName });
    this.emit({ type: 'deleted', groupId: id });
    return g;
  }

  /** Adds rules atomically; any duplicate (existing or within the request) → InvalidPermission.Duplicate. */
  authorize(groupId: string, direction: 'ingress' | 'egress', perms: IpPermissionSpec[]): SecurityGroupRule[] {
    const g = this.requireGroup(groupId);
    const planned = this.flatten(g, direction, perms);
    const existing = new Set([...g.ingress, ...g.egress].map(ruleKey));
    const seen = new Set<string>();
    for (const r of planned) {
      const k = ruleKey(r);
      if (existing.has(k) || seen.has(k)) throw ec2Errors.permissionDuplicate(describeRule({ ...r, ruleId: '', groupId }));
      seen.add(k);
    }
    const added = planned.map((r) => this.addRule(g, r));
    this.sink?.append('ec2.sg.authorized', { groupId, direction, rules: added.map((r) => describeRule(r)) });
    this.emit({ type: 'authorized', groupId, direction, rules: structuredClone(added) });
    return added;
  }

  /** Removes rules atomically; any rule that does not exist → InvalidPermission.NotFound. */
  revoke(groupId: string, direction: 'ingress' | 'egress', spec: { perms?: IpPermissionSpec[]; ruleIds?: string[] }): SecurityGroupRule[] {
    const g = this.requireGroup(groupId);
    const list = direction === 'ingress' ? g.ingress : g.egress;
    const remove = new Set<SecurityGroupRule>();
    for (const id of spec.ruleIds ?? []) {
      const r = list.find((x) => x.ruleId === id);
      if (!r) throw ec2Errors.ruleIdNotFound(id);
      remove.add(r);
    }
    for (const want of this.flatten(g, direction, spec.perms ?? [])) {
      const r = list.find((x) => ruleKey(x) === ruleKey(want));
      if (!r) throw ec2Errors.permissionNotFound();
      remove.add(r);
    }
    const removed = [...remove];
    const keep = list.filter((r) => !remove.has(r));
    if (direction === 'ingress') g.ingress = keep;
    else g.egress = keep;
    this.sink?.append('ec2.sg.revoked', { groupId, direction, rules: removed.map((r) => describeRule(r)) });
    this.emit({ type: 'revoked', groupId, direction, rules: structuredClone(removed) });
    return removed;
  }

  /** Calls listener after every security group change; returns an unsubscribe function. */
  onRulesChanged(listener: (change: SecurityGroupChange) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }

  // ------------------------------------------------------------------ tags ----

  /** The tag list of a VPC, subnet or security group (live), or undefined. */
  tagsOf(resourceId: string): Tag[] | undefined {
    return (this.groups.get(resourceId) ?? this.vpcs.get(resourceId) ?? this.subnets.get(resourceId))?.tags;
  }

  resourceType(resourceId: string): 'security-group' | 'vpc' | 'subnet' | undefined {
    if (this.groups.has(resourceId)) return 'security-group';
    if (this.vpcs.has(resourceId)) return 'vpc';
    if (this.subnets.has(resourceId)) return 'subnet';
    return undefined;
  }

  private requireTaggable(id: string): Tag[] {
    const tags = this.tagsOf(id);
    if (tags) return tags;
    if (id.startsWith('sg-')) throw ec2Errors.groupNotFound(id);
    if (id.startsWith('vpc-')) throw ec2Errors.vpcNotFound(id);
    if (id.startsWith('subnet-')) throw ec2Errors.subnetNotFound(id);
    throw ec2Errors.invalidId(id);
  }

  createTags(resourceIds: string[], tags: Tag[]): void {
    const lists = resourceIds.map((id) => this.requireTaggable(id));
    for (const list of lists) {
      for (const t of tags) {
        const i = list.findIndex((x) => x.Key === t.Key);
        if (i >= 0) list[i] = { Key: t.Key, Value: t.Value };
        else list.push({ Key: t.Key, Value: t.Value });
      }
    }
  }

  /** Deletes tags by key (and value, when given); no tags given deletes all. */
  deleteTags(resourceIds: string[], tags?: { Key: string; Value?: string }[]): void {
    for (const id of resourceIds) {
      const list = this.requireTaggable(id);
      const keep = list.filter((x) => tags !== undefined && tags.length > 0 && !tags.some((t) => t.Key === x.Key && (t.Value === undefined || t.Value === x.Value)));
      list.splice(0, list.length, ...keep);
    }
  }

  // --------------------------------------------------------------- helpers ----

  private newGroup(name: string, description: string, vpcId: string, tags: Tag[]): SecurityGroup {
    const groupId = `sg-${hex(17)}`;
    const g: SecurityGroup = {
      groupId,
      groupName: name,
      description,
      vpcId,
      ownerId: this.account,
      arn: `arn:aws:ec2:${this.region}:${this.account}:security-group/${groupId}`,
      tags: [...tags],
      ingress: [],
      egress: [],
    };
    this.groups.set(groupId, g);
    return g;
  }

  private addRule(g: SecurityGroup, r: Omit<SecurityGroupRule, 'ruleId' | 'groupId'>): SecurityGroupRule {
    const rule: SecurityGroupRule = { ruleId: `sgr-${hex(17)}`, groupId: g.groupId, ...r };
    (r.direction === 'ingress' ? g.ingress : g.egress).push(rule);
    return rule;
  }

  /** Validates client permissions and turns them into one rule per peer. */
  private flatten(g: SecurityGroup, direction: 'ingress' | 'egress', perms: IpPermissionSpec[]): Omit<SecurityGroupRule, 'ruleId' | 'groupId'>[] {
    const out: Omit<SecurityGroupRule, 'ruleId' | 'groupId'>[] = [];
    for (const p of perms) {
      const { ipProtocol, fromPort, toPort } = normalizePorts(p);
      const base = { direction, ipProtocol, fromPort, toPort };
      const ranges = p.ipRanges ?? [];
      const pairs = p.groups ?? [];
      if (ranges.length === 0 && pairs.length === 0) {
        throw ec2Errors.missingParameter('ipPermissions: an IP range or a security group (source or destination)');
      }
      for (const r of ranges) {
        if (!r.cidrIp || !validCidr(r.cidrIp)) {
          throw ec2Errors.invalidParameterValue(`Value (${r.cidrIp}) for parameter cidrIp is invalid. This is not a valid CIDR block.`);
        }
        out.push({ ...base, cidrIpv4: r.cidrIp, ...(r.description !== undefined ? { description: r.description } : {}) });
      }
      for (const pair of pairs) {
        let ref: SecurityGroup;
        if (pair.groupId !== undefined) ref = this.requireGroup(pair.groupId);
        else if (pair.groupName !== undefined) ref = this.requireGroupByName(pair.groupName, g.vpcId);
        else throw ec2Errors.missingParameter('groupId');
        out.push({ ...base, referencedGroupId: ref.groupId, ...(pair.description !== undefined ? { description: pair.description } : {}) });
      }
    }
    return out;
  }

  private emit(change: SecurityGroupChange): void {
    this.emitter.emit('change', change);
  }
}

/** Protocol names/numbers and port ranges as AWS normalizes them. */
function normalizePorts(p: IpPermissionSpec): { ipProtocol: string; fromPort?: number; toPort?: number } {
  const raw = String(p.ipProtocol ?? '').toLowerCase();
  if (raw === '') throw ec2Errors.missingParameter('ipProtocol');
  let proto = raw === 'all' ? '-1' : (PROTOCOL_NUMBERS[raw] ?? raw);
  if (!['tcp', 'udp', 'icmp', 'icmpv6', '-1'].includes(proto)) {
    if (!/^\d+$/.test(proto) || Number(proto) > 255) throw ec2Errors.invalidParameterValue(`Invalid value '${p.ipProtocol}' for IP protocol. Unknown protocol.`);
    proto = String(Number(proto));
  }
  if (proto === 'tcp' || proto === 'udp') {
    const { fromPort: from, toPort: to } = p;
    if (from === undefined || to === undefined) {
      throw ec2Errors.invalidParameterValue(`Invalid value 'null' for portRange. Must specify both from and to ports with TCP/UDP.`);
    }
    if (from < 0 || to > 65535 || from > to) {
      throw ec2Errors.invalidParameterValue(`Invalid value '${from}-${to}' for portRange. Must be in the range 0-65535 with fromPort <= toPort.`);
    }
    return { ipProtocol: proto, fromPort: from, toPort: to };
  }
  if (proto === 'icmp' || proto === 'icmpv6') {
    const type = p.fromPort ?? -1;
    const code = p.toPort ?? -1;
    if (type < -1 || type > 255 || code < -1 || code > 255) {
      throw ec2Errors.invalidParameterValue(`Invalid value '${type}' for icmp type or '${code}' for icmp code.`);
    }
    return { ipProtocol: proto, fromPort: type, toPort: code };
  }
  return { ipProtocol: proto };
}
