import { Clock } from '../clock.ts';
import { EventLog } from '../events.ts';
import { EcsStore } from '../aws/ecs/store.ts';
import type { ContainerExit, ContainerHandle, ContainerSpec, ExecResult, ImageConfig, TaskRuntime } from '../runtime/types.ts';
import { processUnsupported } from '../runtime/process/process-runtime.ts';
import type { SchedulerDeps } from './deps.ts';
import { EcsScheduler } from './scheduler.ts';
import { LoopbackFabric } from '../network/loopback-fabric.ts';

/**
 * An in-memory TaskRuntime for scheduler unit tests: behaviour comes from the image env
 * (STUB_FAULT = unhealthy | crash) like the real stubs, without processes; FAKE_EXIT_CODE makes
 * a container exit with that code right after it started (an init container). It refuses what
 * the process runtime refuses (a registry image), and records every spec it was given and every
 * stop timeout it was asked for. `execResult`, when set, is what every health check returns.
 * setHealthy() and exit() drive a running container from a test.
 */
export class FakeRuntime implements TaskRuntime {
  readonly name = 'process' as const;
  readonly isolationEnforced = false;
  readonly running = new Map<string, { spec: ContainerSpec; exit: (e: ContainerExit) => void; healthy: boolean }>();
  started = 0;
  /** every spec start() was given, in order */
  readonly specs: ContainerSpec[] = [];
  /** every stop(): which container, with what timeout (ms) */
  readonly stops: { taskId: string; containerName: string; timeoutMs: number }[] = [];
  execResult?: ExecResult;

  unsupportedImage(image: ImageConfig): string | undefined {
    return processUnsupported(image);
  }

  async start(spec: ContainerSpec): Promise<ContainerHandle> {
    this.started++;
    this.specs.push(spec);
    let exit!: (e: ContainerExit) => void;
    const exited = new Promise<ContainerExit>((r) => (exit = r));
    const key = `${spec.taskId}/${spec.containerName}`;
    const fault = spec.image.env.STUB_FAULT;
    this.running.set(key, { spec, exit, healthy: fault !== 'unhealthy' });
    void exited.then(() => this.running.delete(key));
    if (fault === 'crash') setImmediate(() => exit({ exitCode: 1, signal: null }));
    const code = spec.image.env.FAKE_EXIT_CODE;
    if (code !== undefined) setImmediate(() => exit({ exitCode: Number(code), signal: null }));
    return { taskId: spec.taskId, containerName: spec.containerName, ip: spec.ip, exited };
  }

  /** From now on the container's health checks pass (true) or fail (false). */
  setHealthy(taskId: string, containerName: string, healthy: boolean): void {
    const c = this.running.get(`${taskId}/${containerName}`);
    if (!c) throw new Error(`fake runtime: ${taskId}/${containerName} is not running`);
    c.healthy = healthy;
  }

  /** The container's process exits on its own with `exitCode` (oomKilled: the kernel killed it over its memory limit). */
  exit(taskId: string, containerName: string, exitCode: number, opts: { oomKilled?: boolean } = {}): void {
    const c = this.running.get(`${taskId}/${containerName}`);
    if (!c) throw new Error(`fake runtime: ${taskId}/${containerName} is not running`);
    c.exit({ exitCode, signal: null, ...(opts.oomKilled ? { oomKilled: true } : {}) });
  }

  async exec(handle: ContainerHandle): Promise<ExecResult> {
    if (this.execResult) return this.execResult;
    const c = this.running.get(`${handle.taskId}/${handle.containerName}`);
    const ok = !!c && c.healthy;
    return { exitCode: ok ? 0 : 1, stdout: '', stderr: ok ? '' : 'curl: (22) The requested URL returned error: 503', timedOut: false };
  }

  /** container names whose stop() does not end them: they exit when the test calls exit() */
  readonly holdOnStop = new Set<string>();
  private stopWaiters: { key: string; resolve: () => void }[] = [];

  /** Resolves once stop() was called for the container (at once if it already was). */
  stopCalled(taskId: string, containerName: string): Promise<void> {
    if (this.stops.some((x) => x.taskId === taskId && x.containerName === containerName)) return Promise.resolve();
    return new Promise((resolve) => this.stopWaiters.push({ key: `${taskId}/${containerName}`, resolve }));
  }

