import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { Deployment } from '../harness/scenario/deployment.ts';
import { entryService, latestGood, probeAllServices, reachable, traceHops } from './support.ts';

let s: Scenario;
let run: ScriptRun;
let version: string;
let d: Deployment;

describe('scenario deploy-all: a fresh topology, the manifest\'s deployAll command with its newest healthy release', () => {
  beforeAll(async () => {
    s = await Scenario.start('deploy-all');
    version = latestGood(s);
    run = await s.deployAll(version);
    d = s.deployment();
    for (const f of d.findings) s.notes.push(`deployment: ${f}`);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('the deploy command exits 0 and creates services', async () => {
    await s.check(`${run.script} ${run.args.join(' ')} exits 0`, () => {
      expect(run.exitCode, run.output.split('\n').slice(-15).join('\n')).toBe(0);
      expect(d.services.length, 'ECS services the scripts created').toBeGreaterThan(0);
      return { observed: `exit ${run.exitCode} after ${(run.durationMs / 1000).toFixed(1)} s; services ${d.order.map((x) => x.ecsService).join(', ')}` };
    });
  });

  it('every service: PRIMARY on the revision the script registered, COMPLETED, alone', async () => {
    // the script's last services-stable wait returns once the task is RUNNING (as on AWS);
    // the rollout completes when it is also healthy: give it a bounded moment
    await s
      .until('every rollout COMPLETED', () => d.services.every((m) => s.service(m).service.deployments?.[0]?.rolloutState === 'COMPLETED'), 60_000)
      .catch(() => undefined);
    for (const m of d.order) {
      await s.check(`${m.ecsService}: PRIMARY deployment on its new revision and COMPLETED`, () => {
        const st = s.service(m);
        const registered = s.registeredRevision(m.family, run.fromSeq, run.toSeq);
        const deps = st.service.deployments!;
        const observed = deps.map((x) => `${x.status} ${x.taskDefinition?.split('/').pop()} ${x.rolloutState}`).join(', ');
        expect(registered, 'the script registered a revision').toBeDefined();
        expect(observed).toBe(`PRIMARY ${registered!.split('/').pop()} COMPLETED`);
        expect(st.service.runningCount).toBe(st.service.desiredCount);
        return { observed };
      });
    }
  });

  it('every health endpoint answers 200 and /version is the release', async () => {
    await s.check(`every task's health path 200 and /version ${version}`, async () => {
      const rows = await probeAllServices(s, d);
      const bad = rows.filter((r) => r.health !== 200 || r.version !== version);
      expect(rows.length).toBeGreaterThan(0);
      expect(bad, rows.map((r) => `${r.service} ${r.ip}: health ${r.health}, version ${r.version}`).join('\n')).toEqual([]);
      return { observed: rows.map((r) => `${r.service}@${r.ip} ${d.byName(r.service)!.healthPath}=${r.health} ${r.version}`).join('; ') };
    });
  });

  it('every service reached steady state after the services it depends on (from the timeline)', async () => {
    await s.check(`steady states in dependency order ${d.order.map((x) => x.ecsService).join(' < ')}`, () => {
      const at = new Map<string, number>();
      for (const m of d.services) {
        const td = s.service(m).service.taskDefinition!;
        const t = s.steadyAt(m.ecsService, td, run.fromSeq);
        if (t === undefined) throw new Error(`${m.ecsService} never reached steady state on ${td}`);
        at.set(m.ecsService, t);
      }
      const t0 = Math.min(...at.values());
      const observed = [...at.entries()].sort((a, b) => a[1] - b[1]).map(([n, t]) => `${n} +${((t - t0) / 1000).toFixed(2)}s`).join(' < ');
      const edges = d.services.flatMap((a) => a.dependencies.filter((x) => x.kind === 'service').map((x) => [a.ecsService, x.target!] as const));
      for (const [a, b] of edges) expect(at.get(b)!, `${b} (a dependency of ${a}) must be steady before ${a}: ${observed}`).toBeLessThan(at.get(a)!);
      return { observed: `${observed}; ${edges.length} dependency edge(s) respected` };
    });
  });

  it('a request to the service users reach crosses the topology through Cloud Map names', async () => {
    const e = entryService(d);
    const want = reachable(d, e).map((x) => x.ecsService);
    await s.check(`GET ${e.ecsService} /api/trace reaches ${want.join(', ') || 'its dependencies'}`, async () => {
      const t = s.runningTasks(e)[0]!;
      const r = await s.httpGet(`http://${t.ip}:${e.port}/api/trace`, 10_000);
      const hops = traceHops(r.body);
      expect(r.status, r.text).toBe(200);
      for (const w of want) expect(hops).toContain(w);
      return { observed: `200; hops ${hops.join(' → ')}` };
    });
  });
});
