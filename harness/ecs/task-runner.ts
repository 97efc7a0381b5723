import type { Container, ContainerDefinition, Task } from '@aws-sdk/client-ecs';
import type { EcsStore, TaskState } from '../aws/ecs/store.ts';
import { envOf, taskIdOf } from '../aws/ecs/store.ts';
import type { ContainerDefinitionSpec, ContainerHandle, ContainerExit, ImageConfig } from '../runtime/types.ts';
import type { SchedulerDeps, TaskEni } from './deps.ts';
import { ContainerHealthChecker, rollUpHealth, type HealthStatus } from './health.ts';

/** How long (AWS seconds, scaled by the clock) each lifecycle step takes. */
export const LIFECYCLE_SECONDS = {
  provisioning: 3,
  pull: 2,
  activating: 1,
  deactivating: 1,
  deprovisioning: 2,
};

/** Fargate's stopTimeout default and maximum (seconds). */
export const STOP_TIMEOUT_DEFAULT = 30;
export const STOP_TIMEOUT_MAX = 120;
/** stop() never waits less than this (real ms) for the stop signal to work, however small the time scale. */
export const STOP_TIMEOUT_FLOOR_MS = 500;

/**
 * The container definition's fields a runtime applies (ContainerSpec.definition), with
 * ContainerOverrides.command in place of `command` (the one of these fields RunTask can
 * override). For the harness's stub images, entryPoint, command, workingDirectory and user are
 * left out: they were written for the image the stub stands in for.
 */
export function containerDefinitionSpec(def: ContainerDefinition, overrideCommand: string[] | undefined, image: Pick<ImageConfig, 'stub'>): ContainerDefinitionSpec {
  const spec: ContainerDefinitionSpec = {
    stopTimeout: Math.min(Math.max(def.stopTimeout ?? STOP_TIMEOUT_DEFAULT, 0), STOP_TIMEOUT_MAX),
  };
  if (!image.stub) {
    if (def.entryPoint?.length) spec.entryPoint = [...def.entryPoint];
    const command = overrideCommand?.length ? overrideCommand : def.command;
    if (command?.length) spec.command = [...command];
    if (def.workingDirectory) spec.workingDirectory = def.workingDirectory;
    if (def.user) spec.user = def.user;
  }
  if (def.readonlyRootFilesystem) spec.readonlyRootFilesystem = true;
  if (def.ulimits?.length) spec.ulimits = def.ulimits.map((u) => ({ name: u.name!, softLimit: u.softLimit!, hardLimit: u.hardLimit! }));
  const lp = def.linuxParameters;
  if (lp?.initProcessEnabled) spec.initProcessEnabled = true;
  if (lp?.capabilities?.add?.length || lp?.capabilities?.drop?.length) {
    spec.capabilities = {
      ...(lp.capabilities.add?.length ? { add: [...lp.capabilities.add] } : {}),
      ...(lp.capabilities.drop?.length ? { drop: [...lp.capabilities.drop] } : {}),
    };
  }
  if (def.dockerLabels && Object.keys(def.dockerLabels).length) spec.dockerLabels = { ...def.dockerLabels };
  return spec;
}

/** Why a task ended, for the scheduler's circuit-breaker accounting. */
export type TaskOutcome = 'failed-to-start' | 'image-pull-failed' | 'essential-exit' | 'health-failed' | 'stopped';

interface RunningContainer {
  def: ContainerDefinition;
  definition: ContainerDefinitionSpec;
  container: Container;
  handle: ContainerHandle;
  checker?: ContainerHealthChecker;
  exit?: ContainerExit;
  /** values of its `secrets`, kept out of the timeline (health check output) */
  secretValues: string[];
}

/**
 * Drives one task through the ECS lifecycle:
 * PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED,
 * starting its containers through the runtime, resolving its image and secrets, running its
 * health checks, and registering it in Cloud Map while it runs.
 */
export class TaskRunner {
  readonly taskId: string;
  private stopRequested!: () => void;
  private readonly stopSignal: Promise<void>;
  private containers: RunningContainer[] = [];
  private eni?: TaskEni;
  private registered: string[] = [];
  outcome: TaskOutcome = 'stopped';
  /** true once the task counted as healthy for its deployment */
  everHealthy = false;
  readonly done: Promise<void>;

