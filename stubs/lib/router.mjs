// The stub's HTTP plumbing (Node built-ins only): routes with `:param` segments, JSON replies,
// one log line per request ("GET /health 200 1.2ms"), 404 for unknown paths and 405 (with
// Allow) for a known path with another method.

/** An error a route throws to answer with a status. */
export class HttpError extends Error {
  /** @param {number} status @param {string} message @param {Record<string, unknown>} [extra] */
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

/**
 * @typedef {object} Incoming
 * @property {string} method
 * @property {string} path
 * @property {string} search                    the query string with its '?', or ''
 * @property {Record<string, string>} params
 * @property {URLSearchParams} query
 * @property {import('node:http').IncomingHttpHeaders} headers
 * @property {() => Promise<Buffer>} body
 * @property {() => Promise<unknown>} json      rejects with HttpError 400 on a malformed body
 *
 * @typedef {{ status: number, body?: unknown, headers?: Record<string, string> }} Reply
 * @typedef {{ method: string, path: string, handle: (req: Incoming) => Promise<Reply> | Reply }} Route
 */

/**
 * Answers one request from `routes` (first match wins).
 * @param {Route[]} routes @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 * @param {{ log: (line: string) => void, logError: (line: string) => void }} out
 */
export async function handle(routes, req, res, out) {
  const started = process.hrtime.bigint();
  const url = new URL(req.url ?? '/', 'http://stub.invalid');
  res.on('close', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    out.log(`${req.method} ${url.pathname} ${res.writableFinished ? res.statusCode : `${res.statusCode} aborted`} ${ms.toFixed(1)}ms`);
  });
  /** @type {Reply} */
  let reply;
  try {
    const match = matchRoute(routes, req.method ?? 'GET', url.pathname);
    if (!match) {
      reply = { status: 404, body: { error: 'not found', path: url.pathname } };
    } else if ('allow' in match) {
      reply = { status: 405, body: { error: 'method not allowed' }, headers: { allow: match.allow } };
    } else {
      /** @type {Promise<Buffer> | undefined} */
      let bodyP;
      const body = () => (bodyP ??= readBody(req));
      reply = await match.route.handle({
        method: req.method ?? 'GET',
        path: url.pathname,
        search: url.search,
        params: match.params,
        query: url.searchParams,
        headers: req.headers,
        body,
        async json() {
          const buf = await body();
          if (buf.length === 0) throw new HttpError(400, 'request body must be JSON');
          try {
            return JSON.parse(buf.toString('utf8'));
          } catch {
            throw new HttpError(400, 'request body is not valid JSON');
          }
        },
      });
    }
  } catch (err) {
    if (err instanceof HttpError) {
      reply = { status: err.status, body: { error: err.message, ...err.extra } };
    } else {
      out.logError(`error handling ${req.method} ${url.pathname}: ${err instanceof Error ? err.stack : String(err)}`);
      reply = { status: 500, body: { error: 'internal error' } };
    }
  }
  const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...(payload ? { 'content-type': 'application/json' } : {}),
    'content-length': Buffer.byteLength(payload),
    ...reply.headers,
  });
  res.end(payload);
}

/**
 * @param {Route[]} routes @param {string} method @param {string} path
 * @returns {{ route: Route, params: Record<string, string> } | { allow: string } | undefined}
 */
export function matchRoute(routes, method, path) {
  const allowed = [];
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
    if (!allowed.includes(route.method)) allowed.push(route.method);
  }
  return allowed.length ? { allow: allowed.join(', ') } : undefined;
}

/** '/assets/:id' against '/assets/a1' → {id: 'a1'} */
function matchPath(/** @type {string} */ pattern, /** @type {string} */ path) {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return undefined;
  /** @type {Record<string, string>} */
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      if (!s[i]) return undefined;
      try {
        params[p[i].slice(1)] = decodeURIComponent(s[i]);
      } catch {
        return undefined;
      }
    } else if (p[i] !== s[i]) return undefined;
  }
  return params;
}

/** @param {import('node:http').IncomingMessage} req @returns {Promise<Buffer>} */
function readBody(req, limit = 1 << 20) {
  return new Promise((resolve, reject) => {
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, `request body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
