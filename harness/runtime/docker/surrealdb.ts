/**
 * SurrealDB in docker mode: a container on the run's Docker network, at a VPC address the
 * fabric reserved (with the surrealdb security group), published under the manifest's DNS name.
 *
 * Which container:
 * - the official image, pinned (SURREAL_OFFICIAL_IMAGE; HARNESS_SURREAL_IMAGE overrides) when
 *   it is present locally (`docker image inspect`; nothing is ever pulled), started with its
 *   own CLI: `start --bind 0.0.0.0:4000 --user … --pass … memory|surrealkv:///data/surrealdb`;
 * - otherwise the embedded server (harness/data/surreal-server.ts, the real @surrealdb/node
 *   engine) in the escher-harness/surrealdb image built here offline (FROM the harness's base
 *   image, the server bundled into one .mjs with esbuild, the engine's native module for the
 *   image's architecture), started with the same arguments.
 *
 * The image's architecture is the host's own (amd64 here): SurrealDB is the data tier, not a
 * Fargate task of the topology, so nothing asks for arm64, and the Rust engine under QEMU
 * would be ~10× slower, which would distort every timing the data scenarios measure.
 *
 * `disk` storage lives in a Docker volume of the container (labelled with the run id, removed
 * with it). stop()/start(): the embedded container stops serving and serves again through
 * its operator socket (the datastore stays open, as the in-process server's); the official
 * one is `docker stop` / `docker start` at the same address.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import type { TaskNetwork } from '../../ecs/deps.ts';
import type { SurrealCredentials } from '../../data/surreal-server.ts';
import {
  SURREAL_HOST_LABEL,
  SURREAL_PORT,
  startEmbeddedDataTier,
  surrealSqlOverHttp,
  type EmbeddedDataTierOptions,
  type SqlStatementResult,
  type SurrealEndpoint,
} from '../../data/data-tier.ts';
import { ensureBaseImage, HARNESS_LABEL, imageLabels, LABEL_FROM, LABEL_INPUTS, type Arch } from './images.ts';
import { gatedEntrypoint, LABEL_OWNER_PID, LABEL_RUN_ID } from './docker-runtime.ts';

const execFileP = promisify(execFile);
const ROOT = path.resolve(fileURLToPath(new URL('../../../', import.meta.url)));

/** The official image, pinned to the engine release the embedded server runs (@surrealdb/node 3.0.3 = SurrealDB 3.0.2). */
export const SURREAL_OFFICIAL_IMAGE = process.env.HARNESS_SURREAL_IMAGE || 'surrealdb/surrealdb:v3.0.2';
/** Repository of the embedded-server image built here. */
export const SURREAL_SERVER_REPO = 'surrealdb';
/** Bump when the recipe below changes in a way the inputs do not show. */
const RECIPE_VERSION = 1;
const DATA_DIR = '/data';
const CONTROL_DIR = '/run/harness';

export type SurrealContainerChoice =
  | { kind: 'official'; image: string; reason: string }
  | { kind: 'embedded'; image: string; reason: string }
  | { kind: 'host'; reason: string };

/** Which SurrealDB docker mode runs, and the one line the summary prints. */
export function chooseSurrealContainer(o: { official: string; officialPresent: boolean; embeddedImage?: string; embeddedError?: string }): SurrealContainerChoice {
  if (o.officialPresent) return { kind: 'official', image: o.official, reason: `official image ${o.official} in a container (present locally)` };
  if (o.embeddedImage) return { kind: 'embedded', image: o.embeddedImage, reason: `embedded server in container ${o.embeddedImage} (official image ${o.official} not present locally)` };
  return { kind: 'host', reason: `embedded server on the host (official image ${o.official} not present locally; the server image could not be built: ${o.embeddedError ?? 'unknown error'})` };
}

/** The container's arguments: the official CLI's `start` (the embedded image's entry point takes the same). */
export function surrealStartArgs(credentials: SurrealCredentials, storage: 'memory' | 'disk', port = SURREAL_PORT): string[] {
  return ['start', '--bind', `0.0.0.0:${port}`, '--user', credentials.username, '--pass', credentials.password, storage === 'disk' ? `surrealkv://${DATA_DIR}/surrealdb` : 'memory'];
}

