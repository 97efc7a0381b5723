/**
 * The docker TaskRuntime: a task's container is a Docker container, started through
 * testcontainers (GenericContainer: image, command, env, labels, network, platform) and
 * driven through dockerode where testcontainers has no call for it (attach before start,
 * wait for the exit, exec with a timeout, signals at millisecond precision).
 *
 * - The container runs on the run's Docker network (DockerFabric) at the task's ENI address
 *   (spec.ip, a fixed IPv4 in the network's subnet), so the task IP in DescribeTasks, Cloud
 *   Map and the ALB's targets is the address the container really has.
 * - It resolves through the harness's Cloud Map DNS server (spec.dnsServer, port 53 on the
 *   network's gateway): Docker's embedded resolver forwards to it.
 * - Images are the locally built linux/arm64 stubs (docker/, `npm run images`); a task asking
 *   ARM64 runs them as arm64 (QEMU binfmt on x86 hosts), and nothing is ever pulled.
 * - Health checks: `docker exec` of `/bin/sh -c <cmd>` (CMD-SHELL) or the argv (CMD), killed
 *   at the timeout. stop(): the signal, then SIGKILL at the deadline (what `docker stop -t`
 *   does, with millisecond precision so scaled stopTimeouts hold).
 * - Every container carries escher-harness=1 and the run id (labels), so leftovers of a killed
 *   run can be found and removed, and nothing else is ever touched. No Ryuk.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { stopWithTimeout } from '../stop.ts';
import { constants as osConstants } from 'node:os';
import { PassThrough, type Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { GenericContainer, getContainerRuntimeClient, type WaitStrategy } from 'testcontainers';
import type { ContainerExit, ContainerHandle, ContainerSpec, ExecResult, TaskRuntime } from '../types.ts';
import { lineSplitter } from '../process/lines.ts';
import { HARNESS_LABEL } from './images.ts';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

export const LABEL_RUN_ID = 'dev.escher-harness.run-id';
export const LABEL_TASK_ID = 'dev.escher-harness.task-id';
export const LABEL_OWNER_PID = 'dev.escher-harness.owner-pid';

const EXEC_OUTPUT_LIMIT = 64 * 1024;
const LOG_DRAIN_MS = 1000;

export interface DockerRuntimeOptions {
  runId: string;
  /** the run's Docker network (DockerFabric.networkName) */
  network: string;
  /** passed to every task as HARNESS_TIME_SCALE */
  timeScale?: number;
  /** close(): signal, then SIGKILL after this many ms (default 1000) */
  closeGraceMs?: number;
  /**
   * start() resolves when the container has written its first output line (or exited), at most
   * this many ms after `docker start` (default 20 000; 0 = right after `docker start`). Under
   * QEMU a Node entry point needs 1–3 s of emulated boot before its first line; on Fargate's
   * arm64 that is ~50 ms, so that boot time is counted as container start-up, not as time the
   * app had to become healthy.
   */
  firstOutputWaitMs?: number;
  /**
   * The fabric enforcing security groups (DockerFabric): when it enforces, every container's
   * entry point waits behind gatedEntrypoint() and start() calls containerStarted(taskId, id),
   * which applies the ENI's rules in the container's namespace and then opens the gate.
   */
  fabric?: { readonly isolationEnforced: boolean; containerStarted(id: string, containerId: string): Promise<void> };
}

/** The marker a gated container waits for (the fabric writes it into the container's root). */
export const GATE_MARKER = '/.escher-harness-sg-ready';

/**
 * An entry point that waits for GATE_MARKER, then execs the command (PID 1 becomes the app, so
 * signals reach it as before). For images with /bin/sh (every stub image has busybox's). The
 * marker must hold the start time of this start's PID 1 (field 22 of /proc/<pid>/stat, the
 * same inside and outside the container): a marker left by an earlier start of the same container
 * (`docker start` again) does not open the gate before the new namespace has its rules.
 */
export function gatedEntrypoint(): string[] {
  const skip = Array.from({ length: 21 }, () => '_').join(' ');
  return [
    '/bin/sh',
    '-c',
    // read in a subshell (another pid): QEMU user mode fakes a process's own /proc/<pid>/stat
    `me=$(read -r ${skip} t _ < /proc/1/stat && echo "$t"); until { read -r got < ${GATE_MARKER}; } 2>/dev/null && [ "$got" = "$me" ]; do sleep 0.05; done; exec "$@"`,
    'escher-harness-gate',
  ];
}

