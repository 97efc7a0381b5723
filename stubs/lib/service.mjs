// The shared body of the five stub services: HTTP server, health, /version, /api/trace,
// request logging, injected faults and SIGTERM handling. Each entry point (stubs/<service>.mjs)
// adds its own routes. Behaviour comes from the image ENV and the task's environment:
//
//   STUB_SERVICE            the service name (informational; the entry point decides)
//   STUB_VERSION            the image tag, reported by /version and /api/trace
//   STUB_FAULT              '' | 'unhealthy' (health answers 503) | 'crash' (error line, exit 1 at
//                           start) | 'slow-start' (listen only after STUB_SLOW_START_SECONDS ×
//                           HARNESS_TIME_SCALE seconds) | 'ignore-sigterm' (SIGTERM is logged, ignored)
//   STUB_SLOW_START_SECONDS default 20
//   HARNESS_TIME_SCALE      default 1
//   STUB_HOP_TIMEOUT_MS     per-hop timeout for calls to dependencies, default 3000
//   STUB_ECHO_ENV           comma-separated names: at start, log "env NAME sha256=<hex>" (or "unset")
//                           for each, so a test can prove a (secret) value reached the process
//                           without the value itself ever being printed
//   HOST, PORT              listen address (default 0.0.0.0 and the service's port; PORT=0 = any)
//
// Secrets (ANTHROPIC_API_KEY, COGNITO_JWKS_URL, anything named *KEY*, *SECRET*, *TOKEN*,
// *PASSWORD*) are never printed: the start-up line says only whether each is present.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { request, describeError } from './http-client.mjs';

/**
 * @typedef {{ service: string, env: string, defaultUrl: string }} Dependency
 * @typedef {{ port: number, healthPath: string, dependencies: Dependency[] }} ServiceInfo
 */

/** The five services: port, health path, and the env vars naming their dependencies. */
export const SERVICES = /** @type {const} */ ({
  gateway: {
    port: 8080,
    healthPath: '/q/health',
    dependencies: [
      { service: 'analysis-agent', env: 'ANALYSIS_AGENT_URL', defaultUrl: 'http://analysis-agent.escher.internal:8081' },
      { service: 'playbook-agent', env: 'PLAYBOOK_AGENT_URL', defaultUrl: 'http://playbook-agent.escher.internal:8082' },
      { service: 'context-engine', env: 'CONTEXT_ENGINE_URL', defaultUrl: 'http://context-engine.escher.internal:8001' },
    ],
  },
  'analysis-agent': {
    port: 8081,
    healthPath: '/health',
    dependencies: [
      { service: 'context-engine', env: 'CONTEXT_ENGINE_URL', defaultUrl: 'http://context-engine.escher.internal:8001' },
    ],
  },
  'playbook-agent': {
    port: 8082,
    healthPath: '/health',
    dependencies: [
      { service: 'context-engine', env: 'CONTEXT_ENGINE_URL', defaultUrl: 'http://context-engine.escher.internal:8001' },
    ],
  },
  'context-engine': {
    port: 8001,
    healthPath: '/health',
    dependencies: [
      { service: 'asset-store', env: 'ASSET_STORE_URL', defaultUrl: 'http://asset-store.escher.internal:8000' },
    ],
  },
  'asset-store': { port: 8000, healthPath: '/health', dependencies: [] },
});

export const FAULTS = ['', 'unhealthy', 'crash', 'slow-start', 'ignore-sigterm'];

/** Header carrying the remaining time budget of a /api/trace request down the chain. */
const TRACE_BUDGET_HEADER = 'x-stub-trace-budget-ms';
const SECRET_NAME = /(^|_)(API_?KEY|KEY|SECRET|TOKEN|PASSWORD|CREDENTIALS?)(_|$)|JWKS/i;
const KNOWN_SECRETS = ['ANTHROPIC_API_KEY', 'COGNITO_JWKS_URL'];

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
 * @property {Record<string, string>} params
 * @property {URLSearchParams} query
 * @property {import('node:http').IncomingHttpHeaders} headers
 * @property {() => Promise<Buffer>} body
 * @property {() => Promise<unknown>} json      rejects with HttpError 400 on a malformed body
 *
 * @typedef {{ status: number, body?: unknown, headers?: Record<string, string> }} Reply
 * @typedef {{ method: string, path: string, handle: (req: Incoming) => Promise<Reply> | Reply }} Route
 *
 * @typedef {object} ServiceContext
 * @property {string} service
 * @property {string} version
 * @property {Record<string, string | undefined>} env
 * @property {number} hopTimeoutMs
 * @property {(line: string) => void} log        one stdout line
 * @property {(line: string) => void} logError   one stderr line
 * @property {(envName: string) => string} dependencyUrl   the URL a dependency env var names (or its default)
 * @property {(baseUrl: string, path: string, req: Incoming) => Promise<Reply>} forward
 *           sends req (method, JSON body) to baseUrl+path; answers the upstream reply or 502
 *
 * @typedef {{ routes?: (ctx: ServiceContext) => Route[] | Promise<Route[]>, onClose?: () => Promise<void>,
 *   health?: () => Promise<{ ok: boolean, reason?: string }> }} ServiceDefinition
 *   `health`: asked on every health request; not ok → the health path answers 503 with the reason
 */

