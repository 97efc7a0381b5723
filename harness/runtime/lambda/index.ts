/**
 * The Lambda function runtime: environments that run a function's code unmodified, each a
 * process speaking the Lambda Runtime API to its own server (runtime-api.ts), one invocation at
 * a time (environment.ts). Overlapping invocations start more environments; a finished one is
 * reused warm for the same code and configuration. Node functions run under bootstrap/
 * node-bootstrap.mjs with the AWS SDK v3 resolvable from a layer dir (require through
 * NODE_PATH, import through bootstrap/sdk-resolve.mjs); python functions under
 * bootstrap/python_bootstrap.py with the machine's python3 (3.11 on Debian 12).
 */
import { onProcessExit } from '../../exit-hook.ts';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LambdaEnvironment, type Launch, type StopReason } from './environment.ts';
import type { FunctionSpec, InvokeOptions, InvokeOutcome, LambdaRuntime, LambdaRuntimeDeps } from './types.ts';

export type { FunctionSpec, InvokeOptions, InvokeOutcome, LambdaRuntime, LambdaRuntimeDeps } from './types.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const NODE_BOOTSTRAP = path.join(here, 'bootstrap', 'node-bootstrap.mjs');
export const SDK_RESOLVE_HOOK = path.join(here, 'bootstrap', 'sdk-resolve.mjs');
export const PYTHON_BOOTSTRAP = path.join(here, 'bootstrap', 'python_bootstrap.py');

export interface LambdaRuntimeOptions {
  kind?: 'process';
  /** real ms an environment may stay idle before it is reclaimed (default: 10 AWS minutes, at least 60 s) */
  idleMs?: number;
  /** the python interpreter (default: python3 on PATH, resolved once to its real executable) */
  python?: string;
}

/** Everything an environment's behaviour depends on: environments are reused only for an equal spec. */
function fingerprint(spec: FunctionSpec): string {
  const { functionArn, version, runtime, handler, architecture, memorySize, timeout, environment, codeDir, codeSha256, logGroup, role } = spec;
  const env = Object.entries(environment).sort(([a], [b]) => (a < b ? -1 : 1));
  return createHash('sha256')
    .update(JSON.stringify([functionArn, version, runtime, handler, architecture, memorySize, timeout, env, codeDir, codeSha256, logGroup, role]))
    .digest('hex');
}

const keyOf = (functionArn: string, version: string) => `${functionArn}\0${version}`;

/** Live runtimes: one process 'exit' hook kills their environments if the harness dies first. */
const live = new Set<ProcessLambdaRuntime>();
let exitHook = false;

class ProcessLambdaRuntime implements LambdaRuntime {
  readonly name: string;
  /** docker mode: the image per platform (a promise of it, or why there is none) */
  private readonly images = new Map<string, Promise<{ image: string } | { missing: string }>>();
  private pythonNoted = false;
  private readonly envs = new Set<LambdaEnvironment>();
  /** the fingerprint last invoked per function version: older environments are superseded */
  private readonly latest = new Map<string, string>();
  private readonly retiring = new WeakSet<LambdaEnvironment>();
  private readonly root: string;
  private readonly layerDir: string;
  private readonly envRoot: string;
  private readonly idleMs: number;
  private readonly reaper: NodeJS.Timeout;
  private python: Promise<string> | undefined;
  private closed = false;

  constructor(
    private readonly deps: LambdaRuntimeDeps,
    private readonly opts: LambdaRuntimeOptions,
  ) {
    this.name = deps.containers ? 'docker (Node functions as containers of their architecture)' : 'process';
    this.root = path.join(deps.runDir, 'lambda-runtime');
    this.layerDir = path.join(this.root, 'layer');
    this.envRoot = path.join(this.root, 'environments');
    this.idleMs = opts.idleMs ?? Math.max(60_000, deps.scaledMs(600));
    this.reaper = setInterval(() => this.reap(), Math.min(30_000, this.idleMs)).unref();
    live.add(this);
    if (!exitHook) {
      exitHook = true;
      onProcessExit(() => {
        for (const rt of live) rt.killAllNow();
      });
    }
  }

