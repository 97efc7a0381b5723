// Gateway stub (port 8080, GET /q/health). Behind the ALB; calls the agents and the context
// engine (ANALYSIS_AGENT_URL, PLAYBOOK_AGENT_URL, CONTEXT_ENGINE_URL).
//   /api/assets, /api/assets/:id → context engine (→ asset store), so one request through the
//                                  gateway creates / reads an asset end to end
//   GET /api/whoami              → what the ALB's authenticate action passed on:
//                                  {identity, claims, accessTokenPresent}
import { runService } from './lib/service.mjs';

await runService('gateway', {
  routes: (ctx) => {
    const contextEngine = () => ctx.dependencyUrl('CONTEXT_ENGINE_URL');
    return [
      { method: 'GET', path: '/api/assets/:id', handle: (req) => ctx.forward(contextEngine(), `/api/assets/${encodeURIComponent(req.params.id)}`, req) },
      { method: 'GET', path: '/api/assets', handle: (req) => ctx.forward(contextEngine(), '/api/assets', req) },
      { method: 'POST', path: '/api/assets', handle: (req) => ctx.forward(contextEngine(), '/api/assets', req) },
      { method: 'GET', path: '/api/whoami', handle: (req) => ({ status: 200, body: whoami(req.headers) }) },
    ];
  },
});

/**
 * The ALB adds x-amzn-oidc-accesstoken, x-amzn-oidc-identity (the `sub`) and x-amzn-oidc-data
 * (a JWT signed by the ALB). The payload is decoded here WITHOUT verifying the signature
 * (a later issue checks it against the ALB's public key).
 * @param {import('node:http').IncomingHttpHeaders} headers
 */
function whoami(headers) {
  const one = (/** @type {string} */ name) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const data = one('x-amzn-oidc-data');
  /** @type {unknown} */
  let claims = null;
  /** @type {string | undefined} */
  let claimsError;
  if (data) {
    const parts = data.split('.');
    try {
      if (parts.length !== 3) throw new Error('not a JWT (expected 3 dot-separated parts)');
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch (err) {
      claimsError = err instanceof Error ? err.message : String(err);
    }
  }
  return {
    identity: one('x-amzn-oidc-identity') ?? null,
    claims,
    ...(claimsError ? { claimsError } : {}),
    claimsVerified: false,
    accessTokenPresent: Boolean(one('x-amzn-oidc-accesstoken')),
  };
}
