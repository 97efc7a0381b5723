import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { AwsError, internalFailure } from './protocol/errors.ts';
import { parseJsonBody, serializeJson, jsonErrorBody } from './protocol/json.ts';
import { parseFormBody, queryResponse, queryError, ec2Response, ec2Error } from './protocol/query.ts';
import { parseCredentialScope } from './protocol/sigv4.ts';
import type { EventSink, RequestContext, ServiceProvider } from './protocol/types.ts';
import { matchRoute, restErrorBody, restRequest, servesPath, type RestJsonProvider, type RestResponse } from './protocol/rest.ts';

export interface AwsEdgeOptions {
  host?: string;
  /** 0 picks a free port */
  port?: number;
  account: string;
  defaultRegion: string;
  events?: EventSink;
  providers: (ServiceProvider | RestJsonProvider)[];
}

/**
 * The AWS API edge: one HTTP server, routing by X-Amz-Target (JSON 1.1) or by the SigV4
 * credential scope and Action (query / ec2) to the providers. Every request gets a request
 * id; every failure comes back in the service's own error shape; nothing a client sends can
 * crash it.
 */
export class AwsEdge {
  private server?: http.Server;
  private readonly byTarget = new Map<string, ServiceProvider>();
  private readonly bySigningName = new Map<string, ServiceProvider>();
  private readonly queryProviders: ServiceProvider[] = [];
  /**
   * restJson1 services (Lambda, API Gateway v1 and v2), by SigV4 signing name; several share one
   * (`apigateway`: REST APIs at /restapis…, HTTP APIs at /v2/…) and the path picks
   */
  private readonly restBySigningName = new Map<string, RestJsonProvider[]>();
  url = '';

  constructor(private readonly opts: AwsEdgeOptions) {
    for (const p of opts.providers) this.register(p);
  }

  register(p: ServiceProvider | RestJsonProvider): void {
    if (p.protocol === 'rest-json') {
      for (const n of new Set([p.serviceName, ...(p.signingNames ?? [])])) this.restBySigningName.set(n, [...(this.restBySigningName.get(n) ?? []).filter((x) => x !== p), p]);
      return;
    }
    if (p.targetPrefix) this.byTarget.set(p.targetPrefix, p);
    this.bySigningName.set(p.serviceName, p);
    for (const n of p.signingNames ?? []) this.bySigningName.set(n, p);
    if (p.protocol !== 'json') this.queryProviders.push(p);
  }