/**
 * Runs a stub service in this process until SIGTERM/SIGINT. Never throws: a fatal problem is
 * one stderr line and a non-zero exit code, as a real container would do.
 * @param {keyof typeof SERVICES} service
 * @param {ServiceDefinition} [def]
 */
export async function runService(service, def = {}) {
  const env = process.env;
  const info = SERVICES[service];
  const version = env.STUB_VERSION || 'dev';
  const fault = env.STUB_FAULT ?? '';
  const log = (/** @type {string} */ line) => void process.stdout.write(`${line}\n`);
  const logError = (/** @type {string} */ line) => void process.stderr.write(`${line}\n`);

  if (!FAULTS.includes(fault)) {
    logError(`FATAL ${service}: unknown STUB_FAULT ${JSON.stringify(fault)} (expected one of ${FAULTS.filter(Boolean).join(', ')})`);
    process.exitCode = 2;
    return;
  }
  if (env.STUB_SERVICE && env.STUB_SERVICE !== service) {
    logError(`warning: STUB_SERVICE=${env.STUB_SERVICE} but this entry point is ${service}`);
  }
  if (fault === 'crash') {
    logError(`FATAL ${service} ${version}: simulated start-up failure (STUB_FAULT=crash)`);
    process.exitCode = 1;
    return;
  }

  const host = env.HOST || '0.0.0.0';
  const port = env.PORT !== undefined && env.PORT !== '' ? Number(env.PORT) : info.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    logError(`FATAL ${service}: invalid PORT ${JSON.stringify(env.PORT)}`);
    process.exitCode = 2;
    return;
  }
  const hopTimeoutMs = positiveNumber(env.STUB_HOP_TIMEOUT_MS, 3000);

  /** @type {ServiceContext} */
  const ctx = {
    service,
    version,
    env,
    hopTimeoutMs,
    log,
    logError,
    dependencyUrl(envName) {
      const dep = info.dependencies.find((d) => d.env === envName);
      return (env[envName] || dep?.defaultUrl || '').replace(/\/+$/, '');
    },
    async forward(baseUrl, path, req) {
      const url = `${baseUrl}${path}`;
      let body;
      if (req.method !== 'GET' && req.method !== 'HEAD') body = await req.json();
      try {
        const res = await request(url, { method: req.method, body, timeoutMs: hopTimeoutMs });
        return { status: res.status, body: res.json ?? { error: 'upstream answered a non-JSON body', url, status: res.status } };
      } catch (err) {
        return { status: 502, body: { error: describeError(err), url } };
      }
    },
  };

  log(`${service} ${version} starting (pid ${process.pid}, ${process.platform}/${process.arch}, node ${process.version})`);
  const secretNames = [...new Set([...KNOWN_SECRETS, ...Object.keys(env).filter((k) => SECRET_NAME.test(k))])].sort();
  log(`secrets: ${secretNames.map((k) => `${k}=${env[k] ? '<set>' : '<unset>'}`).join(' ')}`);
  for (const name of (env.STUB_ECHO_ENV ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const v = env[name];
    log(v === undefined ? `env ${name} unset` : `env ${name} sha256=${createHash('sha256').update(v).digest('hex')}`);
  }

  /** @type {Route[]} */
  const routes = [
    {
      method: 'GET',
      path: info.healthPath,
      handle: async () => {
        const dep = fault === 'unhealthy' || !def.health ? undefined : await def.health();
        return dep && !dep.ok ? dependencyDown(service, version, dep.reason ?? 'a dependency is down') : healthReply(service, version, fault === 'unhealthy');
      },
    },
    {
      method: 'GET',
      path: '/version',
      handle: () => ({ status: 200, body: { service, version, arch: process.arch, taskIp: env.HARNESS_TASK_IP || host } }),
    },
    { method: 'GET', path: '/api/trace', handle: (req) => trace(ctx, info, req) },
    ...((await def.routes?.(ctx)) ?? []),
  ];

  const server = http.createServer((req, res) => void handle(routes, req, res, ctx));
  server.keepAliveTimeout = 2000;

  /** @type {NodeJS.Timeout | undefined} */
  let slowTimer;
  let stopping = false;
  const shutdown = (/** @type {string} */ signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    clearTimeout(slowTimer);
    // Exit 0 within a second even if a client holds a keep-alive connection open.
    setTimeout(() => process.exit(0), 900).unref();
    setTimeout(() => server.closeAllConnections(), 300).unref();
    server.close(() => {
      void Promise.resolve(def.onClose?.()).finally(() => process.exit(0));
    });
    server.closeIdleConnections();
    if (!server.listening) process.exit(0);
  };
  if (fault === 'ignore-sigterm') {
    process.on('SIGTERM', () => log('SIGTERM: ignored (STUB_FAULT=ignore-sigterm)'));
  } else {
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  }
  process.on('SIGINT', () => shutdown('SIGINT'));

  server.on('error', (err) => {
    logError(`FATAL ${service}: cannot listen on ${host}:${port}: ${describeError(err)}`);
    process.exit(1);
  });
  const listen = () => {
    server.listen(port, host, () => {
      const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
      log(`${service} ${version} listening on http://${addr.address}:${addr.port}`);
    });
  };
  if (fault === 'slow-start') {
    const seconds = positiveNumber(env.STUB_SLOW_START_SECONDS, 20) * positiveNumber(env.HARNESS_TIME_SCALE, 1);
    log(`slow start (STUB_FAULT=slow-start): listening in ${Math.round(seconds * 1000)}ms`);
    slowTimer = setTimeout(listen, seconds * 1000);
  } else {
    listen();
  }
}

