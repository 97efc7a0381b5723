import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { NetnsFabric } from '../harness/network/netns-fabric.ts';
import type { SgGroup, SgView } from '../harness/network/sg-rules.ts';
import { expectedMatrix, formatRow, observeMatrix, reachabilityOf, type ProbeRow, type ProbeSource, type ProbeTarget } from '../harness/network/probe-matrix.ts';
import { tcpProbe } from '../harness/network/probe.ts';
import type { Deployment } from '../harness/scenario/deployment.ts';
import { latestGood } from './support.ts';
import { checkPolicy } from '../harness/scenario/policy.ts';

/**
 * After deploy-all: the full probe matrix — every running task to every other service's port,
 * every task to the internet on 443, and the internet to every service — expected from the
 * security groups in the EC2 API, observed with 1 s TCP connects from inside the source's
 * namespace (blocked = timed out, refused = reachable but closed). Then a negative control:
 * widen one rule through the EC2 API, see the matching probe flip, revoke it, see it flip back.
 */
let VERSION: string;
let d: Deployment;
const PROBE_TIMEOUT_MS = 1000;
/** "the internet" on 443: the Anthropic API stand-in listens there (api.anthropic.com); without it, allowed = refused */
const INTERNET_PORT = 443;

let s: Scenario;
let run: ScriptRun;

function sgOfService(name: string): string[] {
  return s.service(name).service.networkConfiguration?.awsvpcConfiguration?.securityGroups ?? [];
}

/** Security groups and members as the control plane has them (for the expected column). */
function controlPlaneView(internetIp: string, resolverIp: string): SgView {
  const groups = new Map<string, SgGroup>(s.h.stores.ec2.listSecurityGroups().map((g) => [g.groupId, g]));
  const members = new Map<string, Set<string>>();
  for (const m of d.services) {
    for (const t of s.runningTasks(m)) {
      for (const g of sgOfService(m.ecsService)) {
        if (!members.has(g)) members.set(g, new Set());
        members.get(g)!.add(t.ip);
      }
    }
  }
  const fabric = s.h.fabric as Partial<NetnsFabric>;
  for (const host of fabric.state?.().hosts ?? []) {
    for (const g of host.securityGroups) {
      if (!members.has(g)) members.set(g, new Set());
      members.get(g)!.add(host.ip);
    }
  }
  void internetIp;
  return { groups, members, resolverIp };
}

function groupName(id: string): string {
  return s.h.stores.ec2.getSecurityGroup(id)?.groupName ?? id;
}

