import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type {
  Cluster,
  ContainerDefinition,
  Deployment,
  DeploymentConfiguration,
  Failure,
  KeyValuePair,
  LoadBalancer,
  NetworkConfiguration,
  Service,
  ServiceEvent,
  ServiceRegistry,
  Tag,
  Task,
  TaskDefinition,
} from '@aws-sdk/client-ecs';
import type { EventSink } from '../protocol/types.ts';
import { ecsErrors } from './errors.ts';
import { checkFargateSize, normalizeCpu, normalizeMemory } from './fargate.ts';

export interface EcsStoreDeps {
  account: string;
  region: string;
  now: () => Date;
  events?: EventSink;
}

/** Harness-side bookkeeping for a deployment that AWS does not show. */
export interface DeploymentState {
  /** the task had reached "healthy" once: failedTasks stops being evaluated */
  evaluationDone: boolean;
  /**
   * the service's loadBalancers when the deployment was made: its tasks register in these
   * (a load balancer added by UpdateService belongs to the new deployment, not the old tasks)
   */
  loadBalancers: LoadBalancer[];
}

export interface ServiceState {
  service: Service;
  clusterName: string;
  /** the last deployment that reached COMPLETED (rollback target) */
  lastCompleted?: { id: string; taskDefinition: string };
  deploymentState: Map<string, DeploymentState>;
  steadyAnnounced: boolean;
}

export interface TaskState {
  task: Task;
  clusterName: string;
  /** service name for service tasks */
  serviceName?: string;
  /** when the task was counted healthy for the deployment (ms) */
  healthySince?: number;
  /** the task definition as resolved at launch */
  taskDefinition: TaskDefinition;
  /** service tasks: the load balancers of the deployment that launched it (its ELB targets) */
  loadBalancers?: LoadBalancer[];
  /** RunTask's networkConfiguration (service tasks use their deployment's) */
  networkConfiguration?: NetworkConfiguration;
}

export type EcsChange =
  | { kind: 'task-created'; task: TaskState }
  | { kind: 'task-stop-requested'; task: TaskState }
  | { kind: 'service-changed'; service: ServiceState }
  | { kind: 'task-changed'; task: TaskState };

const FAMILY_RE = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * ECS control-plane state: clusters, task definitions, services, deployments, tasks, events.
 * Operations here are what the API does synchronously; the scheduler (harness/ecs) does the
 * rest over time and writes back through the same store.
 */
export class EcsStore extends EventEmitter {
  readonly clusters = new Map<string, Cluster>();
  /** family → revisions (index = revision - 1) */
  readonly taskDefinitions = new Map<string, TaskDefinition[]>();
  readonly tdTags = new Map<string, Tag[]>();
  /** `${cluster}/${service}` → state (incl. INACTIVE services) */
  readonly services = new Map<string, ServiceState>();
  /** task id → state */
  readonly tasks = new Map<string, TaskState>();

  constructor(readonly deps: EcsStoreDeps) {
    super();
    this.setMaxListeners(0);
  }

  // ---------------------------------------------------------------- helpers

  arn(resource: string): string {
    return `arn:aws:ecs:${this.deps.region}:${this.deps.account}:${resource}`;
  }

  private change(c: EcsChange): void {
    this.emit('change', c);
  }

  onChange(listener: (c: EcsChange) => void): () => void {
    this.on('change', listener);
    return () => this.off('change', listener);
  }

  /** a cluster name or its ARN → the cluster, else ClusterNotFoundException. */
  cluster(ref: string | undefined): Cluster {
    const name = clusterNameOf(ref ?? 'default');
    const c = this.clusters.get(name);
    if (!c || c.status === 'INACTIVE') throw ecsErrors.clusterNotFound();
    return c;
  }

  // ---------------------------------------------------------------- clusters

