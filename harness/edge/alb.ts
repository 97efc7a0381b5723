import http from 'node:http';
import { inCidr } from '../network/sg-rules.ts';
import https from 'node:https';
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Pool, request as undiciRequest, errors as undiciErrors } from 'undici';
import type { Action, AuthenticateCognitoActionConfig, AuthenticateOidcActionConfig, JwtValidationActionConfig, Rule, RuleCondition } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Clock } from '../clock.ts';
import { CLIENT_SECRET, forwardTargets, type ElbStore, type TargetState } from '../aws/elbv2/store.ts';
import type { CognitoStore } from '../aws/cognito/store.ts';
import { generateSigningKey, signJwt, verifyJwt, JwtError, type Jwk, type SigningKey } from '../aws/cognito/jwt.ts';
import type { IdpServer } from './idp-server.ts';
import { generateSelfSignedCert, type TlsMaterial } from './tls.ts';

/** ALB's connect timeout to a target (AWS: 10 s → 504); floored in real time like health checks. */
const CONNECT_TIMEOUT_SECONDS = 10;
const MIN_CONNECT_TIMEOUT_MS = 1000;
/** ALB's default idle timeout (60 s). */
const IDLE_TIMEOUT_SECONDS = 60;
/** The login must finish within 15 minutes. */
const LOGIN_WINDOW_MS = 15 * 60_000;
const COOKIE_SHARD = 4000;
const JWKS_TTL_MS = 5 * 60_000;

export interface AlbFrontOptions {
  elb: ElbStore;
  cognito?: CognitoStore;
  idp?: IdpServer;
  clock: Clock;
  /** where the self-signed certificate goes (`<runDir>/alb`) */
  runDir: string;
  host?: string;
  /** the address the ALB's connections to targets leave from (its ENI in the VPC), when the fabric gives one */
  localAddress?: () => string | undefined;
  log?: (line: string) => void;
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
}

interface ListenerServer {
  listenerArn: string;
  server: http.Server;
  url: string;
  tls: boolean;
}

interface Session {
  sub: string;
  accessToken: string;
  idToken?: string;
  claims: Record<string, unknown>;
  issuer: string;
  clientId: string;
  /** epoch ms the session ends (SessionTimeout) */
  exp: number;
}

interface PendingLogin {
  original: string;
  ruleArn: string;
  expires: number;
}

const ERROR_TITLES: Record<number, string> = {
  400: '400 Bad Request',
  401: '401 Authorization Required',
  403: '403 Forbidden',
  404: '404 Not Found',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Temporarily Unavailable',
  504: '504 Gateway Time-out',
};

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate', 'expect', 'http2-settings']);

/** `*` and `?` wildcards, as ALB conditions use them. */
function wildcard(pattern: string, flags = ''): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, `s${flags}`);
}

/** Whether a rule's conditions all match a request (values of one condition are OR-ed). */
export function conditionsMatch(conditions: RuleCondition[] | undefined, req: { method: string; path: string; query: URLSearchParams; headers: http.IncomingHttpHeaders; sourceIp: string }): boolean {
  for (const c of conditions ?? []) {
    let ok = false;
    switch (c.Field) {
      case 'path-pattern':
        ok = (c.PathPatternConfig?.Values ?? c.Values ?? []).some((v) => wildcard(v).test(req.path));
        break;
      case 'host-header': {
        const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
        ok = (c.HostHeaderConfig?.Values ?? c.Values ?? []).some((v) => wildcard(v, 'i').test(host));
        break;
      }
      case 'http-header': {
        const raw = req.headers[(c.HttpHeaderConfig?.HttpHeaderName ?? '').toLowerCase()];
        const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
        ok = values.some((h) => (c.HttpHeaderConfig?.Values ?? []).some((v) => wildcard(v, 'i').test(h)));
        break;
      }
      case 'http-request-method':
        ok = (c.HttpRequestMethodConfig?.Values ?? []).includes(req.method);
        break;
      case 'query-string':
        ok = (c.QueryStringConfig?.Values ?? []).some((kv) =>
          [...req.query.entries()].some(([k, v]) => (kv.Key === undefined || wildcard(kv.Key, 'i').test(k)) && wildcard(kv.Value ?? '*', 'i').test(v)),
        );
        break;
      case 'source-ip':
        ok = (c.SourceIpConfig?.Values ?? []).some((cidr) => inCidr(cidr, req.sourceIp.replace(/^::ffff:/, '')));
        break;
    }
    if (!ok) return false;
  }
  return true;
}

