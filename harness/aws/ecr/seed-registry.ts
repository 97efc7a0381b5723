/**
 * The image catalogue pushed through ECR's registry, as CI would have pushed it: every tag a
 * real image (layers, config, manifest) at `<account>.dkr.ecr.<region>.amazonaws.com/<repo>`,
 * so the docker runtime pulls a catalogue stub exactly as it pulls a user's image.
 *
 * Fast, because every tag is the one generic stub image with other ENV:
 *
 * 1. the local stub image (`escher-harness/stub:<hash>-<arch>`, built offline by `npm run
 *    images`) goes to the registry once, by `docker push` straight to the registry's own
 *    address (plain HTTP on 127.0.0.1, which the engine allows; not an ECR repository, so no
 *    ECR call ever lists it) as `escher-harness/stub:<hash>-<arch>`. The registry's storage
 *    outlives runs: when it already holds that image (same config digest, every layer there),
 *    nothing is pushed;
 * 2. per ECR repository, each stub layer is cross-repository mounted (`POST
 *    /v2/<repo>/blobs/uploads/?mount=<digest>&from=escher-harness/stub`: no bytes move);
 * 3. per tag, a config blob — the stub image's config with the tag's image ENV (STUB_VERSION,
 *    STUB_FAULT …) added — and an OCI image manifest, with the harness's annotations (the
 *    image-config annotation that says "this is a stub"); a tag with several platforms gets
 *    one manifest per platform and an OCI index under the tag.
 *
 * Steps 2 and 3 go through the ECR front over HTTPS with a GetAuthorizationToken password,
 * like any `docker push`: the front checks ECR's rules and records each manifest in the
 * EcrStore (source `registry`, the platform from the config blob).
 *
 * A platform without a locally built stub (linux/amd64 unless `npm run images -- --arch amd64`
 * built one) gets a stand-in: the arm64 stub's layers under a config that says that platform
 * (and carries the label {@link STAND_IN_LABEL} naming the layers' real architecture). An ARM64
 * task never pulls it — the platform check stops it first (CannotPullContainerError … 'linux/arm64').
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import type { EcrStore } from './store.ts';
import { MediaTypes, parsePlatform, type ImagePlatform } from './manifest.ts';
import type { StartedEcrRegistry } from './registry.ts';

const execFileP = promisify(execFile);

/** The registry repository the stub image's layers live in (the registry's own, not ECR's). */
export const STUB_REGISTRY_REPOSITORY = 'escher-harness/stub';
/** On a stand-in image's config: the architecture its layers really are. */
export const STAND_IN_LABEL = 'dev.escher-harness.layers-architecture';

const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

export interface RegistrySeedImage {
  repository: string;
  tag: string;
  platforms: readonly (string | ImagePlatform)[];
  /** annotations on each manifest and on the index */
  annotations: Record<string, string>;
  /** image ENV added to the stub's config (what the tag's image carries) */
  env: Record<string, string>;
}

/** What of the started registry the seeding uses. */
export type SeedRegistry = Pick<StartedEcrRegistry, 'host' | 'address' | 'upstream' | 'credentials' | 'caCertPem' | 'dockerConfigDir'>;

export interface RegistrySeedOptions {
  /** the local stub image per architecture (arm64 required; others optional, see the stand-in rule) */
  stubImages: Partial<Record<string, string>>;
  log?: (line: string) => void;
  /** per-request deadline, ms (default 60 s: a loaded machine) */
  requestTimeoutMs?: number;
}