/** The start time (clock ticks since boot, /proc/<pid>/stat field 22) of a host pid: what GATE_MARKER must hold. */
export function gateTokenOf(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

/** ECS starts a container and moves on: readiness is the health check's business. */
class StartedIsEnough implements WaitStrategy {
  private timeout = 60_000;
  async waitUntilReady(): Promise<void> {}
  withStartupTimeout(ms: number): this {
    this.timeout = ms;
    return this;
  }
  isStartupTimeoutSet(): boolean {
    return true;
  }
  getStartupTimeout(): number {
    return this.timeout;
  }
}

/** GenericContainer with a fixed address on the run network and hooks before start. */
class TaskContainer extends GenericContainer {
  constructor(
    image: string,
    network: string,
    ip: string,
    dns: string | undefined,
    aliases: string[],
    private readonly beforeStart: (containerId: string) => Promise<void>,
  ) {
    super(image);
    this.withNetworkMode(network);
    this.createOpts.NetworkingConfig = { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: ip }, Aliases: aliases } } };
    if (dns) this.hostConfig.Dns = [dns];
  }
  protected override async containerCreated(containerId: string): Promise<void> {
    await this.beforeStart(containerId);
  }
}

class DockerContainer implements ContainerHandle {
  exit: ContainerExit | undefined;
  /** set when the runtime itself sent SIGKILL (stop deadline, close) */
  killedByUs = false;
  readonly execPids = new Set<number>();
  constructor(
    readonly taskId: string,
    readonly containerName: string,
    readonly ip: string,
    readonly id: string,
    readonly exited: Promise<ContainerExit>,
  ) {}
}

function exitOf(code: number, killedByUs: boolean): ContainerExit {
  if (code > 128 && code < 128 + 65) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] ?? null;
    return { exitCode: code, signal: killedByUs && code === 137 ? 'SIGKILL' : name };
  }
  return { exitCode: code, signal: null };
}

function isNoSuchOrNotRunning(e: unknown): boolean {
  const status = (e as { statusCode?: number })?.statusCode;
  return status === 404 || status === 409 || status === 304;
}

export class DockerRuntime implements TaskRuntime {
  readonly name = 'docker' as const;
  /** security groups are enforced when the fabric enforces them (in each container's namespace) */
  get isolationEnforced(): boolean {
    return this.opts.fabric?.isolationEnforced ?? false;
  }
  /**
   * Health checks are `docker exec`s: on a non-arm64 host the image's sh and curl start under
   * QEMU, 0.4–2 s before curl sends a byte on a loaded 2-core machine (measured: `docker exec …
   * curl -w %{time_total}` against a stub at load 8–9), against ~10 ms on Fargate's native
   * arm64. The 3 s floor made for a process spawn then times checks out that would pass in AWS
   * (a data service went UNHEALTHY in the dns scenario): 3 s more for the emulation.
   */
  readonly healthCheckTimeoutFloorMs = process.arch === 'arm64' ? undefined : 6000;
  readonly runId: string;
  private readonly containers = new Set<DockerContainer>();
  private closed = false;
  private dockerode?: Dockerode;

  constructor(private readonly opts: DockerRuntimeOptions) {
    this.runId = opts.runId;
    liveRuntimes.add(this);
    installExitHook();
  }

  /** Synchronous last resort (process 'exit', e.g. Ctrl-C without teardown): force-remove this run's containers. */
  removeAllNow(): void {
    const ids = [...this.containers].map((c) => c.id);
    if (ids.length) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore', timeout: 20_000 });
  }

  private async client(): Promise<Dockerode> {
    if (!this.dockerode) this.dockerode = (await getContainerRuntimeClient()).container.dockerode;
    return this.dockerode;
  }

