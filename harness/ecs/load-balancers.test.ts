import { afterEach, describe, expect, it } from 'vitest';
import { makeTestControlPlane, registerFargateTaskDefinition } from './testing.ts';
import { EcsScheduler } from './scheduler.ts';
import { ElbStore, TARGET_HEALTH } from '../aws/elbv2/store.ts';
import { elbHooks, elbSink } from './load-balancers.ts';

const IMG = '123456789012.dkr.ecr.us-west-1.amazonaws.com/app:v1';
const NET = { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: [] } };

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

function setup() {
  const cp = makeTestControlPlane({ [IMG]: {} });
  const elb = new ElbStore({ account: '123456789012', region: 'us-west-1', events: cp.events, scaledMs: (s) => cp.clock.scaledMs(s) });
  void cp.scheduler.stop();
  const scheduler = new EcsScheduler(cp.store, { ...cp.deps, loadBalancing: elbSink(elb) }, elbHooks(cp.store, elb));
  scheduler.start();
  stop = async () => {
    await scheduler.stop();
    cp.clock.close();
  };
  const lb = elb.createLoadBalancer({ Name: 'alb', Subnets: ['subnet-1', 'subnet-2'] });
  const tg = elb.createTargetGroup({ Name: 'tg', Protocol: 'HTTP', Port: 8080, VpcId: 'vpc-1', TargetType: 'ip' });
  elb.createListener({ LoadBalancerArn: lb.LoadBalancerArn!, Protocol: 'HTTP', Port: 80, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg.TargetGroupArn }] });
  elb.modifyTargetGroupAttributes(tg.TargetGroupArn!, [{ Key: 'deregistration_delay.timeout_seconds', Value: '10' }]);
  const td = registerFargateTaskDefinition(cp.store, [{ name: 'app', image: IMG, portMappings: [{ containerPort: 8080 }], healthCheck: { command: ['CMD-SHELL', 'true'], interval: 5, timeout: 2, retries: 2 } }]);
  const svc = cp.store.createService({
    cluster: 'c1',
    serviceName: 'web',
    taskDefinition: td.taskDefinitionArn,
    desiredCount: 1,
    launchType: 'FARGATE',
    networkConfiguration: NET,
    loadBalancers: [{ targetGroupArn: tg.TargetGroupArn, containerName: 'app', containerPort: 8080 }],
  });
  return { cp, elb, tgArn: tg.TargetGroupArn!, svc };
}

const ipOf = (t: any) => t.task.attachments[0].details.find((d: any) => d.name === 'privateIPv4Address').value as string;

describe('ECS ↔ ELB', () => {
  it('registers the task as (ip, containerPort); the deployment completes only once the target is healthy', async () => {
    const { cp, elb, tgArn, svc } = setup();
    await cp.events.waitFor((e) => e.type === 'elbv2.target.registered');
    await new Promise((r) => setTimeout(r, 50));
    const [t] = cp.store.tasksOfService(cp.store.findService('c1', 'web')!);
    const ip = ipOf(t);
    expect(elb.describeTargetHealth(tgArn)).toEqual([{ Target: { Id: ip, Port: 8080 }, HealthCheckPort: '8080', TargetHealth: TARGET_HEALTH.registering }]);
    expect(svc.events!.map((e) => e.message)).toContain(`(service web) registered 1 targets in (target-group ${tgArn})`);
    await new Promise((r) => setTimeout(r, 150));
    expect(svc.deployments![0]!.rolloutState).toBe('IN_PROGRESS');
    elb.setTargetHealth(tgArn, ip, 8080, TARGET_HEALTH.healthy);
    await cp.events.waitFor((e) => e.type === 'ecs.service.steady' && e.service === 'web');
    expect(svc.deployments![0]!.rolloutState).toBe('COMPLETED');
  });

  it('a target that fails: the task stops with "Task failed ELB health checks", drains for the deregistration delay, and is replaced', async () => {
    const { cp, elb, tgArn, svc } = setup();
    await cp.events.waitFor((e) => e.type === 'elbv2.target.registered');
    const [t] = cp.store.tasksOfService(cp.store.findService('c1', 'web')!);
    const ip = ipOf(t);
    elb.setTargetHealth(tgArn, ip, 8080, TARGET_HEALTH.codeMismatch(503));
    await cp.events.waitFor((e) => e.type === 'elbv2.target.draining' && e.id === ip);
    expect(t!.task.stoppedReason).toBe(`Task failed ELB health checks in (target-group ${tgArn})`);
    expect(svc.events!.map((e) => e.message)).toContain(`(service web) (task ${t!.task.taskArn!.split('/').pop()}) (port 8080) is unhealthy in (target-group ${tgArn}) due to (reason Health checks failed with these codes: [503]).`);
    expect(elb.targetHealth(tgArn, ip, 8080).State).toBe('draining');
    expect(t!.task.lastStatus).toBe('DEACTIVATING');
    await cp.events.waitFor((e) => e.type === 'elbv2.target.registered' && e.id !== ip);
    await new Promise((r) => setTimeout(r, cp.clock.scaledMs(10) + 30));
    expect(elb.targetHealth(tgArn, ip, 8080)).toEqual(TARGET_HEALTH.notRegistered);
  });
});

