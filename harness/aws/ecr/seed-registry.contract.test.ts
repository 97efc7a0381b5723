/**
 * The catalogue pushed through ECR's registry (seed-registry.ts): every tag a real image the
 * engine pulls with `docker pull <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`, with the
 * tag's ENV in its config and the harness's annotation on its manifest; the ECR API agrees
 * (source, platforms); a stub already in the registry is not pushed again; a failure falls back
 * to blob-less indexes and says why. Needs root, Debian's docker-registry, a Docker engine and
 * the stub image (`npm run images`); skips saying which is missing. Its own account id, so its
 * host name cannot collide with a scenario run's; the registry's default cache dir (the stub's
 * layers are pushed once per machine, as in a run).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarnessCa } from '../../edge/anthropic/ca.ts';
import { engineAnswers } from '../../runtime/docker/images.ts';
import { stubDockerImage } from '../../runtime/stub-image.ts';
import { REGISTRY_BIN, startEcrRegistry, type StartedEcrRegistry } from './registry.ts';
import { seedCatalogue, type CatalogueSeedImage } from './seed.ts';
import { seedImagesThroughRegistry } from './seed-registry.ts';
import { EcrStore } from './store.ts';

const execFileP = promisify(execFile);
const ACCOUNT = '210987654399';
const REGION = 'us-west-1';
const ANNOTATION = 'dev.escher-harness.image-config';

const root = typeof process.getuid === 'function' && process.getuid() === 0;
let skip = !root ? 'not root (the registry writes /etc/hosts and listens on :443)' : !fs.existsSync(REGISTRY_BIN) ? `no ${REGISTRY_BIN} (apt-get install docker-registry)` : '';
if (!skip) {
  const engine = await engineAnswers();
  if (!engine.ok) skip = `no Docker engine answers (${engine.detail})`;
}
if (!skip) {
  const have = await execFileP('docker', ['image', 'inspect', stubDockerImage('arm64')]).then(() => true, () => false);
  if (!have) skip = `no local stub image ${stubDockerImage('arm64')} (npm run images)`;
}
if (skip) console.log(`[ecr seed through registry] SKIPPED: ${skip}`);

function catalogue(repos: string[]): CatalogueSeedImage[] {
  const out: CatalogueSeedImage[] = [];
  for (const repository of repos) {
    const add = (tag: string, platforms: string[], env: Record<string, string>) =>
      out.push({ repository, tag, platforms, env, annotations: { [ANNOTATION]: JSON.stringify({ cmd: ['node', 'stubs/service.mjs'], env, stub: true }), 'org.opencontainers.image.version': tag } });
    add('v1.0.0', ['linux/arm64'], { STUB_VERSION: 'v1.0.0' });
    add('fault-unhealthy', ['linux/arm64'], { STUB_VERSION: 'fault-unhealthy', STUB_FAULT: 'unhealthy' });
    add('multi', ['linux/arm64', 'linux/amd64'], { STUB_VERSION: 'multi' });
    add('fault-amd64', ['linux/amd64'], { STUB_VERSION: 'fault-amd64' });
  }
  return out;
}

describe.skipIf(!!skip)('the catalogue through ECR registry', () => {
  let tmp: string;
  let store: EcrStore;
  let reg: StartedEcrRegistry;
  const pulled: string[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ecr-seed-registry-'));
    const runId = `eh${randomBytes(4).toString('hex')}`;
    store = new EcrStore({ account: ACCOUNT, region: REGION });
    const r = await startEcrRegistry({ runDir: tmp, runId, store, ca: createHarnessCa(tmp, runId), log: (l) => console.log(`[ecr seed through registry] ${l}`) });
    if ('unavailable' in r) throw new Error(r.unavailable);
    reg = r;
  }, 120_000);

  afterAll(async () => {
    for (const ref of pulled) await execFileP('docker', ['image', 'rm', ref]).catch(() => undefined);
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('pushes every tag as a real image: ECR lists it as pushed, the engine pulls it with the tag ENV and the stub CMD', async () => {
    const res = await seedCatalogue(store, catalogue(['team/alpha', 'team/beta']), { registry: reg, log: (l) => console.log(`[ecr seed through registry] ${l}`) });
    console.log(`[ecr seed through registry] first seeding: ${res.ms} ms — ${res.note}`);
    expect(res.through, res.note).toBe('registry');
    expect(res.report!.images).toBe(8);

    const tagged = (repo: string, tag: string) => store.findImage(repo, { imageTag: tag })!;
    for (const repo of ['team/alpha', 'team/beta']) {
      expect(tagged(repo, 'v1.0.0').source).toBe('registry');
      expect(tagged(repo, 'v1.0.0').platforms).toEqual([{ os: 'linux', architecture: 'arm64' }]);
      expect(tagged(repo, 'v1.0.0').sizeInBytes).toBeGreaterThan(1_000_000);
      expect(tagged(repo, 'multi').mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(tagged(repo, 'multi').platforms.map((p) => p.architecture).sort()).toEqual(['amd64', 'arm64']);
      // amd64-only: ECR says amd64 only, so an ARM64 task fails its platform check before any pull
      expect(tagged(repo, 'fault-amd64').platforms).toEqual([{ os: 'linux', architecture: 'amd64' }]);
      // the annotation that tells the harness it is a stub rides on what the tag names
      expect(JSON.parse(JSON.parse(tagged(repo, 'fault-unhealthy').manifest).annotations[ANNOTATION]).stub).toBe(true);
    }

    // the engine pulls it through the TLS front with an ECR token, like any image
    const ref = `${reg.host}/team/beta:fault-unhealthy`;
    const env = { ...process.env, DOCKER_CONFIG: reg.dockerConfigDir };
    const t0 = Date.now();
    await execFileP('docker', ['pull', '--platform', 'linux/arm64', ref], { env, timeout: 300_000 });
    pulled.push(ref);
    console.log(`[ecr seed through registry] docker pull ${ref}: ${Date.now() - t0} ms`);
    const inspect = JSON.parse((await execFileP('docker', ['image', 'inspect', ref])).stdout)[0];
    expect(inspect.Architecture).toBe('arm64');
    expect(inspect.Config.Env).toEqual(expect.arrayContaining(['STUB_FAULT=unhealthy', 'STUB_VERSION=fault-unhealthy']));
    expect(inspect.Config.Cmd).toEqual(['node', 'stubs/service.mjs']);
  }, 900_000);

  it('a second seeding finds the stub in the registry and pushes only configs and manifests', async () => {
    const t0 = Date.now();
    const report = await seedImagesThroughRegistry(store, reg, catalogue(['team/gamma', 'team/delta', 'team/epsilon']), { stubImages: { arm64: stubDockerImage('arm64') } });
    console.log(`[ecr seed through registry] warm seeding of ${report.images} tags in ${report.repositories} repositories: ${report.ms} ms (wall ${Date.now() - t0} ms)`);
    expect(report.stubs.find((s) => s.arch === 'arm64')!.pushed).toBe(false);
    expect(report.standIns).toEqual(['linux/amd64']);
    expect(report.images).toBe(12);
    expect(store.findImage('team/epsilon', { imageTag: 'v1.0.0' })!.source).toBe('registry');
  }, 300_000);

  it('a failure falls back to blob-less indexes, says why, and leaves no half-seeded image', async () => {
    const res = await seedCatalogue(store, catalogue(['team/zeta']), { registry: reg, stubImages: { arm64: 'escher-harness/stub:no-such-image-arm64' } });
    expect(res.through).toBe('indexes');
    expect(res.note).toMatch(/seeding through the registry failed: local stub image escher-harness\/stub:no-such-image-arm64 not found/);
    const images = store.listImages('team/zeta');
    expect(images).toHaveLength(4);
    expect(images.every((i) => i.source === 'catalogue')).toBe(true);
  }, 120_000);
});
