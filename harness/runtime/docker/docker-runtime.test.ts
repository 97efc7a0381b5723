/**
 * The TaskRuntime contract against the docker runtime: the generic stub's linux/arm64 image
 * (built offline by docker/, cached), containers on a per-run network at fixed task IPs; then
 * Fargate's container semantics for any image, on a small image built here FROM the offline
 * base (its own ENTRYPOINT, CMD, WORKDIR, USER, ENV): entryPoint/command, workingDirectory,
 * user, readonlyRootFilesystem, ulimits, image env under task env, the stop timeout, a
 * CMD-SHELL curl health check in an image without curl, an image without a shell behind the
 * security-group gate, two containers of one task, and registry pulls (a local docker-registry).
 * Skips, saying why, when no Docker engine answers or this host cannot run arm64 binaries.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock } from '../../clock.ts';
import { ContainerHealthChecker, type HealthStatus } from '../../ecs/health.ts';
import { describeTaskRuntimeContract, freePort, type ContractImageKind } from '../contract.ts';
import { stubImage } from '../stub-image.ts';
import type { ContainerDefinitionSpec, ContainerSpec, ImageConfig } from '../types.ts';
import { buildImages, engineAnswers, ensureBaseImage, HARNESS_LABEL } from './images.ts';
import { arm64Support } from './select.ts';

const execFileP = promisify(execFile);

const RUN = `eh${randomBytes(4).toString('hex')}`;

const engine = await engineAnswers();
const arm = engine.ok ? arm64Support() : { ok: false, detail: '' };
let skipReason = !engine.ok ? `no Docker engine answers (${engine.detail})` : !arm.ok ? arm.detail : '';
const mods = skipReason
  ? undefined
  : await Promise.all([import('./docker-runtime.ts'), import('./fabric.ts')]).catch((e: Error) => {
      skipReason = `testcontainers does not load (npm install --save-dev testcontainers@11): ${e.message.split('\n')[0]}`;
      return undefined;
    });
if (!skipReason) {
  try {
    await buildImages();
  } catch (e) {
    skipReason = `the stub images cannot be built here: ${(e as Error).message}`;
  }
}

if (skipReason) {
  console.log(`docker runtime tests SKIPPED: ${skipReason}`);
  describe.skip(`docker runtime (skipped: ${skipReason})`, () => {
    it('needs a Docker engine', () => {});
  });
} else {
  const [{ DockerRuntime, listRunContainers }, { DockerFabric }] = mods!;
  let fabric: Awaited<ReturnType<typeof DockerFabric.create>> | undefined;
  const subnets = [
    { subnetId: 'subnet-a', cidrBlock: '10.0.1.0/24', availabilityZone: 'us-west-1a' },
    { subnetId: 'subnet-b', cidrBlock: '10.0.2.0/24', availabilityZone: 'us-west-1c' },
  ];
  const ready = DockerFabric.create({ runId: RUN, subnets, vpcCidr: '10.0.0.0/16' }).then((f) => (fabric = f));
  await ready;
  afterAll(async () => {
    await fabric?.close();
  });

  const base = () => fabric!.subnet.split('.').slice(0, 2).join('.');
  const ipFor = (n: number) => `${base()}.1.${20 + n}`;
  // the generic stub's one image, with a tag's image ENV as the catalogue gives it
  const imageFor = (kind: ContractImageKind): ImageConfig => {
    switch (kind) {
      case 'healthy':
      case 'env-echo':
        return stubImage({ STUB_VERSION: 'v1.0.0' });
      case 'unhealthy':
        return stubImage({ STUB_VERSION: 'fault-unhealthy', STUB_FAULT: 'unhealthy' });
      case 'crash':
        return stubImage({ STUB_VERSION: 'fault-crash', STUB_FAULT: 'crash' });
      case 'ignores-sigterm':
        return stubImage({ STUB_VERSION: 'v1.0.0', STUB_FAULT: 'ignore-sigterm' });
    }
  };

  describeTaskRuntimeContract('docker', async () => new DockerRuntime({ runId: RUN, network: fabric!.networkName, timeScale: 0.05 }), {
    ipFor,
    imageFor,
    runId: RUN,
    readyTimeoutMs: 30_000,
    leftovers: (runId) => listRunContainers(runId),
  });

  describe('DockerRuntime: Fargate architecture', () => {
    const rt = new DockerRuntime({ runId: `${RUN}-arch`, network: fabric!.networkName });
    afterAll(async () => {
      await rt.close();
      expect(await listRunContainers(`${RUN}-arch`)).toEqual([]);
    });

    it('runs the linux/arm64 image as arm64 (process.arch in /version), at the task IP', async () => {
      const ip = ipFor(90);
      const lines: string[] = [];
      const h = await rt.start({
        runId: `${RUN}-arch`, taskId: 'arch0000000000000000', family: 'arch', containerName: 'app',
        image: stubImage({ STUB_VERSION: 'v1.0.0' }), env: { STUB_SERVICE: 'sample-service', STUB_PORTS: '8081' }, ports: [8081], ip, onLog: (_s, l) => lines.push(l),
      });
      let body: any;
      for (let i = 0; i < 150 && !body; i++) {
        body = await fetch(`http://${ip}:8081/version`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json(), () => undefined);
        if (!body) await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).toMatchObject({ arch: 'arm64', service: 'sample-service', version: 'v1.0.0' });
      expect(lines.join('\n')).toMatch(/linux\/arm64/);
      await rt.stop(h, 2000);
    });

    it('a missing local image fails the start with one line saying what to do', async () => {
      const missing = { ...stubImage({ STUB_VERSION: 'v1.0.0' }), dockerImage: 'escher-harness/stub:000000000000-arm64' };
      await expect(
        rt.start({ runId: `${RUN}-arch`, taskId: 'miss0000', family: 'x', containerName: 'app', image: missing, env: {}, ports: [], ip: ipFor(91), onLog: () => {} }),
      ).rejects.toThrow(/CannotPullContainerError: local image .* not found: run `npm run images`/);
    });
  });

  // ---- Fargate's container semantics, for any image ----
  const OWN = `${RUN}-own`;
  const tag = (what: string) => `escher-harness/test-${what}:${RUN}`;
  const images = { own: tag('own'), nocurl: tag('nocurl'), noshell: tag('noshell') };
  /** the entry point of the test image: says what it sees, then waits, ignoring SIGTERM (it says so) */
  const ENTRY = [
    'echo "argv: $*"',
    'echo "cwd=$(pwd) uid=$(id -u) gid=$(id -g)"',
    'echo "env IMG_ONLY=$IMG_ONLY SHARED=$SHARED"',
    'echo "nofile=$(ulimit -n) hard=$(ulimit -Hn)"',
    'if ( echo x > /tmp/probe ) 2>/dev/null; then echo write=ok; else echo write=failed; fi',
    "trap 'echo got TERM' TERM",
    'echo ready',
    'while :; do sleep 0.1; done',
    '',
  ].join('\n');
  const docker = (args: string[], cwd?: string) => execFileP('docker', args, { cwd, env: { ...process.env, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' }, timeout: 300_000 });

  describe('DockerRuntime: Fargate container semantics for any image', { timeout: 120_000 }, () => {
    const rt = new DockerRuntime({ runId: OWN, network: fabric!.networkName, timeScale: 0.05 });
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'escher-harness-test-image-'));
    let n = 0;
    let buildMs = 0;

    beforeAll(async () => {
      const t0 = Date.now();
      const base = (await ensureBaseImage('arm64')).image;
      fs.writeFileSync(path.join(ctx, 'entry.sh'), ENTRY);
      const build = async (name: string, dockerfile: string) => {
        fs.writeFileSync(path.join(ctx, 'Dockerfile'), dockerfile);
        await docker(['build', '-q', '--platform', 'linux/arm64', '--label', `${HARNESS_LABEL}=1`, '-t', name, '.'], ctx);
      };
      // its own ENTRYPOINT, CMD, WORKDIR, USER and ENV
      await build(images.own, [`FROM ${base}`, 'COPY entry.sh /entry.sh', 'ENV IMG_ONLY=from-image SHARED=from-image', 'WORKDIR /srv', 'USER nobody', 'ENTRYPOINT ["/bin/sh", "/entry.sh"]', 'CMD ["image-cmd-arg"]', ''].join('\n'));
      // the same without curl
      await build(images.nocurl, [`FROM ${images.own}`, 'USER root', 'RUN rm -f /usr/bin/curl', 'USER nobody', ''].join('\n'));
      // no /bin/sh: one static busybox at /busybox, run directly
      await build(images.noshell, [`FROM ${base} AS b`, 'FROM scratch', 'COPY --from=b /bin/busybox /busybox', 'ENTRYPOINT ["/busybox", "sh", "-c", "echo no shell here; while :; do /busybox sleep 1; done"]', ''].join('\n'));
      buildMs = Date.now() - t0;
      console.log(`docker runtime: test images built in ${buildMs} ms`);
    }, 300_000);
    afterAll(async () => {
      await rt.close();
      expect(await listRunContainers(OWN)).toEqual([]);
      await docker(['image', 'rm', '-f', ...Object.values(images)]).catch(() => undefined);
      fs.rmSync(ctx, { recursive: true, force: true });
    });

    /** starts the test image (or another) with a definition; resolves once it printed `until` */
    const run = async (definition: ContainerDefinitionSpec | undefined, opts: { image?: ImageConfig; env?: Record<string, string>; until?: RegExp; files?: ContainerSpec['files']; taskId?: string; ip?: string; name?: string; runtime?: InstanceType<typeof DockerRuntime> } = {}) => {
      const lines: string[] = [];
      let seen!: () => void;
      const until = opts.until ?? /^ready$/;
      const printed = new Promise<void>((r) => (seen = r));
      const h = await (opts.runtime ?? rt).start({
        runId: opts.runtime?.runId ?? OWN, taskId: opts.taskId ?? `own${(n++).toString().padStart(5, '0')}${randomBytes(8).toString('hex')}`, family: 'own', containerName: opts.name ?? 'app',
        image: opts.image ?? { cmd: [], env: {}, dockerImage: images.own }, ...(definition ? { definition } : {}),
        env: opts.env ?? {}, ports: [], ip: opts.ip ?? ipFor(100 + n), ...(opts.files ? { files: opts.files } : {}),
        onLog: (_s, l) => {
          lines.push(l);
          if (until.test(l)) seen();
        },
      });
      await Promise.race([printed, h.exited]);
      return { h, lines, text: () => lines.join('\n') };
    };
    const def = (d: Partial<ContainerDefinitionSpec> = {}): ContainerDefinitionSpec => ({ stopTimeout: 30, ...d });

    it("runs the image's own ENTRYPOINT, CMD, WORKDIR, USER and ENV; the task env wins over the image's", async () => {
      const c = await run(def(), { env: { SHARED: 'from-task' } });
      expect(c.lines).toContain('argv: image-cmd-arg');
      expect(c.lines).toContain('cwd=/srv uid=65534 gid=65534');
      expect(c.lines).toContain('env IMG_ONLY=from-image SHARED=from-task');
      expect(c.lines).toContain('write=ok');
      // Fargate's nofile default (65535), as far as this engine can grant it
      const { engineUlimitCeilings } = mods![0];
      const cap = Math.min(65535, engineUlimitCeilings().nofile ?? 65535);
      expect(c.lines).toContain(`nofile=${cap} hard=${cap}`);
      await rt.stop(c.h, 500, 'SIGKILL');
    });

    it("command replaces the image's CMD; entryPoint replaces its ENTRYPOINT and the image's CMD is then not used (the engine's rule)", async () => {
      const cmd = await run(def({ command: ['a', 'b c'] }));
      expect(cmd.lines).toContain('argv: a b c');
      const ep = await run(def({ entryPoint: ['/bin/sh', '-c', 'echo "ep: $0 $*"', 'zero'] }), { until: /^ep:/ });
      expect(await ep.h.exited).toMatchObject({ exitCode: 0 });
      expect(ep.lines.map((l) => l.trim())).toEqual(['ep: zero']); // not "ep: zero image-cmd-arg"
      const both = await run(def({ entryPoint: ['/bin/sh', '-c', 'echo "ep: $0 $*"', 'zero'], command: ['x'] }), { until: /^ep:/ });
      await both.h.exited;
      expect(both.lines.map((l) => l.trim())).toEqual(['ep: zero x']);
      await rt.stop(cmd.h, 500, 'SIGKILL');
    });

    it('workingDirectory and user replace the image WORKDIR and USER (name, uid, uid:gid)', async () => {
      const [root, num] = await Promise.all([run(def({ workingDirectory: '/tmp', user: 'root' })), run(def({ user: '1000:1001' }))]);
      expect(root.lines).toContain('cwd=/tmp uid=0 gid=0');
      expect(num.lines).toContain('cwd=/srv uid=1000 gid=1001');
      // health checks run as the container's user too
      expect((await rt.exec(num.h, ['CMD-SHELL', 'id -u'], 10_000)).stdout.trim()).toBe('1000');
      await Promise.all([rt.stop(root.h, 500, 'SIGKILL'), rt.stop(num.h, 500, 'SIGKILL')]);
    });

    it("readonlyRootFilesystem: a write fails; the harness's files are still there (read-only)", async () => {
      const file = '/etc/escher-harness/test-ca.pem';
      const c = await run(def({ readonlyRootFilesystem: true }), { files: [{ path: file, content: 'ro-file-42\n' }] });
      expect(c.lines).toContain('write=failed');
      const r = await rt.exec(c.h, ['CMD-SHELL', `cat ${file}; echo y > ${file}`], 10_000);
      expect(r.stdout.trim()).toBe('ro-file-42');
      expect(r.exitCode).not.toBe(0);
      await rt.stop(c.h, 500, 'SIGKILL');
    });

    it('ulimits: ECS names and limits reach the container (nofile soft/hard)', async () => {
      const c = await run(def({ ulimits: [{ name: 'nofile', softLimit: 1234, hardLimit: 2048 }] }));
      expect(c.lines).toContain('nofile=1234 hard=2048');
      await rt.stop(c.h, 500, 'SIGKILL');
    });

    it('stop: SIGTERM first, then SIGKILL once the stop timeout has passed', async () => {
      const c = await run(def({ stopTimeout: 2 }));
      const t0 = Date.now();
      const exit = await rt.stop(c.h, 1500);
      const took = Date.now() - t0;
      expect(exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
      expect(took).toBeGreaterThanOrEqual(1450);
      expect(took).toBeLessThan(8000);
      expect(c.lines).toContain('got TERM');
    });

    it('a CMD-SHELL curl health check in an image without curl fails as on Fargate: 127, "curl: not found", UNHEALTHY', async () => {
      const c = await run(def(), { image: { cmd: [], env: {}, dockerImage: images.nocurl } });
      const bare = await rt.exec(c.h, ['CMD-SHELL', 'curl -f http://localhost:8080/health'], 10_000);
      expect(bare.exitCode).toBe(127);
      expect(bare.stdout + bare.stderr).toMatch(/curl: not found/);
      // the usual "|| exit 1": exit 1, the same output; through the health checker as the task runner runs it
      const clock = new Clock(0.01);
      const seen: { status: HealthStatus; output: string }[] = [];
      const checker = new ContainerHealthChecker(clock, rt, c.h, { command: ['CMD-SHELL', 'curl -f http://localhost:8080/health || exit 1'], interval: 5, timeout: 2, retries: 2 }, (status, output) => seen.push({ status, output }));
      checker.start();
      for (let i = 0; i < 300 && !seen.length; i++) await new Promise((r) => setTimeout(r, 100));
      checker.stop();
      clock.close();
      expect(seen[0]?.status).toBe('UNHEALTHY');
      expect(seen[0]?.output).toMatch(/curl: not found/);
      expect(checker.lastExitCode).toBe(1);
      await rt.stop(c.h, 500, 'SIGKILL');
    });

    it('an image without a shell runs behind the security-group gate: the rules come before any container of the task', async () => {
      const order: string[] = [];
      const gate = {
        isolationEnforced: true,
        containerStarted: async (_id: string, cid: string) => {
          const d = (await getContainerRuntimeClient()).container.dockerode;
          order.push(`gate ${(await d.getContainer(cid).inspect()).Config.Labels['dev.escher-harness.role']}`);
          expect((await listRunContainers(`${OWN}-gate`)).length).toBe(1); // only the sandbox exists
        },
      };
      const gated = new DockerRuntime({ runId: `${OWN}-gate`, network: fabric!.networkName, timeScale: 0.05, fabric: gate });
      try {
        const c = await run(def(), { image: { cmd: [], env: {}, dockerImage: images.noshell }, until: /no shell here/, runtime: gated });
        order.push(...c.lines);
        expect(order).toEqual(['gate sandbox', 'no shell here']);
        // its health check has no sh to run in: the engine's words, not a hang
        const r = await gated.exec(c.h, ['CMD-SHELL', 'true'], 10_000);
        expect(r.exitCode).not.toBe(0);
        expect(r.stdout + r.stderr).toMatch(/no such file|not found|executable file/i);
      } finally {
        await gated.close();
      }
      expect(await listRunContainers(`${OWN}-gate`)).toEqual([]);
    });

    it("the containers of one task share its address and localhost (the sandbox's namespace)", async () => {
      const taskId = `shared${randomBytes(10).toString('hex')}`;
      const ip = ipFor(180);
      const port = await freePort();
      const web = await run(undefined, { image: stubImage({ STUB_VERSION: 'v1.0.0' }), env: { STUB_SERVICE: 'web', STUB_PORTS: String(port) }, taskId, ip, name: 'web', until: /./ });
      const side = await run(undefined, { taskId, ip, name: 'sidecar' });
      let r = { exitCode: -1, stdout: '', stderr: '', timedOut: false };
      for (let i = 0; i < 60 && r.exitCode !== 0; i++) {
        r = await rt.exec(side.h, ['CMD-SHELL', `curl -sf http://localhost:${port}/health`], 10_000);
        if (r.exitCode !== 0) await new Promise((res) => setTimeout(res, 250));
      }
      expect(r.exitCode, r.stderr).toBe(0);
      expect((await fetch(`http://${ip}:${port}/health`)).status).toBe(200);
      await Promise.all([rt.stop(web.h, 500, 'SIGKILL'), rt.stop(side.h, 500, 'SIGKILL')]);
    });

    it("an init container that exits before the app starts leaves the task's sandbox to the app; taskEnded removes it", async () => {
      const taskId = `init${randomBytes(10).toString('hex')}`;
      const ip = ipFor(181);
      const sandboxes = async () =>
        (await docker(['ps', '-aq', '--filter', `label=dev.escher-harness.task-id=${taskId}`, '--filter', 'label=dev.escher-harness.role=sandbox'])).stdout.trim().split('\n').filter(Boolean);
      const init = await run(def({ entryPoint: ['/bin/sh', '-c', 'echo init done'] }), { taskId, ip, name: 'init', until: /init done/ });
      expect((await init.h.exited).exitCode).toBe(0);
      const first = await sandboxes();
      expect(first).toHaveLength(1);
      const app = await run(def(), { taskId, ip, name: 'app' });
      expect(app.lines).toContain('ready');
      expect(await sandboxes()).toEqual(first);
      await rt.stop(app.h, 500, 'SIGKILL');
      // the task is not over until the task runner says so: its address stays
      expect(await sandboxes()).toEqual(first);
      await rt.taskEnded(taskId);
      expect(await sandboxes()).toEqual([]);
    });

    it('a registry image is pulled with its credentials when the engine lacks it; a failed pull is CannotPullContainerError with the engine\'s words', async () => {
      const port = await freePort();
      let asked = 0;
      const credentials = () => {
        asked++;
        return { username: 'AWS', password: 'token', serveraddress: `127.0.0.1:${port}` };
      };
      // nothing listens there
      await expect(run(def(), { image: { cmd: [], env: {}, pull: { ref: `127.0.0.1:${port}/eh-nothing:1`, platform: 'linux/arm64', credentials } } })).rejects.toThrow(
        /^CannotPullContainerError: Error response from daemon: .*127\.0\.0\.1:\d+.*(refused|connect)/,
      );
      expect(asked).toBe(1);
      // a real registry (Debian's docker-registry), when installed
      const bin = ['/usr/bin/docker-registry'].find((f) => fs.existsSync(f));
      if (!bin) {
        console.log('docker runtime: the pull-from-a-registry case SKIPPED: no /usr/bin/docker-registry (apt-get install docker-registry)');
        return;
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'escher-harness-test-registry-'));
      fs.writeFileSync(path.join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
      const reg = spawn(bin, ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
      const ref = `127.0.0.1:${port}/eh-own-${RUN}:v1`;
      let byDigest = '';
      try {
        for (let i = 0; i < 100; i++) {
          if (await fetch(`http://127.0.0.1:${port}/v2/`).then(() => true, () => false)) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await docker(['tag', images.own, ref]);
        await docker(['push', ref]);
        const { stdout } = await docker(['image', 'inspect', '--format', '{{index .RepoDigests 0}}', ref]);
        byDigest = stdout.trim();
        await docker(['image', 'rm', ref]);
        await docker(['image', 'rm', byDigest]).catch(() => undefined);
        expect((await docker(['image', 'ls', '-q', byDigest.split('@')[0]!])).stdout.trim()).toBe(''); // the engine no longer has it by that name
        const t0 = Date.now();
        // a runtime of its own: closing it is part of the case
        const pulling = new DockerRuntime({ runId: `${OWN}-pull`, network: fabric!.networkName, timeScale: 0.05 });
        try {
          const c = await run(def({ command: ['pulled'] }), { image: { cmd: [], env: {}, pull: { ref: byDigest, platform: 'linux/arm64', credentials } }, runtime: pulling });
          console.log(`docker runtime: pulled ${byDigest} and started it in ${Date.now() - t0} ms`);
          expect(c.lines).toContain('argv: pulled');
          expect(c.lines).toContain('cwd=/srv uid=65534 gid=65534');
          expect(asked).toBe(2);
          expect((await docker(['image', 'ls', '-q', '--digests', byDigest.split('@')[0]!])).stdout.trim()).not.toBe('');
        } finally {
          await pulling.close();
        }
        // teardown removes what the run pulled from its registry
        expect((await docker(['image', 'ls', '-q', byDigest.split('@')[0]!])).stdout.trim()).toBe('');
      } finally {
        reg.kill('SIGTERM');
        // the pushed tag and what the runtime pulled (by digest)
        for (const name of [ref, byDigest].filter(Boolean)) await docker(['image', 'rm', '-f', name]).catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
