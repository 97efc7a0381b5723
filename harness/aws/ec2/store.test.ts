import { describe, it, expect } from 'vitest';
import { type SecurityGroupChange } from './store.ts';
import { seededEc2Store } from './testing.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';

function seededStore() {
  return seededEc2Store(ACCOUNT, REGION);
}

describe('Ec2Store security groups', () => {
  it('creates a group with no ingress and one allow-all egress rule; names are unique per VPC', () => {
    const s = seededStore();
    const g = s.createSecurityGroup({ groupName: 'escher-gateway-sg', description: 'gateway', vpcId: 'vpc-0a1b2c3d4e5f60718' });
    expect(g.groupId).toMatch(/^sg-[0-9a-f]{17}$/);
    const snap = s.getSecurityGroup(g.groupId)!;
    expect(snap.ingress).toEqual([]);
    expect(snap.egress).toEqual([expect.objectContaining({ direction: 'egress', ipProtocol: '-1', cidrIpv4: '0.0.0.0/0' })]);
    expect(() => s.createSecurityGroup({ groupName: 'escher-gateway-sg', description: 'again', vpcId: 'vpc-0a1b2c3d4e5f60718' })).toThrow(
      expect.objectContaining({ code: 'InvalidGroup.Duplicate' }),
    );
    expect(() => s.createSecurityGroup({ groupName: 'x', description: 'd', vpcId: 'vpc-nope' })).toThrow(expect.objectContaining({ code: 'InvalidVpcID.NotFound' }));
    expect(() => s.createSecurityGroup({ groupName: 'x', description: 'd' })).toThrow(expect.objectContaining({ code: 'VPCIdNotSpecified' }));
    // the VPC's own 'default' group exists and cannot be deleted
    const def = s.listSecurityGroups().find((x) => x.groupName === 'default')!;
    expect(() => s.deleteSecurityGroup(def.groupId)).toThrow(expect.objectContaining({ code: 'CannotDelete' }));
  });

  it('authorizes, refuses duplicates atomically, revokes, and reports every change', () => {
    const s = seededStore();
    const changes: SecurityGroupChange[] = [];
    const off = s.onRulesChanged((c) => changes.push(c));
    const alb = s.createSecurityGroup({ groupName: 'escher-alb-sg', description: 'alb', vpcId: 'vpc-0a1b2c3d4e5f60718' });
    const gw = s.createSecurityGroup({ groupName: 'escher-gateway-sg', description: 'gw', vpcId: 'vpc-0a1b2c3d4e5f60718' });
    s.authorize(gw.groupId, 'ingress', [{ ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, groups: [{ groupId: alb.groupId }] }]);
    expect(() =>
      s.authorize(gw.groupId, 'ingress', [
        { ipProtocol: 'tcp', fromPort: 9000, toPort: 9000, ipRanges: [{ cidrIp: '10.0.0.0/16' }] },
        { ipProtocol: '6', fromPort: 8080, toPort: 8080, groups: [{ groupId: alb.groupId }] },
      ]),
    ).toThrow(expect.objectContaining({ code: 'InvalidPermission.Duplicate', message: `the specified rule "peer: ${alb.groupId}, TCP, from port: 8080, to port: 8080, ALLOW" already exists` }));
    expect(s.getSecurityGroup(gw.groupId)!.ingress).toHaveLength(1); // nothing of the failed request was added
    s.revoke(gw.groupId, 'egress', { perms: [{ ipProtocol: '-1', ipRanges: [{ cidrIp: '0.0.0.0/0' }] }] });
    expect(s.getSecurityGroup(gw.groupId)!.egress).toEqual([]);
    expect(() => s.revoke(gw.groupId, 'egress', { perms: [{ ipProtocol: '-1', ipRanges: [{ cidrIp: '0.0.0.0/0' }] }] })).toThrow(
      expect.objectContaining({ code: 'InvalidPermission.NotFound' }),
    );
    off();
    s.authorize(alb.groupId, 'ingress', [{ ipProtocol: 'tcp', fromPort: 443, toPort: 443, ipRanges: [{ cidrIp: '0.0.0.0/0' }] }]);
    expect(changes.map((c) => `${c.type}:${c.direction ?? ''}`)).toEqual(['created:', 'created:', 'authorized:ingress', 'revoked:egress']);
    expect(changes[2]!.rules![0]).toMatchObject({ groupId: gw.groupId, referencedGroupId: alb.groupId, fromPort: 8080 });
  });

  it('validates protocols, ports and CIDRs as AWS does', () => {
    const s = seededStore();
    const g = s.createSecurityGroup({ groupName: 'g', description: 'd', vpcId: 'vpc-0a1b2c3d4e5f60718' });
    const bad = (perm: any, code: string) => expect(() => s.authorize(g.groupId, 'ingress', [perm])).toThrow(expect.objectContaining({ code }));
    bad({ ipProtocol: 'tcp', ipRanges: [{ cidrIp: '0.0.0.0/0' }] }, 'InvalidParameterValue');
    bad({ ipProtocol: 'tcp', fromPort: 9, toPort: 8, ipRanges: [{ cidrIp: '0.0.0.0/0' }] }, 'InvalidParameterValue');
    bad({ ipProtocol: 'tcp', fromPort: 1, toPort: 2, ipRanges: [{ cidrIp: '10.0.0/8' }] }, 'InvalidParameterValue');
    bad({ ipProtocol: 'bogus', ipRanges: [{ cidrIp: '0.0.0.0/0' }] }, 'InvalidParameterValue');
    bad({ ipProtocol: 'tcp', fromPort: 1, toPort: 2, groups: [{ groupId: 'sg-0000000000000000f' }] }, 'InvalidGroup.NotFound');
    bad({ ipProtocol: 'tcp', fromPort: 1, toPort: 2, groups: [{ groupId: 'nope' }] }, 'InvalidGroupId.Malformed');
    const [all] = s.authorize(g.groupId, 'ingress', [{ ipProtocol: 'all', fromPort: 5, toPort: 6, ipRanges: [{ cidrIp: '10.0.0.0/8' }] }]);
    expect(all).toMatchObject({ ipProtocol: '-1', fromPort: undefined, toPort: undefined });
  });

  it('refuses to delete a group another group references, or one in use', () => {
    const s = seededStore();
    const a = s.createSecurityGroup({ groupName: 'a', description: 'd', vpcId: 'vpc-0a1b2c3d4e5f60718' });
    const b = s.createSecurityGroup({ groupName: 'b', description: 'd', vpcId: 'vpc-0a1b2c3d4e5f60718' });
    s.authorize(b.groupId, 'ingress', [{ ipProtocol: 'tcp', fromPort: 1, toPort: 1, groups: [{ groupId: a.groupId }] }]);
    expect(() => s.deleteSecurityGroup(a.groupId)).toThrow(expect.objectContaining({ code: 'DependencyViolation', message: `resource ${a.groupId} has a dependent object` }));
    s.deleteSecurityGroup(b.groupId);
    const release = s.addInUseCheck((id) => id === a.groupId);
    expect(() => s.deleteSecurityGroup(a.groupId)).toThrow(expect.objectContaining({ code: 'DependencyViolation' }));
    release();
    s.deleteSecurityGroup(a.groupId);
    expect(s.getSecurityGroup(a.groupId)).toBeUndefined();
    expect(() => s.deleteSecurityGroup(a.groupId)).toThrow(expect.objectContaining({ code: 'InvalidGroup.NotFound' }));
  });

  it('hands out snapshots, not live state', () => {
    const s = seededStore();
    const g = s.createSecurityGroup({ groupName: 'a', description: 'd', vpcId: 'vpc-0a1b2c3d4e5f60718' });
    s.getSecurityGroup(g.groupId)!.egress.length = 0;
    expect(s.getSecurityGroup(g.groupId)!.egress).toHaveLength(1);
  });
});
