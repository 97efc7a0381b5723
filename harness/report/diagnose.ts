/**
 * Diagnosis: from "a check failed" to the cause, in one line with its evidence, read from what
 * the run recorded: the timeline (every API call, task state, health result, service event,
 * rollback), the stores (task definitions, target groups, security groups, Cloud Map, ECR,
 * Secrets Manager, CloudWatch Logs), what the scripts created (discoverDeployment) and the
 * scripts' runs. Nothing here starts a process or sends a packet: it only reads.
 *
 * Causes it names (CauseKind):
 * - a service's tasks fail their container health check (what the check printed: HTTP 503,
 *   refused, timed out, command not found), with the circuit breaker's rollback and a script
 *   that exited 0 over it (a false green);
 * - essential container exits (crash loop), with the exit code and the last log line;
 * - image pull failures: a tag or repository not in ECR (with the tags it has), an image
 *   index without the task's platform (wrong platform);
 * - a secret the task definition references that does not exist (ResourceInitializationError),
 *   or lacks the JSON key asked for;
 * - load balancer health checks: a target group checking a port the container does not listen
 *   on, or failing on its path;
 * - a dependency (`*_URL`) the security groups do not let through, or whose name resolves to
 *   nothing in Cloud Map;
 * - a deployment that never got steady (for a waiter that gave up);
 * - scripts: an unseeded prerequisite (prerequisites.ts), a waiter that gave up, the last AWS
 *   call that failed with AWS's message, the last line on stderr.
 *
 * Lines name services the way a person reads them: the task definition `family:revision` for
 * what its tasks do, the Cloud Map (or container) name for what it reaches.
 */
import type { ContainerDefinition, Service, TaskDefinition } from '@aws-sdk/client-ecs';
import { callOfRun, type TimelineEvent } from '../events.ts';
import type { EcsStore, ServiceState, TaskState } from '../aws/ecs/store.ts';
import type { ElbStore } from '../aws/elbv2/store.ts';
import type { Ec2Store, SecurityGroup, SecurityGroupRule } from '../aws/ec2/store.ts';
import type { ServiceDiscoveryStore } from '../aws/servicediscovery/store.ts';
import type { SecretsManagerStore } from '../aws/secretsmanager/store.ts';
import type { EcrStore } from '../aws/ecr/store.ts';
import type { LogsStore } from '../aws/logs/store.ts';
import type { Deployment, DeployedService, Dependency } from '../scenario/deployment.ts';
import { ecrImageParts } from '../scenario/deployment.ts';
import { missingPrerequisites } from '../scenario/prerequisites.ts';
import { inCidr } from '../network/sg-rules.ts';
import { FAULT_TAGS } from '../runtime/catalogue.ts';

export type CauseKind =
  | 'health-check'
  | 'crash-loop'
  | 'image-missing'
  | 'wrong-platform'
  | 'secret-missing'
  | 'task-start'
  | 'target-port'
  | 'target-health'
  | 'sg-path'
  | 'dns'
  | 'not-stable'
  | 'prerequisite'
  | 'waiter-timeout'
  | 'script-timeout'
  | 'script-error';

export interface Cause {
  kind: CauseKind;
  line: string;
  /** the ECS service it is about (service causes) */
  service?: string;
  /** the script it is about (script causes), and its arguments */
  script?: string;
  args?: string[];
  /** names a check may mention it by: the ECS service, its Cloud Map / container name, its family, the script */
  names: string[];
  /** lower = more likely the root cause when several apply */
  rank: number;
  /** the timeline position of its evidence */
  seq: number;
}

export interface DiagnosisStores {
  ecs: EcsStore;
  elb: ElbStore;
  ec2: Ec2Store;
  serviceDiscovery: ServiceDiscoveryStore;
  secrets: SecretsManagerStore;
  ecr: EcrStore;
  logs: LogsStore;
}

/** A script run as the scenario recorded it (structurally Scenario's ScriptRun). */
export interface DiagnosisScript {
  script: string;
  args: string[];
  exitCode: number | null;
  /** combined stdout + stderr */
  output: string;
  fromSeq: number;
  toSeq: number;
  timedOut?: boolean;
  durationMs?: number;
  /** its last non-empty line on stderr, when it was recorded apart from stdout */
  lastStderr?: string;
  /** the tag its aws calls carry (api.call `caller`), to keep side-by-side runs apart */
  callerTag?: string;
}

/** A manifest host (SurrealDB) as placed in the VPC. */
export interface DiagnosisHost {
  name: string;
  dns: string;
  port: number;
  /** security group names (the scripts create them) */
  securityGroups: string[];
  ip?: string;
}

export interface DiagnosisInput {
  events: readonly TimelineEvent[];
  stores: DiagnosisStores;
  /** what the scripts created (discoverDeployment), for dependencies */
  deployment?: Deployment;
  scripts?: readonly DiagnosisScript[];
  hosts?: readonly DiagnosisHost[];
  /** security groups are enforced (netns, docker as root): a blocked path really blocks */
  isolationEnforced?: boolean;
}

/** A failed check as the report holds it. */
export interface DiagnosableCheck {
  name: string;
  expected?: string;
  observed?: string;
  detail?: string;
}

// ------------------------------------------------------------------ small helpers

const RANK: Record<CauseKind, number> = {
  prerequisite: 0,
  'sg-path': 1,
  dns: 1,
  'image-missing': 2,
  'wrong-platform': 2,
  'secret-missing': 2,
  'task-start': 2,
  'crash-loop': 3,
  'target-port': 3,
  'health-check': 4,
  'target-health': 4,
  'waiter-timeout': 4,
  'script-timeout': 4,
  'script-error': 4,
  'not-stable': 6,
};
/** A dependency cause without evidence in the service's own logs ranks below its task failures. */
const UNCORROBORATED = 5;

/** `arn:…:task-definition/web:7` → `web:7` */
export function shortTaskDefinition(arn: string | undefined): string {
  return arn ? arn.split('/').pop()! : '(none)';
}

