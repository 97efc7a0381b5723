import fs from 'node:fs';
import path from 'node:path';
import type { Service, Task } from '@aws-sdk/client-ecs';
import { startHarness, type HarnessOptions, type StartedHarness } from './harness.ts';
import { runScript, type RunScriptResult } from './run-script.ts';
import { runAws, describeAwsCli, type AwsRunResult } from './aws-cli.ts';
import { runDoctor } from './doctor.ts';
import { formatSummary, writeReport, type CheckResult, type ScenarioReport } from './report.ts';
import { taskIdOf, type ServiceState } from '../aws/ecs/store.ts';
import { httpGetInNetns } from '../network/probe.ts';
import { missingPrerequisites, formatPrerequisiteLines } from './prerequisites.ts';
import { discoverDeployment, type DeployedService, type Deployment } from './deployment.ts';
import { releases } from '../runtime/catalogue.ts';
import { diagnose, diagnosisInputOf } from '../report/diagnose.ts';
import { lintStep } from '../manifest/lint.ts';
import { connectProgress, forwardEvents, PROGRESS_SOCKET_ENV } from '../report/progress-channel.ts';

/** Scenario options from the environment the `harness scenario` verb sets. */
export function optionsFromEnv(): HarnessOptions {
  const ts = process.env.HARNESS_TIME_SCALE;
  return {
    deployDir: process.env.HARNESS_DEPLOY_DIR || undefined,
    manifest: process.env.HARNESS_MANIFEST || undefined,
    runtime: (process.env.HARNESS_RUNTIME as HarnessOptions['runtime']) || undefined,
    timeScale: ts ? Number(ts) : undefined,
    awsCli: process.env.HARNESS_AWS_CLI || undefined,
  };
}

export interface ScriptRun extends RunScriptResult {
  script: string;
  args: string[];
  /** timeline position when the script started and ended */
  fromSeq: number;
  toSeq: number;
  /** the tag its aws calls carry (AWS_EXECUTION_ENV → the User-Agent's exec-env), so side-by-side runs stay apart */
  callerTag: string;
  /** one line per prerequisite it looked up and the harness did not seed (failed scripts only) */
  missingPrerequisites?: string[];
  /** its last non-empty line on stderr (a diagnosis quotes it) */
  lastStderr?: string;
}

/**
 * One scenario: a harness, the script runs against it, and the checks a user cares about.
 * Checks are recorded (expected/observed) and rethrown so vitest fails on them; `finish()`
 * writes junit.xml, timeline.json and the human summary.
 */
export class Scenario {
  readonly checks: CheckResult[] = [];
  readonly warnings: string[] = [];
  readonly notes: string[] = [];
  readonly scripts: ScriptRun[] = [];
  private readonly started = Date.now();
  private scriptCount = 0;
  /** set when this scenario borrows a topology another started (Scenario.shareTopology) */
  private lender?: Scenario;
  /** on a lender: its deployAll runs by version, each done once, and the warnings each left */
  private readonly sharedDeploys = new Map<string, Promise<{ run: ScriptRun; warnings: string[] }>>();
  /** on a lender: the notes and warnings every scenario gets at start (network, registry, lint) */
  private startNotes: string[] = [];
  private startWarnings: string[] = [];

  private constructor(
    readonly name: string,
    readonly h: StartedHarness,
    readonly awsCliLabel: string,
  ) {}

  /**
   * npm test's scenario groups: until `release()`, every Scenario.start without options borrows
   * one topology, started by the first of them, and each deployAll of a version it already ran
   * gets that run instead of running the script again. Each scenario keeps its own checks and
   * report (under the run dir's scenarios/<name>/); release() tears the topology down. Only for
   * scenarios that look after deploy-all and change nothing a later one reads (or run last).
   */
  static shareTopology(): { release(): Promise<void> } {
    if (shared) throw new Error('a shared topology is already open');
    const group: SharedTopology = {};
    shared = group;
    return {
      async release() {
        if (shared === group) shared = undefined;
        const base = await group.base?.catch(() => undefined);
        await base?.h.stop();
      },
    };
  }

