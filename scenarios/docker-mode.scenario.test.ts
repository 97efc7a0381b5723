import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { dockerModeAvailable } from '../harness/runtime/docker/select.ts';
import { latestGood, probeAllServices } from './support.ts';

// deploy-all on containers: the stub images as linux/arm64 (QEMU on x86), as Fargate runs them.
const avail = await dockerModeAvailable();
if (!avail.ok) console.log(`scenario docker-mode SKIPPED: ${avail.reason}`);

/** docker mode slows down on a loaded machine (runtime/docker/calibrate.ts): the budget of vitest.config's docker projects */
const DOCKER_BUDGET_MS = 1_200_000;
let s: Scenario;
let run: ScriptRun;
let version: string;

describe.skipIf(!avail.ok)('scenario docker-mode: the manifest\'s deployAll with tasks as linux/arm64 containers', () => {
  beforeAll(async () => {
    // asked for docker already (the scenario-docker project): no options, so npm test's docker group can share its topology
    s = await Scenario.start('docker-mode', process.env.HARNESS_RUNTIME === 'docker' ? {} : { runtime: 'docker' });
    version = latestGood(s);
    run = await s.deployAll(version);
  }, DOCKER_BUDGET_MS);
  afterAll(async () => {
    await s?.finish();
  });

  it('deploys every service healthy, as arm64 containers', async () => {
    await s.check(`${run.script} ${version} exits 0 in docker mode`, () => {
      expect(s.h.runtime.name).toBe('docker');
      expect(run.exitCode, run.output.slice(-2000)).toBe(0);
      return { observed: `exit 0 in ${(run.durationMs / 1000).toFixed(1)} s` };
    });
    await s.check(`every service COMPLETED; every task healthy on ${version} and running linux/arm64`, async () => {
      const d = s.deployment();
      await s.until('every rollout COMPLETED', () => d.services.every((m) => s.service(m).service.deployments?.[0]?.rolloutState === 'COMPLETED'), 120_000);
      const rows = await probeAllServices(s, d);
      expect(rows.filter((r) => r.health !== 200 || r.version !== version)).toEqual([]);
      const arches = new Set<string>();
      for (const m of d.services) {
        for (const t of s.runningTasks(m)) arches.add((await s.httpGet(`http://${t.ip}:${m.port}/version`)).body?.arch);
      }
      expect([...arches]).toEqual(['arm64']);
      return { observed: `${rows.length} tasks healthy; process.arch ${[...arches].join(',')}` };
    });
  }, DOCKER_BUDGET_MS);
});
