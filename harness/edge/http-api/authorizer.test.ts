import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { CognitoStore } from '../../aws/cognito/store.ts';
import { generateSigningKey, publicJwk, signJwt } from '../../aws/cognito/jwt.ts';
import type { Authorizer } from '../../aws/apigatewayv2/store.ts';
import { IdpServer } from '../idp-server.ts';
import { jwtValidationCases } from '../token-cases.ts';
import { claimStrings, cognitoJwks, jwksOverHttp, JwtAuthorizer, type JwksDocument } from './authorizer.ts';

const REGION = 'us-west-1';
const SCOPE = 'aws.cognito.signin.user.admin';

describe('HTTP API JWT authorizer', () => {
  const cognito = new CognitoStore({ account: '123456789012', region: REGION });
  const pool = cognito.createUserPool('users');
  const client = cognito.createUserPoolClient(pool.id, { clientName: 'web' });
  const other = cognito.createUserPoolClient(pool.id, { clientName: 'other' });
  cognito.adminCreateUser(pool.id, 'alice', { email: 'alice@example.com' });
  const issuer = cognito.issuerOf(pool.id);
  const jwt: Authorizer = { authorizerId: 'abc123', authorizerType: 'JWT', name: 'cognito', identitySource: ['$request.header.Authorization'], jwtConfiguration: { issuer, audience: [client.clientId] } };
  const fromStore = cognitoJwks(cognito);
  const authorizer = new JwtAuthorizer({ jwks: async (i) => fromStore(i) ?? Promise.reject(new Error(`unknown issuer ${i}`)), cacheMs: 60_000 });
  const ask = (authorization: string | undefined, scopes?: string[], a: Authorizer = jwt) => authorizer.authorize(a, scopes, { headers: authorization === undefined ? {} : { authorization }, query: new URLSearchParams() });

  it('refuses every bad token of the ALB list; the id token only where the route requires scopes (403), as API Gateway does', async () => {
    const cases = jwtValidationCases(cognito, pool.id, client.clientId, other.clientId, 'alice');
    const scoped: Record<string, number> = {};
    const unscoped: Record<string, number> = {};
    for (const c of cases) {
      const s = await ask(c.authorization, [SCOPE]);
      scoped[c.name] = s.ok ? 200 : s.status;
      const u = await ask(c.authorization);
      unscoped[c.name] = u.ok ? 200 : u.status;
    }
    const expected = Object.fromEntries(cases.map((c) => [c.name, c.expect]));
    // an id token carries aud = the client id, which the Audience list accepts; it has no scope
    expect(scoped).toEqual({ ...expected, 'id token where an access token is required': 403 });
    expect(unscoped).toEqual({ ...expected, 'id token where an access token is required': 200 });
  });

  it('answers with the www-authenticate header API Gateway sends', async () => {
    const expired = await ask(`Bearer ${cognito.issueTokens(pool.id, client.clientId, 'alice', { expired: true }).AccessToken}`);
    expect(expired).toMatchObject({ ok: false, status: 401, wwwAuthenticate: 'Bearer scope="" error="invalid_token" error_description="the token has expired"' });
    const wrongClient = await ask(cognito.issueTokens(pool.id, other.clientId, 'alice').AccessToken);
    expect(wrongClient).toMatchObject({ ok: false, status: 401, wwwAuthenticate: 'Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"' });
    const idToken = await ask(cognito.issueTokens(pool.id, client.clientId, 'alice').IdToken, [SCOPE, 'orders/read']);
    expect(idToken).toMatchObject({ ok: false, status: 403, wwwAuthenticate: `Bearer scope="${SCOPE} orders/read" error="insufficient_scope" error_description="expected scopes: [${SCOPE} orders/read]"` });
    expect(await ask(undefined)).toMatchObject({ ok: false, status: 401, wwwAuthenticate: 'Bearer' });
  });

  it('takes the token with or without Bearer; passes the claims as strings and the scopes when the route has some', async () => {
    const token = cognito.issueTokens(pool.id, client.clientId, 'alice').AccessToken;
    const bare = await ask(token);
    expect(bare).toMatchObject({ ok: true, scopes: null });
    const r = await ask(`bearer ${token}`, ['other', SCOPE]);
    if (!r.ok) throw new Error(r.reason);
    expect(r.scopes).toEqual([SCOPE]);
    expect(r.claims).toMatchObject({ client_id: client.clientId, token_use: 'access', username: 'alice', iss: issuer, scope: SCOPE });
    expect(r.claims.exp).toMatch(/^\d+$/);
    expect(claimStrings({ groups: ['admin', 'ops'], ok: true, n: 3, o: { a: 1 } })).toEqual({ groups: '[admin ops]', ok: 'true', n: '3', o: '{"a":1}' });
  });

  it('aud decides when present; client_id only without aud; the identity source may be a query parameter', async () => {
    const key = generateSigningKey('RS256', 'k-aud');
    const now = Math.floor(Date.now() / 1000);
    const custom = new JwtAuthorizer({ jwks: async () => ({ keys: [publicJwk(key)] }), cacheMs: 60_000 });
    const a: Authorizer = { ...jwt, identitySource: ['$request.querystring.token'], jwtConfiguration: { issuer: 'https://issuer.example', audience: ['api://orders'] } };
    const tok = (claims: Record<string, unknown>) => signJwt(key, { iss: 'https://issuer.example', iat: now, exp: now + 60, ...claims });
    const q = (t: string) => custom.authorize(a, undefined, { headers: {}, query: new URLSearchParams({ token: t }) });
    expect((await q(tok({ aud: ['x', 'api://orders'] }))).ok).toBe(true);
    expect((await q(tok({ client_id: 'api://orders' }))).ok).toBe(true);
    expect((await q(tok({ aud: 'x', client_id: 'api://orders' }))).ok).toBe(false);
    expect((await q(tok({ aud: 'api://orders', exp: undefined }))).ok).toBe(false);
    expect((await q(tok({ aud: 'api://orders', iat: now + 600 }))).ok).toBe(false);
    const es = generateSigningKey('ES256', 'k-es');
    const esAuth = new JwtAuthorizer({ jwks: async () => ({ keys: [publicJwk(es)] }), cacheMs: 60_000 });
    const esToken = signJwt(es, { iss: 'https://issuer.example', aud: 'api://orders', iat: now, exp: now + 60 });
    expect(await esAuth.authorize(a, undefined, { headers: {}, query: new URLSearchParams({ token: esToken }) })).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining('not an RSA algorithm') });
  });

  it('keeps the keys it fetched and fetches again for a kid it does not know (key rotation)', async () => {
    const k1 = generateSigningKey('RS256', 'k1');
    const k2 = generateSigningKey('RS256', 'k2');
    let served: JwksDocument = { keys: [publicJwk(k1)] };
    let fetches = 0;
    const rotating = new JwtAuthorizer({ jwks: async () => (fetches++, served), cacheMs: 60_000, minRefetchMs: 0 });
    const a: Authorizer = { ...jwt, jwtConfiguration: { issuer: 'https://issuer.example', audience: ['c'] } };
    const now = Math.floor(Date.now() / 1000);
    const tok = (k: typeof k1) => `Bearer ${signJwt(k, { iss: 'https://issuer.example', aud: 'c', iat: now, exp: now + 60 })}`;
    const go = (t: string) => rotating.authorize(a, undefined, { headers: { authorization: t }, query: new URLSearchParams() });
    expect((await go(tok(k1))).ok).toBe(true);
    expect((await go(tok(k1))).ok).toBe(true);
    expect(fetches).toBe(1);
    served = { keys: [publicJwk(k1), publicJwk(k2)] };
    expect((await go(tok(k2))).ok).toBe(true);
    expect(fetches).toBe(2);
    // a kid nobody has: one more fetch, then refused
    expect(await go(tok(generateSigningKey('RS256', 'k3')))).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining("no key with kid 'k3'") });
    expect(fetches).toBe(3);
  });

  describe('keys over HTTP from the IdP server', () => {
    const idp = new IdpServer(cognito);
    beforeAll(async () => {
      await idp.start();
    });
    afterAll(() => idp.stop());

    it('follows the discovery document to jwks_uri; a JWKS that cannot be fetched refuses', async () => {
      // the harness serves AWS's paths on its own host: the issuer maps to <idp>/<pool>
      const http = new JwtAuthorizer({ jwks: jwksOverHttp((i) => `${idp.url}/${i.split('/').pop()}`), cacheMs: 60_000 });
      const token = `Bearer ${cognito.issueTokens(pool.id, client.clientId, 'alice').AccessToken}`;
      expect((await http.authorize(jwt, [SCOPE], { headers: { authorization: token }, query: new URLSearchParams() })).ok).toBe(true);
      const nowhere = new JwtAuthorizer({ jwks: jwksOverHttp(() => 'http://127.0.0.1:9'), cacheMs: 60_000 });
      expect(await nowhere.authorize(jwt, undefined, { headers: { authorization: token }, query: new URLSearchParams() })).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining('could not be fetched') });
    });
  });
});
