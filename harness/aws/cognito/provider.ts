import { Params } from '../protocol/validate.ts';
import type { ServiceProvider } from '../protocol/types.ts';
import { cognitoErrors, type CognitoStore, type UserPoolClientState, type UserPoolState, type UserState } from './store.ts';

type Input = Record<string, any>;
const V = 'InvalidParameterException';

function poolType(_store: CognitoStore, p: UserPoolState) {
  return {
    Id: p.id,
    Name: p.name,
    Arn: p.arn,
    CreationDate: p.created,
    LastModifiedDate: p.modified,
    ...(p.domain ? { Domain: p.domain } : {}),
    Policies: { PasswordPolicy: { MinimumLength: 8, RequireUppercase: true, RequireLowercase: true, RequireNumbers: true, RequireSymbols: true, TemporaryPasswordValidityDays: 7 } },
    LambdaConfig: {},
    AutoVerifiedAttributes: p.autoVerifiedAttributes,
    ...(p.usernameAttributes.length ? { UsernameAttributes: p.usernameAttributes } : {}),
    MfaConfiguration: 'OFF',
    EstimatedNumberOfUsers: p.users.size,
    AdminCreateUserConfig: { AllowAdminCreateUserOnly: false, UnusedAccountValidityDays: 7 },
    UserPoolTier: 'ESSENTIALS',
    DeletionProtection: 'INACTIVE',
    AccountRecoverySetting: { RecoveryMechanisms: [{ Priority: 1, Name: 'verified_email' }, { Priority: 2, Name: 'verified_phone_number' }] },
    SchemaAttributes: [
      { Name: 'sub', AttributeDataType: 'String', DeveloperOnlyAttribute: false, Mutable: false, Required: true, StringAttributeConstraints: { MinLength: '1', MaxLength: '2048' } },
      { Name: 'email', AttributeDataType: 'String', DeveloperOnlyAttribute: false, Mutable: true, Required: false, StringAttributeConstraints: { MinLength: '0', MaxLength: '2048' } },
      { Name: 'email_verified', AttributeDataType: 'Boolean', DeveloperOnlyAttribute: false, Mutable: true, Required: false },
    ],
  };
}

function clientType(poolId: string, c: UserPoolClientState) {
  return {
    UserPoolId: poolId,
    ClientName: c.clientName,
    ClientId: c.clientId,
    ...(c.clientSecret ? { ClientSecret: c.clientSecret } : {}),
    LastModifiedDate: c.modified,
    CreationDate: c.created,
    RefreshTokenValidity: c.refreshTokenValidityDays,
    AccessTokenValidity: c.accessTokenValidityMinutes,
    IdTokenValidity: c.idTokenValidityMinutes,
    TokenValidityUnits: { AccessToken: 'minutes', IdToken: 'minutes', RefreshToken: 'days' },
    ExplicitAuthFlows: c.explicitAuthFlows,
    ...(c.supportedIdentityProviders.length ? { SupportedIdentityProviders: c.supportedIdentityProviders } : {}),
    ...(c.callbackUrls.length ? { CallbackURLs: c.callbackUrls } : {}),
    ...(c.logoutUrls.length ? { LogoutURLs: c.logoutUrls } : {}),
    ...(c.allowedOAuthFlows.length ? { AllowedOAuthFlows: c.allowedOAuthFlows } : {}),
    ...(c.allowedOAuthScopes.length ? { AllowedOAuthScopes: c.allowedOAuthScopes } : {}),
    AllowedOAuthFlowsUserPoolClient: c.allowedOAuthFlowsUserPoolClient,
    PreventUserExistenceErrors: c.preventUserExistenceErrors,
    EnableTokenRevocation: true,
    EnablePropagateAdditionalUserContextData: false,
    AuthSessionValidity: 3,
  };
}

function userType(u: UserState) {
  return {
    Username: u.username,
    Attributes: Object.entries(u.attributes).map(([Name, Value]) => ({ Name, Value })),
    UserCreateDate: u.created,
    UserLastModifiedDate: u.modified,
    Enabled: u.enabled,
    UserStatus: u.status,
  };
}

function attrs(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(v)) return out;
  for (const a of v) if (a && typeof a.Name === 'string') out[a.Name] = String(a.Value ?? '');
  return out;
}

