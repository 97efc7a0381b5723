/**
 * The warm aws CLI: a resident Python process per run that has imported the aws CLI (v1, or
 * v2 where it is a Python package as in Debian) and runs each `aws` call of the scripts in a
 * fork of itself, so a call no longer pays Python's start-up and botocore's imports.
 *
 * The run's `aws` wrapper (cli-env.ts) execs `warm-cli/client.py` when the run's socket is
 * there; the client passes the call (argv, environment, cwd, umask, fds 0-2) over the socket
 * and exits as the call did (the server keeps a spare worker ready, forked ahead of time with its
 * memory pre-faulted, so a call does not pay a fresh fork's page faults; HARNESS_WARM_SPARES=0
 * forks per call instead); it runs the cold CLI itself whenever the server is not there, does
 * not answer, or says a call must run cold. See warm-cli/server.py for what is shared between
 * calls (imports and the JSON models, nothing that depends on a call's environment).
 *
 * On by default; `--cold-cli` / HARNESS_COLD_CLI=1 turn it off (per call too: the wrapper
 * reads HARNESS_COLD_CLI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEMP_DIR_PREFIX } from '../runtime/process/leftovers.ts';
import { cliPaths, pythonOf, resolveAwsCli, writeScaledWaiters } from './cli-env.ts';
import { scriptEnvironment } from './run-script.ts';

export { pythonOf };

const WARM_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'warm-cli', 'server.py');

/** The services the harness emulates: their models are loaded once, by the server. */
export const WARM_SERVICES = ['ecs', 'ec2', 'elbv2', 'servicediscovery', 'secretsmanager', 'logs', 'ecr', 'iam', 'sts', 'cognito-idp', 'lambda', 'apigatewayv2'];

/** HARNESS_COLD_CLI=1 (or true/yes): every call runs the cold CLI. */
export function coldCliRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['1', 'true', 'yes'].includes((env.HARNESS_COLD_CLI ?? '').toLowerCase());
}

/** A Unix socket path holds at most 107 bytes; longer run dirs get a temp dir the leftover cleanup knows. */
const MAX_SOCKET_PATH = 100;

/** `<runDir>/aws-<runId>.sock`, or `<tmp>/escher-harness-process-<runId>-XXXXXX/aws.sock` when that is too long. */
export function warmSocketPath(runDir: string, runId: string): string {
  const inRun = path.join(path.resolve(runDir), `aws-${runId}.sock`);
  if (Buffer.byteLength(inRun) <= MAX_SOCKET_PATH) return inRun;
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), `${TEMP_DIR_PREFIX}${runId}-`)), 'aws.sock');
}

export interface WarmCli {
  socket: string;
  pid: number;
  /** the server's log (rehearsal notes, errors) */
  logFile: string;
  /** kills the server, every call it runs, and removes the socket */
  stop(): Promise<void>;
}

export interface AwsCliMode {
  mode: 'warm' | 'cold';
  /** why cold (or what runs warm) */
  reason: string;
  warm?: WarmCli;
}

