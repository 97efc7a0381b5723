import http from 'node:http';
import https from 'node:https';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../clock.ts';
import type { ApiGatewayV2Store, Integration, Route } from '../../aws/apigatewayv2/store.ts';
import type { FunctionInvoker } from '../../aws/serverless.ts';
import { readBody } from '../../http-body.ts';
import { generateSelfSignedCert, type TlsMaterial } from '../tls.ts';
import type { JwtAuthorizer } from './authorizer.ts';
import { clientHeaders, eventV1, eventV2, MalformedResponse, responseV1, responseV2, type GatewayContext, type GatewayRequest, type GatewayResponse } from './mapping.ts';
import { apiOfRequest, selectRoute, stageOfPath } from './routing.ts';
import { forwardedHeaders } from './forwarded.ts';
import { invokeIntegration, type IntegrationOutcome } from './invoke.ts';
import type { RestApiLookup } from '../../aws/apigateway/types.ts';
import type { RestApiHandler } from '../rest-api/handler.ts';

/** HTTP APIs take request payloads up to 10 MB. */
const MAX_PAYLOAD = 10 * 1024 * 1024;
/** Integration timeouts are AWS intervals (scaled), floored in real time so a cold start is not a 503. */
/** What API Gateway logs as the integrationError when it may not invoke the function. */
const NO_PERMISSION = "The IAM role configured on the integration or API Gateway doesn't have permissions to call the integration. Check the permissions and try again.";

export interface HttpApiServerOptions {
  store: ApiGatewayV2Store;
  functions: FunctionInvoker;
  authorizer: JwtAuthorizer;
  clock: Clock;
  /** the certificate goes under `<certDir>/alb/` (tls.ts's layout) */
  certDir: string;
  host?: string;
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
  log?: (line: string) => void;
  /** the least real time an integration gets (default: its TimeoutInMillis, in real milliseconds) */
  minTimeoutMs?: number;
  /** REST APIs (v1) share the execute-api endpoint: a request for one of theirs goes to this handler */
  rest?: { lookup: RestApiLookup; handler: RestApiHandler };
}

interface Outcome {
  status: number;
  stage?: string;
  routeKey?: string;
  integrationId?: string;
  function?: string;
  error?: string;
  authError?: string;
}

/**
 * The data plane of every HTTP API in the store: one HTTPS server (a self-signed certificate for
 * `*.execute-api.<region>.amazonaws.com`, localhost and 127.0.0.1). A request reaches an API by
 * its Host header or the `/_api/<apiId>` prefix (routing.ts), then its stage, route, JWT
 * authorizer and AWS_PROXY integration, as API Gateway does; gateway-made answers are
 * `{"message": …}` JSON with `apigw-requestid`. Every request is an `apigateway.request` event.
 */
export class HttpApiServer {
  private server?: http.Server;
  private tls?: TlsMaterial;
  /** why the endpoint is plain HTTP, if it is */
  tlsUnavailable?: string;
  url = '';

  constructor(private readonly opts: HttpApiServerOptions) {}

  get certificateFile(): string | undefined {
    return this.tls?.certFile;
  }