/**
 * The ALB front: one real HTTP(S) server per listener of every load balancer in the ELB store,
 * evaluating the listener's rules as ALB does (priority order, default rule last; actions in
 * Order) — authenticate-cognito / authenticate-oidc with ALB's session cookie and login
 * redirect, jwt-validation of bearer tokens, fixed-response, redirect, and forward (weighted)
 * to healthy targets with undici: 503 without registered targets, 502 on a reset or refusal,
 * 504 on a connect timeout, fail-open when every target is unhealthy. Nothing is forwarded
 * before an action's checks pass.
 */
export class AlbFront {
  private readonly servers = new Map<string, ListenerServer>();
  private readonly starting = new Map<string, Promise<void>>();
  private readonly pools = new Map<string, Pool>();
  private readonly rr = new Map<string, number>();
  private readonly pending = new Map<string, PendingLogin>();
  private readonly jwksCache = new Map<string, { jwks: { keys: Jwk[] }; fetched: number }>();
  private readonly sessionKey = randomBytes(32);
  readonly signingKey: SigningKey = generateSigningKey('ES256');
  private tls?: TlsMaterial;
  /** why HTTPS listeners are served as plain HTTP, if they are */
  tlsUnavailable?: string;
  private unsubscribe?: () => void;
  private closed = false;
  private readonly host: string;

  constructor(private readonly opts: AlbFrontOptions) {
    this.host = opts.host ?? '127.0.0.1';
    opts.idp?.publishAlbKey(this.signingKey.kid, this.signingKey.publicKey);
  }

  async start(): Promise<void> {
    const t = generateSelfSignedCert(this.opts.runDir, [this.host]);
    if ('error' in t) {
      this.tlsUnavailable = t.error;
      this.opts.log?.(`ALB front: HTTPS listeners are served as plain HTTP: ${t.error}`);
    } else this.tls = t;
    this.unsubscribe = this.opts.elb.onChange((c) => {
      if (c.kind === 'config-changed') void this.reconcile();
    });
    await this.reconcile();
  }

  /** The self-signed certificate (PEM) clients can trust, when HTTPS is served. */
  get certificatePem(): Buffer | undefined {
    return this.tls?.cert;
  }

  get certificateFile(): string | undefined {
    return this.tls?.certFile;
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    await Promise.all([...this.starting.values()]).catch(() => undefined);
    await Promise.all(
      [...this.servers.values()].map(
        (s) =>
          new Promise<void>((r) => {
            s.server.closeAllConnections?.();
            s.server.close(() => r());
          }),
      ),
    );
    this.servers.clear();
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }

  /** The local URL of a listener (https:// when served with TLS). */
  listenerUrl(listenerArn: string): string | undefined {
    return this.servers.get(listenerArn)?.url;
  }

  /** Waits until every listener in the store has its server. */
  async reconcile(): Promise<void> {
    if (this.closed) return;
    const jobs: Promise<void>[] = [];
    for (const [arn, l] of this.opts.elb.listeners) {
      if (this.servers.has(arn)) continue;
      let job = this.starting.get(arn);
      if (!job) {
        job = this.listen(arn, l.listener.Protocol === 'HTTPS').finally(() => this.starting.delete(arn));
        this.starting.set(arn, job);
      }
      jobs.push(job);
    }
    for (const [arn, s] of this.servers) {
      if (!this.opts.elb.listeners.has(arn)) {
        this.servers.delete(arn);
        s.server.closeAllConnections?.();
        s.server.close();
      }
    }
    await Promise.all(jobs);
  }