  constructor(
    private readonly store: EcsStore,
    private readonly deps: SchedulerDeps,
    readonly state: TaskState,
    private readonly onHealthChange: () => void,
  ) {
    this.taskId = taskIdOf(state.task.taskArn!);
    this.stopSignal = new Promise((r) => (this.stopRequested = r));
    this.done = this.run().catch((e) => {
      // never let one task take the harness down
      this.deps.events.append('harness.error', { where: 'task-runner', taskId: this.taskId, error: String(e?.stack ?? e) });
    });
  }

  /** The scheduler or StopTask set desiredStatus STOPPED. */
  requestStop(): void {
    this.stopRequested();
  }

  private get task(): Task {
    return this.state.task;
  }

  private stopWanted(): boolean {
    return this.task.desiredStatus === 'STOPPED';
  }

  private async step(awsSeconds: number): Promise<void> {
    await Promise.race([this.deps.clock.sleep(awsSeconds).catch(() => undefined), this.stopSignal]);
  }

  private fail(stopCode: Task['stopCode'], reason: string, outcome: TaskOutcome): void {
    this.outcome = outcome;
    if (this.task.desiredStatus !== 'STOPPED') this.store.requestStop(this.state, stopCode, reason);
  }

  private async run(): Promise<void> {
    const td = this.state.taskDefinition;
    const now = () => this.deps.clock.now();

    // PROVISIONING: the ENI
    const awsvpc = this.storeNetwork()?.awsvpcConfiguration;
    const subnets = awsvpc?.subnets ?? [];
    const sgs = awsvpc?.securityGroups ?? [];
    try {
      this.eni = await this.deps.network.attach(this.taskId, subnets, sgs);
    } catch (e) {
      this.fail('TaskFailedToStart', `ResourceInitializationError: failed to configure ENI: ${msg(e)}`, 'failed-to-start');
      return this.finish(false);
    }
    const eni = this.eni;
    const attachmentId = cryptoId();
    this.task.attachments = [
      {
        id: attachmentId,
        type: 'ElasticNetworkInterface',
        status: 'PRECREATED',
        details: [
          { name: 'subnetId', value: eni.subnetId },
          { name: 'networkInterfaceId', value: eni.eniId },
          { name: 'macAddress', value: eni.mac },
          { name: 'privateDnsName', value: eni.privateDnsName },
          { name: 'privateIPv4Address', value: eni.ip },
        ],
      },
    ];
    this.task.availabilityZone = eni.availabilityZone;
    await this.step(LIFECYCLE_SECONDS.provisioning);
    if (this.stopWanted()) return this.finish(false);
    this.task.attachments[0]!.status = 'ATTACHED';
    for (const c of this.task.containers ?? []) c.networkInterfaces = [{ attachmentId, privateIpv4Address: eni.ip }];
    this.store.setTaskStatus(this.state, 'PENDING');

    // PENDING: pull images, fetch secrets, start containers
    this.task.pullStartedAt = now();
    const arch = td.runtimePlatform?.cpuArchitecture === 'ARM64' ? 'arm64' : 'amd64';
    const prepared: { def: ContainerDefinition; container: Container; image: ImageConfig; env: Record<string, string>; definition: ContainerDefinitionSpec }[] = [];
    for (const def of td.containerDefinitions ?? []) {
      const container = this.task.containers!.find((c) => c.name === def.name)!;
      let image: ImageConfig | undefined;
      try {
        const resolved = this.deps.images.resolve(def.image!);
        if (!resolved.platforms.some((p) => p.os === 'linux' && p.architecture === arch)) {
          throw new Error(
            `CannotPullContainerError: pull image manifest has been retried 7 time(s): image Manifest does not contain descriptor matching platform 'linux/${arch}'`,
          );
        }
        container.imageDigest = resolved.digest;
        image = resolved.config;
        if (!image) throw new Error(`CannotPullContainerError: ${def.image}: image has no runnable artifact in this harness`);
        // a registry image is pulled for the task's platform (the index entry Fargate would pick)
        if (image.pull) image = { ...image, pull: { ...image.pull, platform: `linux/${arch}` } };
        // an image this runtime cannot run at all (a user's image on the process runtime) fails as a pull does
        const unsupported = this.deps.runtime.unsupportedImage?.(image);
        if (unsupported) throw new Error(unsupported);
      } catch (e) {
        this.fail('TaskFailedToStart', msg(e), 'image-pull-failed');
        return this.finish(false);
      }
      let env: Record<string, string>;
      try {
        env = { ...envOf(def.environment), ...this.overrideEnv(def.name!) };
        for (const s of def.secrets ?? []) env[s.name!] = await this.deps.secrets.resolve(s.valueFrom!);
        if (image.stub && this.deps.stubEnv) {
          const svc = this.state.serviceName ? this.store.findService(this.state.clusterName, this.state.serviceName) : undefined;
          env = { ...this.deps.stubEnv({ taskDefinition: td, container: def, service: svc?.service, env, image }), ...env };
        }
      } catch (e) {
        this.fail('TaskFailedToStart', msg(e), 'failed-to-start');
        return this.finish(false);
      }
      const definition = containerDefinitionSpec(def, this.containerOverride(def.name!)?.command, image);
      prepared.push({ def, container, image, env, definition });
    }
    await this.step(LIFECYCLE_SECONDS.pull);
    this.task.pullStoppedAt = now();
    if (this.stopWanted()) return this.finish(false);

    for (const p of prepared) {
      const logOpts = p.def.logConfiguration?.logDriver === 'awslogs' ? p.def.logConfiguration.options ?? {} : undefined;
      const onLog = (stream: 'stdout' | 'stderr', line: string) => {
        if (!logOpts) return;
        const group = logOpts['awslogs-group'] ?? `/ecs/${this.state.taskDefinition.family}`;
        const prefix = logOpts['awslogs-stream-prefix'];
        const streamName = prefix ? `${prefix}/${p.def.name}/${this.taskId}` : this.taskId;
        this.deps.logs.append(group, streamName, line, Date.now(), logOpts['awslogs-create-group'] === 'true');
      };
      try {
        const handle = await this.deps.runtime.start({
          runId: this.deps.runId,
          taskId: this.taskId,
          family: td.family!,
          containerName: p.def.name!,
          image: p.image,
          definition: p.definition,
          env: this.deps.taskTrust ? { ...this.deps.taskTrust.env, ...p.env } : p.env,
          ...(this.deps.taskTrust?.files.length ? { files: this.deps.taskTrust.files } : {}),
          ports: (p.def.portMappings ?? []).map((m) => m.containerPort!).filter((x) => x !== undefined),
          ip: eni.ip,
          dnsServer: eni.dnsServer,
          ...(eni.dnsZones ? { dnsZones: eni.dnsZones } : {}),
          ...(eni.netns ? { netns: eni.netns } : {}),
          onLog,
        });
        p.container.runtimeId = `${this.taskId}-${p.def.name}`;
        const secretValues = (p.def.secrets ?? []).map((x) => p.env[x.name!] ?? '').filter((v) => v.length >= 4);
        const rc: RunningContainer = { def: p.def, definition: p.definition, container: p.container, handle, secretValues };
        this.containers.push(rc);
        void handle.exited.then((exit) => this.onContainerExit(rc, exit));
      } catch (e) {
        // a runtime's own ECS error (CannotPullContainerError: the engine could not pull …) is the reason as it stands
        const m = msg(e);
        const pull = m.startsWith('CannotPullContainerError:');
        this.fail('TaskFailedToStart', /^[A-Za-z]+Error: /.test(m) ? m : `CannotStartContainerError: ${m}`, pull ? 'image-pull-failed' : 'failed-to-start');
        return this.finish(true);
      }
    }
    if (this.stopWanted()) return this.finish(true);

    // ACTIVATING: service discovery registration
    this.store.setTaskStatus(this.state, 'ACTIVATING');
    this.registerInCloudMap();
    this.registerTargets();
    await this.step(LIFECYCLE_SECONDS.activating);
    if (this.stopWanted()) return this.finish(true);

    // RUNNING
    for (const rc of this.containers) if (!rc.exit) rc.container.lastStatus = 'RUNNING';
    this.store.setTaskStatus(this.state, 'RUNNING', { startedAt: now() });
    for (const rc of this.containers) {
      if (rc.def.healthCheck && !rc.exit) {
        rc.checker = new ContainerHealthChecker(this.deps.clock, this.deps.runtime, rc.handle, rc.def.healthCheck, (status, output) => {
          rc.container.healthStatus = status;
          this.deps.events.append('ecs.task.health', {
            cluster: this.state.clusterName,
            service: this.state.serviceName,
            taskId: this.taskId,
            container: rc.def.name,
            healthStatus: status,
            // what the last attempt printed (bounded, secrets masked) and its exit code: what a diagnosis quotes
            output: redact(output, rc.secretValues),
            ...(rc.checker?.lastExitCode !== undefined ? { exitCode: rc.checker.lastExitCode } : {}),
            ...(status === 'UNHEALTHY' ? { failures: rc.checker?.consecutiveFailures, retries: rc.def.healthCheck!.retries ?? 3 } : {}),
          });
          this.updateTaskHealth();
        });
        rc.checker.start();
      }
    }
    this.updateTaskHealth();
    await this.stopSignal;
    return this.finish(true);
  }

