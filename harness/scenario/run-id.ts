import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pidAlive } from '../pid.ts';

/**
 * Every process, namespace, container, network and temp dir a run makes carries its run id
 * (`eh` + 8 hex: short enough for Linux interface names), so a later run can find and remove
 * the leftovers of a killed one.
 */
export const RUN_ID_RE = /^eh[0-9a-f]{8}$/;

export function newRunId(): string {
  return `eh${randomBytes(4).toString('hex')}`;
}

/** `.harness/` under the directory the user runs from. */
export function harnessHome(cwd = process.cwd()): string {
  return path.join(cwd, '.harness');
}

export function runDirOf(runId: string, home = harnessHome()): string {
  return path.join(home, 'runs', runId);
}

export interface RunLock {
  runId: string;
  pid: number;
  startedAt: string;
  kind: 'scenario' | 'up' | 'bench' | 'test';
}

export function writeRunLock(runDir: string, lock: RunLock): void {
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(path.join(runDir, 'run.lock.json'), JSON.stringify(lock));
}

export function removeRunLock(runDir: string): void {
  fs.rmSync(path.join(runDir, 'run.lock.json'), { force: true });
}

export { pidAlive };

/** Runs whose lock file names a process that no longer exists: killed runs. */
export function deadRuns(home = harnessHome()): { runId: string; runDir: string }[] {
  const root = path.join(home, 'runs');
  if (!fs.existsSync(root)) return [];
  const out: { runId: string; runDir: string }[] = [];
  for (const runId of fs.readdirSync(root)) {
    if (!RUN_ID_RE.test(runId)) continue;
    const lockFile = path.join(root, runId, 'run.lock.json');
    if (!fs.existsSync(lockFile)) continue;
    try {
      const lock = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as RunLock;
      if (!pidAlive(lock.pid)) out.push({ runId, runDir: path.join(root, runId) });
    } catch {
      out.push({ runId, runDir: path.join(root, runId) });
    }
  }
  return out;
}
