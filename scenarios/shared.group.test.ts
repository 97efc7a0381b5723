import { afterAll, beforeAll } from 'vitest';
import { Scenario } from '../harness/scenario/scenario.ts';

/**
 * npm test's scenario group: the scenarios named in HARNESS_SHARED_SCENARIOS (in that order)
 * run on one topology, brought up once, with deploy-all of the newest good release run once
 * (Scenario.shareTopology). Each keeps its own checks and report. They all deploy that release
 * and then look; one that changes something (egress swaps a secret, functions removes a
 * permission) goes after those that read it. `harness scenario <name>` and
 * `npm run test:nightly` run each of them alone, on its own topology.
 */
const names = (process.env.HARNESS_SHARED_SCENARIOS ?? '').split(',').map((x) => x.trim()).filter(Boolean);
if (!names.length) throw new Error('HARNESS_SHARED_SCENARIOS names no scenario: the vitest project that runs this group sets it');

let topology: ReturnType<typeof Scenario.shareTopology> | undefined;
beforeAll(() => {
  topology = Scenario.shareTopology();
});
afterAll(async () => {
  await topology?.release();
});

// each file's describe (with its own beforeAll/afterAll) registers into this one
for (const name of names) await import(`./${name}.scenario.test.ts`);