  createCluster(input: { clusterName?: string; capacityProviders?: string[]; tags?: Tag[]; settings?: Cluster['settings']; defaultCapacityProviderStrategy?: Cluster['defaultCapacityProviderStrategy'] }): Cluster {
    const name = input.clusterName ?? 'default';
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(name)) {
      throw ecsErrors.invalidParameter('Cluster name must be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.');
    }
    const existing = this.clusters.get(name);
    if (existing && existing.status === 'ACTIVE') return existing; // CreateCluster is idempotent
    const c: Cluster = {
      clusterArn: this.arn(`cluster/${name}`),
      clusterName: name,
      status: 'ACTIVE',
      registeredContainerInstancesCount: 0,
      runningTasksCount: 0,
      pendingTasksCount: 0,
      activeServicesCount: 0,
      statistics: [],
      tags: input.tags ?? [],
      settings: input.settings ?? [{ name: 'containerInsights', value: 'disabled' }],
      capacityProviders: input.capacityProviders ?? [],
      defaultCapacityProviderStrategy: input.defaultCapacityProviderStrategy ?? [],
    };
    this.clusters.set(name, c);
    this.deps.events?.append('ecs.cluster', { cluster: name, status: 'ACTIVE' });
    return c;
  }

  /** Cluster with live counts. */
  clusterView(c: Cluster): Cluster {
    const name = c.clusterName!;
    let running = 0;
    let pending = 0;
    for (const t of this.tasks.values()) {
      if (t.clusterName !== name) continue;
      if (t.task.lastStatus === 'RUNNING') running++;
      else if (['PROVISIONING', 'PENDING', 'ACTIVATING'].includes(t.task.lastStatus!)) pending++;
    }
    let services = 0;
    for (const s of this.services.values()) if (s.clusterName === name && s.service.status === 'ACTIVE') services++;
    return { ...c, runningTasksCount: running, pendingTasksCount: pending, activeServicesCount: services };
  }

  describeClusters(refs: string[] | undefined): { clusters: Cluster[]; failures: Failure[] } {
    const clusters: Cluster[] = [];
    const failures: Failure[] = [];
    for (const ref of refs && refs.length ? refs : ['default']) {
      const c = this.clusters.get(clusterNameOf(ref));
      if (c) clusters.push(this.clusterView(c));
      else failures.push({ arn: ref.startsWith('arn:') ? ref : this.arn(`cluster/${ref}`), reason: 'MISSING' });
    }
    return { clusters, failures };
  }

  deleteCluster(ref: string): Cluster {
    const c = this.cluster(ref);
    for (const s of this.services.values()) {
      if (s.clusterName === c.clusterName && s.service.status !== 'INACTIVE') throw ecsErrors.clusterContainsServices();
    }
    for (const t of this.tasks.values()) {
      if (t.clusterName === c.clusterName && t.task.lastStatus !== 'STOPPED') throw ecsErrors.clusterContainsTasks();
    }
    c.status = 'INACTIVE';
    this.deps.events?.append('ecs.cluster', { cluster: c.clusterName, status: 'INACTIVE' });
    return this.clusterView(c);
  }

  // ---------------------------------------------------------------- task definitions

  registerTaskDefinition(input: Record<string, any>): TaskDefinition {
    const family = input.family;
    if (typeof family !== 'string' || !family) throw ecsErrors.client('Family is required.');
    if (!FAMILY_RE.test(family)) {
      throw ecsErrors.client('Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.');
    }
    const defs = input.containerDefinitions;
    if (!Array.isArray(defs) || defs.length === 0) throw ecsErrors.client('Container list cannot be empty.');
    const requires: string[] = Array.isArray(input.requiresCompatibilities) ? input.requiresCompatibilities : [];
    const fargate = requires.includes('FARGATE');
    const networkMode = input.networkMode ?? (fargate ? undefined : 'bridge');
    const cpu = normalizeCpu(input.cpu);
    const memory = normalizeMemory(input.memory);
    const runtimePlatform = input.runtimePlatform as TaskDefinition['runtimePlatform'] | undefined;
    if (runtimePlatform?.cpuArchitecture && !['X86_64', 'ARM64'].includes(runtimePlatform.cpuArchitecture)) {
      throw ecsErrors.client(`Invalid cpuArchitecture value: ${runtimePlatform.cpuArchitecture}. Valid values are X86_64, ARM64.`);
    }
    if (runtimePlatform?.cpuArchitecture === 'ARM64' && runtimePlatform.operatingSystemFamily && runtimePlatform.operatingSystemFamily !== 'LINUX') {
      throw ecsErrors.client('ARM64 cpuArchitecture is only supported on LINUX operatingSystemFamily.');
    }
    if (fargate) {
      if (networkMode !== 'awsvpc') throw ecsErrors.client('Fargate only supports network mode \u2018awsvpc\u2019.');
      checkFargateSize(cpu, memory);
    }
    const names = new Set<string>();
    const containers: ContainerDefinition[] = defs.map((d: any, i: number) => {
      if (!d || typeof d !== 'object') throw ecsErrors.client(`containerDefinitions[${i}] must be a structure.`);
      if (!d.name) throw ecsErrors.client('Container.name should not be null or empty.');
      if (!/^[A-Za-z0-9_-]{1,255}$/.test(d.name)) throw ecsErrors.client(`Container.name contains invalid characters: ${d.name}`);
      if (names.has(d.name)) throw ecsErrors.client(`Duplicate container name found: ${d.name}.`);
      names.add(d.name);
      if (!d.image) throw ecsErrors.client('Container.image should not be null or empty.');
      const hc = d.healthCheck;
      if (hc) validateHealthCheck(hc);
      if (fargate && d.logConfiguration?.logDriver === 'awslogs' && !input.executionRoleArn) {
        throw ecsErrors.client('Fargate requires task definition to have execution role ARN to support log driver awslogs.');
      }
      if (fargate && Array.isArray(d.secrets) && d.secrets.length && !input.executionRoleArn) {
        throw ecsErrors.client('Fargate requires task definition to have execution role ARN to support secrets.');
      }
      const portMappings = (d.portMappings ?? []).map((p: any) => {
        if (p.containerPort === undefined) throw ecsErrors.client('Container port should not be null or empty.');
        if (networkMode === 'awsvpc' && p.hostPort !== undefined && p.hostPort !== p.containerPort) {
          throw ecsErrors.client('When networkMode=awsvpc, the host ports and container ports in port mappings must match.');
        }
        return { ...p, containerPort: p.containerPort, hostPort: networkMode === 'awsvpc' ? p.containerPort : p.hostPort ?? 0, protocol: p.protocol ?? 'tcp' };
      });
      return {
        ...d,
        cpu: d.cpu ?? 0,
        portMappings,
        essential: d.essential ?? true,
        environment: d.environment ?? [],
        mountPoints: d.mountPoints ?? [],
        volumesFrom: d.volumesFrom ?? [],
        ...(hc ? { healthCheck: { interval: 30, timeout: 5, retries: 3, ...hc } } : {}),
      } as ContainerDefinition;
    });
    if (!containers.some((c) => c.essential)) throw ecsErrors.client('Task definition must have at least one essential container.');
    validateContainerDependencies(containers);
    const list = this.taskDefinitions.get(family) ?? [];
    const revision = list.length + 1;
    const td: TaskDefinition = {
      taskDefinitionArn: this.arn(`task-definition/${family}:${revision}`),
      containerDefinitions: containers,
      family,
      ...(input.taskRoleArn ? { taskRoleArn: input.taskRoleArn } : {}),
      ...(input.executionRoleArn ? { executionRoleArn: input.executionRoleArn } : {}),
      networkMode,
      revision,
      volumes: input.volumes ?? [],
      status: 'ACTIVE',
      requiresAttributes: requiresAttributesOf(containers, networkMode, input),
      placementConstraints: input.placementConstraints ?? [],
      compatibilities: networkMode === 'awsvpc' ? ['EC2', 'FARGATE'] : ['EC2'],
      ...(runtimePlatform ? { runtimePlatform: { operatingSystemFamily: 'LINUX', ...runtimePlatform } } : {}),
      requiresCompatibilities: requires as TaskDefinition['requiresCompatibilities'],
      ...(cpu ? { cpu } : {}),
      ...(memory ? { memory } : {}),
      ...(input.ephemeralStorage ? { ephemeralStorage: input.ephemeralStorage } : {}),
      registeredAt: this.deps.now(),
      registeredBy: `arn:aws:iam::${this.deps.account}:root`,
    };
    list.push(td);
    this.taskDefinitions.set(family, list);
    if (Array.isArray(input.tags)) this.tdTags.set(td.taskDefinitionArn!, input.tags);
    this.deps.events?.append('ecs.taskdefinition.registered', { family, revision, arn: td.taskDefinitionArn });
    return td;
  }

  /** family | family:rev | ARN → the task definition (latest ACTIVE for a bare family). */
  findTaskDefinition(ref: string): TaskDefinition | undefined {
    let s = ref;
    const m = /^arn:aws[a-z-]*:ecs:[^:]*:\d*:task-definition\/(.+)$/.exec(ref);
    if (m) s = m[1]!;
    const idx = s.lastIndexOf(':');
    if (idx > 0 && /^\d+$/.test(s.slice(idx + 1))) {
      const fam = this.taskDefinitions.get(s.slice(0, idx));
      return fam?.[Number(s.slice(idx + 1)) - 1];
    }
    const fam = this.taskDefinitions.get(s);
    if (!fam) return undefined;
    for (let i = fam.length - 1; i >= 0; i--) if (fam[i]!.status === 'ACTIVE') return fam[i];
    return undefined;
  }

  /** For RunTask/CreateService/UpdateService: must exist and be ACTIVE. */
  usableTaskDefinition(ref: string, inactiveError: 'client' | 'invalidParameter'): TaskDefinition {
    const td = this.findTaskDefinition(ref);
    if (!td) {
      throw inactiveError === 'client' ? ecsErrors.client('TaskDefinition not found.') : ecsErrors.invalidParameter('TaskDefinition not found.');
    }
    if (td.status !== 'ACTIVE') {
      throw inactiveError === 'client' ? ecsErrors.client('TaskDefinition is inactive') : ecsErrors.invalidParameter('TaskDefinition is inactive');
    }
    return td;
  }

  deregisterTaskDefinition(ref: string): TaskDefinition {
    if (!/:\d+$/.test(ref)) throw ecsErrors.client('Invalid revision number. Number: ' + (ref.split(':').pop() ?? ''));
    const td = this.findTaskDefinition(ref);
    if (!td) throw ecsErrors.client('Unable to describe task definition.');
    td.status = 'INACTIVE';
    td.deregisteredAt = this.deps.now();
    return td;
  }

  // ---------------------------------------------------------------- services

  serviceKey(cluster: string, name: string): string {
    return `${cluster}/${name}`;
  }

  /** name or ARN → state (any status), or undefined. */
  findService(clusterName: string, ref: string): ServiceState | undefined {
    const name = ref.startsWith('arn:') ? ref.split('/').pop()! : ref;
    return this.services.get(this.serviceKey(clusterName, name));
  }

  createService(input: Record<string, any>): Service {
    const cluster = this.cluster(input.cluster);
    const clusterName = cluster.clusterName!;
    const name: string = input.serviceName;
    if (!name || !/^[A-Za-z0-9_-]{1,255}$/.test(name)) {
      throw ecsErrors.invalidParameter('Service name must be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.');
    }
    const existing = this.findService(clusterName, name);
    if (existing && existing.service.status !== 'INACTIVE') throw ecsErrors.invalidParameter('Creation of service was not idempotent.');
    const scheduling = input.schedulingStrategy ?? 'REPLICA';
    if (input.deploymentController?.type && input.deploymentController.type !== 'ECS') {
      throw ecsErrors.invalidParameter(`Deployment controller type ${input.deploymentController.type} is not supported by this emulator (only ECS rolling updates).`);
    }
    if (!input.taskDefinition) throw ecsErrors.invalidParameter('TaskDefinition must be specified.');
    const td = this.usableTaskDefinition(input.taskDefinition, 'client');
    if (scheduling === 'REPLICA' && input.desiredCount === undefined) {
      throw ecsErrors.invalidParameter('Desired count must be specified for services with REPLICA scheduling strategy.');
    }
    const desiredCount: number = input.desiredCount ?? 0;
    if (desiredCount < 0) throw ecsErrors.invalidParameter('Desired count must be greater than or equal to 0.');
    const launchType = input.launchType ?? (input.capacityProviderStrategy ? undefined : 'EC2');
    const network = this.checkNetwork(td, input.networkConfiguration, launchType);
    if (launchType === 'FARGATE' && !(td.compatibilities ?? []).includes('FARGATE')) {
      throw ecsErrors.invalidParameter('Task definition does not support launch_type FARGATE.');
    }
    const loadBalancers = this.checkLoadBalancers(td, input.loadBalancers);
    const serviceRegistries = this.checkRegistries(td, input.serviceRegistries);
    const dc = deploymentConfigurationOf(input.deploymentConfiguration);
    const now = this.deps.now();
    const service: Service = {
      serviceArn: this.arn(`service/${clusterName}/${name}`),
      serviceName: name,
      clusterArn: cluster.clusterArn,
      loadBalancers,
      serviceRegistries,
      status: 'ACTIVE',
      desiredCount,
      runningCount: 0,
      pendingCount: 0,
      launchType,
      ...(launchType === 'FARGATE' ? { platformVersion: input.platformVersion ?? 'LATEST', platformFamily: 'Linux' } : {}),
      ...(input.capacityProviderStrategy ? { capacityProviderStrategy: input.capacityProviderStrategy } : {}),
      taskDefinition: td.taskDefinitionArn,
      deploymentConfiguration: dc,
      deployments: [],
      events: [],
      createdAt: now,
      placementConstraints: input.placementConstraints ?? [],
      placementStrategy: input.placementStrategy ?? [],
      ...(network ? { networkConfiguration: network } : {}),
      healthCheckGracePeriodSeconds: input.healthCheckGracePeriodSeconds ?? 0,
      schedulingStrategy: scheduling,
      deploymentController: { type: 'ECS' },
      createdBy: `arn:aws:iam::${this.deps.account}:root`,
      enableECSManagedTags: input.enableECSManagedTags ?? false,
      propagateTags: input.propagateTags ?? 'NONE',
      enableExecuteCommand: input.enableExecuteCommand ?? false,
      ...(input.tags ? { tags: input.tags } : {}),
    };
    const state: ServiceState = { service, clusterName, deploymentState: new Map(), steadyAnnounced: false };
    this.services.set(this.serviceKey(clusterName, name), state);
    this.newDeployment(state, td.taskDefinitionArn!);
    this.deps.events?.append('ecs.service.created', { cluster: clusterName, service: name, taskDefinition: td.taskDefinitionArn });
    this.change({ kind: 'service-changed', service: state });
    return service;
  }

  private checkNetwork(td: TaskDefinition, nc: NetworkConfiguration | undefined, launchType: string | undefined): NetworkConfiguration | undefined {
    if (td.networkMode === 'awsvpc') {
      const vpc = nc?.awsvpcConfiguration;
      if (!vpc) throw ecsErrors.invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
      if (!Array.isArray(vpc.subnets) || vpc.subnets.length === 0) throw ecsErrors.invalidParameter('subnets can not be empty.');
      if (vpc.subnets.length > 16) throw ecsErrors.invalidParameter('subnets can have at most 16 items.');
      if ((vpc.securityGroups ?? []).length > 5) throw ecsErrors.invalidParameter('securityGroups can have at most 5 items.');
      return { awsvpcConfiguration: { subnets: vpc.subnets, securityGroups: vpc.securityGroups ?? [], assignPublicIp: vpc.assignPublicIp ?? 'DISABLED' } };
    }
    if (nc && launchType !== 'FARGATE') {
      throw ecsErrors.invalidParameter("Network Configuration is not valid for the given networkMode of this task definition.");
    }
    return undefined;
  }

  private checkLoadBalancers(td: TaskDefinition, lbs: LoadBalancer[] | undefined): LoadBalancer[] {
    const out: LoadBalancer[] = [];
    for (const lb of lbs ?? []) {
      if (!lb.targetGroupArn && !lb.loadBalancerName) throw ecsErrors.invalidParameter('targetGroupArn or loadBalancerName must be specified.');
      const c = td.containerDefinitions?.find((x) => x.name === lb.containerName);
      if (!c) throw ecsErrors.invalidParameter(`The container ${lb.containerName} does not exist in the task definition.`);
      if (!(c.portMappings ?? []).some((p) => p.containerPort === lb.containerPort)) {
        throw ecsErrors.invalidParameter(`The container ${lb.containerName} did not have a container port ${lb.containerPort} defined.`);
      }
      out.push({ targetGroupArn: lb.targetGroupArn, containerName: lb.containerName, containerPort: lb.containerPort });
    }
    return out;
  }

  private checkRegistries(td: TaskDefinition, regs: ServiceRegistry[] | undefined): ServiceRegistry[] {
    const out: ServiceRegistry[] = [];
    for (const r of regs ?? []) {
      if (!r.registryArn) throw ecsErrors.invalidParameter('registryArn must be specified.');
      if (r.port !== undefined && (r.containerName || r.containerPort !== undefined)) {
        throw ecsErrors.invalidParameter('You cannot specify both port and containerName/containerPort for a service registry.');
      }
      if (r.containerName && !td.containerDefinitions?.some((c) => c.name === r.containerName)) {
        throw ecsErrors.invalidParameter(`The container ${r.containerName} does not exist in the task definition.`);
      }
      out.push({ ...r });
    }
    return out;
  }

  /** Makes a new PRIMARY deployment; the previous PRIMARY becomes ACTIVE. */
  newDeployment(state: ServiceState, taskDefinitionArn: string): Deployment {
    const id = `ecs-svc/${deploymentNumber()}`;
    return this.promote(state, this.deploymentOf(state, id, taskDefinitionArn, `ECS deployment ${id} in progress.`), (state.service.loadBalancers ?? []).map((lb) => ({ ...lb })));
  }

  /**
   * The circuit breaker's rollback (the failed PRIMARY is already FAILED): a new PRIMARY
   * deployment created now, on the task definition of the last COMPLETED deployment and under
   * that deployment's id, whose rolloutStateReason names it. AWS's own output shows the id:
   * the rollback PRIMARY reads "ECS deployment circuit breaker: rolling back to deploymentId
   * ecs-svc/N." and later "ECS deployment ecs-svc/N completed.", and the service event
   * "(deployment ecs-svc/N) deployment completed." follows "rolling back to deployment
   * ecs-svc/N.". The target's tasks, still running beside the failed ones, belong to it.
   */
  rollbackDeployment(state: ServiceState, target: { id: string; taskDefinition: string }): Deployment {
    const s = state.service;
    const old = s.deployments!.find((d) => d.id === target.id);
    const dep = this.deploymentOf(state, target.id, target.taskDefinition, `ECS deployment circuit breaker: rolling back to deploymentId ${target.id}.`);
    if (old?.networkConfiguration) dep.networkConfiguration = old.networkConfiguration;
    if (old) s.deployments = s.deployments!.filter((d) => d !== old);
    const kept = state.deploymentState.get(target.id)?.loadBalancers;
    return this.promote(state, dep, kept ?? (s.loadBalancers ?? []).map((lb) => ({ ...lb })));
  }

  private deploymentOf(state: ServiceState, id: string, taskDefinitionArn: string, reason: string): Deployment {
    const now = this.deps.now();
    const s = state.service;
    return {
      id,
      status: 'PRIMARY',
      taskDefinition: taskDefinitionArn,
      desiredCount: s.desiredCount,
      pendingCount: 0,
      runningCount: 0,
      failedTasks: 0,
      createdAt: now,
      updatedAt: now,
      launchType: s.launchType,
      ...(s.platformVersion ? { platformVersion: s.platformVersion === 'LATEST' ? '1.4.0' : s.platformVersion, platformFamily: 'Linux' } : {}),
      ...(s.networkConfiguration ? { networkConfiguration: s.networkConfiguration } : {}),
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: reason,
    };
  }

  private promote(state: ServiceState, dep: Deployment, loadBalancers: LoadBalancer[]): Deployment {
    const s = state.service;
    for (const d of s.deployments!) if (d.status === 'PRIMARY') d.status = 'ACTIVE';
    s.deployments!.unshift(dep);
    s.taskDefinition = dep.taskDefinition;
    state.deploymentState.set(dep.id!, { evaluationDone: false, loadBalancers });
    state.steadyAnnounced = false;
    this.deps.events?.append('ecs.deployment', {
      cluster: state.clusterName,
      service: s.serviceName,
      deployment: dep.id,
      status: 'PRIMARY',
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: dep.rolloutStateReason,
      taskDefinition: dep.taskDefinition,
    });
    return dep;
  }

  updateService(input: Record<string, any>): Service {
    const cluster = this.cluster(input.cluster);
    if (!input.service) throw ecsErrors.invalidParameter('service must be specified.');
    const state = this.findService(cluster.clusterName!, input.service);
    if (!state) throw ecsErrors.serviceNotFound();
    const s = state.service;
    if (s.status !== 'ACTIVE') throw ecsErrors.serviceNotActive();
    let newDeployment = input.forceNewDeployment === true;
    let td = this.findTaskDefinition(s.taskDefinition!)!;
    if (input.taskDefinition) {
      td = this.usableTaskDefinition(input.taskDefinition, 'client');
      if (td.taskDefinitionArn !== s.taskDefinition) newDeployment = true;
    }
    if (input.desiredCount !== undefined) {
      if (input.desiredCount < 0) throw ecsErrors.invalidParameter('Desired count must be greater than or equal to 0.');
      s.desiredCount = input.desiredCount;
      const primary = s.deployments![0];
      if (primary) primary.desiredCount = input.desiredCount;
      state.steadyAnnounced = false;
    }
    if (input.deploymentConfiguration) {
      s.deploymentConfiguration = deploymentConfigurationOf({ ...s.deploymentConfiguration, ...input.deploymentConfiguration });
    }
    if (input.healthCheckGracePeriodSeconds !== undefined) s.healthCheckGracePeriodSeconds = input.healthCheckGracePeriodSeconds;
    if (input.networkConfiguration) {
      s.networkConfiguration = this.checkNetwork(td, input.networkConfiguration, s.launchType);
      newDeployment = true;
    }
    if (input.loadBalancers) {
      s.loadBalancers = this.checkLoadBalancers(td, input.loadBalancers);
      newDeployment = true;
    }
    if (input.serviceRegistries) {
      s.serviceRegistries = this.checkRegistries(td, input.serviceRegistries);
      newDeployment = true;
    }
    if (input.enableExecuteCommand !== undefined) s.enableExecuteCommand = input.enableExecuteCommand;
    if (newDeployment) this.newDeployment(state, td.taskDefinitionArn!);
    this.deps.events?.append('ecs.service.updated', {
      cluster: state.clusterName,
      service: s.serviceName,
      newDeployment,
      taskDefinition: s.taskDefinition,
      desiredCount: s.desiredCount,
    });
    this.change({ kind: 'service-changed', service: state });
    return s;
  }

  deleteService(input: { cluster?: string; service: string; force?: boolean }): Service {
    const cluster = this.cluster(input.cluster);
    const state = this.findService(cluster.clusterName!, input.service);
    if (!state || state.service.status === 'INACTIVE') throw ecsErrors.serviceNotFound();
    const s = state.service;
    if (s.status === 'DRAINING') return s;
    if ((s.desiredCount ?? 0) > 0 && !input.force) {
      throw ecsErrors.invalidParameter('The service cannot be stopped while it is scaled above 0.');
    }
    s.desiredCount = 0;
    s.status = 'DRAINING';
    for (const d of s.deployments!) d.desiredCount = 0;
    this.deps.events?.append('ecs.service.status', { cluster: state.clusterName, service: s.serviceName, status: 'DRAINING' });
    this.change({ kind: 'service-changed', service: state });
    return s;
  }

  /** Appends a service event (newest first, at most 100) and to the timeline. */
  addServiceEvent(state: ServiceState, message: string): ServiceEvent {
    const ev: ServiceEvent = { id: randomUUIDLike(), createdAt: this.deps.now(), message };
    state.service.events!.unshift(ev);
    if (state.service.events!.length > 100) state.service.events!.length = 100;
    this.deps.events?.append('ecs.service.event', { cluster: state.clusterName, service: state.service.serviceName, message });
    return ev;
  }

  // ---------------------------------------------------------------- tasks

  /** Creates a task in PROVISIONING; the scheduler's task runner takes it from there. */
  createTask(args: {
    clusterName: string;
    taskDefinition: TaskDefinition;
    launchType?: string;
    networkConfiguration?: NetworkConfiguration;
    group?: string;
    startedBy?: string;
    serviceName?: string;
    overrides?: Task['overrides'];
    tags?: Tag[];
    loadBalancers?: LoadBalancer[];
  }): TaskState {
    const cluster = this.clusters.get(args.clusterName)!;
    const id = randomBytes(16).toString('hex');
    const td = args.taskDefinition;
    const now = this.deps.now();
    const taskArn = this.arn(`task/${args.clusterName}/${id}`);
    const containers = (td.containerDefinitions ?? []).map((c) => ({
      containerArn: this.arn(`container/${args.clusterName}/${id}/${randomUUIDLike()}`),
      taskArn,
      name: c.name,
      image: c.image,
      lastStatus: 'PENDING',
      networkInterfaces: [],
      ...(c.healthCheck ? { healthStatus: 'UNKNOWN' as const } : {}),
      cpu: String(c.cpu ?? 0),
      ...(c.memory !== undefined ? { memory: String(c.memory) } : {}),
    }));
    const task: Task = {
      taskArn,
      clusterArn: cluster.clusterArn,
      taskDefinitionArn: td.taskDefinitionArn,
      containers,
      lastStatus: 'PROVISIONING',
      desiredStatus: 'RUNNING',
      cpu: td.cpu,
      memory: td.memory,
      launchType: (args.launchType as Task['launchType']) ?? 'FARGATE',
      ...(args.launchType === 'FARGATE' || !args.launchType ? { platformVersion: '1.4.0', platformFamily: 'Linux', capacityProviderName: 'FARGATE' } : {}),
      group: args.group ?? `family:${td.family}`,
      ...(args.startedBy ? { startedBy: args.startedBy } : {}),
      attachments: [],
      connectivity: 'CONNECTED',
      connectivityAt: now,
      createdAt: now,
      healthStatus: 'UNKNOWN',
      version: 1,
      overrides: args.overrides ?? { containerOverrides: [], inferenceAcceleratorOverrides: [] },
      tags: args.tags ?? [],
      ephemeralStorage: { sizeInGiB: 20 },
      enableExecuteCommand: false,
    };
    const state: TaskState = {
      task,
      clusterName: args.clusterName,
      serviceName: args.serviceName,
      taskDefinition: td,
      networkConfiguration: args.networkConfiguration,
      ...(args.loadBalancers ? { loadBalancers: args.loadBalancers } : {}),
    };
    this.tasks.set(id, state);
    this.deps.events?.append('ecs.task.state', {
      cluster: args.clusterName,
      service: args.serviceName,
      taskId: id,
      lastStatus: 'PROVISIONING',
      taskDefinition: td.taskDefinitionArn,
      startedBy: args.startedBy,
    });
    this.change({ kind: 'task-created', task: state });
    return state;
  }

  /** Records a lifecycle move; bumps version; logs it. */
  setTaskStatus(t: TaskState, lastStatus: string, extra: Partial<Task> = {}): void {
    Object.assign(t.task, extra);
    t.task.lastStatus = lastStatus;
    t.task.version = (t.task.version ?? 0) + 1;
    this.deps.events?.append('ecs.task.state', {
      cluster: t.clusterName,
      service: t.serviceName,
      taskId: taskIdOf(t.task.taskArn!),
      lastStatus,
      ...(extra.stopCode ? { stopCode: extra.stopCode } : {}),
      ...(extra.stoppedReason ? { stoppedReason: extra.stoppedReason } : {}),
    });
    this.change({ kind: 'task-changed', task: t });
  }

  /** StopTask, the scheduler's scale-in and health replacements all come through here. */
  requestStop(t: TaskState, stopCode: Task['stopCode'], reason: string): void {
    if (t.task.desiredStatus === 'STOPPED') return;
    t.task.desiredStatus = 'STOPPED';
    t.task.stopCode = stopCode;
    t.task.stoppedReason = reason;
    t.task.stoppingAt = this.deps.now();
    t.task.version = (t.task.version ?? 0) + 1;
    this.deps.events?.append('ecs.task.stop-requested', {
      cluster: t.clusterName,
      service: t.serviceName,
      taskId: taskIdOf(t.task.taskArn!),
      stopCode,
      stoppedReason: reason,
    });
    this.change({ kind: 'task-stop-requested', task: t });
  }

  findTask(clusterName: string, ref: string): TaskState | undefined {
    const id = ref.includes('/') ? ref.split('/').pop()! : ref;
    const t = this.tasks.get(id);
    return t && t.clusterName === clusterName ? t : undefined;
  }

  tasksOfService(state: ServiceState): TaskState[] {
    const out: TaskState[] = [];
    for (const t of this.tasks.values()) {
      if (t.clusterName === state.clusterName && t.serviceName === state.service.serviceName) out.push(t);
    }
    return out;
  }
}

