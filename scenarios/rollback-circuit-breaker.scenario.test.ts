import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { DeployedService } from '../harness/scenario/deployment.ts';
import { badRelease, breakerEvents, latestGood } from './support.ts';

/**
 * The circuit breaker with rollback on for the service the bad release breaks (the scripts'
 * own setting, or turned on by an operator before the release when the scripts leave it off):
 * ECS rolls back by itself, and a deploy script that exits 0 is flagged as a false green.
 */
let s: Scenario;
let bad: ScriptRun;
let svc: DeployedService;
let good: string;
let goodRevision: string;
let badRevision: string | undefined;

describe('scenario rollback-circuit-breaker: a healthy release, the breaker with rollback on, then the bad release', () => {
  beforeAll(async () => {
    s = await Scenario.start('rollback-circuit-breaker');
    good = latestGood(s);
    const base = await s.deployAll(good);
    if (base.exitCode !== 0) throw new Error(`${base.script} ${good} failed:\n${base.output.slice(-3000)}`);
    const b = badRelease(s, s.deployment());
    svc = b.service;
    goodRevision = s.service(svc).service.taskDefinition!;
    if (!(svc.circuitBreaker.enable && svc.circuitBreaker.rollback)) {
      // the operator turns the breaker on, as they would before a risky release
      const on = await s.aws(['ecs', 'update-service', '--cluster', svc.cluster, '--service', svc.ecsService,
        '--deployment-configuration', 'maximumPercent=200,minimumHealthyPercent=100,deploymentCircuitBreaker={enable=true,rollback=true}']);
      if (on.code !== 0) throw new Error(`update-service --deployment-configuration failed: ${on.stderr}`);
      s.notes.push(`${svc.ecsService}: the scripts leave the circuit breaker off; turned on (rollback on) with update-service before the release`);
    } else s.notes.push(`${svc.ecsService}: the scripts configure the circuit breaker with rollback`);
    bad = await s.deployService(svc, b.tag);
    badRevision = s.registeredRevision(svc.family, bad.fromSeq, bad.toSeq);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('ECS trips the breaker and rolls back by itself', async () => {
    await s.check('circuit breaker: deployment failed, rolled back to the last COMPLETED deployment', async () => {
      await s.until('the breaker rolled back', () => !!breakerEvents(s, svc).rollback, 60_000).catch(() => undefined);
      const ev = breakerEvents(s, svc);
      expect(ev.failed).toBeDefined();
      expect(ev.rollback).toBeDefined();
      await s.until('one deployment left', () => s.service(svc).service.deployments!.length === 1, 60_000).catch(() => undefined);
      expect(s.service(svc).service.deployments!.map((x) => `${x.status} ${x.taskDefinition} ${x.rolloutState}`)).toEqual([`PRIMARY ${goodRevision} COMPLETED`]);
      return { observed: `${ev.failed} / ${ev.rollback}` };
    });
  });

  it('the service serves the healthy release again', async () => {
    await s.check(`${svc.ecsService} tasks healthy on ${good} after the rollback`, async () => {
      const tasks = s.runningTasks(svc);
      expect(tasks.length).toBeGreaterThan(0);
      for (const t of tasks) {
        expect(t.task.taskDefinitionArn).toBe(goodRevision);
        expect((await s.httpGet(`http://${t.ip}:${svc.port}/version`)).body.version).toBe(good);
      }
      return { observed: `${tasks.length} task(s) on ${goodRevision.split('/').pop()}` };
    });
  });

  it('the report flags a false green when the script exited 0 on the rolled-back deployment', async () => {
    await s.check('false green: exit 0 with the old revision PRIMARY is flagged; a failing exit is not', () => {
      expect(badRevision).toBeDefined();
      expect(badRevision).not.toBe(goodRevision);
      const w = s.warnings.find((x) => x.startsWith('FALSE GREEN'));
      if (bad.exitCode === 0) expect(w).toBeDefined();
      else expect(w).toBeUndefined();
      return { observed: bad.exitCode === 0 ? w : `the script exited ${bad.exitCode}: it noticed the rollback (no false green)` };
    });
  });
});
