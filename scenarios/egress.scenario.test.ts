import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario, type ScriptRun } from '../harness/scenario/scenario.ts';
import { namesSecret } from '../harness/scenario/stub-env.ts';
import type { DeployedService, Deployment } from '../harness/scenario/deployment.ts';
import { albWithBearer, latestGood, type AlbClient } from './support.ts';
import { ANTHROPIC_HOST } from '../harness/edge/anthropic/handlers.ts';
import type { AnthropicCall } from '../harness/edge/anthropic/server.ts';
import type { NetnsFabric } from '../harness/network/netns-fabric.ts';
import { sgAllows, type SgGroup } from '../harness/network/sg-rules.ts';
import { tcpProbe } from '../harness/network/probe.ts';

/**
 * Egress to the Anthropic Messages API. The stand-in serves https://api.anthropic.com outside
 * the VPC. After deploy-all: an authenticated request through the ALB that needs analysis goes
 * from the front service, through its dependencies, to the service whose task definition holds
 * the manifest's Anthropic key secret, and on to the API; the stand-in records exactly that
 * call, from that service's task, with the run's key and the right headers. Every task of a
 * service whose groups lack 443 egress cannot even connect (dropped: a timeout); the services
 * holding the key can.
 */
let VERSION: string;
let d: Deployment;
/** the services whose task definitions take the Anthropic key secret */
let analysts: DeployedService[] = [];
let keySecret: string;
const PROBE_TIMEOUT_MS = 1500;
const PROMPT = 'Which assets changed since the last deploy, and what is the risk?';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let s: Scenario;
let run: ScriptRun;
let client: AlbClient | undefined;
let bearer = '';

/** Through the ALB's listener (the jwt-validation rule for /api/* is put in by the test below). */
function alb(path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  if (!client) throw new Error('the ALB client is made by the test that moves the rules');
  return client.request(path, init);
}

function calls(): AnthropicCall[] {
  return s.h.anthropic?.standIn.calls() ?? [];
}

function sgOfService(ecsService: string): string[] {
  return s.service(ecsService).service.networkConfiguration?.awsvpcConfiguration?.securityGroups ?? [];
}

