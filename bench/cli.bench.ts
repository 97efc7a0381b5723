import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHarness, type StartedHarness } from '../harness/scenario/harness.ts';
import { scriptEnvironment } from '../harness/scenario/run-script.ts';
import { FakeRuntime } from '../harness/ecs/testing.ts';
import { shQuote } from '../harness/scenario/cli-env.ts';
import { startWarmCli, warmSocketPath } from '../harness/scenario/warm-cli.ts';
import { median, percentile, type BenchResult } from './types.ts';
import { deployAll } from './support.ts';

/** One call of the run's `aws` wrapper (or `wrapper`), as a script makes it; wall ms. */
function call(h: StartedHarness, args: string[], cold: boolean, wrapper = path.join(h.runDir, 'bin', 'aws')): Promise<number> {
  const env = scriptEnvironment({ ...h.cliEnv, ...(cold ? { HARNESS_COLD_CLI: '1' } : {}) });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(wrapper, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`aws ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/**
 * The warm aws CLI against the cold one, in the same run: per-call latency (p50/p95 over
 * BENCH_CALLS calls of two representative commands, warm and cold interleaved so both see the
 * same machine load; warm both with the run's server, which keeps a pre-faulted spare worker,
 * and with a second server of the same run started with HARNESS_WARM_SPARES=0, which forks
 * each call's worker on demand: the spare's gain), and deploy-all wall time both ways (BENCH_ROUNDS rounds, cold and warm
 * alternating), with the process runtime at the default time scale (what `npm run scenario
 * deploy-all` does) and against the instant floor (an in-memory runtime, time scale 0.0001: the
 * aws CLI's own cost).
 */
export async function run(): Promise<BenchResult[]> {
  const calls = Number(process.env.BENCH_CALLS ?? 30);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const results: BenchResult[] = [];

  // per-call latency, against a deployed topology (so describe calls return real data)
  {
    const h = await startHarness({ runtimeOverride: new FakeRuntime(), timeScale: 0.0001, kind: 'bench' });
    try {
      if (h.awsCliMode !== 'warm') throw new Error(`the warm CLI did not start: ${h.awsCliModeReason}`);
      await deployAll(h, 'bench-cli-setup.log');
      const cluster = h.stores.ecs.clusters.values().next().value?.clusterName;
      const commands: [string, string[]][] = [
        ['ecs list-clusters', ['ecs', 'list-clusters']],
        [
          'ecs describe-services --query … --output text',
          ['ecs', 'describe-services', '--cluster', String(cluster), '--services', ...[...h.stores.ecs.services.values()].slice(0, 3).map((s) => s.service.serviceName!), '--query', 'services[].[serviceName,status,runningCount]', '--output', 'text'],
        ],
      ];
      // the baseline: a second warm server of the run without spares, reached by a copy of the wrapper
      const wrapperText = fs.readFileSync(path.join(h.runDir, 'bin', 'aws'), 'utf8');
      const socket = /\[\[ -S ('(?:[^']|'\\'')*') /.exec(wrapperText)?.[1];
      if (!socket) throw new Error('the run\'s aws wrapper names no warm socket');
      const noSpareSocket = warmSocketPath(h.runDir, `${h.runId}-nospare`);
      const noSpare = await startWarmCli({ runId: h.runId, runDir: h.runDir, awsCli: h.cliEnv.HARNESS_AWS_CLI, socket: noSpareSocket, timeScale: 0.0001, spares: 0 });
      if (noSpare.mode !== 'warm') throw new Error(`the warm CLI without spares did not start: ${noSpare.reason}`);
      const noSpareWrapper = path.join(h.runDir, 'bin-nospare', 'aws');
      fs.mkdirSync(path.dirname(noSpareWrapper), { recursive: true });
      fs.writeFileSync(noSpareWrapper, wrapperText.split(socket).join(shQuote(noSpareSocket)), { mode: 0o755 });
      try {
        for (const [label, args] of commands) {
          const warm: number[] = [];
          const fork: number[] = [];
          const cold: number[] = [];
          await call(h, args, false); // the first warm calls pay the server's first page faults
          await call(h, args, false, noSpareWrapper);
          const load0 = os.loadavg()[0]!;
          for (let i = 0; i < calls; i++) {
            cold.push(await call(h, args, true));
            warm.push(await call(h, args, false));
            fork.push(await call(h, args, false, noSpareWrapper));
          }
          const load = `load average ${load0.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}`;
          const w50 = percentile(warm, 50);
          const c50 = percentile(cold, 50);
          results.push({ name: `aws ${label}: p50 per call, warm`, value: w50, unit: 'ms', baseline: { name: 'cold p50', value: c50 }, ratio: w50 / c50, note: `${calls} calls each, interleaved; ${load}` });
          results.push({ name: `aws ${label}: p95 per call, warm`, value: percentile(warm, 95), unit: 'ms', baseline: { name: 'cold p95', value: percentile(cold, 95) }, ratio: percentile(warm, 95) / percentile(cold, 95) });
          for (const p of [50, 95]) {
            results.push({ name: `aws ${label}: p${p} per call, warm with a pre-faulted spare`, value: percentile(warm, p), unit: 'ms', baseline: { name: `warm, forked per call (HARNESS_WARM_SPARES=0) p${p}`, value: percentile(fork, p) }, ratio: percentile(warm, p) / percentile(fork, p) });
          }
        }
      } finally {
        await noSpare.warm!.stop();
      }
    } finally {
      await h.stop();
    }
  }

  // deploy-all wall, cold and warm alternating
  const wall = { real: { warm: [] as number[], cold: [] as number[] }, floor: { warm: [] as number[], cold: [] as number[] } };
  const up = { warm: [] as number[], cold: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    for (const mode of ['cold', 'warm'] as const) {
      for (const kind of ['real', 'floor'] as const) {
        const t0 = performance.now();
        const h = await startHarness({ kind: 'bench', coldCli: mode === 'cold', ...(kind === 'floor' ? { runtimeOverride: new FakeRuntime(), timeScale: 0.0001 } : {}) });
        if (kind === 'real') up[mode].push(performance.now() - t0);
        try {
          if (h.awsCliMode !== mode) throw new Error(`wanted the ${mode} CLI, got ${h.awsCliMode}: ${h.awsCliModeReason}`);
          wall[kind][mode].push(await deployAll(h, `bench-deploy-all-${mode}.log`));
        } finally {
          await h.stop();
        }
      }
    }
  }
  const rw = median(wall.real.warm);
  const rc = median(wall.real.cold);
  const fw = median(wall.floor.warm);
  const fc = median(wall.floor.cold);
  results.push(
    { name: 'deploy-all.sh v2.15.0, warm CLI (process runtime, time scale 0.02)', value: rw / 1000, unit: 's', baseline: { name: 'cold CLI', value: rc / 1000 }, ratio: rw / rc, target: '≤ 0.35× cold, ≤ 10 s', note: `median of ${rounds}` },
    { name: 'deploy-all.sh v2.15.0 against the instant floor, warm CLI', value: fw / 1000, unit: 's', baseline: { name: 'cold CLI', value: fc / 1000 }, ratio: fw / fc, note: `median of ${rounds}` },
    { name: 'harness up with the warm CLI server (started and ready)', value: median(up.warm), unit: 'ms', baseline: { name: 'cold', value: median(up.cold) }, ratio: median(up.warm) / median(up.cold), note: `median of ${rounds}` },
  );
  return results;
}