function authResult(store: CognitoStore, r: ReturnType<CognitoStore['passwordAuth']>) {
  if (r.challenge) return { ChallengeName: r.challenge, Session: r.session, ChallengeParameters: { USER_ID_FOR_SRP: '', requiredAttributes: '[]', userAttributes: '{}' } };
  void store;
  return { ChallengeParameters: {}, AuthenticationResult: r.tokens };
}

/** Amazon Cognito user pools (cognito-idp), JSON 1.1. */
export function createCognitoProvider(store: CognitoStore): ServiceProvider {
  const sessions = new Map<string, { poolId: string; clientId: string; username: string }>();
  const flow = (poolId: string, clientId: string, authFlow: string, params: Record<string, string>, admin: boolean) => {
    const c = store.client(poolId, clientId);
    const allowed = (f: string) => c.explicitAuthFlows.includes(f) || c.explicitAuthFlows.includes(f.replace(/^ALLOW_/, ''));
    switch (authFlow) {
      case 'USER_PASSWORD_AUTH':
      case 'ADMIN_USER_PASSWORD_AUTH':
      case 'ADMIN_NO_SRP_AUTH': {
        const want = authFlow === 'USER_PASSWORD_AUTH' ? 'ALLOW_USER_PASSWORD_AUTH' : 'ALLOW_ADMIN_USER_PASSWORD_AUTH';
        if (!allowed(want) && !(authFlow === 'ADMIN_NO_SRP_AUTH' && allowed('ADMIN_NO_SRP_AUTH'))) throw cognitoErrors.invalidParameter(`${authFlow === 'USER_PASSWORD_AUTH' ? 'USER_PASSWORD_AUTH' : 'Auth'} flow not enabled for this client`);
        if (authFlow === 'USER_PASSWORD_AUTH' && admin) throw cognitoErrors.invalidParameter('Initiate Auth method not supported.');
        if (!params.USERNAME) throw cognitoErrors.invalidParameter('Missing required parameter USERNAME');
        if (!params.PASSWORD) throw cognitoErrors.invalidParameter('Missing required parameter PASSWORD');
        const r = store.passwordAuth(poolId, clientId, params.USERNAME, params.PASSWORD, params.SECRET_HASH);
        if (r.session) sessions.set(r.session, { poolId, clientId, username: params.USERNAME });
        return authResult(store, r);
      }
      case 'REFRESH_TOKEN_AUTH':
      case 'REFRESH_TOKEN': {
        if (!params.REFRESH_TOKEN) throw cognitoErrors.invalidParameter('Missing required parameter REFRESH_TOKEN');
        const t = store.refreshAuth(clientId, params.REFRESH_TOKEN);
        const { RefreshToken: _r, ...rest } = t;
        return { ChallengeParameters: {}, AuthenticationResult: rest };
      }
      default:
        throw cognitoErrors.invalidParameter(`Initiate Auth method not supported.`);
    }
  };
  return {
    serviceName: 'cognito-idp',
    protocol: 'json',
    targetPrefix: 'AWSCognitoIdentityProviderService',
    validationErrorCode: V,
    operations: {
      CreateUserPool(i: Input) {
        const p = new Params(i, V);
        const pool = store.createUserPool(p.str('PoolName'), { autoVerifiedAttributes: p.optStrList('AutoVerifiedAttributes'), usernameAttributes: p.optStrList('UsernameAttributes') });
        return { UserPool: poolType(store, pool) };
      },
      DescribeUserPool(i: Input) {
        return { UserPool: poolType(store, store.pool(new Params(i, V).str('UserPoolId'))) };
      },
      DeleteUserPool(i: Input) {
        store.deleteUserPool(new Params(i, V).str('UserPoolId'));
        return {};
      },
      ListUserPools(i: Input) {
        const p = new Params(i, V);
        const max = p.int('MaxResults');
        if (max < 1 || max > 60) throw cognitoErrors.invalidParameter('MaxResults must be between 1 and 60');
        return { UserPools: [...store.pools.values()].slice(0, max).map((x) => ({ Id: x.id, Name: x.name, LambdaConfig: {}, LastModifiedDate: x.modified, CreationDate: x.created })) };
      },
      CreateUserPoolClient(i: Input) {
        const p = new Params(i, V);
        const poolId = p.str('UserPoolId');
        const c = store.createUserPoolClient(poolId, {
          clientName: p.str('ClientName'),
          generateSecret: p.optBool('GenerateSecret'),
          explicitAuthFlows: p.optStrList('ExplicitAuthFlows'),
          callbackUrls: p.optStrList('CallbackURLs'),
          logoutUrls: p.optStrList('LogoutURLs'),
          allowedOAuthFlows: p.optStrList('AllowedOAuthFlows'),
          allowedOAuthScopes: p.optStrList('AllowedOAuthScopes'),
          allowedOAuthFlowsUserPoolClient: p.optBool('AllowedOAuthFlowsUserPoolClient'),
          supportedIdentityProviders: p.optStrList('SupportedIdentityProviders'),
          preventUserExistenceErrors: p.optStr('PreventUserExistenceErrors'),
          ...(p.optInt('AccessTokenValidity') !== undefined ? { accessTokenValidityMinutes: p.optInt('AccessTokenValidity') } : {}),
          ...(p.optInt('IdTokenValidity') !== undefined ? { idTokenValidityMinutes: p.optInt('IdTokenValidity') } : {}),
        });
        return { UserPoolClient: clientType(poolId, c) };
      },
      DescribeUserPoolClient(i: Input) {
        const p = new Params(i, V);
        const poolId = p.str('UserPoolId');
        return { UserPoolClient: clientType(poolId, store.client(poolId, p.str('ClientId'))) };
      },
      ListUserPoolClients(i: Input) {
        const p = new Params(i, V);
        const pool = store.pool(p.str('UserPoolId'));
        return { UserPoolClients: [...pool.clients.values()].map((c) => ({ ClientId: c.clientId, UserPoolId: pool.id, ClientName: c.clientName })) };
      },
      CreateUserPoolDomain(i: Input) {
        const p = new Params(i, V);
        store.createUserPoolDomain(p.str('UserPoolId'), p.str('Domain'));
        return {};
      },
      DescribeUserPoolDomain(i: Input) {
        const d = new Params(i, V).str('Domain');
        const pool = store.poolByDomain(d);
        if (!pool) return { DomainDescription: {} };
        return { DomainDescription: { UserPoolId: pool.id, AWSAccountId: pool.arn.split(':')[4], Domain: pool.domain, CloudFrontDistribution: `${pool.domain}.auth.${store.region}.amazoncognito.com`, Version: '20240101000000', Status: 'ACTIVE' } };
      },
      AdminCreateUser(i: Input) {
        const p = new Params(i, V);
        const u = store.adminCreateUser(p.str('UserPoolId'), p.str('Username'), attrs(i.UserAttributes), p.optStr('TemporaryPassword'));
        return { User: userType(u) };
      },
      AdminGetUser(i: Input) {
        const p = new Params(i, V);
        const u = store.user(p.str('UserPoolId'), p.str('Username'));
        const { Attributes, ...rest } = userType(u);
        return { ...rest, UserAttributes: Attributes };
      },
      AdminSetUserPassword(i: Input) {
        const p = new Params(i, V);
        store.adminSetUserPassword(p.str('UserPoolId'), p.str('Username'), p.str('Password'), p.optBool('Permanent') ?? false);
        return {};
      },
      InitiateAuth(i: Input) {
        const p = new Params(i, V);
        const clientId = p.str('ClientId');
        const pool = store.poolOfClient(clientId);
        return flow(pool.id, clientId, p.str('AuthFlow'), (i.AuthParameters ?? {}) as Record<string, string>, false);
      },
      AdminInitiateAuth(i: Input) {
        const p = new Params(i, V);
        return flow(p.str('UserPoolId'), p.str('ClientId'), p.str('AuthFlow'), (i.AuthParameters ?? {}) as Record<string, string>, true);
      },
      RespondToAuthChallenge(i: Input) {
        const p = new Params(i, V);
        if (p.str('ChallengeName') !== 'NEW_PASSWORD_REQUIRED') throw cognitoErrors.invalidParameter('Only NEW_PASSWORD_REQUIRED challenges are supported by this harness');
        const s = sessions.get(p.str('Session'));
        if (!s || s.clientId !== p.str('ClientId')) throw cognitoErrors.notAuthorized('Invalid session for the user.');
        const r = (i.ChallengeResponses ?? {}) as Record<string, string>;
        if (!r.NEW_PASSWORD) throw cognitoErrors.invalidParameter('Missing required parameter NEW_PASSWORD');
        store.adminSetUserPassword(s.poolId, s.username, r.NEW_PASSWORD, true);
        sessions.delete(p.str('Session'));
        return { ChallengeParameters: {}, AuthenticationResult: store.issueTokens(s.poolId, s.clientId, s.username) };
      },
    },
  };
}
