/**
 * What report.html shows, derived from a run's timeline (harness/events.ts), its report
 * (harness/scenario/report.ts) and its task logs (logs.json): lanes per ECS service with
 * deployments and tasks, the scripts' steps, the probe matrix, DNS answers over time, and for
 * each failed check the evidence around it. Pure functions; html.ts renders the result.
 */
import { apiCallOf, type ApiCallEvent, type TimelineEvent } from '../events.ts';
import type { CheckResult, ScenarioReport } from '../scenario/report.ts';
import { scriptLogFor, type ScriptLog, type TaskLogs, type TaskLogStream } from './logs.ts';

// ------------------------------------------------------------------ types

export interface Span<S> {
  from: number;
  to: number;
  state: S;
}

export interface DeploymentBar {
  id: string;
  service: string;
  taskDefinition: string;
  /** "family:rev" */
  revision: string;
  createdAt: number;
  /** when it went INACTIVE (undefined: still there at the end of the run) */
  endedAt?: number;
  /** PRIMARY/ACTIVE × rollout state over time */
  spans: Span<{ status: string; rollout: string }>[];
  failedTasks: number;
}

export interface HealthMark {
  t: number;
  status: string;
  /** the health check's output (container) or the target's reason (ELB) */
  detail?: string;
  source: 'container' | 'elb';
}

export interface TaskBar {
  id: string;
  service: string;
  cluster: string;
  taskDefinition?: string;
  revision?: string;
  deployment?: string;
  ip?: string;
  createdAt: number;
  stoppedAt?: number;
  /** lastStatus over time */
  spans: Span<string>[];
  /** the task's health (containers aggregated) over time, from its first check */
  health: Span<string>[];
  marks: HealthMark[];
  stopRequestedAt?: number;
  stopCode?: string;
  stoppedReason?: string;
  /** counted as a failed task of its deployment, or stopped for a failure */
  failed: boolean;
}

export interface ServiceLane {
  name: string;
  cluster: string;
  cloudMapName?: string;
  deployments: DeploymentBar[];
  tasks: TaskBar[];
  events: { t: number; message: string }[];
  steady: { t: number; deployment: string; revision: string }[];
  rollbacks: { t: number; from: string; to: string; revision: string; fromRevision?: string }[];
}

export type ApiCall = ApiCallEvent;

export interface ScriptStep {
  script: string;
  args: string[];
  start: number;
  end?: number;
  exitCode?: number;
  durationMs?: number;
  calls: ApiCall[];
  /** the end of its log (logs.json), redacted */
  log?: ScriptLog;
}

export type ProbeOutcome = 'ok' | 'mismatch' | 'not-verified';

export interface ProbeCell {
  source: string;
  target: string;
  expected?: string;
  /** first word of what was observed: open, refused, blocked, error */
  observed?: string;
  observedText?: string;
  outcome: ProbeOutcome;
  why?: string;
}

export interface ProbeGrid {
  sources: string[];
  targets: string[];
  cells: ProbeCell[];
}

export interface DnsRow {
  t: number;
  addresses: string[];
  added: string[];
  removed: string[];
  /** what changed: "registered 10.0.1.5", "10.0.1.5 HEALTHY", … */
  cause: string;
}

export interface DnsName {
  name: string;
  rows: DnsRow[];
  /** derived from Cloud Map registrations (the DNS server's rule), or recorded answers */
  source: 'registry' | 'recorded';
}

export interface FailureEvidence {
  check: CheckResult;
  diagnosis?: string;
  services: string[];
  serviceEvents: { service: string; t: number; message: string }[];
  logs: { stream: TaskLogStream; service?: string; taskId?: string; why: string; lines: TaskLogStream['lines'] }[];
  scriptTail?: { script: string; lines: string[] };
}

export interface Counts {
  passed: number;
  failed: number;
  'not-verified': number;
  skipped: number;
  total: number;
}

export interface RunModel {
  kind: 'scenario' | 'up';
  title: string;
  verdict: 'PASSED' | 'FAILED' | 'INCOMPLETE' | 'UP';
  runId: string;
  runDir: string;
  report?: ScenarioReport;
  up?: Record<string, unknown>;
  t0: number;
  t1: number;
  counts: Counts;
  services: ServiceLane[];
  scripts: ScriptStep[];
  /** api calls outside every script (the scenario's own checks) */
  otherCalls: ApiCall[];
  probes?: ProbeGrid;
  dns: DnsName[];
  failures: FailureEvidence[];
  falseGreens: string[];
  harnessErrors: { t: number; where: string; error: string }[];
  logs?: TaskLogs;
  /** taskId → service, for the logs section */
  serviceOfTask: Map<string, string>;
}

