/**
 * The TaskRuntime contract against the docker runtime: the generic stub's linux/arm64 image
 * (built offline by docker/, cached), containers on a per-run network at fixed task IPs. Skips, saying why,
 * when no Docker engine answers or this host cannot run arm64 binaries.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { describeTaskRuntimeContract, type ContractImageKind } from '../contract.ts';
import { stubImage } from '../stub-image.ts';
import type { ImageConfig } from '../types.ts';
import { buildImages, engineAnswers } from './images.ts';
import { arm64Support } from './select.ts';

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
}
