/**
 * Fargate's memory limit against the engine: a container whose process goes over its hard limit
 * (ContainerDefinitionSpec.memoryMiB) is killed by the kernel, exit code 137, and the runtime
 * says so (ContainerExit.oomKilled), which the task runner turns into ECS's OutOfMemoryError; a
 * container under its limit exits as it wants and is not marked. The stub image's node, as arm64.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { stubImage } from '../stub-image.ts';
import type { ContainerExit } from '../types.ts';
import { dockerModeAvailable } from './select.ts';

const avail = await dockerModeAvailable();
if (!avail.ok) console.log(`docker memory limit tests SKIPPED: docker mode unavailable (${avail.reason})`);

// the run's network and the runtime on it, only when docker mode can run here
const setup = avail.ok
  ? await (async () => {
      const [{ DockerRuntime, listRunContainers }, { DockerFabric }] = await Promise.all([import('./docker-runtime.ts'), import('./fabric.ts')]);
      const runId = `ehoom${randomBytes(4).toString('hex')}`;
      const fabric = await DockerFabric.create({ runId, subnets: [{ subnetId: 'subnet-a', cidrBlock: '10.0.1.0/24', availabilityZone: 'us-west-1a' }], vpcCidr: '10.0.0.0/16' });
      const rt = new DockerRuntime({ runId, network: fabric.networkName, firstOutputWaitMs: 0 });
      return { runId, fabric, rt, listRunContainers };
    })()
  : undefined;

describe.skipIf(!setup)(`docker runtime: the container's memory limit${avail.ok ? '' : ` (skipped: ${avail.reason})`}`, { timeout: 180_000 }, () => {
  if (!setup) {
    it('needs docker mode', () => {});
    return;
  }
  const { runId, fabric, rt, listRunContainers } = setup;
  const ipFor = (n: number) => `${fabric.subnet.split('.').slice(0, 2).join('.')}.1.${20 + n}`;
  afterAll(async () => {
    await rt.close();
    expect(await listRunContainers(runId)).toEqual([]);
    await fabric.close();
  });

  /** runs `node -e script` in the stub image under a hard limit of memoryMiB; resolves with its exit and output */
  let n = 0;
  const runNode = async (memoryMiB: number, script: string): Promise<{ exit: ContainerExit; lines: string[] }> => {
    const lines: string[] = [];
    const i = n++;
    const h = await rt.start({
      runId, taskId: `oom${i}${randomBytes(8).toString('hex')}`, family: 'oom', containerName: 'app',
      image: stubImage({ STUB_VERSION: 'v1.0.0' }), definition: { stopTimeout: 2, memoryMiB, command: ['node', '-e', script] },
      env: {}, ports: [], ip: ipFor(i), onLog: (_s, l) => lines.push(l),
    });
    return { exit: await h.exited, lines };
  };

  it('a process that allocates past its limit is killed by the kernel: exit code 137, oomKilled', async () => {
    const { exit } = await runNode(32, 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));');
    expect(exit.exitCode).toBe(137);
    expect(exit.oomKilled).toBe(true);
  });

  it('a process under its limit exits with its own code and is not marked oomKilled', async () => {
    const { exit, lines } = await runNode(256, 'const b = Buffer.alloc(8 << 20, 1); console.log(`allocated ${b.length}`); process.exit(3);');
    expect(lines).toContain(`allocated ${8 << 20}`);
    expect(exit.exitCode).toBe(3);
    expect(exit.oomKilled).not.toBe(true);
  });
});
