// The routes a stub serves beyond health, /version and /api/trace, chosen by its contract:
//
//   data      (STUB_DATA_URL_ENV)       POST /api/assets (a JSON object) → 201 {id, createdAt, …fields}
//                                       GET  /api/assets/:id             → 200 asset | 404
//                                       GET  /api/assets                 → 200 {assets: [...]}
//                                       the same under /assets (alias)
//   analysis  (STUB_ANTHROPIC_KEY_ENV)  POST /api/analysis {prompt, model?} (alias /api/analyze)
//                                       → 200 {service, analysis, messageId, model, usage, requestId};
//                                       the API unreachable or answering an error → 502 {error, url,
//                                       upstream?}; never a crash. Health does not depend on the API.
//   alb       (STUB_ALB=1)              GET /api/whoami → the ALB's claims (alb-claims.mjs)
// A data or analysis route the stub does not own is forwarded to its dependencies
// (dependencies.mjs), so the front service answers them through the chain.
import { HttpError } from './router.mjs';
import { createAssetStorage } from './asset-storage.mjs';
import { analyzeWithClaude } from './anthropic.mjs';
import { whoami } from './alb-claims.mjs';
import { BUDGET_HEADER, forward, trace, SERVED_BY_HEADER } from './dependencies.mjs';

const DATA_PREFIXES = ['/api/assets', '/assets'];
const ANALYSIS_PATHS = ['/api/analysis', '/api/analyze'];

/**
 * @typedef {import('./router.mjs').Route} Route
 * @typedef {import('./router.mjs').Incoming} Incoming
 * @typedef {import('./router.mjs').Reply} Reply
 */

/**
 * The routes, health and close hooks of a stub.
 * @param {import('./contract.mjs').StubContract} c
 * @param {Record<string, string | undefined>} env
 * @param {{ log: (l: string) => void, logError: (l: string) => void }} out
 * @returns {import('./service.mjs').ServiceHooks}
 */
export function roles(c, env, out) {
  /** @type {Route[]} */
  const routes = [{ method: 'GET', path: '/api/trace', handle: (req) => trace(c, req) }];
  /** @type {string[]} */
  const describe = [];
  /** @type {import('./service.mjs').ServiceHooks['health']} */
  let health;
  /** @type {import('./service.mjs').ServiceHooks['onClose']} */
  let onClose;

  // the routes of a role this stub owns answer with x-stub-served-by, even their errors
  const owned = (/** @type {(req: Incoming) => Promise<Reply>} */ fn) => async (/** @type {Incoming} */ req) => {
    /** @type {Reply} */
    let reply;
    try {
      reply = await fn(req);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      reply = { status: err.status, body: { error: err.message, ...err.extra } };
    }
    return { ...reply, headers: { ...reply.headers, [SERVED_BY_HEADER]: c.service } };
  };
  const forwarded = (/** @type {Incoming} */ req) => forward(c, req);

  if (c.data) {
    const store = createAssetStorage(c.data, out.log);
    describe.push(`data API (${c.data.urlEnv}, ${store.kind})`);
    health = () => store.health();
    onClose = () => store.close();
    for (const prefix of DATA_PREFIXES) {
      routes.push(
        {
          method: 'POST',
          path: prefix,
          handle: owned(async (req) => {
            const fields = await req.json();
            if (!fields || typeof fields !== 'object' || Array.isArray(fields)) throw new HttpError(400, 'an asset is a JSON object');
            return { status: 201, body: await store.create(/** @type {Record<string, unknown>} */ (fields)) };
          }),
        },
        {
          method: 'GET',
          path: `${prefix}/:id`,
          handle: owned(async (req) => {
            const asset = await store.get(req.params.id);
            if (!asset) throw new HttpError(404, 'asset not found', { id: req.params.id });
            return { status: 200, body: asset };
          }),
        },
        { method: 'GET', path: prefix, handle: owned(async () => ({ status: 200, body: { assets: await store.list() } })) },
      );
    }
  } else {
    for (const prefix of DATA_PREFIXES) {
      routes.push(
        { method: 'POST', path: prefix, handle: forwarded },
        { method: 'GET', path: `${prefix}/:id`, handle: forwarded },
        { method: 'GET', path: prefix, handle: forwarded },
      );
    }
  }

  if (c.analysis) {
    const { keyEnv } = c.analysis;
    describe.push(`analysis (${keyEnv})`);
    const analyze = owned(async (req) => {
      const body = /** @type {any} */ (await req.json());
      if (!body || typeof body.prompt !== 'string' || body.prompt.trim() === '') throw new HttpError(400, 'prompt (a non-empty string) is required');
      if (body.model !== undefined && typeof body.model !== 'string') throw new HttpError(400, 'model must be a string');
      // a caller stub gave its remaining budget (already less than its own wait): use it; a
      // direct caller's wait is unknown: 80% of a hop
      const configured = Number(env.ANTHROPIC_TIMEOUT_MS);
      const given = Number(req.headers[BUDGET_HEADER]);
      const timeoutMs =
        configured > 0 ? configured : Math.max(200, given > 0 ? Math.min(given, c.hopTimeoutMs) : Math.floor(c.hopTimeoutMs * 0.8));
      const r = await analyzeWithClaude(env, keyEnv, body.prompt, { model: body.model, timeoutMs });
      out.log(`anthropic ${r.status === 200 ? `200 ${r.body.messageId} ${r.body.requestId ?? ''}`.trimEnd() : `failed: ${r.body.error}`}`);
      return { status: r.status, body: { service: c.service, ...r.body } };
    });
    for (const path of ANALYSIS_PATHS) routes.push({ method: 'POST', path, handle: analyze });
  } else {
    for (const path of ANALYSIS_PATHS) routes.push({ method: 'POST', path, handle: forwarded });
  }

  if (c.alb) {
    describe.push('ALB claims (/api/whoami)');
    routes.push({ method: 'GET', path: '/api/whoami', handle: async (req) => ({ status: 200, body: await whoami(req.headers, env) }) });
  }

  return { routes, health, onClose, describe };
}