describe('scenario egress: the agents reach the Anthropic API outside the VPC, nobody else does', () => {
  beforeAll(async () => {
    s = await Scenario.start('egress');
    if (!s.h.anthropicKeySecret) throw new Error(`${s.h.manifest.file}: hosts: no anthropic host (or no key secret for it)`);
    if (!s.h.seeded.loadBalancers[0] || !s.h.seeded.pools[0]?.users[0]) throw new Error(`${s.h.manifest.file}: a load balancer and a user pool with a user are needed`);
    keySecret = s.h.anthropicKeySecret;
    VERSION = latestGood(s);
    run = await s.deployAll(VERSION);
    d = s.deployment();
    analysts = d.order.filter((m) => (m.container.secrets ?? []).some((x) => x.valueFrom && namesSecret(x.valueFrom, keySecret)));
  });
  afterAll(async () => {
    await client?.close();
    await s?.finish();
  });

  it('deploy-all exits 0 and the stand-in serves https://api.anthropic.com', async () => {
    await s.check(`${run.script} ${VERSION} exits 0; a service takes the key secret ${keySecret}`, () => {
      expect(run.exitCode, run.output.split('\n').slice(-15).join('\n')).toBe(0);
      expect(analysts.length, `a service whose task definition takes ${keySecret}`).toBeGreaterThan(0);
      return { observed: `exit ${run.exitCode}; ${analysts.map((m) => m.ecsService).join(', ')}` };
    });
    await s.check('the Anthropic API stand-in is up, outside the VPC', () => {
      const a = s.h.anthropic;
      expect(a, 'h.anthropic (see the run log for why it did not start)').toBeDefined();
      if (s.h.networkMode !== 'loopback') expect(a!.placement, `${s.h.networkMode} mode: the fabric's internet address`).toBe('internet');
      return { observed: a!.summary };
    });
  });

  it('an authenticated request through the ALB that needs analysis reaches the API from the service holding the key', async () => {
    // a bearer token is checked by a jwt-validation rule (an authenticate-cognito rule reads only its cookie):
    // the scripts' rule goes behind one for /api/* that validates the pool's access tokens
    client = await albWithBearer(s, '/api/*');
    bearer = client.bearer;

    await s.check('without a token: 401 from the ALB, and nothing reaches the API', async () => {
      const before = calls().length;
      const r = await alb('/api/analysis', { method: 'POST', body: { prompt: PROMPT } });
      expect(r.status).toBe(401);
      expect(calls().length).toBe(before);
      return { observed: `${r.status}; API calls ${calls().length - before}` };
    });

    let answer: any;
    const before = calls().length;
    await s.check('POST /api/analysis with a valid access token → 200 with the analysis', async () => {
      const r = await alb('/api/analysis', { method: 'POST', headers: { authorization: bearer }, body: { prompt: PROMPT } });
      expect(r.status, r.text.slice(0, 300)).toBe(200);
      expect(r.body).toMatchObject({ analysis: expect.stringContaining(PROMPT.slice(0, 40)), messageId: expect.stringMatching(/^msg_/) });
      expect(analysts.map((m) => m.ecsService)).toContain(r.body.service);
      answer = r.body;
      return { observed: `200 ${r.body.messageId}: ${String(r.body.analysis).slice(0, 70)}…` };
    });

    const agentIps = analysts.flatMap((m) => s.runningTasks(m).map((t) => t.ip));
    await s.check('the stand-in recorded exactly that call: POST /v1/messages, the run key (sha256), anthropic-version, the prompt', async () => {
      const got = calls().slice(before);
      expect(got.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(['POST /v1/messages 200']);
      const c = got[0]!;
      expect(c.keySha256).toBe(sha256(s.h.stores.secrets.getSecretValue(keySecret).secretString!));
      expect(c.headers['x-api-key']).toBe('<redacted>');
      expect(c.headers['anthropic-version']).toBe('2023-06-01');
      expect(c.headers.host).toBe(new URL(s.h.anthropic!.baseUrl).host);
      expect(c.body).toMatchObject({ model: expect.stringMatching(/^claude-/), max_tokens: expect.any(Number), messages: [{ role: 'user', content: PROMPT }] });
      expect(c.messageId).toBe(answer.messageId);
      return { observed: `${c.method} ${c.path} from ${c.source} → ${c.status} ${c.messageId}; key sha256 ${c.keySha256!.slice(0, 12)}…, host ${c.headers.host}` };
    });

    const c = calls().slice(before)[0];
    if (s.h.networkMode === 'loopback') {
      s.notVerified(`the call came from the key holder's task ENI address (${agentIps.join(', ')})`, `loopback mode: tasks share the host's network, their outgoing connections leave from ${c?.source ?? '127.0.0.1'}`);
    } else {
      await s.check(`the call came from the key holder's task ENI address (${agentIps.join(', ')})`, () => {
        expect(agentIps).toContain(c?.source);
        return { observed: c?.source };
      });
    }
  });

  it('security groups: only tasks whose groups allow 443 egress can connect to api.anthropic.com:443', async () => {
    const groups = new Map<string, SgGroup>(s.h.stores.ec2.listSecurityGroups().map((g) => [g.groupId, g as SgGroup]));
    const fabric = s.h.fabric as Partial<NetnsFabric>;
    const apiIp = s.h.anthropic?.host ?? '';
    const view = { groups, members: new Map<string, Set<string>>(), resolverIp: fabric.resolverIp ?? '' };
    let saw = { reach: 0, blocked: 0 };
    for (const m of d.order) {
      const sgs = sgOfService(m.ecsService);
      const expected = sgAllows({ ip: '0.0.0.0', groupIds: sgs }, { ip: apiIp }, 'tcp', 443, view);
      const want = expected.allowed ? 'open' : 'blocked';
      if (analysts.includes(m)) expect(want, `${m.ecsService} holds the API key: its groups (${sgs.join(',')}) should allow 443 egress`).toBe('open');
      for (const t of s.runningTasks(m)) {
        const name = `${m.ecsService} ${t.ip} → ${ANTHROPIC_HOST}:443`;
        const netns = fabric.netnsOfIp?.(t.ip);
        if (!s.h.isolationEnforced || !netns) {
          s.notVerified(name, `${s.h.networkMode} mode: security groups are not enforced on this path (the rules say ${want}: ${expected.why})`);
          continue;
        }
        await s.check(name, async () => {
          const [p] = await tcpProbe({ netns }, [`${ANTHROPIC_HOST}:443`], PROBE_TIMEOUT_MS);
          expect(p!.result, `${p!.result}${p!.code ? ` ${p!.code}` : ''} (${expected.why})`).toBe(want);
          if (want === 'open') saw.reach++;
          else saw.blocked++;
          return { expected: want, observed: `${p!.result}${p!.code ? ` (${p!.code})` : ''} in ${p!.ms} ms`, detail: expected.why };
        });
      }
    }
    if (s.h.isolationEnforced) {
      // the check says something: both outcomes occurred
      expect(saw.reach).toBeGreaterThan(0);
      expect(saw.blocked).toBeGreaterThan(0);
    }
  });

  it('a wrong key: the key holder gets a 401 from the API and reports it clearly (502 through the front)', async () => {
    const wrong = 'sk-ant-harness-wrong-key-for-the-egress-scenario';
    const put = await s.aws(['secretsmanager', 'put-secret-value', '--secret-id', keySecret, '--secret-string', wrong]);
    expect(put.code, put.stderr).toBe(0);
    for (const m of analysts) {
      const upd = await s.aws(['ecs', 'update-service', '--cluster', m.cluster, '--service', m.ecsService, '--force-new-deployment']);
      expect(upd.code, upd.stderr).toBe(0);
      const depId: string = upd.json.service.deployments[0].id;
      await s.until(
        `${m.ecsService} redeployed with the new secret value`,
        () => {
          const svc = s.service(m).service;
          return svc.deployments?.length === 1 && svc.deployments[0]!.id === depId && s.runningTasks(m).length === (svc.desiredCount ?? 1);
        },
        120_000,
      );
    }
    const before = calls().length;
    await s.check('with the wrong key: 502 naming the API 401 authentication_error; the stand-in saw the wrong key', async () => {
      const r = await alb('/api/analysis', { method: 'POST', headers: { authorization: bearer }, body: { prompt: PROMPT } });
      expect(r.status, r.text.slice(0, 300)).toBe(502);
      expect(r.body.upstream).toMatchObject({ status: 401, type: 'authentication_error' });
      expect(r.body.error).toMatch(/Anthropic API answered 401 authentication_error/);
      const got = calls().slice(before);
      expect(got.map((c) => c.status)).toEqual([401]);
      expect(got[0]!.keySha256).toBe(sha256(wrong));
      expect(JSON.stringify(got)).not.toContain(wrong);
      return { observed: `${r.status}: ${r.body.error}` };
    });
  });
});
