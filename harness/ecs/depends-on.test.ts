import { afterEach, describe, expect, it } from 'vitest';
import type { TaskState } from '../aws/ecs/store.ts';
import { closeTestControlPlane, makeTestControlPlane, registerFargateTaskDefinition, TEST_NETWORK as NET, testImage as IMG, type TestControlPlane as ControlPlane } from './testing.ts';
import { DEPENDENCY_STOP_EXIT_CODE } from './task-runner.ts';

/**
 * Several containers per task: dependsOn (START / COMPLETE / SUCCESS / HEALTHY), startTimeout,
 * essential, the reverse stop order, and RegisterTaskDefinition's checks of them. Every wait is
 * on an event (a container's or the task's state, a health change, a stop() call).
 */

const HC = { command: ['CMD-SHELL', 'curl -f http://localhost:9901/ready || exit 1'], interval: 5, timeout: 2, retries: 1 };

let cp: ControlPlane | undefined;
afterEach(async () => {
  await closeTestControlPlane(cp);
  cp = undefined;
});

const idOf = (t: TaskState) => t.task.taskArn!.split('/').pop()!;
const run = (c: ControlPlane, containerDefinitions: Record<string, any>[]) =>
  c.store.createTask({ clusterName: 'c1', taskDefinition: registerFargateTaskDefinition(c.store, containerDefinitions), launchType: 'FARGATE', networkConfiguration: NET });
const taskReached = (c: ControlPlane, t: TaskState, lastStatus: string) => c.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === idOf(t) && e.lastStatus === lastStatus);
const containerReached = (c: ControlPlane, t: TaskState, container: string, lastStatus: string) =>
  c.events.waitFor((e) => e.type === 'ecs.container.state' && e.taskId === idOf(t) && e.container === container && e.lastStatus === lastStatus);
const started = (c: ControlPlane, t: TaskState) => c.runtime.specs.filter((s) => s.taskId === idOf(t)).map((s) => s.containerName);
const containerOf = (t: TaskState, name: string) => t.task.containers!.find((x) => x.name === name)!;

