import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { ApiGatewayRestStore } from './store.ts';
import { createApiGatewayRestProvider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[apigateway contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

const FN = `arn:aws:lambda:${TEST_REGION}:${TEST_ACCOUNT}:function:logs-reader`;
const INVOCATION_URI = `arn:aws:apigateway:${TEST_REGION}:lambda:path/2015-03-31/functions/${FN}/invocations`;
const POOL = `arn:aws:cognito-idp:${TEST_REGION}:${TEST_ACCOUNT}:userpool/${TEST_REGION}_AbCdEfGhI`;

/** a timestamp as the CLI prints it: epoch seconds (v1) or ISO 8601 (v2), in ms */
const when = (v: unknown) => (typeof v === 'number' ? v * 1000 : Date.parse(String(v)));

async function edgeWithStore() {
  const events: { type: string; fields?: Record<string, unknown> }[] = [];
  const store = new ApiGatewayRestStore({ account: TEST_ACCOUNT, region: TEST_REGION, events: { append: (type, fields) => events.push({ type, fields }) } });
  const env = await startTestEdge([]);
  // only this provider: the edge picks restJson providers by signing name, which apigatewayv2 shares
  env.edge.register(createApiGatewayRestProvider(store));
  return { store, events, ...env };
}

describe.each(clis)('API Gateway REST APIs with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  beforeAll(async () => {
    env = await edgeWithStore();
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, ['apigateway', ...args]);
  const ok = async (...args: string[]) => {
    const r = await aws(...args);
    expect(r.code, `aws apigateway ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r.json;
  };
  const fails = async (code: string, message: string | RegExp, ...args: string[]) => {
    const r = await aws(...args);
    expect([254, 255], `aws apigateway ${args.join(' ')} should fail\n${r.stdout}`).toContain(r.code);
    expect(r.stderr).toContain(`(${code})`);
    if (typeof message === 'string') expect(r.stderr).toContain(message);
    else expect(r.stderr).toMatch(message);
  };

  // every aws call is a Python start (seconds on a busy machine): independent calls run side by side
  it('builds a REST API (resources, a Cognito-authorized Lambda proxy method), deploys it to a stage and reads it back', async () => {
    const api = await ok('create-rest-api', '--name', 'feedback-api', '--endpoint-configuration', 'types=REGIONAL', '--description', 'feedback', '--tags', 'team=ops');
    expect(api.id).toMatch(/^[a-z0-9]{10}$/);
    expect(api).toMatchObject({ name: 'feedback-api', description: 'feedback', tags: { team: 'ops' }, endpointConfiguration: { types: ['REGIONAL'] }, apiKeySource: 'HEADER', disableExecuteApiEndpoint: false });
    expect(when(api.createdDate)).toBeGreaterThan(Date.now() - 300_000);
    const id = api.id as string;

    const [resources, auth] = await Promise.all([
      ok('get-resources', '--rest-api-id', id),
      ok('create-authorizer', '--rest-api-id', id, '--name', 'pool', '--type', 'COGNITO_USER_POOLS', '--provider-arns', POOL),
    ]);
    expect(resources.items).toHaveLength(1);
    expect(resources.items[0]).toEqual({ id: expect.stringMatching(/^[a-z0-9]{10}$/), path: '/' });
    const root = resources.items[0].id as string;
    expect(auth).toMatchObject({ name: 'pool', type: 'COGNITO_USER_POOLS', providerARNs: [POOL], identitySource: 'method.request.header.Authorization', authType: 'cognito_user_pools', authorizerResultTtlInSeconds: 300 });

    const feedback = await ok('create-resource', '--rest-api-id', id, '--parent-id', root, '--path-part', 'feedback');
    expect(feedback).toEqual({ id: expect.stringMatching(/^[a-z0-9]{6}$/), parentId: root, pathPart: 'feedback', path: '/feedback' });
    const [item, method] = await Promise.all([
      ok('create-resource', '--rest-api-id', id, '--parent-id', feedback.id, '--path-part', '{id}'),
      ok('put-method', '--rest-api-id', id, '--resource-id', feedback.id, '--http-method', 'POST', '--authorization-type', 'COGNITO_USER_POOLS', '--authorizer-id', auth.id, '--authorization-scopes', 'feedback/write'),
    ]);
    expect(item.path).toBe('/feedback/{id}');
    expect(method).toEqual({ httpMethod: 'POST', authorizationType: 'COGNITO_USER_POOLS', authorizerId: auth.id, authorizationScopes: ['feedback/write'], apiKeyRequired: false });
    const integ = await ok('put-integration', '--rest-api-id', id, '--resource-id', feedback.id, '--http-method', 'POST', '--type', 'AWS_PROXY', '--integration-http-method', 'POST', '--uri', INVOCATION_URI);
    expect(integ).toMatchObject({ type: 'AWS_PROXY', httpMethod: 'POST', uri: INVOCATION_URI, timeoutInMillis: 29000, connectionType: 'INTERNET', passthroughBehavior: 'WHEN_NO_MATCH' });

    const deployment = await ok('create-deployment', '--rest-api-id', id, '--stage-name', 'prod', '--variables', 'table=feedback');
    expect(deployment.id).toMatch(/^[a-z0-9]{6}$/);
    expect(when(deployment.createdDate)).toBeGreaterThan(Date.now() - 300_000);
    expect(env.events.find((e) => e.type === 'apigateway.rest.deployment' && e.fields?.apiId === id)?.fields).toEqual({ apiId: id, deploymentId: deployment.id, stageName: 'prod' });

    const [stage, names, embedded, gotMethod, gotInteg, auths, deployments, stages] = await Promise.all([
      ok('get-stage', '--rest-api-id', id, '--stage-name', 'prod'),
      ok('get-rest-apis', '--query', `items[?name=='feedback-api'].id`),
      ok('get-resources', '--rest-api-id', id, '--embed', 'methods'),
      ok('get-method', '--rest-api-id', id, '--resource-id', feedback.id, '--http-method', 'POST'),
      ok('get-integration', '--rest-api-id', id, '--resource-id', feedback.id, '--http-method', 'POST'),
      ok('get-authorizers', '--rest-api-id', id),
      ok('get-deployments', '--rest-api-id', id),
      ok('get-stages', '--rest-api-id', id),
    ]);
    expect(stage).toMatchObject({ stageName: 'prod', deploymentId: deployment.id, variables: { table: 'feedback' }, cacheClusterEnabled: false, tracingEnabled: false });
    expect(when(stage.createdDate)).toBeGreaterThan(Date.now() - 300_000);
    expect(names).toEqual([id]);
    const byPath = Object.fromEntries(embedded.items.map((r: any) => [r.path, r]));
    expect(Object.keys(byPath).sort()).toEqual(['/', '/feedback', '/feedback/{id}']);
    expect(byPath['/feedback'].resourceMethods.POST).toEqual({ ...method, methodIntegration: integ });
    expect(gotMethod).toEqual({ ...method, methodIntegration: integ });
    expect(gotInteg).toEqual(integ);
    expect(auths.items).toEqual([auth]);
    expect(deployments.items).toEqual([deployment]);
    expect(stages.item).toEqual([stage]);

    // what the endpoint serves is what the deployment froze
    const served = env.store.served(id, 'prod')!;
    expect(served.deployment.resources.find((r) => r.path === '/feedback')!.methods.POST).toMatchObject({ authorizationType: 'COGNITO_USER_POOLS', authorizerId: auth.id, integration: { type: 'AWS_PROXY', uri: INVOCATION_URI } });
    expect(served.deployment.authorizers[auth.id]).toMatchObject({ providerARNs: [POOL] });

    // a change after the deployment is served only once a stage points at a newer deployment
    await ok('put-integration', '--rest-api-id', id, '--resource-id', feedback.id, '--http-method', 'POST', '--type', 'AWS_PROXY', '--integration-http-method', 'POST', '--uri', INVOCATION_URI, '--timeout-in-millis', '5000');
    expect(env.store.served(id, 'prod')!.deployment.resources.find((r) => r.path === '/feedback')!.methods.POST!.integration!.timeoutInMillis).toBe(29000);
    const second = await ok('create-deployment', '--rest-api-id', id, '--description', 'shorter timeout');
    expect(env.store.served(id, 'prod')!.deployment.id).toBe(deployment.id);
    const moved = await ok('update-stage', '--rest-api-id', id, '--stage-name', 'prod', '--patch-operations', `op=replace,path=/deploymentId,value=${second.id}`, 'op=replace,path=/variables/table,value=archive');
    expect(moved).toMatchObject({ deploymentId: second.id, variables: { table: 'archive' } });
    expect(env.store.served(id, 'prod')).toMatchObject({ stageVariables: { table: 'archive' }, deployment: { id: second.id } });
    expect(env.store.served(id, 'prod')!.deployment.resources.find((r) => r.path === '/feedback')!.methods.POST!.integration!.timeoutInMillis).toBe(5000);

    const r = await aws('delete-stage', '--rest-api-id', id, '--stage-name', 'prod');
    expect(r.code, r.stderr).toBe(0);
    expect(env.store.served(id, 'prod')).toBeUndefined();
    await ok('delete-rest-api', '--rest-api-id', id);
    // v2 adds "(reached max retries: 0)" after the operation name
    await fails('NotFoundException', new RegExp(`An error occurred \\(NotFoundException\\) when calling the GetRestApi operation( \\(reached max retries: 0\\))?: Invalid API identifier specified ${TEST_ACCOUNT}:${id}\n`), 'get-rest-api', '--rest-api-id', id);
  }, 600_000);

  it("answers bad input with the model's errors", async () => {
    const api = await ok('create-rest-api', '--name', 'errors');
    const id = api.id as string;
    const root = (await ok('get-resources', '--rest-api-id', id)).items[0].id as string;
    await Promise.all([ok('create-resource', '--rest-api-id', id, '--parent-id', root, '--path-part', 'logs'), ok('put-method', '--rest-api-id', id, '--resource-id', root, '--http-method', 'GET', '--authorization-type', 'NONE')]);
    await Promise.all([
      fails('NotFoundException', `Invalid API identifier specified ${TEST_ACCOUNT}:zzzzzzzzzz`, 'get-rest-api', '--rest-api-id', 'zzzzzzzzzz'),
      fails('ConflictException', 'Another resource with the same parent already has this name: logs', 'create-resource', '--rest-api-id', id, '--parent-id', root, '--path-part', 'logs'),
      fails('BadRequestException', "Resource's path part only allow", 'create-resource', '--rest-api-id', id, '--parent-id', root, '--path-part', 'a b'),
      fails('ConflictException', 'Method already exists for this resource', 'put-method', '--rest-api-id', id, '--resource-id', root, '--http-method', 'GET', '--authorization-type', 'NONE'),
      fails('BadRequestException', /Invalid authorizer ID specified/, 'put-method', '--rest-api-id', id, '--resource-id', root, '--http-method', 'POST', '--authorization-type', 'COGNITO_USER_POOLS', '--authorizer-id', 'abc123'),
      fails('BadRequestException', 'ProviderARNs need to be specified', 'create-authorizer', '--rest-api-id', id, '--name', 'pool', '--type', 'COGNITO_USER_POOLS'),
    ]);
    await Promise.all([
      fails('BadRequestException', 'Timeout should be between 50 ms and 29000 ms', 'put-integration', '--rest-api-id', id, '--resource-id', root, '--http-method', 'GET', '--type', 'AWS_PROXY', '--integration-http-method', 'POST', '--uri', INVOCATION_URI, '--timeout-in-millis', '30000'),
      fails('BadRequestException', 'No integration defined for method GET /', 'create-deployment', '--rest-api-id', id, '--stage-name', 'prod'),
      fails('NotFoundException', 'Invalid Stage identifier specified', 'get-stage', '--rest-api-id', id, '--stage-name', 'prod'),
      fails('NotFoundException', 'Invalid Deployment identifier specified', 'create-stage', '--rest-api-id', id, '--stage-name', 'prod', '--deployment-id', 'abc123'),
      fails('NotFoundException', 'Invalid Integration identifier specified', 'get-integration', '--rest-api-id', id, '--resource-id', root, '--http-method', 'GET'),
    ]);
    await ok('delete-rest-api', '--rest-api-id', id);
  }, 600_000);
});
