import { AwsError } from '../protocol/errors.ts';
import type { Operation, ServiceProvider } from '../protocol/types.ts';
import { ec2Errors, type Ec2Store, type IpPermissionSpec, type SecurityGroup, type SecurityGroupRule, type Subnet, type Tag, type Vpc } from './store.ts';

/*
 * EC2 query wire, as both CLIs and the SDK send it (checked against captured requests):
 *   GroupId.N / GroupName.N / SubnetId.N / VpcId.N / ZoneName.N / ResourceId.N   (lists)
 *   Filter.N.Name + Filter.N.Value.M
 *   GroupDescription (CreateSecurityGroup's Description member)
 *   IpPermissions.N.{IpProtocol, FromPort, ToPort, IpRanges.M.{CidrIp, Description},
 *                    Groups.M.{GroupId, GroupName, UserId, Description}}
 *     (the CLI turns --protocol/--port 8081-8082/--cidr/--source-group into exactly this)
 *   TagSpecification.N.{ResourceType, Tag.M.{Key, Value}}; Tag.N.{Key, Value}; SecurityGroupRuleId.N
 * Responses: lowerCamel elements, lists as <item>, no Result wrapper.
 */

type Input = Record<string, any>;
type Filter = { Name: string; Values: string[] };

function list(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'object') return Object.values(v as object).map(String);
  return [String(v)];
}

function objList<T = Input>(v: unknown): T[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v as T[];
  if (typeof v === 'object') return [v as T];
  return [];
}

function int(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw ec2Errors.invalidParameterValue(`Invalid value '${String(v)}' for ${name}. It must be an integer.`);
  return n;
}

function filtersOf(input: Input): Filter[] {
  return objList(input.Filter).map((f) => {
    if (!f || typeof f.Name !== 'string') throw ec2Errors.invalidParameterValue('The filter name is missing.');
    return { Name: f.Name, Values: list(f.Value) };
  });
}

/** EC2 filter values allow `*` and `?` wildcards. */
function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
}

/** Applies Filter.N: all filters must match, any value of a filter may. `tag:<k>` and `tag-key` are generic. */
function applyFilters<T extends { tags: Tag[] }>(items: T[], filters: Filter[], fields: Record<string, (x: T) => (string | undefined)[]>): T[] {
  return items.filter((item) =>
    filters.every((f) => {
      let values: (string | undefined)[];
      if (f.Name.startsWith('tag:')) values = item.tags.filter((t) => t.Key === f.Name.slice(4)).map((t) => t.Value);
      else if (f.Name === 'tag-key') values = item.tags.map((t) => t.Key);
      else if (f.Name === 'tag-value') values = item.tags.map((t) => t.Value);
      else {
        const get = fields[f.Name];
        if (!get) throw ec2Errors.invalidParameterValue(`The filter '${f.Name}' is invalid`);
        values = get(item);
      }
      const res = f.Values.map(glob);
      return values.some((v) => v !== undefined && res.some((re) => re.test(v)));
    }),
  );
}

function page<T>(items: T[], input: Input, what: string): { items: T[]; nextToken?: string } {
  const max = int(input.MaxResults, 'MaxResults');
  let start = 0;
  if (input.NextToken !== undefined) {
    const m = new RegExp(`^${what}-(\\d+)$`).exec(Buffer.from(String(input.NextToken), 'base64').toString('utf8'));
    if (!m) throw new AwsError('InvalidNextToken', 'The token is not valid.');
    start = Number(m[1]);
  }
  if (max === undefined) return { items: items.slice(start) };
  if (max < 5 || max > 1000) throw ec2Errors.invalidParameterValue(`Value ( ${max} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000.`);
  const out = items.slice(start, start + max);
  const end = start + out.length;
  return { items: out, nextToken: end < items.length ? Buffer.from(`${what}-${end}`).toString('base64') : undefined };
}

function tagSet(tags: Tag[]) {
  return tags.map((t) => ({ key: t.Key, value: t.Value }));
}

function tagsFromSpecs(input: Input, resourceType: string): Tag[] {
  const out: Tag[] = [];
  for (const spec of objList(input.TagSpecification)) {
    if (spec.ResourceType !== undefined && spec.ResourceType !== resourceType) {
      throw ec2Errors.invalidParameterValue(`'${spec.ResourceType}' is not a valid taggable resource type for this operation.`);
    }
    for (const t of objList(spec.Tag)) out.push({ Key: String(t.Key), Value: t.Value === undefined ? '' : String(t.Value) });
  }
  return out;
}

