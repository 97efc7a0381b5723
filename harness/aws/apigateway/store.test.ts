import { describe, it, expect } from 'vitest';
import { thrownBy as code } from '../apigateway-testing.ts';
import { ApiGatewayRestStore } from './store.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const FN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:reader`;
const URI = `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${FN}/invocations`;
const POOL = `arn:aws:cognito-idp:${REGION}:${ACCOUNT}:userpool/${REGION}_AbCdEfGhI`;

function setup() {
  const events: { type: string; fields?: Record<string, unknown> }[] = [];
  const store = new ApiGatewayRestStore({ account: ACCOUNT, region: REGION, events: { append: (type, fields) => events.push({ type, fields }) } });
  const api = store.createRestApi({ name: 'a' });
  return { store, events, api, id: api.id, root: api.rootResourceId };
}

/** a GET method with a Lambda proxy integration on the resource */
function lambdaGet(store: ApiGatewayRestStore, apiId: string, resourceId: string, method = 'GET') {
  store.putMethod(apiId, resourceId, method, { authorizationType: 'NONE' });
  store.putIntegration(apiId, resourceId, method, { type: 'AWS_PROXY', httpMethod: 'POST', uri: URI });
}

describe('REST APIs', () => {
  it('creates an API with a root resource and AWS-shaped ids and defaults', () => {
    const { store, api, id, root } = setup();
    expect(id).toMatch(/^[a-z0-9]{10}$/);
    expect(api).toMatchObject({ name: 'a', endpointConfiguration: { types: ['EDGE'] }, apiKeySource: 'HEADER', disableExecuteApiEndpoint: false });
    expect(store.listResources(id)).toEqual([{ id: root, path: '/', methods: {} }]);
    expect(store.isRestApi(id)).toBe(true);
    expect(store.isRestApi('zzzzzzzzzz')).toBe(false);
    expect(store.domainOf(id)).toBe(`${id}.execute-api.${REGION}.amazonaws.com`);
    expect(code(() => store.createRestApi({ name: 'b', endpointConfiguration: { types: ['GLOBAL'] } }))).toMatch(/^BadRequestException 400/);
    expect(code(() => store.getRestApi('nope'))).toBe(`NotFoundException 404: Invalid API identifier specified ${ACCOUNT}:nope`);
    const off = store.createRestApi({ name: 'c', disableExecuteApiEndpoint: true, endpointConfiguration: { types: ['REGIONAL'] } });
    expect(store.endpointDisabled(off.id)).toBe(true);
    expect(store.updateRestApi(off.id, [{ op: 'replace', path: '/disableExecuteApiEndpoint', value: 'false' }]).disableExecuteApiEndpoint).toBe(false);
    expect(store.endpointDisabled(off.id)).toBe(false);
  });
});

