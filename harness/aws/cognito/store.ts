import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';
import { generateSigningKey, publicJwk, signJwt, type Jwk, type SigningKey } from './jwt.ts';

export interface CognitoStoreDeps {
  account: string;
  region: string;
  now?: () => Date;
  events?: EventSink;
}

export const cognitoErrors = {
  invalidParameter: (m: string) => new AwsError('InvalidParameterException', m),
  notFound: (m: string) => new AwsError('ResourceNotFoundException', m),
  notAuthorized: (m = 'Incorrect username or password.') => new AwsError('NotAuthorizedException', m),
  userNotFound: () => new AwsError('UserNotFoundException', 'User does not exist.'),
  usernameExists: () => new AwsError('UsernameExistsException', 'User account already exists'),
  invalidPassword: (m: string) => new AwsError('InvalidPasswordException', `Password does not conform to policy: ${m}`),
};

export interface UserPoolState {
  id: string;
  name: string;
  arn: string;
  created: Date;
  modified: Date;
  domain?: string;
  accessKey: SigningKey;
  idKey: SigningKey;
  clients: Map<string, UserPoolClientState>;
  users: Map<string, UserState>;
  autoVerifiedAttributes: string[];
  usernameAttributes: string[];
}

export interface UserPoolClientState {
  clientId: string;
  clientName: string;
  clientSecret?: string;
  explicitAuthFlows: string[];
  callbackUrls: string[];
  logoutUrls: string[];
  allowedOAuthFlows: string[];
  allowedOAuthScopes: string[];
  allowedOAuthFlowsUserPoolClient: boolean;
  supportedIdentityProviders: string[];
  accessTokenValidityMinutes: number;
  idTokenValidityMinutes: number;
  refreshTokenValidityDays: number;
  preventUserExistenceErrors: string;
  created: Date;
  modified: Date;
}

export interface UserState {
  username: string;
  sub: string;
  attributes: Record<string, string>;
  password: string;
  status: 'FORCE_CHANGE_PASSWORD' | 'CONFIRMED';
  enabled: boolean;
  created: Date;
  modified: Date;
  groups: string[];
}

export interface IssuedTokens {
  AccessToken: string;
  IdToken: string;
  RefreshToken: string;
  ExpiresIn: number;
  TokenType: 'Bearer';
}

export interface TokenOptions {
  /** the token's exp is in the past */
  expired?: boolean;
  /** nbf is in the future */
  notBefore?: boolean;
  /** access-token scope (default: aws.cognito.signin.user.admin, as USER_PASSWORD_AUTH gives) */
  scope?: string;
  /** OIDC nonce for the id token (hosted-UI flow) */
  nonce?: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function randomString(n: number, alphabet = ALNUM): string {
  const b = randomBytes(n);
  return Array.from(b, (x) => alphabet[x % alphabet.length]).join('');
}

/**
 * Cognito user pools: pools (each with its own RS256 signing keys for access and id tokens),
 * app clients, users, hosted-UI domains, and token issuing with Cognito's claims. Private
 * keys live only in this process's memory.
 */
export class CognitoStore {
  readonly pools = new Map<string, UserPoolState>();
  private readonly refreshTokens = new Map<string, { poolId: string; clientId: string; username: string }>();
  private readonly now: () => Date;

