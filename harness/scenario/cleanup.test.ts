import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupLeftovers } from './cleanup.ts';
import { newRunId, runDirOf, writeRunLock } from './run-id.ts';
import { findLeftoverProcesses } from '../runtime/process/leftovers.ts';

function sleeper(runId: string) {
  // a stand-in for a task process of that run: detached, in its own group, carrying the run id
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    env: { ...process.env, HARNESS_RUN_ID: runId, HARNESS_TASK_ID: 'leftover' },
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  return child;
}

async function gone(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const left = await findLeftoverProcesses((id) => id.startsWith('eh'));
    if (!left.some((p) => p.pid === pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('cleanupLeftovers', () => {
  it("removes a killed run's task processes and lock, and leaves a live run alone", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-home-'));
    const dead = newRunId();
    const live = newRunId();
    // the dead run's owner: a process that has already exited
    const owner = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => owner.on('exit', r));
    writeRunLock(runDirOf(dead, home), { runId: dead, pid: owner.pid!, startedAt: new Date().toISOString(), kind: 'scenario' });
    writeRunLock(runDirOf(live, home), { runId: live, pid: process.pid, startedAt: new Date().toISOString(), kind: 'scenario' });
    const a = sleeper(dead);
    const b = sleeper(live);
    try {
      const r = await cleanupLeftovers(home);
      expect(r.processes).toBeGreaterThanOrEqual(1);
      expect(await gone(a.pid!)).toBe(true);
      expect(fs.existsSync(path.join(runDirOf(dead, home), 'run.lock.json'))).toBe(false);
      const still = await findLeftoverProcesses(live);
      expect(still.map((p) => p.pid)).toContain(b.pid);
    } finally {
      for (const c of [a, b]) {
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  });
});
