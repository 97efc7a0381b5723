import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { DeployedService, Deployment } from '../harness/scenario/deployment.ts';
import type { Task } from '@aws-sdk/client-ecs';
import { dockerModeAvailable } from '../harness/runtime/docker/select.ts';
import { stubDockerImage } from '../harness/runtime/stub-image.ts';
import { diagnosisInputOf, serviceCauses } from '../harness/report/diagnose.ts';
import { albWithBearer, entryService, latestGood, type AlbClient } from './support.ts';

/**
 * The team's own image. Built in the test from a Dockerfile (on the harness's offline base), it
 * goes the way a CI job sends it: `aws ecr get-login-password | docker login`, `docker push` to
 * the run's ECR registry. The repo's own deployService command then deploys it in place of the
 * entry service's release, and it answers through the ALB. Two broken variants show what
 * Fargate would show:
 * - an image without curl fails the task definition's `CMD-SHELL curl …` health check: the
 *   task's health, its stoppedReason in `aws ecs describe-tasks`, and the check's output in the
 *   report;
 * - an image whose process exits when a variable is missing: its exit code and its last log
 *   line in the report.
 * In process mode a user's image cannot run as a process: the deploy's tasks stop saying so.
 */
const avail = await dockerModeAvailable();
if (!avail.ok) console.log(`scenario own-image SKIPPED: it builds and pushes an image with the Docker engine: ${avail.reason}`);

let s: Scenario;
let base: ScriptRun;
let version: string;
let d: Deployment;
let target: DeployedService;
let host: string;
let work: string;
let alb: AlbClient | undefined;
const built: string[] = [];

/** The app inside the image: answers every path, or exits when OWN_REQUIRE names a missing variable. */
const SERVER = `import http from 'node:http';
const need = process.env.OWN_REQUIRE;
if (need && !process.env[need]) {
  console.log('starting own image ' + process.env.OWN_VARIANT);
  console.error('fatal: ' + need + ' is not set');
  process.exit(3);
}
const port = Number(process.env.OWN_PORT);
http
  .createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ image: 'own', variant: process.env.OWN_VARIANT, version: process.env.OWN_TAG, path: req.url, arch: process.arch }));
  })
  .listen(port, '0.0.0.0', () => console.log('own image ' + process.env.OWN_VARIANT + ' listening on ' + port));
`;

type Variant = 'good' | 'no-curl' | 'needs-env';

function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end(opts.input ?? '');
  });
}

/** The scripts' environment: their aws wrapper, region, endpoint and the run's DOCKER_CONFIG. */
function scriptEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...s.h.cliEnv };
}

async function buildImage(variant: Variant, tag: string): Promise<string> {
  const dir = path.join(work, variant);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'server.mjs'), SERVER);
  const lines = [
    `FROM ${stubDockerImage('arm64')}`,
    'COPY server.mjs /srv/server.mjs',
    `ENV OWN_PORT=${target.port} OWN_VARIANT=${variant} OWN_TAG=${tag}`,
    ...(variant === 'needs-env' ? ['ENV OWN_REQUIRE=DATABASE_URL'] : []),
    ...(variant === 'no-curl' ? ['RUN ["/bin/rm", "-f", "/usr/bin/curl"]'] : []),
    'WORKDIR /srv',
    'LABEL escher-harness=1',
    'ENTRYPOINT ["node", "/srv/server.mjs"]',
    'CMD []',
  ];
  fs.writeFileSync(path.join(dir, 'Dockerfile'), lines.join('\n') + '\n');
  const local = `escher-harness/own-image-test:${s.h.runId}-${variant}`;
  const r = await run('docker', ['build', '--platform', 'linux/arm64', '-q', '-t', local, dir]);
  if (r.code !== 0) throw new Error(`docker build ${variant}: ${r.out}`);
  built.push(local);
  return local;
}

/** `docker tag` + `docker push` to <host>/<repository>:<tag>, as a CI job does; the pushed digest. */
async function push(local: string, tag: string): Promise<string> {
  const remote = `${host}/${target.repository}:${tag}`;
  const env = scriptEnv();
  const t = await run('docker', ['tag', local, remote], { env });
  if (t.code !== 0) throw new Error(`docker tag: ${t.out}`);
  built.push(remote);
  const p = await run('docker', ['push', remote], { env });
  if (p.code !== 0) throw new Error(`docker push ${remote}: ${p.out}`);
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(p.out)?.[1];
  if (!digest) throw new Error(`docker push ${remote} printed no digest: ${p.out}`);
  return digest;
}

