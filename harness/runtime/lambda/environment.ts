import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { lineSplitter } from '../process/lines.ts';
import { logStreamName, reportLine, TailCollector, traceHeader, type ReportFields } from './logs.ts';
import { RuntimeApiServer, type RuntimeResult } from './runtime-api.ts';
import type { FunctionSpec, InvokeOptions, InvokeOutcome, LambdaRuntimeDeps } from './types.ts';

/** How an environment's process is started: argv and the variables the runtime adds. */
export interface Launch {
  argv: string[];
  env: Record<string, string>;
  /** turn '\r' inside a stdout line back into '\n' (the runtime wrote one multi-line record as one line) */
  carriageReturnIsNewline: boolean;
  /** the INIT_START line's runtime version (e.g. nodejs:20.v1) */
  runtimeVersion: string;
  /**
   * docker mode: the process runs in a container (container.ts). `wrap` turns the argv and the
   * environment into the command that starts it; ending that command does not end the
   * container, so `remove` (and `removeNow` in the exit hook) does.
   */
  container?: {
    wrap(argv: string[], env: Record<string, string>, ctx: { id: string; scratch: string; codeDir: string }): { argv: string[]; name: string };
    remove(name: string): Promise<void>;
    removeNow(name: string): void;
    /** the host pid of the container's main process (REPORT's Max Memory Used reads it) */
    pidOf(name: string): Promise<number | undefined>;
  };
  /** real time stretch of the init limit and the function's timeout (QEMU, a starved machine; default 1) */
  stretch?: number;
}

/** Lambda's limit for the init phase (real seconds; as the handler's timeout, never scaled). */
export const INIT_TIMEOUT_MS = 10_000;
/** how long the pipes get to drain after the process exited */
const PIPE_DRAIN_MS = 200;

type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };
type InitOutcome = { kind: 'ready' } | { kind: 'init-error'; body: Buffer; errorType: string } | { kind: 'exit'; exit: ExitInfo } | { kind: 'timeout' };
type RunOutcome = { kind: 'result'; result: RuntimeResult } | { kind: 'exit'; exit: ExitInfo } | { kind: 'timeout' };

export type StopReason = 'retired' | 'closed' | 'timeout' | 'exited' | 'init-error' | 'idle' | 'superseded';

/** The names Lambda reserves: a function's own variables never override these. */
export const RESERVED_ENV = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/** Peak resident memory of a process in MB (VmHWM), as REPORT's Max Memory Used. */
export function peakMemoryMb(pid: number | undefined): number {
  return Math.max(1, Math.round(procStatusKb(pid, 'VmHWM') / 1024));
}

/** Current resident memory of a process in kB (VmRSS). */
export function rssKb(pid: number | undefined): number {
  return procStatusKb(pid, 'VmRSS');
}

