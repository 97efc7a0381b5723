import { execFileSync } from 'node:child_process';
import { getContainerRuntimeClient } from 'testcontainers';
import { describe, expect, it } from 'vitest';
import { calibrateDockerTiming, DOCKER_HEALTH_FLOOR_MS, measureDockerExec } from './calibrate.ts';
import { DOCKER_DEFAULT_TIME_SCALE, dockerModeAvailable } from './select.ts';

const avail = await dockerModeAvailable();
if (!avail.ok) console.log(`docker timing calibration tests SKIPPED: docker mode unavailable (${avail.reason})`);

describe.skipIf(!avail.ok)(`docker timing calibration against the engine${avail.ok ? '' : ` (skipped: ${avail.reason})`}`, () => {
  it('measures real execs in an arm64 stub container, labelled as the run\'s, and removes it', async () => {
    const runId = `ehcal${process.pid}`;
    const m = await measureDockerExec({ runId, samples: 2 });
    expect(m.execSamplesMs).toHaveLength(2);
    for (const s of m.execSamplesMs) expect(s).toBeGreaterThan(0);
    expect(m.cores).toBeGreaterThan(0);
    // removal is in the background: wait until the engine says each one is removed (the wait
    // API's `removed` condition; `docker wait` only waits for the exit, and the removal follows it)
    const ids = () => execFileSync('docker', ['ps', '-aq', '--filter', `label=dev.escher-harness.run-id=${runId}`], { encoding: 'utf8' }).trim();
    const engine = (await getContainerRuntimeClient()).container.dockerode;
    await Promise.all(ids().split('\n').filter(Boolean).map((id) => engine.getContainer(id).wait({ condition: 'removed' }).catch(() => undefined)));
    expect(ids()).toBe('');
  });

  it('derives bounded timing and a note from them', async () => {
    const t = await calibrateDockerTiming({ samples: 2 });
    expect(t.execMs).toBeGreaterThan(0);
    expect(t.healthTimeoutFloorMs).toBeGreaterThanOrEqual(DOCKER_HEALTH_FLOOR_MS);
    expect(t.timeScale).toBeGreaterThanOrEqual(DOCKER_DEFAULT_TIME_SCALE);
    expect(t.timeScale).toBeLessThanOrEqual(1);
    expect(t.note).toMatch(/^docker mode: exec .* \d+ ms median \(2 samples\) at load [\d.]+\/\d+ cores → health-check floor \d+ s, time scale [\d.]+/);
  });
});