function quote(s: string, max = 160): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return `"${one.length > max ? `${one.slice(0, max - 1)}…` : one}"`;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function naturalSort(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether `name` appears in `text` as a whole name (not inside a longer one). */
function mentions(text: string, name: string): boolean {
  return new RegExp(`(?<![A-Za-z0-9_-])${escapeRe(name)}(?![A-Za-z0-9_-])`).test(text);
}

function taskIp(t: TaskState | undefined): string | undefined {
  return t?.task.attachments?.[0]?.details?.find((d) => d.name === 'privateIPv4Address')?.value;
}

/** The container a failure is about: the essential one with port mappings, else the first essential, else the first. */
function mainContainer(td: TaskDefinition | undefined): ContainerDefinition | undefined {
  const cs = td?.containerDefinitions ?? [];
  return cs.find((c) => c.essential !== false && (c.portMappings ?? []).length) ?? cs.find((c) => c.essential !== false) ?? cs[0];
}

function isFaultTag(tag: string): boolean {
  return tag in FAULT_TAGS;
}

// ------------------------------------------------------------------ the run as indexed once

interface Index {
  input: DiagnosisInput;
  /** ecs.* events per `cluster/service` */
  byService: Map<string, TimelineEvent[]>;
  /** elbv2.target.health events per target group ARN */
  targetHealth: Map<string, TimelineEvent[]>;
  t0: number;
}

function indexRun(input: DiagnosisInput): Index {
  const byService = new Map<string, TimelineEvent[]>();
  const targetHealth = new Map<string, TimelineEvent[]>();
  for (const e of input.events) {
    if (e.type.startsWith('ecs.') && typeof e.service === 'string' && typeof e.cluster === 'string') {
      const k = `${e.cluster}/${e.service}`;
      (byService.get(k) ?? byService.set(k, []).get(k)!).push(e);
    } else if (e.type === 'elbv2.target.health' && typeof e.targetGroupArn === 'string') {
      (targetHealth.get(e.targetGroupArn) ?? targetHealth.set(e.targetGroupArn, []).get(e.targetGroupArn)!).push(e);
    }
  }
  const up = input.events.find((e) => e.type === 'harness.up');
  return { input, byService, targetHealth, t0: up?.t ?? input.events[0]?.t ?? 0 };
}

/**
 * "+41 s into deploy.sh", counted from the start of `owner` (the script that made the change,
 * when the event happened during it), else of the first script running then, else of the
 * harness's start.
 */
function at(ix: Index, ev: TimelineEvent, owner?: DiagnosisScript): string {
  const within = (r: DiagnosisScript) => ev.seq >= r.fromSeq && ev.seq < r.toSeq;
  const run = owner && within(owner) ? owner : (ix.input.scripts ?? []).find(within);
  const start = run ? ix.input.events[run.fromSeq]?.t ?? ix.t0 : ix.t0;
  const s = (ev.t - start) / 1000;
  return `+${s < 10 ? s.toFixed(1) : Math.round(s)} s${run ? ` into ${run.script}` : ''}`;
}

/** The last lines a task's containers logged (awslogs), newest last. */
function taskLogLines(ix: Index, t: TaskState | undefined, max = 50): string[] {
  if (!t) return [];
  const taskId = t.task.taskArn!.split('/').pop()!;
  const out: { ts: number; seq: number; msg: string }[] = [];
  for (const c of t.taskDefinition.containerDefinitions ?? []) {
    const o = c.logConfiguration?.logDriver === 'awslogs' ? c.logConfiguration.options ?? {} : undefined;
    if (!o) continue;
    const group = o['awslogs-group'] ?? `/ecs/${t.taskDefinition.family}`;
    const stream = o['awslogs-stream-prefix'] ? `${o['awslogs-stream-prefix']}/${c.name}/${taskId}` : taskId;
    try {
      for (const e of ix.input.stores.logs.readLogEvents(group, stream)) out.push({ ts: e.timestamp, seq: e.seq, msg: e.message });
    } catch {
      /* the stream was never written */
    }
  }
  return out
    .sort((a, b) => a.ts - b.ts || a.seq - b.seq)
    .slice(-max)
    .map((x) => x.msg);
}

function hasAwslogs(td: TaskDefinition): boolean {
  return (td.containerDefinitions ?? []).some((c) => c.logConfiguration?.logDriver === 'awslogs');
}

/** A log line that says a connection failed, and what it means in a few words. */
const CONNECT_FAILURE: { re: RegExp; means: string }[] = [
  { re: /ETIMEDOUT|timed out|timeout/i, means: 'connect timed out' },
  { re: /ECONNREFUSED|connection refused/i, means: 'connection refused' },
  { re: /ENOTFOUND|EAI_AGAIN|getaddrinfo|could not resolve/i, means: 'name not resolved' },
  { re: /EHOSTUNREACH|ENETUNREACH|unreachable/i, means: 'no route' },
];

function connectEvidence(lines: readonly string[]): { line: string; means: string } | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    for (const c of CONNECT_FAILURE) if (c.re.test(l)) return { line: l, means: c.means };
  }
  return undefined;
}

// ------------------------------------------------------------------ health check output

/** The command a container health check runs, as a person would type it. */
function healthCommand(cmd: readonly string[] | undefined): string {
  if (!cmd?.length) return '(no command)';
  const [kind, ...rest] = cmd;
  const text = kind === 'CMD-SHELL' ? rest.join(' ') : kind === 'CMD' ? rest.join(' ') : cmd.join(' ');
  return text.replace(/\s*\|\|\s*exit\s+1\s*$/, '').trim();
}

/** What a failed health check got, from its output and exit code: "HTTP 503", "connection refused", … */
export function describeHealthOutput(output: string, exitCode: number | undefined): string {
  const o = output.replace(/\r/g, '\n');
  let m = /returned error:\s*(\d{3})/i.exec(o) ?? /server returned error: HTTP\/[\d.]+ (\d{3})/i.exec(o) ?? /\bHTTP\/[\d.]+ (\d{3})\b/.exec(o);
  if (m) return `HTTP ${m[1]}`;
  if (/Connection refused|ECONNREFUSED|curl: \(7\)/i.test(o)) return 'connection refused';
  m = /health check timed out after (\d+) ms/.exec(o);
  if (m) return `no answer within ${m[1]} ms (timed out)`;
  if (/curl: \(28\)|timed out/i.test(o)) return 'timed out';
  if (/curl: \(6\)|Could not resolve host|bad address/i.test(o)) return 'host not resolved';
  if (exitCode === 127 || /not found|No such file/i.test(o)) {
    const tool = /(\S+): (?:command )?not found/.exec(o)?.[1];
    return `exit 127: ${tool ? `${tool} is not in the image` : 'command not found'}`;
  }
  const last = o.split('\n').map((l) => l.trim()).filter((l) => l && !/^[\d\s%:.\-kMG]+$/.test(l) && !/% Total|Dload/.test(l)).at(-1);
  return `${exitCode !== undefined ? `exit ${exitCode}` : 'failed'}${last ? `: ${quote(last, 120)}` : ''}`;
}

