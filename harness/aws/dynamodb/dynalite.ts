import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

/**
 * DynamoDB's data plane is dynalite (npm `dynalite`: DynamoDB's JSON API on LevelDB, in memory
 * unless given a path), run in this process on a loopback port, one instance per region the
 * clients sign for. The provider (provider.ts) forwards each parsed request to it unchanged and
 * turns its answers into the edge's outputs and AwsErrors.
 */

/** What dynalite answered: its status and its parsed JSON body (`{}` when it sent none). */
export interface EngineReply {
  status: number;
  body: any;
}

/** One region's tables. */
export interface DynamoDbEngine {
  readonly region: string;
  /** `operation` is DynamoDB's (`PutItem`); `input` is the request body as the client sent it */
  call(operation: string, input: unknown): Promise<EngineReply>;
}

/** The engines of every region, started on first use. */
export interface DynamoDbEngines {
  forRegion(region: string): Promise<DynamoDbEngine>;
}

export interface DynaliteOptions {
  /** how long a new table stays CREATING, in real ms (dynalite's default is 500) */
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  /** a LevelDB directory per region (kept on disk); in memory when absent */
  pathFor?: (region: string) => string;
}

interface DynaliteServer extends http.Server {}
type DynaliteFactory = (opts: Record<string, unknown>) => DynaliteServer;

let factory: DynaliteFactory | undefined;
/** dynalite (CommonJS) is loaded on first use: runs that never touch DynamoDB do not pay for it. */
function loadDynalite(): DynaliteFactory {
  factory ??= createRequire(import.meta.url)('dynalite') as DynaliteFactory;
  return factory;
}

const TARGET_PREFIX = 'DynamoDB_20120810';
const SERVER_KEEP_ALIVE_MS = 120_000;
const AGENT_IDLE_MS = 60_000;

/** One in-process dynalite listening on 127.0.0.1:<free port>. */
export class DynaliteEngine implements DynamoDbEngine {
  /** idle sockets are dropped before dynalite's server would close them (SERVER_KEEP_ALIVE_MS) */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32, timeout: AGENT_IDLE_MS });
  private constructor(
    readonly region: string,
    private readonly server: DynaliteServer,
    readonly port: number,
    /** real ms from loading dynalite to listening */
    readonly startMs: number,
  ) {}

  static async start(region: string, opts: DynaliteOptions = {}): Promise<DynaliteEngine> {
    const t0 = performance.now();
    const server = loadDynalite()({
      createTableMs: opts.createTableMs ?? 500,
      deleteTableMs: opts.deleteTableMs ?? 500,
      updateTableMs: opts.updateTableMs ?? 500,
      ...(opts.pathFor ? { path: opts.pathFor(region) } : {}),
    });
    server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new DynaliteEngine(region, server, port, performance.now() - t0);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async call(operation: string, input: unknown): Promise<EngineReply> {
    const body = JSON.stringify(input ?? {});
    try {
      return await this.post(operation, body);
    } catch (e) {
      // a kept-alive socket closed under us before dynalite read the request: once more on a new one
      if ((e as { reusedSocket?: boolean }).reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return this.post(operation, body);
      throw e;
    }
  }

  private post(operation: string, body: string): Promise<EngineReply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method: 'POST',
          path: '/',
          agent: this.agent,
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'content-length': Buffer.byteLength(body),
            'x-amz-target': `${TARGET_PREFIX}.${operation}`,
            // dynalite checks that a SigV4 header is present, never the signature
            authorization: `AWS4-HMAC-SHA256 Credential=harness/20200101/${this.region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
            'x-amz-date': '20200101T000000Z',
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: any = {};
            try {
              parsed = text.trim() ? JSON.parse(text) : {};
            } catch {
              parsed = { __type: 'InternalServerError', message: `dynalite answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}` };
            }
            resolve({ status: res.statusCode ?? 500, body: parsed });
          });
        },
      );
      req.on('error', (e) => reject(Object.assign(e, { reusedSocket: req.reusedSocket })));
      req.end(body);
    });
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** One dynalite per region, started the first time a request (or the seed) names the region. */
export class DynaliteEngines implements DynamoDbEngines {
  private readonly engines = new Map<string, Promise<DynaliteEngine>>();
  private stopped = false;

  constructor(private readonly opts: DynaliteOptions = {}) {}

  forRegion(region: string): Promise<DynaliteEngine> {
    if (this.stopped) return Promise.reject(new Error('DynamoDB engines are stopped'));
    let e = this.engines.get(region);
    if (!e) {
      e = DynaliteEngine.start(region, this.opts);
      e.catch(() => this.engines.delete(region));
      this.engines.set(region, e);
    }
    return e;
  }

  /** the regions started so far */
  regions(): string[] {
    return [...this.engines.keys()];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.engines.values()];
    this.engines.clear();
    await Promise.all(all.map((p) => p.then((e) => e.stop(), () => undefined)));
  }
}
