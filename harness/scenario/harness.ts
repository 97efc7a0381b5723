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
import { seedCatalogue } from '../aws/ecr/seed.ts';
import { SecretsManagerStore } from '../aws/secretsmanager/store.ts';
import { createSecretsManagerProvider } from '../aws/secretsmanager/provider.ts';
import { seedSecrets } from '../aws/secretsmanager/seed.ts';
import { resolveEcsSecretValueFrom } from '../aws/secretsmanager/ecs-secrets.ts';
import { ServiceDiscoveryStore } from '../aws/servicediscovery/store.ts';
import { createServiceDiscoveryProvider } from '../aws/servicediscovery/provider.ts';
import { LogsStore } from '../aws/logs/store.ts';
import { createLogsProvider } from '../aws/logs/provider.ts';
import { Ec2Store } from '../aws/ec2/store.ts';
import { createEc2Provider } from '../aws/ec2/provider.ts';
import { seedVpc } from '../aws/ec2/seed.ts';
import { createStsProvider } from '../aws/sts/provider.ts';
import { IamStore } from '../aws/iam/store.ts';
import { createIamProvider } from '../aws/iam/provider.ts';
import { seedIam } from '../aws/iam/seed.ts';
import { ElbStore } from '../aws/elbv2/store.ts';
import { createElbv2Provider } from '../aws/elbv2/provider.ts';
import { seedLoadBalancers, type SeededLoadBalancer } from '../aws/elbv2/seed.ts';
import { CognitoStore } from '../aws/cognito/store.ts';
import { createCognitoProvider } from '../aws/cognito/provider.ts';
import { seedUserPools, type SeededUserPool } from '../aws/cognito/seed.ts';
import { startEdge, type StartedEdge } from '../edge/seed.ts';
import { startAnthropicEgress, type StaticDns, type StartedAnthropicEgress } from '../edge/anthropic/egress.ts';
import { elbHooks, elbSink } from '../ecs/load-balancers.ts';
import { CloudMapDnsServer } from '../network/dns-server.ts';
import { chooseNetwork, type NetworkMode } from '../network/netns-fabric.ts';
import { EcsScheduler } from '../ecs/scheduler.ts';
import type { SchedulerDeps, TaskNetwork } from '../ecs/deps.ts';
import { ProcessRuntime } from '../runtime/process/process-runtime.ts';
import { calibrateDockerTiming } from '../runtime/docker/calibrate.ts';
import { DOCKER_DEFAULT_TIME_SCALE, resolveRuntimeChoice, startDockerMode } from '../runtime/docker/select.ts';
import { imageCatalogue, ownImages } from '../runtime/catalogue.ts';
import { startEcrRegistry, type StartedEcrRegistry } from '../aws/ecr/registry.ts';
import { createHarnessCa } from '../edge/anthropic/ca.ts';
import { IMAGE_CONFIG_ANNOTATION, type ImageConfig, type TaskRuntime } from '../runtime/types.ts';
import { loadManifest, ManifestError, type LoadedManifest } from '../manifest/load.ts';
import type { AnthropicHost, SurrealHost } from '../manifest/schema.ts';
import { stubEnvironment } from './stub-env.ts';
import { prepareCliEnvironment, writeEnvFile } from './cli-env.ts';
import { coldCliRequested, startWarmCli, warmSocketPath, type AwsCliMode } from './warm-cli.ts';
import { newRunId, runDirOf, writeRunLock, removeRunLock, harnessHome, type RunLock } from './run-id.ts';
import { cleanupLeftovers } from './cleanup.ts';
import { writeTaskLogs } from '../report/logs.ts';
import { writeReportHtml } from '../report/html.ts';
import { startLambda } from './serverless/lambda.ts';
import { startHttpApis } from './serverless/http-apis.ts';
import { startDynamoDb } from './serverless/dynamodb.ts';
import type { StartedPart } from '../aws/serverless.ts';
import { HostRecords, parseSurrealRootSecret, startEmbeddedDataTier, type SurrealEndpoint } from '../data/data-tier.ts';
// @ts-expect-error plain .mjs without types (as stubs/stubs.test.ts imports it)
import { DEFAULT_HOP_TIMEOUT_MS, DEFAULT_SURREAL_TIMEOUT_MS } from '../../stubs/lib/contract.mjs';

