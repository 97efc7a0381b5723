/**
 * The embedded TaskRuntime: a container is a real child process of the harness.
 *
 * Loopback mode (no privileges needed): each task listens on its own 127.x.y.z address (Linux
 * routes all of 127/8 to lo), nothing isolates one task from another, and `isolationEnforced`
 * is false. Netns mode (`netns: true`, root): a spec naming a network namespace (its ENI, made
 * by the NetnsFabric) runs there via `ip netns exec <ns>` (same pid, so signals and groups
 * work as before), listens on 0.0.0.0, resolves through the namespace's resolv.conf, and its
 * health checks run there too (no localhost shims, no DNS preload).
 *
 * A container process:
 * - argv is the image's cmd: 'node' → this Node binary; relative paths that exist under the
 *   harness root are resolved against it. cwd is the task's own directory in the runtime's
 *   temp dir (also its HOME).
 * - env = PATH, HOME, LANG, TZ + image ENV + task env + HOST=<task ip>, HARNESS_RUN_ID,
 *   HARNESS_TASK_ID, HARNESS_TASK_IP, HARNESS_CONTAINER_NAME [, HARNESS_TIME_SCALE]
 *   [, HARNESS_DNS_SERVER, HARNESS_DNS_ZONES, NODE_OPTIONS=--import=<dns preload>].
 * - runs detached in its own process group; when the main process exits, the rest of its
 *   group is killed too (as when a container's PID 1 exits).
 * - exits report `exitCode` 128+n when killed by signal n (what Docker/ECS report, e.g. 137
 *   for SIGKILL) together with `signal`.
 * - runs only the harness's catalogue images (an argv it knows): a registry image (a user's,
 *   ImageConfig.pull without stub) is refused with a CannotPullContainerError that says to run
 *   with --runtime docker (unsupportedImage, asked by the task runner before it starts anything).
 *   The container definition's entryPoint, command, workingDirectory, user, readonly root and
 *   ulimits are not applied here (the stub's argv is the harness's); stopTimeout is (stop()).
 */
import { onProcessExit } from '../../exit-hook.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { stopWithTimeout } from '../stop.ts';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ContainerExit, ContainerHandle, ContainerSpec, ExecResult, ImageConfig, TaskRuntime } from '../types.ts';
import { TEMP_DIR_PREFIX } from './leftovers.ts';
import { lineSplitter } from './lines.ts';
import { writeLoopbackShims } from './loopback-shims.ts';

/** The harness root (where package.json lives); image cmd paths are relative to it. */
export const HARNESS_ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
/** Written by the network fabric; preloaded into Node tasks when the fabric runs a DNS server. */
export const DNS_PRELOAD_PATH = join(HARNESS_ROOT, 'harness', 'network', 'dns-preload.mjs');

/** Cap on captured exec output per stream (ECS keeps only a little of a health check's output). */
const EXEC_OUTPUT_LIMIT = 64 * 1024;
/** After the main process exits, how long to wait for its pipes to drain before resolving. */
const PIPE_DRAIN_MS = 1000;

export interface ProcessRuntimeOptions {
  /** names the temp dir (and so lets `killLeftovers` find it); default: a generated id */
  runId?: string;
  /** passed to every task as HARNESS_TIME_SCALE (stubs scale their slow start by it) */
  timeScale?: number;
  /** close(): SIGTERM, then SIGKILL after this many ms (default 1000) */
  closeGraceMs?: number;
  /** where the temp dir goes (default os.tmpdir()) */
  tmpBase?: string;
  /**
   * netns mode: the fabric gives each task a network namespace (spec.netns) with enforced
   * security groups; the runtime then reports isolationEnforced = true. Tasks whose spec names
   * a namespace run inside it either way.
   */
  netns?: boolean;
}

/** `ip` (iproute2), for `ip netns exec` (netns mode). */
const IP_BIN = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((f) => existsSync(f)) ?? 'ip';

