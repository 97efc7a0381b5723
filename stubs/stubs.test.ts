import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createSign, generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicStandIn } from '../harness/edge/anthropic/server.ts';
import { createHarnessCa, issueServerCert, type HarnessCa } from '../harness/edge/anthropic/ca.ts';
import { SurrealServer, startSurrealServer } from '../harness/data/surreal-server.ts';
// @ts-expect-error plain .mjs without types
import { readContract } from './lib/contract.mjs';
import { freePort } from '../harness/runtime/contract.ts';

// The generic stub (stubs/service.mjs) through its environment contract: every service here has
// a neutral name, and what it serves comes only from STUB_* variables.

const ENTRY = fileURLToPath(new URL('./service.mjs', import.meta.url));

interface RunningStub {
  proc: ChildProcess;
  /** the first port's base URL */
  url: string;
  /** every port's base URL, in STUB_PORTS order of listening */
  urls: string[];
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** resolves with the first stdout line matching re (past or future) */
  waitForLine(re: RegExp, ms?: number): Promise<string>;
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** Spawns the stub on 127.0.0.1 (STUB_PORTS=0 unless given); ready once every port logged its address (or it exits). */
function spawnStub(env: Record<string, string> = {}): { stub: Omit<RunningStub, 'url' | 'urls'>; ready: Promise<RunningStub> } {
  const fullEnv = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', STUB_PORTS: '0', ...env };
  const portCount = new Set(fullEnv.STUB_PORTS.split(',').map((s) => s.trim()).filter(Boolean)).size || 1;
  const proc = spawn(process.execPath, [ENTRY], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const listening: string[] = [];
  let allListening!: (urls: string[]) => void;
  const listened = new Promise<string[]>((r) => (allListening = r));
  const split = (sink: string[], notify: boolean) => {
    let buf = '';
    return (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        sink.push(line);
        if (!notify) continue;
        const m = / listening on (http:\/\/\S+)$/.exec(line);
        if (m) {
          listening.push(m[1]!);
          if (listening.length === portCount) allListening([...listening]);
        }
        for (const w of [...waiters]) if (w.re.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
      }
    };
  };
  proc.stdout!.on('data', split(stdout, true));
  proc.stderr!.on('data', split(stderr, false));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('close', (code, signal) => resolve({ code, signal })),
  );
  const waitForLine = (re: RegExp, ms = 5000) => {
    const found = stdout.find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms}ms; stdout: ${stdout.join(' | ')}; stderr: ${stderr.join(' | ')}`)), ms);
      waiters.push({ re, resolve: (l) => { clearTimeout(t); resolve(l); } });
    });
  };
  const stub = { proc, stdout, stderr, exited, waitForLine };
  let timer: NodeJS.Timeout | undefined;
  const ready = Promise.race([
    listened.then((urls) => ({ ...stub, url: urls[0]!, urls })),
    exited.then((e) => {
      throw new Error(`the stub exited (${e.code ?? e.signal}) before listening: ${stderr.join(' | ')}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not listening on ${portCount} port(s) within 15 s: ${stdout.join(' | ')}`)), 15_000);
    }),
  ]).finally(() => clearTimeout(timer));
  ready.catch(() => {}); // callers that only watch the exit do not await it
  return { stub, ready };
}

const startStub = (env: Record<string, string> = {}) => spawnStub(env).ready;

async function call(url: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}
const get = (url: string, headers: Record<string, string> = {}) => call(url, { headers });
const post = (url: string, body: unknown) => call(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });


/** An HTTP server that counts requests and answers 404 to all (a dependency that serves nothing). */
async function countingServer(): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const srv = http.createServer((req, res) => {
    n++;
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"nothing here"}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, count: () => n, close: () => new Promise((r) => srv.close(() => r())) };
}

/**
 * A chain of three: front → middle → owner, wired by dependency env vars only. The owner has
 * the roles in ownerEnv; the front also depends on `extraFrontDeps` (after the middle).
 */
async function startChain(ownerEnv: Record<string, string> = {}, extraFrontDeps: Record<string, string> = {}) {
  const owner = await startStub({ STUB_SERVICE: 'svc-owner', STUB_VERSION: 'v3.1.0', ...ownerEnv });
  const middle = await startStub({ STUB_SERVICE: 'svc-middle', STUB_VERSION: 'v3.1.0', STUB_DEPENDENCIES: 'OWNER_URL', OWNER_URL: owner.url });
  const front = await startStub({
    STUB_SERVICE: 'svc-front',
    STUB_VERSION: 'v3.1.0',
    STUB_DEPENDENCIES: ['MIDDLE_URL', ...Object.keys(extraFrontDeps)].join(','),
    MIDDLE_URL: middle.url,
    ...extraFrontDeps,
  });
  return { owner, middle, front };
}

describe('the contract, as read from the environment', () => {
  it('defaults: port 8080, /health, the container name, no roles', () => {
    const c = readContract({ HARNESS_CONTAINER_NAME: 'web' });
    expect(c).toMatchObject({ service: 'web', version: 'dev', fault: '', host: '0.0.0.0', ports: [8080], healthPaths: ['/health'], dependencies: [], data: undefined, analysis: undefined, alb: false });
    expect(readContract({}).service).toBe('service');
    // how it names itself to other stubs: the service name, or (unnamed) a name that tells unlike stubs apart
    expect(readContract({ STUB_SERVICE: 'orders', HARNESS_CONTAINER_NAME: 'app' }).identity).toBe('orders');
    const a = readContract({ HARNESS_CONTAINER_NAME: 'app', STUB_DEPENDENCIES: 'X_URL', X_URL: 'http://x' });
    const b = readContract({ HARNESS_CONTAINER_NAME: 'app' });
    expect(a.service).toBe(b.service);
    expect(a.identity).not.toBe(b.identity);
  });

  it('ports, health paths and dependencies: lists, normalised; the data URL is never a dependency', () => {
    const c = readContract({
      STUB_SERVICE: 'orders', STUB_PORTS: ' 9000, 9001,9000', STUB_HEALTH_PATHS: '/q/health,ready?full=1,/q/health',
      STUB_DEPENDENCIES: 'UI_AGENT_URL,DB_URL,INSIGHT_AGENT_URL', UI_AGENT_URL: 'http://ui.local:81/', DB_URL: 'http://db:4000',
      STUB_DATA_URL_ENV: 'DB_URL', STUB_ALB: '1',
    });
    expect(c.ports).toEqual([9000, 9001]);
    expect(c.healthPaths).toEqual(['/q/health', '/ready']);
    expect(c.dependencies).toEqual([{ env: 'UI_AGENT_URL', url: 'http://ui.local:81' }, { env: 'INSIGHT_AGENT_URL', url: '' }]);
    expect(c.warnings).toEqual(['dependency INSIGHT_AGENT_URL is not set: calls to it fail']);
    expect(c.data).toMatchObject({ urlEnv: 'DB_URL', url: 'http://db:4000', namespace: 'escher', database: 'assets' });
    expect(c.alb).toBe(true);
  });

  it('refuses what cannot mean anything', () => {
    expect(() => readContract({ STUB_PORTS: '80,http' })).toThrow(/invalid STUB_PORTS .*http is not a port/);
    expect(() => readContract({ STUB_PORTS: '70000' })).toThrow(/invalid STUB_PORTS/);
    expect(() => readContract({ STUB_DEPENDENCIES: 'A_URL,http://x' })).toThrow(/invalid STUB_DEPENDENCIES/);
    expect(() => readContract({ STUB_FAULT: 'nope' })).toThrow(/unknown STUB_FAULT "nope"/);
  });

  it('database credentials: a secret JSON, two variables, or SurrealDB’s own names; a bad secret is never echoed', () => {
    const base = { STUB_DATA_URL_ENV: 'DB_URL', DB_URL: 'http://db:4000' };
    expect(readContract({ ...base, STUB_DATA_CREDENTIALS_ENV: 'DB_ROOT', DB_ROOT: '{"username":"root","password":"pw1"}' }).data.credentials)
      .toEqual({ username: 'root', password: 'pw1', source: 'DB_ROOT' });
    expect(readContract({ ...base, STUB_DATA_CREDENTIALS_ENV: 'SURREAL_USER,SURREAL_PASS', SURREAL_USER: 'u', SURREAL_PASS: 'p' }).data.credentials)
      .toEqual({ username: 'u', password: 'p', source: 'SURREAL_USER/SURREAL_PASS' });
    expect(readContract({ ...base, SURREAL_USER: 'u2', SURREAL_PASS: 'p2' }).data.credentials).toMatchObject({ username: 'u2', password: 'p2' });
    const bad = readContract({ ...base, STUB_DATA_CREDENTIALS_ENV: 'DB_ROOT', DB_ROOT: 'plain-secret-text' });
    expect(bad.data.credentials.problem).toBe('DB_ROOT is not a JSON object {"username", "password"}');
    expect(JSON.stringify(bad)).not.toContain('plain-secret-text');
    expect(bad.secretNames).toEqual(['DB_ROOT']);
  });
});

describe('the generic stub', () => {
  it('listens on every STUB_PORTS port; each answers every STUB_HEALTH_PATHS path and /version', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const s = await startStub({ STUB_SERVICE: 'billing', STUB_VERSION: 'v7.0.1', STUB_PORTS: `${p1},${p2}`, STUB_HEALTH_PATHS: '/q/health,/ready' });
    expect(s.urls.map((u) => Number(new URL(u).port)).sort()).toEqual([p1, p2].sort());
    for (const url of s.urls) {
      for (const p of ['/q/health', '/ready']) {
        const h = await get(`${url}${p}`);
        expect(h).toMatchObject({ status: 200, body: { status: 'UP', service: 'billing', version: 'v7.0.1' } });
      }
      expect((await get(`${url}/version`)).body).toEqual({ service: 'billing', version: 'v7.0.1', arch: process.arch, taskIp: '127.0.0.1' });
      // /health is not one of this service's health paths
      expect((await fetch(`${url}/health`)).status).toBe(404);
    }
    await s.waitForLine(/^GET \/version 200 [\d.]+ms$/);
    expect(s.stdout.join('\n')).toContain(`serves: ports ${p1},${p2}; health /q/health,/ready; dependencies (none)`);
  });

  it('/api/trace through a chain of three nests every hop', async () => {
    const { owner, middle, front } = await startChain();
    const t = await get(`${front.url}/api/trace`);
    expect(t.status).toBe(200);
    expect(t.body).toEqual({
      service: 'svc-front',
      version: 'v3.1.0',
      hops: [
        {
          service: 'svc-middle', version: 'v3.1.0', env: 'MIDDLE_URL', url: `${middle.url}/api/trace`, status: 200,
          hops: [{ service: 'svc-owner', version: 'v3.1.0', hops: [], env: 'OWNER_URL', url: `${owner.url}/api/trace`, status: 200 }],
        },
      ],
    });
  });

  it('a failed hop deep in the chain is named and makes every level 502', async () => {
    const { owner, front } = await startChain();
    owner.proc.kill('SIGTERM');
    expect((await owner.exited).code).toBe(0);
    const t = await get(`${front.url}/api/trace`);
    expect(t.status).toBe(502);
    expect(t.body.hops[0]).toMatchObject({ service: 'svc-middle', status: 502, error: 'HTTP 502' });
    expect(t.body.hops[0].hops[0]).toMatchObject({ env: 'OWNER_URL', url: `${owner.url}/api/trace` });
    expect(t.body.hops[0].hops[0].error).toMatch(/ECONNREFUSED/);
  });

  it('a hop that never answers times out after STUB_HOP_TIMEOUT_MS; an unset dependency is a failed hop', async () => {
    const sockets: net.Socket[] = [];
    const blackhole = net.createServer((s) => sockets.push(s)); // accepts, never answers
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    try {
      const port = (blackhole.address() as net.AddressInfo).port;
      const s = await startStub({ STUB_DEPENDENCIES: 'SLOW_URL,MISSING_URL', SLOW_URL: `http://127.0.0.1:${port}`, STUB_HOP_TIMEOUT_MS: '300' });
      const started = Date.now();
      const t = await get(`${s.url}/api/trace`);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(t.status).toBe(502);
      expect(t.body.hops[0]).toMatchObject({ env: 'SLOW_URL', url: `http://127.0.0.1:${port}/api/trace` });
      expect(t.body.hops[0].error).toMatch(/ETIMEDOUT/);
      expect(t.body.hops[1]).toEqual({ env: 'MISSING_URL', url: null, error: 'MISSING_URL is not set' });
    } finally {
      for (const s of sockets) s.destroy();
      blackhole.close();
    }
  });

  it('a dependency cycle ends where a service meets itself: trace marks it, forwarding answers 404', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const [a, b] = await Promise.all([
      startStub({ STUB_SERVICE: 'svc-a', STUB_PORTS: String(pa), STUB_DEPENDENCIES: 'B_URL', B_URL: `http://127.0.0.1:${pb}` }),
      startStub({ STUB_SERVICE: 'svc-b', STUB_PORTS: String(pb), STUB_DEPENDENCIES: 'A_URL', A_URL: `http://127.0.0.1:${pa}` }),
    ]);
    const t = await get(`${a.url}/api/trace`);
    expect(t.status).toBe(200);
    expect(t.body.hops[0]).toMatchObject({ service: 'svc-b', hops: [{ service: 'svc-a', cycle: true, hops: [] }] });
    const started = Date.now();
    const r = await get(`${a.url}/api/assets`);
    expect(r.status).toBe(404);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(b.stdout.filter((l) => l.startsWith('GET /api/assets ')).length).toBe(1);
  });

  it('data requests reach the data owner through the chain (memory storage); an owner’s 404 ends the search', async () => {
    const counter = await countingServer();
    try {
      // the data URL variable is empty: the owner keeps assets in memory and says so
      const { owner, middle, front } = await startChain({ STUB_DATA_URL_ENV: 'DB_URL' }, { SPARE_URL: counter.url });
      await owner.waitForLine(/DB_URL is not set: keeping assets in memory/);
      const created = await post(`${front.url}/api/assets`, { name: 'runbook.md', kind: 'playbook' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'runbook.md', kind: 'playbook' });
      expect(created.body.id).toMatch(/^asset-/);
      expect(created.headers.get('x-stub-served-by')).toBe('svc-owner');
      expect(await get(`${front.url}/api/assets/${created.body.id}`)).toMatchObject({ status: 200, body: created.body });
      expect((await get(`${middle.url}/api/assets`)).body).toEqual({ assets: [created.body] });
      // the owner's alias
      expect((await get(`${owner.url}/assets/${created.body.id}`)).body).toEqual(created.body);
      // not found at the owner: 404 from it, and the front does not ask its next dependency
      const missing = await get(`${front.url}/api/assets/asset-nope`);
      expect(missing).toMatchObject({ status: 404, body: { error: 'asset not found', id: 'asset-nope' } });
      expect(counter.count()).toBe(0);
      // the owner's validation answers through the chain
      expect((await post(`${front.url}/api/assets`, [1, 2])).status).toBe(400);
      expect((await fetch(`${front.url}/api/assets`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } })).status).toBe(400);
      // the front has no analysis owner behind it: every dependency says 404, so does it
      const analysis = await post(`${front.url}/api/analysis`, { prompt: 'x' });
      expect(analysis.status).toBe(404);
      expect(counter.count()).toBe(1);
      // the hop header went down the chain: the owner logged one POST per forwarded write
      expect(owner.stdout.filter((l) => l.startsWith('POST /api/assets 201')).length).toBe(1);
    } finally {
      await counter.close();
    }
  });

  it('a stub with no dependencies answers 404 for data and analysis; unreachable dependencies give 502 naming them', async () => {
    const alone = await startStub({ STUB_SERVICE: 'svc-alone' });
    const r = await get(`${alone.url}/api/assets/a1`);
    expect(r).toMatchObject({ status: 404, body: { error: 'not found', service: 'svc-alone' } });
    expect((await post(`${alone.url}/api/analysis`, { prompt: 'x' })).status).toBe(404);

    const cut = await startStub({ STUB_SERVICE: 'svc-cut', STUB_DEPENDENCIES: 'GONE_URL', GONE_URL: 'http://127.0.0.1:1' });
    const f = await get(`${cut.url}/api/assets/a1`);
    expect(f.status).toBe(502);
    expect(f.body).toMatchObject({ url: 'http://127.0.0.1:1/api/assets/a1' });
    expect(f.body.error).toMatch(/ECONNREFUSED/);
  });

  it('an unreachable dependency is skipped, but a write that timed out is not sent on (it may have been served)', async () => {
    const sockets: net.Socket[] = [];
    const blackhole = net.createServer((s) => sockets.push(s)); // accepts, never answers
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    try {
      const owner = await startStub({ STUB_SERVICE: 'svc-owner', STUB_DATA_URL_ENV: 'DB_URL' });
      const front = await startStub({
        STUB_SERVICE: 'svc-front', STUB_HOP_TIMEOUT_MS: '300',
        STUB_DEPENDENCIES: 'DOWN_URL,STUCK_URL,OWNER_URL', DOWN_URL: 'http://127.0.0.1:1',
        STUCK_URL: `http://127.0.0.1:${(blackhole.address() as net.AddressInfo).port}`, OWNER_URL: owner.url,
      });
      const list = await get(`${front.url}/api/assets`);
      expect(list).toMatchObject({ status: 200, body: { assets: [] } });
      const write = await post(`${front.url}/api/assets`, { name: 'once' });
      expect(write.status).toBe(502);
      expect(write.body.attempts.map((a: any) => a.env)).toEqual(['DOWN_URL', 'STUCK_URL']);
      expect(write.body.error).toMatch(/ECONNREFUSED.*ETIMEDOUT|ETIMEDOUT/s);
      expect(owner.stdout.some((l) => l.startsWith('POST '))).toBe(false);
    } finally {
      for (const s of sockets) s.destroy();
      blackhole.close();
    }
  });

  it('STUB_ALB=1: /api/whoami echoes the ALB headers and verifies the claims’ ES256 signature', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const albArn = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/front/1';
    const claims = { sub: 'user-1', email: 'a@example.com', exp: 2_000_000_000 };
    const sign = (header: object) => {
      const head = Buffer.from(JSON.stringify(header)).toString('base64url');
      const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
      const sig = createSign('SHA256').update(`${head}.${body}`).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      return `${head}.${body}.${sig}`;
    };
    const s = await startStub({
      STUB_ALB: '1',
      ALB_ARN: albArn,
      ALB_PUBLIC_KEYS: JSON.stringify({ k1: publicKey.export({ type: 'spki', format: 'pem' }) }),
    });
    const ok = await get(`${s.url}/api/whoami`, {
      'x-amzn-oidc-identity': 'user-1',
      'x-amzn-oidc-data': sign({ alg: 'ES256', kid: 'k1', signer: albArn }),
      'x-amzn-oidc-accesstoken': 'eyJ-access',
    });
    expect(ok.body).toEqual({ identity: 'user-1', claims, claimsVerified: true, accessTokenPresent: true });
    const otherAlb = await get(`${s.url}/api/whoami`, { 'x-amzn-oidc-data': sign({ alg: 'ES256', kid: 'k1', signer: `${albArn}x` }) });
    expect(otherAlb.body).toMatchObject({ claimsVerified: false, claimsError: expect.stringMatching(/is not this ALB/) });
    const unknownKid = await get(`${s.url}/api/whoami`, { 'x-amzn-oidc-data': sign({ alg: 'ES256', kid: 'k2', signer: albArn }) });
    expect(unknownKid.body).toMatchObject({ claims, claimsVerified: false });
    const anon = await get(`${s.url}/api/whoami`);
    expect(anon.body).toEqual({ identity: null, claims: null, claimsVerified: false, accessTokenPresent: false });
    const junk = await get(`${s.url}/api/whoami`, { 'x-amzn-oidc-data': 'garbage' });
    expect(junk.body.claims).toBeNull();
    expect(junk.body.claimsError).toMatch(/not a JWT/);
    // without STUB_ALB there is no such route
    const plain = await startStub();
    expect((await fetch(`${plain.url}/api/whoami`)).status).toBe(404);
  });

  it('STUB_FAULT=unhealthy: every health path answers 503, the rest works', async () => {
    const s = await startStub({ STUB_FAULT: 'unhealthy', STUB_SERVICE: 'svc-sick', STUB_HEALTH_PATHS: '/q/health,/health' });
    for (const p of ['/q/health', '/health']) {
      expect(await get(`${s.url}${p}`)).toMatchObject({ status: 503, body: { status: 'DOWN', service: 'svc-sick', reason: 'STUB_FAULT=unhealthy' } });
    }
    expect((await get(`${s.url}/version`)).status).toBe(200);
  });

  it('STUB_FAULT=crash: logs an error line and exits 1 without listening', async () => {
    const { stub } = spawnStub({ STUB_FAULT: 'crash', STUB_VERSION: 'fault-crash', STUB_SERVICE: 'svc-crash' });
    expect(await stub.exited).toEqual({ code: 1, signal: null });
    expect(stub.stderr.join('\n')).toMatch(/FATAL svc-crash fault-crash/);
    expect(stub.stdout.some((l) => l.includes('listening'))).toBe(false);
  });

  it('an unknown STUB_FAULT or a bad port list is a start-up error (exit 2), not a silently healthy service', async () => {
    const { stub } = spawnStub({ STUB_FAULT: 'unhealty' });
    expect((await stub.exited).code).toBe(2);
    expect(stub.stderr.join('\n')).toMatch(/unknown STUB_FAULT "unhealty"/);
    const { stub: ports } = spawnStub({ STUB_PORTS: '8080,x' });
    expect((await ports.exited).code).toBe(2);
    expect(ports.stderr.join('\n')).toMatch(/invalid STUB_PORTS/);
  });

  it('STUB_FAULT=slow-start: listens only after STUB_SLOW_START_SECONDS × HARNESS_TIME_SCALE', async () => {
    const started = Date.now();
    const s = await startStub({ STUB_FAULT: 'slow-start', STUB_SLOW_START_SECONDS: '20', HARNESS_TIME_SCALE: '0.02' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(s.stdout.join('\n')).toMatch(/listening in 400ms/);
    expect((await get(`${s.url}/health`)).status).toBe(200);
  });

  it('SIGTERM closes every port and exits 0 within a second, even with a keep-alive client', async () => {
    const s = await startStub({ STUB_PORTS: `${await freePort()},${await freePort()}` });
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http.get(`${s.urls[1]}/health`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject),
    );
    const started = Date.now();
    s.proc.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(1000);
    agent.destroy();
  });

  it('SIGTERM during a slow start exits 0 at once; STUB_FAULT=ignore-sigterm logs it and keeps serving', async () => {
    const { stub } = spawnStub({ STUB_FAULT: 'slow-start', STUB_SLOW_START_SECONDS: '60' });
    await stub.waitForLine(/slow start/);
    stub.proc.kill('SIGTERM');
    expect(await stub.exited).toEqual({ code: 0, signal: null });

    const stubborn = await startStub({ STUB_FAULT: 'ignore-sigterm' });
    stubborn.proc.kill('SIGTERM');
    await stubborn.waitForLine(/SIGTERM: ignored/);
    expect((await get(`${stubborn.url}/health`)).status).toBe(200);
    stubborn.proc.kill('SIGKILL');
    expect((await stubborn.exited).signal).toBe('SIGKILL');
  });

  it('never prints secret values, only their presence; STUB_ECHO_ENV prints a fingerprint', async () => {
    const secret = 'sk-ant-very-secret-value';
    const dbSecret = '{"username":"root","password":"hunter2-db"}';
    const s = await startStub({
      STUB_ANTHROPIC_KEY_ENV: 'LLM_KEY', LLM_KEY: secret,
      STUB_DATA_URL_ENV: 'DB_URL', DB_URL: 'http://127.0.0.1:1', STUB_DATA_CREDENTIALS_ENV: 'DB_ROOT', DB_ROOT: dbSecret,
      DB_PASSWORD: 'hunter2', STUB_ECHO_ENV: 'LLM_KEY,NOPE',
    });
    await get(`${s.url}/health`);
    await get(`${s.url}/api/trace`);
    s.proc.kill('SIGTERM');
    await s.exited;
    const all = [...s.stdout, ...s.stderr].join('\n');
    for (const v of [secret, 'hunter2', dbSecret]) expect(all).not.toContain(v);
    expect(all).toMatch(/secrets: .*DB_PASSWORD=<set> DB_ROOT=<set> LLM_KEY=<set>/);
    expect(all).toContain('user root from DB_ROOT');
    expect(all).toContain(`env LLM_KEY sha256=${createHash('sha256').update(secret).digest('hex')}`);
    expect(all).toContain('env NOPE unset');
  });

  it('answers 404 for unknown paths and 405 for a wrong method', async () => {
    const s = await startStub();
    expect((await fetch(`${s.url}/nope`)).status).toBe(404);
    const r = await fetch(`${s.url}/health`, { method: 'DELETE' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET');
  });

  it('a port already in use is a start-up error (exit 1)', async () => {
    const a = await startStub();
    const { stub } = spawnStub({ STUB_PORTS: `${await freePort()},${new URL(a.url).port}` });
    expect((await stub.exited).code).toBe(1);
    expect(stub.stderr.join('\n')).toMatch(/EADDRINUSE/);
  });
});

describe('the data owner on SurrealDB (the embedded server), reached through the chain', () => {
  const ROOT = { username: 'root', password: 'stub-test-pw' };
  let server: SurrealServer;

  beforeAll(async () => {
    server = await startSurrealServer({ credentials: ROOT, storage: { kind: 'memory' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('root credentials from a secret JSON: writes and reads through the front, health follows the database', async () => {
    const { owner, front } = await startChain({
      STUB_DATA_URL_ENV: 'ORDERS_DB_URL', ORDERS_DB_URL: server.url,
      STUB_DATA_CREDENTIALS_ENV: 'ORDERS_DB_ROOT', ORDERS_DB_ROOT: JSON.stringify(ROOT),
      STUB_HEALTH_PATHS: '/healthz',
    });
    await owner.waitForLine(/schema defined/, 10_000);
    expect((await get(`${owner.url}/healthz`)).status).toBe(200);
    const created = await post(`${front.url}/api/assets`, { name: 'runbook.md', tags: ['x'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.id).toMatch(/^asset-[0-9a-f-]{36}$/);
    expect(await get(`${front.url}/api/assets/${created.body.id}`)).toMatchObject({ status: 200, body: created.body });
    expect((await get(`${front.url}/api/assets`)).body.assets).toContainEqual(created.body);

    await server.stop();
    try {
      const h = await get(`${owner.url}/healthz`);
      expect(h).toMatchObject({ status: 503, body: { status: 'DOWN', service: 'svc-owner' } });
      expect(h.body.reason).toMatch(/SurrealDB unavailable: .*ECONNREFUSED/);
      const failed = await post(`${front.url}/api/assets`, { name: 'during-outage' });
      expect(failed.status).toBe(503);
      expect(failed.body.error).toMatch(/^SurrealDB unavailable/);
      // the front's own health is not the database's
      expect((await get(`${front.url}/health`)).status).toBe(200);
    } finally {
      await server.start();
    }
    await expect.poll(async () => (await get(`${owner.url}/healthz`)).status, { timeout: 10_000 }).toBe(200);
  });

  it('root credentials as two variables (ECS secrets with a JSON key each); wrong ones: unhealthy, saying why', async () => {
    const env = { STUB_DATA_URL_ENV: 'SURREAL_URL', SURREAL_URL: server.url, STUB_DATA_CREDENTIALS_ENV: 'SURREAL_USER,SURREAL_PASS', SURREAL_USER: ROOT.username };
    const good = await startStub({ ...env, SURREAL_PASS: ROOT.password });
    await expect.poll(async () => (await get(`${good.url}/health`)).status, { timeout: 10_000 }).toBe(200);
    const bad = await startStub({ ...env, SURREAL_PASS: 'wrong-pw' });
    const h = await get(`${bad.url}/health`);
    expect(h.status).toBe(503);
    expect(h.body.reason).toMatch(/credentials refused/);
    expect(bad.stdout.join('\n')).not.toContain('wrong-pw');
  });
});

describe('analysis: front → middle → the key owner → Anthropic Messages API (HTTPS stand-in)', () => {
  const KEY = 'sk-ant-stub-test-key';
  let dir = '';
  let ca: HarnessCa;
  let api: AnthropicStandIn;
  let apiUrl = '';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stub-anthropic-'));
    ca = createHarnessCa(dir, 'stubtest');
    const cert = issueServerCert(ca, ['api.anthropic.com', '127.0.0.1'], 'api');
    api = new AnthropicStandIn({ validKeys: () => [KEY], tls: cert });
    const a = await api.start('127.0.0.1', 0);
    apiUrl = `https://127.0.0.1:${a.port}`;
  });
  afterAll(async () => {
    await api?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ownerEnv = (extra: Record<string, string> = {}) => ({ STUB_ANTHROPIC_KEY_ENV: 'LLM_API_KEY', LLM_API_KEY: KEY, ANTHROPIC_BASE_URL: apiUrl, NODE_EXTRA_CA_CERTS: ca.certFile, ...extra });

  it('POST /api/analysis at the front reaches the API with the key, version and prompt, and answers the analysis', async () => {
    const { owner, front } = await startChain(ownerEnv());
    const before = api.calls().length;
    const r = await post(`${front.url}/api/analysis`, { prompt: 'What changed in the store?' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ service: 'svc-owner', analysis: expect.stringContaining('What changed in the store?'), messageId: expect.stringMatching(/^msg_/), model: 'claude-sonnet-4-5', requestId: expect.stringMatching(/^req_/) });
    const calls = api.calls().slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'POST', path: '/v1/messages', status: 200, messageId: r.body.messageId, keySha256: createHash('sha256').update(KEY).digest('hex') });
    expect(calls[0]!.headers['anthropic-version']).toBe('2023-06-01');
    expect(calls[0]!.body).toMatchObject({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'What changed in the store?' }] });
    await owner.waitForLine(/^anthropic 200 msg_/);
    expect([...owner.stdout, ...owner.stderr].join('\n')).not.toContain(KEY);
    // the alias on the owner
    expect((await post(`${owner.url}/api/analyze`, { prompt: 'again' })).status).toBe(200);
  });

  it('a wrong key: the owner reports the API 401 clearly as a 502, through the chain', async () => {
    const { front } = await startChain(ownerEnv({ LLM_API_KEY: 'sk-ant-wrong' }));
    const r = await post(`${front.url}/api/analysis`, { prompt: 'x' });
    expect(r.status).toBe(502);
    expect(r.body.upstream).toMatchObject({ status: 401, type: 'authentication_error', message: 'invalid x-api-key' });
    expect(r.body.error).toMatch(/answered 401 authentication_error/);
  });

  it('without the run CA the TLS handshake fails and the owner answers 502, not a crash', async () => {
    const owner = await startStub(ownerEnv({ NODE_EXTRA_CA_CERTS: '' }));
    const r = await post(`${owner.url}/api/analysis`, { prompt: 'x' });
    expect(r.status).toBe(502);
    expect(r.body.error).toMatch(/cannot reach the Anthropic API .*(certificate|self.signed|issuer)/i);
  });

  it('the API unreachable → 502 naming the URL; health stays 200; bad input → 400; no key → 502 without a call', async () => {
    const owner = await startStub(ownerEnv({ ANTHROPIC_BASE_URL: 'https://127.0.0.1:1' }));
    const r = await post(`${owner.url}/api/analysis`, { prompt: 'x' });
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ url: 'https://127.0.0.1:1/v1/messages' });
    expect(r.body.error).toMatch(/ECONNREFUSED/);
    expect((await get(`${owner.url}/health`)).status).toBe(200);
    expect((await post(`${owner.url}/api/analysis`, { nope: 1 })).status).toBe(400);
    const before = api.calls().length;
    const noKey = await startStub(ownerEnv({ LLM_API_KEY: '' }));
    const k = await post(`${noKey.url}/api/analysis`, { prompt: 'x' });
    expect(k.status).toBe(502);
    expect(k.body.error).toMatch(/LLM_API_KEY is not set/);
    expect(api.calls().length).toBe(before);
  });
});
