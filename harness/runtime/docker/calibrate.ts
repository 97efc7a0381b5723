/**
 * Docker mode's timing, fitted to the machine at start (issue 12, item 6: "degrades by
 * slowing, never by failing"). What docker mode waits on in real time is QEMU: a health check
 * is a `docker exec` of sh + curl under QEMU on an x86 host, a task launch boots node under
 * QEMU. On a busy laptop or a shared CI runner that costs several times what it costs on an
 * idle machine, and every emulated AWS budget (health-check interval, start period, the CLI's
 * ServicesStable waiter, ECS's step durations) is `configured × time scale` of real time: with
 * the idle machine's scale they run out before the emulation is done.
 *
 * So at start the harness measures what it waits on — a few `docker exec sh -c 'curl
 * --version'` in an arm64 stub container (the health check's shape: QEMU loads sh, then curl),
 * their median — and the load (os.loadavg over the cores), and derives:
 * - the health-check timeout floor: 10 × the measured exec (room for the tail under load),
 *   never below today's 6 s, at most 60 s;
 * - the time scale: docker mode's default × how much slower the machine is than the one the
 *   default was tuned on (the larger of the exec's slowdown and the CPU share the load leaves),
 *   never below the default, at most 1 (AWS's real timing).
 * Both are "at most" windows and waits, so a larger value turns no failing deploy into a passing
 * one: it only gives the emulation the time AWS would not need.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { stubDockerImage } from '../stub-image.ts';
import { HARNESS_LABEL } from './images.ts';
import { DOCKER_DEFAULT_TIME_SCALE } from './select.ts';

const execFileAsync = promisify(execFile);

/** The health-check floor docker mode had before calibration (x86 host): never go below it. */
export const DOCKER_HEALTH_FLOOR_MS = 6000;
/** The largest floor calibration sets (a check that needs more is not a slow machine's check). */
export const MAX_HEALTH_FLOOR_MS = 60_000;
/** floor = this × the median exec: room for a loaded machine's tail (p99 ≈ 3–6× the median, measured) */
export const FLOOR_EXEC_MULTIPLE = 10;
/**
 * The exec cost (`docker exec … sh -c 'curl --version'` under QEMU, median) on the machine
 * DOCKER_DEFAULT_TIME_SCALE was tuned on (2 cores, load ~1.5): a measurement at or below it
 * keeps the default.
 */
export const REFERENCE_EXEC_MS = 500;
/** The load per core the default was tuned at (load 1.5 on 2 cores). */
export const REFERENCE_LOAD_PER_CORE = 0.75;
/** The largest time scale calibration sets: AWS's real timing. */
export const MAX_TIME_SCALE = 1;

export interface DockerTiming {
  /** median wall time of the sampled execs, ms (0 when nothing was measured) */
  execMs: number;
  /** the 1-minute load average when measured */
  load: number;
  cores: number;
  /** real-time floor under health-check timeouts (the runtime's healthCheckTimeoutFloorMs) */
  healthTimeoutFloorMs: number;
  /** the clock's time scale for docker mode */
  timeScale: number;
  /** one line for the summary: what was measured and what it set */
  note: string;
}

export interface DockerTimingMeasurement {
  /** wall ms of each sampled exec */
  execSamplesMs: number[];
  /** os.loadavg()[0] */
  load: number;
  cores: number;
}

/** Median (the mean of the middle two for an even count); 0 for none. */
function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The CPU share a new runnable process gets at `load` on `cores` (1 = a core of its own). */
function cpuShare(load: number, cores: number): number {
  return Math.min(1, cores / (Math.max(0, load) + 1));
}

/** Two significant digits, rounded up (0.1234 → 0.13): the scale errs towards room. */
function ceil2(x: number): number {
  const p = 10 ** (1 - Math.floor(Math.log10(x)));
  return Math.ceil(x * p - 1e-9) / p;
}

/**
 * How much slower than the reference machine this one is now (≥ 1): the larger of the exec's
 * own slowdown and the load's (the CPU share a process gets at the reference load over the one
 * it gets now). The load average lags a change by a minute, the exec sees it at once; the exec
 * is three samples, the load a minute's average: either can miss what the other sees.
 */
export function slowdownOf(m: { execMs: number; load: number; cores: number }): number {
  const byExec = m.execMs > 0 ? m.execMs / REFERENCE_EXEC_MS : 1;
  const cores = Math.max(1, m.cores);
  const byLoad = cpuShare(REFERENCE_LOAD_PER_CORE * cores, cores) / cpuShare(m.load, cores);
  return Math.max(1, byExec, byLoad);
}