function vpcOut(v: Vpc, owner: string) {
  return {
    vpcId: v.vpcId,
    ownerId: owner,
    state: 'available',
    cidrBlock: v.cidrBlock,
    cidrBlockAssociationSet: [{ associationId: v.cidrAssociationId, cidrBlock: v.cidrBlock, cidrBlockState: { state: 'associated' } }],
    dhcpOptionsId: v.dhcpOptionsId,
    instanceTenancy: 'default',
    isDefault: v.isDefault,
    tagSet: v.tags.length ? tagSet(v.tags) : undefined,
  };
}

function availableIps(cidr: string): number {
  const bits = Number(cidr.split('/')[1]);
  return Math.max(0, 2 ** (32 - bits) - 5);
}

function subnetOut(s: Subnet, store: Ec2Store) {
  return {
    subnetId: s.subnetId,
    subnetArn: `arn:aws:ec2:${store.region}:${store.account}:subnet/${s.subnetId}`,
    state: 'available',
    vpcId: s.vpcId,
    cidrBlock: s.cidrBlock,
    availableIpAddressCount: availableIps(s.cidrBlock),
    availabilityZone: s.availabilityZone,
    availabilityZoneId: s.availabilityZoneId,
    defaultForAz: false,
    mapPublicIpOnLaunch: s.mapPublicIpOnLaunch,
    ownerId: store.account,
    assignIpv6AddressOnCreation: false,
    ipv6CidrBlockAssociationSet: [],
    tagSet: s.tags.length ? tagSet(s.tags) : undefined,
  };
}

/** Flat rules → IpPermissions (grouped by protocol and ports, as DescribeSecurityGroups shows them). */
function ipPermissionsOut(rules: SecurityGroupRule[], owner: string) {
  const byKey = new Map<string, { ipProtocol: string; fromPort?: number; toPort?: number; groups: unknown[]; ipRanges: unknown[]; ipv6Ranges: unknown[]; prefixListIds: unknown[] }>();
  for (const r of rules) {
    const k = `${r.ipProtocol}|${r.fromPort ?? ''}|${r.toPort ?? ''}`;
    let p = byKey.get(k);
    if (!p) {
      p = { ipProtocol: r.ipProtocol, fromPort: r.fromPort, toPort: r.toPort, groups: [], ipRanges: [], ipv6Ranges: [], prefixListIds: [] };
      byKey.set(k, p);
    }
    if (r.cidrIpv4) p.ipRanges.push({ cidrIp: r.cidrIpv4, description: r.description });
    if (r.referencedGroupId) p.groups.push({ description: r.description, userId: owner, groupId: r.referencedGroupId });
  }
  return [...byKey.values()];
}

function groupOut(g: SecurityGroup) {
  return {
    ownerId: g.ownerId,
    groupId: g.groupId,
    groupName: g.groupName,
    groupDescription: g.description,
    ipPermissions: ipPermissionsOut(g.ingress, g.ownerId),
    ipPermissionsEgress: ipPermissionsOut(g.egress, g.ownerId),
    vpcId: g.vpcId,
    securityGroupArn: g.arn,
    tagSet: g.tags.length ? tagSet(g.tags) : undefined,
  };
}

function ruleOut(r: SecurityGroupRule, store: Ec2Store) {
  return {
    securityGroupRuleId: r.ruleId,
    groupId: r.groupId,
    groupOwnerId: store.account,
    isEgress: r.direction === 'egress',
    ipProtocol: r.ipProtocol,
    fromPort: r.fromPort ?? -1,
    toPort: r.toPort ?? -1,
    cidrIpv4: r.cidrIpv4,
    referencedGroupInfo: r.referencedGroupId ? { groupId: r.referencedGroupId, userId: store.account } : undefined,
    description: r.description,
    tagSet: [],
    securityGroupRuleArn: `arn:aws:ec2:${store.region}:${store.account}:security-group-rule/${r.ruleId}`,
  };
}

function revokedOut(r: SecurityGroupRule) {
  return {
    securityGroupRuleId: r.ruleId,
    groupId: r.groupId,
    isEgress: r.direction === 'egress',
    ipProtocol: r.ipProtocol,
    fromPort: r.fromPort ?? -1,
    toPort: r.toPort ?? -1,
    cidrIpv4: r.cidrIpv4,
    referencedGroupId: r.referencedGroupId,
    description: r.description,
  };
}

