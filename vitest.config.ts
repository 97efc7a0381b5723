import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';


/**
 * The `scenario-docker` project runs the scenario files again with HARNESS_RUNTIME=docker.
 * Whether docker mode can run here is asked once (dockerModeAvailable, in a child process so
 * the config stays light), and only when that project may run: when it cannot, the project
 * runs scenarios/docker-unavailable.test.ts instead, which prints why and skips.
 */
function dockerScenariosSkipReason(): string | undefined {
  const argv = process.argv.join(' ');
  const projects = [...argv.matchAll(/--project[= ](\S+)/g)].map((m) => m[1]);
  if (projects.length && !projects.some((p) => p.includes('scenario-docker'))) return 'not selected';
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '-e', "import('./harness/runtime/docker/select.ts').then((m) => m.dockerModeAvailable()).then((a) => console.log(JSON.stringify(a)))"],
    { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: 'utf8', timeout: 60_000 },
  );
  try {
    const a = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as { ok: boolean; reason: string };
    return a.ok ? undefined : a.reason;
  } catch {
    return `could not check docker mode: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`;
  }
}
const dockerSkip = dockerScenariosSkipReason();
/**
 * Docker mode repeats the scenarios where the docker runtime changes something: containers and
 * their health checks under QEMU, security groups inside each container's namespace, DNS through
 * Docker's resolver, SurrealDB as a container, functions as containers of their architecture
 * (isolation and functions share one topology there, as in the groups below). HARNESS_DOCKER_SCENARIOS=a,b,… picks others,
 * `all` every scenario (npm run test:nightly).
 */
const DOCKER_DEFAULT = ['docker-mode', 'isolation', 'functions', 'arm64', 'own-image'];
const dockerWanted = (process.env.HARNESS_DOCKER_SCENARIOS ?? '').split(',').map((x) => x.trim()).filter(Boolean);
/** npm run test:nightly: every scenario on both fixtures and in docker mode */
const full = process.env.HARNESS_FULL_MATRIX === '1';
/**
 * Scenarios npm test runs in docker mode only: own-image deploys a user's image, which the
 * process runtime refuses (its process-mode run only shows that refusal, which
 * harness/ecs/scheduler.test.ts covers); the nightly matrix runs them in both.
 */
// (`harness scenario` names its runtime in HARNESS_RUNTIME and runs whatever it is asked)
const DOCKER_MODE_ONLY = full || process.env.HARNESS_RUNTIME ? [] : ['own-image'];
const dockerOnly = full || dockerWanted.includes('all') ? [] : dockerWanted.length ? dockerWanted : DOCKER_DEFAULT;
/**
 * The second fixture in npm test: a fresh deploy with its jq-read config and templates, its own
 * serverless part, its breaker with rollback, and its security groups as data.
 */
const SECOND_FIXTURE_SCENARIOS = ['deploy-all', 'functions', 'rollback-circuit-breaker', 'isolation'];
/**
 * Scenarios that deploy the newest good release and then look: npm test runs them as one group
 * on one topology (scenarios/shared.group.test.ts), brought up and deployed once, each with its
 * own checks and report. Those that change something go last: functions removes an API Gateway
 * permission and swaps code, egress puts a wrong API key and redeploys. `harness scenario` (it
 * sets HARNESS_RUNTIME) and the nightly matrix run each alone.
 */
const SHARED = ['deploy-all', 'isolation', 'db-isolation', 'auth', 'functions', 'egress'];
/**
 * Docker mode's group: docker-mode (deploy-all on containers) first, own-image last (it replaces
 * the entry service's image and then breaks it on purpose).
 */
const DOCKER_SHARED = ['docker-mode', ...SHARED, 'own-image'];
const groups = !full && !process.env.HARNESS_RUNTIME;
const GROUP_FILE = 'scenarios/shared.group.test.ts';
const fileOf = (n: string) => `scenarios/${n}.scenario.test.ts`;
/** The second fixture repo, laid out unlike the first: every scenario runs on it too. */
const SECOND_FIXTURE = 'fixtures/ops-ecs-platform';