  constructor(private readonly deps: CognitoStoreDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  get region(): string {
    return this.deps.region;
  }

  issuerOf(poolId: string): string {
    return `https://cognito-idp.${this.deps.region}.amazonaws.com/${poolId}`;
  }

  createUserPool(name: string, opts: { autoVerifiedAttributes?: string[]; usernameAttributes?: string[] } = {}): UserPoolState {
    if (!name || name.length > 128) throw cognitoErrors.invalidParameter('PoolName must be 1 to 128 characters');
    const id = `${this.deps.region}_${randomString(9)}`;
    const pool: UserPoolState = {
      id,
      name,
      arn: `arn:aws:cognito-idp:${this.deps.region}:${this.deps.account}:userpool/${id}`,
      created: this.now(),
      modified: this.now(),
      accessKey: generateSigningKey('RS256', randomBytes(32).toString('base64')),
      idKey: generateSigningKey('RS256', randomBytes(32).toString('base64')),
      clients: new Map(),
      users: new Map(),
      autoVerifiedAttributes: opts.autoVerifiedAttributes ?? [],
      usernameAttributes: opts.usernameAttributes ?? [],
    };
    this.pools.set(id, pool);
    this.deps.events?.append('cognito.userPool.created', { id, name });
    return pool;
  }

  pool(id: string): UserPoolState {
    const p = this.pools.get(id);
    if (!p) throw cognitoErrors.notFound(`User pool ${id} does not exist.`);
    return p;
  }

  poolByArn(arn: string): UserPoolState | undefined {
    return [...this.pools.values()].find((p) => p.arn === arn);
  }

  /** The pool whose hosted-UI domain is `prefix` or `prefix.auth.<region>.amazoncognito.com`. */
  poolByDomain(domain: string): UserPoolState | undefined {
    const prefix = domain.replace(/^https?:\/\//, '').split('.auth.')[0];
    return [...this.pools.values()].find((p) => p.domain === prefix);
  }

  deleteUserPool(id: string): void {
    this.pool(id);
    this.pools.delete(id);
  }

  createUserPoolDomain(poolId: string, domain: string): void {
    const p = this.pool(poolId);
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) throw cognitoErrors.invalidParameter(`Domain '${domain}' is not valid: use lower-case letters, numbers and hyphens`);
    if (domain.includes('aws') || domain.includes('amazon') || domain.includes('cognito')) throw cognitoErrors.invalidParameter('Domain cannot contain reserved word: aws, amazon, or cognito');
    for (const o of this.pools.values()) if (o.domain === domain) throw cognitoErrors.invalidParameter('Domain already exists.');
    if (p.domain) throw cognitoErrors.invalidParameter(`User pool ${poolId} already has a domain configured.`);
    p.domain = domain;
    p.modified = this.now();
  }

  createUserPoolClient(poolId: string, input: Partial<Omit<UserPoolClientState, 'clientId' | 'created' | 'modified' | 'clientSecret'>> & { clientName: string; generateSecret?: boolean }): UserPoolClientState {
    const p = this.pool(poolId);
    if (!input.clientName) throw cognitoErrors.invalidParameter('ClientName is required');
    const flows = input.allowedOAuthFlows ?? [];
    if (flows.length && !(input.callbackUrls ?? []).length) throw cognitoErrors.invalidParameter('CallbackURLs must be provided when AllowedOAuthFlows is specified');
    const c: UserPoolClientState = {
      clientId: randomString(26, 'abcdefghijklmnopqrstuvwxyz0123456789'),
      clientName: input.clientName,
      ...(input.generateSecret ? { clientSecret: randomString(51, 'abcdefghijklmnopqrstuvwxyz0123456789') } : {}),
      explicitAuthFlows: input.explicitAuthFlows?.length ? input.explicitAuthFlows : ['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_SRP_AUTH', 'ALLOW_CUSTOM_AUTH'],
      callbackUrls: input.callbackUrls ?? [],
      logoutUrls: input.logoutUrls ?? [],
      allowedOAuthFlows: flows,
      allowedOAuthScopes: input.allowedOAuthScopes ?? [],
      allowedOAuthFlowsUserPoolClient: input.allowedOAuthFlowsUserPoolClient ?? false,
      supportedIdentityProviders: input.supportedIdentityProviders ?? [],
      accessTokenValidityMinutes: input.accessTokenValidityMinutes ?? 60,
      idTokenValidityMinutes: input.idTokenValidityMinutes ?? 60,
      refreshTokenValidityDays: input.refreshTokenValidityDays ?? 30,
      preventUserExistenceErrors: input.preventUserExistenceErrors ?? 'ENABLED',
      created: this.now(),
      modified: this.now(),
    };
    p.clients.set(c.clientId, c);
    this.deps.events?.append('cognito.userPoolClient.created', { poolId, clientId: c.clientId, clientName: c.clientName });
    return c;
  }

  client(poolId: string, clientId: string): UserPoolClientState {
    const c = this.pool(poolId).clients.get(clientId);
    if (!c) throw cognitoErrors.notFound(`User pool client ${clientId} does not exist.`);
    return c;
  }

  /** The pool an app client belongs to (InitiateAuth names only the client). */
  poolOfClient(clientId: string): UserPoolState {
    for (const p of this.pools.values()) if (p.clients.has(clientId)) return p;
    throw cognitoErrors.notFound(`User pool client ${clientId} does not exist.`);
  }

  adminCreateUser(poolId: string, username: string, attributes: Record<string, string>, temporaryPassword?: string): UserState {
    const p = this.pool(poolId);
    if (!username) throw cognitoErrors.invalidParameter('Username is required');
    if (p.users.has(username)) throw cognitoErrors.usernameExists();
    const now = this.now();
    const u: UserState = {
      username,
      sub: randomUUID(),
      attributes: { ...attributes },
      password: temporaryPassword ?? `Tmp-${randomString(12)}1!`,
      status: 'FORCE_CHANGE_PASSWORD',
      enabled: true,
      created: now,
      modified: now,
      groups: [],
    };
    if (temporaryPassword) checkPassword(temporaryPassword);
    u.attributes.sub = u.sub;
    p.users.set(username, u);
    this.deps.events?.append('cognito.user.created', { poolId, username });
    return u;
  }

  user(poolId: string, username: string): UserState {
    const u = this.pool(poolId).users.get(username);
    if (!u) throw cognitoErrors.userNotFound();
    return u;
  }

  adminSetUserPassword(poolId: string, username: string, password: string, permanent: boolean): void {
    const u = this.user(poolId, username);
    checkPassword(password);
    u.password = password;
    u.status = permanent ? 'CONFIRMED' : 'FORCE_CHANGE_PASSWORD';
    u.modified = this.now();
  }

  /** USER_PASSWORD_AUTH: the user's tokens, or a NEW_PASSWORD_REQUIRED challenge. */
  passwordAuth(poolId: string, clientId: string, username: string, password: string, secretHash?: string, opts: { skipSecretHash?: boolean } = {}): { tokens?: IssuedTokens; challenge?: string; session?: string } {
    const p = this.pool(poolId);
    const c = this.client(poolId, clientId);
    if (c.clientSecret && !opts.skipSecretHash) {
      const expected = createHmac('sha256', c.clientSecret).update(username + clientId).digest('base64');
      if (secretHash !== expected) throw cognitoErrors.notAuthorized(`Client ${clientId} is configured with secret but SECRET_HASH was not received`);
    }
    const u = p.users.get(username);
    if (!u) throw c.preventUserExistenceErrors === 'ENABLED' ? cognitoErrors.notAuthorized() : cognitoErrors.userNotFound();
    if (!u.enabled) throw cognitoErrors.notAuthorized('User is disabled.');
    if (u.password !== password) {
      this.deps.events?.append('cognito.auth.failed', { poolId, clientId, username });
      throw cognitoErrors.notAuthorized();
    }
    if (u.status === 'FORCE_CHANGE_PASSWORD') return { challenge: 'NEW_PASSWORD_REQUIRED', session: randomString(64) };
    this.deps.events?.append('cognito.auth.succeeded', { poolId, clientId, username });
    return { tokens: opts.skipSecretHash ? undefined : this.issueTokens(poolId, clientId, username), challenge: undefined };
  }

  refreshAuth(clientId: string, refreshToken: string): IssuedTokens {
    const r = this.refreshTokens.get(refreshToken);
    if (!r || r.clientId !== clientId) throw cognitoErrors.notAuthorized('Invalid Refresh Token');
    const t = this.issueTokens(r.poolId, r.clientId, r.username);
    this.refreshTokens.delete(t.RefreshToken);
    return { ...t, RefreshToken: refreshToken };
  }

  /** Access, id and refresh tokens for a user, signed with the pool's keys, with Cognito's claims. */
  issueTokens(poolId: string, clientId: string, username: string, opts: TokenOptions = {}): IssuedTokens {
    const p = this.pool(poolId);
    const c = this.client(poolId, clientId);
    const u = this.user(poolId, username);
    const now = Math.floor(this.now().getTime() / 1000);
    const accessTtl = c.accessTokenValidityMinutes * 60;
    const idTtl = c.idTokenValidityMinutes * 60;
    const iat = opts.expired ? now - accessTtl - 600 : now;
    const originJti = randomUUID();
    const eventId = randomUUID();
    const common = { sub: u.sub, iss: this.issuerOf(poolId), origin_jti: originJti, event_id: eventId, auth_time: iat, iat, jti: '' };
    const groups = u.groups.length ? { 'cognito:groups': u.groups } : {};
    const nbf = opts.notBefore ? { nbf: now + 3600 } : {};
    const access = {
      ...common,
      ...groups,
      client_id: clientId,
      token_use: 'access',
      scope: opts.scope ?? 'aws.cognito.signin.user.admin',
      exp: iat + accessTtl,
      jti: randomUUID(),
      username: u.username,
      ...nbf,
    };
    const id = {
      ...common,
      ...groups,
      ...(u.attributes.email_verified !== undefined ? { email_verified: u.attributes.email_verified === 'true' } : {}),
      'cognito:username': u.username,
      aud: clientId,
      token_use: 'id',
      exp: iat + idTtl,
      jti: randomUUID(),
      ...(u.attributes.email ? { email: u.attributes.email } : {}),
      ...(opts.nonce ? { nonce: opts.nonce } : {}),
      ...nbf,
    };
    const refresh = `eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.${randomBytes(192).toString('base64url')}.${randomBytes(12).toString('base64url')}.${randomBytes(1200).toString('base64url')}.${randomBytes(16).toString('base64url')}`;
    this.refreshTokens.set(refresh, { poolId, clientId, username });
    return {
      AccessToken: signJwt(p.accessKey, access),
      IdToken: signJwt(p.idKey, id),
      RefreshToken: refresh,
      ExpiresIn: accessTtl,
      TokenType: 'Bearer',
    };
  }

  /** The pool's public keys, as https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json serves them. */
  jwks(poolId: string): { keys: Jwk[] } {
    const p = this.pool(poolId);
    return { keys: [publicJwk(p.idKey), publicJwk(p.accessKey)] };
  }

  /** userInfo for an access token's subject: the user's attributes plus username. */
  userInfo(poolId: string, sub: string): Record<string, unknown> | undefined {
    const u = [...this.pool(poolId).users.values()].find((x) => x.sub === sub);
    if (!u) return undefined;
    const out: Record<string, unknown> = { sub: u.sub };
    for (const [k, v] of Object.entries(u.attributes)) out[k] = k === 'email_verified' || k === 'phone_number_verified' ? v === 'true' : v;
    out.username = u.username;
    return out;
  }
}

/** The default Cognito password policy: 8+ characters, upper, lower, number and symbol. */
function checkPassword(pw: string): void {
  if (pw.length < 8) throw cognitoErrors.invalidPassword('Password not long enough');
  if (!/[a-z]/.test(pw)) throw cognitoErrors.invalidPassword('Password must have lowercase characters');
  if (!/[A-Z]/.test(pw)) throw cognitoErrors.invalidPassword('Password must have uppercase characters');
  if (!/[0-9]/.test(pw)) throw cognitoErrors.invalidPassword('Password must have numeric characters');
  if (!/[^A-Za-z0-9]/.test(pw)) throw cognitoErrors.invalidPassword('Password must have symbol characters');
}
