// A tiny HTTP client for service-to-service hops (Node built-ins only).
// One fresh connection per request (no keep-alive pool): stubs restart often, and a pooled
// socket to a stopped task would turn into a confusing ECONNRESET.
import http from 'node:http';
import https from 'node:https';

/**
 * @typedef {{ status: number, headers: import('node:http').IncomingHttpHeaders, text: string, json: unknown }} HopResponse
 */

/**
 * Sends one request and reads the whole answer. Rejects with an Error whose `code` is the
 * socket error (ECONNREFUSED, ENOTFOUND, …) or 'ETIMEDOUT' when `timeoutMs` passes first
 * (a dropped connection, e.g. a security group, looks like that).
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: unknown, timeoutMs?: number }} [opts]
 * @returns {Promise<HopResponse>}
 */
export function request(url, opts = {}) {
  const { method = 'GET', headers = {}, body, timeoutMs = 3000 } = opts;
  return new Promise((resolve, reject) => {
    /** @type {URL} */
    let target;
    try {
      target = new URL(url);
    } catch {
      reject(Object.assign(new Error(`invalid URL ${JSON.stringify(url)}`), { code: 'EINVALIDURL' }));
      return;
    }
    const mod = target.protocol === 'https:' ? https : http;
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const reqHeaders = { accept: 'application/json', ...headers };
    if (payload) {
      reqHeaders['content-type'] ??= 'application/json';
      reqHeaders['content-length'] = String(payload.length);
    }
    let settled = false;
    const req = mod.request(target, { method, headers: reqHeaders, agent: false });
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`timed out after ${timeoutMs}ms`), { code: 'ETIMEDOUT' });
      req.destroy(err);
    }, timeoutMs);
    const fail = (/** @type {Error} */ err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.end(payload);
  });
}

/** One short line for an error from `request`, e.g. "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:8001". */
export function describeError(/** @type {any} */ err) {
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  const msg = err instanceof Error ? err.message : String(err);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}
