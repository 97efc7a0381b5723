import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { Clock } from '../../clock.ts';
import { ApiGatewayV2Store } from '../../aws/apigatewayv2/store.ts';
import { CognitoStore } from '../../aws/cognito/store.ts';
import { jwtValidationCases } from '../token-cases.ts';
import { cognitoJwks, JwtAuthorizer } from './authorizer.ts';
import { HttpApiServer } from './server.ts';
import { answer, fakeInvoker } from './testing.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const SCOPE = 'aws.cognito.signin.user.admin';
const fn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;

describe('HTTP API data plane over HTTPS', () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'http-api-test-'));
  const clock = new Clock(0.01);
  const events: { type: string; fields: Record<string, any> }[] = [];
  const sink = { append: (type: string, fields?: Record<string, unknown>) => events.push({ type, fields: fields ?? {} }) };
  const store = new ApiGatewayV2Store({ account: ACCOUNT, region: REGION, events: sink });
  const cognito = new CognitoStore({ account: ACCOUNT, region: REGION });
  const pool = cognito.createUserPool('users');
  const client = cognito.createUserPoolClient(pool.id, { clientName: 'web' });
  const other = cognito.createUserPoolClient(pool.id, { clientName: 'other' });
  cognito.adminCreateUser(pool.id, 'alice', { email: 'alice@example.com' });
  const fromCognito = cognitoJwks(cognito);
  const { invoker, calls } = fakeInvoker({
    items: () => answer({ statusCode: 201, headers: { 'x-served-by': 'items' }, cookies: ['session=s1; Secure; HttpOnly', 'theme=dark'], body: 'made it' }),
    logs: () => answer({ items: [{ level: 'ERROR' }] }),
    feedback: () => answer({ statusCode: 202, multiValueHeaders: { 'x-tag': ['a', 'b'] }, body: '{"ok":true}' }),
    slow: () => new Promise<never>(() => undefined),
    denied: () => 'denied',
    boom: () => answer({ errorMessage: 'boom', errorType: 'Error' }, 'Unhandled'),
    bad: () => answer({ statusCode: 'two hundred' }),
  });
  const server = new HttpApiServer({
    store,
    functions: invoker,
    authorizer: new JwtAuthorizer({ jwks: async (i) => fromCognito(i)!, cacheMs: 60_000 }),
    clock,
    certDir: runDir,
    events: sink,
  });
  let agent: Agent;
  let apiId = '';
  let domain = '';

  beforeAll(async () => {
    await server.start();
    agent = new Agent({ connect: { ca: fs.readFileSync(server.certificateFile!) } });
    const api = store.createApi({ name: 'ops', protocolType: 'HTTP' });
    apiId = api.apiId;
    domain = `${apiId}.execute-api.${REGION}.amazonaws.com`;
    const integ = (name: string, extra: object = {}) => `integrations/${store.createIntegration(apiId, { integrationType: 'AWS_PROXY', integrationUri: fn(name), payloadFormatVersion: '2.0', ...extra }).integrationId}`;
    const auth = store.createAuthorizer(apiId, { authorizerType: 'JWT', name: 'cognito', identitySource: ['$request.header.Authorization'], jwtConfiguration: { issuer: cognito.issuerOf(pool.id), audience: [client.clientId] } });
    store.createRoute(apiId, { routeKey: 'GET /items/{id}', target: integ('items') });
    store.createRoute(apiId, { routeKey: 'GET /logs', target: integ('logs'), authorizationType: 'JWT', authorizerId: auth.authorizerId, authorizationScopes: [SCOPE] });
    store.createRoute(apiId, { routeKey: 'POST /feedback', target: integ('feedback', { payloadFormatVersion: '1.0', integrationUri: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${fn('feedback')}/invocations` }) });
    store.createRoute(apiId, { routeKey: 'GET /slow', target: integ('slow', { timeoutInMillis: 50 }) });
    for (const name of ['denied', 'boom', 'bad', 'missing']) store.createRoute(apiId, { routeKey: `GET /${name}`, target: integ(name) });
    store.createStage(apiId, { stageName: '$default', autoDeploy: true });
    store.createStage(apiId, { stageName: 'prod' });
    store.createDeployment(apiId, { stageName: 'prod' });
  });
  afterAll(async () => {
    await agent.close();
    await server.stop();
    clock.close();
  });

  /** By Host header (SNI and certificate check against the execute-api name). */
  const viaHost = (p: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    request(`${server.url}${p}`, { dispatcher: agent, method: (init.method ?? 'GET') as 'GET', headers: { host: domain, ...(init.headers ?? {}) }, body: init.body });
  /** By path prefix, for clients that cannot set Host. */
  const viaPrefix = (p: string, headers: Record<string, string> = {}) => request(`${server.url}/_api/${apiId}${p}`, { dispatcher: agent, headers });

  it('serves an API by Host header: the function gets the 2.0 event, its answer is mapped', async () => {
    calls.length = 0;
    const r = await viaHost('/items/42?tag=a&tag=b', { headers: { cookie: 'c1=v1; c2=v2', 'user-agent': 'test-agent', 'x-forwarded-for': '198.51.100.7' } });
    expect(r.statusCode).toBe(201);
    expect(await r.body.text()).toBe('made it');
    expect(r.headers['x-served-by']).toBe('items');
    expect(r.headers['set-cookie']).toEqual(['session=s1; Secure; HttpOnly', 'theme=dark']);
    expect(r.headers['apigw-requestid']).toMatch(/^[A-Za-z0-9+/]{14}==$/);
    expect(calls).toHaveLength(1);
    const { principal, sourceArn, functionRef, event } = calls[0]!;
    expect(principal).toBe('apigateway.amazonaws.com');
    expect(sourceArn).toBe(`arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/$default/GET/items/{id}`);
    expect(functionRef).toBe(fn('items'));
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'GET /items/{id}',
      rawPath: '/items/42',
      rawQueryString: 'tag=a&tag=b',
      cookies: ['c1=v1', 'c2=v2'],
      queryStringParameters: { tag: 'a,b' },
      pathParameters: { id: '42' },
      isBase64Encoded: false,
      requestContext: {
        accountId: ACCOUNT,
        apiId,
        domainName: domain,
        domainPrefix: apiId,
        http: { method: 'GET', path: '/items/42', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test-agent' },
        requestId: r.headers['apigw-requestid'],
        routeKey: 'GET /items/{id}',
        stage: '$default',
      },
    });
    expect(event.headers).toMatchObject({ host: domain, 'user-agent': 'test-agent', 'x-forwarded-for': '198.51.100.7, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' });
    expect(event.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event).not.toHaveProperty('body');
    expect(events.filter((e) => e.type === 'apigateway.request').at(-1)!.fields).toMatchObject({ apiId, stage: '$default', routeKey: 'GET /items/{id}', method: 'GET', path: '/items/42', status: 201, latencyMs: expect.any(Number) });
  });

  it('a JWT route passes the claims and scopes to the function; a plain answer becomes 200 application/json', async () => {
    calls.length = 0;
    const token = cognito.issueTokens(pool.id, client.clientId, 'alice').AccessToken;
    const r = await viaPrefix('/logs', { authorization: `Bearer ${token}` });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(await r.body.json()).toEqual({ items: [{ level: 'ERROR' }] });
    const { event } = calls[0]!;
    expect(event.requestContext.authorizer.jwt.scopes).toEqual([SCOPE]);
    expect(event.requestContext.authorizer.jwt.claims).toMatchObject({ client_id: client.clientId, username: 'alice', token_use: 'access', sub: cognito.user(pool.id, 'alice').sub });
    expect(event.requestContext.authorizer.jwt.claims.exp).toMatch(/^\d+$/);
    expect(event.headers.host).toBe(domain);
  });

  it('every bad token of the ALB list is refused before the function runs (the id token: 403, the route requires a scope)', async () => {
    calls.length = 0;
    const cases = jwtValidationCases(cognito, pool.id, client.clientId, other.clientId, 'alice');
    const got: Record<string, number> = {};
    for (const c of cases) {
      const r = await viaHost('/logs', { headers: c.authorization ? { authorization: c.authorization } : {} });
      const body = await r.body.json();
      got[c.name] = r.statusCode;
      if (r.statusCode === 401) {
        expect(body, c.name).toEqual({ message: 'Unauthorized' });
        expect(String(r.headers['www-authenticate']), c.name).toMatch(/^Bearer/);
      }
    }
    expect(got).toEqual({ ...Object.fromEntries(cases.map((c) => [c.name, c.expect])), 'id token where an access token is required': 403 });
    expect(calls).toHaveLength(1);
    const denied = events.filter((e) => e.type === 'apigateway.request' && e.fields.status === 401);
    expect(denied.every((e) => typeof e.fields.authError === 'string')).toBe(true);
  });

  it('a named stage is the first path segment and serves its own deployment; payload 1.0 both ways', async () => {
    calls.length = 0;
    const r = await viaHost('/prod/feedback?x=1&x=2', { method: 'POST', headers: { 'content-type': 'application/json', 'X-Custom': 'v' }, body: '{"rating":5}' });
    expect(r.statusCode).toBe(202);
    expect(r.headers['x-tag']).toBe('a,b');
    expect(await r.body.text()).toBe('{"ok":true}');
    const { event, sourceArn } = calls[0]!;
    expect(sourceArn).toBe(`arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/prod/POST/feedback`);
    expect(event).toMatchObject({
      version: '1.0',
      resource: '/feedback',
      path: '/prod/feedback',
      httpMethod: 'POST',
      queryStringParameters: { x: '2' },
      multiValueQueryStringParameters: { x: ['1', '2'] },
      pathParameters: null,
      body: '{"rating":5}',
      isBase64Encoded: false,
      requestContext: { stage: 'prod', resourcePath: '/feedback', httpMethod: 'POST', authorizer: { claims: null, scopes: null } },
    });
    expect(event.headers['X-Custom']).toBe('v');
    expect(event.multiValueHeaders['X-Custom']).toEqual(['v']);
    // a route added after prod's deployment is served by the auto-deploy stage only
    store.createRoute(apiId, { routeKey: 'GET /late', target: store.listRoutes(apiId).find((x) => x.routeKey === 'GET /items/{id}')!.target });
    expect((await viaHost('/late')).statusCode).toBe(201);
    const notDeployed = await viaHost('/prod/late');
    expect(notDeployed.statusCode).toBe(404);
    expect(await notDeployed.body.json()).toEqual({ message: 'Not Found' });
  });

  it('answers as API Gateway when the integration cannot: 500, 503, 404', async () => {
    const status = async (p: string) => {
      const r = await viaHost(p);
      return `${r.statusCode} ${JSON.stringify(await r.body.json())}`;
    };
    expect(await status('/denied')).toBe('500 {"message":"Internal Server Error"}');
    expect(events.filter((e) => e.type === 'apigateway.request').at(-1)!.fields.error).toMatch(/^The IAM role configured on the integration or API Gateway doesn't have permissions to call the integration\. .*\(no statement allows apigateway\.amazonaws\.com from .*\/\$default\/GET\/denied;/);
    expect(await status('/boom')).toBe('500 {"message":"Internal Server Error"}');
    expect(events.filter((e) => e.type === 'apigateway.request').at(-1)!.fields.error).toMatch(/the function failed \(Unhandled\)/);
    expect(await status('/bad')).toBe('500 {"message":"Internal Server Error"}');
    expect(events.filter((e) => e.type === 'apigateway.request').at(-1)!.fields.error).toMatch(/malformed Lambda proxy response/);
    expect(await status('/missing')).toBe('500 {"message":"Internal Server Error"}');
    expect(events.filter((e) => e.type === 'apigateway.request').at(-1)!.fields.error).toMatch(/Function not found/);
    expect(await status('/slow')).toBe('503 {"message":"Service Unavailable"}');
    expect(await status('/nowhere')).toBe('404 {"message":"Not Found"}');
    const unknown = await request(`${server.url}/_api/zzzzzzzzzz/items/1`, { dispatcher: agent });
    expect(unknown.statusCode).toBe(404);
    await unknown.body.dump();
  });
});
