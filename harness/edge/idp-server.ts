import http from 'node:http';
import { randomBytes, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { CognitoStore } from '../aws/cognito/store.ts';
import { JwtError, verifyJwt } from '../aws/cognito/jwt.ts';
import { readBody } from '../http-body.ts';

/** the largest form or JSON body the IdP endpoints read */
const MAX_FORM = 1 << 20;

/**
 * The HTTP endpoints AWS serves outside the API: for every user pool its JWKS and OIDC
 * discovery document (https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/…), the
 * hosted UI of its domain (https://<domain>.auth.<region>.amazoncognito.com/oauth2/authorize,
 * /login, /oauth2/token, /oauth2/userInfo), and the ALB's public keys
 * (https://public-keys.auth.elb.<region>.amazonaws.com/<kid>). One local HTTP server; the
 * path layout is AWS's, the host is ours.
 */
export interface MintRequest {
  user?: string;
  expired?: boolean;
  notBefore?: boolean;
  /** an id token instead of an access token */
  id?: boolean;
}

export class IdpServer {
  private server?: http.Server;
  private readonly codes = new Map<string, { poolId: string; clientId: string; username: string; redirectUri: string; scope: string; nonce?: string; expires: number }>();
  private readonly albKeys = new Map<string, KeyObject>();
  private minter?: { secret: string; mint: (q: MintRequest) => string };
  url = '';

  constructor(private readonly cognito: CognitoStore) {}

  async start(host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => send(res, 500, { error: 'server_error', error_description: String((e as Error)?.message ?? e) }));
    });
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    this.url = `http://${host}:${a.port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = undefined;
  }

  jwksUrl(poolId: string): string {
    return `${this.url}/${poolId}/.well-known/jwks.json`;
  }

  /** Publishes an ALB signing key's public half at <url>/alb-public-keys/<kid>. */
  publishAlbKey(kid: string, publicKey: KeyObject): void {
    this.albKeys.set(kid, publicKey);
  }

  /**
   * Turns on POST /harness/token (for `harness token` in another process): the bearer must be
   * `secret` (kept in the run dir, mode 0600). Tokens are signed here; keys never leave.
   */
  enableMinting(secret: string, mint: (q: MintRequest) => string): void {
    this.minter = { secret, mint };
  }

  get albPublicKeysUrl(): string {
    return `${this.url}/alb-public-keys`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://idp');
    const p = u.pathname;
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && (m = /^\/([\w-]+_[0-9A-Za-z]+)\/\.well-known\/jwks\.json$/.exec(p))) {
      const pool = this.cognito.pools.get(m[1]!);
      return pool ? send(res, 200, this.cognito.jwks(pool.id)) : send(res, 404, { message: `User pool ${m[1]} does not exist.` });
    }
    if (req.method === 'GET' && (m = /^\/([\w-]+_[0-9A-Za-z]+)\/\.well-known\/openid-configuration$/.exec(p))) {
      const pool = this.cognito.pools.get(m[1]!);
      if (!pool) return send(res, 404, { message: `User pool ${m[1]} does not exist.` });
      return send(res, 200, {
        issuer: this.cognito.issuerOf(pool.id),
        authorization_endpoint: `${this.url}/oauth2/authorize`,
        token_endpoint: `${this.url}/oauth2/token`,
        userinfo_endpoint: `${this.url}/oauth2/userInfo`,
        end_session_endpoint: `${this.url}/logout`,
        revocation_endpoint: `${this.url}/oauth2/revoke`,
        jwks_uri: this.jwksUrl(pool.id),
        response_types_supported: ['code', 'token'],
        scopes_supported: ['openid', 'email', 'phone', 'profile'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      });
    }
    if (req.method === 'GET' && (m = /^\/alb-public-keys\/([\w-]+)$/.exec(p))) {
      const key = this.albKeys.get(m[1]!);
      if (!key) return sendText(res, 404, 'Not Found');
      return sendText(res, 200, key.export({ type: 'spki', format: 'pem' }).toString(), 'application/x-pem-file');
    }
    if (req.method === 'GET' && p === '/oauth2/authorize') {
      // the hosted UI: straight to its login page, as Cognito does
      return redirect(res, `${this.url}/login?${u.searchParams.toString()}`);
    }
    if (p === '/login') return this.login(req, res, u);
    if (req.method === 'POST' && p === '/harness/token') {
      if (!this.minter || req.headers.authorization !== `Bearer ${this.minter.secret}`) return send(res, 403, { error: 'forbidden' });
      try {
        const q = JSON.parse((await readBody(req, MAX_FORM)).toString('utf8') || '{}') as MintRequest;
        return send(res, 200, { token: this.minter.mint(q) });
      } catch (e) {
        return send(res, 400, { error: (e as Error).message });
      }
    }
    if (req.method === 'POST' && p === '/oauth2/token') return this.token(req, res);
    if (req.method === 'GET' && p === '/oauth2/userInfo') return this.userInfo(req, res);
    return sendText(res, 404, 'Not Found');
  }

  private authorizeRequest(q: URLSearchParams): { poolId: string; clientId: string; redirectUri: string } | { error: string } {
    const clientId = q.get('client_id') ?? '';
    const redirectUri = q.get('redirect_uri') ?? '';
    if (q.get('response_type') !== 'code') return { error: 'unsupported_response_type' };
    let poolId: string;
    try {
      poolId = this.cognito.poolOfClient(clientId).id;
    } catch {
      return { error: 'invalid_client' };
    }
    const c = this.cognito.client(poolId, clientId);
    if (c.callbackUrls.length && !c.callbackUrls.includes(redirectUri)) return { error: 'redirect_mismatch' };
    return { poolId, clientId, redirectUri };
  }

  private async login(req: http.IncomingMessage, res: http.ServerResponse, u: URL): Promise<void> {
    const q = u.searchParams;
    const ar = this.authorizeRequest(q);
    if ('error' in ar) return redirect(res, `${this.url}/error?error=${ar.error}`);
    if (req.method === 'GET') {
      const action = `/login?${q.toString()}`;
      return sendText(
        res,
        200,
        `<!doctype html><html><head><title>Signin</title></head><body><form method="post" action="${escapeHtml(action)}">` +
          `<input name="username" autocomplete="username"><input name="password" type="password"><button type="submit">Sign in</button></form></body></html>`,
        'text/html; charset=utf-8',
      );
    }
    const form = new URLSearchParams((await readBody(req, MAX_FORM)).toString('utf8'));
    const username = form.get('username') ?? '';
    try {
      const r = this.cognito.passwordAuth(ar.poolId, ar.clientId, username, form.get('password') ?? '', undefined, { skipSecretHash: true });
      if (r.challenge) return sendText(res, 400, 'The user must change their password before signing in (NEW_PASSWORD_REQUIRED).');
    } catch {
      return sendText(res, 400, 'Incorrect username or password.');
    }
    const code = randomBytes(18).toString('base64url');
    this.codes.set(code, { poolId: ar.poolId, clientId: ar.clientId, username, redirectUri: ar.redirectUri, scope: q.get('scope') ?? 'openid', nonce: q.get('nonce') ?? undefined, expires: Date.now() + 5 * 60_000 });
    const back = new URL(ar.redirectUri);
    back.searchParams.set('code', code);
    if (q.get('state')) back.searchParams.set('state', q.get('state')!);
    return redirect(res, back.toString());
  }

  private async token(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const form = new URLSearchParams((await readBody(req, MAX_FORM)).toString('utf8'));
    let clientId = form.get('client_id') ?? '';
    let secret = form.get('client_secret') ?? undefined;
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (basic) {
      const [id, s] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      clientId = decodeURIComponent(id ?? '');
      secret = decodeURIComponent(s ?? '');
    }
    if (form.get('grant_type') !== 'authorization_code') return send(res, 400, { error: 'unsupported_grant_type' });
    const code = this.codes.get(form.get('code') ?? '');
    if (!code || code.expires < Date.now()) return send(res, 400, { error: 'invalid_grant' });
    this.codes.delete(form.get('code')!);
    if (code.clientId !== clientId) return send(res, 400, { error: 'invalid_grant' });
    const client = this.cognito.client(code.poolId, clientId);
    if (client.clientSecret && client.clientSecret !== secret) return send(res, 400, { error: 'invalid_client' });
    if (form.get('redirect_uri') !== code.redirectUri) return send(res, 400, { error: 'invalid_grant' });
    const t = this.cognito.issueTokens(code.poolId, clientId, code.username, { scope: code.scope, nonce: code.nonce });
    return send(res, 200, { id_token: t.IdToken, access_token: t.AccessToken, refresh_token: t.RefreshToken, expires_in: t.ExpiresIn, token_type: 'Bearer' });
  }

  private userInfo(req: http.IncomingMessage, res: http.ServerResponse): void {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer) return send(res, 401, { error: 'invalid_token' });
    for (const pool of this.cognito.pools.values()) {
      try {
        const d = verifyJwt(bearer, this.cognito.jwks(pool.id));
        if (d.payload.iss !== this.cognito.issuerOf(pool.id) || d.payload.token_use !== 'access') break;
        const info = this.cognito.userInfo(pool.id, d.payload.sub);
        return info ? send(res, 200, info) : send(res, 401, { error: 'invalid_token' });
      } catch (e) {
        if (e instanceof JwtError && e.reason === 'kid') continue;
        break;
      }
    }
    return send(res, 401, { error: 'invalid_token', error_description: 'Access token is not valid' });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

function sendText(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function redirect(res: http.ServerResponse, location: string): void {
  res.writeHead(302, { location, 'content-length': 0 });
  res.end();
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

