import type { Scenario } from '../harness/scenario/scenario.ts';
import type { DeployedService, Deployment } from '../harness/scenario/deployment.ts';
import { Agent, request } from 'undici';
import { requestJson } from '../harness/data/task-request.ts';

export interface ProbeRow {
  service: string;
  ip: string;
  health: number | string;
  version: string;
}

/** GETs every running task's health path and /version directly at its address. */
export async function probeAllServices(s: Scenario, d: Deployment = s.deployment()): Promise<ProbeRow[]> {
  const rows: ProbeRow[] = [];
  for (const m of d.order) {
    for (const t of s.runningTasks(m)) {
      const base = `http://${t.ip}:${m.port}`;
      let health: number | string;
      let version = '';
      try {
        health = (await s.httpGet(base + m.healthPath)).status;
        version = (await s.httpGet(base + '/version')).body?.version ?? '';
      } catch (e) {
        health = (e as Error).name === 'TimeoutError' ? 'timeout' : (e as Error).message;
      }
      rows.push({ service: m.ecsService, ip: t.ip, health, version });
    }
  }
  return rows;
}

/** Service names in a /api/trace answer, depth first. */
export function traceHops(body: any): string[] {
  const out: string[] = [];
  const walk = (n: any) => {
    if (!n || typeof n !== 'object') return;
    if (n.service) out.push(n.service);
    for (const h of n.hops ?? []) walk(h);
  };
  walk(body);
  return out;
}

/** The manifest's newest release that is healthy in every repository (the one deploy-all ships). */
export function latestGood(s: Scenario): string {
  const good = s.releases().good;
  if (!good.length) throw new Error(`${s.h.manifest.file}: images: no tag is healthy in every repository, so there is no release to deploy`);
  return good.at(-1)!;
}

/** The service a user reaches: the first one behind a load balancer (else the last in dependency order). */
export function entryService(d: Deployment): DeployedService {
  const e = d.entry[0] ?? d.order.at(-1);
  if (!e) throw new Error('the scripts created no ECS service');
  return e;
}

/**
 * A JSON request to a running task of a service, sent from where that task stands (its own
 * namespace in netns and docker mode, where the security groups drop the harness host; the
 * host in loopback mode). For requests that skip the load balancer on purpose.
 */
export async function serviceApi(s: Scenario, svc: DeployedService, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any; url: string }> {
  const t = s.runningTasks(svc)[0];
  if (!t) throw new Error(`no running ${svc.ecsService} task`);
  const netns = (s.h.fabric as { netnsOfIp?: (ip: string) => string | undefined }).netnsOfIp?.(t.ip);
  const url = `http://${t.ip}:${svc.port}${path}`;
  const r = await requestJson(url, { method, body, netns, timeoutMs: 15_000 });
  return { status: r.status, body: r.body, url };
}

/** Every service `svc` reaches through its dependencies, transitively (what /api/trace must visit). */
export function reachable(d: Deployment, svc: DeployedService): DeployedService[] {
  return d.services.filter((o) => o !== svc && d.dependsOn(svc, o));
}

/** The manifest's bad release and the deployed service whose repository it breaks. */
export function badRelease(s: Scenario, d: Deployment): { tag: string; service: DeployedService } {
  const bad = s.releases().bad;
  if (!bad) throw new Error(`${s.h.manifest.file}: images: no tag is unhealthy in any repository, so there is no bad release to roll back from`);
  const service = d.order.filter((x) => x.repository && bad.repositories.includes(x.repository)).at(-1);
  if (!service) throw new Error(`the bad release ${bad.tag} breaks ${bad.repositories.join(', ')}, but no service the scripts created runs an image of ${bad.repositories.length > 1 ? 'those repositories' : 'that repository'}`);
  return { tag: bad.tag, service };
}

/** The breaker's verdict as ECS wrote it in the service's events. */
export function breakerEvents(s: Scenario, svc: DeployedService): { failed?: string; rollback?: string } {
  const msgs = (s.service(svc).service.events ?? []).map((e) => e.message!);
  return { failed: msgs.find((m) => /deployment failed: tasks failed to start\.$/.test(m)), rollback: msgs.find((m) => /rolling back to deployment ecs-svc\/\d+\.$/.test(m)) };
}

/**
 * Where a data service's stub keeps assets in SurrealDB: its task definition's SURREAL_NS /
 * SURREAL_DB, else the stub's defaults (stubs/lib/contract.mjs).
 */
