import type { IncomingHttpHeaders } from 'node:http';
import { request as undiciRequest } from 'undici';
import type { Authorizer } from '../../aws/apigatewayv2/store.ts';
import type { CognitoStore } from '../../aws/cognito/store.ts';
import { JwtError, verifyJwt, type Jwk } from '../../aws/cognito/jwt.ts';

/**
 * HTTP API JWT authorizers, validated as API Gateway documents it: the token from the
 * authorizer's identity source (alone or after `Bearer `), its signature checked with the
 * issuer's JWKS (RSA only; keys cached, refetched once for an unknown kid), then kid, iss, aud —
 * or client_id when the token has no aud — against the Audience list, exp, nbf, iat, and the
 * route's authorization scopes against `scope` / `scp`. A refused token is 401
 * `{"message":"Unauthorized"}` with `www-authenticate: Bearer scope="" error="invalid_token"
 * error_description="…"`; a valid token without any of the route's scopes is 403
 * `{"message":"Forbidden"}` (error="insufficient_scope").
 */

export type JwksDocument = { keys: Jwk[] };
/** Where an issuer's keys come from; throws when they cannot be had. */
export type JwksSource = (issuer: string) => Promise<JwksDocument>;

export type AuthResult =
  | { ok: true; claims: Record<string, string>; scopes: string[] | null }
  | { ok: false; status: 401 | 403; wwwAuthenticate: string; reason: string };

export interface RequestIdentity {
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
}

export interface JwtAuthorizerOptions {
  jwks: JwksSource;
  /** how long fetched keys are kept, in real ms (API Gateway: up to two hours, scaled by the caller) */
  cacheMs: number;
  /** an unknown kid refetches the keys, at most this often per issuer (default 1000 ms) */
  minRefetchMs?: number;
  nowSeconds?: () => number;
}

/** RSA algorithms API Gateway accepts; only RS256 can be verified here (the others are refused as unsupported). */
const RSA_ALGS = ['RS256', 'RS384', 'RS512'];

export class JwtAuthorizer {
  private readonly cache = new Map<string, { jwks: JwksDocument; fetched: number }>();
  private readonly nowSeconds: () => number;

  constructor(private readonly opts: JwtAuthorizerOptions) {
    this.nowSeconds = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  }

  private async keys(issuer: string, refresh: boolean): Promise<JwksDocument> {
    const hit = this.cache.get(issuer);
    if (hit && !refresh && Date.now() - hit.fetched < this.opts.cacheMs) return hit.jwks;
    if (hit && refresh && Date.now() - hit.fetched < (this.opts.minRefetchMs ?? 1000)) return hit.jwks;
    const jwks = await this.opts.jwks(issuer);
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error('the JWKS has no keys array');
    this.cache.set(issuer, { jwks, fetched: Date.now() });
    return jwks;
  }

  async authorize(authorizer: Authorizer, routeScopes: string[] | undefined, req: RequestIdentity): Promise<AuthResult> {
    const deny = (description: string, reason = description): AuthResult => ({
      ok: false,
      status: 401,
      wwwAuthenticate: `Bearer scope="" error="invalid_token" error_description="${description}"`,
      reason,
    });
    const raw = identityOf(authorizer.identitySource[0] ?? '', req);
    if (raw === undefined || raw.trim() === '') return { ok: false, status: 401, wwwAuthenticate: 'Bearer', reason: `no token in ${authorizer.identitySource[0]}` };
    const token = raw.trim().replace(/^bearer\s+/i, '');
    const issuer = authorizer.jwtConfiguration?.issuer ?? '';
    const audience = authorizer.jwtConfiguration?.audience ?? [];

    let jwks: JwksDocument;
    try {
      jwks = await this.keys(issuer, false);
    } catch (e) {
      return deny('unable to fetch the issuer\'s public keys', `JWKS of ${issuer} could not be fetched: ${(e as Error).message}`);
    }
    let d;
    try {
      try {
        d = verifyJwt(token, jwks, { nowSeconds: this.nowSeconds() });
      } catch (e) {
        if (!(e instanceof JwtError) || e.reason !== 'kid') throw e;
        d = verifyJwt(token, await this.keys(issuer, true), { nowSeconds: this.nowSeconds() });
      }
    } catch (e) {
      if (!(e instanceof JwtError)) return deny('unable to fetch the issuer\'s public keys', `JWKS of ${issuer} could not be fetched: ${(e as Error).message}`);
      switch (e.reason) {
        case 'malformed':
          return deny('the token is malformed', `malformed: ${e.message}`);
        case 'alg':
          return deny('the token is signed with an unsupported algorithm', `alg: ${e.message}`);
        case 'kid':
          return deny('the token was not signed by a key of the issuer', `kid: ${e.message}`);
        case 'signature':
          return deny('the token signature is invalid', `signature: ${e.message}`);
        case 'exp':
          return deny('the token has expired', 'exp: the token has expired');
        case 'nbf':
          return deny('the token is not valid yet', 'nbf: the token is not valid yet');
        default:
          return deny('the token is invalid', `${e.reason}: ${e.message}`);
      }
    }
    const { header, payload: p } = d;
    if (!RSA_ALGS.includes(header.alg)) return deny('the token is signed with an unsupported algorithm', `alg: ${String(header.alg)} is not an RSA algorithm`);
    if (typeof header.kid !== 'string') return deny('the token has no kid header', 'kid: no kid header');
    if (p.iss !== issuer) return deny('the token does not have a valid issuer', `iss: '${String(p.iss)}' is not '${issuer}'`);
    // aud decides when present; client_id (Cognito access tokens) only without aud
    if (p.aud !== undefined) {
      const auds = Array.isArray(p.aud) ? p.aud : [p.aud];
      if (!auds.some((a) => typeof a === 'string' && audience.includes(a))) return deny('the token does not have a valid audience', `aud: ${JSON.stringify(p.aud)} is not in ${JSON.stringify(audience)}`);
    } else if (typeof p.client_id !== 'string' || !audience.includes(p.client_id)) {
      return deny('the token does not have a valid audience', `client_id: ${JSON.stringify(p.client_id)} is not in ${JSON.stringify(audience)}`);
    }
    const now = this.nowSeconds();
    if (typeof p.exp !== 'number') return deny('the token has no expiration', 'exp: the token has no exp claim');
    if (p.iat !== undefined && (typeof p.iat !== 'number' || p.iat > now)) return deny('the token was issued in the future', 'iat: issued in the future');
    const tokenScopes = scopesOf(p);
    if (routeScopes?.length) {
      if (!tokenScopes.some((s) => routeScopes.includes(s))) {
        return {
          ok: false,
          status: 403,
          wwwAuthenticate: `Bearer scope="${routeScopes.join(' ')}" error="insufficient_scope" error_description="expected scopes: [${routeScopes.join(' ')}]"`,
          reason: `scope: the token has none of ${routeScopes.join(', ')}`,
        };
      }
    }
    return { ok: true, claims: claimStrings(p), scopes: routeScopes?.length ? tokenScopes : null };
  }
}