/** @returns {Reply} */
function dependencyDown(service, version, reason) {
  return service === 'gateway'
    ? { status: 503, body: { status: 'DOWN', checks: [{ name: 'dependency', status: 'DOWN', data: { reason } }] } }
    : { status: 503, body: { status: 'unhealthy', service, version, reason } };
}

/** @returns {Reply} */
function healthReply(service, version, unhealthy) {
  if (service === 'gateway') {
    // Quarkus SmallRye Health shape
    return unhealthy
      ? { status: 503, body: { status: 'DOWN', checks: [{ name: 'stub-fault', status: 'DOWN' }] } }
      : { status: 200, body: { status: 'UP', checks: [] } };
  }
  return unhealthy
    ? { status: 503, body: { status: 'unhealthy', service, version, reason: 'STUB_FAULT=unhealthy' } }
    : { status: 200, body: { status: 'ok', service, version } };
}

/**
 * GET /api/trace: calls every dependency's /api/trace (in parallel) and nests their answers.
 * Any failed hop, at any depth, makes the answer 502. The time budget shrinks down the chain,
 * so the hop that really failed is the one that reports the timeout.
 * @param {ServiceContext} ctx @param {ServiceInfo} info @param {Incoming} req
 * @returns {Promise<Reply>}
 */
async function trace(ctx, info, req) {
  const given = Number(req.headers[TRACE_BUDGET_HEADER]);
  const budget = Number.isFinite(given) && given > 0 ? Math.min(given, ctx.hopTimeoutMs) : ctx.hopTimeoutMs;
  const downstreamBudget = Math.max(50, Math.floor(budget * 0.8) - 50);
  const hops = await Promise.all(
    info.dependencies.map(async (dep) => {
      const url = `${ctx.dependencyUrl(dep.env)}/api/trace`;
      try {
        const res = await request(url, {
          timeoutMs: budget,
          headers: { [TRACE_BUDGET_HEADER]: String(downstreamBudget) },
        });
        const body = res.json && typeof res.json === 'object' ? /** @type {Record<string, unknown>} */ (res.json) : {};
        const hop = { ...body, url, status: res.status };
        if (res.status !== 200) hop.error ??= `HTTP ${res.status}`;
        return hop;
      } catch (err) {
        return { service: dep.service, url, error: describeError(err) };
      }
    }),
  );
  const failed = hops.some((h) => 'error' in h);
  return { status: failed ? 502 : 200, body: { service: ctx.service, version: ctx.version, hops } };
}

/**
 * @param {Route[]} routes @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res @param {ServiceContext} ctx
 */
async function handle(routes, req, res, ctx) {
  const started = process.hrtime.bigint();
  const url = new URL(req.url ?? '/', 'http://stub.invalid');
  res.on('close', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    ctx.log(`${req.method} ${url.pathname} ${res.writableFinished ? res.statusCode : `${res.statusCode} aborted`} ${ms.toFixed(1)}ms`);
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
      ctx.logError(`error handling ${req.method} ${url.pathname}: ${err instanceof Error ? err.stack : String(err)}`);
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
function matchRoute(routes, method, path) {
  const allowed = [];
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length ? { allow: allowed.join(', ') } : undefined;
}

/** '/assets/:id' against '/assets/a1' → {id: 'a1'} */
function matchPath(pattern, path) {
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

function positiveNumber(value, fallback) {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isFinite(n) && n >= 0 ? n : fallback;
}
