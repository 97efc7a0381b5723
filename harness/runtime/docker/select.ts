/**
 * Whether docker mode can run here, and bringing it up: the run's network + DNS (DockerFabric)
 * and the DockerRuntime on it. Each reason it cannot is one line saying what to do.
 */
import fs from 'node:fs';
import { stubDockerImage } from '../stub-image.ts';
import type { DnsZoneSource } from '../../network/dns-server.ts';
import type { SgSource } from '../../network/sg-enforcer.ts';
import type { DockerRuntime } from './docker-runtime.ts';
import type { DockerFabric, DockerSubnet } from './fabric.ts';
import { buildImages, engineAnswers, imageLabels } from './images.ts';

/** testcontainers (and its dockerode) load only in docker mode, so process mode never needs them. */
async function loadDockerModules() {
  try {
    const [rt, fabric] = await Promise.all([import('./docker-runtime.ts'), import('./fabric.ts')]);
    return { ...rt, ...fabric };
  } catch (e) {
    throw new Error(`docker mode needs the npm package testcontainers@11 (npm install --save-dev testcontainers@11): ${(e as Error).message.split('\n')[0]}`);
  }
}

/** true when testcontainers resolves from here. */
async function testcontainersPresent(): Promise<boolean> {
  try {
    await import('testcontainers');
    return true;
  } catch {
    return false;
  }
}

/** Can this host execute linux/arm64 binaries (natively, or through a QEMU binfmt handler)? */
export function arm64Support(): { ok: boolean; detail: string } {
  if (process.arch === 'arm64') return { ok: true, detail: 'native arm64 host' };
  try {
    const h = fs.readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8');
    if (h.startsWith('enabled')) {
      return h.includes('flags: F') || /flags: \w*F/.test(h)
        ? { ok: true, detail: 'qemu-aarch64 binfmt handler enabled (F: works inside containers)' }
        : { ok: false, detail: 'the qemu-aarch64 binfmt handler lacks the F flag, so containers cannot use it: apt-get install qemu-user-static (Debian registers it with F)' };
    }
    return { ok: false, detail: 'the qemu-aarch64 binfmt handler is disabled: update-binfmts --enable qemu-aarch64' };
  } catch {
    const mounted = fs.existsSync('/proc/sys/fs/binfmt_misc/status');
    return {
      ok: false,
      detail: mounted
        ? 'this x86 host cannot run linux/arm64 images: apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64'
        : 'this x86 host cannot run linux/arm64 images: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc, then apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64',
    };
  }
}

/** Engine, arm64 execution and the stub image: ok, or the first thing missing (one line). */
export async function dockerModeAvailable(): Promise<{ ok: boolean; reason: string }> {
  const engine = await engineAnswers();
  if (!engine.ok) return { ok: false, reason: `no Docker engine answers (${engine.detail})` };
  if (!(await testcontainersPresent())) return { ok: false, reason: 'the npm package testcontainers is missing: npm install --save-dev testcontainers@11' };
  const arm = arm64Support();
  if (!arm.ok) return { ok: false, reason: arm.detail };
  const stub = stubDockerImage('arm64');
  if (!(await imageLabels(stub))) return { ok: false, reason: `the stub image ${stub} is not built: run \`npm run images\`` };
  return { ok: true, reason: `Docker engine ${engine.detail} answers, ${arm.detail}, stub image built` };
}

export interface DockerMode {
  runtime: DockerRuntime;
  fabric: DockerFabric;
  /** stops the runtime's containers, then the DNS listener and the network */
  close(): Promise<void>;
}

/** Brings up the run's network (+ Cloud Map DNS on its gateway) and the runtime on it. */
export async function startDockerMode(opts: {
  runId: string;
  subnets: DockerSubnet[];
  vpcCidr?: string;
  region?: string;
  timeScale?: number;
  /**
   * the runtime's real-time floor under health-check timeouts (calibrateDockerTiming's
   * healthTimeoutFloorMs); default: the runtime's own (6 s on an x86 host, none on arm64)
   */
  healthCheckTimeoutFloorMs?: number;
  dns?: { store: DnsZoneSource; zones: string[] };
  /** security groups to enforce in the containers' namespaces (root + nft + nsenter) */
  sgs?: SgSource;
  /** the fabric's state file (task → namespace), for `harness exec` */
  stateFile?: string;
  events?: { append(type: string, fields: Record<string, unknown>): void };
  log?: (line: string) => void;
}): Promise<DockerMode> {
  const { DockerFabric, DockerRuntime, removeDockerLeftovers } = await loadDockerModules();
  // the image must carry the current stub: rebuild it when it changed (a no-op check when nothing did)
  try {
    const r = await buildImages({ log: opts.log });
    if (r.builtCount) opts.log?.(`images: rebuilt ${r.builtCount} stale image(s) in ${(r.durationMs / 1000).toFixed(1)} s`);
  } catch (e) {
    opts.log?.(`images: could not check/rebuild the stub image (${(e as Error).message}); using the one present`);
  }
  const left = await removeDockerLeftovers().catch(() => ({ containers: 0, networks: 0 }));
  if (left.containers || left.networks) opts.log?.(`removed leftovers of killed docker-mode runs: ${left.containers} container(s), ${left.networks} network(s)`);
  const fabric = await DockerFabric.create({ runId: opts.runId, subnets: opts.subnets, vpcCidr: opts.vpcCidr, region: opts.region, dns: opts.dns, sgs: opts.sgs, stateFile: opts.stateFile, events: opts.events, log: opts.log });
  const runtime = new DockerRuntime({ runId: opts.runId, network: fabric.networkName, timeScale: opts.timeScale, fabric });
  // the runtime declares its floor readonly (a constant of the host); calibration replaces it
  // once, before any task starts, on emulated hosts only (arm64 runs images natively: no floor)
  if (opts.healthCheckTimeoutFloorMs !== undefined && runtime.healthCheckTimeoutFloorMs !== undefined) {
    (runtime as { healthCheckTimeoutFloorMs?: number }).healthCheckTimeoutFloorMs = opts.healthCheckTimeoutFloorMs;
  }
  return {
    runtime,
    fabric,
    async close() {
      await runtime.close();
      await fabric.close();
    },
  };
}

