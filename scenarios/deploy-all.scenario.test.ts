import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { healthPath, probeAllServices, traceHops } from './support.ts';

const VERSION = 'v2.15.0';
let s: Scenario;
let run: ScriptRun;

describe('scenario deploy-all: a fresh topology, deploy-all.sh v2.15.0', () => {
  beforeAll(async () => {
    s = await Scenario.start('deploy-all');
    run = await s.runScript('deploy-all.sh', [VERSION]);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('deploy-all.sh exits 0', async () => {
    await s.check(`deploy-all.sh ${VERSION} exits 0`, () => {
      expect(run.exitCode, run.output.split('\n').slice(-15).join('\n')).toBe(0);
      return { observed: `exit ${run.exitCode} after ${(run.durationMs / 1000).toFixed(1)} s` };
    });
  });

  it('every service: PRIMARY on the revision the script registered, COMPLETED, alone', async () => {
    // the script's last services-stable wait returns once the task is RUNNING (as on AWS);
    // the rollout completes when it is also healthy: give it a bounded moment
    await s
      .until('every rollout COMPLETED', () => s.h.topology.services.every((m) => s.service(m).service.deployments?.[0]?.rolloutState === 'COMPLETED'), 60_000)
      .catch(() => undefined);
    for (const m of s.h.topology.services) {
      await s.check(`${m.ecsService}: PRIMARY deployment on its new revision and COMPLETED`, () => {
        const st = s.service(m);
        const registered = s.registeredRevision(m.taskDefinition.family, run.fromSeq, run.toSeq);
        const deps = st.service.deployments!;
        const observed = deps.map((d) => `${d.status} ${d.taskDefinition?.split('/').pop()} ${d.rolloutState}`).join(', ');
        expect(registered, 'the script registered a revision').toBeDefined();
        expect(observed).toBe(`PRIMARY ${registered!.split('/').pop()} COMPLETED`);
        expect(st.service.runningCount).toBe(st.service.desiredCount);
        return { observed };
      });
    }
  });

  it('every health endpoint answers 200 and /version is the release', async () => {
    await s.check(`every task's health endpoint 200 and /version ${VERSION}`, async () => {
      const rows = await probeAllServices(s);
      const bad = rows.filter((r) => r.health !== 200 || r.version !== VERSION);
      expect(bad, rows.map((r) => `${r.service} ${r.ip}: health ${r.health}, version ${r.version}`).join('\n')).toEqual([]);
      return { observed: rows.map((r) => `${r.service}@${r.ip} ${healthPath(s.serviceModel(r.service))}=${r.health} ${r.version}`).join('; ') };
    });
  });

  it('services reached steady state in dependency order (from the control plane timeline)', async () => {
    await s.check('steady states in order asset-store < context-engine < agents < gateway', () => {
      const at = (name: string) => {
        const m = s.serviceModel(name);
        const td = s.service(m).service.taskDefinition!;
        const t = s.steadyAt(m.ecsService, td, run.fromSeq);
        if (t === undefined) throw new Error(`${m.ecsService} never reached steady state on ${td}`);
        return t;
      };
      const t = Object.fromEntries(['asset-store', 'context-engine', 'analysis-agent', 'playbook-agent', 'gateway'].map((n) => [n, at(n)]));
      const order = Object.entries(t).sort((a, b) => a[1] - b[1]).map(([n]) => n);
      const t0 = Math.min(...Object.values(t));
      const observed = order.map((n) => `${n} +${((t[n]! - t0) / 1000).toFixed(2)}s`).join(' < ');
      expect(t['asset-store']!, observed).toBeLessThan(t['context-engine']!);
      expect(t['context-engine']!, observed).toBeLessThan(Math.min(t['analysis-agent']!, t['playbook-agent']!));
      expect(Math.max(t['analysis-agent']!, t['playbook-agent']!), observed).toBeLessThan(t['gateway']!);
      return { observed };
    });
  });

  it('a request through the gateway crosses the topology to asset-store', async () => {
    await s.check('GET gateway /api/trace reaches asset-store through Cloud Map names', async () => {
      const gw = s.runningTasks('escher-gateway')[0]!;
      const r = await s.httpGet(`http://${gw.ip}:8080/api/trace`, 10_000);
      const hops = traceHops(r.body);
      expect(r.status, r.text).toBe(200);
      expect(hops).toContain('asset-store');
      return { observed: `200; hops ${hops.join(' → ')}` };
    });
  });
});
