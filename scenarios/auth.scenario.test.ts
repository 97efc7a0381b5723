import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { jwtValidationCases } from '../harness/edge/token-cases.ts';
import { EDGE_SEED } from '../harness/edge/seed.ts';

const VERSION = 'v2.15.0';
let s: Scenario;
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
    albUrl = s.h.edge.albUrl;
    listenerArn = s.h.edge.listenerArn;
    const ca = s.h.edge.front.certificatePem;
    tls = new Agent({ connect: ca ? { ca } : {} });
    if (!ca) s.notes.push(`HTTPS not served: ${s.h.edge.front.tlsUnavailable}; the ALB listener answers plain HTTP`);
    s.notes.push(
      "Seed docs vs AWS: the seed's `curl -H \"Authorization: Bearer …\"` cannot pass an authenticate-cognito rule — ALB reads only its session cookie there (bearer → 401 with OnUnauthenticatedRequest=deny); bearer tokens need a jwt-validation rule, as checked below.",
    );
    run = await s.runScript('deploy-all.sh', [VERSION]);
  });
  afterAll(async () => {
    await tls?.close();
    await s?.finish();
  });

  it('deploy-all.sh creates the gateway target group and the seed rule, and attaches the gateway', async () => {
    await s.check(`deploy-all.sh ${VERSION} exits 0`, () => {
      expect(run.exitCode, run.output.split('\n').slice(-15).join('\n')).toBe(0);
      return { observed: `exit ${run.exitCode}` };
    });
    await s.check('listener rule 1: path /*, authenticate-cognito (deny) then forward to escher-gateway-tg', async () => {
      const rules = await s.aws(['elbv2', 'describe-rules', '--listener-arn', listenerArn]);
      expect(rules.code, rules.stderr).toBe(0);
      const r = rules.json.Rules.find((x: any) => x.Priority === '1');
      expect(r, 'rule with priority 1').toBeDefined();
      seedRuleArn = r.RuleArn;
      expect(r.Conditions[0]).toMatchObject({ Field: 'path-pattern', Values: ['/*'] });
      expect(r.Actions.map((a: any) => a.Type)).toEqual(['authenticate-cognito', 'forward']);
      expect(r.Actions[0].AuthenticateCognitoConfig).toMatchObject({ UserPoolArn: s.h.edge.poolArn, UserPoolClientId: s.h.edge.clientId, UserPoolDomain: `${EDGE_SEED.userPoolDomain}.auth.${s.h.topology.region}.amazoncognito.com`, OnUnauthenticatedRequest: 'deny' });
      tgArn = r.Actions[1].TargetGroupArn;
      return { observed: `${r.Actions.map((a: any) => a.Type).join(' → ')} (${tgArn.split(':').pop()})` };
    });
    await s.check('escher-gateway has loadBalancers and its task is a healthy target (registered event in the service)', async () => {
      const svc = s.service('escher-gateway').service;
      expect(svc.loadBalancers?.[0]).toMatchObject({ targetGroupArn: tgArn, containerName: 'gateway', containerPort: 8080 });
      const gw = s.runningTasks('escher-gateway')[0]!;
      await s.until('gateway target healthy', () => s.h.stores.elb.targetHealth(tgArn, gw.ip, 8080).State === 'healthy', 60_000);
      const th = await s.aws(['elbv2', 'describe-target-health', '--target-group-arn', tgArn]);
      expect(th.json.TargetHealthDescriptions).toContainEqual({ Target: expect.objectContaining({ Id: gw.ip, Port: 8080 }), HealthCheckPort: '8080', TargetHealth: { State: 'healthy' } });
      const ev = (svc.events ?? []).map((e) => e.message ?? '');
      expect(ev.some((m) => m.includes(`registered 1 targets in (target-group ${tgArn})`)), ev.slice(0, 5).join('\n')).toBe(true);
      return { observed: `${gw.ip}:8080 healthy; "${ev.find((m) => m.includes('registered 1 targets'))}"` };
    });
  });

  it('through the seed rule: unauthenticated → 401, bearer-only → 401 (as AWS), nothing reaches the gateway', async () => {
    const token = s.h.stores.cognito.issueTokens(s.h.edge.poolId, s.h.edge.clientId, EDGE_SEED.testUser).AccessToken;
    await s.check('no credentials → 401 from the ALB', async () => {
      const r = await alb('/q/health');
      expect(r.status).toBe(401);
      return { observed: `${r.status} (server ${r.headers.server})` };
    });
    await s.check('Authorization: Bearer <valid access token> against authenticate-cognito → 401 (ALB ignores bearer tokens there)', async () => {
      const r = await alb('/q/health', { authorization: `Bearer ${token}` });
      expect(r.status).toBe(401);
      return { observed: String(r.status) };
    });
  });

  it('the login flow with the test user reaches /q/health with verified claims headers', async () => {
    await s.check('login: 302 to the hosted UI, sign in as the test user, callback sets AWSELBAuthSessionCookie shards', async () => {
      // deny never redirects: a browser session comes from the same rule with OnUnauthenticatedRequest=authenticate
      const rule = (await s.aws(['elbv2', 'describe-rules', '--rule-arns', seedRuleArn])).json.Rules[0];
      const actions = rule.Actions.map((a: any) => (a.Type === 'authenticate-cognito' ? { ...a, AuthenticateCognitoConfig: { ...a.AuthenticateCognitoConfig, OnUnauthenticatedRequest: 'authenticate' } } : a));
      const mod = await s.aws(['elbv2', 'modify-rule', '--rule-arn', seedRuleArn, '--actions', JSON.stringify(actions)]);
      expect(mod.code, mod.stderr).toBe(0);
      try {
        const first = await alb('/q/health');
        expect(first.status).toBe(302);
        const authorize = String(first.headers.location);
        const toLogin = await request(authorize);
        await toLogin.body.dump();
        const loginUrl = String(toLogin.headers.location);
        const posted = await request(loginUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: EDGE_SEED.testUser, password: EDGE_SEED.testPassword }).toString() });
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
    await s.check("with the session, the seed's deny rule forwards: /q/health 200", async () => {
      const r = await alb('/q/health', { cookie: sessionCookie });
      expect(r.status, r.text).toBe(200);
      return { observed: `${r.status} ${r.text.slice(0, 60)}` };
    });
    await s.check('claims headers reach the gateway; the stub verifies x-amzn-oidc-data (ES256, signer = the ALB)', async () => {
      const r = await alb('/api/whoami', { cookie: sessionCookie });
      expect(r.status, r.text).toBe(200);
      const sub = s.h.stores.cognito.user(s.h.edge.poolId, EDGE_SEED.testUser).sub;
      expect(r.body).toMatchObject({ identity: sub, accessTokenPresent: true, claimsVerified: true, claims: { sub, username: EDGE_SEED.testUser, email: EDGE_SEED.testEmail } });
      return { observed: `identity ${r.body.identity}, claimsVerified ${r.body.claimsVerified}` };
    });
  });

  it('jwt-validation: a valid access token gets 200; every bad token gets 401 and reaches nothing', async () => {
    const elb = s.h.stores.elb;
    const cognito = s.h.stores.cognito;
    // a second app client of the pool, for the wrong-client case
    const other = cognito.createUserPoolClient(s.h.edge.poolId, { clientName: 'escher-other', explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH'] });
    // the seed's rule holds priority 1 on /*: move it to 100 so a jwt-validation rule can come first
    const moved = await s.aws(['elbv2', 'set-rule-priorities', '--rule-priorities', `RuleArn=${seedRuleArn},Priority=100`]);
    expect(moved.code, moved.stderr).toBe(0);
    const jwtAction = {
      Type: 'jwt-validation' as const,
      Order: 1,
      JwtValidationConfig: {
        JwksEndpoint: s.h.edge.jwksUrl,
        Issuer: s.h.edge.issuer,
        AdditionalClaims: [
          { Name: 'token_use', Format: 'single-string' as const, Values: ['access'] },
          { Name: 'client_id', Format: 'single-string' as const, Values: [s.h.edge.clientId] },
        ],
      },
    };
    const forwardAction = { Type: 'forward' as const, Order: 2, TargetGroupArn: tgArn };
    const jwtActions = [jwtAction, forwardAction];
    // the v1 CLI's model (botocore 1.43) knows jwt-validation; v2.9's does not: use the store then
    const created = await s.aws(['elbv2', 'create-rule', '--listener-arn', listenerArn, '--priority', '10', '--conditions', '[{"Field":"path-pattern","Values":["/q/*","/api/*"]}]', '--actions', JSON.stringify(jwtActions)]);
    const ruleArn: string = created.code === 0 ? created.json.Rules[0].RuleArn : elb.createRule({ ListenerArn: listenerArn, Priority: 10, Conditions: [{ Field: 'path-pattern', Values: ['/q/*', '/api/*'] }], Actions: jwtActions }).RuleArn!;
    if (created.code !== 0) s.notes.push(`jwt-validation rule created through the ELB store: this aws CLI's model does not know the action (${created.stderr.split('\n').find((l) => l.trim()) ?? ''})`);
    const gwLogLines = () => s.h.events.all().length;
    for (const c of jwtValidationCases(cognito, s.h.edge.poolId, s.h.edge.clientId, other.clientId, EDGE_SEED.testUser)) {
      await s.check(`jwt-validation: ${c.name} → ${c.expect}`, async () => {
        const before = gwLogLines();
        const r = await alb('/q/health', c.authorization ? { authorization: c.authorization } : {});
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
      const valid = cognito.issueTokens(s.h.edge.poolId, s.h.edge.clientId, EDGE_SEED.testUser).AccessToken;
      const r = await alb('/q/health', { authorization: `Bearer ${valid}` });
      expect(r.status).toBe(401);
      return { observed: String(r.status) };
    });
    elb.deleteRule(ruleArn);
    await s.aws(['elbv2', 'set-rule-priorities', '--rule-priorities', `RuleArn=${seedRuleArn},Priority=1`]);
  });

  it("the gateway's port is reachable only through the ALB", async () => {
    const gw = s.runningTasks('escher-gateway')[0]!;
    if (!s.h.isolationEnforced) {
      s.notVerified(`gateway ${gw.ip}:8080 unreachable from outside the VPC`, `security groups are not enforced in this network mode (${s.h.networkMode}): the host reaches every task`);
      return;
    }
    await s.check(`gateway ${gw.ip}:8080 from the host (outside the VPC) is dropped, not refused`, async () => {
      const t0 = Date.now();
      const err = await fetch(`http://${gw.ip}:8080/q/health`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => `answered ${r.status}`,
        (e) => String((e as Error).name === 'TimeoutError' ? 'timeout' : ((e as { cause?: { code?: string } }).cause?.code ?? e)),
      );
      expect(err).toBe('timeout');
      return { observed: `${err} after ${Date.now() - t0} ms` };
    });
  });
});
