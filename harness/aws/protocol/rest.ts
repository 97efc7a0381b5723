import type { IncomingHttpHeaders } from 'node:http';
import { AwsError } from './errors.ts';
import type { RequestContext } from './types.ts';

/**
 * restJson1 (Lambda, API Gateway v2): the operation is chosen by HTTP method and path, its
 * input comes from path labels, the query string, headers and a JSON (or raw) payload, and its
 * answer is a status code, headers and a payload. Routes are written after the botocore model's
 * `http.method` / `http.requestUri` of each operation.
 */
export interface RestRoute {
  method: string;
  /** the model's requestUri, e.g. `/2015-03-31/functions/{FunctionName}/invocations`; `{x+}` is greedy; a `?query` part is ignored */
  uri: string;
  operation: string;
}

export interface RestRequest {
  method: string;
  /** the request path, percent-decoded per segment, without the query */
  path: string;
  /** the values of the route's `{labels}` (percent-decoded) */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** the raw payload */
  body: Buffer;
  /** the payload as a JSON object ({} when empty); malformed JSON is a SerializationException */
  json(): Record<string, unknown>;
}

export interface RestResponse {
  /** 200 unless given */
  status?: number;
  headers?: Record<string, string>;
  /** an object is sent as JSON (Dates as epoch seconds); a Buffer or string as it is */
  body?: unknown;
}

export type RestOperation = (req: RestRequest, ctx: RequestContext) => RestResponse | Promise<RestResponse>;

/** One emulated restJson1 service as the edge sees it: its signing name(s), routes and operations. */
export interface RestJsonProvider {
  readonly serviceName: string;
  readonly signingNames?: readonly string[];
  readonly protocol: 'rest-json';
  readonly validationErrorCode: string;
  readonly routes: readonly RestRoute[];
  readonly operations: Readonly<Record<string, RestOperation>>;
  /**
   * How this service writes an error body (the edge adds `x-amzn-ErrorType`). Default
   * `{ message, __type }`; Lambda sends `{ Type: 'User', message }`.
   */
  errorBody?(err: AwsError): Record<string, unknown>;
}

interface Compiled {
  route: RestRoute;
  re: RegExp;
  labels: string[];
  /** literal characters: the most specific route wins */
  weight: number;
}

const cache = new WeakMap<readonly RestRoute[], Compiled[]>();

function compile(routes: readonly RestRoute[]): Compiled[] {
  let c = cache.get(routes);
  if (c) return c;
  c = routes.map((route) => {
    const uri = route.uri.split('?')[0]!;
    const labels: string[] = [];
    let src = '';
    let weight = 0;
    for (const part of uri.split(/(\{[^}]+\})/)) {
      const m = /^\{([^}+]+)(\+?)\}$/.exec(part);
      if (m) {
        labels.push(m[1]!);
        src += m[2] ? '(.+)' : '([^/]+)';
      } else {
        src += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        weight += part.length;
      }
    }
    return { route, re: new RegExp(`^${src}/?$`), labels, weight };
  });
  c.sort((a, b) => b.weight - a.weight);
  cache.set(routes, c);
  return c;
}

/**
 * The route a request takes. No route for the path: UnknownOperationException (404); a route for
 * the path but not the method: 405, as API Gateway-fronted AWS services answer.
 */
export function matchRoute(p: RestJsonProvider, method: string, rawPath: string): { route: RestRoute; params: Record<string, string> } {
  let pathMatched = false;
  for (const c of compile(p.routes)) {
    const m = c.re.exec(rawPath);
    if (!m) continue;
    pathMatched = true;
    if (c.route.method !== method) continue;
    const params: Record<string, string> = {};
    c.labels.forEach((l, i) => (params[l] = safeDecode(m[i + 1]!)));
    return { route: c.route, params };
  }
  if (pathMatched) throw new AwsError('MethodNotAllowedException', `Method ${method} is not allowed on ${rawPath}.`, 405);
  throw new AwsError('UnknownOperationException', `No ${p.serviceName} operation is served at ${method} ${rawPath}.`, 404);
}

/** Whether some route of the provider is served at this path (any method). */
export function servesPath(p: RestJsonProvider, rawPath: string): boolean {
  return compile(p.routes).some((c) => c.re.test(rawPath));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function restRequest(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer, params: Record<string, string>): RestRequest {
  const u = new URL(url, 'http://edge');
  let parsed: Record<string, unknown> | undefined;
  return {
    method,
    path: u.pathname.split('/').map(safeDecode).join('/'),
    params,
    query: u.searchParams,
    headers,
    body,
    json() {
      if (parsed) return parsed;
      const text = body.toString('utf8');
      if (text.trim() === '') return (parsed = {});
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        throw new AwsError('SerializationException', 'Could not parse request body into json: malformed JSON.');
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AwsError('SerializationException', 'Could not parse request body into json: expected an object.');
      return (parsed = v as Record<string, unknown>);
    },
  };
}

/** An error body as restJson1 services send it (botocore reads the code from x-amzn-ErrorType). */
export function restErrorBody(p: RestJsonProvider | undefined, err: AwsError): string {
  if (p?.errorBody) return JSON.stringify({ ...err.fields, ...p.errorBody(err) });
  return JSON.stringify({ ...err.fields, __type: err.code, message: err.message });
}
