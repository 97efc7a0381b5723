/**
 * ECR on a real OCI registry: Debian's `docker-registry` (Distribution 2.8) on 127.0.0.1:<free
 * port>, plain HTTP, its storage in a cache directory that outlives runs (re-pushes of the same
 * layers are HEAD requests), behind the ECR front ({@link EcrRegistryFront}) served over TLS at
 * `<account>.dkr.ecr.<region>.amazonaws.com` on `<127.x.y.z>:443` with a certificate from the
 * run's CA. The Docker engine reaches that name through an /etc/hosts line and trusts the CA
 * through /etc/docker/certs.d/<host>/; both carry the run id and go at stop (or, for a killed
 * run, when the next one starts).
 *
 * One run at a time can own a host name on a machine: a lock file under /run/escher-harness
 * names the holder's pid; a dead holder's lock is taken over (its registry killed, its lines
 * removed). Without root, without the binary, or with the name held by a live run, the
 * harness keeps the catalogue-only ECR and says why ({ unavailable }).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import { freePort } from '../../free-port.ts';
import path from 'node:path';
import { promisify } from 'node:util';
import { pidAlive } from '../../pid.ts';
import { OWNER_DIR } from '../../network/netns-fabric.ts';
import { issueServerCert, type HarnessCa } from '../../edge/anthropic/ca.ts';
import type { EventSink } from '../protocol/types.ts';
import type { EcrStore } from './store.ts';
import { EcrRegistryFront } from './registry-front.ts';

const execFileP = promisify(execFile);

export const REGISTRY_BIN = process.env.HARNESS_DOCKER_REGISTRY_BIN || '/usr/bin/docker-registry';
export const HOSTS_FILE = process.env.HARNESS_HOSTS_FILE || '/etc/hosts';
export const DOCKER_CERTS_DIR = process.env.HARNESS_DOCKER_CERTS_DIR || '/etc/docker/certs.d';
/** the marker on the /etc/hosts lines the harness writes: `# escher-harness-ecr run=<runId> pid=<pid>` */
const HOSTS_MARK = '# escher-harness-ecr';
const HOSTS_LINE_RE = /# escher-harness-ecr run=(eh[0-9a-f]{8})\b/;
const CERT_FILE_RE = /^escher-harness-(eh[0-9a-f]{8})\.crt$/;
const LOCK_RE = /^ecr-.+\.lock$/;

export interface StartEcrRegistryOptions {
  runDir: string;
  runId: string;
  store: EcrStore;
  /** the run's CA (one per run: tasks and the engine trust it) */
  ca: HarnessCa;
  /** where the registry keeps blobs between runs (default ~/.cache/escher-harness/registry) */
  cacheDir?: string;
  log: (line: string) => void;
  events?: EventSink;
  /** how long to wait for the registry to listen (default 60 s: a busy 2-core machine) */
  startTimeoutMs?: number;
}

export interface RegistryCredentials {
  username: 'AWS';
  password: string;
  serveraddress: string;
}

export interface StartedEcrRegistry {
  /** `<account>.dkr.ecr.<region>.amazonaws.com` */
  host: string;
  /** where the TLS front listens: `<127.x.y.z>:443` */
  address: string;
  /** the registry's own URL (plain HTTP on 127.0.0.1; no ECR rules there) */
  upstream: string;
  /** the registry's storage (kept between runs) */
  storageDir: string;
  /** the registry's log (runDir/ecr-registry/registry.log) */
  logFile: string;
  /** how long the registry took to listen, ms */
  startMs: number;
  /** for dockerode pulls/pushes by the engine: a fresh GetAuthorizationToken password */
  credentials(): RegistryCredentials;
  /** `<host>/<repo>@<digest>` */
  imageRef(repo: string, digest: string): string;
  /** `docker tag` + `docker push` through the engine (run-private DOCKER_CONFIG); the pushed manifest's digest */
  pushLocalImage(localImage: string, repo: string, tag: string): Promise<{ digest: string }>;
  /** the DOCKER_CONFIG directory that is logged in to the registry (for the docker CLI) */
  dockerConfigDir: string;
  /** the run CA (PEM) the front's certificate chains to: for harness-side HTTPS clients of the front */
  caCertPem: string;
  stop(): Promise<void>;
}

