import { afterEach, describe, expect, it } from 'vitest';
import { Clock } from '../clock.ts';
import type { ContainerHandle, ExecResult, TaskRuntime } from '../runtime/types.ts';
import { ContainerHealthChecker, HEALTH_TIMEOUT_FLOOR_MS } from './health.ts';

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