  static async start(name: string, opts: HarnessOptions = {}): Promise<Scenario> {
    if (shared && !Object.keys(opts).length) {
      const group = shared;
      group.base ??= Scenario.startOwn('shared topology', {});
      return (await group.base).borrow(name);
    }
    return Scenario.startOwn(name, opts);
  }

  /** A scenario on the lender's topology: its own checks, warnings, notes and report. */
  private borrow(name: string): Scenario {
    const s = new Scenario(name, this.h, this.awsCliLabel);
    s.lender = this;
    s.notes.push(...this.startNotes, 'topology shared with the other scenarios of this group (npm test): brought up once, deploy-all run once');
    s.warnings.push(...this.startWarnings);
    return s;
  }

  private static async startOwn(name: string, opts: HarnessOptions): Promise<Scenario> {
    // live progress: `harness scenario` names its socket; the heading, bring-up steps and the
    // events progress reads go there (a no-op without it; never fails or slows the run)
    const progress = connectProgress(process.env[PROGRESS_SOCKET_ENV]);
    progress.send({ t: Date.now(), seq: -1, type: 'progress.scenario', name });
    progress.step('preflight (harness doctor)');
    const log = progress.active ? (line: string) => (opts.log?.(line), progress.step(line)) : opts.log;
    let h: StartedHarness;
    try {
      const doctor = await runDoctor();
      const blocking = doctor.filter((c) => c.required && c.level === 'missing');
      if (blocking.length) {
        throw new Error(`harness doctor: cannot run scenario ${name}:\n${blocking.map((c) => `  ${c.name}: ${c.detail} → ${c.fix}`).join('\n')}`);
      }
      progress.step('starting the topology');
      h = await startHarness({ ...optionsFromEnv(), ...opts, kind: 'scenario', ...(log ? { log } : {}) });
      progress.step(`topology up (run ${h.runId}, runtime ${h.runtime.name})`, true);
      forwardEvents(h.events, progress);
    } catch (e) {
      progress.close();
      throw e;
    }
    const cli = describeAwsCli(h.cliEnv.HARNESS_AWS_CLI!);
    const s = new Scenario(name, h, `${cli.version} (${h.awsCliMode}; ${cli.bin})`);
    if (h.awsCliMode === 'cold') s.notes.push(`aws CLI cold: ${h.awsCliModeReason}`);
    // says which fabric runs and, when security groups are not enforced, that isolation is unverified
    s.notes.push(`network: ${h.networkReason}`);
    s.notes.push(h.anthropic ? h.anthropic.summary : 'Anthropic API stand-in: not started (see the run log)');
    s.notes.push(h.registryNote);
    if (h.serverless.lambda.summary) s.notes.push(h.serverless.lambda.summary);
    // the static lint (manifest/lint.ts) as the first step: its FAILs are warnings, the deploy is the judge
    const lint = lintStep(h.deployDir, h.manifest);
    s.warnings.push(...lint.warnings);
    s.notes.push(...lint.notes);
    s.startNotes = [...s.notes];
    s.startWarnings = [...s.warnings];
    return s;
  }

  get deployDir(): string {
    return this.h.deployDir;
  }

  /**
   * Runs the manifest's deployAll command (default `./deploy-all.sh {version}`). On a borrowed
   * topology, the group's run of that version (run once, by whichever scenario asks first).
   */
  async deployAll(version: string, opts: { timeoutMs?: number } = {}): Promise<ScriptRun> {
    const lender = this.lender;
    if (!lender) return this.runCommand(this.h.manifest.commands.deployAll, { version }, opts);
    let once = lender.sharedDeploys.get(version);
    if (!once) {
      once = (async () => {
        const before = lender.warnings.length;
        const run = await lender.runCommand(lender.h.manifest.commands.deployAll, { version }, opts);
        return { run, warnings: lender.warnings.slice(before) };
      })();
      lender.sharedDeploys.set(version, once);
    }
    const { run, warnings } = await once;
    this.scripts.push(run);
    this.warnings.push(...warnings);
    return run;
  }

  /** Runs the manifest's deployService command for one service the scripts created. */
  deployService(svc: DeployedService, version: string, opts: { timeoutMs?: number } = {}): Promise<ScriptRun> {
    return this.runCommand(
      this.h.manifest.commands.deployService,
      { version, service: svc.shortName, ecsService: svc.ecsService, family: svc.family, container: svc.container.name ?? '', cluster: svc.cluster },
      opts,
    );
  }