  private storeNetwork() {
    // service tasks use the deployment's network configuration; standalone tasks their RunTask input
    const svc = this.state.serviceName ? this.store.findService(this.state.clusterName, this.state.serviceName) : undefined;
    const dep = svc?.service.deployments?.find((d) => d.id === this.task.startedBy);
    return dep?.networkConfiguration ?? svc?.service.networkConfiguration ?? this.state.networkConfiguration;
  }

  private containerOverride(containerName: string) {
    return this.task.overrides?.containerOverrides?.find((c) => c.name === containerName);
  }

  private overrideEnv(containerName: string): Record<string, string> {
    return envOf(this.containerOverride(containerName)?.environment);
  }

  private updateTaskHealth(): void {
    const h = rollUpHealth(
      this.containers.map((rc) => ({
        essential: rc.def.essential !== false,
        hasCheck: !!rc.def.healthCheck && rc.def.healthCheck.command?.[0] !== 'NONE',
        status: (rc.container.healthStatus as HealthStatus) ?? 'UNKNOWN',
      })),
    );
    if (h !== this.task.healthStatus) {
      this.task.healthStatus = h;
      this.task.version = (this.task.version ?? 0) + 1;
      for (const reg of this.registered) this.deps.registries?.setHealth(reg, this.taskId, h === 'UNHEALTHY' ? 'UNHEALTHY' : 'HEALTHY');
    }
    this.onHealthChange();
  }

