import fs from 'node:fs';
import path from 'node:path';
import { Clock, DEFAULT_TIME_SCALE } from '../clock.ts';
import { EventLog } from '../events.ts';
import { AwsEdge } from '../aws/server.ts';
import type { ServiceProvider } from '../aws/protocol/types.ts';
import { EcsStore } from '../aws/ecs/store.ts';
import { createEcsProvider } from '../aws/ecs/provider.ts';
import { EcrStore } from '../aws/ecr/store.ts';
import { createEcrProvider } from '../aws/ecr/provider.ts';
import { buildHarnessImageIndex } from '../aws/ecr/manifest.ts';
import { SecretsManagerStore } from '../aws/secretsmanager/store.ts';
import { createSecretsManagerProvider } from '../aws/secretsmanager/provider.ts';
import { resolveEcsSecretValueFrom } from '../aws/secretsmanager/ecs-secrets.ts';
import { ServiceDiscoveryStore } from '../aws/servicediscovery/store.ts';
import { createServiceDiscoveryProvider } from '../aws/servicediscovery/provider.ts';
import { LogsStore } from '../aws/logs/store.ts';
import { createLogsProvider } from '../aws/logs/provider.ts';
import { Ec2Store } from '../aws/ec2/store.ts';
import { createEc2Provider } from '../aws/ec2/provider.ts';
import { createStsProvider } from '../aws/sts/provider.ts';
import { CloudMapDnsServer } from '../network/dns-server.ts';
import { LoopbackFabric } from '../network/loopback-fabric.ts';
import { EcsScheduler } from '../ecs/scheduler.ts';
import type { SchedulerDeps, TaskNetwork } from '../ecs/deps.ts';
import { ProcessRuntime } from '../runtime/process/process-runtime.ts';
import { imageCatalogue, REPOSITORIES } from '../runtime/catalogue.ts';
import { IMAGE_CONFIG_ANNOTATION, type ImageConfig, type TaskRuntime } from '../runtime/types.ts';
import { loadTopology } from '../topology/load.ts';
import type { Topology } from '../topology/model.ts';
import { prepareCliEnvironment, writeEnvFile } from './cli-env.ts';
import { newRunId, runDirOf, writeRunLock, removeRunLock, harnessHome, type RunLock } from './run-id.ts';
import { cleanupLeftovers } from './cleanup.ts';

export const DEFAULT_ACCOUNT = '123456789012';

export interface HarnessOptions {
  deployDir?: string;
  /** configs/<env>.env */
  env?: string;
  runtime?: 'process' | 'docker' | 'auto';
  timeScale?: number;
  host?: string;
  /** AWS edge port; 0 (default) picks a free one */
  awsPort?: number;
  account?: string;
  /** the real aws CLI the scripts' `aws` wrapper runs (default: first on PATH) */
  awsCli?: string;
  home?: string;
  kind?: RunLock['kind'];
  log?: (line: string) => void;
  /** a runtime instance to use instead of choosing one (benchmarks' instant floor, tests) */
  runtimeOverride?: TaskRuntime;
}

export interface HarnessStores {
  ecs: EcsStore;
  ecr: EcrStore;
  secrets: SecretsManagerStore;
  logs: LogsStore;
  ec2: Ec2Store;
  serviceDiscovery: ServiceDiscoveryStore;
}

/** A running topology: the AWS edge, the fabric, DNS, the runtime and the scheduler. */
export interface StartedHarness extends AsyncDisposable {
  runId: string;
  runDir: string;
  topology: Topology;
  clock: Clock;
  events: EventLog;
  stores: HarnessStores;
  awsEndpoint: string;
  dns: { host: string; port: number };
  runtime: TaskRuntime;
  runtimeReason: string;
  fabric: TaskNetwork;
  scheduler: EcsScheduler;
  account: string;
  /** environment for scripts: endpoint-injecting aws wrapper, fake credentials, scaled waiters */
  cliEnv: Record<string, string>;
  /** `.harness/runs/<id>/env`, sourceable */
  envFile: string;
  isolationEnforced: boolean;
  stop(): Promise<void>;
}

