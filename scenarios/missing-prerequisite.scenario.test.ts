import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, optionsFromEnv, type ScriptRun } from '../harness/scenario/scenario.ts';
import { DEFAULT_DEPLOY_DIR, findManifest } from '../harness/manifest/load.ts';
import { latestGood } from './support.ts';

/**
 * The repo's own manifest without its load balancers: the scripts look one up that the harness
 * did not seed, fail, and the report says so in one line — the API call, the name asked for,
 * the manifest key to add — next to the script's exit code.
 */
let s: Scenario;
let run: ScriptRun;
let lbName: string;
let manifestCopy: string;

describe('scenario missing-prerequisite: a load balancer the scripts look up is not in harness.yaml', () => {
  beforeAll(async () => {
    const deployDir = optionsFromEnv().deployDir ?? DEFAULT_DEPLOY_DIR;
    const original = findManifest(deployDir, optionsFromEnv().manifest);
    const doc = YAML.parseDocument(fs.readFileSync(original, 'utf8'));
    const lbs = doc.get('loadBalancers') as YAML.YAMLSeq | undefined;
    lbName = String((lbs?.items[0] as YAML.YAMLMap | undefined)?.get('name') ?? '');
    if (!lbName) throw new Error(`${original}: loadBalancers: none, so this scenario has nothing to take away`);
    doc.delete('loadBalancers');
    // the edited copy lives in a temp dir: the user's repo is never written to
    manifestCopy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eh-missing-lb-')), 'harness.yaml');
    fs.writeFileSync(manifestCopy, doc.toString());
    s = await Scenario.start('missing-prerequisite', { deployDir, manifest: manifestCopy });
    run = await s.deployAll(latestGood(s));
  });
  afterAll(async () => {
    if (manifestCopy) fs.rmSync(path.dirname(manifestCopy), { recursive: true, force: true });
    await s?.finish();
  });

  it('the deploy fails, and the report names the missing load balancer with the manifest key to add', async () => {
    await s.check(`${run.script} fails; one line names load balancer ${lbName} and loadBalancers in harness.yaml`, () => {
      expect(run.exitCode, 'the scripts cannot find the load balancer').not.toBe(0);
      const lines = run.missingPrerequisites ?? [];
      const line = lines.find((l) => l.includes(`load balancer ${lbName}`));
      expect(line, lines.join('\n') || run.output.slice(-1500)).toBeDefined();
      expect(line).toMatch(new RegExp(`exited ${run.exitCode}: .*DescribeLoadBalancers .*LoadBalancerNotFound.*loadBalancers in harness\\.yaml`));
      expect(s.warnings).toContain(line);
      return { observed: line };
    });
  });
});
