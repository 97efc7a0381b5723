import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import type { TimelineEvent } from '../harness/events.ts';
import { jwtValidationCases } from '../harness/edge/token-cases.ts';
import { decodeJwt } from '../harness/aws/cognito/jwt.ts';
import type { SeededUserPool } from '../harness/aws/cognito/seed.ts';
import type { HttpApiRequest, HttpApiSpec } from '../harness/manifest/schema.ts';
import { functionArnOfIntegrationUri, parseFunctionRef } from '../harness/aws/lambda/store.ts';
import { readZip, writeZip } from '../harness/aws/lambda/zip.ts';
import { latestGood } from './support.ts';

/**
 * The serverless half: for every HTTP API the manifest's `httpApis` names, what the scripts
 * created (the API, its stage, the routes' JWT authorizer and Lambda integrations) is read back
 * from the control plane; the routes refuse requests without a valid access token of the
 * manifest's pool, answer the manifest's sample requests, keep serving the old code of $LATEST
 * until an update is Successful, and fail with 500 when the function's resource policy does not
 * let API Gateway in.
 */

const APIGW = 'apigateway.amazonaws.com';

let VERSION: string;
let s: Scenario;
let run: ScriptRun;
let tls: Agent;
let httpApiUrl: string;

interface FunctionInfo {
  /** what the integration names: an ARN, with a qualifier for a version or alias */
  ref: string;
  name: string;
  qualifier?: string;
  handler: string;
  logGroup: string;
  environment: Record<string, string>;
}

interface RouteInfo {
  routeKey: string;
  authorizationType: string;
  scopes: string[];
  authorizer?: any;
  integration?: any;
  fn?: FunctionInfo;
}

interface ApiUnderTest {
  name: string;
  spec: HttpApiSpec;
  pool: SeededUserPool;
  clientName: string;
  clientId: string;
  username: string;
  apiId?: string;
  /** the Host an execute-api request carries */
  host?: string;
  stage?: string;
  routes: Map<string, RouteInfo>;
}

let apis: ApiUnderTest[] = [];

// ------------------------------------------------------------------ helpers

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  /** the gateway's record of the request (apigateway.request), found by its request id */
  event?: TimelineEvent;
  fromSeq: number;
}

