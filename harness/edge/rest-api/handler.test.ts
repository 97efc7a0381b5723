import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { Clock } from '../../clock.ts';
import { CognitoStore } from '../../aws/cognito/store.ts';
import type { RestMethod, RestResource } from '../../aws/apigateway/types.ts';
import { cognitoJwks } from '../http-api/authorizer.ts';
import { RestApiHandler } from './handler.ts';
import { MemoryRestApiLookup } from './testing.ts';
import { answer, fakeInvoker } from '../http-api/testing.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const API = 'a1b2c3d4e5';
const SCOPE = 'orders/read';
const fn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
const uri = (name: string) => `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${fn(name)}/invocations`;

const lambda = (name: string, extra: Partial<RestMethod> = {}, timeoutInMillis = 29_000): RestMethod => ({
  httpMethod: 'GET',
  authorizationType: 'NONE',
  apiKeyRequired: false,
  integration: { type: 'AWS_PROXY', httpMethod: 'POST', uri: uri(name), timeoutInMillis },
  ...extra,
});

describe('REST API execute-api data plane', () => {
  const clock = new Clock(0.01);
  const events: { type: string; fields: Record<string, any> }[] = [];
  const sink = { append: (type: string, fields?: Record<string, unknown>) => events.push({ type, fields: fields ?? {} }) };
  const cognito = new CognitoStore({ account: ACCOUNT, region: REGION });
  const pool = cognito.createUserPool('users');
  const client = cognito.createUserPoolClient(pool.id, { clientName: 'web' });
  cognito.adminCreateUser(pool.id, 'alice', { email: 'alice@example.com' });
  const otherPool = cognito.createUserPool('others');
  const otherClient = cognito.createUserPoolClient(otherPool.id, { clientName: 'web' });
  cognito.adminCreateUser(otherPool.id, 'bob', {});
  const fromCognito = cognitoJwks(cognito);
  const { invoker, calls } = fakeInvoker({
    item: () => answer({ statusCode: 200, headers: { 'x-served-by': 'item' }, body: 'item' }),
    latest: () => answer({ statusCode: 201, multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] }, body: 'latest' }),
    proxy: () => answer({ statusCode: 200, body: 'proxy' }),
    any: () => answer({ statusCode: 202, body: 'any' }),
    root: () => answer({ statusCode: 200, body: 'root' }),
    me: () => answer({ statusCode: 200, body: 'me' }),
    slow: () => new Promise<never>(() => undefined),
    denied: () => 'denied',
    boom: () => answer({ errorMessage: 'boom', errorType: 'Error' }, 'Unhandled'),
    bad: () => answer({ body: 'no status' }),
  });
  const lookup = new MemoryRestApiLookup(REGION, ACCOUNT);
  const handler = new RestApiHandler({ lookup, functions: invoker, jwks: async (i) => fromCognito(i) ?? Promise.reject(new Error(`unknown issuer ${i}`)), clock, events: sink });
  let url = '';
  let server: http.Server;

  const res = (id: string, path: string, methods: Record<string, RestMethod>): RestResource => ({ id, path, pathPart: path.split('/').pop() || undefined, methods });
  beforeAll(async () => {
    lookup.add({
      apiId: API,
      stageName: 'prod',
      stageVariables: { table: 'orders' },
      deployment: {
        id: 'dep1',
        createdDate: new Date(),
        authorizers: { auth1: { id: 'auth1', name: 'users', type: 'COGNITO_USER_POOLS', providerARNs: [pool.arn], identitySource: 'method.request.header.Authorization' } },
        resources: [
          res('r00t', '/', { GET: lambda('root') }),
          res('itm1', '/items/{id}', { GET: lambda('item') }),
          res('lat1', '/items/latest', { GET: lambda('latest') }),
          res('prx1', '/files/{proxy+}', { ANY: lambda('proxy', { httpMethod: 'ANY' }) }),
          res('any1', '/any', { ANY: lambda('any', { httpMethod: 'ANY' }) }),
          res('me01', '/me', { GET: lambda('me', { authorizationType: 'COGNITO_USER_POOLS', authorizerId: 'auth1' }) }),
          res('ord1', '/orders', { GET: lambda('me', { authorizationType: 'COGNITO_USER_POOLS', authorizerId: 'auth1', authorizationScopes: [SCOPE] }) }),
          res('iam1', '/iam', { GET: lambda('me', { authorizationType: 'AWS_IAM' }) }),
          res('htp1', '/http', { GET: { ...lambda('me'), integration: { type: 'HTTP_PROXY', uri: 'http://example.com', timeoutInMillis: 29_000 } } }),
          res('slw1', '/slow', { GET: lambda('slow', {}, 50) }),
          res('den1', '/denied', { GET: lambda('denied') }),
          res('bom1', '/boom', { GET: lambda('boom') }),
          res('bad1', '/bad', { GET: lambda('bad') }),
        ],
      },
    });
    server = http.createServer((req, r) => {
      const path = (req.url ?? '/').split('?')[0]!;
      handler.handle(req, r, { apiId: API, rawPath: path }, { requestId: randomUUID(), started: Date.now(), tls: false, sourceIp: '127.0.0.1' }).catch((e) => {
        r.statusCode = 599;
        r.end(String(e?.stack ?? e));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    clock.close();
  });

  const get = async (p: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const r = await request(`${url}${p}`, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
  };
  const lastEvent = () => events.filter((e) => e.type === 'apigateway.request').at(-1)!.fields;

  it('routes by resource: a literal part beats {id}, {proxy+} takes the rest, ANY takes any method; the root resource', async () => {
    expect((await get('/prod/items/42')).text).toBe('item');
    const latest = await get('/prod/items/latest');
    expect(latest).toMatchObject({ status: 201, text: 'latest' });
    expect(latest.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    calls.length = 0;
    expect((await get('/prod/files/a/b%20c.txt', { method: 'DELETE' })).text).toBe('proxy');
    expect(calls[0]!.event.pathParameters).toEqual({ proxy: 'a/b c.txt' });
    expect(calls[0]!.sourceArn).toBe(`arn:aws:execute-api:${REGION}:${ACCOUNT}:${API}/prod/DELETE/files/{proxy+}`);
    expect((await get('/prod/any', { method: 'PATCH', body: 'x' })).status).toBe(202);
    expect((await get('/prod')).text).toBe('root');
    expect(calls.at(-1)!.sourceArn).toBe(`arn:aws:execute-api:${REGION}:${ACCOUNT}:${API}/prod/GET/`);
  });

  it('answers 403 Missing Authentication Token for an unknown route or method, 403 Forbidden for an unknown stage or a disabled endpoint', async () => {
    for (const [p, method] of [['/prod/nothing/here', 'GET'], ['/prod/items/42', 'POST'], ['/prod/files', 'GET']] as const) {
      const r = await get(p, { method });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text)).toEqual({ message: 'Missing Authentication Token' });
      expect(r.headers['x-amzn-errortype']).toBe('MissingAuthenticationTokenException');
    }
    const noStage = await get('/dev/items/42');
    expect([noStage.status, JSON.parse(noStage.text)]).toEqual([403, { message: 'Forbidden' }]);
    lookup.disabled.add(API);
    try {
      const off = await get('/prod/items/42');
      expect([off.status, JSON.parse(off.text)]).toEqual([403, { message: 'Forbidden' }]);
    } finally {
      lookup.disabled.delete(API);
    }
  });

  it('gives the function the REST proxy event and answers with x-amzn-RequestId and x-amz-apigw-id', async () => {
    calls.length = 0;
    const r = await get('/prod/items/42?tag=a&tag=b&q=x', { method: 'GET', headers: { 'user-agent': 'test-agent', 'X-Custom': 'v' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-served-by']).toBe('item');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers['x-amz-apigw-id']).toMatch(/^[A-Za-z0-9+/]{15}=$/);
    expect(r.headers['apigw-requestid']).toBeUndefined();
    const { principal, sourceArn, functionRef, event } = calls[0]!;
    expect(principal).toBe('apigateway.amazonaws.com');
    expect(functionRef).toBe(uri('item'));
    expect(sourceArn).toBe(`arn:aws:execute-api:${REGION}:${ACCOUNT}:${API}/prod/GET/items/{id}`);
    expect(event.version).toBeUndefined();
    expect(event).toMatchObject({
      resource: '/items/{id}',
      path: '/items/42',
      httpMethod: 'GET',
      queryStringParameters: { tag: 'b', q: 'x' },
      multiValueQueryStringParameters: { tag: ['a', 'b'], q: ['x'] },
      pathParameters: { id: '42' },
      stageVariables: { table: 'orders' },
      body: null,
      isBase64Encoded: false,
    });
    expect(event.headers).toMatchObject({ 'X-Custom': 'v', Host: `${API}.execute-api.${REGION}.amazonaws.com`, 'X-Forwarded-Proto': 'http' });
    expect(event.multiValueHeaders['X-Custom']).toEqual(['v']);
    expect(event.requestContext).toMatchObject({
      resourceId: 'itm1',
      resourcePath: '/items/{id}',
      httpMethod: 'GET',
      extendedRequestId: r.headers['x-amz-apigw-id'],
      requestId: r.headers['x-amzn-requestid'],
      path: '/prod/items/42',
      accountId: ACCOUNT,
      stage: 'prod',
      domainPrefix: API,
      domainName: `${API}.execute-api.${REGION}.amazonaws.com`,
      apiId: API,
      identity: { sourceIp: '127.0.0.1', userAgent: 'test-agent' },
    });
    expect(event.requestContext.authorizer).toBeUndefined();
    expect(lastEvent()).toMatchObject({ apiId: API, restApi: true, status: 200, stage: 'prod', resourcePath: '/items/{id}', resourceId: 'itm1', function: fn('item') });
  });

  it('passes a form body as text (no binary media types)', async () => {
    calls.length = 0;
    await get('/prod/any', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=2' });
    expect(calls[0]!.event).toMatchObject({ body: 'a=1&b=2', isBase64Encoded: false, httpMethod: 'POST', resource: '/any' });
  });

  it('COGNITO_USER_POOLS without scopes: an ID token (raw or after Bearer) passes with its claims; none, a bad one, an access token or another pool\'s are 401', async () => {
    const t = cognito.issueTokens(pool.id, client.clientId, 'alice');
    const unauthorized = { status: 401, text: JSON.stringify({ message: 'Unauthorized' }) };
    expect(await get('/prod/me')).toMatchObject(unauthorized);
    expect(lastEvent()).toMatchObject({ status: 401, authError: expect.stringContaining('no token') });
    expect(await get('/prod/me', { headers: { authorization: t.IdToken.slice(0, -10) } })).toMatchObject(unauthorized);
    expect(await get('/prod/me', { headers: { authorization: t.AccessToken } })).toMatchObject(unauthorized);
    expect(lastEvent().authError).toMatch(/token_use/);
    expect(await get('/prod/me', { headers: { authorization: cognito.issueTokens(otherPool.id, otherClient.clientId, 'bob').IdToken } })).toMatchObject(unauthorized);
    const expired = await get('/prod/me', { headers: { authorization: cognito.issueTokens(pool.id, client.clientId, 'alice', { expired: true }).IdToken } });
    expect([expired.status, JSON.parse(expired.text)]).toEqual([401, { message: 'The incoming token has expired' }]);
    calls.length = 0;
    expect((await get('/prod/me', { headers: { authorization: t.IdToken } })).status).toBe(200);
    expect((await get('/prod/me', { headers: { authorization: `Bearer ${t.IdToken}` } })).status).toBe(200);
    const claims = calls[0]!.event.requestContext.authorizer.claims;
    expect(claims).toMatchObject({ 'cognito:username': 'alice', email: 'alice@example.com', token_use: 'id', aud: client.clientId });
    expect(typeof claims.exp).toBe('string');
  });

  it('COGNITO_USER_POOLS with scopes: an access token carrying one passes; an ID token or one without the scope is 401', async () => {
    const withScope = cognito.issueTokens(pool.id, client.clientId, 'alice', { scope: `openid ${SCOPE}` });
    expect((await get('/prod/orders', { headers: { authorization: withScope.IdToken } })).status).toBe(401);
    expect((await get('/prod/orders', { headers: { authorization: cognito.issueTokens(pool.id, client.clientId, 'alice').AccessToken } })).status).toBe(401);
    expect(lastEvent().authError).toMatch(/scope/);
    calls.length = 0;
    expect((await get('/prod/orders', { headers: { authorization: withScope.AccessToken } })).status).toBe(200);
    expect(calls[0]!.event.requestContext.authorizer.claims).toMatchObject({ token_use: 'access', scope: `openid ${SCOPE}`, username: 'alice' });
  });

  it('AWS_IAM and non-Lambda integrations are 500 and say they are not emulated', async () => {
    const iam = await get('/prod/iam');
    expect([iam.status, JSON.parse(iam.text)]).toEqual([500, { message: 'Internal server error' }]);
    expect(lastEvent().error).toMatch(/AWS_IAM is not emulated/);
    expect((await get('/prod/http')).status).toBe(500);
    expect(lastEvent().error).toMatch(/HTTP_PROXY .*not emulated/);
  });

  it('answers 500 when API Gateway may not invoke the function, 502 for a function error or a malformed answer, 504 past the timeout', async () => {
    const denied = await get('/prod/denied');
    expect([denied.status, JSON.parse(denied.text)]).toEqual([500, { message: 'Internal server error' }]);
    expect(lastEvent().error).toMatch(/Invalid permissions on Lambda function/);
    const boom = await get('/prod/boom');
    expect([boom.status, JSON.parse(boom.text)]).toEqual([502, { message: 'Internal server error' }]);
    expect(lastEvent().error).toMatch(/Unhandled/);
    const bad = await get('/prod/bad');
    expect(bad.status).toBe(502);
    expect(lastEvent().error).toMatch(/Malformed Lambda proxy response/);
    const slow = await get('/prod/slow');
    expect([slow.status, JSON.parse(slow.text)]).toEqual([504, { message: 'Endpoint request timed out' }]);
    expect(lastEvent()).toMatchObject({ status: 504, restApi: true, resourcePath: '/slow' });
  });
});
