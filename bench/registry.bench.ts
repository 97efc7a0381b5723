import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EcrStore } from '../harness/aws/ecr/store.ts';
import { startEcrRegistry } from '../harness/aws/ecr/registry.ts';
import { createHarnessCa } from '../harness/edge/anthropic/ca.ts';
import { dockerModeAvailable } from '../harness/runtime/docker/select.ts';
import { median, type BenchResult } from './types.ts';

function sh(cmd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', cmd], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd}: exit ${code}: ${out.slice(-500)}`))));
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Issue 12's measure: a 50 MB image (one layer of random bytes, so nothing compresses it away)
 * pushed to and pulled from the run's registry through ECR's front, against moving the same
 * image with `docker save | docker load` in the same run. Push: cold (empty storage) and again
 * (every layer already there); pull: after `docker rmi`, each round. BENCH_ROUNDS (default 3).
 */
export async function run(): Promise<BenchResult[]> {
  const avail = await dockerModeAvailable();
  if (!avail.ok) return [{ name: 'registry', value: 0, unit: 'skipped', note: avail.reason }];
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'eh-bench-registry-'));
  const runId = `ehbench${randomBytes(2).toString('hex')}`;
  const local = `escher-harness/bench-50mb:${runId}`;
  const store = new EcrStore({ account: '210987654300', region: 'us-east-1' });
  store.createRepository('bench/fifty');
  const started = await startEcrRegistry({ runDir: work, runId, store, ca: createHarnessCa(work, runId), cacheDir: path.join(work, 'storage'), log: () => {} });
  if ('unavailable' in started) {
    fs.rmSync(work, { recursive: true, force: true });
    return [{ name: 'registry', value: 0, unit: 'skipped', note: started.unavailable }];
  }
  const remote = `${started.host}/bench/fifty:r1`;
  const env = { ...process.env, DOCKER_CONFIG: started.dockerConfigDir };
  try {
    fs.writeFileSync(path.join(work, 'blob'), randomBytes(50 * 1024 * 1024));
    fs.writeFileSync(path.join(work, 'Dockerfile'), 'FROM scratch\nCOPY blob /blob\nLABEL escher-harness=1\n');
    await sh(`docker build -q -t ${local} ${work}`);
    await sh(`docker tag ${local} ${remote}`);
    const pushCold = await timed(() => sh(`docker push ${remote}`, env));
    const pushAgain: number[] = [];
    const pull: number[] = [];
    const saveLoad: number[] = [];
    for (let i = 0; i < rounds; i++) {
      pushAgain.push(await timed(() => sh(`docker push ${remote}`, env)));
      // the image gone from the engine (both names), then pulled back
      await sh(`docker rmi ${remote} ${local} >/dev/null`);
      pull.push(await timed(() => sh(`docker pull ${remote}`, env)));
      await sh(`docker tag ${remote} ${local}`);
      const tar = path.join(work, 'image.tar');
      // the baseline: the same image moved without a registry (save to a file, gone from the engine, load)
      saveLoad.push(
        await timed(async () => {
          await sh(`docker save -o ${tar} ${local}`);
          await sh(`docker rmi ${remote} ${local} >/dev/null && docker load -q -i ${tar} >/dev/null`);
        }),
      );
      fs.rmSync(tar, { force: true });
      await sh(`docker tag ${local} ${remote}`);
    }
    const sl = median(saveLoad);
    const base = { name: '`docker save` + `docker load`', value: sl };
    const note = `50 MB random layer, ${rounds} round(s), load ${os.loadavg()[0]!.toFixed(1)}`;
    return [
      { name: 'push, empty registry', value: pushCold, unit: 'ms', baseline: base, ratio: pushCold / sl, note },
      { name: 'push again (layers present)', value: median(pushAgain), unit: 'ms', baseline: base, ratio: median(pushAgain) / sl },
      { name: 'pull (image removed from the engine)', value: median(pull), unit: 'ms', baseline: base, ratio: median(pull) / sl },
      { name: 'registry start (spawn → listening)', value: started.startMs, unit: 'ms' },
    ];
  } finally {
    await sh(`docker rmi -f ${local} ${remote} >/dev/null 2>&1 || true`).catch(() => undefined);
    await started.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