/** One request to an HTTP API through the harness's execute-api endpoint (by Host). */
async function send(api: ApiUnderTest, method: string, pathAndQuery: string, opts: { authorization?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const prefix = api.stage && api.stage !== '$default' ? `/${api.stage}` : '';
  const headers: Record<string, string> = { host: api.host!, ...(opts.headers ?? {}) };
  if (opts.authorization) headers.authorization = opts.authorization;
  let body: string | undefined;
  if (typeof opts.body === 'string') {
    body = opts.body;
    headers['content-type'] ??= 'text/plain';
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const fromSeq = s.h.events.all().length;
  const r = await request(`${httpApiUrl}${prefix}${pathAndQuery}`, { method: method as 'GET', headers, body, dispatcher: tls, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const text = await r.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const id = r.headers['apigw-requestid'];
  const event = s.h.events.all().find((e) => e.seq >= fromSeq && e.type === 'apigateway.request' && e.requestId === id);
  return { status: r.statusCode, headers: r.headers, text, json, ...(event ? { event } : {}), fromSeq };
}

/** lambda.invoke events API Gateway caused since a timeline position. */
function gatewayInvocations(fromSeq: number, functionName?: string): TimelineEvent[] {
  return s.h.events.all().filter((e) => e.seq >= fromSeq && e.type === 'lambda.invoke' && e.principal === APIGW && (!functionName || e.functionName === functionName));
}

function routeParts(routeKey: string): { method?: string; path?: string } {
  const m = /^(\S+) (\/\S*)$/.exec(routeKey);
  return m ? { method: m[1]!, path: m[2]! } : {};
}

/** The method and path a manifest request sends. */
function target(r: Pick<HttpApiRequest, 'route' | 'method' | 'path'>): { method: string; path: string } {
  const p = routeParts(r.route);
  return { method: r.method ?? p.method!, path: r.path ?? p.path! };
}

function short(v: unknown, n = 60): string {
  const t = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

function accessToken(api: ApiUnderTest): string {
  return s.h.stores.cognito.issueTokens(api.pool.id, api.clientId, api.username).AccessToken;
}

/** A DynamoDB attribute value (the CLI's JSON) as plain JSON. */
function fromDynamo(v: any): unknown {
  if (v && typeof v === 'object') {
    if ('S' in v) return v.S;
    if ('N' in v) return Number(v.N);
    if ('BOOL' in v) return v.BOOL;
    if ('NULL' in v) return null;
    if ('M' in v) return Object.fromEntries(Object.entries(v.M).map(([k, x]) => [k, fromDynamo(x)]));
    if ('L' in v) return (v.L as any[]).map(fromDynamo);
    if ('SS' in v) return v.SS;
    if ('NS' in v) return (v.NS as string[]).map(Number);
    if ('B' in v) return v.B;
  }
  return v;
}

/** Waits (bounded) for a line of a log group that satisfies pred, looking at what is there first. */
async function awaitLogLine(group: string, pred: (message: string) => boolean, timeoutMs: number): Promise<string> {
  const logs = s.h.stores.logs;
  const present = logs.hasLogGroup(group) ? logs.readLogEvents(group).find((e) => pred(e.message)) : undefined;
  if (present) return present.message;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no line of ${group} matched within ${timeoutMs} ms (${logs.hasLogGroup(group) ? `${logs.readLogEvents(group).length} lines there` : 'the group does not exist'})`));
    }, timeoutMs);
    const off = logs.onLogEvent((n) => {
      if (n.logGroupName === group && pred(n.event.message)) {
        clearTimeout(timer);
        off();
        resolve(n.event.message);
      }
    });
  });
}

/**
 * The Lambda REST API on the harness's edge, called in-process: an aws CLI call takes longer
 * than an update stays InProgress at this time scale. The edge reads only the credential
 * scope of the Authorization header, as every emulator does.
 */
async function lambdaApi(method: 'GET' | 'POST', apiPath: string): Promise<{ status: number; requestId: string; json: any; headers: Record<string, unknown> }> {
  const date = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const authorization = `AWS4-HMAC-SHA256 Credential=${s.h.cliEnv.AWS_ACCESS_KEY_ID ?? 'AKIAHARNESS'}/${date}/${s.h.region}/lambda/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`;
  const r = await request(`${s.h.awsEndpoint}${apiPath}`, { method, headers: { authorization, 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}), headersTimeout: 30_000, bodyTimeout: 30_000 });
  const text = await r.body.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, requestId: String(r.headers['x-amzn-requestid'] ?? ''), json, headers: r.headers };
}

/** The function an integration URI names (an ARN, or the invocation URI around one), with its configuration. */
async function functionOf(uri: string): Promise<FunctionInfo> {
  const ref = functionArnOfIntegrationUri(uri) ?? uri;
  const p = parseFunctionRef(ref);
  if (!p) throw new Error(`the integration URI ${uri} names no Lambda function`);
  const cfg = await s.aws(['lambda', 'get-function-configuration', '--function-name', p.name, ...(p.qualifier ? ['--qualifier', p.qualifier] : [])]);
  expect(cfg.code, `get-function-configuration ${ref}: ${cfg.stderr}`).toBe(0);
  return {
    ref,
    name: cfg.json.FunctionName,
    ...(p.qualifier ? { qualifier: p.qualifier } : {}),
    handler: cfg.json.Handler,
    logGroup: cfg.json.LoggingConfig?.LogGroup ?? `/aws/lambda/${cfg.json.FunctionName}`,
    environment: cfg.json.Environment?.Variables ?? {},
  };
}

function qualified(fn: FunctionInfo): string {
  return fn.qualifier ? `${fn.name}:${fn.qualifier}` : fn.name;
}

/** Every route key a manifest API lists: its requests' routes and read-back routes, in order. */
function listedRoutes(api: ApiUnderTest): string[] {
  return [...new Set(api.spec.requests.flatMap((r) => [r.route, ...(r.readBack ? [r.readBack] : [])]))];
}

/** What to send to a listed route: its first sample request, or the route's path with every {parameter} filled. */
function probeOf(api: ApiUnderTest, routeKey: string): { method: string; path: string; body?: unknown; headers?: Record<string, string> } {
  const r = api.spec.requests.find((x) => x.route === routeKey);
  if (r) return { ...target(r), ...(r.body !== undefined ? { body: r.body } : {}), ...(r.headers ? { headers: r.headers } : {}) };
  const p = routeParts(routeKey);
  return { method: p.method ?? 'GET', path: (p.path ?? '/').replace(/\{[^{}]+\}/g, 'harness-probe') };
}

/** Fails with the status, the answer and the gateway's reason (what a user needs to see) unless the status is `want`. */
function expectStatus(r: Answer, want: number, what = 'status'): void {
  if (r.status === want) return;
  const observed = `${r.status} ${r.text.slice(0, 120)}${r.event?.error ? ` — gateway: ${String(r.event.error).slice(0, 400)}` : ''}${r.event?.authError ? ` — authorizer: ${r.event.authError}` : ''}`;
  throw Object.assign(new Error(`${what}: expected ${want}, got ${observed}`), { expected: String(want), actual: observed });
}

/**
 * Independent checks of one test: each is recorded, a failure does not hide the ones after it;
 * `done()` fails the test when any failed.
 */
function checks() {
  const failed: string[] = [];
  return {
    async check(name: string, fn: Parameters<Scenario['check']>[1]): Promise<boolean> {
      try {
        await s.check(name, fn);
        return true;
      } catch {
        failed.push(name);
        return false;
      }
    },
    done(): void {
      expect(failed, 'failed checks (see the report for each)').toEqual([]);
    },
  };
}

/** The sample requests that answered what the manifest expects (the permission test prefers one). */
const answeredAsExpected = new Set<HttpApiRequest>();

function ready(api: ApiUnderTest): boolean {
  return !!api.apiId && !!api.host && !!api.stage;
}

// ------------------------------------------------------------------ the scenario

describe('scenario functions: the HTTP APIs the scripts create, their JWT authorizers and the functions behind them', () => {
  beforeAll(async () => {
    s = await Scenario.start('functions');
    const specs = Object.entries(s.h.manifest.httpApis ?? {});
    apis = specs.map(([name, spec]) => {
      const pool = s.h.seeded.pools.find((p) => p.name === spec.userPool)!;
      const clientName = spec.client ?? pool.clients[0]!.name;
      return {
        name,
        spec,
        pool,
        clientName,
        clientId: pool.clients.find((c) => c.name === clientName)!.clientId,
        username: spec.user ?? pool.users[0]!.username,
        routes: new Map(),
      };
    });
    const server = s.h.serverless.httpApis.server;
    httpApiUrl = server.url;
    const ca = server.certificateFile;
    tls = new Agent({ connect: ca ? { ca: fs.readFileSync(ca) } : {} });
    if (!ca) s.notes.push(`HTTP APIs served as plain HTTP: ${server.tlsUnavailable}`);
    s.notes.push(
      'API Gateway vs ALB: an HTTP API JWT authorizer checks aud (or client_id when there is no aud) against its audience and the route\'s scopes; a Cognito ID token carries aud = the client id and no scope, so it passes where the route requires no scope and gets 403 where it does — unlike ALB jwt-validation rules that check token_use.',
    );
    if (!apis.length) return;
    VERSION = latestGood(s);
    run = await s.deployAll(VERSION);
  });
  afterAll(async () => {
    await tls?.close();
    await s?.finish();
  });

  it('the scripts create each HTTP API with a stage, and every listed route needs the JWT authorizer of the manifest\'s pool', async () => {
    const c = checks();
    if (!apis.length) {
      s.notVerified('the HTTP APIs the scripts create', `${s.h.manifest.file}: no httpApis: nothing says which HTTP APIs to check`);
      return;
    }
    await c.check(`${run.script} ${VERSION} exits 0`, () => {
      expect(run.exitCode, run.output.split('\n').slice(-15).join('\n')).toBe(0);
      return { observed: `exit ${run.exitCode}` };
    });
    for (const api of apis) {
      await c.check(`HTTP API ${api.name} exists (get-apis) with a stage serving it`, async () => {
        const got = await s.aws(['apigatewayv2', 'get-apis']);
        expect(got.code, got.stderr).toBe(0);
        const named = (got.json.Items ?? []).filter((x: any) => x.Name === api.name);
        expect(named.map((x: any) => `${x.Name} ${x.ProtocolType}`), `APIs named ${api.name} (of ${(got.json.Items ?? []).map((x: any) => x.Name).join(', ') || 'none'})`).toEqual([`${api.name} HTTP`]);
        api.apiId = named[0].ApiId;
        api.host = new URL(named[0].ApiEndpoint).host;
        const stages = await s.aws(['apigatewayv2', 'get-stages', '--api-id', api.apiId!]);
        expect(stages.code, stages.stderr).toBe(0);
        const items: any[] = stages.json.Items ?? [];
        const names = items.map((x) => x.StageName as string);
        const stage = api.spec.stage ?? (names.includes('$default') ? '$default' : names.length === 1 ? names[0] : undefined);
        expect(stage, `a stage to send to: the manifest names none, and the API has ${names.length ? names.join(', ') : 'no stage'}`).toBeDefined();
        expect(names, `the stages of ${api.name}`).toContain(stage);
        const st = items.find((x) => x.StageName === stage);
        expect(st.AutoDeploy === true || !!st.DeploymentId, `stage ${stage} has a deployment or deploys automatically`).toBe(true);
        api.stage = stage;
        return {
          expected: `one HTTP API named ${api.name}, stage ${api.spec.stage ?? '$default (or its only stage)'} deployed`,
          observed: `${api.apiId} at ${named[0].ApiEndpoint}; stage ${stage} (${st.AutoDeploy ? 'auto-deploy' : `deployment ${st.DeploymentId}`}) of ${names.join(', ')}`,
        };
      });
      if (!api.apiId) continue;
      const [routes, authorizers, integrations] = await Promise.all([
        s.aws(['apigatewayv2', 'get-routes', '--api-id', api.apiId]),
        s.aws(['apigatewayv2', 'get-authorizers', '--api-id', api.apiId]),
        s.aws(['apigatewayv2', 'get-integrations', '--api-id', api.apiId]),
      ]);
      for (const key of listedRoutes(api)) {
        await c.check(`${api.name}: ${key} needs a JWT authorizer with ${api.pool.name}'s issuer and ${api.clientName} in its audience`, async () => {
          expect(routes.code, routes.stderr).toBe(0);
          const route = (routes.json.Items ?? []).find((x: any) => x.RouteKey === key);
          expect(route, `a route ${key} (the API has ${(routes.json.Items ?? []).map((x: any) => x.RouteKey).join(', ') || 'none'})`).toBeDefined();
          const info: RouteInfo = { routeKey: key, authorizationType: route.AuthorizationType ?? 'NONE', scopes: route.AuthorizationScopes ?? [] };
          api.routes.set(key, info);
          expect(info.authorizationType, `${key}: AuthorizationType`).toBe('JWT');
          const authorizer = (authorizers.json.Items ?? []).find((x: any) => x.AuthorizerId === route.AuthorizerId);
          expect(authorizer, `the authorizer ${route.AuthorizerId} the route names`).toBeDefined();
          info.authorizer = authorizer;
          expect(authorizer.AuthorizerType).toBe('JWT');
          expect(authorizer.JwtConfiguration?.Issuer, 'the authorizer\'s issuer').toBe(api.pool.issuer);
          expect(authorizer.JwtConfiguration?.Audience ?? [], `the authorizer's audience holds ${api.clientName}'s id`).toContain(api.clientId);
          const integrationId = /^integrations\/(.+)$/.exec(route.Target ?? '')?.[1];
          const integration = (integrations.json.Items ?? []).find((x: any) => x.IntegrationId === integrationId);
          expect(integration, `the integration ${route.Target ?? '(no target)'} of ${key}`).toBeDefined();
          info.integration = integration;
          expect(integration.IntegrationType).toBe('AWS_PROXY');
          info.fn = await functionOf(integration.IntegrationUri);
          return {
            expected: `JWT, issuer ${api.pool.issuer}, audience ∋ ${api.clientId}`,
            observed: `JWT ${authorizer.Name} (${(authorizer.IdentitySource ?? []).join(', ')}): issuer …/${authorizer.JwtConfiguration.Issuer.split('/').pop()}, audience [${authorizer.JwtConfiguration.Audience.join(', ')}]${info.scopes.length ? `, scopes ${info.scopes.join(' ')}` : ', no scopes'} → ${integration.IntegrationType} payload ${integration.PayloadFormatVersion} → ${qualified(info.fn)}`,
          };
        });
      }
    }
    c.done();
  });

  it('without a token, and with every bad token, each listed route answers 401 and no integration is reached; an ID token gets what API Gateway gives it', async () => {
    const c = checks();
    for (const api of apis.filter(ready)) {
      const cognito = s.h.stores.cognito;
      const other = cognito.createUserPoolClient(api.pool.id, { clientName: 'harness-other-client' });
      const keys = listedRoutes(api).filter((k) => api.routes.get(k)?.fn);
      for (const key of keys) {
        await c.check(`${api.name}: ${key} without a token → 401, no function runs`, async () => {
          const p = probeOf(api, key);
          const r = await send(api, p.method, p.path, { body: p.body, headers: p.headers });
          expect(r.status, r.text).toBe(401);
          expect(r.json).toEqual({ message: 'Unauthorized' });
          expect(r.event?.authError, 'the gateway\'s record: refused by the authorizer').toBeDefined();
          expect(r.event?.integrationId, 'the gateway\'s record: no integration reached').toBeUndefined();
          expect(gatewayInvocations(r.fromSeq), 'lambda.invoke events').toEqual([]);
          return { expected: '401 {"message":"Unauthorized"}', observed: `${r.status} ${r.text} (www-authenticate: ${r.headers['www-authenticate']})` };
        });
      }
      const cases = jwtValidationCases(cognito, api.pool.id, api.clientId, other.clientId, api.username).filter((c) => c.authorization && c.expect !== 200);
      for (const tc of cases) {
        const isIdToken = (() => {
          try {
            return decodeJwt(tc.authorization!.replace(/^Bearer /, '')).payload.token_use === 'id';
          } catch {
            return false;
          }
        })();
        // API Gateway: an ID token's aud is the client id, so only a route's scopes keep it out (403)
        const expectFor = (key: string): number | 'accepted' => (isIdToken ? (api.routes.get(key)!.scopes.length ? 403 : 'accepted') : 401);
        const wanted = keys.map((k) => `${k} ${expectFor(k)}`);
        await c.check(`${api.name}: ${tc.name} → ${isIdToken ? '403 where the route requires scopes, else the authorizer accepts it (as API Gateway does)' : '401'} on ${keys.length} route(s)`, async () => {
          const seen: string[] = [];
          for (const key of keys) {
            const p = probeOf(api, key);
            const r = await send(api, p.method, p.path, { authorization: tc.authorization, body: p.body, headers: p.headers });
            const want = expectFor(key);
            // the gateway's record of the request says whether it got past the authorizer
            if (want === 'accepted') {
              expect(r.event?.authError, `${key}: the authorizer's reason to refuse`).toBeUndefined();
              expect(r.event?.integrationId, `${key}: the gateway went on to the integration`).toBe(api.routes.get(key)!.integration.IntegrationId);
              seen.push(`${key} accepted (the integration answered ${r.status})`);
            } else {
              expect(r.status, `${key}: ${r.text}`).toBe(want);
              expect(r.event?.authError, `${key}: the authorizer's reason`).toBeDefined();
              expect(r.event?.integrationId, `${key}: no integration reached`).toBeUndefined();
              seen.push(`${key} ${r.status} (${String(r.event?.authError ?? '').split(':')[0]})`);
            }
          }
          return { expected: wanted.join('; '), observed: seen.join('; ') };
        });
      }
    }
    c.done();
  });

  it('each sample request with a valid access token answers what the manifest expects: log lines, read-back and DynamoDB, the stack of a throw', async () => {
    const c = checks();
    for (const api of apis.filter(ready)) {
      for (const [i, req] of api.spec.requests.entries()) {
        const route = api.routes.get(req.route);
        if (!route?.fn) {
          s.notVerified(`${api.name}: requests[${i}] ${req.route} → ${req.expect}`, `the route ${req.route} was not found with a Lambda integration (see the checks above)`);
          continue;
        }
        const fn = route.fn;
        const { method, path: p } = target(req);
        let answer: Answer | undefined;
        let newestBefore: { timestamp: number; seq: number } | undefined;
        await c.check(`${api.name}: ${method} ${p}${req.body !== undefined ? ` ${short(req.body, 40)}` : ''} with a valid access token → ${req.expect}`, async () => {
          if (req.logsOf) {
            const logs = s.h.stores.logs;
            expect(logs.hasLogGroup(req.logsOf), `log group ${req.logsOf} exists (groups: ${logs.listLogGroups().map((g) => g.name).join(', ')})`).toBe(true);
            const all = logs.readLogEvents(req.logsOf);
            expect(all.length, `${req.logsOf} holds lines`).toBeGreaterThan(0);
            newestBefore = all.reduce((a, e) => (e.timestamp > a.timestamp || (e.timestamp === a.timestamp && e.seq > a.seq) ? e : a));
          }
          answer = await send(api, method, p, { authorization: `Bearer ${accessToken(api)}`, body: req.body, headers: req.headers });
          expectStatus(answer, req.expect);
          answeredAsExpected.add(req);
          return { expected: String(req.expect), observed: `${answer.status} ${answer.text.slice(0, 80)}` };
        });
        if (!answer || answer.status !== req.expect) continue;
        const a = answer;

        if (req.logsOf) {
          const group = req.logsOf;
          await c.check(`${api.name}: the answer of ${method} ${p} holds the newest line of ${group} (as the harness's CloudWatch Logs has it)`, () => {
            // the newest line when the request was sent, or any line written since
            const candidates = s.h.stores.logs
              .readLogEvents(group)
              .filter((e) => e.timestamp > newestBefore!.timestamp || (e.timestamp === newestBefore!.timestamp && e.seq >= newestBefore!.seq));
            const hit = candidates.find((e) => a.text.includes(e.message) || a.text.includes(JSON.stringify(e.message).slice(1, -1)));
            expect(hit, `one of the ${candidates.length} newest line(s) of ${group}, e.g. ${short(candidates[0]?.message, 120)}, in the answer`).toBeDefined();
            return { expected: `the newest line of ${group}`, observed: `${short(hit!.message, 90)} (stream ${hit!.logStreamName})` };
          });
        }

        if (req.readBack) {
          const rb = req.readBack;
          const rbParts = routeParts(rb);
          let filled = rbParts.path!;
          await c.check(`${api.name}: ${rb}, {…} from the answer's JSON → 200 with what was sent`, async () => {
            for (const [, raw] of rbParts.path!.matchAll(/\{([^{}]+)\}/g)) {
              const field = raw!.replace(/\+$/, '');
              const v = a.json?.[field];
              expect(v, `the answer's field ${field} (answer: ${a.text.slice(0, 120)})`).toBeDefined();
              filled = filled.replace(`{${raw}}`, encodeURIComponent(String(v)));
            }
            const back = await send(api, rbParts.method!, filled, { authorization: `Bearer ${accessToken(api)}` });
            expectStatus(back, 200, `${rbParts.method} ${filled}`);
            if (req.body !== undefined && typeof req.body === 'object') expect(back.json, 'the read-back holds what was sent').toMatchObject(req.body as object);
            return { expected: `200 ⊇ ${short(req.body, 80)}`, observed: `${rbParts.method} ${filled}: ${back.status} ${back.text.slice(0, 100)}` };
          });
          const ids = [...rbParts.path!.matchAll(/\{([^{}]+)\}/g)].map(([, raw]) => String(a.json?.[raw!.replace(/\+$/, '')]));
          const tables = await s.aws(['dynamodb', 'list-tables']);
          const named = (tables.json?.TableNames ?? []).filter((t: string) => Object.values(fn.environment).includes(t));
          if (!named.length) {
            s.notVerified(`${api.name}: the item is in DynamoDB`, `no environment variable of ${qualified(fn)} names a table the account has (tables: ${(tables.json?.TableNames ?? []).join(', ') || 'none'})`);
          } else {
            await c.check(`${api.name}: the item is in DynamoDB (scan of the table ${qualified(fn)}'s environment names)`, async () => {
              const found: string[] = [];
              for (const table of named) {
                const scan = await s.aws(['dynamodb', 'scan', '--table-name', table]);
                expect(scan.code, scan.stderr).toBe(0);
                const items = (scan.json.Items ?? []).map((it: any) => fromDynamo({ M: it }) as Record<string, unknown>);
                const item = items.find((it: Record<string, unknown>) => ids.every((id) => Object.values(it).some((v) => String(v) === id)));
                if (!item) continue;
                if (req.body !== undefined && typeof req.body === 'object') expect(item, `the item in ${table}`).toMatchObject(req.body as object);
                found.push(`${table}: ${short(item, 120)}`);
              }
              expect(found, `an item carrying ${ids.join(', ')} in ${named.join(', ')}`).not.toEqual([]);
              return { expected: `an item with ${ids.join(', ')} ⊇ ${short(req.body, 60)}`, observed: found.join('; ') };
            });
          }
        }

        if (req.throws) {
          await c.check(`${api.name}: ${method} ${p} ${short(req.body, 30)} makes ${fn.name} throw; its stack reaches ${fn.logGroup} within 10 s`, async () => {
            const inv = gatewayInvocations(a.fromSeq, fn.name);
            expect(inv.length, `lambda.invoke events of ${fn.name} for this request`).toBe(1);
            expect(inv[0]!.error, `the invocation's function error (gateway: ${a.event?.error ?? ''})`).toBe('Unhandled');
            const requestId = String(inv[0]!.requestId);
            const line = await awaitLogLine(fn.logGroup, (m) => m.includes(`\t${requestId}\tERROR\t`) && m.includes('"stack":['), 10_000);
            const err = JSON.parse(line.slice(line.indexOf('{')));
            const module = fn.handler.slice(0, fn.handler.lastIndexOf('.'));
            const frame = (err.stack as string[]).find((f) => new RegExp(`[/\\\\]${module.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.[cm]?js:\\d+`).test(f));
            expect(String(err.stack[0]), 'the stack starts with the error').toContain(err.errorType);
            expect(frame, `a frame in the handler's file ${module}.*js (stack: ${(err.stack as string[]).slice(0, 4).join(' | ')})`).toBeDefined();
            return { expected: `ERROR Invoke Error with a stack through ${module}.*js`, observed: `${err.errorType}: ${err.errorMessage} — ${frame!.trim()}` };
          });
        }
      }
    }
    c.done();
  });

  it('after update-function-code, invocations of $LATEST switch to the new code only once LastUpdateStatus is Successful', async () => {
    const api = apis.find((x) => ready(x) && x.routes.get(x.spec.requests[0]!.route)?.fn);
    if (!api) {
      s.notVerified('$LATEST switches code only once the update is Successful', 'no listed route with a Lambda function was found');
      return;
    }
    const first = api.spec.requests[0]!;
    const fn = api.routes.get(first.route)!.fn!;
    const name = fn.name;
    const dir = path.join(s.h.runDir, 'functions-scenario');
    fs.mkdirSync(dir, { recursive: true });
    let v1 = '';
    let v2 = '';
    let v2File = '';
    await s.check(`${name} (behind ${first.route}): get-function gives its package as a file:// URL; v2 is that package plus one file`, async () => {
      const got = await s.aws(['lambda', 'get-function', '--function-name', name]);
      expect(got.code, got.stderr).toBe(0);
      expect(got.json.Configuration.LastUpdateStatus).toBe('Successful');
      const location: string = got.json.Code.Location;
      expect(location, 'Code.Location').toMatch(/^file:\/\//);
      v1 = got.json.Configuration.CodeSha256;
      const zip = fs.readFileSync(fileURLToPath(location));
      expect(createHash('sha256').update(zip).digest('base64'), 'the package at Code.Location is the one CodeSha256 names').toBe(v1);
      const entries = readZip(zip);
      const next = writeZip([
        ...entries.filter((e) => !e.isDirectory).map((e) => ({ name: e.name, data: e.data, ...(e.mode !== undefined ? { mode: e.mode } : {}) })),
        { name: 'harness-v2.txt', data: `v2 of ${name}, made by the functions scenario of run ${s.h.runId}\n` },
      ]);
      v2 = createHash('sha256').update(next).digest('base64');
      v2File = path.join(dir, `${name}-v2.zip`);
      fs.writeFileSync(v2File, next);
      return { observed: `v1 ${v1} (${entries.length} entries), v2 ${v2} (+ harness-v2.txt)` };
    });

    const ranSha = (requestId: string) => s.h.events.all().find((e) => e.type === 'lambda.invoke' && e.requestId === requestId)?.codeSha256 as string | undefined;
    const cliInvoke = async (label: string) => {
      const from = s.h.events.all().length;
      const r = await s.aws(['lambda', 'invoke', '--function-name', name, '--qualifier', '$LATEST', path.join(dir, `${label}.json`)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.ExecutedVersion).toBe('$LATEST');
      const ev = s.h.events.all().filter((e) => e.seq >= from && e.type === 'lambda.invoke' && e.functionName === name);
      expect(ev.length, 'lambda.invoke events of the call').toBe(1);
      return ev[0]!.codeSha256 as string;
    };
    await s.check(`before the update, aws lambda invoke ${name}:$LATEST runs v1`, async () => {
      const sha = await cliInvoke('before');
      expect(sha, 'the CodeSha256 the harness recorded for the invocation').toBe(v1);
      return { expected: v1, observed: sha };
    });

    // invocations of $LATEST through the Lambda API from the moment the update begins, each
    // followed by a read of the configuration: the read before an invocation (or, for the first,
    // the update's InProgress event) and the one after bracket the state it was decided in
    interface Probe {
      before: string;
      beforeSha: string;
      after: string;
      requestId: string;
    }
    const probes: Probe[] = [];
    let onEvent: (e: TimelineEvent) => void = () => {};
    const begun = new Promise<void>((resolve) => {
      onEvent = (e) => {
        if (e.type === 'lambda.function.updated' && e.functionName === name && e.what === 'code' && e.status === 'InProgress') resolve();
      };
      s.h.events.on('event', onEvent);
    });
    let stop = false;
    const pump = begun.then(async () => {
      let last = { status: 'InProgress', sha: v2 };
      const settledCount = () => probes.filter((x) => x.before === 'Successful' && x.beforeSha === v2).length;
      while (!stop && settledCount() < 3 && probes.length < 60) {
        const inv = await lambdaApi('POST', `/2015-03-31/functions/${encodeURIComponent(name)}/invocations?Qualifier=%24LATEST`);
        const after = await lambdaApi('GET', `/2015-03-31/functions/${encodeURIComponent(name)}/configuration`);
        probes.push({ before: last.status, beforeSha: last.sha, after: after.json?.LastUpdateStatus, requestId: inv.requestId });
        last = { status: after.json?.LastUpdateStatus, sha: after.json?.CodeSha256 };
      }
    });
    try {
      await s.check(`aws lambda update-function-code ${name} (v2) answers LastUpdateStatus InProgress and the new CodeSha256`, async () => {
        const up = await s.aws(['lambda', 'update-function-code', '--function-name', name, '--zip-file', `fileb://${v2File}`]);
        expect(up.code, up.stderr).toBe(0);
        expect(up.json.CodeSha256).toBe(v2);
        expect(up.json.LastUpdateStatus).toBe('InProgress');
        return { expected: `InProgress ${v2}`, observed: `${up.json.LastUpdateStatus} ${up.json.CodeSha256}` };
      });
      await s.check(`aws lambda wait function-updated-v2 ${name} returns; the configuration says Successful with v2`, async () => {
        const w = await s.aws(['lambda', 'wait', 'function-updated-v2', '--function-name', name]);
        expect(w.code, w.stderr).toBe(0);
        const cfg = await s.aws(['lambda', 'get-function-configuration', '--function-name', name]);
        expect({ status: cfg.json.LastUpdateStatus, sha: cfg.json.CodeSha256 }).toEqual({ status: 'Successful', sha: v2 });
        return { observed: `${cfg.json.LastUpdateStatus} ${cfg.json.CodeSha256}` };
      });
      await Promise.race([pump, new Promise((_, reject) => setTimeout(() => reject(new Error('the invocations during the update did not finish within 60 s')), 60_000))]);
    } finally {
      stop = true;
      s.h.events.off('event', onEvent);
    }

    const updates = s.h.events.all().filter((e) => e.type === 'lambda.function.updated' && e.functionName === name && e.what === 'code');
    const inProgressAt = updates.find((e) => e.status === 'InProgress' && e.codeSha256 === v2);
    const successfulAt = updates.find((e) => e.status === 'Successful' && e.codeSha256 === v2);
    const windowMs = inProgressAt && successfulAt ? successfulAt.t - inProgressAt.t : undefined;
    // decided while InProgress: a read after it still said InProgress, or it had even finished
    // (its lambda.invoke event) before the Successful event
    const invokeSeq = (requestId: string) => s.h.events.all().find((e) => e.type === 'lambda.invoke' && e.requestId === requestId)?.seq;
    const during = probes.filter((x) => x.after === 'InProgress' || (successfulAt !== undefined && (invokeSeq(x.requestId) ?? Infinity) < successfulAt.seq));
    const settled = probes.filter((x) => x.before === 'Successful' && x.beforeSha === v2);
    if (!during.length) {
      s.notVerified(
        `while ${name}'s update is InProgress, invocations of $LATEST run v1`,
        `the update was InProgress for ${windowMs ?? '?'} ms (3 AWS seconds at time scale ${s.h.clock.timeScale}); none of ${probes.length} invocations finished, or was followed by a read of the configuration, before it was Successful`,
      );
    } else {
      await s.check(`while ${name}'s update is InProgress, invocations of $LATEST run v1`, () => {
        const ran = during.map((x) => ranSha(x.requestId));
        expect(ran, 'the CodeSha256 of each invocation decided while InProgress').toEqual(during.map(() => v1));
        return { expected: `v1 ${v1}`, observed: `${during.length} invocation(s) in the ${windowMs} ms the update was InProgress, all ran ${v1}` };
      });
    }
    await s.check(`once LastUpdateStatus is Successful, invocations of $LATEST run v2`, async () => {
      const ran = settled.map((x) => ranSha(x.requestId));
      expect(settled.length, 'invocations made after a read that said Successful with v2').toBeGreaterThanOrEqual(1);
      expect(ran).toEqual(settled.map(() => v2));
      const sha = await cliInvoke('after');
      expect(sha, 'aws lambda invoke after the waiter').toBe(v2);
      return { expected: `v2 ${v2}`, observed: `${settled.length} API invocation(s) + aws lambda invoke, all ran ${v2}` };
    });
    await s.check(`the timeline: no invocation of ${name} ran v2 before the update was Successful`, () => {
      expect(successfulAt, 'a lambda.function.updated Successful event for v2').toBeDefined();
      const early = s.h.events.all().filter((e) => e.type === 'lambda.invoke' && e.functionName === name && e.codeSha256 === v2 && e.seq < successfulAt!.seq);
      expect(early.map((e) => e.requestId)).toEqual([]);
      const total = s.h.events.all().filter((e) => e.type === 'lambda.invoke' && e.functionName === name && e.seq > (inProgressAt?.seq ?? 0));
      return { observed: `InProgress at seq ${inProgressAt?.seq}, Successful at seq ${successfulAt!.seq} (${windowMs} ms); ${total.length} invocations since, ${total.filter((e) => e.codeSha256 === v1).length} of v1, ${total.filter((e) => e.codeSha256 === v2).length} of v2, none of v2 before Successful` };
    });
    await s.check(`${first.route} still runs what its integration names (${qualified(fn)})`, async () => {
      const q = fn.qualifier && fn.qualifier !== '$LATEST' ? fn.qualifier : undefined;
      const cfg = await s.aws(['lambda', 'get-function-configuration', '--function-name', name, ...(q ? ['--qualifier', q] : [])]);
      expect(cfg.code, cfg.stderr).toBe(0);
      const want: string = cfg.json.CodeSha256;
      const { method, path: p } = target(first);
      const r = await send(api, method, p, { authorization: `Bearer ${accessToken(api)}`, body: first.body, headers: first.headers });
      const inv = gatewayInvocations(r.fromSeq, name);
      expect(inv.length, `the route invoked ${name} (answer ${r.status})`).toBe(1);
      expect(inv[0]!.codeSha256, `${q ? `${q} (version ${cfg.json.Version})` : '$LATEST'}'s code`).toBe(want);
      return { expected: `${q ? `${q} → version ${cfg.json.Version}` : '$LATEST'}: ${want === v2 ? 'v2' : want === v1 ? 'v1' : want}`, observed: `${r.status}, ran ${inv[0]!.codeSha256 === v2 ? 'v2' : inv[0]!.codeSha256 === v1 ? 'v1' : inv[0]!.codeSha256} (version ${inv[0]!.version})` };
    });
  });

  it('a function whose policy does not let API Gateway in gives 500; with the permission back the route answers again', async () => {
    // a 2xx sample request with a Lambda function, one that answered as expected if there is one
    const usable = (x: ApiUnderTest, r: HttpApiRequest) => ready(x) && !r.throws && r.expect >= 200 && r.expect < 300 && !!x.routes.get(r.route)?.fn;
    const candidates = apis.flatMap((x) => x.spec.requests.filter((r) => usable(x, r)).map((r) => ({ api: x, req: r })));
    const pick = candidates.find((x) => answeredAsExpected.has(x.req)) ?? candidates[0];
    if (!pick) {
      s.notVerified('a route whose function lacks the permission answers 500', 'no listed route with a 2xx sample request and a Lambda function was found');
      return;
    }
    const { api, req } = pick;
    const fn = api.routes.get(req.route)!.fn!;
    const q = fn.qualifier ? ['--qualifier', fn.qualifier] : [];
    const { method, path: p } = target(req);
    let statements: any[] = [];
    await s.check(`get-policy ${qualified(fn)} (behind ${req.route}): statements let ${APIGW} invoke it`, async () => {
      const pol = await s.aws(['lambda', 'get-policy', '--function-name', fn.name, ...q]);
      expect(pol.code, pol.stderr).toBe(0);
      statements = (JSON.parse(pol.json.Policy).Statement ?? []).filter((x: any) => x.Principal?.Service === APIGW);
      expect(statements.length, 'statements for API Gateway').toBeGreaterThan(0);
      return { observed: statements.map((x) => `${x.Sid}: ${x.Action} from ${x.Condition?.ArnLike?.['AWS:SourceArn'] ?? 'anywhere'}`).join('; ') };
    });
    if (!statements.length) return;
    try {
      await s.check(`without them (remove-permission ${statements.map((x) => x.Sid).join(', ')}), ${method} ${p} → 500 and Lambda denies the invocation`, async () => {
        for (const st of statements) {
          const rm = await s.aws(['lambda', 'remove-permission', '--function-name', fn.name, ...q, '--statement-id', st.Sid]);
          expect(rm.code, rm.stderr).toBe(0);
        }
        const r = await send(api, method, p, { authorization: `Bearer ${accessToken(api)}`, body: req.body, headers: req.headers });
        expectStatus(r, 500);
        expect(r.json).toEqual({ message: 'Internal Server Error' });
        const denied = s.h.events.all().find((e) => e.seq >= r.fromSeq && e.type === 'lambda.invoke.denied' && e.functionName === fn.name);
        expect(denied, 'a lambda.invoke.denied event').toBeDefined();
        expect(gatewayInvocations(r.fromSeq, fn.name), 'lambda.invoke events').toEqual([]);
        return { expected: '500 {"message":"Internal Server Error"}, the function not run', observed: `${r.status} ${r.text}; gateway: ${String(r.event?.error ?? '').slice(0, 110)}…` };
      });
    } finally {
      await s.check(`with the permission back (add-permission ${statements.map((x) => x.Sid).join(', ')}), ${method} ${p} → ${req.expect} again`, async () => {
        for (const st of statements) {
          const sourceArn = st.Condition?.ArnLike?.['AWS:SourceArn'] ?? st.Condition?.ArnEquals?.['AWS:SourceArn'];
          const sourceAccount = st.Condition?.StringEquals?.['AWS:SourceAccount'];
          const add = await s.aws([
            'lambda',
            'add-permission',
            '--function-name',
            fn.name,
            ...q,
            '--statement-id',
            st.Sid,
            '--action',
            st.Action,
            '--principal',
            APIGW,
            ...(sourceArn ? ['--source-arn', sourceArn] : []),
            ...(sourceAccount ? ['--source-account', sourceAccount] : []),
          ]);
          expect(add.code, add.stderr).toBe(0);
        }
        const r = await send(api, method, p, { authorization: `Bearer ${accessToken(api)}`, body: req.body, headers: req.headers });
        expectStatus(r, req.expect);
        return { observed: `${r.status} ${r.text.slice(0, 80)}` };
      });
    }
  });
});
