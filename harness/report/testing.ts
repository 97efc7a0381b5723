/**
 * Synthetic but realistic runs for report.html's tests: the timeline events the control plane
 * emits (ecs.*, servicediscovery.*, script.*, api.call), a ScenarioReport and task logs, for a
 * passing deploy-all and for a failing release that the circuit breaker rolled back.
 */
import type { TimelineEvent } from '../events.ts';
import type { CheckResult, ScenarioReport } from '../scenario/report.ts';
import type { TaskLogs, TaskLogStream } from './logs.ts';
import type { RunInput } from './model.ts';

const T0 = Date.UTC(2026, 0, 15, 9, 30, 0);
const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const CLUSTER = 'acme-prod';
const NAMESPACE = 'acme.local';

const tdArn = (family: string, rev: number) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${family}:${rev}`;

interface SvcSpec {
  name: string;
  dns: string;
  port: number;
  sd: string;
}

export const SERVICES: SvcSpec[] = [
  { name: 'acme-catalog', dns: 'catalog', port: 7000, sd: 'srv-catalog0000001' },
  { name: 'acme-orders', dns: 'orders', port: 7100, sd: 'srv-orders00000001' },
  { name: 'acme-web', dns: 'web', port: 8080, sd: 'srv-web00000000001' },
];

class Timeline {
  readonly events: TimelineEvent[] = [];
  readonly logs = new Map<string, TaskLogStream>();
  private ipSeq = 10;
  private idSeq = 0;

  add(atMs: number, type: string, fields: Record<string, unknown> = {}): void {
    this.events.push({ t: T0 + atMs, seq: this.events.length, type, ...fields });
  }

  call(atMs: number, service: string, operation: string, input: Record<string, unknown> = {}, error?: { status: number; code: string; message: string }): void {
    this.add(atMs, 'api.call', { service, operation, status: error?.status ?? 200, ms: 3, requestId: `req-${this.events.length}`, ...(error ? { error: error.code, message: error.message } : {}), input });
  }

  taskId(): string {
    this.idSeq++;
    return (this.idSeq.toString(16).padStart(4, '0') + 'a1b2c3d4e5f60718293a4b5c6d7e8f90').slice(0, 32);
  }

  ip(): string {
    return `10.1.${(this.ipSeq % 2) + 1}.${this.ipSeq++}`;
  }

  log(svc: SvcSpec, taskId: string, atMs: number, message: string): void {
    const stream = `ecs/${svc.dns}/${taskId}`;
    let s = this.logs.get(stream);
    if (!s) this.logs.set(stream, (s = { group: `/ecs/${svc.name}`, stream, taskId, container: svc.dns, total: 0, lines: [] }));
    s.lines.push({ t: T0 + atMs, m: message });
    s.total++;
  }

  /** A task from PROVISIONING to RUNNING, registered in Cloud Map; healthy or failing its checks. */
  startTask(svc: SvcSpec, rev: number, deployment: string, atMs: number, healthy: boolean): { id: string; ip: string } {
    const id = this.taskId();
    const ip = this.ip();
    const base = { cluster: CLUSTER, service: svc.name, taskId: id };
    this.add(atMs, 'ecs.task.state', { ...base, lastStatus: 'PROVISIONING', taskDefinition: tdArn(svc.name, rev), startedBy: deployment });
    this.add(atMs + 400, 'ecs.task.state', { ...base, lastStatus: 'PENDING' });
    this.add(atMs + 900, 'ecs.task.state', { ...base, lastStatus: 'ACTIVATING' });
    this.add(atMs + 950, 'servicediscovery.instance.registered', { serviceId: svc.sd, service: svc.dns, namespace: NAMESPACE, instanceId: id, ipv4: ip, port: String(svc.port), health: 'UNHEALTHY' });
    this.add(atMs + 1200, 'ecs.task.state', { ...base, lastStatus: 'RUNNING' });
    this.log(svc, id, atMs + 1250, `${svc.name} v2 listening on :${svc.port}`);
    if (healthy) {
      this.log(svc, id, atMs + 1600, `GET /health 200 (2 ms)`);
      this.add(atMs + 1700, 'ecs.task.health', { ...base, container: svc.dns, healthStatus: 'HEALTHY', output: '{"status":"UP"}' });
      this.add(atMs + 1700, 'servicediscovery.instance.health', { serviceId: svc.sd, service: svc.dns, instanceId: id, health: 'HEALTHY' });
    } else {
      this.log(svc, id, atMs + 1500, `connecting to http://orders.${NAMESPACE}:7100 …`);
      this.log(svc, id, atMs + 1600, `Error: ORDERS_TOKEN is not set; refusing to serve /health`);
      this.log(svc, id, atMs + 1700, `GET /health 503 (1 ms)`);
      this.log(svc, id, atMs + 2300, `GET /health 503 (1 ms)`);
      this.log(svc, id, atMs + 2900, `GET /health 503 (0 ms)`);
      this.add(atMs + 3000, 'ecs.task.health', { ...base, container: svc.dns, healthStatus: 'UNHEALTHY', output: 'curl: (22) The requested URL returned error: 503' });
    }
    return { id, ip };
  }

  stopTask(svc: SvcSpec, id: string, atMs: number, reason: string, stopCode = 'ServiceSchedulerInitiated'): void {
    const base = { cluster: CLUSTER, service: svc.name, taskId: id };
    this.add(atMs, 'ecs.task.stop-requested', { ...base, stopCode, stoppedReason: reason });
    this.add(atMs + 50, 'ecs.task.state', { ...base, lastStatus: 'DEACTIVATING' });
    this.add(atMs + 60, 'servicediscovery.instance.deregistered', { serviceId: svc.sd, service: svc.dns, instanceId: id });
    this.add(atMs + 400, 'ecs.task.state', { ...base, lastStatus: 'STOPPING' });
    this.add(atMs + 450, 'ecs.task.state', { ...base, lastStatus: 'DEPROVISIONING' });
    this.add(atMs + 800, 'ecs.task.state', { ...base, lastStatus: 'STOPPED', stopCode, stoppedReason: reason });
  }

  event(svc: SvcSpec, atMs: number, message: string): void {
    this.add(atMs, 'ecs.service.event', { cluster: CLUSTER, service: svc.name, message: `(service ${svc.name}) ${message}` });
  }
}