export interface RunInput {
  runId: string;
  runDir: string;
  report?: ScenarioReport;
  timeline: readonly TimelineEvent[];
  logs?: TaskLogs;
}

// ------------------------------------------------------------------ helpers

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** "arn:…:task-definition/fam:7" → "fam:7" */
export function revisionOf(arn: string | undefined): string {
  return arn ? arn.split('/').pop()! : '?';
}

/** A stop for a failure: what ECS writes when a task did not make it. */
const FAILED_STOP = /fail|exited|error|CannotPull|ResourceInitialization|OutOfMemory|timed out|unhealthy/i;

// ------------------------------------------------------------------ build

export function buildModel(input: RunInput): RunModel {
  let tl = [...input.timeline].sort((a, b) => a.seq - b.seq);
  // teardown stops every task: that is the harness leaving, not the deployment's story
  const down = tl.find((e) => e.type === 'harness.down');
  if (down) tl = tl.filter((e) => e.seq <= down.seq);
  const r = input.report;
  const up = tl.find((e) => e.type === 'harness.up');
  const startedAt = r ? Date.parse(r.startedAt) : NaN;
  // (a loop, not Math.min(...): a long run's timeline is too long to spread)
  const firstT = tl.reduce((m, e) => Math.min(m, e.t), tl.length ? Infinity : Date.now());
  const t0 = Number.isFinite(startedAt) ? Math.min(startedAt, firstT) : firstT;
  const lastT = tl.reduce((m, e) => Math.max(m, e.t), t0);
  const t1 = Math.max(lastT, r ? t0 + r.durationMs : lastT, t0 + 1000);

  const counts = countChecks(r?.checks ?? []);
  const verdict: RunModel['verdict'] = !r ? 'UP' : counts.failed ? 'FAILED' : counts.total === 0 ? 'INCOMPLETE' : 'PASSED';

  const { services, serviceOfTask } = buildServices(tl, t1);
  const { scripts, otherCalls } = buildScripts(tl);
  scripts.forEach((s, i) => (s.log = scriptLogFor(input.logs, i, s.script, s.args)));
  const probes = buildProbeGrid(r?.checks ?? []);
  const dns = buildDns(tl, serviceOfTask);
  const failures = (r?.checks ?? [])
    .filter((c) => c.status === 'failed')
    .map((c) => evidenceFor(c, services, input.logs, serviceOfTask, scripts));
  const harnessErrors = tl
    .filter((e) => e.type === 'harness.error')
    .map((e) => ({ t: e.t, where: str(e.where) ?? '?', error: str(e.error) ?? String(e.error) }));

  return {
    kind: r ? 'scenario' : 'up',
    title: r ? `scenario ${r.scenario}` : `harness up ${input.runId}`,
    verdict,
    runId: input.runId,
    runDir: input.runDir,
    report: r,
    up: up ? { ...up } : undefined,
    t0,
    t1,
    counts,
    services,
    scripts,
    otherCalls,
    probes,
    dns,
    failures,
    falseGreens: (r?.warnings ?? []).filter((w) => /^FALSE GREEN/.test(w)),
    harnessErrors,
    logs: input.logs,
    serviceOfTask,
  };
}

export function countChecks(checks: readonly CheckResult[]): Counts {
  const c: Counts = { passed: 0, failed: 0, 'not-verified': 0, skipped: 0, total: checks.length };
  for (const x of checks) c[x.status] = (c[x.status] ?? 0) + 1;
  return c;
}

// ------------------------------------------------------------------ services: deployments and tasks