/** The entry service's task definition with this image: a new revision, and the service on it. */
async function updateServiceTo(tag: string): Promise<{ taskDefinitionArn: string; fromSeq: number }> {
  const current = s.service(target).service;
  const described = await s.aws(['ecs', 'describe-task-definition', '--task-definition', current.taskDefinition!]);
  if (described.code !== 0) throw new Error(`describe-task-definition: ${described.stderr}`);
  const td = described.json.taskDefinition;
  const register: Record<string, unknown> = {};
  for (const k of ['family', 'taskRoleArn', 'executionRoleArn', 'networkMode', 'containerDefinitions', 'volumes', 'placementConstraints', 'requiresCompatibilities', 'cpu', 'memory', 'runtimePlatform']) if (td[k] !== undefined) register[k] = td[k];
  const c = (register.containerDefinitions as any[]).find((x) => x.name === target.container.name);
  c.image = `${host}/${target.repository}:${tag}`;
  const file = path.join(work, `td-${tag}.json`);
  fs.writeFileSync(file, JSON.stringify(register));
  const reg = await s.aws(['ecs', 'register-task-definition', '--cli-input-json', `file://${file}`]);
  if (reg.code !== 0) throw new Error(`register-task-definition: ${reg.stderr}`);
  const arn = reg.json.taskDefinition.taskDefinitionArn as string;
  const fromSeq = s.h.events.all().length;
  const up = await s.aws(['ecs', 'update-service', '--cluster', target.cluster, '--service', target.ecsService, '--task-definition', arn]);
  if (up.code !== 0) throw new Error(`update-service: ${up.stderr}`);
  return { taskDefinitionArn: arn, fromSeq };
}

/**
 * The first task of this revision that stopped the way `what` says (a task can also be stopped
 * for another reason first, e.g. by its target group's health check on a loaded machine), as
 * `aws ecs describe-tasks` shows it.
 */
async function firstStopped(taskDefinitionArn: string, what: string, pred: (t: Task) => boolean, timeoutMs: number): Promise<any> {
  let arn: string | undefined;
  await s.until(`a task of ${taskDefinitionArn.split('/').pop()} STOPPED: ${what}`, () => {
    arn = [...s.h.stores.ecs.tasks.values()].find((t) => t.task.taskDefinitionArn === taskDefinitionArn && t.task.lastStatus === 'STOPPED' && pred(t.task))?.task.taskArn;
    return !!arn;
  }, timeoutMs);
  const r = await s.aws(['ecs', 'describe-tasks', '--cluster', target.cluster, '--tasks', arn!]);
  return r.json.tasks[0];
}

/** What the report says about the entry service now (harness/report/diagnose.ts: its cause line). */
function causeOf(): string {
  const causes = serviceCauses(diagnosisInputOf(s.h, [], s.deployment())).filter((c) => c.service === target.ecsService);
  return causes.map((c) => c.line).join('\n');
}

