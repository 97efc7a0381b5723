// Calls from a stub to the services it depends on (STUB_DEPENDENCIES, in order):
//
// - trace: GET /api/trace calls every dependency's /api/trace in parallel and nests the answers;
//   any failed hop, at any depth, makes the answer 502. The time budget shrinks down the chain,
//   so the hop that really failed is the one that reports the timeout.
// - forward: a data or analysis request a stub does not serve itself goes to its dependencies
//   one after the other; the first answer that is not a plain 404 wins. So a request to the front
//   service reaches whichever service owns the data or the key, through the chain, without any
//   service knowing another's name.
//
// Headers between stubs:
//   x-stub-budget-ms   what is left of the caller's time budget
//   x-stub-via         the services this request already passed (comma-separated): a service
//                      that finds itself there does not call on (a dependency cycle ends there)
//   x-stub-served-by   set on every answer of a route's owner (even a 404 "asset not found"), so
//                      a forwarder tells "not found" from "not served here"
import { request, describeError } from './http-client.mjs';

export const BUDGET_HEADER = 'x-stub-budget-ms';
export const VIA_HEADER = 'x-stub-via';
export const SERVED_BY_HEADER = 'x-stub-served-by';
/** A request passes at most this many services (a longer chain is a loop the via list missed). */
export const MAX_HOPS = 16;

/**
 * @typedef {object} Caller
 * @property {string} service
 * @property {string} identity
 * @property {string} version
 * @property {number} hopTimeoutMs
 * @property {import('./contract.mjs').Dependency[]} dependencies
 */

/** @param {import('node:http').IncomingHttpHeaders} headers */
function header(headers, /** @type {string} */ name) {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The services a request already passed. @param {import('node:http').IncomingHttpHeaders} headers */
export function viaOf(headers) {
  return (header(headers, VIA_HEADER) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * This hop's time budget and the one it passes on.
 * @param {import('node:http').IncomingHttpHeaders} headers @param {number} hopTimeoutMs
 */
export function budgetOf(headers, hopTimeoutMs) {
  const given = Number(header(headers, BUDGET_HEADER));
  const budget = Number.isFinite(given) && given > 0 ? Math.min(given, hopTimeoutMs) : hopTimeoutMs;
  return { budget, downstream: Math.max(50, Math.floor(budget * 0.8) - 50) };
}

/** true when this service is already on the request's path (or the path is too long). */
function looped(/** @type {Caller} */ self, /** @type {string[]} */ via) {
  return via.includes(self.identity) || via.length >= MAX_HOPS;
}

/**
 * GET /api/trace.
 * @param {Caller} self @param {import('./router.mjs').Incoming} req
 * @returns {Promise<import('./router.mjs').Reply>}
 */
export async function trace(self, req) {
  const via = viaOf(req.headers);
  if (looped(self, via)) return { status: 200, body: { service: self.service, version: self.version, cycle: true, hops: [] } };
  const { budget, downstream } = budgetOf(req.headers, self.hopTimeoutMs);
  const headers = { [BUDGET_HEADER]: String(downstream), [VIA_HEADER]: [...via, self.identity].join(',') };
  const hops = await Promise.all(
    self.dependencies.map(async (dep) => {
      if (!dep.url) return { env: dep.env, url: null, error: `${dep.env} is not set` };
      const url = `${dep.url}/api/trace`;
      try {
        const res = await request(url, { timeoutMs: budget, headers });
        const body = res.json && typeof res.json === 'object' ? /** @type {Record<string, unknown>} */ (res.json) : {};
        /** @type {Record<string, unknown>} */
        const hop = { ...body, env: dep.env, url, status: res.status };
        if (res.status !== 200) hop.error ??= `HTTP ${res.status}`;
        return hop;
      } catch (err) {
        return { env: dep.env, url, error: describeError(err) };
      }
    }),
  );
  const failed = hops.some((h) => 'error' in h);
  return { status: failed ? 502 : 200, body: { service: self.service, version: self.version, hops } };
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Sends a request this service does not serve to its dependencies, in order, and answers with
 * the first answer that is not a plain 404 (an owner's 404 counts: x-stub-served-by). A
 * dependency that cannot be reached is skipped — unless a non-idempotent request timed out
 * there (it may have been served: trying another could do it twice). Nothing served it: 404,
 * or 502 naming every hop that failed.
 * @param {Caller} self @param {import('./router.mjs').Incoming} req
 * @returns {Promise<import('./router.mjs').Reply>}
 */
export async function forward(self, req) {
  const via = viaOf(req.headers);
  const target = `${req.path}${req.search}`;
  if (looped(self, via)) {
    return { status: 404, body: { error: 'not found', path: req.path, service: self.service, reason: `${self.service} is already on this request's path (${via.join(' → ')})` } };
  }
  const { budget, downstream } = budgetOf(req.headers, self.hopTimeoutMs);
  const payload = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.body();
  /** @type {Record<string, string>} */
  const headers = { [BUDGET_HEADER]: String(downstream), [VIA_HEADER]: [...via, self.identity].join(',') };
  const type = header(req.headers, 'content-type');
  if (payload && type) headers['content-type'] = type;
  /** @type {{ env: string, url: string | null, status?: number, error?: string }[]} */
  const attempts = [];
  for (const dep of self.dependencies) {
    if (!dep.url) {
      attempts.push({ env: dep.env, url: null, error: `${dep.env} is not set` });
      continue;
    }
    const url = `${dep.url}${target}`;
    /** @type {import('./http-client.mjs').HopResponse} */
    let res;
    try {
      res = await request(url, { method: req.method, headers, body: payload?.toString('utf8'), timeoutMs: budget });
    } catch (err) {
      attempts.push({ env: dep.env, url, error: describeError(err) });
      if (/** @type {any} */ (err)?.code === 'ETIMEDOUT' && !IDEMPOTENT.has(req.method)) break;
      continue;
    }
    const servedBy = header(res.headers, SERVED_BY_HEADER);
    if (res.status === 404 && !servedBy) {
      attempts.push({ env: dep.env, url, status: 404 });
      continue;
    }
    return {
      status: res.status,
      body: res.json ?? { error: `upstream answered HTTP ${res.status} with a non-JSON body`, url, status: res.status },
      headers: servedBy ? { [SERVED_BY_HEADER]: servedBy } : {},
    };
  }
  const failed = attempts.filter((a) => a.error);
  if (failed.length) {
    return {
      status: 502,
      body: {
        error: `${self.service} could not reach a service for ${req.method} ${req.path}: ${failed.map((a) => `${a.url ?? a.env}: ${a.error}`).join('; ')}`,
        url: failed[0].url,
        attempts,
      },
    };
  }
  return {
    status: 404,
    body: {
      error: 'not found',
      path: req.path,
      service: self.service,
      reason: self.dependencies.length ? `no dependency serves ${req.path}` : `${self.service} does not serve ${req.path} and has no dependencies`,
      ...(attempts.length ? { attempts } : {}),
    },
  };
}