// ------------------------------------------------------------------ services

type FailureClass = 'image-missing' | 'wrong-platform' | 'secret-missing' | 'task-start' | 'crash-loop' | 'health-check' | 'target-health';

function classifyStop(e: TimelineEvent): FailureClass | undefined {
  const code = str(e.stopCode);
  const reason = str(e.stoppedReason) ?? '';
  if (code === 'EssentialContainerExited') return 'crash-loop';
  if (/failed container health checks/i.test(reason)) return 'health-check';
  if (/failed ELB health checks/i.test(reason)) return 'target-health';
  if (code === 'TaskFailedToStart') {
    if (/CannotPullContainerError/.test(reason) && /descriptor matching platform/.test(reason)) return 'wrong-platform';
    if (/CannotPullContainerError/.test(reason) && /not found/i.test(reason)) return 'image-missing';
    if (/ResourceInitializationError/.test(reason) && /secret|ssm/i.test(reason)) return 'secret-missing';
    return 'task-start';
  }
  return undefined;
}

interface ServiceView {
  st: ServiceState;
  key: string;
  name: string;
  events: TimelineEvent[];
  deployed?: DeployedService;
  names: string[];
}

function serviceViews(ix: Index): ServiceView[] {
  const out: ServiceView[] = [];
  for (const st of ix.input.stores.ecs.services.values()) {
    const name = st.service.serviceName!;
    const key = `${st.clusterName}/${name}`;
    const deployed = ix.input.deployment?.services.find((d) => d.ecsService === name && d.cluster === st.clusterName);
    const family = shortTaskDefinition(st.service.taskDefinition).split(':')[0]!;
    const names = [...new Set([name, deployed?.shortName, family].filter((n): n is string => !!n && n.length >= 3))];
    out.push({ st, key, name, events: ix.byService.get(key) ?? [], ...(deployed ? { deployed } : {}), names });
  }
  return out;
}

function taskOf(ix: Index, e: TimelineEvent): TaskState | undefined {
  return typeof e.taskId === 'string' ? ix.input.stores.ecs.tasks.get(e.taskId) : undefined;
}

/** The script run that registered a task definition (or, failing that, updated the service to it). */
function ownerRun(ix: Index, v: ServiceView, tdArn: string | undefined): DiagnosisScript | undefined {
  if (!tdArn) return undefined;
  const runs = ix.input.scripts ?? [];
  const changed = ix.input.events.filter(
    (e) => (e.type === 'ecs.taskdefinition.registered' && e.arn === tdArn) || ((e.type === 'ecs.service.updated' || e.type === 'ecs.service.created') && e.service === v.name && e.taskDefinition === tdArn),
  );
  const family = shortTaskDefinition(tdArn).split(':')[0]!;
  for (const e of changed.reverse()) {
    // scripts run side by side share the timeline: prefer the one whose arguments name the service
    const during = runs.filter((r) => e.seq >= r.fromSeq && e.seq < r.toSeq);
    const run = during.find((r) => [r.script, ...r.args].some((a) => a === v.name || a === family)) ?? during[0];
    if (run) return run;
  }
  return undefined;
}

/**
 * What the circuit breaker (or its absence) did about failures from seq on, and the script that
 * shipped the failing revision when it exited 0 over a rollback (a false green).
 */
function breakerSuffix(ix: Index, v: ServiceView, fromSeq: number, failedTd: string | undefined, failed: number): string {
  const parts: string[] = [];
  const owner = ownerRun(ix, v, failedTd);
  const rb = v.events.find((e) => e.type === 'ecs.deployment.rollback' && e.seq >= fromSeq);
  const breaker = v.st.service.deploymentConfiguration?.deploymentCircuitBreaker;
  if (rb) {
    const target = str(rb.taskDefinition) ?? rollbackTargetFromEvents(v, rb);
    parts.push(`the circuit breaker rolled back to ${target ? shortTaskDefinition(target) : 'the last completed deployment'} at ${at(ix, rb, owner)}`);
    if (owner?.exitCode === 0 && rb.seq >= owner.fromSeq && rb.seq < owner.toSeq) parts.push(`${owner.script} exited 0 (false green)`);
  } else if (v.events.some((e) => e.type === 'ecs.deployment' && e.rolloutState === 'FAILED' && e.seq >= fromSeq && (!failedTd || e.taskDefinition === failedTd))) {
    parts.push('the circuit breaker failed the deployment (no rollback)');
  } else if (!breaker?.enable) {
    parts.push(`no circuit breaker: ECS keeps replacing them (${plural(failed, 'task')} so far)`);
  }
  return parts.length ? `; ${parts.join('; ')}` : '';
}

/** A rollback event without the target's task definition: the service event names the deployment, its ecs.deployment event the revision. */
function rollbackTargetFromEvents(v: ServiceView, rb: TimelineEvent): string | undefined {
  const to = str(rb.to);
  const dep = to ? v.events.find((e) => e.type === 'ecs.deployment' && e.deployment === to && typeof e.taskDefinition === 'string') : undefined;
  return str(dep?.taskDefinition);
}

function failureCause(ix: Index, v: ServiceView): Cause | undefined {
  const stops = v.events.filter((e) => e.type === 'ecs.task.stop-requested' && classifyStop(e));
  const last = stops.at(-1);
  if (!last) return undefined;
  const cls = classifyStop(last)!;
  const lastTask = taskOf(ix, last);
  const tdArn = lastTask?.taskDefinition.taskDefinitionArn;
  const same = stops.filter((e) => classifyStop(e) === cls && (!tdArn || taskOf(ix, e)?.taskDefinition.taskDefinitionArn === tdArn));
  const first = same[0] ?? last;
  const td = shortTaskDefinition(tdArn);
  const reason = str(last.stoppedReason) ?? '';
  const tdef = lastTask?.taskDefinition;
  const main = mainContainer(tdef);
  let line: string;
  let kind: CauseKind = cls;
  switch (cls) {
    case 'image-missing':
      line = `${td} tasks cannot start: ${imageMissing(ix, reason, main?.image)}`;
      break;
    case 'wrong-platform':
      line = `${td} tasks cannot start: ${wrongPlatform(ix, reason, tdef, main?.image)}`;
      break;
    case 'secret-missing':
      line = `${td} tasks cannot start: ${secretMissing(ix, reason, tdef)}`;
      break;
    case 'task-start':
      line = `${td} tasks cannot start: ${reason}`;
      break;
    case 'crash-loop':
      line = `${td} tasks ${crashLoop(ix, v, last, lastTask)}`;
      break;
    case 'health-check':
      line = `${td} tasks fail their health check: ${healthCheck(ix, v, same, tdef)}`;
      break;
    case 'target-health': {
      const t = targetHealth(ix, v, reason, tdef);
      kind = t.kind;
      line = `${td} ${t.text}`;
      break;
    }
  }
  line += breakerSuffix(ix, v, first.seq, tdArn, same.length);
  return { kind, line, service: v.name, names: v.names, rank: RANK[kind], seq: last.seq };
}

