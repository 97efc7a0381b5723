import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SurrealServer, startSurrealServer } from './surreal-server.ts';

// The generic stub's data role (plain .mjs, HTTP /sql) against the embedded SurrealDB server,
// configured as the harness configures a task whose definition has a SurrealDB URL and the root
// credentials as two secrets with a JSON key each.

const STUB = fileURLToPath(new URL('../../stubs/service.mjs', import.meta.url));
const ROOT = { username: 'root', password: 'stub-test-pw' };

interface Stub {
  proc: ChildProcess;
  url: string;
  lines: string[];
}

const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function startStub(env: Record<string, string>): Promise<Stub> {
  const proc = spawn(process.execPath, [STUB], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', STUB_PORTS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const m = /listening on (http:\/\/\S+)/.exec(line);
        if (m) resolve({ proc, url: m[1]!, lines });
      }
    });
    proc.on('close', (code) => reject(new Error(`the stub exited ${code}: ${lines.join(' | ')}`)));
  });
}

async function call(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const post = (url: string, body: unknown) => call(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function eventually(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function sqlCount(server: SurrealServer, table: string): Promise<number> {
  const res = await fetch(`${server.url}/sql`, {
    method: 'POST',
    headers: { accept: 'application/json', 'surreal-ns': 'escher', 'surreal-db': 'assets', authorization: `Basic ${Buffer.from(`${ROOT.username}:${ROOT.password}`).toString('base64')}` },
    body: `SELECT count() FROM ${table} GROUP ALL`,
  });
  const body = (await res.json()) as { result: { count: number }[] }[];
  return body[0]!.result[0]?.count ?? 0;
}

describe('the stub\'s data role with SurrealDB (HTTP /sql)', () => {
  let server: SurrealServer;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asset-surreal-'));
    server = await startSurrealServer({ credentials: ROOT, storage: { kind: 'surrealkv', path: path.join(dir, 'db') } });
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    STUB_SERVICE: 'data-svc',
    STUB_VERSION: 'v-test',
    STUB_DATA_URL_ENV: 'SURREAL_URL',
    STUB_DATA_CREDENTIALS_ENV: 'SURREAL_USER,SURREAL_PASS',
    SURREAL_URL: server.url,
    SURREAL_USER: ROOT.username,
    SURREAL_PASS: ROOT.password,
  });

  it('defines its schema at start, stores and serves assets, and they outlive the task', async () => {
    const a = await startStub(env());
    await eventually('schema defined', async () => a.lines.some((l) => /schema defined/.test(l)));
    expect((await call(`${a.url}/health`)).status).toBe(200);
    const created = await post(`${a.url}/assets`, { name: 'runbook.md', kind: 'playbook', tags: ['x', 'y'], nested: { n: 1 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'runbook.md', kind: 'playbook', tags: ['x', 'y'], nested: { n: 1 } });
    expect(created.body.id).toMatch(/^asset-[0-9a-f-]{36}$/);
    expect(Date.parse(created.body.createdAt)).not.toBeNaN();
    expect((await call(`${a.url}/assets/${created.body.id}`)).body).toEqual(created.body);
    expect((await call(`${a.url}/assets/asset-missing`)).status).toBe(404);
    a.proc.kill('SIGTERM');

    // a new task (the schema is defined again, idempotently) reads the same record
    const b = await startStub(env());
    await eventually('schema defined', async () => b.lines.some((l) => /schema defined/.test(l)));
    expect((await call(`${b.url}/assets`)).body.assets).toEqual([created.body]);
    expect(await sqlCount(server, 'asset_event')).toBe(1);
  });

  it('turns unhealthy while SurrealDB is down, fails writes clearly without half-writes, and recovers', async () => {
    const a = await startStub(env());
    await eventually('healthy', async () => (await call(`${a.url}/health`)).status === 200);
    const before = (await call(`${a.url}/assets`)).body.assets.length;
    await server.stop();
    const health = await call(`${a.url}/health`);
    expect(health.status).toBe(503);
    expect(health.body.reason).toMatch(/SurrealDB unavailable: .*ECONNREFUSED/);
    const failed = await post(`${a.url}/assets`, { name: 'during-outage' });
    expect(failed.status).toBe(503);
    expect(failed.body.error).toMatch(/^SurrealDB unavailable/);
    await server.start();
    await eventually('healthy again', async () => (await call(`${a.url}/health`)).status === 200);
    const after = (await call(`${a.url}/assets`)).body.assets as { name: string }[];
    expect(after.length).toBe(before);
    expect(after.map((x) => x.name)).not.toContain('during-outage');
    expect(await sqlCount(server, 'asset_event')).toBe(await sqlCount(server, 'asset'));
    expect((await post(`${a.url}/assets`, { name: 'after' })).status).toBe(201);
  });

  it('is unhealthy with the wrong password, and says why', async () => {
    const a = await startStub({ ...env(), SURREAL_PASS: 'wrong' });
    const h = await call(`${a.url}/health`);
    expect(h.status).toBe(503);
    expect(h.body.reason).toMatch(/credentials refused/);
    expect(a.lines.join('\n')).not.toContain('wrong');
  });
});
