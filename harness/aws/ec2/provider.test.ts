import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createEc2Provider } from './provider.ts';
import { seededEc2Store, TEST_VPC_ID, TEST_SUBNETS } from './testing.ts';
import { startTestEdge, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { parseFormBody } from '../protocol/query.ts';
import type { RequestContext } from '../protocol/types.ts';

const ctx: RequestContext = { requestId: 'r-1', region: TEST_REGION, account: TEST_ACCOUNT, signingName: 'ec2' };

/** Calls an operation with a form body exactly as the CLI sends it. */
function setup() {
  const store = seededEc2Store(TEST_ACCOUNT, TEST_REGION);
  const ops = createEc2Provider(store).operations as Record<string, (i: any, c: RequestContext) => any>;
  const call = (form: string) => {
    const { action, params } = parseFormBody(form);
    return ops[action]!(params, ctx);
  };
  return { store, call };
}

const enc = encodeURIComponent;

describe('EC2 provider operations (CLI-shaped form bodies)', () => {
  it('describes the seeded VPC, subnets (by id and filters) and zones', () => {
    const { call } = setup();
    const vpcs = call('Action=DescribeVpcs&Version=2016-11-15').vpcSet;
    expect(vpcs).toEqual([expect.objectContaining({ vpcId: TEST_VPC_ID, cidrBlock: '10.0.0.0/16', state: 'available', isDefault: false })]);
    const byVpc = call(`Action=DescribeSubnets&Filter.1.Name=vpc-id&Filter.1.Value.1=${TEST_VPC_ID}`).subnetSet;
    expect(byVpc.map((s: any) => s.subnetId)).toEqual([...TEST_SUBNETS]);
    expect(byVpc[0]).toMatchObject({ cidrBlock: '10.0.1.0/24', availabilityZone: 'us-west-1a', availableIpAddressCount: 251, tagSet: [{ key: 'Name', value: 'escher-private-1' }] });
    expect(call(`Action=DescribeSubnets&Filter.1.Name=tag:Name&Filter.1.Value.1=${enc('*-2')}`).subnetSet.map((s: any) => s.subnetId)).toEqual([TEST_SUBNETS[1]]);
    expect(call(`Action=DescribeSubnets&SubnetId.1=${TEST_SUBNETS[0]}`).subnetSet).toHaveLength(1);
    expect(call('Action=DescribeSubnets&Filter.1.Name=tag-key&Filter.1.Value.1=Nope').subnetSet).toEqual([]);
    expect(() => call('Action=DescribeSubnets&SubnetId.1=subnet-0ffffffffffffffff')).toThrow(expect.objectContaining({ code: 'InvalidSubnetID.NotFound' }));
    expect(() => call('Action=DescribeSubnets&Filter.1.Name=bogus&Filter.1.Value.1=x')).toThrow(expect.objectContaining({ code: 'InvalidParameterValue' }));
    const zones = call('Action=DescribeAvailabilityZones').availabilityZoneInfo;
    expect(zones.map((z: any) => z.zoneName)).toEqual(['us-west-1a', 'us-west-1b']);
    expect(zones[0]).toMatchObject({ zoneState: 'available', regionName: TEST_REGION, zoneId: 'usw1-az1' });
  });

  it('runs the deploy scripts security-group flow', () => {
    const { call, store } = setup();
    const find = (name: string) =>
      call(`Action=DescribeSecurityGroups&Filter.1.Name=group-name&Filter.1.Value.1=${name}&Filter.2.Name=vpc-id&Filter.2.Value.1=${TEST_VPC_ID}`).securityGroupInfo;
    expect(find('escher-alb-sg')).toEqual([]);
    const alb = call(`Action=CreateSecurityGroup&GroupName=escher-alb-sg&GroupDescription=${enc('ALB')}&VpcId=${TEST_VPC_ID}`).groupId;
    const gw = call(`Action=CreateSecurityGroup&GroupName=escher-gateway-sg&GroupDescription=gw&VpcId=${TEST_VPC_ID}` +
      '&TagSpecification.1.ResourceType=security-group&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=gw').groupId;
    const [described] = find('escher-alb-sg');
    expect(described).toMatchObject({ groupId: alb, groupName: 'escher-alb-sg', groupDescription: 'ALB', vpcId: TEST_VPC_ID, ownerId: TEST_ACCOUNT, ipPermissions: [] });
    expect(described.ipPermissionsEgress).toEqual([{ ipProtocol: '-1', groups: [], ipRanges: [{ cidrIp: '0.0.0.0/0' }], ipv6Ranges: [], prefixListIds: [] }]);

    // --ip-permissions 'IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]'
    const revoked = call(`Action=RevokeSecurityGroupEgress&GroupId=${gw}&IpPermissions.1.IpProtocol=-1&IpPermissions.1.IpRanges.1.CidrIp=${enc('0.0.0.0/0')}`);
    expect(revoked.return).toBe(true);
    // --protocol tcp --port 8080 --source-group <alb>
    const r1 = call(`Action=AuthorizeSecurityGroupIngress&GroupId=${gw}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=8080&IpPermissions.1.ToPort=8080&IpPermissions.1.Groups.1.GroupId=${alb}`);
    expect(r1.return).toBe(true);
    expect(r1.securityGroupRuleSet[0]).toMatchObject({ groupId: gw, isEgress: false, ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, referencedGroupInfo: { groupId: alb } });
    expect(r1.securityGroupRuleSet[0].securityGroupRuleId).toMatch(/^sgr-[0-9a-f]{17}$/);
    // --protocol tcp --port 8081-8082 --cidr 10.0.0.0/16
    call(`Action=AuthorizeSecurityGroupEgress&GroupId=${gw}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=8081&IpPermissions.1.ToPort=8082&IpPermissions.1.IpRanges.1.CidrIp=${enc('10.0.0.0/16')}&IpPermissions.1.IpRanges.1.Description=agents`);
    expect(() => call(`Action=AuthorizeSecurityGroupIngress&GroupId=${gw}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=8080&IpPermissions.1.ToPort=8080&IpPermissions.1.Groups.1.GroupId=${alb}`)).toThrow(
      expect.objectContaining({ code: 'InvalidPermission.Duplicate' }),
    );
    const g = store.getSecurityGroup(gw)!;
    expect(g.tags).toEqual([{ Key: 'Name', Value: 'gw' }]);
    expect(g.egress).toEqual([expect.objectContaining({ ipProtocol: 'tcp', fromPort: 8081, toPort: 8082, cidrIpv4: '10.0.0.0/16', description: 'agents' })]);
    const [gwOut] = call(`Action=DescribeSecurityGroups&GroupId.1=${gw}`).securityGroupInfo;
    expect(gwOut.ipPermissions).toEqual([{ ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, groups: [{ userId: TEST_ACCOUNT, groupId: alb, description: undefined }], ipRanges: [], ipv6Ranges: [], prefixListIds: [] }]);
    expect(call(`Action=DescribeSecurityGroups&Filter.1.Name=tag:Name&Filter.1.Value.1=gw`).securityGroupInfo.map((x: any) => x.groupId)).toEqual([gw]);
    expect(call(`Action=DescribeSecurityGroupRules&Filter.1.Name=group-id&Filter.1.Value.1=${gw}`).securityGroupRuleSet).toHaveLength(2);

    expect(() => call(`Action=DeleteSecurityGroup&GroupId=${alb}`)).toThrow(expect.objectContaining({ code: 'DependencyViolation' }));
    call(`Action=RevokeSecurityGroupIngress&GroupId=${gw}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=8080&IpPermissions.1.ToPort=8080&IpPermissions.1.Groups.1.GroupId=${alb}`);
    expect(call(`Action=DeleteSecurityGroup&GroupId=${alb}`)).toEqual({ return: true, groupId: alb });
    expect(() => call(`Action=DescribeSecurityGroups&GroupId.1=${alb}`)).toThrow(expect.objectContaining({ code: 'InvalidGroup.NotFound' }));
    // group names only resolve in the default VPC, as in AWS
    expect(() => call('Action=DescribeSecurityGroups&GroupName.1=escher-gateway-sg')).toThrow(expect.objectContaining({ code: 'VPCIdNotSpecified' }));
  });

  it('tags and describes tags; honours DryRun', () => {
    const { call } = setup();
    call(`Action=CreateTags&ResourceId.1=${TEST_VPC_ID}&Tag.1.Key=Name&Tag.1.Value=escher-vpc`);
    expect(call(`Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1=${TEST_VPC_ID}`).tagSet).toEqual([
      { resourceId: TEST_VPC_ID, resourceType: 'vpc', key: 'Name', value: 'escher-vpc' },
    ]);
    call(`Action=DeleteTags&ResourceId.1=${TEST_VPC_ID}&Tag.1.Key=Name`);
    expect(call(`Action=DescribeVpcs&VpcId.1=${TEST_VPC_ID}`).vpcSet[0].tagSet).toBeUndefined();
    expect(() => call(`Action=CreateSecurityGroup&GroupName=x&GroupDescription=d&VpcId=${TEST_VPC_ID}&DryRun=true`)).toThrow(
      expect.objectContaining({ code: 'DryRunOperation', statusCode: 412 }),
    );
  });
});

describe('EC2 through the edge', () => {
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  beforeAll(async () => {
    edge = await startTestEdge([createEc2Provider(seededEc2Store(TEST_ACCOUNT, TEST_REGION))]);
  });
  afterAll(() => edge.stop());

  const post = async (body: string) => {
    const res = await fetch(edge.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        authorization: `AWS4-HMAC-SHA256 Credential=AKID/20250101/${TEST_REGION}/ec2/aws4_request, SignedHeaders=host, Signature=x`,
      },
      body,
    });
    return { status: res.status, xml: await res.text() };
  };

  it('answers in the ec2 XML shape: lowerCamel, <item> lists, no Result wrapper', async () => {
    const created = await post(`Action=CreateSecurityGroup&Version=2016-11-15&GroupName=web&GroupDescription=web&VpcId=${TEST_VPC_ID}`);
    expect(created.status).toBe(200);
    expect(created.xml).toMatch(/<CreateSecurityGroupResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/"><requestId>[^<]+<\/requestId><return>true<\/return><groupId>sg-[0-9a-f]{17}<\/groupId>/);
    const d = await post('Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=group-name&Filter.1.Value.1=web');
    expect(d.xml).toContain('<securityGroupInfo><item><ownerId>');
    expect(d.xml).toContain('<ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><groups></groups><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>');
    expect(d.xml).not.toContain('Result>');
    const missing = await post('Action=DeleteSecurityGroup&Version=2016-11-15&GroupId=sg-0123456789abcdef0');
    expect(missing.status).toBe(400);
    expect(missing.xml).toContain('<Response><Errors><Error><Code>InvalidGroup.NotFound</Code>');
  });
});
