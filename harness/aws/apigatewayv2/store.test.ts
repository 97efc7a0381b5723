import { describe, it, expect } from 'vitest';
import { thrownBy as code } from '../apigateway-testing.ts';
import { ApiGatewayV2Store, functionArnOfUri } from './store.ts';
import { parseRouteKey } from './route-key.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const FN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:reader`;

function setup() {
  const events: { type: string; fields?: Record<string, unknown> }[] = [];
  const store = new ApiGatewayV2Store({ account: ACCOUNT, region: REGION, events: { append: (type, fields) => events.push({ type, fields }) } });
  const api = store.createApi({ name: 'a', protocolType: 'HTTP' });
  const integ = store.createIntegration(api.apiId, { integrationType: 'AWS_PROXY', integrationUri: FN, payloadFormatVersion: '2.0' });
  return { store, events, api, integ, target: `integrations/${integ.integrationId}` };
}

describe('route keys', () => {
  it('accepts AWS route key forms and names what is wrong with others', () => {
    for (const k of ['$default', 'GET /logs', 'POST /feedback', 'GET /items/{id}', 'ANY /{proxy+}', 'GET /', 'DELETE /a/{b}/c/{rest+}']) expect(parseRouteKey(k), k).not.toHaveProperty('error');
    expect(parseRouteKey('GET logs')).toEqual({ error: expect.stringContaining("is not '$default' or '<method> <path>'") });
    expect(parseRouteKey('FETCH /x')).toEqual({ error: expect.stringContaining('FETCH is not one of') });
    expect(parseRouteKey('GET /{proxy+}/x')).toEqual({ error: expect.stringContaining('must be the last segment') });
    expect(parseRouteKey('GET /a/{id}/{id}')).toEqual({ error: expect.stringContaining('appears twice') });
    expect(parseRouteKey('GET /a{id}')).toEqual({ error: expect.stringContaining('is not a path segment') });
    expect(parseRouteKey('get /x')).toHaveProperty('error');
  });

  it('reads the function ARN out of both integration URI forms', () => {
    expect(functionArnOfUri(FN)).toBe(FN);
    expect(functionArnOfUri(`${FN}:live`)).toBe(`${FN}:live`);
    expect(functionArnOfUri(`arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${FN}/invocations`)).toBe(FN);
    expect(functionArnOfUri('arn:aws:s3:::bucket')).toBeUndefined();
    expect(functionArnOfUri('reader')).toBeUndefined();
  });
});

