import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { jwtValidationCases } from '../harness/edge/token-cases.ts';
import type { SeededUserPool } from '../harness/aws/cognito/seed.ts';
import type { DeployedService } from '../harness/scenario/deployment.ts';
import { latestGood } from './support.ts';

let VERSION: string;
let s: Scenario;
/** the manifest's first user pool, its first client and user; the service the scripts put behind the load balancer */
let pool: SeededUserPool;
let clientId: string;
let user: SeededUserPool['users'][number];
let entry: DeployedService;
let seedPriority = '1';
let run: ScriptRun;
let tls: Agent;
let albUrl: string;
let listenerArn: string;
let seedRuleArn: string;
let tgArn: string;
let sessionCookie = '';

/** One request to the ALB front (TLS trusted through the run's self-signed certificate). */
async function alb(path: string, headers: Record<string, string> = {}, method = 'GET') {
  const r = await request(`${albUrl}${path}`, { method: method as 'GET', headers, dispatcher: tls, headersTimeout: 10_000 });
  const text = await r.body.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: r.statusCode, headers: r.headers, text, body };
}

describe('scenario auth: the ALB is the only door, and its Cognito rule holds', () => {
  beforeAll(async () => {
    s = await Scenario.start('auth');
    const lb = s.h.seeded.loadBalancers[0];
    if (!lb) throw new Error(`${s.h.manifest.file}: loadBalancers: none, so there is no door to check`);
    const listener = lb.listeners.find((l) => l.protocol === 'HTTPS') ?? lb.listeners[0]!;
    listenerArn = listener.arn;
    albUrl = s.h.edge.listenerUrl(listenerArn)!;
    pool = s.h.seeded.pools[0]!;
    if (!pool?.clients[0] || !pool.users[0]) throw new Error(`${s.h.manifest.file}: cognito: a user pool with a client and a user is needed`);
    clientId = pool.clients[0].clientId;
    user = pool.users[0];
    const ca = s.h.edge.front.certificatePem;
    tls = new Agent({ connect: ca ? { ca } : {} });
    if (!ca) s.notes.push(`HTTPS not served: ${s.h.edge.front.tlsUnavailable}; the ALB listener answers plain HTTP`);
    s.notes.push(
      "Seed docs vs AWS: the seed's `curl -H \"Authorization: Bearer …\"` cannot pass an authenticate-cognito rule — ALB reads only its session cookie there (bearer → 401 with OnUnauthenticatedRequest=deny); bearer tokens need a jwt-validation rule, as checked below.",
    );
    VERSION = latestGood(s);
    run = await s.deployAll(VERSION);
  });
  afterAll(async () => {
    await tls?.close();
    await s?.finish();
  });

  it('the scripts create a target group and an authenticate-cognito rule, and put a service behind it', async () => {
    await s.check(`${run.script} ${VERSION} exits 0`, () => {
      expect(run.exitCode, run.output.split('\n').slice(-15).join('\n')).toBe(0);
      return { observed: `exit ${run.exitCode}` };
    });
    await s.check(`a listener rule of ${s.h.seeded.loadBalancers[0]!.name}: authenticate-cognito (deny, the manifest's pool and client) then forward`, async () => {
      const rules = await s.aws(['elbv2', 'describe-rules', '--listener-arn', listenerArn]);
      expect(rules.code, rules.stderr).toBe(0);
      const r = rules.json.Rules.find((x: any) => !x.IsDefault && x.Actions.some((a: any) => a.Type === 'authenticate-cognito'));
      expect(r, 'a rule with an authenticate-cognito action').toBeDefined();
      seedRuleArn = r.RuleArn;
      seedPriority = r.Priority;
      expect(r.Actions.map((a: any) => a.Type)).toEqual(['authenticate-cognito', 'forward']);
      expect(r.Actions[0].AuthenticateCognitoConfig).toMatchObject({ UserPoolArn: pool.arn, UserPoolClientId: clientId, UserPoolDomain: `${pool.domain}.auth.${s.h.region}.amazoncognito.com`, OnUnauthenticatedRequest: 'deny' });
      const fwd = r.Actions[1];
      tgArn = fwd.TargetGroupArn ?? fwd.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn;
      expect(tgArn, 'the forward action names a target group').toBeDefined();
      const d = s.deployment();
      const behind = d.services.find((x) => x.targetGroups.includes(tgArn));
      expect(behind, `a service whose loadBalancers name ${tgArn}`).toBeDefined();
      entry = behind!;
      return { observed: `priority ${r.Priority} ${r.Conditions.map((c: any) => `${c.Field} ${(c.Values ?? c.PathPatternConfig?.Values ?? []).join(',')}`).join(' ')}: ${r.Actions.map((a: any) => a.Type).join(' → ')} (${tgArn.split(':').pop()}) → ${entry.ecsService}` };
    });
    await s.check('the service behind it has loadBalancers and its task is a healthy target (registered event in the service)', async () => {
      const svc = s.service(entry).service;
      const lb = svc.loadBalancers?.find((x) => x.targetGroupArn === tgArn);
      expect(lb).toMatchObject({ targetGroupArn: tgArn, containerName: entry.container.name, containerPort: entry.port });
      const gw = s.runningTasks(entry)[0]!;
      await s.until('target healthy', () => s.h.stores.elb.targetHealth(tgArn, gw.ip, entry.port).State === 'healthy', 60_000);
      const th = await s.aws(['elbv2', 'describe-target-health', '--target-group-arn', tgArn]);
      expect(th.json.TargetHealthDescriptions).toContainEqual({ Target: expect.objectContaining({ Id: gw.ip, Port: entry.port }), HealthCheckPort: String(entry.port), TargetHealth: { State: 'healthy' } });
      const ev = (svc.events ?? []).map((e) => e.message ?? '');
      expect(ev.some((m) => m.includes(`registered 1 targets in (target-group ${tgArn})`)), ev.slice(0, 5).join('\n')).toBe(true);
      return { observed: `${entry.ecsService} ${gw.ip}:${entry.port} healthy; "${ev.find((m) => m.includes('registered 1 targets'))}"` };
    });
  });

  it('through the rule: unauthenticated → 401, bearer-only → 401 (as AWS), nothing reaches the service', async () => {
    const token = s.h.stores.cognito.issueTokens(pool.id, clientId, user.username).AccessToken;
    await s.check('no credentials → 401 from the ALB', async () => {
      const r = await alb(entry.healthPath);
      expect(r.status).toBe(401);
      return { observed: `${r.status} (server ${r.headers.server})` };
    });
    await s.check('Authorization: Bearer <valid access token> against authenticate-cognito → 401 (ALB ignores bearer tokens there)', async () => {
      const r = await alb(entry.healthPath, { authorization: `Bearer ${token}` });
      expect(r.status).toBe(401);
      return { observed: String(r.status) };
    });
  });

  it('the login flow with the test user reaches the health path with verified claims headers', async () => {
    await s.check('login: 302 to the hosted UI, sign in as the test user, callback sets AWSELBAuthSessionCookie shards', async () => {
      // deny never redirects: a browser session comes from the same rule with OnUnauthenticatedRequest=authenticate
      const rule = (await s.aws(['elbv2', 'describe-rules', '--rule-arns', seedRuleArn])).json.Rules[0];
      const actions = rule.Actions.map((a: any) => (a.Type === 'authenticate-cognito' ? { ...a, AuthenticateCognitoConfig: { ...a.AuthenticateCognitoConfig, OnUnauthenticatedRequest: 'authenticate' } } : a));
      const mod = await s.aws(['elbv2', 'modify-rule', '--rule-arn', seedRuleArn, '--actions', JSON.stringify(actions)]);
      expect(mod.code, mod.stderr).toBe(0);
      try {
        const first = await alb(entry.healthPath);
        expect(first.status).toBe(302);
        const authorize = String(first.headers.location);
        const toLogin = await request(authorize);
        await toLogin.body.dump();
        const loginUrl = String(toLogin.headers.location);
        const posted = await request(loginUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: user.username, password: user.password }).toString() });
        await posted.body.dump();
        expect(posted.statusCode).toBe(302);
        const cb = await request(String(posted.headers.location), { dispatcher: tls });
        await cb.body.dump();
        expect(cb.statusCode).toBe(302);
        const cookies = ([] as string[]).concat((cb.headers['set-cookie'] as string | string[]) ?? []);
        expect(cookies[0]).toMatch(/^AWSELBAuthSessionCookie-0=/);
        sessionCookie = cookies.map((c) => c.split(';')[0]).join('; ');
        return { observed: `302 → ${new URL(authorize).pathname} → /login → ${new URL(String(posted.headers.location)).pathname} → ${cookies.length} cookie shard(s)` };
      } finally {
        const back = (await s.aws(['elbv2', 'describe-rules', '--rule-arns', seedRuleArn])).json.Rules[0];
        const restored = back.Actions.map((a: any) => (a.Type === 'authenticate-cognito' ? { ...a, AuthenticateCognitoConfig: { ...a.AuthenticateCognitoConfig, OnUnauthenticatedRequest: 'deny' } } : a));
        await s.aws(['elbv2', 'modify-rule', '--rule-arn', seedRuleArn, '--actions', JSON.stringify(restored)]);
      }
    });
    await s.check(`with the session, the deny rule forwards: ${entry.healthPath} 200`, async () => {
      const r = await alb(entry.healthPath, { cookie: sessionCookie });
      expect(r.status, r.text).toBe(200);
      return { observed: `${r.status} ${r.text.slice(0, 60)}` };
    });
    await s.check(`claims headers reach ${entry.ecsService}; the stub verifies x-amzn-oidc-data (ES256, signer = the ALB)`, async () => {
      const r = await alb('/api/whoami', { cookie: sessionCookie });
      expect(r.status, r.text).toBe(200);
      const sub = s.h.stores.cognito.user(pool.id, user.username).sub;
      expect(r.body).toMatchObject({ identity: sub, accessTokenPresent: true, claimsVerified: true, claims: { sub, username: user.username, email: user.email } });
      return { observed: `identity ${r.body.identity}, claimsVerified ${r.body.claimsVerified}` };
    });
  });

  it('jwt-validation: a valid access token gets 200; every bad token gets 401 and reaches nothing', async () => {
    const elb = s.h.stores.elb;
    const cognito = s.h.stores.cognito;
    // a second app client of the pool, for the wrong-client case
    const other = cognito.createUserPoolClient(pool.id, { clientName: 'harness-other-client', explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH'] });
    // the scripts' rule may match every path: move it behind so a jwt-validation rule can come first
    const moved = await s.aws(['elbv2', 'set-rule-priorities', '--rule-priorities', `RuleArn=${seedRuleArn},Priority=100`]);
    expect(moved.code, moved.stderr).toBe(0);
    const jwtAction = {
      Type: 'jwt-validation' as const,
      Order: 1,
      JwtValidationConfig: {
        JwksEndpoint: s.h.edge.idp.jwksUrl(pool.id),
        Issuer: pool.issuer,
        AdditionalClaims: [
          { Name: 'token_use', Format: 'single-string' as const, Values: ['access'] },
          { Name: 'client_id', Format: 'single-string' as const, Values: [clientId] },
        ],
      },
    };
    const forwardAction = { Type: 'forward' as const, Order: 2, TargetGroupArn: tgArn };
    const jwtActions = [jwtAction, forwardAction];
    // the v1 CLI's model (botocore 1.43) knows jwt-validation; v2.9's does not: use the store then
    const paths = [entry.healthPath, '/api/*'];
    const created = await s.aws(['elbv2', 'create-rule', '--listener-arn', listenerArn, '--priority', '10', '--conditions', JSON.stringify([{ Field: 'path-pattern', Values: paths }]), '--actions', JSON.stringify(jwtActions)]);
    const ruleArn: string = created.code === 0 ? created.json.Rules[0].RuleArn : elb.createRule({ ListenerArn: listenerArn, Priority: 10, Conditions: [{ Field: 'path-pattern', Values: paths }], Actions: jwtActions }).RuleArn!;
    if (created.code !== 0) s.notes.push(`jwt-validation rule created through the ELB store: this aws CLI's model does not know the action (${created.stderr.split('\n').find((l) => l.trim()) ?? ''})`);
    const gwLogLines = () => s.h.events.all().length;
    for (const c of jwtValidationCases(cognito, pool.id, clientId, other.clientId, user.username)) {
      await s.check(`jwt-validation: ${c.name} → ${c.expect}`, async () => {
        const before = gwLogLines();
        const r = await alb(entry.healthPath, c.authorization ? { authorization: c.authorization } : {});
        expect(r.status, r.text.slice(0, 200)).toBe(c.expect);
        if (c.expect === 401) {
          const denied = s.h.events.all().slice(before).find((e) => e.type === 'alb.jwt.denied');
          expect(denied, 'the front logged why it denied').toBeDefined();
          expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
          return { observed: `${r.status} (${String((denied as any).reason).split(':')[0]})` };
        }
        return { observed: `${r.status} ${r.text.slice(0, 40)}` };
      });
    }
    await s.check('jwt-validation with a JWKS endpoint that cannot be fetched → 401 (denies)', async () => {
      elb.modifyRule(ruleArn, { Actions: [{ ...jwtAction, JwtValidationConfig: { ...jwtAction.JwtValidationConfig, JwksEndpoint: 'http://127.0.0.1:9/.well-known/jwks.json' } }, forwardAction] });
      const valid = cognito.issueTokens(pool.id, clientId, user.username).AccessToken;
      const r = await alb(entry.healthPath, { authorization: `Bearer ${valid}` });
      expect(r.status).toBe(401);
      return { observed: String(r.status) };
    });
    elb.deleteRule(ruleArn);
    await s.aws(['elbv2', 'set-rule-priorities', '--rule-priorities', `RuleArn=${seedRuleArn},Priority=${seedPriority}`]);
  });

  it("the front service's port is reachable only through the ALB", async () => {
    const gw = s.runningTasks(entry)[0]!;
    if (!s.h.isolationEnforced) {
      s.notVerified(`${entry.ecsService} ${gw.ip}:${entry.port} unreachable from outside the VPC`, `security groups are not enforced in this network mode (${s.h.networkMode}): the host reaches every task`);
      return;
    }
    await s.check(`${entry.ecsService} ${gw.ip}:${entry.port} from the host (outside the VPC) is dropped, not refused`, async () => {
      const t0 = Date.now();
      const err = await fetch(`http://${gw.ip}:${entry.port}${entry.healthPath}`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => `answered ${r.status}`,
        (e) => String((e as Error).name === 'TimeoutError' ? 'timeout' : ((e as { cause?: { code?: string } }).cause?.code ?? e)),
      );
      expect(err).toBe('timeout');
      return { observed: `${err} after ${Date.now() - t0} ms` };
    });
  });
});
