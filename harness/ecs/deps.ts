import type { Clock } from '../clock.ts';
import type { EventLog } from '../events.ts';
import type { TaskRuntime, ImageConfig } from '../runtime/types.ts';

/** What the scheduler needs from ECR: the image a task definition names, or why it cannot be pulled. */
export interface ImageSource {
  /** resolves `<acct>.dkr.ecr.<r>.amazonaws.com/<repo>:<tag>` (or @digest); throws Error(stoppedReason text) */
  resolve(uri: string): { digest: string; platforms: { os: string; architecture: string }[]; config?: ImageConfig };
}

/**
 * Secrets Manager as the task execution role sees it, whichever provider serves it (ours, or
 * LocalStack over HTTP). Throws / rejects with Error(stoppedReason text).
 */
export interface SecretSource {
  resolve(valueFrom: string): Promise<string> | string;
}

/** The awslogs driver. */
export interface LogSink {
  append(group: string, stream: string, message: string, timestampMs: number, createGroup: boolean): void;
}

/** Cloud Map as ECS uses it for serviceRegistries. */
export interface ServiceRegistrySink {
  register(registryArn: string, instanceId: string, attributes: Record<string, string>): void;
  setHealth(registryArn: string, instanceId: string, status: 'HEALTHY' | 'UNHEALTHY'): void;
  deregister(registryArn: string, instanceId: string): void;
}

/** ELB target groups as ECS uses them for a service's loadBalancers (ip targets). */
export interface LoadBalancerSink {
  /** registers the task's (ip, containerPort) in a target group */
  register(targetGroupArn: string, ip: string, port: number): void;
  /** starts draining the target; returns the deregistration delay (AWS seconds) to wait */
  deregister(targetGroupArn: string, ip: string, port: number): number;
}

/** A task's ENI in the VPC fabric. */
export interface TaskEni {
  eniId: string;
  ip: string;
  mac: string;
  subnetId: string;
  availabilityZone: string;
  privateDnsName: string;
  /** the DNS server the task resolves through ("host:port"), if the fabric runs one */
  dnsServer?: string;
  /** DNS zones that server is authoritative for */
  dnsZones?: string[];
  /** network namespace name, when the task has its own */
  netns?: string;
}

/** An address in the VPC for something the harness itself runs (an ALB node, SurrealDB, a probe). */
export interface HostAttachment {
  ip: string;
  /** the namespace to run a process in, when the fabric gives hosts their own */
  netns?: string;
}

export interface TaskNetwork {
  /** true when each ENI really has its own network stack and security groups are enforced */
  readonly isolationEnforced: boolean;
  /** an address outside the VPC that tasks reach through their default route ("the internet"), when the fabric has one */
  readonly internetIp?: string;
  attach(taskId: string, subnets: string[], securityGroups: string[]): Promise<TaskEni>;
  detach(taskId: string): Promise<void>;
  /** a harness host in the VPC, member of the given security groups (by group id) */
  attachHost(name: string, subnets: string[], securityGroups: string[]): Promise<HostAttachment>;
  detachHost(name: string): Promise<void>;
}

/** What the harness knows of a container when it starts (for SchedulerDeps.stubEnv). */
export interface StubEnvContext {
  taskDefinition: import('@aws-sdk/client-ecs').TaskDefinition;
  container: import('@aws-sdk/client-ecs').ContainerDefinition;
  /** the service's loadBalancers and serviceRegistries, when the task belongs to a service */
  service?: import('@aws-sdk/client-ecs').Service;
  /** the container's environment after secrets were resolved (names only matter; never log values) */
  env: Record<string, string>;
  image: ImageConfig;
}

export interface SchedulerDeps {
  clock: Clock;
  events: EventLog;
  runtime: TaskRuntime;
  images: ImageSource;
  secrets: SecretSource;
  logs: LogSink;
  registries?: ServiceRegistrySink;
  /** ELB target groups for services with loadBalancers */
  loadBalancing?: LoadBalancerSink;
  network: TaskNetwork;
  runId: string;
  region: string;
  /**
   * what the harness adds to every task (a documented simplification): files (the run CA) and
   * env (NODE_EXTRA_CA_CERTS …), under the task definition's environment
   */
  taskTrust?: { files: { path: string; content: string }[]; env: Record<string, string> };
  /**
   * environment the harness adds to a container whose image is one of its own stubs: what the
   * stub serves (ports, health paths, dependencies, data/analysis roles), derived from the
   * task definition and what fronts the service, never from names. Not called for other images.
   */
  stubEnv?(ctx: StubEnvContext): Record<string, string>;
  /** architecture a task runs as when runtimePlatform is absent (Fargate default X86_64) */
}