interface RegistryLock {
  pid: number;
  runId: string;
  host: string;
  registryPid?: number;
  ip?: string;
}

function defaultCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'escher-harness', 'registry');
}

function lockFile(host: string): string {
  return path.join(OWNER_DIR, `ecr-${host}.lock`);
}

/** Starts the run's registry and its ECR front; `{ unavailable }` says why not (and what to do). */
export async function startEcrRegistry(o: StartEcrRegistryOptions): Promise<StartedEcrRegistry | { unavailable: string }> {
  const host = o.store.registryHost;
  const keep = 'ECR stays a catalogue (docker login/push/pull of ECR names do not work)';
  if (process.platform !== 'linux') return { unavailable: `not Linux: ${keep}` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { unavailable: `not root: the ECR registry writes ${HOSTS_FILE} and ${DOCKER_CERTS_DIR} and listens on :443; run as root — ${keep}` };
  }
  if (!fs.existsSync(REGISTRY_BIN)) return { unavailable: `no ${REGISTRY_BIN}: apt-get install docker-registry (Debian 12: 2.8) — ${keep}` };

  cleanupEcrRegistryLeftovers(o.log);
  const lock = acquireHostLock(host, o.runId);
  if (!lock.ok) return { unavailable: `${lock.reason} — ${keep}` };

  const dir = path.join(o.runDir, 'ecr-registry');
  fs.mkdirSync(dir, { recursive: true });
  const storageDir = path.join(o.cacheDir ?? defaultCacheDir(), host);
  fs.mkdirSync(storageDir, { recursive: true });
  const logFile = path.join(dir, 'registry.log');

  const undo: (() => void | Promise<void>)[] = [() => lock.release()];
  const rollback = async () => {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch {
        /* best effort */
      }
    }
  };
  try {
    const t0 = Date.now();
    const reg = await spawnRegistry({ dir, storageDir, logFile, runId: o.runId, timeoutMs: o.startTimeoutMs ?? 60_000 });
    const startMs = Date.now() - t0;
    undo.push(() => stopProcess(reg.child));
    lock.update({ registryPid: reg.child.pid });

    const front = new EcrRegistryFront({ store: o.store, upstream: reg.url, host, log: o.log, events: o.events });
    undo.push(() => front.close());
    const cert = issueServerCert(o.ca, [host], `ecr-${host}`);
    const server = https.createServer({ key: cert.key, cert: cert.cert }, front.handle);
    // layers of big images on a busy machine: no request deadline (the client's own timeouts apply)
    server.requestTimeout = 0;
    server.keepAliveTimeout = 30_000;
    const ip = await listenOnLoopback(server, host, 443);
    undo.push(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    lock.update({ ip });

    // the engine reaches the name at our address and trusts the run CA for it
    writeHostsLine(ip, host, o.runId);
    undo.push(() => void removeHostsLines(o.runId));
    const certFile = installEngineCa(host, o.runId, o.ca.certPem);
    undo.push(() => removeEngineCa(certFile));

    // docker CLI login for pushLocalImage: a run-private DOCKER_CONFIG, never ~/.docker
    const dockerConfigDir = path.join(dir, 'docker-config');
    fs.mkdirSync(dockerConfigDir, { recursive: true, mode: 0o700 });
    const writeDockerConfig = () => {
      const { password } = o.store.issueAuthorizationToken();
      fs.writeFileSync(path.join(dockerConfigDir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`AWS:${password}`).toString('base64') } } }), { mode: 0o600 });
    };
    writeDockerConfig();

    o.store.attachRegistry(front);
    undo.push(() => o.store.detachRegistry(front));

    // a harness that exits without stop() (an uncaught error) still leaves no line in /etc/hosts
    const onExit = () => {
      try {
        reg.child.kill('SIGKILL');
      } catch {
        /* gone */
      }
      removeHostsLines(o.runId);
      removeEngineCa(certFile);
      lock.release();
    };
    process.once('exit', onExit);
    undo.unshift(() => {
      process.off('exit', onExit);
    });

    o.log(`ECR registry: docker-registry ${reg.version} listening in ${startMs} ms, https://${host} → ${ip}:443 (run CA), storage ${storageDir}`);
    o.events?.append('ecr.registry.started', { host, address: `${ip}:443`, upstream: reg.url, startMs });

    let stopped: Promise<void> | undefined;
    const started: StartedEcrRegistry = {
      host,
      address: `${ip}:443`,
      upstream: reg.url,
      storageDir,
      logFile,
      startMs,
      dockerConfigDir,
      caCertPem: o.ca.certPem,
      credentials() {
        return { username: 'AWS', password: o.store.issueAuthorizationToken().password, serveraddress: host };
      },
      imageRef(repo, digest) {
        return `${host}/${repo}@${digest}`;
      },
      async pushLocalImage(localImage, repo, tag) {
        writeDockerConfig(); // a fresh token, whatever the age of the run
        const ref = `${host}/${repo}:${tag}`;
        const env = { ...process.env, DOCKER_CONFIG: dockerConfigDir };
        const docker = (args: string[], timeout: number) => execFileP('docker', args, { env, timeout, maxBuffer: 16 * 1024 * 1024 });
        try {
          await docker(['tag', localImage, ref], 60_000);
          const out = await docker(['push', ref], 30 * 60_000);
          const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out.stdout)?.[1];
          if (!digest) throw new Error(`docker push ${ref}: no digest in its output: ${out.stdout.trim().split('\n').at(-1)}`);
          return { digest };
        } catch (e) {
          const err = e as { stderr?: string; message: string };
          throw new Error(`docker push ${localImage} as ${ref}: ${(err.stderr || err.message).trim().split('\n').at(-1)}`);
        } finally {
          // the ECR name was only for the push: the user's image list keeps only what they had
          if (localImage !== ref) await docker(['image', 'rm', ref], 60_000).catch(() => {});
        }
      },
      stop() {
        stopped ??= (async () => {
          await rollback();
          o.events?.append('ecr.registry.stopped', { host });
        })();
        return stopped;
      },
    };
    return started;
  } catch (e) {
    await rollback();
    throw e;
  }
}

