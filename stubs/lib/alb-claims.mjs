// What an ALB's authenticate action passes to its targets, checked as AWS's docs tell a target
// to. The ALB adds x-amzn-oidc-accesstoken, x-amzn-oidc-identity (the `sub`) and
// x-amzn-oidc-data (an ES256 JWT signed by the ALB, base64url with padding). The signature is
// checked against the ALB's public key for the header's kid: the key comes from ALB_PUBLIC_KEYS
// (a JSON map kid → PEM, injected by the harness) or is fetched from ALB_PUBLIC_KEYS_URL/<kid>
// (AWS: the regional public-keys endpoint of ELB); `signer` must be ALB_ARN when that is set.
// Without either key source claimsVerified is false.
import { createPublicKey, createVerify } from 'node:crypto';

/**
 * GET /api/whoami's answer: {identity, claims, claimsError?, claimsVerified, accessTokenPresent}.
 * @param {import('node:http').IncomingHttpHeaders} headers
 * @param {Record<string, string | undefined>} env
 */
export async function whoami(headers, env) {
  const one = (/** @type {string} */ name) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const data = one('x-amzn-oidc-data');
  /** @type {unknown} */
  let claims = null;
  /** @type {string | undefined} */
  let claimsError;
  let claimsVerified = false;
  if (data) {
    const parts = data.split('.');
    try {
      if (parts.length !== 3) throw new Error('not a JWT (expected 3 dot-separated parts)');
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
      claimsVerified = await verifyAlbData(parts, env);
    } catch (err) {
      claimsError = err instanceof Error ? err.message : String(err);
    }
  }
  return {
    identity: one('x-amzn-oidc-identity') ?? null,
    claims,
    ...(claimsError ? { claimsError } : {}),
    claimsVerified,
    accessTokenPresent: Boolean(one('x-amzn-oidc-accesstoken')),
  };
}

/** @type {Map<string, import('node:crypto').KeyObject>} */
const albKeys = new Map();

/**
 * @param {string[]} parts the JWT's three segments
 * @param {Record<string, string | undefined>} env
 * @returns {Promise<boolean>} false when no key source is configured; throws when the check fails
 */
async function verifyAlbData(parts, env) {
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  if (header.alg !== 'ES256') throw new Error(`x-amzn-oidc-data: alg ${header.alg} is not ES256`);
  const inline = env.ALB_PUBLIC_KEYS ? JSON.parse(env.ALB_PUBLIC_KEYS) : {};
  const base = env.ALB_PUBLIC_KEYS_URL;
  if (!inline[header.kid] && !base) return false;
  let key = albKeys.get(header.kid);
  if (!key) {
    let pem = inline[header.kid];
    if (!pem) {
      const res = await fetch(`${base}/${encodeURIComponent(header.kid)}`, { signal: AbortSignal.timeout(3000) });
      if (!res.ok) throw new Error(`x-amzn-oidc-data: no public key for kid ${header.kid} (${res.status})`);
      pem = await res.text();
    }
    key = createPublicKey(pem);
    albKeys.set(header.kid, key);
  }
  const v = createVerify('SHA256');
  v.update(`${parts[0]}.${parts[1]}`);
  if (!v.verify({ key, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'))) throw new Error('x-amzn-oidc-data: signature does not verify');
  if (env.ALB_ARN && header.signer !== env.ALB_ARN) throw new Error(`x-amzn-oidc-data: signer ${header.signer} is not this ALB`);
  if (typeof header.exp === 'number' && header.exp < Date.now() / 1000) throw new Error('x-amzn-oidc-data: expired');
  return true;
}
