import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { Clock } from '../../clock.ts';
import { ManifestError, parseManifest } from '../../manifest/load.ts';
import { startDynamoDb } from '../../scenario/serverless/dynamodb.ts';
import type { ServerlessContext } from '../serverless.ts';
import { startTestEdge, sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import type { ServiceProvider } from '../protocol/types.ts';
import { DynaliteEngine } from './dynalite.ts';
import { callEngine } from './engine-call.ts';
import { DynamoDbSeedError, seedTables } from './seed.ts';

describe('seedTables', () => {
  let engine: DynaliteEngine;
  beforeAll(async () => {
    engine = await DynaliteEngine.start(TEST_REGION, { createTableMs: 50 });
  });
  afterAll(() => engine.stop());
  const call = (op: string, input: Record<string, unknown>) => callEngine(engine, op, input);

  it('creates the tables ACTIVE, with their key types, and writes the items as DynamoDB values', async () => {
    await seedTables(engine, {
      orders: {
        partitionKey: { name: 'customer', type: 'S' },
        sortKey: { name: 'orderId', type: 'N' },
        items: [
          { customer: 'ada', orderId: 1, lines: [{ sku: 'x-1', qty: 2 }], paid: true, note: null },
          { customer: 'ada', orderId: '2' },
        ],
      },
      sessions: { partitionKey: { name: 'id', type: 'B' }, billingMode: 'PROVISIONED', items: [{ id: 'AAEC', user: 'ada' }] },
    });
    const orders = (await call('DescribeTable', { TableName: 'orders' })).Table;
    expect(orders).toMatchObject({ TableStatus: 'ACTIVE', BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' } });
    expect(orders.AttributeDefinitions).toEqual([{ AttributeName: 'customer', AttributeType: 'S' }, { AttributeName: 'orderId', AttributeType: 'N' }]);
    const q = await call('Query', { TableName: 'orders', KeyConditionExpression: 'customer = :c', ExpressionAttributeValues: { ':c': { S: 'ada' } } });
    expect(q.Items).toEqual([
      { customer: { S: 'ada' }, orderId: { N: '1' }, lines: { L: [{ M: { sku: { S: 'x-1' }, qty: { N: '2' } } }] }, paid: { BOOL: true }, note: { NULL: true } },
      // a numeric string is a number where the key is N
      { customer: { S: 'ada' }, orderId: { N: '2' } },
    ]);
    const sessions = (await call('DescribeTable', { TableName: 'sessions' })).Table;
    expect(sessions.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 5, WriteCapacityUnits: 5 });
    expect((await call('GetItem', { TableName: 'sessions', Key: { id: { B: 'AAEC' } } })).Item).toEqual({ id: { B: 'AAEC' }, user: { S: 'ada' } });
  });

  it('names the item DynamoDB refuses', async () => {
    const err = await seedTables(engine, {
      ledger: { partitionKey: { name: 'id', type: 'S' }, items: [{ id: 'ok' }, { id: 'huge', amount: 1e200 }] },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(DynamoDbSeedError);
    expect(err.keyPath).toBe('dynamodb.tables.ledger.items[1]');
    expect(err.problem).toMatch(/^DynamoDB refused it: ValidationException: Number overflow/);
  });
});

describe('startDynamoDb', () => {
  const manifestFile = path.join(process.cwd(), 'repo', 'harness.yaml');
  const context = (tables: string): ServerlessContext => ({
    runId: 'eh00000000',
    runDir: '/tmp/unused',
    account: TEST_ACCOUNT,
    region: TEST_REGION,
    awsEndpoint: 'http://127.0.0.1:1',
    clock: new Clock(0.02),
    events: { append: () => undefined },
    logs: {} as ServerlessContext['logs'],
    cognito: {} as ServerlessContext['cognito'],
    iam: {} as ServerlessContext['iam'],
    manifest: {
      ...parseManifest(`region: ${TEST_REGION}\nvpc: { id: vpc-0b, cidr: 10.1.0.0/16, subnets: [{ id: subnet-0b, cidr: 10.1.1.0/24, az: ${TEST_REGION}a }] }\n${tables}`, 'repo/harness.yaml'),
      file: manifestFile,
      deployDir: path.dirname(manifestFile),
    },
    runtime: 'process',
    log: () => undefined,
  });

  it("serves the manifest's tables on the edge before the scripts run", async () => {
    const part = await startDynamoDb(context('dynamodb:\n  tables:\n    users:\n      partitionKey: { name: email, type: S }\n      items: [{ email: ada@example.com, role: admin }]\n'));
    const edge = await startTestEdge(part.providers as ServiceProvider[]);
    const ddb = new DynamoDBClient(sdkConfig(edge.url));
    try {
      expect(part.summary).toBe(`DynamoDB: dynalite in-process (in memory), 1 table seeded in ${TEST_REGION} (users)`);
      const got = await ddb.send(new GetItemCommand({ TableName: 'users', Key: { email: { S: 'ada@example.com' } } }));
      expect(got.Item).toEqual({ email: { S: 'ada@example.com' }, role: { S: 'admin' } });
    } finally {
      ddb.destroy();
      await edge.stop();
      await part.stop();
    }
  });

  it('turns a refused item into the manifest error with file and key path', async () => {
    const err = await startDynamoDb(context('dynamodb:\n  tables:\n    ledger:\n      partitionKey: { name: id, type: S }\n      items: [{ id: a, amount: 1e200 }]\n')).catch((e) => e);
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.message).toMatch(/^repo\/harness\.yaml: dynamodb\.tables\.ledger\.items\[0\]: DynamoDB refused it: ValidationException: Number overflow/);
  });
});