  private hasHealthCheck(): boolean {
    return (this.state.taskDefinition.containerDefinitions ?? []).some((d) => d.essential !== false && d.healthCheck && d.healthCheck.command?.[0] !== 'NONE');
  }

  /** ELB targets this task registered: (target group, ip, port). */
  private targets: { targetGroupArn: string; ip: string; port: number }[] = [];

  private serviceEvent(message: string): void {
    const svc = this.state.serviceName ? this.store.findService(this.state.clusterName, this.state.serviceName) : undefined;
    if (svc) this.store.addServiceEvent(svc, message);
  }

  /** ACTIVATING: the load balancers of the task's deployment get its (ip, containerPort) as a target. */
  private registerTargets(): void {
    const svc = this.state.serviceName ? this.store.findService(this.state.clusterName, this.state.serviceName) : undefined;
    if (!svc || !this.deps.loadBalancing || !this.eni) return;
    for (const lb of this.state.loadBalancers ?? svc.service.loadBalancers ?? []) {
      if (!lb.targetGroupArn || lb.containerPort === undefined) continue;
      try {
        this.deps.loadBalancing.register(lb.targetGroupArn, this.eni.ip, lb.containerPort);
        this.targets.push({ targetGroupArn: lb.targetGroupArn, ip: this.eni.ip, port: lb.containerPort });
        this.serviceEvent(`(service ${svc.service.serviceName}) registered 1 targets in (target-group ${lb.targetGroupArn})`);
      } catch (e) {
        this.deps.events.append('harness.error', { where: 'elb-register', taskId: this.taskId, error: msg(e) });
      }
    }
  }

  /** DEACTIVATING: deregister targets and wait out the (scaled) deregistration delay. */
  private async deregisterTargets(): Promise<void> {
    let delay = 0;
    for (const t of this.targets) {
      try {
        delay = Math.max(delay, this.deps.loadBalancing?.deregister(t.targetGroupArn, t.ip, t.port) ?? 0);
        this.serviceEvent(`(service ${this.state.serviceName}) deregistered 1 targets in (target-group ${t.targetGroupArn})`);
      } catch {
        /* already gone */
      }
    }
    this.targets = [];
    if (delay > 0) await this.deps.clock.sleep(delay).catch(() => undefined);
  }

