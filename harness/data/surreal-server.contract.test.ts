import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CborCodec, RecordId, Surreal, Table, createRemoteEngines, type LiveMessage } from 'surrealdb';
import { SurrealServer, startSurrealServer } from './surreal-server.ts';

// The official SDK (`surrealdb`, WebSocket engine over the network) drives the embedded
// server as it would drive `surreal start`.

const ROOT = { username: 'root', password: 'contract-root-pw' };
const codec = new CborCodec({});

function client(): Surreal {
  return new Surreal({ engines: createRemoteEngines(), websocketImpl: WebSocket as unknown as typeof globalThis.WebSocket });
}

async function connected(server: SurrealServer, ns = 'app', db = 'main'): Promise<Surreal> {
  const c = client();
  await c.connect(`${server.url.replace(/^http/, 'ws')}/rpc`, { namespace: ns, database: db, authentication: ROOT, reconnect: false });
  return c;
}

/** A raw WebSocket speaking CBOR, for what the SDK will not send. */
async function rawSocket(server: SurrealServer): Promise<{ ws: WebSocket; next: () => Promise<any>; send: (b: Uint8Array) => void }> {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/rpc`, 'cbor');
  const queue: any[] = [];
  const waiters: ((v: any) => void)[] = [];
  ws.on('message', (data: Buffer) => {
    const v = codec.decode(new Uint8Array(data));
    const w = waiters.shift();
    if (w) w(v);
    else queue.push(v);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    send: (b) => ws.send(b),
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r))),
  };
}

describe('embedded SurrealDB server (official SDK over the network)', () => {
  let server: SurrealServer;
  const open: Surreal[] = [];
  const track = (c: Surreal) => (open.push(c), c);

  beforeAll(async () => {
    server = await startSurrealServer({ credentials: ROOT });
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => {})));
    await server?.close();
  });

  it('answers queries: create, select, update, typed values round-trip', async () => {
    const db = track(await connected(server));
    expect((await db.version()).version).toMatch(/^surrealdb-3\./);
    const [created] = await db.query<[{ id: RecordId; name: string }[]]>('CREATE asset:one SET name = $name, at = d"2026-01-02T03:04:05Z"', { name: 'first' });
    expect(created[0]!.id).toBeInstanceOf(RecordId);
    expect(String(created[0]!.id)).toBe('asset:one');
    const row = await db.select<{ name: string; at: unknown }>(new RecordId('asset', 'one'));
    expect(row?.name).toBe('first');
    expect(String(row?.at)).toContain('2026-01-02T03:04:05');
    await db.query('UPDATE asset:one SET name = "renamed"');
    const [[again]] = await db.query<[{ name: string }[]]>('SELECT name FROM asset:one');
    expect(again!.name).toBe('renamed');
    const [err] = await db.query('RETURN 1').collect().then(
      (r) => r,
      (e) => [e],
    );
    expect(err).toBe(1);
    await expect(db.query('SELEC nonsense FROM').collect()).rejects.toThrow(/parse|expected|unexpected/i);
  });

  it('runs transactions: a cancelled one leaves nothing, a committed one everything', async () => {
    const db = track(await connected(server));
    const t1 = await db.beginTransaction();
    await t1.query('CREATE txn:cancelled SET v = 1');
    await t1.cancel();
    const t2 = await db.beginTransaction();
    await t2.query('CREATE txn:a SET v = 1; CREATE txn:b SET v = 2');
    await t2.commit();
    const [rows] = await db.query<[{ id: RecordId }[]]>('SELECT id FROM txn ORDER BY id');
    expect(rows.map((r) => String(r.id))).toEqual(['txn:a', 'txn:b']);
    // a failing statement inside BEGIN … COMMIT rolls the whole block back
    const res = await db.query('BEGIN; CREATE txn:c; CREATE txn:a; COMMIT;').collect().catch((e: Error) => e);
    expect(res).toBeInstanceOf(Error);
    const [after] = await db.query<[{ id: RecordId }[]]>('SELECT id FROM txn ORDER BY id');
    expect(after.map((r) => String(r.id))).toEqual(['txn:a', 'txn:b']);
  });

  it('delivers live-query notifications to the connection that asked, for writes from another', async () => {
    const watcher = track(await connected(server));
    const writer = track(await connected(server));
    const bystander = track(await connected(server));
    await writer.query('DEFINE TABLE feed SCHEMALESS');
    const sub = await watcher.live(new Table('feed'));
    const got: LiveMessage[] = [];
    const two = new Promise<void>((resolve) => {
      sub.subscribe((m) => {
        got.push(m);
        if (got.length === 2) resolve();
      });
    });
    await writer.query('CREATE feed:1 SET n = 1');
    await writer.query('UPDATE feed:1 SET n = 2');
    await two;
    expect(got.map((m) => m.action)).toEqual(['CREATE', 'UPDATE']);
    expect(String(got[1]!.recordId)).toBe('feed:1');
    expect((got[1]!.value as { n: number }).n).toBe(2);
    await sub.kill();
    expect(server.stats.notifications).toBeGreaterThanOrEqual(2);
    // the bystander never started a live query: it got no frames for it
    expect((await bystander.query<[number]>('RETURN 7'))[0]).toBe(7);
  });

  it('keeps two concurrent connections apart: USE and variables are per connection', async () => {
    const a = track(await connected(server, 'tenant_a', 'one'));
    const b = track(await connected(server, 'tenant_b', 'two'));
    await a.set('secret', 'only-a');
    await Promise.all([a.query('CREATE note:x SET by = "a"'), b.query('CREATE note:x SET by = "b"')]);
    const [nsA, varA, noteA] = await a.query<[string, string, { by: string }[]]>('RETURN session::ns(); RETURN $secret; SELECT by FROM note:x');
    const [nsB, varB, noteB] = await b.query<[string, unknown, { by: string }[]]>('RETURN session::ns(); RETURN $secret; SELECT by FROM note:x');
    expect([nsA, varA, noteA[0]!.by]).toEqual(['tenant_a', 'only-a', 'a']);
    expect([nsB, varB ?? null, noteB[0]!.by]).toEqual(['tenant_b', null, 'b']);
    await b.use({ namespace: 'tenant_c', database: 'three' });
    expect((await a.query<[string]>('RETURN session::ns()'))[0]).toBe('tenant_a');

    // a new session on one connection starts anonymous, with its own USE and variables
    const forked = await a.newSession();
    await expect(forked.query('RETURN 1').collect()).rejects.toThrow(/permission/i);
    await forked.signin(ROOT);
    await forked.use({ namespace: 'tenant_f', database: 'four' });
    expect((await forked.query<[string, unknown]>('RETURN session::ns(); RETURN $secret'))).toEqual(['tenant_f', undefined]);
    expect((await a.query<[string]>('RETURN session::ns()'))[0]).toBe('tenant_a');
    await forked.closeSession();
  });

  it('refuses a wrong password, and anonymous queries', async () => {
    const bad = track(client());
    await expect(
      bad.connect(`${server.url.replace(/^http/, 'ws')}/rpc`, { namespace: 'app', database: 'main', authentication: { username: 'root', password: 'wrong' }, reconnect: false }),
    ).rejects.toThrow(/authentication/i);

    const anon = track(client());
    await anon.connect(`${server.url.replace(/^http/, 'ws')}/rpc`, { namespace: 'app', database: 'main', reconnect: false });
    await expect(anon.query('SELECT * FROM asset').collect()).rejects.toThrow(/permission/i);
    await expect(anon.query('INFO FOR ROOT').collect()).rejects.toThrow(/permission/i);
    await anon.signin(ROOT);
    expect((await anon.query<[number]>('RETURN 1'))[0]).toBe(1);
    await anon.invalidate();
    await expect(anon.query('RETURN 1').collect()).rejects.toThrow(/permission/i);
  });

  it('answers a malformed frame with an error and keeps serving the connection', async () => {
    const raw = await rawSocket(server);
    raw.send(new Uint8Array([0xff, 0x13, 0x37]));
    const e1 = await raw.next();
    expect(e1.id).toBeNull();
    expect(e1.error.code).toBe(-32700);
    raw.send(codec.encode([1, 2, 3])); // valid CBOR, not an RPC frame
    expect((await raw.next()).error.code).toBe(-32700);
    raw.send(codec.encode({ id: 'x1', params: [] })); // no method
    expect((await raw.next())).toMatchObject({ id: 'x1', error: { code: -32600 } });
    raw.ws.send('{"id":"j","method":"ping"}'); // a text frame
    expect((await raw.next()).error.code).toBe(-32700);
    raw.send(codec.encode({ id: 'v1', method: 'version' }));
    expect(await raw.next()).toEqual({ id: 'v1', result: expect.stringMatching(/^surrealdb-/) });
    // another connection's session ids mean nothing here
    raw.send(codec.encode({ id: 'q1', method: 'query', params: ['RETURN 1'], session: '00000000-0000-4000-8000-000000000001' }));
    expect((await raw.next()).error.message).toMatch(/Session not found/);
    raw.send(codec.encode({ id: 'd1', method: 'detach' })); // the connection's own session cannot be detached
    expect((await raw.next())).toMatchObject({ id: 'd1', error: { code: -32602 } });
    raw.send(codec.encode({ id: 'v2', method: 'version' }));
    expect((await raw.next()).result).toMatch(/^surrealdb-/);
    raw.ws.close();
    const db = track(await connected(server));
    expect((await db.query<[number]>('RETURN 2'))[0]).toBe(2);
    expect(server.stats.malformedFrames).toBeGreaterThanOrEqual(4);
  });

  it('serves /health, /status, /version and /sql as surreal start does', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/status`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/version`)).text()).toMatch(/^surrealdb-3\./);
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    const sql = (body: string, headers: Record<string, string>, q = '') =>
      fetch(`${server.url}/sql${q}`, { method: 'POST', headers: { accept: 'application/json', ...headers }, body });
    const ok = await sql('CREATE http:1 SET v = $v; SELECT * FROM http', { 'surreal-ns': 'web', 'surreal-db': 'main', authorization: basic(ROOT.username, ROOT.password) }, '?v=hello');
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { status: string; result: unknown }[];
    expect(body.map((r) => r.status)).toEqual(['OK', 'OK']);
    expect(body[1]!.result).toEqual([{ id: 'http:1', v: 'hello' }]);
    // legacy NS/DB headers
    const legacy = await sql('SELECT v FROM http:1', { ns: 'web', db: 'main', authorization: basic(ROOT.username, ROOT.password) });
    expect(((await legacy.json()) as any)[0].result).toEqual([{ v: 'hello' }]);
    const wrong = await sql('RETURN 1', { authorization: basic(ROOT.username, 'nope') });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as any).information).toMatch(/authentication/);
    expect((await sql('RETURN 1', {})).status).toBe(403);
    expect((await fetch(`${server.url}/nothing`)).status).toBe(404);
  });

  it('serves the same data after stop/start (an outage), and a surrealkv store outlives the server', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'surreal-kv-'));
    const storage = { kind: 'surrealkv' as const, path: path.join(dir, 'data') };
    try {
      const disk = await startSurrealServer({ credentials: ROOT, storage });
      const port = disk.address!.port;
      const c1 = await connected(disk);
      await c1.query('CREATE keep:1 SET v = "durable"');
      await c1.close();
      await disk.stop();
      expect(await fetch(`${disk.url}/health`).then(() => 'answered', () => 'refused')).toBe('refused');
      await disk.start();
      expect(disk.address!.port).toBe(port);
      const c2 = await connected(disk);
      expect((await c2.query<[{ v: string }[]]>('SELECT v FROM keep:1'))[0][0]!.v).toBe('durable');
      await c2.close();
      await disk.close();

      // a new server (a new process would do the same) opens the same files
      const again = await startSurrealServer({ credentials: ROOT, storage });
      const c3 = await connected(again);
      expect((await c3.query<[{ v: string }[]]>('SELECT v FROM keep:1'))[0][0]!.v).toBe('durable');
      await c3.close();
      await again.close();
    } finally {
      // the engine's background writer may still be finishing a manifest file as close() returns
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
});
