import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient, ListClustersCommand } from '@aws-sdk/client-ecs';
import { localStackChoice, serviceOf, startForwardingFront, startLocalStackTier, type ForwardingFront } from './localstack.ts';
import { makeTestControlPlane, registerFargateTaskDefinition } from '../../ecs/testing.ts';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A stand-in HTTP server that records every request and answers with a fixed JSON/XML reply. */
async function recorder(name: string, reply: (req: Seen) => { status: number; type: string; body: string }) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      const r = reply(s);
      res.writeHead(r.status, { 'content-type': r.type, 'x-recorder': name });
      res.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

const STS_XML =
  '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:root</Arn><UserId>000000000000</UserId><Account>000000000000</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>';

describe('LocalStack forwarding front', () => {
  let localstack: Awaited<ReturnType<typeof recorder>>;
  let edge: Awaited<ReturnType<typeof recorder>>;
  let front: ForwardingFront;
  const cfg = () => ({ endpoint: front.url, region: 'us-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });

  beforeAll(async () => {
    localstack = await recorder('localstack', (s) =>
      s.headers['x-amz-target'] === 'secretsmanager.GetSecretValue'
        ? { status: 200, type: 'application/x-amz-json-1.1', body: JSON.stringify({ ARN: 'arn:aws:secretsmanager:us-west-1:000000000000:secret:x-AbCdEf', Name: 'x', SecretString: 'from-localstack', VersionId: 'v1' }) }
        : s.headers['x-amz-target']?.toString().startsWith('Logs_20140328')
          ? { status: 200, type: 'application/x-amz-json-1.1', body: JSON.stringify({ logGroups: [{ logGroupName: '/from/localstack' }] }) }
          : { status: 200, type: 'text/xml', body: STS_XML },
    );
    edge = await recorder('edge', () => ({ status: 200, type: 'application/x-amz-json-1.1', body: JSON.stringify({ clusterArns: ['arn:aws:ecs:us-west-1:123456789012:cluster/ours'] }) }));
    front = await startForwardingFront({ edge: edge.url, forwardTo: localstack.url });
  });
  afterAll(async () => {
    await front?.stop();
    await localstack?.stop();
    await edge?.stop();
  });

  it('sends Secrets Manager, STS and CloudWatch Logs to LocalStack unchanged, and ECS to our edge', async () => {
    const secret = await new SecretsManagerClient(cfg()).send(new GetSecretValueCommand({ SecretId: 'x' }));
    expect(secret.SecretString).toBe('from-localstack');
    const who = await new STSClient(cfg()).send(new GetCallerIdentityCommand({}));
    expect(who.Account).toBe('000000000000');
    const groups = await new CloudWatchLogsClient(cfg()).send(new DescribeLogGroupsCommand({}));
    expect(groups.logGroups?.[0]?.logGroupName).toBe('/from/localstack');
    const clusters = await new ECSClient(cfg()).send(new ListClustersCommand({}));
    expect(clusters.clusterArns).toEqual(['arn:aws:ecs:us-west-1:123456789012:cluster/ours']);

    // what LocalStack received: the three requests, signed for their own services, bodies intact
    expect(localstack.seen.map((s) => serviceOf(s.headers))).toEqual(['secretsmanager', 'sts', 'logs']);
    const sm = localstack.seen[0]!;
    expect(sm.headers['x-amz-target']).toBe('secretsmanager.GetSecretValue');
    expect(JSON.parse(sm.body)).toEqual({ SecretId: 'x' });
    expect(String(sm.headers.authorization)).toMatch(/Credential=AKIDTEST\/\d{8}\/us-west-1\/secretsmanager\/aws4_request/);
    expect(localstack.seen[1]!.body).toContain('Action=GetCallerIdentity');
    // what our edge received: only ECS
    expect(edge.seen.map((s) => s.headers['x-amz-target'])).toEqual(['AmazonEC2ContainerServiceV20141113.ListClusters']);
    expect(Object.fromEntries(front.forwarded)).toEqual({ secretsmanager: 1, sts: 1, logs: 1 });
  });

  it('without the LocalStack image, says our providers serve those services', async () => {
    const c = await localStackChoice('escher-harness/no-such-localstack:0');
    expect(c.use).toBe(false);
    expect(c.reason).toMatch(/not present locally .*Secrets Manager, IAM, STS, CloudWatch Logs are the harness's own providers/);
  });
});

describe('LocalStack serving Secrets Manager for the ECS scheduler (stand-in LocalStack)', () => {
  const ARN = (name: string) => `arn:aws:secretsmanager:us-west-1:123456789012:secret:${name}`;
  const values: Record<string, string> = {};
  let ls: Awaited<ReturnType<typeof recorder>>;
  let edge: Awaited<ReturnType<typeof recorder>>;
  let tier: NonNullable<Awaited<ReturnType<typeof startLocalStackTier>>['tier']>;
  let cp: ReturnType<typeof makeTestControlPlane> | undefined;

  beforeAll(async () => {
    // a stand-in LocalStack: CreateSecret stores, GetSecretValue answers from what it stored, logs calls succeed
    ls = await recorder('localstack', (s) => {
      const target = String(s.headers['x-amz-target'] ?? '');
      const body = s.body ? JSON.parse(s.body) : {};
      const json = (o: unknown, status = 200) => ({ status, type: 'application/x-amz-json-1.1', body: JSON.stringify(o) });
      if (target === 'secretsmanager.CreateSecret') {
        values[body.Name] = body.SecretString;
        return json({ ARN: ARN(`${body.Name}-AbCdEf`), Name: body.Name, VersionId: 'v1' });
      }
      if (target === 'secretsmanager.GetSecretValue') {
        const name = String(body.SecretId).replace(/^arn:aws:secretsmanager:[^:]+:\d+:secret:/, '');
        if (!(name in values)) return json({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }, 400);
        return json({ ARN: ARN(`${name}-AbCdEf`), Name: name, SecretString: values[name], VersionId: 'v1', VersionStages: ['AWSCURRENT'] });
      }
      return json({});
    });
    edge = await recorder('edge', () => ({ status: 200, type: 'application/x-amz-json-1.1', body: '{}' }));
    const r = await startLocalStackTier({
      runId: 'ehtest',
      edge: edge.url,
      region: 'us-west-1',
      account: '123456789012',
      localstackUrl: ls.url,
      secrets: { 'escher/anthropic-api-key': 'sk-forwarded-from-localstack', 'escher/surrealdb-root': JSON.stringify({ username: 'root', password: 'pw-from-localstack' }) },
    });
    tier = r.tier!;
  });
  afterAll(async () => {
    await cp?.scheduler.stop();
    cp?.clock.close();
    await tier?.stop();
    await ls?.stop();
    await edge?.stop();
  });

  it('seeds the harness secrets in LocalStack and puts the front before our edge', () => {
    const created = ls.seen.filter((s) => s.headers['x-amz-target'] === 'secretsmanager.CreateSecret').map((s) => JSON.parse(s.body).Name);
    expect(created).toEqual(['escher/anthropic-api-key', 'escher/surrealdb-root']);
    expect(tier.endpoint).toBe(tier.front.url);
  });

  it('the scheduler starts a task with the values LocalStack served, and fails one as ECS does when LocalStack has no such secret/key', async () => {
    cp = makeTestControlPlane({ 'img:v1': {} });
    cp.deps.secrets = tier.secrets;
    const td = registerFargateTaskDefinition(cp.store, [
      {
        name: 'app',
        image: 'img:v1',
        secrets: [
          { name: 'ANTHROPIC_API_KEY', valueFrom: ARN('escher/anthropic-api-key') },
          { name: 'SURREAL_PASS', valueFrom: `${ARN('escher/surrealdb-root')}:password::` },
        ],
      },
    ]);
    const net = { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: [] } };
    const before = ls.seen.length;
    const t = cp.store.createTask({ clusterName: 'c1', taskDefinition: td, launchType: 'FARGATE', networkConfiguration: net });
    const id = t.task.taskArn!.split('/').pop();
    await cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === id && e.lastStatus === 'RUNNING');
    const started = [...cp.runtime.running.values()].find((c) => c.spec.taskId === id)!;
    expect(started.spec.env.ANTHROPIC_API_KEY).toBe('sk-forwarded-from-localstack');
    expect(started.spec.env.SURREAL_PASS).toBe('pw-from-localstack');
    // what LocalStack received: two GetSecretValue calls, signed for secretsmanager in the secret's region
    const asked = ls.seen.slice(before);
    expect(asked.map((s) => [s.headers['x-amz-target'], JSON.parse(s.body).SecretId])).toEqual([
      ['secretsmanager.GetSecretValue', ARN('escher/anthropic-api-key')],
      ['secretsmanager.GetSecretValue', ARN('escher/surrealdb-root')],
    ]);
    expect(asked.every((s) => serviceOf(s.headers) === 'secretsmanager' && /Credential=123456789012\/\d{8}\/us-west-1\/secretsmanager\/aws4_request/.test(String(s.headers.authorization)))).toBe(true);

    const bad = (valueFrom: string) =>
      cp!.store.registerTaskDefinition({ ...td, containerDefinitions: [{ name: 'app', image: 'img:v1', secrets: [{ name: 'X', valueFrom }] }] } as never);
    const missing = cp.store.createTask({ clusterName: 'c1', taskDefinition: bad(ARN('escher/nope')), launchType: 'FARGATE', networkConfiguration: net });
    const noKey = cp.store.createTask({ clusterName: 'c1', taskDefinition: bad(`${ARN('escher/surrealdb-root')}:NOPE::`), launchType: 'FARGATE', networkConfiguration: net });
    for (const x of [missing, noKey]) {
      const xid = x.task.taskArn!.split('/').pop();
      await cp.events.waitFor((e) => e.type === 'ecs.task.state' && e.taskId === xid && e.lastStatus === 'STOPPED');
    }
    expect(missing.task.stopCode).toBe('TaskFailedToStart');
    expect(missing.task.stoppedReason).toBe(
      `ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret ${ARN('escher/nope')} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
    );
    expect(noKey.task.stoppedReason).toMatch(/: retrieved secret from Secrets Manager did not contain json key NOPE$/);
  });

  it('task log lines reach LocalStack CloudWatch Logs and stay in our store', async () => {
    const ours: string[] = [];
    const sink = tier.logs({ append: (_g, _s, m) => void ours.push(m) });
    sink.append('/ecs/app', 'app/app/t1', 'hello', 1_700_000_000_000, true);
    sink.append('/ecs/app', 'app/app/t1', 'world', 1_700_000_000_001, true);
    await (sink as unknown as { flush(): Promise<void> }).flush();
    expect(ours).toEqual(['hello', 'world']);
    const logs = ls.seen.filter((s) => String(s.headers['x-amz-target']).startsWith('Logs_20140328.'));
    expect(logs.map((s) => s.headers['x-amz-target'])).toEqual(['Logs_20140328.CreateLogGroup', 'Logs_20140328.CreateLogStream', 'Logs_20140328.PutLogEvents']);
    expect(JSON.parse(logs[2]!.body).logEvents.map((e: { message: string }) => e.message)).toEqual(['hello', 'world']);
  });
});
