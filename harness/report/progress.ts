/**
 * Live progress while the harness works: a model that turns timeline events (events.ts) into
 * one status per ECS service plus the script being run, and two renderers of it: on a TTY a
 * block redrawn in place (at most ~10×/s), elsewhere one timestamped line per change, no ANSI.
 * Pure apart from the output stream and a timer: `harness scenario` feeds it what the vitest
 * worker forwards (progress-channel.ts), `harness up` its own event log, `harness images` and
 * `harness doctor --fix` only steps.
 *
 * Besides the event log's own types it reads two of its own: `progress.scenario` (a scenario
 * starts: a heading, a fresh model) and `progress.step` (a bring-up or build step, `text`).
 */
import type { TimelineEvent } from '../events.ts';

/** The event types the model reads (the forwarder sends only these). */
export const PROGRESS_EVENT_TYPES: ReadonlySet<string> = new Set([
  'progress.scenario',
  'progress.step',
  'script.start',
  'script.end',
  'api.call',
  'ecs.taskdefinition.registered',
  'ecs.service.created',
  'ecs.service.updated',
  'ecs.service.status',
  'ecs.task.state',
  'ecs.task.stop-requested',
  'ecs.task.health',
  'ecs.deployment',
  'ecs.deployment.failedTask',
  'ecs.deployment.rollback',
  'ecs.service.steady',
  'harness.down',
]);

/**
 * What the progress needs of an event, or undefined when it needs nothing: api.call without its
 * input (but desiredCount and the service name of CreateService/UpdateService), health events
 * without the check's output. Keeps what crosses the socket small.
 */
export function progressEventOf(e: TimelineEvent): TimelineEvent | undefined {
  if (!PROGRESS_EVENT_TYPES.has(e.type)) return undefined;
  if (e.type === 'api.call') {
    const input = (e.input ?? {}) as Record<string, unknown>;
    const keep: Record<string, unknown> = {};
    for (const k of ['serviceName', 'service', 'desiredCount'] as const) if (input[k] !== undefined) keep[k] = input[k];
    return { t: e.t, seq: e.seq, type: e.type, service: e.service, operation: e.operation, status: e.status, ...(e.error ? { error: e.error } : {}), ...(e.caller ? { caller: e.caller } : {}), input: keep };
  }
  if (e.type === 'ecs.task.health') {
    const { output: _output, ...rest } = e;
    return rest as TimelineEvent;
  }
  return e;
}

// ---------------------------------------------------------------------------------- model

export type Tone = 'dim' | 'busy' | 'good' | 'bad';

export interface ServiceLine {
  /** service name, or `family:<name>` for a task definition no service runs yet */
  key: string;
  name: string;
  text: string;
  tone: Tone;
  /** a deployment whose desired count is not known yet and that has no task: the plain renderer waits */
  provisional?: boolean;
}

export interface ScriptProgress {
  label: string;
  callerTag?: string;
  startedAt: number;
  endedAt?: number;
  exitCode?: number;
  /** its latest aws call, CLI-style: `ecs update-service` (with the error code when it failed) */
  lastCall?: string;
}

export interface StepProgress {
  text: string;
  t: number;
  /** a milestone that ends the step before it (`done: true` on progress.step): no duration of its own */
  milestone?: boolean;
  /** when the next step started (or the work ended) */
  endT?: number;
}

interface TaskProgress {
  service: string;
  taskDefinition?: string;
  lastStatus: string;
  health: Map<string, string>;
}

interface ServiceProgress {
  key: string;
  name: string;
  family?: string;
  /** 'registered': only a task definition so far */
  phase: 'registered' | 'deploying' | 'steady' | 'draining' | 'deleted';
  /** the PRIMARY deployment's task definition ARN */
  taskDefinition?: string;
  deployment?: string;
  /** a family:revision registered after the current deployment started */
  registered?: string;
  desired?: number;
  rolledBack?: { from?: string; to: string };
  failed?: boolean;
  failedTasks: number;
  lastStopReason?: string;
  healthChecked: boolean;
}

const PROVISIONING = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);

