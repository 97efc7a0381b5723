import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  EC2Client,
  DescribeVpcsCommand,
  DescribeSubnetsCommand,
  DescribeAvailabilityZonesCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  AuthorizeSecurityGroupIngressCommand,
  AuthorizeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  RevokeSecurityGroupEgressCommand,
  DescribeSecurityGroupRulesCommand,
  DeleteSecurityGroupCommand,
  CreateTagsCommand,
  DescribeTagsCommand,
  DeleteTagsCommand,
} from '@aws-sdk/client-ec2';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { createEc2Provider } from './provider.ts';
import { seededEc2Store, TEST_VPC_ID, TEST_SUBNETS } from './testing.ts';
import type { SecurityGroupChange } from './store.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[ec2 contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

async function edgeWithStore() {
  const store = seededEc2Store(TEST_ACCOUNT, TEST_REGION);
  return { store, ...(await startTestEdge([createEc2Provider(store)])) };
}

describe.each(clis)('EC2 with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  beforeAll(async () => {
    env = await edgeWithStore();
  });
  afterAll(() => env.stop());
  const aws = async (...args: string[]) => {
    const r = await runAws(cli, env.url, args);
    return r;
  };
  const ok = async (...args: string[]) => {
    const r = await aws(...args);
    expect(r.code, `aws ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };

  it('reads the network the deploy runs in', async () => {
    const vpcs = await ok('ec2', 'describe-vpcs', '--vpc-ids', TEST_VPC_ID);
    expect(vpcs.json.Vpcs[0]).toMatchObject({ VpcId: TEST_VPC_ID, CidrBlock: '10.0.0.0/16', State: 'available', IsDefault: false });
    const subnets = await ok('ec2', 'describe-subnets', '--filters', `Name=vpc-id,Values=${TEST_VPC_ID}`, 'Name=tag:Name,Values=escher-private-*', '--query', 'Subnets[].SubnetId', '--output', 'text');
    expect(subnets.stdout.trim().split(/\s+/)).toEqual([...TEST_SUBNETS]);
    const byId = await ok('ec2', 'describe-subnets', '--subnet-ids', TEST_SUBNETS[1]);
    expect(byId.json.Subnets[0]).toMatchObject({ SubnetId: TEST_SUBNETS[1], AvailabilityZone: 'us-west-1b', AvailableIpAddressCount: 251, Tags: [{ Key: 'Name', Value: 'escher-private-2' }] });
    const zones = await ok('ec2', 'describe-availability-zones');
    expect(zones.json.AvailabilityZones.map((z: any) => [z.ZoneName, z.State])).toEqual([['us-west-1a', 'available'], ['us-west-1b', 'available']]);
  });

  it('creates groups and rules with every CLI spelling, and names error codes', async () => {
    const changes: SecurityGroupChange[] = [];
    const off = env.store.onRulesChanged((c) => changes.push(c));
    const alb = (await ok('ec2', 'create-security-group', '--group-name', 'escher-alb-sg', '--description', 'ALB', '--vpc-id', TEST_VPC_ID, '--query', 'GroupId', '--output', 'text')).stdout.trim();
    const gw = (await ok('ec2', 'create-security-group', '--group-name', 'escher-gateway-sg', '--description', 'Gateway', '--vpc-id', TEST_VPC_ID,
      '--tag-specifications', 'ResourceType=security-group,Tags=[{Key=Name,Value=gateway}]')).json.GroupId;
    expect(alb).toMatch(/^sg-[0-9a-f]{17}$/);

    // the deploy script's revoke_default_egress
    const egress = await ok('ec2', 'describe-security-groups', '--group-ids', gw, '--query', "SecurityGroups[0].IpPermissionsEgress[?IpProtocol=='-1'].IpRanges[].CidrIp", '--output', 'text');
    expect(egress.stdout.trim()).toBe('0.0.0.0/0');
    await ok('ec2', 'revoke-security-group-egress', '--group-id', gw, '--ip-permissions', 'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]');

    const src = await ok('ec2', 'authorize-security-group-ingress', '--group-id', gw, '--protocol', 'tcp', '--port', '8080', '--source-group', alb);
    if (cli.major === 'v2') expect(src.json).toMatchObject({ Return: true, SecurityGroupRules: [{ GroupId: gw, IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, ReferencedGroupInfo: { GroupId: alb } }] });
    await ok('ec2', 'authorize-security-group-ingress', '--group-id', alb, '--protocol', 'tcp', '--port', '443', '--cidr', '0.0.0.0/0');
    await ok('ec2', 'authorize-security-group-egress', '--group-id', gw, '--protocol', 'tcp', '--port', '8081-8082', '--cidr', '10.0.0.0/16');
    await ok('ec2', 'authorize-security-group-egress', '--group-id', alb, '--ip-permissions',
      JSON.stringify([{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: gw, Description: 'to gateway' }] }]));

    const dup = await aws('ec2', 'authorize-security-group-ingress', '--group-id', gw, '--ip-permissions', `IpProtocol=tcp,FromPort=8080,ToPort=8080,UserIdGroupPairs=[{GroupId=${alb}}]`, '--output', 'text');
    expect([254, 255]).toContain(dup.code);
    expect(dup.stderr).toContain('InvalidPermission.Duplicate');

    const found = await ok('ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=escher-gateway-sg', `Name=vpc-id,Values=${TEST_VPC_ID}`);
    const g = found.json.SecurityGroups[0];
    expect(g).toMatchObject({ GroupId: gw, GroupName: 'escher-gateway-sg', Description: 'Gateway', VpcId: TEST_VPC_ID, OwnerId: TEST_ACCOUNT, Tags: [{ Key: 'Name', Value: 'gateway' }] });
    expect(g.IpPermissions).toEqual([{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ UserId: TEST_ACCOUNT, GroupId: alb }], IpRanges: [], Ipv6Ranges: [], PrefixListIds: [] }]);
    expect(g.IpPermissionsEgress).toEqual([{ IpProtocol: 'tcp', FromPort: 8081, ToPort: 8082, UserIdGroupPairs: [], IpRanges: [{ CidrIp: '10.0.0.0/16' }], Ipv6Ranges: [], PrefixListIds: [] }]);

    const rules = await ok('ec2', 'describe-security-group-rules', '--filters', `Name=group-id,Values=${alb}`);
    expect(rules.json.SecurityGroupRules.map((r: any) => `${r.IsEgress}:${r.IpProtocol}:${r.FromPort}`).sort()).toEqual(['false:tcp:443', 'true:-1:-1', 'true:tcp:8080']);

    await ok('ec2', 'create-tags', '--resources', alb, '--tags', 'Key=Name,Value=alb');
    const tags = await ok('ec2', 'describe-tags', '--filters', `Name=resource-id,Values=${alb}`);
    expect(tags.json.Tags).toEqual([{ ResourceId: alb, ResourceType: 'security-group', Key: 'Name', Value: 'alb' }]);

    const inUse = await aws('ec2', 'delete-security-group', '--group-id', gw);
    expect([254, 255]).toContain(inUse.code);
    expect(inUse.stderr).toContain('DependencyViolation');
    await ok('ec2', 'revoke-security-group-ingress', '--group-id', gw, '--protocol', 'tcp', '--port', '8080', '--source-group', alb);
    await ok('ec2', 'revoke-security-group-egress', '--group-id', alb, '--protocol', 'tcp', '--port', '8080', '--source-group', gw);
    await ok('ec2', 'delete-security-group', '--group-id', gw);
    const gone = await aws('ec2', 'describe-security-groups', '--group-ids', gw);
    expect([254, 255]).toContain(gone.code);
    expect(gone.stderr).toContain('InvalidGroup.NotFound');
    off();
    expect(changes.map((c) => c.type)).toEqual(['created', 'created', 'revoked', 'authorized', 'authorized', 'authorized', 'authorized', 'revoked', 'revoked', 'deleted']);
  });
});

describe('EC2 with @aws-sdk/client-ec2', () => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  let ec2: EC2Client;
  beforeAll(async () => {
    env = await edgeWithStore();
    ec2 = new EC2Client(sdkConfig(env.url));
  });
  afterAll(async () => {
    ec2.destroy();
    await env.stop();
  });

  it('drives every operation and sees modeled errors by name', async () => {
    expect((await ec2.send(new DescribeVpcsCommand({}))).Vpcs?.[0]?.CidrBlockAssociationSet?.[0]?.CidrBlockState?.State).toBe('associated');
    const subnets = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [TEST_VPC_ID] }], SubnetIds: [TEST_SUBNETS[0]] }));
    expect(subnets.Subnets?.map((s) => s.SubnetId)).toEqual([TEST_SUBNETS[0]]);
    expect((await ec2.send(new DescribeAvailabilityZonesCommand({ ZoneNames: ['us-west-1a'] }))).AvailabilityZones?.[0]).toMatchObject({ ZoneName: 'us-west-1a', State: 'available' });

    const a = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'a', Description: 'A', VpcId: TEST_VPC_ID, TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'Name', Value: 'a' }] }] }));
    const b = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'b', Description: 'B', VpcId: TEST_VPC_ID }));
    const auth = await ec2.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: b.GroupId,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8001, ToPort: 8001, UserIdGroupPairs: [{ GroupId: a.GroupId, Description: 'from a' }], IpRanges: [{ CidrIp: '10.0.1.0/24', Description: 'subnet 1' }] }],
    }));
    expect(auth.Return).toBe(true);
    expect(auth.SecurityGroupRules).toHaveLength(2);
    await ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: a.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8001, ToPort: 8001, UserIdGroupPairs: [{ GroupId: b.GroupId }] }] }));
    const snap = env.store.getSecurityGroup(b.GroupId!)!;
    expect(snap.ingress.map((r) => r.referencedGroupId ?? r.cidrIpv4).sort()).toEqual(['10.0.1.0/24', a.GroupId].sort());
    expect(snap.ingress.find((r) => r.referencedGroupId)!.description).toBe('from a');

    const sgs = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [b.GroupId!], Filters: [{ Name: 'vpc-id', Values: [TEST_VPC_ID] }] }));
    expect(sgs.SecurityGroups?.[0]?.IpPermissions?.[0]).toMatchObject({ IpProtocol: 'tcp', FromPort: 8001, UserIdGroupPairs: [{ GroupId: a.GroupId, Description: 'from a' }], IpRanges: [{ CidrIp: '10.0.1.0/24', Description: 'subnet 1' }] });
    const rules = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [b.GroupId!] }] }));
    expect(rules.SecurityGroupRules?.filter((r) => !r.IsEgress)).toHaveLength(2);

    await ec2.send(new CreateTagsCommand({ Resources: [b.GroupId!], Tags: [{ Key: 'team', Value: 'escher' }] }));
    expect((await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'key', Values: ['team'] }] }))).Tags).toEqual([{ ResourceId: b.GroupId, ResourceType: 'security-group', Key: 'team', Value: 'escher' }]);
    await ec2.send(new DeleteTagsCommand({ Resources: [b.GroupId!], Tags: [{ Key: 'team' }] }));

    await expect(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: b.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8001, ToPort: 8001, UserIdGroupPairs: [{ GroupId: a.GroupId }] }] }))).rejects.toMatchObject({
      name: 'InvalidPermission.Duplicate',
    });
    await expect(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'a', Description: 'again', VpcId: TEST_VPC_ID }))).rejects.toMatchObject({ name: 'InvalidGroup.Duplicate' });
    await expect(ec2.send(new DeleteSecurityGroupCommand({ GroupId: a.GroupId }))).rejects.toMatchObject({ name: 'DependencyViolation' });

    await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: b.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8001, ToPort: 8001, UserIdGroupPairs: [{ GroupId: a.GroupId }] }] }));
    await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: a.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8001, ToPort: 8001, UserIdGroupPairs: [{ GroupId: b.GroupId }] }] }));
    await expect(ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: a.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8001, ToPort: 8001, UserIdGroupPairs: [{ GroupId: b.GroupId }] }] }))).rejects.toMatchObject({
      name: 'InvalidPermission.NotFound',
    });
    const del = await ec2.send(new DeleteSecurityGroupCommand({ GroupId: a.GroupId }));
    expect(del.Return).toBe(true);
    await expect(ec2.send(new DeleteSecurityGroupCommand({ GroupId: a.GroupId }))).rejects.toMatchObject({ name: 'InvalidGroup.NotFound', $metadata: { httpStatusCode: 400 } });
  });
});
