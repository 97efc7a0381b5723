import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  PutLogEventsCommand,
  GetLogEventsCommand,
  FilterLogEventsCommand,
  DeleteLogGroupCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { LogsStore } from './store.ts';
import { createLogsProvider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[logs contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

async function edgeWithStore() {
  const store = new LogsStore({ account: TEST_ACCOUNT, region: TEST_REGION });
  return { store, ...(await startTestEdge([createLogsProvider(store)])) };
}

describe.each(clis)('CloudWatch Logs with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  beforeAll(async () => {
    env = await edgeWithStore();
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, args);
  const ok = async (...args: string[]) => {
    const r = await aws(...args);
    expect(r.code, `aws ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };

  it('drives every operation and names the error codes', async () => {
    const t = Date.now();
    await ok('logs', 'create-log-group', '--log-group-name', '/ecs/gateway');
    // the scheduler's awslogs driver writes task output
    env.store.appendTaskLog('/ecs/gateway', 'ecs/gateway/task-1', 'INFO listening on :8080', t - 2);
    env.store.appendTaskLog('/ecs/gateway', 'ecs/gateway/task-1', 'ERROR upstream timeout', t - 1);
    await ok('logs', 'create-log-stream', '--log-group-name', '/ecs/gateway', '--log-stream-name', 'manual');
    const put = await ok('logs', 'put-log-events', '--log-group-name', '/ecs/gateway', '--log-stream-name', 'manual', '--log-events', `timestamp=${t},message=hello`, `timestamp=${t + 1},message=ERROR again`);
    expect(put.json.nextSequenceToken).toMatch(/^\d+$/);

    const groups = await ok('logs', 'describe-log-groups', '--log-group-name-prefix', '/ecs/');
    expect(groups.json.logGroups.map((g: any) => g.logGroupName)).toEqual(['/ecs/gateway']);
    const streams = await ok('logs', 'describe-log-streams', '--log-group-name', '/ecs/gateway', '--order-by', 'LastEventTime', '--descending');
    expect(streams.json.logStreams.map((s: any) => s.logStreamName)).toEqual(['manual', 'ecs/gateway/task-1']);

    const got = await ok('logs', 'get-log-events', '--log-group-name', '/ecs/gateway', '--log-stream-name', 'ecs/gateway/task-1', '--start-from-head', '--limit', '1');
    expect(got.json.events.map((e: any) => e.message)).toEqual(['INFO listening on :8080']);
    expect(got.json.nextForwardToken).toMatch(/^f\//);

    const filtered = await ok('logs', 'filter-log-events', '--log-group-name', '/ecs/gateway', '--filter-pattern', 'ERROR');
    expect(filtered.json.events.map((e: any) => `${e.logStreamName}: ${e.message}`)).toEqual(['ecs/gateway/task-1: ERROR upstream timeout', 'manual: ERROR again']);

    const dup = await aws('logs', 'create-log-group', '--log-group-name', '/ecs/gateway');
    expect([254, 255]).toContain(dup.code);
    expect(dup.stderr).toContain('ResourceAlreadyExistsException');
    await ok('logs', 'delete-log-group', '--log-group-name', '/ecs/gateway');
    const missing = await aws('logs', 'get-log-events', '--log-group-name', '/ecs/gateway', '--log-stream-name', 'manual');
    expect([254, 255]).toContain(missing.code);
    expect(missing.stderr).toContain('ResourceNotFoundException');
    expect(missing.stderr).toContain('The specified log group does not exist.');
  });
});

describe('CloudWatch Logs with @aws-sdk/client-cloudwatch-logs', () => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  let logs: CloudWatchLogsClient;
  beforeAll(async () => {
    env = await edgeWithStore();
    logs = new CloudWatchLogsClient(sdkConfig(env.url));
  });
  afterAll(async () => {
    logs.destroy();
    await env.stop();
  });

  it('drives every operation and sees modeled errors by name', async () => {
    const t = Date.now();
    await logs.send(new CreateLogGroupCommand({ logGroupName: '/ecs/asset-store' }));
    await logs.send(new CreateLogStreamCommand({ logGroupName: '/ecs/asset-store', logStreamName: 's' }));
    await logs.send(new PutLogEventsCommand({ logGroupName: '/ecs/asset-store', logStreamName: 's', logEvents: [{ timestamp: t, message: 'a "quoted" line' }, { timestamp: t + 1, message: 'b' }] }));
    const g = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/ecs' }));
    expect(g.logGroups?.[0]).toMatchObject({ logGroupName: '/ecs/asset-store', creationTime: expect.any(Number) });
    const s = await logs.send(new DescribeLogStreamsCommand({ logGroupName: '/ecs/asset-store' }));
    expect(s.logStreams?.[0]).toMatchObject({ logStreamName: 's', firstEventTimestamp: t, lastEventTimestamp: t + 1 });
    const e = await logs.send(new GetLogEventsCommand({ logGroupName: '/ecs/asset-store', logStreamName: 's', startFromHead: true }));
    expect(e.events?.map((x) => x.message)).toEqual(['a "quoted" line', 'b']);
    const f = await logs.send(new FilterLogEventsCommand({ logGroupName: '/ecs/asset-store', filterPattern: '"quoted"', startTime: t, endTime: t + 10 }));
    expect(f.events?.map((x) => x.message)).toEqual(['a "quoted" line']);
    await expect(logs.send(new CreateLogStreamCommand({ logGroupName: '/ecs/asset-store', logStreamName: 's' }))).rejects.toMatchObject({ name: 'ResourceAlreadyExistsException' });
    await logs.send(new DeleteLogGroupCommand({ logGroupName: '/ecs/asset-store' }));
    await expect(logs.send(new DeleteLogGroupCommand({ logGroupName: '/ecs/asset-store' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'The specified log group does not exist.',
    });
  });
});