/** The value an identity source names: `$request.header.X` or `$request.querystring.x`. */
function identityOf(source: string, req: RequestIdentity): string | undefined {
  let m = /^\$request\.header\.(.+)$/.exec(source);
  if (m) {
    const v = req.headers[m[1]!.toLowerCase()];
    return Array.isArray(v) ? v.join(',') : v;
  }
  m = /^\$request\.querystring\.(.+)$/.exec(source);
  if (m) return req.query.getAll(m[1]!).join(',') || undefined;
  return undefined;
}

function scopesOf(p: Record<string, unknown>): string[] {
  const v = p.scope ?? p.scp;
  if (typeof v === 'string') return v.split(' ').filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/**
 * The claims as API Gateway passes them to the integration: every value a string (numbers and
 * booleans as written, arrays as `[a b]`, objects as JSON).
 */
export function claimStrings(p: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'string' ? v : Array.isArray(v) ? `[${v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}]` : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

/**
 * Keys of the Cognito pools the store holds, for issuers `https://cognito-idp.<region>.amazonaws.com/<pool>`
 * (the document the IdP server serves at `<issuer>/.well-known/jwks.json`); undefined for any
 * other issuer.
 */
export function cognitoJwks(cognito: CognitoStore): (issuer: string) => JwksDocument | undefined {
  return (issuer) => {
    const m = /^https:\/\/cognito-idp\.([a-z0-9-]+)\.amazonaws\.com\/([\w-]+_[0-9A-Za-z]+)$/.exec(issuer);
    if (!m || m[1] !== cognito.region || !cognito.pools.has(m[2]!)) return undefined;
    return cognito.jwks(m[2]!);
  };
}

/**
 * Fetches an issuer's keys over HTTP: its OpenID discovery document
 * (`<issuer>/.well-known/openid-configuration` → `jwks_uri`), else `<issuer>/.well-known/jwks.json`.
 * `base` maps an issuer to the URL it is served at (the harness serves AWS's paths on its own host).
 */
export function jwksOverHttp(base: (issuer: string) => string = (i) => i): JwksSource {
  const get = async (url: string): Promise<{ status: number; json?: any }> => {
    const res = await undiciRequest(url, { method: 'GET', headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    if (text.length > 150 * 1024) throw new Error(`${url}: the document is larger than 150 KB`);
    try {
      return { status: res.statusCode, json: JSON.parse(text) };
    } catch {
      return { status: res.statusCode };
    }
  };
  return async (issuer) => {
    const root = base(issuer).replace(/\/$/, '');
    let jwksUri = `${root}/.well-known/jwks.json`;
    try {
      const disc = await get(`${root}/.well-known/openid-configuration`);
      if (disc.status === 200 && typeof disc.json?.jwks_uri === 'string') jwksUri = disc.json.jwks_uri;
    } catch {
      // no discovery document: the conventional path
    }
    const r = await get(jwksUri);
    if (r.status !== 200) throw new Error(`${jwksUri} answered ${r.status}`);
    if (!Array.isArray(r.json?.keys)) throw new Error(`${jwksUri} is not a JWKS`);
    return r.json as JwksDocument;
  };
}
