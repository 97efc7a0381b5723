/**
 * The isolation probe matrix: from every source (a task's namespace, the internet address, a
 * harness host's address) to every target port, what the security groups say (expected) and
 * what a short-timeout TCP connect observes.
 */
import { sgAllows, type SgView } from './sg-rules.ts';
import { tcpProbe, type ProbeFrom, type TcpProbeResult } from './probe.ts';

export interface ProbeSource {
  /** e.g. "gateway 10.0.2.12" or "internet" */
  label: string;
  ip: string;
  /** undefined: outside the VPC (no security group filters it) */
  groupIds?: string[];
  from: ProbeFrom;
}

export interface ProbeTarget {
  label: string;
  ip: string;
  port: number;
  groupIds?: string[];
  /** something listens there (an allowed connect is then 'open', else 'refused') */
  listening: boolean;
}

export type Reachability = 'reachable' | 'blocked';

export interface ProbeRow {
  source: string;
  target: string;
  address: string;
  expected: Reachability;
  /** why the security groups decide so */
  why: string;
  /** the connect's result (open/refused = reachable, blocked = timed out) */
  observed?: TcpProbeResult;
  ms?: number;
  ok?: boolean;
}

export function reachabilityOf(r: TcpProbeResult): Reachability | 'error' {
  return r === 'open' || r === 'refused' ? 'reachable' : r === 'blocked' ? 'blocked' : 'error';
}

/** Expected reachability of every source → target pair (skipping a source's own address). */
export function expectedMatrix(sources: ProbeSource[], targets: ProbeTarget[], view: SgView, skip?: (s: ProbeSource, t: ProbeTarget) => boolean): ProbeRow[] {
  const rows: ProbeRow[] = [];
  for (const s of sources) {
    for (const t of targets) {
      if (s.ip === t.ip || skip?.(s, t)) continue;
      const v = sgAllows({ ip: s.ip, groupIds: s.groupIds }, { ip: t.ip, groupIds: t.groupIds }, 'tcp', t.port, view);
      rows.push({ source: s.label, target: t.label, address: `${t.ip}:${t.port}`, expected: v.allowed ? 'reachable' : 'blocked', why: v.why });
    }
  }
  return rows;
}

/** Runs the probes (one probe process per source, its targets in parallel) and fills in observed/ok. */
export async function observeMatrix(sources: ProbeSource[], rows: ProbeRow[], timeoutMs = 1000): Promise<ProbeRow[]> {
  await Promise.all(
    sources.map(async (s) => {
      const mine = rows.filter((r) => r.source === s.label);
      const results = await tcpProbe(s.from, [...new Set(mine.map((r) => r.address))], timeoutMs);
      for (const r of mine) {
        const res = results.find((x) => x.target === r.address);
        r.observed = res?.result ?? 'error';
        r.ms = res?.ms;
        r.ok = reachabilityOf(r.observed) === r.expected;
      }
    }),
  );
  return rows;
}

/** One line per row, for reports. */
export function formatRow(r: ProbeRow): string {
  return `${r.source} → ${r.target} (${r.address}): expected ${r.expected}, observed ${r.observed ?? '?'}${r.ms !== undefined ? ` in ${r.ms} ms` : ''}`;
}