// ------------------------------------------------------------------ the registry process


function registryConfig(storageDir: string, port: number): string {
  // YAML by hand: a handful of scalar keys (JSON strings are valid YAML scalars)
  const q = (s: string) => JSON.stringify(s);
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    '  relativeurls: true',
    `  secret: ${q(createHash('sha256').update(`${storageDir}:${port}:${process.pid}:${Date.now()}`).digest('hex'))}`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
    '',
  ].join('\n');
}

/**
 * `docker-registry serve <config>` with HARNESS_RUN_ID in its environment (the leftover sweep
 * finds it by that), in its own process group; resolves once it logs "listening on", retries
 * another port when the one picked was taken meanwhile.
 */
async function spawnRegistry(o: { dir: string; storageDir: string; logFile: string; runId: string; timeoutMs: number }): Promise<{ child: ChildProcess; url: string; version: string }> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = path.join(o.dir, 'config.yml');
    fs.writeFileSync(config, registryConfig(o.storageDir, port));
    const logFd = fs.openSync(o.logFile, 'a');
    const child = spawn(REGISTRY_BIN, ['serve', config], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HARNESS_RUN_ID: o.runId, HARNESS_ECR_REGISTRY: '1' },
      stdio: ['ignore', logFd, 'pipe'],
      detached: true,
    });
    fs.closeSync(logFd);
    const result = await new Promise<{ ok: true; version: string } | { ok: false; why: string; retry: boolean }>((resolve) => {
      let buf = '';
      const timer = setTimeout(() => finish({ ok: false, why: `it did not listen within ${Math.round(o.timeoutMs / 1000)} s`, retry: false }), o.timeoutMs);
      const onData = (c: Buffer) => {
        fs.appendFileSync(o.logFile, c);
        buf += c.toString('utf8');
        if (/msg="listening on /.test(buf)) finish({ ok: true, version: /[" ]version=(\S+)/.exec(buf)?.[1] ?? '?' });
        if (buf.length > 65536) buf = buf.slice(-8192);
      };
      const onExit = (code: number | null, sig: string | null) => {
        const last = buf.trim().split('\n').filter(Boolean).at(-1) ?? '';
        finish({ ok: false, why: `it exited (${sig ?? `code ${code}`}): ${last}`, retry: /address already in use/.test(buf) });
      };
      function finish(r: { ok: true; version: string } | { ok: false; why: string; retry: boolean }) {
        clearTimeout(timer);
        child.off('exit', onExit);
        if (r.ok) {
          // from now on the registry's lines go straight to its log file
          child.stderr!.off('data', onData);
          child.stderr!.on('data', (c: Buffer) => fs.appendFile(o.logFile, c, () => {}));
        }
        resolve(r);
      }
      child.stderr!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', (e) => finish({ ok: false, why: e.message, retry: false }));
    });
    if (result.ok) {
      child.unref();
      (child.stderr as unknown as { unref?: () => void }).unref?.();
      return { child, url: `http://127.0.0.1:${port}`, version: result.version };
    }
    await stopProcess(child);
    lastError = result.why;
    if (!result.retry) break;
  }
  throw new Error(`docker-registry did not start: ${lastError} (log: ${o.logFile})`);
}