function buildServices(tl: TimelineEvent[], t1: number): { services: ServiceLane[]; serviceOfTask: Map<string, string> } {
  const lanes = new Map<string, ServiceLane>();
  const lane = (service: string, cluster: string): ServiceLane => {
    let l = lanes.get(service);
    if (!l) {
      l = { name: service, cluster, deployments: [], tasks: [], events: [], steady: [], rollbacks: [] };
      lanes.set(service, l);
    }
    return l;
  };
  const deployments = new Map<string, DeploymentBar>();
  const tasks = new Map<string, TaskBar>();
  const serviceOfTask = new Map<string, string>();
  /** per task: container → health */
  const containerHealth = new Map<string, Map<string, string>>();
  const cloudMapOfTask = new Map<string, { name: string; ip: string }>();
  const taskOfIp = new Map<string, string>();

  const setSpan = <S>(spans: Span<S>[], t: number, state: S) => {
    const cur = spans.at(-1);
    if (cur) cur.to = t;
    spans.push({ from: t, to: t, state });
  };

  for (const e of tl) {
    const service = str(e.service);
    const cluster = str(e.cluster) ?? '';
    switch (e.type) {
      case 'ecs.service.created':
        if (service) lane(service, cluster);
        break;
      case 'ecs.deployment': {
        if (!service) break;
        const l = lane(service, cluster);
        const id = str(e.deployment)!;
        const status = str(e.status);
        const rollout = str(e.rolloutState);
        let d = deployments.get(id);
        if (!d) {
          d = { id, service, taskDefinition: str(e.taskDefinition) ?? '', revision: revisionOf(str(e.taskDefinition)), createdAt: e.t, spans: [], failedTasks: 0 };
          deployments.set(id, d);
          l.deployments.push(d);
        }
        const cur = d.spans.at(-1)?.state;
        if (status === 'PRIMARY') {
          // the service's other live deployments are ACTIVE from now on
          for (const o of l.deployments) {
            if (o !== d && o.endedAt === undefined && o.spans.at(-1)?.state.status === 'PRIMARY') setSpan(o.spans, e.t, { ...o.spans.at(-1)!.state, status: 'ACTIVE' });
          }
          d.endedAt = undefined;
          setSpan(d.spans, e.t, { status: 'PRIMARY', rollout: rollout ?? cur?.rollout ?? 'IN_PROGRESS' });
        } else if (status === 'INACTIVE') {
          if (d.spans.at(-1)) d.spans.at(-1)!.to = e.t;
          d.endedAt = e.t;
        } else if (rollout && rollout !== cur?.rollout) {
          setSpan(d.spans, e.t, { status: status ?? cur?.status ?? 'PRIMARY', rollout });
        }
        break;
      }
      case 'ecs.deployment.failedTask': {
        const d = deployments.get(str(e.deployment) ?? '');
        if (d) d.failedTasks = Math.max(d.failedTasks, Number(e.failedTasks) || 0);
        const t = tasks.get(str(e.taskId) ?? '');
        if (t) t.failed = true;
        break;
      }
      case 'ecs.deployment.rollback':
        if (service) {
          lane(service, cluster).rollbacks.push({
            t: e.t,
            from: str(e.from) ?? '',
            to: str(e.to) ?? '',
            revision: revisionOf(str(e.taskDefinition)),
            fromRevision: deployments.get(str(e.from) ?? '')?.revision,
          });
        }
        break;
      case 'ecs.service.event':
        if (service) lane(service, cluster).events.push({ t: e.t, message: str(e.message) ?? '' });
        break;
      case 'ecs.service.steady':
        if (service) lane(service, cluster).steady.push({ t: e.t, deployment: str(e.deployment) ?? '', revision: revisionOf(str(e.taskDefinition)) });
        break;
      case 'ecs.task.state': {
        const id = str(e.taskId);
        if (!id) break;
        let t = tasks.get(id);
        if (!t) {
          if (!service) break; // a standalone task (run-task) has no lane
          t = {
            id,
            service,
            cluster,
            taskDefinition: str(e.taskDefinition),
            revision: str(e.taskDefinition) ? revisionOf(str(e.taskDefinition)) : undefined,
            deployment: str(e.startedBy),
            createdAt: e.t,
            spans: [],
            health: [],
            marks: [],
            failed: false,
          };
          tasks.set(id, t);
          serviceOfTask.set(id, service);
          lane(service, cluster).tasks.push(t);
        }
        const last = str(e.lastStatus) ?? '?';
        setSpan(t.spans, e.t, last);
        if (str(e.stopCode)) t.stopCode = str(e.stopCode);
        if (str(e.stoppedReason)) t.stoppedReason = str(e.stoppedReason);
        if (last === 'STOPPED') {
          t.stoppedAt = e.t;
          t.spans.pop();
          if (t.spans.at(-1)) t.spans.at(-1)!.to = e.t;
          const h = t.health.at(-1);
          if (h) h.to = e.t;
          if (t.stoppedReason && FAILED_STOP.test(t.stoppedReason)) t.failed = true;
        }
        break;
      }
      case 'ecs.task.stop-requested': {
        const t = tasks.get(str(e.taskId) ?? '');
        if (!t) break;
        t.stopRequestedAt ??= e.t;
        t.stopCode = str(e.stopCode) ?? t.stopCode;
        t.stoppedReason = str(e.stoppedReason) ?? t.stoppedReason;
        break;
      }
      case 'ecs.task.health': {
        const t = tasks.get(str(e.taskId) ?? '');
        if (!t) break;
        const per = containerHealth.get(t.id) ?? new Map<string, string>();
        containerHealth.set(t.id, per);
        per.set(str(e.container) ?? '', str(e.healthStatus) ?? 'UNKNOWN');
        const all = [...per.values()];
        const agg = all.includes('UNHEALTHY') ? 'UNHEALTHY' : all.every((x) => x === 'HEALTHY') ? 'HEALTHY' : 'UNKNOWN';
        if (t.health.at(-1)?.state !== agg) setSpan(t.health, e.t, agg);
        t.marks.push({ t: e.t, status: str(e.healthStatus) ?? 'UNKNOWN', detail: str(e.output), source: 'container' });
        break;
      }
      case 'servicediscovery.instance.registered': {
        const id = str(e.instanceId);
        const ip = str(e.ipv4);
        if (id && ip) {
          cloudMapOfTask.set(id, { name: str(e.service) ?? '', ip });
          taskOfIp.set(ip, id);
          const t = tasks.get(id);
          if (t) t.ip = ip;
        }
        break;
      }
      case 'elbv2.target.health': {
        const id = taskOfIp.get(str(e.id) ?? '');
        const t = id ? tasks.get(id) : undefined;
        if (t && t.stoppedAt === undefined) t.marks.push({ t: e.t, status: `ELB ${str(e.state) ?? '?'}`, detail: [str(e.reason), str(e.description)].filter(Boolean).join(': ') || undefined, source: 'elb' });
        break;
      }
    }
  }
  // open spans run to the end of the run
  for (const d of deployments.values()) if (d.endedAt === undefined && d.spans.at(-1)) d.spans.at(-1)!.to = t1;
  for (const t of tasks.values()) {
    if (t.stoppedAt === undefined) {
      if (t.spans.at(-1)) t.spans.at(-1)!.to = t1;
      if (t.health.at(-1)) t.health.at(-1)!.to = t1;
    }
  }
  for (const l of lanes.values()) {
    const names = new Set(l.tasks.map((t) => cloudMapOfTask.get(t.id)?.name).filter(Boolean));
    if (names.size === 1) l.cloudMapName = [...names][0];
  }
  return { services: [...lanes.values()], serviceOfTask };
}

