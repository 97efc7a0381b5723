import fs from 'node:fs';
import { startHarness } from '../harness/scenario/harness.ts';
import { FakeRuntime } from '../harness/ecs/testing.ts';
import { median, type BenchResult } from './types.ts';
import { deployAll } from './support.ts';

/** Sum of VmRSS (KiB) of the task processes of a run (found by HARNESS_RUN_ID). */
function taskRssKiB(runId: string): number {
  let total = 0;
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`HARNESS_RUN_ID=${runId}\0`)) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return total;
}

/**
 * deploy-all wall time next to its floor: the same script, the same CLI, against the same
 * edge whose ECS answers "already stable" as fast as it can (an in-memory runtime and a
 * 0.0001 time scale), i.e. what the aws CLI itself costs. Also `up` time and peak RSS.
 */
export async function run(): Promise<BenchResult[]> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const floor: number[] = [];
  const real: number[] = [];
  const up: number[] = [];
  let tasksRss = 0;
  for (let i = 0; i < rounds; i++) {
    {
      const h = await startHarness({ runtimeOverride: new FakeRuntime(), timeScale: 0.0001, kind: 'bench' });
      try {
        floor.push(await deployAll(h, 'bench-deploy-all.log'));
      } finally {
        await h.stop();
      }
    }
    {
      const t0 = performance.now();
      const h = await startHarness({ kind: 'bench' });
      up.push(performance.now() - t0);
      try {
        real.push(await deployAll(h, 'bench-deploy-all.log'));
        tasksRss = Math.max(tasksRss, taskRssKiB(h.runId));
      } finally {
        await h.stop();
      }
    }
  }
  const f = median(floor);
  const r = median(real);
  return [
    { name: 'deploy-all.sh v2.15.0 (process runtime, time scale 0.02)', value: r / 1000, unit: 's', baseline: { name: 'CLI floor (instant, already-stable endpoint)', value: f / 1000 }, ratio: r / f, target: '≤ 1.3× floor', note: `median of ${rounds}` },
    { name: 'harness up (edge, DNS, fabric, runtime, seeding)', value: median(up), unit: 'ms', note: `median of ${rounds}` },
    { name: 'peak RSS of the harness process', value: Math.round(process.resourceUsage().maxRSS / 1024), unit: 'MiB' },
    { name: 'RSS of the five task processes after deploy-all', value: Math.round(tasksRss / 1024), unit: 'MiB' },
  ];
}
