import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fixPlan, formatDoctor, formatFixOutcome, fixWithApt, runDoctor } from './scenario/doctor.ts';
import { compareRepeats, formatRepeatVerdict, formatSummary, type ScenarioReport } from './scenario/report.ts';
import { harnessHome, pidAlive } from './scenario/run-id.ts';
import { cleanupLeftovers } from './scenario/cleanup.ts';
import { ManifestError, loadManifest } from './manifest/load.ts';
import { networkConflict, resolveRuntimeChoice } from './runtime/docker/select.ts';
import { createProgressRenderer, PlainRenderer, progressEventOf, type ProgressRenderer } from './report/progress.ts';
import { connectProgress, listenProgress, PROGRESS_SOCKET_ENV } from './report/progress-channel.ts';
import type { TimelineEvent } from './events.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIO_DIR = path.join(ROOT, 'scenarios');

const USAGE = `harness <verb> [options]

  scenario <name…> | --all   run scenarios (vitest) against a fresh topology each; prints a summary,
                             writes .harness/runs/<id>/{junit.xml,timeline.json}
      --runtime R            process | docker | auto (default process: tasks as child processes, no
                             Docker needed; auto: docker when an engine answers, arm64 runs and the
                             images are built (npm run images), else process)
      --network M            VPC fabric: netns | loopback | auto (default auto: netns — a namespace per
                             task, security groups enforced by nftables — as root with ip netns + nft)
      --time-scale N         emulated intervals × N (default 0.02; 1 = AWS's real timing)
      --deploy-dir PATH      run your own checkout of the deployment repo instead of the fixture
      --manifest PATH        its harness.yaml, when not at the deploy dir's root
      --aws-cli PATH         the aws CLI the scripts run (default: first aws on PATH)
      --cold-cli             start the aws CLI afresh for every call (default: warm, one resident
                             CLI process per run forks per call; env HARNESS_COLD_CLI=1)
      --repeat N             run each scenario N times, each on a fresh topology, and compare the
                             outcomes (addresses and timings aside): exit 1 unless every run passed
                             with the same result for every check (e.g. isolation's probe matrix)
      --quiet                no live progress (by default: on a terminal a line per ECS service
                             updated in place and the script step running; elsewhere a timestamped
                             line per state change)
  up [--deploy VERSION]      start the seeded topology in the background (AWS edge on :4566 when
                             free), optionally run deploy-all.sh VERSION; writes .harness/env;
                             shows bring-up steps and the deploy's progress (--quiet: not)
      --port N  --time-scale N  --deploy-dir PATH  --manifest PATH  --runtime R  --cold-cli  --foreground  --quiet
  down                       stop what \`up\` started and remove its processes
  status                     the running topology: endpoint, services, deployments, tasks
  token [--user U] [--expired] [--not-before] [--id]
                             a Cognito access token of the seeded pool's ALB client for the test user
                             (or U), signed by the running topology; the token alone on the last line
  push <local-image> <repository>:<tag>
                             push a local Docker image into the running topology's ECR (creates the
                             repository when missing; docker login with a fresh ECR token, docker push)
  env                        print the sourceable environment of the running topology
  exec <service> [--task N] -- <cmd…>
                             run a command where a task of the running topology stands (its network
                             namespace: curl/nc as from a bastion); N = 1-based index by start time,
                             or a task id prefix
  init [--deploy-dir D] [--force] [--manifest PATH]   draft harness.yaml from a deployment repo
  lint [--deploy-dir D] [--manifest PATH]   static checks of the repo against harness.yaml (exit 1 on FAIL)
  report [run-id]            print the path of a run's report.html (default: the newest run) and
                             open it with xdg-open where a desktop exists (--no-open: don't)
  doctor [--fix] [--all]     preflight: aws CLIs, Node, curl, root/netns, nftables, Docker, QEMU;
                             --fix installs the Debian packages of missing required items (as root)
                             and says what it left out; --all (implies --fix) the optional ones too

scenarios: ${listScenarios().join(', ')}`;

function listScenarios(): string[] {
  if (!fs.existsSync(SCENARIO_DIR)) return [];
  return fs
    .readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.scenario.test.ts'))
    .map((f) => f.replace(/\.scenario\.test\.ts$/, ''))
    .sort();
}

