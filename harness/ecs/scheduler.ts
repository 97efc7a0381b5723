import type { Deployment } from '@aws-sdk/client-ecs';
import type { EcsChange, EcsStore, ServiceState, TaskState } from '../aws/ecs/store.ts';
import { taskIdOf } from '../aws/ecs/store.ts';
import type { SchedulerDeps } from './deps.ts';
import { TaskRunner } from './task-runner.ts';

/** "No health check: a task counts as healthy 40 s after RUNNING" (aws-semantics §3). */
const NO_HEALTHCHECK_SETTLE_SECONDS = 40;
const LIVE_PENDING = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);
/**
 * The service event of a crash-looping deployment without the breaker, as ECS writes it (the
 * suffix too: the DescribeServices example in botocore's ecs examples-1.json ends its
 * placement event the same way; real describe-services output quotes this one in full).
 */
export const UNABLE_TO_START = 'is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.';

export interface SchedulerHooks {
  /** extra health gate for a task (e.g. ALB target health); default: always true */
  targetsHealthy?: (task: TaskState) => boolean;
  /** a load-balancer target of the task that failed its health checks, if any */
  targetFailure?: (task: TaskState) => { targetGroupArn: string; port: number; reason: string } | undefined;
}

/**
 * The ECS service scheduler. Reconciles every ACTIVE service toward its desired state the
 * way ECS's rolling-update controller does: PRIMARY and ACTIVE deployments side by side
 * within maximumPercent/minimumHealthyPercent, health-based replacement, failedTasks and the
 * circuit breaker (with rollback), steady state, draining on delete.
 */
/** How a task can fail before it was ever healthy: what the circuit breaker counts and the relaunch backoff follows (a pull failure never reaches RUNNING: it counts, as on ECS). */
const FAILED_OUTCOMES: ReadonlySet<string> = new Set(['failed-to-start', 'image-pull-failed', 'essential-exit', 'health-failed']);

export class EcsScheduler {
  private readonly runners = new Map<string, TaskRunner>();
  private readonly dirty = new Set<ServiceState>();
  private flushQueued = false;
  private unsubscribe?: () => void;
  private cancelTick?: () => void;
  private readonly launchNotBefore = new Map<string, number>();
  /** per service: tasks in a row that failed before they were ever healthy (the relaunch backoff) */
  private readonly launchFailures = new Map<string, number>();
  /** tasks already counted in launchFailures */
  private readonly failureCounted = new Set<string>();
  private readonly unableAnnounced = new Set<string>();
  private closed = false;

  constructor(
    private readonly store: EcsStore,
    private readonly deps: SchedulerDeps,
    private readonly hooks: SchedulerHooks = {},
  ) {}

  start(): void {
    this.unsubscribe = this.store.onChange((c) => this.onChange(c));
    this.cancelTick = this.deps.clock.everyMs(Math.max(20, Math.min(500, this.deps.clock.scaledMs(1))), () => this.reconcileAll());
  }

  /** Stops every task this scheduler started (teardown) and waits for them. */
  async stop(): Promise<void> {
    this.closed = true;
    this.cancelTick?.();
    for (const r of this.runners.values()) {
      this.store.requestStop(r.state, 'ServiceSchedulerInitiated', 'Harness teardown');
      r.requestStop();
    }
    await Promise.all([...this.runners.values()].map((r) => r.done));
    this.unsubscribe?.();
  }

  runnerOf(taskId: string): TaskRunner | undefined {
    return this.runners.get(taskId);
  }

  private onChange(c: EcsChange): void {
    switch (c.kind) {
      case 'task-created': {
        const runner = new TaskRunner(this.store, this.deps, c.task, () => this.markTask(c.task));
        this.runners.set(runner.taskId, runner);
        void runner.done.then(() => this.runners.delete(runner.taskId));
        this.markTask(c.task);
        break;
      }
      case 'task-stop-requested':
        this.runners.get(taskIdOf(c.task.task.taskArn!))?.requestStop();
        this.markTask(c.task);
        break;
      case 'task-changed':
        if (c.task.task.lastStatus === 'STOPPED') this.onTaskStopped(c.task);
        this.markTask(c.task);
        break;
      case 'service-changed':
        this.mark(c.service);
        break;
    }
  }

