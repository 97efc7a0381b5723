import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { DeployedService } from '../harness/scenario/deployment.ts';
import { badRelease, breakerEvents, latestGood } from './support.ts';

/**
 * The manifest's bad release, deployed to the service it breaks. What is expected depends on
 * how the scripts configured that service: without the circuit breaker's rollback the wait
 * fails, the old tasks keep serving and an operator rolls back to the previous revision; with
 * it, ECS rolls back by itself (and a script that exits 0 is a false green).
 */
let s: Scenario;
let bad: ScriptRun;
let svc: DeployedService;
let good: string;
let badTag: string;
let goodRevision: string;
let badRevision: string | undefined;
let automatic = false;

describe('scenario rollback-manual: a healthy release deployed, then the bad release, then the rollback its configuration calls for', () => {
  beforeAll(async () => {
    s = await Scenario.start('rollback-manual');
    good = latestGood(s);
    const base = await s.deployAll(good);
    if (base.exitCode !== 0) throw new Error(`${base.script} ${good} failed:\n${base.output.slice(-3000)}`);
    ({ tag: badTag, service: svc } = badRelease(s, s.deployment()));
    automatic = svc.circuitBreaker.enable && svc.circuitBreaker.rollback;
    s.notes.push(`${svc.ecsService}: circuit breaker ${svc.circuitBreaker.enable ? 'on' : 'off'}, rollback ${svc.circuitBreaker.rollback ? 'on' : 'off'}: ${automatic ? 'an automatic rollback is expected' : 'a manual rollback is expected'}`);
    goodRevision = s.service(svc).service.taskDefinition!;
    bad = await s.deployService(svc, badTag);
    badRevision = s.registeredRevision(svc.family, bad.fromSeq, bad.toSeq);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('the bad deploy does not end on the bad revision', async () => {
    await s.check(`${bad.script} ${bad.args.join(' ')}: ${automatic ? 'ECS rolls back by itself' : 'its wait fails (exit non-zero)'}`, async () => {
      expect(badRevision, 'the script registered a revision for the bad release').toBeDefined();
      if (!automatic) {
        expect(bad.exitCode).not.toBe(0);
        const why = bad.output.split('\n').filter((l) => /Waiter|Max attempts|failed|error/i.test(l)).slice(-2).join(' | ');
        return { observed: `exit ${bad.exitCode}: ${why}` };
      }
      await s.until('the breaker rolled back', () => !!breakerEvents(s, svc).rollback, 60_000);
      const ev = breakerEvents(s, svc);
      expect(ev.failed).toBeDefined();
      expect(s.service(svc).service.deployments![0]!.taskDefinition).toBe(goodRevision);
      const flagged = s.warnings.find((w) => w.startsWith('FALSE GREEN'));
      if (bad.exitCode === 0) expect(flagged, 'a script that exits 0 after a rollback is a false green').toBeDefined();
      return { observed: `exit ${bad.exitCode}; ${ev.failed} / ${ev.rollback}${flagged ? '; flagged FALSE GREEN' : ''}` };
    });
  });

  it('the old tasks keep serving the healthy release', async () => {
    await s.check(`${svc.ecsService}: tasks on the previous revision still RUNNING, healthy and on ${good}`, async () => {
      const st = s.service(svc).service;
      const deps = st.deployments!.map((x) => `${x.status} ${x.taskDefinition!.split('/').pop()} ${x.rolloutState} failed=${x.failedTasks}`);
      if (!automatic) {
        expect(st.deployments![0]!.taskDefinition).toBe(badRevision);
        expect(st.deployments![0]!.failedTasks).toBeGreaterThan(0);
        expect(st.deployments![1]?.taskDefinition).toBe(goodRevision);
      }
      const old = s.runningTasks(svc).filter((t) => t.task.taskDefinitionArn === goodRevision);
      expect(old.length).toBe(st.desiredCount);
      for (const t of old) {
        expect((await s.httpGet(`http://${t.ip}:${svc.port}${svc.healthPath}`)).status).toBe(200);
        expect((await s.httpGet(`http://${t.ip}:${svc.port}/version`)).body.version).toBe(good);
      }
      const stopped = [...s.h.stores.ecs.tasks.values()].filter((t) => t.task.taskDefinitionArn === badRevision && t.task.lastStatus === 'STOPPED');
      expect(stopped.length).toBeGreaterThan(0);
      expect(stopped[0]!.task.stoppedReason).toMatch(/^Task failed (ELB|container) health checks/);
      return { observed: `${deps.join('; ')}; ${stopped.length} ${badTag} task(s) stopped: "${stopped[0]!.task.stoppedReason}"` };
    });
  });

  it('rolling back to the previous revision makes the service healthy on the good release again', async () => {
    if (automatic) {
      s.notVerified(`${svc.ecsService}: manual rollback`, 'not needed: the circuit breaker rolled back by itself (see above)');
      return;
    }
    const now = s.deployment().byName(svc.ecsService)!;
    await s.check(`update-service --task-definition ${now.previousTaskDefinitionArn?.split('/').pop()} + wait services-stable → ${good}`, async () => {
      expect(now.previousTaskDefinitionArn, 'the family has a previous revision').toBe(goodRevision);
      const prev = now.previousTaskDefinitionArn!.split('/').pop()!;
      const u = await s.aws(['ecs', 'update-service', '--cluster', svc.cluster, '--service', svc.ecsService, '--task-definition', prev, '--force-new-deployment']);
      expect(u.code, u.stderr).toBe(0);
      const w = await s.aws(['ecs', 'wait', 'services-stable', '--cluster', svc.cluster, '--services', svc.ecsService]);
      expect(w.code, w.stderr).toBe(0);
      const st = s.service(svc).service;
      expect(st.deployments!.map((x) => `${x.status} ${x.taskDefinition!.split('/').pop()}`)).toEqual([`PRIMARY ${prev}`]);
      await s.until(`${svc.ecsService} rollout COMPLETED`, () => st.deployments![0]!.rolloutState === 'COMPLETED', 30_000);
      const tasks = s.runningTasks(svc);
      for (const t of tasks) {
        expect((await s.httpGet(`http://${t.ip}:${svc.port}${svc.healthPath}`)).status).toBe(200);
        expect((await s.httpGet(`http://${t.ip}:${svc.port}/version`)).body.version).toBe(good);
      }
      return { observed: `PRIMARY ${prev} COMPLETED; ${tasks.length} task(s) answer /version ${good}` };
    });
  });
});
