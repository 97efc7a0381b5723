import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEcsProvider } from './provider.ts';
import { startTestEdge } from '../test-edge.ts';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { makeTestControlPlane } from '../../ecs/testing.ts';

/**
 * What describe-services says while a failing deployment runs, in AWS's words, through the
 * aws CLI the scripts use:
 * - the circuit breaker's rollback (AWS's developer guide, rolling update: "a new deployment is
 *   started because a previous deployment failed and rollback was enabled"; its EventBridge
 *   example: reason "ECS deployment circuit breaker: rolling back to deploymentId <id>.", the id
 *   of the deployment rolled back to; real describe-services and service events show that id on
 *   the rollback PRIMARY: "rolling back to deployment ecs-svc/N." then "(deployment ecs-svc/N)
 *   deployment completed."): a PRIMARY created at the rollback, on the last COMPLETED
 *   deployment's task definition and id, IN_PROGRESS with that reason; the failed one ACTIVE,
 *   FAILED, "ECS deployment circuit breaker: tasks failed to start.";
 * - without the breaker, the crash loop's service event with the suffix ECS writes.
 */
const GOOD = '123456789012.dkr.ecr.us-west-1.amazonaws.com/web:v1';
const BAD = '123456789012.dkr.ecr.us-west-1.amazonaws.com/web:v2-crash';

function taskDefJson(family: string, image: string) {
  return JSON.stringify({
    family,
    executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'ARM64' },
    containerDefinitions: [{ name: 'web', image, portMappings: [{ containerPort: 8080 }] }],
  });
}

let cp: ReturnType<typeof makeTestControlPlane>;
let edge: Awaited<ReturnType<typeof startTestEdge>>;

beforeAll(async () => {
  // 40 s of AWS time (a task without a health check counts as healthy 40 s after RUNNING) is 2 s
  // here: long enough to read the rollback deployment IN_PROGRESS through a CLI call or two
  cp = makeTestControlPlane({ [GOOD]: {}, [BAD]: { fault: 'crash' } }, 0.05);
  edge = await startTestEdge([createEcsProvider(cp.store)]);
});
afterAll(async () => {
  await cp.scheduler.stop();
  cp.clock.close();
  await edge.stop();
});

/** CLI v1 prints timestamps as epoch seconds, v2 as ISO strings */
const ms = (t: number | string) => (typeof t === 'number' ? t * 1000 : Date.parse(t));

const clis = findAwsClis();
if (clis.length === 0) console.log('ECS breaker contract: no aws CLI found on this machine (install awscli)');