function fail(msg: string, code = 2): never {
  process.stderr.write(`harness: ${msg}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  switch (verb) {
    case 'scenario':
      return scenarioVerb(rest);
    case 'up':
      return upVerb(rest);
    case 'down':
      return downVerb();
    case 'status':
      return statusVerb();
    case 'env':
      return envVerb();
    case 'exec':
      return execVerb(rest);
    case 'doctor':
      return doctorVerb(rest);
    case 'token':
      return tokenVerb(rest);
    case 'push':
      return pushVerb(rest);
    case 'init':
      return (await import('./manifest/init-cli.ts')).runInit(rest);
    case 'lint':
      return (await import('./manifest/lint-cli.ts')).runLint(rest);
    case 'report':
      return (await import('./report/verb.ts')).reportVerb(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return verb ? 0 : 2;
    default:
      fail(`unknown verb '${verb}'\n\n${USAGE}`);
  }
}

// ------------------------------------------------------------------ scenario

async function scenarioVerb(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      all: { type: 'boolean' },
      runtime: { type: 'string' },
      'time-scale': { type: 'string' },
      'deploy-dir': { type: 'string' },
      manifest: { type: 'string' },
      'aws-cli': { type: 'string' },
      'cold-cli': { type: 'boolean' },
      network: { type: 'string' },
      repeat: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  const known = listScenarios();
  const repeat = values.repeat === undefined ? 1 : Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000) fail(`--repeat must be a whole number from 1 to 1000, got ${values.repeat}`);
  const names = values.all ? known : positionals;
  if (names.length === 0) fail(`name a scenario or pass --all (scenarios: ${known.join(', ')})`);
  for (const n of names) if (!known.includes(n)) fail(`no scenario '${n}' (scenarios: ${known.join(', ')})`);
  const env = scenarioEnv(values);
  // the first line says what runs, and why: the runtime and the network
  process.stdout.write(await choiceLine(env) + '\n');

  const checks = await runDoctor();
  const blocking = checks.filter((c) => c.required && c.level === 'missing');
  if (blocking.length) {
    process.stdout.write('harness doctor:\n' + formatDoctor(checks) + '\n');
    return 1;
  }
  for (const c of checks.filter((x) => x.level === 'warn' && /namespaces/.test(x.name))) {
    process.stdout.write(`note: ${c.name}: ${c.detail}\n`);
  }

  const files = names.map((n) => path.join('scenarios', `${n}.scenario.test.ts`));
  let code = 0;
  const reports: ScenarioReport[] = [];
  for (let k = 1; k <= repeat; k++) {
    if (repeat > 1) process.stdout.write(`\n══ run ${k} of ${repeat}\n`);
    const r = await runScenarioFiles(files, env, names.length, !!values.quiet);
    code ||= r.code;
    reports.push(...r.reports);
    if (r.interrupted) break;
  }
  if (repeat > 1) {
    for (const n of names) {
      const mine = reports.filter((r) => r.scenario === n);
      if (mine.length === 0) continue;
      const v = compareRepeats(mine);
      process.stdout.write(formatRepeatVerdict(v) + '\n');
      if (!v.deterministic) code ||= 1;
    }
  }
  return code;
}

/**
 * One vitest run of the given scenario files; prints each scenario's summary. Unless quiet, the
 * worker forwards progress over a socket (report/progress-channel.ts) and this process renders
 * it; on a terminal vitest's own output is passed through above the live block.
 */
async function runScenarioFiles(files: string[], env: Record<string, string>, expected: number, quiet = false): Promise<{ code: number; reports: ScenarioReport[]; interrupted: boolean }> {
  const session = path.join(os.tmpdir(), `escher-harness-session-${process.pid}.txt`);
  fs.writeFileSync(session, '');
  const vitest = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  let interrupted = false;
  const renderer = quiet ? undefined : createProgressRenderer(process.stdout);
  const listener = renderer ? await listenProgress((e) => renderer.event(e)) : undefined;
  // on a terminal the block is redrawn in place: vitest's output must come through us
  const through = !!renderer && !!process.stdout.isTTY;
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', '--project', 'scenario', ...files], {
      cwd: ROOT,
      stdio: through ? ['inherit', 'pipe', 'pipe'] : 'inherit',
      env: {
        ...process.env,
        ...env,
        HARNESS_SESSION_FILE: session,
        ...(listener ? { [PROGRESS_SOCKET_ENV]: listener.path } : {}),
        ...(through && !process.env.NO_COLOR ? { FORCE_COLOR: '1' } : {}),
      },
    });
    if (through) {
      for (const stream of [child.stdout!, child.stderr!]) {
        const lines = lineSplitter((l) => renderer!.log(l));
        stream.setEncoding('utf8');
        stream.on('data', lines.push);
        stream.on('end', lines.end);
      }
    }
    const forward = (sig: NodeJS.Signals) => {
      interrupted = true;
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    // 'close': after its output has come through too
    child.on('close', (c, sig) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(c ?? (sig ? 130 : 1));
    });
  });
  await listener?.close();
  renderer?.finish();
  const runDirs = fs.readFileSync(session, 'utf8').split('\n').filter(Boolean);
  fs.rmSync(session, { force: true });
  process.stdout.write('\n');
  const reports: ScenarioReport[] = [];
  for (const dir of runDirs) {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as ScenarioReport;
      reports.push(r);
      process.stdout.write(formatSummary(r) + '\n\n');
    } catch {
      process.stdout.write(`(no report in ${dir})\n`);
    }
  }
  if (runDirs.length < expected) process.stdout.write(`${expected - runDirs.length} scenario(s) did not get far enough to write a report: see the vitest output above.\n`);
  return { code, reports, interrupted };
}

/** Whole lines of a stream's chunks (the last, unterminated one at end). */
function lineSplitter(onLine: (line: string) => void): { push: (chunk: string) => void; end: () => void } {
  let buf = '';
  return {
    push: (chunk) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
      }
    },
    end: () => {
      if (buf) onLine(buf);
      buf = '';
    },
  };
}

function scenarioEnv(values: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  if (values.runtime) {
    if (!['process', 'docker', 'auto'].includes(String(values.runtime))) fail(`--runtime ${values.runtime}: use process, docker or auto`);
    env.HARNESS_RUNTIME = String(values.runtime);
  } else if (!process.env.HARNESS_RUNTIME) {
    // no --runtime: the embedded runtime (fast, no Docker needed); docker mode only when asked
    // (--runtime docker|auto); the first line of the output says which and why
    env.HARNESS_RUNTIME = 'process';
    env.HARNESS_RUNTIME_DEFAULTED = '1';
  }
  if (values['time-scale'] !== undefined) {
    const ts = Number(values['time-scale']);
    if (!(ts > 0 && ts <= 10)) fail(`--time-scale must be a number in (0, 10], got ${values['time-scale']}`);
    env.HARNESS_TIME_SCALE = String(ts);
  }
  if (values['deploy-dir']) env.HARNESS_DEPLOY_DIR = path.resolve(String(values['deploy-dir']));
  if (values.manifest) env.HARNESS_MANIFEST = path.resolve(String(values.manifest));
  // a bad deploy dir or manifest is one clean line here, not a stack trace inside a test run
  try {
    loadManifest(env.HARNESS_DEPLOY_DIR ?? process.env.HARNESS_DEPLOY_DIR, env.HARNESS_MANIFEST ?? process.env.HARNESS_MANIFEST);
  } catch (e) {
    if (e instanceof ManifestError) fail(e.message, 2);
    throw e;
  }
  if (values['aws-cli']) env.HARNESS_AWS_CLI = path.resolve(String(values['aws-cli']));
  if (values['cold-cli']) env.HARNESS_COLD_CLI = '1';
  if (values.network) {
    if (!['netns', 'loopback', 'auto'].includes(String(values.network))) fail(`--network ${values.network}: use netns, loopback or auto`);
    env.HARNESS_NETWORK = String(values.network);
  }
  // a --network docker mode cannot honour is one line here, not ignored
  const conflict = networkConflict(env.HARNESS_RUNTIME ?? process.env.HARNESS_RUNTIME, env.HARNESS_NETWORK ?? process.env.HARNESS_NETWORK);
  if (conflict) fail(conflict, 2);
  return env;
}

/**
 * `harness: runtime process (default: …) · network netns (auto: …): …` — the runtime and the
 * network the scenarios will use, with why, before anything starts (each summary repeats what
 * actually ran: a second concurrent netns run, for one, falls back to loopback).
 */
async function choiceLine(env: Record<string, string>): Promise<string> {
  const get = (k: string) => env[k] ?? process.env[k];
  const wantedNet = get('HARNESS_NETWORK') || 'auto';
  let rt: { kind: 'process' | 'docker'; reason: string };
  try {
    rt = await resolveRuntimeChoice(get('HARNESS_RUNTIME'), { defaulted: get('HARNESS_RUNTIME_DEFAULTED') === '1', network: wantedNet });
  } catch (e) {
    fail((e as Error).message, 1);
  }
  const { netnsCapability } = await import('./network/netns-fabric.ts');
  const cap = netnsCapability();
  let network: string;
  if (rt.kind === 'docker') {
    network = cap.ok ? "docker (the run's Docker network): security groups enforced in each container's namespace" : `docker (the run's Docker network): security groups NOT enforced (${cap.reason})`;
  } else if (wantedNet === 'loopback') {
    network = 'loopback (asked for): tasks share the host network on 127.x addresses; security groups are NOT enforced';
  } else if (cap.ok) {
    network = `netns (${wantedNet === 'netns' ? 'asked for' : 'auto'}: ${cap.reason}): a network namespace per task, security groups enforced by nftables`;
  } else if (wantedNet === 'netns') {
    fail(`--network netns: cannot build network namespaces here: ${cap.reason}`, 1);
  } else {
    network = `loopback (auto: ${cap.reason}): security groups are NOT enforced; isolation checks report "not verified"`;
  }
  return `harness: runtime ${rt.reason} · network ${network}`;
}

// ------------------------------------------------------------------ up / down / status / env

interface Current {
  runId: string;
  pid: number;
  runDir: string;
  envFile: string;
  awsEndpoint: string;
  deployed?: string;
  /** `up --deploy`: the script failed or a service it touched did not reach a steady state (one line) */
  deployFailed?: string;
}

const currentFile = () => path.join(harnessHome(), 'current.json');

function readCurrent(): Current | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(currentFile(), 'utf8')) as Current;
    return pidAlive(c.pid) ? c : undefined;
  } catch {
    return undefined;
  }
}