function imageMissing(ix: Index, reason: string, image: string | undefined): string {
  const ref = /failed to resolve ref (\S+?):\s/.exec(reason)?.[1] ?? image;
  const parts = ecrImageParts(ref);
  if (!parts) return `CannotPullContainerError: ${ref ?? 'the image'} is not an ECR image of this account (the harness serves only its ECR)`;
  const ecr = ix.input.stores.ecr;
  if (!ecr.hasRepository(parts.repository)) {
    const repos = ecr.listRepositories().map((r) => r.name).sort(naturalSort);
    return `CannotPullContainerError: repository ${parts.repository} is not in ECR (repositories: ${repos.join(', ') || 'none'})`;
  }
  const tags = [...new Set(ecr.listImages(parts.repository).flatMap((i) => i.tags))].filter((t) => !isFaultTag(t)).sort(naturalSort);
  return `CannotPullContainerError: ${parts.repository}:${parts.tag ?? 'latest'} is not in ECR (tags: ${tags.join(', ') || 'none'})`;
}

function wrongPlatform(ix: Index, reason: string, td: TaskDefinition | undefined, image: string | undefined): string {
  const platform = /descriptor matching platform '([^']+)'/.exec(reason)?.[1] ?? 'the task\'s platform';
  const parts = ecrImageParts(image);
  let has = '';
  try {
    if (image) has = ix.input.stores.ecr.resolveImageUri(image).platforms.map((p) => `${p.os}/${p.architecture}`).join(', ');
  } catch {
    /* gone since */
  }
  const arch = td?.runtimePlatform?.cpuArchitecture ?? 'X86_64';
  return `CannotPullContainerError: ${parts ? `${parts.repository}:${parts.tag ?? 'latest'}` : image ?? 'the image'} has no ${platform} image${has ? ` (its index holds ${has} only)` : ''}; the task definition asks for ${arch} (runtimePlatform.cpuArchitecture)`;
}

function secretNameFromArn(arn: string, existing: readonly string[]): string {
  const m = /^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:([^:]+)/.exec(arn);
  if (!m) return arn;
  const name = m[1]!;
  if (existing.includes(name)) return name;
  const stripped = name.replace(/-[A-Za-z0-9]{6}$/, '');
  return existing.includes(stripped) ? stripped : name;
}

function secretMissing(ix: Index, reason: string, td: TaskDefinition | undefined): string {
  const existing = ix.input.stores.secrets.listSecrets().map((s) => s.name);
  const list = `secrets: ${existing.sort(naturalSort).join(', ') || 'none'}`;
  let m = /failed to fetch secret (\S+) from secrets manager: (\w+): (.*)$/.exec(reason);
  if (m) {
    const name = secretNameFromArn(m[1]!, existing);
    if (m[2] === 'ResourceNotFoundException') {
      return `secret ${name} does not exist in Secrets Manager (ResourceInitializationError: ${m[2]}; ${list}): seed it under secrets in harness.yaml, or have the scripts create it`;
    }
    return `secret ${name} cannot be read (ResourceInitializationError: ${m[2]}: ${m[3]})`;
  }
  m = /did not contain json key (\S+)/.exec(reason);
  if (m) {
    const key = m[1]!;
    const ref = (td?.containerDefinitions ?? []).flatMap((c) => c.secrets ?? []).find((s) => s.valueFrom?.split(':')[7] === key);
    const name = ref?.valueFrom ? secretNameFromArn(ref.valueFrom.split(':').slice(0, 7).join(':'), existing) : undefined;
    let keys = '';
    try {
      if (name) keys = Object.keys(JSON.parse(ix.input.stores.secrets.getSecretValue(name).secretString ?? '{}') as object).join(', ');
    } catch {
      /* not JSON, or gone */
    }
    return `secret ${name ?? '(the one asked for)'} has no JSON key ${key}${keys ? ` (its keys: ${keys})` : ''} (ResourceInitializationError)`;
  }
  m = /invalid ssm parameters: (\S+)/.exec(reason);
  if (m) return `${m[1]} is an SSM parameter, which the harness does not emulate (ResourceInitializationError); reference a Secrets Manager secret`;
  return reason;
}

/** Real milliseconds after RUNNING within which an exit still counts as "at start". */
const AT_START_MS = 10_000;

function crashLoop(ix: Index, v: ServiceView, stop: TimelineEvent, t: TaskState | undefined): string {
  const main = t?.task.containers?.find((c) => c.exitCode !== undefined && c.exitCode !== null && t.taskDefinition.containerDefinitions?.find((d) => d.name === c.name)?.essential !== false);
  const code = main?.exitCode;
  const ranBefore = v.events.some((e) => e.type === 'ecs.task.state' && e.taskId === stop.taskId && e.lastStatus === 'RUNNING' && e.seq < stop.seq);
  const started = t?.task.startedAt?.getTime();
  const ranMs = ranBefore && started !== undefined ? stop.t - started : 0;
  // a process's exit is noticed once its pipes drain: a crash within seconds of RUNNING is a crash at start
  const when = ranMs < AT_START_MS ? 'at start' : `after ${Math.round(ranMs / 1000)} s running`;
  const lines = taskLogLines(ix, t).filter((l) => l.trim());
  const last = lines.at(-1);
  const log = last ? `last log line ${quote(last)}` : t && !hasAwslogs(t.taskDefinition) ? 'no log line (the container has no awslogs log configuration)' : 'it logged nothing';
  return `exit ${code ?? '(no exit code)'} ${when}: ${log}`;
}

