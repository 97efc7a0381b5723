import http from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { CborCodec, Uuid, jsonify, escapeIdent } from 'surrealdb';
import { loadNativeEngine, type NativeEngine } from './engine.ts';
import { readBody } from '../http-body.ts';
import {
  CBOR_NULL,
  CborFrameError,
  cborMap,
  cborText,
  cborUuid,
  engineErrorRange,
  readText,
  readUuid,
  splitTopMap,
  type Range,
} from './cbor-frame.ts';

/**
 * An embedded SurrealDB server: the real engine (`@surrealdb/node`) behind SurrealDB's own
 * network protocol, so the official SDK and any service talk to it as to `surreal start`:
 *
 * - `GET /rpc` upgraded to WebSocket (subprotocol `cbor`, as the SDK asks for): CBOR RPC frames
 *   `{id, method, params, session?, txn?}` → `{id, result}` | `{id, error}`; live-query
 *   notifications `{result: {id, action, record, result}}` go to the connection that started them.
 * - `POST /rpc` (CBOR, the SDK's HTTP engine), `POST /sql` (SurrealQL text, `Surreal-NS`/`NS`,
 *   `Surreal-DB`/`DB`, Basic or Bearer auth, URL query parameters as variables, JSON answer),
 *   `GET /health`, `/status`, `/version`.
 *
 * Sessions: every connection gets its own engine session (namespace, database, auth,
 * variables), and sessions a client attaches are mapped to fresh engine sessions of that
 * connection only, so nothing one connection does is visible to another. The engine itself
 * runs without authentication, so this layer enforces what `surreal start --user --pass` does:
 * only `signin`/`authenticate` (checked by the engine against the root user defined from the
 * credentials) unlock a session; before that, only the handshake methods are allowed.
 */

export const SURREAL_ENGINE_VERSION_FALLBACK = 'surrealdb-3.0.2';

export type SurrealStorage =
  | { kind: 'memory' }
  /** the engine's own on-disk stores; `path` is a directory the engine owns */
  | { kind: 'surrealkv' | 'rocksdb'; path: string };

export interface SurrealCredentials {
  username: string;
  password: string;
}

export interface SurrealServerOptions {
  /** listen address, default 127.0.0.1 */
  host?: string;
  /** default 0 (a free port); the topology uses 4000 */
  port?: number;
  credentials: SurrealCredentials;
  storage?: SurrealStorage;
  log?: (line: string) => void;
  /** the harness event log (timeline): surrealdb.started / surrealdb.stopped */
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
  /**
   * Called once per WebSocket RPC frame with where its time went (for the benchmark): from the
   * frame's arrival to its reply being handed to the socket, and the part of that spent in the
   * engine call. Frames of one connection are measured as they are served one after another.
   */
  onFrameTiming?: (t: { method: string; totalNs: number; engineNs: number }) => void;
}

export interface SurrealServerStats {
  connections: number;
  rpcFrames: number;
  malformedFrames: number;
  httpRequests: number;
  notifications: number;
}

/** Methods an unauthenticated session may call (connection set-up and sign-in). */
const ANONYMOUS_METHODS = new Set(['ping', 'version', 'health', 'info', 'use', 'signin', 'signup', 'authenticate', 'invalidate', 'reset', 'let', 'unset', 'attach', 'detach', 'sessions']);
/** Methods that change session state: later frames of the connection wait for them. */
const BARRIER_METHODS = new Set(['use', 'signin', 'signup', 'authenticate', 'invalidate', 'reset', 'let', 'unset', 'attach', 'detach']);

const codec = new CborCodec({});
/** the largest /sql or /rpc body the HTTP endpoints read (a bigger one drops the connection) */
const MAX_BODY = 64 * 1024 * 1024;

function rpcError(code: number, kind: string, message: string, details?: Record<string, unknown>): Uint8Array {
  return codec.encode({ code, kind, message, ...(details ? { details } : {}) });
}

const ERR_NOT_ALLOWED = rpcError(-32002, 'NotAllowed', 'Not enough permissions to perform this action', { kind: 'Auth', details: { kind: 'NotAllowed' } });

/** One RPC client: a WebSocket connection, or one HTTP request. */
class RpcConnection {
  /** client session id → engine session id */
  readonly sessions = new Map<string, string>();
  readonly defaultSession = randomUUID();
  /** engine sessions that signed in */
  readonly authed = new Set<string>();
  readonly lives = new Set<string>();
  private barrier: Promise<unknown>;
  closed = false;
  /** with timing on: the last frame's engine call (ns) and method */
  lastEngineNs = 0;
  lastMethod = '';

