import { describe, expect, it } from 'vitest';
import { networkConflict, resolveRuntimeChoice } from './select.ts';

describe('runtime choice', () => {
  it('is the embedded runtime by default, and says so', async () => {
    expect(await resolveRuntimeChoice('process', { defaulted: true })).toEqual({
      kind: 'process',
      reason: 'process (default: the embedded runtime, tasks are child processes; --runtime docker|auto for linux/arm64 containers)',
    });
    expect((await resolveRuntimeChoice('process')).reason).toBe('process (asked for): the embedded runtime, tasks are child processes');
  });

  it('never ignores --network loopback in docker mode: auto takes the process runtime, a forced docker is one line', async () => {
    expect(await resolveRuntimeChoice('auto', { network: 'loopback' })).toEqual({ kind: 'process', reason: 'process (auto: --network loopback asked for, which only the process runtime has)' });
    await expect(resolveRuntimeChoice('docker', { network: 'loopback' })).rejects.toThrow(/^--network loopback does not apply to --runtime docker: .*Use --runtime process --network loopback, or drop --network\.$/);
    expect(networkConflict('docker', 'loopback')).toMatch(/^--network loopback does not apply to --runtime docker/);
    expect(networkConflict('docker', 'netns')).toBeUndefined();
    expect(networkConflict('process', 'loopback')).toBeUndefined();
    expect(networkConflict('auto', 'loopback')).toBeUndefined();
  });
});
