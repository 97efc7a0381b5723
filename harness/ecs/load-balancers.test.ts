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
