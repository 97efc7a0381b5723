import { AwsError } from '../protocol/errors.ts';

/**
 * TransactWriteItems and TransactGetItems, which dynalite does not have, built from its
 * single-item calls. The caller runs them under the region's exclusive lock (lock.ts), so no
 * other request of the edge sees a half-applied transaction: every item's state is read first,
 * each action is applied with its own condition (so each condition is checked against the
 * item as it was before the transaction), and when any condition fails everything applied is
 * put back and the call fails with TransactionCanceledException and one reason per item.
 */

/** One DynamoDB call against the region's engine; a failure throws its AwsError. */
export type EngineCall = (operation: string, input: Record<string, unknown>) => Promise<any>;

const MAX_TRANSACT_ITEMS = 100;
const WRITE_KINDS = ['ConditionCheck', 'Put', 'Delete', 'Update'] as const;
type WriteKind = (typeof WRITE_KINDS)[number];

interface WriteAction {
  kind: WriteKind;
  table: string;
  key: Record<string, unknown>;
  params: Record<string, unknown>;
}

const validation = (message: string) => new AwsError('ValidationException', message);
const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function transactItemsOf(input: Record<string, unknown>): unknown[] {
  const items = input.TransactItems;
  if (!Array.isArray(items)) throw validation("1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null");
  if (items.length < 1 || items.length > MAX_TRANSACT_ITEMS) {
    throw validation(
      `1 validation error detected: Value '[${items.length} items]' at 'transactItems' failed to satisfy constraint: Member must have length ${items.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${MAX_TRANSACT_ITEMS}`}`,
    );
  }
  return items;
}

/** The key attribute names of a table (hash first), from DescribeTable. */
async function keyNames(call: EngineCall, table: string, cache: Map<string, string[]>): Promise<string[]> {
  let names = cache.get(table);
  if (!names) {
    const d = await call('DescribeTable', { TableName: table });
    const schema: { AttributeName: string; KeyType: string }[] = d.Table?.KeySchema ?? [];
    names = [...schema].sort((a, b) => (a.KeyType === 'HASH' ? -1 : b.KeyType === 'HASH' ? 1 : 0)).map((k) => k.AttributeName);
    cache.set(table, names);
  }
  return names;
}

/** The key of an item (PutItem's Item) under the table's key schema. */
export async function keyOfItem(call: EngineCall, table: string, item: Record<string, unknown>, cache = new Map<string, string[]>()): Promise<Record<string, unknown>> {
  const key: Record<string, unknown> = {};
  for (const n of await keyNames(call, table, cache)) {
    if (item[n] === undefined) throw validation(`One or more parameter values were invalid: Missing the key ${n} in the item`);
    key[n] = item[n];
  }
  return key;
}

async function parseWrite(call: EngineCall, raw: unknown, i: number, cache: Map<string, string[]>): Promise<WriteAction> {
  const kinds = isObject(raw) ? WRITE_KINDS.filter((k) => raw[k] != null) : [];
  if (kinds.length !== 1) throw validation('TransactItems can only contain one of Check, Put, Update or Delete');
  const kind = kinds[0]!;
  const params = (raw as Record<string, unknown>)[kind];
  const at = `transactItems.${i + 1}.member.${kind === 'ConditionCheck' ? 'conditionCheck' : kind.toLowerCase()}`;
  if (!isObject(params)) throw validation(`1 validation error detected: Value null at '${at}' failed to satisfy constraint: Member must not be null`);
  if (typeof params.TableName !== 'string') throw validation(`1 validation error detected: Value null at '${at}.tableName' failed to satisfy constraint: Member must not be null`);
  if (kind === 'ConditionCheck' && typeof params.ConditionExpression !== 'string') {
    throw validation(`1 validation error detected: Value null at '${at}.conditionExpression' failed to satisfy constraint: Member must not be null`);
  }
  let key: Record<string, unknown>;
  if (kind === 'Put') {
    if (!isObject(params.Item)) throw validation(`1 validation error detected: Value null at '${at}.item' failed to satisfy constraint: Member must not be null`);
    key = await keyOfItem(call, params.TableName, params.Item, cache);
  } else {
    if (!isObject(params.Key)) throw validation(`1 validation error detected: Value null at '${at}.key' failed to satisfy constraint: Member must not be null`);
    await keyNames(call, params.TableName, cache); // the table must exist
    key = params.Key;
  }
  return { kind, table: params.TableName, key, params };
}

function identity(a: { table: string; key: Record<string, unknown> }): string {
  return `${a.table}\u0000${JSON.stringify(Object.keys(a.key).sort().map((k) => [k, a.key[k]]))}`;
}

const EXPR = ['ConditionExpression', 'ExpressionAttributeNames', 'ExpressionAttributeValues'];

async function apply(call: EngineCall, a: WriteAction, before: Record<string, unknown> | undefined): Promise<void> {
  const p = a.params;
  switch (a.kind) {
    case 'Put':
      await call('PutItem', pick(p, ['TableName', 'Item', ...EXPR]));
      return;
    case 'Update':
      await call('UpdateItem', pick(p, ['TableName', 'Key', 'UpdateExpression', ...EXPR]));
      return;
    case 'Delete':
      await call('DeleteItem', pick(p, ['TableName', 'Key', ...EXPR]));
      return;
    case 'ConditionCheck':
      // checks the condition without changing anything: the item written back as it was, or
      // a delete of the item that is not there
      if (before) await call('PutItem', { ...pick(p, ['TableName', ...EXPR]), Item: before });
      else await call('DeleteItem', pick(p, ['TableName', 'Key', ...EXPR]));
  }
}

/** Call under the region's exclusive lock. */
export async function transactWriteItems(call: EngineCall, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const cache = new Map<string, string[]>();
  const raw = transactItemsOf(input);
  const actions: WriteAction[] = [];
  for (let i = 0; i < raw.length; i++) actions.push(await parseWrite(call, raw[i], i, cache));
  const seen = new Set<string>();
  for (const a of actions) {
    const id = identity(a);
    if (seen.has(id)) throw validation('Transaction request cannot include multiple operations on one item');
    seen.add(id);
  }

  const before: (Record<string, unknown> | undefined)[] = [];
  for (const a of actions) before.push((await call('GetItem', { TableName: a.table, Key: a.key, ConsistentRead: true })).Item);

  const applied: number[] = [];
  const reasons: Record<string, unknown>[] = [];
  const rollback = async () => {
    for (const i of applied.reverse()) {
      const a = actions[i]!;
      if (a.kind === 'ConditionCheck') continue;
      const old = before[i];
      if (old) await call('PutItem', { TableName: a.table, Item: old });
      else await call('DeleteItem', { TableName: a.table, Key: a.key });
    }
  };
  let cancelled = false;
  try {
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i]!;
      try {
        await apply(call, a, before[i]);
        applied.push(i);
        reasons.push({ Code: 'None' });
      } catch (e) {
        if (!(e instanceof AwsError) || e.code !== 'ConditionalCheckFailedException') throw e;
        cancelled = true;
        const old = before[i];
        reasons.push({ Code: 'ConditionalCheckFailed', Message: 'The conditional request failed', ...(a.params.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && old ? { Item: old } : {}) });
      }
    }
  } catch (e) {
    await rollback();
    throw e;
  }
  if (cancelled) {
    await rollback();
    throw new AwsError('TransactionCanceledException', `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`, 400, true, {
      CancellationReasons: reasons,
    });
  }
  return {};
}

/** Call under the region's exclusive lock: every item read at one instant. */
export async function transactGetItems(call: EngineCall, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const raw = transactItemsOf(input);
  const gets = raw.map((r, i) => {
    const g = isObject(r) ? r.Get : undefined;
    if (!isObject(g)) throw validation(`1 validation error detected: Value null at 'transactItems.${i + 1}.member.get' failed to satisfy constraint: Member must not be null`);
    return g;
  });
  const responses: Record<string, unknown>[] = [];
  for (const g of gets) {
    const r = await call('GetItem', { ...pick(g, ['TableName', 'Key', 'ProjectionExpression', 'ExpressionAttributeNames']), ConsistentRead: true });
    responses.push(r.Item ? { Item: r.Item } : {});
  }
  return { Responses: responses };
}
