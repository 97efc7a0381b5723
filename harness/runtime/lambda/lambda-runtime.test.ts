import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeftoverProcesses } from '../process/leftovers.ts';
import { createLambdaRuntime } from './index.ts';
import type { FunctionSpec, LambdaRuntime } from './types.ts';
import { TEST_ACCOUNT, TEST_REGION, writeFunction } from './testing.ts';

const RUN = `lt-${randomBytes(4).toString('hex')}`;
const REGION = TEST_REGION;
const ACCOUNT = TEST_ACCOUNT;
const base = mkdtempSync(path.join(tmpdir(), 'lambda-runtime-test-'));
const runDir = path.join(base, 'run');

/** every CloudWatch event the runtime appended, per stream */
const streams = new Map<string, { group: string; lines: string[] }>();
const events: { type: string; fields?: Record<string, unknown> }[] = [];
/** the AWS edge stand-in: records what the functions' SDK clients send */
const edgeRequests: { url: string; target?: string; authorization?: string; body: string }[] = [];
let edge: http.Server;
let rt: LambdaRuntime;

beforeAll(async () => {
  edge = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      edgeRequests.push({ url: req.url ?? '', target: req.headers['x-amz-target'] as string, authorization: req.headers.authorization, body });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ TableNames: ['from-the-edge'] }));
    });
  });
  await new Promise<void>((r) => edge.listen(0, '127.0.0.1', () => r()));
  rt = createLambdaRuntime({
    runId: RUN,
    runDir,
    region: REGION,
    account: ACCOUNT,
    awsEndpoint: `http://127.0.0.1:${(edge.address() as AddressInfo).port}`,
    appendLog: (group, stream, message) => {
      const s = streams.get(stream) ?? { group, lines: [] };
      s.lines.push(message);
      streams.set(stream, s);
    },
    scaledMs: (s) => s * 1000,
    events: { append: (type, fields) => events.push({ type, fields }) },
  });
});