/** deploy-all: three services created in dependency order, two healthy tasks each. */
function deployAll(tl: Timeline, startMs: number): { ends: number; tasks: Map<string, { id: string; ip: string }[]>; deployments: Map<string, string> } {
  tl.add(startMs, 'script.start', { script: 'deploy-all.sh', args: ['v2.0.0'] });
  tl.call(startMs + 300, 'sts', 'GetCallerIdentity');
  tl.call(startMs + 600, 'elasticloadbalancing', 'DescribeTargetGroups', { Names: ['acme-web-tg'] }, { status: 400, code: 'TargetGroupNotFound', message: 'One or more target groups not found' });
  tl.call(startMs + 900, 'elasticloadbalancing', 'CreateTargetGroup', { Name: 'acme-web-tg' });
  const tasks = new Map<string, { id: string; ip: string }[]>();
  const deployments = new Map<string, string>();
  let at = startMs + 2000;
  SERVICES.forEach((svc, i) => {
    tl.add(at, 'servicediscovery.service.created', { serviceId: svc.sd, name: svc.dns, namespace: NAMESPACE, records: 'A' });
    tl.call(at + 100, 'ecs', 'RegisterTaskDefinition', { family: svc.name });
    tl.add(at + 100, 'ecs.taskdefinition.registered', { family: svc.name, revision: 1, arn: tdArn(svc.name, 1) });
    tl.call(at + 300, 'ecs', 'CreateService', { serviceName: svc.name, cluster: CLUSTER });
    const dep = `ecs-svc/10000000000000000${i}`;
    deployments.set(svc.name, dep);
    tl.add(at + 300, 'ecs.deployment', { cluster: CLUSTER, service: svc.name, deployment: dep, status: 'PRIMARY', rolloutState: 'IN_PROGRESS', taskDefinition: tdArn(svc.name, 1) });
    tl.add(at + 300, 'ecs.service.created', { cluster: CLUSTER, service: svc.name, taskDefinition: tdArn(svc.name, 1) });
    const a = tl.startTask(svc, 1, dep, at + 400, true);
    const b = tl.startTask(svc, 1, dep, at + 450, true);
    tl.event(svc, at + 420, `has started 2 tasks: (task ${a.id}) (task ${b.id}).`);
    tasks.set(svc.name, [a, b]);
    for (let k = 0; k < 6; k++) tl.call(at + 600 + k * 500, 'ecs', 'DescribeServices', { services: [svc.name] });
    tl.add(at + 2300, 'ecs.deployment', { cluster: CLUSTER, service: svc.name, deployment: dep, rolloutState: 'COMPLETED', taskDefinition: tdArn(svc.name, 1) });
    tl.event(svc, at + 2300, `(deployment ${dep}) deployment completed.`);
    tl.event(svc, at + 2300, 'has reached a steady state.');
    tl.add(at + 2300, 'ecs.service.steady', { cluster: CLUSTER, service: svc.name, deployment: dep, taskDefinition: tdArn(svc.name, 1) });
    at += 6000;
  });
  tl.add(at, 'script.end', { script: 'deploy-all.sh', args: ['v2.0.0'], exitCode: 0, durationMs: at - startMs });
  return { ends: at, tasks, deployments };
}

