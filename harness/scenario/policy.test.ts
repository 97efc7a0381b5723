import { describe, expect, it } from 'vitest';
import { checkPolicy } from './policy.ts';
import type { SgGroup } from '../network/sg-rules.ts';

const groups: SgGroup[] = [
  { groupId: 'sg-0a1', groupName: 'web-lb', ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' }], egress: [{ direction: 'egress', ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, referencedGroupId: 'sg-0b2' }] },
  { groupId: 'sg-0b2', groupName: 'web-app', ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, referencedGroupId: 'sg-0a1' }], egress: [{ direction: 'egress', ipProtocol: 'tcp', fromPort: 7000, toPort: 7001, referencedGroupId: 'sg-0c3' }] },
  { groupId: 'sg-0c3', groupName: 'workers', ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 7000, toPort: 7000, referencedGroupId: 'sg-0b2' }], egress: [] },
];

describe('the manifest policy against the groups the scripts created', () => {
  it('holds where egress and ingress both admit it, says why not otherwise', () => {
    const v = checkPolicy(
      [
        { from: 'internet', to: 'web-lb', ports: '443' },
        { from: 'web-lb', to: 'web-app', ports: '8080' },
        { from: 'web-app', to: 'workers', ports: '7000-7001' },
        { from: 'workers', to: 'internet', ports: '443' },
        { from: 'web-app', to: 'cache', ports: '6379' },
      ],
      groups,
    );
    expect(v.map((x) => x.holds)).toEqual([true, true, false, false, false]);
    expect(v[2]!.why).toBe('port 7001: no ingress rule of workers admits a member of web-app on 7001/tcp');
    expect(v[3]!.why).toMatch(/^port 443: no egress rule of workers admits the internet:443\/tcp$/);
    expect(v[4]!.why).toBe('no security group named cache (the scripts did not create it)');
  });
});