/** The architecture the server image is built for: the host's own (native speed). */
export function surrealImageArch(hostArch: string = process.arch): Arch {
  return hostArch === 'arm64' ? 'arm64' : 'amd64';
}

function sha(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The engine's native module for linux/<arch> (glibc): from node_modules, else `npm pack`ed into the cache. */
async function nativeModule(arch: Arch, cacheDir: string, log: (l: string) => void): Promise<{ file: string; name: string }> {
  const name = `surrealdb-node.linux-${arch === 'amd64' ? 'x64' : 'arm64'}-gnu.node`;
  const inTree = path.join(ROOT, 'node_modules/@surrealdb/node/dist', name);
  if (fs.existsSync(inTree)) return { file: inTree, name };
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/@surrealdb/node/package.json'), 'utf8')) as { version: string }).version;
  const dir = path.join(cacheDir, 'surrealdb-node', version);
  const cached = path.join(dir, 'package/dist', name);
  if (!fs.existsSync(cached)) {
    fs.mkdirSync(dir, { recursive: true });
    log(`images: npm pack @surrealdb/node@${version} (for ${name})`);
    const { stdout } = await execFileP('npm', ['pack', '--silent', `@surrealdb/node@${version}`], { cwd: dir });
    await execFileP('tar', ['-xzf', path.join(dir, stdout.trim().split('\n').pop()!), '-C', dir]);
    if (!fs.existsSync(cached)) throw new Error(`@surrealdb/node@${version} has no ${name}`);
  }
  return { file: cached, name };
}

/** The server + entry point bundled into one ESM file (ws's optional native helpers left out). */
export async function bundleSurrealServer(): Promise<Buffer> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    entryPoints: [path.join(ROOT, 'harness/runtime/docker/surrealdb-entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    write: false,
    external: ['bufferutil', 'utf-8-validate'],
    banner: { js: "import { createRequire as __harnessCreateRequire } from 'node:module'; const require = __harnessCreateRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'silent',
  });
  return Buffer.from(r.outputFiles[0]!.contents);
}

export interface SurrealImageReport {
  image: string;
  arch: Arch;
  built: boolean;
  durationMs: number;
}

/**
 * Builds escher-harness/surrealdb:<hash>-<arch> when missing or stale (content hash of the
 * bundle, the native module and the base image): FROM the base image (node + libc),
 * /app/surrealdb-server.mjs and /app/node_modules/@surrealdb/node/dist/<native>.node.
 */
export async function buildSurrealServerImage(opts: { arch?: Arch; log?: (l: string) => void; namespace?: string; cacheDir?: string } = {}): Promise<SurrealImageReport> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const arch = opts.arch ?? surrealImageArch();
  const ns = opts.namespace ?? HARNESS_LABEL;
  const cacheDir = opts.cacheDir ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'escher-harness', 'images');
  const base = await ensureBaseImage(arch, { log, namespace: ns, cacheDir });
  const [bundle, native] = await Promise.all([bundleSurrealServer(), nativeModule(arch, cacheDir, log)]);
  const inputs = sha(JSON.stringify({ RECIPE_VERSION, base: base.inputs, bundle: sha(bundle), native: sha(fs.readFileSync(native.file)), name: native.name }));
  const image = `${ns}/${SURREAL_SERVER_REPO}:${inputs.slice(0, 12)}-${arch}`;
  if ((await imageLabels(image))?.[LABEL_INPUTS] === inputs) return { image, arch, built: false, durationMs: performance.now() - t0 };
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'escher-harness-surrealdb-'));
  try {
    fs.writeFileSync(path.join(ctx, 'surrealdb-server.mjs'), bundle);
    fs.mkdirSync(path.join(ctx, 'node_modules/@surrealdb/node/dist'), { recursive: true });
    fs.copyFileSync(native.file, path.join(ctx, 'node_modules/@surrealdb/node/dist', native.name));
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      [
        `FROM ${base.image}`,
        'COPY surrealdb-server.mjs /app/surrealdb-server.mjs',
        'COPY node_modules/ /app/node_modules/',
        `RUN ["/bin/sh", "-c", "mkdir -p ${DATA_DIR} ${CONTROL_DIR}"]`,
        'ENV HARNESS_SURREAL_ENTRY=1',
        `EXPOSE ${SURREAL_PORT}`,
        'ENTRYPOINT ["node", "/app/surrealdb-server.mjs"]',
        'CMD ["start"]',
        '',
      ].join('\n'),
    );
    log(`images: building ${image} (linux/${arch})`);
    await execFileP('docker', ['build', '-q', '--platform', `linux/${arch}`, '-t', image, '--label', `${HARNESS_LABEL}=1`, '--label', `${LABEL_INPUTS}=${inputs}`, '--label', `${LABEL_FROM}=${base.image}`, ctx], {
      env: { ...process.env, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
  return { image, arch, built: true, durationMs: performance.now() - t0 };
}

/** The docker fabric as the data tier needs it (DockerFabric; containerStarted is B's SG hook). */
export interface DataTierFabric extends TaskNetwork {
  readonly networkName: string;
  containerStarted?(id: string, containerId: string): Promise<void> | void;
}

export interface DockerDataTierOptions extends Omit<EmbeddedDataTierOptions, 'fabric'> {
  runId: string;
  fabric: DataTierFabric;
  /** the official image to prefer (default SURREAL_OFFICIAL_IMAGE) */
  officialImage?: string;
}

/** Operator requests to the embedded container over its control socket (bind-mounted from the run dir). */
function control(socketPath: string, method: 'GET' | 'POST', route: string, body?: unknown, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath, method, path: route, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {}, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch {
          v = text;
        }
        if (res.statusCode === 200) resolve(v);
        else reject(new Error(`SurrealDB operator ${route}: ${(v as { error?: string })?.error ?? `HTTP ${res.statusCode}`}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`SurrealDB operator ${route}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>, failed?: () => Promise<string | undefined>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const why = await failed?.();
    if (why) throw new Error(`${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** HTTP from inside a process's network namespace (`nsenter -n` + the host's curl): loopback there is not filtered. */
async function curlInNetns(pid: number, url: string, init: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const args = ['-t', String(pid), '-n', 'curl', '-sS', '-m', '10', '-X', init.method ?? 'GET', '-w', '\n%{http_code}', ...(init.body !== undefined ? ['--data-binary', '@-'] : [])];
  for (const [k, v] of Object.entries(init.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile('nsenter', args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`nsenter curl ${url}: ${stderr.trim() || err.message}`)) : resolve(stdout)));
    child.stdin?.end(init.body ?? '');
  });
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
}

async function httpHealthy(url: string): Promise<boolean> {
  const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
  await r.arrayBuffer();
  return r.status === 200;
}

/**
 * Starts SurrealDB for a docker-mode run (see the file comment); when neither the official
 * image is present nor the server image can be built, the embedded server on the host.
 */
export async function startDockerDataTier(opts: DockerDataTierOptions): Promise<SurrealEndpoint> {
  const log = opts.log ?? (() => {});
  const official = opts.officialImage ?? SURREAL_OFFICIAL_IMAGE;
  const officialPresent = (await imageLabels(official)) !== undefined;
  let embeddedImage: string | undefined;
  let embeddedError: string | undefined;
  if (!officialPresent) {
    try {
      const r = await buildSurrealServerImage({ log });
      embeddedImage = r.image;
      if (r.built) log(`images: built ${r.image} in ${(r.durationMs / 1000).toFixed(1)} s`);
    } catch (e) {
      embeddedError = ((e as { stderr?: string }).stderr || (e as Error).message).trim().split('\n').pop();
    }
  }
  const choice = chooseSurrealContainer({ official, officialPresent, embeddedImage, embeddedError });
  log(`SurrealDB: ${choice.reason}`);
  if (choice.kind === 'host') {
    const ep = await startEmbeddedDataTier(opts);
    return Object.assign(Object.create(ep) as SurrealEndpoint, { kind: choice.reason });
  }

  const { GenericContainer, getContainerRuntimeClient } = await import('testcontainers');
  const docker: Dockerode = (await getContainerRuntimeClient()).container.dockerode;
  const hostname = opts.hostname;
  const port = opts.port ?? SURREAL_PORT;
  const storage = opts.storage ?? 'memory';
  const fabricId = `${SURREAL_HOST_LABEL}-${opts.runId}`;
  const eni = await opts.fabric.attach(fabricId, opts.subnets, opts.securityGroups ?? []);
  const url = `http://${eni.ip}:${port}`;
  const name = `eh-${opts.runId}-surrealdb`;
  const labels = { [HARNESS_LABEL]: '1', [LABEL_RUN_ID]: opts.runId, [LABEL_OWNER_PID]: String(process.pid), 'dev.escher-harness.role': 'surrealdb' };
  const controlDir = path.join(opts.runDir, 'surrealdb-control');
  const controlSock = path.join(controlDir, 'control.sock');
  const network = opts.fabric.networkName;

  // With security groups enforced, the embedded image's server starts behind the fabric's gate
  // (gatedEntrypoint: it waits until containerStarted has put the rules in place). The official
  // image has no shell for the gate: its rules apply right after `docker start`.
  const gated = opts.fabric.isolationEnforced && choice.kind === 'embedded';
  class SurrealContainer extends GenericContainer {
    constructor(image: string) {
      super(image);
      this.withNetworkMode(network);
      this.createOpts.NetworkingConfig = { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: eni.ip }, Aliases: [hostname.split('.')[0]!] } } };
      // disk: the engine's store in a volume of this container (labelled; `docker rm -v` removes it)
      if (storage === 'disk') this.hostConfig.Mounts = [{ Type: 'volume', Target: DATA_DIR, VolumeOptions: { Labels: labels } } as never];
      if (choice.kind === 'embedded') this.hostConfig.Binds = [`${controlDir}:${CONTROL_DIR}`];
      if (eni.dnsServer) this.hostConfig.Dns = [eni.dnsServer.replace(/:53$/, '')];
    }
  }

  let containerId: string | undefined;
  const removeContainer = async () => {
    const left = containerId ? [{ Id: containerId }] : await docker.listContainers({ all: true, filters: { name: [name] } }).catch(() => []);
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  };
  const exitedWhy = async (): Promise<string | undefined> => {
    if (!containerId) return undefined;
    const info = await docker.getContainer(containerId).inspect().catch(() => undefined);
    if (info && info.State.Running) return undefined;
    const tail = await execFileP('docker', ['logs', '--tail', '5', containerId]).then((r) => `${r.stdout}${r.stderr}`.trim().replace(/\n/g, ' | '), () => '');
    return `the container exited (${info?.State.ExitCode ?? '?'})${tail ? `: ${tail}` : ''}`;
  };
  // from inside the container's network namespace when security groups are enforced (the
  // surrealdb group admits only the asset store), else from the host over the run network
  const inNetns = async (route: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const pid = (await docker.getContainer(containerId!).inspect()).State.Pid;
    return curlInNetns(pid, `http://127.0.0.1:${port}${route}`, init);
  };
  const ready = () =>
    choice.kind === 'embedded'
      ? control(controlSock, 'GET', '/state', undefined, 1000).then((s) => (s as { running: boolean }).running)
      : opts.fabric.isolationEnforced
        ? inNetns('/health').then((r) => r.status === 200)
        : httpHealthy(url);

  const t0 = performance.now();
  try {
    if (choice.kind === 'embedded') {
      fs.rmSync(controlDir, { recursive: true, force: true });
      fs.mkdirSync(controlDir, { recursive: true });
    }
    const c = new SurrealContainer(choice.image)
      .withName(name)
      .withCommand([...(gated ? ['node', '/app/surrealdb-server.mjs'] : []), ...surrealStartArgs(opts.credentials, storage, port)])
      .withEnvironment(choice.kind === 'embedded' ? { HARNESS_CONTROL_SOCKET: `${CONTROL_DIR}/control.sock` } : {})
      .withLabels(labels)
      .withPullPolicy({ shouldPull: () => false })
      .withAutoRemove(false);
    if (choice.kind === 'official' && storage === 'disk') c.withUser('root'); // the volume is root's
    if (gated) c.withEntrypoint(gatedEntrypoint());
    const started = await c.start();
    containerId = started.getId();
    await opts.fabric.containerStarted?.(fabricId, containerId);
    await until(`SurrealDB container ${name}`, 60_000, ready, exitedWhy);
  } catch (e) {
    await removeContainer();
    await opts.fabric.detach(fabricId);
    throw new Error(`SurrealDB (${choice.reason}) did not start: ${(e as Error).message.split('\n')[0]}`);
  }
  const startMs = performance.now() - t0;
  log(`surrealdb: container ${name} (${choice.image}) serving at ${url} (${hostname}) in ${(startMs / 1000).toFixed(1)} s`);
  const storageText = storage === 'disk' ? `surrealkv://${DATA_DIR}/surrealdb (a Docker volume of ${name})` : 'memory';
  opts.events?.append('surrealdb.started', { url, storage: storageText, image: choice.image, startMs: Math.round(startMs) });
  opts.dns.setStaticHost(hostname, eni.ip);
  opts.records?.set(hostname, eni.ip);

  let running = true;
  let closed = false;
  const endpoint: SurrealEndpoint & { image: string; containerId: string; startMs: number } = {
    kind: choice.reason,
    image: choice.image,
    containerId: containerId!,
    startMs,
    url,
    hostname,
    ip: eni.ip,
    port,
    credentials: opts.credentials,
    storage: storageText,
    get running() {
      return running;
    },
    async stop() {
      if (!running) return;
      if (choice.kind === 'embedded') await control(controlSock, 'POST', '/stop');
      else {
        await docker.getContainer(containerId!).stop({ t: 10 }).catch((e: unknown) => {
          if ((e as { statusCode?: number }).statusCode !== 304) throw e; // 304: already stopped
        });
      }
      running = false;
      log(`surrealdb stopped (${url})`);
      opts.events?.append('surrealdb.stopped', { url });
    },
    async start() {
      if (running) return;
      if (choice.kind === 'embedded') await control(controlSock, 'POST', '/start');
      else {
        await docker.getContainer(containerId!).start();
        await opts.fabric.containerStarted?.(fabricId, containerId!);
        await until(`SurrealDB container ${name}`, 60_000, ready, exitedWhy);
      }
      running = true;
      log(`surrealdb serving again at ${url}`);
      opts.events?.append('surrealdb.started', { url, storage: storageText, image: choice.image });
    },
    async sql(query, o) {
      // the embedded container: as root on the database host (no network, works while stopped);
      // the official image: its HTTP /sql from the harness host
      if (choice.kind === 'embedded') return (await control(controlSock, 'POST', '/sql', { query, namespace: o?.namespace, database: o?.database })) as SqlStatementResult[];
      if (!running) throw new Error(`SurrealDB (${choice.image}) is stopped: start() it before sql()`);
      if (!opts.fabric.isolationEnforced) return surrealSqlOverHttp({ url, credentials: opts.credentials }, query, o);
      const r = await inNetns('/sql', {
        method: 'POST',
        headers: {
          accept: 'application/json',
          authorization: `Basic ${Buffer.from(`${opts.credentials.username}:${opts.credentials.password}`).toString('base64')}`,
          ...(o?.namespace ? { 'surreal-ns': o.namespace } : {}),
          ...(o?.database ? { 'surreal-db': o.database } : {}),
        },
        body: query,
      });
      if (r.status !== 200) throw new Error(`SurrealDB /sql answered ${r.status}: ${r.body.slice(0, 300)}`);
      return JSON.parse(r.body) as SqlStatementResult[];
    },
    async close() {
      if (closed) return;
      closed = true;
      opts.dns.deleteStaticHost(hostname);
      opts.records?.delete(hostname);
      // SIGTERM first: the server closes the datastore cleanly; then the container and its volume go
      await docker.getContainer(containerId!).stop({ t: 5 }).catch(() => undefined);
      await removeContainer();
      await opts.fabric.detach(fabricId);
      if (choice.kind === 'embedded') fs.rmSync(controlDir, { recursive: true, force: true });
    },
  };
  return endpoint;
}