function healthCheck(ix: Index, v: ServiceView, stops: TimelineEvent[], td: TaskDefinition | undefined): string {
  const ids = new Set(stops.map((e) => e.taskId));
  const ev = v.events.filter((e) => e.type === 'ecs.task.health' && e.healthStatus === 'UNHEALTHY' && ids.has(e.taskId)).at(-1) ?? v.events.filter((e) => e.type === 'ecs.task.health' && e.healthStatus === 'UNHEALTHY').at(-1);
  const def = (td?.containerDefinitions ?? []).find((c) => c.name === ev?.container) ?? (td?.containerDefinitions ?? []).find((c) => c.healthCheck);
  const cmd = healthCommand(def?.healthCheck?.command);
  const retries = typeof ev?.retries === 'number' ? ev.retries : def?.healthCheck?.retries ?? 3;
  const failures = typeof ev?.failures === 'number' ? ev.failures : retries;
  const got = ev ? describeHealthOutput(String(ev.output ?? ''), typeof ev.exitCode === 'number' ? ev.exitCode : undefined) : 'unhealthy';
  let text = `${cmd} → ${got}, ${failures} of ${retries} retries`;
  // what the service itself said about it (e.g. why its health path answers 503)
  const t = ev ? ix.input.stores.ecs.tasks.get(String(ev.taskId)) : undefined;
  const said = connectEvidence(taskLogLines(ix, t));
  if (said) text += `; the task logged ${quote(said.line, 140)}`;
  return text;
}

function targetHealth(ix: Index, v: ServiceView, reason: string, td: TaskDefinition | undefined): { kind: CauseKind; text: string } {
  const tgArn = /target-group (arn:[^)\s]+)\)/.exec(reason)?.[1] ?? v.st.service.loadBalancers?.[0]?.targetGroupArn;
  const tg = tgArn ? ix.input.stores.elb.targetGroups.get(tgArn)?.tg : undefined;
  const lb = (v.st.service.loadBalancers ?? []).find((l) => l.targetGroupArn === tgArn);
  const ports = (td?.containerDefinitions ?? []).flatMap((c) => (c.portMappings ?? []).map((p) => p.containerPort!)).filter((p) => p !== undefined);
  const trafficPort = lb?.containerPort ?? ports[0];
  const last = tgArn ? (ix.targetHealth.get(tgArn) ?? []).filter((e) => e.state === 'unhealthy').at(-1) : undefined;
  const said = last ? `${str(last.reason) ?? 'unhealthy'}: ${str(last.description) ?? ''}`.replace(/: $/, '') : 'unhealthy';
  const name = tg?.TargetGroupName ?? tgArn ?? 'its target group';
  const hcPort = tg?.HealthCheckPort && tg.HealthCheckPort !== 'traffic-port' ? Number(tg.HealthCheckPort) : trafficPort;
  const path = tg?.HealthCheckPath ?? '/';
  if (hcPort !== undefined && !ports.includes(hcPort)) {
    return {
      kind: 'target-port',
      text: `targets fail the load balancer's health check: target group ${name} checks port ${hcPort}, but the container listens on ${ports.join(', ') || 'no port'} (${said}; nothing answers on ${hcPort})`,
    };
  }
  return { kind: 'target-health', text: `targets fail the load balancer's health check: target group ${name} GET :${hcPort}${path} → ${said}` };
}

/** A deployment that is not steady and whose tasks did not fail: where it stands. */
function notStable(ix: Index, v: ServiceView): Cause | undefined {
  const s: Service = v.st.service;
  const primary = s.deployments?.[0];
  if (!primary || s.status !== 'ACTIVE') return undefined;
  const tasks = ix.input.stores.ecs.tasksOfService(v.st).filter((t) => t.task.startedBy === primary.id && t.task.desiredStatus === 'RUNNING');
  const running = tasks.filter((t) => t.task.lastStatus === 'RUNNING');
  const healthy = running.filter((t) => t.task.healthStatus === 'HEALTHY');
  const desired = primary.desiredCount ?? s.desiredCount ?? 0;
  const steady = (s.deployments?.length ?? 0) === 1 && primary.rolloutState === 'COMPLETED' && running.length === desired;
  if (steady) return undefined;
  const unknown = running.filter((t) => t.task.healthStatus === 'UNKNOWN' && (t.taskDefinition.containerDefinitions ?? []).some((c) => c.healthCheck));
  const extra = [
    unknown.length ? `${plural(unknown.length, 'task')} RUNNING with health UNKNOWN (no health check passed yet: a slow start?)` : '',
    (s.deployments?.length ?? 0) > 1 ? `${(s.deployments?.length ?? 1) - 1} older deployment(s) still draining` : '',
  ].filter(Boolean);
  const line = `${shortTaskDefinition(primary.taskDefinition)} deployment ${primary.rolloutState ?? 'IN_PROGRESS'}, not steady: ${running.length} of ${desired} tasks RUNNING, ${healthy.length} HEALTHY${extra.length ? `; ${extra.join('; ')}` : ''}`;
  return { kind: 'not-stable', line, service: v.name, names: v.names, rank: RANK['not-stable'], seq: v.events.at(-1)?.seq ?? 0 };
}

// ------------------------------------------------------------------ dependencies: security groups and DNS

function normProto(p: string): string {
  const l = p.toLowerCase();
  return l === '6' ? 'tcp' : l === '17' ? 'udp' : l === 'all' ? '-1' : l;
}

function ruleCoversPort(r: SecurityGroupRule, port: number): boolean {
  const p = normProto(r.ipProtocol);
  if (p === '-1') return true;
  if (p !== 'tcp') return false;
  if (r.fromPort === undefined || r.toPort === undefined || r.fromPort < 0) return true;
  return port >= r.fromPort && port <= r.toPort;
}

function ruleAdmitsPeer(r: SecurityGroupRule, peerGroups: readonly string[], peerIp: string | undefined): boolean {
  if (r.referencedGroupId) return peerGroups.includes(r.referencedGroupId);
  if (r.cidrIpv4) return r.cidrIpv4 === '0.0.0.0/0' || (!!peerIp && inCidr(r.cidrIpv4, peerIp));
  return false;
}

interface Side {
  groups: string[];
  ip?: string;
}

function groupNames(ec2: Ec2Store, ids: readonly string[]): string {
  return ids.map((id) => ec2.getSecurityGroup(id)?.groupName ?? id).join(', ');
}