/** `arn:…:task-definition/gateway:4` → `gateway:4` */
export function revisionOf(arn: string | undefined): string | undefined {
  return arn ? arn.split('/').pop() : undefined;
}

function familyOf(arn: string | undefined): string | undefined {
  return revisionOf(arn)?.replace(/:\d+$/, '');
}

const CLI_SERVICE: Record<string, string> = { elasticloadbalancing: 'elbv2', monitoring: 'cloudwatch', apigateway: 'apigatewayv2' };

/** `ecs`, `UpdateService` → `ecs update-service` (as the script wrote it) */
export function cliCallName(service: string, operation: string): string {
  const op = operation
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
  return `${CLI_SERVICE[service] ?? service} ${op}`;
}

/**
 * The state of one run (a scenario, or `harness up`) as its events say: per service what phase
 * it is in with counts of the PRIMARY deployment's tasks, the scripts run and their latest aws
 * call, the bring-up steps. Feed it every event in order with apply().
 */
export class ProgressModel {
  /** when the run started (its first event) */
  t0?: number;
  /** the latest event's time */
  lastT?: number;
  /** harness.down seen: elapsed counters stop */
  endedAt?: number;
  readonly scripts: ScriptProgress[] = [];
  readonly steps: StepProgress[] = [];
  private readonly services = new Map<string, ServiceProgress>();
  private readonly tasks = new Map<string, TaskProgress>();

  apply(e: TimelineEvent): void {
    // after harness.down the teardown stops every task: that is not the deploy's progress
    if (this.endedAt !== undefined) return;
    if (typeof e.t === 'number') {
      this.t0 ??= e.t;
      this.lastT = e.t;
    }
    const str = (k: string) => (typeof e[k] === 'string' && e[k] !== '' ? (e[k] as string) : undefined);
    switch (e.type) {
      case 'progress.step': {
        const last = this.steps.at(-1);
        if (last && last.endT === undefined) last.endT = e.t;
        this.steps.push({ text: str('text') ?? '', t: e.t, ...(e.done === true ? { milestone: true, endT: e.t } : {}) });
        break;
      }
      case 'script.start':
        this.closeStep(e.t);
        this.scripts.push({ label: scriptLabel(e), callerTag: str('callerTag'), startedAt: e.t });
        break;
      case 'script.end': {
        const label = scriptLabel(e);
        const s = this.scripts.find((x) => x.endedAt === undefined && x.label === label) ?? this.scripts.find((x) => x.endedAt === undefined);
        if (s) {
          s.endedAt = e.t;
          s.exitCode = typeof e.exitCode === 'number' ? e.exitCode : undefined;
        }
        break;
      }
      case 'api.call':
        this.apiCall(e);
        break;
      case 'ecs.taskdefinition.registered': {
        const family = str('family');
        const arn = str('arn');
        if (!family) break;
        const rev = revisionOf(arn) ?? `${family}:${e.revision ?? '?'}`;
        const users = [...this.services.values()].filter((s) => s.family === family && s.phase !== 'registered' && s.phase !== 'deleted');
        if (users.length) for (const s of users) s.registered = rev;
        else {
          const key = `family:${family}`;
          const row = this.services.get(key) ?? { key, name: family, family, phase: 'registered' as const, failedTasks: 0, healthChecked: false };
          row.taskDefinition = arn;
          this.services.set(key, row);
        }
        break;
      }
      case 'ecs.service.created': {
        const s = this.service(str('service'), str('taskDefinition'));
        if (s && s.phase === 'registered') s.phase = 'deploying';
        break;
      }
      case 'ecs.service.updated': {
        const s = this.service(str('service'), str('taskDefinition'));
        if (s && typeof e.desiredCount === 'number') s.desired = e.desiredCount;
        break;
      }
      case 'ecs.service.status': {
        const s = this.service(str('service'));
        if (s) s.phase = e.status === 'INACTIVE' ? 'deleted' : 'draining';
        break;
      }
      case 'ecs.deployment':
        this.deployment(e);
        break;
      case 'ecs.deployment.failedTask': {
        const s = this.service(str('service'));
        if (s && (!s.deployment || e.deployment === s.deployment)) {
          if (typeof e.failedTasks === 'number') s.failedTasks = e.failedTasks;
          if (str('stoppedReason')) s.lastStopReason = str('stoppedReason');
        }
        break;
      }
      case 'ecs.deployment.rollback': {
        const s = this.service(str('service'));
        if (!s) break;
        const from = s.rolledBack?.from ?? (s.taskDefinition !== e.taskDefinition ? revisionOf(s.taskDefinition) : undefined);
        s.rolledBack = { from, to: revisionOf(str('taskDefinition')) ?? '?' };
        s.taskDefinition = str('taskDefinition') ?? s.taskDefinition;
        if (s.phase !== 'steady') s.phase = 'deploying';
        break;
      }
      case 'ecs.service.steady': {
        const s = this.service(str('service'));
        if (!s) break;
        if (str('taskDefinition')) s.taskDefinition = str('taskDefinition');
        s.phase = 'steady';
        break;
      }
      case 'ecs.task.state': {
        const id = str('taskId');
        const svc = str('service');
        if (!id) break;
        let t = this.tasks.get(id);
        if (!t) {
          if (!svc) break; // a standalone task (run-task): not a service's
          t = { service: svc, lastStatus: '', health: new Map() };
          this.tasks.set(id, t);
        }
        if (str('taskDefinition')) t.taskDefinition = str('taskDefinition');
        t.lastStatus = str('lastStatus') ?? t.lastStatus;
        const s = this.services.get(t.service);
        if (s && t.lastStatus === 'STOPPED' && str('stoppedReason') && t.taskDefinition === s.taskDefinition) s.lastStopReason = str('stoppedReason');
        break;
      }
      case 'ecs.task.stop-requested': {
        const t = this.tasks.get(str('taskId') ?? '');
        const s = t && this.services.get(t.service);
        if (s && t.taskDefinition === s.taskDefinition && str('stoppedReason')) s.lastStopReason = str('stoppedReason');
        break;
      }
      case 'ecs.task.health': {
        const t = this.tasks.get(str('taskId') ?? '');
        if (!t) break;
        t.health.set(str('container') ?? '', str('healthStatus') ?? 'UNKNOWN');
        const s = this.services.get(t.service);
        if (s) s.healthChecked = true;
        break;
      }
      case 'harness.down':
        this.endedAt = e.t;
        this.closeStep(e.t);
        break;
    }
  }

