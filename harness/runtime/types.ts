/**
 * The seam between "ECS decided to run a container" and "something runs". Two
 * implementations (process/, docker/) pass one contract suite (runtime/contract.ts).
 * Runtimes never parse AWS requests; they get a resolved ContainerSpec.
 */

/** The runnable part of an image, as its config says (OCI image config: Env, Entrypoint, Cmd). */
export interface ImageConfig {
  /** argv; for the process runtime, paths are relative to the harness root */
  cmd: string[];
  /** image ENV (e.g. STUB_SERVICE, STUB_VERSION, STUB_FAULT) */
  env: Record<string, string>;
  /** the local Docker image that carries the same behaviour (docker runtime) */
  dockerImage?: string;
  /** one of the harness's own stubs: what it serves is told by SchedulerDeps.stubEnv */
  stub?: boolean;
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
  /** starts the container; rejects (with a message for stoppedReason) if it cannot start */
  start(spec: ContainerSpec): Promise<ContainerHandle>;
  /** runs a command in the container's context, as ECS runs health checks (CMD-SHELL via sh -c) */
  exec(handle: ContainerHandle, command: string[], timeoutMs: number): Promise<ExecResult>;
  /** SIGTERM (or signal), then SIGKILL after timeoutMs; resolves when exited */
  stop(handle: ContainerHandle, timeoutMs: number, signal?: NodeJS.Signals): Promise<ContainerExit>;
  /** stops everything this runtime started */
  close(): Promise<void>;
}

/** Annotation keys by which a harness image manifest carries its ImageConfig. */
export const IMAGE_CONFIG_ANNOTATION = 'dev.escher-harness.image-config';