  /** A manifest command with its {placeholders} filled in: the first word is the script (relative to the deploy dir). */
  private runCommand(command: string, values: Record<string, string>, opts: { timeoutMs?: number }): Promise<ScriptRun> {
    const words = command
      .trim()
      .split(/\s+/)
      .map((w) => w.replace(/\{(\w+)\}/g, (m, k: string) => values[k] ?? m));
    const left = words.find((w) => /\{\w+\}/.test(w));
    if (left) throw new Error(`${this.h.manifest.file}: commands: ${command}: ${left} is not a placeholder it knows (${Object.keys(values).map((k) => `{${k}}`).join(', ')})`);
    return this.runScript(words[0]!.replace(/^\.\//, ''), words.slice(1), opts);
  }

  /**
   * The manifest's releases: `good` are tags healthy in every repository (in the order written),
   * `bad` the first tag where some repository is not healthy, with those repositories.
   */
  releases(): { good: string[]; bad?: { tag: string; repositories: string[] } } {
    const all = releases(this.h.manifest.images);
    const bad = all.find((r) => r.unhealthy.length);
    return { good: all.filter((r) => !r.unhealthy.length).map((r) => r.tag), ...(bad ? { bad: { tag: bad.tag, repositories: bad.unhealthy.map((u) => u.repository) } } : {}) };
  }

  /** What the scripts created, read from the control plane now (see deployment.ts). */
  deployment(): Deployment {
    return discoverDeployment(this.h.stores, this.h.manifest);
  }

  /** Runs a script of the deploy dir unmodified, against the emulator. */
  async runScript(script: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<ScriptRun> {
    // numbered across a shared topology: the caller tag and the log file name stay unique
    const n = ++(this.lender ?? this).scriptCount;
    const fromSeq = this.h.events.all().length;
    // the CLI puts AWS_EXECUTION_ENV in its User-Agent: the edge tags each call with its script run
    const callerTag = `harness-script-${this.h.runId}-${n}`;
    this.h.events.append('script.start', { script, args, callerTag });
    let lastStderr: string | undefined;
    const r = await runScript({
      script: path.join(this.deployDir, script),
      args,
      cwd: this.deployDir,
      env: { ...this.h.cliEnv, AWS_EXECUTION_ENV: callerTag },
      logFile: path.join(this.h.runDir, 'scripts', `${String(n).padStart(2, '0')}-${script.replace(/\W+/g, '_')}-${args.join('_').replace(/\W+/g, '_')}.log`),
      timeoutMs: opts.timeoutMs ?? 600_000,
      onLine: (line, stream) => {
        if (stream === 'stderr' && line.trim()) lastStderr = line;
      },
    });
    this.h.events.append('script.end', { script, args, exitCode: r.exitCode, durationMs: r.durationMs });
    const run: ScriptRun = { ...r, script, args, fromSeq, toSeq: this.h.events.all().length, callerTag, ...(lastStderr ? { lastStderr } : {}) };
    this.scripts.push(run);
    this.detectFalseGreen(run);
    this.reportMissingPrerequisites(run);
    return run;
  }

  /** Runs one aws CLI command against the emulator (the CLI the scripts use). */
  async aws(args: string[]): Promise<AwsRunResult> {
    return runAws(describeAwsCli(this.h.cliEnv.HARNESS_AWS_CLI!), this.h.awsEndpoint, args, { region: this.h.region });
  }

  /** Records a check; rethrows its failure so the test fails too. */
  async check(name: string, fn: () => Promise<Partial<CheckResult> | void> | Partial<CheckResult> | void): Promise<void> {
    const t0 = Date.now();
    try {
      const r = (await fn()) ?? {};
      this.checks.push({ name, status: r.status ?? 'passed', expected: r.expected, observed: r.observed, detail: r.detail, ms: Date.now() - t0 });
    } catch (e) {
      const err = e as Error & { expected?: unknown; actual?: unknown };
      this.checks.push({
        name,
        status: 'failed',
        expected: err.expected !== undefined ? stringify(err.expected) : undefined,
        observed: err.actual !== undefined ? stringify(err.actual) : err.message.split('\n')[0],
        detail: err.expected === undefined ? err.message.split('\n').slice(1, 6).join('\n') || undefined : undefined,
        ms: Date.now() - t0,
      });
      throw e;
    }
  }

  /** A check that cannot be verified in this mode: never reported as passed. */
  notVerified(name: string, why: string): void {
    this.checks.push({ name, status: 'not-verified', detail: why, ms: 0 });
  }

  // ------------------------------------------------------------ reading the control plane

  /** The ECS service's state, by its name in any cluster (or a discovered service). */
  service(svc: DeployedService | string): ServiceState {
    const name = typeof svc === 'string' ? svc : svc.ecsService;
    const all = [...this.h.stores.ecs.services.values()].filter((x) => x.service.serviceName === name && (typeof svc === 'string' || x.clusterName === svc.cluster));
    const s = all.find((x) => x.service.status === 'ACTIVE') ?? all[0];
    if (!s) throw new Error(`service ${name} does not exist in any cluster`);
    return s;
  }

  /** RUNNING tasks of a service (desired RUNNING), with their IPs. */
  runningTasks(model: DeployedService | string): { task: Task; ip: string; id: string }[] {
    const st = this.service(model);
    return this.h.stores.ecs
      .tasksOfService(st)
      .filter((t) => t.task.lastStatus === 'RUNNING' && t.task.desiredStatus === 'RUNNING')
      .map((t) => ({
        task: t.task,
        id: taskIdOf(t.task.taskArn!),
        ip: t.task.attachments?.[0]?.details?.find((d) => d.name === 'privateIPv4Address')?.value ?? '',
      }));
  }

  /** The last revision a script registered for a family between two timeline positions. */
  registeredRevision(family: string, fromSeq = 0, toSeq = Infinity): string | undefined {
    const ev = this.h.events
      .all()
      .filter((e) => e.type === 'ecs.taskdefinition.registered' && e.family === family && e.seq >= fromSeq && e.seq < toSeq)
      .at(-1);
    return ev?.arn as string | undefined;
  }

  /** When each service reached steady state on a task definition (first time), from the timeline. */
  steadyAt(ecsService: string, taskDefinitionArn: string, fromSeq = 0): number | undefined {
    return this.h.events.all().find((e) => e.type === 'ecs.service.steady' && e.service === ecsService && e.taskDefinition === taskDefinitionArn && e.seq >= fromSeq)?.t;
  }

  /**
   * GET http://ip:port/path with a short timeout: from the harness host in loopback mode; in
   * netns mode from inside the task that owns the address (as ECS Exec would: the host is
   * "the internet", which the security groups keep out).
   */
  async httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: any; text: string }> {
    const netns = (this.h.fabric as { netnsOfIp?: (ip: string) => string | undefined }).netnsOfIp?.(new URL(url).hostname);
    if (netns) return httpGetInNetns(netns, url, timeoutMs);
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body, text };
  }

  /** Waits (bounded) until pred holds, re-checking on every control-plane event. */
  async until(what: string, pred: () => boolean, timeoutMs = 60_000): Promise<void> {
    if (pred()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.h.events.off('event', onEvent);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const onEvent = () => {
        if (pred()) {
          clearTimeout(timer);
          this.h.events.off('event', onEvent);
          resolve();
        }
      };
      this.h.events.on('event', onEvent);
    });
  }