// ------------------------------------------------------------------ pure helpers

export function clusterNameOf(ref: string): string {
  const m = /^arn:aws[a-z-]*:ecs:[^:]*:\d*:cluster\/(.+)$/.exec(ref);
  return m ? m[1]! : ref;
}

export function taskIdOf(taskArn: string): string {
  return taskArn.split('/').pop()!;
}

function deploymentNumber(): string {
  // ecs-svc/<19 digits>
  let s = String(1 + Math.floor(Math.random() * 9));
  for (let i = 0; i < 18; i++) s += String(Math.floor(Math.random() * 10));
  return s;
}

function randomUUIDLike(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function deploymentConfigurationOf(dc: any): DeploymentConfiguration {
  const maximumPercent = dc?.maximumPercent ?? 200;
  const minimumHealthyPercent = dc?.minimumHealthyPercent ?? 100;
  if (maximumPercent < 100) throw ecsErrors.invalidParameter('maximumPercent must be at least 100.');
  if (minimumHealthyPercent < 0 || minimumHealthyPercent > 100) throw ecsErrors.invalidParameter('minimumHealthyPercent must be between 0 and 100.');
  const cb = dc?.deploymentCircuitBreaker;
  if (cb && (typeof cb.enable !== 'boolean' || typeof cb.rollback !== 'boolean')) {
    throw ecsErrors.invalidParameter('deploymentCircuitBreaker requires both enable and rollback.');
  }
  return {
    deploymentCircuitBreaker: { enable: cb?.enable ?? false, rollback: cb?.rollback ?? false },
    maximumPercent,
    minimumHealthyPercent,
    ...(dc?.alarms ? { alarms: dc.alarms } : {}),
  };
}

function validateHealthCheck(hc: any): void {
  if (!Array.isArray(hc.command) || hc.command.length === 0) throw ecsErrors.client('healthCheck.command should not be null or empty.');
  if (!['CMD', 'CMD-SHELL', 'NONE'].includes(hc.command[0])) {
    throw ecsErrors.client(`Invalid healthCheck.command: the first item must be CMD, CMD-SHELL or NONE.`);
  }
  const ranges: [string, number, number][] = [['interval', 5, 300], ['timeout', 2, 60], ['retries', 1, 10], ['startPeriod', 0, 300]];
  for (const [k, lo, hi] of ranges) {
    const v = hc[k];
    if (v !== undefined && (!Number.isInteger(v) || v < lo || v > hi)) {
      throw ecsErrors.client(`Invalid healthCheck.${k}: must be between ${lo} and ${hi}.`);
    }
  }
}

const CONTAINER_CONDITIONS = ['START', 'COMPLETE', 'SUCCESS', 'HEALTHY'];

/**
 * containerDefinitions[].dependsOn as RegisterTaskDefinition checks it. Real texts: a
 * dependency on a container that does not exist ("Cannot depend on container + '<name>'
 * because it does not exist", the " + " included) and a SUCCESS/COMPLETE dependency on an
 * essential container. Harness wording (README, Fidelity): an unknown condition, HEALTHY on a
 * container without a health check, and a cycle (after ECS's "Container links should not have
 * a cycle").
 */
function validateContainerDependencies(containers: ContainerDefinition[]): void {
  const byName = new Map(containers.map((c) => [c.name!, c]));
  for (const c of containers) {
    if (c.dependsOn === undefined || c.dependsOn === null) continue;
    if (!Array.isArray(c.dependsOn)) throw ecsErrors.client(`Container.dependsOn of ${c.name} must be a list.`);
    for (const d of c.dependsOn) {
      const name = d?.containerName;
      const target = typeof name === 'string' ? byName.get(name) : undefined;
      if (!target) throw ecsErrors.client(`Cannot depend on container + '${name ?? ''}' because it does not exist`);
      if (!CONTAINER_CONDITIONS.includes(d.condition as string)) {
        throw ecsErrors.client(`Invalid container dependency condition: ${d.condition ?? null}. Valid values are ${CONTAINER_CONDITIONS.join(', ')}.`);
      }
      if ((d.condition === 'SUCCESS' || d.condition === 'COMPLETE') && target.essential !== false) {
        throw ecsErrors.client('A dependency container with SUCCESS or COMPLETE condition cannot be an essential container');
      }
      if (d.condition === 'HEALTHY' && (!target.healthCheck || target.healthCheck.command?.[0] === 'NONE')) {
        throw ecsErrors.client(`A dependency container with HEALTHY condition must have a health check: ${name} has none`);
      }
    }
  }
  // no container may wait, directly or not, on itself
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): boolean => {
    const st = state.get(name);
    if (st === 'done') return false;
    if (st === 'visiting') return true;
    state.set(name, 'visiting');
    for (const d of byName.get(name)?.dependsOn ?? []) if (visit(d.containerName!)) return true;
    state.set(name, 'done');
    return false;
  };
  for (const c of containers) if (visit(c.name!)) throw ecsErrors.client('Container dependencies should not have a cycle');
}

function requiresAttributesOf(containers: ContainerDefinition[], networkMode: string | undefined, input: any): { name: string }[] {
  const attrs = new Set<string>();
  if (networkMode === 'awsvpc') attrs.add('ecs.capability.task-eni');
  if (input.executionRoleArn) attrs.add('ecs.capability.execution-role-awslogs');
  for (const c of containers) {
    if (c.logConfiguration?.logDriver === 'awslogs') attrs.add('com.amazonaws.ecs.capability.logging-driver.awslogs');
    if (c.healthCheck) attrs.add('ecs.capability.container-health-check');
    if (c.secrets?.length) attrs.add('ecs.capability.secrets.asm.environment-variables');
    if (/\.dkr\.ecr\./.test(c.image ?? '')) attrs.add('ecs.capability.execution-role-ecr-pull');
  }
  if (input.taskRoleArn) attrs.add('com.amazonaws.ecs.capability.task-iam-role');
  return [...attrs].map((name) => ({ name }));
}

export function envOf(pairs: KeyValuePair[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) if (p.name) out[p.name] = p.value ?? '';
  return out;
}
