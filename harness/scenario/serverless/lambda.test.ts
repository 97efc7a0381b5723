import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Clock } from '../../clock.ts';
import { EventLog } from '../../events.ts';
import { LogsStore } from '../../aws/logs/store.ts';
import { IamStore } from '../../aws/iam/store.ts';
import type { ServerlessContext } from '../../aws/serverless.ts';
import type { RestJsonProvider } from '../../aws/protocol/rest.ts';
import type { LambdaRuntime, LambdaRuntimeDeps } from '../../runtime/lambda/types.ts';
import { callRest, nodePackage } from '../../aws/lambda/testing.ts';
import { handlerIsEsm } from '../../runtime/lambda/index.ts';
import { loadLambdaRuntimeFactory, startLambda, type StartedLambda } from './lambda.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/fn-role`;

/** A run's context for startLambda: fresh stores, no Cognito or manifest (Lambda reads neither). */
function contextFor(runDir: string, over: Partial<ServerlessContext> = {}): ServerlessContext {
  return {
    runId: 'eh00000000',
    runDir,
    account: ACCOUNT,
    region: REGION,
    awsEndpoint: 'http://127.0.0.1:4566',
    clock: new Clock(0.001),
    events: new EventLog(),
    logs: new LogsStore({ account: ACCOUNT, region: REGION }),
    iam: new IamStore({ account: ACCOUNT }),
    cognito: {} as ServerlessContext['cognito'],
    manifest: {} as ServerlessContext['manifest'],
    runtime: 'process',
    log: () => {},
    ...over,
  };
}
const ARN = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`;
const integration = (arn: string) => `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn}/invocations`;
const API_SOURCE = `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123/prod/POST/orders`;

/** A LambdaRuntime that echoes the payload and records what the control plane asked of it. */
function echoRuntime() {
  const rt = {
    deps: undefined as LambdaRuntimeDeps | undefined,
    retired: [] as { functionArn: string; version?: string }[],
    closed: false,
    runtime: {
      name: 'echo',
      async invoke(spec, payload, opts) {
        rt.deps!.appendLog(spec.logGroup, 'stream', `invoked ${opts.requestId}`, Date.now());
        return { payload: Buffer.from(JSON.stringify({ echo: JSON.parse(payload.toString()), version: spec.version })), durationMs: 1 };
      },
      async retire(functionArn, version) {
        rt.retired.push({ functionArn, ...(version ? { version } : {}) });
      },
      environments: () => [],
      async close() {
        rt.closed = true;
      },
    } satisfies LambdaRuntime,
  };
  return rt;
}

describe('startLambda', () => {
  let tmp: string;
  let clock: Clock;
  let events: EventLog;
  let logs: LogsStore;
  let iam: IamStore;
  let ctx: ServerlessContext;
  let rt: ReturnType<typeof echoRuntime>;
  let lambda: StartedLambda;
  let p: RestJsonProvider;

  beforeEach(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'start-lambda-'));
    clock = new Clock(0.001);
    events = new EventLog();
    logs = new LogsStore({ account: ACCOUNT, region: REGION });
    iam = new IamStore({ account: ACCOUNT });
    ctx = contextFor(tmp, { clock, events, logs, iam });
    rt = echoRuntime();
    lambda = await startLambda(ctx, {
      createRuntime: (deps) => {
        rt.deps = deps;
        return rt.runtime;
      },
    });
    p = lambda.providers[0] as RestJsonProvider;
  });
  afterEach(async () => {
    await lambda.stop();
    clock.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function activeFunction(name: string) {
    const c = await callRest(p, 'POST', '/2015-03-31/functions', { FunctionName: name, Runtime: 'python3.12', Role: ROLE, Handler: 'app.handler', Code: { ZipFile: nodePackage().toString('base64') } });
    expect(c.status, c.message).toBe(201);
    await events.waitFor((e) => e.type === 'lambda.function.state' && e.functionName === name && e.state === 'Active');
  }

  it('a `.js` handler is CommonJS even when the run dir sits in a "type": "module" repo (no package scope above /var/task on Lambda)', () => {
    // this repo's own package.json says "type": "module", and run dirs usually sit inside a repo
    fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ type: 'module' }));
    const codeDir = path.join(tmp, 'lambda', 'f', 'abc');
    fs.mkdirSync(codeDir, { recursive: true });
    fs.writeFileSync(path.join(codeDir, 'handler.js'), 'exports.handler = (e, c, cb) => cb(null, e);\n');
    expect(handlerIsEsm(codeDir, 'handler.handler')).toBe(false);
    // a package that says it is ESM still is
    fs.writeFileSync(path.join(codeDir, 'package.json'), JSON.stringify({ type: 'module' }));
    expect(handlerIsEsm(codeDir, 'handler.handler')).toBe(true);
  });

  it('builds the runtime from the run and serves the API on the edge', () => {
    expect(p.serviceName).toBe('lambda');
    expect(rt.deps).toMatchObject({ runId: 'eh00000000', runDir: tmp, region: REGION, account: ACCOUNT, awsEndpoint: 'http://127.0.0.1:4566' });
    expect(rt.deps!.scaledMs(1000)).toBe(1000);
    expect(lambda.summary).toBe('Lambda: functions run in the echo runtime');
  });

  it('lets API Gateway invoke a function only when its resource policy allows the API', async () => {
    await activeFunction('orders');
    const denied = await lambda.invoker.invokeAs('apigateway.amazonaws.com', API_SOURCE, integration(ARN('orders')), Buffer.from('{"a":1}'));
    expect(denied).toMatchObject({ permitted: false, reason: expect.stringContaining(`the resource-based policy of ${ARN('orders')} does not allow apigateway.amazonaws.com`) });
    expect(events.filter('lambda.invoke.denied')).toHaveLength(1);

    await callRest(p, 'POST', '/2015-03-31/functions/orders/policy', {
      StatementId: 'apigw',
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
      SourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123/*/*/orders`,
    });
    const ok = await lambda.invoker.invokeAs('apigateway.amazonaws.com', API_SOURCE, integration(ARN('orders')), Buffer.from('{"a":1}'));
    expect(ok).toEqual({ permitted: true, result: { statusCode: 200, executedVersion: '$LATEST', payload: expect.any(Buffer) } });
    if (ok.permitted) expect(JSON.parse(ok.result.payload.toString())).toEqual({ echo: { a: 1 }, version: '$LATEST' });
    expect(events.filter('lambda.invoke').at(-1)).toMatchObject({ functionName: 'orders', principal: 'apigateway.amazonaws.com' });
    // the runtime's log lines land in CloudWatch Logs
    expect(logs.getLogGroup('/aws/lambda/orders').streams.get('stream')!.events[0]!.message).toMatch(/^invoked /);

    const otherApi = await lambda.invoker.invokeAs('apigateway.amazonaws.com', `arn:aws:execute-api:${REGION}:${ACCOUNT}:zzz999/prod/POST/orders`, 'orders', Buffer.from('{}'));
    expect(otherApi.permitted).toBe(false);
    // a permission on the function does not cover its aliases: the alias needs its own
    await callRest(p, 'POST', '/2015-03-31/functions/orders/versions', {});
    await callRest(p, 'POST', '/2015-03-31/functions/orders/aliases', { Name: 'live', FunctionVersion: '1' });
    const viaAlias = await lambda.invoker.invokeAs('apigateway.amazonaws.com', API_SOURCE, integration(`${ARN('orders')}:live`), Buffer.from('{}'));
    expect(viaAlias).toMatchObject({ permitted: false, reason: expect.stringContaining(`${ARN('orders')}:live`) });
    await callRest(p, 'POST', '/2015-03-31/functions/orders/policy?Qualifier=live', { StatementId: 'apigw', Action: 'lambda:*', Principal: 'apigateway.amazonaws.com' });
    const aliasOk = await lambda.invoker.invokeAs('apigateway.amazonaws.com', API_SOURCE, integration(`${ARN('orders')}:live`), Buffer.from('{}'));
    expect(aliasOk).toMatchObject({ permitted: true, result: { executedVersion: '1' } });

    await expect(lambda.invoker.invokeAs('apigateway.amazonaws.com', API_SOURCE, integration(ARN('missing')), Buffer.from('{}'))).rejects.toMatchObject({ code: 'ResourceNotFoundException' });
  });

  it('retires the environments of old code once an update takes effect, and all of them on deletion', async () => {
    await activeFunction('worker');
    await callRest(p, 'PUT', '/2015-03-31/functions/worker/configuration', { Timeout: 30 });
    await events.waitFor((e) => e.type === 'lambda.function.updated' && e.status === 'Successful');
    expect(rt.retired).toEqual([{ functionArn: ARN('worker'), version: '$LATEST' }]);
    await callRest(p, 'DELETE', '/2015-03-31/functions/worker');
    expect(rt.retired.at(-1)).toEqual({ functionArn: ARN('worker') });
    await lambda.stop();
    expect(rt.closed).toBe(true);
  });

  it("checks the execution role against IAM's roles once the run has any", async () => {
    const missing = await callRest(p, 'POST', '/2015-03-31/functions', { FunctionName: 'f', Runtime: 'nodejs22.x', Role: ROLE, Handler: 'index.handler', Code: { ZipFile: nodePackage().toString('base64') } });
    expect(missing.status).toBe(201); // no roles known: any well-formed ARN
    iam.createRole({ RoleName: 'other' });
    const refused = await callRest(p, 'POST', '/2015-03-31/functions', { FunctionName: 'g', Runtime: 'nodejs22.x', Role: ROLE, Handler: 'index.handler', Code: { ZipFile: nodePackage().toString('base64') } });
    expect(refused).toMatchObject({ error: 'InvalidParameterValueException', message: 'The role defined for the function cannot be assumed by Lambda.' });
    iam.createRole({ RoleName: 'fn-role' });
    expect((await callRest(p, 'POST', '/2015-03-31/functions', { FunctionName: 'g', Runtime: 'nodejs22.x', Role: ROLE, Handler: 'index.handler', Code: { ZipFile: nodePackage().toString('base64') } })).status).toBe(201);
  });
});