describe('scenario isolation: security groups on the wire after deploy-all', () => {
  let sources: ProbeSource[] = [];
  let targets: ProbeTarget[] = [];
  let rows: ProbeRow[] = [];
  let view: SgView;
  let internetIp = '198.18.0.1';

  beforeAll(async () => {
    s = await Scenario.start('isolation');
    VERSION = latestGood(s);
    run = await s.deployAll(VERSION);
    d = s.deployment();
    const fabric = s.h.fabric as Partial<NetnsFabric>;
    internetIp = fabric.internetIp ?? internetIp;
    view = controlPlaneView(internetIp, fabric.resolverIp ?? '10.0.0.2');
    for (const m of d.order) {
      for (const t of s.runningTasks(m)) {
        const groupIds = sgOfService(m.ecsService);
        sources.push({ label: `${m.ecsService} ${t.ip}`, ip: t.ip, groupIds, from: { netns: fabric.netnsOfIp?.(t.ip) } });
        for (const port of m.ports) targets.push({ label: `${m.ecsService}:${port}`, ip: t.ip, port, groupIds, listening: true });
      }
    }
    for (const host of fabric.state?.().hosts ?? []) {
      sources.push({ label: `host ${host.name} ${host.ip}`, ip: host.ip, groupIds: host.securityGroups, from: { bind: host.ip } });
      if (s.h.surreal && host.ip === s.h.surreal.ip) targets.push({ label: `${host.name}:${s.h.surreal.port}`, ip: host.ip, port: s.h.surreal.port, groupIds: host.securityGroups, listening: true });
    }
    sources.push({ label: 'internet', ip: internetIp, from: { bind: internetIp } });
    targets.push({ label: `internet:${INTERNET_PORT}`, ip: internetIp, port: INTERNET_PORT, listening: s.h.anthropic?.host === internetIp });
    // a task to a port of its own service's other tasks is not "another service": skip those
    const serviceOf = (label: string) => label.split(/[ :]/)[0];
    rows = expectedMatrix(sources, targets, view, (src, t) => serviceOf(src.label) === serviceOf(t.label) && src.label !== 'internet');
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all exits 0 and every service runs', async () => {
    await s.check(`${run.script} ${VERSION} exits 0`, () => {
      expect(run.exitCode, run.output.split('\n').slice(-15).join('\n')).toBe(0);
      expect(d.services.length).toBeGreaterThan(0);
      for (const m of d.services) expect(s.runningTasks(m).length, m.ecsService).toBeGreaterThan(0);
      return { observed: `exit 0; ${sources.length} sources × ${targets.length} targets → ${rows.length} probes` };
    });
  });

  it('the probe matrix matches the security groups', async () => {
    if (!s.h.isolationEnforced) {
      for (const r of rows) s.notVerified(`probe ${r.source} → ${r.target}`, `loopback mode: nothing enforces security groups here (the rules say ${r.expected}: ${r.why})`);
      return;
    }
    await observeMatrix(sources, rows, PROBE_TIMEOUT_MS);
    const failures: string[] = [];
    for (const r of rows) {
      try {
        await s.check(`probe ${r.source} → ${r.target}`, () => {
          const got = r.observed ?? 'error';
          const ok = reachabilityOf(got) === r.expected && (r.expected === 'blocked' || !targets.find((t) => `${t.ip}:${t.port}` === r.address)?.listening || got === 'open');
          if (!ok) throw Object.assign(new Error(`${formatRow(r)} (${r.why})`), { expected: r.expected, actual: got });
          return { expected: r.expected, observed: `${got}${r.ms !== undefined ? ` (${r.ms} ms)` : ''}`, detail: r.why };
        });
      } catch {
        failures.push(formatRow(r));
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
    // the matrix says something: both outcomes occur
    expect(rows.some((r) => r.expected === 'blocked')).toBe(true);
    expect(rows.some((r) => r.expected === 'reachable')).toBe(true);
  });

  it("the manifest's policy holds in the groups the scripts created", async () => {
    const policy = s.h.manifest.policy;
    if (!policy.length) {
      s.notVerified('the manifest policy', `${s.h.manifest.file} has no policy rows to compare with the groups`);
      return;
    }
    const groups = s.h.stores.ec2.listSecurityGroups().filter((g) => g.vpcId === s.h.manifest.vpc.id) as SgGroup[];
    const failed: string[] = [];
    for (const v of checkPolicy(policy, groups)) {
      const name = `policy: ${v.row.from} → ${v.row.to} on ${v.row.ports}`;
      try {
        await s.check(name, () => {
          if (!v.holds) throw Object.assign(new Error(`${name}: ${v.why}`), { expected: 'allowed', actual: v.why });
          return { expected: 'allowed', observed: v.why };
        });
      } catch {
        failed.push(`${name}: ${v.why}`);
      }
    }
    expect(failed, failed.join('\n')).toEqual([]);
  });

  it('negative control: widening one rule through the EC2 API flips its probe, revoking it flips it back', async () => {
    // a service the internet must not reach: the deepest one (it holds the data, if any)
    const asset = d.data[0] ?? d.order[0]!;
    const task = s.runningTasks(asset)[0]!;
    const sg = sgOfService(asset.ecsService)[0]!;
    const target = `${task.ip}:${asset.port}`;
    const name = `negative control: internet → ${asset.ecsService}:${asset.port} via ${groupName(sg)} ingress from ${internetIp}/32`;
    if (!s.h.isolationEnforced) {
      s.notVerified(name, 'loopback mode: nothing enforces security groups here');
      return;
    }
    const fabric = s.h.fabric as NetnsFabric;
    const probe = async () => (await tcpProbe({ bind: internetIp }, [target], PROBE_TIMEOUT_MS))[0]!.result;
    await s.check(name, async () => {
      const before = await probe();
      const auth = await s.aws(['ec2', 'authorize-security-group-ingress', '--group-id', sg, '--protocol', 'tcp', '--port', String(asset.port), '--cidr', `${internetIp}/32`]);
      expect(auth.code, auth.stderr).toBe(0);
      const t0 = performance.now();
      await fabric.settled();
      const enforcedMs = performance.now() - t0;
      const widened = await probe();
      const rev = await s.aws(['ec2', 'revoke-security-group-ingress', '--group-id', sg, '--protocol', 'tcp', '--port', String(asset.port), '--cidr', `${internetIp}/32`]);
      expect(rev.code, rev.stderr).toBe(0);
      await fabric.settled();
      const after = await probe();
      const observed = `before ${before} → authorized: ${widened} (enforced ${enforcedMs.toFixed(0)} ms after the API answered) → revoked: ${after}`;
      expect(observed).toMatch(/^before blocked → authorized: open .* → revoked: blocked$/);
      return { expected: 'blocked → open → blocked', observed };
    });
  });
});
