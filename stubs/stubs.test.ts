import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicStandIn } from '../harness/edge/anthropic/server.ts';
import { createHarnessCa, issueServerCert, type HarnessCa } from '../harness/edge/anthropic/ca.ts';

const STUBS = fileURLToPath(new URL('.', import.meta.url));

interface RunningStub {
  proc: ChildProcess;
  url: string;
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

/** Spawns stubs/<entry>.mjs on 127.0.0.1 with PORT=0; resolves once it logs its address (or exits). */
function spawnStub(entry: string, env: Record<string, string> = {}): { stub: Omit<RunningStub, 'url'>; ready: Promise<RunningStub> } {
  const proc = spawn(process.execPath, [`${STUBS}${entry}.mjs`], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const split = (sink: string[], notify: boolean) => {
    let buf = '';
    return (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        sink.push(line);
        if (notify) for (const w of [...waiters]) if (w.re.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
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
  const ready = Promise.race([
    waitForLine(/listening on http:\/\//, 15_000).then((line) => ({ ...stub, url: line.slice(line.indexOf('http://')) })),
    exited.then((e) => {
      throw new Error(`${entry} exited (${e.code ?? e.signal}) before listening: ${stderr.join(' | ')}`);
    }),
  ]);
  ready.catch(() => {}); // callers that only watch the exit do not await it
  return { stub, ready };
}

const startStub = (entry: string, env: Record<string, string> = {}) => spawnStub(entry, env).ready;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as any };
}

async function post(url: string, body: unknown) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

/** The whole chain, wired by URL env vars. */
async function startChain(extra: Record<string, string> = {}) {
  const assetStore = await startStub('asset-store', { STUB_VERSION: 'v2.15.0', ...extra });
  const contextEngine = await startStub('context-engine', { STUB_VERSION: 'v2.15.0', ASSET_STORE_URL: assetStore.url, ...extra });
  const [analysis, playbook] = await Promise.all([
    startStub('analysis-agent', { STUB_VERSION: 'v2.15.0', CONTEXT_ENGINE_URL: contextEngine.url, ...extra }),
    startStub('playbook-agent', { STUB_VERSION: 'v2.15.0', CONTEXT_ENGINE_URL: contextEngine.url, ...extra }),
  ]);
  const gateway = await startStub('gateway', {
    STUB_VERSION: 'v2.15.0',
    ANALYSIS_AGENT_URL: analysis.url,
    PLAYBOOK_AGENT_URL: playbook.url,
    CONTEXT_ENGINE_URL: contextEngine.url,
    ...extra,
  });
  return { assetStore, contextEngine, analysis, playbook, gateway };
}

describe('stub services', () => {
  it.each([
    ['gateway', '/q/health', { status: 'UP' }],
    ['analysis-agent', '/health', { status: 'ok' }],
    ['playbook-agent', '/health', { status: 'ok' }],
    ['context-engine', '/health', { status: 'ok' }],
    ['asset-store', '/health', { status: 'ok' }],
  ])('%s answers its health path %s and /version', async (service, path, health) => {
    const stub = await startStub(service, { STUB_SERVICE: service, STUB_VERSION: 'v2.14.0' });
    const h = await get(`${stub.url}${path}`);
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject(health);
    const v = await get(`${stub.url}/version`);
    expect(v.body).toEqual({ service, version: 'v2.14.0', arch: process.arch, taskIp: '127.0.0.1' });
    // the other health path is not this service's
    const other = await fetch(`${stub.url}${path === '/health' ? '/q/health' : '/health'}`);
    expect(other.status).toBe(404);
    await stub.waitForLine(/^GET \/version 200 [\d.]+ms$/);
  });

  it('a request through the gateway traces the whole chain', async () => {
    const { gateway, contextEngine, assetStore } = await startChain();
    const t = await get(`${gateway.url}/api/trace`);
    expect(t.status).toBe(200);
    expect(t.body.service).toBe('gateway');
    expect(t.body.hops.map((h: any) => h.service)).toEqual(['analysis-agent', 'playbook-agent', 'context-engine']);
    for (const hop of t.body.hops) {
      const ce = hop.service === 'context-engine' ? hop : hop.hops[0];
      expect(ce).toMatchObject({ service: 'context-engine', url: `${contextEngine.url}/api/trace`, status: 200 });
      expect(ce.hops).toEqual([{ service: 'asset-store', version: 'v2.15.0', hops: [], url: `${assetStore.url}/api/trace`, status: 200 }]);
    }
  });

  it('a failed hop deep in the chain is named and makes every level 502', async () => {
    const { gateway, assetStore } = await startChain();
    assetStore.proc.kill('SIGTERM');
    expect((await assetStore.exited).code).toBe(0);
    const t = await get(`${gateway.url}/api/trace`);
    expect(t.status).toBe(502);
    const ce = t.body.hops.find((h: any) => h.service === 'context-engine');
    expect(ce).toMatchObject({ status: 502, error: 'HTTP 502' });
    expect(ce.hops[0]).toMatchObject({ url: `${assetStore.url}/api/trace` });
    expect(ce.hops[0].error).toMatch(/ECONNREFUSED/);
  });

  it('a hop that never answers times out after STUB_HOP_TIMEOUT_MS and is reported as a timeout', async () => {
    const sockets: net.Socket[] = [];
    const blackhole = net.createServer((s) => sockets.push(s)); // accepts, never answers
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    try {
      const port = (blackhole.address() as net.AddressInfo).port;
      const ce = await startStub('context-engine', { ASSET_STORE_URL: `http://127.0.0.1:${port}`, STUB_HOP_TIMEOUT_MS: '300' });
      const started = Date.now();
      const t = await get(`${ce.url}/api/trace`);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(t.status).toBe(502);
      expect(t.body.hops[0]).toMatchObject({ service: 'asset-store', url: `http://127.0.0.1:${port}/api/trace` });
      expect(t.body.hops[0].error).toMatch(/ETIMEDOUT/);
    } finally {
      for (const s of sockets) s.destroy();
      blackhole.close();
    }
  });

  it('creates an asset through the gateway and reads it back end to end', async () => {
    const { gateway, assetStore } = await startChain();
    const created = await post(`${gateway.url}/api/assets`, { name: 'runbook.md', kind: 'playbook' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'runbook.md', kind: 'playbook' });
    expect(created.body.id).toMatch(/^asset-/);
    const read = await get(`${gateway.url}/api/assets/${created.body.id}`);
    expect(read).toEqual({ status: 200, body: created.body });
    const direct = await get(`${assetStore.url}/assets/${created.body.id}`);
    expect(direct.body).toEqual(created.body);
    const list = await get(`${gateway.url}/api/assets`);
    expect(list.body.assets).toEqual([created.body]);
    const missing = await get(`${gateway.url}/api/assets/asset-nope`);
    expect(missing.status).toBe(404);
    const bad = await fetch(`${assetStore.url}/assets`, { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
    const notObject = await post(`${gateway.url}/api/assets`, [1, 2]);
    expect(notObject.status).toBe(400);
  });

  it('the gateway answers 502 when the context engine is unreachable', async () => {
    const gw = await startStub('gateway', { CONTEXT_ENGINE_URL: 'http://127.0.0.1:1' });
    const r = await get(`${gw.url}/api/assets/a1`);
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ url: 'http://127.0.0.1:1/api/assets/a1' });
    expect(r.body.error).toMatch(/ECONNREFUSED/);
  });

  it('the gateway echoes the ALB OIDC headers (claims decoded, not verified)', async () => {
    const gw = await startStub('gateway');
    const claims = { sub: 'user-1', email: 'a@example.com', exp: 2_000_000_000 };
    const jwt = ['{"alg":"ES256"}', JSON.stringify(claims), 'sig'].map((p, i) => (i < 2 ? Buffer.from(p).toString('base64url') : p)).join('.');
    const r = await get(`${gw.url}/api/whoami`, {
      'x-amzn-oidc-identity': 'user-1',
      'x-amzn-oidc-data': jwt,
      'x-amzn-oidc-accesstoken': 'eyJ-access',
    });
    expect(r.body).toEqual({ identity: 'user-1', claims, claimsVerified: false, accessTokenPresent: true });
    const anon = await get(`${gw.url}/api/whoami`);
    expect(anon.body).toEqual({ identity: null, claims: null, claimsVerified: false, accessTokenPresent: false });
    const junk = await get(`${gw.url}/api/whoami`, { 'x-amzn-oidc-data': 'garbage' });
    expect(junk.body.claims).toBeNull();
    expect(junk.body.claimsError).toMatch(/not a JWT/);
  });

  it('STUB_FAULT=unhealthy: the health path answers 503, the rest works', async () => {
    const gw = await startStub('gateway', { STUB_FAULT: 'unhealthy' });
    expect((await get(`${gw.url}/q/health`)).status).toBe(503);
    expect((await get(`${gw.url}/version`)).status).toBe(200);
    const agent = await startStub('analysis-agent', { STUB_FAULT: 'unhealthy' });
    expect((await get(`${agent.url}/health`)).status).toBe(503);
  });

  it('STUB_FAULT=crash: logs an error line and exits 1 without listening', async () => {
    const { stub } = spawnStub('playbook-agent', { STUB_FAULT: 'crash', STUB_VERSION: 'fault-crash' });
    expect(await stub.exited).toEqual({ code: 1, signal: null });
    expect(stub.stderr.join('\n')).toMatch(/FATAL playbook-agent fault-crash/);
    expect(stub.stdout.some((l) => l.includes('listening'))).toBe(false);
  });

  it('an unknown STUB_FAULT is a start-up error, not a silently healthy service', async () => {
    const { stub } = spawnStub('asset-store', { STUB_FAULT: 'unhealty' });
    expect((await stub.exited).code).toBe(2);
    expect(stub.stderr.join('\n')).toMatch(/unknown STUB_FAULT "unhealty"/);
  });

  it('STUB_FAULT=slow-start: listens only after STUB_SLOW_START_SECONDS × HARNESS_TIME_SCALE', async () => {
    const started = Date.now();
    const s = await startStub('context-engine', { STUB_FAULT: 'slow-start', STUB_SLOW_START_SECONDS: '20', HARNESS_TIME_SCALE: '0.02' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(s.stdout.join('\n')).toMatch(/listening in 400ms/);
    expect((await get(`${s.url}/health`)).status).toBe(200);
  });

  it('SIGTERM closes the server and exits 0 within a second, even with a keep-alive client', async () => {
    const s = await startStub('asset-store');
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http.get(`${s.url}/health`, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject),
    );
    const started = Date.now();
    s.proc.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(1000);
    agent.destroy();
  });

  it('SIGTERM during a slow start exits 0 at once', async () => {
    const { stub } = spawnStub('asset-store', { STUB_FAULT: 'slow-start', STUB_SLOW_START_SECONDS: '60' });
    await stub.waitForLine(/slow start/);
    stub.proc.kill('SIGTERM');
    expect(await stub.exited).toEqual({ code: 0, signal: null });
  });

  it('never prints secret values, only their presence; STUB_ECHO_ENV prints a fingerprint', async () => {
    const secret = 'sk-ant-very-secret-value';
    const s = await startStub('analysis-agent', { ANTHROPIC_API_KEY: secret, DB_PASSWORD: 'hunter2', STUB_ECHO_ENV: 'ANTHROPIC_API_KEY,NOPE' });
    await get(`${s.url}/api/trace`).catch(() => undefined);
    s.proc.kill('SIGTERM');
    await s.exited;
    const all = [...s.stdout, ...s.stderr].join('\n');
    expect(all).not.toContain(secret);
    expect(all).not.toContain('hunter2');
    expect(all).toMatch(/ANTHROPIC_API_KEY=<set>/);
    expect(all).toMatch(/DB_PASSWORD=<set>/);
    expect(all).toContain(`env ANTHROPIC_API_KEY sha256=${createHash('sha256').update(secret).digest('hex')}`);
    expect(all).toContain('env NOPE unset');
  });

  it('answers 404 for unknown paths and 405 for a wrong method', async () => {
    const s = await startStub('asset-store');
    expect((await fetch(`${s.url}/nope`)).status).toBe(404);
    const r = await fetch(`${s.url}/health`, { method: 'DELETE' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET');
  });

  it('a port already in use is a start-up error (exit 1)', async () => {
    const a = await startStub('asset-store');
    const port = new URL(a.url).port;
    const { stub } = spawnStub('asset-store', { PORT: port });
    expect((await stub.exited).code).toBe(1);
    expect(stub.stderr.join('\n')).toMatch(/EADDRINUSE/);
  });
});

describe('analysis through the gateway → analysis agent → Anthropic Messages API (HTTPS stand-in)', () => {
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

  const agentEnv = (extra: Record<string, string> = {}) => ({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: apiUrl, NODE_EXTRA_CA_CERTS: ca.certFile, ...extra });

  it('POST /api/analysis reaches the API with the key, version and prompt, and answers the analysis', async () => {
    const agent = await startStub('analysis-agent', agentEnv());
    const gw = await startStub('gateway', { ANALYSIS_AGENT_URL: agent.url });
    const before = api.calls().length;
    const r = await post(`${gw.url}/api/analysis`, { prompt: 'What changed in the asset store?' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ service: 'analysis-agent', analysis: expect.stringContaining('What changed in the asset store?'), messageId: expect.stringMatching(/^msg_/), model: 'claude-sonnet-4-5', requestId: expect.stringMatching(/^req_/) });
    const calls = api.calls().slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'POST', path: '/v1/messages', status: 200, messageId: r.body.messageId, keySha256: createHash('sha256').update(KEY).digest('hex') });
    expect(calls[0]!.headers['anthropic-version']).toBe('2023-06-01');
    expect(calls[0]!.body).toMatchObject({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'What changed in the asset store?' }] });
    await agent.waitForLine(/^anthropic 200 msg_/);
    expect([...agent.stdout, ...agent.stderr].join('\n')).not.toContain(KEY);
  });

  it('a wrong key: the agent reports the API 401 clearly as a 502', async () => {
    const agent = await startStub('analysis-agent', agentEnv({ ANTHROPIC_API_KEY: 'sk-ant-wrong' }));
    const r = await post(`${agent.url}/api/analyze`, { prompt: 'x' });
    expect(r.status).toBe(502);
    expect(r.body.upstream).toMatchObject({ status: 401, type: 'authentication_error', message: 'invalid x-api-key' });
    expect(r.body.error).toMatch(/answered 401 authentication_error/);
  });

  it('without the run CA the TLS handshake fails and the agent answers 502, not a crash', async () => {
    const agent = await startStub('analysis-agent', agentEnv({ NODE_EXTRA_CA_CERTS: '' }));
    const r = await post(`${agent.url}/api/analyze`, { prompt: 'x' });
    expect(r.status).toBe(502);
    expect(r.body.error).toMatch(/cannot reach the Anthropic API .*(certificate|self.signed|issuer)/i);
  });

  it('the API unreachable → 502 naming the URL; health stays 200; bad input → 400; no key → 502 without a call', async () => {
    const agent = await startStub('analysis-agent', agentEnv({ ANTHROPIC_BASE_URL: 'https://127.0.0.1:1' }));
    const r = await post(`${agent.url}/api/analyze`, { prompt: 'x' });
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ url: 'https://127.0.0.1:1/v1/messages' });
    expect(r.body.error).toMatch(/ECONNREFUSED/);
    expect((await get(`${agent.url}/health`)).status).toBe(200);
    expect((await post(`${agent.url}/api/analyze`, { nope: 1 })).status).toBe(400);
    const before = api.calls().length;
    const noKey = await startStub('analysis-agent', agentEnv({ ANTHROPIC_API_KEY: '' }));
    const k = await post(`${noKey.url}/api/analyze`, { prompt: 'x' });
    expect(k.status).toBe(502);
    expect(k.body.error).toMatch(/ANTHROPIC_API_KEY is not set/);
    expect(api.calls().length).toBe(before);
  });
});
