import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';

let s: Scenario;
let base: ScriptRun;
let single: ScriptRun;
const before = new Map<string, { taskDefinition: string; tasks: string[] }>();

describe('scenario deploy-single: after deploy-all v2.14.0, deploy.sh gateway v2.15.0', () => {
  beforeAll(async () => {
    s = await Scenario.start('deploy-single');
    base = await s.runScript('deploy-all.sh', ['v2.14.0']);
    for (const m of s.h.topology.services) {
      before.set(m.name, { taskDefinition: s.service(m).service.taskDefinition!, tasks: s.runningTasks(m).map((t) => t.id).sort() });
    }
    single = await s.runScript('deploy.sh', ['gateway', 'v2.15.0']);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('both scripts exit 0', async () => {
    await s.check('deploy-all.sh v2.14.0 then deploy.sh gateway v2.15.0 exit 0', () => {
      expect(base.exitCode, base.output.slice(-2000)).toBe(0);
      expect(single.exitCode, single.output.slice(-2000)).toBe(0);
      return { observed: `exit ${base.exitCode}, exit ${single.exitCode}` };
    });
  });

  it('the gateway gets a new revision and new tasks serving v2.15.0', async () => {
    await s.check('gateway: new revision, new tasks, /version v2.15.0', async () => {
      const m = s.serviceModel('gateway');
      const st = s.service(m).service;
      const registered = s.registeredRevision('gateway', single.fromSeq, single.toSeq);
      expect(st.taskDefinition).toBe(registered);
      expect(st.taskDefinition).not.toBe(before.get('gateway')!.taskDefinition);
      expect(st.deployments!.map((d) => `${d.status} ${d.rolloutState}`)).toEqual(['PRIMARY COMPLETED']);
      const now = s.runningTasks(m);
      expect(now.length).toBe(st.desiredCount);
      for (const t of now) expect(before.get('gateway')!.tasks).not.toContain(t.id);
      for (const t of now) expect((await s.httpGet(`http://${t.ip}:8080/version`)).body.version).toBe('v2.15.0');
      return { observed: `${before.get('gateway')!.taskDefinition.split('/').pop()} → ${st.taskDefinition!.split('/').pop()}; tasks ${now.map((t) => t.id.slice(0, 8)).join(',')}` };
    });
  });

  it('every other service keeps its revision and its tasks', async () => {
    for (const m of s.h.topology.services.filter((x) => x.name !== 'gateway')) {
      await s.check(`${m.ecsService}: same revision, same tasks`, async () => {
        const st = s.service(m).service;
        const now = s.runningTasks(m).map((t) => t.id).sort();
        expect(st.taskDefinition).toBe(before.get(m.name)!.taskDefinition);
        expect(now).toEqual(before.get(m.name)!.tasks);
        expect(st.deployments).toHaveLength(1);
        for (const t of s.runningTasks(m)) expect((await s.httpGet(`http://${t.ip}:${m.containerPort}/version`)).body.version).toBe('v2.14.0');
        return { observed: `${st.taskDefinition!.split('/').pop()}, tasks ${now.map((t) => t.slice(0, 8)).join(',')}` };
      });
    }
  });
});
