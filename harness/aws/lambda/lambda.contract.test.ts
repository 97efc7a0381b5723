import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventLog } from '../../events.ts';
import { findAwsClis, runAws, type AwsCli } from '../../scenario/aws-cli.ts';
import { AwsEdge } from '../server.ts';
import { TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { LambdaStore } from './store.ts';
import { createLambdaProvider } from './provider.ts';
import { echoRunner, nodePackage } from './testing.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[lambda contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

const ROLE = `arn:aws:iam::${TEST_ACCOUNT}:role/lambda-exec`;
const ARN = (name: string) => `arn:aws:lambda:${TEST_REGION}:${TEST_ACCOUNT}:function:${name}`;

/**
 * The Lambda API on a real edge, driven by the aws CLI. The lifecycle's transitions (Pending →
 * Active, InProgress → Successful) are held until the test releases them, so a waiter is seen
 * polling the in-between state first however slow the CLI starts.
 */
async function lambdaEdge() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-contract-'));
  const held: (() => void)[] = [];
  const timers = {
    after(_awsSeconds: number, fn: () => void) {
      held.push(fn);
      return () => {
        const i = held.indexOf(fn);
        if (i >= 0) held.splice(i, 1);
      };
    },
  };
  const events = new EventLog();
  const store = new LambdaStore({ account: TEST_ACCOUNT, region: TEST_REGION, codeRoot: path.join(dir, 'lambda'), timers, events });
  const runner = echoRunner();
  const edge = new AwsEdge({ account: TEST_ACCOUNT, defaultRegion: TEST_REGION, providers: [createLambdaProvider(store, { runner, events })], port: 0, events });
  const url = await edge.start();
  return {
    dir,
    url,
    store,
    events,
    runner,
    /** lets the held transitions happen */
    release: () => held.splice(0).forEach((fn) => fn()),
    async stop() {
      store.close();
      await edge.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.each(clis)('Lambda with aws $major ($version)', (cli: AwsCli) => {
  let env: Awaited<ReturnType<typeof lambdaEdge>>;
  beforeAll(async () => {
    env = await lambdaEdge();
    fs.writeFileSync(path.join(env.dir, 'v1.zip'), nodePackage('{ v: 1 }'));
    fs.writeFileSync(path.join(env.dir, 'v2.zip'), nodePackage('{ v: 2 }'));
    // the CLI opens the archive itself: a well-formed one whose entry is corrupt (its CRC-32 wrong) gets to Lambda
    const bad = Buffer.from(nodePackage());
    const crc = bad.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 16;
    bad.writeUInt32LE((bad.readUInt32LE(crc) ^ 0xff) >>> 0, crc);
    fs.writeFileSync(path.join(env.dir, 'bad.zip'), bad);
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, args);
  const ok = async (...args: string[]) => {
    const r = await aws(...args);
    expect(r.code, `aws ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };
  const fails = async (code: string, ...args: string[]) => {
    const r = await aws(...args);
    expect([254, 255], `aws ${args.join(' ')} should fail\n${r.stdout}`).toContain(r.code);
    expect(r.stderr).toContain(`(${code})`);
    return r;
  };
  const binaryFormat = cli.major === 'v2' ? ['--cli-binary-format', 'raw-in-base64-out'] : [];
  const zip = (n: string) => `fileb://${path.join(env.dir, n)}`;

  it('creates, waits for, updates, publishes, aliases, permits, invokes and deletes a function', async () => {
    const fn = `orders-${cli.major}`;
    const created = await ok('lambda', 'create-function', '--function-name', fn, '--runtime', 'nodejs20.x', '--role', ROLE, '--handler', 'index.handler', '--zip-file', zip('v1.zip'), '--environment', 'Variables={TABLE=orders}', '--architectures', 'arm64', '--tags', 'team=payments', '--timeout', '10');
    expect(created.json).toMatchObject({ FunctionName: fn, FunctionArn: ARN(fn), State: 'Pending', Runtime: 'nodejs20.x', Timeout: 10, Architectures: ['arm64'], Environment: { Variables: { TABLE: 'orders' } } });
    // the waiter polls GetFunction while the function is Pending, and returns once it is Active
    const polled = (after: number) => env.events.waitFor((e) => e.type === 'api.call' && e.operation === 'GetFunction' && e.seq > after);
    let mark = env.events.all().length;
    const activeWait = aws('lambda', 'wait', 'function-active-v2', '--function-name', fn);
    await polled(mark);
    env.release();
    expect((await activeWait).code).toBe(0);

    const got = await ok('lambda', 'get-function', '--function-name', fn);
    expect(got.json.Configuration).toMatchObject({ State: 'Active', LastUpdateStatus: 'Successful', CodeSha256: created.json.CodeSha256 });
    expect(got.json.Code.RepositoryType).toBe('S3');
    expect(got.json.Code.Location).toMatch(/^file:\/\/.+\.zip$/);
    expect(got.json.Tags).toEqual({ team: 'payments' });

    const updated = await ok('lambda', 'update-function-code', '--function-name', fn, '--zip-file', zip('v2.zip'));
    expect(updated.json).toMatchObject({ LastUpdateStatus: 'InProgress' });
    const conflict = await fails('ResourceConflictException', 'lambda', 'update-function-configuration', '--function-name', fn, '--memory-size', '256');
    expect(conflict.stderr).toContain(`An update is in progress for resource: ${ARN(fn)}`);
    mark = env.events.all().length;
    const updateWait = aws('lambda', 'wait', 'function-updated-v2', '--function-name', fn);
    await polled(mark);
    env.release();
    expect((await updateWait).code).toBe(0);
    const conf = await ok('lambda', 'get-function-configuration', '--function-name', fn);
    expect(conf.json).toMatchObject({ LastUpdateStatus: 'Successful', CodeSha256: updated.json.CodeSha256 });

    const v1 = await ok('lambda', 'publish-version', '--function-name', fn, '--description', 'first release');
    expect(v1.json).toMatchObject({ Version: '1', FunctionArn: `${ARN(fn)}:1`, Description: 'first release' });
    const versions = await ok('lambda', 'list-versions-by-function', '--function-name', fn);
    expect(versions.json.Versions.map((v: any) => v.Version)).toEqual(['$LATEST', '1']);
    const alias = await ok('lambda', 'create-alias', '--function-name', fn, '--name', 'live', '--function-version', '1');
    expect(alias.json).toMatchObject({ AliasArn: `${ARN(fn)}:live`, FunctionVersion: '1' });
    expect((await ok('lambda', 'get-alias', '--function-name', fn, '--name', 'live')).json.FunctionVersion).toBe('1');
    expect((await ok('lambda', 'list-aliases', '--function-name', fn)).json.Aliases.map((a: any) => a.Name)).toEqual(['live']);

    const source = `arn:aws:execute-api:${TEST_REGION}:${TEST_ACCOUNT}:a1b2c3/*/POST/orders`;
    const perm = await ok('lambda', 'add-permission', '--function-name', fn, '--qualifier', 'live', '--statement-id', 'apigw-invoke', '--action', 'lambda:InvokeFunction', '--principal', 'apigateway.amazonaws.com', '--source-arn', source);
    const statement = { Sid: 'apigw-invoke', Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' }, Action: 'lambda:InvokeFunction', Resource: `${ARN(fn)}:live`, Condition: { ArnLike: { 'AWS:SourceArn': source } } };
    expect(JSON.parse(perm.json.Statement)).toEqual(statement);
    const policy = await ok('lambda', 'get-policy', '--function-name', fn, '--qualifier', 'live');
    expect(JSON.parse(policy.json.Policy)).toEqual({ Version: '2012-10-17', Id: 'default', Statement: [statement] });
    await fails('ResourceConflictException', 'lambda', 'add-permission', '--function-name', fn, '--qualifier', 'live', '--statement-id', 'apigw-invoke', '--action', 'lambda:InvokeFunction', '--principal', 'apigateway.amazonaws.com');
    await fails('ResourceNotFoundException', 'lambda', 'get-policy', '--function-name', fn);

    const out = path.join(env.dir, `out-${cli.major}.json`);
    const inv = await ok('lambda', 'invoke', '--function-name', fn, '--qualifier', 'live', '--payload', '{"order":42}', '--log-type', 'Tail', ...binaryFormat, out);
    expect(inv.json).toMatchObject({ StatusCode: 200, ExecutedVersion: '1' });
    expect(inv.json.FunctionError).toBeUndefined();
    expect(Buffer.from(inv.json.LogResult, 'base64').toString()).toContain(`echo ${fn}`);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual({ echo: { order: 42 }, version: '1', codeSha256: updated.json.CodeSha256 });
    expect(env.runner.calls.at(-1)!.spec).toMatchObject({ functionName: fn, version: '1', environment: { TABLE: 'orders' }, architecture: 'arm64', timeout: 10 });
    expect(env.events.filter('lambda.invoke').at(-1)).toMatchObject({ functionName: fn, version: '1', requestId: env.runner.calls.at(-1)!.requestId });

    const failed = await ok('lambda', 'invoke', '--function-name', fn, '--payload', '{"fail":"card declined"}', ...binaryFormat, out);
    expect(failed.json).toMatchObject({ StatusCode: 200, FunctionError: 'Unhandled', ExecutedVersion: '$LATEST' });
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ errorMessage: 'card declined' });
    const async = await ok('lambda', 'invoke', '--function-name', fn, '--invocation-type', 'Event', '--payload', '{}', ...binaryFormat, out);
    expect(async.json.StatusCode).toBe(202);
    const dry = await ok('lambda', 'invoke', '--function-name', fn, '--invocation-type', 'DryRun', out);
    expect(dry.json.StatusCode).toBe(204);

    const listed = await ok('lambda', 'list-functions');
    expect(listed.json.Functions.map((f: any) => f.FunctionName)).toContain(fn);
    expect((await ok('lambda', 'list-tags', '--resource', ARN(fn))).json.Tags).toEqual({ team: 'payments' });

    await ok('lambda', 'delete-function', '--function-name', fn);
    const gone = await fails('ResourceNotFoundException', 'lambda', 'get-function', '--function-name', fn);
    expect(gone.stderr).toContain(`Function not found: ${ARN(fn)}`);
  }, 300_000);

  it('names the errors Lambda names', async () => {
    const fn = `errors-${cli.major}`;
    const base = ['lambda', 'create-function', '--role', ROLE, '--handler', 'index.handler'];
    const runtime = await fails('InvalidParameterValueException', ...base, '--function-name', fn, '--runtime', 'nodejs12.x', '--zip-file', zip('v1.zip'));
    expect(runtime.stderr).toContain('The runtime parameter of nodejs12.x is no longer supported for creating or updating AWS Lambda functions.');
    const badZip = await fails('InvalidParameterValueException', ...base, '--function-name', fn, '--runtime', 'python3.12', '--zip-file', zip('bad.zip'));
    expect(badZip.stderr).toContain('Could not unzip uploaded file.');
    await fails('ValidationException', ...base, '--function-name', fn, '--runtime', 'python3.12', '--zip-file', zip('v1.zip'), '--timeout', '901');
    await ok(...base, '--function-name', fn, '--runtime', 'python3.12', '--zip-file', zip('v1.zip'));
    const dup = await fails('ResourceConflictException', ...base, '--function-name', fn, '--runtime', 'python3.12', '--zip-file', zip('v1.zip'));
    expect(dup.stderr).toContain(`Function already exist: ${fn}`);
    const pending = await fails('ResourceConflictException', 'lambda', 'invoke', '--function-name', fn, path.join(env.dir, 'pending.json'));
    expect(pending.stderr).toContain('The function is currently in the following state: Pending');
    await fails('ResourceNotFoundException', 'lambda', 'get-function-configuration', '--function-name', fn, '--qualifier', '7');
    await fails('ResourceNotFoundException', 'lambda', 'get-alias', '--function-name', fn, '--name', 'nope');
    await ok('lambda', 'delete-function', '--function-name', fn);
  }, 180_000);
});
