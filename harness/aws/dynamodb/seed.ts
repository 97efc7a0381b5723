import { AwsError } from '../protocol/errors.ts';
import type { DynamoDbEngine } from './dynalite.ts';
import { callEngine } from './engine-call.ts';

/** A key attribute of a seeded table. */
export interface SeedKey {
  name: string;
  type: 'S' | 'N' | 'B';
}

/** A table the manifest says exists before the scripts run (the shape of `dynamodb.tables.<name>`). */
export interface SeedTable {
  partitionKey: SeedKey;
  sortKey?: SeedKey;
  billingMode?: 'PAY_PER_REQUEST' | 'PROVISIONED';
  /** plain JSON items */
  items?: Record<string, unknown>[];
}

/** A table or item DynamoDB refused: the manifest key path (`dynamodb.tables.orders.items[2]`) and why. */
export class DynamoDbSeedError extends Error {
  constructor(
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(`${keyPath}: ${problem}`);
    this.name = 'DynamoDbSeedError';
  }
}

/** Capacity a PROVISIONED seeded table gets (the manifest does not say). */
export const SEED_PROVISIONED_UNITS = 5;

/**
 * A plain JSON value as a DynamoDB AttributeValue: string S, number N, boolean BOOL, null NULL,
 * list L, mapping M; the key attributes take their declared type (an N key may be written as
 * a numeric string, a B key is base64).
 */
export function toAttributeValue(v: unknown): Record<string, unknown> {
  if (typeof v === 'string') return { S: v };
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`${v} is not a number DynamoDB can store`);
    return { N: String(v) };
  }
  if (typeof v === 'boolean') return { BOOL: v };
  if (v === null || v === undefined) return { NULL: true };
  if (Array.isArray(v)) return { L: v.map(toAttributeValue) };
  if (typeof v === 'object') return { M: toItem(v as Record<string, unknown>) };
  throw new TypeError(`a ${typeof v} cannot be stored in DynamoDB`);
}

function toItem(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = toAttributeValue(x);
  return out;
}

/** A seeded item in DynamoDB's wire form, its key attributes typed as the table declares. */
export function seedItem(t: SeedTable, item: Record<string, unknown>): Record<string, unknown> {
  const out = toItem(item);
  for (const k of [t.partitionKey, t.sortKey]) {
    if (!k || !(k.name in item)) continue;
    out[k.name] = { [k.type]: String(item[k.name]) };
  }
  return out;
}

export interface SeedOptions {
  /** waits between DescribeTable polls while a table is CREATING (real ms) */
  sleepMs?: (ms: number) => Promise<void>;
  /** gives up on a table that is not ACTIVE after this long (real ms) */
  activeWithinMs?: number;
}

/**
 * Creates the manifest's tables in one region's engine, waits until each is ACTIVE and writes
 * its items. What DynamoDB refuses comes back as a DynamoDbSeedError naming the manifest key.
 */
export async function seedTables(engine: DynamoDbEngine, tables: Record<string, SeedTable>, opts: SeedOptions = {}): Promise<void> {
  const sleep = opts.sleepMs ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const call = (op: string, input: Record<string, unknown>) => callEngine(engine, op, input);
  const refused = (keyPath: string, e: unknown): never => {
    if (e instanceof AwsError) throw new DynamoDbSeedError(keyPath, `DynamoDB refused it: ${e.code}: ${e.message}`);
    throw e;
  };

  await Promise.all(
    Object.entries(tables).map(async ([name, t]) => {
      const at = `dynamodb.tables.${name}`;
      const keys = [t.partitionKey, ...(t.sortKey ? [t.sortKey] : [])];
      const provisioned = t.billingMode === 'PROVISIONED';
      await call('CreateTable', {
        TableName: name,
        AttributeDefinitions: keys.map((k) => ({ AttributeName: k.name, AttributeType: k.type })),
        KeySchema: keys.map((k, i) => ({ AttributeName: k.name, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
        ...(provisioned
          ? { BillingMode: 'PROVISIONED', ProvisionedThroughput: { ReadCapacityUnits: SEED_PROVISIONED_UNITS, WriteCapacityUnits: SEED_PROVISIONED_UNITS } }
          : { BillingMode: 'PAY_PER_REQUEST' }),
      }).catch((e) => refused(at, e));

      const deadline = Date.now() + (opts.activeWithinMs ?? 30_000);
      for (;;) {
        const d = await call('DescribeTable', { TableName: name });
        if (d.Table?.TableStatus === 'ACTIVE') break;
        if (Date.now() > deadline) throw new DynamoDbSeedError(at, `still ${d.Table?.TableStatus} after ${opts.activeWithinMs ?? 30_000} ms`);
        await sleep(5);
      }

      const items = t.items ?? [];
      for (let i = 0; i < items.length; i++) {
        let item: Record<string, unknown>;
        try {
          item = seedItem(t, items[i]!);
        } catch (e) {
          throw new DynamoDbSeedError(`${at}.items[${i}]`, (e as Error).message);
        }
        await call('PutItem', { TableName: name, Item: item }).catch((e) => refused(`${at}.items[${i}]`, e));
      }
    }),
  );
}
