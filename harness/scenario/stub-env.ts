/**
 * What the generic stub serves, told through its environment when a task starts (the contract
 * is documented in stubs/service.mjs). Everything comes from the task definition, the service's
 * load balancers and the manifest's hosts, never from a service's name:
 * - STUB_SERVICE        the ECS service name (else the container name)
 * - STUB_PORTS          every containerPort
 * - STUB_HEALTH_PATHS   the paths the container health check and the target groups ask for
 * - STUB_DEPENDENCIES   the `*_URL` variables whose host is a Cloud Map service's name
 * - STUB_DATA_URL_ENV   the variable whose URL names the manifest's SurrealDB host, and
 *   STUB_DATA_CREDENTIALS_ENV the variable(s) its root secret fills
 * - STUB_ANTHROPIC_KEY_ENV  the variable the manifest's Anthropic key secret fills
 * - STUB_ALB, ALB_ARN   a target group fronts this container (claims check on /api/whoami)
 */
import type { StubEnvContext } from '../ecs/deps.ts';
import { parseEcsSecretValueFrom } from '../aws/secretsmanager/ecs-secrets.ts';

export interface StubWorld {
  /** the manifest's SurrealDB host: its DNS name and root secret */
  surreal?: { hostname: string; rootSecret?: string };
  /** the secret whose value the Anthropic stand-in accepts */
  anthropicKeySecret?: string;
  /** whether a host name is a Cloud Map service's name (another service under test) */
  isServiceHost(host: string): boolean;
  /** a target group's health check path and load balancers */
  targetGroup(arn: string): { healthCheckPath?: string; loadBalancerArns: string[] } | undefined;
}

/** The path(s) a container health check command asks for (curl/wget URLs, http or https). */
export function healthCheckPaths(command: readonly string[] | undefined): string[] {
  const text = (command ?? []).join(' ');
  const out: string[] = [];
  for (const m of text.matchAll(/\bhttps?:\/\/[^\s'"|;)]+/g)) {
    try {
      out.push(new URL(m[0]).pathname || '/');
    } catch {
      /* not a URL */
    }
  }
  return out;
}

/** The secret name a `valueFrom` points at (ARN with or without the 6-character suffix, or a name). */
export function secretNameOf(valueFrom: string): { name: string; jsonKey?: string } {
  const ref = parseEcsSecretValueFrom(valueFrom);
  if (!ref) return { name: valueFrom };
  return { name: ref.secretArn.split(':secret:')[1]!, ...(ref.jsonKey ? { jsonKey: ref.jsonKey } : {}) };
}

/** Whether `valueFrom` names the secret `name` (AWS appends -XXXXXX to a secret's ARN). */
export function namesSecret(valueFrom: string, name: string): boolean {
  const n = secretNameOf(valueFrom).name;
  return n === name || (n.length === name.length + 7 && n.startsWith(`${name}-`));
}

function urlHost(value: string): string | undefined {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.hostname.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export function stubEnvironment(ctx: StubEnvContext, world: StubWorld): Record<string, string> {
  const c = ctx.container;
  const env: Record<string, string> = {};
  env.STUB_SERVICE = ctx.service?.serviceName ?? c.name ?? ctx.taskDefinition.family ?? 'service';
  const ports = (c.portMappings ?? []).map((p) => p.containerPort).filter((p): p is number => p !== undefined);
  if (ports.length) env.STUB_PORTS = ports.join(',');

  const health = new Set(healthCheckPaths(c.healthCheck?.command));
  const fronts = (ctx.service?.loadBalancers ?? []).filter((lb) => lb.targetGroupArn && (!lb.containerName || lb.containerName === c.name));
  const lbArns: string[] = [];
  for (const lb of fronts) {
    const tg = world.targetGroup(lb.targetGroupArn!);
    if (tg?.healthCheckPath) health.add(tg.healthCheckPath);
    lbArns.push(...(tg?.loadBalancerArns ?? []));
  }
  if (health.size) env.STUB_HEALTH_PATHS = [...health].join(',');
  if (fronts.length) {
    env.STUB_ALB = '1';
    if (lbArns[0]) env.ALB_ARN = lbArns[0];
  }

  const surrealHost = world.surreal?.hostname.toLowerCase();
  const deps: string[] = [];
  let dataUrlEnv: string | undefined;
  for (const [k, v] of Object.entries(envOfContainer(c))) {
    const host = urlHost(v);
    if (!host) continue;
    if (surrealHost && host === surrealHost) dataUrlEnv ??= k;
    else if (/_URL$/.test(k) && world.isServiceHost(host)) deps.push(k);
  }
  if (deps.length) env.STUB_DEPENDENCIES = deps.join(',');

  // the root credentials: the whole secret JSON in one variable, or "USER_VAR,PASS_VAR" when the
  // task definition takes the username and password by JSON key
  const creds: { whole?: string; username?: string; password?: string } = {};
  for (const s of c.secrets ?? []) {
    if (!s.name || !s.valueFrom) continue;
    if (world.anthropicKeySecret && namesSecret(s.valueFrom, world.anthropicKeySecret)) env.STUB_ANTHROPIC_KEY_ENV ??= s.name;
    if (dataUrlEnv && world.surreal?.rootSecret && namesSecret(s.valueFrom, world.surreal.rootSecret)) {
      const key = secretNameOf(s.valueFrom).jsonKey;
      if (key === 'username') creds.username = s.name;
      else if (key === 'password') creds.password = s.name;
      else if (!key) creds.whole = s.name;
    }
  }
  // the data owner is the container that names the database AND gets its credentials (a URL
  // alone, without them, is configuration the service does not use to serve data)
  const credentials = creds.whole ?? (creds.username && creds.password ? `${creds.username},${creds.password}` : undefined);
  if (dataUrlEnv && (credentials || !world.surreal?.rootSecret)) {
    env.STUB_DATA_URL_ENV = dataUrlEnv;
    if (credentials) env.STUB_DATA_CREDENTIALS_ENV = credentials;
  }
  return env;
}

function envOfContainer(c: StubEnvContext['container']): Record<string, string> {
  return Object.fromEntries((c.environment ?? []).filter((e) => e.name && e.value !== undefined).map((e) => [e.name!, e.value!]));
}