  async invoke(spec: FunctionSpec, payload: Buffer, opts: InvokeOptions): Promise<InvokeOutcome> {
    if (this.closed) throw new Error('the Lambda runtime is closed');
    const fp = fingerprint(spec);
    const key = keyOf(spec.functionArn, spec.version);
    if (this.latest.get(key) !== fp) {
      this.latest.set(key, fp);
      for (const e of this.envs) if (keyOf(e.spec.functionArn, e.spec.version) === key && e.fingerprint !== fp) this.retire1(e, 'superseded');
    }
    // the most recently used idle environment, as Lambda tends to route to the warmest
    let env: LambdaEnvironment | undefined;
    for (const e of this.envs) {
      if (e.fingerprint === fp && !e.busy && !e.stopped && !this.retiring.has(e) && (!env || e.idleSince > env.idleSince)) env = e;
    }
    if (!env) {
      env = new LambdaEnvironment(spec, fp, this.deps, await this.launchFor(spec), this.envRoot, (gone) => this.envs.delete(gone));
      this.envs.add(env);
    }
    env.busy = true;
    try {
      return await env.invoke(payload, opts);
    } catch (e) {
      void env.stop('exited');
      throw e;
    } finally {
      env.busy = false;
      if (!env.stopped) {
        if (this.retiring.has(env)) void env.stop('retired');
        else if (env.fingerprint !== this.latest.get(key)) void env.stop('superseded');
        else if (!env.alive) void env.stop('exited');
      }
    }
  }

  async retire(functionArn: string, version?: string): Promise<void> {
    const stops: Promise<void>[] = [];
    for (const e of this.envs) {
      if (e.spec.functionArn !== functionArn || (version !== undefined && e.spec.version !== version)) continue;
      const p = this.retire1(e, 'retired');
      if (p) stops.push(p);
    }
    await Promise.all(stops);
  }