async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

async function upVerb(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      deploy: { type: 'string' },
      port: { type: 'string' },
      runtime: { type: 'string' },
      'time-scale': { type: 'string' },
      'deploy-dir': { type: 'string' },
      manifest: { type: 'string' },
      'aws-cli': { type: 'string' },
      'cold-cli': { type: 'boolean' },
      network: { type: 'string' },
      foreground: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  const running = readCurrent();
  if (running) fail(`a topology is already up (run ${running.runId}, pid ${running.pid}); \`harness down\` first`, 1);
  const env = scenarioEnv(values);
  if (values.foreground) return upForeground(values, env);

  // background: re-run ourselves detached with --foreground, wait until it is ready
  fs.mkdirSync(harnessHome(), { recursive: true });
  fs.rmSync(currentFile(), { force: true });
  const logFile = path.join(harnessHome(), 'up.log');
  const out = fs.openSync(logFile, 'w');
  // live progress: the detached child (its output goes to up.log) forwards its steps and events here
  const renderer = values.quiet ? undefined : createProgressRenderer(process.stdout);
  const shown: string[] = [];
  const listener = renderer
    ? await listenProgress((e) => {
        if (e.type === 'progress.step') shown.push(String(e.text));
        renderer.event(e);
      })
    : undefined;
  const endProgress = async () => {
    await listener?.close();
    renderer?.finish();
  };
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'harness.mjs'), 'up', '--foreground', ...args], {
    cwd: process.cwd(),
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env, ...(listener ? { [PROGRESS_SOCKET_ENV]: listener.path } : {}) },
  });
  child.unref();
  const exited = new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const cur = readCurrent();
    if (cur && cur.pid === child.pid) {
      await endProgress();
      // the log, but for the step lines the progress showed already
      process.stdout.write(withoutLines(fs.readFileSync(logFile, 'utf8'), shown));
      // the topology stays up to look at, but a failed deploy is not a success
      return cur.deployFailed ? 1 : 0;
    }
    const done = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
    if (done !== undefined) {
      await endProgress();
      process.stderr.write(fs.readFileSync(logFile, 'utf8'));
      return done || 1;
    }
    if (Date.now() > deadline) {
      await endProgress();
      child.kill('SIGTERM');
      fail(`harness up did not become ready in time; see ${logFile}`, 1);
    }
  }
}

