/**
 * The docker TaskRuntime: a task's container is a Docker container, started through
 * testcontainers (GenericContainer: image, command, env, labels, network, platform) and
 * driven through dockerode where testcontainers has no call for it (pull with credentials,
 * attach before start, wait for the exit, exec with a timeout, signals at millisecond precision).
 *
 * - Each task gets a sandbox container (as Fargate's awsvpc pause container): it owns the
 *   task's ENI address (spec.ip, a fixed IPv4 on the run's Docker network, so the task IP in
 *   DescribeTasks, Cloud Map and the ALB's targets is the address it really has), its network
 *   namespace and its resolv.conf (the harness's Cloud Map DNS server, port 53 on the network's
 *   gateway). The task's containers join it (NetworkMode `container:<sandbox>`): one address,
 *   localhost between them. When the fabric enforces security groups, it applies the ENI's
 *   rules in the sandbox's namespace (containerStarted) before any container of the task is
 *   created, so no packet of the app precedes its rules, whatever the image (no shell needed).
 *   The sandbox is the host's own-architecture base image (no QEMU), removed with the task's
 *   last container.
 * - Images: the harness's locally built stubs (ImageConfig.dockerImage, `npm run images`;
 *   never pulled), or a registry image (ImageConfig.pull: pulled with its credentials when not
 *   present locally; a failed pull is `CannotPullContainerError: Error response from daemon:
 *   <the engine's message>`). A task asking ARM64 runs arm64 images (QEMU binfmt on x86 hosts).
 * - The container definition (spec.definition) as ECS passes it to Docker: entryPoint →
 *   Entrypoint (the image's CMD is then not used, the engine's rule), command → Cmd,
 *   workingDirectory, user, readonlyRootFilesystem (the harness's files are then bind-mounted
 *   read-only instead of copied in), ulimits (Fargate's nofile 65535/65535 when none is given;
 *   hard limits capped at what the engine can grant),
 *   initProcessEnabled → Init, capabilities, dockerLabels. The image's ENV is under the task's.
 * - Health checks: `docker exec` of `/bin/sh -c <cmd>` (CMD-SHELL) or the argv (CMD), killed
 *   at the timeout; a missing tool fails as in the image (`sh: curl: not found`, 127).
 *   stop(): the image's STOPSIGNAL (default SIGTERM), then SIGKILL at the deadline (what
 *   `docker stop -t` does, with millisecond precision so scaled stopTimeouts hold).
 * - Every container carries escher-harness=1 and the run id (labels), so leftovers of a killed
 *   run can be found and removed, and nothing else is ever touched. No Ryuk.
 */
