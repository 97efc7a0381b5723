import { forwardedHeaders } from '../http-api/forwarded.ts';
import type http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import type { FunctionInvoker } from '../../aws/serverless.ts';
import type { RestApiLookup, RestAuthorizer, RestIntegration, RestMethod, RestResource, ServedRestStage } from '../../aws/apigateway/types.ts';
import { compareSpecificity, matchRoutePath, parseRouteKey, type ParsedRouteKey } from '../../aws/apigatewayv2/route-key.ts';
import { decodeJwt, JwtError, verifyJwt } from '../../aws/cognito/jwt.ts';
import { readBody } from '../../http-body.ts';
import { claimStrings, type JwksDocument } from '../http-api/authorizer.ts';
import { invokeIntegration, type IntegrationOutcome } from '../http-api/invoke.ts';
import { clientHeaders, eventV1, MalformedResponse, responseV1, type GatewayResponse, safeDecodePath } from '../http-api/mapping.ts';

/**
 * The execute-api data plane of API Gateway REST APIs (v1), for one request the HTTP API endpoint
 * has found to name a REST API: the stage (the path's first segment) and the deployment it
 * serves, the resource (literal parts before `{param}`, `{proxy+}` last) and its method (else
 * ANY), a COGNITO_USER_POOLS authorizer, and an AWS_PROXY integration to Lambda with the REST
 * proxy event. Gateway-made answers are `{"message": …}` JSON as REST APIs send them (403
 * Missing Authentication Token for an unknown route, 401 Unauthorized, 502/504 for the
 * integration); every answer carries x-amzn-RequestId and x-amz-apigw-id. Every request is an
 * `apigateway.request` event with `restApi: true`.
 */

/** REST APIs take request payloads up to 10 MB. */
const MAX_PAYLOAD = 10 * 1024 * 1024;
/** What API Gateway logs as the integration error when it may not invoke the function. */
const NO_PERMISSION = 'Invalid permissions on Lambda function';

export interface RestApiHandlerOptions {
  lookup: RestApiLookup;
  functions: FunctionInvoker;
  /** a Cognito pool's keys by issuer (`https://cognito-idp.<region>.amazonaws.com/<poolId>`); throws when they cannot be had */
  jwks: (issuer: string) => Promise<JwksDocument>;
  clock: Clock;
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
  /** the least real time an integration gets (default: its timeoutInMillis, in real milliseconds) */
  minTimeoutMs?: number;
  /** seconds since the epoch, for exp/nbf (default: now) */
  nowSeconds?: () => number;
}

export interface RestRequestMeta {
  /** x-amzn-RequestId and requestContext.requestId (a UUID, as REST APIs use) */
  requestId: string;
  /** when the request arrived (epoch ms) */
  started: number;
  tls: boolean;
  sourceIp: string;
}

interface Outcome {
  status: number;
  stage?: string;
  resourcePath?: string;
  resourceId?: string;
  function?: string;
  error?: string;
  authError?: string;
}

/** A gateway-made answer: status, message and the x-amzn-ErrorType REST APIs send with it. */
interface GatewayError {
  status: number;
  message: string;
  errorType?: string;
}

const FORBIDDEN: GatewayError = { status: 403, message: 'Forbidden', errorType: 'ForbiddenException' };
const MISSING_TOKEN: GatewayError = { status: 403, message: 'Missing Authentication Token', errorType: 'MissingAuthenticationTokenException' };
const UNAUTHORIZED: GatewayError = { status: 401, message: 'Unauthorized', errorType: 'UnauthorizedException' };
const EXPIRED: GatewayError = { status: 401, message: 'The incoming token has expired', errorType: 'UnauthorizedException' };
const INTERNAL: GatewayError = { status: 500, message: 'Internal server error', errorType: 'InternalServerErrorException' };
const BAD_GATEWAY: GatewayError = { status: 502, message: 'Internal server error' };
const TIMED_OUT: GatewayError = { status: 504, message: 'Endpoint request timed out' };
const TOO_LARGE: GatewayError = { status: 413, message: 'Request Too Long' };

export class RestApiHandler {
  private readonly nowSeconds: () => number;

