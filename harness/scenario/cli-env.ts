/**
 * The environment the real `aws` CLI runs in when a scenario runs a deploy script, as
 * LocalStack's `awslocal` does it: an `aws` wrapper first on PATH that adds
 * `--endpoint-url`, fake credentials in files of the run's own, and waiter definitions
 * whose delays follow the harness time scale (the acceptors stay the CLI's own).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);

/** The warm CLI's client (warm-cli.ts), copied into each run's bin/. */
export const WARM_CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'warm-cli', 'client.py');

/** First line of every wrapper we write; lets us recognise (and skip) our own wrappers. */
export const WRAPPER_MARKER = '# escher-harness aws wrapper';

/** Fake credentials: never valid anywhere but the emulator. */
export const FAKE_ACCESS_KEY_ID = 'AKIAHARNESSLOCAL0000';
export const FAKE_SECRET_ACCESS_KEY = 'harness-local-secret-key-not-real';

/** The smallest waiter delay we write, in seconds (a busy-loop guard). */
export const MIN_WAITER_DELAY_SECONDS = 0.05;

/** Waiter files re-written with scaled delays: `<service>/<api version>/waiters-2.json`. */
export const SCALED_WAITER_SERVICES = ['ecs', 'elbv2', 'lambda', 'dynamodb'] as const;

/**
 * AWS settings of the caller's own shell that must not reach a script run against the
 * emulator (a real profile, session token, web identity, per-service endpoint, …).
 * runScript drops every AWS_* variable of its parent; env files `unset` these.
 */
export const CLEARED_AWS_VARS = [
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SESSION_TOKEN',
  'AWS_SECURITY_TOKEN',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CA_BUNDLE',
  'AWS_CLI_AUTO_PROMPT',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_MAX_ATTEMPTS',
  'AWS_RETRY_MODE',
] as const;

export interface CliEnvironmentOptions {
  /** the run's directory; bin/, aws/ and aws-data/ are written under it */
  runDir: string;
  /** the AWS edge, e.g. http://127.0.0.1:4566 */
  endpoint: string;
  region: string;
  /** the harness time scale: waiter delays become delay × timeScale seconds */
  timeScale: number;
  /** the emulated account id (exported as HARNESS_AWS_ACCOUNT for scripts and people) */
  account?: string;
  /**
   * The real aws CLI to run. Default: $HARNESS_AWS_CLI when it is a path, else the first
   * `aws` on PATH that is not one of our wrappers. A pyenv shim is resolved to the CLI
   * it runs.
   */
  awsCli?: string;
  /**
   * The run's warm CLI socket (warm-cli.ts): when the CLI is a Python script, the wrapper hands
   * each call to the server listening there (and runs the cold CLI when nothing listens, or
   * HARNESS_COLD_CLI=1 is set for the call).
   */
  warmSocket?: string;
}

/** What prepareCliEnvironment found out about the CLI (also returned in the env). */
export interface ResolvedAwsCli {
  /** the executable the wrapper execs */
  bin: string;
  /** the botocore data dir of that CLI (its own models and waiters) */
  dataDir: string;
}

/** Where prepareCliEnvironment writes the wrapper, the config and credentials, and the scaled waiters. */
export function cliPaths(runDir: string) {
  const dir = path.resolve(runDir);
  const binDir = path.join(dir, 'bin');
  const awsDir = path.join(dir, 'aws');
  return {
    binDir,
    wrapperPath: path.join(binDir, 'aws'),
    awsDir,
    configFile: path.join(awsDir, 'config'),
    credentialsFile: path.join(awsDir, 'credentials'),
    dataPath: path.join(dir, 'aws-data'),
  };
}

/**
 * Writes `<runDir>/bin/aws`, the config/credentials files and the scaled waiters, and
 * returns the variables to run scripts with (PATH first has the wrapper).
 */
