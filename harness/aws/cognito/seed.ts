import type { CognitoStore } from './store.ts';

export interface SeedUserPool {
  userPool: string;
  domain?: string;
  clients: { name: string; generateSecret: boolean; callbackUrls?: string[] }[];
  users: { username: string; password?: string; email?: string }[];
}

export interface SeededUserPool {
  name: string;
  id: string;
  arn: string;
  issuer: string;
  domain?: string;
  clients: { name: string; clientId: string }[];
  users: { username: string; password: string; email: string }[];
}

/** A fake password every seeded user gets unless the manifest gives one. */
export const DEFAULT_TEST_PASSWORD = 'Harness-Test-Password-1!';

/**
 * User pools with their hosted-UI domain, app clients (code flow, as an ALB's
 * authenticate-cognito action uses them) and confirmed users with permanent passwords.
 */
export function seedUserPools(store: CognitoStore, pools: readonly SeedUserPool[], ctx: { defaultCallbackUrls: string[] }): SeededUserPool[] {
  return pools.map((p) => {
    const pool = store.createUserPool(p.userPool, { autoVerifiedAttributes: ['email'] });
    if (p.domain) store.createUserPoolDomain(pool.id, p.domain);
    const clients = p.clients.map((c) => {
      const callbackUrls = c.callbackUrls ?? ctx.defaultCallbackUrls;
      // the code flow needs a callback (a load balancer's /oauth2/idpresponse); without one the
      // client signs in with passwords only, as Cognito requires
      const oauth = callbackUrls.length
        ? { allowedOAuthFlows: ['code'], allowedOAuthScopes: ['openid', 'email'], allowedOAuthFlowsUserPoolClient: true, callbackUrls }
        : {};
      const client = store.createUserPoolClient(pool.id, {
        clientName: c.name,
        generateSecret: c.generateSecret,
        explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
        supportedIdentityProviders: ['COGNITO'],
        ...oauth,
      });
      return { name: c.name, clientId: client.clientId };
    });
    const users = p.users.map((u) => {
      const email = u.email ?? `${u.username}@example.com`;
      const password = u.password ?? DEFAULT_TEST_PASSWORD;
      store.adminCreateUser(pool.id, u.username, { email, email_verified: 'true' });
      store.adminSetUserPassword(pool.id, u.username, password, true);
      return { username: u.username, password, email };
    });
    return { name: p.userPool, id: pool.id, arn: pool.arn, issuer: store.issuerOf(pool.id), ...(p.domain ? { domain: p.domain } : {}), clients, users };
  });
}
