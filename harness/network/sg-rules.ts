/**
 * Security groups → nftables, and the same rules evaluated in TypeScript (for the probe
 * matrix's "expected" column). Pure functions: no processes, no kernel.
 *
 * AWS semantics (aws-semantics.md, EC2 security groups):
 * - stateful: replies to an allowed connection pass both ways (`ct state established,related`);
 * - allow-only: a packet no rule admits is dropped silently (the client times out);
 * - an ENI's groups are unioned; a group reference admits the primary private IPs of every ENI
 *   that is a member of the referenced group at the time; CIDRs admit the addresses in them;
 * - `-1` protocol = all traffic; tcp/udp port ranges; icmp type/code (-1 = any);
 * - traffic to the VPC resolver (base+2, port 53) is never filtered by security groups.
 */

/** The rule shape the fabric needs (structurally the EC2 store's SecurityGroupRule). */
export interface SgRule {
  direction: 'ingress' | 'egress';
  ipProtocol: string;
  fromPort?: number;
  toPort?: number;
  cidrIpv4?: string;
  referencedGroupId?: string;
}

export interface SgGroup {
  groupId: string;
  groupName?: string;
  ingress: SgRule[];
  egress: SgRule[];
}

/** What the rules of one ENI (or host address) are rendered from. */
export interface SgView {
  /** group id → group (missing = deleted: it admits nothing) */
  groups: Map<string, SgGroup>;
  /** group id → member IPv4 addresses (ENIs and harness hosts) */
  members: Map<string, Set<string>>;
  /** the VPC resolver (DNS on 53/udp+tcp is always allowed to it) */
  resolverIp: string;
}

const PROTO_NAMES: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6' };

function normProto(p: string): string {
  const l = p.toLowerCase();
  return PROTO_NAMES[l] ?? l;
}

