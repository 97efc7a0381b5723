import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ElasticLoadBalancingV2Client, DescribeLoadBalancersCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ECRClient, BatchGetImageCommand, DescribeImagesCommand } from '@aws-sdk/client-ecr';
import { SecretsManagerClient, CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { EC2Client, DescribeSubnetsCommand } from '@aws-sdk/client-ec2';
import { EventLog, type TimelineEvent } from '../events.ts';
import { AwsEdge } from './server.ts';
import { sdkConfig, TEST_ACCOUNT, TEST_REGION } from './test-edge.ts';
import { ElbStore } from './elbv2/store.ts';
import { createElbv2Provider } from './elbv2/provider.ts';
import { EcrStore } from './ecr/store.ts';
import { createEcrProvider } from './ecr/provider.ts';
import { SecretsManagerStore } from './secretsmanager/store.ts';
import { createSecretsManagerProvider } from './secretsmanager/provider.ts';
import { createEc2Provider } from './ec2/provider.ts';
import { seededEc2Store } from './ec2/testing.ts';

describe('AwsEdge: the api.call event', () => {
  const events = new EventLog();
  let edge: AwsEdge;
  let url: string;
  beforeAll(async () => {
    const ecr = new EcrStore({ account: TEST_ACCOUNT, region: TEST_REGION });
    ecr.createRepository('escher-gateway');
    edge = new AwsEdge({
      account: TEST_ACCOUNT,
      defaultRegion: TEST_REGION,
      events,
      providers: [
        createElbv2Provider(new ElbStore({ account: TEST_ACCOUNT, region: TEST_REGION, scaledMs: (s) => s * 20 })),
        createEcrProvider(ecr),
        createSecretsManagerProvider(new SecretsManagerStore({ account: TEST_ACCOUNT, region: TEST_REGION })),
        createEc2Provider(seededEc2Store(TEST_ACCOUNT, TEST_REGION)),
      ],
    });
    url = await edge.start();
  });
  afterAll(() => edge.stop());
  const last = (operation: string): TimelineEvent => events.filter((e) => e.type === 'api.call' && e.operation === operation).at(-1)!;

  it('keeps short string lists (ELBv2 Names, EC2 SubnetId.N) and drops lists longer than 20', async () => {
    const elb = new ElasticLoadBalancingV2Client(sdkConfig(url));
    await expect(elb.send(new DescribeLoadBalancersCommand({ Names: ['escher-missing-alb'] }))).rejects.toMatchObject({ name: 'LoadBalancerNotFoundException' });
    expect(last('DescribeLoadBalancers')).toMatchObject({ service: 'elasticloadbalancing', status: 400, error: 'LoadBalancerNotFound', input: { Names: ['escher-missing-alb'] } });

    const many = Array.from({ length: 21 }, (_, n) => `lb-${n}`);
    await expect(elb.send(new DescribeLoadBalancersCommand({ Names: many }))).rejects.toBeTruthy();
    expect(last('DescribeLoadBalancers').input).not.toHaveProperty('Names');

    const ec2 = new EC2Client(sdkConfig(url));
    await expect(ec2.send(new DescribeSubnetsCommand({ SubnetIds: ['subnet-0123456789abcdef0'] }))).rejects.toMatchObject({ name: 'InvalidSubnetID.NotFound' });
    expect(last('DescribeSubnets')).toMatchObject({ error: 'InvalidSubnetID.NotFound', input: { SubnetId: ['subnet-0123456789abcdef0'] } });
  });

  it("keeps only the tag and digest of ECR imageIds, and a 200's failures", async () => {
    const ecr = new ECRClient(sdkConfig(url));
    const out = await ecr.send(new BatchGetImageCommand({ repositoryName: 'escher-gateway', imageIds: [{ imageTag: 'v9.9.9' }] }));
    expect(out.failures).toHaveLength(1);
    expect(last('BatchGetImage')).toMatchObject({
      status: 200,
      input: { repositoryName: 'escher-gateway', imageIds: [{ imageTag: 'v9.9.9' }] },
      failures: [{ imageId: { imageTag: 'v9.9.9' }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }],
    });
    await expect(ecr.send(new DescribeImagesCommand({ repositoryName: 'escher-gateway', imageIds: [{ imageTag: 'v9.9.9' }] }))).rejects.toMatchObject({ name: 'ImageNotFoundException' });
    const e = last('DescribeImages');
    expect(e.input).toEqual({ repositoryName: 'escher-gateway', imageIds: [{ imageTag: 'v9.9.9' }] });
    expect(e).not.toHaveProperty('failures');
  });

  it('still never records a secret value, and drops nested structures', async () => {
    const sm = new SecretsManagerClient(sdkConfig(url));
    await sm.send(new CreateSecretCommand({ Name: 'escher/test', SecretString: 'do-not-log-me', Tags: [{ Key: 'k', Value: 'v' }] }));
    const e = last('CreateSecret');
    expect(e.input).toMatchObject({ Name: 'escher/test', SecretString: '****' });
    expect(e.input).not.toHaveProperty('Tags');
    expect(JSON.stringify(events.all())).not.toContain('do-not-log-me');
  });
});