  constructor(
    private readonly server: SurrealServer,
    readonly push: (frame: Uint8Array) => void,
  ) {
    this.barrier = server.engineCall(cborMap([['method', cborText('attach')], ['session', cborUuid(this.defaultSession)]]));
  }

  /** Handles one request frame; resolves to the response frame (never rejects). */
  handle(frame: Uint8Array): Promise<Uint8Array> {
    let entries: Map<string, Range>;
    try {
      entries = splitTopMap(frame);
    } catch (e) {
      this.server.stats.malformedFrames++;
      return Promise.resolve(reply(undefined, rpcError(-32700, 'Validation', `Parse error: ${(e as Error).message}`, { kind: 'Parse' }), true));
    }
    const idRange = entries.get('id');
    const id = idRange ? frame.subarray(idRange[0], idRange[1]) : undefined;
    const method = readText(frame, entries.get('method'));
    if (!method) {
      this.server.stats.malformedFrames++;
      return Promise.resolve(reply(id, rpcError(-32600, 'Validation', 'Invalid request: the frame has no method', { kind: 'InvalidRequest' }), true));
    }
    const run = () => this.dispatch(frame, entries, id, method);
    if (BARRIER_METHODS.has(method)) {
      const p = this.barrier.then(run, run);
      this.barrier = p;
      return p;
    }
    return this.barrier.then(run, run);
  }

  private async dispatch(frame: Uint8Array, entries: Map<string, Range>, id: Uint8Array | undefined, method: string): Promise<Uint8Array> {
    const sessionRange = entries.get('session');
    const clientSession = sessionRange ? readUuid(frame, sessionRange) : undefined;
    if (sessionRange && !clientSession && frame[sessionRange[0]] !== 0xf6 && !(frame[sessionRange[0]] === 0xc6 && frame[sessionRange[0] + 1] === 0xf6)) {
      return reply(id, rpcError(-32602, 'Validation', 'Invalid params: session must be a UUID', { kind: 'InvalidParams' }), true);
    }
    if (method === 'sessions') {
      return reply(id, codec.encode([...this.sessions.keys()].map((s) => new Uuid(s))), false);
    }
    let engineSession: string;
    let attached = false;
    if ((method === 'attach' || method === 'detach') && !clientSession) {
      return reply(id, rpcError(-32602, 'Validation', `Invalid params: ${method} needs a session`, { kind: 'InvalidParams' }), true);
    }
    if (method === 'attach') {
      const known = this.sessions.get(clientSession!);
      engineSession = known ?? randomUUID();
      attached = !known;
      this.sessions.set(clientSession!, engineSession);
    } else if (clientSession) {
      const mapped = this.sessions.get(clientSession);
      if (!mapped) {
        return reply(id, rpcError(-32000, 'NotFound', `Session not found: ${clientSession}`, { kind: 'Session', details: { id: clientSession } }), true);
      }
      engineSession = mapped;
    } else {
      engineSession = this.defaultSession;
    }
    if (!this.authed.has(engineSession) && !ANONYMOUS_METHODS.has(method)) {
      return reply(id, ERR_NOT_ALLOWED, true);
    }

    const parts: [string, Uint8Array][] = [];
    for (const [k, r] of entries) if (k !== 'session') parts.push([k, frame.subarray(r[0], r[1])]);
    parts.push(['session', cborUuid(engineSession)]);
    let out: Uint8Array;
    try {
      const t0 = this.server.timing ? process.hrtime.bigint() : 0n;
      out = await this.server.engineCall(cborMap(parts));
      if (this.server.timing) {
        this.lastEngineNs = Number(process.hrtime.bigint() - t0);
        this.lastMethod = method;
      }
    } catch (e) {
      return reply(id, rpcError(-32000, 'Internal', `There was a problem with the database: ${(e as Error).message}`), true);
    }
    const err = engineErrorRange(out);
    if (err) {
      if (attached) this.sessions.delete(clientSession!);
      return reply(id, out.subarray(err[0], err[1]), true);
    }

    switch (method) {
      case 'signin':
      case 'signup':
      case 'authenticate':
        this.authed.add(engineSession);
        break;
      case 'invalidate':
      case 'reset':
        this.authed.delete(engineSession);
        break;
      case 'detach':
        if (clientSession) this.sessions.delete(clientSession);
        this.authed.delete(engineSession);
        break;
      case 'live':
        this.trackLive(codec.decode(out));
        break;
      case 'kill':
        break;
      case 'query':
        if (/live/i.test(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('latin1'))) {
          const results = codec.decode(out) as { type?: string; result?: unknown }[];
          if (Array.isArray(results)) for (const r of results) if (r?.type === 'live') this.trackLive(r.result);
        }
        break;
    }
    return reply(id, out, false);
  }

