/**
 * Finding what a killed run left behind. Every process the process runtime starts (and every
 * exec'd health check) carries HARNESS_RUN_ID / HARNESS_TASK_ID in its environment, and its
 * temp dir is named `escher-harness-process-<runId>-XXXXXX`, so a later run can find them
 * by reading /proc/<pid>/environ (Linux).
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TEMP_DIR_PREFIX = 'escher-harness-process-';

export interface LeftoverProcess {
  pid: number;
  /** process group id (== pid for a container's main process: it leads its own group) */
  pgid: number;
  runId: string;
  taskId?: string;
  /** argv joined with spaces */
  cmdline: string;
}

/** A run id prefix (e.g. 'scn-2026' or a whole run id), or a predicate on the run id. */
export type RunMatcher = string | ((runId: string) => boolean);

const matches = (m: RunMatcher, runId: string) => (typeof m === 'string' ? runId.startsWith(m) : m(runId));

function envValue(environ: string, name: string): string | undefined {
  for (const entry of environ.split('\0')) {
    if (entry.startsWith(`${name}=`)) return entry.slice(name.length + 1);
  }
  return undefined;
}

/** Live processes (other than this one and its parent) whose HARNESS_RUN_ID matches. */
export async function findLeftoverProcesses(match: RunMatcher): Promise<LeftoverProcess[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return []; // not Linux: nothing we can find this way
  }
  const found: LeftoverProcess[] = [];
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        const pid = Number(e);
        if (pid === process.pid || pid === process.ppid) return;
        try {
          const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
          const runId = envValue(environ, 'HARNESS_RUN_ID');
          if (runId === undefined || !matches(match, runId)) return;
          const [statText, cmdline] = await Promise.all([
            readFile(`/proc/${pid}/stat`, 'utf8'),
            readFile(`/proc/${pid}/cmdline`, 'utf8'),
          ]);
          // stat: "pid (comm) state ppid pgrp ..." — comm may contain spaces and parens
          const afterComm = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
          if (afterComm[0] === 'Z') return; // a zombie is already dead, waiting to be reaped
          found.push({
            pid,
            pgid: Number(afterComm[2]),
            runId,
            taskId: envValue(environ, 'HARNESS_TASK_ID'),
            cmdline: cmdline.split('\0').filter(Boolean).join(' '),
          });
        } catch {
          // gone meanwhile, or not ours to read
        }
      }),
  );
  return found.sort((a, b) => a.pid - b.pid);
}

/** Temp dirs of the process runtime whose run id matches. */
export async function findLeftoverTempDirs(match: RunMatcher, base = tmpdir()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const name of names) {
    if (!name.startsWith(TEMP_DIR_PREFIX)) continue;
    // <prefix><runId>-XXXXXX (mkdtemp adds 6 characters)
    const runId = name.slice(TEMP_DIR_PREFIX.length, -7);
    if (!runId || !matches(match, runId)) continue;
    try {
      if ((await stat(join(base, name))).isDirectory()) dirs.push(join(base, name));
    } catch {
      // gone meanwhile
    }
  }
  return dirs.sort();
}

/**
 * SIGKILLs every matching leftover process (its whole group when it leads one), waits (at
 * most `waitMs`) until they are gone, and removes matching temp dirs.
 */
export async function killLeftovers(
  match: RunMatcher,
  opts: { waitMs?: number; tmpBase?: string } = {},
): Promise<{ killed: LeftoverProcess[]; removedDirs: string[] }> {
  const killed = await findLeftoverProcesses(match);
  for (const p of killed) {
    try {
      process.kill(p.pgid === p.pid ? -p.pid : p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + (opts.waitMs ?? 2000);
  for (;;) {
    const remaining = (await findLeftoverProcesses(match)).filter((p) => killed.some((k) => k.pid === p.pid));
    if (remaining.length === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const removedDirs = await findLeftoverTempDirs(match, opts.tmpBase);
  await Promise.all(removedDirs.map((d) => rm(d, { recursive: true, force: true })));
  return { killed, removedDirs };
}
