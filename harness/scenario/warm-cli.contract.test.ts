/**
 * The warm aws CLI against the cold one: the same calls, through the run's `aws` wrapper, once
 * with HARNESS_COLD_CLI=1 and once warm, against a running AWS edge; stdout, stderr and the exit
 * status must be byte for byte the same, and the server's log must show the warm call ran warm.
 * For every aws CLI found whose warm path exists (v1; v2 where it is a Python package).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEcsProvider } from '../aws/ecs/provider.ts';
import { createStsProvider } from '../aws/sts/provider.ts';
import { startTestEdge, TEST_REGION } from '../aws/test-edge.ts';
import { makeTestControlPlane } from '../ecs/testing.ts';
import { findLeftoverProcesses } from '../runtime/process/leftovers.ts';
import { findAwsClis, type AwsCli } from './aws-cli.ts';
import { prepareCliEnvironment, resolveAwsCli } from './cli-env.ts';
import { scriptEnvironment } from './run-script.ts';
import { pythonOf, startWarmCli, warmSocketPath, type WarmCli } from './warm-cli.ts';
import { cleanupLeftovers } from './cleanup.ts';
import { newRunId, runDirOf, writeRunLock } from './run-id.ts';

const IMAGE = '123456789012.dkr.ecr.us-west-1.amazonaws.com/web:v1';
const clis = (
  await Promise.all(findAwsClis().map(async (c) => ({ ...c, bin: (await resolveAwsCli({ requested: c.bin })).bin })))
).filter((c) => pythonOf(c.bin));
if (clis.length === 0) console.log('warm CLI contract: no aws CLI that is a Python script on this machine; nothing to compare');

let tmp: string;
let cp: ReturnType<typeof makeTestControlPlane>;
let edge: Awaited<ReturnType<typeof startTestEdge>>;
/** answers every request with an error naming the access key and region the request was signed with */
let echo: { url: string; close(): Promise<void> };
/** accepts connections and never answers: a call to it waits until it is ended */
let hole: { url: string; open: Set<net.Socket>; close(): Promise<void> };

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-warm-cli-'));
  cp = makeTestControlPlane({ [IMAGE]: {} }, 0.001);
  edge = await startTestEdge([createEcsProvider(cp.store), createStsProvider()]);
  for (let i = 0; i < 12; i++) {
    cp.store.registerTaskDefinition({ family: `fam-${String(i).padStart(2, '0')}`, networkMode: 'awsvpc', requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512', containerDefinitions: [{ name: 'web', image: IMAGE }] });
  }
  cp.store.createCluster({ clusterName: 'zurich', tags: [{ key: 'city', value: 'Zürich ☃ – “quoted”' }] });
  cp.store.createService({ cluster: 'c1', serviceName: 'gone', taskDefinition: 'fam-00', desiredCount: 0, launchType: 'FARGATE', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } });
  cp.store.deleteService({ cluster: 'c1', service: 'gone', force: true });
  fs.writeFileSync(path.join(tmp, 'input.json'), JSON.stringify({ clusters: ['c1', 'zurich'], include: ['TAGS'] }));
  fs.writeFileSync(path.join(tmp, 'config'), '[profile other]\nregion = sa-east-1\n');

  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const m = /Credential=([^/]+)\/\d+\/([^/]+)\/([^/]+)\//.exec(String(req.headers.authorization ?? ''));
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'req-echo' });
      res.end(JSON.stringify({ __type: 'ClientException', message: `signed by ${m?.[1]} for region ${m?.[2]} service ${m?.[3]}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  echo = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };

  const open = new Set<net.Socket>();
  const holeServer = net.createServer((s) => {
    open.add(s);
    s.resume(); // read the request (and so see the caller's FIN), answer nothing
    s.on('error', () => {});
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => holeServer.listen(0, '127.0.0.1', r));
  hole = { url: `http://127.0.0.1:${(holeServer.address() as AddressInfo).port}`, open, close: () => new Promise((r) => { for (const s of open) s.destroy(); holeServer.close(() => r()); }) };
}, 60_000);

afterAll(async () => {
  await cp?.scheduler.stop();
  cp?.clock.close();
  await edge?.stop();
  await echo?.close();
  await hole?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a bash command line as a deploy script would (latin1: every byte kept as it came). */
function sh(cmd: string, env: Record<string, string>, cwd: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', cmd], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1') }));
  });
}