/** IpPermissions.N (and the legacy top-level CidrIp/IpProtocol/FromPort/ToPort/SourceSecurityGroupName). */
function permissionsOf(input: Input): IpPermissionSpec[] {
  const perms: IpPermissionSpec[] = objList(input.IpPermissions).map((p) => {
    if (objList(p.Ipv6Ranges).length || objList(p.PrefixListIds).length) {
      throw ec2Errors.invalidParameterValue('IPv6 ranges and prefix lists are not emulated by the harness.');
    }
    return {
      ipProtocol: p.IpProtocol === undefined ? '' : String(p.IpProtocol),
      fromPort: int(p.FromPort, 'fromPort'),
      toPort: int(p.ToPort, 'toPort'),
      ipRanges: objList(p.IpRanges).map((r) => ({ cidrIp: String(r.CidrIp ?? ''), ...(r.Description !== undefined ? { description: String(r.Description) } : {}) })),
      groups: objList(p.Groups ?? p.UserIdGroupPairs).map((g) => ({
        ...(g.GroupId !== undefined ? { groupId: String(g.GroupId) } : {}),
        ...(g.GroupName !== undefined ? { groupName: String(g.GroupName) } : {}),
        ...(g.Description !== undefined ? { description: String(g.Description) } : {}),
      })),
    };
  });
  if (input.CidrIp !== undefined || input.SourceSecurityGroupName !== undefined || input.IpProtocol !== undefined) {
    perms.push({
      ipProtocol: input.IpProtocol === undefined ? '-1' : String(input.IpProtocol),
      fromPort: int(input.FromPort, 'fromPort'),
      toPort: int(input.ToPort, 'toPort'),
      ipRanges: input.CidrIp !== undefined ? [{ cidrIp: String(input.CidrIp) }] : [],
      groups: input.SourceSecurityGroupName !== undefined ? [{ groupName: String(input.SourceSecurityGroupName) }] : [],
    });
  }
  return perms;
}

function targetGroup(store: Ec2Store, input: Input, allowName: boolean): SecurityGroup {
  if (input.GroupId !== undefined) return store.requireGroup(String(input.GroupId));
  if (allowName && input.GroupName !== undefined) return store.requireGroupByName(String(input.GroupName));
  throw ec2Errors.missingParameter('groupId');
}

/** Wraps every operation: DryRun=true → DryRunOperation (412) after the request parsed. */
function withDryRun(ops: Record<string, Operation>): Record<string, Operation> {
  const out: Record<string, Operation> = {};
  for (const [name, op] of Object.entries(ops)) {
    out[name] = (input, ctx) => {
      if (input?.DryRun === 'true' || input?.DryRun === true) {
        throw new AwsError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
      }
      return op(input, ctx);
    };
  }
  return out;
}