/**
 * Which runtime a run uses, and why (the summary prints the reason):
 * - 'process': the embedded runtime, as asked, or by default (`defaulted`: nothing asked);
 * - 'docker': docker mode, or one line saying what is missing (thrown);
 * - 'auto': docker when it is available here, else the embedded runtime.
 * A `network` asked for that only the process runtime has (loopback) makes auto pick process
 * and a forced docker fail with one line (networkConflict), instead of being ignored.
 */
export async function resolveRuntimeChoice(
  wanted: string | undefined,
  opts: { defaulted?: boolean; network?: string } = {},
): Promise<{ kind: 'process' | 'docker'; reason: string }> {
  const w = wanted || 'auto';
  if (w === 'process') {
    return opts.defaulted
      ? { kind: 'process', reason: 'process (default: the embedded runtime, tasks are child processes; --runtime docker|auto for linux/arm64 containers)' }
      : { kind: 'process', reason: 'process (asked for): the embedded runtime, tasks are child processes' };
  }
  if (w !== 'docker' && w !== 'auto') throw new Error(`runtime must be process, docker or auto, got ${JSON.stringify(wanted)}`);
  const conflict = networkConflict('docker', opts.network);
  if (conflict && w === 'docker') throw new Error(conflict);
  if (conflict) return { kind: 'process', reason: `process (auto: --network ${opts.network} asked for, which only the process runtime has)` };
  const avail = await dockerModeAvailable();
  if (w === 'docker') {
    if (!avail.ok) throw new Error(`--runtime docker: ${avail.reason}`);
    return { kind: 'docker', reason: `docker (asked for): ${avail.reason}; tasks are linux/arm64 containers; ${await localStackLine()}` };
  }
  if (!avail.ok) return { kind: 'process', reason: `process (auto: docker mode unavailable — ${avail.reason})` };
  // docker mode enforces security groups wherever the netns fabric can (root + nft + nsenter),
  // in each container's namespace: nothing is lost by preferring it
  const { netnsCapability } = await import('../../network/netns-fabric.ts');
  const netns = netnsCapability();
  const sgs = netns.ok ? 'security groups enforced in each container\'s namespace' : `security groups NOT enforced (${netns.reason})`;
  return { kind: 'docker', reason: `docker (auto: ${avail.reason}); tasks are linux/arm64 containers, ${sgs}; ${await localStackLine()}` };
}

/**
 * A --network the docker runtime cannot honour, as one line (undefined: none). Docker mode's
 * fabric is the run's Docker network, its security groups enforced in each container's
 * namespace as root: `netns` is what it does where it can, `loopback` it cannot do at all.
 */
export function networkConflict(runtime: string | undefined, network: string | undefined): string | undefined {
  if (runtime !== 'docker' || network !== 'loopback') return undefined;
  return '--network loopback does not apply to --runtime docker: its tasks are containers on the run\'s Docker network (security groups enforced in each container\'s namespace as root). Use --runtime process --network loopback, or drop --network.';
}

/**
 * Docker mode's time scale when none is given (process mode: 0.02). Containers are started
 * once their entry point has printed its first line (QEMU's boot is not the app's start-up),
 * and a health check `docker exec`s curl under QEMU (~0.3–2 s on a loaded 2-core machine).
 * That boot still costs wall time: 2–7 s per task launch under QEMU (Fargate: ~40 s of AWS
 * time, ~1 s scaled). AWS budgets must keep room for it as they do on AWS: the ServicesStable
 * waiter (40 × 15 s) is 18 s at 0.03 — less than the three failed launches of a circuit
 * breaker take here (~26 s: rollback-circuit-breaker's script timed out before ECS rolled
 * back). 0.05 gives it 30 s and health checks a 1.5 s interval.
 */
export const DOCKER_DEFAULT_TIME_SCALE = 0.05;

/** What serves Secrets Manager, IAM, STS and CloudWatch Logs in docker mode (one line for the summary). */
async function localStackLine(): Promise<string> {
  const { localStackChoice } = await import('./localstack.ts');
  const c = await localStackChoice();
  // when present, startHarness starts it and forwards them (startLocalStackTier)
  return c.reason;
}
