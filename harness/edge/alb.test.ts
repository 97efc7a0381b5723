import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPublicKey, createVerify } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { Clock } from '../clock.ts';
import { ElbStore } from '../aws/elbv2/store.ts';
import { CognitoStore } from '../aws/cognito/store.ts';
import { IdpServer } from './idp-server.ts';
import { AlbFront, conditionsMatch } from './alb.ts';
import { TargetHealthChecker, matcherAccepts } from './health-checker.ts';
import { jwtValidationCases } from './token-cases.ts';

const REGION = 'us-west-1';
const ACCOUNT = '123456789012';
const insecure = new Agent({ connect: { rejectUnauthorized: false } });

function startTarget(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, port: (server.address() as AddressInfo).port })));
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ALB front', () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alb-test-'));
  const clock = new Clock(0.01);
  const elb = new ElbStore({ account: ACCOUNT, region: REGION, scaledMs: (s) => clock.scaledMs(s) });
  const cognito = new CognitoStore({ account: ACCOUNT, region: REGION });
  const idp = new IdpServer(cognito);
  const front = new AlbFront({ elb, cognito, idp, clock, runDir });
  const checker = new TargetHealthChecker({ store: elb, clock });
  let target: { server: http.Server; port: number };
  let seen: http.IncomingHttpHeaders[] = [];
  let healthStatus = 200;
  let pool: ReturnType<CognitoStore['createUserPool']>;
  let client: ReturnType<CognitoStore['createUserPoolClient']>;
  let other: ReturnType<CognitoStore['createUserPoolClient']>;
  let lbArn: string, tgArn: string, listenerArn: string, url: string;

  beforeAll(async () => {
    target = await startTarget((req, res) => {
      if (req.url === '/q/health') {
        res.writeHead(healthStatus);
        return res.end();
      }
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url }));
    });
    await idp.start();
    await front.start();
    checker.start();
    pool = cognito.createUserPool('escher-users');
    cognito.createUserPoolDomain(pool.id, 'escher-auth');
    const lb = elb.createLoadBalancer({ Name: 'escher-alb', Subnets: ['s-1', 's-2'] });
    lbArn = lb.LoadBalancerArn!;
    const tg = elb.createTargetGroup({ Name: 'gw', Protocol: 'HTTP', Port: target.port, VpcId: 'vpc-1', TargetType: 'ip', HealthCheckPath: '/q/health', HealthCheckIntervalSeconds: 5, HealthCheckTimeoutSeconds: 2, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2 });
    tgArn = tg.TargetGroupArn!;
    const l = elb.createListener({ LoadBalancerArn: lbArn, Protocol: 'HTTPS', Port: 443, Certificates: [{ CertificateArn: `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/x` }], DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', MessageBody: 'no route' } }] });
    listenerArn = l.ListenerArn!;
    await front.reconcile();
    url = front.listenerUrl(listenerArn)!;
    client = cognito.createUserPoolClient(pool.id, { clientName: 'alb', generateSecret: true, explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH'], allowedOAuthFlows: ['code'], allowedOAuthScopes: ['openid', 'email'], allowedOAuthFlowsUserPoolClient: true, callbackUrls: [`${url}/oauth2/idpresponse`] });
    other = cognito.createUserPoolClient(pool.id, { clientName: 'other', explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH'] });
    cognito.adminCreateUser(pool.id, 'alice', { email: 'alice@example.com', email_verified: 'true' });
    cognito.adminSetUserPassword(pool.id, 'alice', 'Correct-Horse-1', true);
  });
  afterAll(async () => {
    await checker.stop();
    await front.stop();
    await idp.stop();
    target.server.close();
    clock.close();
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  const get = (p: string, headers: Record<string, string> = {}) => request(`${url}${p}`, { dispatcher: insecure, headers });

  it('serves HTTPS with the self-signed certificate and keeps its key in the run dir', () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(front.tlsUnavailable).toBeUndefined();
    expect((fs.statSync(path.join(runDir, 'alb', 'tls.key')).mode & 0o777).toString(8)).toBe('600');
  });

  it('conditions: path, host, header, method, query, source ip', () => {
    const req = { method: 'GET', path: '/api/x', query: new URLSearchParams('v=2'), headers: { host: 'API.example.com:443', 'x-env': 'Blue' }, sourceIp: '10.0.1.5' };
    expect(conditionsMatch([{ Field: 'path-pattern', Values: ['/api/*'] }], req)).toBe(true);
    expect(conditionsMatch([{ Field: 'path-pattern', Values: ['/API/*'] }], req)).toBe(false);
    expect(conditionsMatch([{ Field: 'host-header', HostHeaderConfig: { Values: ['api.*'] } }], req)).toBe(true);
    expect(conditionsMatch([{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Env', Values: ['blue'] } }], req)).toBe(true);
    expect(conditionsMatch([{ Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['POST'] } }], req)).toBe(false);
    expect(conditionsMatch([{ Field: 'query-string', QueryStringConfig: { Values: [{ Key: 'v', Value: '2' }] } }], req)).toBe(true);
    expect(conditionsMatch([{ Field: 'source-ip', SourceIpConfig: { Values: ['10.0.0.0/16'] } }], req)).toBe(true);
    expect(conditionsMatch([{ Field: 'source-ip', SourceIpConfig: { Values: ['192.168.0.0/16'] } }], req)).toBe(false);
    expect(matcherAccepts('200-299', 204)).toBe(true);
    expect(matcherAccepts('200,202', 201)).toBe(false);
  });

  it('forward: 503 without targets, health checks to healthy, forwarding, fail-open, 502 on a refused target', async () => {
    const rule = elb.createRule({ ListenerArn: listenerArn, Priority: 10, Conditions: [{ Field: 'path-pattern', Values: ['/open/*'] }], Actions: [{ Type: 'forward', TargetGroupArn: tgArn }] });
    expect((await get('/open/x')).statusCode).toBe(503);
    expect((await get('/elsewhere')).statusCode).toBe(404);
    elb.registerTargets(tgArn, [{ Id: '127.0.0.1', Port: target.port }]);
    await until(() => elb.targetHealth(tgArn, '127.0.0.1', target.port).State === 'healthy');
    const r = await get('/open/x?y=1');
    expect(r.statusCode).toBe(200);
    expect(await r.body.json()).toEqual({ path: '/open/x?y=1' });
    expect(seen.at(-1)!['x-forwarded-proto']).toBe('https');
    healthStatus = 500;
    await until(() => elb.targetHealth(tgArn, '127.0.0.1', target.port).State === 'unhealthy');
    expect(elb.targetHealth(tgArn, '127.0.0.1', target.port)).toEqual({ State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch', Description: 'Health checks failed with these codes: [500]' });
    expect((await get('/open/y')).statusCode).toBe(200); // fail open
    healthStatus = 200;
    // a target whose port refuses connections: 502
    const closed = await startTarget(() => {});
    const closedPort = closed.port;
    await new Promise((r) => closed.server.close(r));
    const tg2 = elb.createTargetGroup({ Name: 'dead', Protocol: 'HTTP', Port: closedPort, VpcId: 'vpc-1', TargetType: 'ip' });
    elb.modifyRule(rule.RuleArn!, { Actions: [{ Type: 'forward', TargetGroupArn: tg2.TargetGroupArn }] });
    elb.registerTargets(tg2.TargetGroupArn!, [{ Id: '127.0.0.1' }]);
    expect((await get('/open/z')).statusCode).toBe(502);
    elb.deleteRule(rule.RuleArn!);
  });

  it('forward with ForwardConfig: traffic splits by target-group weight; a weight of 0 gets nothing', async () => {
    const second = await startTarget((req, res) => {
      if (req.url === '/q/health') {
        res.writeHead(200);
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ from: 'second' }));
    });
    try {
      const hc = { Protocol: 'HTTP', VpcId: 'vpc-1', TargetType: 'ip', HealthCheckPath: '/q/health', HealthCheckIntervalSeconds: 5, HealthCheckTimeoutSeconds: 2, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2 };
      const blue = elb.createTargetGroup({ Name: 'blue', Port: target.port, ...hc }).TargetGroupArn!;
      const green = elb.createTargetGroup({ Name: 'green', Port: second.port, ...hc }).TargetGroupArn!;
      const split = (b: number, g: number) => [{ Type: 'forward' as const, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: b }, { TargetGroupArn: green, Weight: g }] } }];
      const rule = elb.createRule({ ListenerArn: listenerArn, Priority: 20, Conditions: [{ Field: 'path-pattern', Values: ['/split/*'] }], Actions: split(3, 1) });
      elb.registerTargets(blue, [{ Id: '127.0.0.1' }]);
      elb.registerTargets(green, [{ Id: '127.0.0.1' }]);
      await until(() => elb.targetHealth(blue, '127.0.0.1', target.port).State === 'healthy' && elb.targetHealth(green, '127.0.0.1', second.port).State === 'healthy');
      const count = async (n: number) => {
        let toGreen = 0;
        for (let i = 0; i < n; i++) {
          const r = await get(`/split/${i}`);
          expect(r.statusCode).toBe(200);
          if (((await r.body.json()) as { from?: string }).from === 'second') toGreen++;
        }
        return toGreen;
      };
      // 3:1 → a quarter to green; 200 draws stay within [25, 75] with probability > 0.9999
      const green31 = await count(200);
      expect(green31).toBeGreaterThanOrEqual(25);
      expect(green31).toBeLessThanOrEqual(75);
      elb.modifyRule(rule.RuleArn!, { Actions: split(100, 0) });
      expect(await count(30)).toBe(0);
      elb.modifyRule(rule.RuleArn!, { Actions: split(0, 100) });
      expect(await count(30)).toBe(30);
      elb.deleteRule(rule.RuleArn!);
    } finally {
      second.server.close();
    }
  });

  it('jwt-validation: only a valid access token of the right client passes; a JWKS that cannot be fetched denies', async () => {
    const rule = elb.createRule({
      ListenerArn: listenerArn,
      Priority: 5,
      Conditions: [{ Field: 'path-pattern', Values: ['/jwt/*'] }],
      Actions: [
        { Type: 'jwt-validation', JwtValidationConfig: { JwksEndpoint: idp.jwksUrl(pool.id), Issuer: cognito.issuerOf(pool.id), AdditionalClaims: [{ Name: 'token_use', Format: 'single-string', Values: ['access'] }, { Name: 'client_id', Format: 'single-string', Values: [client.clientId] }] } },
        { Type: 'forward', TargetGroupArn: tgArn },
      ],
    });
    await until(() => elb.targetHealth(tgArn, '127.0.0.1', target.port).State === 'healthy');
    const cases = jwtValidationCases(cognito, pool.id, client.clientId, other.clientId, 'alice');
    const got: Record<string, number> = {};
    for (const c of cases) {
      seen = [];
      const r = await get('/jwt/q', c.authorization ? { authorization: c.authorization } : {});
      await r.body.dump();
      got[c.name] = r.statusCode;
      if (c.expect === 401) expect(seen, `${c.name} reached the target`).toEqual([]);
    }
    expect(got).toEqual(Object.fromEntries(cases.map((c) => [c.name, c.expect])));
    elb.modifyRule(rule.RuleArn!, { Actions: [{ Type: 'jwt-validation', JwtValidationConfig: { JwksEndpoint: 'http://127.0.0.1:9/jwks.json', Issuer: cognito.issuerOf(pool.id) } }, { Type: 'forward', TargetGroupArn: tgArn }] });
    expect((await get('/jwt/q', { authorization: cases[0]!.authorization! })).statusCode).toBe(401);
    elb.deleteRule(rule.RuleArn!);
  });

  it('authenticate-cognito: deny → 401 (also for a bearer token), authenticate → login flow → session cookie shards → signed claims headers', async () => {
    const auth = (on: 'deny' | 'authenticate') => [
      { Type: 'authenticate-cognito' as const, Order: 1, AuthenticateCognitoConfig: { UserPoolArn: pool.arn, UserPoolClientId: client.clientId, UserPoolDomain: 'escher-auth.auth.us-west-1.amazoncognito.com', OnUnauthenticatedRequest: on } },
      { Type: 'forward' as const, Order: 2, TargetGroupArn: tgArn },
    ];
    const rule = elb.createRule({ ListenerArn: listenerArn, Priority: 1, Conditions: [{ Field: 'path-pattern', Values: ['/*'] }], Actions: auth('deny') });
    seen = [];
    const bearer = cognito.issueTokens(pool.id, client.clientId, 'alice').AccessToken;
    expect((await get('/q/health')).statusCode).toBe(401);
    expect((await get('/q/health', { authorization: `Bearer ${bearer}` })).statusCode).toBe(401);
    expect(seen).toEqual([]);

    elb.modifyRule(rule.RuleArn!, { Actions: auth('authenticate') });
    const first = await get('/api/whoami');
    expect(first.statusCode).toBe(302);
    const authorize = new URL(String(first.headers.location));
    expect(authorize.pathname).toBe('/oauth2/authorize');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${url}/oauth2/idpresponse`);
    const login = await request(authorize.toString(), { method: 'GET' });
    expect(login.statusCode).toBe(302);
    const loginUrl = String(login.headers.location);
    const posted = await request(loginUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=alice&password=Correct-Horse-1' });
    expect(posted.statusCode).toBe(302);
    const cb = await request(String(posted.headers.location), { dispatcher: insecure });
    expect(cb.statusCode).toBe(302);
    expect(cb.headers.location).toBe(`${url}/api/whoami`);
    const setCookies = ([] as string[]).concat(cb.headers['set-cookie'] as string | string[]);
    expect(setCookies[0]).toMatch(/^AWSELBAuthSessionCookie-0=.+; Expires=.+; Path=\/; Secure/);
    const cookie = setCookies.map((c) => c.split(';')[0]).join('; ');
    seen = [];
    const ok = await get('/api/whoami', { cookie });
    expect(ok.statusCode).toBe(200);
    const h = seen[0]!;
    const sub = cognito.user(pool.id, 'alice').sub;
    expect(h['x-amzn-oidc-identity']).toBe(sub);
    expect(String(h['x-amzn-oidc-accesstoken']).split('.')).toHaveLength(3);
    const data = String(h['x-amzn-oidc-data']);
    const [hd, pl, sig] = data.split('.');
    expect(hd).toMatch(/=*$/);
    const header = JSON.parse(Buffer.from(hd!, 'base64').toString());
    expect(header).toMatchObject({ alg: 'ES256', signer: lbArn, client: client.clientId, iss: cognito.issuerOf(pool.id) });
    const pem = await (await request(`${idp.albPublicKeysUrl}/${header.kid}`)).body.text();
    const v = createVerify('SHA256');
    v.update(`${hd}.${pl}`);
    expect(v.verify({ key: createPublicKey(pem), dsaEncoding: 'ieee-p1363' }, Buffer.from(sig!, 'base64'))).toBe(true);
    expect(JSON.parse(Buffer.from(pl!, 'base64').toString())).toMatchObject({ sub, email: 'alice@example.com', username: 'alice' });
    // a client's own claims headers never pass
    seen = [];
    await (await get('/api/whoami', { cookie, 'x-amzn-oidc-identity': 'forged' })).body.dump();
    expect(seen[0]!['x-amzn-oidc-identity']).toBe(sub);
    elb.deleteRule(rule.RuleArn!);
  });
});