export interface HarnessOptions {
  /** the deployment repo (default: the bundled fixture) */
  deployDir?: string;
  /** harness.yaml elsewhere than the deploy dir's root */
  manifest?: string;
  runtime?: 'process' | 'docker' | 'auto';
  timeScale?: number;
  host?: string;
  /** AWS edge port; 0 (default) picks a free one */
  awsPort?: number;
  /** overrides the manifest's account */
  account?: string;
  /** the real aws CLI the scripts' `aws` wrapper runs (default: first on PATH) */
  awsCli?: string;
  /** run every aws call with the cold CLI (default: warm, see warm-cli.ts; env HARNESS_COLD_CLI=1) */
  coldCli?: boolean;
  home?: string;
  kind?: RunLock['kind'];
  /** VPC fabric: 'auto' (default; env HARNESS_NETWORK) = netns when root + ip netns + nft work, else loopback */
  network?: 'auto' | NetworkMode;
  log?: (line: string) => void;
  /** a runtime instance to use instead of choosing one (benchmarks' instant floor, tests) */
  runtimeOverride?: TaskRuntime;
  /** SurrealDB storage: 'memory' (default) or 'disk' (the engine's surrealkv store under the run dir) */
  surrealStorage?: 'memory' | 'disk';
  /**
   * ECR on a real registry (docker-registry behind a TLS front, aws/ecr/registry.ts): on for
   * `up`, docker mode and a manifest that names own images; true asks for it elsewhere (a
   * scenario that pushes), false never (env HARNESS_ECR_REGISTRY=1|0)
   */
  registry?: boolean;
}

export interface HarnessStores {
  ecs: EcsStore;
  ecr: EcrStore;
  secrets: SecretsManagerStore;
  logs: LogsStore;
  ec2: Ec2Store;
  serviceDiscovery: ServiceDiscoveryStore;
  elb: ElbStore;
  cognito: CognitoStore;
  iam: IamStore;
}

/** A running topology: the AWS edge, the fabric, DNS, the runtime and the scheduler. */
export interface StartedHarness extends AsyncDisposable {
  runId: string;
  /** the serverless half: Lambda (with its invoker), API Gateway v2 HTTP APIs, DynamoDB */
  serverless: { lambda: Awaited<ReturnType<typeof startLambda>>; httpApis: Awaited<ReturnType<typeof startHttpApis>>; dynamodb: Awaited<ReturnType<typeof startDynamoDb>> };
  runDir: string;
  /** harness.yaml, validated: what existed before the scripts ran */
  manifest: LoadedManifest;
  /** the deployment repo the scripts run in */
  deployDir: string;
  region: string;
  clock: Clock;
  events: EventLog;
  stores: HarnessStores;
  awsEndpoint: string;
  dns: { host: string; port: number };
  runtime: TaskRuntime;
  runtimeReason: string;
  /** whether the scripts' `aws` calls run warm (a resident CLI process) or cold, and why */
  awsCliMode: AwsCliMode['mode'];
  awsCliModeReason: string;
  fabric: TaskNetwork;
  scheduler: EcsScheduler;
  account: string;
  /** environment for scripts: endpoint-injecting aws wrapper, fake credentials, scaled waiters */
  cliEnv: Record<string, string>;
  /** `.harness/runs/<id>/env`, sourceable */
  envFile: string;
  isolationEnforced: boolean;
  /** the manifest's SurrealDB host, when it has one (stop()/start() for outages) */
  surreal?: SurrealEndpoint;
  /** which VPC fabric runs, and why (netns: a namespace per task, SGs enforced; loopback: not; docker: the run's Docker network) */
  networkMode: NetworkMode | 'docker';
  networkReason: string;
  /** the Cloud Map DNS server (its handle() answers exactly as the wire does) */
  dnsServer: CloudMapDnsServer;
  /** the ALB front, Cognito's endpoints */
  edge: StartedEdge;
  /** the manifest's load balancers and user pools as seeded (ARNs, ids, users) */
  seeded: { loadBalancers: SeededLoadBalancer[]; pools: SeededUserPool[] };
  /** the Anthropic Messages API stand-in outside the VPC (undefined when the manifest has none, or it could not start: see the log) */
  anthropic?: StartedAnthropicEgress;
  /** the secret whose value the stand-in accepts as the API key */
  anthropicKeySecret?: string;
  /** ECR's registry (`docker login`/`push`/`pull` at <account>.dkr.ecr.<region>.amazonaws.com), when it runs */
  registry?: StartedEcrRegistry;
  /** whether the registry runs, where, or why not (one line for the summary) */
  registryNote: string;
  stop(): Promise<void>;
}