describe.skipIf(!avail.ok)('scenario own-image: the team\'s image, pushed with docker, deployed by the repo\'s scripts', () => {
  beforeAll(async () => {
    // docker mode starts the registry anyway: no options there, so npm test's docker group can share its topology
    s = await Scenario.start('own-image', process.env.HARNESS_RUNTIME === 'docker' ? {} : { registry: true });
    if (!s.h.registry) throw new Error(`the run has no ECR registry: ${s.h.registryNote}`);
    host = s.h.registry.host;
    work = fs.mkdtempSync(path.join(os.tmpdir(), `eh-own-image-${s.h.runId}-`));
    version = latestGood(s);
    base = await s.deployAll(version);
    d = s.deployment();
    target = entryService(d);
    if (!target.repository) throw new Error(`${target.ecsService}: its image is not in one of the run's ECR repositories`);
  });
  afterAll(async () => {
    await alb?.close();
    if (built.length) await run('docker', ['rmi', '-f', ...built]).catch(() => undefined);
    if (work) fs.rmSync(work, { recursive: true, force: true });
    await s?.finish();
  });

  let digest: string;
  it('docker login takes the ECR token (and refuses another); docker push lands in ECR as pushed', async () => {
    await s.check(`${base.script} ${base.args.join(' ')} exits 0`, () => {
      expect(base.exitCode, base.output.slice(-2000)).toBe(0);
      return { observed: `exit 0; entry service ${target.ecsService} (${target.repository}, port ${target.port})` };
    });
    await s.check(`aws ecr get-login-password | docker login --username AWS --password-stdin ${host}: accepted; a wrong password: refused`, async () => {
      const env = scriptEnv();
      const bad = await run('docker', ['login', '--username', 'AWS', '--password-stdin', host], { env, input: 'not-the-token' });
      expect(bad.code, bad.out).not.toBe(0);
      const r = await run('bash', ['-c', `aws ecr get-login-password | docker login --username AWS --password-stdin ${host}`], { env });
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/Login Succeeded/);
      return { observed: `wrong password: ${bad.out.trim().split('\n').at(-1)}; token: Login Succeeded` };
    });
    await s.check(`docker build + docker push ${target.repository}:own-good; describe-images shows the pushed digest`, async () => {
      const local = await buildImage('good', 'own-good');
      digest = await push(local, 'own-good');
      const r = await s.aws(['ecr', 'describe-images', '--repository-name', target.repository!, '--image-ids', 'imageTag=own-good']);
      expect(r.code, r.stderr).toBe(0);
      const img = r.json.imageDetails[0];
      expect(img.imageDigest).toBe(digest);
      expect(img.imageManifestMediaType).toMatch(/manifest/);
      expect(img.imageSizeInBytes).toBeGreaterThan(1_000_000);
      return { observed: `${digest.slice(0, 19)}…, ${img.imageManifestMediaType}, ${(img.imageSizeInBytes / 1e6).toFixed(1)} MB` };
    });
  });

  it('the repo\'s deployService command deploys it; it runs with its own entry point and answers through the ALB', async () => {
    const single = await s.deployService(target, 'own-good');
    if (s.h.runtime.name !== 'docker') {
      await s.check('process mode: the user\'s image cannot run as a process, and the task says so', async () => {
        // the revision the script registered (the service may be back on the old one: a breaker's rollback)
        const registered = s.registeredRevision(target.family, single.fromSeq, single.toSeq) ?? s.service(target).service.taskDefinition!;
        const stopped = await firstStopped(registered, 'the process runtime refused the image', (t) => !!t.stoppedReason && !/^Scaling activity/.test(t.stoppedReason), 60_000);
        expect(stopped.stoppedReason).toMatch(/process runtime|--runtime docker/);
        return { observed: `${single.script} exit ${single.exitCode}; task stopped: ${stopped.stoppedReason}` };
      });
      return;
    }
    await s.check(`${single.script} ${single.args.join(' ')} exits 0; the service runs ${digest.slice(0, 19)}…`, async () => {
      expect(single.exitCode, single.output.slice(-2000)).toBe(0);
      await s.until(`${target.ecsService} rollout COMPLETED`, () => s.service(target).service.deployments?.[0]?.rolloutState === 'COMPLETED', 120_000);
      const tasks = s.runningTasks(target);
      expect(tasks.length).toBeGreaterThan(0);
      for (const t of tasks) expect(t.task.containers?.find((c) => c.name === target.container.name)?.imageDigest).toBe(digest);
      const r = await s.httpGet(`http://${tasks[0]!.ip}:${target.port}/version`, 10_000).catch(() => undefined);
      return { observed: `${tasks.length} task(s) RUNNING the pushed digest${r ? `; direct GET → ${r.status} ${r.text.slice(0, 80)}` : ''}` };
    });
    await s.check('through the ALB with a valid access token: the own image answers', async () => {
      alb = await albWithBearer(s, '/own/*');
      const r = await alb.request('/own/hello', { headers: { authorization: alb.bearer } });
      expect(r.status, r.text.slice(0, 300)).toBe(200);
      expect(r.body).toMatchObject({ image: 'own', variant: 'good', path: '/own/hello', arch: 'arm64' });
      return { observed: `200 ${r.text.slice(0, 120)}` };
    });
  });

  it('an image without curl fails the CMD-SHELL curl health check: UNHEALTHY, stoppedReason, and the check\'s output', async () => {
    if (s.h.runtime.name !== 'docker') return s.notVerified('health check inside a user\'s image', 'process mode runs no user image');
    const hc = target.container.healthCheck;
    if (!hc?.command?.join(' ').includes('curl')) return s.notVerified('an image without curl', `${target.ecsService}'s task definition has no CMD-SHELL curl health check`);
    await push(await buildImage('no-curl', 'own-no-curl'), 'own-no-curl');
    const { taskDefinitionArn } = await updateServiceTo('own-no-curl');
    await s.check('the task is UNHEALTHY and stops with "Task failed container health checks" (aws ecs describe-tasks)', async () => {
      const t = await firstStopped(taskDefinitionArn, 'its container health check failed', (x) => /container health checks/.test(x.stoppedReason ?? ''), 300_000);
      const c = t.containers.find((x: any) => x.name === target.container.name);
      expect(t.stoppedReason).toMatch(/container health checks/);
      expect(c.healthStatus).toBe('UNHEALTHY');
      return { observed: `${t.taskArn.split('/').pop().slice(0, 8)}: ${t.stopCode}: ${t.stoppedReason}; container health ${c.healthStatus}` };
    });
    await s.check('the report says why: curl is not in the image', () => {
      const text = causeOf();
      expect(text).toMatch(/curl/);
      expect(text).toMatch(/not found|127/);
      return { observed: text };
    });
  });

  it('an image whose process exits without a variable: exit code and last log line in the report', async () => {
    if (s.h.runtime.name !== 'docker') return s.notVerified('exit code of a user\'s image', 'process mode runs no user image');
    await push(await buildImage('needs-env', 'own-needs-env'), 'own-needs-env');
    const { taskDefinitionArn } = await updateServiceTo('own-needs-env');
    await s.check('the task stops: essential container exited 3 (aws ecs describe-tasks)', async () => {
      const t = await firstStopped(taskDefinitionArn, 'its essential container exited', (x) => /Essential container in task exited/.test(x.stoppedReason ?? ''), 300_000);
      const c = t.containers.find((x: any) => x.name === target.container.name);
      expect(c.exitCode).toBe(3);
      expect(t.stoppedReason).toMatch(/Essential container in task exited/);
      return { observed: `${t.stoppedReason}; exit ${c.exitCode}` };
    });
    await s.check('the report quotes the exit code and the last log line', () => {
      const text = causeOf();
      expect(text).toMatch(/fatal: DATABASE_URL is not set/);
      expect(text).toMatch(/\b3\b/);
      return { observed: text };
    });
  });
});