/**
 * Brings up a topology from a deploy dir and seeds what CI would have made beforehand
 * (VPC and subnets, the ECR image catalogue, secrets). It does NOT create what the deploy
 * scripts create (cluster, services, namespace, SGs): that is theirs, and we test it.
 */
export async function startHarness(opts: HarnessOptions = {}): Promise<StartedHarness> {
  const log = opts.log ?? (() => {});
  const home = opts.home ?? harnessHome();
  await cleanupLeftovers(home, log);
  const topology = loadTopology(opts.deployDir, opts.env);
  const runId = newRunId();
  const runDir = runDirOf(runId, home);
  fs.mkdirSync(runDir, { recursive: true });
  writeRunLock(runDir, { runId, pid: process.pid, startedAt: new Date().toISOString(), kind: opts.kind ?? 'scenario' });

  const cleanups: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log(`teardown: ${(e as Error).message}`);
      }
    }
    cleanups.length = 0;
    removeRunLock(runDir);
  };

  try {
    const clock = new Clock(opts.timeScale ?? DEFAULT_TIME_SCALE);
    cleanups.push(() => clock.close());
    const events = new EventLog(() => Date.now());
    const account = opts.account ?? process.env.HARNESS_ACCOUNT ?? DEFAULT_ACCOUNT;
    const region = topology.region;
    const base = { account, region, now: () => new Date(), events };
    const stores: HarnessStores = {
      ecs: new EcsStore(base),
      ecr: new EcrStore(base),
      secrets: new SecretsManagerStore(base),
      logs: new LogsStore(base),
      ec2: new Ec2Store(base),
      serviceDiscovery: new ServiceDiscoveryStore({ ...base, operationDelayMs: clock.scaledMs(2) }),
    };
    const providers: ServiceProvider[] = [
      createEcsProvider(stores.ecs),
      createEcrProvider(stores.ecr),
      createSecretsManagerProvider(stores.secrets),
      createLogsProvider(stores.logs),
      createEc2Provider(stores.ec2),
      createServiceDiscoveryProvider(stores.serviceDiscovery),
      createStsProvider(),
    ];
    const edge = new AwsEdge({ account, defaultRegion: region, events, providers, host: opts.host ?? '127.0.0.1', port: opts.awsPort ?? 0 });
    const awsEndpoint = await edge.start();
    cleanups.push(() => edge.stop());

    const dnsServer = new CloudMapDnsServer({ store: stores.serviceDiscovery, host: '127.0.0.1', port: 0 });
    const dns = await dnsServer.start();
    cleanups.push(() => dnsServer.stop());

    const fabric: TaskNetwork = new LoopbackFabric(topology.vpc.subnets, runId, { server: `${dns.host}:${dns.port}`, zones: [topology.namespace] }, region);
    const { runtime, reason: runtimeReason } = chooseRuntime(opts, runId, clock);
    cleanups.push(() => runtime.close());

    seed(topology, stores, { account, region, awsEndpoint });

    const deps: SchedulerDeps = {
      clock,
      events,
      runtime,
      runId,
      region,
      network: fabric,
      images: {
        resolve(uri) {
          const r = stores.ecr.resolveImageUri(uri);
          return { digest: r.digest, platforms: r.platforms, config: imageConfigOf(r.manifest) };
        },
      },
      secrets: { resolve: (valueFrom) => resolveEcsSecretValueFrom(stores.secrets, valueFrom) },
      logs: { append: (group, stream, message, ts) => stores.logs.appendTaskLog(group, stream, message, ts) },
      registries: {
        register: (arn, id, attrs) => void stores.serviceDiscovery.registerInstance(arn, id, attrs),
        setHealth: (arn, id, status) => stores.serviceDiscovery.setHealth(arn, id, status),
        deregister: (arn, id) => void stores.serviceDiscovery.deregisterInstance(arn, id),
      },
    };
    const scheduler = new EcsScheduler(stores.ecs, deps);
    scheduler.start();
    cleanups.push(() => scheduler.stop());

    const cliEnv = await prepareCliEnvironment({ runDir, endpoint: awsEndpoint, region, timeScale: clock.timeScale, account, awsCli: opts.awsCli });
    const envFile = path.join(runDir, 'env');
    const exported = {
      ...cliEnv,
      HARNESS_ACCOUNT: account,
      HARNESS_CLUSTER: topology.cluster,
      HARNESS_VPC_ID: topology.vpc.vpcId,
      HARNESS_PRIVATE_SUBNETS: topology.vpc.subnets.map((s) => s.subnetId).join(','),
      HARNESS_RUN_DIR: runDir,
      HARNESS_RUN_ID: runId,
      HARNESS_DEPLOY_DIR: topology.deployDir,
      HARNESS_DNS: `${dns.host}:${dns.port}`,
    };
    writeEnvFile(envFile, exported);
    events.append('harness.up', { runId, awsEndpoint, dns: `${dns.host}:${dns.port}`, runtime: runtime.name, timeScale: clock.timeScale, deployDir: topology.deployDir });

    const h: StartedHarness = {
      runId,
      runDir,
      topology,
      clock,
      events,
      stores,
      awsEndpoint,
      dns,
      runtime,
      runtimeReason,
      fabric,
      scheduler,
      account,
      cliEnv: exported,
      envFile,
      isolationEnforced: fabric.isolationEnforced,
      stop: async () => {
        events.append('harness.down', { runId });
        fs.writeFileSync(path.join(runDir, 'timeline.json'), JSON.stringify(events.all(), null, 1));
        await stopAll();
      },
      [Symbol.asyncDispose]: () => h.stop(),
    };
    return h;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

function chooseRuntime(opts: HarnessOptions, runId: string, clock: Clock): { runtime: TaskRuntime; reason: string } {
  if (opts.runtimeOverride) return { runtime: opts.runtimeOverride, reason: 'injected' };
  const wanted = opts.runtime ?? (process.env.HARNESS_RUNTIME as HarnessOptions['runtime']) ?? 'process';
  if (wanted === 'docker') throw new Error('the docker runtime is not available in this build yet: use --runtime process');
  return {
    runtime: new ProcessRuntime({ runId, timeScale: clock.timeScale }),
    reason: wanted === 'auto' ? 'auto: embedded default (no Docker runtime in this build)' : 'embedded default',
  };
}

/** The harness's image config rides in the image index's annotations (see runtime/types.ts). */
export function imageConfigOf(manifest: string): ImageConfig | undefined {
  try {
    const m = JSON.parse(manifest);
    const raw = m?.annotations?.[IMAGE_CONFIG_ANNOTATION];
    return raw ? (JSON.parse(raw) as ImageConfig) : undefined;
  } catch {
    return undefined;
  }
}

/** Secret values the harness seeds (as CI would have created them). Fake, never real keys. */
export const SEEDED_SECRETS = {
  'escher/anthropic-api-key': 'sk-ant-harness-0000000000000000-not-a-real-key',
  'escher/cognito-jwks-url': 'http://127.0.0.1:9/.well-known/jwks.json',
} as const;

function seed(topology: Topology, stores: HarnessStores, ctx: { account: string; region: string; awsEndpoint: string }): void {
  stores.ec2.seedVpc({
    vpcId: topology.vpc.vpcId,
    cidrBlock: topology.vpc.cidrBlock,
    subnets: topology.vpc.subnets.map((s, i) => ({ ...s, name: `escher-private-${i + 1}` })),
  });
  for (const repo of Object.keys(REPOSITORIES)) stores.ecr.createRepository(repo);
  for (const img of imageCatalogue()) {
    const manifest = buildHarnessImageIndex({
      platforms: img.platforms,
      annotations: { [IMAGE_CONFIG_ANNOTATION]: JSON.stringify(img.config), 'org.opencontainers.image.version': img.tag },
    });
    stores.ecr.putImage(img.repository, manifest, 'application/vnd.oci.image.index.v1+json', img.tag);
  }
  for (const [name, value] of Object.entries(SEEDED_SECRETS)) stores.secrets.createSecret(name, value);
}