import { onProcessExit } from '../../exit-hook.ts';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os, { constants as osConstants } from 'node:os';
import path from 'node:path';
import { stopWithTimeout } from '../stop.ts';
import { PassThrough, type Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { GenericContainer, getContainerRuntimeClient, type WaitStrategy } from 'testcontainers';
import type { ContainerDefinitionSpec, ContainerExit, ContainerHandle, ContainerSpec, ContainerUlimit, ExecResult, ImageConfig, RegistryImage, TaskRuntime } from '../types.ts';
import { lineSplitter } from '../process/lines.ts';
import { TEMP_DIR_PREFIX } from '../process/leftovers.ts';
import { stubDockerImage } from '../stub-image.ts';
import { ensureBaseImage, HARNESS_LABEL, type Arch } from './images.ts';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

export const LABEL_RUN_ID = 'dev.escher-harness.run-id';
export const LABEL_TASK_ID = 'dev.escher-harness.task-id';
export const LABEL_OWNER_PID = 'dev.escher-harness.owner-pid';
/** what a container is to its task: 'sandbox' for the one that owns its address and namespace */
export const LABEL_ROLE = 'dev.escher-harness.role';

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
   * The fabric (DockerFabric): start() calls containerStarted(taskId, sandboxId) once per task
   * sandbox, before any container of the task is created; when it enforces security groups, it
   * applies the ENI's rules in the sandbox's namespace (which the task's containers join).
   */
  fabric?: { readonly isolationEnforced: boolean; containerStarted(id: string, containerId: string): Promise<void> };
}

/** The marker a gated container waits for (the fabric writes it into the container's root). */
export const GATE_MARKER = '/.escher-harness-sg-ready';

/**
 * An entry point that waits for GATE_MARKER, then execs the command (PID 1 becomes the app, so
 * signals reach it as before), for a container the harness starts itself at a reserved address
 * (SurrealDB); task containers need none (their sandbox is gated). For images with /bin/sh. The
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

/** GenericContainer in its task's sandbox (NetworkMode container:<id>) with a hook before start. */
class TaskContainer extends GenericContainer {
  constructor(
    image: string,
    sandboxId: string,
    private readonly beforeStart: (containerId: string) => Promise<void>,
  ) {
    super(image);
    this.withNetworkMode(`container:${sandboxId}`);
  }
  /** the container definition's fields, as ECS passes them to Docker */
  applyDefinition(d: ContainerDefinitionSpec | undefined, imageCmd: string[]): this {
    // entryPoint replaces the image's ENTRYPOINT, and then the engine does not use the image's CMD
    if (d?.entryPoint?.length) this.createOpts.Entrypoint = [...d.entryPoint];
    const cmd = d?.command?.length ? d.command : d?.entryPoint?.length ? undefined : imageCmd.length ? imageCmd : undefined;
    if (cmd) this.createOpts.Cmd = [...cmd];
    if (d?.workingDirectory) this.createOpts.WorkingDir = d.workingDirectory;
    if (d?.user) this.createOpts.User = d.user;
    if (d?.readonlyRootFilesystem) this.hostConfig.ReadonlyRootfs = true;
    this.hostConfig.Ulimits = dockerUlimits(d?.ulimits);
    if (d?.initProcessEnabled) this.hostConfig.Init = true;
    if (d?.capabilities?.add?.length) this.hostConfig.CapAdd = [...d.capabilities.add];
    if (d?.capabilities?.drop?.length) this.hostConfig.CapDrop = [...d.capabilities.drop];
    const memory = dockerMemoryBytes(d?.memoryMiB);
    if (memory !== undefined) {
      // a hard limit and no swap beyond it: above it the kernel kills the container (State.OOMKilled)
      this.hostConfig.Memory = memory;
      this.hostConfig.MemorySwap = memory;
    }
    return this;
  }
  /** the harness's files as read-only bind mounts (a read-only root takes no copies) */
  bindFiles(files: { host: string; path: string }[]): this {
    this.hostConfig.Mounts = files.map((f) => ({ Type: 'bind', Source: f.host, Target: f.path, ReadOnly: true }));
    return this;
  }
  protected override async containerCreated(containerId: string): Promise<void> {
    await this.beforeStart(containerId);
  }
}

/** The engine refuses a memory limit below 6 MiB (as ECS refuses a container `memory` below it). */
export const ENGINE_MIN_MEMORY_MIB = 6;

/**
 * ContainerDefinitionSpec.memoryMiB → HostConfig.Memory (bytes), at least the engine's minimum;
 * undefined (no limit) when there is none. On Fargate the task size is one cgroup limit shared by
 * all the task's containers; when the task runner passes the task's memory here, each container
 * gets it on its own (a simplification: two containers of one task can together use more).
 */
export function dockerMemoryBytes(memoryMiB: number | undefined): number | undefined {
  if (memoryMiB === undefined || !Number.isFinite(memoryMiB) || memoryMiB <= 0) return undefined;
  return Math.max(Math.floor(memoryMiB), ENGINE_MIN_MEMORY_MIB) * 1024 * 1024;
}

/** Fargate's nofile limit when the task definition sets none (soft and hard 65535). */
export const FARGATE_DEFAULT_NOFILE = 65535;

/** ECS ulimit names → the row of /proc/<pid>/limits that holds the same limit. */
const LIMIT_ROWS: Record<string, string> = {
  core: 'Max core file size', cpu: 'Max cpu time', data: 'Max data size', fsize: 'Max file size', locks: 'Max file locks',
  memlock: 'Max locked memory', msgqueue: 'Max msgqueue size', nice: 'Max nice priority', nofile: 'Max open files',
  nproc: 'Max processes', rss: 'Max resident set', rtprio: 'Max realtime priority', rttime: 'Max realtime timeout',
  sigpending: 'Max pending signals', stack: 'Max stack size',
};

let ceilings: Record<string, number> | undefined;
/**
 * The hard limits the engine can grant (a container cannot raise a hard limit above its
 * engine's without CAP_SYS_RESOURCE, which a Docker engine inside a container lacks): dockerd's
 * own (/var/run/docker.pid), else this process's. Per ECS ulimit name; absent = unlimited/unknown.
 */
export function engineUlimitCeilings(): Record<string, number> {
  if (ceilings) return ceilings;
  let text = '';
  for (const pidFile of ['/var/run/docker.pid', '/run/docker.pid']) {
    try {
      text = fs.readFileSync(`/proc/${fs.readFileSync(pidFile, 'utf8').trim()}/limits`, 'utf8');
      break;
    } catch {
      /* not here, or not ours to read */
    }
  }
  if (!text) {
    try {
      text = fs.readFileSync('/proc/self/limits', 'utf8');
    } catch {
      /* not Linux */
    }
  }
  const out: Record<string, number> = {};
  for (const [name, row] of Object.entries(LIMIT_ROWS)) {
    const line = text.split('\n').find((l) => l.startsWith(row));
    const hard = line?.slice(row.length).trim().split(/\s+/)[1];
    if (hard && /^\d+$/.test(hard)) out[name] = Number(hard);
  }
  ceilings = out;
  return out;
}

/**
 * ECS ulimits → Docker's (the same names), Fargate's nofile default when the definition gives
 * none; each hard limit capped at what the engine can grant (soft ≤ hard), so a limit Fargate
 * accepts never fails the start here.
 */
export function dockerUlimits(ulimits: readonly ContainerUlimit[] | undefined, caps = engineUlimitCeilings()): { Name: string; Soft: number; Hard: number }[] {
  const out = (ulimits ?? []).map((u) => ({ Name: u.name, Soft: u.softLimit, Hard: u.hardLimit }));
  if (!out.some((u) => u.Name === 'nofile')) out.push({ Name: 'nofile', Soft: FARGATE_DEFAULT_NOFILE, Hard: FARGATE_DEFAULT_NOFILE });
  return out.map((u) => {
    const cap = caps[u.Name];
    const Hard = cap !== undefined && u.Hard > cap ? cap : u.Hard;
    return { Name: u.Name, Soft: Math.min(u.Soft, Hard), Hard };
  });
}

/** The sandbox's command: sleeps until told to stop (SIGTERM ends it at once). */
const SANDBOX_CMD = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

let sandboxImage: Promise<{ image: string; platform: string }> | undefined;
/**
 * The image sandboxes run: the base image of the host's own architecture (busybox sh and
 * sleep, no QEMU), built offline when missing; failing that, the arm64 stub image (emulated).
 */
function sandboxImageOnce(): Promise<{ image: string; platform: string }> {
  sandboxImage ??= (async () => {
    const native: Arch | undefined = process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'amd64' : undefined;
    if (native) {
      try {
        return { image: (await ensureBaseImage(native)).image, platform: `linux/${native}` };
      } catch {
        /* no apt here: the stub image will do */
      }
    }
    return { image: stubDockerImage('arm64'), platform: 'linux/arm64' };
  })();
  return sandboxImage;
}

interface Sandbox {
  ready: Promise<string>;
  users: number;
}

class DockerContainer implements ContainerHandle {
  exit: ContainerExit | undefined;
  /** the image's STOPSIGNAL (what `docker stop` sends), default SIGTERM */
  stopSignal: NodeJS.Signals = 'SIGTERM';
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

/** A container's name: run, task and container, as Docker allows names. */
function containerName(runId: string, taskId: string, container: string): string {
  return `eh-${runId}-${taskId.slice(0, 12)}-${container}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 120);
}

/** The engine's own words from a dockerode / testcontainers error (its JSON `message`, else the first line). */
function engineMessage(e: unknown): string {
  const err = e as { json?: { message?: string }; message?: string };
  const m = err?.json?.message ?? (typeof err?.message === 'string' ? err.message : String(e));
  return m.replace(/^\(HTTP code \d+\)[^-]*- /, '').split('\n')[0]!.trim();
}

/** An image's STOPSIGNAL ("SIGQUIT", "QUIT", "3") as a Node signal name. */
function signalName(s: string): NodeJS.Signals {
  if (/^\d+$/.test(s)) return (Object.entries(osConstants.signals).find(([, n]) => n === Number(s))?.[0] as NodeJS.Signals) ?? 'SIGTERM';
  const name = (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`) as NodeJS.Signals;
  return name in osConstants.signals ? name : 'SIGTERM';
}

/**
 * Pulls a registry image as the engine does for `docker pull`, with its credentials and
 * platform; rejects with the stoppedReason ECS gives (`CannotPullContainerError: Error
 * response from daemon: <the engine's message>`).
 */
async function pullImage(docker: Dockerode, pull: RegistryImage): Promise<void> {
  try {
    const auth = pull.credentials?.();
    const stream = (await docker.pull(pull.ref, { ...(auth ? { authconfig: auth } : {}), ...(pull.platform ? { platform: pull.platform } : {}) })) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  } catch (e) {
    throw new Error(`CannotPullContainerError: Error response from daemon: ${engineMessage(e)}`);
  }
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
  /** per task: its sandbox container (being created or running) and how many of its containers use it */
  private readonly sandboxes = new Map<string, Sandbox>();
  /** per task: the removal of its last sandbox, which a new one waits for (same address) */
  private readonly sandboxRemovals = new Map<string, Promise<unknown>>();
  /** pulls in flight, per ref (two tasks of one service pull once) */
  private readonly pulls = new Map<string, Promise<void>>();
  /** the registry refs (`<ECR host>/<repo>@<digest>`) this run's tasks used: removed from the engine at close */
  private readonly registryRefs = new Set<string>();
  /** where the harness's files for read-only containers are written (created when first needed) */
  private filesDir?: string;
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
    // the sandboxes (and whatever else of this run the engine has): by label
    spawnSync('sh', ['-c', `ids=$(docker ps -aq --filter label=${HARNESS_LABEL}=1 --filter label=${LABEL_RUN_ID}=${this.runId}); [ -z "$ids" ] || docker rm -f $ids`], { stdio: 'ignore', timeout: 20_000 });
    if (this.filesDir) fs.rmSync(this.filesDir, { recursive: true, force: true });
  }

  private async client(): Promise<Dockerode> {
    if (!this.dockerode) this.dockerode = (await getContainerRuntimeClient()).container.dockerode;
    return this.dockerode;
  }

  async start(spec: ContainerSpec): Promise<ContainerHandle> {
    if (this.closed) throw new Error('CannotStartContainerError: the docker runtime is closed');
    const docker = await this.client();
    const { image, info } = await this.localImage(docker, spec.image);
    const arch = info.Architecture;
    const wanted = spec.image.pull?.platform?.split('/')[1];
    if (wanted && arch && arch !== wanted) {
      throw new Error(`CannotPullContainerError: pull image manifest has been retried 7 time(s): image Manifest does not contain descriptor matching platform '${spec.image.pull!.platform}'`);
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

    let attached: { stream: NodeJS.ReadableStream; ended: Promise<void> } | undefined;
    let firstOutput!: () => void;
    const firstOutputSeen = new Promise<void>((r) => (firstOutput = r));
    const onLog: ContainerSpec['onLog'] = (stream, line) => {
      firstOutput();
      spec.onLog(stream, line);
    };
    let waited: Promise<{ StatusCode: number }> | undefined;
    const name = containerName(spec.runId, spec.taskId, spec.containerName);
    // the task's address, namespace and security groups: its containers join it
    const sandboxId = await this.acquireSandbox(docker, spec);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.releaseSandbox(docker, spec.taskId);
    };
    const tc = new TaskContainer(image, sandboxId, async (id) => {
      const c = docker.getContainer(id);
      // attach before start: every line from the first one on. No `logs` replay: there is no
      // history yet, and the engine may send a line written while it switches from the replay
      // to the stream twice (seen: the no-shell image's one line arrived twice under load)
      const stream = (await c.attach({ stream: true, stdout: true, stderr: true, logs: false })) as NodeJS.ReadableStream;
      attached = { stream, ended: this.pipeLogs(docker, stream, onLog) };
      waited = c.wait({ condition: 'next-exit' }) as Promise<{ StatusCode: number }>;
      waited.catch(() => undefined);
    })
      .applyDefinition(spec.definition, spec.image.cmd)
      .withName(name)
      .withEnvironment(env)
      .withLabels({
        ...spec.definition?.dockerLabels,
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
    // files the harness adds (the run CA …): copied in before the container starts, or bind-mounted
    // read-only from the runtime's temp dir when the root file system is read-only (no copy is accepted then)
    if (spec.files?.length) {
      if (spec.definition?.readonlyRootFilesystem) tc.bindFiles(this.hostFiles(spec, spec.files));
      else tc.withCopyContentToContainer(spec.files.map((f) => ({ content: f.content, target: f.path, mode: 0o644 })));
    }

    let id: string;
    try {
      const started = await tc.start();
      id = started.getId();
    } catch (e) {
      // created but not started (bad command, unknown user …): remove it
      const left = await docker.listContainers({ all: true, filters: { name: [name] } }).catch(() => []);
      for (const l of left) await docker.getContainer(l.Id).remove({ force: true }).catch(() => undefined);
      release();
      throw new Error(`CannotStartContainerError: ${engineMessage(e)}`);
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
      // whether the kernel killed it over its memory limit: the engine says so until it is removed
      const oomKilled = await docker
        .getContainer(id)
        .inspect()
        .then((i) => i.State?.OOMKilled === true, () => false);
      await docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined);
      release();
      const exit = exitOf(code, container?.killedByUs ?? false);
      return oomKilled ? { ...exit, oomKilled: true } : exit;
    })();
    const handle = new DockerContainer(spec.taskId, spec.containerName, spec.ip, id, exited);
    const stopSignal = (info.Config as { StopSignal?: string } | undefined)?.StopSignal;
    if (stopSignal) handle.stopSignal = signalName(stopSignal);
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

  /**
   * The image to create from and its config: the local stub image, or a registry image
   * (pulled with its credentials when the engine does not have it yet).
   */
  private async localImage(docker: Dockerode, config: ImageConfig): Promise<{ image: string; info: Dockerode.ImageInspectInfo }> {
    const image = config.pull?.ref ?? config.dockerImage;
    if (!image) throw new Error('CannotPullContainerError: the image has no local Docker image in this harness (ImageConfig.dockerImage)');
    if (config.pull) this.registryRefs.add(image);
    const inspect = () => docker.getImage(image).inspect();
    try {
      return { image, info: await inspect() };
    } catch {
      if (!config.pull) throw new Error(`CannotPullContainerError: local image ${image} not found: run \`npm run images\` (builds the stub images offline)`);
    }
    let pulling = this.pulls.get(image);
    if (!pulling) {
      pulling = pullImage(docker, config.pull);
      this.pulls.set(image, pulling);
      void pulling.then(
        () => this.pulls.delete(image),
        () => this.pulls.delete(image),
      );
    }
    await pulling;
    try {
      return { image, info: await inspect() };
    } catch (e) {
      throw new Error(`CannotPullContainerError: Error response from daemon: ${engineMessage(e)}`);
    }
  }

  /**
   * The task's sandbox (created with its first container), counted per container that uses it
   * and once for the task itself, so it lives from the task's first container to taskEnded: an
   * init container that exits before the app starts (dependsOn COMPLETE/SUCCESS) leaves the
   * task's address, namespace and security groups in place for it.
   */
  private async acquireSandbox(docker: Dockerode, spec: ContainerSpec): Promise<string> {
    let sb = this.sandboxes.get(spec.taskId);
    if (!sb) {
      const created: Sandbox = { users: 1, ready: this.createSandbox(docker, spec) };
      sb = created;
      this.sandboxes.set(spec.taskId, created);
      created.ready.catch(() => {
        if (this.sandboxes.get(spec.taskId) === created) this.sandboxes.delete(spec.taskId);
      });
    }
    sb.users++;
    try {
      return await sb.ready;
    } catch (e) {
      sb.users--;
      throw e;
    }
  }

  /** The task is over (task runner): its hold on the sandbox goes; with no container left, the sandbox too. */
  async taskEnded(taskId: string): Promise<void> {
    if (!this.sandboxes.has(taskId)) return;
    this.releaseSandbox(await this.client(), taskId);
    await this.sandboxRemovals.get(taskId);
  }

  /** One user of the task's sandbox is gone (a container, or the task itself): the last one takes the sandbox (and so the address) with it. */
  private releaseSandbox(docker: Dockerode, taskId: string): void {
    const sb = this.sandboxes.get(taskId);
    if (!sb || --sb.users > 0) return;
    this.sandboxes.delete(taskId);
    const removed = sb.ready.then(
      (id) => docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined),
      () => undefined,
    );
    this.sandboxRemovals.set(taskId, removed);
    void removed.then(() => {
      if (this.sandboxRemovals.get(taskId) === removed) this.sandboxRemovals.delete(taskId);
    });
  }

  private async createSandbox(docker: Dockerode, spec: ContainerSpec): Promise<string> {
    // the address is free only once an earlier sandbox of this task is gone
    await this.sandboxRemovals.get(spec.taskId);
    const { image, platform } = await sandboxImageOnce();
    const dns = dnsHost(spec.dnsServer);
    const network = this.opts.network;
    const name = containerName(spec.runId, spec.taskId, 'sandbox');
    let c: Dockerode.Container | undefined;
    try {
      c = await docker.createContainer({
        name,
        Image: image,
        platform,
        Entrypoint: SANDBOX_CMD,
        Cmd: [],
        Labels: {
          [HARNESS_LABEL]: '1',
          [LABEL_RUN_ID]: spec.runId,
          [LABEL_TASK_ID]: spec.taskId,
          [LABEL_OWNER_PID]: String(process.pid),
          [LABEL_ROLE]: 'sandbox',
          'dev.escher-harness.family': spec.family,
        },
        HostConfig: { NetworkMode: network, ...(dns ? { Dns: [dns] } : {}) },
        NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: spec.ip } } } },
      } as Dockerode.ContainerCreateOptions);
      await c.start();
    } catch (e) {
      await c?.remove({ force: true }).catch(() => undefined);
      throw new Error(`CannotStartContainerError: the task's network sandbox at ${spec.ip}: ${engineMessage(e)}`);
    }
    const gate = this.opts.fabric;
    if (gate) {
      // security groups first: no container of the task exists before its rules are in place
      try {
        await gate.containerStarted(spec.taskId, c.id);
      } catch (e) {
        await c.remove({ force: true, v: true }).catch(() => undefined);
        throw new Error(`CannotStartContainerError: security groups could not be applied: ${(e as Error).message}`);
      }
    }
    return c.id;
  }

  /** The harness's files for a read-only container: written under this runtime's temp dir, one dir per container. */
  private hostFiles(spec: ContainerSpec, files: { path: string; content: string }[]): { host: string; path: string }[] {
    this.filesDir ??= fs.mkdtempSync(path.join(os.tmpdir(), `${TEMP_DIR_PREFIX}${this.runId}-`));
    const dir = fs.mkdtempSync(path.join(this.filesDir, `${spec.taskId.slice(0, 12)}-`));
    return files.map((f, i) => {
      if (!path.isAbsolute(f.path) || f.path.split('/').includes('..')) throw new Error(`CannotStartContainerError: file path ${JSON.stringify(f.path)} must be absolute, without ..`);
      const host = path.join(dir, `${i}-${path.basename(f.path)}`);
      fs.writeFileSync(host, f.content, { mode: 0o644 });
      return { host, path: f.path };
    });
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

  /** `signal` (default: the image's STOPSIGNAL, else SIGTERM), then SIGKILL after timeoutMs */
  async stop(handle: ContainerHandle, timeoutMs: number, signal?: NodeJS.Signals): Promise<ContainerExit> {
    const c = this.own(handle);
    if (c.exit) return c.exit;
    const docker = await this.client();
    const container = docker.getContainer(c.id);
    return stopWithTimeout(
      c.exited,
      () => container.kill({ signal: signal ?? c.stopSignal }).catch(() => undefined),
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
    // the tasks' own holds on their sandboxes (taskEnded never came for a task cut short)
    if (this.sandboxes.size) {
      const docker = await this.client();
      for (const taskId of [...this.sandboxes.keys()]) this.releaseSandbox(docker, taskId);
    }
    await Promise.all([...this.sandboxRemovals.values()]);
    liveRuntimes.delete(this);
    // anything of this run the engine still has (sandboxes, a start that raced close)
    await removeRunContainers(this.runId).catch(() => undefined);
    if (this.filesDir) fs.rmSync(this.filesDir, { recursive: true, force: true });
    // what the run pulled from its registry: only that reference goes (an image the user also
    // tagged locally keeps its tag; layers shared with other images stay, so the next pull is
    // a manifest and a config)
    if (this.registryRefs.size) {
      const docker = await this.client();
      await Promise.all([...this.registryRefs].map((ref) => docker.getImage(ref).remove().catch(() => undefined)));
    }
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
  onProcessExit(() => {
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