  async stop(handle: ContainerHandle, timeoutMs: number): Promise<ContainerExit> {
    this.stops.push({ taskId: handle.taskId, containerName: handle.containerName, timeoutMs });
    const key = `${handle.taskId}/${handle.containerName}`;
    for (const w of this.stopWaiters.filter((x) => x.key === key)) w.resolve();
    this.stopWaiters = this.stopWaiters.filter((x) => x.key !== key);
    const c = this.running.get(key);
    if (!this.holdOnStop.has(handle.containerName)) c?.exit({ exitCode: 0, signal: 'SIGTERM' });
    return handle.exited;
  }

  async close(): Promise<void> {
    for (const c of this.running.values()) c.exit({ exitCode: null, signal: 'SIGKILL' });
  }
}

/** An image URI in the test account's ECR repository `app` (what makeTestControlPlane's image table is keyed by). */
export const testImage = (tag: string) => `123456789012.dkr.ecr.us-west-1.amazonaws.com/app:${tag}`;

/** A task's or service's awsvpc networkConfiguration on makeTestControlPlane's one subnet. */
export const TEST_NETWORK = { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: [] } };

export type TestControlPlane = ReturnType<typeof makeTestControlPlane>;

/** A test's cleanup: stops the scheduler, then closes the clock; nothing to do for undefined. */
export async function closeTestControlPlane(cp: TestControlPlane | undefined): Promise<void> {
  await cp?.scheduler.stop();
  cp?.clock.close();
}

/** A store + scheduler wired with fakes around a given image table (uri → behaviour). */
export function makeTestControlPlane(images: Record<string, { arch?: string; fault?: string; pull?: string; stub?: boolean; exitCode?: number }>, timeScale = 0.002) {
  const clock = new Clock(timeScale);
  const events = new EventLog();
  const store = new EcsStore({ account: '123456789012', region: 'us-west-1', now: () => new Date(), events });
  const runtime = new FakeRuntime();
  const secrets = new Map<string, string>([['arn:aws:secretsmanager:us-west-1:123456789012:secret:app/key', 's3cr3t']]);
  const deps: SchedulerDeps = {
    clock,
    events,
    runtime,
    runId: 'ehtest0001',
    region: 'us-west-1',
    images: {
      resolve(uri) {
        const img = images[uri];
        if (!img) throw new Error(`CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref ${uri}: not found`);
        return {
          digest: 'sha256:' + '0'.repeat(64),
          platforms: [{ os: 'linux', architecture: img.arch ?? 'arm64' }],
          config: {
            cmd: img.pull ? [] : ['node', 'x.mjs'],
            env: { ...(img.fault ? { STUB_FAULT: img.fault } : {}), ...(img.exitCode !== undefined ? { FAKE_EXIT_CODE: String(img.exitCode) } : {}) } as Record<string, string>,
            ...(img.pull ? { pull: { ref: img.pull } } : {}),
            ...(img.stub ? { stub: true } : {}),
          },
        };
      },
    },
    secrets: {
      resolve(valueFrom) {
        const v = secrets.get(valueFrom);
        if (v === undefined) {
          throw new Error(
            `ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret ${valueFrom} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
          );
        }
        return v;
      },
    },
    logs: { append() {} },
    network: new LoopbackFabric([{ subnetId: 'subnet-1', cidrBlock: '10.0.1.0/24', availabilityZone: 'us-west-1a' }], 'ehtest0001'),
  };
  const scheduler = new EcsScheduler(store, deps);
  scheduler.start();
  store.createCluster({ clusterName: 'c1' });
  return { clock, events, store, runtime, scheduler, deps };
}

/** Registers family `app` as a Fargate ARM64 awsvpc task definition (256/512) with the given containers. */
export function registerFargateTaskDefinition(store: EcsStore, containerDefinitions: Record<string, any>[]) {
  return store.registerTaskDefinition({
    family: 'app',
    executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
    containerDefinitions,
  });
}
