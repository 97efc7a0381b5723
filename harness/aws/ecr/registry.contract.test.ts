/**
 * ECR on a real registry, as a user drives it: `aws ecr get-login-password | docker login`,
 * `docker push` / `docker pull` of `<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`
 * through the Docker engine, and the ECR API agreeing with what was pushed. Needs root, Debian's
 * docker-registry and a Docker engine; skips saying which is missing. Uses its own account id
 * so its host name cannot collide with a scenario run's.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  PutImageCommand,
} from '@aws-sdk/client-ecr';
import { AwsEdge } from '../server.ts';
import { sdkConfig } from '../test-edge.ts';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { createHarnessCa, type HarnessCa } from '../../edge/anthropic/ca.ts';
import { engineAnswers } from '../../runtime/docker/images.ts';
import { OWNER_DIR } from '../../network/netns-fabric.ts';
import { MediaTypes } from './manifest.ts';
import { createEcrProvider } from './provider.ts';
import { DOCKER_CERTS_DIR, HOSTS_FILE, REGISTRY_BIN, startEcrRegistry, type StartedEcrRegistry } from './registry.ts';
import { EcrStore } from './store.ts';

const execFileP = promisify(execFile);
/** not the fixtures' account: this test's host name is its own */
const ACCOUNT = '210987654321';
const REGION = 'us-west-1';

const root = typeof process.getuid === 'function' && process.getuid() === 0;
const baseSkip = !root ? 'not root (the registry writes /etc/hosts and listens on :443)' : !fs.existsSync(REGISTRY_BIN) ? `no ${REGISTRY_BIN} (apt-get install docker-registry)` : '';
const engine = baseSkip ? { ok: false, detail: '' } : await engineAnswers();
const engineSkip = baseSkip || (!engine.ok ? `no Docker engine answers (${engine.detail})` : '');
if (baseSkip) console.log(`[ecr registry contract] SKIPPED: ${baseSkip}`);
else if (engineSkip) console.log(`[ecr registry contract] docker push/pull tests SKIPPED: ${engineSkip}`);
const cli = findAwsClis()[0];

const sha = (b: string | Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const newRunId = () => `eh${randomBytes(4).toString('hex')}`;

interface Env {
  store: EcrStore;
  edge: AwsEdge;
  url: string;
  ecr: ECRClient;
  ca: HarnessCa;
  reg: StartedEcrRegistry;
  tmp: string;
  runId: string;
}

async function startEnv(): Promise<Env> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ecr-registry-contract-'));
  const runId = newRunId();
  const store = new EcrStore({ account: ACCOUNT, region: REGION });
  const edge = new AwsEdge({ account: ACCOUNT, defaultRegion: REGION, providers: [createEcrProvider(store)], port: 0 });
  const url = await edge.start();
  const ca = createHarnessCa(tmp, runId);
  const r = await startEcrRegistry({ runDir: tmp, runId, store, ca, cacheDir: path.join(tmp, 'cache'), log: (l) => console.log(`[ecr registry contract] ${l}`) });
  if ('unavailable' in r) throw new Error(r.unavailable);
  console.log(`[ecr registry contract] registry listening ${r.startMs} ms after spawn`);
  return { store, edge, url, ecr: new ECRClient({ ...sdkConfig(url), region: REGION }), ca, reg: r, tmp, runId };
}

async function stopEnv(env: Env | undefined): Promise<void> {
  if (!env) return;
  await env.reg.stop();
  env.ecr.destroy();
  await env.edge.stop();
  fs.rmSync(env.tmp, { recursive: true, force: true });
}