  // ------------------------------------------------------------ false greens

  /**
   * A script that exits 0 after ECS rolled its deployment back is a false green: the
   * waiter saw "stable", but what is stable is the old revision.
   */
  private detectFalseGreen(run: ScriptRun): void {
    if (run.exitCode !== 0) return;
    const rollbacks = this.h.events.all().filter((e) => e.type === 'ecs.deployment.rollback' && e.seq >= run.fromSeq && e.seq < run.toSeq);
    for (const rb of rollbacks) {
      const st = this.service(rb.service as string);
      const family = st.service.taskDefinition!.split('/').pop()!.split(':')[0]!;
      const registered = this.registeredRevision(family, run.fromSeq, run.toSeq);
      const primary = st.service.deployments?.[0]?.taskDefinition;
      if (registered && primary !== registered) {
        this.warnings.push(
          `FALSE GREEN: \`${run.script} ${run.args.join(' ')}\` exited 0, but ECS rolled ${rb.service} back (circuit breaker): PRIMARY is ${short(primary)}, not ${short(registered)} that the script registered. A services-stable wait is satisfied by the rolled-back deployment.`,
        );
      }
    }
  }

  /**
   * A script that failed after looking up something the manifest did not seed (a load
   * balancer, pool, secret, role, repository, tag, subnet): one line each, with the call, the
   * name and the manifest key to add, next to the exit code.
   */
  private reportMissingPrerequisites(run: ScriptRun): void {
    if (run.exitCode === 0) return; // a script that handled the miss itself did not fail because of it
    const items = missingPrerequisites(this.h.events.all(), { fromSeq: run.fromSeq, toSeq: run.toSeq, script: run.script, callerTag: run.callerTag });
    run.missingPrerequisites = formatPrerequisiteLines(items, [run.script, ...run.args].join(' '), run.exitCode);
    this.warnings.push(...run.missingPrerequisites);
  }

