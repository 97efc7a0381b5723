import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { SecretsManagerClient, GetSecretValueCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { ECRClient, DescribeRepositoriesCommand, CreateRepositoryCommand, BatchGetImageCommand, DescribeImagesCommand } from '@aws-sdk/client-ecr';
import { EC2Client, DescribeSubnetsCommand, DescribeVpcsCommand, CreateSecurityGroupCommand } from '@aws-sdk/client-ec2';
import { EventLog } from '../events.ts';
import { AwsEdge } from '../aws/server.ts';
import { sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../aws/test-edge.ts';
import { ElbStore } from '../aws/elbv2/store.ts';
import { createElbv2Provider } from '../aws/elbv2/provider.ts';
import { CognitoStore } from '../aws/cognito/store.ts';
import { createCognitoProvider } from '../aws/cognito/provider.ts';
import { SecretsManagerStore } from '../aws/secretsmanager/store.ts';
import { createSecretsManagerProvider } from '../aws/secretsmanager/provider.ts';
import { EcrStore } from '../aws/ecr/store.ts';
import { createEcrProvider } from '../aws/ecr/provider.ts';
import { IamStore } from '../aws/iam/store.ts';
import { createIamProvider } from '../aws/iam/provider.ts';
import { seedIam } from '../aws/iam/seed.ts';
import { createEc2Provider } from '../aws/ec2/provider.ts';
import { seededEc2Store, TEST_VPC_ID } from '../aws/ec2/testing.ts';
import { findAwsClis, runAws } from './aws-cli.ts';
import { missingPrerequisites, formatPrerequisiteLines } from './prerequisites.ts';

const clis = findAwsClis();
const cli = clis[0];

describe('missingPrerequisites: what the scripts looked up and the harness did not seed', () => {
  const events = new EventLog();
  let edge: AwsEdge;
  let url = '';
  let poolId = '';
  let secretArn = '';
  beforeAll(async () => {
    // seeded as the harness would: one ALB, one pool with its app client, one secret, one role, one repository
    const elb = new ElbStore({ account: TEST_ACCOUNT, region: TEST_REGION, scaledMs: (s) => s * 20 });
    elb.createLoadBalancer({ Name: 'escher-alb', Subnets: ['subnet-1', 'subnet-2'] });
    const cognito = new CognitoStore({ account: TEST_ACCOUNT, region: TEST_REGION });
    const pool = cognito.createUserPool('escher-users');
    poolId = pool.id;
    cognito.createUserPoolClient(pool.id, { clientName: 'escher-alb' });
    const secrets = new SecretsManagerStore({ account: TEST_ACCOUNT, region: TEST_REGION });
    secretArn = secrets.createSecret('escher/anthropic-api-key', 'fake').secret.arn;
    const iam = new IamStore({ account: TEST_ACCOUNT });
    seedIam(iam, ['escher-ecs-task-execution-role']);
    const ecr = new EcrStore({ account: TEST_ACCOUNT, region: TEST_REGION });
    ecr.createRepository('escher-gateway');
    edge = new AwsEdge({
      account: TEST_ACCOUNT,
      defaultRegion: TEST_REGION,
      events,
      providers: [
        createElbv2Provider(elb),
        createCognitoProvider(cognito),
        createSecretsManagerProvider(secrets),
        createIamProvider(iam),
        createEcrProvider(ecr),
        createEc2Provider(seededEc2Store(TEST_ACCOUNT, TEST_REGION)),
      ],
    });
    url = await edge.start();
  });
  afterAll(() => edge.stop());

  /** Runs fn and returns the window of events it made, as a ScriptRun's fromSeq/toSeq. */
  async function window(fn: () => Promise<unknown>): Promise<{ fromSeq: number; toSeq: number }> {
    const fromSeq = events.all().length;
    await fn();
    return { fromSeq, toSeq: events.all().length };
  }
  const lines = (w: { fromSeq: number; toSeq: number }, script = 'deploy-all.sh') => missingPrerequisites(events.all(), { ...w, script }).map((x) => x.line);

  describe.runIf(clis.length > 0).each(clis)('with aws $major ($version)', (c) => {
    it('elbv2 describe-load-balancers --names escher-missing-alb: one line; a missing target group is not a prerequisite', { timeout: 60_000 }, async () => {
      const aws = (...args: string[]) => runAws(c, url, args);
      const w = await window(async () => {
        const r = await aws('elbv2', 'describe-load-balancers', '--names', 'escher-missing-alb');
        expect(r.stderr).toContain('LoadBalancerNotFound');
        expect((await aws('elbv2', 'describe-load-balancers', '--names', 'escher-alb')).code).toBe(0);
        expect((await aws('elbv2', 'describe-target-groups', '--names', 'escher-gateway-tg')).stderr).toContain('TargetGroupNotFound');
      });
      expect(lines(w)).toEqual([
        'deploy-all.sh looked up load balancer escher-missing-alb (elbv2 DescribeLoadBalancers → LoadBalancerNotFound), which the harness did not seed: add it under loadBalancers in harness.yaml',
      ]);
      const [item] = missingPrerequisites(events.all(), w);
      expect(item).toMatchObject({ service: 'elbv2', operation: 'DescribeLoadBalancers', name: 'escher-missing-alb', manifestKey: 'loadBalancers' });
    });
  });

  it.runIf(!!cli)('cognito-idp describe-user-pool / describe-user-pool-client: the missing pool, the missing app client', { timeout: 60_000 }, async () => {
    const aws = (...args: string[]) => runAws(cli!, url, args);
    const w = await window(async () => {
      expect((await aws('cognito-idp', 'describe-user-pool', '--user-pool-id', `${TEST_REGION}_Missing01`)).stderr).toContain('ResourceNotFoundException');
      expect((await aws('cognito-idp', 'describe-user-pool-client', '--user-pool-id', poolId, '--client-id', 'missingclient0001')).stderr).toContain('ResourceNotFoundException');
      // the client of a pool that is not there: the pool is what is missing (reported once)
      expect((await aws('cognito-idp', 'describe-user-pool-client', '--user-pool-id', `${TEST_REGION}_Missing01`, '--client-id', 'anyclient')).code).not.toBe(0);
      expect((await aws('cognito-idp', 'describe-user-pool', '--user-pool-id', poolId)).code).toBe(0);
    });
    expect(lines(w, 'deploy-all.sh')).toEqual([
      `deploy-all.sh looked up user pool ${TEST_REGION}_Missing01 (cognito-idp DescribeUserPool → ResourceNotFoundException), which the harness did not seed: add it under cognito in harness.yaml`,
      'deploy-all.sh looked up app client missingclient0001 (cognito-idp DescribeUserPoolClient → ResourceNotFoundException), which the harness did not seed: add it under cognito[].clients in harness.yaml',
    ]);
  });

  it.runIf(!!cli)('iam get-role of a role that was not seeded → iam.roles', { timeout: 60_000 }, async () => {
    const aws = (...args: string[]) => runAws(cli!, url, args);
    const w = await window(async () => {
      expect((await aws('iam', 'get-role', '--role-name', 'escher-missing-role')).stderr).toContain('NoSuchEntity');
      expect((await aws('iam', 'get-role', '--role-name', 'escher-ecs-task-execution-role')).code).toBe(0);
    });
    expect(lines(w, 'deploy.sh')).toEqual([
      'deploy.sh looked up IAM role escher-missing-role (iam GetRole → NoSuchEntity), which the harness did not seed: add it under iam.roles in harness.yaml',
    ]);
  });

  it('secretsmanager GetSecretValue / DescribeSecret (by name or full ARN), deduplicated; a missing version stage is not a prerequisite', async () => {
    const sm = new SecretsManagerClient(sdkConfig(url));
    const missingArn = `arn:aws:secretsmanager:${TEST_REGION}:${TEST_ACCOUNT}:secret:escher/surrealdb-root-AbC123`;
    const w = await window(async () => {
      await expect(sm.send(new GetSecretValueCommand({ SecretId: 'escher/surrealdb-root' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      await expect(sm.send(new DescribeSecretCommand({ SecretId: missingArn }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      await expect(sm.send(new GetSecretValueCommand({ SecretId: secretArn, VersionStage: 'AWSPREVIOUS' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      await sm.send(new GetSecretValueCommand({ SecretId: 'escher/anthropic-api-key' }));
    });
    expect(lines(w)).toEqual([
      'deploy-all.sh looked up secret escher/surrealdb-root (secretsmanager GetSecretValue → ResourceNotFoundException), which the harness did not seed: add it under secrets in harness.yaml',
    ]);
  });

  it('ecr: a missing repository, a missing tag (BatchGetImage failures, DescribeImages); a repository the script creates itself is not reported', async () => {
    const ecr = new ECRClient(sdkConfig(url));
    const w = await window(async () => {
      await expect(ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ['escher-analysis-agent'] }))).rejects.toMatchObject({ name: 'RepositoryNotFoundException' });
      // describe-repositories || create-repository: the script's own
      await expect(ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ['escher-scratch'] }))).rejects.toMatchObject({ name: 'RepositoryNotFoundException' });
      await ecr.send(new CreateRepositoryCommand({ repositoryName: 'escher-scratch' }));
      const out = await ecr.send(new BatchGetImageCommand({ repositoryName: 'escher-gateway', imageIds: [{ imageTag: 'v2.15.0' }] }));
      expect(out.failures?.[0]?.failureCode).toBe('ImageNotFound');
      await expect(ecr.send(new DescribeImagesCommand({ repositoryName: 'escher-gateway', imageIds: [{ imageTag: 'v2.14.0' }] }))).rejects.toMatchObject({ name: 'ImageNotFoundException' });
      await expect(ecr.send(new BatchGetImageCommand({ repositoryName: 'escher-asset-store', imageIds: [{ imageTag: 'v2.15.0' }] }))).rejects.toMatchObject({ name: 'RepositoryNotFoundException' });
    });
    const items = missingPrerequisites(events.all(), { ...w, script: 'deploy-all.sh' });
    expect(items.map((x) => x.line)).toEqual([
      'deploy-all.sh looked up ECR repository escher-analysis-agent (ecr DescribeRepositories → RepositoryNotFoundException), which the harness did not seed: add it under images.repositories in harness.yaml',
      'deploy-all.sh looked up image escher-gateway:v2.15.0 (ecr BatchGetImage → ImageNotFound), which the harness did not seed: add it under images.tags in harness.yaml',
      'deploy-all.sh looked up image escher-gateway:v2.14.0 (ecr DescribeImages → ImageNotFoundException), which the harness did not seed: add it under images.tags in harness.yaml',
      'deploy-all.sh looked up ECR repository escher-asset-store (ecr BatchGetImage → RepositoryNotFoundException), which the harness did not seed: add it under images.repositories in harness.yaml',
    ]);
  });

  it('ec2: DescribeSubnets / DescribeVpcs of ids that are not there, and a VPC named by CreateSecurityGroup', async () => {
    const ec2 = new EC2Client(sdkConfig(url));
    const w = await window(async () => {
      await expect(ec2.send(new DescribeSubnetsCommand({ SubnetIds: ['subnet-0123456789abcdef0'] }))).rejects.toMatchObject({ name: 'InvalidSubnetID.NotFound' });
      await expect(ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-0123456789abcdef0'] }))).rejects.toMatchObject({ name: 'InvalidVpcID.NotFound' });
      await expect(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'escher-x-sg', Description: 'x', VpcId: 'vpc-0123456789abcdef0' }))).rejects.toMatchObject({ name: 'InvalidVpcID.NotFound' });
      await ec2.send(new DescribeVpcsCommand({ VpcIds: [TEST_VPC_ID] }));
    });
    expect(lines(w)).toEqual([
      'deploy-all.sh looked up subnet subnet-0123456789abcdef0 (ec2 DescribeSubnets → InvalidSubnetID.NotFound), which the harness did not seed: add it under vpc.subnets in harness.yaml',
      'deploy-all.sh looked up VPC vpc-0123456789abcdef0 (ec2 DescribeVpcs → InvalidVpcID.NotFound), which the harness did not seed: add it under vpc in harness.yaml',
    ]);
  });

  it('reads only the window it is given; formatPrerequisiteLines gives the report lines', () => {
    const log = new EventLog();
    log.append('script.start', { script: 'deploy-all.sh' });
    log.append('api.call', { service: 'elasticloadbalancing', operation: 'DescribeLoadBalancers', status: 400, error: 'LoadBalancerNotFound', message: 'One or more load balancers not found', input: { Names: ['escher-alb'] } });
    log.append('api.call', { service: 'elasticloadbalancing', operation: 'DescribeLoadBalancers', status: 400, error: 'LoadBalancerNotFound', message: 'One or more load balancers not found', input: { Names: ['escher-alb'] } });
    log.append('script.end', { script: 'deploy-all.sh', exitCode: 1 });
    log.append('api.call', { service: 'iam', operation: 'GetRole', status: 404, error: 'NoSuchEntity', message: 'The role with name later cannot be found.', input: { RoleName: 'later' } });
    const items = missingPrerequisites(log.all(), { fromSeq: 0, toSeq: 4 });
    expect(items).toHaveLength(1);
    expect(items[0]!.line).toBe('the script looked up load balancer escher-alb (elbv2 DescribeLoadBalancers → LoadBalancerNotFound), which the harness did not seed: add it under loadBalancers in harness.yaml');
    expect(missingPrerequisites(log.all(), { fromSeq: 4 }).map((x) => x.name)).toEqual(['later']);
    expect(formatPrerequisiteLines(items, 'deploy-all.sh v2.15.0', 1)).toEqual([
      'deploy-all.sh v2.15.0 exited 1: it looked up load balancer escher-alb (elbv2 DescribeLoadBalancers → LoadBalancerNotFound), which the harness did not seed (add it under loadBalancers in harness.yaml)',
    ]);
    expect(formatPrerequisiteLines(items, 'deploy.sh gateway v2.15.1', 0)[0]).toMatch(/^deploy\.sh gateway v2\.15\.1 exited 0, but it looked up load balancer escher-alb /);
    expect(formatPrerequisiteLines([], 'deploy-all.sh v2.15.0', 1)).toEqual([]);
  });
});