function probeChecks(tasks: Map<string, { id: string; ip: string }[]>, mismatch: boolean, notVerified = false): CheckResult[] {
  // web → orders → catalog is what the security groups allow; nothing else
  const allowed = new Set(['acme-web→acme-orders', 'acme-orders→acme-catalog']);
  const out: CheckResult[] = [];
  for (const src of SERVICES) {
    const t = tasks.get(src.name)![0]!;
    for (const dst of SERVICES) {
      if (dst === src) continue;
      const expected = allowed.has(`${src.name}→${dst.name}`) ? 'reachable' : 'blocked';
      const name = `probe ${src.name} ${t.ip} → ${dst.name}:${dst.port}`;
      const why = expected === 'reachable' ? `${dst.name}-sg allows tcp ${dst.port} from ${src.name}-sg` : `no rule of ${dst.name}-sg admits ${src.name}-sg`;
      if (notVerified) {
        out.push({ name, status: 'not-verified', detail: `loopback mode: nothing enforces security groups here (the rules say ${expected}: ${why})`, ms: 0 });
      } else if (mismatch && src.name === 'acme-web' && dst.name === 'acme-catalog') {
        out.push({ name, status: 'failed', expected: 'blocked', observed: 'open (2 ms)', ms: 1004 });
      } else {
        out.push({ name, status: 'passed', expected, observed: expected === 'reachable' ? 'open (1 ms)' : 'blocked (1000 ms)', detail: why, ms: 1002 });
      }
    }
  }
  out.push({ name: 'probe internet → acme-web:8080', status: notVerified ? 'not-verified' : 'passed', expected: 'blocked', observed: notVerified ? undefined : 'blocked (1000 ms)', detail: notVerified ? 'loopback mode: nothing enforces security groups here (the rules say blocked: no rule admits 198.18.0.1)' : 'no rule admits 198.18.0.1', ms: 1001 });
  return out;
}

function report(scenario: string, runId: string, durationMs: number, checks: CheckResult[], warnings: string[] = [], notes: string[] = []): ScenarioReport {
  return {
    scenario,
    runId,
    runDir: `/tmp/${runId}`,
    runtime: 'process',
    runtimeReason: 'embedded default',
    timeScale: 0.02,
    deployDir: '/src/acme-deploy',
    awsCli: '2.15.30 (/usr/bin/aws)',
    startedAt: new Date(T0).toISOString(),
    durationMs,
    checks,
    warnings,
    notes: ['network: netns (auto: root, `ip netns` and nft work): one network namespace per task, security groups enforced by nftables', ...notes],
    // the diagnosis lines (one per failed check or script), where the report carries them
    diagnoses: checks.flatMap((c) => ((c as { diagnosis?: string }).diagnosis ? [(c as { diagnosis?: string }).diagnosis!] : [])),
  } as ScenarioReport;
}

function logsOf(tl: Timeline): TaskLogs {
  return { version: 1, maxLinesPerStream: 200, streams: [...tl.logs.values()], scripts: [] };
}