  async start(port = 0): Promise<string> {
    const host = this.opts.host ?? '127.0.0.1';
    const t = generateSelfSignedCert(this.opts.certDir, [`*.execute-api.${this.opts.store.region}.amazonaws.com`, ...(host === '127.0.0.1' ? [] : [host])]);
    if ('error' in t) {
      this.tlsUnavailable = t.error;
      this.opts.log?.(`HTTP APIs: served as plain HTTP: ${t.error}`);
    } else this.tls = t;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((e) => {
        this.opts.events?.append('harness.error', { where: 'http-api', error: String((e as Error)?.stack ?? e) });
        if (!res.headersSent) this.message(res, 500, 'Internal Server Error', randomRequestId());
        else res.destroy();
      });
    };
    const server = this.tls ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler) : http.createServer(handler);
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.url = `${this.tls ? 'https' : 'http'}://${host}:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private message(res: http.ServerResponse, status: number, message: string, requestId: string, extra: Record<string, string> = {}): void {
    const body = JSON.stringify({ message });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'apigw-requestid': requestId, ...extra });
    res.end(body);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    const requestId = randomRequestId();
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const sentPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const rawQueryString = q < 0 ? '' : rawUrl.slice(q + 1);
    const { store } = this.opts;
    const target = apiOfRequest(req.headers.host, sentPath, store.region);
    const done = (o: Outcome) =>
      this.opts.events?.append('apigateway.request', {
        apiId: target?.apiId,
        method,
        path: target?.rawPath ?? sentPath,
        requestId,
        ...o,
        latencyMs: Date.now() - started,
      });
    const rest = this.opts.rest;
    if (target && rest?.lookup.isRestApi(target.apiId)) {
      const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      return rest.handler.handle(req, res, target, { requestId: randomUUID(), started, tls: !!this.tls, sourceIp });
    }
    const api = target && store.find(target.apiId);
    if (!target || !api || api.protocolType !== 'HTTP') {
      req.resume();
      this.message(res, 404, 'Not Found', requestId);
      return void done({ status: 404, error: target ? `no HTTP API ${target.apiId}` : 'the Host header names no execute-api endpoint and the path has no /_api/<apiId> prefix' });
    }
    if (api.disableExecuteApiEndpoint) {
      req.resume();
      this.message(res, 403, 'Forbidden', requestId);
      return void done({ status: 403, error: 'the execute-api endpoint of this API is disabled' });
    }
    const st = stageOfPath(store.stageNames(api.apiId), target.rawPath);
    const served = st && store.served(api.apiId, st.stage);
    if (!st || !served) {
      req.resume();
      this.message(res, 404, 'Not Found', requestId);
      return void done({ status: 404, ...(st ? { stage: st.stage } : {}), error: st ? `stage ${st.stage} has no deployment` : 'no stage serves this path' });
    }
    let body: Buffer;
    try {
      body = await readBody(req, MAX_PAYLOAD);
    } catch (e) {
      if ((e as { code?: string }).code !== 'E2BIG') throw e;
      this.message(res, 413, 'Request Entity Too Large', requestId);
      return void done({ status: 413, stage: st.stage });
    }
    const picked = selectRoute(served.config.routes, method, st.routePath);
    if (!picked) {
      this.message(res, 404, 'Not Found', requestId);
      return void done({ status: 404, stage: st.stage, error: 'no route matches' });
    }
    const { route, pathParameters } = picked;
    const base: Outcome = { status: 0, stage: st.stage, routeKey: route.routeKey };

    // authorization
    let jwt: GatewayContext['jwt'];
    if (route.authorizationType === 'JWT') {
      const authorizer = route.authorizerId ? served.config.authorizers[route.authorizerId] : undefined;
      if (!authorizer) {
        this.message(res, 500, 'Internal Server Error', requestId);
        return void done({ ...base, status: 500, error: `route ${route.routeKey} names authorizer ${route.authorizerId}, which the deployment lacks` });
      }
      const verdict = await this.opts.authorizer.authorize(authorizer, route.authorizationScopes, { headers: req.headers, query: new URLSearchParams(rawQueryString) });
      if (!verdict.ok) {
        this.message(res, verdict.status, verdict.status === 401 ? 'Unauthorized' : 'Forbidden', requestId, { 'www-authenticate': verdict.wwwAuthenticate });
        return void done({ ...base, status: verdict.status, authError: verdict.reason });
      }
      jwt = { claims: verdict.claims, scopes: verdict.scopes };
    } else if (route.authorizationType !== 'NONE') {
      this.message(res, 500, 'Internal Server Error', requestId);
      return void done({ ...base, status: 500, error: `authorization type ${route.authorizationType} is not emulated` });
    }

    // integration
    const integrationId = /^integrations\/(.+)$/.exec(route.target ?? '')?.[1];
    const integration = integrationId ? served.config.integrations[integrationId] : undefined;
    if (!integration) {
      this.message(res, 500, 'Internal Server Error', requestId);
      return void done({ ...base, status: 500, error: route.target ? `the route's target ${route.target} is not in the deployment` : `route ${route.routeKey} has no integration` });
    }
    base.integrationId = integration.integrationId;
    if (integration.integrationType !== 'AWS_PROXY' || !integration.integrationUri) {
      this.message(res, 500, 'Internal Server Error', requestId);
      return void done({ ...base, status: 500, error: `integration type ${integration.integrationType}${integration.integrationSubtype ? ` (${integration.integrationSubtype})` : ''} is not emulated` });
    }
    base.function = integration.integrationUri;

    const domainName = store.domainOf(api.apiId);
    const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const gatewayReq: GatewayRequest = {
      method,
      rawPath: target.rawPath,
      rawQueryString,
      headers: forwardedHeaders(req, domainName, sourceIp, !!this.tls, { bodyLength: body.length }),
      body,
      sourceIp,
      protocol: `HTTP/${req.httpVersion}`,
    };
    const ctx: GatewayContext = {
      accountId: store.account,
      apiId: api.apiId,
      domainName,
      domainPrefix: api.apiId,
      stage: st.stage,
      routeKey: route.routeKey,
      requestId,
      timeEpoch: started,
      pathParameters,
      stageVariables: served.stage.stageVariables,
      ...(jwt ? { jwt } : {}),
    };
    const v1 = integration.payloadFormatVersion === '1.0';
    const event = v1 ? eventV1(gatewayReq, ctx) : eventV2(gatewayReq, ctx);
    const sourceArn = executeApiArn(store.region, store.account, api.apiId, st.stage, method, route);

    const outcome = await this.invoke(integration, sourceArn, Buffer.from(JSON.stringify(event)));
    if (outcome.kind === 'timeout') {
      this.message(res, 503, 'Service Unavailable', requestId);
      return void done({ ...base, status: 503, error: `the integration did not answer within ${integration.timeoutInMillis} ms (AWS time)` });
    }
    if (outcome.kind === 'error') {
      this.message(res, 500, 'Internal Server Error', requestId);
      return void done({ ...base, status: 500, error: outcome.error });
    }
    const r = outcome.result;
    if (r.functionError || r.statusCode !== 200) {
      this.message(res, 500, 'Internal Server Error', requestId);
      return void done({ ...base, status: 500, error: `the function failed (${r.functionError ?? `status ${r.statusCode}`}): ${r.payload.toString('utf8').slice(0, 500)}` });
    }
    let mapped: GatewayResponse;
    try {
      mapped = v1 ? responseV1(r.payload) : responseV2(r.payload);
    } catch (e) {
      if (!(e instanceof MalformedResponse)) throw e;
      this.message(res, 500, 'Internal Server Error', requestId);
      return void done({ ...base, status: 500, error: `malformed Lambda proxy response: ${e.message}` });
    }
    this.send(res, mapped, requestId, method === 'HEAD');
    done({ ...base, status: mapped.statusCode });
  }

  private invoke(integration: Integration, sourceArn: string, payload: Buffer): Promise<IntegrationOutcome> {
    const { clock, functions, minTimeoutMs } = this.opts;
    const uri = integration.integrationUri!;
    return invokeIntegration({ clock, functions, minTimeoutMs, timeoutInMillis: integration.timeoutInMillis, uri, functionName: uri, sourceArn, payload, noPermission: NO_PERMISSION });
  }

  private send(res: http.ServerResponse, r: GatewayResponse, requestId: string, head: boolean): void {
    const headers = clientHeaders(r);
    headers['content-length'] = String(r.body.length);
    headers['apigw-requestid'] = requestId;
    res.writeHead(r.statusCode, headers);
    res.end(head ? undefined : r.body);
  }
}

/** API Gateway's request id style: 16 characters of base64. */
function randomRequestId(): string {
  return randomBytes(10).toString('base64');
}


/**
 * The execute-api ARN API Gateway invokes a function from (the Lambda permission's SourceArn):
 * `arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<route path>` — the route's
 * path as written in its key (e.g. `items/{id}`), the request's method — and
 * `…:<apiId>/<stage>/$default` for the `$default` route.
 */
export function executeApiArn(region: string, account: string, apiId: string, stage: string, method: string, route: Pick<Route, 'routeKey'>): string {
  const prefix = `arn:aws:execute-api:${region}:${account}:${apiId}/${stage}`;
  if (route.routeKey === '$default') return `${prefix}/$default`;
  const p = route.routeKey.slice(route.routeKey.indexOf(' ') + 1);
  return `${prefix}/${method}/${p.replace(/^\//, '')}`;
}