describe.each(clis.map((c) => [`${c.major} ${c.version}`, c] as [string, AwsCli]))('warm aws CLI %s: byte for byte the cold CLI', (_name, cli) => {
  let env: Record<string, string>;
  let warm: WarmCli;
  let runDir: string;
  const runId = `eh${cli.major === 'v1' ? '0000c1a1' : '0000c1a2'}`;

  beforeAll(async () => {
    runDir = path.join(tmp, runId);
    const socket = warmSocketPath(runDir, runId);
    const cliEnv = await prepareCliEnvironment({ runDir, endpoint: edge.url, region: TEST_REGION, timeScale: 0.01, awsCli: cli.bin, warmSocket: socket });
    env = scriptEnvironment({ ...cliEnv, HARNESS_RUN_ID: runId });
    // stdout buffered as in most shells (the server and every call share this setting)
    delete env.PYTHONUNBUFFERED;
    const mode = await startWarmCli({ runId, runDir, awsCli: cliEnv.HARNESS_AWS_CLI!, socket, env });
    expect(mode.reason).toMatch(/^server pid/);
    warm = mode.warm!;
  }, 90_000);

  afterAll(async () => {
    await warm?.stop();
  });

  const logLines = () => fs.readFileSync(warm.logFile, 'utf8').split('\n').filter(Boolean);

  /** cold, then warm; returns both and the server log lines the warm run added */
  async function both(cmd: string, extraEnv: Record<string, string> = {}): Promise<{ cold: Outcome; warm: Outcome; log: string[] }> {
    const cold = await sh(cmd, { ...env, ...extraEnv, HARNESS_COLD_CLI: '1' }, tmp);
    const before = logLines().length;
    const w = await sh(cmd, { ...env, ...extraEnv }, tmp);
    return { cold, warm: w, log: logLines().slice(before) };
  }

  const same = async (cmd: string, extraEnv: Record<string, string> = {}) => {
    const r = await both(cmd, extraEnv);
    expect(r.warm).toEqual(r.cold);
    expect(r.log.filter((l) => /: warm, /.test(l)).length, `the server log shows a warm call:\n${r.log.join('\n')}`).toBeGreaterThan(0);
    return r;
  };

  const cases: [string, string][] = [
    ['success JSON', 'aws ecs describe-clusters --clusters c1'],
    ['an idempotent create', 'aws ecs create-cluster --cluster-name c1'],
    ['non-ASCII output (UTF-8 as the cold CLI writes it)', 'aws ecs describe-clusters --clusters zurich --include TAGS'],
    ['--query with --output text', "aws ecs list-task-definitions --query 'taskDefinitionArns[:3]' --output text"],
    ['--output table', "aws ecs describe-clusters --clusters c1 zurich --query 'clusters[].{name:clusterName,status:status,services:activeServicesCount}' --output table"],
    ['a paginated list (page size 5: three requests)', 'aws ecs list-task-definitions --page-size 5'],
    ['a list cut by --max-items (NextToken)', 'aws ecs list-task-definitions --max-items 7'],
    ['an AWS error (cluster not found)', 'aws ecs describe-services --cluster nope --services web'],
    ['an AWS error from an update', 'aws ecs update-service --cluster c1 --service missing --desired-count 1'],
    ['a usage error: an unknown option', 'aws ecs list-clusters --no-such-option'],
    ['a usage error: a required argument missing', 'aws ecs describe-services --cluster c1'],
    ['a usage error: no operation', 'aws ecs'],
    ['bad args: an unknown operation', 'aws ecs no-such-operation'],
    ['bad args: an unknown service', 'aws no-such-service list-things'],
    ['bad args: a value of the wrong type', 'aws ecs update-service --cluster c1 --service x --desired-count many'],
    ['bad args: invalid JSON', "aws ecs describe-clusters --cli-input-json '{not json'"],
    ['stdin: --cli-input-json from a heredoc (file:///dev/stdin)', `aws ecs describe-clusters --cli-input-json file:///dev/stdin <<'EOF'\n{"clusters": ["c1", "nope"]}\nEOF`],
    ['stdin: file://- from a pipe', `printf '%s' '{"clusters": ["c1"]}' | aws ecs describe-clusters --cli-input-json file://-`],
    ['a file:// path relative to the working directory', 'aws ecs describe-clusters --cli-input-json file://input.json'],
    ['a waiter that succeeds (services-inactive)', 'aws ecs wait services-inactive --cluster c1 --services gone; echo "wait: $?"'],
    ['a waiter that fails (services-stable on a missing service)', 'aws ecs wait services-stable --cluster c1 --services missing; echo "wait: $?"'],
    ['exit statuses through pipelines and command substitution', 'set -o pipefail; aws ecs describe-services --cluster nope --services x | cat; echo "pipe: $?"; out=$(aws ecs list-clusters --output text); echo "subst: $? $out"'],
    ['stdout to a file (written by the flush at exit)', 'f=$(mktemp); aws ecs describe-clusters --clusters c1 zurich > $f; echo "exit $?"; cat $f; rm $f'],
    ['stdout into a pipe nobody reads (broken pipe at exit)', 'aws ecs list-task-definitions | { :; }; echo "status ${PIPESTATUS[0]}"'],
    ['concurrent background jobs', 'd=$(mktemp -d); aws ecs describe-clusters --clusters c1 > $d/a & aws ecs list-task-definitions --page-size 4 > $d/b & aws sts get-caller-identity > $d/c 2>&1 & aws ecs describe-services --cluster nope --services x 2> $d/d & wait; cat $d/a $d/b $d/c $d/d; rm -r $d'],
    ['no region anywhere', 'env -u AWS_DEFAULT_REGION -u AWS_REGION AWS_CONFIG_FILE=/dev/null aws ecs list-clusters'],
    ['no credentials anywhere', 'env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE=/dev/null aws ecs list-clusters'],
    ['a profile that does not exist', 'AWS_PROFILE=nope aws ecs list-clusters'],
  ];

  it.each(cases)('%s', async (_case, cmd) => {
    await same(cmd);
  }, 120_000);

  it('follows each call’s AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, --region and profile (the request is signed for them)', async () => {
    const calls = [
      // (v2 reads AWS_REGION before AWS_DEFAULT_REGION: the first call has only the latter)
      `env -u AWS_REGION AWS_DEFAULT_REGION=eu-west-3 AWS_ACCESS_KEY_ID=AKIAPERCALL000000001 aws ecs list-clusters --endpoint-url ${echo.url}`,
      `AWS_DEFAULT_REGION=us-east-2 AWS_REGION=us-east-2 aws ecs list-clusters --endpoint-url ${echo.url}`,
      `aws --region ap-south-1 ecs list-clusters --endpoint-url ${echo.url}`,
      `AWS_CONFIG_FILE=${path.join(tmp, 'config')} AWS_PROFILE=other env -u AWS_DEFAULT_REGION -u AWS_REGION aws ecs list-clusters --endpoint-url ${echo.url}`,
    ];
    const r = await same(calls.join('; '));
    const seen = [...r.warm.stderr.matchAll(/signed by (\S+) for region (\S+) service ecs/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(seen).toEqual([`AKIAPERCALL000000001 eu-west-3`, `${env.AWS_ACCESS_KEY_ID} us-east-2`, `${env.AWS_ACCESS_KEY_ID} ap-south-1`, `${env.AWS_ACCESS_KEY_ID} sa-east-1`]);
  }, 120_000);

  it('runs a call cold when its Python or locale settings differ from the server’s (and says so in its log)', async () => {
    const r = await both('aws ecs describe-clusters --clusters zurich --include TAGS', { PYTHONIOENCODING: 'ascii:backslashreplace' });
    expect(r.warm).toEqual(r.cold);
    expect(r.log.join('\n')).toMatch(/cold \(python\/locale settings differ/);
    expect(r.warm.stdout).toContain('\\xfc'); // ü as the cold CLI escapes it with that encoding
  }, 120_000);

  /** Starts one call of the wrapper directly (bash execs the client or the CLI: same pid), waits until it is in flight. */
  async function inFlight(extraEnv: Record<string, string>) {
    const child = spawn(path.join(runDir, 'bin', 'aws'), ['ecs', 'list-clusters', '--endpoint-url', hole.url, '--cli-read-timeout', '60'], { env: { ...env, ...extraEnv }, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const done = new Promise<Outcome>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1') })));
    const deadline = Date.now() + 30_000;
    while (hole.open.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(hole.open.size).toBe(1);
    return { child, done };
  }

  async function connectionClosed(ms: number): Promise<number> {
    const t0 = Date.now();
    while (hole.open.size > 0 && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
    return hole.open.size;
  }

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig} ends a long call at once, with the cold CLI’s output and status`, async () => {
      const outcomes: Outcome[] = [];
      for (const cold of [true, false]) {
        const { child, done } = await inFlight(cold ? { HARNESS_COLD_CLI: '1' } : {});
        const t0 = Date.now();
        child.kill(sig);
        outcomes.push(await done);
        expect(Date.now() - t0).toBeLessThan(5_000);
        expect(await connectionClosed(5_000)).toBe(0);
      }
      expect(outcomes[1]).toEqual(outcomes[0]);
      if (sig === 'SIGINT') expect(outcomes[0]!.code).toBe(130);
      else expect(outcomes[0]!.signal).toBe('SIGTERM');
    }, 120_000);
  }

  it('a background job ignores SIGINT (as bash sets it up) and still ends on SIGTERM', async () => {
    const cmd = `aws ecs list-clusters --endpoint-url ${hole.url} --cli-read-timeout 60 & pid=$!
      while ! [ -e ready ]; do sleep 0.05; done; rm ready
      kill -INT $pid; sleep 1; kill -0 $pid && echo "alive after SIGINT"; kill -TERM $pid; wait $pid; echo "status $?"`;
    const results: Outcome[] = [];
    for (const cold of [true, false]) {
      const run = sh(cmd, { ...env, ...(cold ? { HARNESS_COLD_CLI: '1' } : {}) }, tmp);
      const deadline = Date.now() + 30_000;
      while (hole.open.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      fs.writeFileSync(path.join(tmp, 'ready'), '');
      results.push(await run);
      expect(await connectionClosed(5_000)).toBe(0);
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0]!.stdout).toBe('alive after SIGINT\nstatus 143\n');
  }, 120_000);

  it('a killed client takes its call with it (the worker does not outlive it)', async () => {
    const { child, done } = await inFlight({});
    child.kill('SIGKILL');
    await done;
    expect(await connectionClosed(5_000)).toBe(0);
  }, 60_000);

  it('falls back to the cold CLI when the server is gone, and the leftover finder sees the server by its run id', async () => {
    const found = await findLeftoverProcesses(runId);
    expect(found.map((p) => p.pid)).toContain(warm.pid);
    const okBefore = await sh('aws ecs list-clusters --output text', env, tmp);
    await warm.stop();
    expect(fs.existsSync(warm.socket)).toBe(false);
    expect((await findLeftoverProcesses(runId)).map((p) => p.pid)).not.toContain(warm.pid);
    const after = await sh('aws ecs list-clusters --output text', env, tmp);
    expect(after).toEqual(okBefore);
    // a socket file whose server died without removing it: connect is refused, the call still runs cold
    execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', warm.socket]);
    expect(fs.statSync(warm.socket).isSocket()).toBe(true);
    const refused = await sh('aws ecs list-clusters --output text', env, tmp);
    expect(refused).toEqual(okBefore);
  }, 120_000);
});

describe.skipIf(clis.length === 0)('warm aws CLI leftovers', () => {
  const cli = clis[0]!;

  async function startFor(runId: string, home: string) {
    const runDir = runDirOf(runId, home);
    const socket = warmSocketPath(runDir, runId);
    const cliEnv = await prepareCliEnvironment({ runDir, endpoint: edge.url, region: TEST_REGION, timeScale: 0.01, awsCli: cli.bin, warmSocket: socket });
    const env = scriptEnvironment({ ...cliEnv, HARNESS_RUN_ID: runId });
    return { runDir, env };
  }

  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
    } catch {
      return false;
    }
  };
  async function until(cond: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return cond();
  }

  it('the leftover cleanup kills a killed run’s server and the call it was running', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-home-'));
    const runId = newRunId();
    const { runDir, env } = await startFor(runId, home);
    const owner = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => owner.on('exit', r));
    writeRunLock(runDir, { runId, pid: owner.pid!, startedAt: new Date().toISOString(), kind: 'scenario' });
    const mode = await startWarmCli({ runId, runDir, awsCli: cli.bin, socket: warmSocketPath(runDir, runId), env });
    const server = mode.warm!;
    const call = spawn(path.join(runDir, 'bin', 'aws'), ['ecs', 'list-clusters', '--endpoint-url', hole.url, '--cli-read-timeout', '60'], { env, stdio: 'ignore' });
    try {
      expect(await until(() => hole.open.size === 1, 30_000)).toBe(true);
      const r = await cleanupLeftovers(home);
      expect(r.processes).toBeGreaterThanOrEqual(1);
      expect(await until(() => !alive(server.pid), 5_000)).toBe(true);
      expect(await until(() => hole.open.size === 0, 5_000)).toBe(true);
    } finally {
      call.kill('SIGKILL');
      await server.stop();
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);

  it('a server whose harness process was killed exits by itself (and removes its socket)', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-home-'));
    const runId = newRunId();
    const { runDir, env } = await startFor(runId, home);
    const socket = warmSocketPath(runDir, runId);
    // a harness process of its own that starts the server, then is SIGKILLed
    const script = `import { startWarmCli } from ${JSON.stringify(path.resolve('harness/scenario/warm-cli.ts'))};
      const m = await startWarmCli(${JSON.stringify({ runId, runDir, awsCli: cli.bin, socket, env })});
      console.log(m.warm ? m.warm.pid : 'cold ' + m.reason); setInterval(() => {}, 1000);`;
    const harness = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = Number(await new Promise<string>((r) => harness.stdout.once('data', (d) => r(String(d).trim()))));
      expect(pid).toBeGreaterThan(0);
      expect(fs.existsSync(socket)).toBe(true);
      harness.kill('SIGKILL');
      expect(await until(() => !alive(pid), 5_000)).toBe(true);
      expect(fs.existsSync(socket)).toBe(false);
    } finally {
      harness.kill('SIGKILL');
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);
});