describe('resource tree', () => {
  it('builds paths under parents; siblings may not share a path part or have two variables', () => {
    const { store, id, root } = setup();
    const feedback = store.createResource(id, root, 'feedback');
    const item = store.createResource(id, feedback.id, '{id}');
    const proxy = store.createResource(id, root, '{proxy+}');
    expect(feedback).toMatchObject({ parentId: root, pathPart: 'feedback', path: '/feedback' });
    expect(item.path).toBe('/feedback/{id}');
    expect(proxy.path).toBe('/{proxy+}');
    expect(item.id).toMatch(/^[a-z0-9]{6}$/);
    expect(code(() => store.createResource(id, root, 'feedback'))).toBe('ConflictException 409: Another resource with the same parent already has this name: feedback');
    expect(code(() => store.createResource(id, feedback.id, '{name}'))).toMatch(/^BadRequestException 400: A sibling \(\{id\}\) of this resource already has a variable path part/);
    for (const bad of ['a/b', '', '{x', 'x}', 'has space', '{a+b}']) expect(code(() => store.createResource(id, root, bad)), bad).toMatch(/^BadRequestException 400: Resource's path part only allow/);
    expect(code(() => store.createResource(id, proxy.id, 'x'))).toMatch(/^BadRequestException 400: .*greedy/);
    expect(code(() => store.createResource(id, 'nope00', 'x'))).toBe('NotFoundException 404: Invalid Resource identifier specified');

    store.deleteResource(id, feedback.id);
    expect(store.listResources(id).map((r) => r.path).sort()).toEqual(['/', '/{proxy+}']);
    expect(code(() => store.deleteResource(id, root))).toMatch(/^BadRequestException 400/);
  });

  it('methods: one per verb; COGNITO_USER_POOLS needs a Cognito authorizer of the API; integrations default and bound the timeout', () => {
    const { store, id, root } = setup();
    const auth = store.createAuthorizer(id, { name: 'pool', type: 'COGNITO_USER_POOLS', providerARNs: [POOL] });
    expect(auth).toMatchObject({ identitySource: 'method.request.header.Authorization', providerARNs: [POOL], authorizerResultTtlInSeconds: 300 });
    expect(code(() => store.createAuthorizer(id, { name: 'x', type: 'COGNITO_USER_POOLS' }))).toMatch(/^BadRequestException 400: ProviderARNs/);

    const m = store.putMethod(id, root, 'get', { authorizationType: 'COGNITO_USER_POOLS', authorizerId: auth.id, authorizationScopes: ['logs/read'] });
    expect(m).toEqual({ httpMethod: 'GET', authorizationType: 'COGNITO_USER_POOLS', authorizerId: auth.id, authorizationScopes: ['logs/read'], apiKeyRequired: false });
    expect(code(() => store.putMethod(id, root, 'GET', { authorizationType: 'NONE' }))).toBe('ConflictException 409: Method already exists for this resource');
    expect(code(() => store.putMethod(id, root, 'POST', { authorizationType: 'COGNITO_USER_POOLS' }))).toMatch(/^BadRequestException 400: Invalid authorizer ID specified/);
    expect(code(() => store.putMethod(id, root, 'POST', { authorizationType: 'CUSTOM', authorizerId: auth.id }))).toMatch(/^BadRequestException 400: Invalid authorizer ID specified/);
    expect(code(() => store.putMethod(id, root, 'POST', { authorizationType: 'NONE', authorizationScopes: ['x'] }))).toMatch(/^BadRequestException 400: Authorization scopes/);
    expect(code(() => store.putMethod(id, root, 'FETCH', { authorizationType: 'NONE' }))).toMatch(/^BadRequestException 400: Invalid HttpMethod/);
    expect(code(() => store.deleteAuthorizer(id, auth.id))).toMatch(/^ConflictException 409/);

    expect(store.putIntegration(id, root, 'GET', { type: 'AWS_PROXY', httpMethod: 'POST', uri: URI })).toMatchObject({ type: 'AWS_PROXY', httpMethod: 'POST', uri: URI, timeoutInMillis: 29000 });
    expect(code(() => store.putIntegration(id, root, 'GET', { type: 'AWS_PROXY', httpMethod: 'POST', uri: URI, timeoutInMillis: 30000 }))).toBe('BadRequestException 400: Timeout should be between 50 ms and 29000 ms');
    expect(code(() => store.putIntegration(id, root, 'GET', { type: 'AWS_PROXY', uri: URI }))).toMatch(/^BadRequestException 400: Enumeration value for HttpMethod/);
    expect(code(() => store.putIntegration(id, root, 'GET', { type: 'HTTP_PROXY', httpMethod: 'GET', uri: 'not a url' }))).toMatch(/^BadRequestException 400: Invalid HTTP endpoint/);
    expect(code(() => store.putIntegration(id, root, 'PUT', { type: 'MOCK' }))).toBe('NotFoundException 404: Invalid Method identifier specified');
    expect(store.getMethod(id, root, 'GET').integration?.timeoutInMillis).toBe(29000);

    const upd = store.updateMethod(id, root, 'GET', [{ op: 'replace', path: '/authorizationType', value: 'NONE' }, { op: 'remove', path: '/authorizationScopes', value: 'logs/read' }]);
    expect(upd).toMatchObject({ authorizationType: 'NONE' });
    expect(upd).not.toHaveProperty('authorizerId');
    store.deleteAuthorizer(id, auth.id);
  });
});

describe('deployments and stages', () => {
  it('a deployment freezes the API: later changes reach served() only with the next deployment', () => {
    const { store, events, id, root } = setup();
    expect(code(() => store.createDeployment(id, { stageName: 'prod' }))).toBe("BadRequestException 400: The REST API doesn't contain any methods");
    const logs = store.createResource(id, root, 'logs');
    store.putMethod(id, logs.id, 'GET', { authorizationType: 'NONE' });
    expect(code(() => store.createDeployment(id, { stageName: 'prod' }))).toBe('BadRequestException 400: No integration defined for method GET /logs');
    store.putIntegration(id, logs.id, 'GET', { type: 'AWS_PROXY', httpMethod: 'POST', uri: URI });

    expect(store.served(id, 'prod')).toBeUndefined();
    const d1 = store.createDeployment(id, { stageName: 'prod', variables: { table: 'logs' } });
    expect(d1.id).toMatch(/^[a-z0-9]{6}$/);
    expect(events.filter((e) => e.type === 'apigateway.rest.deployment').map((e) => e.fields)).toEqual([{ apiId: id, deploymentId: d1.id, stageName: 'prod' }]);
    const s1 = store.served(id, 'prod')!;
    expect(s1).toMatchObject({ apiId: id, stageName: 'prod', stageVariables: { table: 'logs' }, deployment: { id: d1.id } });
    expect(s1.deployment.resources.find((r) => r.path === '/logs')!.methods.GET).toMatchObject({ authorizationType: 'NONE', integration: { type: 'AWS_PROXY', uri: URI, timeoutInMillis: 29000 } });

    // changes after the deployment: not served
    const auth = store.createAuthorizer(id, { name: 'pool', type: 'COGNITO_USER_POOLS', providerARNs: [POOL] });
    store.updateMethod(id, logs.id, 'GET', [{ op: 'replace', path: '/authorizationType', value: 'COGNITO_USER_POOLS' }, { op: 'replace', path: '/authorizerId', value: auth.id }]);
    const feedback = store.createResource(id, root, 'feedback');
    lambdaGet(store, id, feedback.id, 'POST');
    store.putIntegration(id, logs.id, 'GET', { type: 'AWS_PROXY', httpMethod: 'POST', uri: URI, timeoutInMillis: 5000 });
    const again = store.served(id, 'prod')!;
    expect(again.deployment.resources.map((r) => r.path).sort()).toEqual(['/', '/logs']);
    expect(again.deployment.resources.find((r) => r.path === '/logs')!.methods.GET).toMatchObject({ authorizationType: 'NONE', integration: { timeoutInMillis: 29000 } });
    expect(again.deployment.authorizers).toEqual({});
    // served() hands out copies: a caller changing them changes nothing
    again.deployment.resources.length = 0;
    expect(store.served(id, 'prod')!.deployment.resources).toHaveLength(2);

    // the next deployment carries them
    const d2 = store.createDeployment(id, { stageName: 'prod' });
    const s2 = store.served(id, 'prod')!;
    expect(s2.deployment.id).toBe(d2.id);
    expect(s2.stageVariables).toEqual({ table: 'logs' });
    expect(s2.deployment.resources.map((r) => r.path).sort()).toEqual(['/', '/feedback', '/logs']);
    expect(s2.deployment.resources.find((r) => r.path === '/logs')!.methods.GET).toMatchObject({ authorizationType: 'COGNITO_USER_POOLS', authorizerId: auth.id, integration: { timeoutInMillis: 5000 } });
    expect(s2.deployment.authorizers[auth.id]).toMatchObject({ type: 'COGNITO_USER_POOLS', providerARNs: [POOL] });

    // a stage moved back to the first deployment serves it again
    const st = store.updateStage(id, 'prod', [
      { op: 'replace', path: '/deploymentId', value: d1.id },
      { op: 'replace', path: '/variables/table', value: 'archive' },
      { op: 'replace', path: '/variables/extra', value: 'x' },
    ]);
    expect(st).toMatchObject({ deploymentId: d1.id, variables: { table: 'archive', extra: 'x' } });
    expect(store.served(id, 'prod')).toMatchObject({ stageVariables: { table: 'archive', extra: 'x' }, deployment: { id: d1.id } });
    expect(store.updateStage(id, 'prod', [{ op: 'remove', path: '/variables/extra' }]).variables).toEqual({ table: 'archive' });
    expect(code(() => store.updateStage(id, 'prod', [{ op: 'replace', path: '/deploymentId', value: 'nope00' }]))).toBe('NotFoundException 404: Invalid Deployment identifier specified');
    expect(code(() => store.updateStage(id, 'prod', [{ op: 'replace', path: '/cacheClusterSize', value: '0.5' }]))).toMatch(/^BadRequestException 400: Invalid patch path/);

    // a second stage on the other deployment
    store.createStage(id, { stageName: 'beta', deploymentId: d2.id });
    expect(store.served(id, 'beta')!.deployment.id).toBe(d2.id);
    expect(code(() => store.createStage(id, { stageName: 'beta', deploymentId: d2.id }))).toBe('ConflictException 409: Stage already exists');
    expect(code(() => store.createStage(id, { stageName: 'bad name', deploymentId: d2.id }))).toMatch(/^BadRequestException 400/);
    expect(code(() => store.deleteDeployment(id, d2.id))).toMatch(/^BadRequestException 400: Active stages pointing to this deployment/);
    store.deleteStage(id, 'beta');
    expect(store.served(id, 'beta')).toBeUndefined();
    store.deleteDeployment(id, d2.id);
    expect(store.listDeployments(id).map((d) => d.id)).toEqual([d1.id]);

    store.deleteRestApi(id);
    expect(store.served(id, 'prod')).toBeUndefined();
    expect(store.isRestApi(id)).toBe(false);
  });
});