  /** The current step: the running script(s), else the latest bring-up step. */
  runningScripts(): ScriptProgress[] {
    return this.scripts.filter((s) => s.endedAt === undefined);
  }

  /** One line per service (and per task definition no service runs yet), in order of appearance. */
  lines(): ServiceLine[] {
    return [...this.services.values()].map((s) => {
      const line: ServiceLine = { key: s.key, name: s.name, ...this.describe(s) };
      if (s.phase === 'deploying' && s.desired === undefined && !this.hasTasks(s)) line.provisional = true;
      return line;
    });
  }

  private closeStep(t: number): void {
    const last = this.steps.at(-1);
    if (last && last.endT === undefined) last.endT = t;
  }

  private describe(s: ServiceProgress): { text: string; tone: Tone } {
    const rev = revisionOf(s.taskDefinition);
    const registered = s.registered ? ` · ${s.registered} registered` : '';
    if (s.phase === 'registered') return { text: `task definition ${rev ?? s.name} registered`, tone: 'dim' };
    if (s.phase === 'draining') return { text: 'draining (deleted)', tone: 'dim' };
    if (s.phase === 'deleted') return { text: 'deleted', tone: 'dim' };
    const c = this.counts(s);
    const d = s.desired !== undefined ? `/${s.desired}` : '';
    const reason = s.lastStopReason ? ` — ${clip(s.lastStopReason, 80)}` : '';
    const parts: string[] = [];
    if (c.provisioning) parts.push(`provisioning ${c.provisioning}`);
    parts.push(`running ${c.running}${d}`);
    if (s.healthChecked) parts.push(`healthy ${c.healthy}${d}`);
    if (c.unhealthy) parts.push(`unhealthy ${c.unhealthy}`);
    if (s.failedTasks) parts.push(`failed ${s.failedTasks}`);
    const counts = parts.join(', ');
    if (s.phase === 'steady') {
      const n = s.healthChecked ? c.healthy : c.running;
      const whole = `${n}${d} ${s.healthChecked ? 'healthy' : 'running'}`;
      // ECS announces steady once per deployment: a task failing afterwards is shown as it is
      const holds = (s.desired === undefined || n >= s.desired) && !c.unhealthy && !c.provisioning;
      if (s.rolledBack) return { text: `steady on ${s.rolledBack.to} after rollback${s.rolledBack.from ? ` from ${s.rolledBack.from}` : ''} (${holds ? whole : counts})${registered}`, tone: 'bad' };
      if (holds) return { text: `steady (${whole})${registered}`, tone: 'good' };
      return { text: `no longer steady: ${counts}${reason}${registered}`, tone: c.unhealthy || s.lastStopReason ? 'bad' : 'busy' };
    }
    if (s.rolledBack) return { text: `ROLLBACK${s.rolledBack.from ? ` of ${s.rolledBack.from}` : ''} to ${s.rolledBack.to}: ${counts}${reason}${registered}`, tone: 'bad' };
    if (s.failed) return { text: `deployment FAILED (${rev}): ${counts}${reason}${registered}`, tone: 'bad' };
    return { text: `${rev ?? 'deploying'}: ${counts}${registered}`, tone: 'busy' };
  }

