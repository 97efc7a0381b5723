import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { findAwsClis } from '../harness/scenario/aws-cli.ts';
import { latestGood, probeAllServices } from './support.ts';

// The deploy scripts must work with the aws CLI v2 as well as v1: the same deploy-all,
// driven by the other major version than the one first on PATH.
const clis = findAwsClis();
const v2 = clis.find((c) => c.major === 'v2');
const reason = v2 ? '' : `no aws CLI v2 on this machine (found: ${clis.map((c) => c.version).join(', ') || 'none'}); apt-get install awscli provides it`;
if (!v2) console.log(`scenario deploy-all-cli-v2 skipped: ${reason}`);

let s: Scenario;
let run: ScriptRun;
let version: string;

describe.skipIf(!v2)('scenario deploy-all-cli-v2: the manifest\'s deployAll command with the aws CLI v2', () => {
  beforeAll(async () => {
    s = await Scenario.start('deploy-all-cli-v2', { awsCli: v2!.bin });
    version = latestGood(s);
    run = await s.deployAll(version);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('deploys every service healthy on the release', async () => {
    await s.check(`${run.script} ${version} with aws ${v2!.version} exits 0 and every service is COMPLETED and healthy`, async () => {
      expect(run.exitCode, run.output.slice(-2000)).toBe(0);
      const d = s.deployment();
      expect(d.services.length).toBeGreaterThan(0);
      await s.until('every rollout COMPLETED', () => d.services.every((m) => s.service(m).service.deployments?.[0]?.rolloutState === 'COMPLETED'), 60_000);
      for (const m of d.services) {
        expect(s.service(m).service.deployments!.map((d) => `${d.status} ${d.rolloutState}`)).toEqual(['PRIMARY COMPLETED']);
      }
      const rows = await probeAllServices(s, d);
      expect(rows.filter((r) => r.health !== 200 || r.version !== version)).toEqual([]);
      return { observed: `exit 0 in ${(run.durationMs / 1000).toFixed(1)} s; ${rows.length} tasks healthy on ${version}` };
    });
  });
});
