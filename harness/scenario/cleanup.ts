import fs from 'node:fs';
import path from 'node:path';
import { findLeftoverProcesses, findLeftoverTempDirs } from '../runtime/process/leftovers.ts';
import { cleanupNetnsLeftovers } from '../network/netns-fabric.ts';
import { cleanupEcrRegistryLeftovers } from '../aws/ecr/registry.ts';
import { RUN_ID_RE, deadRuns, pidAlive, type RunLock } from './run-id.ts';

function liveRunIds(home: string): Set<string> {
  const live = new Set<string>();
  const root = path.join(home, 'runs');
  if (!fs.existsSync(root)) return live;
  for (const id of fs.readdirSync(root)) {
    try {
      const lock = JSON.parse(fs.readFileSync(path.join(root, id, 'run.lock.json'), 'utf8')) as RunLock;
      if (pidAlive(lock.pid)) live.add(id);
    } catch {
      /* no lock: finished or killed */
    }
  }
  return live;
}

function parentPid(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * Removes what killed runs left behind: task processes (found by HARNESS_RUN_ID in their
 * environment) of runs whose owner is gone, their temp dirs, and stale locks. A run that is
 * still alive (its lock names a live pid) is never touched.
 */
export async function cleanupLeftovers(home: string, log: (l: string) => void = () => {}): Promise<{ processes: number; dirs: number }> {
  const dead = new Set(deadRuns(home).map((r) => r.runId));
  const live = liveRunIds(home);
  const candidates = await findLeftoverProcesses((id) => RUN_ID_RE.test(id) && !live.has(id));
  // a run of this home whose owner died, or an orphan (re-parented to init) of any run
  const victims = candidates.filter((p) => dead.has(p.runId) || parentPid(p.pid) === 1);
  for (const p of victims) {
    try {
      process.kill(p.pgid === p.pid ? -p.pid : p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const victimRuns = new Set([...dead, ...victims.map((v) => v.runId)]);
  const dirs = await findLeftoverTempDirs((id) => victimRuns.has(id));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  for (const id of dead) fs.rmSync(path.join(home, 'runs', id, 'run.lock.json'), { force: true });
  // network namespaces, veths, nft tables and /etc/netns dirs of runs whose owner is gone
  // (after their processes are dead, so no namespace is held open)
  try {
    cleanupNetnsLeftovers(log);
  } catch (e) {
    log(`network leftovers: ${(e as Error).message}`);
  }
  // the ECR registry's /etc/hosts line, engine CA file and host-name lock of runs whose owner is gone
  try {
    cleanupEcrRegistryLeftovers(log);
  } catch (e) {
    log(`ECR registry leftovers: ${(e as Error).message}`);
  }
  pruneOldRuns(home, live);
  if (victims.length || dirs.length || dead.size) {
    log(`cleaned up leftovers of killed run(s) ${[...victimRuns].join(', ')}: ${victims.length} process(es), ${dirs.length} temp dir(s)`);
  }
  return { processes: victims.length, dirs: dirs.length };
}

/** Keeps the newest KEEP_RUNS run directories (reports, timelines); never a live run's. */
export const KEEP_RUNS = 30;

function pruneOldRuns(home: string, live: Set<string>): void {
  const root = path.join(home, 'runs');
  if (!fs.existsSync(root)) return;
  const runs = fs
    .readdirSync(root)
    .filter((id) => RUN_ID_RE.test(id) && !live.has(id))
    .map((id) => ({ id, mtime: fs.statSync(path.join(root, id)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const r of runs.slice(KEEP_RUNS)) fs.rmSync(path.join(root, r.id), { recursive: true, force: true });
}