  constructor(private readonly opts: RestApiHandlerOptions) {
    this.nowSeconds = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, target: { apiId: string; rawPath: string }, meta: RestRequestMeta): Promise<void> {
    const { lookup } = this.opts;
    const apiId = target.apiId;
    const method = req.method ?? 'GET';
    // the query is the request's own (target.rawPath is the path without it, as routing.ts gives it)
    const rawPath = target.rawPath;
    const url = req.url ?? '/';
    const rawQuery = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
    const ids = { requestId: meta.requestId, apigwId: randomBytes(11).toString('base64') };
    const done = (o: Outcome) =>
      this.opts.events?.append('apigateway.request', {
        apiId,
        restApi: true,
        method,
        path: rawPath,
        requestId: meta.requestId,
        ...o,
        latencyMs: Date.now() - meta.started,
      });
    const fail = (e: GatewayError, o: Outcome) => {
      this.message(res, e, ids);
      done({ ...o, status: e.status });
    };

    if (lookup.endpointDisabled(apiId)) {
      req.resume();
      return fail(FORBIDDEN, { status: 403, error: 'the execute-api endpoint of this API is disabled' });
    }
    const st = stageOfRestPath(rawPath);
    const served = st && lookup.served(apiId, st.stage);
    if (!st || !served) {
      req.resume();
      return fail(FORBIDDEN, { status: 403, ...(st ? { stage: st.stage } : {}), error: st ? `no stage ${st.stage} with a deployment` : 'the path names no stage' });
    }
    let body: Buffer;
    try {
      body = await readBody(req, MAX_PAYLOAD);
    } catch (e) {
      if ((e as { code?: string }).code !== 'E2BIG') throw e;
      return fail(TOO_LARGE, { status: 413, stage: st.stage });
    }
    const picked = selectResource(served.deployment.resources, method, st.resourcePath);
    if (!picked) return fail(MISSING_TOKEN, { status: 403, stage: st.stage, error: `no resource and method match ${method} ${st.resourcePath}` });
    const { resource, restMethod, pathParameters } = picked;
    const base: Outcome = { status: 0, stage: st.stage, resourcePath: resource.path, resourceId: resource.id };

    // authorization
    let claims: Record<string, string> | undefined;
    if (restMethod.authorizationType === 'COGNITO_USER_POOLS') {
      const authorizer = restMethod.authorizerId ? served.deployment.authorizers[restMethod.authorizerId] : undefined;
      if (!authorizer) return fail(INTERNAL, { ...base, error: `${restMethod.httpMethod} ${resource.path} names authorizer ${restMethod.authorizerId}, which the deployment lacks` });
      const verdict = await this.cognito(authorizer, restMethod.authorizationScopes, req.headers);
      if (!verdict.ok) return fail(verdict.expired ? EXPIRED : UNAUTHORIZED, { ...base, authError: verdict.reason });
      claims = verdict.claims;
    } else if (restMethod.authorizationType !== 'NONE') {
      return fail(INTERNAL, { ...base, error: `authorization type ${restMethod.authorizationType} is not emulated` });
    }

    // integration
    const integration = restMethod.integration;
    if (!integration) return fail(INTERNAL, { ...base, error: `${restMethod.httpMethod} ${resource.path} has no integration` });
    if (integration.type !== 'AWS_PROXY' || !integration.uri || !/:lambda:path\/[^/]+\/functions\/.+\/invocations$/.test(integration.uri)) {
      return fail(INTERNAL, { ...base, error: `integration type ${integration.type}${integration.uri ? ` (${integration.uri})` : ''} is not emulated (only AWS_PROXY to Lambda)` });
    }
    const functionArn = functionOfUri(integration.uri);
    base.function = functionArn;

    const event = restProxyEvent({ req, body, rawPath, rawQuery, stage: st.stage, resourcePath: st.resourcePath, resource, pathParameters, served, claims, meta, apigwId: ids.apigwId, lookup });
    const sourceArn = restExecuteApiArn(lookup.region, lookup.account, apiId, st.stage, method, resource.path);
    const outcome = await this.invoke(integration, functionArn, sourceArn, Buffer.from(JSON.stringify(event)));
    if (outcome.kind === 'timeout') return fail(TIMED_OUT, { ...base, error: `the integration did not answer within ${integration.timeoutInMillis} ms` });
    if (outcome.kind === 'error') return fail(INTERNAL, { ...base, error: outcome.error });
    const r = outcome.result;
    if (r.functionError || r.statusCode !== 200) {
      return fail(BAD_GATEWAY, { ...base, error: `the function failed (${r.functionError ?? `status ${r.statusCode}`}): ${r.payload.toString('utf8').slice(0, 500)}` });
    }
    let mapped: GatewayResponse;
    try {
      mapped = responseV1(r.payload);
    } catch (e) {
      if (!(e instanceof MalformedResponse)) throw e;
      return fail(BAD_GATEWAY, { ...base, error: `Malformed Lambda proxy response: ${e.message}` });
    }
    this.send(res, mapped, ids, method === 'HEAD');
    done({ ...base, status: mapped.statusCode });
  }