// ------------------------------------------------------------------ scripts

function buildScripts(tl: TimelineEvent[]): { scripts: ScriptStep[]; otherCalls: ApiCall[] } {
  const scripts: ScriptStep[] = [];
  const open: ScriptStep[] = [];
  const otherCalls: ApiCall[] = [];
  for (const e of tl) {
    if (e.type === 'script.start') {
      const s: ScriptStep = { script: str(e.script) ?? '?', args: (e.args as string[]) ?? [], start: e.t, calls: [] };
      scripts.push(s);
      open.push(s);
    } else if (e.type === 'script.end') {
      const key = `${str(e.script)} ${((e.args as string[]) ?? []).join(' ')}`;
      const i = open.findIndex((s) => `${s.script} ${s.args.join(' ')}` === key);
      const s = open.splice(i >= 0 ? i : 0, 1)[0];
      if (s) {
        s.end = e.t;
        s.exitCode = typeof e.exitCode === 'number' ? e.exitCode : undefined;
        s.durationMs = typeof e.durationMs === 'number' ? e.durationMs : undefined;
      }
    } else if (e.type === 'api.call') {
      const c = apiCallOf(e);
      if (!c) continue;
      // calls while one script runs are its own; with scripts side by side, the newest one's
      (open.at(-1)?.calls ?? otherCalls).push(c);
    }
  }
  return { scripts, otherCalls };
}

// ------------------------------------------------------------------ probe matrix

const PROBE = /^probe (.+?) → (.+)$/;