  private registerInCloudMap(): void {
    const svc = this.state.serviceName ? this.store.findService(this.state.clusterName, this.state.serviceName) : undefined;
    if (!svc || !this.deps.registries || !this.eni) return;
    for (const reg of svc.service.serviceRegistries ?? []) {
      const port = reg.port ?? reg.containerPort ?? this.state.taskDefinition.containerDefinitions?.[0]?.portMappings?.[0]?.containerPort;
      const attrs: Record<string, string> = {
        AWS_INSTANCE_IPV4: this.eni.ip,
        AVAILABILITY_ZONE: this.eni.availabilityZone,
        REGION: this.deps.region,
        ECS_SERVICE_NAME: svc.service.serviceName!,
        ECS_CLUSTER_NAME: this.state.clusterName,
        ECS_TASK_DEFINITION_FAMILY: this.state.taskDefinition.family!,
        // with a container health check the instance starts UNHEALTHY and ECS reports health as it changes
        AWS_INIT_HEALTH_STATUS: this.hasHealthCheck() ? 'UNHEALTHY' : 'HEALTHY',
      };
      if (port !== undefined) attrs.AWS_INSTANCE_PORT = String(port);
      try {
        this.deps.registries.register(reg.registryArn!, this.taskId, attrs);
        this.registered.push(reg.registryArn!);
      } catch (e) {
        this.deps.events.append('harness.error', { where: 'cloudmap-register', taskId: this.taskId, error: msg(e) });
      }
    }
  }

  private onContainerExit(rc: RunningContainer, exit: ContainerExit): void {
    rc.exit = exit;
    rc.checker?.stop();
    rc.container.lastStatus = 'STOPPED';
    rc.container.exitCode = exit.exitCode ?? (exit.signal === 'SIGKILL' ? 137 : exit.signal === 'SIGTERM' ? 143 : undefined);
    if (this.stopWanted()) return;
    if (rc.def.essential !== false) {
      this.outcome = 'essential-exit';
      this.store.requestStop(this.state, 'EssentialContainerExited', 'Essential container in task exited');
    }
  }

  private async finish(started: boolean): Promise<void> {
    const now = () => this.deps.clock.now();
    for (const rc of this.containers) rc.checker?.stop();
    if (started || this.registered.length || this.targets.length) {
      // DEACTIVATING: deregistrations
      this.store.setTaskStatus(this.state, 'DEACTIVATING');
      for (const reg of this.registered) {
        try {
          this.deps.registries?.deregister(reg, this.taskId);
        } catch {
          /* already gone */
        }
      }
      this.registered = [];
      await this.deregisterTargets();
      await this.deps.clock.sleep(LIFECYCLE_SECONDS.deactivating).catch(() => undefined);
      // STOPPING: SIGTERM, SIGKILL after stopTimeout
      this.store.setTaskStatus(this.state, 'STOPPING');
      await Promise.all(
        this.containers.map(async (rc) => {
          if (rc.exit) return;
          try {
            const exit = await this.deps.runtime.stop(rc.handle, Math.max(this.deps.clock.scaledMs(rc.definition.stopTimeout), STOP_TIMEOUT_FLOOR_MS));
            if (!rc.exit) this.onContainerExit(rc, exit);
          } catch (e) {
            this.deps.events.append('harness.error', { where: 'runtime.stop', taskId: this.taskId, error: msg(e) });
          }
        }),
      );
      this.task.executionStoppedAt = now();
    }
    this.store.setTaskStatus(this.state, 'DEPROVISIONING');
    for (const c of this.task.containers ?? []) c.lastStatus = 'STOPPED';
    if (this.eni) {
      try {
        await this.deps.network.detach(this.taskId);
      } catch (e) {
        this.deps.events.append('harness.error', { where: 'network.detach', taskId: this.taskId, error: msg(e) });
      }
    }
    for (const a of this.task.attachments ?? []) a.status = 'DELETED';
    await this.deps.clock.sleep(LIFECYCLE_SECONDS.deprovisioning).catch(() => undefined);
    if (!this.task.stoppingAt) this.task.stoppingAt = now();
    if (!this.task.executionStoppedAt) this.task.executionStoppedAt = now();
    if (this.task.desiredStatus !== 'STOPPED') {
      this.task.desiredStatus = 'STOPPED';
    }
    this.store.setTaskStatus(this.state, 'STOPPED', { stoppedAt: now() });
  }
}

/** `text` with every secret value replaced by ****. */
export function redact(text: string, secretValues: readonly string[]): string {
  let out = text;
  for (const v of secretValues) out = out.split(v).join('****');
  return out;
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function cryptoId(): string {
  const h = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