export async function prepareCliEnvironment(opts: CliEnvironmentOptions): Promise<Record<string, string>> {
  if (!(opts.timeScale > 0)) throw new RangeError(`timeScale must be > 0, got ${opts.timeScale}`);
  const { binDir, wrapperPath, awsDir, dataPath, configFile, credentialsFile } = cliPaths(opts.runDir);
  fs.mkdirSync(binDir, { recursive: true });
  fs.mkdirSync(awsDir, { recursive: true });

  const cli = await resolveAwsCli({ requested: opts.awsCli, exclude: wrapperPath });

  const python = opts.warmSocket ? pythonOf(cli.bin) : undefined;
  let warm: WarmWrapper | undefined;
  if (opts.warmSocket && python) {
    const client = path.join(binDir, 'aws-warm-client.py');
    writeAtomic(client, fs.readFileSync(WARM_CLIENT, 'utf8'), 0o644);
    warm = { python, client, socket: opts.warmSocket };
  }
  writeAtomic(wrapperPath, wrapperScript(cli.bin, opts.endpoint, warm), 0o755);

  writeAtomic(configFile, `[default]\nregion = ${opts.region}\noutput = json\n`, 0o644);
  writeAtomic(
    credentialsFile,
    `[default]\naws_access_key_id = ${FAKE_ACCESS_KEY_ID}\naws_secret_access_key = ${FAKE_SECRET_ACCESS_KEY}\n`,
    0o600,
  );

  writeScaledWaiters(cli.dataDir, dataPath, opts.timeScale);

  const env: Record<string, string> = {
    PATH: [binDir, process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(path.delimiter),
    AWS_ENDPOINT_URL: opts.endpoint,
    HARNESS_AWS_ENDPOINT: opts.endpoint,
    HARNESS_AWS_CLI: cli.bin,
    HARNESS_TIME_SCALE: String(opts.timeScale),
    AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY,
    AWS_DEFAULT_REGION: opts.region,
    AWS_REGION: opts.region,
    AWS_PAGER: '',
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_DATA_PATH: dataPath,
    // DiscoverInstances has the host prefix 'data-' (data-127.0.0.1 does not resolve); v1 honours this
    AWS_DISABLE_HOST_PREFIX_INJECTION: 'true',
  };
  if (opts.account) env.HARNESS_AWS_ACCOUNT = opts.account;
  return env;
}

/** Where the wrapper hands calls to the run's warm CLI (warm-cli.ts). */
export interface WarmWrapper {
  /** the CLI's own interpreter (its shebang) */
  python: string[];
  /** the client script (a copy of warm-cli/client.py in the run's bin/) */
  client: string;
  socket: string;
}

/**
 * The bash wrapper: the real CLI with `--endpoint-url` first (unless the caller gave one).
 * With `warm`, a call goes through the warm CLI's client when its socket is there and the call
 * does not set HARNESS_COLD_CLI=1; the client itself falls back to the real CLI.
 */
export function wrapperScript(realAws: string, defaultEndpoint: string, warm?: WarmWrapper): string {
  const run = warm
    ? `run_aws() {
  if [[ -S ${shQuote(warm.socket)} && ! "\${HARNESS_COLD_CLI:-}" =~ ^(1|[Tt][Rr][Uu][Ee]|[Yy][Ee][Ss])$ ]]; then
    exec ${warm.python.map(shQuote).join(' ')} -I -S ${shQuote(warm.client)} ${shQuote(warm.socket)} "$real_aws" "$@"
  fi
  exec "$real_aws" "$@"
}`
    : `run_aws() {
  exec "$real_aws" "$@"
}`;
  return `#!/usr/bin/env bash
${WRAPPER_MARKER} (generated by escher-harness; do not edit).
# Runs the real aws CLI against the harness's AWS endpoint, as LocalStack's awslocal does.
real_aws=${shQuote(realAws)}
default_endpoint=${shQuote(defaultEndpoint)}
endpoint="\${HARNESS_AWS_ENDPOINT:-$default_endpoint}"
${run}
# \`aws\`, \`aws --version\` and \`aws … help\` need no endpoint (and run cold: they talk to a person)
if [[ $# -eq 0 || ( $# -eq 1 && "$1" == "--version" ) || "\${!#}" == "help" ]]; then
  exec "$real_aws" "$@"
fi
for arg in "$@"; do
  case "$arg" in
    --endpoint-url | --endpoint-url=*) run_aws "$@" ;;
  esac
done
run_aws --endpoint-url "$endpoint" "$@"
`;
}

/**
 * Finds the real aws CLI: `requested`, else $HARNESS_AWS_CLI, else the first `aws` on
 * PATH that is not `exclude` nor another harness wrapper. Resolves pyenv shims.
 */
export async function resolveAwsCli(opts: { requested?: string; exclude?: string } = {}): Promise<ResolvedAwsCli> {
  let bin = opts.requested ?? (process.env.HARNESS_AWS_CLI && path.isAbsolute(process.env.HARNESS_AWS_CLI) ? process.env.HARNESS_AWS_CLI : undefined);
  if (bin) {
    if (!isExecutableFile(bin)) throw new Error(`aws CLI ${bin} is not an executable file`);
    if (isHarnessWrapper(bin)) throw new Error(`${bin} is a harness aws wrapper, not the real aws CLI`);
  } else {
    const excluded = opts.exclude ? realpathOr(opts.exclude) : undefined;
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      if (!dir) continue;
      const p = path.join(dir, 'aws');
      if (!isExecutableFile(p) || realpathOr(p) === excluded || isHarnessWrapper(p)) continue;
      bin = p;
      break;
    }
    if (!bin) throw new Error('no aws CLI found on PATH (install awscli, or set HARNESS_AWS_CLI to its path)');
  }
  bin = await resolvePyenvShim(bin);
  const dataDir = await findBotocoreDataDir(bin);
  return { bin, dataDir };
}