export function buildProbeGrid(checks: readonly CheckResult[]): ProbeGrid | undefined {
  const cells: ProbeCell[] = [];
  for (const c of checks) {
    const m = PROBE.exec(c.name);
    if (!m) continue;
    const said = /the rules say (reachable|blocked)(?::\s*(.*?))?\)?$/.exec(c.detail ?? '');
    const expected = c.expected ?? said?.[1];
    const observedText = c.status === 'not-verified' ? undefined : c.observed;
    cells.push({
      source: m[1]!,
      target: m[2]!,
      expected,
      observed: observedText?.split(/\s+/)[0],
      observedText,
      outcome: c.status === 'failed' ? 'mismatch' : c.status === 'passed' ? 'ok' : 'not-verified',
      why: c.detail,
    });
  }
  if (cells.length === 0) return undefined;
  const uniq = (xs: string[]) => [...new Set(xs)];
  const sources = uniq(cells.map((c) => c.source));
  // columns in the rows' order (a service's port under its tasks' rows), the rest after
  const head = (label: string) => label.split(/[ :]/)[0]!;
  const rank = (target: string) => {
    const i = sources.findIndex((s) => head(s) === head(target));
    return i < 0 ? sources.length : i;
  };
  const targets = uniq(cells.map((c) => c.target));
  const order = new Map(targets.map((t, i) => [t, i]));
  targets.sort((a, b) => rank(a) - rank(b) || order.get(a)! - order.get(b)!);
  return { sources, targets, cells };
}

export function isProbeCheck(c: CheckResult): boolean {
  return PROBE.test(c.name);
}

// ------------------------------------------------------------------ DNS

/**
 * A records per Cloud Map name over time. The registry's events say which instances are
 * registered and their health; the DNS server answers the instances not UNHEALTHY (all of them
 * when none is healthy), so every change that alters the answer is one row. A scenario that
 * recorded answers itself (`dns.answer` events: name, addresses) gets those rows instead.
 */