  private markTask(t: TaskState): void {
    if (!t.serviceName) return;
    const s = this.store.findService(t.clusterName, t.serviceName);
    if (s) this.mark(s);
  }

  private mark(s: ServiceState): void {
    this.dirty.add(s);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      const list = [...this.dirty];
      this.dirty.clear();
      for (const st of list) this.safeReconcile(st);
    });
  }

  private reconcileAll(): void {
    for (const s of this.store.services.values()) if (s.service.status !== 'INACTIVE') this.safeReconcile(s);
  }

  private safeReconcile(s: ServiceState): void {
    if (this.closed) return;
    try {
      this.reconcile(s);
    } catch (e) {
      this.deps.events.append('harness.error', { where: 'scheduler', service: s.service.serviceName, error: String((e as Error)?.stack ?? e) });
    }
  }

  // ------------------------------------------------------------------ health

  private hasHealthCheck(t: TaskState): boolean {
    return (t.taskDefinition.containerDefinitions ?? []).some((d) => d.essential !== false && d.healthCheck && d.healthCheck.command?.[0] !== 'NONE');
  }

  /** Whether the deployment counts this task as healthy. */
  isHealthy(t: TaskState): boolean {
    if (t.task.lastStatus !== 'RUNNING' || t.task.desiredStatus !== 'RUNNING') return false;
    if (this.hasHealthCheck(t)) {
      if (t.task.healthStatus !== 'HEALTHY') return false;
    } else {
      const started = t.task.startedAt?.getTime() ?? Date.now();
      if (Date.now() - started < this.deps.clock.scaledMs(NO_HEALTHCHECK_SETTLE_SECONDS)) return false;
    }
    return this.hooks.targetsHealthy ? this.hooks.targetsHealthy(t) : true;
  }

  // ------------------------------------------------------------------ accounting

  private onTaskStopped(t: TaskState): void {
    if (!t.serviceName) return;
    const s = this.store.findService(t.clusterName, t.serviceName);
    const runner = this.runners.get(taskIdOf(t.task.taskArn!));
    if (!s || !runner) return;
    const dep = s.service.deployments!.find((d) => d.id === t.task.startedBy);
    if (!dep) return;
    const failed = FAILED_OUTCOMES.has(runner.outcome);
    const ds = s.deploymentState.get(dep.id!);
    if (failed && !runner.everHealthy && ds && !ds.evaluationDone && dep.rolloutState === 'IN_PROGRESS') {
      dep.failedTasks = (dep.failedTasks ?? 0) + 1;
      dep.updatedAt = this.deps.clock.now();
      this.deps.events.append('ecs.deployment.failedTask', {
        cluster: s.clusterName,
        service: s.service.serviceName,
        deployment: dep.id,
        failedTasks: dep.failedTasks,
        taskId: taskIdOf(t.task.taskArn!),
        stoppedReason: t.task.stoppedReason,
      });
    }
  }

  // ------------------------------------------------------------------ reconcile

  private reconcile(state: ServiceState): void {
    const s = state.service;
    if (s.status === 'INACTIVE') return;
    const now = this.deps.clock.now();
    const name = s.serviceName!;
    const all = this.store.tasksOfService(state);
    const liveOf = (d: Deployment) => all.filter((t) => t.task.startedBy === d.id && t.task.desiredStatus === 'RUNNING');
    const notStoppedOf = (d: Deployment) => all.filter((t) => t.task.startedBy === d.id && t.task.lastStatus !== 'STOPPED');
    const svcEvent = (m: string) => this.store.addServiceEvent(state, m);

    // 1. health: note first-healthy tasks; replace unhealthy ones
    for (const t of all) {
      if (t.task.desiredStatus !== 'RUNNING') continue;
      const runner = this.runners.get(taskIdOf(t.task.taskArn!));
      if (!runner) continue;
      if (!runner.everHealthy && this.isHealthy(t)) {
        runner.everHealthy = true;
        t.healthySince = Date.now();
        const dep = s.deployments!.find((d) => d.id === t.task.startedBy);
        const ds = dep && state.deploymentState.get(dep.id!);
        if (dep && ds && !ds.evaluationDone) {
          ds.evaluationDone = true;
          dep.failedTasks = 0;
        }
        this.launchNotBefore.delete(s.serviceArn!);
        this.launchFailures.delete(s.serviceArn!);
      }
      const elbFailure = t.task.lastStatus === 'RUNNING' ? this.hooks.targetFailure?.(t) : undefined;
      if (elbFailure && t.task.healthStatus !== 'UNHEALTHY') {
        const graceMs = this.deps.clock.scaledMs(s.healthCheckGracePeriodSeconds ?? 0);
        const started = t.task.startedAt?.getTime() ?? 0;
        if (Date.now() - started >= graceMs) {
          runner.outcome = 'health-failed';
          svcEvent(`(service ${name}) (task ${taskIdOf(t.task.taskArn!)}) (port ${elbFailure.port}) is unhealthy in (target-group ${elbFailure.targetGroupArn}) due to (reason ${elbFailure.reason}).`);
          this.store.requestStop(t, 'ServiceSchedulerInitiated', `Task failed ELB health checks in (target-group ${elbFailure.targetGroupArn})`);
          continue;
        }
      }
      if (t.task.lastStatus === 'RUNNING' && t.task.healthStatus === 'UNHEALTHY') {
        const graceMs = this.deps.clock.scaledMs(s.healthCheckGracePeriodSeconds ?? 0);
        const started = t.task.startedAt?.getTime() ?? 0;
        if (Date.now() - started >= graceMs) {
          runner.outcome = 'health-failed';
          svcEvent(`(service ${name}) (task ${taskIdOf(t.task.taskArn!)}) failed container health checks.`);
          this.store.requestStop(t, 'ServiceSchedulerInitiated', 'Task failed container health checks');
        }
      }
    }

    const deployments = s.deployments!;
    const primary = deployments[0];

    if (s.status === 'DRAINING') {
      const stopping: string[] = [];
      for (const t of all) {
        if (t.task.desiredStatus === 'RUNNING') {
          this.store.requestStop(t, 'ServiceSchedulerInitiated', `Scaling activity initiated by (deployment ${t.task.startedBy})`);
          stopping.push(taskIdOf(t.task.taskArn!));
        }
      }
      if (stopping.length) svcEvent(`(service ${name}) has stopped ${stopping.length} running tasks: ${stopping.map((i) => `(task ${i})`).join(' ')}.`);
      this.updateCounts(state, all);
      if (all.every((t) => t.task.lastStatus === 'STOPPED')) {
        s.status = 'INACTIVE';
        this.deps.events.append('ecs.service.status', { cluster: state.clusterName, service: name, status: 'INACTIVE' });
      }
      return;
    }
    if (!primary) return;

    const desired = s.desiredCount ?? 0;
    const dc = s.deploymentConfiguration!;
    const maxTotal = Math.floor((desired * (dc.maximumPercent ?? 200)) / 100);
    const minHealthy = Math.ceil((desired * (dc.minimumHealthyPercent ?? 100)) / 100);

    // 2. circuit breaker
    const threshold = Math.min(200, Math.max(3, Math.ceil(0.5 * desired)));
    if (primary.rolloutState === 'IN_PROGRESS' && (primary.failedTasks ?? 0) >= threshold) {
      if (dc.deploymentCircuitBreaker?.enable) {
        primary.rolloutState = 'FAILED';
        primary.rolloutStateReason = 'ECS deployment circuit breaker: tasks failed to start.';
        primary.updatedAt = now;
        svcEvent(`(service ${name}) (deployment ${primary.id}) deployment failed: tasks failed to start.`);
        this.deps.events.append('ecs.deployment', { cluster: state.clusterName, service: name, deployment: primary.id, rolloutState: 'FAILED', taskDefinition: primary.taskDefinition });
        const target = state.lastCompleted;
        if (dc.deploymentCircuitBreaker.rollback && target && target.id !== primary.id) {
          svcEvent(`(service ${name}) rolling back to deployment ${target.id}.`);
          const rb = this.store.rollbackDeployment(state, target);
          this.deps.events.append('ecs.deployment.rollback', { cluster: state.clusterName, service: name, from: primary.id, to: target.id, taskDefinition: target.taskDefinition, rolloutStateReason: rb.rolloutStateReason });
          this.launchNotBefore.delete(s.serviceArn!);
          this.launchFailures.delete(s.serviceArn!);
          return this.mark(state);
        }
      } else if (!this.unableAnnounced.has(primary.id!)) {
        this.unableAnnounced.add(primary.id!);
        svcEvent(`(service ${name}) ${UNABLE_TO_START}`);
      }
    }

    // 3. launch for the PRIMARY deployment, backing off after every task that failed before it
    // was ever healthy (a pull that keeps failing, a crash loop), breaker or not, as ECS throttles
    // such services: counted when the task is told to stop (a replacement would otherwise start
    // at once), reset by a healthy task
    for (const t of all) {
      const id = taskIdOf(t.task.taskArn!);
      const runner = this.runners.get(id);
      if (t.task.desiredStatus !== 'STOPPED' || !runner || runner.everHealthy || this.failureCounted.has(id)) continue;
      if (!FAILED_OUTCOMES.has(runner.outcome)) continue;
      this.failureCounted.add(id);
      const n = Math.min((this.launchFailures.get(s.serviceArn!) ?? 0) + 1, 12);
      this.launchFailures.set(s.serviceArn!, n);
      this.launchNotBefore.set(s.serviceArn!, Date.now() + this.deps.clock.scaledMs(Math.min(5 * n, 60)));
    }
    const totalLive = deployments.reduce((n, d) => n + liveOf(d).length, 0);
    const primaryLive = liveOf(primary).length;
    const throttledUntil = this.launchNotBefore.get(s.serviceArn!) ?? 0;
    if (primary.rolloutState !== 'FAILED' && Date.now() >= throttledUntil) {
      const n = Math.min(desired - primaryLive, maxTotal - totalLive);
      if (n > 0) {
        const td = this.store.findTaskDefinition(primary.taskDefinition!);
        if (td) {
          const ids: string[] = [];
          for (let i = 0; i < n; i++) {
            const t = this.store.createTask({
              clusterName: state.clusterName,
              taskDefinition: td,
              launchType: s.launchType ?? 'FARGATE',
              networkConfiguration: primary.networkConfiguration,
              group: `service:${name}`,
              startedBy: primary.id,
              serviceName: name,
              loadBalancers: state.deploymentState.get(primary.id!)?.loadBalancers ?? s.loadBalancers ?? [],
            });
            ids.push(taskIdOf(t.task.taskArn!));
          }
          svcEvent(`(service ${name}) has started ${ids.length} tasks: ${ids.map((i) => `(task ${i})`).join(' ')}.`);
        }
      }
    }

    // 4. stop what the rollout no longer needs, keeping minimumHealthyPercent
    let healthy = all.filter((t) => this.isHealthy(t)).length;
    const stopped: TaskState[] = [];
    const stop = (t: TaskState) => {
      this.store.requestStop(t, 'ServiceSchedulerInitiated', `Scaling activity initiated by (deployment ${t.task.startedBy})`);
      stopped.push(t);
    };
    if (primary.rolloutState !== 'FAILED') {
      const old = deployments.slice(1).flatMap(liveOf);
      old.sort((a, b) => Number(this.isHealthy(a)) - Number(this.isHealthy(b)));
      for (const t of old) {
        if (!this.isHealthy(t)) stop(t);
        else if (healthy - 1 >= minHealthy) {
          stop(t);
          healthy--;
        }
      }
    }
    const extra = liveOf(primary).length - desired;
    if (extra > 0) {
      const byHealth = liveOf(primary).sort((a, b) => Number(this.isHealthy(a)) - Number(this.isHealthy(b)));
      for (const t of byHealth.slice(0, extra)) stop(t);
    }
    if (stopped.length) {
      if ((s.loadBalancers ?? []).length) {
        const byDep = new Map<string, number>();
        for (const t of stopped) byDep.set(t.task.startedBy!, (byDep.get(t.task.startedBy!) ?? 0) + 1);
        for (const [d, n] of byDep) svcEvent(`(service ${name}, taskSet ${d}) has begun draining connections on ${n} tasks.`);
      }
      svcEvent(`(service ${name}) has stopped ${stopped.length} running tasks: ${stopped.map((t) => `(task ${taskIdOf(t.task.taskArn!)})`).join(' ')}.`);
    }

    // 5. drained deployments leave deployments[]; a FAILED one stays listed (ACTIVE, FAILED)
    // while the deployment that replaced it (the breaker's rollback) is IN_PROGRESS, as
    // describe-services shows it during a rollback, and leaves when that one completes
    const leave = (d: Deployment) => {
      s.deployments = s.deployments!.filter((x) => x !== d);
      this.deps.events.append('ecs.deployment', { cluster: state.clusterName, service: name, deployment: d.id, status: 'INACTIVE', rolloutState: d.rolloutState, taskDefinition: d.taskDefinition });
    };
    const lingering = (d: Deployment) => d.rolloutState === 'FAILED' && primary.rolloutState === 'IN_PROGRESS';
    for (const d of deployments.slice(1)) {
      if (notStoppedOf(d).length === 0 && !lingering(d)) leave(d);
    }

    this.updateCounts(state, all);

    // 6. steady state
    const primaryTasks = liveOf(primary);
    const steady =
      s.deployments!.every((d) => d === primary || (lingering(d) && notStoppedOf(d).length === 0)) &&
      primary.rolloutState !== 'FAILED' &&
      primaryTasks.length === desired &&
      primaryTasks.every((t) => this.isHealthy(t)) &&
      (primary.runningCount ?? 0) === desired;
    if (!steady) state.steadyAnnounced = false;
    if (steady) {
      if (primary.rolloutState === 'IN_PROGRESS') {
        for (const d of s.deployments!.slice(1)) leave(d);
        primary.rolloutState = 'COMPLETED';
        primary.rolloutStateReason = `ECS deployment ${primary.id} completed.`;
        primary.updatedAt = now;
        state.lastCompleted = { id: primary.id!, taskDefinition: primary.taskDefinition! };
        svcEvent(`(service ${name}) (deployment ${primary.id}) deployment completed.`);
        this.deps.events.append('ecs.deployment', { cluster: state.clusterName, service: name, deployment: primary.id, rolloutState: 'COMPLETED', taskDefinition: primary.taskDefinition });
      }
      if (!state.steadyAnnounced) {
        state.steadyAnnounced = true;
        svcEvent(`(service ${name}) has reached a steady state.`);
        this.deps.events.append('ecs.service.steady', { cluster: state.clusterName, service: name, deployment: primary.id, taskDefinition: primary.taskDefinition });
      }
    }
  }

  private updateCounts(state: ServiceState, all: TaskState[]): void {
    const s = state.service;
    let running = 0;
    let pending = 0;
    for (const d of s.deployments!) {
      const mine = all.filter((t) => t.task.startedBy === d.id);
      const r = mine.filter((t) => t.task.lastStatus === 'RUNNING').length;
      const p = mine.filter((t) => LIVE_PENDING.has(t.task.lastStatus!)).length;
      if (d.runningCount !== r || d.pendingCount !== p) {
        d.runningCount = r;
        d.pendingCount = p;
        d.updatedAt = this.deps.clock.now();
      }
      if (d.status !== 'PRIMARY') d.desiredCount = mine.filter((t) => t.task.desiredStatus === 'RUNNING').length;
      else d.desiredCount = s.desiredCount;
      running += r;
      pending += p;
    }
    s.runningCount = running;
    s.pendingCount = pending;
  }
}
