import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cidrsOverlap, inCidr, protoMatch, renderEniRuleset, renderHostRuleset, sgAllows, type SgGroup, type SgView } from './sg-rules.ts';

const ALB = 'sg-0a0a0a0a0a0a0a0a0';
const GW = 'sg-0b0b0b0b0b0b0b0b0';
const AGENT = 'sg-0c0c0c0c0c0c0c0c0';

function view(): SgView {
  const groups = new Map<string, SgGroup>([
    [ALB, { groupId: ALB, ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' }], egress: [{ direction: 'egress', ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, referencedGroupId: GW }] }],
    [
      GW,
      {
        groupId: GW,
        ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, referencedGroupId: ALB }],
        egress: [{ direction: 'egress', ipProtocol: 'tcp', fromPort: 8081, toPort: 8082, referencedGroupId: AGENT }],
      },
    ],
    [
      AGENT,
      {
        groupId: AGENT,
        ingress: [{ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8081, toPort: 8082, referencedGroupId: GW }],
        egress: [{ direction: 'egress', ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' }],
      },
    ],
  ]);
  const members = new Map([
    [ALB, new Set(['10.0.1.5'])],
    [GW, new Set(['10.0.1.10'])],
    [AGENT, new Set(['10.0.2.10', '10.0.2.11'])],
  ]);
  return { groups, members, resolverIp: '10.0.0.2' };
}

describe('security groups evaluated (the expected column)', () => {
  it('admits a connection only when the source egress and the destination ingress both allow it', () => {
    const v = view();
    expect(sgAllows({ ip: '10.0.1.10', groupIds: [GW] }, { ip: '10.0.2.10', groupIds: [AGENT] }, 'tcp', 8081, v).allowed).toBe(true);
    expect(sgAllows({ ip: '10.0.1.10', groupIds: [GW] }, { ip: '10.0.2.10', groupIds: [AGENT] }, 'tcp', 8083, v).allowed).toBe(false);
    // the reverse direction: the agent's egress has no rule to the gateway
    const back = sgAllows({ ip: '10.0.2.10', groupIds: [AGENT] }, { ip: '10.0.1.10', groupIds: [GW] }, 'tcp', 8080, v);
    expect(back).toEqual({ allowed: false, why: expect.stringMatching(/no egress rule/) });
    // the internet (no groups) reaches the ALB on 443 only
    expect(sgAllows({ ip: '198.18.0.9' }, { ip: '10.0.1.5', groupIds: [ALB] }, 'tcp', 443, v).allowed).toBe(true);
    expect(sgAllows({ ip: '198.18.0.9' }, { ip: '10.0.1.10', groupIds: [GW] }, 'tcp', 8080, v).allowed).toBe(false);
    // agents reach anything on 443 (0.0.0.0/0 egress) when nothing filters the other end
    expect(sgAllows({ ip: '10.0.2.11', groupIds: [AGENT] }, { ip: '198.18.0.9' }, 'tcp', 443, v).allowed).toBe(true);
    // the VPC resolver is never filtered
    expect(sgAllows({ ip: '10.0.2.11', groupIds: [AGENT] }, { ip: '10.0.0.2' }, 'udp', 53, v).allowed).toBe(true);
  });

  it('a group reference admits members only, and a deleted group admits nothing', () => {
    const v = view();
    expect(sgAllows({ ip: '10.0.1.99', groupIds: [] }, { ip: '10.0.2.10', groupIds: [AGENT] }, 'tcp', 8081, v).allowed).toBe(false);
    v.groups.delete(AGENT);
    expect(sgAllows({ ip: '10.0.1.10', groupIds: [GW] }, { ip: '10.0.2.10', groupIds: [AGENT] }, 'tcp', 8081, v).allowed).toBe(false);
  });

  it('CIDR arithmetic', () => {
    expect(inCidr('10.0.0.0/16', '10.0.255.1')).toBe(true);
    expect(inCidr('10.0.0.0/16', '10.1.0.1')).toBe(false);
    expect(inCidr('0.0.0.0/0', '8.8.8.8')).toBe(true);
    expect(cidrsOverlap('10.0.0.0/16', '10.0.5.0/24')).toBe(true);
    expect(cidrsOverlap('10.0.0.0/16', '10.255.0.0/16')).toBe(false);
    expect(cidrsOverlap('0.0.0.0/0', '192.0.2.0/24')).toBe(true);
  });
});

describe('security groups rendered for nftables', () => {
  it('protocol and port matches: all traffic, ranges, single ports, icmp', () => {
    expect(protoMatch({ direction: 'ingress', ipProtocol: '-1' })).toBe('');
    expect(protoMatch({ direction: 'ingress', ipProtocol: 'tcp', fromPort: 8081, toPort: 8082 })).toBe('tcp dport 8081-8082');
    expect(protoMatch({ direction: 'ingress', ipProtocol: '6', fromPort: 443, toPort: 443 })).toBe('tcp dport 443');
    expect(protoMatch({ direction: 'ingress', ipProtocol: 'udp', fromPort: 0, toPort: 65535 })).toBe('meta l4proto udp');
    expect(protoMatch({ direction: 'ingress', ipProtocol: 'icmp', fromPort: -1, toPort: -1 })).toBe('ip protocol icmp');
    expect(protoMatch({ direction: 'ingress', ipProtocol: 'icmp', fromPort: 8, toPort: 0 })).toBe('icmp type 8 icmp code 0');
  });

  it('an ENI ruleset: stateful, drop by default, group references as sets of member IPs, DNS to the resolver', () => {
    const text = renderEniRuleset('eh00000001', [GW], view());
    expect(text).toContain('table inet eh00000001 {');
    expect(text).toMatch(/^delete table inet eh00000001$/m); // replaced atomically by nft -f
    expect(text).toContain(`set g_${ALB.replace(/-/g, '_')} { type ipv4_addr; elements = { 10.0.1.5 }; }`);
    expect(text).toContain(`set g_${AGENT.replace(/-/g, '_')} { type ipv4_addr; elements = { 10.0.2.10, 10.0.2.11 }; }`);
    expect(text).toContain('type filter hook input priority filter; policy drop;');
    expect(text).toContain('type filter hook output priority filter; policy drop;');
    expect(text).toContain('ct state established,related accept');
    expect(text).toContain(`ip saddr @g_${ALB.replace(/-/g, '_')} tcp dport 8080 accept`);
    expect(text).toContain(`ip daddr @g_${AGENT.replace(/-/g, '_')} tcp dport 8081-8082 accept`);
    expect(text).toContain('ip daddr 10.0.0.2 udp dport 53 accept');
    expect(text).not.toContain('10.0.1.10'); // its own address is in no rule
  });

  it('the host table filters only the hosts’ addresses (policy accept for everything else)', () => {
    expect(renderHostRuleset('eh00000001', [], view())).toBeUndefined();
    const text = renderHostRuleset('eh00000001', [{ name: 'alb', ip: '10.0.1.5', groupIds: [ALB] }], view())!;
    expect(text).toContain('type filter hook input priority filter; policy accept;');
    expect(text).toContain('ip daddr 10.0.1.5 jump h0_in');
    expect(text).toContain('ip saddr 10.0.1.5 jump h0_out');
    expect(text).toContain('meta nfproto ipv4 tcp dport 443 accept');
  });

  const root = typeof process.getuid === 'function' && process.getuid() === 0 && spawnSync('nft', ['--version']).status === 0;
  it('nft accepts both rulesets (nft --check, nothing applied)', () => {
    if (!root) {
      console.log('nft --check skipped: needs root and nft');
      return;
    }
    for (const text of [renderEniRuleset('eh00000001', [GW, AGENT, ALB], view()), renderHostRuleset('eh00000001', [{ name: 'alb', ip: '10.0.1.5', groupIds: [ALB] }], view())!]) {
      // `delete table` of a table that does not exist fails the check: check the definition part
      const def = text.split('\n').filter((l) => !/^delete table|^table inet \S+$/.test(l)).join('\n');
      const r = spawnSync('nft', ['--check', '-f', '-'], { input: def, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
  });
});