/** text without one occurrence of each of lines */
function withoutLines(text: string, lines: string[]): string {
  const left = new Map<string, number>();
  for (const l of lines) left.set(l, (left.get(l) ?? 0) + 1);
  return text
    .split('\n')
    .filter((l) => {
      const n = left.get(l) ?? 0;
      if (n) left.set(l, n - 1);
      return n === 0;
    })
    .join('\n');
}

/**
 * What `up` shows while it works: in the detached child of `harness up` the steps and events go
 * to the parent's socket (it renders them) while its output goes to up.log as before; run in the
 * foreground on its own, a renderer on stdout; with --quiet neither.
 */
function upProgress(quiet: boolean) {
  const fwd = connectProgress(quiet ? undefined : process.env[PROGRESS_SOCKET_ENV]);
  const renderer: ProgressRenderer | undefined = quiet || fwd.active ? undefined : createProgressRenderer(process.stdout);
  let done = false;
  const emit = (e: TimelineEvent) => {
    renderer?.event(e);
    fwd.send(e);
  };
  return {
    /** the verb's own output: above the live block, or as it is */
    say(text: string) {
      if (!renderer || done) process.stdout.write(text);
      else for (const l of text.replace(/\n$/, '').split('\n')) renderer.log(l);
    },
    /** a bring-up step (startHarness's log lines): in up.log too when forwarded; milestone: ends the step before */
    step(text: string, milestone = false) {
      if (renderer && !done) (milestone ? renderer.done(text) : renderer.step(text));
      else process.stdout.write(text + '\n');
      fwd.step(text, milestone);
    },
    /** a timeline event (only those progress reads go anywhere) */
    event(e: TimelineEvent) {
      const p = progressEventOf(e);
      if (p) emit(p);
    },
    script(type: 'script.start' | 'script.end', fields: Record<string, unknown>) {
      emit({ t: Date.now(), seq: -1, type, ...fields });
    },
    finish() {
      done = true;
      renderer?.finish();
      fwd.close();
    },
  };
}