/** Why the security groups drop src → dst:port (undefined: they let it through). */
export function securityGroupBlock(ec2: Ec2Store, src: Side, dst: Side, port: number): string | undefined {
  const groups = (ids: readonly string[]) => ids.map((id) => ec2.getSecurityGroup(id)).filter((g): g is SecurityGroup => !!g);
  if (src.groups.length) {
    const ok = groups(src.groups).some((g) => g.egress.some((r) => ruleCoversPort(r, port) && ruleAdmitsPeer(r, dst.groups, dst.ip)));
    if (!ok) return `${groupNames(ec2, src.groups)} has no egress rule to ${dst.groups.length ? groupNames(ec2, dst.groups) : dst.ip ?? 'it'} on ${port}`;
  }
  if (dst.groups.length) {
    const ok = groups(dst.groups).some((g) => g.ingress.some((r) => ruleCoversPort(r, port) && ruleAdmitsPeer(r, src.groups, src.ip)));
    if (!ok) return `${groupNames(ec2, dst.groups)} has no ingress rule from ${src.groups.length ? groupNames(ec2, src.groups) : src.ip ?? 'it'} on ${port}`;
  }
  return undefined;
}

function serviceGroups(st: ServiceState): string[] {
  const primary = st.service.deployments?.[0];
  return primary?.networkConfiguration?.awsvpcConfiguration?.securityGroups ?? st.service.networkConfiguration?.awsvpcConfiguration?.securityGroups ?? [];
}

function newestTask(ix: Index, st: ServiceState, pred: (t: TaskState) => boolean = () => true): TaskState | undefined {
  return ix.input.stores.ecs
    .tasksOfService(st)
    .filter(pred)
    .sort((a, b) => (a.task.createdAt?.getTime() ?? 0) - (b.task.createdAt?.getTime() ?? 0))
    .at(-1);
}

/** The last lines of the service's newest few tasks (a fresh replacement may not have logged yet), oldest task first. */
function serviceLogLines(ix: Index, st: ServiceState, tasks = 3): string[] {
  return ix.input.stores.ecs
    .tasksOfService(st)
    .sort((a, b) => (a.task.createdAt?.getTime() ?? 0) - (b.task.createdAt?.getTime() ?? 0))
    .slice(-tasks)
    .flatMap((t) => taskLogLines(ix, t, 100));
}

function dependencyCauses(ix: Index, v: ServiceView, failure: Cause | undefined): Cause[] {
  const d = v.deployed;
  if (!d) return [];
  const out: Cause[] = [];
  const ec2 = ix.input.stores.ec2;
  const lines = serviceLogLines(ix, v.st);
  const who = d.shortName;
  for (const dep of d.dependencies) {
    const dns = dnsProblem(ix, dep);
    if (dns) {
      const said = lines.filter((l) => /ENOTFOUND|EAI_AGAIN|getaddrinfo/i.test(l) || l.includes(dep.host)).at(-1);
      out.push({
        kind: 'dns',
        line: `${who}: ${dep.env}=${dep.url} names ${dep.host}, which resolves to nothing: ${dns}${said ? `; the task logged ${quote(said, 140)}` : ''}`,
        service: v.name,
        names: v.names,
        rank: said || !failure ? RANK.dns : UNCORROBORATED,
        seq: v.events.at(-1)?.seq ?? 0,
      });
      continue;
    }
    let dst: Side | undefined;
    if (dep.kind === 'service') {
      const target = [...ix.input.stores.ecs.services.values()].find((s) => s.service.serviceName === dep.target && s.service.status === 'ACTIVE');
      if (target) dst = { groups: serviceGroups(target), ip: taskIp(newestTask(ix, target)) };
    } else if (dep.kind === 'host') {
      const h = (ix.input.hosts ?? []).find((x) => x.name === dep.target || x.dns.toLowerCase() === dep.host);
      if (h) {
        const ids = h.securityGroups.map((n) => ec2.listSecurityGroups().find((g) => g.groupName === n)?.groupId).filter((x): x is string => !!x);
        dst = { groups: ids, ...(h.ip ? { ip: h.ip } : {}) };
      }
    }
    if (!dst) continue;
    const src: Side = { groups: serviceGroups(v.st), ...(taskIp(newestTask(ix, v.st)) ? { ip: taskIp(newestTask(ix, v.st))! } : {}) };
    const why = securityGroupBlock(ec2, src, dst, dep.port);
    if (!why) continue;
    const ev = connectEvidence(lines);
    const evidence = ev
      ? ` (${ev.means}; the task logged ${quote(ev.line, 140)})`
      : ix.input.isolationEnforced === false
        ? ' (security groups are not enforced in this network mode: in AWS the connection would time out)'
        : ' (a connection would time out)';
    out.push({
      kind: 'sg-path',
      line: `${who} cannot reach ${dep.host}:${dep.port}: ${why}${evidence}`,
      service: v.name,
      names: v.names,
      rank: ev || !failure ? RANK['sg-path'] : UNCORROBORATED,
      seq: v.events.at(-1)?.seq ?? 0,
    });
  }
  return out;
}

/** Why a dependency's host resolves to nothing in the VPC's DNS (undefined: it resolves, or it is not ours to answer). */
function dnsProblem(ix: Index, dep: Dependency): string | undefined {
  if (dep.kind === 'host') return undefined;
  const sd = ix.input.stores.serviceDiscovery;
  const host = dep.host.toLowerCase();
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host === 'localhost') return undefined;
  const nss = sd.listNamespaces().filter((n) => n.type !== 'HTTP' && host.endsWith(`.${n.name.toLowerCase()}`)).sort((a, b) => b.name.length - a.name.length);
  const ns = nss[0];
  if (!ns) {
    const parent = host.split('.').slice(1).join('.');
    const hostZones = (ix.input.hosts ?? []).map((h) => h.dns.toLowerCase().split('.').slice(1).join('.'));
    if (dep.kind !== 'unknown' || !(hostZones.includes(parent) || /\.(internal|local|lan|corp)$/.test(host))) return undefined;
    if ((ix.input.hosts ?? []).some((h) => h.dns.toLowerCase() === host)) return undefined;
    const names = sd.listNamespaces().map((n) => n.name);
    return `no Cloud Map namespace ${parent} exists${names.length ? ` (namespaces: ${names.join(', ')})` : ''}${hostZones.includes(parent) ? ` and no manifest host is named ${host}` : ''}`;
  }
  const name = host.slice(0, -(ns.name.length + 1));
  const svc = sd.findServiceByName(ns.id, name);
  if (!svc) {
    const others = sd.listServices(ns.id).map((s) => s.name).sort(naturalSort);
    return `Cloud Map namespace ${ns.name} has no service ${name} (it has ${others.join(', ') || 'none'})`;
  }
  const instances = [...svc.instances.values()];
  const registers = [...ix.input.stores.ecs.services.values()].find((s) => (s.service.serviceRegistries ?? []).some((r) => r.registryArn === svc.arn));
  if (!instances.length) {
    return `Cloud Map service ${name}.${ns.name} has no registered instance (${registers ? `ECS service ${registers.service.serviceName} has no running task` : 'no ECS service registers into it'})`;
  }
  if (instances.every((i) => i.health === 'UNHEALTHY')) return `all ${plural(instances.length, 'instance')} of Cloud Map service ${name}.${ns.name} are UNHEALTHY`;
  return undefined;
}

