/**
 * Runs a deploy script unmodified (`bash <script> args…`) the way a person would in a
 * terminal, in its own process group, with its combined output streamed to a log file
 * and to a line callback. A non-zero exit is a result, not an exception.
 */
import { onProcessExit } from '../exit-hook.ts';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface RunScriptOptions {
  /** path of the script; run as `bash <script> args…` (never modified, needs no +x) */
  script: string;
  args?: string[];
  /** working directory (default: the script's directory) */
  cwd?: string;
  /**
   * Variables on top of this process's environment, from which every AWS_* variable is
   * dropped first (a real profile or token never reaches a script run against the
   * emulator); pass prepareCliEnvironment()'s result here.
   */
  env?: Record<string, string>;
  /** combined stdout+stderr, line by line, appended here (created with its directory) */
  logFile?: string;
  /** kill the script's process group after this long (SIGTERM, then SIGKILL) */
  timeoutMs?: number;
  /** aborting kills the script's process group as a timeout does */
  signal?: AbortSignal;
  /** each complete output line (without the newline), as it arrives */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** between SIGTERM and SIGKILL on timeout/abort (default 3000 ms) */
  killGraceMs?: number;
}

export interface RunScriptResult {
  /** the exit code, or null when a signal ended the script */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** combined stdout+stderr in arrival order (lines of one stream stay whole) */
  output: string;
  timedOut: boolean;
  aborted: boolean;
}

/** Process groups of scripts still running; killed if the harness exits first. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

const MAX_OUTPUT_CHARS = 16 * 1024 * 1024;

export function runScript(opts: RunScriptOptions): Promise<RunScriptResult> {
  const script = path.resolve(opts.script);
  const cwd = opts.cwd ? path.resolve(opts.cwd) : path.dirname(script);
  const args = opts.args ?? [];
  const env = scriptEnvironment(opts.env ?? {});
  installExitHook();

  let log: fs.WriteStream | undefined;
  if (opts.logFile) {
    fs.mkdirSync(path.dirname(path.resolve(opts.logFile)), { recursive: true });
    log = fs.createWriteStream(opts.logFile, { flags: 'a' });
    log.write(`$ cd ${cwd} && bash ${[script, ...args].join(' ')}\n`);
  }

  return new Promise<RunScriptResult>((resolve, reject) => {
    const started = Date.now();
    let output = '';
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const child = spawn('bash', [script, ...args], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const pgid = child.pid;
    if (pgid !== undefined) liveGroups.add(pgid);

    const emit = (line: string, stream: 'stdout' | 'stderr') => {
      output += line + '\n';
      if (output.length > MAX_OUTPUT_CHARS) output = output.slice(output.length - MAX_OUTPUT_CHARS);
      log?.write(line + '\n');
      try {
        opts.onLine?.(line, stream);
      } catch {
        // a faulty observer must not break the run
      }
    };
    const splitter = (stream: 'stdout' | 'stderr') => {
      let partial = '';
      return {
        data(chunk: Buffer) {
          partial += chunk.toString('utf8');
          let nl: number;
          while ((nl = partial.indexOf('\n')) >= 0) {
            emit(partial.slice(0, nl).replace(/\r$/, ''), stream);
            partial = partial.slice(nl + 1);
          }
        },
        flush() {
          if (partial) emit(partial, stream);
          partial = '';
        },
      };
    };
    const out = splitter('stdout');
    const err = splitter('stderr');
    child.stdout.on('data', out.data);
    child.stderr.on('data', err.data);

    const killGroup = (sig: NodeJS.Signals) => {
      if (pgid === undefined) return;
      try {
        process.kill(-pgid, sig);
      } catch {
        // already gone
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), opts.killGraceMs ?? 3000);
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timeoutTimer = setTimeout(() => {
        timedOut = true;
        stop();
      }, opts.timeoutMs);
    }

    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      clearTimeout(timeoutTimer);
      clearTimeout(drainTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      out.flush();
      err.flush();
      // anything the script left behind in its group goes with it
      killGroup('SIGKILL');
      if (pgid !== undefined) liveGroups.delete(pgid);
      const result: RunScriptResult = { exitCode, signal, durationMs: Date.now() - started, output, timedOut, aborted };
      const why = timedOut ? ` (timed out after ${opts.timeoutMs} ms)` : aborted ? ' (aborted)' : '';
      if (log) {
        log.end(`# exit ${exitCode ?? signal}${why} after ${result.durationMs} ms\n`, () => resolve(result));
      } else {
        resolve(result);
      }
    };

    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      if (pgid !== undefined) liveGroups.delete(pgid);
      log?.end(`# could not start bash: ${e.message}\n`);
      reject(e);
    });
    child.on('close', (code, sig) => finish(code, sig));
    // bash exited but a leftover background process still holds the pipes: don't wait for it
    child.on('exit', (code, sig) => {
      drainTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(code, sig);
      }, 500);
    });
  });
}

/** This process's environment without AWS_* variables, plus `extra`. */
export function scriptEnvironment(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
  }
  return { ...env, ...extra };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onProcessExit(() => {
    for (const pgid of liveGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
}
