import { afterEach, describe, expect, it } from 'vitest';
import { makeTestControlPlane, registerFargateTaskDefinition } from './testing.ts';
import { STOP_TIMEOUT_FLOOR_MS } from './task-runner.ts';

const IMG = (tag: string) => `123456789012.dkr.ecr.us-west-1.amazonaws.com/app:${tag}`;

function taskDef(store: any, tag: string, extra: Record<string, any> = {}) {
  return registerFargateTaskDefinition(store, [
    {
      name: 'app',
      image: IMG(tag),
      portMappings: [{ containerPort: 8080 }],
      healthCheck: { command: ['CMD-SHELL', 'curl -f http://localhost:8080/health || exit 1'], interval: 5, timeout: 2, retries: 2 },
      ...extra,
    },
  ]);
}

const NET = { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: [] } };

let cp: ReturnType<typeof makeTestControlPlane> | undefined;
afterEach(async () => {
  await cp?.scheduler.stop();
  cp?.clock.close();
  cp = undefined;
});

type ControlPlane = ReturnType<typeof makeTestControlPlane>;
function steady(cp: ControlPlane, service: string, deployment?: string, afterSeq = -1) {
  return cp.events.waitFor((e) => e.type === 'ecs.service.steady' && e.service === service && (!deployment || e.deployment === deployment) && e.seq > afterSeq);
}

