import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  ListTagsOfResourceCommand,
  PutItemCommand,
  QueryCommand,
  ResourceNotFoundException,
  TransactGetItemsCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { findAwsClis, runAws, type AwsCli } from '../../scenario/aws-cli.ts';
import { findBotocoreDataDir, scaleWaiterDelays } from '../../scenario/cli-env.ts';
import { sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { AwsEdge } from '../server.ts';
import type { RequestContext } from '../protocol/types.ts';
import { DynaliteEngines } from './dynalite.ts';
import { createDynamoDbProvider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[dynamodb contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

/** How long a new table stays CREATING (the scaled waiter polls every 0.4 s). */
const CREATE_MS = 3000;

async function edgeWithDynamo() {
  const engines = new DynaliteEngines({ createTableMs: CREATE_MS, deleteTableMs: 300 });
  const provider = createDynamoDbProvider(engines);
  /** every DescribeTable answer in order: the TableStatus, or the error code */
  const described: string[] = [];
  let onDescribe: (() => void)[] = [];
  /** resolves at the next DescribeTable the edge answers */
  const nextDescribe = () => new Promise<void>((resolve) => onDescribe.push(resolve));
  const edge = new AwsEdge({
    account: TEST_ACCOUNT,
    defaultRegion: TEST_REGION,
    providers: [
      {
        ...provider,
        operations: {
          ...provider.operations,
          DescribeTable: async (input: unknown, ctx: RequestContext) => {
            try {
              const out = (await provider.operations.DescribeTable!(input, ctx)) as { Table: { TableStatus: string } };
              described.push(out.Table.TableStatus);
              return out;
            } catch (e) {
              described.push((e as { code?: string }).code ?? String(e));
              throw e;
            } finally {
              const waiting = onDescribe;
              onDescribe = [];
              for (const w of waiting) w();
            }
          },
        },
      },
    ],
  });
  const url = await edge.start();
  return { url, described, nextDescribe, engines, stop: async () => (await edge.stop(), await engines.stop()) };
}

/** The CLI's own DynamoDB waiters with the delays × 0.02 (as the harness scales ECS's), in an AWS_DATA_PATH. */
async function scaledDynamoWaiters(cli: AwsCli): Promise<string> {
  const dataDir = await findBotocoreDataDir(cli.bin);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ddb-waiters-'));
  for (const version of fs.readdirSync(path.join(dataDir, 'dynamodb'))) {
    const src = ['waiters-2.json', 'waiters-2.json.gz'].map((f) => path.join(dataDir, 'dynamodb', version, f)).find((f) => fs.existsSync(f));
    if (!src) continue;
    const raw = fs.readFileSync(src);
    const doc = JSON.parse((src.endsWith('.gz') ? zlib.gunzipSync(raw) : raw).toString('utf8'));
    fs.mkdirSync(path.join(out, 'dynamodb', version), { recursive: true });
    fs.writeFileSync(path.join(out, 'dynamodb', version, 'waiters-2.json'), JSON.stringify(scaleWaiterDelays(doc, 0.02)));
  }
  return out;
}

describe.each(clis)('DynamoDB with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithDynamo>>;
  let dataPath: string;
  beforeAll(async () => {
    env = await edgeWithDynamo();
    dataPath = await scaledDynamoWaiters(cli);
  });
  afterAll(async () => {
    await env.stop();
    fs.rmSync(dataPath, { recursive: true, force: true });
  });
  const aws = (...args: string[]) => runAws(cli, env.url, args, { env: { AWS_DATA_PATH: dataPath } });
  const ok = async (...args: string[]) => {
    const r = await aws(...args);
    expect(r.code, `aws ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };
  /** the CLI's exit code for an error the service returned */
  const serviceErrorExit = cli.major === 'v2' ? 254 : 255;
  const fails = async (code: string, ...args: string[]) => {
    const r = await aws(...args);
    expect(r.code, `aws ${args.join(' ')}\n${r.stderr}`).toBe(serviceErrorExit);
    expect(r.stderr).toContain(`(${code})`);
    return r;
  };

  it('creates a table, waits for it, and drives items with conditions, queries and updates', async () => {
    const table = `orders-${cli.major}`;
    // the waiter starts before the table exists, so it polls through ResourceNotFoundException and CREATING
    const polled = env.nextDescribe();
    const waited = ok('dynamodb', 'wait', 'table-exists', '--table-name', table);
    await polled;
    const created = await ok(
      'dynamodb', 'create-table', '--table-name', table,
      '--attribute-definitions', 'AttributeName=customer,AttributeType=S', 'AttributeName=orderId,AttributeType=N',
      '--key-schema', 'AttributeName=customer,KeyType=HASH', 'AttributeName=orderId,KeyType=RANGE',
      '--billing-mode', 'PAY_PER_REQUEST',
    );
    expect(created.json.TableDescription.TableStatus).toBe('CREATING');
    expect(created.json.TableDescription.TableArn).toBe(`arn:aws:dynamodb:${TEST_REGION}:${TEST_ACCOUNT}:table/${table}`);
    await waited;
    // retried on ResourceNotFoundException (and on CREATING), stopped at the first ACTIVE
    const seen = env.described.join(' ');
    expect(seen).toMatch(/^(ResourceNotFoundException )+(CREATING )*ACTIVE$/);
    if (!seen.includes('CREATING')) console.log(`[dynamodb contract] aws ${cli.version}: no poll landed in the ${CREATE_MS} ms the table was CREATING (${seen})`);

    const described = await ok('dynamodb', 'describe-table', '--table-name', table);
    expect(described.json.Table).toMatchObject({
      TableStatus: 'ACTIVE',
      TableArn: `arn:aws:dynamodb:${TEST_REGION}:${TEST_ACCOUNT}:table/${table}`,
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
      KeySchema: [{ AttributeName: 'customer', KeyType: 'HASH' }, { AttributeName: 'orderId', KeyType: 'RANGE' }],
    });

    const first = JSON.stringify({ customer: { S: 'ada' }, orderId: { N: '1' }, total: { N: '30' }, state: { S: 'new' } });
    await ok('dynamodb', 'put-item', '--table-name', table, '--item', first, '--condition-expression', 'attribute_not_exists(customer)');
    const again = await fails('ConditionalCheckFailedException', 'dynamodb', 'put-item', '--table-name', table, '--item', first, '--condition-expression', 'attribute_not_exists(customer)');
    expect(again.stderr).toContain('The conditional request failed');
    const more = ([['ada', 2, 45], ['ada', 3, 12], ['bob', 1, 99]] as const).map(([c, id, total]) => ({
      PutRequest: { Item: { customer: { S: c }, orderId: { N: String(id) }, total: { N: String(total) }, state: { S: 'new' } } },
    }));
    const batch = await ok('dynamodb', 'batch-write-item', '--request-items', JSON.stringify({ [table]: more }));
    expect(batch.json.UnprocessedItems).toEqual({});

    const got = await ok('dynamodb', 'get-item', '--table-name', table, '--key', '{"customer":{"S":"ada"},"orderId":{"N":"1"}}', '--consistent-read');
    expect(got.json.Item).toEqual({ customer: { S: 'ada' }, orderId: { N: '1' }, total: { N: '30' }, state: { S: 'new' } });

    const q = await ok(
      'dynamodb', 'query', '--table-name', table,
      '--key-condition-expression', 'customer = :c AND orderId >= :from',
      '--expression-attribute-values', '{":c":{"S":"ada"},":from":{"N":"2"}}',
      '--no-scan-index-forward',
    );
    expect(q.json.Items.map((i: any) => i.orderId.N)).toEqual(['3', '2']);

    const s = await ok('dynamodb', 'scan', '--table-name', table, '--filter-expression', '#t > :min', '--expression-attribute-names', '{"#t":"total"}', '--expression-attribute-values', '{":min":{"N":"40"}}');
    expect(s.json.Items.map((i: any) => `${i.customer.S}/${i.orderId.N}`).sort()).toEqual(['ada/2', 'bob/1']);
    expect(s.json.ScannedCount).toBe(4);

    const u = await ok(
      'dynamodb', 'update-item', '--table-name', table, '--key', '{"customer":{"S":"ada"},"orderId":{"N":"1"}}',
      '--update-expression', 'SET #s = :paid ADD #t :plus', '--condition-expression', '#s = :new',
      '--expression-attribute-names', '{"#s":"state","#t":"total"}', '--expression-attribute-values', '{":paid":{"S":"paid"},":new":{"S":"new"},":plus":{"N":"5"}}',
      '--return-values', 'ALL_NEW',
    );
    expect(u.json.Attributes).toMatchObject({ state: { S: 'paid' }, total: { N: '35' } });
    const del = await ok('dynamodb', 'delete-item', '--table-name', table, '--key', '{"customer":{"S":"bob"},"orderId":{"N":"1"}}', '--return-values', 'ALL_OLD');
    expect(del.json.Attributes.total).toEqual({ N: '99' });

    await fails('ValidationException', 'dynamodb', 'get-item', '--table-name', table, '--key', '{"customer":{"S":"ada"}}');
    await fails('ResourceInUseException', 'dynamodb', 'create-table', '--table-name', table, '--attribute-definitions', 'AttributeName=customer,AttributeType=S', '--key-schema', 'AttributeName=customer,KeyType=HASH', '--billing-mode', 'PAY_PER_REQUEST');
    await fails('ResourceNotFoundException', 'dynamodb', 'describe-table', '--table-name', 'no-such-table');

    await ok('dynamodb', 'delete-table', '--table-name', table);
    await ok('dynamodb', 'wait', 'table-not-exists', '--table-name', table);
    await fails('ResourceNotFoundException', 'dynamodb', 'put-item', '--table-name', table, '--item', first);
    // about 16 CLI runs: minutes on a loaded machine
  }, 300_000);
});

describe('DynamoDB with @aws-sdk/client-dynamodb', () => {
  let env: Awaited<ReturnType<typeof edgeWithDynamo>>;
  let ddb: DynamoDBClient;
  const table = 'accounts';
  beforeAll(async () => {
    env = await edgeWithDynamo();
    ddb = new DynamoDBClient(sdkConfig(env.url));
    await ddb.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        Tags: [{ Key: 'team', Value: 'payments' }],
      }),
    );
    const w = await waitUntilTableExists({ client: ddb, maxWaitTime: 20, minDelay: 0.2, maxDelay: 0.4 }, { TableName: table });
    expect(w.state).toBe('SUCCESS');
  });
  afterAll(async () => {
    ddb.destroy();
    await env.stop();
  });
  const balance = async (id: string) => (await ddb.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }))).Item?.balance?.N;

  it('sees modeled errors as their classes, with the old item when asked', async () => {
    await ddb.send(new PutItemCommand({ TableName: table, Item: { id: { S: 'a' }, balance: { N: '100' } }, ConditionExpression: 'attribute_not_exists(id)' }));
    const err = await ddb
      .send(new PutItemCommand({ TableName: table, Item: { id: { S: 'a' }, balance: { N: '0' } }, ConditionExpression: 'attribute_not_exists(id)', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }))
      .catch((e) => e);
    expect(err).toBeInstanceOf(ConditionalCheckFailedException);
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.Item).toEqual({ id: { S: 'a' }, balance: { N: '100' } });
    await expect(ddb.send(new GetItemCommand({ TableName: 'missing-table', Key: { id: { S: 'a' } } }))).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('names the table with the run account and region and keeps its tags; other regions have their own tables', async () => {
    const d = await ddb.send(new DescribeTableCommand({ TableName: table }));
    expect(d.Table?.TableArn).toBe(`arn:aws:dynamodb:${TEST_REGION}:${TEST_ACCOUNT}:table/${table}`);
    const tags = await ddb.send(new ListTagsOfResourceCommand({ ResourceArn: d.Table!.TableArn! }));
    expect(tags.Tags).toEqual([{ Key: 'team', Value: 'payments' }]);
    const other = new DynamoDBClient({ ...sdkConfig(env.url), region: 'eu-west-1' });
    try {
      expect((await other.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    } finally {
      other.destroy();
    }
  });

  it('batch writes and batch gets', async () => {
    await ddb.send(
      new BatchWriteItemCommand({
        RequestItems: { [table]: ['b1', 'b2', 'b3'].map((id) => ({ PutRequest: { Item: { id: { S: id }, balance: { N: '1' } } } })) },
      }),
    );
    const got = await ddb.send(new BatchGetItemCommand({ RequestItems: { [table]: { Keys: ['b1', 'b3', 'nope'].map((id) => ({ id: { S: id } })) } } }));
    expect(got.Responses?.[table]?.map((i) => i.id!.S).sort()).toEqual(['b1', 'b3']);
  });

  it('applies a transaction whole, or cancels it whole with a reason per item', async () => {
    await ddb.send(new PutItemCommand({ TableName: table, Item: { id: { S: 'from' }, balance: { N: '50' } } }));
    await ddb.send(new PutItemCommand({ TableName: table, Item: { id: { S: 'to' }, balance: { N: '0' } } }));
    const transfer = (amount: number) =>
      ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Update: { TableName: table, Key: { id: { S: 'to' } }, UpdateExpression: 'ADD balance :a', ExpressionAttributeValues: { ':a': { N: String(amount) } } } },
            {
              Update: {
                TableName: table,
                Key: { id: { S: 'from' } },
                UpdateExpression: 'ADD balance :neg',
                ConditionExpression: 'balance >= :a',
                ExpressionAttributeValues: { ':a': { N: String(amount) }, ':neg': { N: String(-amount) } },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
              },
            },
            { ConditionCheck: { TableName: table, Key: { id: { S: 'audit' } }, ConditionExpression: 'attribute_not_exists(id)' } },
          ],
        }),
      );
    await transfer(30);
    expect([await balance('from'), await balance('to')]).toEqual(['20', '30']);

    const err = await transfer(30).catch((e) => e);
    expect(err).toBeInstanceOf(TransactionCanceledException);
    expect(err.CancellationReasons).toEqual([{ Code: 'None' }, { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed', Item: { id: { S: 'from' }, balance: { N: '20' } } }, { Code: 'None' }]);
    // the first update was applied, then put back
    expect([await balance('from'), await balance('to')]).toEqual(['20', '30']);

    await expect(
      ddb.send(
        new TransactWriteItemsCommand({
          TransactItems: [
            { Put: { TableName: table, Item: { id: { S: 'x' } } } },
            { Delete: { TableName: table, Key: { id: { S: 'x' } } } },
          ],
        }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException', message: 'Transaction request cannot include multiple operations on one item' });

    const read = await ddb.send(new TransactGetItemsCommand({ TransactItems: [{ Get: { TableName: table, Key: { id: { S: 'from' } } } }, { Get: { TableName: table, Key: { id: { S: 'nobody' } } } }] }));
    expect(read.Responses).toEqual([{ Item: { id: { S: 'from' }, balance: { N: '20' } } }, {}]);
  });

  it('records TimeToLive (without expiring items)', async () => {
    expect((await ddb.send(new DescribeTimeToLiveCommand({ TableName: table }))).TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'DISABLED' });
    await ddb.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expiresAt' } }));
    expect((await ddb.send(new DescribeTimeToLiveCommand({ TableName: table }))).TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
    await expect(ddb.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expiresAt' } }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'TimeToLive is already enabled',
    });
  });

  it('queries and deletes the table', async () => {
    const q = await ddb.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'id = :id', ExpressionAttributeValues: { ':id': { S: 'a' } } }));
    expect(q.Items).toEqual([{ id: { S: 'a' }, balance: { N: '100' } }]);
    const d = await ddb.send(new DeleteTableCommand({ TableName: table }));
    expect(d.TableDescription?.TableStatus).toBe('DELETING');
  });
});
