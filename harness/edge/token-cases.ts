import type { CognitoStore } from '../aws/cognito/store.ts';
import { b64url, decodeJwt, generateSigningKey, signHs256, signJwt } from '../aws/cognito/jwt.ts';

export interface TokenCase {
  name: string;
  /** the Authorization header value, or undefined for no header */
  authorization?: string;
  /** what ALB's jwt-validation must answer */
  expect: 200 | 401;
}

/**
 * The bearer tokens a jwt-validation rule must tell apart (issue 5's list): one valid access
 * token and every way to get it wrong. `otherClientId` is a second app client of the same pool.
 */
export function jwtValidationCases(cognito: CognitoStore, poolId: string, clientId: string, otherClientId: string, username: string): TokenCase[] {
  const pool = cognito.pool(poolId);
  const valid = cognito.issueTokens(poolId, clientId, username).AccessToken;
  const { header, payload } = decodeJwt(valid);
  const now = Math.floor(Date.now() / 1000);
  const publicPem = pool.accessKey.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const parts = valid.split('.');
  const tamperedPayload = b64url(JSON.stringify({ ...payload, username: 'mallory', 'cognito:groups': ['admin'] }));
  const bearer = (t: string) => `Bearer ${t}`;
  return [
    { name: 'valid access token', authorization: bearer(valid), expect: 200 },
    { name: 'no token', authorization: undefined, expect: 401 },
    { name: 'expired', authorization: bearer(cognito.issueTokens(poolId, clientId, username, { expired: true }).AccessToken), expect: 401 },
    { name: 'not yet valid (nbf in the future)', authorization: bearer(cognito.issueTokens(poolId, clientId, username, { notBefore: true }).AccessToken), expect: 401 },
    { name: 'wrong issuer', authorization: bearer(signJwt(pool.accessKey, { ...payload, iss: `https://cognito-idp.${cognito.region}.amazonaws.com/${cognito.region}_WrongPool1` })), expect: 401 },
    { name: 'wrong client', authorization: bearer(cognito.issueTokens(poolId, otherClientId, username).AccessToken), expect: 401 },
    { name: 'id token where an access token is required', authorization: bearer(cognito.issueTokens(poolId, clientId, username).IdToken), expect: 401 },
    { name: 'alg none', authorization: bearer(`${b64url(JSON.stringify({ alg: 'none', kid: header.kid }))}.${parts[1]}.`), expect: 401 },
    { name: 'HS256 signed with the public key', authorization: bearer(signHs256(publicPem, { alg: 'HS256', kid: header.kid }, payload)), expect: 401 },
    { name: 'unknown kid', authorization: bearer(signJwt(generateSigningKey('RS256', 'unknown-kid-0000'), { ...payload, iat: now })), expect: 401 },
    { name: 'tampered payload', authorization: bearer(`${parts[0]}.${tamperedPayload}.${parts[2]}`), expect: 401 },
    { name: 'truncated token', authorization: bearer(valid.slice(0, valid.length - 12)), expect: 401 },
  ];
}
