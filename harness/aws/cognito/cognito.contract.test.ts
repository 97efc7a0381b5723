import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, TEST_REGION } from '../test-edge.ts';
import { CognitoStore } from './store.ts';
import { createCognitoProvider } from './provider.ts';
import { decodeJwt, verifyJwt } from './jwt.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[cognito contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);
// @aws-sdk/client-cognito-identity-provider is not installed: the CLIs are the judges here

describe.each(clis)('Cognito user pools with aws $major ($version)', (cli) => {
  let env: { store: CognitoStore; url: string; stop: () => Promise<void> };
  beforeAll(async () => {
    const store = new CognitoStore({ account: '123456789012', region: TEST_REGION });
    env = { store, ...(await startTestEdge([createCognitoProvider(store)])) };
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, args);

  it('pool, client, domain, user, USER_PASSWORD_AUTH tokens with Cognito claims, and the errors', async () => {
    const pool = await aws('cognito-idp', 'create-user-pool', '--pool-name', 'escher-users');
    expect(pool.code, pool.stderr).toBe(0);
    const poolId: string = pool.json.UserPool.Id;
    expect(poolId).toMatch(new RegExp(`^${TEST_REGION}_[0-9A-Za-z]{9}$`));
    expect(pool.json.UserPool.Arn).toBe(`arn:aws:cognito-idp:${TEST_REGION}:123456789012:userpool/${poolId}`);
    const client = await aws('cognito-idp', 'create-user-pool-client', '--user-pool-id', poolId, '--client-name', 'escher-alb', '--explicit-auth-flows', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_ADMIN_USER_PASSWORD_AUTH');
    expect(client.code, client.stderr).toBe(0);
    const clientId: string = client.json.UserPoolClient.ClientId;
    const dom = await aws('cognito-idp', 'create-user-pool-domain', '--user-pool-id', poolId, '--domain', 'escher-auth');
    expect(dom.code, dom.stderr).toBe(0);
    const described = await aws('cognito-idp', 'describe-user-pool', '--user-pool-id', poolId, '--query', 'UserPool.Domain', '--output', 'text');
    expect(described.stdout.trim()).toBe('escher-auth');
    const user = await aws('cognito-idp', 'admin-create-user', '--user-pool-id', poolId, '--username', 'alice', '--user-attributes', 'Name=email,Value=alice@example.com', 'Name=email_verified,Value=true', '--message-action', 'SUPPRESS');
    expect(user.code, user.stderr).toBe(0);
    expect(user.json.User.UserStatus).toBe('FORCE_CHANGE_PASSWORD');
    const weak = await aws('cognito-idp', 'admin-set-user-password', '--user-pool-id', poolId, '--username', 'alice', '--password', 'short', '--permanent');
    expect(weak.stderr).toContain('InvalidPasswordException');
    const set = await aws('cognito-idp', 'admin-set-user-password', '--user-pool-id', poolId, '--username', 'alice', '--password', 'Correct-Horse-1', '--permanent');
    expect(set.code, set.stderr).toBe(0);

    const auth = await aws('cognito-idp', 'initiate-auth', '--client-id', clientId, '--auth-flow', 'USER_PASSWORD_AUTH', '--auth-parameters', 'USERNAME=alice,PASSWORD=Correct-Horse-1');
    expect(auth.code, auth.stderr).toBe(0);
    const r = auth.json.AuthenticationResult;
    expect(r).toMatchObject({ TokenType: 'Bearer', ExpiresIn: 3600 });
    const jwks = env.store.jwks(poolId);
    const access = verifyJwt(r.AccessToken, jwks);
    expect(access.header.alg).toBe('RS256');
    expect(access.payload).toMatchObject({ iss: `https://cognito-idp.${TEST_REGION}.amazonaws.com/${poolId}`, token_use: 'access', client_id: clientId, username: 'alice', scope: 'aws.cognito.signin.user.admin' });
    expect(access.payload.aud).toBeUndefined();
    const id = verifyJwt(r.IdToken, jwks);
    expect(id.payload).toMatchObject({ aud: clientId, token_use: 'id', 'cognito:username': 'alice', email: 'alice@example.com', email_verified: true, sub: access.payload.sub });
    expect(id.header.kid).not.toBe(access.header.kid);
    expect(decodeJwt(r.AccessToken).payload.exp - decodeJwt(r.AccessToken).payload.iat).toBe(3600);

    const admin = await aws('cognito-idp', 'admin-initiate-auth', '--user-pool-id', poolId, '--client-id', clientId, '--auth-flow', 'ADMIN_USER_PASSWORD_AUTH', '--auth-parameters', 'USERNAME=alice,PASSWORD=Correct-Horse-1');
    expect(admin.code, admin.stderr).toBe(0);
    const refreshed = await aws('cognito-idp', 'initiate-auth', '--client-id', clientId, '--auth-flow', 'REFRESH_TOKEN_AUTH', '--auth-parameters', `REFRESH_TOKEN=${r.RefreshToken}`);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.json.AuthenticationResult.RefreshToken).toBeUndefined();

    const wrong = await aws('cognito-idp', 'initiate-auth', '--client-id', clientId, '--auth-flow', 'USER_PASSWORD_AUTH', '--auth-parameters', 'USERNAME=alice,PASSWORD=nope');
    expect([254, 255]).toContain(wrong.code);
    expect(wrong.stderr).toContain('NotAuthorizedException');
    expect(wrong.stderr).toContain('Incorrect username or password.');
    const nobody = await aws('cognito-idp', 'describe-user-pool', '--user-pool-id', `${TEST_REGION}_Nope00000`);
    expect(nobody.stderr).toContain('ResourceNotFoundException');
    const list = await aws('cognito-idp', 'list-user-pools', '--max-results', '10', '--query', "UserPools[?Name=='escher-users'].Id", '--output', 'text');
    expect(list.stdout.trim()).toBe(poolId);
    const clients = await aws('cognito-idp', 'list-user-pool-clients', '--user-pool-id', poolId, '--query', 'UserPoolClients[0].ClientId', '--output', 'text');
    expect(clients.stdout.trim()).toBe(clientId);
  });
});
