import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { DeployedService, Deployment } from '../harness/scenario/deployment.ts';
import { entryService } from './support.ts';

let s: Scenario;
let base: ScriptRun;
let single: ScriptRun;
let d: Deployment;
let target: DeployedService;
let from: string;
let to: string;
const before = new Map<string, { taskDefinition: string; tasks: string[] }>();

describe('scenario deploy-single: after deployAll with the oldest healthy release, deployService of the entry service with the newest', () => {
  beforeAll(async () => {
    s = await Scenario.start('deploy-single');
    const good = s.releases().good;
    if (good.length < 2) throw new Error(`${s.h.manifest.file}: images: deploy-single needs two releases healthy in every repository, found ${good.join(', ') || 'none'}`);
    [from, to] = [good[0]!, good.at(-1)!];
    base = await s.deployAll(from);
    d = s.deployment();
    target = entryService(d);
    for (const m of d.services) before.set(m.ecsService, { taskDefinition: s.service(m).service.taskDefinition!, tasks: s.runningTasks(m).map((t) => t.id).sort() });
    single = await s.deployService(target, to);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('both commands exit 0', async () => {
    await s.check(`${base.script} ${base.args.join(' ')} then ${single.script} ${single.args.join(' ')} exit 0`, () => {
      expect(base.exitCode, base.output.slice(-2000)).toBe(0);
      expect(single.exitCode, single.output.slice(-2000)).toBe(0);
      return { observed: `exit ${base.exitCode}, exit ${single.exitCode}` };
    });
  });

  it('the deployed service gets a new revision and new tasks serving the new release', async () => {
    await s.check(`${target.ecsService}: new revision, new tasks, /version ${to}`, async () => {
      const st = s.service(target).service;
      const registered = s.registeredRevision(target.family, single.fromSeq, single.toSeq);
      const was = before.get(target.ecsService)!;
      expect(st.taskDefinition).toBe(registered);
      expect(st.taskDefinition).not.toBe(was.taskDefinition);
      await s.until(`${target.ecsService} rollout COMPLETED`, () => s.service(target).service.deployments?.[0]?.rolloutState === 'COMPLETED', 60_000).catch(() => undefined);
      expect(s.service(target).service.deployments!.map((x) => `${x.status} ${x.rolloutState}`)).toEqual(['PRIMARY COMPLETED']);
      const now = s.runningTasks(target);
      expect(now.length).toBe(st.desiredCount);
      for (const t of now) expect(was.tasks).not.toContain(t.id);
      for (const t of now) expect((await s.httpGet(`http://${t.ip}:${target.port}/version`)).body.version).toBe(to);
      return { observed: `${was.taskDefinition.split('/').pop()} → ${st.taskDefinition!.split('/').pop()}; tasks ${now.map((t) => t.id.slice(0, 8)).join(',')}` };
    });
  });

  it('every other service keeps its revision and its tasks', async () => {
    for (const m of d.order.filter((x) => x !== target)) {
      await s.check(`${m.ecsService}: same revision, same tasks`, async () => {
        const st = s.service(m).service;
        const now = s.runningTasks(m).map((t) => t.id).sort();
        expect(st.taskDefinition).toBe(before.get(m.ecsService)!.taskDefinition);
        expect(now).toEqual(before.get(m.ecsService)!.tasks);
        expect(st.deployments).toHaveLength(1);
        for (const t of s.runningTasks(m)) expect((await s.httpGet(`http://${t.ip}:${m.port}/version`)).body.version).toBe(from);
        return { observed: `${st.taskDefinition!.split('/').pop()}, tasks ${now.map((t) => t.slice(0, 8)).join(',')}` };
      });
    }
  });
});