function upEvent(tl: Timeline, runId: string): void {
  tl.add(0, 'harness.up', { runId, runtime: 'process', network: 'netns', networkReason: 'netns (auto: root, `ip netns` and nft work)', surrealdb: 'embedded', timeScale: 0.02, deployDir: '/src/acme-deploy', manifest: '/src/acme-deploy/harness.yaml' });
}

/** deploy-all passes: 6 checks pass, the in-namespace resolution is not verified. */
export function passingRun(runDir = '/tmp/eh0000aaaa'): RunInput {
  const runId = 'eh0000aaaa';
  const tl = new Timeline();
  upEvent(tl, runId);
  const { ends, tasks } = deployAll(tl, 1500);
  tl.add(ends + 2500, 'harness.down', { runId });
  const checks: CheckResult[] = [
    { name: 'deploy-all.sh v2.0.0 exits 0', status: 'passed', observed: `exit 0 after ${((ends - 1500) / 1000).toFixed(1)} s; services acme-catalog, acme-orders, acme-web`, ms: ends - 1500 },
    ...SERVICES.map((s): CheckResult => ({ name: `${s.name}: PRIMARY deployment on its new revision and COMPLETED`, status: 'passed', observed: `${s.name}:1 COMPLETED`, ms: 2 })),
    { name: 'steady states in dependency order acme-catalog < acme-orders < acme-web', status: 'passed', observed: 'acme-catalog +0.00s < acme-orders +6.00s < acme-web +12.00s', ms: 1 },
    { name: 'GET acme-web /api/trace reaches acme-orders, acme-catalog', status: 'passed', observed: '200; hops acme-web → acme-orders → acme-catalog', ms: 40 },
    ...probeChecks(tasks, false),
    { name: 'resolution from inside a task namespace', status: 'not-verified', detail: 'loopback mode: tasks have no namespace or resolv.conf of their own', ms: 0 },
  ];
  return { runId, runDir, report: { ...report('deploy-all', runId, ends + 2000, checks), runDir }, timeline: tl.events, logs: logsOf(tl) };
}

/**
 * deploy.sh web v2.1.0 ships a release whose tasks fail their health check: three failed
 * tasks, the circuit breaker rolls back to acme-web:1, the script's waiter returns 0 (a
 * false green); one probe disagrees with the security groups.
 */
