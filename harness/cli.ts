import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatDoctor, fixWithApt, runDoctor } from './scenario/doctor.ts';
import { formatSummary, type ScenarioReport } from './scenario/report.ts';
import { harnessHome, pidAlive } from './scenario/run-id.ts';
import { cleanupLeftovers } from './scenario/cleanup.ts';
import { ConfigError } from './topology/load.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIO_DIR = path.join(ROOT, 'scenarios');

const USAGE = `harness <verb> [options]

  scenario <name…> | --all   run scenarios (vitest) against a fresh topology each; prints a summary,
                             writes .harness/runs/<id>/{junit.xml,timeline.json}
      --runtime process      task runtime (process is the embedded default)
      --time-scale N         emulated intervals × N (default 0.02; 1 = AWS's real timing)
      --deploy-dir PATH      run your own checkout of the deployment repo instead of the fixture
      --aws-cli PATH         the aws CLI the scripts run (default: first aws on PATH)
  up [--deploy VERSION]      start the seeded topology in the background (AWS edge on :4566 when
                             free), optionally run deploy-all.sh VERSION; writes .harness/env
      --port N  --time-scale N  --deploy-dir PATH  --runtime process  --foreground
  down                       stop what \`up\` started and remove its processes
  status                     the running topology: endpoint, services, deployments, tasks
  env                        print the sourceable environment of the running topology
  doctor [--fix]             preflight: aws CLIs, Node, curl, root/netns, nftables, Docker, QEMU;
                             --fix installs missing Debian packages (as root)

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
    case 'doctor':
      return doctorVerb(rest);
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
      'aws-cli': { type: 'string' },
    },
  });
  const known = listScenarios();
  const names = values.all ? known : positionals;
  if (names.length === 0) fail(`name a scenario or pass --all (scenarios: ${known.join(', ')})`);
  for (const n of names) if (!known.includes(n)) fail(`no scenario '${n}' (scenarios: ${known.join(', ')})`);
  const env = scenarioEnv(values);

  const checks = await runDoctor();
  const blocking = checks.filter((c) => c.required && c.level === 'missing');
  if (blocking.length) {
    process.stdout.write('harness doctor:\n' + formatDoctor(checks) + '\n');
    return 1;
  }
  for (const c of checks.filter((x) => x.level === 'warn' && /namespaces/.test(x.name))) {
    process.stdout.write(`note: ${c.name}: ${c.detail}\n`);
  }

  const session = path.join(os.tmpdir(), `escher-harness-session-${process.pid}.txt`);
  fs.writeFileSync(session, '');
  const files = names.map((n) => path.join('scenarios', `${n}.scenario.test.ts`));
  const vitest = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', '--project', 'scenario', ...files], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, ...env, HARNESS_SESSION_FILE: session },
    });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 130 : 1)));
  });
  const runDirs = fs.readFileSync(session, 'utf8').split('\n').filter(Boolean);
  fs.rmSync(session, { force: true });
  process.stdout.write('\n');
  for (const dir of runDirs) {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')) as ScenarioReport;
      process.stdout.write(formatSummary(r) + '\n\n');
    } catch {
      process.stdout.write(`(no report in ${dir})\n`);
    }
  }
  if (runDirs.length < names.length) process.stdout.write(`${names.length - runDirs.length} scenario(s) did not get far enough to write a report: see the vitest output above.\n`);
  return code;
}

function scenarioEnv(values: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  if (values.runtime) {
    if (values.runtime !== 'process') fail(`--runtime ${values.runtime}: only 'process' is available in this build`);
    env.HARNESS_RUNTIME = String(values.runtime);
  }
  if (values['time-scale'] !== undefined) {
    const ts = Number(values['time-scale']);
    if (!(ts > 0 && ts <= 10)) fail(`--time-scale must be a number in (0, 10], got ${values['time-scale']}`);
    env.HARNESS_TIME_SCALE = String(ts);
  }
  if (values['deploy-dir']) {
    const d = path.resolve(String(values['deploy-dir']));
    if (!fs.existsSync(path.join(d, 'deploy-all.sh'))) fail(`--deploy-dir ${d}: no deploy-all.sh there`);
    env.HARNESS_DEPLOY_DIR = d;
  }
  if (values['aws-cli']) env.HARNESS_AWS_CLI = path.resolve(String(values['aws-cli']));
  return env;
}

// ------------------------------------------------------------------ up / down / status / env

interface Current {
  runId: string;
  pid: number;
  runDir: string;
  envFile: string;
  awsEndpoint: string;
  deployed?: string;
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
      'aws-cli': { type: 'string' },
      foreground: { type: 'boolean' },
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
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'harness.mjs'), 'up', '--foreground', ...args], {
    cwd: process.cwd(),
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env },
  });
  child.unref();
  const exited = new Promise<number>((r) => child.on('exit', (c) => r(c ?? 1)));
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const cur = readCurrent();
    if (cur && cur.pid === child.pid) {
      process.stdout.write(fs.readFileSync(logFile, 'utf8'));
      return 0;
    }
    const done = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
    if (done !== undefined) {
      process.stderr.write(fs.readFileSync(logFile, 'utf8'));
      return done || 1;
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      fail(`harness up did not become ready in time; see ${logFile}`, 1);
    }
  }
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
  const h = await startHarness({ ...optionsFromEnv(), awsPort: port, kind: 'up', log: (l) => process.stdout.write(l + '\n') });
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${sig}: tearing down run ${h.runId}…\n`);
    await h.stop();
    fs.rmSync(currentFile(), { force: true });
    fs.rmSync(path.join(harnessHome(), 'env'), { force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  let deployed: string | undefined;
  if (values.deploy) {
    process.stdout.write(`running deploy-all.sh ${values.deploy} …\n`);
    const r = await runScript({
      script: path.join(h.topology.deployDir, 'deploy-all.sh'),
      args: [values.deploy],
      cwd: h.topology.deployDir,
      env: h.cliEnv,
      logFile: path.join(h.runDir, 'scripts', 'up-deploy-all.log'),
    });
    process.stdout.write(`deploy-all.sh ${values.deploy} exited ${r.exitCode} (${(r.durationMs / 1000).toFixed(1)} s); log: ${path.join(h.runDir, 'scripts', 'up-deploy-all.log')}\n`);
    if (r.exitCode === 0) deployed = values.deploy;
  }
  const envCopy = path.join(harnessHome(), 'env');
  fs.copyFileSync(h.envFile, envCopy);
  const cur: Current = { runId: h.runId, pid: process.pid, runDir: h.runDir, envFile: envCopy, awsEndpoint: h.awsEndpoint, deployed };
  process.stdout.write(
    [
      `escher-harness is up (run ${h.runId}, pid ${process.pid}, runtime ${h.runtime.name}, time scale ${h.clock.timeScale})`,
      `  AWS endpoint   ${h.awsEndpoint}`,
      `  Cloud Map DNS  ${h.dns.host}:${h.dns.port} (${h.topology.namespace})`,
      `  deploy dir     ${h.topology.deployDir}${deployed ? ` (deployed ${deployed})` : ''}`,
      '',
      '  source .harness/env && aws ecs list-services --cluster ' + h.topology.cluster,
      `  cd ${path.relative(process.cwd(), h.topology.deployDir) || '.'} && ./deploy.sh gateway v2.15.1   # with .harness/env sourced`,
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

async function ecsCall(endpoint: string, op: string, body: unknown): Promise<any> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `AmazonEC2ContainerServiceV20141113.${op}` },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${json.__type}: ${json.message}`);
  return json;
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
      }
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
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

async function doctorVerb(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { fix: { type: 'boolean' }, all: { type: 'boolean' } } });
  let checks = await runDoctor();
  if (values.fix) {
    try {
      const installed = fixWithApt(checks, !!values.all);
      if (installed.length) process.stdout.write(`installed: ${installed.join(' ')}\n`);
    } catch (e) {
      process.stdout.write(`cannot fix here: ${(e as Error).message}\n`);
    }
    checks = await runDoctor();
  }
  process.stdout.write('harness doctor\n' + formatDoctor(checks) + '\n');
  return checks.some((c) => c.required && c.level === 'missing') ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || !['up'].includes(process.argv[2] ?? '')) process.exitCode = code;
  },
  (e) => {
    if (e instanceof ConfigError) fail(e.message, 2);
    fail(e instanceof Error ? (e.stack ?? e.message) : String(e), 1);
  },
);