describe('ECS ↔ ELB: a load balancer attached by UpdateService', () => {
  it('belongs to the new deployment: its task registers, the old task (never a target) keeps serving until the new target is healthy', async () => {
    const cp = makeTestControlPlane({ [IMG]: {} });
    const elb = new ElbStore({ account: '123456789012', region: 'us-west-1', events: cp.events, scaledMs: (s) => cp.clock.scaledMs(s) });
    void cp.scheduler.stop();
    const scheduler = new EcsScheduler(cp.store, { ...cp.deps, loadBalancing: elbSink(elb) }, elbHooks(cp.store, elb));
    scheduler.start();
    stop = async () => {
      await scheduler.stop();
      cp.clock.close();
    };
    const td = registerFargateTaskDefinition(cp.store, [{ name: 'app', image: IMG, portMappings: [{ containerPort: 3000 }], healthCheck: { command: ['CMD-SHELL', 'true'], interval: 5, timeout: 2, retries: 2 } }]);
    const svc = cp.store.createService({ cluster: 'c1', serviceName: 'gw', taskDefinition: td.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    await cp.events.waitFor((e) => e.type === 'ecs.service.steady' && e.service === 'gw');
    const [old] = cp.store.tasksOfService(cp.store.findService('c1', 'gw')!);

    // the rule comes first: ECS wants a target group a load balancer uses
    const lb = elb.createLoadBalancer({ Name: 'edge', Subnets: ['subnet-1', 'subnet-2'] });
    const tg = elb.createTargetGroup({ Name: 'gw-tg', Protocol: 'HTTP', Port: 3000, VpcId: 'vpc-1', TargetType: 'ip', HealthCheckPath: '/ready' });
    const tgArn = tg.TargetGroupArn!;
    elb.createListener({ LoadBalancerArn: lb.LoadBalancerArn!, Protocol: 'HTTP', Port: 80, DefaultActions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: 100 }] } }] });
    cp.store.updateService({ cluster: 'c1', service: 'gw', loadBalancers: [{ targetGroupArn: tgArn, containerName: 'app', containerPort: 3000 }], healthCheckGracePeriodSeconds: 30 });
    expect(svc.deployments!.map((d) => d.status)).toEqual(['PRIMARY', 'ACTIVE']);
    expect(svc.healthCheckGracePeriodSeconds).toBe(30);

    await cp.events.waitFor((e) => e.type === 'elbv2.target.registered');
    const fresh = cp.store.tasksOfService(cp.store.findService('c1', 'gw')!).find((t) => t !== old)!;
    expect(fresh.task.startedBy).toBe(svc.deployments![0]!.id);
    expect(elb.describeTargetHealth(tgArn).map((d) => d.Target!.Id)).toEqual([ipOf(fresh)]);
    // the old task is no target of the group: it stays counted healthy and keeps running meanwhile
    await new Promise((r) => setTimeout(r, 150));
    expect(old!.task.desiredStatus).toBe('RUNNING');
    expect(svc.deployments![0]!.rolloutState).toBe('IN_PROGRESS');
    expect(elb.targetHealth(tgArn, ipOf(old), 3000)).toEqual(TARGET_HEALTH.notRegistered);

    elb.setTargetHealth(tgArn, ipOf(fresh), 3000, TARGET_HEALTH.healthy);
    await cp.events.waitFor((e) => e.type === 'ecs.deployment' && e.service === 'gw' && e.rolloutState === 'COMPLETED' && e.deployment === svc.deployments![0]!.id);
    await cp.events.waitFor(() => old!.task.lastStatus === 'STOPPED');
    expect(old!.task.stoppedReason).toMatch(/^Scaling activity initiated by \(deployment ecs-svc\/\d+\)$/);
    expect(svc.events!.map((e) => e.message)).toContain(`(service gw) registered 1 targets in (target-group ${tgArn})`);
  });
});
