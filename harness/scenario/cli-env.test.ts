import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAwsClis, type AwsCli } from './aws-cli.ts';
import {
  FAKE_ACCESS_KEY_ID,
  MIN_WAITER_DELAY_SECONDS,
  WRAPPER_MARKER,
  prepareCliEnvironment,
  resolveAwsCli,
  scaleWaiterDelays,
  writeEnvFile,
} from './cli-env.ts';
import { scriptEnvironment } from './run-script.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`cli-env tests: found only ${clis.map((c) => `${c.major} ${c.bin}`).join(', ') || 'no aws CLI'}; testing with what is present`);

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-cli-env-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Recorded {
  target?: string;
  authorization?: string;
  body: string;
  url?: string;
}

/** A one-route HTTP server standing in for AWS: records requests, answers with `reply`. */
async function fakeAws(reply: (req: Recorded) => { status?: number; type: string; body: string }) {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const rec: Recorded = { target: req.headers['x-amz-target'] as string | undefined, authorization: req.headers.authorization, body, url: req.url };
      requests.push(rec);
      const r = reply(rec);
      res.writeHead(r.status ?? 200, { 'content-type': r.type, 'x-amzn-requestid': 'req-1' });
      res.end(r.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** Runs a bash command line with the harness env, as a script would. */
function bash(cmd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile('bash', ['-c', cmd], { env: scriptEnvironment(env), timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as any).code ?? 1) : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const IDENTITY_XML = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/harness</Arn><UserId>AIDAHARNESS</UserId><Account>123456789012</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;

function cliWaiters(dataDir: string, svc: string, version: string): any {
  const f = path.join(dataDir, svc, version, 'waiters-2.json');
  const raw = fs.existsSync(f) ? fs.readFileSync(f) : zlib.gunzipSync(fs.readFileSync(f + '.gz'));
  return JSON.parse(raw.toString('utf8'));
}

describe.each(clis.map((c) => [`${c.major} ${c.version}`, c] as [string, AwsCli]))('aws CLI %s through the wrapper', (_name, cli) => {
  it('sends every call to the harness endpoint, with the fake credentials and region', async () => {
    const srv = await fakeAws(() => ({ type: 'text/xml', body: IDENTITY_XML }));
    try {
      const runDir = path.join(tmp, `sts-${cli.major}`);
      const env = await prepareCliEnvironment({ runDir, endpoint: srv.url, region: 'us-west-1', timeScale: 0.02, awsCli: cli.bin, account: '123456789012' });
      const r = await bash('command -v aws; aws sts get-caller-identity --query Account --output text', env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const [which, account] = r.stdout.trim().split('\n');
      expect(which).toBe(path.join(runDir, 'bin', 'aws'));
      expect(account).toBe('123456789012');
      expect(srv.requests).toHaveLength(1);
      expect(srv.requests[0].body).toContain('Action=GetCallerIdentity');
      expect(srv.requests[0].authorization).toContain(`Credential=${FAKE_ACCESS_KEY_ID}/`);
      expect(srv.requests[0].authorization).toContain('/us-west-1/sts/aws4_request');
      expect(fs.readFileSync(path.join(runDir, 'bin', 'aws'), 'utf8')).toContain(WRAPPER_MARKER);
    } finally {
      await srv.close();
    }
  }, 60_000);

  it('leaves `aws --version` and `help` working, and an explicit --endpoint-url alone', async () => {
    const srv = await fakeAws(() => ({ type: 'text/xml', body: IDENTITY_XML }));
    try {
      const env = await prepareCliEnvironment({ runDir: path.join(tmp, `misc-${cli.major}`), endpoint: 'http://127.0.0.1:9', region: 'us-west-1', timeScale: 0.02, awsCli: cli.bin });
      const version = await bash('aws --version', env);
      expect(version.code).toBe(0);
      expect(version.stdout + version.stderr).toContain(`aws-cli/${cli.version}`);
      const help = await bash('aws ecs wait services-stable help | head -40', { ...env, PAGER: 'cat', MANPAGER: 'cat' });
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/services-stable/i);
      // the caller's own --endpoint-url wins over the wrapper's (here: the live server)
      const own = await bash(`aws --endpoint-url ${srv.url} sts get-caller-identity --query Account --output text`, env);
      expect(own.stdout.trim()).toBe('123456789012');
    } finally {
      await srv.close();
    }
  }, 60_000);

  it('scales waiter delays (floats) and keeps maxAttempts and acceptors: a never-stable service fails fast', async () => {
    let calls = 0;
    const srv = await fakeAws((req) => {
      if (req.target?.endsWith('.DescribeServices')) calls++;
      return {
        type: 'application/x-amz-json-1.1',
        body: JSON.stringify({ services: [{ serviceName: 'escher-gateway', status: 'ACTIVE', desiredCount: 1, runningCount: 0, deployments: [{ status: 'PRIMARY' }] }], failures: [] }),
      };
    });
    try {
      const timeScale = 0.004; // ServicesStable: 15 s × 0.004 = 0.06 s
      const env = await prepareCliEnvironment({ runDir: path.join(tmp, `wait-${cli.major}`), endpoint: srv.url, region: 'us-west-1', timeScale, awsCli: cli.bin });
      const resolved = await resolveAwsCli({ requested: cli.bin });
      for (const [svc, version] of [['ecs', '2014-11-13'], ['elbv2', '2015-12-01']]) {
        const own = cliWaiters(resolved.dataDir, svc, version);
        const ours = JSON.parse(fs.readFileSync(path.join(env.AWS_DATA_PATH, svc, version, 'waiters-2.json'), 'utf8'));
        expect(Object.keys(ours.waiters)).toEqual(Object.keys(own.waiters));
        for (const [name, w] of Object.entries<any>(own.waiters)) {
          expect(ours.waiters[name].maxAttempts).toBe(w.maxAttempts);
          expect(ours.waiters[name].acceptors).toEqual(w.acceptors);
          expect(ours.waiters[name].operation).toBe(w.operation);
          expect(ours.waiters[name].delay).toBeCloseTo(Math.max(MIN_WAITER_DELAY_SECONDS, w.delay * timeScale), 3);
        }
      }
      const maxAttempts = cliWaiters(resolved.dataDir, 'ecs', '2014-11-13').waiters.ServicesStable.maxAttempts as number;
      const r = await bash('aws ecs wait services-stable --cluster escher-v2 --services escher-gateway', env);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/Max attempts exceeded/);
      expect(calls).toBe(maxAttempts);
      // unscaled this is 15 s × 40 = 600 s; scaled 40 × 0.06 s plus the CLI's own start-up
      expect(r.ms).toBeLessThan(20_000);
    } finally {
      await srv.close();
    }
  }, 60_000);

  it('returns as soon as the service is stable', async () => {
    let calls = 0;
    const srv = await fakeAws(() => {
      calls++;
      const running = calls >= 3 ? 1 : 0;
      return {
        type: 'application/x-amz-json-1.1',
        body: JSON.stringify({ services: [{ serviceName: 'escher-gateway', status: 'ACTIVE', desiredCount: 1, runningCount: running, deployments: [{ status: 'PRIMARY' }] }], failures: [] }),
      };
    });
    try {
      const env = await prepareCliEnvironment({ runDir: path.join(tmp, `stable-${cli.major}`), endpoint: srv.url, region: 'us-west-1', timeScale: 0.004, awsCli: cli.bin });
      const r = await bash('aws ecs wait services-stable --cluster escher-v2 --services escher-gateway', env);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(calls).toBe(3);
    } finally {
      await srv.close();
    }
  }, 60_000);
});

describe('resolveAwsCli', () => {
  it('skips harness wrappers on PATH and resolves a pyenv shim to the CLI it runs', async () => {
    if (clis.length === 0) {
      console.log('no aws CLI installed: skipping the PATH resolution check');
      return;
    }
    const runDir = path.join(tmp, 'resolve');
    const first = await prepareCliEnvironment({ runDir, endpoint: 'http://127.0.0.1:9', region: 'us-west-1', timeScale: 1 });
    const savedPath = process.env.PATH;
    const savedCli = process.env.HARNESS_AWS_CLI;
    try {
      // a previous run's env is active in this shell: its wrapper is first on PATH
      process.env.PATH = first.PATH;
      delete process.env.HARNESS_AWS_CLI;
      const again = await resolveAwsCli({ exclude: path.join(tmp, 'other', 'bin', 'aws') });
      expect(again.bin).toBe(first.HARNESS_AWS_CLI);
      expect(fs.readFileSync(again.bin, 'latin1')).not.toContain(WRAPPER_MARKER);
      expect(fs.readFileSync(again.bin, 'latin1')).not.toMatch(/libexec\/pyenv" exec/);
      expect(fs.existsSync(path.join(again.dataDir, 'ecs'))).toBe(true);
    } finally {
      process.env.PATH = savedPath;
      if (savedCli === undefined) delete process.env.HARNESS_AWS_CLI;
      else process.env.HARNESS_AWS_CLI = savedCli;
    }
  }, 60_000);

  it('refuses a wrapper given as the CLI', async () => {
    if (clis.length === 0) return;
    const runDir = path.join(tmp, 'refuse');
    await prepareCliEnvironment({ runDir, endpoint: 'http://127.0.0.1:9', region: 'us-west-1', timeScale: 1 });
    await expect(resolveAwsCli({ requested: path.join(runDir, 'bin', 'aws') })).rejects.toThrow(/wrapper/);
  }, 60_000);
});

describe('scaleWaiterDelays', () => {
  it('scales only delay, with a floor', () => {
    const doc = { version: 2, waiters: { A: { delay: 15, maxAttempts: 40, operation: 'X', acceptors: [{ expected: true, matcher: 'path', state: 'success', argument: 'a' }] }, B: { delay: 1, maxAttempts: 3, operation: 'Y', acceptors: [] } } };
    const out = scaleWaiterDelays(doc, 0.02);
    expect(out.waiters.A).toEqual({ ...doc.waiters.A, delay: 0.3 });
    expect(out.waiters.B.delay).toBe(MIN_WAITER_DELAY_SECONDS);
    expect(out.version).toBe(2);
    expect(scaleWaiterDelays(doc, 1).waiters.A.delay).toBe(15);
  });
});

describe('writeEnvFile', () => {
  it('writes a file bash can source that gives back every value exactly', async () => {
    const file = path.join(tmp, 'env', 'harness.env');
    const env = {
      PLAIN: 'v',
      SPACES: 'a b  c',
      QUOTES: `it's "quoted" \\ $HOME \`id\``,
      NEWLINE: 'line1\nline2',
      EMPTY: '',
    };
    writeEnvFile(file, env);
    const r = await bash(`AWS_PROFILE=real-profile; source ${file}; printf '%s\\0' "$PLAIN" "$SPACES" "$QUOTES" "$NEWLINE" "$EMPTY" "\${AWS_PROFILE-unset}"`, {});
    expect(r.code).toBe(0);
    expect(r.stdout.split('\0').slice(0, 6)).toEqual([env.PLAIN, env.SPACES, env.QUOTES, env.NEWLINE, env.EMPTY, 'unset']);
  });

  it('rejects names that are not shell variables', () => {
    expect(() => writeEnvFile(path.join(tmp, 'bad.env'), { 'A-B': 'x' })).toThrow(/not a shell variable name/);
  });
});