export function buildDns(tl: readonly TimelineEvent[], serviceOfTask?: Map<string, string>): DnsName[] {
  const recorded = tl.filter((e) => e.type === 'dns.answer' && str(e.name) && Array.isArray(e.addresses));
  const out = new Map<string, DnsName>();
  const push = (name: string, source: DnsName['source'], t: number, addresses: string[], cause: string) => {
    let n = out.get(name);
    if (!n) out.set(name, (n = { name, rows: [], source }));
    const prev = n.rows.at(-1)?.addresses ?? [];
    const sorted = [...addresses].sort(ipCompare);
    if (n.rows.length && sorted.join() === prev.join()) return;
    n.rows.push({ t, addresses: sorted, added: sorted.filter((a) => !prev.includes(a)), removed: prev.filter((a) => !sorted.includes(a)), cause });
  };
  for (const e of recorded) push(str(e.name)!, 'recorded', e.t, (e.addresses as unknown[]).map(String), str(e.cause) ?? str(e.event) ?? 'answer');

  const nameOf = new Map<string, string>(); // serviceId → fqdn
  const instances = new Map<string, Map<string, { ip: string; health: string }>>();
  for (const e of tl) {
    if (e.type === 'servicediscovery.service.created' && str(e.serviceId) && str(e.name) && str(e.namespace)) {
      nameOf.set(str(e.serviceId)!, `${str(e.name)}.${str(e.namespace)!.replace(/\.$/, '')}`);
      continue;
    }
    if (!e.type.startsWith('servicediscovery.instance.')) continue;
    const sid = str(e.serviceId);
    const iid = str(e.instanceId);
    if (!sid || !iid) continue;
    if (e.type === 'servicediscovery.instance.registered' && str(e.service) && str(e.namespace)) nameOf.set(sid, `${str(e.service)}.${str(e.namespace)!.replace(/\.$/, '')}`);
    const name = nameOf.get(sid);
    if (!name || out.get(name)?.source === 'recorded') continue;
    const insts = instances.get(sid) ?? new Map();
    instances.set(sid, insts);
    const who = (ip: string) => {
      const svc = serviceOfTask?.get(iid);
      return `${ip} (task ${iid.slice(0, 8)}${svc ? ` of ${svc}` : ''})`;
    };
    let cause: string;
    if (e.type === 'servicediscovery.instance.registered') {
      const ip = str(e.ipv4);
      if (!ip) continue;
      insts.set(iid, { ip, health: str(e.health) ?? 'UNKNOWN' });
      cause = `registered ${who(ip)}, ${str(e.health) ?? 'UNKNOWN'}`;
    } else if (e.type === 'servicediscovery.instance.deregistered') {
      const was = insts.get(iid);
      insts.delete(iid);
      cause = `deregistered ${who(was?.ip ?? str(e.ipv4) ?? '?')}`;
    } else if (e.type === 'servicediscovery.instance.health') {
      const was = insts.get(iid);
      if (!was) continue;
      was.health = str(e.health) ?? 'UNKNOWN';
      cause = `${who(was.ip)} ${was.health}`;
    } else continue;
    const all = [...insts.values()];
    const healthy = all.filter((i) => i.health !== 'UNHEALTHY');
    push(name, 'registry', e.t, (healthy.length ? healthy : all).map((i) => i.ip), cause);
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function ipCompare(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return a.localeCompare(b);
}

// ------------------------------------------------------------------ failures and their evidence

/** Lines around a failure: this many of each stream, at most this many streams per failure. */
const FAILURE_LINES = 14;
const FAILURE_STREAMS = 3;

function evidenceFor(
  c: CheckResult,
  services: ServiceLane[],
  logs: TaskLogs | undefined,
  serviceOfTask: Map<string, string>,
  scripts: ScriptStep[],
): FailureEvidence {
  const diagnosis = str((c as CheckResult & { diagnosis?: unknown }).diagnosis);
  const text = [c.name, c.expected, c.observed, c.detail, diagnosis].filter(Boolean).join('\n');
  const named = servicesNamedIn(text, services);
  const ev: FailureEvidence = { check: c, diagnosis, services: named, serviceEvents: [], logs: [] };
  if (isProbeCheck(c)) return ev; // the grid shows it; task logs say nothing about a dropped packet

  for (const s of named) {
    const l = services.find((x) => x.name === s)!;
    for (const e of l.events.slice(-6)) ev.serviceEvents.push({ service: s, ...e });
  }
  // the tasks that failed first (newest first), else the newest task of each named service
  const candidates: { task: TaskBar; why: string }[] = [];
  for (const s of named) {
    const l = services.find((x) => x.name === s)!;
    const failed = l.tasks.filter((t) => t.failed).sort((a, b) => b.createdAt - a.createdAt);
    for (const t of failed) candidates.push({ task: t, why: `task ${t.id.slice(0, 8)} (${t.revision ?? '?'}) ${t.stoppedReason ? `stopped: ${t.stoppedReason}` : 'failed'}` });
    if (!failed.length) {
      const newest = [...l.tasks].sort((a, b) => b.createdAt - a.createdAt)[0];
      if (newest) candidates.push({ task: newest, why: `newest task ${newest.id.slice(0, 8)} (${newest.revision ?? '?'}, ${newest.spans.at(-1)?.state ?? '?'})` });
    }
  }
  if (!named.length) {
    for (const l of services) for (const t of l.tasks.filter((x) => x.failed)) candidates.push({ task: t, why: `failed task ${t.id.slice(0, 8)} of ${l.name} (${t.stoppedReason ?? 'failed'})` });
  }
  const seen = new Set<string>();
  for (const cand of candidates) {
    if (ev.logs.length >= FAILURE_STREAMS) break;
    const stream = logs?.streams.find((s) => s.taskId === cand.task.id && !seen.has(s.stream));
    if (!stream || stream.lines.length === 0) continue;
    seen.add(stream.stream);
    ev.logs.push({ stream, service: serviceOfTask.get(cand.task.id), taskId: cand.task.id, why: cand.why, lines: stream.lines.slice(-FAILURE_LINES) });
  }
  // a check about a script's run: the end of its log
  const run = [...scripts].reverse().find((s) => s.log && c.name.includes(s.script.split('/').pop()!) && s.args.every((a) => c.name.includes(a)));
  if (run?.log) ev.scriptTail = { script: [run.script, ...run.args].join(' '), lines: run.log.lines.slice(-20) };
  return ev;
}

/** ECS services a text names: by service name, Cloud Map name or task definition family. */
export function servicesNamedIn(text: string, services: ServiceLane[]): string[] {
  const hits: string[] = [];
  const has = (n: string | undefined) => !!n && new RegExp(`(^|[^\\w-])${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w-])`).test(text);
  for (const s of services) {
    const families = new Set(s.deployments.map((d) => d.revision.split(':')[0]));
    if (has(s.name) || has(s.cloudMapName) || [...families].some((f) => has(f))) hits.push(s.name);
  }
  return hits;
}