  private trackLive(v: unknown): void {
    if (v instanceof Uuid) {
      const s = v.toString();
      this.lives.add(s);
      this.server.liveOwners.set(s, this);
    }
  }

  /** Detaches every engine session of this connection (which kills its live queries). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.lives) this.server.liveOwners.delete(l);
    await this.barrier.catch(() => {});
    const all = [this.defaultSession, ...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => this.server.engineCall(cborMap([['method', cborText('detach')], ['session', cborUuid(s)]])).catch(() => {})));
  }
}

function reply(id: Uint8Array | undefined, payload: Uint8Array, isError: boolean): Uint8Array {
  return cborMap([['id', id ?? CBOR_NULL], [isError ? 'error' : 'result', payload]]);
}

/**
 * The server. `start()` opens the engine (provisioning the root user) and listens.
 * `stop()` is an outage: the port stops answering and every connection (with its sessions and
 * live queries) is dropped, but the datastore stays open, so `start()` serves the same data
 * again on the same port — with memory storage too (unlike restarting `surreal start memory`).
 * `close()` also closes the datastore; an on-disk store then reopens in a new server.
 */
export class SurrealServer {
  readonly stats: SurrealServerStats = { connections: 0, rpcFrames: 0, malformedFrames: 0, httpRequests: 0, notifications: 0 };
  /** live query id → the connection that started it */
  readonly liveOwners = new Map<string, RpcConnection>();
  private engine?: NativeEngine;
  private readonly inflight = new Set<Promise<Uint8Array>>();
  private engineVersion = SURREAL_ENGINE_VERSION_FALLBACK;
  private http?: http.Server;
  private wss?: WebSocketServer;
  private readonly connections = new Set<RpcConnection>();
  private readonly sockets = new Set<net.Socket>();
  private bound?: { host: string; port: number };
  private readonly wantedPort: number;
  private readonly host: string;
  private readonly log: (line: string) => void;

  /** true when the options ask for per-frame timings */
  readonly timing: boolean;

  constructor(private readonly opts: SurrealServerOptions) {
    this.timing = !!opts.onFrameTiming;
    this.host = opts.host ?? '127.0.0.1';
    this.wantedPort = opts.port ?? 0;
    this.log = opts.log ?? (() => {});
  }

  get running(): boolean {
    return this.http !== undefined;
  }

  /** `http://host:port` while running (the port stays the same across stop/start). */
  get url(): string {
    if (!this.bound) throw new Error('the SurrealDB server has not been started');
    return `http://${this.bound.host}:${this.bound.port}`;
  }

  get address(): { host: string; port: number } | undefined {
    return this.bound;
  }

  get storage(): SurrealStorage {
    return this.opts.storage ?? { kind: 'memory' };
  }

