/**
 * The Lambda proxy integration of HTTP APIs: the event a function gets (payload format 2.0 and
 * 1.0) and how its answer becomes the HTTP response, as API Gateway documents them
 * ("Create AWS Lambda proxy integrations for HTTP APIs in API Gateway").
 */

/** One request as the gateway saw it, after it added its own headers. */
export interface GatewayRequest {
  method: string;
  /** the path as sent, percent-encoded, including a named stage's prefix */
  rawPath: string;
  /** what follows `?`, as sent ('' when none) */
  rawQueryString: string;
  /** header name / value pairs in arrival order, names as sent */
  headers: [string, string][];
  body: Buffer;
  sourceIp: string;
  protocol: string;
}

export interface GatewayContext {
  accountId: string;
  apiId: string;
  domainName: string;
  domainPrefix: string;
  stage: string;
  routeKey: string;
  requestId: string;
  timeEpoch: number;
  pathParameters: Record<string, string>;
  stageVariables: Record<string, string>;
  /** a JWT authorizer's verdict: the token's claims (as strings) and scopes */
  jwt?: { claims: Record<string, string>; scopes: string[] | null };
}

/** A response the gateway sends: status, headers (a name may repeat, e.g. set-cookie) and body. */
export interface GatewayResponse {
  statusCode: number;
  headers: [string, string][];
  body: Buffer;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'content-length']);

/** A response's headers as the client gets them: names lower-cased, hop-by-hop ones and Content-Length left out, a repeated name's values joined with commas (Set-Cookie's kept apart). */
export function clientHeaders(r: GatewayResponse): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of r.headers) {
    const name = k.toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    const cur = headers[name];
    headers[name] = cur === undefined ? v : name === 'set-cookie' ? [...(Array.isArray(cur) ? cur : [cur]), v] : `${cur},${v}`;
  }
  return headers;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, the time format of requestContext.time / requestTime. */
export function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * Whether API Gateway passes a body as text: text/*, JSON, XML and JavaScript media types
 * without a content-encoding; anything else (form posts, binaries, gzip) is base64.
 */