afterAll(async () => {
  await rt?.close();
  edge?.close();
  // nothing of the run is left: no process, no scratch dir
  expect((await findLeftoverProcesses((id) => id === RUN)).map((p) => p.cmdline)).toEqual([]);
  expect(existsSync(path.join(runDir, 'lambda-runtime'))).toBe(false);
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
/** a function whose code dir holds exactly `files` */
const fn = (files: Record<string, string>, over: Partial<FunctionSpec> = {}): FunctionSpec => writeFunction(base, `fn${++n}`, files, over);

let req = 0;
const rid = () => `0000${++req}-aaaa-bbbb-cccc-${randomBytes(6).toString('hex')}`;
const invoke = (spec: FunctionSpec, event: unknown = {}, tail = false) => {
  const requestId = rid();
  return rt.invoke(spec, Buffer.from(JSON.stringify(event)), { requestId, tail }).then((o) => ({ ...o, requestId, json: JSON.parse(o.payload.toString('utf8') || 'null') }));
};
const linesOf = (group: string) => [...streams.values()].filter((s) => s.group === group).flatMap((s) => s.lines);
const streamsOf = (group: string) => [...streams.entries()].filter(([, s]) => s.group === group).map(([name]) => name);
const alive = (pid: number | undefined) => {
  try {
    process.kill(pid!, 0);
    return true;
  } catch {
    return false;
  }
};

describe('Lambda runtime (process environments)', () => {
  it('runs an ESM async handler with Lambda context, environment and log format', async () => {
    const spec = fn(
      {
        'index.mjs': `
          console.log('cold init');
          export const handler = async (event, context) => {
            console.log('got', JSON.stringify(event), 'and\\na second line');
            return {
              echo: event,
              requestId: context.awsRequestId,
              name: context.functionName, version: context.functionVersion, memory: context.memoryLimitInMB,
              arn: context.invokedFunctionArn, group: context.logGroupName, stream: context.logStreamName,
              remaining: context.getRemainingTimeInMillis(),
              env: Object.fromEntries(['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
                '_HANDLER', 'LAMBDA_TASK_ROOT', 'TZ', 'MY_SETTING', 'AWS_ACCESS_KEY_ID', 'AWS_ENDPOINT_URL', '_X_AMZN_TRACE_ID'].map((k) => [k, process.env[k]])),
              cwd: process.cwd(), tmp: (await import('node:os')).tmpdir(),
            };
          };`,
      },
      { environment: { MY_SETTING: 'on', AWS_REGION: 'us-east-1', _HANDLER: 'evil.handler' }, timeout: 7 },
    );
    const o = await invoke(spec, { hello: 'world' }, true);
    expect(o.functionError).toBeUndefined();
    const r = o.json;
    expect(r.echo).toEqual({ hello: 'world' });
    expect(r).toMatchObject({ requestId: o.requestId, name: spec.functionName, version: '$LATEST', memory: '256', arn: spec.functionArn, group: spec.logGroup });
    expect(r.stream).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(r.remaining).toBeGreaterThan(5000);
    expect(r.remaining).toBeLessThanOrEqual(7000);
    // the function's own variables, except the ones Lambda reserves
    expect(r.env).toMatchObject({
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
      AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      _HANDLER: 'index.handler',
      LAMBDA_TASK_ROOT: spec.codeDir,
      TZ: ':UTC',
      MY_SETTING: 'on',
    });
    expect(r.env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);
    expect(r.env._X_AMZN_TRACE_ID).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24};/);
    expect(r.cwd).toBe(spec.codeDir);
    expect(r.tmp.startsWith(runDir)).toBe(true);

    const lines = linesOf(spec.logGroup);
    expect(streamsOf(spec.logGroup)).toEqual([r.stream]);
    expect(lines[0]).toMatch(/^INIT_START Runtime Version: nodejs:20/);
    expect(lines).toContainEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z\tundefined\tINFO\tcold init$/));
    const start = lines.indexOf(`START RequestId: ${o.requestId} Version: $LATEST`);
    const end = lines.indexOf(`END RequestId: ${o.requestId}`);
    expect(start).toBeGreaterThan(0);
    // a multi-line console.log is one event, in Lambda's Node format, between START and END
    const logged = lines.findIndex((l) => l.endsWith(`\t${o.requestId}\tINFO\tgot {"hello":"world"} and\na second line`));
    expect(logged).toBeGreaterThan(start);
    expect(end).toBeGreaterThan(logged);
    expect(lines[end + 1]).toMatch(
      new RegExp(`^REPORT RequestId: ${o.requestId}\\tDuration: [\\d.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 256 MB\\tMax Memory Used: \\d+ MB\\tInit Duration: [\\d.]+ ms\\t$`),
    );
    // the tail is the invocation's log, as text
    expect(o.logTail).toContain(`START RequestId: ${o.requestId}`);
    expect(o.logTail).toMatch(/REPORT RequestId: .*Init Duration/);
    expect(o.initDurationMs).toBeGreaterThan(0);
    const started = events.find((e) => e.type === 'lambda.environment.started' && e.fields?.functionName === spec.functionName);
    expect(started?.fields).toMatchObject({ initDurationMs: o.initDurationMs, pid: expect.any(Number) });
  });

  it('reuses a warm environment: module state survives, Init Duration only on the cold start', async () => {
    const spec = fn({ 'index.mjs': `let calls = 0;\nexport const handler = async () => ({ calls: ++calls, pid: process.pid });` });
    const a = await invoke(spec);
    const b = await invoke(spec);
    const c = await invoke(spec);
    expect([a.json.calls, b.json.calls, c.json.calls]).toEqual([1, 2, 3]);
    expect(new Set([a.json.pid, b.json.pid, c.json.pid]).size).toBe(1);
    expect(a.initDurationMs).toBeGreaterThan(0);
    expect(b.initDurationMs).toBeUndefined();
    expect(c.initDurationMs).toBeUndefined();
    const reports = linesOf(spec.logGroup).filter((l) => l.startsWith('REPORT'));
    expect(reports).toHaveLength(3);
    expect(reports.filter((l) => l.includes('Init Duration'))).toHaveLength(1);
    expect(rt.environments().filter((e) => e.functionArn === spec.functionArn)).toEqual([{ functionArn: spec.functionArn, version: '$LATEST', busy: false, pid: a.json.pid }]);
    // new code (another fingerprint) never runs in the old environment
    const next = { ...spec, codeSha256: randomBytes(32).toString('base64') };
    const d = await invoke(next);
    expect(d.json.calls).toBe(1);
    expect(d.initDurationMs).toBeGreaterThan(0);
    expect(alive(a.json.pid)).toBe(false);
  });

  it('starts a second environment for an overlapping invocation', async () => {
    const spec = fn({ 'index.mjs': `export const handler = async (e) => { await new Promise((r) => setTimeout(r, e.ms)); return { pid: process.pid }; };` });
    const [a, b] = await Promise.all([invoke(spec, { ms: 400 }), invoke(spec, { ms: 400 })]);
    expect(a.json.pid).not.toBe(b.json.pid);
    expect(a.initDurationMs).toBeGreaterThan(0);
    expect(b.initDurationMs).toBeGreaterThan(0);
    expect(streamsOf(spec.logGroup)).toHaveLength(2);
    expect(rt.environments().filter((e) => e.functionArn === spec.functionArn)).toHaveLength(2);
    // both are warm now
    const c = await invoke(spec, { ms: 0 });
    expect([a.json.pid, b.json.pid]).toContain(c.json.pid);
    expect(c.initDurationMs).toBeUndefined();
  });

  it('runs CommonJS callback handlers, waiting for the event loop unless told not to', async () => {
    const spec = fn({
      'index.js': `
        exports.handler = function (event, context, callback) {
          setTimeout(() => console.log('timer done'), 300);
          if (event.noWait) context.callbackWaitsForEmptyEventLoop = false;
          callback(null, { style: 'callback', module: typeof module });
        };`,
      'lib/other.cjs': `module.exports.fn = (event, context, callback) => callback(new TypeError('bad input'));`,
    });
    const t0 = Date.now();
    const a = await invoke(spec, {});
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(a.json).toEqual({ style: 'callback', module: 'object' });
    const lines = linesOf(spec.logGroup);
    // the pending timer ran before the invocation ended
    expect(lines.findIndex((l) => l.endsWith('INFO\ttimer done'))).toBeLessThan(lines.indexOf(`END RequestId: ${a.requestId}`));
    const b = await invoke(spec, { noWait: true });
    expect(b.durationMs).toBeLessThan(300);
    expect(b.json.style).toBe('callback');
    const c = await invoke({ ...spec, handler: 'lib/other.fn' });
    expect(c.functionError).toBe('Unhandled');
    expect(c.json).toMatchObject({ errorType: 'TypeError', errorMessage: 'bad input' });
  });

  it('reports a thrown error as Unhandled with its stack in the payload and the log', async () => {
    const spec = fn({ 'index.mjs': `export const handler = async () => { throw new RangeError('boom: out of range'); };` });
    const o = await invoke(spec, {}, true);
    expect(o.functionError).toBe('Unhandled');
    expect(o.json.errorType).toBe('RangeError');
    expect(o.json.errorMessage).toBe('boom: out of range');
    expect(o.json.trace[0]).toBe('RangeError: boom: out of range');
    expect(o.json.trace.join('\n')).toContain(path.join(spec.codeDir, 'index.mjs'));
    const error = linesOf(spec.logGroup).find((l) => l.includes(`\t${o.requestId}\tERROR\tInvoke Error`));
    expect(error).toContain('"errorType":"RangeError"');
    expect(error).toContain('index.mjs:1');
    expect(o.logTail).toContain('Invoke Error');
    // the environment survives a handled failure
    const again = await invoke(spec);
    expect(again.initDurationMs).toBeUndefined();
  });

  it('times out after spec.timeout real seconds and kills the environment', async () => {
    const spec = fn({ 'index.mjs': `export const handler = async () => { console.log('sleeping', process.pid); await new Promise((r) => setTimeout(r, 30_000)); };` }, { timeout: 1 });
    const t0 = Date.now();
    const o = await invoke(spec);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(8000);
    expect(o.functionError).toBe('Unhandled');
    expect(Object.keys(o.json)).toEqual(['errorMessage']);
    expect(o.json.errorMessage).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${o.requestId} Task timed out after 1\\.00 seconds$`));
    const lines = linesOf(spec.logGroup);
    const pid = Number(lines.find((l) => l.includes('INFO\tsleeping'))!.split(' ').pop());
    expect(alive(pid)).toBe(false);
    expect(lines.at(-1)).toMatch(/^REPORT .*\tStatus: timeout\t$/);
    await expect.poll(() => events.some((e) => e.type === 'lambda.environment.stopped' && e.fields?.functionName === spec.functionName && e.fields?.reason === 'timeout')).toBe(true);
    expect(rt.environments().filter((e) => e.functionArn === spec.functionArn)).toEqual([]);
  });

  it('reports a crash as Runtime.ExitError and starts cold afterwards', async () => {
    const spec = fn({ 'index.cjs': `exports.handler = async (e) => { if (e.crash) process.exit(3); return 'fine'; };` });
    const o = await invoke(spec, { crash: true });
    expect(o.functionError).toBe('Unhandled');
    expect(o.json).toEqual({ errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${o.requestId} Error: Runtime exited with error: exit status 3` });
    const next = await invoke(spec, {});
    expect(next.json).toBe('fine');
    expect(next.initDurationMs).toBeGreaterThan(0);
  });

  it('reports init failures as Lambda does', async () => {
    const missing = await invoke(fn({ 'index.mjs': `export const other = 1;` }));
    expect(missing.functionError).toBe('Unhandled');
    expect(missing.json).toMatchObject({ errorType: 'Runtime.HandlerNotFound', errorMessage: 'index.handler is undefined or not exported' });
    const noModule = await invoke(fn({ 'main.mjs': `export const handler = 1;` }));
    expect(noModule.json.errorType).toBe('Runtime.ImportModuleError');
    expect(noModule.json.errorMessage).toMatch(/^Error: Cannot find module 'index'/);
    const syntaxSpec = fn({ 'index.mjs': `export const handler = async () => {{;` });
    const syntax = await invoke(syntaxSpec);
    expect(syntax.json.errorType).toBe('Runtime.UserCodeSyntaxError');
    expect(syntax.json.errorMessage).toMatch(/^SyntaxError: /);
    const lines = linesOf(syntaxSpec.logGroup);
    expect(lines).toContainEqual(expect.stringMatching(/^INIT_REPORT Init Duration: [\d.]+ ms\tPhase: init\tStatus: error\tError Type: Runtime.UserCodeSyntaxError$/));
    expect(lines.at(-1)).toMatch(/Status: error\tError Type: Runtime.UserCodeSyntaxError\t$/);
    const depMissing = await invoke(fn({ 'index.mjs': `import 'left-pad-not-installed';\nexport const handler = async () => 1;` }));
    // an import() of a missing package fails as a plain Error on Lambda's Node runtimes
    expect(depMissing.json).toMatchObject({ errorType: 'Error', errorMessage: expect.stringMatching(/^Cannot find package 'left-pad-not-installed' imported from /) });
    const requireMissing = await invoke(fn({ 'index.js': `require('left-pad-not-installed');\nexports.handler = async () => 1;` }));
    expect(requireMissing.json).toMatchObject({ errorType: 'Runtime.ImportModuleError', errorMessage: expect.stringMatching(/^Error: Cannot find module 'left-pad-not-installed'/) });
  });

  it('resolves the AWS SDK v3 from a zip that ships only its handler (import and require), against the edge', async () => {
    const spec = fn({
      'index.mjs': `
        import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
        import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
        import { createRequire } from 'node:module';
        const required = createRequire(import.meta.url)('@aws-sdk/client-cloudwatch-logs');
        const client = new DynamoDBClient({});
        const doc = DynamoDBDocumentClient.from(client);
        export const handler = async () => {
          const out = await doc.send(new ListTablesCommand({}));
          return { region: await client.config.region(), tables: out.TableNames, logsClient: typeof required.CloudWatchLogsClient };
        };`,
    });
    expect(existsSync(path.join(spec.codeDir, 'node_modules'))).toBe(false);
    const o = await invoke(spec);
    expect(o.functionError, o.payload.toString()).toBeUndefined();
    expect(o.json).toEqual({ region: REGION, tables: ['from-the-edge'], logsClient: 'function' });
    const call = edgeRequests.find((r) => r.target === 'DynamoDB_20120810.ListTables');
    expect(call?.authorization).toMatch(new RegExp(`Credential=ASIA\\w+/\\d{8}/${REGION}/dynamodb/aws4_request`));
    // a CommonJS handler requires it too
    const cjs = await invoke(fn({ 'index.js': `const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');\nexports.handler = async () => typeof DynamoDBClient;` }));
    expect(cjs.json).toBe('function');
    // nothing of the harness's own packages is there, as on Lambda
    const other = await invoke(fn({ 'index.mjs': `import 'zod';\nexport const handler = async () => 1;` }));
    expect(other.json).toMatchObject({ errorType: 'Error', errorMessage: expect.stringContaining("Cannot find package 'zod'") });
    // nothing was written into the code dir
    expect(readdirSync(spec.codeDir)).toEqual(['index.mjs']);
  });

  it("finds packages in the code dir's node_modules, never in a node_modules above it", async () => {
    // a code dir inside a project whose node_modules has a package: on Lambda /var/task has no such parent
    const parent = path.join(base, 'code', 'inside-a-repo');
    mkdirSync(path.join(parent, 'node_modules', 'repo-only'), { recursive: true });
    writeFileSync(path.join(parent, 'node_modules', 'repo-only', 'index.js'), 'module.exports = "from the repo";');
    const pkg = { 'node_modules/own-pkg/index.js': 'module.exports = "bundled";', 'node_modules/own-pkg/package.json': '{"name":"own-pkg","main":"index.js"}' };
    const place = (spec: FunctionSpec) => {
      const codeDir = path.join(parent, spec.functionName);
      rmSync(codeDir, { recursive: true, force: true });
      mkdirSync(path.dirname(codeDir), { recursive: true });
      renameSync(spec.codeDir, codeDir);
      return { ...spec, codeDir };
    };
    const esm = await invoke(place(fn({ ...pkg, 'index.mjs': `import own from 'own-pkg';\nexport const handler = async () => own;` })));
    expect(esm.json).toBe('bundled');
    const cjs = await invoke(place(fn({ ...pkg, 'index.js': `exports.handler = async () => require('own-pkg');` })));
    expect(cjs.json).toBe('bundled');
    const esmAbove = await invoke(place(fn({ 'index.mjs': `import x from 'repo-only';\nexport const handler = async () => x;` })));
    expect(esmAbove.json).toMatchObject({ errorType: 'Error', errorMessage: expect.stringContaining("Cannot find package 'repo-only'") });
    const cjsAbove = await invoke(place(fn({ 'index.js': `exports.handler = async () => require('repo-only');` })));
    expect(cjsAbove.json).toMatchObject({ errorType: 'Error', errorMessage: expect.stringContaining("Cannot find module 'repo-only'") });
  });

  it('runs a python handler (module.function) with its context and errors', async () => {
    const spec = fn(
      {
        'app/main.py': [
          'import json, logging, os',
          'logger = logging.getLogger()',
          'logger.setLevel(logging.INFO)',
          'state = {"calls": 0}',
          'def handler(event, context):',
          '    state["calls"] += 1',
          '    print("event", json.dumps(event))',
          '    logger.info("from logging")',
          '    if event.get("fail"):',
          '        raise ValueError("no good")',
          '    return {"calls": state["calls"], "id": context.aws_request_id, "name": context.function_name,',
          '            "remaining": context.get_remaining_time_in_millis(), "region": os.environ["AWS_REGION"],',
          '            "exec": os.environ["AWS_EXECUTION_ENV"], "cwd": os.getcwd()}',
        ].join('\n'),
      },
      { runtime: 'python3.12', handler: 'app/main.handler' },
    );
    const a = await invoke(spec, { x: 1 });
    expect(a.functionError, a.payload.toString()).toBeUndefined();
    expect(a.json).toMatchObject({ calls: 1, id: a.requestId, name: spec.functionName, region: REGION, exec: 'AWS_Lambda_python3.12', cwd: spec.codeDir });
    expect(a.json.remaining).toBeGreaterThan(5000);
    const b = await invoke(spec, { fail: true });
    expect(b.functionError).toBe('Unhandled');
    expect(b.json).toMatchObject({ errorType: 'ValueError', errorMessage: 'no good', requestId: b.requestId });
    expect(b.json.stackTrace.join('')).toContain('main.py", line 10, in handler');
    expect(b.initDurationMs).toBeUndefined();
    const lines = linesOf(spec.logGroup);
    expect(lines).toContain('event {"x": 1}');
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\[INFO\\]\\t[\\d-]+T[\\d:.]+Z\\t${a.requestId}\\tfrom logging$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^\[ERROR\] ValueError: no good\nTraceback \(most recent call last\):\n {2}File ".*main\.py", line 10/));
    expect(readdirSync(path.join(spec.codeDir, 'app'))).toEqual(['main.py']); // no __pycache__
    const broken = await invoke(fn({ 'lambda_function.py': 'def other(e, c):\n    return 1\n' }, { runtime: 'python3.12', handler: 'lambda_function.lambda_handler' }));
    expect(broken.json).toMatchObject({ errorType: 'Runtime.HandlerNotFound', errorMessage: "Handler 'lambda_handler' missing on module 'lambda_function'" });
  });

  it('retire ends the environments of a function and removes their scratch dirs', async () => {
    const spec = fn({ 'index.mjs': `export const handler = async () => process.pid;` });
    const v1 = { ...spec, version: '1' };
    const [a, b] = await Promise.all([invoke(spec), invoke(v1)]);
    const scratch = path.join(runDir, 'lambda-runtime', 'environments');
    const before = readdirSync(scratch).length;
    await rt.retire(spec.functionArn, '1');
    expect(alive(b.json)).toBe(false);
    expect(alive(a.json)).toBe(true);
    expect(readdirSync(scratch).length).toBe(before - 1);
    await rt.retire(spec.functionArn);
    expect(alive(a.json)).toBe(false);
    expect(rt.environments().filter((e) => e.functionArn === spec.functionArn)).toEqual([]);
    expect(events.filter((e) => e.type === 'lambda.environment.stopped' && e.fields?.functionName === spec.functionName).map((e) => e.fields?.reason)).toEqual(['retired', 'retired']);
  });
});