// ------------------------------------------------------------------ the service causes

/** Every service's cause: its task failures, its dependencies, or where a deployment stands. Best first. */
export function serviceCauses(input: DiagnosisInput): Cause[] {
  return causesOf(indexRun(input));
}

function causesOf(ix: Index): Cause[] {
  const out: Cause[] = [];
  for (const v of serviceViews(ix)) {
    const failure = failureCause(ix, v);
    out.push(...dependencyCauses(ix, v, failure));
    if (failure) out.push(failure);
    else {
      const ns = notStable(ix, v);
      if (ns) out.push(ns);
    }
  }
  return out.sort((a, b) => a.rank - b.rank || a.seq - b.seq);
}

// ------------------------------------------------------------------ scripts

const WAITER_OPERATIONS: Record<string, string[]> = {
  ServicesStable: ['DescribeServices'],
  ServicesInactive: ['DescribeServices'],
  TasksRunning: ['DescribeTasks'],
  TasksStopped: ['DescribeTasks'],
  TargetInService: ['DescribeTargetHealth'],
  TargetDeregistered: ['DescribeTargetHealth'],
  LoadBalancerAvailable: ['DescribeLoadBalancers'],
};

/** The identifying inputs of a call, for a line: `cluster nope, serviceName web`. */
function callInputs(input: unknown): string {
  if (!input || typeof input !== 'object') return '';
  const keep = ['cluster', 'service', 'serviceName', 'services', 'taskDefinition', 'family', 'repositoryName', 'imageTag', 'Name', 'Names', 'SecretId', 'Name', 'RoleName', 'GroupId', 'GroupName', 'TargetGroupArn', 'LoadBalancerArn', 'ListenerArn', 'NamespaceId', 'Id', 'logGroupName'];
  const out: string[] = [];
  for (const k of keep) {
    const val = (input as Record<string, unknown>)[k];
    if (val === undefined || out.some((o) => o.startsWith(`${k} `))) continue;
    const text = Array.isArray(val) ? val.join(',') : String(val);
    out.push(`${k} ${text.replace(/^arn:[^:]+:[^:]+:[^:]*:[^:]*:/, '')}`);
    if (out.length >= 3) break;
  }
  return out.length ? ` (${out.join(', ')})` : '';
}

function lastStderrLine(run: DiagnosisScript): string | undefined {
  if (run.lastStderr?.trim()) return run.lastStderr.trim();
  return run.output.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
}

function apiCallsOf(ix: Index, run: DiagnosisScript): TimelineEvent[] {
  return ix.input.events.filter((e) => e.type === 'api.call' && callOfRun(e, run));
}

function scriptCauseOf(ix: Index, run: DiagnosisScript, services: Cause[]): Cause | undefined {
  if (run.exitCode === 0) return undefined;
  const label = [run.script, ...run.args].join(' ');
  const how = run.exitCode === null ? (run.timedOut ? `was killed after its ${Math.round((run.durationMs ?? 0) / 1000)} s timeout` : 'was stopped by a signal') : `exited ${run.exitCode}`;
  const names = [run.script, label];
  const mk = (kind: CauseKind, line: string, seq: number): Cause => ({ kind, line, script: run.script, args: run.args, names, rank: RANK[kind], seq });

  // 1. a prerequisite it looked up and the manifest did not seed
  const missing = missingPrerequisites(ix.input.events, { fromSeq: run.fromSeq, toSeq: run.toSeq, script: run.script, ...(run.callerTag ? { callerTag: run.callerTag } : {}) });
  if (missing.length) {
    const m = missing[0]!;
    const more = missing.length > 1 ? `; it also looked up ${missing.slice(1).map((x) => `${x.what} ${x.name}`).join(', ')}` : '';
    return mk('prerequisite', `${run.script} looked up ${m.what} ${m.name}, which does not exist (seed it under ${m.manifestKey} in harness.yaml): ${m.service} ${m.operation} → ${m.error}${more}; \`${label}\` ${how}`, m.seq);
  }

  const calls = apiCallsOf(ix, run);
  const stderr = lastStderrLine(run);
  const stderrText = stderr ? `; last stderr line ${quote(stderr)}` : '';
  const servicesOf = (svcNames: string[]) => svcNames.map((n) => services.find((c) => c.service === n)).filter((c): c is Cause => !!c);

  // 2. a waiter that gave up: what it was waiting for, and why that never happened
  const waiter = [...run.output.matchAll(/Waiter (\w+) failed: ([^\n]+)/g)].at(-1);
  if (waiter) {
    const ops = WAITER_OPERATIONS[waiter[1]!] ?? [];
    const poll = calls.filter((c) => (ops.length ? ops.includes(String(c.operation)) : /^Describe/.test(String(c.operation)))).at(-1);
    const input = (poll?.input ?? {}) as Record<string, unknown>;
    const waited = (Array.isArray(input.services) ? input.services : []).map((s) => String(s).split('/').pop()!);
    const why = servicesOf(waited);
    const about = why.length ? `: ${why.map(lineFor).join('; ')}` : '';
    return mk('waiter-timeout', `\`${label}\` ${how}: its wait gave up (Waiter ${waiter[1]} failed: ${waiter[2]!.trim()})${waited.length ? ` while ${waited.join(', ')} never got stable` : ''}${about}`, poll?.seq ?? run.toSeq);
  }

  // 3. the last AWS call that failed, in AWS's words
  // scripts run side by side share the timeline: prefer a failed call whose input names one of its arguments
  const errors = calls.filter((c) => typeof c.error === 'string');
  const namesArg = (c: TimelineEvent) => Object.values((c.input ?? {}) as Record<string, unknown>).some((x) => run.args.some((a) => a.length >= 3 && (x === a || (Array.isArray(x) && x.includes(a)))));
  const failed = errors.filter(namesArg).at(-1) ?? errors.at(-1);
  if (failed) {
    const svc = failed.service === 'elasticloadbalancing' ? 'elbv2' : String(failed.service);
    return mk(
      run.timedOut ? 'script-timeout' : 'script-error',
      `\`${label}\` ${how}: ${svc} ${failed.operation} → ${failed.error}: ${quote(String(failed.message ?? ''))}${callInputs(failed.input)}${stderrText}`,
      failed.seq,
    );
  }

  // 4. no AWS call failed: what it said last, and what went wrong with the services meanwhile
  const during = services.filter((c) => c.seq >= run.fromSeq && c.seq < run.toSeq && c.kind !== 'not-stable');
  return mk(run.timedOut ? 'script-timeout' : 'script-error', `\`${label}\` ${how}${stderrText}${during[0] ? `; meanwhile ${during[0].service}: ${during[0].line}` : ''}`, run.toSeq);
}

