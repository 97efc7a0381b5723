import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ECSClient,
  CreateClusterCommand,
  RegisterTaskDefinitionCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  UpdateServiceCommand,
  DescribeTaskDefinitionCommand,
  RunTaskCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  StopTaskCommand,
  DeleteServiceCommand,
  ListServicesCommand,
  DeregisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { createEcsProvider } from './provider.ts';
import { startTestEdge, sdkConfig } from '../test-edge.ts';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { makeTestControlPlane } from '../../ecs/testing.ts';

const IMAGE = '123456789012.dkr.ecr.us-west-1.amazonaws.com/escher-gateway:v2.15.0';

function taskDefJson(family: string, over: Record<string, unknown> = {}) {
  return JSON.stringify({
    family,
    executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '1 vCPU',
    memory: '2048',
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'ARM64' },
    containerDefinitions: [{ name: family, image: IMAGE, portMappings: [{ containerPort: 8080 }] }],
    ...over,
  });
}

let cp: ReturnType<typeof makeTestControlPlane>;
let edge: Awaited<ReturnType<typeof startTestEdge>>;

beforeAll(async () => {
  cp = makeTestControlPlane({ [IMAGE]: {} }, 0.001);
  edge = await startTestEdge([createEcsProvider(cp.store)]);
});
afterAll(async () => {
  await cp.scheduler.stop();
  cp.clock.close();
  await edge.stop();
});

const clis = findAwsClis();
if (clis.length === 0) console.log('ECS CLI contract: no aws CLI found on this machine (install awscli); only the SDK cases run');