export interface RegistrySeedReport {
  images: number;
  repositories: number;
  /** whole seeding, ms */
  ms: number;
  /** per stub architecture: whether it was pushed now (false: the registry held it) and how long that step took */
  stubs: { arch: string; image: string; pushed: boolean; ms: number }[];
  /** platforms served by a stand-in (no local stub for them) */
  standIns: string[];
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

interface StubInRegistry {
  arch: string;
  layers: Descriptor[];
  config: Record<string, unknown>;
}

interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function request(o: { url: URL; method: string; headers?: Record<string, string>; body?: Buffer; agent: http.Agent; tls?: { ca: string; servername: string; connectTo: string }; timeoutMs: number }): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers, ...(o.body ? { 'content-length': String(o.body.length) } : {}) };
    const opts: https.RequestOptions = { method: o.method, path: `${o.url.pathname}${o.url.search}`, agent: o.agent, headers, timeout: o.timeoutMs };
    let req: http.ClientRequest;
    const onResp = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    if (o.tls) {
      const [ip, port] = o.tls.connectTo.split(':');
      req = https.request({ ...opts, host: ip, port: Number(port), servername: o.tls.servername, ca: o.tls.ca, headers: { ...headers, host: o.tls.servername } }, onResp);
    } else {
      req = http.request({ ...opts, host: o.url.hostname, port: o.url.port }, onResp);
    }
    req.on('timeout', () => req.destroy(new Error(`${o.method} ${o.url.pathname}: no answer within ${Math.round(o.timeoutMs / 1000)} s`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

function failed(what: string, r: Resp): Error {
  return new Error(`${what}: HTTP ${r.status} ${r.body.toString('utf8').trim().slice(0, 300)}`);
}

class NoLocalStub extends Error {}

const MANIFEST_ACCEPT = [MediaTypes.dockerManifest, MediaTypes.ociManifest].join(', ');

/**
 * Pushes the catalogue through the registry (see the file comment). Throws on the first
 * failure (the caller falls back to blob-less indexes and removes what this put in the store).
 */
export async function seedImagesThroughRegistry(store: EcrStore, reg: SeedRegistry, images: readonly RegistrySeedImage[], opts: RegistrySeedOptions): Promise<RegistrySeedReport> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.requestTimeoutMs ?? 60_000;
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const frontAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });
  const password = reg.credentials().password;
  const auth = `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}`;
  const upstream = (method: string, p: string, headers?: Record<string, string>) =>
    request({ url: new URL(p, reg.upstream), method, headers, agent: upstreamAgent, timeoutMs });
  const front = (method: string, p: string, headers: Record<string, string> = {}, body?: Buffer) =>
    request({ url: new URL(p, `https://${reg.host}`), method, headers: { ...headers, authorization: auth }, body, agent: frontAgent, tls: { ca: reg.caCertPem, servername: reg.host, connectTo: reg.address }, timeoutMs });

  try {
    // 1. the stub image(s) in the registry, once
    const wanted = new Set<string>();
    for (const img of images) for (const p of img.platforms) wanted.add(parsePlatform(p).architecture);
    const stubs = new Map<string, StubInRegistry>();
    const report: RegistrySeedReport = { images: 0, repositories: 0, ms: 0, stubs: [], standIns: [] };
    const archs = [...new Set(['arm64', ...wanted])].filter((a) => a === 'arm64' || opts.stubImages[a]);
    for (const arch of archs) {
      const local = opts.stubImages[arch];
      if (!local) throw new Error(`no local stub image for linux/${arch}: run \`npm run images\``);
      const ts = performance.now();
      let got: Awaited<ReturnType<typeof ensureStubInRegistry>>;
      try {
        got = await ensureStubInRegistry(reg, local, arch, upstream);
      } catch (e) {
        // another architecture's stub is optional: without it, that platform gets a stand-in
        if (arch !== 'arm64' && e instanceof NoLocalStub) continue;
        throw e;
      }
      const { stub, pushed } = got;
      stubs.set(arch, stub);
      report.stubs.push({ arch, image: local, pushed, ms: Math.round(performance.now() - ts) });
    }
    for (const a of wanted) if (!stubs.has(a)) report.standIns.push(`linux/${a}`);

    // 2 + 3. per repository (in parallel), its layers mounted, then each tag's config and manifest(s)
    const byRepo = new Map<string, RegistrySeedImage[]>();
    for (const img of images) byRepo.set(img.repository, [...(byRepo.get(img.repository) ?? []), img]);
    for (const repo of byRepo.keys()) if (!store.hasRepository(repo)) store.createRepository(repo);

    const seedRepo = async (repo: string, imgs: RegistrySeedImage[]) => {
      const used = new Set<string>();
      for (const img of imgs) for (const p of img.platforms) used.add(stubs.has(parsePlatform(p).architecture) ? parsePlatform(p).architecture : 'arm64');
      const mounted = new Set<string>();
      for (const arch of used) {
        for (const l of stubs.get(arch)!.layers) {
          if (mounted.has(l.digest)) continue;
          const r = await front('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(l.digest)}&from=${encodeURIComponent(STUB_REGISTRY_REPOSITORY)}`, { 'content-length': '0' });
          if (r.status !== 201) {
            if (r.status === 202 && r.headers.location) await front('DELETE', String(r.headers.location)).catch(() => undefined);
            throw failed(`mount of ${l.digest.slice(0, 19)}… into ${repo}`, r);
          }
          mounted.add(l.digest);
        }
      }
      const configs = new Set<string>();
      for (const img of imgs) {
        const children: { desc: Descriptor; platform: ImagePlatform; bytes: Buffer }[] = [];
        for (const p of img.platforms) {
          const platform = parsePlatform(p);
          const stub = stubs.get(platform.architecture) ?? stubs.get('arm64')!;
          const configBytes = Buffer.from(JSON.stringify(tagConfig(stub, platform, img.env)), 'utf8');
          const configDigest = sha256(configBytes);
          if (!configs.has(configDigest)) {
            await putBlob(front, repo, configDigest, configBytes);
            configs.add(configDigest);
          }
          const manifest = {
            schemaVersion: 2,
            mediaType: MediaTypes.ociManifest,
            config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: configBytes.length },
            layers: stub.layers.map((l) => ({ ...l, mediaType: ociLayerType(l.mediaType) })),
            annotations: sorted(img.annotations),
          };
          const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
          children.push({ desc: { mediaType: MediaTypes.ociManifest, digest: sha256(bytes), size: bytes.length }, platform, bytes });
        }
        if (children.length === 1) {
          await putManifest(front, repo, img.tag, MediaTypes.ociManifest, children[0]!.bytes);
        } else {
          for (const c of children) await putManifest(front, repo, c.desc.digest, MediaTypes.ociManifest, c.bytes);
          const index = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: children.map((c) => ({ ...c.desc, platform: c.platform })), annotations: sorted(img.annotations) };
          await putManifest(front, repo, img.tag, MediaTypes.ociIndex, Buffer.from(JSON.stringify(index), 'utf8'));
        }
        report.images++;
      }
    };
    // every repository's chain settles before a failure is reported: the caller's rollback must not race a push still in flight
    const settled = await Promise.allSettled([...byRepo].map(([repo, imgs]) => seedRepo(repo, imgs)));
    const failure = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failure) throw failure.reason;
    report.repositories = byRepo.size;
    report.ms = Math.round(performance.now() - t0);
    log(
      `ECR catalogue: ${report.images} tag(s) in ${report.repositories} repositories pushed through the registry in ${report.ms} ms (` +
        report.stubs.map((s) => `stub linux/${s.arch} ${s.pushed ? `pushed in ${s.ms} ms` : `already there (${s.ms} ms)`}`).join(', ') +
        `${report.standIns.length ? `; ${report.standIns.join(', ')}: stand-in configs over the arm64 stub's layers` : ''})`,
    );
    return report;
  } finally {
    upstreamAgent.destroy();
    frontAgent.destroy();
  }
}

