/**
 * Serves the Anthropic stand-in's msw handlers (handlers.ts) as a real HTTP(S) server: each
 * request becomes a Fetch Request, msw's getResponse picks the handler, and its Response is
 * written back on the socket. No interception anywhere: clients connect over the network.
 *
 * Every request is recorded (time, source address, method, path, headers without the key's
 * value — a sha256 of the key instead —, body, status, request/message ids), so scenarios can
 * assert who called the API, with which key and what.
 */
import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { getResponse, type RequestHandler } from 'msw';
import { anthropicHandlers, newAnthropicId, ANTHROPIC_HOST } from './handlers.ts';
import { readBody } from '../../http-body.ts';

/** 32 MB, the Messages API's request size limit */
const MAX_BODY = 32 * 1024 * 1024;
const SECRET_HEADERS = ['x-api-key', 'authorization'];

export interface AnthropicCall {
  seq: number;
  /** ISO time the request arrived */
  time: string;
  /** the client's address and port as the server's socket saw them */
  source: string;
  sourcePort: number;
  method: string;
  path: string;
  /** request headers; x-api-key / authorization values replaced by "<redacted>" */
  headers: Record<string, string>;
  /** sha256 (hex) of the API key sent (x-api-key, else the bearer token); undefined when none */
  keySha256?: string;
  /** the JSON body (or its text when not JSON) */
  body: unknown;
  status: number;
  requestId?: string;
  /** the Message id on success */
  messageId?: string;
  /** error.type on failure */
  errorType?: string;
}

export interface AnthropicStandInOptions {
  validKeys: () => readonly string[];
  /** TLS material; without it the server speaks plain HTTP (unit tests) */
  tls?: { key: Buffer; cert: Buffer };
  /** extra handlers tried first (fault injection in tests and scenarios) */
  handlers?: RequestHandler[];
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
  log?: (line: string) => void;
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export class AnthropicStandIn {
  private server?: http.Server;
  private readonly handlers: RequestHandler[];
  private readonly recorded: AnthropicCall[] = [];
  private bound?: { host: string; port: number };
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(private readonly opts: AnthropicStandInOptions) {
    this.handlers = [...(opts.handlers ?? []), ...anthropicHandlers({ validKeys: opts.validKeys })];
  }

  get address(): { host: string; port: number } | undefined {
    return this.bound;
  }

  get protocol(): 'https' | 'http' {
    return this.opts.tls ? 'https' : 'http';
  }

  /** Every request so far (copies). */
  calls(): AnthropicCall[] {
    return this.recorded.map((c) => structuredClone(c));
  }

  async start(host: string, port = 0): Promise<{ host: string; port: number }> {
    if (this.bound) return this.bound;
    const listener: http.RequestListener = (req, res) => void this.handle(req, res);
    const server = this.opts.tls ? https.createServer({ key: this.opts.tls.key, cert: this.opts.tls.cert }, listener) : http.createServer(listener);
    server.keepAliveTimeout = 5000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.opts.log?.(`anthropic stand-in: ${e.message}`));
    this.server = server;
    this.bound = { host, port: (server.address() as AddressInfo).port };
    return this.bound;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const time = new Date().toISOString();
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `${this.protocol}://${req.headers.host || ANTHROPIC_HOST}`);
    } catch {
      url = new URL(req.url ?? '/', `${this.protocol}://${ANTHROPIC_HOST}`);
    }
    const headers = new Headers();
    const recordedHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined) continue;
      const value = Array.isArray(v) ? v.join(', ') : v;
      headers.set(k, value);
      recordedHeaders[k] = SECRET_HEADERS.includes(k) ? '<redacted>' : value;
    }
    const key = req.headers['x-api-key'] ?? /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    let status = 500;
    let bodyText = '';
    const call: AnthropicCall = {
      seq: this.recorded.length + 1,
      time,
      source: normalizeAddress(req.socket.remoteAddress),
      sourcePort: req.socket.remotePort ?? 0,
      method,
      path: url.pathname,
      headers: recordedHeaders,
      ...(typeof key === 'string' && key !== '' ? { keySha256: sha256Hex(key) } : {}),
      body: undefined,
      status,
    };
    try {
      const body = await readBody(req, MAX_BODY);
      bodyText = body.toString('utf8');
      call.body = parseJson(bodyText);
      const request = new Request(url, { method, headers, ...(method === 'GET' || method === 'HEAD' ? {} : { body: new Uint8Array(body) }) });
      const response = (await getResponse(this.handlers, request)) ?? Response.json({ type: 'error', error: { type: 'not_found_error', message: 'Not Found' } }, { status: 404 });
      status = response.status;
      const out = Buffer.from(await response.arrayBuffer());
      const outHeaders: Record<string, string> = {};
      response.headers.forEach((v, k) => (outHeaders[k] = v));
      outHeaders['content-length'] = String(out.length);
      res.writeHead(status, outHeaders);
      res.end(out);
      const answer = parseJson(out.toString('utf8')) as { id?: string; error?: { type?: string } } | undefined;
      call.requestId = response.headers.get('request-id') ?? undefined;
      if (status === 200 && typeof answer?.id === 'string') call.messageId = answer.id;
      if (answer?.error?.type) call.errorType = answer.error.type;
    } catch (e) {
      const tooLarge = (e as { code?: string }).code === 'E2BIG';
      status = tooLarge ? 413 : 500;
      const requestId = newAnthropicId('req');
      const payload = JSON.stringify({ type: 'error', error: { type: tooLarge ? 'request_too_large' : 'api_error', message: tooLarge ? 'Request exceeds the maximum allowed number of bytes.' : 'Internal server error' }, request_id: requestId });
      call.requestId = requestId;
      call.errorType = tooLarge ? 'request_too_large' : 'api_error';
      if (!tooLarge) this.opts.log?.(`anthropic stand-in: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId, 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    }
    call.status = status;
    this.recorded.push(call);
    this.opts.events?.append('anthropic.call', { source: call.source, method, path: call.path, status, requestId: call.requestId, ...(call.errorType ? { errorType: call.errorType } : {}) });
  }
}

function normalizeAddress(a: string | undefined): string {
  return (a ?? '').replace(/^::ffff:/, '');
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

