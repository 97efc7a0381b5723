import type { HealthCheck } from '@aws-sdk/client-ecs';
import type { Clock } from '../clock.ts';
import type { ContainerHandle, TaskRuntime } from '../runtime/types.ts';

export type HealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';

/**
 * A real-time floor under a scaled health-check timeout: a scaled 5 s can be 100 ms, less
 * than it takes to spawn `sh -c curl …` on a busy machine. Timeouts are "at most" windows, so
 * flooring them cannot turn a failing check into a passing one except for a check that is
 * merely slow (see the README's Fidelity table).
 */
export const HEALTH_TIMEOUT_FLOOR_MS = 3000;

/** How much of a health check's output is kept (its end: curl's and wget's error line comes last). */
export const HEALTH_OUTPUT_LIMIT = 500;

/**
 * A timed-out CMD-SHELL check is probed with a no-op (`sh -c 'exit 0'`, the same exec path);
 * when the no-op itself takes at least this fraction of the timeout, the machine (the
 * emulation: docker exec, QEMU loading sh) was starved and the check could not have run in
 * time whatever the app does: the attempt is not counted and is retried at the next interval.
 * sh + curl cost about 2.5× a bare sh (measured under QEMU at load 17 on 2 cores: 0.9–1.7 s
 * against 3.0–3.9 s), so a no-op at 40 % of the timeout means the check needed all of it
 * before the app was even asked.
 */
export const STARVED_PROBE_FRACTION = 0.4;
/**
 * At most this many starved attempts go uncounted until a check runs to its end again; further
 * timeouts count as ECS counts them (a machine that never catches up still fails the task, after
 * MAX_UNCOUNTED_STARVED + retries attempts, with the reason in the output).
 */
export const MAX_UNCOUNTED_STARVED = 3;

/** Whether a no-op that took `noOpMs` (undefined: it could not run) says the machine was starved for a check of `timeoutMs`. */
export function wasStarved(noOpMs: number | undefined, timeoutMs: number): noOpMs is number {
  return noOpMs !== undefined && noOpMs >= timeoutMs * STARVED_PROBE_FRACTION;
}

/**
 * Runs one container's healthCheck the way the ECS agent (Docker) does: every `interval`
 * seconds, `timeout` per attempt, UNHEALTHY after `retries` consecutive failures; failures
 * inside `startPeriod` do not count, a success there makes it HEALTHY. Exit code 0 passes.
 */
export class ContainerHealthChecker {
  status: HealthStatus = 'UNKNOWN';
  private stopped = false;
  /** failed attempts in a row that counted (outside the start period), reset by a pass */
  consecutiveFailures = 0;
  private readonly startedAt: number;
  /** the last attempt's output (stdout + stderr), its last HEALTH_OUTPUT_LIMIT characters */
  lastOutput = '';
  /** the last attempt's exit code (undefined: it timed out or could not run) */
  lastExitCode: number | undefined;
  /** timed-out attempts not counted because the machine was starved (a no-op exec took too long) */
  starvedAttempts = 0;
  private starvedSinceCompleted = 0;

  constructor(
    private readonly clock: Clock,
    private readonly runtime: TaskRuntime,
    private readonly handle: ContainerHandle,
    private readonly hc: HealthCheck,
    private readonly onChange: (status: HealthStatus, output: string) => void,
  ) {
    this.startedAt = clock.nowMs();
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
  }

  private async loop(): Promise<void> {
    const interval = this.hc.interval ?? 30;
    const timeoutMs = Math.max(this.clock.scaledMs(this.hc.timeout ?? 5), HEALTH_TIMEOUT_FLOOR_MS, this.runtime.healthCheckTimeoutFloorMs ?? 0);
    const retries = this.hc.retries ?? 3;
    const startPeriodMs = this.clock.scaledMs(this.hc.startPeriod ?? 0);
    const command = this.hc.command ?? [];
    if (command[0] === 'NONE') return;
    while (!this.stopped) {
      try {
        await this.clock.sleep(interval);
      } catch {
        return;
      }
      if (this.stopped) return;
      let ok = false;
      let timedOut = false;
      try {
        const r = await this.runtime.exec(this.handle, command, timeoutMs);
        ok = r.exitCode === 0 && !r.timedOut;
        timedOut = r.timedOut;
        this.lastExitCode = r.timedOut ? undefined : r.exitCode;
        this.lastOutput = (r.timedOut ? `health check timed out after ${timeoutMs} ms` : (r.stdout + r.stderr)).trim().slice(-HEALTH_OUTPUT_LIMIT);
      } catch (e) {
        ok = false;
        this.lastExitCode = undefined;
        this.lastOutput = (e instanceof Error ? e.message : String(e)).slice(-HEALTH_OUTPUT_LIMIT);
      }
      if (this.stopped) return;
      if (timedOut && command[0] === 'CMD-SHELL' && this.starvedSinceCompleted < MAX_UNCOUNTED_STARVED) {
        const noOpMs = await this.noOpMs(timeoutMs);
        if (this.stopped) return;
        if (wasStarved(noOpMs, timeoutMs)) {
          this.starvedSinceCompleted++;
          this.starvedAttempts++;
          this.lastOutput = `health check timed out after ${timeoutMs} ms; not counted: the machine was starved (a no-op sh took ${Math.round(noOpMs)} ms), retried at the next interval`;
          continue;
        }
      }
      // a check that ran to its end (pass or fail) shows the machine caught up
      if (!timedOut) this.starvedSinceCompleted = 0;
      const inStartPeriod = this.clock.nowMs() - this.startedAt < startPeriodMs;
      if (ok) {
        this.consecutiveFailures = 0;
        this.set('HEALTHY');
      } else if (!inStartPeriod || this.status === 'HEALTHY') {
        this.consecutiveFailures++;
        if (this.consecutiveFailures >= retries) this.set('UNHEALTHY');
      }
    }
  }

  /**
   * Wall ms of a no-op `sh -c 'exit 0'` through the same exec (bounded by timeoutMs: a no-op
   * that times out took at least that), or undefined when it could not run (no sh: then nothing
   * says the machine was at fault, and the attempt counts).
   */
  private async noOpMs(timeoutMs: number): Promise<number | undefined> {
    const t0 = performance.now();
    try {
      const r = await this.runtime.exec(this.handle, ['CMD-SHELL', 'exit 0'], timeoutMs);
      if (!r.timedOut && r.exitCode !== 0) return undefined;
      return r.timedOut ? Math.max(timeoutMs, performance.now() - t0) : performance.now() - t0;
    } catch {
      return undefined;
    }
  }

  private set(s: HealthStatus): void {
    if (s === this.status) return;
    this.status = s;
    this.onChange(s, this.lastOutput);
  }
}

/** Task health = roll-up of its essential containers that have a health check. */
export function rollUpHealth(containers: { essential: boolean; hasCheck: boolean; status: HealthStatus }[]): HealthStatus {
  const checked = containers.filter((c) => c.essential && c.hasCheck);
  if (checked.length === 0) return 'UNKNOWN';
  if (checked.some((c) => c.status === 'UNHEALTHY')) return 'UNHEALTHY';
  if (checked.some((c) => c.status === 'UNKNOWN')) return 'UNKNOWN';
  return 'HEALTHY';
}