  /**
   * A COGNITO_USER_POOLS authorizer: the token (raw, or after `Bearer `) from the identity source
   * header, issued by one of the authorizer's pools, signed by a key of that pool, within exp/nbf;
   * without method scopes an ID token, with them an access token carrying one of them.
   */
  private async cognito(authorizer: RestAuthorizer, scopes: string[] | undefined, headers: http.IncomingHttpHeaders): Promise<{ ok: true; claims: Record<string, string> } | { ok: false; reason: string; expired?: boolean }> {
    const source = authorizer.identitySource ?? 'method.request.header.Authorization';
    const header = /^method\.request\.header\.(.+)$/.exec(source)?.[1];
    if (!header) return { ok: false, reason: `identity source ${source} is not a header` };
    const v = headers[header.toLowerCase()];
    const raw = (Array.isArray(v) ? v.join(',') : v ?? '').trim();
    if (!raw) return { ok: false, reason: `no token in the ${header} header` };
    const token = raw.replace(/^bearer\s+/i, '');
    const issuers = authorizer.providerARNs.map(issuerOfPoolArn).filter((i): i is string => !!i);
    let iss: unknown;
    try {
      iss = decodeJwt(token).payload.iss;
    } catch (e) {
      return { ok: false, reason: `malformed: ${(e as Error).message}` };
    }
    if (typeof iss !== 'string' || !issuers.includes(iss)) return { ok: false, reason: `iss: '${String(iss)}' is not a pool of the authorizer (${issuers.join(', ')})` };
    let jwks: JwksDocument;
    try {
      jwks = await this.opts.jwks(iss);
    } catch (e) {
      return { ok: false, reason: `the keys of ${iss} could not be had: ${(e as Error).message}` };
    }
    let p: Record<string, unknown>;
    try {
      p = verifyJwt(token, jwks, { nowSeconds: this.nowSeconds() }).payload;
    } catch (e) {
      if (!(e instanceof JwtError)) throw e;
      return { ok: false, reason: `${e.reason}: ${e.message}`, ...(e.reason === 'exp' ? { expired: true } : {}) };
    }
    if (typeof p.exp !== 'number') return { ok: false, reason: 'exp: the token has no exp claim' };
    if (scopes?.length) {
      if (p.token_use !== 'access') return { ok: false, reason: `token_use: the method has authorization scopes, which take an access token, not a token_use '${String(p.token_use)}'` };
      const have = typeof p.scope === 'string' ? p.scope.split(' ').filter(Boolean) : [];
      if (!have.some((s) => scopes.includes(s))) return { ok: false, reason: `scope: the token has none of ${scopes.join(', ')}` };
    } else if (p.token_use !== 'id') {
      return { ok: false, reason: `token_use: a method without authorization scopes takes an ID token, not a token_use '${String(p.token_use)}'` };
    }
    return { ok: true, claims: claimStrings(p) };
  }

  private invoke(integration: RestIntegration, functionArn: string, sourceArn: string, payload: Buffer): Promise<IntegrationOutcome> {
    const { clock, functions, minTimeoutMs } = this.opts;
    return invokeIntegration({ clock, functions, minTimeoutMs, timeoutInMillis: integration.timeoutInMillis, uri: integration.uri!, functionName: functionArn, sourceArn, payload, noPermission: NO_PERMISSION });
  }

  private message(res: http.ServerResponse, e: GatewayError, ids: { requestId: string; apigwId: string }): void {
    const body = JSON.stringify({ message: e.message });
    res.writeHead(e.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': ids.requestId,
      'x-amz-apigw-id': ids.apigwId,
      ...(e.errorType ? { 'x-amzn-errortype': e.errorType } : {}),
    });
    res.end(body);
  }

  private send(res: http.ServerResponse, r: GatewayResponse, ids: { requestId: string; apigwId: string }, head: boolean): void {
    const headers = clientHeaders(r);
    // REST APIs answer application/json when the function names no content type
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(r.body.length);
    headers['x-amzn-requestid'] = ids.requestId;
    headers['x-amz-apigw-id'] = ids.apigwId;
    res.writeHead(r.statusCode, headers);
    res.end(head ? undefined : r.body);
  }
}

/** The stage (the path's first segment, decoded) and the resource path after it. */
export function stageOfRestPath(rawPath: string): { stage: string; resourcePath: string } | undefined {
  const first = rawPath.split('/')[1] ?? '';
  if (!first) return undefined;
  let stage = first;
  try {
    stage = decodeURIComponent(first);
  } catch {
    // keep as sent
  }
  const rest = rawPath.slice(1 + first.length);
  return { stage, resourcePath: rest === '' ? '/' : rest };
}

const parsedPaths = new Map<string, ParsedRouteKey | undefined>();
function parsePath(path: string): ParsedRouteKey | undefined {
  if (!parsedPaths.has(path)) {
    const p = parseRouteKey(`ANY ${path}`);
    parsedPaths.set(path, 'error' in p ? undefined : p);
  }
  return parsedPaths.get(path);
}