/**
 * A scenario's test and hook budget: docker mode's bring-up plus deploy takes 5–12 min on a
 * loaded 2-core machine (it slows, never fails: runtime/docker/calibrate.ts), process mode's 1–3.
 */
function scenarioTimeoutMs(runtime: string | undefined): number {
  return runtime === 'docker' || runtime === 'auto' ? 1_200_000 : 300_000;
}

export default defineConfig({
  test: {
    // two forks on this 2-core machine kind: unit and contract files two at a time; the scenario
    // projects below run one file at a time (a topology each; two at once on 2 cores made health
    // checks and the scripts' own bounded waits fail under the load they make together)
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['harness/**/*.test.ts', 'stubs/**/*.test.ts'],
          exclude: ['**/*.contract.test.ts', 'node_modules/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'contract',
          include: ['harness/**/*.contract.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'scenario',
          include: ['scenarios/**/*.scenario.test.ts', ...(groups ? [GROUP_FILE] : [])],
          // with groups, docker-mode runs in scenario-docker's group (it asks for docker mode itself otherwise)
          exclude: [...DOCKER_MODE_ONLY.map(fileOf), ...(groups ? [...SHARED, 'docker-mode'].map(fileOf) : []), 'node_modules/**'],
          // `npm test` runs these in process mode (auto would now pick docker where it can;
          // scenario-docker below covers that); `harness scenario` passes its own choice
          env: { HARNESS_RUNTIME: process.env.HARNESS_RUNTIME || 'process', HARNESS_SHARED_SCENARIOS: SHARED.join(',') },
          testTimeout: scenarioTimeoutMs(process.env.HARNESS_RUNTIME),
          hookTimeout: scenarioTimeoutMs(process.env.HARNESS_RUNTIME),
          // scenarios each bring up a whole topology; run them one at a time
          sequence: { groupOrder: 1 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'scenario-second-fixture',
          // the second fixture's manifest: the scenarios where its differences show (npm test); every
          // scenario with HARNESS_FULL_MATRIX=1 (npm run test:nightly)
          include: full
            ? ['scenarios/**/*.scenario.test.ts']
            : groups
              ? [...SECOND_FIXTURE_SCENARIOS.filter((n) => !SHARED.includes(n)).map(fileOf), GROUP_FILE]
              : SECOND_FIXTURE_SCENARIOS.map(fileOf),
          exclude: ['scenarios/docker-mode.scenario.test.ts', 'node_modules/**'],
          env: {
            HARNESS_RUNTIME: process.env.HARNESS_RUNTIME || 'process',
            HARNESS_DEPLOY_DIR: path.resolve(path.dirname(fileURLToPath(import.meta.url)), SECOND_FIXTURE),
            HARNESS_SHARED_SCENARIOS: SHARED.filter((n) => SECOND_FIXTURE_SCENARIOS.includes(n)).join(','),
          },
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 2 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'scenario-docker',
          // every scenario again, tasks as linux/arm64 containers (docker-mode.scenario.test.ts
          // is docker-only and already runs in the scenario project)
          include: dockerSkip
            ? ['scenarios/docker-unavailable.test.ts']
            : dockerOnly.length
              ? groups && dockerOnly.some((n) => DOCKER_SHARED.includes(n))
                ? [...dockerOnly.filter((n) => !DOCKER_SHARED.includes(n)).map(fileOf), GROUP_FILE]
                : dockerOnly.map(fileOf)
              : ['scenarios/**/*.scenario.test.ts'],
          exclude: ['scenarios/docker-mode.scenario.test.ts', 'node_modules/**'],
          env: {
            HARNESS_RUNTIME: 'docker',
            HARNESS_SHARED_SCENARIOS: DOCKER_SHARED.filter((n) => dockerOnly.includes(n)).join(','),
            ...(dockerSkip ? { HARNESS_DOCKER_UNAVAILABLE: dockerSkip } : {}),
          },
          testTimeout: scenarioTimeoutMs('docker'),
          hookTimeout: scenarioTimeoutMs('docker'),
          // after the process-mode scenarios, one at a time
          sequence: { groupOrder: 3 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
