import { afterEach, describe, expect, it } from 'vitest';
import { closeTestControlPlane, makeTestControlPlane, registerFargateTaskDefinition, TEST_NETWORK as NET, testImage as IMG, type TestControlPlane as ControlPlane } from '../ecs/testing.ts';
import { awaitDeployOutcome } from './deploy-outcome.ts';

const td = (cp: ControlPlane, tag: string) =>
  registerFargateTaskDefinition(cp.store, [{ name: 'app', image: IMG(tag), portMappings: [{ containerPort: 8080 }], healthCheck: { command: ['CMD-SHELL', 'curl -f http://localhost:8080/health || exit 1'], interval: 5, timeout: 2, retries: 2 } }]);

let cp: ControlPlane | undefined;
afterEach(async () => {
  await closeTestControlPlane(cp);
  cp = undefined;
});
const outcome = (c: ControlPlane, fromSeq: number) => awaitDeployOutcome({ store: c.store, events: c.events, scaledMs: (s) => c.clock.scaledMs(s) }, fromSeq, { minWaitMs: 10_000, pollMs: 20, label: 'deploy v2' });

describe('up --deploy: the deploy is over when its services are steady or failed', () => {
  it('a healthy deploy: every service it touched steady on its revision', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {} });
    const from = cp.events.all().length;
    cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td(cp, 'v1').taskDefinitionArn, desiredCount: 2, launchType: 'FARGATE', networkConfiguration: NET });
    const o = await outcome(cp, from);
    expect(o.ok).toBe(true);
    expect(o.services).toMatchObject([{ service: 'web', state: 'steady' }]);
    expect(o.lines[0]).toMatch(/^ {2}web {2}steady: app:1, deployment ecs-svc\/\d{19} COMPLETED, 2\/2 running$/);
    expect(o.lines.at(-1)).toBe('deploy v2: all 1 service(s) steady');
  });

  it('a deploy the circuit breaker rolled back has failed, even though the service is steady again', async () => {
    cp = makeTestControlPlane({ [IMG('v1')]: {}, [IMG('bad')]: { fault: 'unhealthy' } });
    cp.store.createService({
      cluster: 'c1', serviceName: 'web', taskDefinition: td(cp, 'v1').taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET,
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
    });
    await cp.events.waitFor((e) => e.type === 'ecs.service.steady');
    const from = cp.events.all().length;
    cp.store.updateService({ cluster: 'c1', service: 'web', taskDefinition: td(cp, 'bad').taskDefinitionArn });
    const o = await outcome(cp, from);
    expect(o.ok).toBe(false);
    expect(o.services[0]!.detail).toMatch(/^the circuit breaker failed deployment ecs-svc\/\d+ and rolled back to ecs-svc\/\d+ \(app:1\): \(service web\) \(deployment ecs-svc\/\d+\) deployment failed: tasks failed to start\.$/);
    expect(o.lines.at(-1)).toBe('deploy v2 FAILED: 1 of 1 service(s) failed (web)');
    expect(o.failure).toBe('1 of 1 service(s) failed (web)');
  });

  it('without the breaker a crash loop has failed once ECS says it is unable to consistently start tasks', async () => {
    cp = makeTestControlPlane({ [IMG('bad')]: { fault: 'unhealthy' } });
    const from = cp.events.all().length;
    cp.store.createService({ cluster: 'c1', serviceName: 'api', taskDefinition: td(cp, 'bad').taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: NET });
    const o = await outcome(cp, from);
    expect(o.ok).toBe(false);
    expect(o.services[0]!.detail).toMatch(/^\(service api\) is unable to consistently start tasks successfully\. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide\. Last stopped task: Task failed container health checks \(deployment ecs-svc\/\d+ app:1 stays IN_PROGRESS: no circuit breaker\)$/);
  });

  it('a deploy that touched no service says so', async () => {
    cp = makeTestControlPlane({});
    const o = await outcome(cp, cp.events.all().length);
    expect(o).toEqual({ ok: true, services: [], lines: ['deploy v2 created or updated no ECS service'] });
  });
});