function procStatusKb(pid: number | undefined, field: string): number {
  if (!pid) return 0;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

const nowIso = () => new Date().toISOString();
const round2 = (v: number) => Math.round(v * 100) / 100;

/**
 * One execution environment: a process (its own process group, cwd = the code dir) speaking
 * the Runtime API to its own server, a scratch dir (its /tmp) under the run dir, one log stream.
 * It runs one invocation at a time; the first one pays the init (cold start).
 */
export class LambdaEnvironment {
  readonly id = randomBytes(6).toString('hex');
  readonly logStream: string;
  busy = false;
  stopped = false;
  /** real ms since the epoch when it last finished an invocation */
  idleSince = Date.now();
  private child: ChildProcess | undefined;
  /** docker mode: the environment's container */
  private containerName: string | undefined;
  /** the process REPORT's memory is read from: the child, or the container's main process */
  private memoryPid: number | undefined;
  private api: RuntimeApiServer | undefined;
  private readonly scratch: string;
  private initialized = false;
  private tail: TailCollector | undefined;
  private readonly ready = deferred<void>();
  private readonly initError = deferred<{ body: Buffer; errorType: string }>();
  private readonly exited = deferred<ExitInfo>();
  private result: { requestId: string; d: ReturnType<typeof deferred<RuntimeResult>> } | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly spec: FunctionSpec,
    readonly fingerprint: string,
    private readonly deps: LambdaRuntimeDeps,
    private readonly launch: Launch,
    envRoot: string,
    private readonly onGone: (env: LambdaEnvironment, reason: StopReason) => void,
  ) {
    this.logStream = logStreamName(spec.version);
    this.scratch = path.join(envRoot, `env-${this.id}`);
  }

  private get stretch(): number {
    return Math.max(1, this.launch.stretch ?? 1);
  }

  /** Ends its process (and, in docker mode, its container: the docker CLI's end does not). */
  private kill(): Promise<void> {
    killGroup(this.pid);
    return this.containerName ? this.launch.container!.remove(this.containerName) : Promise.resolve();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** its process is running (false before the first invocation started it) */
  get alive(): boolean {
    return !this.stopped && !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Runs one invocation (starting the process first on a cold start). The caller marks it busy. */
  async invoke(payload: Buffer, opts: InvokeOptions): Promise<InvokeOutcome> {
    const tail = new TailCollector();
    this.tail = tail;
    try {
      let initDurationMs: number | undefined;
      if (!this.initialized) {
        const t0 = performance.now();
        const init = await this.init();
        initDurationMs = round2(performance.now() - t0);
        if (init.kind !== 'ready') return await this.initFailed(init, opts, initDurationMs, tail);
        this.initialized = true;
        this.memoryPid = this.containerName ? await this.launch.container!.pidOf(this.containerName) : this.pid;
        this.deps.events?.append('lambda.environment.started', {
          functionName: this.spec.functionName,
          functionArn: this.spec.functionArn,
          version: this.spec.version,
          environment: this.id,
          logStream: this.logStream,
          initDurationMs,
          pid: this.pid,
        });
      }
      return await this.run(payload, opts, initDurationMs, tail);
    } finally {
      this.tail = undefined;
      this.idleSince = Date.now();
    }
  }

  async stop(reason: StopReason): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: StopReason): Promise<void> {
    const wasStopped = this.stopped;
    this.stopped = true;
    const removed = this.kill();
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      await Promise.race([this.exited.promise, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
    await removed;
    await this.api?.close();
    await rm(this.scratch, { recursive: true, force: true }).catch(() => undefined);
    if (!wasStopped || this.child) {
      this.deps.events?.append('lambda.environment.stopped', {
        functionName: this.spec.functionName,
        functionArn: this.spec.functionArn,
        version: this.spec.version,
        environment: this.id,
        reason,
      });
    }
    this.onGone(this, reason);
  }

  /** for the process-exit hook: no awaiting */
  killNow(): void {
    killGroup(this.pid);
    if (this.containerName) this.launch.container?.removeNow(this.containerName);
    try {
      rmSync(this.scratch, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }

  private line(text: string, ts = Date.now()): void {
    try {
      this.deps.appendLog(this.spec.logGroup, this.logStream, text, ts);
    } catch (e) {
      this.deps.log?.(`lambda: could not append a log event for ${this.spec.functionName}: ${(e as Error).message}`);
    }
    this.tail?.push(text);
  }

  private async init(): Promise<InitOutcome> {
    const { spec } = this;
    mkdirSync(path.join(this.scratch, 'tmp'), { recursive: true });
    this.api = await RuntimeApiServer.start({
      onReady: () => this.ready.resolve(),
      onInitError: (body, errorType) => this.initError.resolve({ body, errorType }),
      onResult: (requestId, result) => {
        if (this.result?.requestId === requestId) this.result.d.resolve(result);
      },
    });
    this.line(`INIT_START Runtime Version: ${this.launch.runtimeVersion}\tRuntime Version ARN: arn:aws:lambda:${this.deps.region}::runtime:${'0'.repeat(64)}`);
    let env = this.environmentVariables();
    let argv = this.launch.argv;
    if (this.launch.container) {
      const wrapped = this.launch.container.wrap(argv, env, { id: this.id, scratch: this.scratch, codeDir: spec.codeDir });
      argv = wrapped.argv;
      this.containerName = wrapped.name;
      // the docker CLI's own environment; the function's went in as -e
      env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}), ...(process.env.HOME ? { HOME: process.env.HOME } : {}) };
    }
    const [cmd, ...args] = argv;
    let child: ChildProcess;
    try {
      child = spawn(cmd!, args, { cwd: spec.codeDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      return { kind: 'init-error', body: Buffer.from(JSON.stringify({ errorType: 'Runtime.Unknown', errorMessage: (e as Error).message })), errorType: 'Runtime.Unknown' };
    }
    this.child = child;
    const cr = this.launch.carriageReturnIsNewline;
    let open = 2;
    const closedPipes = deferred<void>();
    for (const stream of [child.stdout!, child.stderr!]) {
      const split = lineSplitter((l) => this.line(cr ? l.replace(/\r/g, '\n') : l));
      stream.on('data', (c: Buffer) => split.push(c));
      stream.on('error', () => undefined);
      stream.on('close', () => {
        split.end();
        if (--open === 0) closedPipes.resolve();
      });
    }
    child.on('error', (e) => {
      this.line(`harness: could not start the runtime: ${e.message}`);
      this.exited.resolve({ code: 127, signal: null });
    });
    child.once('exit', (code, signal) => {
      killGroup(child.pid); // the rest of the environment goes with its main process
      void Promise.race([closedPipes.promise, new Promise((r) => setTimeout(r, PIPE_DRAIN_MS).unref())]).then(() => {
        this.exited.resolve({ code, signal });
        if (!this.busy && !this.stopped) void this.stop('exited');
      });
    });

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<InitOutcome>((r) => (timer = setTimeout(() => r({ kind: 'timeout' }), INIT_TIMEOUT_MS * this.stretch)));
    try {
      return await Promise.race<InitOutcome>([
        this.ready.promise.then(() => ({ kind: 'ready' })),
        this.initError.promise.then((e) => ({ kind: 'init-error', ...e })),
        this.exited.promise.then((exit) => ({ kind: 'exit', exit })),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private environmentVariables(): Record<string, string> {
    const { spec, deps } = this;
    const ours: Record<string, string> = {
      AWS_LAMBDA_RUNTIME_API: this.api!.address,
      AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: spec.version,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySize),
      AWS_LAMBDA_LOG_GROUP_NAME: spec.logGroup,
      AWS_LAMBDA_LOG_STREAM_NAME: this.logStream,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      _HANDLER: spec.handler,
      LAMBDA_TASK_ROOT: spec.codeDir,
      AWS_REGION: deps.region,
      AWS_DEFAULT_REGION: deps.region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
      // fake session credentials of the execution role (the harness does not check signatures)
      AWS_ACCESS_KEY_ID: 'ASIAHARNESSLAMBDA000',
      AWS_SECRET_ACCESS_KEY: 'harness-lambda-secret-access-key',
      AWS_SESSION_TOKEN: `harness-session-token-${deps.runId}`,
      ...this.launch.env,
    };
    const defaults: Record<string, string> = {
      PATH: [...new Set([path.dirname(this.launch.argv[0]!), '/usr/local/bin', '/usr/bin', '/bin'])].join(':'),
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      AWS_ENDPOINT_URL: deps.awsEndpoint,
      // Lambda's /tmp
      TMPDIR: path.join(this.scratch, 'tmp'),
      // the host's ~/.aws is not the function's
      AWS_CONFIG_FILE: path.join(this.scratch, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(this.scratch, 'no-aws-credentials'),
    };
    const own = Object.fromEntries(Object.entries(spec.environment).filter(([k]) => !RESERVED_ENV.has(k)));
    return {
      ...defaults,
      ...own,
      ...ours,
      // how a later run finds what a killed one left (runtime/process/leftovers.ts)
      HARNESS_RUN_ID: deps.runId,
      HARNESS_TASK_ID: `lambda-${spec.functionName}-${this.id}`,
    };
  }

  private async initFailed(init: Exclude<InitOutcome, { kind: 'ready' }>, opts: InvokeOptions, initDurationMs: number, tail: TailCollector): Promise<InvokeOutcome> {
    const { requestId } = opts;
    let payload: Buffer;
    let errorType: string;
    let status: ReportFields['status'];
    if (init.kind === 'init-error') {
      payload = init.body;
      errorType = init.errorType;
      this.line(`INIT_REPORT Init Duration: ${initDurationMs.toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${errorType}`);
      status = { status: 'error', errorType };
    } else if (init.kind === 'exit') {
      errorType = 'Runtime.ExitError';
      const message = `RequestId: ${requestId} Error: Runtime exited with error: ${exitText(init.exit)}`;
      payload = Buffer.from(JSON.stringify({ errorType, errorMessage: message }));
      this.line(`INIT_REPORT Init Duration: ${initDurationMs.toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${errorType}`);
      status = { status: 'error', errorType };
    } else {
      errorType = 'Sandbox.Timedout';
      payload = Buffer.from(JSON.stringify({ errorMessage: `${nowIso()} ${requestId} Task timed out after ${(INIT_TIMEOUT_MS / 1000).toFixed(2)} seconds` }));
      this.line(`INIT_REPORT Init Duration: ${initDurationMs.toFixed(2)} ms\tPhase: init\tStatus: timeout`);
      status = { status: 'timeout' };
    }
    this.line(`START RequestId: ${requestId} Version: ${this.spec.version}`);
    if (init.kind === 'exit') this.line(`RequestId: ${requestId} Error: Runtime exited with error: ${exitText(init.exit)}\n${errorType}`);
    else if (init.kind === 'init-error') this.line(`Unknown application error occurred\n${errorType}`);
    const pid = this.pid;
    const maxMemoryUsedMb = peakMemoryMb(pid);
    this.line(`END RequestId: ${requestId}`);
    this.line(reportLine({ requestId, durationMs: 0, memorySize: this.spec.memorySize, maxMemoryUsedMb, initDurationMs, status }));
    await this.stop(init.kind === 'timeout' ? 'timeout' : 'init-error');
    return { payload, functionError: 'Unhandled', initDurationMs, durationMs: 0, ...(opts.tail ? { logTail: tail.text() } : {}) };
  }

  private async run(payload: Buffer, opts: InvokeOptions, initDurationMs: number | undefined, tail: TailCollector): Promise<InvokeOutcome> {
    const { spec } = this;
    const { requestId } = opts;
    const d = deferred<RuntimeResult>();
    this.result = { requestId, d };
    this.line(`START RequestId: ${requestId} Version: ${spec.version}`);
    const t0 = performance.now();
    const timeoutMs = Math.max(1, spec.timeout) * 1000 * this.stretch;
    this.api!.dispatch({
      requestId,
      payload,
      deadlineMs: Date.now() + timeoutMs,
      invokedFunctionArn: opts.invokedFunctionArn ?? (spec.version === '$LATEST' ? spec.functionArn : `${spec.functionArn}:${spec.version}`),
      traceId: traceHeader(),
      clientContext: clientContextJson(opts.clientContext),
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race<RunOutcome>([
      d.promise.then((result) => ({ kind: 'result', result })),
      this.exited.promise.then((exit) => ({ kind: 'exit', exit })),
      new Promise<RunOutcome>((r) => (timer = setTimeout(() => r({ kind: 'timeout' }), timeoutMs))),
    ]);
    clearTimeout(timer);
    const durationMs = round2(performance.now() - t0);
    this.result = undefined;
    const memoryPid = this.memoryPid;
    const report = (status?: ReportFields['status']) =>
      reportLine({ requestId, durationMs, memorySize: spec.memorySize, maxMemoryUsedMb: peakMemoryMb(memoryPid), initDurationMs, status });
    const done = (p: Buffer, functionError?: 'Unhandled'): InvokeOutcome => ({
      payload: p,
      ...(functionError ? { functionError } : {}),
      ...(initDurationMs !== undefined ? { initDurationMs } : {}),
      durationMs,
      ...(opts.tail ? { logTail: tail.text() } : {}),
    });

    if (outcome.kind === 'timeout') {
      const message = `${nowIso()} ${requestId} Task timed out after ${spec.timeout.toFixed(2)} seconds`;
      const memory = report({ status: 'timeout' });
      void this.kill();
      await Promise.race([this.exited.promise, new Promise((r) => setTimeout(r, 1000).unref())]);
      this.line(message);
      this.line(`END RequestId: ${requestId}`);
      this.line(memory);
      void this.stop('timeout');
      return done(Buffer.from(JSON.stringify({ errorMessage: message })), 'Unhandled');
    }
    if (outcome.kind === 'exit') {
      const errorType = 'Runtime.ExitError';
      const message = `RequestId: ${requestId} Error: Runtime exited with error: ${exitText(outcome.exit)}`;
      this.line(`${message}\n${errorType}`);
      this.line(`END RequestId: ${requestId}`);
      this.line(report({ status: 'error', errorType }));
      void this.stop('exited');
      return done(Buffer.from(JSON.stringify({ errorType, errorMessage: message })), 'Unhandled');
    }
    // let the lines the handler wrote just before it answered arrive before END
    await drainTurns();
    const r = outcome.result;
    this.line(`END RequestId: ${requestId}`);
    if (r.kind === 'response') {
      this.line(report());
      return done(r.body);
    }
    if (r.kind === 'too-large') {
      const errorType = 'Function.ResponseSizeTooLarge';
      this.line(report({ status: 'error', errorType }));
      return done(
        Buffer.from(JSON.stringify({ errorMessage: `Response payload size exceeded maximum allowed payload size (6291556 bytes).`, errorType })),
        'Unhandled',
      );
    }
    this.line(report());
    return done(r.body, 'Unhandled');
  }
}

/** a few event-loop turns: pipe data written before an HTTP request is read by then */
async function drainTurns(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

function exitText(e: ExitInfo): string {
  if (e.signal) return `signal: ${e.signal === 'SIGKILL' ? 'killed' : e.signal.replace(/^SIG/, '').toLowerCase()}`;
  return `exit status ${e.code ?? 0}`;
}

function clientContextJson(b64: string | undefined): string | undefined {
  if (!b64) return undefined;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text.replace(/[\r\n]/g, ' ');
  }
}