export function isTextBody(headers: [string, string][], body: Buffer): boolean {
  const get = (n: string) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
  if (get('content-encoding')) return false;
  const type = (get('content-type') ?? '').toLowerCase().split(';')[0]!.trim();
  if (!type) return isUtf8(body);
  return type.startsWith('text/') || /(^|[/+])(json|xml)$/.test(type) || /javascript/.test(type);
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

function bodyOf(req: GatewayRequest): { body?: string; isBase64Encoded: boolean } {
  if (!req.body.length) return { isBase64Encoded: false };
  return isTextBody(req.headers, req.body) ? { body: req.body.toString('utf8'), isBase64Encoded: false } : { body: req.body.toString('base64'), isBase64Encoded: true };
}

function queryEntries(raw: string): [string, string][] {
  return raw ? [...new URLSearchParams(raw).entries()] : [];
}

function userAgentOf(req: GatewayRequest): string {
  return req.headers.filter(([k]) => k.toLowerCase() === 'user-agent').map(([, v]) => v).join(',');
}

/** Payload format 2.0. */
export function eventV2(req: GatewayRequest, ctx: GatewayContext): Record<string, unknown> {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [k, v] of req.headers) {
    const name = k.toLowerCase();
    if (name === 'cookie') {
      cookies.push(...v.split(';').map((c) => c.trim()).filter(Boolean));
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${v}` : v;
  }
  const qs: Record<string, string> = {};
  for (const [k, v] of queryEntries(req.rawQueryString)) qs[k] = k in qs ? `${qs[k]},${v}` : v;
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: ctx.routeKey,
    rawPath: req.rawPath,
    rawQueryString: req.rawQueryString,
  };
  if (cookies.length) event.cookies = cookies;
  event.headers = headers;
  if (Object.keys(qs).length) event.queryStringParameters = qs;
  event.requestContext = {
    accountId: ctx.accountId,
    apiId: ctx.apiId,
    ...(ctx.jwt ? { authorizer: { jwt: { claims: ctx.jwt.claims, scopes: ctx.jwt.scopes } } } : {}),
    domainName: ctx.domainName,
    domainPrefix: ctx.domainPrefix,
    http: { method: req.method, path: safeDecodePath(req.rawPath), protocol: req.protocol, sourceIp: req.sourceIp, userAgent: userAgentOf(req) },
    requestId: ctx.requestId,
    routeKey: ctx.routeKey,
    stage: ctx.stage,
    time: clfTime(ctx.timeEpoch),
    timeEpoch: ctx.timeEpoch,
  };
  const b = bodyOf(req);
  if (b.body !== undefined) event.body = b.body;
  if (Object.keys(ctx.pathParameters).length) event.pathParameters = ctx.pathParameters;
  event.isBase64Encoded = b.isBase64Encoded;
  if (Object.keys(ctx.stageVariables).length) event.stageVariables = ctx.stageVariables;
  return event;
}

/** Payload format 1.0 (the REST API proxy shape). */
export function eventV1(req: GatewayRequest, ctx: GatewayContext): Record<string, unknown> {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [k, v] of req.headers) {
    const existing = Object.keys(multiValueHeaders).find((n) => n.toLowerCase() === k.toLowerCase()) ?? k;
    (multiValueHeaders[existing] ??= []).push(v);
    headers[existing] = v;
  }
  const entries = queryEntries(req.rawQueryString);
  const qs: Record<string, string> = {};
  const mqs: Record<string, string[]> = {};
  for (const [k, v] of entries) {
    qs[k] = v;
    (mqs[k] ??= []).push(v);
  }
  const routePath = ctx.routeKey === '$default' ? '$default' : ctx.routeKey.slice(ctx.routeKey.indexOf(' ') + 1);
  const path = safeDecodePath(req.rawPath);
  const b = bodyOf(req);
  const ua = userAgentOf(req);
  return {
    version: '1.0',
    resource: routePath,
    path,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    queryStringParameters: entries.length ? qs : null,
    multiValueQueryStringParameters: entries.length ? mqs : null,
    requestContext: {
      accountId: ctx.accountId,
      apiId: ctx.apiId,
      authorizer: ctx.jwt ? { claims: ctx.jwt.claims, scopes: ctx.jwt.scopes } : { claims: null, scopes: null },
      domainName: ctx.domainName,
      domainPrefix: ctx.domainPrefix,
      extendedRequestId: ctx.requestId,
      httpMethod: req.method,
      identity: {
        accessKey: null,
        accountId: null,
        caller: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.sourceIp,
        user: null,
        userAgent: ua,
        userArn: null,
      },
      path,
      protocol: req.protocol,
      requestId: ctx.requestId,
      requestTime: clfTime(ctx.timeEpoch),
      requestTimeEpoch: ctx.timeEpoch,
      resourceId: ctx.routeKey,
      resourcePath: routePath,
      stage: ctx.stage,
    },
    pathParameters: Object.keys(ctx.pathParameters).length ? ctx.pathParameters : null,
    stageVariables: Object.keys(ctx.stageVariables).length ? ctx.stageVariables : null,
    body: b.body ?? null,
    isBase64Encoded: b.isBase64Encoded,
  };
}

/** A path with each segment percent-decoded (a malformed escape stays as sent). */
export function safeDecodePath(p: string): string {
  return p
    .split('/')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    })
    .join('/');
}

/** Why a function's answer could not be mapped (the gateway answers 500). */
export class MalformedResponse extends Error {}

function headerValue(v: unknown, where: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new MalformedResponse(`${where} is not a string`);
}

function statusOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 100 || v > 599) throw new MalformedResponse(`statusCode ${JSON.stringify(v)} is not an HTTP status code`);
  return v;
}

function headersOf(o: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  if (o.headers !== undefined && o.headers !== null) {
    if (typeof o.headers !== 'object' || Array.isArray(o.headers)) throw new MalformedResponse('headers is not an object');
    for (const [k, v] of Object.entries(o.headers)) out.push([k, headerValue(v, `headers.${k}`)]);
  }
  if (o.multiValueHeaders !== undefined && o.multiValueHeaders !== null) {
    if (typeof o.multiValueHeaders !== 'object' || Array.isArray(o.multiValueHeaders)) throw new MalformedResponse('multiValueHeaders is not an object');
    for (const [k, vs] of Object.entries(o.multiValueHeaders)) {
      if (!Array.isArray(vs)) throw new MalformedResponse(`multiValueHeaders.${k} is not a list`);
      for (const v of vs) out.push([k, headerValue(v, `multiValueHeaders.${k}`)]);
    }
  }
  return out;
}

function bodyBytes(o: Record<string, unknown>): Buffer {
  if (o.body === undefined || o.body === null) return Buffer.alloc(0);
  if (typeof o.body !== 'string') throw new MalformedResponse('body is not a string');
  if (o.isBase64Encoded !== undefined && typeof o.isBase64Encoded !== 'boolean') throw new MalformedResponse('isBase64Encoded is not a boolean');
  return o.isBase64Encoded ? Buffer.from(o.body, 'base64') : Buffer.from(o.body, 'utf8');
}

function parsePayload(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new MalformedResponse('the function did not return JSON');
  }
}

/**
 * Payload format 2.0: an object with statusCode is a response (statusCode, headers,
 * multiValueHeaders, cookies → set-cookie, body, isBase64Encoded); any other JSON value is the
 * body of a 200 application/json response.
 */
export function responseV2(payload: Buffer): GatewayResponse {
  const v = parsePayload(payload);
  if (!v || typeof v !== 'object' || Array.isArray(v) || !('statusCode' in v)) {
    return { statusCode: 200, headers: [['content-type', 'application/json']], body: Buffer.from(payload.toString('utf8').trim(), 'utf8') };
  }
  const o = v as Record<string, unknown>;
  const statusCode = statusOf(o.statusCode);
  const headers = headersOf(o);
  if (o.cookies !== undefined && o.cookies !== null) {
    if (!Array.isArray(o.cookies)) throw new MalformedResponse('cookies is not a list');
    for (const c of o.cookies) headers.push(['set-cookie', headerValue(c, 'cookies[]')]);
  }
  return { statusCode, headers, body: bodyBytes(o) };
}

/** Payload format 1.0: the answer must be an object with statusCode (headers, multiValueHeaders, body, isBase64Encoded). */
export function responseV1(payload: Buffer): GatewayResponse {
  const v = parsePayload(payload);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new MalformedResponse('the function did not return an object with statusCode');
  const o = v as Record<string, unknown>;
  if (!('statusCode' in o)) throw new MalformedResponse('the function\'s answer has no statusCode');
  return { statusCode: statusOf(o.statusCode), headers: headersOf(o), body: bodyBytes(o) };
}