  // ------------------------------------------------------------ report

  /**
   * The cause of each failed check (set as its `diagnosis`) and of each failed script, one line
   * each, read from the timeline and the stores (harness/report/diagnose.ts).
   */
  private diagnose(): string[] {
    if (!this.checks.some((c) => c.status === 'failed') && this.scripts.every((r) => r.exitCode === 0)) return [];
    try {
      let deployment: Deployment | undefined;
      try {
        deployment = this.deployment();
      } catch {
        /* nothing readable was created */
      }
      const d = diagnose(diagnosisInputOf(this.h, this.scripts, deployment), this.checks);
      this.checks.forEach((c, i) => {
        if (d.checks[i] && !c.diagnosis) c.diagnosis = d.checks[i];
      });
      return d.lines;
    } catch (e) {
      return [`diagnosis failed: ${(e as Error).message.split('\n')[0]}`];
    }
  }

  /** Where the report goes: the run dir, or scenarios/<name>/ in it on a shared topology. */
  get reportDir(): string {
    return this.lender ? path.join(this.h.runDir, 'scenarios', this.name) : this.h.runDir;
  }

  report(): ScenarioReport {
    const diagnoses = this.diagnose();
    return {
      scenario: this.name,
      runId: this.h.runId,
      runDir: this.reportDir,
      runtime: this.h.runtime.name,
      runtimeReason: this.h.runtimeReason,
      network: this.h.networkMode,
      networkReason: this.h.networkReason,
      timeScale: this.h.clock.timeScale,
      deployDir: this.deployDir,
      awsCli: this.awsCliLabel,
      startedAt: new Date(this.started).toISOString(),
      durationMs: Date.now() - this.started,
      checks: this.checks,
      warnings: this.warnings,
      notes: this.notes,
      diagnoses,
    };
  }

  /** Writes the report, prints the summary, tears the topology down. */
  /**
   * The verdict first, then teardown: the report is decided and written (and printed, or named
   * to `harness scenario` through the session file) as soon as the checks are done; stopping
   * the topology comes after, and timeline.json is written again with the teardown in it.
   */
  async finish(): Promise<ScenarioReport> {
    const r = this.report();
    const failed = r.checks.filter((c) => c.status === 'failed').length;
    this.h.events.append('scenario.verdict', { scenario: this.name, verdict: failed ? 'FAILED' : r.checks.length ? 'PASSED' : 'INCOMPLETE', checks: r.checks.length, failed });
    try {
      writeReport(r, this.h.events.all());
    } finally {
      const session = process.env.HARNESS_SESSION_FILE;
      if (session) fs.appendFileSync(session, r.runDir + '\n');
      else process.stdout.write(formatSummary(r) + '\n');
    }
    // a borrowed topology is torn down by the group (shareTopology's release)
    if (this.lender) return r;
    try {
      await this.h.stop();
    } finally {
      writeReport(r, this.h.events.all());
    }
    return r;
  }
}

/** The open group of shareTopology, if any. */
interface SharedTopology {
  base?: Promise<Scenario>;
}
let shared: SharedTopology | undefined;

function short(arn: string | undefined): string {
  return arn ? arn.split('/').pop()! : '(none)';
}

function stringify(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export type { Service };