/** argv prefixed so it runs inside the task's network namespace (its resolv.conf bind-mounted). */
function inNetns(netns: string | undefined, argv: string[]): string[] {
  return netns ? [IP_BIN, 'netns', 'exec', netns, ...argv] : argv;
}

/** Extra, optional spec field (see report): the Cloud Map zones the DNS server answers. */
type SpecWithZones = ContainerSpec & { dnsZones?: string[] };

class ProcessContainer implements ContainerHandle {
  exit: ContainerExit | undefined;
  readonly execs = new Set<ChildProcess>();
  constructor(
    readonly taskId: string,
    readonly containerName: string,
    readonly ip: string,
    readonly pid: number,
    readonly env: Record<string, string>,
    readonly cwd: string,
    readonly exited: Promise<ContainerExit>,
    readonly netns?: string,
  ) {}
}

/** Live runtimes: one process 'exit' hook SIGKILLs their groups if the harness dies first. */
const liveRuntimes = new Set<ProcessRuntime>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onProcessExit(() => {
    for (const rt of liveRuntimes) rt.killAllNow();
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

function toExit(code: number | null, signal: NodeJS.Signals | null): ContainerExit {
  if (signal) return { exitCode: 128 + (osConstants.signals[signal] ?? 0), signal };
  return { exitCode: code, signal: null };
}

/**
 * Resolves when `child` has exited and its pipes have drained (bounded: a straggler that
 * holds them open is killed with the group first).
 */
function waitForExit(child: ChildProcess, pid: number): Promise<ContainerExit> {
  return new Promise((resolvePromise) => {
    let exit: ContainerExit | undefined;
    let done = false;
    const finish = () => {
      if (done || !exit) return;
      done = true;
      resolvePromise(exit);
    };
    child.once('exit', (code, signal) => {
      exit = toExit(code, signal);
      killGroup(pid, 'SIGKILL'); // the rest of the "container" goes with its main process
      setTimeout(finish, PIPE_DRAIN_MS).unref();
    });
    child.once('close', () => finish());
  });
}

export function resolveArgv(cmd: readonly string[], root = HARNESS_ROOT): string[] {
  return cmd.map((arg, i) => {
    if (i === 0 && arg === 'node') return process.execPath;
    if (!isAbsolute(arg) && !arg.startsWith('-') && arg.includes('/') && existsSync(join(root, arg))) {
      return join(root, arg);
    }
    return arg;
  });
}

/** Why the process runtime cannot run this image (a user's registry image), or undefined. */
export function processUnsupported(image: ImageConfig): string | undefined {
  if (!image.pull || image.stub) return undefined;
  return `CannotPullContainerError: ${image.pull.ref} is a registry image; the process runtime runs only the harness's catalogue images — run with --runtime docker`;
}

export function isLoopbackIPv4(ip: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  return !!m && m.slice(1).every((o) => Number(o) <= 255);
}

export class ProcessRuntime implements TaskRuntime {
  readonly name = 'process' as const;
  readonly isolationEnforced: boolean;
  readonly runId: string;
  /** this runtime's temp dir: tasks/<task>/ (cwd + HOME), bin/ (loopback shims) */
  readonly tempDir: string;
  /** tools that have a loopback shim (see loopback-shims.ts) */
  readonly shimmedTools: string[];
  private readonly shimDir: string;
  private readonly containers = new Set<ProcessContainer>();
  private readonly opts: ProcessRuntimeOptions;
  private closed = false;

  constructor(opts: ProcessRuntimeOptions = {}) {
    this.opts = opts;
    this.isolationEnforced = !!opts.netns;
    this.runId = opts.runId ?? `proc-${Date.now().toString(36)}-${process.pid}`;
    if (!/^[A-Za-z0-9._-]+$/.test(this.runId)) throw new Error(`run id must be [A-Za-z0-9._-]+: ${this.runId}`);
    this.tempDir = mkdtempSync(join(opts.tmpBase ?? tmpdir(), `${TEMP_DIR_PREFIX}${this.runId}-`));
    this.shimDir = join(this.tempDir, 'bin');
    this.shimmedTools = writeLoopbackShims(this.shimDir, process.env.PATH ?? '');
    liveRuntimes.add(this);
    installExitHook();
  }

  unsupportedImage(image: ImageConfig): string | undefined {
    return processUnsupported(image);
  }

  async start(spec: ContainerSpec): Promise<ContainerHandle> {
    if (this.closed) throw new Error('CannotStartContainerError: the process runtime is closed');
    const unsupported = processUnsupported(spec.image);
    if (unsupported) throw new Error(unsupported);
    if (spec.image.cmd.length === 0) throw new Error('CannotStartContainerError: the image has no command (cmd is empty)');
    if (!spec.netns && !isLoopbackIPv4(spec.ip)) {
      throw new Error(
        `CannotStartContainerError: the process runtime (loopback mode) needs a 127.0.0.0/8 task address, got ${spec.ip}`,
      );
    }
    const cwd = join(this.tempDir, 'tasks', `${spec.taskId}-${spec.containerName}`.replace(/[^A-Za-z0-9._-]/g, '_'));
    mkdirSync(cwd, { recursive: true });
    const env = this.containerEnv(spec, cwd);
    // files the harness adds: under the task's own directory; env values naming them follow
    for (const f of spec.files ?? []) {
      if (!isAbsolute(f.path) || f.path.split('/').includes('..')) throw new Error(`CannotStartContainerError: file path ${JSON.stringify(f.path)} must be absolute, without ..`);
      const where = join(cwd, 'files', f.path.replace(/^\/+/, ''));
      mkdirSync(dirname(where), { recursive: true });
      writeFileSync(where, f.content);
      for (const [k, v] of Object.entries(env)) if (v === f.path) env[k] = where;
    }
    const [file, ...args] = inNetns(spec.netns, resolveArgv(spec.image.cmd));

    const child = spawn(file, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((ok, fail) => {
      child.once('spawn', ok);
      child.once('error', (err) =>
        fail(new Error(`CannotStartContainerError: exec ${JSON.stringify(spec.image.cmd[0])}: ${err.message}`)),
      );
    });
    const pid = child.pid!;
    for (const stream of ['stdout', 'stderr'] as const) {
      const split = lineSplitter((line) => {
        try {
          spec.onLog(stream, line);
        } catch {
          // a failing log sink must not take the container down
        }
      });
      child[stream]!.on('data', (c: Buffer) => split.push(c));
      child[stream]!.on('end', () => split.end());
    }
    const exited = waitForExit(child, pid);
    const container = new ProcessContainer(spec.taskId, spec.containerName, spec.ip, pid, env, cwd, exited, spec.netns);
    this.containers.add(container);
    void exited.then((exit) => {
      container.exit = exit;
      for (const e of container.execs) if (e.pid) killGroup(e.pid, 'SIGKILL');
      this.containers.delete(container);
    });
    return container;
  }

  async exec(handle: ContainerHandle, command: string[], timeoutMs: number): Promise<ExecResult> {
    const container = this.own(handle);
    if (container.exit) throw new Error(`container ${handle.containerName} of task ${handle.taskId} is not running`);
    let argv: string[];
    if (command[0] === 'CMD-SHELL') argv = ['/bin/sh', '-c', ...command.slice(1)];
    else if (command[0] === 'CMD') argv = command.slice(1);
    else argv = command; // bare argv, as `docker exec` takes it
    if (argv.length === 0 || (command[0] === 'CMD-SHELL' && argv.length < 3)) {
      throw new Error(`exec: empty command ${JSON.stringify(command)}`);
    }

    // netns mode: the command runs inside the task's namespace, where localhost is the task
    argv = inNetns(container.netns, argv);
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: container.cwd,
      env: container.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]!.setEncoding('utf8');
      child[stream]!.on('data', (c: string) => {
        if (out[stream].length < EXEC_OUTPUT_LIMIT) out[stream] = (out[stream] + c).slice(0, EXEC_OUTPUT_LIMIT);
      });
    }
    return new Promise<ExecResult>((resolveExec) => {
      let settled = false;
      const settle = (r: Omit<ExecResult, 'stdout' | 'stderr'> & { stderr?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        container.execs.delete(child);
        resolveExec({ stdout: out.stdout, stderr: r.stderr ?? out.stderr, exitCode: r.exitCode, timedOut: r.timedOut });
      };
      const timer = setTimeout(() => {
        // ECS counts a timed-out health check as a failure; the command is killed
        if (child.pid) killGroup(child.pid, 'SIGKILL');
        settle({ exitCode: -1, timedOut: true });
      }, timeoutMs);
      child.once('error', (err) => {
        // the command could not be run at all: the shell's "not found" convention
        settle({ exitCode: 127, timedOut: false, stderr: `${out.stderr}${err.message}\n` });
      });
      child.once('spawn', () => {
        container.execs.add(child);
        void waitForExit(child, child.pid!).then((exit) => settle({ exitCode: exit.exitCode ?? -1, timedOut: false }));
      });
    });
  }

  async stop(handle: ContainerHandle, timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ContainerExit> {
    const container = this.own(handle);
    if (container.exit) return container.exit;
    return stopWithTimeout(
      container.exited,
      () => killGroup(container.pid, signal),
      () => killGroup(container.pid, 'SIGKILL'),
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const grace = this.opts.closeGraceMs ?? 1000;
    await Promise.all([...this.containers].map((c) => this.stop(c, grace)));
    liveRuntimes.delete(this);
    rmSync(this.tempDir, { recursive: true, force: true });
  }

  /** Synchronous last resort (process 'exit'): SIGKILL every group this runtime started. */
  killAllNow(): void {
    for (const c of this.containers) {
      for (const e of c.execs) if (e.pid) killGroup(e.pid, 'SIGKILL');
      killGroup(c.pid, 'SIGKILL');
    }
  }

  private own(handle: ContainerHandle): ProcessContainer {
    if (!(handle instanceof ProcessContainer)) throw new Error('not a container of the process runtime');
    return handle;
  }

  private containerEnv(spec: SpecWithZones, home: string): Record<string, string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: home,
      LANG: process.env.LANG || 'C.UTF-8',
      TZ: process.env.TZ || 'UTC',
      ...spec.image.env,
      ...spec.env,
      // netns mode: the task owns its stack; listen on every address of it (localhost included)
      HOST: spec.netns ? '0.0.0.0' : spec.ip,
      HARNESS_RUN_ID: spec.runId,
      HARNESS_TASK_ID: spec.taskId,
      HARNESS_TASK_IP: spec.ip,
      HARNESS_CONTAINER_NAME: spec.containerName,
    };
    if (this.opts.timeScale !== undefined) env.HARNESS_TIME_SCALE = String(this.opts.timeScale);
    if (spec.netns) return env; // its own namespace: localhost is the task, resolv.conf names the VPC resolver
    if (this.shimmedTools.length > 0) env.PATH = `${this.shimDir}:${env.PATH}`;
    if (spec.dnsServer) {
      env.HARNESS_DNS_SERVER = spec.dnsServer;
      const zones = spec.dnsZones?.join(',') ?? spec.env.HARNESS_DNS_ZONES;
      if (zones) env.HARNESS_DNS_ZONES = zones;
      if (existsSync(DNS_PRELOAD_PATH)) {
        const preload = `--import=${pathToFileURL(DNS_PRELOAD_PATH).href}`;
        env.NODE_OPTIONS = env.NODE_OPTIONS ? `${preload} ${env.NODE_OPTIONS}` : preload;
      }
    }
    return env;
  }
}
