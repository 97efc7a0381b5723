import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';

let s: Scenario;
let bad: ScriptRun;
let goodRevision: string;
let badRevision: string | undefined;

describe('scenario rollback-manual: v2.15.0 deployed, v2.15.1 (unhealthy gateway) without circuit breaker, then a manual rollback', () => {
  beforeAll(async () => {
    s = await Scenario.start('rollback-manual');
    const base = await s.runScript('deploy-all.sh', ['v2.15.0']);
    if (base.exitCode !== 0) throw new Error(`deploy-all.sh v2.15.0 failed:\n${base.output.slice(-3000)}`);
    goodRevision = s.service('escher-gateway').service.taskDefinition!;
    bad = await s.runScript('deploy.sh', ['gateway', 'v2.15.1']);
    badRevision = s.registeredRevision('gateway', bad.fromSeq, bad.toSeq);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('the bad deploy fails: its services-stable wait gives up', async () => {
    await s.check('deploy.sh gateway v2.15.1 exits non-zero', () => {
      expect(bad.exitCode).not.toBe(0);
      const why = bad.output.split('\n').filter((l) => /Waiter|Max attempts|failed|error/i.test(l)).slice(-2).join(' | ');
      return { observed: `exit ${bad.exitCode}: ${why}` };
    });
  });

  it('the old tasks keep serving while the new deployment fails', async () => {
    await s.check('old gateway tasks still RUNNING, healthy and on v2.15.0', async () => {
      const st = s.service('escher-gateway').service;
      const deps = st.deployments!.map((d) => `${d.status} ${d.taskDefinition!.split('/').pop()} ${d.rolloutState} failed=${d.failedTasks}`);
      expect(st.deployments![0]!.taskDefinition).toBe(badRevision);
      expect(st.deployments![0]!.failedTasks).toBeGreaterThan(0);
      expect(st.deployments![1]?.taskDefinition).toBe(goodRevision);
      const old = s.runningTasks('escher-gateway').filter((t) => t.task.taskDefinitionArn === goodRevision);
      expect(old.length).toBe(st.desiredCount);
      for (const t of old) {
        expect((await s.httpGet(`http://${t.ip}:8080/q/health`)).status).toBe(200);
        expect((await s.httpGet(`http://${t.ip}:8080/version`)).body.version).toBe('v2.15.0');
      }
      const stopped = [...s.h.stores.ecs.tasks.values()].filter((t) => t.task.taskDefinitionArn === badRevision && t.task.lastStatus === 'STOPPED');
      expect(stopped.length).toBeGreaterThan(0);
      expect(stopped[0]!.task.stoppedReason).toMatch(/^Task failed (ELB|container) health checks/);
      return { observed: `${deps.join('; ')}; ${stopped.length} v2.15.1 task(s) stopped: "${stopped[0]!.task.stoppedReason}"` };
    });
  });

  it('rolling back to the previous revision makes the service healthy on v2.15.0 again', async () => {
    await s.check('update-service --task-definition <previous> + wait services-stable → v2.15.0', async () => {
      const prev = goodRevision.split('/').pop()!;
      const u = await s.aws(['ecs', 'update-service', '--cluster', s.h.topology.cluster, '--service', 'escher-gateway', '--task-definition', prev, '--force-new-deployment']);
      expect(u.code, u.stderr).toBe(0);
      const w = await s.aws(['ecs', 'wait', 'services-stable', '--cluster', s.h.topology.cluster, '--services', 'escher-gateway']);
      expect(w.code, w.stderr).toBe(0);
      const st = s.service('escher-gateway').service;
      expect(st.deployments!.map((d) => `${d.status} ${d.taskDefinition!.split('/').pop()}`)).toEqual([`PRIMARY ${prev}`]);
      await s.until('gateway rollout COMPLETED', () => st.deployments![0]!.rolloutState === 'COMPLETED', 30_000);
      const tasks = s.runningTasks('escher-gateway');
      for (const t of tasks) {
        expect((await s.httpGet(`http://${t.ip}:8080/q/health`)).status).toBe(200);
        expect((await s.httpGet(`http://${t.ip}:8080/version`)).body.version).toBe('v2.15.0');
      }
      return { observed: `PRIMARY ${prev} COMPLETED; ${tasks.length} task(s) answer /version v2.15.0` };
    });
  });
});