  async start(spec: ContainerSpec): Promise<ContainerHandle> {
    if (this.closed) throw new Error('CannotStartContainerError: the docker runtime is closed');
    const image = spec.image.dockerImage;
    if (!image) throw new Error('CannotPullContainerError: the image has no local Docker image in this harness (ImageConfig.dockerImage)');
    const docker = await this.client();
    let arch: string | undefined;
    let imageEntrypoint: string[] = [];
    try {
      const info = await docker.getImage(image).inspect();
      arch = info.Architecture;
      imageEntrypoint = ([] as string[]).concat(info.Config?.Entrypoint ?? []);
    } catch {
      throw new Error(`CannotPullContainerError: local image ${image} not found: run \`npm run images\` (builds the stub images offline)`);
    }

    const env: Record<string, string> = {
      ...spec.image.env,
      ...spec.env,
      HARNESS_RUN_ID: spec.runId,
      HARNESS_TASK_ID: spec.taskId,
      HARNESS_TASK_IP: spec.ip,
      HARNESS_CONTAINER_NAME: spec.containerName,
    };
    if (this.opts.timeScale !== undefined) env.HARNESS_TIME_SCALE = String(this.opts.timeScale);
    if (spec.dnsZones?.length) env.HARNESS_DNS_ZONES = spec.dnsZones.join(',');
    const dns = dnsHost(spec.dnsServer);

    let attached: { stream: NodeJS.ReadableStream; ended: Promise<void> } | undefined;
    let firstOutput!: () => void;
    const firstOutputSeen = new Promise<void>((r) => (firstOutput = r));
    const onLog: ContainerSpec['onLog'] = (stream, line) => {
      firstOutput();
      spec.onLog(stream, line);
    };
    let waited: Promise<{ StatusCode: number }> | undefined;
    const name = `eh-${spec.runId}-${spec.taskId.slice(0, 12)}-${spec.containerName}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 120);
    const tc = new TaskContainer(image, this.opts.network, spec.ip, dns, [], async (id) => {
      const c = docker.getContainer(id);
      // attach before start: every line from the first one on
      const stream = (await c.attach({ stream: true, stdout: true, stderr: true, logs: true })) as NodeJS.ReadableStream;
      attached = { stream, ended: this.pipeLogs(docker, stream, onLog) };
      waited = c.wait({ condition: 'next-exit' }) as Promise<{ StatusCode: number }>;
      waited.catch(() => undefined);
    })
      .withName(name)
      .withCommand(spec.image.cmd)
      .withEnvironment(env)
      .withLabels({
        [HARNESS_LABEL]: '1',
        [LABEL_RUN_ID]: spec.runId,
        [LABEL_TASK_ID]: spec.taskId,
        [LABEL_OWNER_PID]: String(process.pid),
        'dev.escher-harness.family': spec.family,
        'dev.escher-harness.container': spec.containerName,
      })
      .withPlatform(`linux/${arch ?? 'arm64'}`)
      .withWaitStrategy(new StartedIsEnough())
      .withPullPolicy({ shouldPull: () => false })
      .withAutoRemove(false);
    // files the harness adds (the run CA …): copied in before the container starts
    if (spec.files?.length) tc.withCopyContentToContainer(spec.files.map((f) => ({ content: f.content, target: f.path, mode: 0o644 })));
    const gate = this.opts.fabric;
    // security groups first: the app starts only once its rules are in place
    // (the gate replaces the image's entry point: it runs it, then the command, after the gate)
    if (gate?.isolationEnforced) tc.withEntrypoint(gatedEntrypoint()).withCommand([...imageEntrypoint, ...spec.image.cmd]);

    let id: string;
    try {
      const started = await tc.start();
      id = started.getId();
      if (gate) {
        try {
          await gate.containerStarted(spec.taskId, id);
        } catch (e) {
          await docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined);
          throw new Error(`security groups could not be applied: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      // created but not started (bad command, address in use …): remove it
      const left = await docker.listContainers({ all: true, filters: { name: [name] } }).catch(() => []);
      for (const l of left) await docker.getContainer(l.Id).remove({ force: true }).catch(() => undefined);
      throw new Error(`CannotStartContainerError: ${(e as Error).message.split('\n')[0]}`);
    }
    // eslint-disable-next-line prefer-const
    let container: DockerContainer | undefined;
    const exited = (async (): Promise<ContainerExit> => {
      let code = -1;
      try {
        code = (await waited!).StatusCode;
      } catch {
        // the engine went away: treat as killed
        code = 137;
      }
      await Promise.race([attached?.ended, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
      await docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined);
      return exitOf(code, container?.killedByUs ?? false);
    })();
    const handle = new DockerContainer(spec.taskId, spec.containerName, spec.ip, id, exited);
    container = handle;
    this.containers.add(handle);
    void exited.then((exit) => {
      handle.exit = exit;
      this.containers.delete(handle);
    });
    const waitMs = this.opts.firstOutputWaitMs ?? 20_000;
    if (waitMs > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([firstOutputSeen, exited, new Promise((r) => (t = setTimeout(r, waitMs)))]);
      clearTimeout(t);
    }
    return handle;
  }

  /** Demultiplexes the attach stream into onLog lines per stream; resolves when it ends. */
  private pipeLogs(docker: Dockerode, stream: NodeJS.ReadableStream, onLog: ContainerSpec['onLog']): Promise<void> {
    const sink = (which: 'stdout' | 'stderr') => {
      const split = lineSplitter((line) => {
        try {
          onLog(which, line);
        } catch {
          /* a failing log sink must not take the container down */
        }
      });
      const pt = new PassThrough();
      pt.on('data', (c: Buffer) => split.push(c));
      return { pt, split };
    };
    const out = sink('stdout');
    const err = sink('stderr');
    docker.modem.demuxStream(stream, out.pt, err.pt);
    return new Promise<void>((resolve) => {
      const done = () => {
        out.split.end();
        err.split.end();
        resolve();
      };
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', done);
    });
  }