/**
 * Brings up a topology for a deploy dir and seeds what its manifest says existed before the
 * scripts ran (VPC, images, secrets, load balancers, user pools, hosts). It does NOT create
 * what the deploy scripts create (cluster, services, namespace, SGs): that is theirs, and we
 * test it.
 */
export async function startHarness(opts: HarnessOptions = {}): Promise<StartedHarness> {
  const log = opts.log ?? (() => {});
  const home = opts.home ?? harnessHome();
  await cleanupLeftovers(home, log);
  const manifest = loadManifest(opts.deployDir, opts.manifest);
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
    const runtimeChoice = opts.runtimeOverride
      ? { kind: 'process' as const, reason: 'injected' }
      : await resolveRuntimeChoice(opts.runtime ?? (process.env.HARNESS_RUNTIME || 'process'), {
          defaulted: !opts.runtime && (!process.env.HARNESS_RUNTIME || process.env.HARNESS_RUNTIME_DEFAULTED === '1'),
          network: opts.network ?? process.env.HARNESS_NETWORK,
        });
    // docker mode: the health-check floor and the time scale fitted to what QEMU costs on this
    // machine now (calibrate.ts: never below the defaults, at most real timing); --time-scale wins
    const dockerTiming = runtimeChoice.kind === 'docker' ? await calibrateDockerTiming({ runId, log }) : undefined;
    if (dockerTiming) runtimeChoice.reason += `; ${dockerTiming.note}${opts.timeScale !== undefined ? ` (time scale ${opts.timeScale} as asked)` : ''}`;
    const clock = new Clock(opts.timeScale ?? dockerTiming?.timeScale ?? DEFAULT_TIME_SCALE);
    cleanups.push(() => clock.close());
    // the warm aws CLI's server imports the CLI while the rest of the topology starts (warm-cli.ts)
    const warmSocket = (opts.coldCli ?? coldCliRequested()) ? undefined : warmSocketPath(runDir, runId);
    const warmCli = warmSocket ? startWarmCli({ runId, runDir, awsCli: opts.awsCli, socket: warmSocket, timeScale: clock.timeScale, log }) : undefined;
    cleanups.push(async () => (await warmCli)?.warm?.stop());
    const events = new EventLog(() => Date.now());
    const account = opts.account ?? process.env.HARNESS_ACCOUNT ?? manifest.account;
    const region = manifest.region;
    const vpc = { vpcId: manifest.vpc.id, cidrBlock: manifest.vpc.cidr, subnets: manifest.vpc.subnets.map((x) => ({ subnetId: x.id, cidrBlock: x.cidr, availabilityZone: x.az })) };
    const subnetIds = vpc.subnets.map((x) => x.subnetId);
    const surrealHost = Object.values(manifest.hosts).find((x): x is SurrealHost => x.kind === 'surrealdb');
    const anthropicHost = Object.values(manifest.hosts).find((x): x is AnthropicHost => x.kind === 'anthropic');
    // the zones tasks resolve through the harness's DNS: the hosts' parent domains now, each
    // Cloud Map namespace the scripts create as it appears (the fabrics read this array live)
    const zones: string[] = surrealHost ? [surrealHost.dns.split('.').slice(1).join('.')] : [];
    events.on('event', (e) => {
      if (e.type === 'servicediscovery.namespace.created' && typeof e.name === 'string' && !zones.includes(e.name)) zones.push(e.name);
    });
    const base = { account, region, now: () => new Date(), events };
    const stores: HarnessStores = {
      ecs: new EcsStore(base),
      ecr: new EcrStore(base),
      secrets: new SecretsManagerStore(base),
      logs: new LogsStore(base),
      ec2: new Ec2Store(base),
      serviceDiscovery: new ServiceDiscoveryStore({ ...base, operationDelayMs: clock.scaledMs(2) }),
      elb: new ElbStore({
        ...base,
        scaledMs: (s) => clock.scaledMs(s),
        subnetZone: (id) => stores.ec2.listSubnets().find((x) => x.subnetId === id)?.availabilityZone,
      }),
      cognito: new CognitoStore(base),
      iam: new IamStore(base),
    };
    const providers: ServiceProvider[] = [
      createEcsProvider(stores.ecs),
      createEcrProvider(stores.ecr),
      createSecretsManagerProvider(stores.secrets),
      createLogsProvider(stores.logs),
      createEc2Provider(stores.ec2),
      createServiceDiscoveryProvider(stores.serviceDiscovery),
      createStsProvider(),
      createElbv2Provider(stores.elb),
      createCognitoProvider(stores.cognito),
      createIamProvider(stores.iam),
    ];
    const edge = new AwsEdge({ account, defaultRegion: region, events, providers, host: opts.host ?? '127.0.0.1', port: opts.awsPort ?? 0 });
    const awsEndpoint = await edge.start();
    cleanups.push(() => edge.stop());

    const hostRecords = new HostRecords(stores.serviceDiscovery);
    const dnsServer = new CloudMapDnsServer({ store: hostRecords, host: '127.0.0.1', port: 0 });
    const dns = await dnsServer.start();
    cleanups.push(() => dnsServer.stop());

    // docker mode: the run's Docker network (+ Cloud Map DNS on its gateway) is the fabric
    const docker =
      runtimeChoice.kind === 'docker'
        ? await startDockerMode({ runId, subnets: vpc.subnets, vpcCidr: vpc.cidrBlock, region, timeScale: clock.timeScale, healthCheckTimeoutFloorMs: dockerTiming?.healthTimeoutFloorMs, dns: { store: hostRecords, zones }, sgs: stores.ec2, stateFile: path.join(runDir, 'network.json'), events, log })
        : undefined;
    const network: { fabric: TaskNetwork; mode: NetworkMode | 'docker'; reason: string; close(): Promise<void> } = docker
      ? {
          fabric: docker.fabric,
          mode: 'docker',
          reason: `docker: network ${docker.fabric.networkName} on ${docker.fabric.subnetNote}, containers at their ENI addresses; ${docker.fabric.isolationNote}${dockerNetworkNote(opts.network ?? process.env.HARNESS_NETWORK)}`,
          close: () => docker.fabric.close(),
        }
      : await chooseNetwork({
      wanted: opts.network ?? ((process.env.HARNESS_NETWORK || undefined) as HarnessOptions['network']),
      waitForCidrMs: Number(process.env.HARNESS_NETNS_WAIT_S || 0) * 1000,
      runId,
      vpcCidr: vpc.cidrBlock,
      subnets: vpc.subnets,
      region,
      zones,
      sgs: stores.ec2,
      dns: dnsServer,
      dnsAddress: dns,
      stateFile: path.join(runDir, 'network.json'),
      events,
      log,
    });
    cleanups.push(() => network.close());
    const fabric: TaskNetwork = network.fabric;
    const { runtime, reason: runtimeReason } = docker
      ? { runtime: docker.runtime, reason: runtimeChoice.reason }
      : chooseRuntime(opts, runId, clock, network.mode === 'netns', runtimeChoice.reason);
    cleanups.push(() => runtime.close());

    // what existed before the scripts ran, seeded beside each service from the manifest
    seedVpc(stores.ec2, manifest.vpc);
    seedIam(stores.iam, manifest.iam.roles);
    // ECR on a real registry: what `docker push` sends lands in ECR as pushed; the manifest's own images go there first
    const { registry, registryNote: registryStartNote } = await startRegistry(opts, { runDir, runId, manifest, store: stores.ecr, docker: !!docker, log, events });
    if (registry) cleanups.push(() => registry.stop());
    // the catalogue: in docker mode with a registry, real images pushed through it (the runtime
    // pulls a stub like any image); else blob-less indexes whose annotation the process runtime runs
    const catalogueSeed = await seedCatalogue(
      stores.ecr,
      imageCatalogue(manifest.images).map((img) => ({
        repository: img.repository,
        tag: img.tag,
        platforms: img.platforms,
        annotations: { [IMAGE_CONFIG_ANNOTATION]: JSON.stringify(img.config), 'org.opencontainers.image.version': img.tag },
        env: img.config.env,
      })),
      { registry: docker ? registry : undefined, log },
    );
    events.append('ecr.catalogue.seeded', { through: catalogueSeed.through, ms: catalogueSeed.ms, note: catalogueSeed.note });
    const registryNote = registry ? `${registryStartNote}; ${catalogueSeed.note}` : registryStartNote;
    log(registryNote);
    const edgeTier: StartedEdge = await startEdge({
      elb: stores.elb,
      cognito: stores.cognito,
      ec2: stores.ec2,
      clock,
      fabric,
      runDir,
      vpcId: vpc.vpcId,
      subnets: subnetIds,
      albSecurityGroups: [...new Set(manifest.loadBalancers.flatMap((lb) => lb.securityGroups))],
      log,
      events,
    });
    cleanups.push(() => edgeTier.stop());
    const loadBalancers = seedLoadBalancers(stores.elb, manifest.loadBalancers, { vpcId: vpc.vpcId, subnets: subnetIds, region, account });
    await edgeTier.front.reconcile();
    const callbacks = loadBalancers.flatMap((lb) => lb.listeners.map((l) => `${edgeTier.listenerUrl(l.arn)}/oauth2/idpresponse`));
    const pools = seedUserPools(stores.cognito, manifest.cognito, { defaultCallbackUrls: callbacks });
    const seeded = { loadBalancers, pools };
    const edgeEnv = await edgeTier.open(seeded);
    const secrets = renderSecrets(manifest, pools, (id) => edgeTier.idp.jwksUrl(id));
    if (surrealHost?.rootSecret && !(surrealHost.rootSecret in secrets)) secrets[surrealHost.rootSecret] = JSON.stringify({ username: 'root', password: `harness-${runId}-not-a-real-password` });
    seedSecrets(stores.secrets, secrets);

    // docker mode with the LocalStack image present: Secrets Manager, IAM, STS and CloudWatch Logs
    // are LocalStack's (seeded with the same secrets), behind a front that keeps the rest ours
    const localstack = docker
      ? (
          await (await import('../runtime/docker/localstack.ts'))
            .startLocalStackTier({ runId, edge: awsEndpoint, region, account, secrets: Object.fromEntries(stores.secrets.listSecrets().map((x) => [x.name, stores.secrets.getSecretValue(x.name).secretString ?? ''])), log })
            .catch((e: Error) => (log(`localstack: did not start (${e.message.split('\n')[0]}); the harness's own providers serve its services`), { tier: undefined }))
        ).tier
      : undefined;
    if (localstack) cleanups.push(() => localstack.stop());

    // SurrealDB as a host in the VPC, in the manifest's groups. The deploy scripts create those
    // groups later: they are named here, and the fabric resolves the names once they exist.
    // docker mode: SurrealDB runs as a container on the run's network (runtime/docker/surrealdb.ts);
    // HARNESS_DOCKER_SURREAL=embedded keeps the in-process server, a harness host on the bridge
    const startDataTier = docker && process.env.HARNESS_DOCKER_SURREAL !== 'embedded'
      ? async (o: Parameters<typeof startEmbeddedDataTier>[0]) => (await import('../runtime/docker/surrealdb.ts')).startDockerDataTier({ ...o, runId, fabric: docker.fabric })
      : startEmbeddedDataTier;
    const surreal = surrealHost && await startDataTier({
      fabric,
      subnets: surrealHost.subnets ?? subnetIds,
      securityGroups: surrealHost.securityGroups,
      hostname: surrealHost.dns,
      port: surrealHost.port,
      dns: dnsServer,
      records: hostRecords,
      credentials: surrealHost.rootSecret
        ? parseSurrealRootSecret(stores.secrets.getSecretValue(surrealHost.rootSecret).secretString ?? '', surrealHost.rootSecret)
        : { username: 'root', password: `harness-${runId}-not-a-real-password` },
      storage: opts.surrealStorage ?? (process.env.HARNESS_SURREAL_STORAGE === 'disk' ? 'disk' : 'memory'),
      runDir,
      events,
      log,
    });
    if (surreal) cleanups.push(() => surreal.close());

    // the Anthropic Messages API stand-in, outside the VPC, when the manifest has one
    let anthropic: StartedAnthropicEgress | undefined;
    const anthropicKeySecret = anthropicHost && (anthropicHost.apiKeySecret ?? Object.keys(manifest.secrets).find((k) => /anthropic/i.test(k)));
    if (anthropicHost) try {
      const fabricDns = fabric as Partial<StaticDns>;
      anthropic = await startAnthropicEgress({
        runDir,
        runId,
        internetIp: fabric.internetIp,
        apiKey: anthropicKeySecret ? stores.secrets.getSecretValue(anthropicKeySecret).secretString ?? '' : `sk-ant-harness-${runId}`,
        dns: [dnsServer, ...(fabricDns.setStaticHost && fabricDns.deleteStaticHost ? [fabricDns as StaticDns] : [])],
        events,
        log,
      });
      cleanups.push(() => anthropic!.stop());
    } catch (e) {
      log(`Anthropic API stand-in not started: ${(e as Error).message}`);
    }

    // the stubs' own waits (a hop to a dependency, a SurrealDB query) stretched by docker mode's
    // measured slowdown: a starved machine makes the stand-in app slow, never wrong (image ENV,
    // so a task definition's own values still win)
    const slowdown = dockerTiming ? Math.max(1, dockerTiming.timeScale / DOCKER_DEFAULT_TIME_SCALE) : 1;
    const stubTimeouts: Record<string, string> = slowdown > 1 ? { STUB_HOP_TIMEOUT_MS: String(Math.round(DEFAULT_HOP_TIMEOUT_MS * slowdown)), SURREAL_TIMEOUT_MS: String(Math.round(DEFAULT_SURREAL_TIMEOUT_MS * slowdown)) } : {};
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
          const config = imageConfigOf(r.manifest);
          // an image pushed through the registry: the engine pulls it and runs its own config (CMD, ENV …)
          if (r.source === 'registry' && registry) {
            const ref = registry.imageRef(r.repositoryName, r.digest);
            const pull = { ref, credentials: () => registry.credentials() };
            // a catalogue stub pushed so (docker mode): still a stub, told what to serve by stubEnv; its tag's ENV is in its config
            if (config?.stub) return { digest: r.digest, platforms: r.platforms, config: { cmd: [], env: { ...edgeTier.imageEnv, ...stubTimeouts }, dockerImage: ref, stub: true, pull } };
            return { digest: r.digest, platforms: r.platforms, config: { cmd: [], env: {}, dockerImage: ref, pull } };
          }
          // the ALB's public-key endpoint, for the stub's x-amzn-oidc-data check
          return { digest: r.digest, platforms: r.platforms, config: config && { ...config, env: { ...config.env, ...edgeTier.imageEnv, ...(config.stub ? stubTimeouts : {}) } } };
        },
      },
      secrets: localstack?.secrets ?? { resolve: (valueFrom) => resolveEcsSecretValueFrom(stores.secrets, valueFrom) },
      logs: ((inner: SchedulerDeps['logs']) => localstack?.logs(inner) ?? inner)({ append: (group, stream, message, ts) => stores.logs.appendTaskLog(group, stream, message, ts) }),
      registries: {
        register: (arn, id, attrs) => void stores.serviceDiscovery.registerInstance(arn, id, attrs),
        setHealth: (arn, id, status) => stores.serviceDiscovery.setHealth(arn, id, status),
        deregister: (arn, id) => void stores.serviceDiscovery.deregisterInstance(arn, id),
      },
      loadBalancing: elbSink(stores.elb),
      stubEnv: (ctx) =>
        stubEnvironment(ctx, {
          ...(surrealHost ? { surreal: { hostname: surrealHost.dns, ...(surrealHost.rootSecret ? { rootSecret: surrealHost.rootSecret } : {}) } } : {}),
          ...(anthropicKeySecret ? { anthropicKeySecret } : {}),
          isServiceHost: (host) =>
            stores.serviceDiscovery.listNamespaces().some((ns) => host.endsWith(`.${ns.name.toLowerCase()}`) && !!stores.serviceDiscovery.findServiceByName(ns.id, host.slice(0, -ns.name.length - 1))),
          targetGroup: (arn) => {
            const tg = stores.elb.targetGroups.get(arn)?.tg;
            return tg && { healthCheckPath: tg.HealthCheckPath, loadBalancerArns: tg.LoadBalancerArns ?? [] };
          },
        }),
      ...(anthropic ? { taskTrust: anthropic.taskTrust } : {}),
    };
    // the serverless half: Lambda, API Gateway v2 (invoking through Lambda), DynamoDB; their
    // providers join the edge, their environment the scripts'
    const slCtx = { runId, runDir, account, region, awsEndpoint, clock, events, logs: stores.logs, cognito: stores.cognito, iam: stores.iam, manifest, runtime: docker ? ('docker' as const) : ('process' as const), slowdown, log };
    const lambda = await startLambda(slCtx);
    cleanups.push(() => lambda.stop());
    const httpApis = await startHttpApis(slCtx, lambda.invoker);
    cleanups.push(() => httpApis.stop());
    const dynamodb = await startDynamoDb(slCtx);
    cleanups.push(() => dynamodb.stop());
    for (const part of [lambda, httpApis, dynamodb]) for (const p of part.providers) edge.register(p);
    const serverless = { lambda, httpApis, dynamodb };

    const scheduler = new EcsScheduler(stores.ecs, deps, elbHooks(stores.ecs, stores.elb));
    scheduler.start();
    cleanups.push(() => scheduler.stop());

    const cliEnv = await prepareCliEnvironment({ runDir, endpoint: localstack?.endpoint ?? awsEndpoint, region, timeScale: clock.timeScale, account, awsCli: opts.awsCli, warmSocket });
    const envFile = path.join(runDir, 'env');
    const exported = {
      ...cliEnv,
      ...manifest.commands.environment,
      HARNESS_ACCOUNT: account,
      // the scripts' `docker login` to ECR writes here, never to the user's ~/.docker
      ...(registry ? { DOCKER_CONFIG: registry.dockerConfigDir } : {}),
      HARNESS_VPC_ID: vpc.vpcId,
      HARNESS_PRIVATE_SUBNETS: subnetIds.join(','),
      HARNESS_MANIFEST: manifest.file,
      HARNESS_RUN_DIR: runDir,
      HARNESS_RUN_ID: runId,
      HARNESS_DEPLOY_DIR: manifest.deployDir,
      HARNESS_DNS: `${dns.host}:${dns.port}`,
      ...(surreal ? { HARNESS_SURREAL_URL: surreal.url } : {}),
      ...(anthropic ? { HARNESS_ANTHROPIC_URL: `https://${anthropic.host}:${anthropic.port}`, HARNESS_ANTHROPIC_CA: anthropic.ca.certFile } : {}),
      ...edgeEnv,
      ...lambda.env,
      ...httpApis.env,
      ...dynamodb.env,
    };
    writeEnvFile(envFile, exported);
    const awsCliMode: AwsCliMode = (await warmCli) ?? { mode: 'cold', reason: '--cold-cli / HARNESS_COLD_CLI' };
    events.append('harness.up', { runId, awsEndpoint, dns: `${dns.host}:${dns.port}`, runtime: runtime.name, network: network.mode, networkReason: network.reason, surrealdb: surreal?.kind ?? 'none in the manifest', localstack: localstack?.reason ?? 'not used', anthropic: anthropic?.summary ?? (anthropicHost ? 'not started' : 'none in the manifest'), timeScale: clock.timeScale, deployDir: manifest.deployDir, manifest: manifest.file });

    // Ctrl-C or a kill during a scenario/benchmark still tears everything down (`up` has its own handler)
    if ((opts.kind ?? 'scenario') !== 'up') {
      const onSignal = (sig: NodeJS.Signals) => {
        log(`${sig}: tearing down run ${runId}`);
        void h.stop().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      cleanups.unshift(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      });
    }

    const h: StartedHarness = {
      runId,
      serverless,
      runDir,
      manifest,
      deployDir: manifest.deployDir,
      region,
      clock,
      events,
      stores,
      awsEndpoint: localstack?.endpoint ?? awsEndpoint,
      dns,
      runtime,
      runtimeReason,
      awsCliMode: awsCliMode.mode,
      awsCliModeReason: awsCliMode.reason,
      fabric,
      scheduler,
      account,
      cliEnv: exported,
      envFile,
      isolationEnforced: fabric.isolationEnforced,
      surreal,
      networkMode: network.mode,
      networkReason: network.reason,
      dnsServer,
      edge: edgeTier,
      seeded,
      anthropic,
      ...(anthropicKeySecret ? { anthropicKeySecret } : {}),
      ...(registry ? { registry } : {}),
      registryNote,
      stop: async () => {
        events.append('harness.down', { runId });
        fs.writeFileSync(path.join(runDir, 'timeline.json'), JSON.stringify(events.all(), null, 1));
        writeTaskLogs(runDir, stores); // task and script logs for report.html, bounded, secrets masked
        if ((opts.kind ?? 'scenario') === 'up') writeReportHtml(runDir, events.all()); // a scenario's comes with its report
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

/**
 * Starts ECR's registry when the run wants one (see HarnessOptions.registry) and pushes the
 * manifest's own images (`images.<…>.<tag>: { image }`) into it. A manifest that names own
 * images and a registry that cannot start is an error naming the key path; otherwise a registry
 * that cannot start leaves ECR a catalogue, and the note says why.
 */
async function startRegistry(
  opts: HarnessOptions,
  o: { runDir: string; runId: string; manifest: LoadedManifest; store: EcrStore; docker: boolean; log: (line: string) => void; events: EventLog },
): Promise<{ registry?: StartedEcrRegistry; registryNote: string }> {
  const own = ownImages(o.manifest.images);
  const env = process.env.HARNESS_ECR_REGISTRY;
  const wanted = own.length > 0 || (opts.registry ?? (env === '1' ? true : env === '0' ? false : undefined) ?? ((opts.kind ?? 'scenario') === 'up' || o.docker));
  if (!wanted) return { registryNote: 'ECR: catalogue only (no registry asked for: `harness up`, docker mode, own images in the manifest or HARNESS_ECR_REGISTRY=1 start one)' };
  const started = await startEcrRegistry({ runDir: o.runDir, runId: o.runId, store: o.store, ca: createHarnessCa(o.runDir, o.runId), log: o.log, events: o.events });
  if ('unavailable' in started) {
    if (own.length) throw new ManifestError(o.manifest.file, own[0]!.keyPath, `an own image needs ECR's registry, which cannot start here: ${started.unavailable}`);
    return { registryNote: `ECR: catalogue only (registry not started: ${started.unavailable})` };
  }
  try {
    for (const img of own) {
      if (!o.store.hasRepository(img.repository)) o.store.createRepository(img.repository);
      const t0 = Date.now();
      const { digest } = await started.pushLocalImage(img.image, img.repository, img.tag).catch((e: Error) => {
        throw new ManifestError(o.manifest.file, img.keyPath, `docker push of ${img.image} to ${img.repository}:${img.tag} failed: ${e.message.split('\n')[0]}`);
      });
      o.log(`pushed ${img.image} → ${img.repository}:${img.tag} (${digest.slice(0, 19)}…) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } catch (e) {
    await started.stop();
    throw e;
  }
  return { registry: started, registryNote: `ECR: registry at ${started.host} (${started.address}, docker-registry, started in ${(started.startMs / 1000).toFixed(1)} s)${own.length ? `; ${own.length} own image(s) pushed` : ''}` };
}

/** What a --network asked for means in docker mode (loopback was refused earlier: networkConflict). */
function dockerNetworkNote(wanted: string | undefined): string {
  return wanted === 'netns' ? ' (--network netns: docker mode gives each container its own namespace; the line above says whether its security groups are enforced)' : '';
}

function chooseRuntime(opts: HarnessOptions, runId: string, clock: Clock, netns = false, why?: string): { runtime: TaskRuntime; reason: string } {
  if (opts.runtimeOverride) return { runtime: opts.runtimeOverride, reason: 'injected' };
  if (why) return { runtime: new ProcessRuntime({ runId, timeScale: clock.timeScale, netns }), reason: why };
  const wanted = opts.runtime ?? (process.env.HARNESS_RUNTIME as HarnessOptions['runtime']) ?? 'process';
  return {
    runtime: new ProcessRuntime({ runId, timeScale: clock.timeScale, netns }),
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

/**
 * The manifest's secrets with their placeholders filled in: `{cognito.<pool>.jwksUrl}`,
 * `.issuer`, `.id`, `.arn`. A mapping is stored as JSON.
 */
export function renderSecrets(manifest: LoadedManifest, pools: SeededUserPool[], jwksUrl: (poolId: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(manifest.secrets)) {
    out[name] =
      typeof value === 'string'
        ? value.replace(/\{cognito\.([^.{}]+)\.(jwksUrl|issuer|id|arn)\}/g, (_, pool: string, attr: string) => {
            const p = pools.find((x) => x.name === pool)!;
            return attr === 'jwksUrl' ? jwksUrl(p.id) : attr === 'issuer' ? p.issuer : attr === 'id' ? p.id : p.arn;
          })
        : JSON.stringify(value);
  }
  return out;
}