  async start(): Promise<string> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        // last resort: never let a request take the edge down
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(jsonErrorBody(internalFailure(err)));
      });
    });
    server.keepAliveTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    const addr = server.address() as AddressInfo;
    this.url = `http://${addr.address}:${addr.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const body = raw.toString('utf8');

    if (req.method === 'GET' && (req.url === '/_harness/health' || req.url === '/health')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'running', services: [...new Set([...this.bySigningName.values(), ...[...this.restBySigningName.values()].flat()])].map((p) => p.serviceName) }));
      return;
    }

    const scope = parseCredentialScope(req.headers.authorization, req.url);
    const target = header(req, 'x-amz-target');
    const rests = !target && scope ? this.restBySigningName.get(scope.service) : undefined;
    const rest = rests && (rests.length === 1 ? rests[0] : (rests.find((p) => servesPath(p, (req.url ?? '/').split('?')[0]!)) ?? rests[0]));
    if (rest) return this.handleRest(rest, req, res, raw, scope!.region, requestId, started);
    let provider: ServiceProvider | undefined;
    let operation = '';
    let input: Record<string, unknown> = {};
    let protocol: 'json' | 'query' | 'ec2' = 'json';
    try {
      if (target) {
        const dot = target.lastIndexOf('.');
        const prefix = target.slice(0, dot);
        operation = target.slice(dot + 1);
        provider = this.byTarget.get(prefix);
        if (!provider) throw new AwsError('UnknownOperationException', `Unknown service target ${prefix}`);
        input = parseJsonBody(body);
      } else if (req.method === 'POST' && (header(req, 'content-type') ?? '').includes('x-www-form-urlencoded')) {
        protocol = 'query';
        const form = parseFormBody(body);
        operation = form.action;
        input = form.params;
        provider = scope ? this.bySigningName.get(scope.service) : undefined;
        if (!provider || provider.protocol === 'json') {
          provider = this.queryProviders.find((p) => operation in p.operations);
        }
        if (!provider) throw new AwsError('InvalidAction', `The action ${operation} is not valid for this web service.`);
        protocol = provider.protocol;
      } else {
        throw new AwsError('UnknownOperationException', 'Request carries neither X-Amz-Target nor a form-encoded Action.');
      }
      const op = provider.operations[operation];
      if (!op) {
        throw protocol === 'json'
          ? new AwsError('UnknownOperationException', `Operation ${operation} is not supported by this emulator.`)
          : new AwsError('InvalidAction', `The action ${operation} is not valid for this web service.`);
      }
      const ctx: RequestContext = {
        requestId,
        region: scope?.region ?? this.opts.defaultRegion,
        account: this.opts.account,
        signingName: scope?.service ?? provider.serviceName,
      };
      const output = await op(input, ctx);
      this.send(res, provider, protocol, operation, requestId, 200, output);
      this.record(provider, operation, 200, started, requestId, undefined, input, output, callerOf(req));
    } catch (e) {
      const err = e instanceof AwsError ? e : internalFailure(e);
      if (!(e instanceof AwsError)) console.error(`[aws-edge] ${provider?.serviceName}.${operation} failed:`, e);
      this.sendError(res, protocol, requestId, err);
      this.record(provider, operation, err.statusCode, started, requestId, err, input, undefined, callerOf(req));
    }
  }

  /** restJson1: route by method and path, answer with the operation's status, headers and payload. */
  private async handleRest(p: RestJsonProvider, req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer, region: string, requestId: string, started: number): Promise<void> {
    const method = req.method ?? 'GET';
    const rawPath = (req.url ?? '/').split('?')[0]!;
    let operation = '';
    let input: Record<string, unknown> = {};
    try {
      const { route, params } = matchRoute(p, method, rawPath);
      operation = route.operation;
      const op = p.operations[operation];
      if (!op) throw new AwsError('UnknownOperationException', `Operation ${operation} is not supported by this emulator.`, 404);
      const rr = restRequest(method, req.url ?? '/', req.headers, raw, params);
      input = { ...params, ...Object.fromEntries(rr.query) };
      const ctx: RequestContext = { requestId, region, account: this.opts.account, signingName: p.serviceName };
      const out: RestResponse = await op(rr, ctx);
      const status = out.status ?? 200;
      const isRaw = Buffer.isBuffer(out.body) || typeof out.body === 'string';
      const payload = out.body === undefined ? '' : isRaw ? (out.body as Buffer | string) : serializeJson(out.body);
      res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, ...(out.headers ?? {}) });
      res.end(payload);
      this.record(p, operation, status, started, requestId, undefined, input, isRaw ? undefined : out.body, callerOf(req));
    } catch (e) {
      const err = e instanceof AwsError ? e : internalFailure(e);
      if (!(e instanceof AwsError)) console.error(`[aws-edge] ${p.serviceName}.${operation} failed:`, e);
      res.writeHead(err.statusCode, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amzn-errortype': err.code });
      res.end(restErrorBody(p, err));
      this.record(p, operation, err.statusCode, started, requestId, err, input, undefined, callerOf(req));
    }
  }

  private send(res: http.ServerResponse, p: ServiceProvider, protocol: string, op: string, requestId: string, status: number, output: unknown) {
    if (protocol === 'json') {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId });
      res.end(serializeJson(output));
    } else if (protocol === 'ec2') {
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId });
      res.end(ec2Response(op, p.xmlNamespace ?? '', output, requestId));
    } else {
      res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(queryResponse(op, p.xmlNamespace ?? '', output, requestId));
    }
  }

  private sendError(res: http.ServerResponse, protocol: string, requestId: string, err: AwsError) {
    if (protocol === 'json') {
      res.writeHead(err.statusCode, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId, 'x-amzn-errortype': err.code });
      res.end(jsonErrorBody(err));
    } else {
      res.writeHead(err.statusCode, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
      res.end(protocol === 'ec2' ? ec2Error(err, requestId) : queryError(err, requestId));
    }
  }

  private record(p: ServiceProvider | RestJsonProvider | undefined, operation: string, status: number, started: number, requestId: string, err: AwsError | undefined, input: Record<string, unknown>, output?: unknown, caller?: string) {
    const failures = summarizeFailures(output);
    this.opts.events?.append('api.call', {
      ...(caller ? { caller } : {}),
      service: p?.serviceName ?? 'unknown',
      operation,
      status,
      ms: Date.now() - started,
      requestId,
      ...(err ? { error: err.code, message: err.message } : {}),
      input: summarize(input),
      ...(failures ? { failures } : {}),
    });
  }
}

/**
 * Who made the call: the `exec-env/<tag>` the AWS CLI and SDKs add to their User-Agent from
 * AWS_EXECUTION_ENV (the scenario sets one per script run, so calls of scripts that run side by
 * side stay apart).
 */
function callerOf(req: http.IncomingMessage): string | undefined {
  return /(?:^|\s)exec-env\/(\S+)/.exec(header(req, 'user-agent') ?? '')?.[1];
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** At most this many entries of a list are kept in the timeline. */
const MAX_LIST = 20;

const isScalar = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** ECR's ImageIdentifier: only the identifying fields, never anything else a client sent. */
function imageIdentifier(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const { imageTag, imageDigest } = v as Record<string, unknown>;
  const out: Record<string, string> = {};
  if (typeof imageTag === 'string') out.imageTag = imageTag;
  if (typeof imageDigest === 'string') out.imageDigest = imageDigest;
  return out;
}

/**
 * Keeps the timeline readable and never records secret values: top-level scalars, short
 * lists of strings (ELBv2 `Names`, ECR `repositoryNames`, EC2 `SubnetId.N`), and the tag and
 * digest of ECR `imageIds`; nested structures are dropped.
 */
function summarize(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (/secret(string|binary)|password/i.test(k)) out[k] = '****';
    else if (isScalar(v)) out[k] = v;
    else if (k === 'imageIds' && Array.isArray(v)) out[k] = v.slice(0, MAX_LIST).map(imageIdentifier).filter((x) => x !== undefined);
    else if (Array.isArray(v) && v.length > 0 && v.length <= MAX_LIST && v.every((x) => typeof x === 'string')) out[k] = v;
  }
  return out;
}

/**
 * The `failures` of a successful batch call (ECR BatchGetImage, ECS DescribeServices, …):
 * what was asked for and not found comes back with status 200, so the timeline keeps each
 * failure's scalar fields and its ECR image id.
 */
function summarizeFailures(output: unknown): Record<string, unknown>[] | undefined {
  const failures = output && typeof output === 'object' ? (output as { failures?: unknown }).failures : undefined;
  if (!Array.isArray(failures) || failures.length === 0) return undefined;
  return failures.slice(0, MAX_LIST).map((f) => {
    const out: Record<string, unknown> = {};
    if (!f || typeof f !== 'object') return out;
    for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
      if (isScalar(v)) out[k] = v;
      else if (k === 'imageId') out[k] = imageIdentifier(v);
    }
    return out;
  });
}