/** One request to the ECR host over TLS (trusting only the run CA), as a registry client sends it. */
function registryRequest(env: Env, method: string, p: string, o: { auth?: boolean; body?: Buffer | string; type?: string; accept?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const [ip] = env.reg.address.split(':');
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: env.reg.host };
    if (o.auth !== false) {
      const c = env.reg.credentials();
      headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    if (o.type) headers['content-type'] = o.type;
    if (o.accept) headers.accept = o.accept;
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
    const r = https.request({ host: ip, port: 443, servername: env.reg.host, ca: env.ca.certPem, method, path: p, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(o.body);
  });
}

/** A blob through the front: POST an upload, PUT its bytes with the digest (monolithic). */
async function uploadBlob(env: Env, repo: string, data: Buffer): Promise<string> {
  const start = await registryRequest(env, 'POST', `/v2/${repo}/blobs/uploads/`);
  expect(start.status, start.body.toString()).toBe(202);
  const loc = String(start.headers.location);
  const digest = sha(data);
  const done = await registryRequest(env, 'PUT', `${loc}${loc.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`, { body: data, type: 'application/octet-stream' });
  expect(done.status, done.body.toString()).toBe(201);
  return digest;
}

function docker(env: Env, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn('docker', args, { env: { ...process.env, DOCKER_CONFIG: path.join(env.tmp, 'docker-cli') }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
    p.stdin.end(input ?? '');
  });
}

/** A tiny image with nothing to pull: FROM scratch + one file (the legacy builder works offline). */
async function buildTiny(env: Env, tag: string, content: string): Promise<void> {
  const ctx = fs.mkdtempSync(path.join(env.tmp, 'ctx-'));
  fs.writeFileSync(path.join(ctx, 'hello.txt'), content);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
  const b = await docker(env, ['build', '-q', '-t', tag, ctx]);
  expect(b.code, b.stderr).toBe(0);
}

if (baseSkip) {
  describe.skip(`ECR on a real registry (skipped: ${baseSkip})`, () => {
    it('needs root and docker-registry', () => {});
  });
} else {
  describe('ECR registry: the host name on this machine', () => {
    it('owns the name while it runs (hosts line, engine CA, lock), refuses a second run, and leaves nothing at stop', async () => {
      const env = await startEnv();
      try {
        const host = env.reg.host;
        expect(host).toBe(`${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`);
        const line = fs.readFileSync(HOSTS_FILE, 'utf8').split('\n').find((l) => l.includes(env.runId));
        expect(line).toMatch(new RegExp(`^${env.reg.address.split(':')[0]!.replace(/\./g, '\\.')}\\s+${host.replace(/\./g, '\\.')}\\s`));
        expect(fs.readFileSync(path.join(DOCKER_CERTS_DIR, host, `escher-harness-${env.runId}.crt`), 'utf8')).toBe(env.ca.certPem);
        // the registry process carries the run id (the leftover sweep finds it by that)
        const lock = JSON.parse(fs.readFileSync(path.join(OWNER_DIR, `ecr-${host}.lock`), 'utf8'));
        expect(lock).toMatchObject({ pid: process.pid, runId: env.runId });
        expect(fs.readFileSync(`/proc/${lock.registryPid}/environ`, 'utf8').split('\0')).toContain(`HARNESS_RUN_ID=${env.runId}`);

        const second = await startEcrRegistry({ runDir: env.tmp, runId: newRunId(), store: new EcrStore({ account: ACCOUNT, region: REGION }), ca: env.ca, cacheDir: path.join(env.tmp, 'cache'), log: () => {} });
        expect('unavailable' in second && second.unavailable).toMatch(new RegExp(`another harness run \\(${env.runId}, pid ${process.pid}\\) serves ${host.replace(/\./g, '\\.')}`));

        // /v2/ without credentials: 401 with the Basic challenge `docker login` answers
        const anon = await registryRequest(env, 'GET', '/v2/', { auth: false });
        expect(anon.status).toBe(401);
        expect(anon.headers['www-authenticate']).toBe(`Basic realm="https://${host}/",service="ecr.amazonaws.com"`);
        expect((await registryRequest(env, 'GET', '/v2/')).status).toBe(200);
      } finally {
        await stopEnv(env);
      }
      expect(fs.readFileSync(HOSTS_FILE, 'utf8')).not.toContain(env.runId);
      expect(fs.existsSync(path.join(DOCKER_CERTS_DIR, env.reg.host, `escher-harness-${env.runId}.crt`))).toBe(false);
      expect(fs.existsSync(path.join(OWNER_DIR, `ecr-${env.reg.host}.lock`))).toBe(false);
    });

    it('takes over the name from a run that was killed: its registry, hosts line and CA go', async () => {
      // a "killed run": a lock naming a dead pid, a registry process of that run, its lines
      const deadRun = newRunId();
      const host = `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com`;
      const dead = spawn(process.execPath, ['-e', '0']);
      const deadPid = dead.pid!;
      await new Promise((r) => dead.on('exit', r));
      const orphan = spawn('sleep', ['300'], { env: { HARNESS_RUN_ID: deadRun }, detached: true, stdio: 'ignore' });
      fs.mkdirSync(OWNER_DIR, { recursive: true });
      fs.writeFileSync(path.join(OWNER_DIR, `ecr-${host}.lock`), JSON.stringify({ pid: deadPid, runId: deadRun, host, registryPid: orphan.pid }));
      fs.appendFileSync(HOSTS_FILE, `\n127.42.9.9\t${host}\t# escher-harness-ecr run=${deadRun} pid=${deadPid}\n`);
      fs.mkdirSync(path.join(DOCKER_CERTS_DIR, host), { recursive: true });
      fs.writeFileSync(path.join(DOCKER_CERTS_DIR, host, `escher-harness-${deadRun}.crt`), 'old');
      const orphanGone = new Promise((r) => orphan.on('exit', r));
      const env = await startEnv();
      try {
        await orphanGone;
        expect(fs.readFileSync(HOSTS_FILE, 'utf8')).not.toContain(deadRun);
        expect(fs.existsSync(path.join(DOCKER_CERTS_DIR, host, `escher-harness-${deadRun}.crt`))).toBe(false);
        expect(fs.readFileSync(HOSTS_FILE, 'utf8')).toContain(env.runId);
      } finally {
        await stopEnv(env);
      }
    });
  });
}

if (engineSkip) {
  if (!baseSkip) {
    describe.skip(`ECR registry with the Docker engine (skipped: ${engineSkip})`, () => {
      it('needs a Docker engine', () => {});
    });
  }
} else {
  describe('ECR registry with the Docker engine', () => {
    let env: Env;
    const suffix = randomBytes(3).toString('hex');
    const local = (n: string) => `ecr-contract-${n}:${suffix}`;
    const ref = (repo: string, tag: string) => `${env.reg.host}/${repo}:${tag}`;
    const timings: Record<string, number> = {};
    beforeAll(async () => {
      env = await startEnv();
      timings['registry start (spawn → listening)'] = env.reg.startMs;
    }, 120_000);
    afterAll(async () => {
      console.log(`[ecr registry contract] timings (ms): ${JSON.stringify(timings)}`);
      // this test's images: its local tags, and whatever carries the test account's host name (tagged or not)
      const ids = (await docker(env, ['image', 'ls', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'])).stdout
        .split('\n')
        .filter((l) => l.includes(suffix) || l.includes(` ${env.reg.host}/`))
        .map((l) => l.split(' ')[0]!);
      if (ids.length) await docker(env, ['image', 'rm', '-f', ...new Set(ids)]);
      await stopEnv(env);
    }, 120_000);

    it('docker login takes the password get-login-password prints, and refuses another', async () => {
      const password = cli
        ? (await runAws(cli, env.url, ['ecr', 'get-login-password'], { region: REGION })).stdout.trim()
        : Buffer.from((await env.ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!.authorizationToken!, 'base64').toString().slice(4);
      expect(password).toMatch(/^harness-ecr-token-/);
      const wrong = await docker(env, ['login', '--username', 'AWS', '--password-stdin', env.reg.host], 'harness-ecr-token-wrong');
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/401|unauthorized|denied/i);
      const ok = await docker(env, ['login', '--username', 'AWS', '--password-stdin', env.reg.host], password);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('Login Succeeded');
      timings['docker login'] = ok.ms;
    });

    it('docker push: DescribeImages and BatchGetImage agree with what was pushed', async () => {
      await env.ecr.send(new CreateRepositoryCommand({ repositoryName: 'team/app' }));
      await buildTiny(env, local('app'), `hello ${suffix}`);
      expect((await docker(env, ['tag', local('app'), ref('team/app', 'v1')])).code).toBe(0);
      const before = new Date();
      const push = await docker(env, ['push', ref('team/app', 'v1')]);
      expect(push.code, push.stderr).toBe(0);
      timings['docker push (tiny image, cold)'] = push.ms;
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
      expect(digest).toBeDefined();

      const d = (await env.ecr.send(new DescribeImagesCommand({ repositoryName: 'team/app' }))).imageDetails!;
      expect(d).toHaveLength(1);
      expect(d[0]).toMatchObject({ imageDigest: digest, imageTags: ['v1'], imageManifestMediaType: MediaTypes.dockerManifest, artifactMediaType: MediaTypes.dockerConfig });
      expect(d[0]!.imagePushedAt!.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
      const got = (await env.ecr.send(new BatchGetImageCommand({ repositoryName: 'team/app', imageIds: [{ imageTag: 'v1' }] }))).images![0]!;
      expect(sha(got.imageManifest!)).toBe(digest);
      const manifest = JSON.parse(got.imageManifest!) as { layers: { size: number }[] };
      expect(d[0]!.imageSizeInBytes).toBe(manifest.layers.reduce((a, l) => a + l.size, 0));
      // the platform comes from the image's config blob
      const arch = (await docker(env, ['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', local('app')])).stdout.trim();
      expect(env.store.resolveImageUri(ref('team/app', 'v1'))).toMatchObject({ source: 'registry', platforms: [{ os: arch.split('/')[0], architecture: arch.split('/')[1] }] });

      // the same push again: every layer is there already
      const again = await docker(env, ['push', ref('team/app', 'v1')]);
      expect(again.code, again.stderr).toBe(0);
      timings['docker push (tiny image, again)'] = again.ms;
    });

    it('PutImage retags by manifest, and docker pull of the new tag gets the image', async () => {
      const manifest = (await env.ecr.send(new BatchGetImageCommand({ repositoryName: 'team/app', imageIds: [{ imageTag: 'v1' }] }))).images![0]!.imageManifest!;
      const put = await env.ecr.send(new PutImageCommand({ repositoryName: 'team/app', imageManifest: manifest, imageTag: 'v2.15.0' }));
      expect(put.image?.imageId).toEqual({ imageDigest: sha(manifest), imageTag: 'v2.15.0' });
      await expect(env.ecr.send(new PutImageCommand({ repositoryName: 'team/app', imageManifest: manifest, imageTag: 'v2.15.0' }))).rejects.toMatchObject({ name: 'ImageAlreadyExistsException' });
      // nothing local: the pull really fetches
      await docker(env, ['image', 'rm', '-f', ref('team/app', 'v1'), local('app')]);
      const pull = await docker(env, ['pull', ref('team/app', 'v2.15.0')]);
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.stdout).toContain(`Digest: ${sha(manifest)}`);
      timings['docker pull (tiny image)'] = pull.ms;
      const missing = await docker(env, ['pull', ref('team/app', 'v9')]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toMatch(/not found|manifest unknown/i);
    });

    it('pushes to a repository ECR does not have, or over a tag of an IMMUTABLE one, fail as on ECR', async () => {
      await buildTiny(env, local('a'), `a ${suffix}`);
      await buildTiny(env, local('b'), `b ${suffix}`);
      expect((await docker(env, ['tag', local('a'), ref('nowhere', 'v1')])).code).toBe(0);
      const nowhere = await docker(env, ['push', ref('nowhere', 'v1')]);
      expect(nowhere.code).not.toBe(0);
      expect(nowhere.stderr + nowhere.stdout).toContain(`The repository with name 'nowhere' does not exist in the registry with id '${ACCOUNT}'`);

      await env.ecr.send(new CreateRepositoryCommand({ repositoryName: 'frozen', imageTagMutability: 'IMMUTABLE' }));
      expect((await docker(env, ['tag', local('a'), ref('frozen', 'v1')])).code).toBe(0);
      const first = await docker(env, ['push', ref('frozen', 'v1')]);
      expect(first.code, first.stderr).toBe(0);
      const firstDigest = /digest: (sha256:[0-9a-f]{64})/.exec(first.stdout)?.[1];
      expect((await docker(env, ['tag', local('b'), ref('frozen', 'v1')])).code).toBe(0);
      const over = await docker(env, ['push', ref('frozen', 'v1')]);
      expect(over.code).not.toBe(0);
      expect(over.stderr + over.stdout).toContain("The image tag 'v1' already exists in the 'frozen' repository and cannot be overwritten because the repository is immutable.");
      const d = (await env.ecr.send(new DescribeImagesCommand({ repositoryName: 'frozen' }))).imageDetails!;
      expect(d.map((x) => x.imageDigest)).toEqual([firstDigest]);
    });

    it('an OCI image and index pushed by a registry client: media types, platforms and the index size', async () => {
      await env.ecr.send(new CreateRepositoryCommand({ repositoryName: 'oci' }));
      const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', variant: 'v8', config: {}, rootfs: { type: 'layers', diff_ids: [] } }));
      const layer = randomBytes(2048);
      const configDigest = await uploadBlob(env, 'oci', config);
      const layerDigest = await uploadBlob(env, 'oci', layer);
      const child = JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: config.length },
        layers: [{ mediaType: MediaTypes.ociLayer, digest: layerDigest, size: layer.length }],
      });
      const pc = await registryRequest(env, 'PUT', `/v2/oci/manifests/${sha(child)}`, { body: child, type: MediaTypes.ociManifest });
      expect(pc.status, pc.body.toString()).toBe(201);
      const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: MediaTypes.ociManifest, digest: sha(child), size: child.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }] });
      const pi = await registryRequest(env, 'PUT', '/v2/oci/manifests/multi', { body: index, type: MediaTypes.ociIndex });
      expect(pi.status, pi.body.toString()).toBe(201);
      const byDigest = new Map((await env.ecr.send(new DescribeImagesCommand({ repositoryName: 'oci' }))).imageDetails!.map((x) => [x.imageDigest, x]));
      expect(byDigest.get(sha(child))).toMatchObject({ imageManifestMediaType: MediaTypes.ociManifest, artifactMediaType: MediaTypes.ociConfig, imageSizeInBytes: 2048 });
      expect(byDigest.get(sha(index))).toMatchObject({ imageTags: ['multi'], imageManifestMediaType: MediaTypes.ociIndex, imageSizeInBytes: 2048 });
      expect(env.store.resolveImageUri(ref('oci', 'multi')).platforms).toEqual([{ os: 'linux', architecture: 'arm64', variant: 'v8' }]);
      expect(env.store.resolveImageUri(`${env.reg.host}/oci@${sha(child)}`).platforms).toEqual([{ os: 'linux', architecture: 'arm64', variant: 'v8' }]);
      const got = await registryRequest(env, 'GET', '/v2/oci/manifests/multi', { accept: MediaTypes.ociIndex });
      expect(got.body.toString()).toBe(index);
      // the index's image cannot go while the index lists it
      const refused = await env.ecr.send(new BatchDeleteImageCommand({ repositoryName: 'oci', imageIds: [{ imageDigest: sha(child) }] }));
      expect(refused.failures?.[0]?.failureCode).toBe('ImageReferencedByManifestList');
    });

    it('BatchDeleteImage removes the image from the registry too: the pull fails', async () => {
      const digest = (await env.ecr.send(new DescribeImagesCommand({ repositoryName: 'team/app' }))).imageDetails![0]!.imageDigest!;
      const del = await env.ecr.send(new BatchDeleteImageCommand({ repositoryName: 'team/app', imageIds: [{ imageDigest: digest }] }));
      expect(del.imageIds?.map((i) => i.imageTag).sort()).toEqual(['v1', 'v2.15.0']);
      // at the registry itself (no ECR rules there): the manifest is gone
      const upstream = await fetch(`${env.reg.upstream}/v2/team/app/manifests/${digest}`, { headers: { accept: MediaTypes.dockerManifest } });
      expect(upstream.status).toBe(404);
      await docker(env, ['image', 'rm', '-f', ref('team/app', 'v2.15.0')]);
      const pull = await docker(env, ['pull', ref('team/app', 'v2.15.0')]);
      expect(pull.code).not.toBe(0);
    });

    it('pushLocalImage pushes with a run-private docker config and leaves the local image list as it was', async () => {
      await env.ecr.send(new CreateRepositoryCommand({ repositoryName: 'pushed' }));
      await buildTiny(env, local('own'), `own ${suffix}`);
      const { digest } = await env.reg.pushLocalImage(local('own'), 'pushed', 'dev');
      expect(env.store.findImage('pushed', { imageTag: 'dev' })?.digest).toBe(digest);
      expect(env.reg.imageRef('pushed', digest)).toBe(`${env.reg.host}/pushed@${digest}`);
      expect((await docker(env, ['image', 'inspect', ref('pushed', 'dev')])).code).not.toBe(0);
      expect(fs.existsSync(path.join(env.reg.dockerConfigDir, 'config.json'))).toBe(true);
    });
  });
}