export function assetDb(svc: DeployedService): { namespace: string; database: string } {
  const env = Object.fromEntries((svc.container.environment ?? []).map((e) => [e.name, e.value]));
  return { namespace: env.SURREAL_NS || 'escher', database: env.SURREAL_DB || 'assets' };
}

/**
 * The services a redeploy of the data tier replaces: every service that reaches the manifest's
 * database host, and the services that call those directly (not the one users reach), in
 * dependency order.
 */
export function dataTier(d: Deployment): DeployedService[] {
  const entry = entryService(d);
  const clients = d.services.filter((x) => x !== entry && x.dependencies.some((dep) => dep.kind === 'service' && d.data.some((db) => db.ecsService === dep.target)));
  return d.order.filter((x) => d.data.includes(x) || clients.includes(x));
}

/** A request through the load balancer's listener (HTTPS with the run's certificate when served). */
export interface AlbClient {
  request(path: string, init?: { method?: string; headers?: Record<string, string>; body?: unknown }): Promise<{ status: number; text: string; body: any }>;
  /** `Bearer <access token>` of the manifest's first pool, client and user */
  bearer: string;
  close(): Promise<void>;
}

/**
 * The first load balancer's listener (HTTPS when it has one), with the scripts' forward rule put
 * behind a jwt-validation rule for `pathPattern` that checks the first pool's access tokens: an
 * authenticate-cognito rule reads only its session cookie, so a bearer token needs this rule
 * (as the auth scenario shows).
 */
export async function albWithBearer(s: Scenario, pathPattern: string): Promise<AlbClient> {
  const lb = s.h.seeded.loadBalancers[0];
  const pool = s.h.seeded.pools[0];
  if (!lb || !pool?.users[0] || !pool.clients[0]) throw new Error(`${s.h.manifest.file}: a load balancer and a user pool with a client and a user are needed`);
  const listenerArn = (lb.listeners.find((l) => l.protocol === 'HTTPS') ?? lb.listeners[0]!).arn;
  const described = await s.aws(['elbv2', 'describe-rules', '--listener-arn', listenerArn]);
  if (described.code !== 0 || !described.json?.Rules) throw new Error(`aws elbv2 describe-rules exited ${described.code}: ${described.stderr.trim()}`);
  const rules = described.json.Rules as any[];
  const seed = rules.find((r) => !r.IsDefault && r.Actions.some((a: any) => a.Type === 'forward')) ?? rules.find((r) => r.IsDefault);
  const fwd = seed.Actions.find((a: any) => a.Type === 'forward');
  if (!fwd) throw new Error(`listener ${listenerArn}: no rule forwards to a target group`);
  const tgArn: string = fwd.TargetGroupArn ?? fwd.ForwardConfig.TargetGroups[0].TargetGroupArn;
  if (!seed.IsDefault) {
    const moved = await s.aws(['elbv2', 'set-rule-priorities', '--rule-priorities', `RuleArn=${seed.RuleArn},Priority=100`]);
    if (moved.code !== 0) throw new Error(`set-rule-priorities: ${moved.stderr}`);
  }
  s.h.stores.elb.createRule({
    ListenerArn: listenerArn,
    Priority: 10,
    Conditions: [{ Field: 'path-pattern', Values: [pathPattern] }],
    Actions: [
      { Type: 'jwt-validation', Order: 1, JwtValidationConfig: { JwksEndpoint: s.h.edge.idp.jwksUrl(pool.id), Issuer: pool.issuer, AdditionalClaims: [{ Name: 'token_use', Format: 'single-string', Values: ['access'] }] } },
      { Type: 'forward', Order: 2, TargetGroupArn: tgArn },
    ],
  });
  const ca = s.h.edge.front.certificatePem;
  const tls = new Agent({ connect: ca ? { ca } : {} });
  const base = s.h.edge.listenerUrl(listenerArn);
  return {
    bearer: `Bearer ${s.h.stores.cognito.issueTokens(pool.id, pool.clients[0].clientId, pool.users[0].username).AccessToken}`,
    async request(p, init = {}) {
      const r = await request(`${base}${p}`, {
        method: (init.method ?? 'GET') as 'GET',
        headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
        body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
        dispatcher: tls,
        headersTimeout: 15_000,
      });
      const text = await r.body.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: r.statusCode, text, body };
    },
    close: () => tls.close(),
  };
}
