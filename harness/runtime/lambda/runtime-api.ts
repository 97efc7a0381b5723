import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * One environment's Lambda Runtime API (2018-06-01), on 127.0.0.1 and a free port: the process
 * inside the environment long-polls `invocation/next`, posts `invocation/{id}/response` or
 * `invocation/{id}/error`, or `init/error` when it cannot start. One server per environment
 * (it costs well under a millisecond to open; see bench/lambda-runtime.bench.ts) keeps routing
 * trivial and one environment's runtime unable to answer another's request.
 */

/** What Lambda hands the runtime for one invocation. */
export interface RuntimeInvocation {
  requestId: string;
  payload: Buffer;
  deadlineMs: number;
  invokedFunctionArn: string;
  traceId: string;
  /** the client context as JSON text (decoded from the Invoke's base64) */
  clientContext?: string;
}

export type RuntimeResult =
  | { kind: 'response'; body: Buffer }
  /** what the runtime posted to invocation/{id}/error (its JSON body, passed on as the payload) */
  | { kind: 'error'; body: Buffer; errorType: string }
  /** the response was larger than Lambda's 6 MB synchronous limit */
  | { kind: 'too-large'; size: number };

export interface RuntimeApiListener {
  /** the runtime asked for its first invocation (init is done) */
  onReady(): void;
  onInitError(body: Buffer, errorType: string): void;
  onResult(requestId: string, result: RuntimeResult): void;
}

/** Lambda's limit for a synchronous response payload (bytes). */
export const MAX_RESPONSE_BYTES = 6_291_556;
const BASE = '/2018-06-01/runtime';

export class RuntimeApiServer {
  private readonly server: http.Server;
  private waiting: http.ServerResponse | undefined;
  private queued: RuntimeInvocation | undefined;
  /** the invocation handed out and not yet answered */
  private current: string | undefined;
  private readySignalled = false;
  private closed = false;

  private constructor(private readonly listener: RuntimeApiListener) {
    this.server = http.createServer((req, res) => this.route(req, res));
    this.server.keepAliveTimeout = 0; // the runtime holds one connection for as long as it lives
    this.server.requestTimeout = 0; // `next` is a long poll
    this.server.headersTimeout = 0;
    // a runtime that misbehaves on the wire never takes the harness down
    this.server.on('clientError', (_e, socket) => socket.destroy());
  }

  static async start(listener: RuntimeApiListener): Promise<RuntimeApiServer> {
    const s = new RuntimeApiServer(listener);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(0, '127.0.0.1', () => resolve());
    });
    s.server.on('error', () => undefined);
    return s;
  }

  /** host:port, for AWS_LAMBDA_RUNTIME_API */
  get address(): string {
    const a = this.server.address() as AddressInfo;
    return `127.0.0.1:${a.port}`;
  }

  /** answers the runtime's pending `next`, or the next one it sends */
  dispatch(inv: RuntimeInvocation): void {
    this.current = inv.requestId;
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting && !waiting.destroyed) this.send(waiting, inv);
    else this.queued = inv;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiting?.destroy();
    this.waiting = undefined;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private send(res: http.ServerResponse, inv: RuntimeInvocation): void {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': inv.requestId,
      'Lambda-Runtime-Deadline-Ms': String(inv.deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn': inv.invokedFunctionArn,
      'Lambda-Runtime-Trace-Id': inv.traceId,
    };
    if (inv.clientContext !== undefined) headers['Lambda-Runtime-Client-Context'] = inv.clientContext;
    res.writeHead(200, headers);
    res.end(inv.payload);
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? '').split('?')[0]!;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_RESPONSE_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'GET' && url === `${BASE}/invocation/next`) return this.next(res);
      const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
      if (req.method === 'POST' && m) {
        const id = decodeURIComponent(m[1]!);
        if (id !== this.current) return json(res, 400, { errorMessage: `Invalid request ID: "${id}"`, errorType: 'InvalidRequestID' });
        this.current = undefined;
        if (m[2] === 'response') {
          if (tooLarge) {
            json(res, 413, { errorMessage: `Exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`, errorType: 'RequestEntityTooLarge' });
            return this.listener.onResult(id, { kind: 'too-large', size });
          }
          json(res, 202, { status: 'OK' });
          return this.listener.onResult(id, { kind: 'response', body });
        }
        json(res, 202, { status: 'OK' });
        return this.listener.onResult(id, { kind: 'error', body, errorType: headerOf(req, 'lambda-runtime-function-error-type') ?? errorTypeOf(body) });
      }
      if (req.method === 'POST' && url === `${BASE}/init/error`) {
        json(res, 202, { status: 'OK' });
        return this.listener.onInitError(body, headerOf(req, 'lambda-runtime-function-error-type') ?? errorTypeOf(body));
      }
      json(res, 404, { errorMessage: `${req.method} ${url} is not part of the Runtime API`, errorType: 'NotFound' });
    });
  }

  private next(res: http.ServerResponse): void {
    if (this.closed) return void res.destroy();
    if (!this.readySignalled) {
      this.readySignalled = true;
      this.listener.onReady();
    }
    const q = this.queued;
    if (q) {
      this.queued = undefined;
      return this.send(res, q);
    }
    this.waiting?.destroy();
    this.waiting = res;
    res.on('close', () => {
      if (this.waiting === res) this.waiting = undefined;
    });
  }
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) || undefined;
}

function errorTypeOf(body: Buffer): string {
  try {
    const t = (JSON.parse(body.toString('utf8')) as { errorType?: unknown }).errorType;
    return typeof t === 'string' && t ? t : 'Unhandled';
  } catch {
    return 'Unhandled';
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
