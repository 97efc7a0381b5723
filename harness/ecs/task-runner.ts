import type { Container, ContainerDefinition, Task } from '@aws-sdk/client-ecs';
import type { EcsStore, TaskState } from '../aws/ecs/store.ts';
import { envOf, taskIdOf } from '../aws/ecs/store.ts';
import type { ContainerDefinitionSpec, ContainerHandle, ContainerExit, ImageConfig } from '../runtime/types.ts';
import type { SchedulerDeps, TaskEni } from './deps.ts';
import { ContainerHealthChecker, HEALTH_TIMEOUT_FLOOR_MS, rollUpHealth, type HealthStatus } from './health.ts';

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
 * A dependency's startTimeout never gives up sooner than this (real ms), however small the
 * time scale; for a HEALTHY dependency, never before one health check could have run (its
 * scaled interval plus the health-check timeout floor). Like the health-check floors, it can
 * only let a merely slow dependency through, never a failing one.
 */
export const START_TIMEOUT_FLOOR_MS = 500;
/** The exit code the ECS agent gives a container it stops because its dependencies can never be resolved. */
export const DEPENDENCY_STOP_EXIT_CODE = 143;

/** A container's reason, and its task's stoppedReason, when the kernel killed it over its memory limit (ECS's words). */
export const OUT_OF_MEMORY_REASON = 'OutOfMemoryError: Container killed due to memory usage';

/**
 * The container definition's fields a runtime applies (ContainerSpec.definition), with
 * ContainerOverrides.command in place of `command` (the one of these fields RunTask can
 * override). For the harness's stub images, entryPoint, command, workingDirectory and user are
 * left out: they were written for the image the stub stands in for. `memoryMiB`: the
 * container's `memory` (its hard limit), else `taskMemory` (the task's size, MiB); a
 * `memoryReservation` alone sets no limit.
 */
export function containerDefinitionSpec(def: ContainerDefinition, overrideCommand: string[] | undefined, image: Pick<ImageConfig, 'stub'>, taskMemory?: string): ContainerDefinitionSpec {
  const spec: ContainerDefinitionSpec = {
    stopTimeout: Math.min(Math.max(def.stopTimeout ?? STOP_TIMEOUT_DEFAULT, 0), STOP_TIMEOUT_MAX),
  };
  const memoryMiB = def.memory !== undefined && def.memory > 0 ? def.memory : Number(taskMemory);
  if (Number.isFinite(memoryMiB) && memoryMiB > 0) spec.memoryMiB = memoryMiB;
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
  /** when start() resolved (real ms): what a dependency's startTimeout counts from */
  startedAtMs: number;
  checker?: ContainerHealthChecker;
  exit?: ContainerExit;
  /** values of its `secrets`, kept out of the timeline (health check output) */
  secretValues: string[];
}

/** A container of the task once its image is pulled and its secrets fetched, until it starts (or never will). */
interface PreparedContainer {
  def: ContainerDefinition;
  container: Container;
  image: ImageConfig;
  env: Record<string, string>;
  definition: ContainerDefinitionSpec;
  /** once started */
  running?: RunningContainer;
  /** never started: the reason its dependencies could not be resolved */
  skipped?: string;
  /** the timeline has said it waits on its dependencies */
  waitAnnounced?: boolean;
}

/**
 * A container as the ECS agent writes it in a dependency error:
 * `name(image) (KNOWN->DESIRED)`, then ` - Exit: N` once it has an exit code.
 */