export function failingRun(runDir = '/tmp/eh0000bbbb'): RunInput {
  const runId = 'eh0000bbbb';
  const tl = new Timeline();
  upEvent(tl, runId);
  const { ends, tasks, deployments } = deployAll(tl, 1500);
  const web = SERVICES[2]!;
  const start = ends + 1000;
  tl.add(start, 'script.start', { script: 'deploy.sh', args: ['web', 'v2.1.0'] });
  tl.call(start + 200, 'ecs', 'RegisterTaskDefinition', { family: web.name });
  tl.add(start + 200, 'ecs.taskdefinition.registered', { family: web.name, revision: 2, arn: tdArn(web.name, 2) });
  tl.call(start + 400, 'ecs', 'UpdateService', { service: web.name, taskDefinition: `${web.name}:2` });
  const bad = 'ecs-svc/200000000000000002';
  const good = deployments.get(web.name)!;
  tl.add(start + 400, 'ecs.deployment', { cluster: CLUSTER, service: web.name, deployment: bad, status: 'PRIMARY', rolloutState: 'IN_PROGRESS', taskDefinition: tdArn(web.name, 2) });
  tl.add(start + 400, 'ecs.service.updated', { cluster: CLUSTER, service: web.name, newDeployment: true, taskDefinition: tdArn(web.name, 2), desiredCount: 2 });
  let at = start + 500;
  for (let n = 1; n <= 3; n++) {
    const t = tl.startTask(web, 2, bad, at, false);
    tl.event(web, at + 20, `has started 1 tasks: (task ${t.id}).`);
    tl.stopTask(web, t.id, at + 3100, 'Task failed container health checks');
    tl.add(at + 3900, 'ecs.deployment.failedTask', { cluster: CLUSTER, service: web.name, deployment: bad, failedTasks: n, taskId: t.id, stoppedReason: 'Task failed container health checks' });
    tl.event(web, at + 3150, `has stopped 1 running tasks: (task ${t.id}).`);
    for (let k = 0; k < 4; k++) tl.call(at + k * 900, 'ecs', 'DescribeServices', { services: [web.name] });
    at += 4200;
  }
  tl.add(at, 'ecs.deployment', { cluster: CLUSTER, service: web.name, deployment: bad, rolloutState: 'FAILED', taskDefinition: tdArn(web.name, 2) });
  tl.event(web, at, `(deployment ${bad}) deployment failed: tasks failed to start.`);
  tl.add(at + 10, 'ecs.deployment.rollback', { cluster: CLUSTER, service: web.name, from: bad, to: good, taskDefinition: tdArn(web.name, 1) });
  tl.event(web, at + 10, `rolling back to deployment ${good}.`);
  tl.add(at + 20, 'ecs.deployment', { cluster: CLUSTER, service: web.name, deployment: good, status: 'PRIMARY', rolloutState: 'IN_PROGRESS', taskDefinition: tdArn(web.name, 1) });
  tl.add(at + 1500, 'ecs.deployment', { cluster: CLUSTER, service: web.name, deployment: bad, status: 'INACTIVE', rolloutState: 'FAILED', taskDefinition: tdArn(web.name, 2) });
  tl.add(at + 1500, 'ecs.deployment', { cluster: CLUSTER, service: web.name, deployment: good, rolloutState: 'COMPLETED', taskDefinition: tdArn(web.name, 1) });
  tl.add(at + 1500, 'ecs.service.steady', { cluster: CLUSTER, service: web.name, deployment: good, taskDefinition: tdArn(web.name, 1) });
  tl.event(web, at + 1500, 'has reached a steady state.');
  tl.call(at + 1600, 'ecs', 'DescribeServices', { services: [web.name] });
  const end = at + 1700;
  tl.add(end, 'script.end', { script: 'deploy.sh', args: ['web', 'v2.1.0'], exitCode: 0, durationMs: end - start });
  tl.add(end + 3000, 'harness.down', { runId });
  const rbAt = ((at + 10) / 1000).toFixed(0);
  const checks: CheckResult[] = [
    { name: 'deploy-all.sh v2.0.0 exits 0', status: 'passed', observed: 'exit 0', ms: ends - 1500 },
    { name: 'deploy.sh web v2.1.0 exits 0', status: 'passed', observed: `exit 0 after ${((end - start) / 1000).toFixed(1)} s`, ms: end - start },
    Object.assign(
      {
        name: 'acme-web: PRIMARY deployment on acme-web:2 and COMPLETED',
        status: 'failed',
        expected: 'acme-web:2 PRIMARY COMPLETED',
        observed: 'acme-web:1 PRIMARY COMPLETED; acme-web:2 FAILED (circuit breaker rolled back)',
        detail: '3 failed tasks: Task failed container health checks',
        ms: 3,
      } satisfies CheckResult,
      {
        diagnosis: `acme-web:2 tasks fail their health check: curl -f http://localhost:8080/health → HTTP 503, 3 of 3 tasks; the circuit breaker rolled back to acme-web:1 at +${rbAt} s; deploy.sh exited 0 (false green)`,
      },
    ),
    ...probeChecks(tasks, true),
  ];
  const warnings = [
    `FALSE GREEN: \`deploy.sh web v2.1.0\` exited 0, but ECS rolled acme-web back (circuit breaker): PRIMARY is acme-web:1, not acme-web:2 that the script registered. A services-stable wait is satisfied by the rolled-back deployment.`,
  ];
  return {
    runId,
    runDir,
    report: { ...report('rollback', runId, end + 2500, checks, warnings, ['acme-web: the scripts configure the circuit breaker with rollback']), runDir },
    timeline: tl.events,
    logs: logsOf(tl),
  };
}

/** The same passing deploy in loopback mode: the probes are not verified. */
export function loopbackRun(runDir = '/tmp/eh0000cccc'): RunInput {
  const r = passingRun(runDir);
  const checks = r.report!.checks.filter((c) => !c.name.startsWith('probe '));
  const tasks = new Map(SERVICES.map((s) => [s.name, [{ id: 'x', ip: `10.1.9.${s.port % 100}` }]]));
  return { ...r, runId: 'eh0000cccc', report: { ...r.report!, runId: 'eh0000cccc', checks: [...checks, ...probeChecks(tasks, false, true)] } };
}