describe.each(clis.map((c) => [`aws CLI ${c.version}`, c] as const))('ECS through %s', (_label, cli) => {
  const aws = (...args: string[]) => runAws(cli, edge.url, args);
  const cluster = `c-${cli.major}`;

  it('creates a cluster, registers a Fargate task definition and reads it back', async () => {
    const c = await aws('ecs', 'create-cluster', '--cluster-name', cluster, '--capacity-providers', 'FARGATE');
    expect(c.code, c.stderr).toBe(0);
    expect(c.json.cluster).toMatchObject({ clusterName: cluster, status: 'ACTIVE', clusterArn: `arn:aws:ecs:us-west-1:123456789012:cluster/${cluster}` });
    const r = await aws('ecs', 'register-task-definition', '--cli-input-json', taskDefJson(`web-${cli.major}`));
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.taskDefinition).toMatchObject({ family: `web-${cli.major}`, revision: 1, cpu: '1024', memory: '2048', status: 'ACTIVE' });
    expect(r.json.taskDefinition.containerDefinitions[0].portMappings[0]).toMatchObject({ containerPort: 8080, hostPort: 8080, protocol: 'tcp' });
    const d = await aws('ecs', 'describe-task-definition', '--task-definition', `web-${cli.major}`, '--query', 'taskDefinition.taskDefinitionArn', '--output', 'text');
    expect(d.stdout.trim()).toBe(`arn:aws:ecs:us-west-1:123456789012:task-definition/web-${cli.major}:1`);
  });

  it('rejects invalid Fargate task definitions with ClientException', async () => {
    const bad = await aws('ecs', 'register-task-definition', '--cli-input-json', taskDefJson('bad', { cpu: '1024', memory: '512' }));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ClientException.*No Fargate configuration exists for given values\./);
    const bridge = await aws('ecs', 'register-task-definition', '--cli-input-json', taskDefJson('bad', { networkMode: 'bridge' }));
    expect(bridge.stderr).toMatch(/ClientException.*Fargate only supports network mode/);
    const missing = await aws('ecs', 'describe-task-definition', '--task-definition', 'nope:1');
    expect(missing.stderr).toMatch(/ClientException.*Unable to describe task definition\./);
  });

  it('creates, describes, updates and deletes a service; missing ones come back as failures', async () => {
    const s = await aws('ecs', 'create-service', '--cluster', cluster, '--service-name', 'svc', '--task-definition', `web-${cli.major}`,
      '--desired-count', '1', '--launch-type', 'FARGATE',
      '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1],securityGroups=[sg-1],assignPublicIp=DISABLED}');
    expect(s.code, s.stderr).toBe(0);
    expect(s.json.service).toMatchObject({ serviceName: 'svc', status: 'ACTIVE', desiredCount: 1, launchType: 'FARGATE' });
    expect(s.json.service.deployments[0]).toMatchObject({ status: 'PRIMARY', rolloutState: 'IN_PROGRESS' });
    expect(s.json.service.deploymentConfiguration).toEqual({ deploymentCircuitBreaker: { enable: false, rollback: false }, maximumPercent: 200, minimumHealthyPercent: 100 });
    const dup = await aws('ecs', 'create-service', '--cluster', cluster, '--service-name', 'svc', '--task-definition', `web-${cli.major}`, '--desired-count', '1', '--launch-type', 'FARGATE',
      '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1]}');
    expect(dup.stderr).toMatch(/InvalidParameterException.*Creation of service was not idempotent\./);
    const d = await aws('ecs', 'describe-services', '--cluster', cluster, '--services', 'svc', 'ghost');
    expect(d.json.services).toHaveLength(1);
    expect(d.json.failures).toEqual([{ arn: `arn:aws:ecs:us-west-1:123456789012:service/${cluster}/ghost`, reason: 'MISSING' }]);
    const u = await aws('ecs', 'update-service', '--cluster', cluster, '--service', 'svc', '--force-new-deployment');
    expect(u.code, u.stderr).toBe(0);
    expect(u.json.service.deployments.map((x: any) => x.status)).toEqual(['PRIMARY', 'ACTIVE']);
    const l = await aws('ecs', 'list-services', '--cluster', cluster);
    expect(l.json.serviceArns).toEqual([`arn:aws:ecs:us-west-1:123456789012:service/${cluster}/svc`]);
    const nf = await aws('ecs', 'update-service', '--cluster', cluster, '--service', 'ghost', '--force-new-deployment');
    expect(nf.stderr).toMatch(/ServiceNotFoundException/);
    const del = await aws('ecs', 'delete-service', '--cluster', cluster, '--service', 'svc', '--force');
    expect(del.json.service.status).toBe('DRAINING');
    const na = await aws('ecs', 'update-service', '--cluster', cluster, '--service', 'svc', '--desired-count', '2');
    expect(na.stderr).toMatch(/ServiceNotActiveException/);
    const cnf = await aws('ecs', 'describe-services', '--cluster', 'no-such-cluster', '--services', 'svc');
    expect(cnf.stderr).toMatch(/ClusterNotFoundException/);
  });

  it('tags a task definition registered without tags and a service, and reads the tags back every way', async () => {
    const family = `tagged-${cli.major}`;
    const r = await aws('ecs', 'register-task-definition', '--cli-input-json', taskDefJson(family));
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.tags).toEqual([]);
    const tdArn = r.json.taskDefinition.taskDefinitionArn;
    const t = await aws('ecs', 'tag-resource', '--resource-arn', tdArn, '--tags', 'key=release,value=2025.12.0', 'key=team,value=platform');
    expect(t.code, t.stderr).toBe(0);
    const l = await aws('ecs', 'list-tags-for-resource', '--resource-arn', tdArn);
    expect(l.json.tags).toEqual([{ key: 'release', value: '2025.12.0' }, { key: 'team', value: 'platform' }]);
    const d = await aws('ecs', 'describe-task-definition', '--task-definition', tdArn, '--include', 'TAGS', '--query', 'tags');
    expect(d.json).toEqual([{ key: 'release', value: '2025.12.0' }, { key: 'team', value: 'platform' }]);
    await aws('ecs', 'tag-resource', '--resource-arn', tdArn, '--tags', 'key=release,value=2025.12.1');
    const u = await aws('ecs', 'untag-resource', '--resource-arn', tdArn, '--tag-keys', 'team');
    expect(u.code, u.stderr).toBe(0);
    expect((await aws('ecs', 'list-tags-for-resource', '--resource-arn', tdArn)).json.tags).toEqual([{ key: 'release', value: '2025.12.1' }]);

    const s = await aws('ecs', 'create-service', '--cluster', cluster, '--service-name', `tagged-${cli.major}`, '--task-definition', tdArn,
      '--desired-count', '0', '--launch-type', 'FARGATE', '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1]}',
      '--tags', 'key=release,value=2025.11.3');
    expect(s.code, s.stderr).toBe(0);
    const svcArn = s.json.service.serviceArn;
    const plain = await aws('ecs', 'describe-services', '--cluster', cluster, '--services', svcArn);
    expect(plain.json.services[0].tags).toBeUndefined();
    await aws('ecs', 'tag-resource', '--resource-arn', svcArn, '--tags', 'key=release,value=2025.12.0');
    const st = await aws('ecs', 'list-tags-for-resource', '--resource-arn', svcArn, '--query', "tags[?key=='release'].value | [0]", '--output', 'text');
    expect(st.stdout.trim()).toBe('2025.12.0');
    const inc = await aws('ecs', 'describe-services', '--cluster', cluster, '--services', `tagged-${cli.major}`, '--include', 'TAGS', '--query', 'services[0].tags');
    expect(inc.json).toEqual([{ key: 'release', value: '2025.12.0' }]);
    const bare = await aws('ecs', 'tag-resource', '--resource-arn', `arn:aws:ecs:us-west-1:123456789012:service/tagged-${cli.major}`, '--tags', 'key=owner,value=ops');
    expect(bare.code, bare.stderr).toBe(0);
    expect((await aws('ecs', 'list-tags-for-resource', '--resource-arn', svcArn)).json.tags).toContainEqual({ key: 'owner', value: 'ops' });
    const ghost = await aws('ecs', 'list-tags-for-resource', '--resource-arn', `arn:aws:ecs:us-west-1:123456789012:service/${cluster}/ghost`);
    expect(ghost.stderr).toMatch(/InvalidParameterException/);
  });

  it('attaches a load balancer and a health-check grace period to a service created without one (a new deployment)', async () => {
    const family = `lb-${cli.major}`;
    const td = await aws('ecs', 'register-task-definition', '--cli-input-json', taskDefJson(family));
    expect(td.code, td.stderr).toBe(0);
    const name = `late-lb-${cli.major}`;
    const s = await aws('ecs', 'create-service', '--cluster', cluster, '--service-name', name, '--task-definition', family,
      '--desired-count', '0', '--launch-type', 'FARGATE', '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1]}');
    expect(s.code, s.stderr).toBe(0);
    expect(s.json.service).toMatchObject({ loadBalancers: [], healthCheckGracePeriodSeconds: 0 });
    const tg = 'arn:aws:elasticloadbalancing:us-west-1:123456789012:targetgroup/prod-gateway-tg/0123456789abcdef';
    const u = await aws('ecs', 'update-service', '--cluster', cluster, '--service', name,
      '--load-balancers', `targetGroupArn=${tg},containerName=${family},containerPort=8080`, '--health-check-grace-period-seconds', '60');
    expect(u.code, u.stderr).toBe(0);
    expect(u.json.service).toMatchObject({ loadBalancers: [{ targetGroupArn: tg, containerName: family, containerPort: 8080 }], healthCheckGracePeriodSeconds: 60 });
    expect(u.json.service.deployments.map((x: any) => x.status)).toEqual(['PRIMARY', 'ACTIVE']);
    const primary = u.json.service.deployments[0].id;
    const grace = await aws('ecs', 'update-service', '--cluster', cluster, '--service', name, '--health-check-grace-period-seconds', '30',
      '--query', "[service.healthCheckGracePeriodSeconds, service.deployments[?status=='PRIMARY'].id | [0]]");
    expect(grace.json).toEqual([30, primary]); // the grace period alone starts no deployment
    const wrongPort = await aws('ecs', 'update-service', '--cluster', cluster, '--service', name,
      '--load-balancers', `targetGroupArn=${tg},containerName=${family},containerPort=9999`);
    expect(wrongPort.stderr).toMatch(/InvalidParameterException.*did not have a container port 9999 defined/);
  });

  it('runs, lists, describes and stops a task with the user reason', async () => {
    const r = await aws('ecs', 'run-task', '--cluster', cluster, '--task-definition', `web-${cli.major}:1`, '--launch-type', 'FARGATE',
      '--network-configuration', 'awsvpcConfiguration={subnets=[subnet-1]}');
    expect(r.code, r.stderr).toBe(0);
    const arn = r.json.tasks[0].taskArn;
    expect(arn).toMatch(new RegExp(`^arn:aws:ecs:us-west-1:123456789012:task/${cluster}/[0-9a-f]{32}$`));
    expect(r.json.tasks[0]).toMatchObject({ lastStatus: 'PROVISIONING', desiredStatus: 'RUNNING', launchType: 'FARGATE' });
    const l = await aws('ecs', 'list-tasks', '--cluster', cluster, '--family', `web-${cli.major}`);
    expect(l.json.taskArns).toContain(arn);
    const s = await aws('ecs', 'stop-task', '--cluster', cluster, '--task', arn, '--reason', 'done here');
    expect(s.json.task).toMatchObject({ desiredStatus: 'STOPPED', stoppedReason: 'done here', stopCode: 'UserInitiated' });
    const d = await aws('ecs', 'describe-tasks', '--cluster', cluster, '--tasks', arn, '0123456789abcdef0123456789abcdef');
    expect(d.json.tasks[0].taskArn).toBe(arn);
    expect(d.json.failures[0].reason).toBe('MISSING');
  });
});