/** SIGTERM to its group, SIGKILL after 5 s; resolves when it has exited. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const t = setTimeout(() => signal('SIGKILL'), 5_000);
  await exited;
  clearTimeout(t);
}

// ------------------------------------------------------------------ the address and the name

/** The loopback addresses the front tries for a host name: a stable first choice (the engine's resolver cache may hold it), then others. */
export function loopbackCandidates(host: string, n = 16): string[] {
  const h = createHash('sha256').update(host).digest();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`127.42.${h[(2 * i) % 32]!}.${2 + (h[(2 * i + 1) % 32]! + i) % 250}`);
  return [...new Set(out)];
}

async function listenOnLoopback(server: https.Server, host: string, port: number): Promise<string> {
  let last = '';
  for (const ip of loopbackCandidates(host)) {
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const onError = (e: NodeJS.ErrnoException) => resolve(e);
      server.once('error', onError);
      server.listen(port, ip, () => {
        server.off('error', onError);
        resolve(undefined);
      });
    });
    if (!err) return ip;
    last = `${ip}:${port}: ${err.message}`;
    if (err.code !== 'EADDRINUSE' && err.code !== 'EADDRNOTAVAIL') break;
  }
  throw new Error(`the ECR front cannot listen on a loopback :${port} (${last})`);
}

function writeHostsLine(ip: string, host: string, runId: string): void {
  const current = fs.existsSync(HOSTS_FILE) ? fs.readFileSync(HOSTS_FILE, 'utf8') : '';
  const others = current.split('\n').filter((l) => !HOSTS_LINE_RE.test(l) || HOSTS_LINE_RE.exec(l)![1] !== runId);
  // first, so it wins over any other line for the name (resolvers take the first match);
  // written in place: /etc/hosts may be a bind mount (containers) that cannot be renamed over
  fs.writeFileSync(HOSTS_FILE, [`${ip}\t${host}\t${HOSTS_MARK} run=${runId} pid=${process.pid}`, ...others].join('\n'));
}

/** Removes the hosts lines of the runs `which` matches (a run id, or a predicate). */
function removeHostsLines(which: string | ((runId: string) => boolean)): string[] {
  let current: string;
  try {
    current = fs.readFileSync(HOSTS_FILE, 'utf8');
  } catch {
    return [];
  }
  const match = typeof which === 'string' ? (id: string) => id === which : which;
  const removed: string[] = [];
  const kept = current.split('\n').filter((l) => {
    const m = HOSTS_LINE_RE.exec(l);
    if (m && match(m[1]!)) {
      removed.push(m[1]!);
      return false;
    }
    return true;
  });
  if (removed.length) fs.writeFileSync(HOSTS_FILE, kept.join('\n'));
  return removed;
}

/** The run CA as a root the engine trusts for `host` (certs.d/<host>/escher-harness-<runId>.crt). */
function installEngineCa(host: string, runId: string, pem: string): string {
  const dir = path.join(DOCKER_CERTS_DIR, host);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `escher-harness-${runId}.crt`);
  fs.writeFileSync(file, pem);
  return file;
}

function removeEngineCa(file: string): void {
  fs.rmSync(file, { force: true });
  // the host's directory, then certs.d itself, only when nothing else is in them
  for (const dir of [path.dirname(file), DOCKER_CERTS_DIR]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      break; /* not empty, or gone */
    }
  }
}

// ------------------------------------------------------------------ the lock and the leftovers

