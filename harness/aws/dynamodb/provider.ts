import { AwsError } from '../protocol/errors.ts';
import type { EventSink, Operation, RequestContext, ServiceProvider } from '../protocol/types.ts';
import type { DynamoDbEngine, DynamoDbEngines } from './dynalite.ts';
import { callEngine, withRunArns } from './engine-call.ts';
import { RwLock } from './lock.ts';
import { keyOfItem, transactGetItems, transactWriteItems, type EngineCall } from './transact.ts';

/** What dynalite serves itself; the edge forwards these unchanged. */
export const FORWARDED_OPERATIONS = [
  'BatchGetItem',
  'BatchWriteItem',
  'CreateTable',
  'DeleteItem',
  'DeleteTable',
  'DescribeTable',
  'GetItem',
  'ListTables',
  'ListTagsOfResource',
  'PutItem',
  'Query',
  'Scan',
  'TagResource',
  'UntagResource',
  'UpdateItem',
  'UpdateTable',
] as const;

/** CreateTable members dynalite drops: accepted, not emulated, named in the table's event. */
const NOT_EMULATED_ON_CREATE = ['StreamSpecification', 'SSESpecification', 'TableClass', 'DeletionProtectionEnabled', 'OnDemandThroughput', 'WarmThroughput', 'ResourcePolicy'];

interface RegionState {
  engine: DynamoDbEngine;
  lock: RwLock;
  /** TimeToLive by TableId (a table re-created under the same name starts without one) */
  ttl: Map<string, string>;
}

export interface DynamoDbProviderOptions {
  events?: EventSink;
}

/**
 * DynamoDB (JSON 1.0, X-Amz-Target `DynamoDB_20120810.*`) on the edge. Items, conditions,
 * expressions, indexes and table lifecycle are dynalite's (dynalite.ts); this provider routes by
 * the region the client signed for, turns dynalite's errors into DynamoDB's codes, names tables
 * with the run's account and region, and adds what dynalite lacks: TransactWriteItems,
 * TransactGetItems, Update/DescribeTimeToLive (recorded, items never expire),
 * `ReturnValuesOnConditionCheckFailure`, and the `Tags` of CreateTable.
 */
export function createDynamoDbProvider(engines: DynamoDbEngines, opts: DynamoDbProviderOptions = {}): ServiceProvider {
  const regions = new Map<string, Promise<RegionState>>();
  const regionOf = (region: string): Promise<RegionState> => {
    let r = regions.get(region);
    if (!r) {
      r = engines.forRegion(region).then((engine) => ({ engine, lock: new RwLock(), ttl: new Map<string, string>() }));
      r.catch(() => regions.delete(region));
      regions.set(region, r);
    }
    return r;
  };
  const callOf = (state: RegionState): EngineCall => (op, input) => callEngine(state.engine, op, input);
  const out = <T>(v: T, ctx: RequestContext): T => withRunArns(v, ctx.region, ctx.account);

  /** an operation holding the region's lock shared (transactions hold it exclusively) */
  const shared =
    (fn: (call: EngineCall, input: Record<string, unknown>, ctx: RequestContext, state: RegionState) => Promise<unknown>): Operation =>
    async (input, ctx) => {
      const state = await regionOf(ctx.region);
      return out(await state.lock.shared(() => fn(callOf(state), input, ctx, state)), ctx);
    };
  const exclusive =
    (fn: (call: EngineCall, input: Record<string, unknown>) => Promise<unknown>): Operation =>
    async (input, ctx) => {
      const state = await regionOf(ctx.region);
      return out(await state.lock.exclusive(() => fn(callOf(state), input)), ctx);
    };

  const operations: Record<string, Operation> = {};
  for (const op of FORWARDED_OPERATIONS) operations[op] = shared((call, input) => call(op, input));

  operations.CreateTable = shared(async (call, input, ctx) => {
    const created = await call('CreateTable', input);
    const tags = input.Tags;
    if (Array.isArray(tags) && tags.length > 0) await call('TagResource', { ResourceArn: created.TableDescription.TableArn, Tags: tags });
    const ignored = NOT_EMULATED_ON_CREATE.filter((k) => input[k] !== undefined);
    opts.events?.append('dynamodb.table.created', { region: ctx.region, table: input.TableName, ...(ignored.length ? { notEmulated: ignored } : {}) });
    return created;
  });
  operations.DeleteTable = shared(async (call, input, ctx) => {
    const deleted = await call('DeleteTable', input);
    opts.events?.append('dynamodb.table.deleted', { region: ctx.region, table: input.TableName });
    return deleted;
  });

  // the old item in ConditionalCheckFailedException, when asked for (dynalite ignores the member)
  for (const op of ['PutItem', 'UpdateItem', 'DeleteItem'] as const) {
    operations[op] = shared(async (call, input) => {
      try {
        return await call(op, input);
      } catch (e) {
        if (!(e instanceof AwsError) || e.code !== 'ConditionalCheckFailedException' || input.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD') throw e;
        const table = String(input.TableName);
        const key = op === 'PutItem' ? await keyOfItem(call, table, input.Item as Record<string, unknown>) : input.Key;
        const old = (await call('GetItem', { TableName: table, Key: key, ConsistentRead: true })).Item;
        throw old ? new AwsError(e.code, e.message, e.statusCode, e.senderFault, { ...e.fields, Item: old }) : e;
      }
    });
  }

  operations.TransactWriteItems = exclusive(transactWriteItems);
  operations.TransactGetItems = exclusive(transactGetItems);

  operations.UpdateTimeToLive = shared(async (call, input, _ctx, state) => {
    const spec = input.TimeToLiveSpecification as { Enabled?: unknown; AttributeName?: unknown } | undefined;
    if (!spec || typeof spec.Enabled !== 'boolean' || typeof spec.AttributeName !== 'string' || !spec.AttributeName) {
      throw new AwsError('ValidationException', "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null");
    }
    const table = (await call('DescribeTable', { TableName: input.TableName })).Table;
    const current = state.ttl.get(table.TableId);
    if (spec.Enabled && current !== undefined) throw new AwsError('ValidationException', 'TimeToLive is already enabled');
    if (!spec.Enabled && current === undefined) throw new AwsError('ValidationException', 'TimeToLive is already disabled');
    if (spec.Enabled) state.ttl.set(table.TableId, spec.AttributeName);
    else state.ttl.delete(table.TableId);
    return { TimeToLiveSpecification: { Enabled: spec.Enabled, AttributeName: spec.AttributeName } };
  });
  operations.DescribeTimeToLive = shared(async (call, input, _ctx, state) => {
    const table = (await call('DescribeTable', { TableName: input.TableName })).Table;
    const attr = state.ttl.get(table.TableId);
    return { TimeToLiveDescription: attr === undefined ? { TimeToLiveStatus: 'DISABLED' } : { TimeToLiveStatus: 'ENABLED', AttributeName: attr } };
  });

  return {
    serviceName: 'dynamodb',
    protocol: 'json',
    targetPrefix: 'DynamoDB_20120810',
    validationErrorCode: 'ValidationException',
    operations,
  };
}