  private async listen(listenerArn: string, wantsTls: boolean): Promise<void> {
    const tls = wantsTls && !!this.tls;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(listenerArn, tls, req, res).catch((e) => {
        this.opts.events?.append('harness.error', { where: 'alb', error: String((e as Error)?.stack ?? e) });
        if (!res.headersSent) this.errorPage(res, 500);
        else res.destroy();
      });
    };
    const server = tls ? https.createServer({ key: this.tls!.key, cert: this.tls!.cert }, handler) : http.createServer(handler);
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const url = `${tls ? 'https' : 'http'}://${this.host}:${port}`;
    if (this.closed || !this.opts.elb.listeners.has(listenerArn)) {
      server.close();
      return;
    }
    this.servers.set(listenerArn, { listenerArn, server, url, tls });
    this.opts.events?.append('alb.listener.serving', { listenerArn, url });
  }

  // ------------------------------------------------------------------ request handling

  private errorPage(res: http.ServerResponse, status: number, extra: Record<string, string> = {}): void {
    const title = ERROR_TITLES[status] ?? String(status);
    const body = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
    res.writeHead(status, { server: 'awselb/2.0', 'content-type': 'text/html', 'content-length': Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  private async handle(listenerArn: string, tls: boolean, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://alb');
    const sourceIp = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const view = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, sourceIp };
    const rules = this.opts.elb.rulesOf(listenerArn);
    const rule = rules.find((r) => r.IsDefault || conditionsMatch(r.Conditions, view));
    if (!rule) return this.errorPage(res, 503);
    // claims headers are the ALB's to set: never pass a client's own on
    for (const h of Object.keys(req.headers)) if (h.startsWith('x-amzn-oidc-')) delete req.headers[h];
    const extra: Record<string, string> = {};
    const actions = [...(rule.Actions ?? [])].sort((a, b) => (a.Order ?? 0) - (b.Order ?? 0));
    for (const a of actions) {
      switch (a.Type) {
        case 'authenticate-cognito':
        case 'authenticate-oidc': {
          const done = await this.authenticate(listenerArn, rule, a, tls, req, res, url, extra);
          if (done) return;
          break;
        }
        case 'jwt-validation': {
          const failure = await this.validateJwt(a.JwtValidationConfig!, req);
          if (failure) {
            this.opts.events?.append('alb.jwt.denied', { listenerArn, rule: rule.RuleArn, reason: failure });
            return this.errorPage(res, 401, { 'www-authenticate': `Bearer error="invalid_token"` });
          }
          break;
        }
        case 'fixed-response': {
          const c = a.FixedResponseConfig!;
          const body = c.MessageBody ?? '';
          res.writeHead(Number(c.StatusCode), { server: 'awselb/2.0', 'content-type': c.ContentType ?? 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
          res.end(body);
          return;
        }
        case 'redirect':
          return this.redirect(a, tls, req, res, url);
        case 'forward':
          return this.forward(listenerArn, a, tls, req, res, extra);
      }
    }
    return this.errorPage(res, 500);
  }

  private redirect(a: Action, tls: boolean, req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const c = a.RedirectConfig!;
    const [hostOnly, portOnly] = String(req.headers.host ?? '').split(':');
    const proto = tls ? 'https' : 'http';
    const sub = (s: string) =>
      s
        .replace(/#\{protocol\}/g, proto)
        .replace(/#\{host\}/g, hostOnly ?? '')
        .replace(/#\{port\}/g, portOnly ?? (tls ? '443' : '80'))
        .replace(/#\{path\}/g, url.pathname.slice(1))
        .replace(/#\{query\}/g, url.search.slice(1));
    const protocol = sub(c.Protocol ?? '#{protocol}').toLowerCase();
    const port = sub(c.Port ?? '#{port}');
    const query = sub(c.Query ?? '#{query}');
    const location = `${protocol}://${sub(c.Host ?? '#{host}')}${port && !((protocol === 'https' && port === '443') || (protocol === 'http' && port === '80')) ? `:${port}` : ''}${sub(c.Path ?? '/#{path}')}${query ? `?${query}` : ''}`;
    res.writeHead(c.StatusCode === 'HTTP_301' ? 301 : 302, { server: 'awselb/2.0', location, 'content-length': 0 });
    res.end();
  }

  // ------------------------------------------------------------------ jwt-validation

  private async fetchJwks(url: string, refresh = false): Promise<{ keys: Jwk[] }> {
    const hit = this.jwksCache.get(url);
    if (hit && !refresh && Date.now() - hit.fetched < JWKS_TTL_MS) return hit.jwks;
    if (hit && refresh && Date.now() - hit.fetched < 1000) return hit.jwks;
    const res = await undiciRequest(url, { method: 'GET', headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`JWKS endpoint answered ${res.statusCode}`);
    if (text.length > 150 * 1024) throw new Error('JWKS response is larger than 150 KB');
    const jwks = JSON.parse(text) as { keys: Jwk[] };
    if (!Array.isArray(jwks?.keys) || jwks.keys.length > 10) throw new Error('JWKS must have a keys array of at most 10 keys');
    this.jwksCache.set(url, { jwks, fetched: Date.now() });
    return jwks;
  }

  /** Validates the bearer token as ALB's jwt-validation does; returns why it is refused, or undefined. */
  async validateJwt(cfg: JwtValidationActionConfig, req: { headers: http.IncomingHttpHeaders }): Promise<string | undefined> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''));
    if (!m) return 'no bearer token';
    const token = m[1]!;
    let jwks: { keys: Jwk[] };
    try {
      jwks = await this.fetchJwks(cfg.JwksEndpoint!);
    } catch (e) {
      return `JWKS could not be fetched: ${(e as Error).message}`;
    }
    let d;
    try {
      try {
        d = verifyJwt(token, jwks);
      } catch (e) {
        if (!(e instanceof JwtError) || e.reason !== 'kid') throw e;
        d = verifyJwt(token, await this.fetchJwks(cfg.JwksEndpoint!, true));
      }
    } catch (e) {
      return e instanceof JwtError ? `${e.reason}: ${e.message}` : `JWKS could not be fetched: ${(e as Error).message}`;
    }
    if (d.header.alg !== 'RS256') return 'alg: only RS256 is supported';
    const p = d.payload;
    if (typeof p.exp !== 'number') return 'exp: the token has no exp claim';
    if (p.iss !== cfg.Issuer) return `iss: issuer '${String(p.iss)}' is not '${cfg.Issuer}'`;
    if (p.iat !== undefined && (typeof p.iat !== 'number' || p.iat > Math.floor(Date.now() / 1000) + 60)) return 'iat: issued in the future';
    for (const c of cfg.AdditionalClaims ?? []) {
      const v = p[c.Name!];
      const want = c.Values ?? [];
      let ok = false;
      if (c.Format === 'single-string') ok = typeof v === 'string' && want.includes(v);
      else if (c.Format === 'string-array') ok = Array.isArray(v) && v.some((x) => want.includes(x));
      else ok = typeof v === 'string' && v.split(' ').some((x) => want.includes(x));
      if (!ok) return `claim ${c.Name}: value does not match`;
    }
    return undefined;
  }

  // ------------------------------------------------------------------ authenticate-cognito / -oidc

  private sealSession(s: Session): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.sessionKey, iv);
    const body = Buffer.concat([c.update(JSON.stringify(s), 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
  }

  private openSession(sealed: string): Session | undefined {
    try {
      const b = Buffer.from(sealed, 'base64');
      const d = createDecipheriv('aes-256-gcm', this.sessionKey, b.subarray(0, 12));
      d.setAuthTag(b.subarray(12, 28));
      return JSON.parse(Buffer.concat([d.update(b.subarray(28)), d.final()]).toString('utf8')) as Session;
    } catch {
      return undefined;
    }
  }

  private idpOf(a: Action): { issuer: string; clientId: string; clientSecret?: string; authorize: string; token: string; userInfo: string; scope: string; cookie: string; timeoutS: number; onUnauth: string } | undefined {
    if (a.Type === 'authenticate-cognito') {
      const c = a.AuthenticateCognitoConfig as AuthenticateCognitoActionConfig;
      const pool = this.opts.cognito?.poolByArn(c.UserPoolArn!);
      if (!pool || !this.opts.idp) return undefined;
      const client = pool.clients.get(c.UserPoolClientId!);
      if (!client) return undefined;
      const base = this.opts.idp.url;
      return {
        issuer: this.opts.cognito!.issuerOf(pool.id),
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        authorize: `${base}/oauth2/authorize`,
        token: `${base}/oauth2/token`,
        userInfo: `${base}/oauth2/userInfo`,
        scope: c.Scope ?? 'openid',
        cookie: c.SessionCookieName ?? 'AWSELBAuthSessionCookie',
        timeoutS: c.SessionTimeout ?? 604800,
        onUnauth: c.OnUnauthenticatedRequest ?? 'authenticate',
      };
    }
    const c = a.AuthenticateOidcConfig as AuthenticateOidcActionConfig;
    return {
      issuer: c.Issuer!,
      clientId: c.ClientId!,
      clientSecret: (a as unknown as Record<symbol, string | undefined>)[CLIENT_SECRET],
      authorize: c.AuthorizationEndpoint!,
      token: c.TokenEndpoint!,
      userInfo: c.UserInfoEndpoint!,
      scope: c.Scope ?? 'openid',
      cookie: c.SessionCookieName ?? 'AWSELBAuthSessionCookie',
      timeoutS: c.SessionTimeout ?? 604800,
      onUnauth: c.OnUnauthenticatedRequest ?? 'authenticate',
    };
  }

  private readCookies(req: http.IncomingMessage): Map<string, string> {
    const out = new Map<string, string>();
    for (const part of String(req.headers.cookie ?? '').split(/;\s*/)) {
      const i = part.indexOf('=');
      if (i > 0) out.set(part.slice(0, i), part.slice(i + 1));
    }
    return out;
  }

  /** Returns true when it answered the request itself (redirect, 401, callback). */
  private async authenticate(listenerArn: string, rule: Rule, a: Action, tls: boolean, req: http.IncomingMessage, res: http.ServerResponse, url: URL, extra: Record<string, string>): Promise<boolean> {
    const idp = this.idpOf(a);
    if (!idp) {
      this.errorPage(res, 500);
      return true;
    }
    const host = String(req.headers.host ?? this.host);
    const callback = `${tls ? 'https' : 'http'}://${host}/oauth2/idpresponse`;
    if (url.pathname === '/oauth2/idpresponse' && url.searchParams.get('state')) {
      await this.callback(listenerArn, idp, callback, req, res, url);
      return true;
    }
    const cookies = this.readCookies(req);
    let sealed = '';
    for (let i = 0; i < 4 && cookies.has(`${idp.cookie}-${i}`); i++) sealed += cookies.get(`${idp.cookie}-${i}`);
    const session = sealed ? this.openSession(sealed) : undefined;
    if (session && session.exp > Date.now() && session.clientId === idp.clientId && session.issuer === idp.issuer) {
      const lb = this.opts.elb.loadBalancerOfListener(listenerArn);
      const nowS = Math.floor(Date.now() / 1000);
      extra['x-amzn-oidc-accesstoken'] = session.accessToken;
      extra['x-amzn-oidc-identity'] = session.sub;
      extra['x-amzn-oidc-data'] = signJwt(
        this.signingKey,
        { ...session.claims, exp: nowS + 120, iss: idp.issuer },
        { typ: 'JWT', signer: lb?.LoadBalancerArn ?? '', iss: idp.issuer, client: idp.clientId, exp: nowS + 120 },
        { padded: true },
      );
      return false;
    }
    if (idp.onUnauth === 'allow') return false;
    if (idp.onUnauth === 'deny') {
      this.opts.events?.append('alb.auth.denied', { listenerArn, rule: rule.RuleArn, path: url.pathname });
      this.errorPage(res, 401);
      return true;
    }
    const state = randomBytes(24).toString('base64url');
    this.pending.set(state, { original: `${tls ? 'https' : 'http'}://${host}${req.url ?? '/'}`, ruleArn: rule.RuleArn!, expires: Date.now() + LOGIN_WINDOW_MS });
    const loc = new URL(idp.authorize);
    loc.searchParams.set('client_id', idp.clientId);
    loc.searchParams.set('redirect_uri', callback);
    loc.searchParams.set('response_type', 'code');
    loc.searchParams.set('scope', idp.scope);
    loc.searchParams.set('state', state);
    res.writeHead(302, { server: 'awselb/2.0', location: loc.toString(), 'cache-control': 'no-cache', 'content-length': 0 });
    res.end();
    return true;
  }

  private async callback(listenerArn: string, idp: NonNullable<ReturnType<AlbFront['idpOf']>>, callback: string, _req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const state = url.searchParams.get('state')!;
    const pending = this.pending.get(state);
    this.pending.delete(state);
    const code = url.searchParams.get('code');
    if (!pending || pending.expires < Date.now() || !code) return this.errorPage(res, 401);
    try {
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (idp.clientSecret) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(idp.clientId)}:${encodeURIComponent(idp.clientSecret)}`).toString('base64')}`;
      const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callback, client_id: idp.clientId });
      const tr = await undiciRequest(idp.token, { method: 'POST', headers, body: form.toString(), headersTimeout: 5000, bodyTimeout: 5000 });
      const tokens = (await tr.body.json()) as { access_token?: string; id_token?: string };
      if (tr.statusCode !== 200 || !tokens.access_token) return this.errorPage(res, 401);
      const ur = await undiciRequest(idp.userInfo, { method: 'GET', headers: { authorization: `Bearer ${tokens.access_token}` }, headersTimeout: 5000, bodyTimeout: 5000 });
      const claims = (await ur.body.json()) as Record<string, unknown>;
      if (ur.statusCode !== 200 || typeof claims.sub !== 'string') return this.errorPage(res, 401);
      if (JSON.stringify(claims).length > 11 * 1024) return this.errorPage(res, 500);
      const session: Session = { sub: claims.sub, accessToken: tokens.access_token, idToken: tokens.id_token, claims, issuer: idp.issuer, clientId: idp.clientId, exp: Date.now() + idp.timeoutS * 1000 };
      const sealed = this.sealSession(session);
      const cookies: string[] = [];
      const expires = new Date(session.exp).toUTCString();
      for (let i = 0, n = 0; i < sealed.length; i += COOKIE_SHARD, n++) cookies.push(`${idp.cookie}-${n}=${sealed.slice(i, i + COOKIE_SHARD)}; Expires=${expires}; Path=/; Secure; HttpOnly`);
      this.opts.events?.append('alb.auth.session', { listenerArn, sub: claims.sub, shards: cookies.length });
      res.writeHead(302, { server: 'awselb/2.0', location: pending.original, 'set-cookie': cookies, 'content-length': 0 });
      res.end();
    } catch {
      this.errorPage(res, 500);
    }
  }

  // ------------------------------------------------------------------ forward

  private pickTarget(a: Action): { tgArn: string; target: TargetState } | 'no-targets' {
    const groups = forwardTargets(a).filter((g) => g.weight > 0);
    if (!groups.length) return 'no-targets';
    let tgArn = groups[0]!.arn;
    if (groups.length > 1) {
      const total = groups.reduce((n, g) => n + g.weight, 0);
      let r = Math.random() * total;
      for (const g of groups) {
        if ((r -= g.weight) < 0) {
          tgArn = g.arn;
          break;
        }
      }
    }
    let registered: TargetState[];
    try {
      registered = this.opts.elb.targetsOf(tgArn).filter((t) => t.drainUntil === undefined);
    } catch {
      return 'no-targets';
    }
    if (!registered.length) return 'no-targets';
    const healthy = registered.filter((t) => t.health.State === 'healthy');
    // fail open: every target unhealthy (or still initial) → route to all of them
    const pool = healthy.length ? healthy : registered;
    const i = (this.rr.get(tgArn) ?? 0) % pool.length;
    this.rr.set(tgArn, i + 1);
    return { tgArn, target: pool[i]! };
  }

  private poolFor(origin: string): Pool {
    const local = this.opts.localAddress?.();
    const key = `${origin}|${local ?? ''}`;
    let p = this.pools.get(key);
    if (!p) {
      p = new Pool(origin, {
        connections: 64,
        keepAliveTimeout: IDLE_TIMEOUT_SECONDS * 1000,
        connect: { timeout: Math.max(MIN_CONNECT_TIMEOUT_MS, this.opts.clock.scaledMs(CONNECT_TIMEOUT_SECONDS)) },
        // the source address is a client option in undici (connect.localAddress would be overridden)
        ...(local ? { localAddress: local } : {}),
        headersTimeout: Math.max(5000, this.opts.clock.scaledMs(IDLE_TIMEOUT_SECONDS)),
        bodyTimeout: Math.max(5000, this.opts.clock.scaledMs(IDLE_TIMEOUT_SECONDS)),
      });
      this.pools.set(key, p);
    }
    return p;
  }

  private async forward(listenerArn: string, a: Action, tls: boolean, req: http.IncomingMessage, res: http.ServerResponse, extra: Record<string, string>): Promise<void> {
    const pick = this.pickTarget(a);
    if (pick === 'no-targets') return this.errorPage(res, 503);
    const { target } = pick;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const source = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${source}` : source;
    headers['x-forwarded-proto'] = tls ? 'https' : 'http';
    headers['x-forwarded-port'] = String(this.opts.elb.listeners.get(listenerArn)?.listener.Port ?? '');
    headers['x-amzn-trace-id'] = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)}`;
    Object.assign(headers, extra);
    const hasBody = !['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(req.method ?? 'GET') || req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    try {
      const up = await this.poolFor(`http://${target.id}:${target.port}`).request({
        method: (req.method ?? 'GET') as 'GET',
        path: req.url ?? '/',
        headers,
        body: hasBody ? req : null,
      });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v as string | string[];
      res.writeHead(up.statusCode, out);
      for await (const chunk of up.body) res.write(chunk);
      res.end();
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const timedOut = e instanceof undiciErrors.ConnectTimeoutError || e instanceof undiciErrors.HeadersTimeoutError || (e as { code?: string })?.code === 'ETIMEDOUT';
      this.opts.events?.append('alb.forward.error', { listenerArn, target: `${target.id}:${target.port}`, error: (e as { code?: string })?.code ?? String(e), status: timedOut ? 504 : 502 });
      this.errorPage(res, timedOut ? 504 : 502);
    }
  }
}
