import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerModeAvailable } from '../harness/runtime/docker/select.ts';
import type { BenchResult } from './types.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** a scenario that has not finished after this long is killed and counted as failed */
const RUN_LIMIT_MS = 30 * 60_000;

interface ScenarioOutcome {
  verdict: string;
  passed: boolean;
  wallMs: number;
  timeScale?: string;
  /** calibrateDockerTiming's note, when the run printed it */
  calibration?: string;
  /** the report's causes (failed checks' diagnoses) */
  causes: string[];
  /** checks passed / run, and the names of the failed ones (from the run's report.json) */
  checks?: { passed: number; total: number; failed: string[] };
  /** 1-minute load average: mean and max of the samples taken during the run */
  loadMean: number;
  loadMax: number;
  tail: string;
}

/**
 * `harness scenario deploy-all --runtime docker --quiet` as a child, as a user runs it: pass or
 * fail from its summary line, wall time from spawn to exit, the load while it ran.
 */
async function deployAllDocker(): Promise<ScenarioOutcome> {
  const loads: number[] = [];
  const sample = setInterval(() => loads.push(os.loadavg()[0]!), 5000);
  const t0 = performance.now();
  let out = '';
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'harness', 'cli.ts'), 'scenario', 'deploy-all', '--runtime', 'docker', '--quiet'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    for (const s of [child.stdout!, child.stderr!]) s.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const limit = setTimeout(() => child.kill('SIGINT'), RUN_LIMIT_MS);
    child.on('close', (c) => {
      clearTimeout(limit);
      resolve(c ?? 1);
    });
  });
  clearInterval(sample);
  loads.push(os.loadavg()[0]!);
  const wallMs = performance.now() - t0;
  const head = /── scenario deploy-all: (PASSED|FAILED|INCOMPLETE)/.exec(out);
  const verdict = head?.[1] ?? `no summary (exit ${code})`;
  let checks: ScenarioOutcome['checks'];
  const runDir = /report: (\S+)\/junit\.xml/.exec(out)?.[1];
  try {
    const r = JSON.parse(fs.readFileSync(path.join(runDir!, 'report.json'), 'utf8')) as { checks: { name: string; status: string }[] };
    checks = { passed: r.checks.filter((c) => c.status === 'passed').length, total: r.checks.length, failed: r.checks.filter((c) => c.status === 'failed').map((c) => c.name) };
  } catch {
    /* no report: the verdict line says why */
  }
  return {
    checks,
    verdict,
    passed: code === 0 && verdict === 'PASSED',
    wallMs,
    timeScale: /time scale ([\d.]+)/.exec(out)?.[1],
    calibration: /docker mode: exec[^;\n]*/.exec(out)?.[0],
    causes: [...out.matchAll(/^\s+cause:\s+(.*)$/gm)].map((m) => m[1]!.trim()),
    loadMean: loads.reduce((a, b) => a + b, 0) / loads.length,
    loadMax: Math.max(...loads),
    tail: out.split('\n').slice(-40).join('\n'),
  };
}

/**
 * A CPU hog of `n` busy processes at nice 0 (`yes` into /dev/null: a core each), always killed:
 * by stop(), and by the process's exit if the bench dies first.
 */
function startHog(n: number): { stop(): Promise<void> } {
  const kids: ChildProcess[] = [];
  for (let i = 0; i < n; i++) kids.push(spawn('yes', [], { stdio: 'ignore' }));
  const kill = () => {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
  };
  process.once('exit', kill);
  return {
    async stop() {
      const exited = kids.map((k) => (k.exitCode !== null || k.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => k.once('exit', () => r()))));
      kill();
      await Promise.all(exited);
      process.off('exit', kill);
    },
  };
}

/**
 * Issue 12, item 6: docker mode degrades by slowing, never by failing. The docker-mode
 * deploy-all scenario on a quiet machine, then while a CPU hog holds it at 4× oversubscription
 * (2 busy processes per core), in the same run: both must pass, the second slower. The hog is
 * started here and always killed. Nothing else of the bench's runs meanwhile.
 */
export async function run(): Promise<BenchResult[]> {
  const avail = await dockerModeAvailable();
  if (!avail.ok) return [{ name: 'docker mode under load', value: 0, unit: 'skipped', note: avail.reason }];
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const hogs = Number(process.env.BENCH_HOG_PROCESSES ?? cores * 4);

  const quiet = await deployAllDocker();
  const hog = startHog(hogs);
  let loaded: ScenarioOutcome;
  try {
    loaded = await deployAllDocker();
  } finally {
    await hog.stop();
  }
  const describe = (o: ScenarioOutcome) =>
    `${o.verdict}${o.checks ? ` (${o.checks.passed}/${o.checks.total} checks${o.checks.failed.length ? `; failed: ${o.checks.failed.join(' | ')}` : ''})` : ''}; load ${o.loadMean.toFixed(1)} mean, ${o.loadMax.toFixed(1)} max on ${cores} cores; time scale ${o.timeScale ?? '?'}` +
    (o.calibration ? `; ${o.calibration}` : '') +
    (o.causes.length ? `; causes: ${o.causes.join(' | ')}` : '');
  for (const [label, o] of [['quiet', quiet], ['hog', loaded]] as const) {
    if (!o.passed) process.stdout.write(`\n[docker-load] ${label} run ${o.verdict}; the run's last lines:\n${o.tail}\n`);
  }
  return [
    {
      name: `scenario deploy-all --runtime docker under a CPU hog (${hogs} busy processes at nice 0 on ${cores} cores)`,
      value: loaded.wallMs / 1000,
      unit: 's',
      baseline: { name: `same scenario, no hog (${quiet.verdict})`, value: quiet.wallMs / 1000 },
      ratio: loaded.wallMs / quiet.wallMs,
      target: 'PASSED under the hog (slower, green)',
      note: `hog: ${describe(loaded)}; no hog: ${describe(quiet)}`,
    },
    {
      name: 'deploy-all under the hog passed (1 = PASSED)',
      value: loaded.passed ? 1 : 0,
      unit: '',
      baseline: { name: 'no hog', value: quiet.passed ? 1 : 0 },
      target: '1',
    },
  ];
}
