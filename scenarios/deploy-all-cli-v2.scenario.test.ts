import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { findAwsClis } from '../harness/scenario/aws-cli.ts';
import { probeAllServices } from './support.ts';

// The deploy scripts must work with the aws CLI v2 as well as v1: the same deploy-all,
// driven by the other major version than the one first on PATH.
const clis = findAwsClis();
const v2 = clis.find((c) => c.major === 'v2');
const reason = v2 ? '' : `no aws CLI v2 on this machine (found: ${clis.map((c) => c.version).join(', ') || 'none'}); apt-get install awscli provides it`;
if (!v2) console.log(`scenario deploy-all-cli-v2 skipped: ${reason}`);

let s: Scenario;
let run: ScriptRun;

describe.skipIf(!v2)('scenario deploy-all-cli-v2: deploy-all.sh v2.15.0 with the aws CLI v2', () => {
  beforeAll(async () => {
    s = await Scenario.start('deploy-all-cli-v2', { awsCli: v2!.bin });
    run = await s.runScript('deploy-all.sh', ['v2.15.0']);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('deploys every service healthy on v2.15.0', async () => {
    await s.check(`deploy-all.sh v2.15.0 with aws ${v2!.version} exits 0 and every service is COMPLETED and healthy`, async () => {
      expect(run.exitCode, run.output.slice(-2000)).toBe(0);
      await s.until('every rollout COMPLETED', () => s.h.topology.services.every((m) => s.service(m).service.deployments?.[0]?.rolloutState === 'COMPLETED'), 60_000);
      for (const m of s.h.topology.services) {
        expect(s.service(m).service.deployments!.map((d) => `${d.status} ${d.rolloutState}`)).toEqual(['PRIMARY COMPLETED']);
      }
      const rows = await probeAllServices(s);
      expect(rows.filter((r) => r.health !== 200 || r.version !== 'v2.15.0')).toEqual([]);
      return { observed: `exit 0 in ${(run.durationMs / 1000).toFixed(1)} s; ${rows.length} tasks healthy on v2.15.0` };
    });
  });
});