/**
 * The resource and method a request reaches: among the resources whose path matches and that
 * define the method (or ANY), the most specific (literal parts before `{param}`, a `{proxy+}`
 * last); the resource's own method before its ANY.
 */
export function selectResource(resources: RestResource[], method: string, resourcePath: string): { resource: RestResource; restMethod: RestMethod; pathParameters: Record<string, string> } | undefined {
  let best: { resource: RestResource; restMethod: RestMethod; key: ParsedRouteKey; pathParameters: Record<string, string> } | undefined;
  for (const resource of resources) {
    const restMethod = resource.methods[method] ?? resource.methods.ANY;
    if (!restMethod) continue;
    const key = parsePath(resource.path);
    if (!key) continue;
    const pathParameters = matchRoutePath(key, resourcePath);
    if (!pathParameters) continue;
    if (!best || compareSpecificity(key, best.key) < 0) best = { resource, restMethod, key, pathParameters };
  }
  return best && { resource: best.resource, restMethod: best.restMethod, pathParameters: best.pathParameters };
}

/** `arn:aws:cognito-idp:<region>:<account>:userpool/<poolId>` → the pool's token issuer. */
function issuerOfPoolArn(arn: string): string | undefined {
  const m = /^arn:aws[\w-]*:cognito-idp:([a-z0-9-]+):\d{12}:userpool\/([\w-]+_[0-9A-Za-z]+)$/.exec(arn);
  return m ? `https://cognito-idp.${m[1]}.amazonaws.com/${m[2]}` : undefined;
}

/** The function ARN inside `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`. */
export function functionOfUri(uri: string): string {
  return /\/functions\/(.+)\/invocations$/.exec(uri)?.[1] ?? uri;
}

/**
 * The execute-api ARN a REST API invokes a function from (the Lambda permission's SourceArn):
 * `arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<resource path>` with the
 * request's method (an ANY method's permission is granted for `*`) and the resource path as
 * defined, without its leading slash (`…/GET/` for the root).
 */
export function restExecuteApiArn(region: string, account: string, apiId: string, stage: string, method: string, resourcePath: string): string {
  return `arn:aws:execute-api:${region}:${account}:${apiId}/${stage}/${method}/${resourcePath.replace(/^\//, '')}`;
}

/**
 * The request's headers as the integration sees them: the client's, with Host the API's domain
 * name and the gateway's X-Amzn-Trace-Id and X-Forwarded-For/-Port/-Proto.
 */


/**
 * The REST API Lambda proxy event: payload 1.0's shape (mapping.ts's eventV1, which is modelled
 * on it) with what REST APIs put differently: no `version`; `path` without the stage,
 * `requestContext.path` with it; resource id and path; extendedRequestId the x-amz-apigw-id;
 * `authorizer.claims` only behind an authorizer; the body as text (binary media types are not
 * in the deployment snapshot, so nothing is base64-encoded).
 */
function restProxyEvent(a: {
  req: http.IncomingMessage;
  body: Buffer;
  rawPath: string;
  rawQuery: string;
  stage: string;
  resourcePath: string;
  resource: RestResource;
  pathParameters: Record<string, string>;
  served: ServedRestStage;
  claims?: Record<string, string>;
  meta: RestRequestMeta;
  apigwId: string;
  lookup: RestApiLookup;
}): Record<string, unknown> {
  const domainName = a.lookup.domainOf(a.served.apiId);
  const method = a.req.method ?? 'GET';
  const e = eventV1(
    {
      method,
      rawPath: a.rawPath,
      rawQueryString: a.rawQuery,
      headers: forwardedHeaders(a.req, domainName, a.meta.sourceIp, a.meta.tls, { canonicalNames: true }),
      body: a.body,
      sourceIp: a.meta.sourceIp,
      protocol: `HTTP/${a.req.httpVersion}`,
    },
    {
      accountId: a.lookup.account,
      apiId: a.served.apiId,
      domainName,
      domainPrefix: a.served.apiId,
      stage: a.stage,
      routeKey: `${method} ${a.resource.path}`,
      requestId: a.meta.requestId,
      timeEpoch: a.meta.started,
      pathParameters: a.pathParameters,
      stageVariables: a.served.stageVariables,
    },
  );
  delete e.version;
  e.path = safeDecodePath(a.resourcePath);
  const rc = e.requestContext as Record<string, unknown>;
  rc.resourceId = a.resource.id;
  rc.resourcePath = a.resource.path;
  rc.extendedRequestId = a.apigwId;
  if (a.claims) rc.authorizer = { claims: a.claims };
  else delete rc.authorizer;
  e.body = a.body.length ? a.body.toString('utf8') : null;
  e.isBase64Encoded = false;
  return e;
}
