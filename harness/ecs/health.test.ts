import { afterEach, describe, expect, it } from 'vitest';
import { Clock } from '../clock.ts';
import type { ContainerHandle, ExecResult, TaskRuntime } from '../runtime/types.ts';
import { ContainerHealthChecker, HEALTH_TIMEOUT_FLOOR_MS, MAX_UNCOUNTED_STARVED, STARVED_PROBE_FRACTION, wasStarved, type HealthStatus } from './health.ts';

/** A runtime whose exec records the timeout it is given and passes. */
function recordingRuntime(floor?: number): TaskRuntime & { timeouts: number[] } {
  const timeouts: number[] = [];
  return {
    name: 'docker',
    isolationEnforced: false,
    healthCheckTimeoutFloorMs: floor,
    timeouts,
    start: async () => ({}) as ContainerHandle,
    exec: async (_h, _c, timeoutMs): Promise<ExecResult> => {
      timeouts.push(timeoutMs);
      return { exitCode: 0, stdout: 'ok', stderr: '', timedOut: false };
    },
    stop: async () => ({ exitCode: 0, signal: null }),
    close: async () => {},
  };
}

describe('ContainerHealthChecker timeouts', () => {
  const clocks: Clock[] = [];
  afterEach(() => clocks.splice(0).forEach((c) => c.close()));

  const firstTimeout = async (floor?: number) => {
    const clock = new Clock(0.001);
    clocks.push(clock);
    const rt = recordingRuntime(floor);
    const healthy = new Promise<void>((resolve) => {
      const c = new ContainerHealthChecker(clock, rt, {} as ContainerHandle, { command: ['CMD-SHELL', 'true'], interval: 5, timeout: 5, retries: 3 }, () => {
        c.stop();
        resolve();
      });
      c.start();
    });
    await healthy;
    return rt.timeouts[0];
  };

  it('a scaled timeout below the floor gets the floor', async () => {
    expect(await firstTimeout()).toBe(HEALTH_TIMEOUT_FLOOR_MS);
  });

  it("a runtime's own floor (emulated docker exec) raises it", async () => {
    expect(await firstTimeout(6000)).toBe(6000);
    expect(await firstTimeout(1000)).toBe(HEALTH_TIMEOUT_FLOOR_MS);
  });
});

/**
 * A runtime whose exec answers from a script: the check's own attempts (`curl …`) and the
 * checker's no-op probe (`exit 0`) each take their next answer; a `ms` makes the exec take that
 * long (real time, a few ms) before answering.
 */
function scriptedRuntime(check: ExecResult[], probe: { ms: number; r: ExecResult }[]): TaskRuntime & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: 'docker',
    isolationEnforced: false,
    calls,
    start: async () => ({}) as ContainerHandle,
    exec: async (_h, c): Promise<ExecResult> => {
      const cmd = c.slice(1).join(' ');
      calls.push(cmd);
      if (cmd === 'exit 0') {
        const p = probe.shift() ?? { ms: 0, r: { exitCode: 0, stdout: '', stderr: '', timedOut: false } };
        await new Promise((r) => setTimeout(r, p.ms));
        return p.r;
      }
      return check.shift() ?? { exitCode: 0, stdout: 'ok', stderr: '', timedOut: false };
    },
    stop: async () => ({ exitCode: 0, signal: null }),
    close: async () => {},
  };
}

const TIMED_OUT: ExecResult = { exitCode: -1, stdout: '', stderr: '', timedOut: true };
const PASS: ExecResult = { exitCode: 0, stdout: 'ok', stderr: '', timedOut: false };
const FAIL: ExecResult = { exitCode: 7, stdout: '', stderr: 'curl: (7) Failed to connect', timedOut: false };

