import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One installed `aws` CLI. */
export interface AwsCli {
  /** 'v1' | 'v2' */
  major: 'v1' | 'v2';
  bin: string;
  version: string;
}

let cached: AwsCli[] | undefined;

/** Every distinct aws CLI found: the one(s) on PATH and Debian's /usr/bin/aws (v2). */
export function findAwsClis(): AwsCli[] {
  if (cached) return cached;
  const candidates = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || dir.includes('.harness')) continue;
    const p = path.join(dir, 'aws');
    if (isExecutable(p)) candidates.add(p);
  }
  if (isExecutable('/usr/bin/aws')) candidates.add('/usr/bin/aws');
  const found: AwsCli[] = [];
  const seen = new Set<string>();
  for (const bin of candidates) {
    const cli = describeAwsCli(bin);
    if (cli.version === 'unknown' || seen.has(cli.version)) continue;
    seen.add(cli.version);
    found.push(cli);
  }
  cached = found.sort((a, b) => a.major.localeCompare(b.major));
  return cached;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface AwsRunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is JSON */
  json?: any;
}

/** Fake credentials and a clean config so no real profile or endpoint leaks in. */
export function fakeAwsEnv(region: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'AKIAHARNESSLOCAL0000',
    AWS_SECRET_ACCESS_KEY: 'harness-local-secret-key-not-real',
    AWS_DEFAULT_REGION: region,
    AWS_REGION: region,
    AWS_PAGER: '',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_MAX_ATTEMPTS: '1',
  };
}

/** Runs one aws CLI command against an endpoint; never throws on a non-zero exit. */
export async function runAws(cli: AwsCli, endpoint: string, args: string[], opts: { region?: string; env?: Record<string, string>; input?: string } = {}): Promise<AwsRunResult> {
  const env = { ...process.env, ...fakeAwsEnv(opts.region ?? 'us-west-1'), ...opts.env };
  const argv = ['--endpoint-url', endpoint, '--output', 'json', ...args];
  // a Python CLI runs warm (the scenarios' warm server, one per process and CLI; its differential
  // test shows a warm call is byte-identical to a cold one); HARNESS_CONTRACT_COLD_CLI=1 runs cold
  const warm = await warmServerFor(cli);
  const [cmd, cmdArgs] = warm ? [warm.python[0]!, [...warm.python.slice(1), '-I', '-S', warm.client, warm.socket, warm.bin, ...argv]] : [cli.bin, argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => {
      let json: any;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

interface WarmServer {
  python: string[];
  client: string;
  socket: string;
  /** the CLI script the server loaded (a pyenv shim resolved) */
  bin: string;
}
const warmServers = new Map<string, Promise<WarmServer | undefined>>();

/**
 * A warm server for a Python CLI (v1, and Debian's v2), started on first use in this process and
 * killed when it exits; undefined for a frozen CLI (the installer's v2), when
 * HARNESS_CONTRACT_COLD_CLI=1, or when it did not come up (the calls then run cold).
 */
function warmServerFor(cli: AwsCli): Promise<WarmServer | undefined> {
  if (/^(1|true|yes)$/i.test(process.env.HARNESS_CONTRACT_COLD_CLI ?? '')) return Promise.resolve(undefined);
  let hit = warmServers.get(cli.bin);
  if (!hit) {
    hit = (async () => {
      const [{ startWarmCli, pythonOf }, { resolveAwsCli, WARM_CLIENT }] = await Promise.all([import('./warm-cli.ts'), import('./cli-env.ts')]);
      const { bin } = await resolveAwsCli({ requested: cli.bin });
      const python = pythonOf(bin);
      if (!python) return undefined;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'escher-contract-cli-'));
      const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith('AWS_'))) as Record<string, string>;
      const mode = await startWarmCli({ runId: `contract${process.pid}`, runDir: dir, awsCli: bin, socket: path.join(dir, 'aws.sock'), env });
      if (mode.mode !== 'warm' || !mode.warm) {
        fs.rmSync(dir, { recursive: true, force: true });
        console.log(`[aws-cli] contract calls run cold: ${mode.reason}`);
        return undefined;
      }
      const pid = mode.warm.pid;
      process.once('exit', () => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        fs.rmSync(dir, { recursive: true, force: true });
      });
      return { python, client: WARM_CLIENT, socket: mode.warm.socket, bin };
    })();
    warmServers.set(cli.bin, hit);
  }
  return hit;
}

const described = new Map<string, AwsCli>();

/** The AwsCli record for a given executable (runs `--version` once). */
export function describeAwsCli(bin: string): AwsCli {
  const hit = described.get(bin);
  if (hit) return hit;
  let out = '';
  try {
    out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 }).trim(); // a starved machine: slow, not missing
  } catch (e: any) {
    out = String(e?.stdout ?? '').trim() || String(e?.stderr ?? '').trim();
  }
  const m = /aws-cli\/(\d+)\.(\d+)\.(\d+)/.exec(out);
  const cli: AwsCli = { major: m?.[1] === '1' ? 'v1' : 'v2', bin, version: m ? `${m[1]}.${m[2]}.${m[3]}` : 'unknown' };
  described.set(bin, cli);
  return cli;
}