describe('EcsScheduler', () => {
  it('brings a new service to steady state: task RUNNING and HEALTHY, deployment COMPLETED, events as ECS writes them', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {} });
    const td = taskDef(cp.store, 'v1');
    const svc = cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td.taskDefinitionArn, desiredCount: 2, launchType: 'FARGATE', networkConfiguration: NET });
    await steady(cp, 'web');
    expect(svc.deployments).toHaveLength(1);
    expect(svc.deployments![0]!.rolloutState).toBe('COMPLETED');
    expect(svc.runningCount).toBe(2);
    const msgs = svc.events!.map((e) => e.message);
    expect(msgs.some((m) => /^\(service web\) has started 2 tasks: \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\)\.$/.test(m!))).toBe(true);
    expect(msgs[0]).toBe('(service web) has reached a steady state.');
    expect(msgs).toContain(`(service web) (deployment ${svc.deployments![0]!.id}) deployment completed.`);
    const t = [...cp.store.tasks.values()][0]!.task;
    expect(t.healthStatus).toBe('HEALTHY');
    expect(t.group).toBe('service:web');
    expect(t.startedBy).toBe(svc.deployments![0]!.id);
    const states = cp.events.filter((e) => e.type === 'ecs.task.state' && e.taskId === t.taskArn!.split('/').pop()).map((e) => e.lastStatus);
    expect(states).toEqual(['PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING']);
  });

  it('rolls a new revision: PRIMARY and ACTIVE side by side, old drained only after new is healthy', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {}, [IMG('v2')]: {} });
    const td1 = taskDef(cp.store, 'v1');
    const svc = cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td1.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    await steady(cp, 'web');
    const oldTask = [...cp.store.tasks.values()][0]!;
    const td2 = taskDef(cp.store, 'v2');
    cp.store.updateService({ cluster: 'c1', service: 'web', taskDefinition: td2.taskDefinitionArn });
    expect(svc.deployments!.map((d) => d.status)).toEqual(['PRIMARY', 'ACTIVE']);
    const newId = svc.deployments![0]!.id!;
    await steady(cp, 'web', newId);
    expect(svc.deployments).toHaveLength(1);
    expect(svc.taskDefinition).toBe(td2.taskDefinitionArn);
    expect(oldTask.task.desiredStatus).toBe('STOPPED');
    expect(oldTask.task.stoppedReason).toMatch(/^Scaling activity initiated by \(deployment ecs-svc\/\d{19}\)$/);
    // the old task was asked to stop only after a new task was healthy (minimumHealthyPercent 100)
    const stopAt = cp.events.filter((e) => e.type === 'ecs.task.stop-requested' && e.taskId === oldTask.task.taskArn!.split('/').pop())[0]!.t;
    const healthyAt = cp.events.filter((e) => e.type === 'ecs.task.health' && e.healthStatus === 'HEALTHY').at(-1)!.t;
    expect(stopAt).toBeGreaterThanOrEqual(healthyAt);
  });

  it('replaces unhealthy tasks and, with the breaker on and rollback, rolls back to the last COMPLETED deployment', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {}, [IMG('bad')]: { fault: 'unhealthy' } });
    const td1 = taskDef(cp.store, 'v1');
    const svc = cp.store.createService({
      cluster: 'c1', serviceName: 'web', taskDefinition: td1.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET,
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
    });
    await steady(cp, 'web');
    const goodId = svc.deployments![0]!.id!;
    const tdBad = taskDef(cp.store, 'bad');
    cp.store.updateService({ cluster: 'c1', service: 'web', taskDefinition: tdBad.taskDefinitionArn });
    const badId = svc.deployments![0]!.id!;
    const badCreated = svc.deployments![0]!.createdAt!.getTime();
    // deployments[] the moment the breaker rolls back (minimumHealthyPercent 100: goodId's task still runs)
    let atRollback: [string, string, string, string, string, number, number][] = [];
    cp.events.on('event', (e) => {
      if (e.type === 'ecs.deployment.rollback') atRollback = svc.deployments!.map((d) => [d.id!, d.status!, d.taskDefinition!, d.rolloutState!, d.rolloutStateReason!, d.createdAt!.getTime(), d.failedTasks!]);
    });
    const rb = await cp.events.waitFor((e) => e.type === 'ecs.deployment.rollback');
    expect(atRollback.map((d) => d.slice(0, 5))).toEqual([
      [goodId, 'PRIMARY', td1.taskDefinitionArn, 'IN_PROGRESS', `ECS deployment circuit breaker: rolling back to deploymentId ${goodId}.`],
      [badId, 'ACTIVE', tdBad.taskDefinitionArn, 'FAILED', 'ECS deployment circuit breaker: tasks failed to start.'],
    ]);
    expect(atRollback[0]![5]).toBeGreaterThanOrEqual(badCreated); // created at the rollback
    expect(atRollback[0]![6]).toBe(0);
    await steady(cp, 'web', goodId, rb.seq);
    expect(svc.deployments).toHaveLength(1);
    expect(svc.deployments![0]!.id).toBe(goodId);
    expect(svc.taskDefinition).toBe(td1.taskDefinitionArn);
    const msgs = svc.events!.map((e) => e.message!);
    expect(msgs).toContain(`(service web) (deployment ${badId}) deployment failed: tasks failed to start.`);
    expect(msgs).toContain(`(service web) rolling back to deployment ${goodId}.`);
    expect(msgs.indexOf(`(service web) (deployment ${goodId}) deployment completed.`)).toBeLessThan(msgs.indexOf(`(service web) rolling back to deployment ${goodId}.`));
    expect(svc.deployments![0]!.rolloutStateReason).toBe(`ECS deployment ${goodId} completed.`);
    expect(msgs.some((m) => /\(task [0-9a-f]{32}\) failed container health checks\.$/.test(m))).toBe(true);
    const failures = cp.events.filter((e) => e.type === 'ecs.deployment.failedTask' && e.deployment === badId);
    expect(failures.length).toBe(3); // threshold max(3, ceil(0.5 × 1))
    const badTask = [...cp.store.tasks.values()].find((t) => t.task.startedBy === badId)!;
    expect(badTask.task.stoppedReason).toBe('Task failed container health checks');
    expect(badTask.task.stopCode).toBe('ServiceSchedulerInitiated');
  });

  it('without the breaker keeps the old deployment serving and never reports stable', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {}, [IMG('bad')]: { fault: 'unhealthy' } });
    const td1 = taskDef(cp.store, 'v1');
    const svc = cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td1.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    await steady(cp, 'web');
    const oldTask = [...cp.store.tasks.values()][0]!;
    cp.store.updateService({ cluster: 'c1', service: 'web', taskDefinition: taskDef(cp.store, 'bad').taskDefinitionArn });
    await cp.events.waitFor((e) => e.type === 'ecs.deployment.failedTask' && (e.failedTasks as number) >= 4);
    expect(svc.deployments!.map((d) => [d.status, d.rolloutState])).toEqual([['PRIMARY', 'IN_PROGRESS'], ['ACTIVE', 'COMPLETED']]);
    expect(svc.deployments![0]!.failedTasks).toBeGreaterThanOrEqual(4);
    expect(oldTask.task.lastStatus).toBe('RUNNING');
    expect(oldTask.task.desiredStatus).toBe('RUNNING');
    expect(svc.events!.map((e) => e.message)).toContain(
      '(service web) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.',
    );
  });

  it('stops tasks whose essential container exits, with exitCode and the AWS stop reason', async () => {
    cp = makeTestControlPlane({ [IMG('crash')]: { fault: 'crash' } });
    const td = taskDef(cp.store, 'crash');
    const { tasks } = { tasks: [cp.store.createTask({ clusterName: 'c1', taskDefinition: td, launchType: 'FARGATE', networkConfiguration: NET })] };
    const id = tasks[0]!.task.taskArn!.split('/').pop();
    await cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === id && e.lastStatus === 'STOPPED');
    const t = tasks[0]!.task;
    expect(t.stopCode).toBe('EssentialContainerExited');
    expect(t.stoppedReason).toBe('Essential container in task exited');
    expect(t.containers![0]!.exitCode).toBe(1);
  });

  it('an essential container killed over its memory limit stops the task with OutOfMemoryError; the limit is its memory, else the task size', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {} });
    const run = (extra: Record<string, any>) => cp!.store.createTask({ clusterName: 'c1', taskDefinition: taskDef(cp!.store, 'v1', extra), launchType: 'FARGATE', networkConfiguration: NET });
    const idOf = (t: ReturnType<typeof run>) => t.task.taskArn!.split('/').pop()!;
    const reached = (t: ReturnType<typeof run>, status: string) => cp!.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === idOf(t) && e.lastStatus === status);
    const own = run({ memory: 128, memoryReservation: 64 });
    const sized = run({ memoryReservation: 64 });
    await Promise.all([reached(own, 'RUNNING'), reached(sized, 'RUNNING')]);
    const limitOf = (t: ReturnType<typeof run>) => cp!.runtime.specs.find((s) => s.taskId === idOf(t))!.definition!.memoryMiB;
    expect(limitOf(own)).toBe(128);
    expect(limitOf(sized)).toBe(512);
    cp.runtime.exit(idOf(own), 'app', 137, { oomKilled: true });
    cp.runtime.exit(idOf(sized), 'app', 137);
    await Promise.all([reached(own, 'STOPPED'), reached(sized, 'STOPPED')]);
    expect(own.task.stopCode).toBe('EssentialContainerExited');
    expect(own.task.stoppedReason).toBe('OutOfMemoryError: Container killed due to memory usage');
    expect(own.task.containers![0]).toMatchObject({ exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' });
    // killed, but not by the kernel over its limit: the usual reason, none on the container
    expect(sized.task.stopCode).toBe('EssentialContainerExited');
    expect(sized.task.stoppedReason).toBe('Essential container in task exited');
    expect(sized.task.containers![0]!.exitCode).toBe(137);
    expect(sized.task.containers![0]!.reason).toBeUndefined();
  });

  it('fails tasks whose image lacks the platform or whose secret is missing, with the ECS texts', async () => {
    cp = makeTestControlPlane({ [IMG('amd')]: { arch: 'amd64' }, [IMG('v1')]: {} });
    const tdAmd = taskDef(cp.store, 'amd');
    const a = cp.store.createTask({ clusterName: 'c1', taskDefinition: tdAmd, launchType: 'FARGATE', networkConfiguration: NET });
    const tdSecret = taskDef(cp.store, 'v1', { secrets: [{ name: 'K', valueFrom: 'arn:aws:secretsmanager:us-west-1:123456789012:secret:missing' }] });
    const b = cp.store.createTask({ clusterName: 'c1', taskDefinition: tdSecret, launchType: 'FARGATE', networkConfiguration: NET });
    for (const t of [a, b]) {
      const id = t.task.taskArn!.split('/').pop();
      await cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === id && e.lastStatus === 'STOPPED');
    }
    expect(a.task.stopCode).toBe('TaskFailedToStart');
    expect(a.task.stoppedReason).toBe("CannotPullContainerError: pull image manifest has been retried 7 time(s): image Manifest does not contain descriptor matching platform 'linux/arm64'");
    expect(b.task.stopCode).toBe('TaskFailedToStart');
    expect(b.task.stoppedReason).toMatch(/^ResourceInitializationError: unable to pull secrets or registry auth: .*ResourceNotFoundException: Secrets Manager can't find the specified secret\.$/);
    expect(cp.runtime.started).toBe(0);
  });

  it('backs off relaunching a service whose tasks cannot start (no breaker): 5, 10, 15 … scaled seconds apart', async () => {
    cp = makeTestControlPlane({ [IMG('amd')]: { arch: 'amd64' } }, 0.01);
    const td = taskDef(cp.store, 'amd');
    cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    const created = () => cp!.events.filter((e) => e.type === 'ecs.task.state' && e.service === 'web' && e.lastStatus === 'PROVISIONING');
    await cp.events.waitFor(() => created().length >= 4);
    const at = created().map((e) => e.t);
    // the n-th relaunch comes at least min(5 × n, 60) AWS seconds after the n-th launch (× 0.01 here)
    for (const [i, min] of [[1, 50], [2, 100], [3, 150]] as const) expect(at[i]! - at[i - 1]!, `launch ${i + 1} after launch ${i}: ${at.map((t) => t - at[0]!).join(', ')} ms`).toBeGreaterThanOrEqual(min - 5);
    expect(cp.runtime.started).toBe(0);
  });

  it('drains a deleted service to INACTIVE', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {} });
    const td = taskDef(cp.store, 'v1');
    const svc = cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    await steady(cp, 'web');
    cp.store.deleteService({ cluster: 'c1', service: 'web', force: true });
    expect(svc.status).toBe('DRAINING');
    await cp.events.waitFor((e) => e.type === 'ecs.service.status' && e.status === 'INACTIVE');
    expect(svc.status).toBe('INACTIVE');
    expect([...cp.store.tasks.values()].every((t) => t.task.lastStatus === 'STOPPED')).toBe(true);
  });

  const stopped = (cp: ControlPlane, t: { task: { taskArn?: string } }) => {
    const id = t.task.taskArn!.split('/').pop();
    return cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === id && e.lastStatus === 'STOPPED');
  };

  it("passes the container definition's runtime fields in the ContainerSpec (RunTask's command override wins; stopTimeout capped at 120 s and scaled)", async () => {
    cp = makeTestControlPlane({ [IMG('own')]: { pull: '123456789012.dkr.ecr.us-west-1.amazonaws.com/app@sha256:' + 'a'.repeat(64) } }, 0.01);
    const td = taskDef(cp.store, 'own', {
      healthCheck: undefined,
      entryPoint: ['/bin/sh', '-c'],
      command: ['exec app --serve'],
      workingDirectory: '/srv/app',
      user: '1000:1000',
      readonlyRootFilesystem: true,
      ulimits: [{ name: 'nofile', softLimit: 4096, hardLimit: 8192 }],
      stopTimeout: 300,
      linuxParameters: { initProcessEnabled: true, capabilities: { drop: ['NET_RAW'] } },
      dockerLabels: { team: 'web' },
    });
    // a docker-like runtime: this fake takes registry images
    cp.runtime.unsupportedImage = () => undefined;
    const t = cp.store.createTask({
      clusterName: 'c1', taskDefinition: td, launchType: 'FARGATE', networkConfiguration: NET,
      overrides: { containerOverrides: [{ name: 'app', command: ['exec app --migrate'] }] },
    });
    const id = t.task.taskArn!.split('/').pop();
    await cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === id && e.lastStatus === 'RUNNING');
    expect(cp.runtime.specs[0]!.definition).toEqual({
      entryPoint: ['/bin/sh', '-c'],
      command: ['exec app --migrate'],
      workingDirectory: '/srv/app',
      user: '1000:1000',
      readonlyRootFilesystem: true,
      ulimits: [{ name: 'nofile', softLimit: 4096, hardLimit: 8192 }],
      stopTimeout: 120,
      initProcessEnabled: true,
      capabilities: { drop: ['NET_RAW'] },
      dockerLabels: { team: 'web' },
      memoryMiB: 512, // no container memory: the task's size is the limit
    });
    expect(cp.runtime.specs[0]!.image.pull).toEqual({ ref: expect.stringMatching(/@sha256:a{64}$/), platform: 'linux/arm64' }); // the task's platform
    cp.store.requestStop(t, 'UserInitiated', 'done');
    await stopped(cp, t);
    expect(cp.runtime.stops).toEqual([{ taskId: id, containerName: 'app', timeoutMs: cp.clock.scaledMs(120) }]);
  });

  it("a stub image gets none of entryPoint/command/workingDirectory/user (they were written for the real image); stopTimeout defaults to 30 s, floored in real time", async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: { stub: true } });
    const td = taskDef(cp.store, 'v1', { healthCheck: undefined, entryPoint: ['/docker-entrypoint.sh'], command: ['serve'], workingDirectory: '/app', user: 'node', readonlyRootFilesystem: true });
    const t = cp.store.createTask({ clusterName: 'c1', taskDefinition: td, launchType: 'FARGATE', networkConfiguration: NET });
    const id = t.task.taskArn!.split('/').pop();
    await cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === id && e.lastStatus === 'RUNNING');
    expect(cp.runtime.specs[0]!.definition).toEqual({ stopTimeout: 30, readonlyRootFilesystem: true, memoryMiB: 512 });
    cp.store.requestStop(t, 'UserInitiated', 'done');
    await stopped(cp, t);
    expect(cp.runtime.stops[0]!.timeoutMs).toBe(Math.max(cp.clock.scaledMs(30), STOP_TIMEOUT_FLOOR_MS));
  });

  it("a registry image on the process runtime stops at pull time with a reason that says to run with --runtime docker; catalogue images still run", async () => {
    const ref = '123456789012.dkr.ecr.us-west-1.amazonaws.com/app@sha256:' + 'b'.repeat(64);
    cp = makeTestControlPlane({ [IMG('own')]: { pull: ref }, [IMG('v1')]: { pull: ref.replace('b', 'c'), stub: true } });
    const own = cp.store.createTask({ clusterName: 'c1', taskDefinition: taskDef(cp.store, 'own'), launchType: 'FARGATE', networkConfiguration: NET });
    await stopped(cp, own);
    expect(own.task.stopCode).toBe('TaskFailedToStart');
    expect(own.task.stoppedReason).toBe(`CannotPullContainerError: ${ref} is a registry image; the process runtime runs only the harness's catalogue images — run with --runtime docker`);
    expect(cp.runtime.started).toBe(0);
    const cat = cp.store.createTask({ clusterName: 'c1', taskDefinition: taskDef(cp.store, 'v1'), launchType: 'FARGATE', networkConfiguration: NET });
    const id = cat.task.taskArn!.split('/').pop();
    await cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === id && e.lastStatus === 'RUNNING');
    expect(cp.runtime.started).toBe(1);
  });

  it('a CMD-SHELL curl check in an image without curl: the task goes UNHEALTHY and the timeline has the shell\'s words and exit code', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {} });
    cp.runtime.execResult = { exitCode: 127, stdout: '', stderr: 'sh: curl: not found\n', timedOut: false };
    const svc = cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: taskDef(cp.store, 'v1', { healthCheck: { command: ['CMD-SHELL', 'curl -f http://localhost:8080/health'], interval: 5, timeout: 2, retries: 2 } }).taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    const ev = await cp.events.waitFor((e) => e.type === 'ecs.task.health' && e.healthStatus === 'UNHEALTHY');
    expect(ev).toMatchObject({ service: 'web', output: 'sh: curl: not found', exitCode: 127 });
    const first = [...cp.store.tasks.values()].find((t) => t.task.taskArn!.endsWith(ev.taskId as string))!;
    await stopped(cp, first);
    expect(first.task.healthStatus).toBe('UNHEALTHY');
    expect(first.task.stoppedReason).toBe('Task failed container health checks');
    expect(svc.serviceName).toBe('web');
  });

  it('a task definition with an init container (SUCCESS dependency) deploys: steady state with the app RUNNING and HEALTHY, the init STOPPED with exit 0', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {}, [IMG('migrate')]: { exitCode: 0 } });
    const td = registerFargateTaskDefinition(cp.store, [
      { name: 'migrate', image: IMG('migrate'), essential: false },
      {
        name: 'app',
        image: IMG('v1'),
        portMappings: [{ containerPort: 8080 }],
        healthCheck: { command: ['CMD-SHELL', 'curl -f http://localhost:8080/health || exit 1'], interval: 5, timeout: 2, retries: 2 },
        dependsOn: [{ containerName: 'migrate', condition: 'SUCCESS' }],
      },
    ]);
    cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    await steady(cp, 'web');
    const t = [...cp.store.tasks.values()][0]!.task;
    expect(t.healthStatus).toBe('HEALTHY');
    expect(t.containers!.map((c) => [c.name, c.lastStatus, c.exitCode])).toEqual([['migrate', 'STOPPED', 0], ['app', 'RUNNING', undefined]]);
  });

  it('an init container that keeps failing (exit 1 under a SUCCESS dependency) counts as a failed task and trips the circuit breaker', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {}, [IMG('migrate')]: { exitCode: 1 } });
    const td = registerFargateTaskDefinition(cp.store, [
      { name: 'migrate', image: IMG('migrate'), essential: false },
      { name: 'app', image: IMG('v1'), dependsOn: [{ containerName: 'migrate', condition: 'SUCCESS' }] },
    ]);
    const svc = cp.store.createService({
      cluster: 'c1', serviceName: 'web', taskDefinition: td.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET,
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: false } },
    });
    const failed = await cp.events.waitFor((e) => e.type === 'ecs.deployment.failedTask');
    expect(failed.stoppedReason).toMatch(/^CannotStartContainerError: dependency graph: failed to resolve container ordering dependency \[migrate\(.*\) \(STOPPED->RUNNING\) - Exit: 1\] for target \[app\(.*\) \(NONE->RUNNING\)\] as dependency did not exit successfully\.$/);
    await cp.events.waitFor((e) => e.type === 'ecs.deployment' && e.rolloutState === 'FAILED');
    expect(svc.deployments![0]!.rolloutState).toBe('FAILED');
    expect(cp.runtime.specs.every((s) => s.containerName === 'migrate')).toBe(true);
  });
});