/** The calibration math, from measurements (pure: the tests give it fake ones). */
export function deriveDockerTiming(m: DockerTimingMeasurement, opts: { defaultTimeScale?: number; emulated?: boolean } = {}): DockerTiming {
  const base = opts.defaultTimeScale ?? DOCKER_DEFAULT_TIME_SCALE;
  const execMs = Math.round(median(m.execSamplesMs));
  const cores = Math.max(1, m.cores);
  const slowdown = slowdownOf({ execMs, load: m.load, cores });
  const floorRaw = Math.ceil((FLOOR_EXEC_MULTIPLE * execMs) / 1000) * 1000;
  const healthTimeoutFloorMs = Math.min(MAX_HEALTH_FLOOR_MS, Math.max(DOCKER_HEALTH_FLOOR_MS, floorRaw));
  const timeScale = Math.min(MAX_TIME_SCALE, Math.max(base, ceil2(base * slowdown)));
  const what = (opts.emulated ?? process.arch !== 'arm64') ? 'exec under QEMU' : 'exec (native arm64)';
  const measured = m.execSamplesMs.length ? `${what} ${execMs} ms median (${m.execSamplesMs.length} samples)` : `${what} not measured`;
  const note =
    `docker mode: ${measured} at load ${m.load.toFixed(1)}/${cores} cores → health-check floor ${healthTimeoutFloorMs / 1000} s, time scale ${timeScale}` +
    (timeScale === base && healthTimeoutFloorMs === DOCKER_HEALTH_FLOOR_MS ? ' (the defaults: the machine is not slower than the one they were tuned on)' : ` (defaults ${DOCKER_HEALTH_FLOOR_MS / 1000} s, ${base}: ${slowdown.toFixed(1)}× slower machine)`);
  return { execMs, load: m.load, cores, healthTimeoutFloorMs, timeScale, note };
}

export interface CalibrateOptions {
  /** labels the probe container with the run id, so the next run removes it if this one is killed */
  runId?: string;
  /** the arm64 image to exec in (default: the stub image tasks run: sh + curl) */
  image?: string;
  /** how many execs (default 3) */
  samples?: number;
  /** measures instead of Docker (tests) */
  measure?: () => Promise<DockerTimingMeasurement>;
  /** time scale the derivation starts from (default DOCKER_DEFAULT_TIME_SCALE) */
  defaultTimeScale?: number;
  log?: (line: string) => void;
}

/**
 * Measures and derives docker mode's timing (see the top of this file). Never throws: when
 * nothing can be measured it returns the defaults, the load's share of them, and says why.
 * Costs one arm64 container start plus `samples` execs (~1.5–2.5 s on an idle 2-core machine);
 * the probe container is removed in the background.
 */
export async function calibrateDockerTiming(opts: CalibrateOptions = {}): Promise<DockerTiming> {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  let m: DockerTimingMeasurement;
  let why = '';
  try {
    m = await (opts.measure ?? (() => measureDockerExec({ runId: opts.runId, image: opts.image, samples: opts.samples })))();
  } catch (e) {
    why = (e as Error).message.split('\n')[0]!;
    m = { execSamplesMs: [], load: os.loadavg()[0]!, cores };
  }
  const t = deriveDockerTiming(m, { defaultTimeScale: opts.defaultTimeScale });
  if (why) t.note += ` (could not measure the exec: ${why})`;
  opts.log?.(t.note);
  return t;
}

/**
 * The measurement: an arm64 container of the stub image that only sleeps (labelled as the
 * run's, so leftovers are swept), `samples` sequential `docker exec <id> sh -c 'curl --version'`
 * timed from the client (what the health checker waits on, plus the CLI's own ~50 ms), and the
 * load average read after them.
 */
export async function measureDockerExec(opts: { runId?: string; image?: string; samples?: number } = {}): Promise<DockerTimingMeasurement> {
  const image = opts.image ?? stubDockerImage('arm64');
  const samples = Math.max(1, opts.samples ?? 3);
  const labels = [`${HARNESS_LABEL}=1`, 'dev.escher-harness.role=calibration'];
  if (opts.runId) labels.push(`dev.escher-harness.run-id=${opts.runId}`, `dev.escher-harness.owner-pid=${process.pid}`);
  const { stdout } = await execFileAsync(
    'docker',
    ['run', '-d', '--rm', '--platform', 'linux/arm64', '--network', 'none', ...labels.flatMap((l) => ['--label', l]), '--entrypoint', '/bin/sh', image, '-c', 'sleep 120'],
    { timeout: 60_000 },
  );
  const id = stdout.trim();
  const execSamplesMs: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      await execFileAsync('docker', ['exec', id, '/bin/sh', '-c', 'curl --version'], { timeout: 60_000 });
      execSamplesMs.push(performance.now() - t0);
    }
  } finally {
    // not awaited: the removal is the engine's work, not the run's
    execFile('docker', ['rm', '-f', id], () => undefined);
  }
  return { execSamplesMs, load: os.loadavg()[0]!, cores: os.availableParallelism?.() ?? os.cpus().length };
}