  engineCall(frame: Uint8Array): Promise<Uint8Array> {
    const e = this.engine;
    if (!e) return Promise.reject(new Error('the datastore is closed'));
    // freeing the engine under a call in flight panics the native runtime: closeEngine waits for these
    const p = e.execute(frame);
    this.inflight.add(p);
    const done = () => void this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  async start(): Promise<{ url: string; host: string; port: number }> {
    if (this.http) return { url: this.url, ...this.bound! };
    if (!this.engine) await this.openEngine();
    const server = http.createServer((req, res) => void this.onHttp(req, res));
    server.keepAliveTimeout = 5000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 64 * 1024 * 1024,
      handleProtocols: (protocols) => (protocols.has('cbor') ? 'cbor' : false),
    });
    server.on('upgrade', (req, socket, head) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path !== '/rpc') {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.onWebSocket(ws));
    });
    const port = this.bound?.port ?? this.wantedPort;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await this.closeEngine();
      throw new Error(`SurrealDB: cannot listen on ${this.host}:${port}: ${(e as Error).message}`);
    }
    const addr = server.address() as net.AddressInfo;
    this.bound = { host: this.host, port: addr.port };
    this.http = server;
    this.wss = wss;
    this.log(`surrealdb ${this.engineVersion} listening on ${this.url} (storage ${describeStorage(this.storage)})`);
    this.opts.events?.append('surrealdb.started', { url: this.url, storage: describeStorage(this.storage), version: this.engineVersion });
    return { url: this.url, ...this.bound };
  }

  /** Stops serving: every connection is dropped; the datastore stays open (see the class comment). */
  async stop(): Promise<void> {
    const server = this.http;
    if (!server) return;
    this.http = undefined;
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    this.wss?.close();
    this.wss = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
    await Promise.all([...this.connections].map((c) => c.close()));
    this.connections.clear();
    this.liveOwners.clear();
    this.log(`surrealdb stopped (${this.bound ? `${this.bound.host}:${this.bound.port}` : ''})`);
    this.opts.events?.append('surrealdb.stopped', { url: this.bound ? this.url : undefined });
  }

  /** Stops serving and closes the datastore (on disk: everything is flushed, the lock released). */
  async close(): Promise<void> {
    await this.stop();
    await this.closeEngine();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Runs SurrealQL as root inside the server, through the same session and auth path as a
   * client but without the network (an operator on the database host). Answers the
   * statements' results as `/sql` renders them. Works while stopped (the datastore stays open).
   */
  async sql(query: string, opts: { namespace?: string; database?: string; vars?: Record<string, unknown> } = {}): Promise<{ status: string; result?: unknown; time: string }[]> {
    const conn = new RpcConnection(this, () => {});
    const call = async (method: string, params: unknown[]) => {
      const out = codec.decode(await conn.handle(codec.encode({ id: 'operator', method, params }))) as { result?: unknown; error?: { message?: string } };
      if (out.error) throw new Error(`SurrealDB ${method}: ${out.error.message}`);
      return out.result;
    };
    try {
      await call('signin', [{ user: this.opts.credentials.username, pass: this.opts.credentials.password }]);
      if (opts.namespace || opts.database) await call('use', [opts.namespace, opts.database]);
      return jsonify(await call('query', [query, opts.vars ?? {}])) as { status: string; result?: unknown; time: string }[];
    } finally {
      await conn.close();
    }
  }

  // ------------------------------------------------------------------ engine

  private engineUrl(): string {
    const s = this.storage;
    if (s.kind === 'memory') return 'mem://';
    return `${s.kind}://${s.path}`;
  }

  private async openEngine(): Promise<void> {
    const Engine = loadNativeEngine();
    try {
      this.engineVersion = `surrealdb-${(await Engine.version()).replace(/^surrealdb-/, '')}`;
    } catch {
      /* keep the fallback */
    }
    // An on-disk store is locked until the previous engine's native handles are dropped
    // (asynchronously, after free()): retry for a while.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        this.engine = await Engine.connect(this.engineUrl(), { capabilities: { live_query_notifications: true } });
        break;
      } catch (e) {
        if (this.storage.kind === 'memory' || Date.now() > deadline || !/lock/i.test((e as Error).message)) {
          throw new Error(`SurrealDB: cannot open the datastore ${this.engineUrl()}: ${(e as Error).message}`);
        }
        collectGarbage(); // the previous engine's handles are dropped when their JS objects are collected
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    void this.pumpNotifications(this.engine);
    await this.provisionRoot();
  }

  private async closeEngine(): Promise<void> {
    const e = this.engine;
    this.engine = undefined; // new calls are refused from here on
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
    e?.free();
  }

  /** DEFINE USER … ON ROOT from the credentials (OVERWRITE: a reopened store takes a new password). */
  private async provisionRoot(): Promise<void> {
    const { username, password } = this.opts.credentials;
    if (!username || !password) throw new Error('SurrealDB: root credentials need a username and a password');
    const admin = randomUUID();
    const call = (method: string, params?: unknown[]) =>
      this.engineCall(codec.encode({ id: 'provision', method, ...(params ? { params } : {}), session: new Uuid(admin) })).then((b) => {
        const err = engineErrorRange(b);
        if (err) throw new Error(String((codec.decode(b.subarray(err[0], err[1])) as { message?: string }).message));
        return codec.decode(b) as unknown;
      });
    await call('attach');
    try {
      const res = (await call('query', [`DEFINE USER OVERWRITE ${escapeIdent(username)} ON ROOT PASSWORD ${JSON.stringify(password)} ROLES OWNER`])) as { status: string; result?: unknown }[];
      const failed = res.find((r) => r.status !== 'OK');
      if (failed) throw new Error(`cannot define the root user: ${String(failed.result)}`);
    } finally {
      await call('detach').catch(() => {});
    }
  }

  private async pumpNotifications(engine: NativeEngine): Promise<void> {
    let rx;
    try {
      rx = await engine.notifications();
    } catch (e) {
      this.log(`surrealdb: no live-query notifications: ${(e as Error).message}`);
      return;
    }
    for (;;) {
      let v: Uint8Array | null;
      try {
        v = await rx.recv();
      } catch {
        return;
      }
      if (v === null) return;
      try {
        const entries = splitTopMap(v);
        const liveId = readUuid(v, entries.get('id'));
        const owner = liveId ? this.liveOwners.get(liveId) : undefined;
        if (!owner || owner.closed) continue;
        if (readText(v, entries.get('action')) === 'KILLED') {
          this.liveOwners.delete(liveId!);
          owner.lives.delete(liveId!);
        }
        this.stats.notifications++;
        owner.push(cborMap([['result', v]]));
      } catch (e) {
        this.log(`surrealdb: dropped a notification: ${(e as Error).message}`);
      }
    }
  }

  // ------------------------------------------------------------------ WebSocket RPC

  private onWebSocket(ws: WebSocket): void {
    this.stats.connections++;
    if (ws.protocol !== 'cbor') {
      // `surreal start` would speak JSON here; this server carries CBOR frames only
      ws.close(1002, 'this server speaks the cbor subprotocol only');
      return;
    }
    const conn = new RpcConnection(this, (frame) => {
      if (ws.readyState === ws.OPEN) ws.send(frame);
    });
    this.connections.add(conn);
    ws.on('message', (data, isBinary) => {
      this.stats.rpcFrames++;
      if (!isBinary) {
        this.stats.malformedFrames++;
        ws.send(reply(undefined, rpcError(-32700, 'Validation', 'Parse error: a text frame is not a CBOR RPC frame', { kind: 'Parse' }), true));
        return;
      }
      const t0 = this.timing ? process.hrtime.bigint() : 0n;
      const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      void conn.handle(frame).then((out) => {
        if (ws.readyState === ws.OPEN) ws.send(out);
        if (this.timing) {
          this.opts.onFrameTiming!({ method: conn.lastMethod, totalNs: Number(process.hrtime.bigint() - t0), engineNs: conn.lastEngineNs });
          conn.lastEngineNs = 0;
          conn.lastMethod = '';
        }
      });
    });
    ws.on('close', () => {
      this.connections.delete(conn);
      void conn.close();
    });
    ws.on('error', () => {});
  }

  // ------------------------------------------------------------------ HTTP

  private async onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.stats.httpRequests++;
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: string | Uint8Array, type = 'application/json') => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    try {
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /health':
        case 'HEAD /health':
          if (!this.engine) return send(500, '', 'text/plain');
          await this.engineCall(codec.encode({ id: 'h', method: 'version' }));
          return send(200, '', 'text/plain');
        case 'GET /status':
        case 'HEAD /status':
          return send(200, '', 'text/plain');
        case 'GET /version':
          return send(200, this.engineVersion, 'text/plain; charset=utf-8');
        case 'POST /sql':
          return await this.onSql(req, url, send);
        case 'POST /rpc':
          return await this.onHttpRpc(req, send);
        default:
          if (['/sql', '/rpc', '/health', '/status', '/version'].includes(url.pathname)) {
            res.setHeader('allow', url.pathname === '/sql' ? 'POST' : url.pathname === '/rpc' ? 'GET, POST' : 'GET');
            return send(405, httpError(405, 'Method Not Allowed', 'The requested method is not allowed on this endpoint'));
          }
          return send(404, httpError(404, 'Requested resource not found', 'The requested resource does not exist. Check that you have entered the url correctly.'));
      }
    } catch (e) {
      send(500, httpError(500, 'Internal server error', 'There was a problem with our servers, and we have been notified', (e as Error).message));
    }
  }

  /** A one-request connection with the HTTP request's auth and NS/DB applied. */
  private async httpSession(req: http.IncomingMessage): Promise<{ conn: RpcConnection; ok: true } | { ok: false; status: number; body: string }> {
    const conn = new RpcConnection(this, () => {});
    const call = async (method: string, params?: unknown[]) => {
      const out = codec.decode(await conn.handle(codec.encode({ id: 'http', method, ...(params ? { params } : {}) }))) as { result?: unknown; error?: { message?: string } };
      return out;
    };
    const header = (...names: string[]) => {
      for (const n of names) {
        const v = req.headers[n];
        if (typeof v === 'string' && v) return v;
      }
      return undefined;
    };
    const ns = header('surreal-ns', 'ns');
    const db = header('surreal-db', 'db');
    const auth = header('authorization');
    const fail = async (status: number, body: string) => {
      await conn.close();
      return { ok: false as const, status, body };
    };
    if (auth?.toLowerCase().startsWith('basic ')) {
      const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = i >= 0 ? decoded.slice(0, i) : decoded;
      const pass = i >= 0 ? decoded.slice(i + 1) : '';
      const attempts: Record<string, string>[] = [{ user, pass }];
      if (ns) attempts.push({ ns, user, pass });
      if (ns && db) attempts.push({ ns, db, user, pass });
      let signedIn = false;
      for (const a of attempts) {
        if (!(await call('signin', [a])).error) {
          signedIn = true;
          break;
        }
      }
      if (!signedIn) return fail(401, AUTH_FAILED);
    } else if (auth?.toLowerCase().startsWith('bearer ')) {
      if ((await call('authenticate', [auth.slice(7).trim()])).error) return fail(401, AUTH_FAILED);
    }
    if (ns || db) {
      const r = await call('use', [ns, db]);
      if (r.error) return fail(400, httpError(400, 'Request problems detected', 'There is a problem with your request. Refer to the documentation for further information.', r.error.message));
    }
    return { ok: true, conn };
  }

  private async onSql(req: http.IncomingMessage, url: URL, send: (status: number, body: string | Uint8Array, type?: string) => void): Promise<void> {
    const body = (await readBody(req, MAX_BODY, 'destroy')).toString('utf8');
    const s = await this.httpSession(req);
    if (!s.ok) return send(s.status, s.body);
    try {
      if (!s.conn.authed.has(s.conn.defaultSession)) return send(403, FORBIDDEN);
      const vars: Record<string, string> = {};
      for (const [k, v] of url.searchParams) vars[k] = v;
      const out = codec.decode(await s.conn.handle(codec.encode({ id: 'sql', method: 'query', params: [body, vars] }))) as { result?: unknown; error?: { message?: string } };
      if (out.error) {
        return send(400, httpError(400, 'Request problems detected', 'There is a problem with your request. Refer to the documentation for further information.', out.error.message));
      }
      if ((req.headers.accept ?? '').includes('application/cbor')) return send(200, codec.encode(out.result), 'application/cbor');
      return send(200, JSON.stringify(jsonify(out.result)));
    } finally {
      await s.conn.close();
    }
  }

  private async onHttpRpc(req: http.IncomingMessage, send: (status: number, body: string | Uint8Array, type?: string) => void): Promise<void> {
    const body = await readBody(req, MAX_BODY, 'destroy');
    const s = await this.httpSession(req);
    if (!s.ok) return send(s.status, s.body);
    try {
      this.stats.rpcFrames++;
      return send(200, await s.conn.handle(body), 'application/cbor');
    } finally {
      await s.conn.close();
    }
  }
}

const AUTH_FAILED = httpError(401, 'Authentication failed', 'Your authentication details are invalid. Reauthenticate using valid authentication parameters.', 'There was a problem with authentication');
const FORBIDDEN = httpError(403, 'Forbidden', 'Not allowed to do this.', 'Not enough permissions to perform this action: sign in (Basic or Bearer authorization)');

function httpError(code: number, details: string, description: string, information?: string): string {
  return JSON.stringify({ code, details, description, ...(information ? { information } : {}) });
}

/** A full GC, so native handles of a freed engine (and its on-disk lock) are released now. */
function collectGarbage(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}

export function describeStorage(s: SurrealStorage): string {
  return s.kind === 'memory' ? 'memory' : `${s.kind}://${s.path}`;
}

/** Starts a server and resolves once it listens. */
export async function startSurrealServer(opts: SurrealServerOptions): Promise<SurrealServer> {
  const s = new SurrealServer(opts);
  await s.start();
  return s;
}

export { CborFrameError };
