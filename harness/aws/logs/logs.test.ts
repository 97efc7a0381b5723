import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { LogsStore } from './store.ts';
import { createLogsProvider, compileFilterPattern } from './provider.ts';
import { startTestEdge, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import type { RequestContext } from '../protocol/types.ts';

const ctx: RequestContext = { requestId: 'r-1', region: TEST_REGION, account: TEST_ACCOUNT, signingName: 'logs' };

function setup() {
  const store = new LogsStore({ account: TEST_ACCOUNT, region: TEST_REGION });
  const ops = createLogsProvider(store).operations as Record<string, (i: any, c: RequestContext) => any>;
  return { store, call: (op: string, input: any = {}) => ops[op]!(input, ctx) };
}

describe('LogsStore (awslogs driver path)', () => {
  it('creates the group and stream on demand and keeps events in time order', () => {
    const { store } = setup();
    const seen: string[] = [];
    const off = store.onLogEvent((n) => seen.push(`${n.logStreamName}:${n.event.message}`));
    const t = Date.now();
    store.appendTaskLog('/ecs/gateway', 'ecs/gateway/abc', 'second', t + 1);
    store.appendTaskLog('/ecs/gateway', 'ecs/gateway/abc', 'first', t);
    store.appendTaskLog('/ecs/gateway', 'ecs/gateway/def', 'other task', t + 2);
    off();
    store.appendTaskLog('/ecs/gateway', 'ecs/gateway/def', 'unseen by listener', t + 3);
    expect(store.readLogEvents('/ecs/gateway', 'ecs/gateway/abc').map((e) => e.message)).toEqual(['first', 'second']);
    expect(store.readLogEvents('/ecs/gateway').map((e) => e.message)).toEqual(['first', 'second', 'other task', 'unseen by listener']);
    expect(seen).toEqual(['ecs/gateway/abc:second', 'ecs/gateway/abc:first', 'ecs/gateway/def:other task']);
  });
});

describe('CloudWatch Logs provider operations', () => {
  it('creates groups and streams, with AWS errors for duplicates and missing ones', () => {
    const { call } = setup();
    call('CreateLogGroup', { logGroupName: '/ecs/gateway' });
    call('CreateLogGroup', { logGroupName: '/ecs/ui-agent' });
    call('CreateLogGroup', { logGroupName: '/other' });
    expect(() => call('CreateLogGroup', { logGroupName: '/ecs/gateway' })).toThrow(expect.objectContaining({ code: 'ResourceAlreadyExistsException' }));
    const groups = call('DescribeLogGroups', { logGroupNamePrefix: '/ecs/' }).logGroups;
    expect(groups.map((g: any) => g.logGroupName)).toEqual(['/ecs/gateway', '/ecs/ui-agent']);
    expect(groups[0]).toMatchObject({ arn: `arn:aws:logs:${TEST_REGION}:${TEST_ACCOUNT}:log-group:/ecs/gateway:*`, logGroupArn: `arn:aws:logs:${TEST_REGION}:${TEST_ACCOUNT}:log-group:/ecs/gateway` });
    expect(typeof groups[0].creationTime).toBe('number');
    call('CreateLogStream', { logGroupName: '/ecs/gateway', logStreamName: 's1' });
    expect(() => call('CreateLogStream', { logGroupName: '/ecs/gateway', logStreamName: 's1' })).toThrow(expect.objectContaining({ code: 'ResourceAlreadyExistsException' }));
    expect(() => call('CreateLogStream', { logGroupName: '/nope', logStreamName: 's1' })).toThrow(
      expect.objectContaining({ code: 'ResourceNotFoundException', message: 'The specified log group does not exist.' }),
    );
    call('DeleteLogGroup', { logGroupName: '/other' });
    expect(() => call('DeleteLogGroup', { logGroupName: '/other' })).toThrow(expect.objectContaining({ code: 'ResourceNotFoundException' }));
  });

  it('orders streams by name or last event time', () => {
    const { store, call } = setup();
    const t = Date.now();
    store.appendTaskLog('/g', 'b', 'x', t);
    store.appendTaskLog('/g', 'a', 'x', t + 10);
    store.appendTaskLog('/g', 'c', 'x', t + 5);
    expect(call('DescribeLogStreams', { logGroupName: '/g' }).logStreams.map((s: any) => s.logStreamName)).toEqual(['a', 'b', 'c']);
    expect(call('DescribeLogStreams', { logGroupName: '/g', orderBy: 'LastEventTime', descending: true }).logStreams.map((s: any) => s.logStreamName)).toEqual(['a', 'c', 'b']);
    const [a] = call('DescribeLogStreams', { logGroupName: '/g', logStreamNamePrefix: 'a' }).logStreams;
    expect(a).toMatchObject({ logStreamName: 'a', firstEventTimestamp: t + 10, lastEventTimestamp: t + 10 });
    expect(() => call('DescribeLogStreams', { logGroupName: '/g', orderBy: 'LastEventTime', logStreamNamePrefix: 'a' })).toThrow(
      expect.objectContaining({ code: 'InvalidParameterException' }),
    );
  });

  it('puts events in order and rejects an out-of-order batch; reports too-old events by index', () => {
    const { call, store } = setup();
    call('CreateLogGroup', { logGroupName: '/g' });
    call('CreateLogStream', { logGroupName: '/g', logStreamName: 's' });
    const t = Date.now();
    expect(() => call('PutLogEvents', { logGroupName: '/g', logStreamName: 's', logEvents: [{ timestamp: t, message: 'b' }, { timestamp: t - 1, message: 'a' }] })).toThrow(
      expect.objectContaining({ code: 'InvalidParameterException' }),
    );
    const res = call('PutLogEvents', {
      logGroupName: '/g',
      logStreamName: 's',
      logEvents: [{ timestamp: t - 20 * 86_400_000, message: 'ancient' }, { timestamp: t, message: 'ok' }],
    });
    expect(res.rejectedLogEventsInfo).toEqual({ tooOldLogEventEndIndex: 0 });
    expect(res.nextSequenceToken).toMatch(/^\d{56}$/);
    expect(store.readLogEvents('/g', 's').map((e) => e.message)).toEqual(['ok']);
    expect(() => call('PutLogEvents', { logGroupName: '/g', logStreamName: 'nope', logEvents: [{ timestamp: t, message: 'x' }] })).toThrow(
      expect.objectContaining({ code: 'ResourceNotFoundException', message: 'The specified log stream does not exist.' }),
    );
  });

  it('gets events from the head or the tail and walks forward and backward tokens', () => {
    const { store, call } = setup();
    const t = Date.now();
    for (let i = 0; i < 5; i++) store.appendTaskLog('/g', 's', `line ${i}`, t + i);
    const tail = call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', limit: 2 });
    expect(tail.events.map((e: any) => e.message)).toEqual(['line 3', 'line 4']);
    const head = call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', limit: 2, startFromHead: true });
    expect(head.events.map((e: any) => e.message)).toEqual(['line 0', 'line 1']);
    const next = call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', limit: 2, nextToken: head.nextForwardToken });
    expect(next.events.map((e: any) => e.message)).toEqual(['line 2', 'line 3']);
    const back = call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', limit: 2, nextToken: tail.nextBackwardToken });
    expect(back.events.map((e: any) => e.message)).toEqual(['line 1', 'line 2']);
    // at the end, the forward token comes back unchanged with no events
    const end = call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', nextToken: tail.nextForwardToken });
    expect(end.events).toEqual([]);
    expect(end.nextForwardToken).toBe(tail.nextForwardToken);
    // endTime is exclusive
    expect(call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', startTime: t + 1, endTime: t + 3, startFromHead: true }).events.map((e: any) => e.message)).toEqual([
      'line 1',
      'line 2',
    ]);
    expect(() => call('GetLogEvents', { logGroupName: '/g', logStreamName: 's', nextToken: 'garbage' })).toThrow(expect.objectContaining({ code: 'InvalidParameterException' }));
  });

  it('filters events across streams by pattern, stream names and time', () => {
    const { store, call } = setup();
    const t = Date.now();
    store.appendTaskLog('/g', 'a', 'INFO started on :8080', t);
    store.appendTaskLog('/g', 'b', 'ERROR connection refused', t + 1);
    store.appendTaskLog('/g', 'a', 'WARN slow request', t + 2);
    store.appendTaskLog('/g', 'b', 'INFO health ok', t + 3);
    const msgs = (input: any) => call('FilterLogEvents', { logGroupName: '/g', ...input }).events.map((e: any) => e.message);
    expect(msgs({})).toHaveLength(4);
    expect(msgs({ filterPattern: 'ERROR' })).toEqual(['ERROR connection refused']);
    expect(msgs({ filterPattern: '"connection refused"' })).toEqual(['ERROR connection refused']);
    expect(msgs({ filterPattern: '?ERROR ?WARN' })).toEqual(['ERROR connection refused', 'WARN slow request']);
    expect(msgs({ filterPattern: 'INFO -health' })).toEqual(['INFO started on :8080']);
    expect(msgs({ logStreamNames: ['b'] })).toEqual(['ERROR connection refused', 'INFO health ok']);
    expect(msgs({ startTime: t + 1, endTime: t + 2 })).toEqual(['ERROR connection refused', 'WARN slow request']);
    const ev = call('FilterLogEvents', { logGroupName: '/g', limit: 1 });
    expect(ev.events[0]).toMatchObject({ logStreamName: 'a', timestamp: t });
    expect(ev.events[0].eventId).toMatch(/^\d{56}$/);
    expect(call('FilterLogEvents', { logGroupName: '/g', nextToken: ev.nextToken }).events).toHaveLength(3);
    expect(() => call('FilterLogEvents', { logGroupName: '/g', logStreamNames: ['zzz'] })).toThrow(expect.objectContaining({ code: 'ResourceNotFoundException' }));
    expect(() => compileFilterPattern('{ $.level = "error" }')).toThrow(expect.objectContaining({ code: 'InvalidParameterException' }));
  });
});

describe('CloudWatch Logs through the edge', () => {
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  beforeAll(async () => {
    edge = await startTestEdge([createLogsProvider(new LogsStore({ account: TEST_ACCOUNT, region: TEST_REGION }))]);
  });
  afterAll(() => edge.stop());

  it('serves JSON 1.1 with millisecond timestamps and AWS error bodies', async () => {
    const post = async (op: string, body: unknown) => {
      const res = await fetch(edge.url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `Logs_20140328.${op}` }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as any };
    };
    expect((await post('CreateLogGroup', { logGroupName: '/e' })).status).toBe(200);
    const t = Date.now();
    await post('CreateLogStream', { logGroupName: '/e', logStreamName: 's' });
    await post('PutLogEvents', { logGroupName: '/e', logStreamName: 's', logEvents: [{ timestamp: t, message: 'hello' }] });
    const got = await post('GetLogEvents', { logGroupName: '/e', logStreamName: 's' });
    expect(got.json.events[0]).toMatchObject({ timestamp: t, message: 'hello' });
    const missing = await post('GetLogEvents', { logGroupName: '/missing', logStreamName: 's' });
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({ __type: 'ResourceNotFoundException', message: 'The specified log group does not exist.' });
  });
});