  private hasTasks(s: ServiceProgress): boolean {
    for (const t of this.tasks.values()) if (t.service === s.name) return true;
    return false;
  }

  private counts(s: ServiceProgress): { provisioning: number; running: number; healthy: number; unhealthy: number } {
    let provisioning = 0;
    let running = 0;
    let healthy = 0;
    let unhealthy = 0;
    for (const t of this.tasks.values()) {
      if (t.service !== s.name || (s.taskDefinition && t.taskDefinition !== s.taskDefinition)) continue;
      if (PROVISIONING.has(t.lastStatus)) provisioning++;
      else if (t.lastStatus === 'RUNNING') {
        running++;
        const hs = [...t.health.values()];
        if (hs.length && hs.every((h) => h === 'HEALTHY')) healthy++;
        else if (hs.includes('UNHEALTHY')) unhealthy++;
      }
    }
    return { provisioning, running, healthy, unhealthy };
  }

  /** The row of a service, created on first sight (taking the place of its task definition's row). */
  private service(name: string | undefined, taskDefinition?: string): ServiceProgress | undefined {
    if (!name) return undefined;
    const found = this.services.get(name);
    if (found) return found;
    const family = familyOf(taskDefinition);
    const row: ServiceProgress = { key: name, name, family, phase: 'deploying', taskDefinition, failedTasks: 0, healthChecked: false };
    const famKey = family ? `family:${family}` : undefined;
    if (famKey && this.services.has(famKey)) {
      // same position as the task definition's line
      const entries = [...this.services.entries()].map(([k, v]): [string, ServiceProgress] => (k === famKey ? [name, row] : [k, v]));
      this.services.clear();
      for (const [k, v] of entries) this.services.set(k, v);
    } else this.services.set(name, row);
    return row;
  }

  private deployment(e: TimelineEvent): void {
    const s = this.service(typeof e.service === 'string' ? e.service : undefined, typeof e.taskDefinition === 'string' ? e.taskDefinition : undefined);
    if (!s) return;
    if (e.status === 'INACTIVE') return; // an older deployment leaving
    if (e.rolloutState === 'IN_PROGRESS') {
      const rollback = typeof e.rolloutStateReason === 'string' && /rolling back/i.test(e.rolloutStateReason);
      if (rollback) s.rolledBack = { from: revisionOf(s.taskDefinition), to: revisionOf(e.taskDefinition as string) ?? '?' };
      else {
        s.rolledBack = undefined;
        s.failed = false;
        s.lastStopReason = undefined;
      }
      s.deployment = e.deployment as string | undefined;
      s.taskDefinition = (e.taskDefinition as string | undefined) ?? s.taskDefinition;
      s.family = familyOf(s.taskDefinition) ?? s.family;
      s.failedTasks = 0;
      s.phase = 'deploying';
      if (s.registered === revisionOf(s.taskDefinition)) s.registered = undefined;
    } else if (e.rolloutState === 'FAILED') {
      if (!s.deployment || e.deployment === s.deployment) {
        s.failed = true;
        if (s.phase === 'steady') s.phase = 'deploying';
      }
    }
  }