/** What a CLI path resolved to, once per process (each asks its interpreter or pyenv). */
const shims = new Map<string, Promise<string>>();
const dataDirs = new Map<string, Promise<string>>();

/** A pyenv shim runs whichever python the cwd selects; pin the CLI it resolves to now. */
function resolvePyenvShim(bin: string): Promise<string> {
  let hit = shims.get(bin);
  if (!hit) shims.set(bin, (hit = resolvePyenvShimOnce(bin)));
  return hit;
}

async function resolvePyenvShimOnce(bin: string): Promise<string> {
  const head = readHead(bin, 2048);
  const m = /exec\s+"([^"]*\/libexec\/pyenv)"\s+exec\s/.exec(head);
  if (!m) return bin;
  const root = /export PYENV_ROOT="([^"]+)"/.exec(head)?.[1];
  try {
    const { stdout } = await execFileAsync(m[1], ['which', path.basename(bin)], {
      env: { ...process.env, ...(root ? { PYENV_ROOT: root } : {}) },
      timeout: 20_000,
    });
    const real = stdout.trim();
    if (real && isExecutableFile(real)) return real;
  } catch {
    // fall through: keep the shim, it still works
  }
  return bin;
}

/**
 * The botocore data dir the CLI loads its models and waiters from:
 * - a python script: ask its own interpreter (awscli/botocore/data for v2's vendored
 *   botocore, else botocore/data for v1);
 * - the v2 installer's frozen binary: <dist>/awscli/botocore/data beside it;
 * - last resort: the first python3's botocore.
 */
export function findBotocoreDataDir(bin: string): Promise<string> {
  let hit = dataDirs.get(bin);
  if (!hit) {
    dataDirs.set(bin, (hit = findBotocoreDataDirOnce(bin)));
    hit.catch(() => dataDirs.delete(bin));
  }
  return hit;
}

