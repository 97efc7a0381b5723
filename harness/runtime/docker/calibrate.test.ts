import { describe, expect, it } from 'vitest';
import {
  calibrateDockerTiming,
  deriveDockerTiming,
  DOCKER_HEALTH_FLOOR_MS,
  MAX_HEALTH_FLOOR_MS,
  MAX_TIME_SCALE,
  REFERENCE_EXEC_MS,
  slowdownOf,
} from './calibrate.ts';
import { DOCKER_DEFAULT_TIME_SCALE } from './select.ts';

describe('deriveDockerTiming (fake measurements)', () => {
  it('an idle machine keeps the defaults, and says so', () => {
    const t = deriveDockerTiming({ execSamplesMs: [310, 290, 450], load: 0.3, cores: 2 }, { emulated: true });
    expect(t.execMs).toBe(310);
    expect(t.healthTimeoutFloorMs).toBe(DOCKER_HEALTH_FLOOR_MS);
    expect(t.timeScale).toBe(DOCKER_DEFAULT_TIME_SCALE);
    expect(t.note).toBe('docker mode: exec under QEMU 310 ms median (3 samples) at load 0.3/2 cores → health-check floor 6 s, time scale 0.05 (the defaults: the machine is not slower than the one they were tuned on)');
  });

  it("the issue's example: 850 ms at load 5.2 on 2 cores → floor 9 s, time scale 0.13", () => {
    const t = deriveDockerTiming({ execSamplesMs: [850, 2000, 700], load: 5.2, cores: 2 });
    expect(t.execMs).toBe(850);
    expect(t.healthTimeoutFloorMs).toBe(9000);
    // the load leaves 2/6.2 of a core against 2/2.5 at the reference: 2.48× → 0.05 × 2.48 rounded up
    expect(t.timeScale).toBe(0.13);
    expect(t.note).toContain('→ health-check floor 9 s, time scale 0.13');
    expect(t.note).toContain('2.5× slower machine');
  });

  it('a slow exec alone (load average still low: a hog that just started) raises both', () => {
    const t = deriveDockerTiming({ execSamplesMs: [2000], load: 0.5, cores: 2 });
    expect(slowdownOf({ execMs: 2000, load: 0.5, cores: 2 })).toBe(2000 / REFERENCE_EXEC_MS);
    expect(t.healthTimeoutFloorMs).toBe(20_000);
    expect(t.timeScale).toBe(0.2);
  });

  it('a high load alone (quick exec) raises the time scale, not the floor', () => {
    const t = deriveDockerTiming({ execSamplesMs: [400, 420, 380], load: 9, cores: 2 });
    expect(t.healthTimeoutFloorMs).toBe(DOCKER_HEALTH_FLOOR_MS);
    // 0.8 / (2/10) = 4×
    expect(t.timeScale).toBe(0.2);
  });

  it('never below the defaults, never above real timing and a 60 s floor', () => {
    const fast = deriveDockerTiming({ execSamplesMs: [5, 5, 5], load: 0, cores: 64 });
    expect(fast.timeScale).toBe(DOCKER_DEFAULT_TIME_SCALE);
    expect(fast.healthTimeoutFloorMs).toBe(DOCKER_HEALTH_FLOOR_MS);
    const hopeless = deriveDockerTiming({ execSamplesMs: [30_000], load: 200, cores: 2 });
    expect(hopeless.timeScale).toBe(MAX_TIME_SCALE);
    expect(hopeless.healthTimeoutFloorMs).toBe(MAX_HEALTH_FLOOR_MS);
  });

  it('more cores at the same load is a faster machine', () => {
    expect(slowdownOf({ execMs: 0, load: 6, cores: 8 })).toBe(1);
    expect(slowdownOf({ execMs: 0, load: 6, cores: 2 })).toBeGreaterThan(2);
  });

  it("a user's own default time scale is the lower bound it starts from", () => {
    const t = deriveDockerTiming({ execSamplesMs: [400], load: 0.2, cores: 2 }, { defaultTimeScale: 0.1 });
    expect(t.timeScale).toBe(0.1);
  });

  it('the median of an even count is the mean of the middle two', () => {
    expect(deriveDockerTiming({ execSamplesMs: [100, 300, 200, 1000], load: 0, cores: 2 }).execMs).toBe(250);
  });
});

describe('calibrateDockerTiming', () => {
  it('uses the measurement it is given and logs the note', async () => {
    const lines: string[] = [];
    const t = await calibrateDockerTiming({ measure: async () => ({ execSamplesMs: [850, 850, 850], load: 5.2, cores: 2 }), log: (l) => lines.push(l) });
    expect(t.healthTimeoutFloorMs).toBe(9000);
    expect(lines).toEqual([t.note]);
  });

  it('a measurement that fails gives the defaults (load permitting) and says why, never throws', async () => {
    const t = await calibrateDockerTiming({
      measure: async () => {
        throw new Error('Unable to find image escher-harness/stub:x-arm64 locally\nmore');
      },
    });
    expect(t.execMs).toBe(0);
    expect(t.healthTimeoutFloorMs).toBe(DOCKER_HEALTH_FLOOR_MS);
    expect(t.timeScale).toBeGreaterThanOrEqual(DOCKER_DEFAULT_TIME_SCALE);
    expect(t.note).toContain('exec under QEMU not measured');
    expect(t.note).toContain('(could not measure the exec: Unable to find image escher-harness/stub:x-arm64 locally)');
  });
});
