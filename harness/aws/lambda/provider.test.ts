import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Clock } from '../../clock.ts';
import { EventLog } from '../../events.ts';
import { createLambdaProvider } from './provider.ts';
import { LambdaStore, parseFunctionRef, functionArnOfIntegrationUri } from './store.ts';
import { arnLike, evaluatePolicy, policyDocument } from './policy.ts';
import { callRest, echoRunner, nodePackage } from './testing.ts';
import type { RestJsonProvider } from '../protocol/rest.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/lambda-exec`;
const ARN = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;

function create(p: RestJsonProvider, name: string, extra: Record<string, unknown> = {}, zip = nodePackage()) {
  return callRest(p, 'POST', '/2015-03-31/functions', { FunctionName: name, Runtime: 'nodejs20.x', Role: ROLE, Handler: 'index.handler', Code: { ZipFile: zip.toString('base64') }, ...extra });
}

describe('Lambda store and provider', () => {
  let tmp: string;
  let clock: Clock;
  let events: EventLog;
  let store: LambdaStore;
  let runner: ReturnType<typeof echoRunner>;
  let p: RestJsonProvider;
  let roles: string[] | undefined;
  const retired: { functionArn: string; version?: string }[] = [];

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-store-'));
    clock = new Clock(0.01); // Active 50 ms after creation, updates InProgress for 30 ms
    events = new EventLog();
    roles = undefined;
    retired.length = 0;
    store = new LambdaStore({ account: ACCOUNT, region: REGION, codeRoot: tmp, timers: clock, events, roleExists: (arn) => (roles ? roles.includes(arn) : undefined) });
    store.on('retire', (r) => retired.push(r));
    runner = echoRunner();
    p = createLambdaProvider(store, { runner, events });
  });
  afterEach(() => {
    store.close();
    clock.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const active = (name: string) => events.waitFor((e) => e.type === 'lambda.function.state' && e.functionName === name && e.state === 'Active');
  const updated = (name: string, n: number) => events.waitFor((e) => e.type === 'lambda.function.updated' && e.functionName === name && e.status === 'Successful' && events.filter((x) => x.type === 'lambda.function.updated' && x.functionName === name && x.status === 'Successful').length >= n);
  const invoke = (name: string, payload: unknown, q?: string) => callRest(p, 'POST', `/2015-03-31/functions/${name}/invocations${q ? `?Qualifier=${encodeURIComponent(q)}` : ''}`, payload);

  it('creates a function Pending, refuses to invoke it until Active, then runs the unpacked code', async () => {
    const zip = nodePackage();
    const c = await create(p, 'orders', { Environment: { Variables: { TABLE: 'orders' } }, Architectures: ['arm64'], Tags: { team: 'a' } }, zip);
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ FunctionName: 'orders', FunctionArn: ARN('orders'), State: 'Pending', StateReasonCode: 'Creating', Version: '$LATEST', Timeout: 3, MemorySize: 128, Architectures: ['arm64'], PackageType: 'Zip', Environment: { Variables: { TABLE: 'orders' } } });
    expect(c.body.LastUpdateStatus).toBeUndefined();
    expect(c.body.LastModified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    const sha = c.body.CodeSha256;
    const dir = path.join(tmp, 'orders', Buffer.from(sha, 'base64').toString('hex'));
    expect(fs.readFileSync(path.join(dir, 'index.mjs'), 'utf8')).toContain('export const handler');

    const early = await invoke('orders', { a: 1 });
    expect(early).toMatchObject({ status: 409, error: 'ResourceConflictException', message: 'The operation cannot be performed at this time. The function is currently in the following state: Pending' });
    const busy = await callRest(p, 'PUT', '/2015-03-31/functions/orders/configuration', { Timeout: 10 });
    expect(busy).toMatchObject({ status: 409, message: `The operation cannot be performed at this time. An update is in progress for resource: ${ARN('orders')}` });

    await active('orders');
    const got = await callRest(p, 'GET', '/2015-03-31/functions/orders');
    expect(got.body.Configuration).toMatchObject({ State: 'Active', LastUpdateStatus: 'Successful' });
    expect(got.body.Code).toEqual({ RepositoryType: 'S3', Location: `file://${dir}.zip` });
    expect(fs.readFileSync(`${dir}.zip`).equals(zip)).toBe(true);
    expect(got.body.Tags).toEqual({ team: 'a' });

    const r = await invoke('orders', { a: 1 });
    expect(r.status).toBe(200);
    expect(r.headers['x-amz-executed-version']).toBe('$LATEST');
    expect(JSON.parse(r.body.toString())).toEqual({ echo: { a: 1 }, version: '$LATEST', codeSha256: sha });
    expect(runner.calls[0]!.spec).toMatchObject({ functionName: 'orders', functionArn: ARN('orders'), runtime: 'nodejs20.x', handler: 'index.handler', architecture: 'arm64', codeDir: dir, environment: { TABLE: 'orders' }, logGroup: '/aws/lambda/orders', role: ROLE, timeout: 3, memorySize: 128 });
    expect(events.filter('lambda.invoke')[0]).toMatchObject({ functionName: 'orders', version: '$LATEST', codeSha256: sha, requestId: runner.calls[0]!.requestId, invocationType: 'RequestResponse', durationMs: 1 });
  });

  it('keeps running the previous code while an update is InProgress, refuses a second update, then switches and retires the old environments', async () => {
    const first = await create(p, 'api');
    await active('api');
    const up = await callRest(p, 'PUT', '/2015-03-31/functions/api/code', { ZipFile: nodePackage('{ v: 2 }').toString('base64') });
    expect(up.body).toMatchObject({ LastUpdateStatus: 'InProgress', State: 'Active' });
    expect(up.body.CodeSha256).not.toBe(first.body.CodeSha256);
    expect(up.body.RevisionId).not.toBe(first.body.RevisionId);

    const during = await invoke('api', {});
    expect(JSON.parse(during.body.toString()).codeSha256).toBe(first.body.CodeSha256);
    const again = await callRest(p, 'PUT', '/2015-03-31/functions/api/configuration', { MemorySize: 256 });
    expect(again).toMatchObject({ status: 409, error: 'ResourceConflictException', message: `The operation cannot be performed at this time. An update is in progress for resource: ${ARN('api')}` });
    const publish = await callRest(p, 'POST', '/2015-03-31/functions/api/versions', {});
    expect(publish.error).toBe('ResourceConflictException');

    await updated('api', 1);
    expect(retired).toEqual([{ functionArn: ARN('api'), version: '$LATEST' }]);
    const after = await invoke('api', {});
    expect(JSON.parse(after.body.toString()).codeSha256).toBe(up.body.CodeSha256);
    // the event log says which code served each invocation: the old one while InProgress
    expect(events.filter('lambda.invoke').map((e) => e.codeSha256)).toEqual([first.body.CodeSha256, up.body.CodeSha256]);
    const cfg = await callRest(p, 'PUT', '/2015-03-31/functions/api/configuration', { MemorySize: 256, Environment: { Variables: { MODE: 'x' } } });
    expect(cfg.body).toMatchObject({ MemorySize: 256, LastUpdateStatus: 'InProgress', Environment: { Variables: { MODE: 'x' } } });
    await updated('api', 2);
    expect(runner.calls.length).toBe(2);
    await invoke('api', {});
    expect(runner.calls[2]!.spec).toMatchObject({ memorySize: 256, environment: { MODE: 'x' } });
    expect(events.filter('lambda.function.updated').map((e) => `${e.what}:${e.status}`)).toEqual(['code:InProgress', 'code:Successful', 'configuration:InProgress', 'configuration:Successful']);
  });

  it('publishes versions (none when nothing changed), routes aliases and keeps a version an alias uses', async () => {
    await create(p, 'svc', { Publish: true });
    await active('svc');
    expect((await callRest(p, 'GET', '/2015-03-31/functions/svc/configuration?Qualifier=1')).body).toMatchObject({ Version: '1', State: 'Active', FunctionArn: `${ARN('svc')}:1` });
    const same = await callRest(p, 'POST', '/2015-03-31/functions/svc/versions', { Description: 'again' });
    expect(same).toMatchObject({ status: 201, body: { Version: '1' } });
    await callRest(p, 'PUT', '/2015-03-31/functions/svc/code', { ZipFile: nodePackage('2').toString('base64'), Publish: true });
    const versions = await callRest(p, 'GET', '/2015-03-31/functions/svc/versions');
    expect(versions.body.Versions.map((v: any) => [v.Version, v.FunctionArn])).toEqual([
      ['$LATEST', `${ARN('svc')}:$LATEST`],
      ['1', `${ARN('svc')}:1`],
      ['2', `${ARN('svc')}:2`],
    ]);
    const alias = await callRest(p, 'POST', '/2015-03-31/functions/svc/aliases', { Name: 'live', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 0.25 } } });
    expect(alias).toMatchObject({ status: 201, body: { AliasArn: `${ARN('svc')}:live`, Name: 'live', FunctionVersion: '1', Description: '', RoutingConfig: { AdditionalVersionWeights: { '2': 0.25 } } } });
    expect(store.routeAlias(store.getAlias('svc', 'live'), () => 0.1)).toBe('2');
    expect(store.routeAlias(store.getAlias('svc', 'live'), () => 0.9)).toBe('1');
    expect((await callRest(p, 'POST', '/2015-03-31/functions/svc/aliases', { Name: 'live', FunctionVersion: '2' })).message).toBe(`Alias already exists: ${ARN('svc')}:live`);
    expect((await callRest(p, 'POST', '/2015-03-31/functions/svc/aliases', { Name: 'next', FunctionVersion: '9' })).message).toBe(`Function not found: ${ARN('svc')}:9`);
    expect((await callRest(p, 'DELETE', '/2015-03-31/functions/svc?Qualifier=2')).message).toBe('Unable to delete version because the following aliases reference it: [live]');
    const moved = await callRest(p, 'PUT', '/2015-03-31/functions/svc/aliases/live', { FunctionVersion: '2', RoutingConfig: { AdditionalVersionWeights: {} } });
    expect(moved.body.FunctionVersion).toBe('2');
    expect(moved.body.RoutingConfig).toBeUndefined();
    const viaAlias = await invoke(`${ARN('svc')}:live`, { n: 1 });
    expect(viaAlias.headers['x-amz-executed-version']).toBe('2');
    expect(await callRest(p, 'DELETE', '/2015-03-31/functions/svc?Qualifier=1')).toMatchObject({ status: 204 });
    expect(retired).toContainEqual({ functionArn: ARN('svc'), version: '1' });
    expect((await callRest(p, 'GET', '/2015-03-31/functions/svc/aliases/gone')).message).toBe(`Alias not found: ${ARN('svc')}:gone`);
    expect(await callRest(p, 'DELETE', '/2015-03-31/functions/svc/aliases/live')).toMatchObject({ status: 204 });
    expect((await callRest(p, 'GET', '/2015-03-31/functions/svc/aliases')).body.Aliases).toEqual([]);
  });

  it('writes the resource policy as Lambda renders it and refuses a duplicate statement id', async () => {
    await create(p, 'hook');
    const src = `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123/*/*/orders`;
    const add = await callRest(p, 'POST', '/2015-03-31/functions/hook/policy', { StatementId: 'apigw', Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com', SourceArn: src });
    expect(add.status).toBe(201);
    const statement = { Sid: 'apigw', Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' }, Action: 'lambda:InvokeFunction', Resource: ARN('hook'), Condition: { ArnLike: { 'AWS:SourceArn': src } } };
    expect(JSON.parse(add.body.Statement)).toEqual(statement);
    const pol = await callRest(p, 'GET', '/2015-03-31/functions/hook/policy');
    expect(JSON.parse(pol.body.Policy)).toEqual({ Version: '2012-10-17', Id: 'default', Statement: [statement] });
    expect(pol.body.RevisionId).toEqual(expect.any(String));
    const dup = await callRest(p, 'POST', '/2015-03-31/functions/hook/policy', { StatementId: 'apigw', Action: 'lambda:InvokeFunction', Principal: 'apigateway.amazonaws.com' });
    expect(dup).toMatchObject({ status: 409, error: 'ResourceConflictException', message: 'The statement id (apigw) provided already exists. Please provide a new statement id, or remove the existing statement.' });
    const acct = await callRest(p, 'POST', '/2015-03-31/functions/hook/policy', { StatementId: 'acct', Action: 'lambda:*', Principal: ACCOUNT, SourceAccount: ACCOUNT });
    expect(JSON.parse(acct.body.Statement)).toMatchObject({ Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Condition: { StringEquals: { 'AWS:SourceAccount': ACCOUNT } } });
    expect((await callRest(p, 'DELETE', '/2015-03-31/functions/hook/policy/nope')).message).toBe('Statement nope is not found in resource policy.');
    expect((await callRest(p, 'DELETE', '/2015-03-31/functions/hook/policy/apigw')).status).toBe(204);
    expect((await callRest(p, 'DELETE', '/2015-03-31/functions/hook/policy/acct')).status).toBe(204);
    expect(await callRest(p, 'GET', '/2015-03-31/functions/hook/policy')).toMatchObject({ status: 404, error: 'ResourceNotFoundException', message: 'The resource you requested does not exist.' });
    expect(events.filter('lambda.permission.added').map((e) => e.sid)).toEqual(['apigw', 'acct']);
  });

  it('answers the model constraints with ValidationException and the service checks with InvalidParameterValueException', async () => {
    expect(await create(p, 'f', { Runtime: 'java21' })).toMatchObject({ status: 400, error: 'InvalidParameterValueException', message: expect.stringContaining('The runtime parameter of java21 is not supported') });
    expect(await create(p, 'f', { Runtime: 'nodejs12.x' })).toMatchObject({
      error: 'InvalidParameterValueException',
      message: 'The runtime parameter of nodejs12.x is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.',
    });
    expect((await create(p, 'f', { Runtime: 'node99' })).message).toMatch(/^1 validation error detected: Value 'node99' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: \[nodejs, /);
    const two = await create(p, 'f', { Timeout: 901, MemorySize: 64 });
    expect(two).toMatchObject({
      error: 'ValidationException',
      message:
        "2 validation errors detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900; Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128",
    });
    expect((await create(p, 'f', { Role: 'lambda-exec' })).message).toContain("Value 'lambda-exec' at 'role' failed to satisfy constraint");
    expect((await create(p, 'bad name')).error).toBe('ValidationException');
    expect((await create(p, 'f', { Handler: undefined })).message).toBe('Runtime and Handler are mandatory parameters for functions created with deployment packages.');
    expect(await create(p, 'f', {}, Buffer.from('this is not a zip'))).toMatchObject({ error: 'InvalidParameterValueException', message: 'Could not unzip uploaded file. Please check your file, then try to upload again.' });
    expect((await create(p, 'f', { Environment: { Variables: { AWS_REGION: 'x' } } })).message).toContain('Reserved keys used in this request: AWS_REGION');
    expect((await create(p, 'f', { Architectures: ['arm'] })).message).toContain("Value '[arm]' at 'architectures'");
    roles = [ROLE];
    expect(await create(p, 'f', { Role: `arn:aws:iam::${ACCOUNT}:role/missing` })).toMatchObject({ error: 'InvalidParameterValueException', message: 'The role defined for the function cannot be assumed by Lambda.' });
    expect(store.listFunctions()).toEqual([]);
    expect((await create(p, 'f')).status).toBe(201);
    expect(await create(p, 'f')).toMatchObject({ status: 409, error: 'ResourceConflictException', message: 'Function already exist: f' });
    expect(await callRest(p, 'GET', '/2015-03-31/functions/nope')).toMatchObject({ status: 404, error: 'ResourceNotFoundException', message: `Function not found: ${ARN('nope')}` });
    expect((await callRest(p, 'GET', `/2015-03-31/functions/${ARN('f')}:3/configuration`)).message).toBe(`Function not found: ${ARN('f')}:3`);
    expect((await callRest(p, 'GET', `/2015-03-31/functions/${ARN('f')}:3/configuration?Qualifier=4`)).message).toBe('The derived qualifier from the function name does not match the specified qualifier.');
  });

  it('answers Invoke with Event (202), DryRun (204), a function error, a log tail, and refuses payloads that are not JSON', async () => {
    await create(p, 'w');
    await active('w');
    const ev = await callRest(p, 'POST', '/2015-03-31/functions/w/invocations', { x: 1 }, { 'x-amz-invocation-type': 'Event' });
    expect(ev.status).toBe(202);
    await events.waitFor((e) => e.type === 'lambda.invoke' && e.invocationType === 'Event');
    const dry = await callRest(p, 'POST', '/2015-03-31/functions/w/invocations', {}, { 'x-amz-invocation-type': 'DryRun' });
    expect(dry.status).toBe(204);
    expect(runner.calls.length).toBe(1);
    const failed = await callRest(p, 'POST', '/2015-03-31/functions/w/invocations', { fail: 'boom' }, { 'x-amz-log-type': 'Tail' });
    expect(failed.status).toBe(200);
    expect(failed.headers['x-amz-function-error']).toBe('Unhandled');
    expect(JSON.parse(failed.body.toString())).toMatchObject({ errorType: 'Error', errorMessage: 'boom' });
    expect(Buffer.from(failed.headers['x-amz-log-result']!, 'base64').toString()).toContain('echo w');
    expect(events.filter('lambda.invoke').at(-1)).toMatchObject({ error: 'Unhandled' });
    expect(await callRest(p, 'POST', '/2015-03-31/functions/w/invocations', '{not json')).toMatchObject({ status: 400, error: 'InvalidRequestContentException' });
    expect(await callRest(p, 'POST', '/2015-03-31/functions/w/invocations', {}, { 'x-amz-invocation-type': 'Sync' })).toMatchObject({ error: 'ValidationException' });
    expect((await callRest(p, 'DELETE', '/2015-03-31/functions/w')).status).toBe(204);
    expect(retired).toContainEqual({ functionArn: ARN('w') });
    expect((await invoke('w', {})).error).toBe('ResourceNotFoundException');
  });

  it('lists functions at the path CLI v1 sends (no trailing slash) and the one v2 sends, a page at a time', async () => {
    await create(p, 'a');
    await create(p, 'b');
    expect((await callRest(p, 'GET', '/2015-03-31/functions')).body.Functions.map((f: any) => f.FunctionName)).toEqual(['a', 'b']);
    const first = await callRest(p, 'GET', '/2015-03-31/functions/?MaxItems=1');
    expect(first.body.Functions.map((f: any) => f.FunctionName)).toEqual(['a']);
    const second = await callRest(p, 'GET', `/2015-03-31/functions/?MaxItems=1&Marker=${encodeURIComponent(first.body.NextMarker)}`);
    expect(second.body).toEqual({ Functions: [expect.objectContaining({ FunctionName: 'b' })] });
  });

  it('tags a function by ARN', async () => {
    await create(p, 't', { Tags: { a: '1' } });
    expect((await callRest(p, 'POST', `/2017-03-31/tags/${ARN('t')}`, { Tags: { b: '2' } })).status).toBe(204);
    expect((await callRest(p, 'DELETE', `/2017-03-31/tags/${ARN('t')}?tagKeys=a`)).status).toBe(204);
    expect((await callRest(p, 'GET', `/2017-03-31/tags/${ARN('t')}`)).body).toEqual({ Tags: { b: '2' } });
  });
});

describe('function references and policy evaluation', () => {
  it('parses names, partial ARNs, ARNs and integration URIs', () => {
    expect(parseFunctionRef('orders')).toEqual({ name: 'orders' });
    expect(parseFunctionRef('orders:live')).toEqual({ name: 'orders', qualifier: 'live' });
    expect(parseFunctionRef(`${ACCOUNT}:function:orders`)).toEqual({ name: 'orders', account: ACCOUNT });
    expect(parseFunctionRef(`${ARN('orders')}:$LATEST`)).toEqual({ name: 'orders', qualifier: '$LATEST', region: REGION, account: ACCOUNT });
    expect(parseFunctionRef('has space')).toBeUndefined();
    expect(functionArnOfIntegrationUri(`arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${ARN('orders')}:live/invocations`)).toBe(`${ARN('orders')}:live`);
  });

  it('lets a service principal invoke only as a statement says', () => {
    const statement = {
      Sid: 'apigw',
      Effect: 'Allow' as const,
      Principal: { Service: 'apigateway.amazonaws.com' },
      Action: 'lambda:InvokeFunction',
      Resource: ARN('orders'),
      Condition: { ArnLike: { 'AWS:SourceArn': `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123/*/*/orders` } },
    };
    const req = { principal: 'apigateway.amazonaws.com', sourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123/prod/GET/orders`, resource: ARN('orders') };
    expect(evaluatePolicy([statement], req)).toEqual({ allowed: true, sid: 'apigw' });
    expect(evaluatePolicy([{ ...statement, Action: 'lambda:*' }], req).allowed).toBe(true);
    expect(evaluatePolicy([statement], { ...req, sourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:other/prod/GET/orders` })).toMatchObject({ allowed: false, reason: expect.stringContaining('apigw: source ARN condition ArnLike') });
    expect(evaluatePolicy([statement], { ...req, principal: 'events.amazonaws.com' }).allowed).toBe(false);
    expect(evaluatePolicy([statement], { ...req, resource: `${ARN('orders')}:live` }).allowed).toBe(false);
    expect(evaluatePolicy([{ ...statement, Action: 'lambda:GetFunction' }], req).allowed).toBe(false);
    expect(evaluatePolicy([], req)).toMatchObject({ allowed: false, reason: expect.stringContaining('add-permission') });
    // ArnLike: wildcards do not cross the region/account separators
    expect(arnLike('arn:aws:execute-api:*:123456789012:*', `arn:aws:execute-api:${REGION}:${ACCOUNT}:x/y`)).toBe(true);
    expect(arnLike('arn:aws:execute-api:us-*:*', `arn:aws:execute-api:${REGION}:${ACCOUNT}:x`)).toBe(false);
    expect(JSON.parse(policyDocument([statement]))).toEqual({ Version: '2012-10-17', Id: 'default', Statement: [statement] });
  });
});