  environments(): { functionArn: string; version: string; busy: boolean; pid?: number }[] {
    return [...this.envs]
      .filter((e) => !e.stopped)
      .map((e) => ({ functionArn: e.spec.functionArn, version: e.spec.version, busy: e.busy, ...(e.pid ? { pid: e.pid } : {}) }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    await Promise.all([...this.envs].map((e) => e.stop('closed')));
    live.delete(this);
    rmSync(this.root, { recursive: true, force: true });
  }

  killAllNow(): void {
    for (const e of this.envs) e.killNow();
  }

  /** stops an idle environment now; a busy one once its invocation is done */
  private retire1(e: LambdaEnvironment, reason: StopReason): Promise<void> | undefined {
    if (e.stopped) return undefined;
    if (e.busy) {
      this.retiring.add(e);
      return undefined;
    }
    return e.stop(reason);
  }

  private reap(): void {
    const now = Date.now();
    for (const e of this.envs) if (!e.busy && !e.stopped && now - e.idleSince >= this.idleMs) void e.stop('idle');
  }

  private async launchFor(spec: FunctionSpec): Promise<Launch> {
    const launch = await this.processLaunchFor(spec);
    const containers = this.deps.containers;
    if (!containers) return launch;
    if (spec.runtime === 'python3.12') {
      if (!this.pythonNoted) this.deps.log?.(`[lambda] docker mode: python functions run as host processes (python ${spec.runtime} is not in the harness's images)`);
      this.pythonNoted = true;
      return launch;
    }
    const { containerLauncher, platformOf, hostPlatform, EMULATION_SLOWDOWN } = await import('./container.ts');
    const platform = platformOf(spec.architecture);
    let image = this.images.get(platform);
    if (!image) {
      image = import('../docker/images.ts')
        .then((m) => m.ensureBaseImage(platform, { log: (l) => this.deps.log?.(`[lambda] ${l}`) }))
        .then((r) => ({ image: r.image }))
        .catch((e: Error) => ({ missing: e.message.split('\n')[0]! }));
      this.images.set(platform, image);
    }
    const got = await image;
    if ('missing' in got) {
      // visible, never silent: the environment runs as a host process and the log says why
      this.deps.log?.(`[lambda] no linux/${platform} image for ${spec.functionName} (${got.missing}): it runs as a host process`);
      this.deps.events?.append('lambda.environment.fallback', { functionName: spec.functionName, platform, reason: got.missing });
      return launch;
    }
    const [, ...args] = launch.argv;
    const layer = this.ensureLayer();
    const sdkModules = path.dirname(realpathSync(path.join(layer, 'nodejs', 'node_modules', '@aws-sdk')));
    return {
      ...launch,
      argv: ['node', ...args],
      env: { ...launch.env, PATH: '/usr/local/bin:/usr/bin:/bin' },
      container: containerLauncher({ image: got.image, platform, runId: this.deps.runId, readOnly: [path.dirname(NODE_BOOTSTRAP), layer, sdkModules] }),
      stretch: containers.slowdown * (platform === hostPlatform() ? 1 : EMULATION_SLOWDOWN),
    };
  }

  private async processLaunchFor(spec: FunctionSpec): Promise<Launch> {
    if (spec.runtime === 'python3.12') {
      const python = await (this.python ??= resolvePython(this.opts.python));
      return {
        argv: [python, '-u', '-B', PYTHON_BOOTSTRAP],
        env: { LAMBDA_RUNTIME_DIR: path.dirname(PYTHON_BOOTSTRAP), PYTHONUNBUFFERED: '1' },
        carriageReturnIsNewline: true,
        runtimeVersion: 'python:3.12.v1',
      };
    }
    const layer = this.ensureLayer();
    const major = spec.runtime === 'nodejs22.x' ? 22 : 20;
    const oldSpace = Math.max(64, Math.floor(spec.memorySize * 0.9));
    // the resolve hook runs on a loader thread of its own (~0.1–0.3 s of a cold start on Node 20):
    // only ES module handlers need it, require() finds the SDK through NODE_PATH
    const hook = handlerIsEsm(spec.codeDir, spec.handler) ? ['--import', SDK_RESOLVE_HOOK] : [];
    return {
      argv: [process.execPath, `--max-old-space-size=${oldSpace}`, ...hook, NODE_BOOTSTRAP],
      env: {
        LAMBDA_RUNTIME_DIR: path.dirname(NODE_BOOTSTRAP),
        NODE_PATH: path.join(layer, 'nodejs', 'node_modules'),
        HARNESS_LAMBDA_LAYER_DIR: layer,
      },
      carriageReturnIsNewline: true,
      runtimeVersion: `nodejs:${major}.v1`,
    };
  }

  /**
   * The runtime's layer: `<layer>/nodejs/node_modules/@aws-sdk` links to the harness's own
   * @aws-sdk packages (their dependencies resolve from where they really are), as Lambda's Node
   * runtimes carry the SDK v3 outside the function's code. Nothing else of the harness's
   * node_modules is visible to functions.
   */
  private ensureLayer(): string {
    const modules = path.join(this.layerDir, 'nodejs', 'node_modules');
    const link = path.join(modules, '@aws-sdk');
    if (!existsSync(link)) {
      mkdirSync(modules, { recursive: true });
      let sdkScope = createRequire(import.meta.url).resolve('@aws-sdk/client-dynamodb');
      while (path.basename(sdkScope) !== '@aws-sdk' && path.dirname(sdkScope) !== sdkScope) sdkScope = path.dirname(sdkScope);
      try {
        symlinkSync(sdkScope, link, 'dir');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    return this.layerDir;
  }
}

/**
 * Whether a Node handler's module is an ES module (module.mjs, or module.js in a "type": "module"
 * package scope), as the bootstrap will load it; true when its file is not in the code dir.
 */
export function handlerIsEsm(codeDir: string, handler: string): boolean {
  const slash = handler.lastIndexOf('/');
  const rest = handler.slice(slash + 1);
  const base = path.resolve(codeDir, handler.slice(0, slash + 1) + rest.slice(0, Math.max(0, rest.indexOf('.'))));
  if (existsSync(`${base}.js`)) return packageTypeOf(path.dirname(base)) === 'module';
  if (existsSync(`${base}.mjs`)) return true;
  if (existsSync(`${base}.cjs`)) return false;
  return true;
}

function packageTypeOf(dir: string): 'module' | 'commonjs' {
  for (let d = dir; ; d = path.dirname(d)) {
    const p = path.join(d, 'package.json');
    if (existsSync(p)) {
      try {
        return (JSON.parse(readFileSync(p, 'utf8')) as { type?: string }).type === 'module' ? 'module' : 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    if (path.dirname(d) === d) return 'commonjs';
  }
}

function resolvePython(explicit?: string): Promise<string> {
  const candidate = explicit ?? process.env.HARNESS_LAMBDA_PYTHON ?? 'python3';
  return new Promise((resolve) => {
    execFile(candidate, ['-c', 'import sys; print(sys.executable)'], { timeout: 15_000 }, (err, stdout) => {
      const exe = stdout?.trim();
      resolve(!err && exe ? exe : existsSync('/usr/bin/python3') ? '/usr/bin/python3' : candidate);
    });
  });
}

export function createLambdaRuntime(deps: LambdaRuntimeDeps, opts: LambdaRuntimeOptions = {}): LambdaRuntime {
  return new ProcessLambdaRuntime(deps, opts);
}