export interface StartWarmCliOptions {
  runId: string;
  runDir: string;
  /** the real aws CLI (a Python script for the warm path); default: as prepareCliEnvironment resolves it */
  awsCli?: string;
  /** where to listen (warmSocketPath) */
  socket: string;
  /**
   * The environment the scripts run with: the server warms up with its data path and Python
   * settings. Default: this process's (AWS_* dropped) with the run's data path and config files
   * as prepareCliEnvironment sets them, the scaled waiters written for `timeScale` here (so the
   * server can warm up while the rest of the topology starts).
   */
  env?: Record<string, string>;
  timeScale?: number;
  services?: string[];
  /**
   * Spare workers the server keeps ready (forked ahead of a call, their memory pre-faulted, so a
   * call does not pay the page faults of a fresh fork): default HARNESS_WARM_SPARES, else 1;
   * 0 forks every call's worker on demand.
   */
  spares?: number;
  /** how long the server may take to import and rehearse (default 60 s: a busy 2-core machine) */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/**
 * Starts the run's warm CLI server and waits until it listens. Never throws: when the CLI is
 * not a Python script or the server does not come up, the answer is cold, with the reason
 * (the wrapper then runs every call cold, as it does when the socket is missing).
 */
export async function startWarmCli(opts: StartWarmCliOptions): Promise<AwsCliMode> {
  let awsCli: string;
  let env: Record<string, string>;
  try {
    const paths = cliPaths(opts.runDir);
    if (opts.env && opts.awsCli) {
      awsCli = opts.awsCli;
      env = opts.env;
    } else {
      const cli = await resolveAwsCli({ requested: opts.awsCli, exclude: paths.wrapperPath });
      awsCli = cli.bin;
      if (opts.env) {
        env = opts.env;
      } else {
        if (!(opts.timeScale! > 0)) throw new RangeError('startWarmCli: timeScale is needed without env');
        // the same files prepareCliEnvironment writes (it writes them again, identical, later)
        writeScaledWaiters(cli.dataDir, paths.dataPath, opts.timeScale!);
        env = scriptEnvironment({ AWS_DATA_PATH: paths.dataPath, AWS_CONFIG_FILE: paths.configFile, AWS_SHARED_CREDENTIALS_FILE: paths.credentialsFile, AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '' });
      }
    }
  } catch (e) {
    return { mode: 'cold', reason: `warm server not started: ${(e as Error).message.split('\n')[0]}` };
  }
  const python = pythonOf(awsCli);
  if (!python) return { mode: 'cold', reason: `${awsCli} is not a Python script (a frozen build): no warm path` };
  const logFile = path.join(opts.runDir, 'aws-warm-server.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const logFd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      python[0]!,
      [...python.slice(1), WARM_SERVER, '--socket', opts.socket, '--cli', awsCli, '--services', (opts.services ?? WARM_SERVICES).join(',')],
      // its own process group (the calls it runs are in it too, or tied to it): stop() kills the group
      { env: { ...env, ...sparesEnv(opts.spares), HARNESS_RUN_ID: opts.runId }, detached: true, stdio: ['ignore', 'pipe', logFd] },
    );
  } finally {
    fs.closeSync(logFd);
  }
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      killGroup(pid, 'SIGTERM');
      const killer = setTimeout(() => killGroup(pid, 'SIGKILL'), 2000);
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(opts.socket, { force: true });
    const dir = path.dirname(opts.socket);
    if (path.basename(dir).startsWith(TEMP_DIR_PREFIX)) fs.rmSync(dir, { recursive: true, force: true });
  };
  const ready = await new Promise<string | undefined>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(`did not listen within ${opts.readyTimeoutMs ?? 60_000} ms`), opts.readyTimeoutMs ?? 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (/^ready \d+\n/m.test(out)) {
        clearTimeout(timer);
        resolve(undefined);
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve(`could not start ${python[0]}: ${e.message}`);
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      resolve(`exited (${code ?? sig}) before listening: ${lastLine(logFile)}`);
    });
  });
  child.stdout!.destroy();
  child.unref();
  if (ready !== undefined || pid === undefined) {
    await stop();
    opts.log?.(`aws CLI: warm server ${ready}; every call runs cold (log: ${logFile})`);
    return { mode: 'cold', reason: `warm server ${ready}` };
  }
  return { mode: 'warm', reason: `server pid ${pid} on ${opts.socket}`, warm: { socket: opts.socket, pid, logFile, stop } };
}

function sparesEnv(spares: number | undefined): Record<string, string> {
  const n = spares ?? process.env.HARNESS_WARM_SPARES;
  return n === undefined || n === '' ? {} : { HARNESS_WARM_SPARES: String(n) };
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

function lastLine(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').pop() ?? '';
  } catch {
    return '';
  }
}
