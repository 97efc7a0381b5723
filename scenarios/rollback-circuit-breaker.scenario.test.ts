import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';

let s: Scenario;
let bad: ScriptRun;
let goodRevision: string;
let badRevision: string | undefined;

describe('scenario rollback-circuit-breaker: v2.15.0, breaker with rollback on, then v2.15.1', () => {
  beforeAll(async () => {
    s = await Scenario.start('rollback-circuit-breaker');
    const base = await s.runScript('deploy-all.sh', ['v2.15.0']);
    if (base.exitCode !== 0) throw new Error(`deploy-all.sh v2.15.0 failed:\n${base.output.slice(-3000)}`);
    goodRevision = s.service('escher-gateway').service.taskDefinition!;
    // the operator turns the breaker on, as they would before a risky release
    const on = await s.aws(['ecs', 'update-service', '--cluster', s.h.topology.cluster, '--service', 'escher-gateway',
      '--deployment-configuration', 'maximumPercent=200,minimumHealthyPercent=100,deploymentCircuitBreaker={enable=true,rollback=true}']);
    if (on.code !== 0) throw new Error(`update-service --deployment-configuration failed: ${on.stderr}`);
    bad = await s.runScript('deploy.sh', ['gateway', 'v2.15.1']);
    badRevision = s.registeredRevision('gateway', bad.fromSeq, bad.toSeq);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('ECS trips the breaker and rolls back by itself', async () => {
    await s.check('circuit breaker: deployment failed, rolled back to the last COMPLETED deployment', () => {
      const st = s.service('escher-gateway').service;
      const msgs = st.events!.map((e) => e.message!);
      const failedMsg = msgs.find((m) => /deployment failed: tasks failed to start\.$/.test(m));
      const rollbackMsg = msgs.find((m) => /rolling back to deployment ecs-svc\/\d+\.$/.test(m));
      expect(failedMsg).toBeDefined();
      expect(rollbackMsg).toBeDefined();
      expect(st.deployments!.map((d) => `${d.status} ${d.taskDefinition} ${d.rolloutState}`)).toEqual([`PRIMARY ${goodRevision} COMPLETED`]);
      return { observed: `${failedMsg} / ${rollbackMsg}` };
    });
  });

  it('the gateway serves v2.15.0 again', async () => {
    await s.check('gateway tasks healthy on v2.15.0 after the rollback', async () => {
      const tasks = s.runningTasks('escher-gateway');
      expect(tasks.length).toBeGreaterThan(0);
      for (const t of tasks) {
        expect(t.task.taskDefinitionArn).toBe(goodRevision);
        expect((await s.httpGet(`http://${t.ip}:8080/version`)).body.version).toBe('v2.15.0');
      }
      return { observed: `${tasks.length} task(s) on ${goodRevision.split('/').pop()}` };
    });
  });

  it('the report flags the false green: the script exited 0 on the rolled-back deployment', async () => {
    await s.check('false green detected (exit 0, PRIMARY is the old revision)', () => {
      expect(bad.exitCode, bad.output.slice(-2000)).toBe(0);
      expect(badRevision).toBeDefined();
      expect(badRevision).not.toBe(goodRevision);
      const w = s.warnings.find((x) => x.startsWith('FALSE GREEN'));
      expect(w).toBeDefined();
      return { observed: w };
    });
  });
});
