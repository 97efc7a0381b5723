import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { Clock } from '../../clock.ts';
import { EventLog } from '../../events.ts';
import { LogsStore } from '../../aws/logs/store.ts';
import { IamStore } from '../../aws/iam/store.ts';
import { CognitoStore } from '../../aws/cognito/store.ts';
import type { ServerlessContext } from '../../aws/serverless.ts';
import { writeZip } from '../../aws/lambda/zip.ts';
import { findAwsClis, runAws } from '../aws-cli.ts';
import { startTestEdge, TEST_ACCOUNT, TEST_REGION } from '../../aws/test-edge.ts';
import { startLambda, type StartedLambda } from './lambda.ts';
import { startHttpApis, type StartedHttpApis } from './http-apis.ts';

/**
 * A REST API (v1) end to end, as a team's script builds one with the aws CLI: a Node function,
 * a resource with a Cognito-authorized Lambda proxy method, a deployment to a stage, the
 * permission for API Gateway; then HTTPS requests to the execute-api endpoint. The edge serves
 * HTTP APIs (v2) beside it under the same signing name.
 */
const cli = findAwsClis()[0];
if (!cli) console.log('REST API end-to-end test SKIPPED: no aws CLI found');

const HANDLER = `export const handler = async (event) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ resource: event.resource, path: event.path, id: event.pathParameters?.id, stage: event.requestContext.stage, user: event.requestContext.authorizer?.claims?.['cognito:username'] }),
});`;

describe.skipIf(!cli)(`REST API end to end (aws ${cli?.version ?? ''})`, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rest-api-e2e-'));
  const cognito = new CognitoStore({ account: TEST_ACCOUNT, region: TEST_REGION });
  const pool = cognito.createUserPool('users');
  const client = cognito.createUserPoolClient(pool.id, { clientName: 'web' });
  cognito.adminCreateUser(pool.id, 'alice', { email: 'alice@example.com' });
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  let lambda: StartedLambda;
  let apis: StartedHttpApis;
  let tls: Agent;
  const aws = async (...args: string[]) => {
    const r = await runAws(cli!, edge.url, args, { region: TEST_REGION });
    expect(r.code, `aws ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r.json;
  };

  beforeAll(async () => {
    edge = await startTestEdge([]);
    const ctx: ServerlessContext = {
      runId: 'ehrestapi0',
      runDir: tmp,
      account: TEST_ACCOUNT,
      region: TEST_REGION,
      awsEndpoint: edge.url,
      clock: new Clock(0.01),
      events: new EventLog(),
      logs: new LogsStore({ account: TEST_ACCOUNT, region: TEST_REGION }),
      iam: new IamStore({ account: TEST_ACCOUNT }),
      cognito,
      manifest: {} as ServerlessContext['manifest'],
      runtime: 'process',
      log: () => {},
    };
    lambda = await startLambda(ctx);
    apis = await startHttpApis(ctx, lambda.invoker);
    for (const part of [lambda, apis]) for (const p of part.providers) edge.edge.register(p);
    tls = new Agent({ connect: apis.server.certificateFile ? { ca: fs.readFileSync(apis.server.certificateFile) } : {} });
  }, 60_000);

  afterAll(async () => {
    await tls?.close();
    await apis?.stop();
    await lambda?.stop();
    await edge?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the CLI builds and deploys it; the endpoint checks the Cognito token, invokes the function with the proxy event, and needs the permission', async () => {
    const zip = path.join(tmp, 'fn.zip');
    fs.writeFileSync(zip, writeZip([{ name: 'index.mjs', data: HANDLER }]));
    const fn = await aws('lambda', 'create-function', '--function-name', 'items', '--runtime', 'nodejs20.x', '--handler', 'index.handler', '--role', `arn:aws:iam::${TEST_ACCOUNT}:role/items`, '--zip-file', `fileb://${zip}`);
    await aws('lambda', 'wait', 'function-active-v2', '--function-name', 'items');
    const api = await aws('apigateway', 'create-rest-api', '--name', 'items-api', '--endpoint-configuration', 'types=REGIONAL');
    const root = (await aws('apigateway', 'get-resources', '--rest-api-id', api.id)).items.find((r: { path: string }) => r.path === '/');
    const items = await aws('apigateway', 'create-resource', '--rest-api-id', api.id, '--parent-id', root.id, '--path-part', 'items');
    const item = await aws('apigateway', 'create-resource', '--rest-api-id', api.id, '--parent-id', items.id, '--path-part', '{id}');
    const auth = await aws('apigateway', 'create-authorizer', '--rest-api-id', api.id, '--name', 'users', '--type', 'COGNITO_USER_POOLS', '--provider-arns', pool.arn, '--identity-source', 'method.request.header.Authorization');
    await aws('apigateway', 'put-method', '--rest-api-id', api.id, '--resource-id', item.id, '--http-method', 'GET', '--authorization-type', 'COGNITO_USER_POOLS', '--authorizer-id', auth.id);
    const uri = `arn:aws:apigateway:${TEST_REGION}:lambda:path/2015-03-31/functions/${fn.FunctionArn}/invocations`;
    await aws('apigateway', 'put-integration', '--rest-api-id', api.id, '--resource-id', item.id, '--http-method', 'GET', '--type', 'AWS_PROXY', '--integration-http-method', 'POST', '--uri', uri);
    await aws('apigateway', 'create-deployment', '--rest-api-id', api.id, '--stage-name', 'prod');
    const sourceArn = `arn:aws:execute-api:${TEST_REGION}:${TEST_ACCOUNT}:${api.id}/*/GET/items/*`;
    await aws('lambda', 'add-permission', '--function-name', 'items', '--statement-id', 'apigw', '--action', 'lambda:InvokeFunction', '--principal', 'apigateway.amazonaws.com', '--source-arn', sourceArn);
    // HTTP APIs answer beside it under the same signing name
    expect((await aws('apigatewayv2', 'get-apis')).Items).toEqual([]);

    const get = async (p: string, token?: string) => {
      const r = await request(`${apis.server.url}${p}`, { dispatcher: tls, headers: { host: `${api.id}.execute-api.${TEST_REGION}.amazonaws.com`, ...(token ? { authorization: token } : {}) } });
      const text = await r.body.text();
      return { status: r.statusCode, json: text ? JSON.parse(text) : undefined };
    };
    const tokens = cognito.issueTokens(pool.id, client.clientId, 'alice');
    expect(await get('/prod/items/42')).toEqual({ status: 401, json: { message: 'Unauthorized' } });
    expect(await get('/prod/items/42', 'not-a-token')).toMatchObject({ status: 401 });
    expect(await get('/prod/nothing-here', tokens.IdToken)).toEqual({ status: 403, json: { message: 'Missing Authentication Token' } });
    expect(await get('/prod/items/42', tokens.IdToken)).toEqual({ status: 200, json: { resource: '/items/{id}', path: '/items/42', id: '42', stage: 'prod', user: 'alice' } });

    await aws('lambda', 'remove-permission', '--function-name', 'items', '--statement-id', 'apigw');
    expect(await get('/prod/items/42', tokens.IdToken)).toEqual({ status: 500, json: { message: 'Internal server error' } });
  }, 180_000);
});
