import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { ApiGatewayV2Store } from './store.ts';
import { createApiGatewayV2Provider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[apigatewayv2 contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

const FN = `arn:aws:lambda:${TEST_REGION}:${TEST_ACCOUNT}:function:logs-reader`;
const INVOCATION_URI = `arn:aws:apigateway:${TEST_REGION}:lambda:path/2015-03-31/functions/${FN}/invocations`;
const ISSUER = `https://cognito-idp.${TEST_REGION}.amazonaws.com/${TEST_REGION}_AbCdEfGhI`;

async function edgeWithStore() {
  const events: { type: string; fields?: Record<string, unknown> }[] = [];
  const store = new ApiGatewayV2Store({ account: TEST_ACCOUNT, region: TEST_REGION, events: { append: (type, fields) => events.push({ type, fields }) } });
  const env = await startTestEdge([]);
  env.edge.register(createApiGatewayV2Provider(store));
  return { store, events, ...env };
}

describe.each(clis)('API Gateway v2 with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  beforeAll(async () => {
    env = await edgeWithStore();
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, ['apigatewayv2', ...args]);
  const ok = async (...args: string[]) => {
    const r = await aws(...args);
    expect(r.code, `aws apigatewayv2 ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r.json;
  };
  const fails = async (code: string, message: string | RegExp, ...args: string[]) => {
    const r = await aws(...args);
    expect([254, 255], `aws apigatewayv2 ${args.join(' ')} should fail\n${r.stdout}`).toContain(r.code);
    expect(r.stderr).toContain(`(${code})`);
    if (typeof message === 'string') expect(r.stderr).toContain(message);
    else expect(r.stderr).toMatch(message);
  };

  // every aws call is a Python start (seconds on a busy machine): independent calls run side by side
  it('creates an HTTP API with a Lambda integration, a JWT authorizer, routes and an auto-deployed $default stage, and reads them back', async () => {
    const api = await ok('create-api', '--name', 'ops-api', '--protocol-type', 'HTTP', '--tags', 'team=ops');
    expect(api.ApiId).toMatch(/^[a-z0-9]{10}$/);
    expect(api).toMatchObject({
      Name: 'ops-api',
      ProtocolType: 'HTTP',
      ApiEndpoint: `https://${api.ApiId}.execute-api.${TEST_REGION}.amazonaws.com`,
      RouteSelectionExpression: '$request.method $request.path',
      ApiKeySelectionExpression: '$request.header.x-api-key',
      DisableExecuteApiEndpoint: false,
      Tags: { team: 'ops' },
    });
    expect(Date.parse(api.CreatedDate)).toBeGreaterThan(Date.now() - 300_000);
    const id = api.ApiId as string;
    expect(env.events.find((e) => e.type === 'apigateway.api.created' && e.fields?.apiId === id)?.fields).toMatchObject({ name: 'ops-api', apiEndpoint: api.ApiEndpoint });

    const [integ, legacy, auth] = await Promise.all([
      ok('create-integration', '--api-id', id, '--integration-type', 'AWS_PROXY', '--integration-uri', FN, '--payload-format-version', '2.0', '--timeout-in-millis', '5000'),
      ok('create-integration', '--api-id', id, '--integration-type', 'AWS_PROXY', '--integration-uri', INVOCATION_URI, '--payload-format-version', '1.0'),
      ok('create-authorizer', '--api-id', id, '--name', 'cognito', '--authorizer-type', 'JWT', '--identity-source', '$request.header.Authorization', '--jwt-configuration', JSON.stringify({ Issuer: ISSUER, Audience: ['client-a'] })),
    ]);
    expect(integ).toMatchObject({ IntegrationType: 'AWS_PROXY', IntegrationUri: FN, PayloadFormatVersion: '2.0', TimeoutInMillis: 5000, ConnectionType: 'INTERNET', IntegrationMethod: 'POST' });
    expect(integ.IntegrationId).toMatch(/^[a-z0-9]{7}$/);
    expect(legacy).toMatchObject({ IntegrationUri: INVOCATION_URI, PayloadFormatVersion: '1.0', TimeoutInMillis: 30000 });
    expect(auth).toMatchObject({ Name: 'cognito', AuthorizerType: 'JWT', IdentitySource: ['$request.header.Authorization'], JwtConfiguration: { Issuer: ISSUER, Audience: ['client-a'] } });

    const target = `integrations/${integ.IntegrationId}`;
    const others = ['POST /feedback', 'GET /items/{id}', 'ANY /{proxy+}', '$default'];
    const [logs, ...rest] = await Promise.all([
      ok('create-route', '--api-id', id, '--route-key', 'GET /logs', '--target', target, '--authorization-type', 'JWT', '--authorizer-id', auth.AuthorizerId, '--authorization-scopes', 'aws.cognito.signin.user.admin'),
      ...others.map((key) => ok('create-route', '--api-id', id, '--route-key', key, '--target', `integrations/${legacy.IntegrationId}`)),
    ]);
    expect(logs).toMatchObject({ RouteKey: 'GET /logs', Target: target, AuthorizationType: 'JWT', AuthorizerId: auth.AuthorizerId, AuthorizationScopes: ['aws.cognito.signin.user.admin'], ApiKeyRequired: false });
    expect(rest.map((r) => [r.RouteKey, r.AuthorizationType])).toEqual(others.map((k) => [k, 'NONE']));
    const stage = await ok('create-stage', '--api-id', id, '--stage-name', '$default', '--auto-deploy');
    expect(stage).toMatchObject({ StageName: '$default', AutoDeploy: true });
    expect(stage.DeploymentId).toMatch(/^[a-z0-9]{6}$/);
    expect(stage.LastDeploymentStatusMessage).toBe(`Successfully deployed stage with deployment ID '${stage.DeploymentId}'`);

    // read back
    const [gotApi, routes, gotRoute, integs, gotInteg, auths, deployments] = await Promise.all([
      ok('get-api', '--api-id', id),
      ok('get-routes', '--api-id', id, '--page-size', '2'),
      ok('get-route', '--api-id', id, '--route-id', logs.RouteId),
      ok('get-integrations', '--api-id', id),
      ok('get-integration', '--api-id', id, '--integration-id', integ.IntegrationId),
      ok('get-authorizers', '--api-id', id),
      ok('get-deployments', '--api-id', id),
    ]);
    expect(gotApi).toEqual(api);
    // --page-size 2: the CLI follows nextToken over three pages
    expect(routes.Items.map((r: any) => r.RouteKey).sort()).toEqual(['$default', 'ANY /{proxy+}', 'GET /items/{id}', 'GET /logs', 'POST /feedback']);
    expect(gotRoute).toEqual(logs);
    expect(integs.Items).toHaveLength(2);
    expect(gotInteg).toEqual(integ);
    expect(auths.Items).toEqual([auth]);
    expect(deployments.Items.map((d: any) => d.DeploymentId)).toContain(stage.DeploymentId);
    expect(deployments.Items.every((d: any) => d.AutoDeployed === true && d.DeploymentStatus === 'DEPLOYED')).toBe(true);

    // updates; the auto-deploy stage follows
    const [route2, integ2, auth2, api2] = await Promise.all([
      ok('update-route', '--api-id', id, '--route-id', logs.RouteId, '--route-key', 'GET /logs/{group}'),
      ok('update-integration', '--api-id', id, '--integration-id', integ.IntegrationId, '--timeout-in-millis', '29000'),
      ok('update-authorizer', '--api-id', id, '--authorizer-id', auth.AuthorizerId, '--jwt-configuration', JSON.stringify({ Issuer: ISSUER, Audience: ['client-a', 'client-b'] })),
      ok('update-api', '--api-id', id, '--description', 'ops tools'),
    ]);
    expect(route2).toMatchObject({ RouteKey: 'GET /logs/{group}', AuthorizationType: 'JWT' });
    expect(integ2).toMatchObject({ TimeoutInMillis: 29000, IntegrationUri: FN });
    expect(auth2.JwtConfiguration.Audience).toEqual(['client-a', 'client-b']);
    expect(api2.Description).toBe('ops tools');
    const after = await ok('get-stage', '--api-id', id, '--stage-name', '$default');
    expect(after.DeploymentId).not.toBe(stage.DeploymentId);
    expect(env.store.served(id, '$default')!.config.routes.map((r) => r.routeKey)).toContain('GET /logs/{group}');

    await ok('delete-route', '--api-id', id, '--route-id', logs.RouteId);
    await Promise.all([
      ok('delete-authorizer', '--api-id', id, '--authorizer-id', auth.AuthorizerId),
      ok('delete-integration', '--api-id', id, '--integration-id', integ.IntegrationId),
      fails('NotFoundException', `Invalid Route identifier specified ${logs.RouteId}`, 'get-route', '--api-id', id, '--route-id', logs.RouteId),
    ]);
    await ok('delete-api', '--api-id', id);
    await fails('NotFoundException', `Invalid API identifier specified ${TEST_ACCOUNT}:${id}`, 'get-api', '--api-id', id);
  }, 600_000);

  it('answers bad input with the model\'s errors; quick create makes integration, route and stage', async () => {
    const id = (await ok('create-api', '--name', 'errors', '--protocol-type', 'HTTP')).ApiId as string;
    const integ = await ok('create-integration', '--api-id', id, '--integration-type', 'AWS_PROXY', '--integration-uri', FN, '--payload-format-version', '2.0');
    const target = `integrations/${integ.IntegrationId}`;
    await Promise.all([ok('create-route', '--api-id', id, '--route-key', 'GET /logs', '--target', target), ok('create-stage', '--api-id', id, '--stage-name', 'dev')]);

    await Promise.all([
      fails('ConflictException', 'Route with key GET /logs already exists for this API', 'create-route', '--api-id', id, '--route-key', 'GET /logs', '--target', target),
      fails('BadRequestException', /Route key 'GET logs'/, 'create-route', '--api-id', id, '--route-key', 'GET logs'),
      fails('BadRequestException', 'Invalid authorizer ID specified. Setting the authorization type to JWT requires a valid JWT authorizer.', 'create-route', '--api-id', id, '--route-key', 'GET /secure', '--authorization-type', 'JWT'),
      fails('BadRequestException', /Invalid integration URI specified/, 'create-integration', '--api-id', id, '--integration-type', 'AWS_PROXY', '--integration-uri', 'arn:aws:s3:::bucket', '--payload-format-version', '2.0'),
    ]);
    await Promise.all([
      fails('BadRequestException', /Issuer is required/, 'create-authorizer', '--api-id', id, '--name', 'a', '--authorizer-type', 'JWT', '--identity-source', '$request.header.Authorization'),
      fails('ConflictException', /it is the target of route\(s\) GET \/logs/, 'delete-integration', '--api-id', id, '--integration-id', integ.IntegrationId),
      fails('ConflictException', 'Stage dev already exists', 'create-stage', '--api-id', id, '--stage-name', 'dev'),
      fails('NotFoundException', 'Invalid stage identifier specified prod', 'get-stage', '--api-id', id, '--stage-name', 'prod'),
    ]);
    const [quick] = await Promise.all([
      ok('create-api', '--name', 'quick', '--protocol-type', 'HTTP', '--target', FN, '--route-key', 'GET /hello'),
      fails('NotFoundException', `Invalid API identifier specified ${TEST_ACCOUNT}:zzzzzzzzzz`, 'create-route', '--api-id', 'zzzzzzzzzz', '--route-key', 'GET /x'),
      ok('delete-api', '--api-id', id),
    ]);
    expect(quick.ApiGatewayManaged).toBe(true);
    const routes = await ok('get-routes', '--api-id', quick.ApiId);
    const served = env.store.served(quick.ApiId, '$default')!;
    expect(served.stage).toMatchObject({ autoDeploy: true, apiGatewayManaged: true });
    const [integration] = Object.values(served.config.integrations);
    expect(integration).toMatchObject({ integrationType: 'AWS_PROXY', integrationUri: FN, payloadFormatVersion: '2.0' });
    expect(routes.Items).toEqual([expect.objectContaining({ RouteKey: 'GET /hello', Target: `integrations/${integration!.integrationId}`, ApiGatewayManaged: true })]);
  }, 600_000);
});