/** One line for a failed script (undefined when it exited 0). */
export function diagnoseScript(input: DiagnosisInput, run: DiagnosisScript): string | undefined {
  const ix = indexRun(input);
  return scriptCauseOf(ix, run, causesOf(ix))?.line;
}

// ------------------------------------------------------------------ checks

export interface Diagnoses {
  /** per check given, its cause (undefined: passed, or nothing in the run explains it) */
  checks: (string | undefined)[];
  /** per failed script, in run order */
  scripts: { run: DiagnosisScript; line: string }[];
  /** every line once: the failed checks' causes, then the failed scripts' lines */
  lines: string[];
  /** every service cause found, best first */
  causes: Cause[];
}

function checkText(c: DiagnosableCheck): string {
  return [c.name, c.expected, c.observed, c.detail].filter(Boolean).join('\n');
}

function lineFor(c: Cause): string {
  // a service cause names its revision; say which service when the line does not start with it
  return c.service && !c.line.startsWith(c.service) && !c.names.some((n) => c.line.startsWith(`${n}:`) || c.line.startsWith(`${n} `)) ? `${c.service}: ${c.line}` : c.line;
}

/**
 * The cause of one failed check: the failed script it names, else the best cause of a service
 * it names; a check that names services none of which has a cause gets none (another service's
 * would mislead); one that names none gets the run's first failed script's, else its best.
 */
function causeForCheck(check: DiagnosableCheck, services: Cause[], scripts: Cause[], known: readonly string[]): Cause | undefined {
  const text = checkText(check);
  // the failed script the check names, the one whose arguments it names most (the latest on a tie)
  const score = (c: Cause) => (c.names.some((n) => mentions(text, n)) ? 1 + (c.args ?? []).filter((a) => mentions(text, a)).length : 0);
  const script = scripts.reduce<Cause | undefined>((best, c) => (score(c) > 0 && (!best || score(c) >= score(best)) ? c : best), undefined);
  if (script) return script;
  const named = services.filter((c) => c.names.some((n) => mentions(text, n)));
  if (named.length) return named[0];
  if (known.some((n) => mentions(text, n))) return undefined;
  return scripts[0] ?? services.find((c) => c.kind !== 'not-stable') ?? services[0];
}

/**
 * The diagnosis of a run: one line per failed check (status 'failed' or without a status) and
 * per failed script. Checks that passed get none.
 */
export function diagnose(input: DiagnosisInput, checks: readonly (DiagnosableCheck & { status?: string })[] = []): Diagnoses {
  const ix = indexRun(input);
  const causes = causesOf(ix);
  const known = serviceViews(ix).flatMap((v) => v.names);
  const scripts = (input.scripts ?? []).map((run) => ({ run, cause: scriptCauseOf(ix, run, causes) })).filter((x): x is { run: DiagnosisScript; cause: Cause } => !!x.cause);
  const scriptCauses = scripts.map((s) => s.cause);
  const perCheck = checks.map((c) => {
    if (c.status !== undefined && c.status !== 'failed') return undefined;
    const cause = causeForCheck(c, causes, scriptCauses, known);
    if (!cause) return undefined;
    const line = lineFor(cause);
    const others = causes.filter((x) => x !== cause && x.kind !== 'not-stable' && x.rank < UNCORROBORATED && x.service !== cause.service && x.names.some((n) => mentions(checkText(c), n)));
    return others.length ? `${line} (also: ${others.map((o) => o.service).join(', ')})` : line;
  });
  const lines = [...new Set([...perCheck.filter((l): l is string => !!l), ...scriptCauses.map((c) => c.line)])];
  return { checks: perCheck, scripts: scripts.map((s) => ({ run: s.run, line: s.cause.line })), lines, causes };
}

/** The cause of one failed check (undefined when nothing in the run explains it). */
export function diagnoseCheck(input: DiagnosisInput, check: DiagnosableCheck): string | undefined {
  return diagnose(input, [check]).checks[0];
}

// ------------------------------------------------------------------ from a running harness

/** What a started harness holds that a diagnosis reads (structurally StartedHarness). */
export interface DiagnosableHarness {
  events: { all(): readonly TimelineEvent[] };
  stores: DiagnosisStores;
  manifest: { hosts: Record<string, { kind: string; dns?: string; port?: number; securityGroups?: string[] }> };
  surreal?: { hostname: string; ip: string };
  isolationEnforced: boolean;
}

/** The diagnosis input of a harness, the scripts run against it and what they created. */
export function diagnosisInputOf(h: DiagnosableHarness, scripts: readonly DiagnosisScript[], deployment?: Deployment): DiagnosisInput {
  const hosts: DiagnosisHost[] = [];
  for (const [name, x] of Object.entries(h.manifest.hosts)) {
    if (x.kind !== 'surrealdb' || !x.dns) continue;
    const ip = h.surreal && h.surreal.hostname.toLowerCase() === x.dns.toLowerCase() ? h.surreal.ip : undefined;
    hosts.push({ name, dns: x.dns, port: x.port ?? 8000, securityGroups: x.securityGroups ?? [], ...(ip ? { ip } : {}) });
  }
  return { events: h.events.all(), stores: h.stores, ...(deployment ? { deployment } : {}), scripts, hosts, isolationEnforced: h.isolationEnforced };
}