describe('ECS through @aws-sdk/client-ecs', () => {
  const ecs = () => new ECSClient(sdkConfig(edge.url));

  it('parses every response and surfaces modeled errors by name', async () => {
    const client = ecs();
    await client.send(new CreateClusterCommand({ clusterName: 'sdk' }));
    const td = await client.send(new RegisterTaskDefinitionCommand(JSON.parse(taskDefJson('sdkweb'))));
    expect(td.taskDefinition?.registeredAt).toBeInstanceOf(Date);
    const created = await client.send(new CreateServiceCommand({
      cluster: 'sdk', serviceName: 'api', taskDefinition: 'sdkweb', desiredCount: 1, launchType: 'FARGATE',
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } },
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
    }));
    expect(created.service?.createdAt).toBeInstanceOf(Date);
    expect(created.service?.deploymentConfiguration?.deploymentCircuitBreaker).toEqual({ enable: true, rollback: true });
    const d = await client.send(new DescribeServicesCommand({ cluster: 'sdk', services: ['api', 'ghost'] }));
    expect(d.failures?.[0]?.reason).toBe('MISSING');
    expect(d.services?.[0]?.deployments?.[0]?.id).toMatch(/^ecs-svc\/\d{19}$/);
    await expect(client.send(new UpdateServiceCommand({ cluster: 'sdk', service: 'ghost' }))).rejects.toMatchObject({ name: 'ServiceNotFoundException' });
    await expect(client.send(new DescribeServicesCommand({ cluster: 'ghost', services: ['api'] }))).rejects.toMatchObject({ name: 'ClusterNotFoundException' });
    await expect(client.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'ghost' }))).rejects.toMatchObject({ name: 'ClientException' });
    const run = await client.send(new RunTaskCommand({ cluster: 'sdk', taskDefinition: 'sdkweb', launchType: 'FARGATE', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'] } } }));
    const arn = run.tasks![0]!.taskArn!;
    const lt = await client.send(new ListTasksCommand({ cluster: 'sdk' }));
    expect(lt.taskArns).toContain(arn);
    await client.send(new StopTaskCommand({ cluster: 'sdk', task: arn }));
    const dt = await client.send(new DescribeTasksCommand({ cluster: 'sdk', tasks: [arn] }));
    expect(dt.tasks?.[0]?.desiredStatus).toBe('STOPPED');
    await expect(client.send(new DeleteServiceCommand({ cluster: 'sdk', service: 'api' }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    const ls = await client.send(new ListServicesCommand({ cluster: 'sdk' }));
    expect(ls.serviceArns).toHaveLength(1);
    const dereg = await client.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'sdkweb:1' }));
    expect(dereg.taskDefinition?.status).toBe('INACTIVE');
    await expect(client.send(new UpdateServiceCommand({ cluster: 'sdk', service: 'api', taskDefinition: 'sdkweb:1' }))).rejects.toMatchObject({ name: 'ClientException', message: 'TaskDefinition is inactive' });
  });

  it('answers malformed requests with AWS error shapes and keeps serving', async () => {
    const post = (target: string, body: string) =>
      fetch(edge.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target }, body });
    const bad = await post('AmazonEC2ContainerServiceV20141113.ListClusters', '{not json');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ __type: 'SerializationException' });
    const unknown = await post('AmazonEC2ContainerServiceV20141113.LaunchRockets', '{}');
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    const mistyped = await post('AmazonEC2ContainerServiceV20141113.CreateService', JSON.stringify({ cluster: 'sdk', serviceName: 'x', desiredCount: 'many' }));
    expect(mistyped.status).toBe(400);
    expect(await mistyped.json()).toMatchObject({ __type: 'InvalidParameterException', message: 'desiredCount must be an integer' });
    const ok = await post('AmazonEC2ContainerServiceV20141113.ListClusters', '{}');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
