import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { Clock } from '../harness/clock.ts';
import { EventLog } from '../harness/events.ts';
import { AwsEdge } from '../harness/aws/server.ts';
import { LogsStore } from '../harness/aws/logs/store.ts';
import { IamStore } from '../harness/aws/iam/store.ts';
import { CognitoStore } from '../harness/aws/cognito/store.ts';
import { writeZip } from '../harness/aws/lambda/zip.ts';
import type { ServerlessContext } from '../harness/aws/serverless.ts';
import type { LoadedManifest } from '../harness/manifest/load.ts';
import { generateSelfSignedCert } from '../harness/edge/tls.ts';
import { rssKb } from '../harness/runtime/lambda/environment.ts';
import { createLambdaRuntime } from '../harness/runtime/lambda/index.ts';
import type { LambdaRuntime } from '../harness/runtime/lambda/types.ts';
import { startLambda } from '../harness/scenario/serverless/lambda.ts';
import { startHttpApis } from '../harness/scenario/serverless/http-apis.ts';
import { median, percentile, type BenchResult } from './types.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/bench-fn`;
const WARM = Number(process.env.BENCH_FUNCTIONS_WARM ?? 200);
const COLD = Number(process.env.BENCH_FUNCTIONS_COLD ?? 10);
const RSS_SAMPLES = 3;

/** The handler every path runs: through API Gateway + Lambda, through Invoke, and in-process behind node:http. */
const HELLO = `export const handler = async (event) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ hello: 'world', path: event.rawPath ?? null }),
});
`;
const SDK = `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
const client = new DynamoDBClient({});
export const handler = async (event) => ({ statusCode: 200, body: JSON.stringify({ sdk: typeof client.send, path: event.rawPath ?? null }) });
`;

