import { createHmac, createPublicKey, createSign, createVerify, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';

/*
 * Minimal JWS (compact) for the emulator, on node:crypto: RS256 (Cognito's tokens) and ES256
 * (the ALB's x-amzn-oidc-data). Verification is strict: the algorithm must be the key's own,
 * `none` and HMAC are refused, the kid must be in the key set.
 */

export type JwtAlg = 'RS256' | 'ES256';

export interface SigningKey {
  kid: string;
  alg: JwtAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface Jwk {
  kid: string;
  alg: string;
  kty: string;
  use?: string;
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
}

export function generateSigningKey(alg: JwtAlg, kid: string = randomUUID()): SigningKey {
  const pair = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

/** The public half as a JWK (what a JWKS document lists). */
export function publicJwk(k: SigningKey): Jwk {
  const j = k.publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return k.alg === 'RS256' ? { alg: 'RS256', e: j.e!, kid: k.kid, kty: 'RSA', n: j.n!, use: 'sig' } : { alg: 'ES256', crv: j.crv!, kid: k.kid, kty: 'EC', use: 'sig', x: j.x!, y: j.y! };
}

export function b64url(buf: Buffer | string): string {
  return Buffer.from(buf).toString('base64url');
}

/** base64url WITH `=` padding (the ALB's x-amzn-oidc-data encoding). */
export function b64urlPadded(buf: Buffer | string): string {
  return Buffer.from(buf).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export function signJwt(key: SigningKey, payload: Record<string, unknown>, extraHeader: Record<string, unknown> = {}, opts: { padded?: boolean } = {}): string {
  const enc = opts.padded ? b64urlPadded : b64url;
  const header = { kid: key.kid, alg: key.alg, ...extraHeader };
  const input = `${enc(JSON.stringify(header))}.${enc(JSON.stringify(payload))}`;
  const signer = createSign('SHA256');
  signer.update(input);
  const sig = key.alg === 'ES256' ? signer.sign({ key: key.privateKey, dsaEncoding: 'ieee-p1363' }) : signer.sign(key.privateKey);
  return `${input}.${enc(sig)}`;
}

/** HS256 with an arbitrary secret: only to build the attacks a verifier must refuse. */
export function signHs256(secret: string | Buffer, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createHmac('sha256', secret).update(input).digest())}`;
}

export class JwtError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface DecodedJwt {
  header: Record<string, any>;
  payload: Record<string, any>;
  signingInput: string;
  signature: Buffer;
}

function b64decode(s: string): Buffer {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(s)) throw new JwtError('malformed', 'token segment is not base64url');
  return Buffer.from(s.replace(/=+$/, ''), 'base64url');
}

export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed', 'token does not have three segments');
  let header: any;
  let payload: any;
  try {
    header = JSON.parse(b64decode(parts[0]!).toString('utf8'));
    payload = JSON.parse(b64decode(parts[1]!).toString('utf8'));
  } catch (e) {
    if (e instanceof JwtError) throw e;
    throw new JwtError('malformed', 'token header or payload is not JSON');
  }
  if (!header || typeof header !== 'object' || !payload || typeof payload !== 'object' || Array.isArray(payload)) throw new JwtError('malformed', 'token header or payload is not a JSON object');
  return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: b64decode(parts[2]!) };
}

/** Verifies a compact JWS against a JWKS. Returns the payload; throws JwtError(reason). */
export function verifyJwt(token: string, jwks: { keys: Jwk[] }, opts: { nowSeconds?: number; clockToleranceSeconds?: number } = {}): DecodedJwt {
  const d = decodeJwt(token);
  const alg = d.header.alg;
  if (alg !== 'RS256' && alg !== 'ES256') throw new JwtError('alg', `algorithm '${String(alg)}' is not accepted`);
  const jwk = (jwks.keys ?? []).find((k) => k.kid === d.header.kid);
  if (!jwk) throw new JwtError('kid', `no key with kid '${String(d.header.kid)}' in the JWKS`);
  if (jwk.alg && jwk.alg !== alg) throw new JwtError('alg', `token algorithm ${alg} does not match the key's ${jwk.alg}`);
  if (jwk.use && jwk.use !== 'sig') throw new JwtError('kid', 'the key is not a signing key');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as any, format: 'jwk' });
  } catch {
    throw new JwtError('kid', 'the JWKS key cannot be used');
  }
  if ((alg === 'RS256' && key.asymmetricKeyType !== 'rsa') || (alg === 'ES256' && key.asymmetricKeyType !== 'ec')) throw new JwtError('alg', 'algorithm does not match the key type');
  const v = createVerify('SHA256');
  v.update(d.signingInput);
  const ok = alg === 'ES256' ? v.verify({ key, dsaEncoding: 'ieee-p1363' }, d.signature) : v.verify(key, d.signature);
  if (!ok) throw new JwtError('signature', 'signature does not verify');
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  const skew = opts.clockToleranceSeconds ?? 0;
  if (d.payload.exp !== undefined && (typeof d.payload.exp !== 'number' || now - skew >= d.payload.exp)) throw new JwtError('exp', 'token has expired');
  if (d.payload.nbf !== undefined && (typeof d.payload.nbf !== 'number' || now + skew < d.payload.nbf)) throw new JwtError('nbf', 'token is not yet valid');
  return d;
}