describe('dependsOn', () => {
  it('SUCCESS: the app starts only after the init container (essential: false) exited 0; the task keeps running without it', async () => {
    cp = makeTestControlPlane({ [IMG('init')]: {}, [IMG('app')]: {} });
    const t = run(cp, [
      { name: 'migrate', image: IMG('init'), essential: false },
      { name: 'app', image: IMG('app'), portMappings: [{ containerPort: 8080 }], dependsOn: [{ containerName: 'migrate', condition: 'SUCCESS' }] },
    ]);
    const waiting = await cp.events.waitFor((e) => e.type === 'ecs.container.waiting' && e.taskId === idOf(t) && e.container === 'app');
    expect(waiting.dependsOn).toEqual(['migrate SUCCESS']);
    // while the init container runs, the app waits: PENDING in DescribeTasks, never started
    expect(started(cp, t)).toEqual(['migrate']);
    expect(containerOf(t, 'app').lastStatus).toBe('PENDING');
    expect(t.task.lastStatus).toBe('PENDING');
    cp.runtime.exit(idOf(t), 'migrate', 0);
    const appUp = await containerReached(cp, t, 'app', 'RUNNING');
    const initDone = await containerReached(cp, t, 'migrate', 'STOPPED');
    expect(initDone.seq).toBeLessThan(appUp.seq);
    await taskReached(cp, t, 'RUNNING');
    expect(started(cp, t)).toEqual(['migrate', 'app']);
    expect(containerOf(t, 'migrate')).toMatchObject({ lastStatus: 'STOPPED', exitCode: 0 });
    expect(containerOf(t, 'app').lastStatus).toBe('RUNNING');
    expect(t.task.desiredStatus).toBe('RUNNING');
    expect(cp.events.filter((e) => e.type === 'ecs.task.state' && e.taskId === idOf(t)).map((e) => e.lastStatus)).toEqual(['PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING']);
  });

  it('SUCCESS: an init container that exits 1 stops the task (TaskFailedToStart, the agent\'s reason); the app never starts', async () => {
    cp = makeTestControlPlane({ [IMG('init-bad')]: { exitCode: 1 }, [IMG('app')]: {} });
    const t = run(cp, [
      { name: 'migrate', image: IMG('init-bad'), essential: false },
      { name: 'app', image: IMG('app'), dependsOn: [{ containerName: 'migrate', condition: 'SUCCESS' }] },
    ]);
    await taskReached(cp, t, 'STOPPED');
    const reason =
      `CannotStartContainerError: dependency graph: failed to resolve container ordering dependency [migrate(${IMG('init-bad')}) (STOPPED->RUNNING) - Exit: 1] ` +
      `for target [app(${IMG('app')}) (NONE->RUNNING)] as dependency did not exit successfully.`;
    expect(t.task.stopCode).toBe('TaskFailedToStart');
    expect(t.task.stoppedReason).toBe(reason);
    expect(started(cp, t)).toEqual(['migrate']);
    expect(containerOf(t, 'migrate')).toMatchObject({ lastStatus: 'STOPPED', exitCode: 1 });
    expect(containerOf(t, 'app')).toMatchObject({ lastStatus: 'STOPPED', exitCode: DEPENDENCY_STOP_EXIT_CODE, reason });
    expect(cp.events.filter((e) => e.type === 'ecs.task.state' && e.taskId === idOf(t)).map((e) => e.lastStatus)).not.toContain('RUNNING');
  });

  it('COMPLETE accepts any exit code; a non-essential container whose SUCCESS dependency failed stays stopped while the task runs', async () => {
    cp = makeTestControlPlane({ [IMG('init-bad')]: { exitCode: 3 }, [IMG('app')]: {} });
    const t = run(cp, [
      { name: 'seed', image: IMG('init-bad'), essential: false },
      { name: 'app', image: IMG('app'), dependsOn: [{ containerName: 'seed', condition: 'COMPLETE' }] },
      { name: 'reporter', image: IMG('app'), essential: false, dependsOn: [{ containerName: 'seed', condition: 'SUCCESS' }] },
    ]);
    await taskReached(cp, t, 'RUNNING');
    expect(started(cp, t)).toEqual(['seed', 'app']);
    expect(containerOf(t, 'seed')).toMatchObject({ lastStatus: 'STOPPED', exitCode: 3 });
    expect(containerOf(t, 'app').lastStatus).toBe('RUNNING');
    expect(containerOf(t, 'reporter')).toMatchObject({ lastStatus: 'STOPPED', exitCode: DEPENDENCY_STOP_EXIT_CODE });
    expect(containerOf(t, 'reporter').reason).toMatch(/^CannotStartContainerError: dependency graph: .* as dependency did not exit successfully\.$/);
    expect(t.task.desiredStatus).toBe('RUNNING');
  });

  it('HEALTHY waits for the sidecar\'s health check, through UNHEALTHY, and starts the app once it passes', async () => {
    cp = makeTestControlPlane({ [IMG('envoy')]: { fault: 'unhealthy' }, [IMG('app')]: {} });
    const t = run(cp, [
      { name: 'app', image: IMG('app'), dependsOn: [{ containerName: 'envoy', condition: 'HEALTHY' }] },
      { name: 'envoy', image: IMG('envoy'), healthCheck: HC },
    ]);
    await cp.events.waitFor((e) => e.type === 'ecs.task.health' && e.taskId === idOf(t) && e.container === 'envoy' && e.healthStatus === 'UNHEALTHY');
    // not terminal (a later check may pass, as on ECS): the app waits, the task is PENDING and shows the sidecar's health
    expect(started(cp, t)).toEqual(['envoy']);
    expect(containerOf(t, 'app').lastStatus).toBe('PENDING');
    expect(containerOf(t, 'envoy')).toMatchObject({ lastStatus: 'RUNNING', healthStatus: 'UNHEALTHY' });
    expect(t.task.lastStatus).toBe('PENDING');
    expect(t.task.healthStatus).toBe('UNHEALTHY');
    cp.runtime.setHealthy(idOf(t), 'envoy', true);
    const healthy = await cp.events.waitFor((e) => e.type === 'ecs.task.health' && e.taskId === idOf(t) && e.container === 'envoy' && e.healthStatus === 'HEALTHY');
    const appUp = await containerReached(cp, t, 'app', 'RUNNING');
    expect(healthy.seq).toBeLessThan(appUp.seq);
    await taskReached(cp, t, 'RUNNING');
    expect(started(cp, t)).toEqual(['envoy', 'app']);
    expect(t.task.healthStatus).toBe('HEALTHY');
  });

  it('START: containers start in dependency order, not definition order', async () => {
    cp = makeTestControlPlane({ [IMG('app')]: {}, [IMG('router')]: {} });
    const t = run(cp, [
      { name: 'app', image: IMG('app'), dependsOn: [{ containerName: 'proxy', condition: 'START' }] },
      { name: 'proxy', image: IMG('router'), essential: false, dependsOn: [{ containerName: 'log-router', condition: 'START' }] },
      { name: 'log-router', image: IMG('router'), essential: false },
    ]);
    await taskReached(cp, t, 'RUNNING');
    expect(started(cp, t)).toEqual(['log-router', 'proxy', 'app']);
    expect(t.task.containers!.map((c) => c.lastStatus)).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
  });

  it("startTimeout: a COMPLETE dependency that outlasts it stops the task with the agent's timeout reason", async () => {
    cp = makeTestControlPlane({ [IMG('slow')]: {}, [IMG('app')]: {} });
    const t = run(cp, [
      { name: 'warmup', image: IMG('slow'), essential: false, startTimeout: 10 },
      { name: 'app', image: IMG('app'), dependsOn: [{ containerName: 'warmup', condition: 'COMPLETE' }] },
    ]);
    await taskReached(cp, t, 'STOPPED');
    expect(t.task.stopCode).toBe('TaskFailedToStart');
    expect(t.task.stoppedReason).toBe(
      `CannotStartContainerError: dependency graph: container ordering dependency [warmup(${IMG('slow')}) (RUNNING->RUNNING)] for target [app(${IMG('app')}) (NONE->RUNNING)] has timed out.`,
    );
    expect(started(cp, t)).toEqual(['warmup']);
    // the waited-on container is stopped with the task
    expect(cp.runtime.stops.map((s) => s.containerName)).toEqual(['warmup']);
  });

  it('an essential sidecar that exits while the app waits on it stops the task as an essential exit', async () => {
    cp = makeTestControlPlane({ [IMG('envoy')]: { fault: 'unhealthy' }, [IMG('app')]: {} });
    const t = run(cp, [
      { name: 'envoy', image: IMG('envoy'), healthCheck: HC },
      { name: 'app', image: IMG('app'), dependsOn: [{ containerName: 'envoy', condition: 'HEALTHY' }] },
    ]);
    await containerReached(cp, t, 'envoy', 'RUNNING');
    cp.runtime.exit(idOf(t), 'envoy', 2);
    await taskReached(cp, t, 'STOPPED');
    expect(t.task.stopCode).toBe('EssentialContainerExited');
    expect(t.task.stoppedReason).toBe('Essential container in task exited');
    expect(containerOf(t, 'envoy').exitCode).toBe(2);
    expect(started(cp, t)).toEqual(['envoy']);
  });

  it('a non-essential container exiting after RUNNING leaves the task running; its health does not count in the task\'s', async () => {
    cp = makeTestControlPlane({ [IMG('app')]: {}, [IMG('sick')]: { fault: 'unhealthy' } });
    const t = run(cp, [
      { name: 'app', image: IMG('app'), healthCheck: HC },
      { name: 'agent', image: IMG('sick'), essential: false, healthCheck: HC },
    ]);
    await cp.events.waitFor((e) => e.type === 'ecs.task.health' && e.taskId === idOf(t) && e.container === 'agent' && e.healthStatus === 'UNHEALTHY');
    await cp.events.waitFor((e) => e.type === 'ecs.task.health' && e.taskId === idOf(t) && e.container === 'app' && e.healthStatus === 'HEALTHY');
    await taskReached(cp, t, 'RUNNING');
    expect(t.task.healthStatus).toBe('HEALTHY');
    cp.runtime.exit(idOf(t), 'agent', 1);
    await containerReached(cp, t, 'agent', 'STOPPED');
    expect(t.task.desiredStatus).toBe('RUNNING');
    expect(t.task.lastStatus).toBe('RUNNING');
    expect(containerOf(t, 'agent')).toMatchObject({ lastStatus: 'STOPPED', exitCode: 1 });
  });

  it('stops dependents before what they depend on: a container waits for its dependents to exit', async () => {
    cp = makeTestControlPlane({ [IMG('app')]: {}, [IMG('router')]: {} });
    const t = run(cp, [
      { name: 'app', image: IMG('app'), dependsOn: [{ containerName: 'proxy', condition: 'START' }], stopTimeout: 20 },
      { name: 'proxy', image: IMG('router'), dependsOn: [{ containerName: 'log-router', condition: 'START' }] },
      { name: 'log-router', image: IMG('router'), essential: false },
    ]);
    await taskReached(cp, t, 'RUNNING');
    cp.runtime.holdOnStop.add('app'); // the app takes its time to exit after SIGTERM
    cp.store.requestStop(t, 'UserInitiated', 'Task stopped by user');
    await cp.runtime.stopCalled(idOf(t), 'app');
    expect(cp.runtime.stops.map((s) => s.containerName)).toEqual(['app']);
    cp.runtime.exit(idOf(t), 'app', 143);
    await taskReached(cp, t, 'STOPPED');
    expect(cp.runtime.stops.map((s) => s.containerName)).toEqual(['app', 'proxy', 'log-router']);
    const exits = cp.events.filter((e) => e.type === 'ecs.container.state' && e.taskId === idOf(t) && e.lastStatus === 'STOPPED').map((e) => e.container);
    expect(exits).toEqual(['app', 'proxy', 'log-router']);
    expect(cp.runtime.stops[0]!.timeoutMs).toBe(Math.max(cp.clock.scaledMs(20), 500));
  });
});

