import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient, ListClustersCommand } from '@aws-sdk/client-ecs';
import { localStackChoice, serviceOf, startForwardingFront, type ForwardingFront } from './localstack.ts';

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