/** The stub image's config with the tag's ENV added (a key already there takes the tag's value) and the platform's architecture. */
function tagConfig(stub: StubInRegistry, platform: ImagePlatform, env: Record<string, string>): Record<string, unknown> {
  const c = structuredClone(stub.config) as Record<string, unknown> & { config?: { Env?: string[]; Labels?: Record<string, string> | null } };
  c.config ??= {};
  const keys = new Set(Object.keys(env));
  c.config.Env = [...(c.config.Env ?? []).filter((e) => !keys.has(e.split('=')[0]!)), ...Object.keys(env).sort().map((k) => `${k}=${env[k]}`)];
  if (platform.architecture !== stub.arch) {
    c.architecture = platform.architecture;
    c.os = platform.os;
    if (platform.variant) c.variant = platform.variant;
    else delete c.variant;
    c.config.Labels = { ...c.config.Labels, [STAND_IN_LABEL]: stub.arch };
  }
  return c;
}

function ociLayerType(t: string): string {
  if (t === DOCKER_LAYER_GZIP) return MediaTypes.ociLayer;
  if (t === DOCKER_LAYER_TAR) return 'application/vnd.oci.image.layer.v1.tar';
  return t;
}

function sorted(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));
}

type Front = (method: string, p: string, headers?: Record<string, string>, body?: Buffer) => Promise<Resp>;