async function upForeground(values: Record<string, any>, env: Record<string, string>): Promise<number> {
  Object.assign(process.env, env);
  const { startHarness } = await import('./scenario/harness.ts');
  const { runScript } = await import('./scenario/run-script.ts');
  const { optionsFromEnv } = await import('./scenario/scenario.ts');
  let port = values.port !== undefined ? Number(values.port) : 4566;
  if (!(await portFree(port))) {
    if (values.port !== undefined) fail(`--port ${port} is in use`, 1);
    port = 0;
  }
  const progress = upProgress(!!values.quiet);
  const started = Date.now();
  progress.step('starting the topology');
  let h: Awaited<ReturnType<typeof startHarness>>;
  try {
    h = await startHarness({ ...optionsFromEnv(), awsPort: port, kind: 'up', log: (l) => progress.step(l) });
  } catch (e) {
    progress.finish();
    throw e;
  }
  progress.step(`topology up in ${((Date.now() - started) / 1000).toFixed(1)} s (run ${h.runId})`, true);
  const onEvent = (e: TimelineEvent) => progress.event(e);
  h.events.on('event', onEvent);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    h.events.off('event', onEvent);
    progress.finish();
    process.stdout.write(`\n${sig}: tearing down run ${h.runId}…\n`);
    await h.stop();
    fs.rmSync(currentFile(), { force: true });
    fs.rmSync(path.join(harnessHome(), 'env'), { force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  let deployed: string | undefined;
  let deployFailed: string | undefined;
  if (values.deploy) {
    const [script, ...args] = h.manifest.commands.deployAll.split(/\s+/).map((w) => w.replace('{version}', String(values.deploy)));
    progress.say(`running ${script} ${args.join(' ')} …\n`);
    const fromSeq = h.events.all().length;
    progress.script('script.start', { script, args });
    const r = await runScript({
      script: path.join(h.deployDir, script!),
      args,
      cwd: h.deployDir,
      env: h.cliEnv,
      logFile: path.join(h.runDir, 'scripts', 'up-deploy-all.log'),
    });
    progress.script('script.end', { script, args, exitCode: r.exitCode, durationMs: r.durationMs });
    progress.say(`${script} ${args.join(' ')} exited ${r.exitCode} (${(r.durationMs / 1000).toFixed(1)} s); log: ${path.join(h.runDir, 'scripts', 'up-deploy-all.log')}\n`);
    // exit 0 is not the end of a deploy (a services-stable wait returns 0 after a rollback):
    // wait until the services it touched are steady or failed, and say which
    const { awaitDeployOutcome } = await import('./scenario/deploy-outcome.ts');
    progress.say('waiting for the services the deploy touched to be steady or failed …\n');
    const o = await awaitDeployOutcome({ store: h.stores.ecs, events: h.events, scaledMs: (x) => h.clock.scaledMs(x) }, fromSeq, { label: `deploy ${values.deploy}` });
    progress.say(o.lines.join('\n') + '\n');
    if (r.exitCode !== 0) {
      deployFailed = `${script} ${args.join(' ')} exited ${r.exitCode}`;
      progress.say(`deploy ${values.deploy} FAILED: ${deployFailed}\n`);
    } else if (!o.ok) deployFailed = o.failure;
    else deployed = values.deploy;
    if (deployFailed) progress.say('the topology stays up to investigate the failed deploy; `harness down` stops it\n');
  }
  // the progress ends here: what follows is the summary, and the topology serving
  h.events.off('event', onEvent);
  progress.finish();
  const envCopy = path.join(harnessHome(), 'env');
  fs.copyFileSync(h.envFile, envCopy);
  const cur: Current = { runId: h.runId, pid: process.pid, runDir: h.runDir, envFile: envCopy, awsEndpoint: h.awsEndpoint, deployed, ...(deployFailed ? { deployFailed } : {}) };
  process.stdout.write(
    [
      `escher-harness is up (run ${h.runId}, pid ${process.pid}, runtime ${h.runtime.name}, time scale ${h.clock.timeScale})`,
      `  AWS endpoint   ${h.awsEndpoint}`,
      `  Cloud Map DNS  ${h.dns.host}:${h.dns.port} (the namespaces the scripts create)`,
      `  network        ${h.networkReason}`,
      `  SurrealDB      ${h.surreal ? `${h.surreal.url} (${h.surreal.hostname}): ${h.surreal.kind}` : 'none in the manifest'}`,
      `  Anthropic API  ${h.anthropic ? h.anthropic.summary.replace(/^Anthropic API stand-in: /, '') : 'none (see the log)'}`,
      `  deploy dir     ${h.deployDir}${deployed ? ` (deployed ${deployed})` : deployFailed ? ` (deploy ${values.deploy} FAILED: ${deployFailed})` : ''}`,
      `  manifest       ${h.manifest.file}`,
      '',
      '  source .harness/env && aws ecs list-clusters && aws ecs list-services --cluster <cluster>',
      `  cd ${path.relative(process.cwd(), h.deployDir) || '.'} && ${h.manifest.commands.deployService}   # with .harness/env sourced`,
      '  npm run status        # services, deployments, tasks',
      '  npm run down          # stop everything',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(currentFile(), JSON.stringify(cur));
  await new Promise(() => {}); // serve until signalled
  return 0;
}

async function downVerb(): Promise<number> {
  const cur = readCurrent();
  const home = harnessHome();
  if (!cur) {
    const cleaned = await cleanupLeftovers(home, (l) => process.stdout.write(l + '\n'));
    fs.rmSync(currentFile(), { force: true });
    process.stdout.write(cleaned.processes ? 'nothing was up; removed leftovers.\n' : 'nothing is up.\n');
    return 0;
  }
  process.kill(cur.pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (pidAlive(cur.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (pidAlive(cur.pid)) process.kill(cur.pid, 'SIGKILL');
  await cleanupLeftovers(home, (l) => process.stdout.write(l + '\n'));
  fs.rmSync(currentFile(), { force: true });
  fs.rmSync(path.join(home, 'env'), { force: true });
  process.stdout.write(`stopped run ${cur.runId}; reports stay in ${cur.runDir}\n`);
  return 0;
}

async function tokenVerb(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { user: { type: 'string' }, expired: { type: 'boolean' }, 'not-before': { type: 'boolean' }, id: { type: 'boolean' } } });
  const cur = readCurrent();
  if (!cur) fail('nothing is up: run `harness up` first', 1);
  const env = envOfCurrent(cur);
  const idp = env.HARNESS_IDP_URL;
  if (!idp) fail('the running topology has no Cognito endpoint (HARNESS_IDP_URL missing)', 1);
  const secret = fs.readFileSync(path.join(cur.runDir, 'idp-mint-token'), 'utf8').trim();
  const res = await fetch(`${idp}/harness/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user: values.user, expired: values.expired, notBefore: values['not-before'], id: values.id }),
  });
  const body = (await res.json()) as { token?: string; error?: string };
  if (!res.ok || !body.token) fail(`cannot mint a token: ${body.error ?? res.status}`, 1);
  const kind = values.id ? 'id' : 'access';
  process.stdout.write(`# ${kind} token for ${values.user ?? env.HARNESS_TEST_USER ?? 'the test user'} (pool ${env.HARNESS_COGNITO_USER_POOL_ID}, client ${env.HARNESS_COGNITO_CLIENT_ID})${values.expired ? ', expired' : ''}${values['not-before'] ? ', not yet valid' : ''}\n${body.token}\n`);
  return 0;
}

/** One AWS JSON-protocol call to the running topology's edge; AWS's error as `<type>: <message>`. */
async function awsJsonCall(endpoint: string, target: string, op: string, body: unknown): Promise<any> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${target}.${op}` },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw Object.assign(new Error(`${String(json.__type).split('#').pop()}: ${json.message}`), { type: String(json.__type).split('#').pop() });
  return json;
}

const ecsCall = (endpoint: string, op: string, body: unknown) => awsJsonCall(endpoint, 'AmazonEC2ContainerServiceV20141113', op, body);
const ecrCall = (endpoint: string, op: string, body: unknown) => awsJsonCall(endpoint, 'AmazonEC2ContainerRegistry_V20150921', op, body);

/** The running topology's sourceable environment (.harness/runs/<id>/env) as a map. */
function envOfCurrent(cur: Current): Record<string, string> {
  return Object.fromEntries(
    fs.readFileSync(cur.envFile, 'utf8').split('\n').flatMap((l) => {
      const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(l);
      return m ? [[m[1]!, m[2]!.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1')]] : [];
    }),
  );
}

// ------------------------------------------------------------------ push

function runDocker(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('docker', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('error', (e) => resolve({ code: 127, out: e.message }));
    p.on('close', (code) => resolve({ code, out }));
    p.stdin.end(input ?? '');
  });
}

/**
 * `harness push <local-image> <repository>:<tag>`: what a CI job does, into the running
 * topology's ECR: the repository is created when missing, `docker login` takes a fresh
 * GetAuthorizationToken password, then `docker tag` + `docker push` (the run's DOCKER_CONFIG,
 * never ~/.docker); the ECR tag is removed from the local engine afterwards.
 */
async function pushVerb(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const [local, dest] = positionals;
  const m = dest ? /^([a-z0-9][a-z0-9._/-]*):([\w][\w.-]{0,127})$/.exec(dest) : null;
  if (!local || !m) fail('usage: harness push <local-image> <repository>:<tag>   (e.g. harness push my-api:dev team/api:dev-1)');
  const [, repo, tag] = m as unknown as [string, string, string];
  const cur = readCurrent();
  if (!cur) fail('nothing is up: run `harness up` first', 1);
  const env = envOfCurrent(cur);
  const region = env.AWS_DEFAULT_REGION || env.AWS_REGION;
  if (!env.DOCKER_CONFIG || !env.HARNESS_ACCOUNT || !region) fail('the running topology has no ECR registry (it needs root and Debian\'s docker-registry: see `harness doctor` and the `up` log)', 1);
  const host = `${env.HARNESS_ACCOUNT}.dkr.ecr.${region}.amazonaws.com`;
  try {
    await ecrCall(cur.awsEndpoint, 'DescribeRepositories', { repositoryNames: [repo] });
  } catch (e) {
    if ((e as { type?: string }).type !== 'RepositoryNotFoundException') throw e;
    await ecrCall(cur.awsEndpoint, 'CreateRepository', { repositoryName: repo });
    process.stdout.write(`created ECR repository ${repo}\n`);
  }
  const token = (await ecrCall(cur.awsEndpoint, 'GetAuthorizationToken', {})).authorizationData[0].authorizationToken as string;
  const password = Buffer.from(token, 'base64').toString('utf8').replace(/^AWS:/, '');
  const denv = { ...process.env, DOCKER_CONFIG: env.DOCKER_CONFIG };
  const remote = `${host}/${repo}:${tag}`;
  const steps: [string, string[], string?][] = [
    ['docker login', ['login', '--username', 'AWS', '--password-stdin', host], password],
    ['docker tag', ['tag', local, remote]],
    ['docker push', ['push', remote]],
  ];
  let pushed = '';
  for (const [what, a, input] of steps) {
    const r = await runDocker(a, denv, input);
    if (r.code !== 0) {
      if (what !== 'docker login' && what !== 'docker tag') await runDocker(['rmi', remote], denv);
      fail(`${what} failed (exit ${r.code}): ${r.out.trim().split('\n').slice(-3).join(' | ')}`, 1);
    }
    pushed = r.out;
  }
  await runDocker(['rmi', remote], denv); // only the ECR name: the local image stays
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1] ?? '(no digest printed)';
  process.stdout.write(`pushed ${local} → ${remote}\n  digest ${digest}\n  deploy it with your deploy command, e.g. the manifest's deployService with version ${tag}\n`);
  return 0;
}

async function statusVerb(): Promise<number> {
  const cur = readCurrent();
  if (!cur) {
    process.stdout.write('nothing is up (harness up starts a topology).\n');
    return 1;
  }
  const lines = [`run ${cur.runId} (pid ${cur.pid}), AWS endpoint ${cur.awsEndpoint}, env ${cur.envFile}`];
  const clusters = (await ecsCall(cur.awsEndpoint, 'ListClusters', {})).clusterArns as string[];
  if (clusters.length === 0) lines.push('no ECS clusters yet (deploy-all.sh creates them)');
  for (const c of clusters) {
    const arns = (await ecsCall(cur.awsEndpoint, 'ListServices', { cluster: c })).serviceArns as string[];
    lines.push(`cluster ${c.split('/').pop()}: ${arns.length} service(s)`);
    for (let i = 0; i < arns.length; i += 10) {
      const { services } = await ecsCall(cur.awsEndpoint, 'DescribeServices', { cluster: c, services: arns.slice(i, i + 10) });
      for (const s of services) {
        lines.push(`  ${s.serviceName.padEnd(24)} ${s.status.padEnd(8)} desired ${s.desiredCount} running ${s.runningCount} pending ${s.pendingCount}`);
        for (const d of s.deployments) {
          lines.push(`      ${d.status.padEnd(7)} ${d.taskDefinition.split('/').pop().padEnd(20)} ${d.rolloutState ?? ''} running ${d.runningCount}/${d.desiredCount} failed ${d.failedTasks}`);
        }
        if (s.events?.[0]) lines.push(`      last event: ${s.events[0].message}`);
        const stopped = await lastStoppedTask(cur.awsEndpoint, c, s.serviceName);
        if (stopped) lines.push(`      last stopped task: ${stopped}`);
      }
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** A service's most recently stopped task, as describe-tasks has it: why, and each container's exit and health. */
async function lastStoppedTask(endpoint: string, cluster: string, serviceName: string): Promise<string | undefined> {
  const arns = ((await ecsCall(endpoint, 'ListTasks', { cluster, serviceName, desiredStatus: 'STOPPED' })).taskArns as string[]).slice(0, 100);
  if (!arns.length) return undefined;
  const { tasks } = await ecsCall(endpoint, 'DescribeTasks', { cluster, tasks: arns });
  const t = (tasks as any[]).sort((a, b) => (b.stoppedAt ?? 0) - (a.stoppedAt ?? 0))[0];
  if (!t) return undefined;
  const containers = (t.containers ?? []).map((x: any) => `${x.name}: ${x.exitCode !== undefined && x.exitCode !== null ? `exit ${x.exitCode}` : x.lastStatus}${x.healthStatus && x.healthStatus !== 'UNKNOWN' ? `, ${x.healthStatus}` : ''}${x.reason ? `, ${x.reason}` : ''}`);
  return `${String(t.taskArn).split('/').pop()!.slice(0, 8)} ${t.taskDefinitionArn.split('/').pop()} ${t.stopCode ?? ''}: ${t.stoppedReason ?? ''}${containers.length ? ` (${containers.join('; ')})` : ''}`;
}

async function envVerb(): Promise<number> {
  const cur = readCurrent();
  if (!cur) {
    process.stderr.write('nothing is up (harness up starts a topology).\n');
    return 1;
  }
  process.stdout.write(fs.readFileSync(cur.envFile, 'utf8'));
  return 0;
}

// ------------------------------------------------------------------ exec

/**
 * `harness exec <service> [--task N] -- <cmd…>`: finds the task through the ECS API of the
 * running topology (its privateIPv4Address), maps the address to the task's network namespace
 * (.harness/runs/<id>/network.json, written by the netns fabric on every attach/detach) and
 * runs the command there (`ip netns exec`), stdio attached. In loopback mode there is no
 * namespace: the command runs on the host with HARNESS_TASK_IP set, and says so.
 */
async function execVerb(args: string[]): Promise<number> {
  const dd = args.indexOf('--');
  const head = dd >= 0 ? args.slice(0, dd) : args;
  const cmd = dd >= 0 ? args.slice(dd + 1) : [];
  const { values, positionals } = parseArgs({ args: head, allowPositionals: true, options: { task: { type: 'string' } } });
  const service = positionals[0];
  if (!service || cmd.length === 0) fail('usage: harness exec <service> [--task N] -- <cmd…>');
  const cur = readCurrent();
  if (!cur) fail('nothing is up (harness up starts a topology)', 1);
  const clusters = (await ecsCall(cur.awsEndpoint, 'ListClusters', {})).clusterArns as string[];
  const names = [service, `escher-${service}`];
  let tasks: any[] = [];
  let found = '';
  for (const c of clusters) {
    for (const name of names) {
      let arns: string[];
      try {
        arns = (await ecsCall(cur.awsEndpoint, 'ListTasks', { cluster: c, serviceName: name, desiredStatus: 'RUNNING' })).taskArns;
      } catch {
        continue; // no such service in this cluster
      }
      if (arns.length === 0) continue;
      tasks = (await ecsCall(cur.awsEndpoint, 'DescribeTasks', { cluster: c, tasks: arns })).tasks;
      found = name;
      break;
    }
    if (found) break;
  }
  tasks = tasks.filter((t) => t.lastStatus === 'RUNNING').sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0) || String(a.taskArn).localeCompare(String(b.taskArn)));
  if (tasks.length === 0) fail(`no RUNNING task of service ${service} (tried ${names.join(', ')})`, 1);
  const sel = values.task ?? '1';
  const task = /^\d+$/.test(sel) ? tasks[Number(sel) - 1] : tasks.find((t) => String(t.taskArn).split('/').pop()!.startsWith(sel));
  if (!task) fail(`--task ${sel}: ${found} has ${tasks.length} running task(s): ${tasks.map((t, i) => `${i + 1}=${String(t.taskArn).split('/').pop()!.slice(0, 8)}`).join(' ')}`, 1);
  const ip = task.attachments?.[0]?.details?.find((d: any) => d.name === 'privateIPv4Address')?.value as string | undefined;
  const taskId = String(task.taskArn).split('/').pop()!;
  let netns: string | undefined;
  let containerId: string | undefined;
  try {
    const state = JSON.parse(fs.readFileSync(path.join(cur.runDir, 'network.json'), 'utf8')) as { mode?: string; enis?: { ip: string; netns?: string; taskId: string; containerId?: string }[] };
    const eni = state.enis?.find((e) => e.taskId === taskId || e.ip === ip);
    netns = eni?.netns;
    // docker mode without root (no named namespace): inside the container, with its own tools
    if (state.mode === 'docker') {
      // the ENI's container is the task's network sandbox: exec in its first app container
      const app = spawnSync('docker', ['ps', '-q', '--filter', `label=dev.escher-harness.task-id=${taskId}`, '--filter', 'label=dev.escher-harness.container'], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean)[0];
      containerId = app || eni?.containerId;
    }
  } catch {
    /* loopback mode: no network.json */
  }
  const env = { ...process.env, HARNESS_TASK_IP: ip ?? '', HARNESS_TASK_ID: taskId };
  let argv = cmd;
  if (netns) {
    argv = ['ip', 'netns', 'exec', netns, ...cmd];
    process.stderr.write(`harness exec: ${found} task ${taskId.slice(0, 8)} (${ip}) in network namespace ${netns}\n`);
  } else if (containerId) {
    argv = ['docker', 'exec', ...(process.stdin.isTTY ? ['-it'] : ['-i']), containerId, ...cmd];
    process.stderr.write(`harness exec: ${found} task ${taskId.slice(0, 8)} (${ip}) inside container ${containerId.slice(0, 12)} (its own tools)\n`);
  } else {
    process.stderr.write(`harness exec: ${found} task ${taskId.slice(0, 8)} (${ip}): loopback mode, no namespace — running on the host (HARNESS_TASK_IP=${ip}); security groups do not apply\n`);
  }
  return new Promise<number>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env });
    child.on('error', (e) => {
      process.stderr.write(`harness exec: ${e.message}\n`);
      resolve(127);
    });
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 1)));
  });
}

async function doctorVerb(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { fix: { type: 'boolean' }, all: { type: 'boolean' } } });
  let checks = await runDoctor();
  const all = !!values.all; // --all: --fix, optional items too
  if (values.fix || all) {
    const plan = fixPlan(checks, all);
    let installed: string[] = [];
    // apt-get writes to the terminal itself: timestamped step lines (no in-place block)
    const progress = new PlainRenderer(process.stdout);
    try {
      installed = fixWithApt(checks, all, { step: (t) => progress.step(t) });
    } catch (e) {
      process.stdout.write(`cannot fix here: ${(e as Error).message}\n`);
    }
    progress.finish();
    process.stdout.write(formatFixOutcome(plan, installed, all).join('\n') + '\n');
    if (installed.length) checks = await runDoctor();
  }
  process.stdout.write('harness doctor\n' + formatDoctor(checks) + '\n');
  return checks.some((c) => c.required && c.level === 'missing') ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || !['up'].includes(process.argv[2] ?? '')) process.exitCode = code;
  },
  (e) => {
    if (e instanceof ManifestError) fail(e.message, 2);
    fail(e instanceof Error ? (e.stack ?? e.message) : String(e), 1);
  },
);