/** An nft set name for a group's members. */
export function setNameOf(groupId: string): string {
  return `g_${groupId.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** The match part of one rule ("" = all traffic), or undefined when nft cannot express it here (IPv6-only). */
export function protoMatch(r: SgRule): string | undefined {
  const p = normProto(r.ipProtocol);
  if (p === '-1' || p === 'all') return '';
  if (p === 'tcp' || p === 'udp') {
    const from = r.fromPort;
    const to = r.toPort;
    if (from === undefined || to === undefined || from < 0 || (from <= 0 && to >= 65535)) return `meta l4proto ${p}`;
    return from === to ? `${p} dport ${from}` : `${p} dport ${from}-${to}`;
  }
  if (p === 'icmp') {
    let m = 'ip protocol icmp';
    if (r.fromPort !== undefined && r.fromPort >= 0) {
      m = `icmp type ${r.fromPort}`;
      if (r.toPort !== undefined && r.toPort >= 0) m += ` icmp code ${r.toPort}`;
    }
    return m;
  }
  if (p === 'icmpv6') return undefined;
  if (/^\d+$/.test(p)) return `ip protocol ${p}`;
  return `meta l4proto ${p}`;
}

/** nft statements (without the verdict) that a rule admits, for the given direction. */
export function ruleStatements(r: SgRule, view: SgView): string[] {
  const proto = protoMatch(r);
  if (proto === undefined) return [];
  const field = r.direction === 'ingress' ? 'saddr' : 'daddr';
  let peer: string;
  if (r.cidrIpv4) peer = r.cidrIpv4 === '0.0.0.0/0' ? 'meta nfproto ipv4' : `ip ${field} ${r.cidrIpv4}`;
  else if (r.referencedGroupId) peer = `ip ${field} @${setNameOf(r.referencedGroupId)}`;
  else return [];
  return [[peer, proto].filter(Boolean).join(' ')];
}

function referencedGroups(groupIds: string[], view: SgView): string[] {
  const out = new Set<string>();
  for (const id of groupIds) {
    const g = view.groups.get(id);
    for (const r of [...(g?.ingress ?? []), ...(g?.egress ?? [])]) if (r.referencedGroupId) out.add(r.referencedGroupId);
  }
  return [...out].sort();
}

function setDefs(groupIds: string[], view: SgView, indent: string): string[] {
  return referencedGroups(groupIds, view).map((ref) => {
    const els = [...(view.members.get(ref) ?? [])].sort();
    const body = els.length ? ` elements = { ${els.join(', ')} };` : '';
    return `${indent}set ${setNameOf(ref)} { type ipv4_addr;${body} }`;
  });
}

function rulesOf(groupIds: string[], direction: 'ingress' | 'egress', view: SgView): string[] {
  const out: string[] = [];
  for (const id of [...groupIds].sort()) {
    const g = view.groups.get(id);
    if (!g) continue;
    for (const r of direction === 'ingress' ? g.ingress : g.egress) {
      for (const s of ruleStatements({ ...r, direction }, view)) out.push(`${s} accept comment "${id} ${direction}"`);
    }
  }
  // identical statements from two groups: keep one
  return [...new Set(out)];
}

/**
 * The whole ruleset of one task namespace (its ENI): input = ingress rules, output = egress
 * rules, stateful, policy drop. Applying it with `nft -f` replaces the previous one atomically.
 */
export function renderEniRuleset(table: string, groupIds: string[], view: SgView): string {
  const lines = [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...setDefs(groupIds, view, '  '),
    '  chain ingress {',
    '    type filter hook input priority filter; policy drop;',
    '    iif "lo" accept',
    '    ct state established,related accept',
    '    ct state invalid drop',
    ...rulesOf(groupIds, 'ingress', view).map((l) => `    ${l}`),
    '  }',
    '  chain egress {',
    '    type filter hook output priority filter; policy drop;',
    '    oif "lo" accept',
    '    ct state established,related accept',
    '    ct state invalid drop',
    `    ip daddr ${view.resolverIp} udp dport 53 accept comment "VPC resolver"`,
    `    ip daddr ${view.resolverIp} tcp dport 53 accept comment "VPC resolver"`,
    ...rulesOf(groupIds, 'egress', view).map((l) => `    ${l}`),
    '  }',
    '}',
    '',
  ];
  return lines.join('\n');
}

export interface HostEni {
  name: string;
  ip: string;
  groupIds: string[];
}

/**
 * The root namespace's table for harness hosts (an ALB node, SurrealDB) whose VPC address is
 * bound by a process of the harness itself: only packets to/from those addresses are
 * filtered (by their groups); everything else of the host passes untouched (policy accept).
 * `undefined` when there are no hosts (then the table is removed).
 */
export function renderHostRuleset(table: string, hosts: HostEni[], view: SgView): string | undefined {
  if (hosts.length === 0) return undefined;
  const all = [...new Set(hosts.flatMap((h) => h.groupIds))];
  const inJumps: string[] = [];
  const outJumps: string[] = [];
  const chains: string[] = [];
  hosts.forEach((h, i) => {
    inJumps.push(`    ip daddr ${h.ip} jump h${i}_in comment "${h.name}"`);
    outJumps.push(`    ip saddr ${h.ip} jump h${i}_out comment "${h.name}"`);
    chains.push(
      `  chain h${i}_in {`,
      `    ip saddr ${h.ip} accept comment "itself"`,
      '    ct state established,related accept',
      '    ct state invalid drop',
      ...rulesOf(h.groupIds, 'ingress', view).map((l) => `    ${l}`),
      '    drop',
      '  }',
      `  chain h${i}_out {`,
      `    ip daddr ${h.ip} accept comment "itself"`,
      '    ct state established,related accept',
      '    ct state invalid drop',
      `    ip daddr ${view.resolverIp} udp dport 53 accept comment "VPC resolver"`,
      `    ip daddr ${view.resolverIp} tcp dport 53 accept comment "VPC resolver"`,
      ...rulesOf(h.groupIds, 'egress', view).map((l) => `    ${l}`),
      '    drop',
      '  }',
    );
  });
  return [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...setDefs(all, view, '  '),
    '  chain ingress {',
    '    type filter hook input priority filter; policy accept;',
    ...inJumps,
    '  }',
    '  chain egress {',
    '    type filter hook output priority filter; policy accept;',
    ...outJumps,
    '  }',
    ...chains,
    '}',
    '',
  ].join('\n');
}

// ------------------------------------------------------------------ evaluation (expected)

function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

export function parseCidr(cidr: string): { base: number; bits: number } | undefined {
  const [a, b] = cidr.split('/');
  const base = ipToInt(a ?? '');
  const bits = b === undefined ? 32 : Number(b);
  if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (base & mask) >>> 0, bits };
}

export function inCidr(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  if (!c || n === undefined) return false;
  const mask = c.bits === 0 ? 0 : (0xffffffff << (32 - c.bits)) >>> 0;
  return ((n & mask) >>> 0) === c.base;
}

/** Do two CIDR blocks share any address? */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y) return false;
  const bits = Math.min(x.bits, y.bits);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((x.base & mask) >>> 0) === ((y.base & mask) >>> 0);
}

function ruleAdmits(r: SgRule, peerIp: string, proto: string, port: number, view: SgView): boolean {
  const p = normProto(r.ipProtocol);
  if (p !== '-1' && p !== proto) return false;
  if (p === 'tcp' || p === 'udp') {
    if (r.fromPort !== undefined && r.toPort !== undefined && r.fromPort >= 0 && (port < r.fromPort || port > r.toPort)) return false;
  }
  if (r.cidrIpv4) return inCidr(r.cidrIpv4, peerIp);
  if (r.referencedGroupId) return view.members.get(r.referencedGroupId)?.has(peerIp) ?? false;
  return false;
}

/** One endpoint of a connection: its address and its groups (none = outside the VPC, unfiltered). */
export interface Endpoint {
  ip: string;
  /** undefined: not an ENI (the internet, the VPC router): nothing filters it */
  groupIds?: string[];
}

/**
 * Would a new connection src → dst:port/proto be admitted? Both the source's egress and the
 * destination's ingress must allow it. Returns the reason when it is not.
 */
export function sgAllows(src: Endpoint, dst: Endpoint, proto: 'tcp' | 'udp', port: number, view: SgView): { allowed: boolean; why: string } {
  if (src.ip === dst.ip) return { allowed: true, why: 'itself' };
  if (dst.ip === view.resolverIp && port === 53) return { allowed: true, why: 'VPC resolver' };
  const rulesOfDir = (ids: string[], dir: 'ingress' | 'egress') =>
    ids.flatMap((id) => (dir === 'ingress' ? view.groups.get(id)?.ingress : view.groups.get(id)?.egress) ?? []).map((r) => ({ ...r, direction: dir }));
  if (src.groupIds) {
    const ok = rulesOfDir(src.groupIds, 'egress').some((r) => ruleAdmits(r, dst.ip, proto, port, view));
    if (!ok) return { allowed: false, why: `no egress rule of ${src.groupIds.join(',')} admits ${dst.ip}:${port}/${proto}` };
  }
  if (dst.groupIds) {
    const ok = rulesOfDir(dst.groupIds, 'ingress').some((r) => ruleAdmits(r, src.ip, proto, port, view));
    if (!ok) return { allowed: false, why: `no ingress rule of ${dst.groupIds.join(',')} admits ${src.ip} on ${port}/${proto}` };
  }
  return { allowed: true, why: 'admitted' };
}
