import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHarness } from '../harness/scenario/harness.ts';
import { FakeRuntime } from '../harness/ecs/testing.ts';
import { buildImages, removeHarnessImages } from '../harness/runtime/docker/images.ts';
import { dockerModeAvailable, DOCKER_DEFAULT_TIME_SCALE } from '../harness/runtime/docker/select.ts';
import { median, type BenchResult } from './types.ts';
import { deployAll } from './support.ts';

async function timedDeployAll(opts: Parameters<typeof startHarness>[0]): Promise<number> {
  const h = await startHarness({ kind: 'bench', ...opts });
  try {
    return await deployAll(h, 'bench-docker-deploy-all.log');
  } finally {
    await h.stop();
  }
}

/**
 * Docker mode next to process mode and the CLI floor (same script, same CLI, same machine,
 * same run): deploy-all.sh v2.15.0 with the five services as linux/arm64 containers (QEMU on
 * x86) at docker mode's default time scale, as child processes at process mode's, and against
 * an instant runtime (the floor: what the aws CLI itself costs). Then the offline image build:
 * cold (a separate image prefix and an empty download cache: npm pack + apt-get download +
 * every layer) and cached (nothing changed: the content-hash check only).
 */
export async function run(): Promise<BenchResult[]> {
  const avail = await dockerModeAvailable();
  if (!avail.ok) {
    return [{ name: 'docker mode', value: 0, unit: 'skipped', note: avail.reason }];
  }
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const floor: number[] = [];
  const proc: number[] = [];
  const dock: number[] = [];
  const blobless: number[] = [];
  for (let i = 0; i < rounds; i++) {
    floor.push(await timedDeployAll({ runtimeOverride: new FakeRuntime(), timeScale: 0.0001 }));
    proc.push(await timedDeployAll({ runtime: 'process' }));
    dock.push(await timedDeployAll({ runtime: 'docker' }));
    blobless.push(await timedDeployAll({ runtime: 'docker', registry: false }));
  }
  const f = median(floor) / 1000;
  const p = median(proc) / 1000;
  const d = median(dock) / 1000;
  const b = median(blobless) / 1000;

  // image build: cold in a separate prefix with an empty download cache, then removed
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'escher-harness-bench-cache-'));
  const ns = 'escher-harness-bench';
  let cold: number;
  try {
    cold = (await buildImages({ namespace: ns, cacheDir: cache })).durationMs / 1000;
  } finally {
    await removeHarnessImages(ns).catch(() => undefined);
    fs.rmSync(cache, { recursive: true, force: true });
  }
  await buildImages(); // make sure the real set is current, then time the no-op
  const cached = (await buildImages()).durationMs / 1000;

  const note = `median of ${rounds}; ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`;
  return [
    {
      name: `deploy-all.sh v2.15.0, docker mode (linux/arm64 containers, time scale ${DOCKER_DEFAULT_TIME_SCALE})`,
      value: d,
      unit: 's',
      baseline: { name: 'same script, process mode (time scale 0.02)', value: p },
      ratio: d / p,
      target: '≤ 90 s',
      note,
    },
    {
      name: 'deploy-all.sh v2.15.0, docker mode, the catalogue pushed into the ECR registry and pulled by digest (issue 12)',
      value: d,
      unit: 's',
      baseline: { name: 'the same with the registry off (blob-less catalogue, the local stub image)', value: b },
      ratio: d / b,
      note,
    },
    { name: 'deploy-all.sh v2.15.0, docker mode vs the CLI floor', value: d, unit: 's', baseline: { name: 'CLI floor (instant runtime)', value: f }, ratio: d / f, note },
    { name: 'deploy-all.sh v2.15.0, process mode vs the CLI floor', value: p, unit: 's', baseline: { name: 'CLI floor (instant runtime)', value: f }, ratio: p / f, note },
    {
      name: 'npm run images, cold (downloads + base + stubs + 35 catalogue images)',
      value: cold,
      unit: 's',
      baseline: { name: 'cached (inputs unchanged)', value: cached },
      ratio: cold / cached,
    },
  ];
}