  private apiCall(e: TimelineEvent): void {
    const input = (e.input ?? {}) as Record<string, unknown>;
    if (e.service === 'ecs' && (e.operation === 'CreateService' || e.operation === 'UpdateService') && typeof e.status === 'number' && e.status < 300) {
      const name = String(input.serviceName ?? input.service ?? '').split('/').pop();
      const s = name ? this.services.get(name) : undefined;
      if (s && typeof input.desiredCount === 'number') s.desired = input.desiredCount;
    }
    const running = this.runningScripts();
    const caller = typeof e.caller === 'string' ? e.caller : undefined;
    const script = (caller && running.find((s) => s.callerTag === caller)) || (!caller && running.length === 1 ? running[0] : undefined);
    if (!script || typeof e.service !== 'string' || typeof e.operation !== 'string') return;
    script.lastCall = cliCallName(e.service, e.operation) + (typeof e.error === 'string' && e.error ? ` → ${e.error}` : '');
  }
}

function scriptLabel(e: TimelineEvent): string {
  const args = Array.isArray(e.args) ? (e.args as unknown[]).map(String) : [];
  return [String(e.script ?? 'script'), ...args].join(' ');
}

function clip(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
}

// ---------------------------------------------------------------------------------- formatting

/** 12:03:04.120 (local time) */
export function clockTime(t: number): string {
  const d = new Date(t);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** 8.4s */
export function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/** a counter: 7s, 1m05s */
export function counter(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

// ---------------------------------------------------------------------------------- renderers

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressRenderer {
  /** a timeline event (or progress.scenario / progress.step) */
  event(e: TimelineEvent): void;
  /** a step (bring-up, build, apt): the previous one ends */
  step(text: string): void;
  /** a milestone: the previous step ends with it, nothing runs after it */
  done(text: string): void;
  /** a line of other output (vitest's, the verb's own): printed above the live block */
  log(line: string): void;
  /** the final static block; nothing is drawn afterwards */
  finish(): void;
}

export interface RendererOptions {
  now?: () => number;
  /** TTY only: colour (default: unless NO_COLOR is set) */
  color?: boolean;
  /** TTY only: the redraw interval (default 100 ms); 0 = no timer, redraw on flush() only */
  intervalMs?: number;
}

/** On a TTY the in-place renderer, elsewhere the plain one. */
export function createProgressRenderer(out: ProgressStream, opts: RendererOptions = {}): ProgressRenderer {
  return out.isTTY ? new TtyRenderer(out, opts) : new PlainRenderer(out, opts);
}

/** A renderer that prints nothing (--quiet). */
export const silentRenderer: ProgressRenderer = { event() {}, step() {}, done() {}, log() {}, finish() {} };

/**
 * One timestamped line per change: `12:03:04.120 +8.4s gateway: steady (2/2 healthy)`. A
 * service's line is printed when its text changes, a script's when it starts and ends, a step
 * when it starts; aws calls are not printed (too many; the script logs have them).
 */
export class PlainRenderer implements ProgressRenderer {
  private model = new ProgressModel();
  private readonly printed = new Map<string, string>();
  private scriptsSeen = 0;
  private scriptsEnded = new Set<ScriptProgress>();
  private readonly now: () => number;

  constructor(private readonly out: ProgressStream, opts: RendererOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  event(e: TimelineEvent): void {
    if (e.type === 'progress.scenario') {
      this.model = new ProgressModel();
      this.printed.clear();
      this.scriptsSeen = 0;
      this.scriptsEnded.clear();
      this.model.apply(e);
      this.out.write(`${clockTime(e.t)} ── scenario ${String(e.name ?? '')}\n`);
      return;
    }
    this.model.apply(e);
    const at = (t: number) => `${clockTime(t)} +${seconds(t - (this.model.t0 ?? t))}`;
    if (e.type === 'progress.step') this.out.write(`${at(e.t)} ${String(e.text ?? '')}\n`);
    const scripts = this.model.scripts;
    for (; this.scriptsSeen < scripts.length; this.scriptsSeen++) this.out.write(`${at(scripts[this.scriptsSeen]!.startedAt)} script ${scripts[this.scriptsSeen]!.label}: started\n`);
    for (const s of scripts) {
      if (s.endedAt === undefined || this.scriptsEnded.has(s)) continue;
      this.scriptsEnded.add(s);
      this.out.write(`${at(s.endedAt)} script ${s.label}: exited ${s.exitCode ?? '?'} after ${seconds(s.endedAt - s.startedAt)}\n`);
    }
    for (const l of this.model.lines()) {
      if (l.provisional || this.printed.get(l.key) === l.text) continue;
      this.printed.set(l.key, l.text);
      this.out.write(`${at(e.t)} ${l.name}: ${l.text}\n`);
    }
  }

  step(text: string): void {
    this.event({ t: this.now(), seq: -1, type: 'progress.step', text });
  }

  done(text: string): void {
    this.event({ t: this.now(), seq: -1, type: 'progress.step', text, done: true });
  }

  log(line: string): void {
    this.out.write(line + '\n');
  }

  finish(): void {
    const last = this.model.steps.at(-1);
    if (last && last.endT === undefined && this.model.scripts.length === 0 && this.model.t0 !== undefined) {
      const now = this.now();
      this.out.write(`${clockTime(now)} +${seconds(now - this.model.t0)} finished: ${last.text} (${seconds(now - last.t)})\n`);
    }
  }
}

const ESC = '\x1b[';
const TONE: Record<Tone, string> = { dim: '2', busy: '33', good: '32', bad: '31' };

/**
 * The block redrawn in place: a line per service (colour by state, red for a rollback or a
 * failed deployment), then the running script with its latest aws call, or the running step,
 * with counters. Lines of other output and finished steps are printed above it. Redraws at
 * most every intervalMs, moving the cursor up over the previous block and clearing each line.
 */
export class TtyRenderer implements ProgressRenderer {
  private model = new ProgressModel();
  private heading?: string;
  /** lines of the block on screen (to move up over) */
  private drawn = 0;
  private lastFrame = '';
  private timer?: NodeJS.Timeout;
  private finished = false;
  private readonly now: () => number;
  private readonly color: boolean;
  private readonly intervalMs: number;
  private stepsPrinted = 0;
  private scriptsPrinted = new Set<ScriptProgress>();

  constructor(private readonly out: ProgressStream, opts: RendererOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.color = opts.color ?? !process.env.NO_COLOR;
    this.intervalMs = opts.intervalMs ?? 100;
  }

  event(e: TimelineEvent): void {
    if (this.finished) return;
    if (e.type === 'progress.scenario') {
      this.endBlock();
      this.model = new ProgressModel();
      this.stepsPrinted = 0;
      this.scriptsPrinted.clear();
      this.heading = String(e.name ?? '');
      this.static([this.paint(`── scenario ${this.heading}`, '1')]);
    }
    this.model.apply(e);
    this.printDone();
    this.schedule();
  }

  step(text: string): void {
    this.event({ t: this.now(), seq: -1, type: 'progress.step', text });
  }

  done(text: string): void {
    this.event({ t: this.now(), seq: -1, type: 'progress.step', text, done: true });
  }

  log(line: string): void {
    if (this.finished) {
      this.out.write(line + '\n');
      return;
    }
    this.static([line]);
    this.schedule();
  }

  /** Draws the block now (when it changed). */
  flush(): void {
    if (this.finished) return;
    const lines = this.frame(false);
    const frame = lines.join('\n');
    if (frame === this.lastFrame && this.drawn === lines.length) return;
    this.draw(lines);
  }

  finish(): void {
    if (this.finished) return;
    this.endBlock();
    this.finished = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The last frame of the current block, left on screen as it is. */
  private endBlock(): void {
    const last = this.model.steps.at(-1);
    if (last && last.endT === undefined) last.endT = this.now();
    this.printDone();
    const lines = this.frame(true);
    if (lines.length || this.drawn) this.draw(lines);
    this.drawn = 0;
    this.lastFrame = '';
  }

  private schedule(): void {
    if (this.finished || this.timer || this.intervalMs <= 0) return;
    this.timer = setInterval(() => this.flush(), this.intervalMs);
    this.timer.unref?.();
  }

  /** Finished steps and scripts become static lines above the block. */
  private printDone(): void {
    const lines: string[] = [];
    const steps = this.model.steps;
    for (; this.stepsPrinted < steps.length && steps[this.stepsPrinted]!.endT !== undefined; this.stepsPrinted++) {
      const s = steps[this.stepsPrinted]!;
      lines.push(s.milestone ? `${this.paint('✓', '32')} ${s.text}` : `${this.paint('✓', '32')} ${s.text} ${this.paint(seconds(s.endT! - s.t), '2')}`);
    }
    for (const s of this.model.scripts) {
      if (s.endedAt === undefined || this.scriptsPrinted.has(s)) continue;
      this.scriptsPrinted.add(s);
      const ok = s.exitCode === 0;
      lines.push(`${ok ? this.paint('✓', '32') : this.paint('✗', '31')} ${s.label} exited ${s.exitCode ?? '?'} ${this.paint(seconds(s.endedAt - s.startedAt), '2')}`);
    }
    if (lines.length) this.static(lines);
  }

  /** Lines above the block, whole (they may wrap: only the block's height must be known). */
  private static(lines: string[]): void {
    this.clear();
    this.out.write(lines.join('\n') + '\n');
  }

  private clear(): void {
    if (this.drawn) this.out.write(`${ESC}${this.drawn}A\r${ESC}J`);
    this.drawn = 0;
    this.lastFrame = '';
  }

  private draw(lines: string[]): void {
    let s = this.drawn ? `${ESC}${this.drawn}A` : '';
    for (const l of lines) s += `\r${ESC}2K${this.fit(l)}\n`;
    if (lines.length < this.drawn) s += `${ESC}J`;
    this.out.write(s);
    this.drawn = lines.length;
    this.lastFrame = lines.join('\n');
  }

  private frame(final: boolean): string[] {
    const m = this.model;
    const rows = m.lines();
    const now = m.endedAt ?? this.now();
    const cols = this.columns();
    const out: string[] = [];
    const w = Math.min(28, Math.max(0, ...rows.map((r) => r.name.length)));
    // texts are clipped before colouring, so the colour and the counters at the end stay
    for (const r of rows) out.push(`  ${r.name.padEnd(w)}  ${this.paint(clip(r.text, cols - w - 4), TONE[r.tone])}`);
    if (m.t0 === undefined) return out;
    const totalText = `elapsed ${final ? seconds(now - m.t0) : counter(now - m.t0)}`;
    const total = this.paint(totalText, '2');
    const live = (label: string, since: number) => {
      const tail = `  ${counter(now - since)}   `;
      return `${this.paint('▸', '36')} ${clip(label, cols - 2 - tail.length - totalText.length)}${tail}${total}`;
    };
    const running = m.runningScripts();
    const step = m.steps.at(-1);
    if (final) {
      if (rows.length || m.scripts.length) out.push(`  ${total}`);
    } else if (running.length) {
      for (const s of running) out.push(live(`${s.label}${s.lastCall ? ` · ${s.lastCall}` : ''}`, s.startedAt));
    } else if (step && step.endT === undefined) {
      out.push(live(step.text, step.t));
    } else {
      out.push(`  ${total}`);
    }
    return out;
  }

  private columns(): number {
    return this.out.columns && this.out.columns > 20 ? this.out.columns - 1 : 200;
  }

  private paint(s: string, code: string): string {
    return this.color ? `${ESC}${code}m${s}${ESC}0m` : s;
  }

  /** One screen line: longer lines would wrap and break the cursor-up count. */
  private fit(line: string): string {
    const cols = this.columns();
    // eslint-disable-next-line no-control-regex
    const visible = line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    if (visible.length <= cols) return line;
    // cut the visible text, keep no half escape: drop colour on a clipped line
    return visible.slice(0, cols - 1) + '…';
  }
}