describe.each(clis.map((c) => [`aws CLI ${c.version}`, c] as const))('ECS deployments through %s', (_label, cli) => {
  const aws = (...args: string[]) => runAws(cli, edge.url, args);
  const cluster = `breaker-${cli.major}`;
  const net = 'awsvpcConfiguration={subnets=[subnet-1],securityGroups=[sg-1],assignPublicIp=DISABLED}';
  const steady = (service: string, deployment: string, afterSeq = -1) =>
    cp.events.waitFor((e) => e.type === 'ecs.service.steady' && e.service === service && e.deployment === deployment && e.seq > afterSeq, AbortSignal.timeout(60_000));

  beforeAll(async () => {
    expect((await aws('ecs', 'create-cluster', '--cluster-name', cluster)).code).toBe(0);
    for (const [family, image] of [[`good-${cli.major}`, GOOD], [`bad-${cli.major}`, BAD]] as const) {
      const r = await aws('ecs', 'register-task-definition', '--cli-input-json', taskDefJson(family, image));
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('a circuit-breaker rollback: a new PRIMARY on the last COMPLETED deployment, the failed one FAILED, the events ECS writes', async () => {
    const svc = `rb-${cli.major}`;
    const c = await aws('ecs', 'create-service', '--cluster', cluster, '--service-name', svc, '--task-definition', `good-${cli.major}`,
      '--desired-count', '1', '--launch-type', 'FARGATE', '--network-configuration', net,
      '--deployment-configuration', 'maximumPercent=200,minimumHealthyPercent=0,deploymentCircuitBreaker={enable=true,rollback=true}');
    expect(c.code, c.stderr).toBe(0);
    const goodId: string = c.json.service.deployments[0].id;
    const goodTd: string = c.json.service.deployments[0].taskDefinition;
    await steady(svc, goodId);

    const u = await aws('ecs', 'update-service', '--cluster', cluster, '--service', svc, '--task-definition', `bad-${cli.major}`);
    expect(u.code, u.stderr).toBe(0);
    const bad = u.json.service.deployments[0];
    expect(bad).toMatchObject({ status: 'PRIMARY', rolloutState: 'IN_PROGRESS', rolloutStateReason: `ECS deployment ${bad.id} in progress.` });
    const rb = await cp.events.waitFor((e) => e.type === 'ecs.deployment.rollback' && e.service === svc, AbortSignal.timeout(60_000));

    const d = await aws('ecs', 'describe-services', '--cluster', cluster, '--services', svc);
    expect(d.code, d.stderr).toBe(0);
    const [primary, failed, ...rest] = d.json.services[0].deployments;
    expect(rest).toEqual([]);
    expect(primary).toMatchObject({
      id: goodId,
      status: 'PRIMARY',
      taskDefinition: goodTd,
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: `ECS deployment circuit breaker: rolling back to deploymentId ${goodId}.`,
      failedTasks: 0,
    });
    // created when the breaker rolled back: after the failed deployment, not when goodId first ran
    expect(ms(primary.createdAt)).toBeGreaterThan(ms(bad.createdAt));
    expect(failed).toMatchObject({
      id: bad.id,
      status: 'ACTIVE',
      taskDefinition: bad.taskDefinition,
      rolloutState: 'FAILED',
      rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
    });
    expect(d.json.services[0].taskDefinition).toBe(goodTd);
    const msgs: string[] = d.json.services[0].events.map((e: { message: string }) => e.message);
    const failedAt = msgs.indexOf(`(service ${svc}) (deployment ${bad.id}) deployment failed: tasks failed to start.`);
    const rollingAt = msgs.indexOf(`(service ${svc}) rolling back to deployment ${goodId}.`);
    expect(failedAt).toBeGreaterThanOrEqual(0);
    expect(rollingAt).toBeGreaterThanOrEqual(0);
    expect(rollingAt).toBeLessThan(failedAt); // newest first: the rollback follows the failure

    await steady(svc, goodId, rb.seq);
    const after = await aws('ecs', 'describe-services', '--cluster', cluster, '--services', svc);
    expect(after.json.services[0].deployments.map((x: any) => [x.id, x.status, x.taskDefinition, x.rolloutState, x.rolloutStateReason])).toEqual([
      [goodId, 'PRIMARY', goodTd, 'COMPLETED', `ECS deployment ${goodId} completed.`],
    ]);
    const latest: string[] = after.json.services[0].events.map((e: { message: string }) => e.message);
    expect(latest[0]).toBe(`(service ${svc}) has reached a steady state.`);
    expect(latest.indexOf(`(service ${svc}) (deployment ${goodId}) deployment completed.`)).toBeLessThan(latest.indexOf(`(service ${svc}) rolling back to deployment ${goodId}.`));
  }, 120_000);

  it('without the breaker, a crash loop says it is unable to consistently start tasks, with the suffix ECS writes', async () => {
    const svc = `loop-${cli.major}`;
    const c = await aws('ecs', 'create-service', '--cluster', cluster, '--service-name', svc, '--task-definition', `bad-${cli.major}`,
      '--desired-count', '1', '--launch-type', 'FARGATE', '--network-configuration', net);
    expect(c.code, c.stderr).toBe(0);
    await cp.events.waitFor((e) => e.type === 'ecs.service.event' && e.service === svc && /consistently/.test(String(e.message)), AbortSignal.timeout(60_000));
    const d = await aws('ecs', 'describe-services', '--cluster', cluster, '--services', svc,
      '--query', 'services[0].events[?contains(message, `consistently`)].message');
    expect(d.code, d.stderr).toBe(0);
    expect(d.json).toEqual([
      `(service ${svc}) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.`,
    ]);
    const dep = await aws('ecs', 'describe-services', '--cluster', cluster, '--services', svc, '--query', 'services[0].deployments[0]');
    expect(dep.json).toMatchObject({ status: 'PRIMARY', rolloutState: 'IN_PROGRESS' }); // without the breaker it never FAILs
    expect(dep.json.failedTasks).toBeGreaterThanOrEqual(3);
    expect((await aws('ecs', 'delete-service', '--cluster', cluster, '--service', svc, '--force')).code).toBe(0);
  }, 120_000);
});