function readLock(file: string): RegistryLock | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RegistryLock;
  } catch {
    return undefined;
  }
}

/** One run per ECR host name on this machine; a dead holder's lock is taken over. */
function acquireHostLock(host: string, runId: string): { ok: true; release(): void; update(f: Partial<RegistryLock>): void } | { ok: false; reason: string } {
  const file = lockFile(host);
  fs.mkdirSync(OWNER_DIR, { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const mine: RegistryLock = { pid: process.pid, runId, host };
    try {
      fs.writeFileSync(file, JSON.stringify(mine), { flag: 'wx' });
      let released = false;
      return {
        ok: true,
        update(f) {
          Object.assign(mine, f);
          if (!released) fs.writeFileSync(file, JSON.stringify(mine));
        },
        release() {
          if (released) return;
          released = true;
          if (readLock(file)?.runId === runId) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return { ok: false, reason: `cannot lock ${host} (${(e as Error).message})` };
    }
    const holder = readLock(file);
    if (holder && pidAlive(holder.pid)) {
      return {
        ok: false,
        reason: `another harness run (${holder.runId}, pid ${holder.pid}) serves ${host} on this machine: one run at a time can own an ECR host name; stop that run, or give this one another account (HARNESS_ACCOUNT)`,
      };
    }
    if (holder) removeRunRegistry(holder);
    fs.rmSync(file, { force: true });
  }
  return { ok: false, reason: `cannot lock ${host}: its lock file ${file} keeps changing` };
}

/** What a run's registry left: its process (if still that run's), hosts line and engine CA. */
function removeRunRegistry(lock: RegistryLock): string[] {
  const removed: string[] = [];
  if (lock.registryPid && pidAlive(lock.registryPid)) {
    try {
      const env = fs.readFileSync(`/proc/${lock.registryPid}/environ`, 'utf8');
      if (env.split('\0').includes(`HARNESS_RUN_ID=${lock.runId}`)) {
        process.kill(-lock.registryPid, 'SIGKILL');
        removed.push(`registry pid ${lock.registryPid}`);
      }
    } catch {
      /* gone, or not ours */
    }
  }
  if (removeHostsLines(lock.runId).length) removed.push(`${HOSTS_FILE} line`);
  const ca = path.join(DOCKER_CERTS_DIR, lock.host, `escher-harness-${lock.runId}.crt`);
  if (fs.existsSync(ca)) {
    removeEngineCa(ca);
    removed.push(ca);
  }
  return removed;
}

/**
 * Removes what registries of dead runs left on this machine: lock files whose holder is gone
 * (and that run's registry process), /etc/hosts lines and certs.d CAs of runs that hold no
 * live lock (also after a reboot cleared /run). Never touches a live run's. Root only.
 */
export function cleanupEcrRegistryLeftovers(log: (line: string) => void = () => {}): string[] {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return [];
  const live = new Set<string>();
  const done: string[] = [];
  let locks: string[] = [];
  try {
    locks = fs.readdirSync(OWNER_DIR).filter((f) => LOCK_RE.test(f));
  } catch {
    /* no owner dir */
  }
  for (const f of locks) {
    const file = path.join(OWNER_DIR, f);
    const l = readLock(file);
    if (l && pidAlive(l.pid)) {
      live.add(l.runId);
      continue;
    }
    const removed = l ? removeRunRegistry(l) : [];
    fs.rmSync(file, { force: true });
    done.push(`lock ${f}${l ? ` (run ${l.runId}${removed.length ? `: ${removed.join(', ')}` : ''})` : ''}`);
  }
  for (const id of removeHostsLines((id) => !live.has(id))) done.push(`${HOSTS_FILE} line of ${id}`);
  try {
    for (const h of fs.readdirSync(DOCKER_CERTS_DIR)) {
      const dir = path.join(DOCKER_CERTS_DIR, h);
      let files: string[] = [];
      try {
        files = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const f of files) {
        const m = CERT_FILE_RE.exec(f);
        if (m && !live.has(m[1]!)) {
          removeEngineCa(path.join(dir, f));
          done.push(`${dir}/${f}`);
        }
      }
    }
  } catch {
    /* no certs.d */
  }
  if (done.length) log(`ECR registry: removed leftovers of killed runs: ${done.join(', ')}`);
  return done;
}
