/**
 * The seam between "ECS decided to run a container" and "something runs". Two
 * implementations (process/, docker/) pass one contract suite (runtime/contract.ts).
 * Runtimes never parse AWS requests; they get a resolved ContainerSpec.
 */

/** Registry credentials as the Docker Engine API takes them (X-Registry-Auth of a pull). */
export interface RegistryCredentials {
  username: string;
  password: string;
  serveraddress: string;
}

/**
 * An image in a registry (a user's own image pushed to ECR): the engine pulls `ref` when it is
 * not present locally and runs it with the image's own Entrypoint, Cmd, Env, WorkingDir and
 * User, under what the container definition sets. Only the docker runtime can run it.
 */
export interface RegistryImage {
  /** what the engine pulls, e.g. `<host>/<repo>@sha256:<hex>` (or `:<tag>`) */
  ref: string;
  /** `linux/arm64` …: the platform pulled from an index, checked against the pulled image */
  platform?: string;
  /** called at pull time (tokens expire); absent for a registry that needs none */
  credentials?: () => RegistryCredentials;
}

/** The runnable part of an image, as its config says (OCI image config: Env, Entrypoint, Cmd). */
export interface ImageConfig {
  /**
   * argv (the image's CMD); for the process runtime, paths are relative to the harness root.
   * For a registry image (`pull`), [] means "the image's own Entrypoint/Cmd".
   */
  cmd: string[];
  /** image ENV (e.g. STUB_SERVICE, STUB_VERSION, STUB_FAULT), under the task definition's */
  env: Record<string, string>;
  /** the local Docker image that carries the same behaviour (docker runtime) */
  dockerImage?: string;
  /** one of the harness's own stubs: what it serves is told by SchedulerDeps.stubEnv */
  stub?: boolean;
  /** an image from a registry (a user's): see RegistryImage. The process runtime refuses it. */
  pull?: RegistryImage;
}

/** An ECS ulimit (names as ECS and Docker both spell them: nofile, nproc, core, …). */
export interface ContainerUlimit {
  name: string;
  softLimit: number;
  hardLimit: number;
}

/**
 * What of a task definition's container definition a runtime applies, resolved by the task
 * runner (ContainerOverrides.command already applied, stopTimeout defaulted and capped).
 * Docker semantics, which ECS documents for these fields: `entryPoint` replaces the image's
 * ENTRYPOINT and then the image's CMD is not used (only `command`, if given); `command`
 * replaces the image's CMD. For the harness's own stub images the task runner leaves out
 * entryPoint, command, workingDirectory and user (they were written for the image the stub
 * stands in for, not for the stub).
 */
export interface ContainerDefinitionSpec {
  entryPoint?: string[];
  command?: string[];
  workingDirectory?: string;
  /** `user`, `user:group`, `uid`, `uid:gid` */
  user?: string;
  readonlyRootFilesystem?: boolean;
  /** as given; Fargate's default when absent is nofile 65535/65535 (the docker runtime applies it) */
  ulimits?: ContainerUlimit[];
  /**
   * AWS seconds (default 30, at most 120): how long stop() waits between the stop signal and
   * SIGKILL. The task runner passes it to stop() scaled by the clock (floor 500 ms).
   */
  stopTimeout: number;
  /** linuxParameters.initProcessEnabled: an init process as PID 1 (docker --init) */
  initProcessEnabled?: boolean;
  /** linuxParameters.capabilities */
  capabilities?: { add?: string[]; drop?: string[] };
  /** dockerLabels (the harness's own labels win) */
  dockerLabels?: Record<string, string>;
  /**
   * the hard memory limit (MiB) the container is killed above: the container definition's
   * `memory`, else the task's `memory` (Fargate's task size); absent: no limit. A
   * `memoryReservation` alone sets none (as on ECS). The docker runtime applies it (no swap).
   */
  memoryMiB?: number;
}

export interface ContainerSpec {
  runId: string;
  taskId: string;
  /** task definition family, for names and logs */
  family: string;
  containerName: string;
  image: ImageConfig;
  /** task definition environment + resolved secrets (already merged, secrets win) */
  env: Record<string, string>;
  /**
   * the container definition's fields a runtime applies (see ContainerDefinitionSpec); absent:
   * the image runs as it is (what the contract tests and harness-internal containers use)
   */
  definition?: ContainerDefinitionSpec;
  /** containerPorts from portMappings */
  ports: number[];
  /** the task's private IPv4 address (its ENI); the container listens there */
  ip: string;
  /** DNS server the task resolves through ("host:port"), when the fabric runs one */
  dnsServer?: string;
  /** the Cloud Map zones that server answers (e.g. corp.internal) */
  dnsZones?: string[];
  /** the task's network namespace (its awsvpc ENI), when the fabric gives it one */
  netns?: string;
  /**
   * files the harness adds to the container before it starts (e.g. the run CA for
   * NODE_EXTRA_CA_CERTS). docker: copied to `path`; process: written under the task's own
   * directory, and env values equal to `path` are rewritten to where the file really is.
   */
  files?: { path: string; content: string }[];
  /** one line of container output (CloudWatch Logs, awslogs driver) */
  onLog: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface ContainerExit {
  exitCode: number | null;
  signal: string | null;
  /** the kernel killed it for exceeding its memory limit (the engine's State.OOMKilled); absent: it was not, or the runtime cannot tell */
  oomKilled?: boolean;
}

export interface ContainerHandle {
  readonly taskId: string;
  readonly containerName: string;
  readonly ip: string;
  /** resolves once, when the container has exited (for any reason) */
  readonly exited: Promise<ContainerExit>;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface TaskRuntime {
  readonly name: 'process' | 'docker';
  /** true when each task really has its own network stack and SGs are enforced */
  readonly isolationEnforced: boolean;
  /**
   * a real-time floor under health-check timeouts for this runtime's exec, when its fixed cost
   * is larger than a process spawn (docker exec of an emulated arm64 image: QEMU loads sh and
   * curl). The health checker uses max(scaled timeout, HEALTH_TIMEOUT_FLOOR_MS, this).
   */
  readonly healthCheckTimeoutFloorMs?: number;
  /**
   * why this runtime cannot run `image` at all (a stoppedReason, e.g. CannotPullContainerError:
   * …), or undefined when it can. The task runner asks while it pulls, before any start.
   */
  unsupportedImage?(image: ImageConfig): string | undefined;
  /** starts the container; rejects (with a message for stoppedReason) if it cannot start */
  start(spec: ContainerSpec): Promise<ContainerHandle>;
  /** runs a command in the container's context, as ECS runs health checks (CMD-SHELL via sh -c) */
  exec(handle: ContainerHandle, command: string[], timeoutMs: number): Promise<ExecResult>;
  /** SIGTERM (or signal), then SIGKILL after timeoutMs; resolves when exited */
  stop(handle: ContainerHandle, timeoutMs: number, signal?: NodeJS.Signals): Promise<ContainerExit>;
  /**
   * the task is over: every container of it has stopped and none will start. A runtime that
   * keeps something per task for as long as the task lives (docker mode's network sandbox, which
   * outlives an init container that exited before the app started) lets go of it here.
   */
  taskEnded?(taskId: string): Promise<void>;
  /** stops everything this runtime started */
  close(): Promise<void>;
}

/** Annotation keys by which a harness image manifest carries its ImageConfig. */
export const IMAGE_CONFIG_ANNOTATION = 'dev.escher-harness.image-config';