async function putBlob(front: Front, repo: string, digest: string, bytes: Buffer): Promise<void> {
  const head = await front('HEAD', `/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return;
  const start = await front('POST', `/v2/${repo}/blobs/uploads/`, { 'content-length': '0' });
  const location = start.headers.location;
  if (start.status !== 202 || !location) throw failed(`upload of a config blob to ${repo}`, start);
  const u = new URL(String(location), 'https://x');
  u.searchParams.set('digest', digest);
  const put = await front('PUT', `${u.pathname}${u.search}`, { 'content-type': 'application/octet-stream' }, bytes);
  if (put.status !== 201) throw failed(`upload of config blob ${digest.slice(0, 19)}… to ${repo}`, put);
}

async function putManifest(front: Front, repo: string, ref: string, mediaType: string, bytes: Buffer): Promise<void> {
  const r = await front('PUT', `/v2/${repo}/manifests/${encodeURIComponent(ref)}`, { 'content-type': mediaType }, bytes);
  if (r.status !== 201) throw failed(`manifest ${repo}:${ref}`, r);
}

/**
 * The local stub image in the registry's `escher-harness/stub` repository (see the file
 * comment): reused when the registry holds it with the same config and all its layers, else
 * `docker push`ed to the registry's own address. Returns its layers and config.
 */
async function ensureStubInRegistry(
  reg: SeedRegistry,
  local: string,
  arch: string,
  upstream: (method: string, p: string, headers?: Record<string, string>) => Promise<Resp>,
): Promise<{ stub: StubInRegistry; pushed: boolean }> {
  let id: string;
  try {
    id = (await execFileP('docker', ['image', 'inspect', '--format', '{{.Id}}', local], { timeout: 60_000 })).stdout.trim();
  } catch (e) {
    throw new NoLocalStub(`local stub image ${local} not found (run \`npm run images\`): ${((e as { stderr?: string }).stderr || (e as Error).message).trim().split('\n').at(-1)}`);
  }
  const tag = local.slice(local.lastIndexOf(':') + 1);
  const read = async (): Promise<StubInRegistry | undefined> => {
    const m = await upstream('GET', `/v2/${STUB_REGISTRY_REPOSITORY}/manifests/${tag}`, { accept: MANIFEST_ACCEPT });
    if (m.status !== 200) return undefined;
    const manifest = JSON.parse(m.body.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[] };
    if (!manifest.config || manifest.config.digest !== id || !manifest.layers?.length) return undefined;
    for (const l of manifest.layers) if ((await upstream('HEAD', `/v2/${STUB_REGISTRY_REPOSITORY}/blobs/${l.digest}`)).status !== 200) return undefined;
    const c = await upstream('GET', `/v2/${STUB_REGISTRY_REPOSITORY}/blobs/${manifest.config.digest}`);
    if (c.status !== 200) return undefined;
    return { arch, layers: manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })), config: JSON.parse(c.body.toString('utf8')) as Record<string, unknown> };
  };
  const there = await read();
  if (there) return { stub: there, pushed: false };

  // docker push straight to the registry (127.0.0.1: the engine speaks plain HTTP there)
  const ref = `${new URL(reg.upstream).host}/${STUB_REGISTRY_REPOSITORY}:${tag}`;
  const env = { ...process.env, DOCKER_CONFIG: reg.dockerConfigDir };
  const docker = (args: string[], timeout: number) => execFileP('docker', args, { env, timeout, maxBuffer: 16 * 1024 * 1024 });
  try {
    await docker(['tag', local, ref], 60_000);
    await docker(['push', ref], 15 * 60_000);
  } catch (e) {
    throw new Error(`docker push ${local} to the registry: ${((e as { stderr?: string }).stderr || (e as Error).message).trim().split('\n').at(-1)}`);
  } finally {
    await docker(['image', 'rm', ref], 60_000).catch(() => undefined);
  }
  const pushed = await read();
  if (!pushed) throw new Error(`the registry does not hold ${STUB_REGISTRY_REPOSITORY}:${tag} with config ${id.slice(0, 19)}… after docker push`);
  return { stub: pushed, pushed: true };
}
