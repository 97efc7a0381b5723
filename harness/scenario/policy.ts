/**
 * The manifest's `policy` (the intended reachability) against the security groups the scripts
 * created, evaluated from the EC2 API's rules with the same evaluator the fabric enforces
 * (network/sg-rules.ts). It needs no network: a row holds when a member of `from` may open the
 * ports on a member of `to` (egress of the one and ingress of the other both admit it).
 */
import { sgAllows, type SgGroup, type SgView } from '../network/sg-rules.ts';
import type { Manifest } from '../manifest/schema.ts';

export interface PolicyVerdict {
  row: Manifest['policy'][number];
  holds: boolean;
  why: string;
}

/** A member address for each side (only group membership matters), and "the internet" (in no group). */
const SRC = '100.64.0.1';
const DST = '100.64.0.2';
const INTERNET = { [SRC]: '198.18.0.1', [DST]: '198.18.0.2' } as const;

export function checkPolicy(policy: Manifest['policy'], groups: readonly SgGroup[]): PolicyVerdict[] {
  const byName = new Map<string, SgGroup>();
  for (const g of groups) if (g.groupName) byName.set(g.groupName, g);
  return policy.map((row) => {
    const side = (name: string, ip: typeof SRC | typeof DST) => {
      if (name === 'internet') return { ip: INTERNET[ip] };
      const g = byName.get(name);
      return g ? { ip, groupIds: [g.groupId] } : undefined;
    };
    const src = side(row.from, SRC);
    const dst = side(row.to, DST);
    const missing = [!src && row.from, !dst && row.to].filter(Boolean);
    if (missing.length) return { row, holds: false, why: `no security group named ${missing.join(' or ')} (the scripts did not create it)` };
    const members = new Map<string, Set<string>>();
    if (src!.groupIds) members.set(src!.groupIds[0]!, new Set([SRC]));
    if (dst!.groupIds) members.set(dst!.groupIds[0]!, new Set([...(members.get(dst!.groupIds[0]!) ?? []), DST]));
    const view: SgView = { groups: new Map(groups.map((g) => [g.groupId, g])), members, resolverIp: '' };
    const [lo, hi] = row.ports.split('-').map(Number) as [number, number?];
    for (const port of hi !== undefined ? [lo, hi] : [lo]) {
      const v = sgAllows(src!, dst!, 'tcp', port, view);
      if (!v.allowed) return { row, holds: false, why: `port ${port}: ${readable(v.why, groups, row)}` };
    }
    return { row, holds: true, why: 'admitted by the egress and ingress rules' };
  });
}

/** The evaluator's reason with group ids and the stand-in addresses replaced by the names a person wrote. */
function readable(why: string, groups: readonly SgGroup[], row: PolicyVerdict['row']): string {
  return why
    .replace(/sg-[0-9a-f]+/g, (id) => groups.find((g) => g.groupId === id)?.groupName ?? id)
    .replaceAll(SRC, row.from === 'internet' ? 'the internet' : `a member of ${row.from}`)
    .replaceAll(DST, `a member of ${row.to}`)
    .replace(/198\.18\.0\.[12]/g, 'the internet');
}