describe('RegisterTaskDefinition: dependsOn and essential', () => {
  const cp0 = () => (cp = makeTestControlPlane({}));
  const reg = (defs: Record<string, any>[]) => () => registerFargateTaskDefinition(cp!.store, defs);
  const img = IMG('x');

  it('refuses a dependency on a container that does not exist (ECS\'s text, " + " included)', () => {
    cp0();
    expect(reg([{ name: 'app', image: img, dependsOn: [{ containerName: 'ghost', condition: 'START' }] }])).toThrowError(
      expect.objectContaining({ code: 'ClientException', message: "Cannot depend on container + 'ghost' because it does not exist" }),
    );
  });

  it('refuses SUCCESS or COMPLETE on an essential container', () => {
    cp0();
    for (const condition of ['SUCCESS', 'COMPLETE']) {
      expect(reg([{ name: 'app', image: img, dependsOn: [{ containerName: 'init', condition }] }, { name: 'init', image: img }])).toThrowError(
        expect.objectContaining({ code: 'ClientException', message: 'A dependency container with SUCCESS or COMPLETE condition cannot be an essential container' }),
      );
    }
    expect(reg([{ name: 'app', image: img, dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }] }, { name: 'init', image: img, essential: false }])).not.toThrow();
  });

  it('refuses HEALTHY on a container without a health check, an unknown condition, and cycles', () => {
    cp0();
    expect(reg([{ name: 'app', image: img, dependsOn: [{ containerName: 'envoy', condition: 'HEALTHY' }] }, { name: 'envoy', image: img }])).toThrowError(
      expect.objectContaining({ code: 'ClientException', message: expect.stringMatching(/HEALTHY condition must have a health check: envoy/) }),
    );
    expect(reg([{ name: 'app', image: img, dependsOn: [{ containerName: 'envoy', condition: 'HEALTHY' }] }, { name: 'envoy', image: img, healthCheck: HC }])).not.toThrow();
    expect(reg([{ name: 'app', image: img, dependsOn: [{ containerName: 'envoy', condition: 'RUNNING' }] }, { name: 'envoy', image: img }])).toThrowError(
      expect.objectContaining({ code: 'ClientException', message: expect.stringMatching(/^Invalid container dependency condition: RUNNING\./) }),
    );
    const cycle = { code: 'ClientException', message: 'Container dependencies should not have a cycle' };
    expect(reg([{ name: 'app', image: img, dependsOn: [{ containerName: 'app', condition: 'START' }] }])).toThrowError(expect.objectContaining(cycle));
    expect(
      reg([
        { name: 'a', image: img, dependsOn: [{ containerName: 'b', condition: 'START' }] },
        { name: 'b', image: img, dependsOn: [{ containerName: 'c', condition: 'START' }] },
        { name: 'c', image: img, dependsOn: [{ containerName: 'a', condition: 'START' }] },
      ]),
    ).toThrowError(expect.objectContaining(cycle));
  });

  it('needs at least one essential container', () => {
    cp0();
    expect(reg([{ name: 'init', image: img, essential: false }])).toThrowError(
      expect.objectContaining({ code: 'ClientException', message: 'Task definition must have at least one essential container.' }),
    );
  });
});