  async exec(handle: ContainerHandle, command: string[], timeoutMs: number): Promise<ExecResult> {
    const c = this.own(handle);
    if (c.exit) throw new Error(`container ${handle.containerName} of task ${handle.taskId} is not running`);
    let argv: string[];
    if (command[0] === 'CMD-SHELL') argv = ['/bin/sh', '-c', ...command.slice(1)];
    else if (command[0] === 'CMD') argv = command.slice(1);
    else argv = command;
    if (argv.length === 0 || (command[0] === 'CMD-SHELL' && argv.length < 3)) throw new Error(`exec: empty command ${JSON.stringify(command)}`);

    const docker = await this.client();
    const out = { stdout: '', stderr: '' };
    let exec: Dockerode.Exec;
    let stream: Duplex;
    try {
      exec = await docker.getContainer(c.id).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true });
      stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
    } catch (e) {
      if (isNoSuchOrNotRunning(e)) throw new Error(`container ${handle.containerName} of task ${handle.taskId} is not running`);
      return { exitCode: 126, stdout: '', stderr: `${(e as Error).message}\n`, timedOut: false };
    }
    const collect = (which: 'stdout' | 'stderr') => {
      const pt = new PassThrough();
      pt.setEncoding('utf8');
      pt.on('data', (s: string) => {
        if (out[which].length < EXEC_OUTPUT_LIMIT) out[which] = (out[which] + s).slice(0, EXEC_OUTPUT_LIMIT);
      });
      return pt;
    };
    docker.modem.demuxStream(stream, collect('stdout'), collect('stderr'));
    let pid: number | undefined;
    void exec.inspect().then((i) => {
      pid = i.Pid;
      if (pid) c.execPids.add(pid);
    }, () => undefined);

    return new Promise<ExecResult>((resolve) => {
      let settled = false;
      const settle = (r: { exitCode: number; timedOut: boolean }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (pid) c.execPids.delete(pid);
        resolve({ ...r, stdout: out.stdout, stderr: out.stderr });
      };
      const timer = setTimeout(() => {
        // Docker has no "kill exec" call: the exec'd process is a host process (same PID namespace as the engine's host)
        void exec.inspect().then((i) => killPid(i.Pid), () => undefined);
        stream.destroy();
        settle({ exitCode: -1, timedOut: true });
      }, timeoutMs);
      const ended = () => {
        void exec.inspect().then(
          (i) => settle({ exitCode: i.ExitCode ?? (i.Running ? -1 : 137), timedOut: false }),
          () => settle({ exitCode: 137, timedOut: false }),
        );
      };
      stream.once('end', ended);
      stream.once('close', ended);
      stream.once('error', ended);
    });
  }

  async stop(handle: ContainerHandle, timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ContainerExit> {
    const c = this.own(handle);
    if (c.exit) return c.exit;
    const docker = await this.client();
    const container = docker.getContainer(c.id);
    return stopWithTimeout(
      c.exited,
      () => container.kill({ signal }).catch(() => undefined),
      () => {
        c.killedByUs = true;
        return container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
      },
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const grace = this.opts.closeGraceMs ?? 1000;
    await Promise.all([...this.containers].map((c) => this.stop(c, grace)));
    liveRuntimes.delete(this);
    // anything of this run the engine still has (a start that raced close)
    await removeRunContainers(this.runId).catch(() => undefined);
  }

  private own(handle: ContainerHandle): DockerContainer {
    if (!(handle instanceof DockerContainer)) throw new Error('not a container of the docker runtime');
    return handle;
  }
}

const liveRuntimes = new Set<DockerRuntime>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const rt of liveRuntimes) rt.removeAllNow();
  });
}

function killPid(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone, or not ours to kill (remote engine) */
  }
}

/** "10.0.0.1:53" → "10.0.0.1"; resolv.conf can only name port 53. */
function dnsHost(server: string | undefined): string | undefined {
  if (!server) return undefined;
  const i = server.lastIndexOf(':');
  const host = i > 0 ? server.slice(0, i) : server;
  const port = i > 0 ? server.slice(i + 1) : '53';
  return port === '53' ? host : undefined;
}

async function dockerode(): Promise<Dockerode> {
  return (await getContainerRuntimeClient()).container.dockerode;
}

/** Containers (any state) of a run, described one per entry. */
export async function listRunContainers(runId: string): Promise<string[]> {
  const d = await dockerode();
  const list = await d.listContainers({ all: true, filters: { label: [`${HARNESS_LABEL}=1`, `${LABEL_RUN_ID}=${runId}`] } });
  return list.map((c) => `container ${c.Names[0] ?? c.Id} (${c.State})`);
}

/** Force-removes the containers of a run (only ones labelled escher-harness=1 with that run id). */
export async function removeRunContainers(runId: string): Promise<number> {
  const d = await dockerode();
  const list = await d.listContainers({ all: true, filters: { label: [`${HARNESS_LABEL}=1`, `${LABEL_RUN_ID}=${runId}`] } });
  await Promise.all(list.map((c) => d.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  return list.length;
}