async function findBotocoreDataDirOnce(bin: string): Promise<string> {
  const probe = [
    'import os',
    'try:',
    '    import awscli',
    '    d = os.path.join(os.path.dirname(awscli.__file__), "botocore", "data")',
    '    if os.path.isdir(d):',
    '        print(d); raise SystemExit(0)',
    'except ImportError:',
    '    pass',
    'import botocore',
    'print(os.path.join(os.path.dirname(botocore.__file__), "data"))',
  ].join('\n');
  const tried: string[] = [];
  const interpreter = shebangInterpreter(bin);
  const candidates: string[][] = [];
  if (interpreter) candidates.push(interpreter);
  const real = realpathOr(bin);
  for (const dir of [path.dirname(real), path.join(path.dirname(real), '..', 'dist')]) {
    const d = path.join(dir, 'awscli', 'botocore', 'data');
    tried.push(d);
    if (fs.existsSync(path.join(d, 'ecs'))) return d;
  }
  candidates.push(['python3']);
  for (const argv of candidates) {
    try {
      const { stdout } = await execFileAsync(argv[0], [...argv.slice(1), '-c', probe], { timeout: 20_000 });
      const d = stdout.trim();
      tried.push(`${argv.join(' ')} → ${d}`);
      if (d && fs.existsSync(path.join(d, 'ecs'))) return d;
    } catch (e) {
      tried.push(`${argv.join(' ')}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`cannot find the botocore data dir of ${bin}; tried:\n  ${tried.join('\n  ')}`);
}

/** `#!/usr/bin/python3` → ['/usr/bin/python3']; `#!/usr/bin/env python3` → ['/usr/bin/env', 'python3']. */
function shebangInterpreter(bin: string): string[] | undefined {
  const first = readHead(bin, 512).split('\n')[0];
  if (!first.startsWith('#!')) return undefined;
  const argv = first.slice(2).trim().split(/\s+/);
  const name = path.basename(argv[argv.length - 1] ?? '');
  // only python interpreters can tell us where botocore lives
  if (!/^python[0-9.]*$/.test(name)) return undefined;
  return argv;
}

/**
 * Copies the CLI's own `waiters-2.json` of each service in SCALED_WAITER_SERVICES to
 * `<dataPath>/<svc>/<version>/waiters-2.json` with every delay × timeScale (a float,
 * at least MIN_WAITER_DELAY_SECONDS). maxAttempts and acceptors are untouched.
 */
export function writeScaledWaiters(cliDataDir: string, dataPath: string, timeScale: number): string[] {
  const written: string[] = [];
  for (const svc of SCALED_WAITER_SERVICES) {
    const svcDir = path.join(cliDataDir, svc);
    if (!fs.existsSync(svcDir)) throw new Error(`the aws CLI's data dir ${cliDataDir} has no ${svc} models`);
    for (const version of fs.readdirSync(svcDir)) {
      const source = ['waiters-2.json', 'waiters-2.json.gz'].map((f) => path.join(svcDir, version, f)).find((f) => fs.existsSync(f));
      if (!source) continue;
      const raw = fs.readFileSync(source);
      const doc = JSON.parse((source.endsWith('.gz') ? zlib.gunzipSync(raw) : raw).toString('utf8'));
      const scaled = scaleWaiterDelays(doc, timeScale);
      const out = path.join(dataPath, svc, version, 'waiters-2.json');
      fs.mkdirSync(path.dirname(out), { recursive: true });
      writeAtomic(out, JSON.stringify(scaled, null, 2) + '\n', 0o644);
      written.push(out);
    }
  }
  return written;
}

/** A waiters-2 document with each waiter's delay scaled; everything else as given. */
export function scaleWaiterDelays(doc: any, timeScale: number): any {
  const waiters: Record<string, any> = {};
  for (const [name, w] of Object.entries<any>(doc?.waiters ?? {})) {
    const delay = typeof w.delay === 'number' ? w.delay : 15;
    waiters[name] = { ...w, delay: Math.max(MIN_WAITER_DELAY_SECONDS, Math.round(delay * timeScale * 1000) / 1000) };
  }
  return { ...doc, waiters };
}

/**
 * Writes a file a shell can `source`: `unset` for the caller's own AWS settings that env
 * does not replace, then `export K='v'` per variable (single quotes, `'` escaped).
 */
export function writeEnvFile(file: string, env: Record<string, string>): void {
  const lines = ['# generated by escher-harness: source this file to use the emulated AWS'];
  const unset = CLEARED_AWS_VARS.filter((k) => !(k in env));
  if (unset.length) lines.push(`unset ${unset.join(' ')}`);
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`not a shell variable name: ${JSON.stringify(k)}`);
    lines.push(`export ${k}=${shQuote(v)}`);
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeAtomic(file, lines.join('\n') + '\n', 0o644);
}

/** POSIX shell single-quoting. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function writeAtomic(file: string, content: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

function readHead(file: string, bytes: number): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(bytes);
    const n = fs.readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n).toString('latin1');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function isHarnessWrapper(file: string): boolean {
  return readHead(file, 512).includes(WRAPPER_MARKER);
}

function isExecutableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** The interpreter a Python script runs with (its shebang), or undefined when it is not one. */
export function pythonOf(script: string): string[] | undefined {
  let head = '';
  try {
    const fd = fs.openSync(script, 'r');
    try {
      const buf = Buffer.alloc(256);
      head = buf.subarray(0, fs.readSync(fd, buf, 0, 256, 0)).toString('latin1');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const first = head.split('\n')[0] ?? '';
  if (!first.startsWith('#!')) return undefined;
  const argv = first.slice(2).trim().split(/\s+/);
  // `#!/usr/bin/env python3` or `#!/usr/bin/python3 -s`: the interpreter is the first python word
  const i = argv.findIndex((a) => /^python[0-9.]*$/.test(path.basename(a)));
  return i >= 0 ? argv : undefined;
}