export function agentContainerText(def: Pick<ContainerDefinition, 'name' | 'image'>, known: string, desired: string, exitCode?: number | null): string {
  return `${def.name}(${def.image}) (${known}->${desired})${exitCode !== undefined && exitCode !== null ? ` - Exit: ${exitCode}` : ''}`;
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
    const prepared: PreparedContainer[] = [];
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
      const definition = containerDefinitionSpec(def, this.containerOverride(def.name!)?.command, image, this.task.memory);
      prepared.push({ def, container, image, env, definition });
    }
    await this.step(LIFECYCLE_SECONDS.pull);
    this.task.pullStoppedAt = now();
    if (this.stopWanted()) return this.finish(false);

    // start the containers as their dependsOn conditions allow (definition order among the ready)
    const started = await this.startContainers(prepared);
    if (started !== 'all') return this.finish(true);

    // ACTIVATING: service discovery registration
    this.store.setTaskStatus(this.state, 'ACTIVATING');
    this.registerInCloudMap();
    this.registerTargets();
    await this.step(LIFECYCLE_SECONDS.activating);
    if (this.stopWanted()) return this.finish(true);

    // RUNNING
    this.store.setTaskStatus(this.state, 'RUNNING', { startedAt: now() });
    this.updateTaskHealth();
    await this.stopSignal;
    return this.finish(true);
  }

  /** Wakes startContainers() when a container exits or its health changes. */
  private wakeUp?: () => void;

  private kick(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /**
   * Starts the task's containers the way the ECS agent resolves `dependsOn`: a container starts
   * once every container it names reached its condition (START: started; COMPLETE: exited;
   * SUCCESS: exited 0; HEALTHY: its health check said HEALTHY), containers without dependencies
   * first, in definition order. A dependency that can never be met (SUCCESS but it exited
   * non-zero, a dependency that will never start, a COMPLETE/SUCCESS/HEALTHY wait past the
   * dependency's startTimeout, HEALTHY but it exited unhealthy) stops the waiting container
   * without starting it (exit code 143, the agent's reason): an essential one stops the task
   * (TaskFailedToStart), a non-essential one is left stopped. 'all' when every container that
   * could start did; 'stopped' when the task is stopping.
   */
  private async startContainers(prepared: PreparedContainer[]): Promise<'all' | 'stopped'> {
    const eni = this.eni!;
    const byName = new Map(prepared.map((p) => [p.def.name!, p]));
    const waiting = new Set(prepared);
    while (waiting.size) {
      const woke = new Promise<void>((r) => (this.wakeUp = r));
      if (this.stopWanted()) return 'stopped';
      let progressed = false;
      let deadline = Infinity;
      for (const p of prepared) {
        if (!waiting.has(p)) continue;
        const v = this.dependencyVerdict(p, byName);
        if (v.kind === 'wait') {
          deadline = Math.min(deadline, v.deadline);
          if (!p.waitAnnounced) {
            p.waitAnnounced = true;
            this.deps.events.append('ecs.container.waiting', {
              cluster: this.state.clusterName,
              service: this.state.serviceName,
              taskId: this.taskId,
              container: p.def.name,
              dependsOn: (p.def.dependsOn ?? []).map((d) => `${d.containerName} ${d.condition}`),
            });
          }
          continue;
        }
        waiting.delete(p);
        progressed = true;
        if (v.kind === 'never') {
          // as the agent does: the container is stopped unstarted, with the reason
          const reason = `CannotStartContainerError: ${v.reason}`;
          p.skipped = reason;
          p.container.lastStatus = 'STOPPED';
          p.container.exitCode = DEPENDENCY_STOP_EXIT_CODE;
          p.container.reason = reason;
          this.containerEvent(p.container);
          if (p.def.essential !== false) {
            this.fail('TaskFailedToStart', reason, 'failed-to-start');
            return 'stopped';
          }
          continue;
        }
        const ok = await this.startContainer(p, eni);
        if (!ok || this.stopWanted()) return 'stopped';
      }
      if (!waiting.size) break;
      if (progressed) continue;
      // nothing can move: wait for an exit, a health change, a stop or the next startTimeout
      const ac = new AbortController();
      const timers: Promise<unknown>[] = [woke, this.stopSignal];
      if (deadline !== Infinity) timers.push(this.deps.clock.sleepMs(Math.max(0, deadline - this.deps.clock.nowMs()), ac.signal).catch(() => undefined));
      await Promise.race(timers);
      ac.abort();
    }
    return this.stopWanted() ? 'stopped' : 'all';
  }

  /**
   * Whether `p` may start now: 'start', 'wait' (until `deadline`, real ms, when a startTimeout
   * bounds the wait), or 'never' with the agent's reason.
   */
  private dependencyVerdict(p: PreparedContainer, byName: Map<string, PreparedContainer>): { kind: 'start' } | { kind: 'wait'; deadline: number } | { kind: 'never'; reason: string } {
    let waitFor = false;
    let deadline = Infinity;
    const target = () => agentContainerText(p.def, 'NONE', 'RUNNING');
    for (const dep of p.def.dependsOn ?? []) {
      const d = byName.get(dep.containerName ?? '');
      if (!d) return { kind: 'never', reason: `dependency graph: container ordering dependency [<nil>] for target [${target()}] does not exist.` };
      const rc = d.running;
      const depText = () =>
        rc ? agentContainerText(d.def, rc.exit ? 'STOPPED' : 'RUNNING', 'RUNNING', rc.container.exitCode) : agentContainerText(d.def, d.skipped ? 'STOPPED' : 'NONE', d.skipped ? 'STOPPED' : 'RUNNING', d.container.exitCode);
      if (d.skipped) return { kind: 'never', reason: `dependency graph: failed to resolve container ordering dependency [${depText()}] for target [${target()}] because dependency will never start` };
      if (!rc) {
        waitFor = true;
        continue;
      }
      const stopped = !!rc.exit;
      const condition = dep.condition;
      const exitCode = rc.container.exitCode;
      const healthy = rc.container.healthStatus === 'HEALTHY';
      if (condition === 'SUCCESS' && stopped && exitCode !== 0) {
        return { kind: 'never', reason: `dependency graph: failed to resolve container ordering dependency [${depText()}] for target [${target()}] as dependency did not exit successfully.` };
      }
      if (condition === 'HEALTHY' && stopped && !healthy) {
        // the agent would leave the task PENDING for good; the harness says why instead (README, Fidelity)
        return { kind: 'never', reason: `dependency graph: failed to resolve container ordering dependency [${depText()}] for target [${target()}] as dependency exited before it was healthy.` };
      }
      const met = condition === 'START' ? true : condition === 'COMPLETE' ? stopped : condition === 'SUCCESS' ? stopped && exitCode === 0 : condition === 'HEALTHY' ? healthy : false;
      if (met) continue;
      // startTimeout of the dependency bounds COMPLETE/SUCCESS/HEALTHY waits, from its start
      const timeout = d.def.startTimeout;
      if (!stopped && timeout !== undefined && timeout > 0) {
        let floor = START_TIMEOUT_FLOOR_MS;
        if (condition === 'HEALTHY' && d.def.healthCheck) {
          floor = Math.max(floor, this.deps.clock.scaledMs(d.def.healthCheck.interval ?? 30) + Math.max(HEALTH_TIMEOUT_FLOOR_MS, this.deps.runtime.healthCheckTimeoutFloorMs ?? 0));
        }
        const at = rc.startedAtMs + Math.max(this.deps.clock.scaledMs(timeout), floor);
        if (this.deps.clock.nowMs() >= at) {
          return { kind: 'never', reason: `dependency graph: container ordering dependency [${depText()}] for target [${target()}] has timed out.` };
        }
        deadline = Math.min(deadline, at);
      }
      waitFor = true;
    }
    return waitFor ? { kind: 'wait', deadline } : { kind: 'start' };
  }

  /** Starts one container; false when it could not start (the task is then failing). */
  private async startContainer(p: PreparedContainer, eni: TaskEni): Promise<boolean> {
    const td = this.state.taskDefinition;
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
      const rc: RunningContainer = { def: p.def, definition: p.definition, container: p.container, handle, secretValues, startedAtMs: this.deps.clock.nowMs() };
      p.running = rc;
      this.containers.push(rc);
      p.container.lastStatus = 'RUNNING';
      this.containerEvent(p.container);
      void handle.exited.then((exit) => this.onContainerExit(rc, exit));
      // Docker runs a container's health check from its start (startPeriod counts from there)
      this.startHealthCheck(rc);
      return true;
    } catch (e) {
      // a runtime's own ECS error (CannotPullContainerError: the engine could not pull …) is the reason as it stands
      const m = msg(e);
      const pull = m.startsWith('CannotPullContainerError:');
      this.fail('TaskFailedToStart', /^[A-Za-z]+Error: /.test(m) ? m : `CannotStartContainerError: ${m}`, pull ? 'image-pull-failed' : 'failed-to-start');
      return false;
    }
  }

  private startHealthCheck(rc: RunningContainer): void {
    if (!rc.def.healthCheck || rc.exit) return;
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
      this.kick();
    });
    rc.checker.start();
  }

  /** A container of the task changed lastStatus (started, exited, stopped unstarted): the timeline says so. */
  private containerEvent(c: Container): void {
    this.deps.events.append('ecs.container.state', {
      cluster: this.state.clusterName,
      service: this.state.serviceName,
      taskId: this.taskId,
      container: c.name,
      lastStatus: c.lastStatus,
      ...(c.exitCode !== undefined && c.exitCode !== null ? { exitCode: c.exitCode } : {}),
      ...(c.reason ? { reason: c.reason } : {}),
    });
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
    if (rc.exit) return;
    rc.exit = exit;
    rc.checker?.stop();
    rc.container.lastStatus = 'STOPPED';
    rc.container.exitCode = exit.exitCode ?? (exit.signal === 'SIGKILL' ? 137 : exit.signal === 'SIGTERM' ? 143 : undefined);
    if (exit.oomKilled) rc.container.reason = OUT_OF_MEMORY_REASON;
    this.containerEvent(rc.container);
    // a non-essential container may exit (an init container's COMPLETE/SUCCESS): containers waiting on it may start
    this.kick();
    if (this.stopWanted()) return;
    if (rc.def.essential !== false) {
      this.outcome = 'essential-exit';
      this.store.requestStop(this.state, 'EssentialContainerExited', exit.oomKilled ? OUT_OF_MEMORY_REASON : 'Essential container in task exited');
    }
  }

  /**
   * STOPPING: every running container gets its stop signal, SIGKILL after its stopTimeout;
   * dependents first: a container is stopped only once every container whose dependsOn names it
   * has exited (the reverse of the start order, as ECS does).
   */
  private async stopContainers(): Promise<void> {
    const stopping = new Map<RunningContainer, Promise<void>>();
    const stopOne = (rc: RunningContainer, path: Set<RunningContainer>): Promise<void> => {
      let p = stopping.get(rc);
      if (p) return p;
      const dependents = this.containers.filter((o) => o !== rc && !path.has(o) && (o.def.dependsOn ?? []).some((d) => d.containerName === rc.def.name));
      const inPath = new Set(path).add(rc);
      p = (async () => {
        await Promise.all(dependents.map((o) => stopOne(o, inPath)));
        if (rc.exit) return;
        try {
          const exit = await this.deps.runtime.stop(rc.handle, Math.max(this.deps.clock.scaledMs(rc.definition.stopTimeout), STOP_TIMEOUT_FLOOR_MS));
          this.onContainerExit(rc, exit);
        } catch (e) {
          this.deps.events.append('harness.error', { where: 'runtime.stop', taskId: this.taskId, error: msg(e) });
        }
      })();
      stopping.set(rc, p);
      return p;
    };
    await Promise.all(this.containers.map((rc) => stopOne(rc, new Set())));
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
      await this.stopContainers();
      this.task.executionStoppedAt = now();
    }
    this.store.setTaskStatus(this.state, 'DEPROVISIONING');
    for (const c of this.task.containers ?? []) c.lastStatus = 'STOPPED';
    try {
      await this.deps.runtime.taskEnded?.(this.taskId);
    } catch (e) {
      this.deps.events.append('harness.error', { where: 'runtime.taskEnded', taskId: this.taskId, error: msg(e) });
    }
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