describe('ApiGatewayV2Store', () => {
  it('creates APIs with AWS ids and endpoints and appends apigateway.api.created', () => {
    const { api, events } = setup();
    expect(api.apiId).toMatch(/^[a-z0-9]{10}$/);
    expect(api.apiEndpoint).toBe(`https://${api.apiId}.execute-api.${REGION}.amazonaws.com`);
    expect(events[0]).toEqual({ type: 'apigateway.api.created', fields: { apiId: api.apiId, name: 'a', protocolType: 'HTTP', apiEndpoint: api.apiEndpoint } });
  });

  it('refuses what API Gateway refuses, with its status codes', () => {
    const { store, api, target, integ } = setup();
    const id = api.apiId;
    store.createRoute(id, { routeKey: 'GET /logs', target });
    expect(code(() => store.createRoute(id, { routeKey: 'GET /logs', target }))).toBe('ConflictException 409: Route with key GET /logs already exists for this API');
    expect(code(() => store.createRoute(id, { routeKey: 'GET /x', authorizationType: 'JWT' }))).toBe('BadRequestException 400: Invalid authorizer ID specified. Setting the authorization type to JWT requires a valid JWT authorizer.');
    expect(code(() => store.createRoute(id, { routeKey: 'GET /x', authorizationScopes: ['s'] }))).toMatch(/^BadRequestException 400: Authorization scopes are supported only with authorization type JWT/);
    expect(code(() => store.createRoute(id, { routeKey: 'GET /x', target: 'integrations/abc1234' }))).toMatch(/^BadRequestException 400: Invalid target specified: integration abc1234 does not exist/);
    expect(code(() => store.createRoute(id, { routeKey: 'GET /x', target: 'arn:aws:lambda:x' }))).toMatch(/^BadRequestException 400: Invalid target specified/);
    expect(code(() => store.createIntegration(id, { integrationType: 'AWS_PROXY', integrationUri: FN, timeoutInMillis: 30001 }))).toBe('BadRequestException 400: Timeout must be between 50 ms and 30000 ms.');
    expect(code(() => store.createIntegration(id, { integrationType: 'AWS_PROXY' }))).toMatch(/^BadRequestException 400: IntegrationUri is required/);
    expect(code(() => store.createIntegration(id, { integrationType: 'HTTP_PROXY', integrationUri: 'https://example.com', payloadFormatVersion: '2.0' }))).toMatch(/^BadRequestException 400: HTTP_PROXY integrations support only payload format version 1.0/);
    expect(code(() => store.createAuthorizer(id, { authorizerType: 'JWT', name: 'j', identitySource: ['$request.header.Authorization', '$request.header.X'], jwtConfiguration: { issuer: 'https://i', audience: ['a'] } }))).toMatch(/exactly one identity source/);
    expect(code(() => store.createAuthorizer(id, { authorizerType: 'JWT', name: 'j', identitySource: ['$request.header.Authorization'], jwtConfiguration: { issuer: 'http://i', audience: ['a'] } }))).toMatch(/must be an https URL/);
    expect(code(() => store.createAuthorizer(id, { authorizerType: 'JWT', name: 'j', identitySource: ['$request.header.Authorization'], jwtConfiguration: { issuer: 'https://i' } }))).toMatch(/Audience must list at least one/);
    expect(code(() => store.deleteIntegration(id, integ.integrationId))).toMatch(/^ConflictException 409: Cannot delete integration/);
    expect(code(() => store.getRoute(id, 'nope123'))).toBe('NotFoundException 404: Invalid Route identifier specified nope123');
    expect(code(() => store.getApi('zzzzzzzzzz'))).toBe(`NotFoundException 404: Invalid API identifier specified ${ACCOUNT}:zzzzzzzzzz`);
    expect(code(() => store.createStage(id, { stageName: 'has space' }))).toMatch(/^BadRequestException 400: Invalid stage name specified/);
    expect(code(() => store.createApi({ name: 'w', protocolType: 'WEBSOCKET' }))).toMatch(/RouteSelectionExpression is required/);
  });

  it('an authorizer in use cannot go; updating a route to NONE drops its authorizer', () => {
    const { store, api, target } = setup();
    const a = store.createAuthorizer(api.apiId, { authorizerType: 'JWT', name: 'j', identitySource: ['$request.header.Authorization'], jwtConfiguration: { issuer: 'https://issuer.example', audience: ['c'] } });
    const r = store.createRoute(api.apiId, { routeKey: 'GET /s', target, authorizationType: 'JWT', authorizerId: a.authorizerId, authorizationScopes: ['read'] });
    expect(code(() => store.deleteAuthorizer(api.apiId, a.authorizerId))).toMatch(/^ConflictException 409: Cannot delete authorizer/);
    const updated = store.updateRoute(api.apiId, r.routeId, { authorizationType: 'NONE' });
    expect(updated).toEqual({ routeId: r.routeId, routeKey: 'GET /s', target, authorizationType: 'NONE', apiKeyRequired: false });
    store.deleteAuthorizer(api.apiId, a.authorizerId);
  });

  it('stages serve deployments: auto-deploy follows every change, a manual stage keeps its snapshot', () => {
    const { store, api, target, events } = setup();
    const id = api.apiId;
    store.createRoute(id, { routeKey: 'GET /a', target });
    const auto = store.createStage(id, { stageName: '$default', autoDeploy: true });
    const manual = store.createStage(id, { stageName: 'prod' });
    expect(store.served(id, 'prod')).toBeUndefined();
    const dep = store.createDeployment(id, { stageName: 'prod' });
    expect(store.served(id, 'prod')!.deploymentId).toBe(dep.deploymentId);
    const firstAuto = auto.deploymentId;
    store.createRoute(id, { routeKey: 'GET /b', target });
    expect(auto.deploymentId).not.toBe(firstAuto);
    expect(store.served(id, '$default')!.config.routes.map((r) => r.routeKey)).toEqual(['GET /a', 'GET /b']);
    expect(store.served(id, 'prod')!.config.routes.map((r) => r.routeKey)).toEqual(['GET /a']);
    expect(manual.lastDeploymentStatusMessage).toBe(`Successfully deployed stage with deployment ID '${dep.deploymentId}'`);
    expect(code(() => store.createDeployment(id, { stageName: '$default' }))).toMatch(/AutoDeploy enabled/);
    expect(code(() => store.deleteDeployment(id, dep.deploymentId))).toMatch(/^BadRequestException 400: Active stages pointing to this deployment/);
    expect(events.filter((e) => e.type === 'apigateway.stage.deployed').map((e) => e.fields!.stage)).toEqual(['$default', 'prod', '$default']);
    // the snapshot is a copy: changing the live route does not change what prod serves
    const live = store.listRoutes(id).find((r) => r.routeKey === 'GET /a')!;
    store.updateRoute(id, live.routeId, { routeKey: 'GET /renamed' });
    expect(store.served(id, 'prod')!.config.routes.map((r) => r.routeKey)).toEqual(['GET /a']);
  });

  it('quick create builds integration, route and auto-deployed $default stage, marked API Gateway managed', () => {
    const store = new ApiGatewayV2Store({ account: ACCOUNT, region: REGION });
    const api = store.createApi({ name: 'q', protocolType: 'HTTP', target: FN });
    expect(api.apiGatewayManaged).toBe(true);
    const served = store.served(api.apiId, '$default')!;
    expect(served.config.routes).toEqual([expect.objectContaining({ routeKey: '$default' })]);
    expect(Object.values(served.config.integrations)).toEqual([expect.objectContaining({ integrationType: 'AWS_PROXY', integrationUri: FN, payloadFormatVersion: '2.0' })]);
    expect(code(() => store.createApi({ name: 'q', protocolType: 'HTTP', target: 'not a target' }))).toMatch(/^BadRequestException 400: Invalid target specified/);
    expect(store.listApis()).toHaveLength(1);
  });
});