describe('ContainerHealthChecker on a starved machine', () => {
  const clocks: Clock[] = [];
  afterEach(() => clocks.splice(0).forEach((c) => c.close()));

  /** runs a checker (timeout floor 20 ms: the runtime's) until its first status change; what it saw */
  const firstChange = (rt: TaskRuntime, command = ['CMD-SHELL', 'curl -f http://localhost/health']) => {
    const clock = new Clock(0.0001);
    clocks.push(clock);
    (rt as { healthCheckTimeoutFloorMs?: number }).healthCheckTimeoutFloorMs = 20;
    return new Promise<{ status: HealthStatus; output: string; checker: ContainerHealthChecker }>((resolve) => {
      const checker: ContainerHealthChecker = new ContainerHealthChecker(clock, rt, {} as ContainerHandle, { command, interval: 5, timeout: 5, retries: 2 }, (status, output) => {
        checker.stop();
        resolve({ status, output, checker });
      });
      checker.start();
    });
  };

  it('a timed-out check whose no-op probe is slow too is not counted: the next pass makes it HEALTHY', async () => {
    // three timeouts, each with a no-op that took the whole timeout (starved), then a pass
    const rt = scriptedRuntime([TIMED_OUT, TIMED_OUT, TIMED_OUT, PASS], [1, 2, 3].map(() => ({ ms: 0, r: TIMED_OUT })));
    const seen = await firstChange(rt);
    expect(seen.status).toBe('HEALTHY');
    expect(seen.checker.starvedAttempts).toBe(3);
    expect(seen.checker.consecutiveFailures).toBe(0);
  });

  it('a timed-out check whose no-op is quick counts (the app is slow, not the machine): UNHEALTHY after retries', async () => {
    const rt = scriptedRuntime([TIMED_OUT, TIMED_OUT], []);
    const seen = await firstChange(rt);
    expect(seen.status).toBe('UNHEALTHY');
    expect(seen.output).toBe(`health check timed out after ${HEALTH_TIMEOUT_FLOOR_MS} ms`);
    expect(seen.checker.starvedAttempts).toBe(0);
    expect(rt.calls).toEqual(['curl -f http://localhost/health', 'exit 0', 'curl -f http://localhost/health', 'exit 0']);
  });

  it('a starved machine that never catches up still fails the task, after MAX_UNCOUNTED_STARVED uncounted attempts', async () => {
    const starved = Array.from({ length: 10 }, () => ({ ms: 0, r: TIMED_OUT }));
    const rt = scriptedRuntime(Array.from({ length: 10 }, () => TIMED_OUT), starved);
    const seen = await firstChange(rt);
    expect(seen.status).toBe('UNHEALTHY');
    expect(seen.checker.starvedAttempts).toBe(MAX_UNCOUNTED_STARVED);
    // the uncounted ones (each probed), then `retries` (2) counted timeouts, not probed again
    expect(rt.calls.filter((c) => c === 'exit 0').length).toBe(MAX_UNCOUNTED_STARVED);
    expect(rt.calls.filter((c) => c !== 'exit 0').length).toBe(MAX_UNCOUNTED_STARVED + 2);
  });

  it('a check that fails (no timeout) counts at once, with no probe', async () => {
    const rt = scriptedRuntime([FAIL, FAIL], []);
    const seen = await firstChange(rt);
    expect(seen.status).toBe('UNHEALTHY');
    expect(seen.output).toContain('Failed to connect');
    expect(rt.calls).not.toContain('exit 0');
  });

  it('a CMD check (no shell to probe with) counts its timeout', async () => {
    const rt = scriptedRuntime([TIMED_OUT, TIMED_OUT], []);
    const seen = await firstChange(rt, ['CMD', '/healthcheck']);
    expect(seen.status).toBe('UNHEALTHY');
    expect(rt.calls).not.toContain('exit 0');
  });

  it('a probe that cannot run (no sh in the image: 127) counts the timeout', async () => {
    const noSh: ExecResult = { exitCode: 127, stdout: '', stderr: 'exec: "/bin/sh": not found', timedOut: false };
    const rt = scriptedRuntime([TIMED_OUT, TIMED_OUT], [{ ms: 0, r: noSh }, { ms: 0, r: noSh }]);
    const seen = await firstChange(rt);
    expect(seen.status).toBe('UNHEALTHY');
    expect(seen.checker.starvedAttempts).toBe(0);
  });

  it('a no-op at 40 % of the timeout or more is starvation; below it is not', () => {
    expect(STARVED_PROBE_FRACTION).toBe(0.4);
    expect(wasStarved(2400, 6000)).toBe(true);
    expect(wasStarved(6000, 6000)).toBe(true);
    expect(wasStarved(2399, 6000)).toBe(false);
    expect(wasStarved(undefined, 6000)).toBe(false);
  });
});