/** Amazon EC2 (ec2 query protocol): VPC/subnet/AZ reads and security groups. */
export function createEc2Provider(store: Ec2Store): ServiceProvider {
  const authorize = (direction: 'ingress' | 'egress') => (input: Input) => {
    const g = targetGroup(store, input, direction === 'ingress');
    const perms = permissionsOf(input);
    if (perms.length === 0) throw ec2Errors.missingParameter('ipPermissions');
    const added = store.authorize(g.groupId, direction, perms);
    const tags = tagsFromSpecs(input, 'security-group-rule');
    return { return: true, securityGroupRuleSet: added.map((r) => ({ ...ruleOut(r, store), tagSet: tagSet(tags) })) };
  };
  const revoke = (direction: 'ingress' | 'egress') => (input: Input) => {
    const g = targetGroup(store, input, direction === 'ingress');
    const ruleIds = list(input.SecurityGroupRuleId);
    const perms = permissionsOf(input);
    if (perms.length === 0 && ruleIds.length === 0) throw ec2Errors.missingParameter('ipPermissions');
    const removed = store.revoke(g.groupId, direction, { perms, ruleIds });
    return { return: true, revokedSecurityGroupRuleSet: removed.map(revokedOut) };
  };

  return {
    serviceName: 'ec2',
    protocol: 'ec2',
    xmlNamespace: 'http://ec2.amazonaws.com/doc/2016-11-15/',
    validationErrorCode: 'InvalidParameterValue',
    operations: withDryRun({
      DescribeVpcs(input: Input) {
        const ids = list(input.VpcId);
        let vpcs = ids.length ? ids.map((id) => store.getVpc(id)) : store.listVpcs();
        vpcs = applyFilters(vpcs, filtersOf(input), {
          'vpc-id': (v) => [v.vpcId],
          cidr: (v) => [v.cidrBlock],
          'cidr-block-association.cidr-block': (v) => [v.cidrBlock],
          'is-default': (v) => [String(v.isDefault)],
          state: () => ['available'],
          'owner-id': () => [store.account],
          'dhcp-options-id': (v) => [v.dhcpOptionsId],
        });
        const p = page(vpcs, input, 'vpc');
        return { vpcSet: p.items.map((v) => vpcOut(v, store.account)), nextToken: p.nextToken };
      },

      DescribeSubnets(input: Input) {
        const ids = list(input.SubnetId);
        let subnets = ids.length ? ids.map((id) => store.getSubnet(id)) : store.listSubnets();
        subnets = applyFilters(subnets, filtersOf(input), {
          'vpc-id': (s) => [s.vpcId],
          'subnet-id': (s) => [s.subnetId],
          'cidr-block': (s) => [s.cidrBlock],
          cidr: (s) => [s.cidrBlock],
          cidrBlock: (s) => [s.cidrBlock],
          'availability-zone': (s) => [s.availabilityZone],
          availabilityZone: (s) => [s.availabilityZone],
          'availability-zone-id': (s) => [s.availabilityZoneId],
          'default-for-az': () => ['false'],
          'map-public-ip-on-launch': (s) => [String(s.mapPublicIpOnLaunch)],
          state: () => ['available'],
          'owner-id': () => [store.account],
        });
        const p = page(subnets, input, 'subnet');
        return { subnetSet: p.items.map((s) => subnetOut(s, store)), nextToken: p.nextToken };
      },

      DescribeAvailabilityZones(input: Input) {
        const names = list(input.ZoneName);
        const ids = list(input.ZoneId);
        let zones = store.availabilityZones().map((z) => ({ ...z, tags: [] as Tag[] }));
        for (const n of names) if (!zones.some((z) => z.zoneName === n)) throw ec2Errors.invalidParameterValue(`The zone '${n}' does not exist.`);
        if (names.length) zones = zones.filter((z) => names.includes(z.zoneName));
        if (ids.length) zones = zones.filter((z) => ids.includes(z.zoneId));
        zones = applyFilters(zones, filtersOf(input), {
          'zone-name': (z) => [z.zoneName],
          'zone-id': (z) => [z.zoneId],
          state: () => ['available'],
          'region-name': () => [store.region],
          'zone-type': () => ['availability-zone'],
          'opt-in-status': () => ['opt-in-not-required'],
        });
        return {
          availabilityZoneInfo: zones.map((z) => ({
            optInStatus: 'opt-in-not-required',
            messageSet: [],
            regionName: store.region,
            zoneName: z.zoneName,
            zoneId: z.zoneId,
            groupName: store.region,
            networkBorderGroup: store.region,
            zoneType: 'availability-zone',
            zoneState: 'available',
          })),
        };
      },

      CreateSecurityGroup(input: Input) {
        if (input.GroupName === undefined) throw ec2Errors.missingParameter('groupName');
        if (input.GroupDescription === undefined) throw ec2Errors.missingParameter('groupDescription');
        const g = store.createSecurityGroup({
          groupName: String(input.GroupName),
          description: String(input.GroupDescription),
          vpcId: input.VpcId === undefined ? undefined : String(input.VpcId),
          tags: tagsFromSpecs(input, 'security-group'),
        });
        return { return: true, groupId: g.groupId, tagSet: g.tags.length ? tagSet(g.tags) : undefined, securityGroupArn: g.arn };
      },

      DescribeSecurityGroups(input: Input) {
        const ids = list(input.GroupId);
        const names = list(input.GroupName);
        let groups: SecurityGroup[];
        if (ids.length || names.length) {
          const picked = new Map<string, SecurityGroup>();
          for (const id of ids) picked.set(id, store.requireGroup(id));
          for (const n of names) {
            const g = store.requireGroupByName(n);
            picked.set(g.groupId, g);
          }
          groups = [...picked.values()];
        } else {
          groups = store.listSecurityGroups();
        }
        groups = applyFilters(groups, filtersOf(input), {
          'group-id': (g) => [g.groupId],
          'group-name': (g) => [g.groupName],
          'vpc-id': (g) => [g.vpcId],
          description: (g) => [g.description],
          'owner-id': (g) => [g.ownerId],
          'ip-permission.group-id': (g) => g.ingress.map((r) => r.referencedGroupId),
          'ip-permission.cidr': (g) => g.ingress.map((r) => r.cidrIpv4),
          'ip-permission.protocol': (g) => g.ingress.map((r) => r.ipProtocol),
          'ip-permission.from-port': (g) => g.ingress.map((r) => (r.fromPort === undefined ? undefined : String(r.fromPort))),
          'ip-permission.to-port': (g) => g.ingress.map((r) => (r.toPort === undefined ? undefined : String(r.toPort))),
          'egress.ip-permission.group-id': (g) => g.egress.map((r) => r.referencedGroupId),
          'egress.ip-permission.cidr': (g) => g.egress.map((r) => r.cidrIpv4),
        });
        const p = page(groups, input, 'sg');
        return { securityGroupInfo: p.items.map(groupOut), nextToken: p.nextToken };
      },

      DeleteSecurityGroup(input: Input) {
        const g = targetGroup(store, input, true);
        store.deleteSecurityGroup(g.groupId);
        return { return: true, groupId: g.groupId };
      },

      AuthorizeSecurityGroupIngress: authorize('ingress'),
      AuthorizeSecurityGroupEgress: authorize('egress'),
      RevokeSecurityGroupIngress: revoke('ingress'),
      RevokeSecurityGroupEgress: revoke('egress'),

      DescribeSecurityGroupRules(input: Input) {
        const ids = list(input.SecurityGroupRuleId);
        let rules = store.listSecurityGroups().flatMap((g) => [...g.ingress, ...g.egress].map((r) => ({ ...r, tags: [] as Tag[] })));
        for (const id of ids) if (!rules.some((r) => r.ruleId === id)) throw ec2Errors.ruleIdNotFound(id);
        if (ids.length) rules = rules.filter((r) => ids.includes(r.ruleId));
        rules = applyFilters(rules, filtersOf(input), {
          'group-id': (r) => [r.groupId],
          'security-group-rule-id': (r) => [r.ruleId],
        });
        const p = page(rules, input, 'sgr');
        return { securityGroupRuleSet: p.items.map((r) => ruleOut(r, store)), nextToken: p.nextToken };
      },

      CreateTags(input: Input) {
        const ids = list(input.ResourceId);
        if (!ids.length) throw ec2Errors.missingParameter('resourceIdSet');
        const tags = objList(input.Tag).map((t) => ({ Key: String(t.Key ?? ''), Value: t.Value === undefined ? '' : String(t.Value) }));
        if (!tags.length) throw ec2Errors.missingParameter('tagSet');
        store.createTags(ids, tags);
        return { return: true };
      },

      DeleteTags(input: Input) {
        const ids = list(input.ResourceId);
        if (!ids.length) throw ec2Errors.missingParameter('resourceIdSet');
        const tags = objList(input.Tag).map((t) => ({ Key: String(t.Key ?? ''), ...(t.Value !== undefined ? { Value: String(t.Value) } : {}) }));
        store.deleteTags(ids, tags);
        return { return: true };
      },

      DescribeTags(input: Input) {
        const all = [
          ...store.listVpcs().map((v) => v.vpcId),
          ...store.listSubnets().map((s) => s.subnetId),
          ...store.listSecurityGroups().map((g) => g.groupId),
        ].flatMap((id) => (store.tagsOf(id) ?? []).map((t) => ({ resourceId: id, resourceType: store.resourceType(id)!, key: t.Key, value: t.Value, tags: [] as Tag[] })));
        const found = applyFilters(all, filtersOf(input), {
          'resource-id': (t) => [t.resourceId],
          'resource-type': (t) => [t.resourceType],
          key: (t) => [t.key],
          value: (t) => [t.value],
        });
        const p = page(found, input, 'tag');
        return { tagSet: p.items.map(({ tags: _t, ...t }) => t), nextToken: p.nextToken };
      },
    }),
  };
}