describe('the runtime module', () => {
  const file = fileURLToPath(new URL('../../runtime/lambda/index.ts', import.meta.url));
  const present = fs.existsSync(file);

  it('is loaded when this build has it, or named as missing', async () => {
    const loaded = await loadLambdaRuntimeFactory();
    if (present) expect('factory' in loaded && typeof loaded.factory).toBe('function');
    else expect(loaded).toEqual({ missing: expect.stringContaining('no Lambda runtime in this build') });
  });

  it('without one, serves the API and answers Invoke with a ServiceException that says so', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'start-lambda-'));
    const clock = new Clock(0.001);
    const events = new EventLog();
    const lines: string[] = [];
    const ctx = contextFor(tmp, { runId: 'eh00000001', clock, events, log: (l: string) => lines.push(l) });
    const lambda = await startLambda(ctx, { runtimeModule: new URL('./no-such-runtime/index.ts', import.meta.url) });
    try {
      expect(lambda.summary).toContain('API only');
      expect(lines.join('\n')).toContain('no Lambda runtime in this build');
      const p = lambda.providers[0] as RestJsonProvider;
      await callRest(p, 'POST', '/2015-03-31/functions', { FunctionName: 'f', Runtime: 'nodejs20.x', Role: ROLE, Handler: 'index.handler', Code: { ZipFile: nodePackage().toString('base64') } });
      await events.waitFor((e) => e.type === 'lambda.function.state' && e.state === 'Active');
      const r = await callRest(p, 'POST', '/2015-03-31/functions/f/invocations', {});
      expect(r).toMatchObject({ status: 500, error: 'ServiceException', message: expect.stringContaining('no Lambda runtime in this build') });
    } finally {
      await lambda.stop();
      clock.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