/** A plain node:http(s) server that calls handler(event) in-process: no Lambda, no API Gateway (the baseline). */
const DIRECT_SERVER = (handlerUrl: string) => `
import http from 'node:http';
const { handler } = await import(${JSON.stringify(handlerUrl)});
const server = http.createServer(async (req, res) => {
  const q = req.url.indexOf('?');
  const event = { version: '2.0', rawPath: q < 0 ? req.url : req.url.slice(0, q), rawQueryString: q < 0 ? '' : req.url.slice(q + 1), headers: req.headers, requestContext: { http: { method: req.method, path: req.url } } };
  const r = await handler(event);
  res.writeHead(r.statusCode, r.headers);
  res.end(r.body);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

/** restJson1 on the edge routes by the SigV4 credential scope; the edge does not check signatures. */
const auth = (service: string) => `AWS4-HMAC-SHA256 Credential=AKIAHARNESSBENCH0000/20260101/${REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`;

async function waitForLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`exited ${code} before answering`)));
  });
}

const pct = (xs: number[]) => ({ p50: median(xs), p95: percentile(xs, 95) });
const ms = (x: number) => `${x.toFixed(2)} ms`;

/**
 * Issue 13: a request through an HTTP API (HTTPS, route, AWS_PROXY payload 2.0, Lambda's
 * resource policy, a Node environment of runtime/lambda) against the same handler code called
 * in-process behind a plain node:http server, same client, same run, interleaved; warm and
 * cold; Lambda's Invoke on the edge for reference; RSS of an idle environment against a bare
 * idle node process.
 */
export async function run(): Promise<BenchResult[]> {
  const load0 = os.loadavg();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'functions-bench-'));
  const clock = new Clock(0.02);
  const events = new EventLog(() => Date.now());
  const stores = { account: ACCOUNT, region: REGION, now: () => new Date(), events };
  const logs = new LogsStore(stores);
  const iam = new IamStore(stores);
  const cognito = new CognitoStore(stores);
  const edge = new AwsEdge({ account: ACCOUNT, defaultRegion: REGION, events, providers: [] });
  const awsEndpoint = await edge.start();
  const ctx: ServerlessContext = {
    runId: `bench-${randomBytes(3).toString('hex')}`,
    runDir: path.join(base, 'run'),
    account: ACCOUNT,
    region: REGION,
    awsEndpoint,
    clock,
    events,
    logs,
    cognito,
    iam,
    manifest: {} as LoadedManifest,
    runtime: 'process',
    log: (l) => process.stderr.write(`${l}\n`),
  };
  // the real runtime, with each invoke() timed: how much of a request is the environment's round trip
  let measuring: string | undefined;
  const inRuntime: Record<string, number[]> = {};
  const lambda = await startLambda(ctx, {
    createRuntime: (deps) => {
      const rt = createLambdaRuntime(deps);
      const timed: LambdaRuntime = {
        name: rt.name,
        async invoke(spec, payload, opts) {
          const label = measuring;
          const t0 = performance.now();
          try {
            return await rt.invoke(spec, payload, opts);
          } finally {
            if (label) (inRuntime[label] ??= []).push(performance.now() - t0);
          }
        },
        retire: (arn, version) => rt.retire(arn, version),
        environments: () => rt.environments(),
        close: () => rt.close(),
      };
      return timed;
    },
  });
  const apis = await startHttpApis(ctx, lambda.invoker);
  for (const p of [...lambda.providers, ...apis.providers]) edge.register(p);
  const runtime = lambda.runtime;
  if (!runtime) throw new Error(`no Lambda runtime: ${lambda.summary}`);

  const directCert = generateSelfSignedCert(path.join(base, 'direct'), []);
  if ('error' in directCert) throw new Error(`openssl: ${directCert.error}`);
  const agent = new Agent({ connect: { ca: [fs.readFileSync(apis.server.certificateFile!), directCert.cert] }, keepAliveTimeout: 60_000 });
  const children: ChildProcess[] = [];
  const servers: http.Server[] = [];

  /** One call to the edge's restJson1 API; throws on an error answer. */
  const aws = async (service: string, method: string, p: string, body?: unknown) => {
    const r = await request(`${awsEndpoint}${p}`, {
      dispatcher: agent,
      method: method as 'GET',
      headers: { authorization: auth(service), 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.body.text();
    if (r.statusCode >= 300) throw new Error(`${method} ${p}: ${r.statusCode} ${text}`);
    return text ? JSON.parse(text) : {};
  };

  try {
    // ---- the functions, through the Lambda API on the edge ----
    const createFunction = async (name: string, code: string) => {
      const active = events.waitFor((e) => e.type === 'lambda.function.state' && e.functionName === name && e.state === 'Active');
      const fn = await aws('lambda', 'POST', '/2015-03-31/functions', {
        FunctionName: name,
        Runtime: 'nodejs20.x',
        Role: ROLE,
        Handler: 'index.handler',
        MemorySize: 512,
        Code: { ZipFile: writeZip([{ name: 'index.mjs', data: code }]).toString('base64') },
      });
      await active;
      return fn.FunctionArn as string;
    };
    const helloArn = await createFunction('bench-hello', HELLO);
    const sdkArn = await createFunction('bench-sdk', SDK);

    // ---- the HTTP API, through the API Gateway v2 API on the edge ----
    const pool = cognito.createUserPool('bench-users');
    const client = cognito.createUserPoolClient(pool.id, { clientName: 'bench' });
    cognito.adminCreateUser(pool.id, 'alice', { email: 'alice@example.com' });
    const token = cognito.issueTokens(pool.id, client.clientId, 'alice').AccessToken;

    const created = await aws('apigateway', 'POST', '/v2/apis', { name: 'bench', protocolType: 'HTTP' });
    const apiId = created.apiId as string;
    const integration = async (arn: string) =>
      (await aws('apigateway', 'POST', `/v2/apis/${apiId}/integrations`, { integrationType: 'AWS_PROXY', integrationUri: arn, payloadFormatVersion: '2.0' })).integrationId as string;
    const helloInt = await integration(helloArn);
    const sdkInt = await integration(sdkArn);
    const authorizer = await aws('apigateway', 'POST', `/v2/apis/${apiId}/authorizers`, {
      authorizerType: 'JWT',
      name: 'cognito',
      identitySource: ['$request.header.Authorization'],
      jwtConfiguration: { issuer: cognito.issuerOf(pool.id), audience: [client.clientId] },
    });
    await aws('apigateway', 'POST', `/v2/apis/${apiId}/routes`, { routeKey: 'GET /hello', target: `integrations/${helloInt}` });
    await aws('apigateway', 'POST', `/v2/apis/${apiId}/routes`, { routeKey: 'GET /hello-jwt', target: `integrations/${helloInt}`, authorizationType: 'JWT', authorizerId: authorizer.authorizerId });
    await aws('apigateway', 'POST', `/v2/apis/${apiId}/routes`, { routeKey: 'GET /sdk', target: `integrations/${sdkInt}` });
    await aws('apigateway', 'POST', `/v2/apis/${apiId}/stages`, { stageName: '$default', autoDeploy: true });
    for (const name of ['bench-hello', 'bench-sdk']) {
      await aws('lambda', 'POST', `/2015-03-31/functions/${name}/policy`, {
        StatementId: 'apigw',
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        SourceArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${apiId}/*/*/*`,
      });
    }

    // ---- the baseline: the same handler file behind node:http (and node:https with a certificate of the same kind) ----
    const handlerFile = path.join(base, 'direct', 'index.mjs');
    fs.writeFileSync(handlerFile, HELLO);
    const { handler } = (await import(pathToFileURL(handlerFile).href)) as { handler: (e: unknown) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }> };
    const direct = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const event = { version: '2.0', rawPath: q < 0 ? url : url.slice(0, q), rawQueryString: q < 0 ? '' : url.slice(q + 1), headers: req.headers, requestContext: { http: { method: req.method, path: url } } };
      const r = await handler(event);
      res.writeHead(r.statusCode, r.headers);
      res.end(r.body);
    };
    const listen = async (s: http.Server) => {
      servers.push(s);
      s.keepAliveTimeout = 60_000;
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      return (s.address() as AddressInfo).port;
    };
    const directHttp = `http://127.0.0.1:${await listen(http.createServer(direct))}`;
    const directHttps = `https://127.0.0.1:${await listen(https.createServer({ key: directCert.key, cert: directCert.cert }, direct))}`;

    const host = `${apiId}.execute-api.${REGION}.amazonaws.com`;
    const get = async (url: string, headers: Record<string, string> = {}) => {
      const t0 = performance.now();
      const r = await request(url, { dispatcher: agent, headers });
      const body = await r.body.text();
      const t = performance.now() - t0;
      if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${body}`);
      return t;
    };
    const viaApi = (p: string, headers: Record<string, string> = {}) => get(`${apis.server.url}${p}`, { host, ...headers });
    const viaInvoke = async (name = 'bench-hello') => {
      const t0 = performance.now();
      const r = await request(`${awsEndpoint}/2015-03-31/functions/${name}/invocations`, {
        dispatcher: agent,
        method: 'POST',
        headers: { authorization: auth('lambda'), 'content-type': 'application/json' },
        body: '{"rawPath":"/invoke"}',
      });
      const body = await r.body.text();
      if (r.statusCode !== 200 || r.headers['x-amz-function-error']) throw new Error(`Invoke: ${r.statusCode} ${body}`);
      return performance.now() - t0;
    };

    // ---- warm, interleaved: each round runs every path once, in a rotating order ----
    const paths: [string, () => Promise<number>][] = [
      ['api', () => viaApi('/hello')],
      ['api-jwt', () => viaApi('/hello-jwt', { authorization: `Bearer ${token}` })],
      ['invoke', () => viaInvoke()],
      ['direct-http', () => get(`${directHttp}/hello`)],
      ['direct-https', () => get(`${directHttps}/hello`)],
    ];
    for (let i = 0; i < 20; i++) for (const [, f] of paths) await f(); // connections, environment, JIT
    const warm: Record<string, number[]> = Object.fromEntries(paths.map(([k]) => [k, []]));
    for (let i = 0; i < WARM; i++) {
      for (let j = 0; j < paths.length; j++) {
        const [k, f] = paths[(i + j) % paths.length]!;
        measuring = k;
        warm[k]!.push(await f());
        measuring = undefined;
      }
    }
    const envs = runtime.environments().filter((e) => e.functionArn === helloArn);

    // ---- cold, interleaved: the first request after the environment was retired, against a
    //      fresh node process serving the same handler (spawn → first answer) ----
    const serverFile = path.join(base, 'direct', 'server.mjs');
    fs.writeFileSync(serverFile, DIRECT_SERVER(pathToFileURL(handlerFile).href));
    const directCold = async () => {
      const t0 = performance.now();
      const child = spawn(process.execPath, [serverFile], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      const port = await waitForLine(child);
      await get(`http://127.0.0.1:${port}/hello`);
      const t = performance.now() - t0;
      child.kill();
      return t;
    };
    const cold = { api: [] as number[], sdk: [] as number[], sdkInvoke: [] as number[], direct: [] as number[] };
    /** cold /sdk answers API Gateway gave up on (503: the integration timeout, floored at 3 s real) */
    const sdkTimeouts: number[] = [];
    for (let i = 0; i < COLD; i++) {
      await runtime.retire(helloArn);
      await runtime.retire(sdkArn);
      cold.api.push(await viaApi('/hello'));
      cold.direct.push(await directCold());
      try {
        cold.sdk.push(await viaApi('/sdk'));
      } catch (e) {
        if (!/: 503 /.test((e as Error).message)) throw e;
        sdkTimeouts.push(i);
      }
      await runtime.retire(sdkArn);
      cold.sdkInvoke.push(await viaInvoke('bench-sdk'));
    }

    // ---- memory: an idle environment (after one invocation) vs a bare idle node process ----
    const settle = () => new Promise((r) => setTimeout(r, 500));
    const rss = { hello: [] as number[], sdk: [] as number[], bare: [] as number[] };
    for (let i = 0; i < RSS_SAMPLES; i++) {
      for (const [k, arn, name] of [['hello', helloArn, 'bench-hello'], ['sdk', sdkArn, 'bench-sdk']] as const) {
        await runtime.retire(arn);
        await viaInvoke(name);
        await settle();
        const env = runtime.environments().filter((e) => e.functionArn === arn);
        if (env.length !== 1 || !env[0]!.pid) throw new Error(`expected one environment with a pid for ${arn}, got ${JSON.stringify(env)}`);
        rss[k].push(rssKb(env[0]!.pid) / 1024);
      }
      const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
      children.push(bare);
      await settle();
      rss.bare.push(rssKb(bare.pid) / 1024);
      bare.kill();
    }
    const load1 = os.loadavg();

    const api = pct(warm.api!);
    const jwt = pct(warm['api-jwt']!);
    const inv = pct(warm.invoke!);
    const rtApi = pct(inRuntime.api ?? []);
    const rtInv = pct(inRuntime.invoke ?? []);
    const dh = pct(warm['direct-http']!);
    const ds = pct(warm['direct-https']!);
    const c = { api: pct(cold.api), sdk: cold.sdk.length ? pct(cold.sdk) : { p50: NaN, p95: NaN }, sdkInvoke: pct(cold.sdkInvoke), direct: pct(cold.direct) };
    const m = { hello: median(rss.hello), sdk: median(rss.sdk), bare: median(rss.bare) };
    const loads = `load avg 1/5/15 min at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}; ${os.cpus().length} cpus`;
    process.stderr.write(`[functions] ${loads}; warm environments of bench-hello: ${envs.length}\n`);

    return [
      { name: `warm GET /hello through the HTTP API (HTTPS, AWS_PROXY 2.0, Lambda), p50 of ${WARM}`, value: api.p50, unit: 'ms', baseline: { name: 'same handler in-process behind node:http, p50', value: dh.p50 }, ratio: api.p50 / dh.p50, note: loads },
      { name: 'the same, p95', value: api.p95, unit: 'ms', baseline: { name: 'node:http p95', value: dh.p95 }, ratio: api.p95 / dh.p95 },
      { name: 'the same p50 against the handler behind node:https (TLS on both sides)', value: api.p50, unit: 'ms', baseline: { name: 'node:https p50', value: ds.p50 }, ratio: api.p50 / ds.p50, note: `node:https p95 ${ms(ds.p95)}` },
      { name: 'warm GET /hello-jwt (JWT authorizer, Cognito access token), p50', value: jwt.p50, unit: 'ms', baseline: { name: 'no authorizer p50', value: api.p50 }, ratio: jwt.p50 / api.p50, note: `p95 ${ms(jwt.p95)}` },
      { name: 'of the warm API request: time inside the Lambda runtime (invoke() → outcome: Runtime API next/response), p50', value: rtApi.p50, unit: 'ms', baseline: { name: 'the whole request p50', value: api.p50 }, ratio: rtApi.p50 / api.p50, note: `p95 ${ms(rtApi.p95)}; ${(inRuntime.api ?? []).length} samples` },
      { name: 'warm Lambda Invoke on the edge (HTTP, RequestResponse), p50', value: inv.p50, unit: 'ms', baseline: { name: 'node:http p50', value: dh.p50 }, ratio: inv.p50 / dh.p50, note: `p95 ${ms(inv.p95)}; of it in the runtime p50 ${ms(rtInv.p50)}` },
      { name: `cold GET /hello through the HTTP API (first request after the environment was retired), p50 of ${COLD}`, value: c.api.p50, unit: 'ms', baseline: { name: 'fresh node process serving the same handler, spawn → first answer, p50', value: c.direct.p50 }, ratio: c.api.p50 / c.direct.p50, note: `p95 ${ms(c.api.p95)}; baseline p95 ${ms(c.direct.p95)}` },
      {
        name: `cold GET /sdk (handler imports @aws-sdk/client-dynamodb at init), p50 of the ${cold.sdk.length} that answered 200`,
        value: c.sdk.p50,
        unit: 'ms',
        baseline: { name: 'cold bare handler p50', value: c.api.p50 },
        ratio: c.sdk.p50 / c.api.p50,
        note: `p95 ${ms(c.sdk.p95)}; ${sdkTimeouts.length} of ${COLD} answered 503 (integration timeout: 30 s AWS scaled, floored at 3 s real)`,
      },
      { name: 'cold Lambda Invoke of the same SDK function on the edge (no gateway timeout), p50', value: c.sdkInvoke.p50, unit: 'ms', baseline: { name: 'cold bare handler through the API p50', value: c.api.p50 }, ratio: c.sdkInvoke.p50 / c.api.p50, note: `p95 ${ms(c.sdkInvoke.p95)}` },
      { name: `RSS of an idle environment, ESM handler importing nothing (median of ${RSS_SAMPLES})`, value: m.hello, unit: 'MiB', baseline: { name: 'bare idle `node -e setInterval`', value: m.bare }, ratio: m.hello / m.bare },
      { name: 'RSS of an idle environment, ESM handler importing @aws-sdk/client-dynamodb', value: m.sdk, unit: 'MiB', baseline: { name: 'bare idle node', value: m.bare }, ratio: m.sdk / m.bare },
    ];
  } finally {
    for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill();
    await agent.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(() => r(undefined)));
    }
    await apis.stop();
    await lambda.stop();
    await edge.stop();
    clock.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}
