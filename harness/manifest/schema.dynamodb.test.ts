import { describe, expect, it } from 'vitest';
import { parseManifest } from './load.ts';
import { manifestError, MINIMAL_MANIFEST } from './testing.ts';

const MINIMAL = MINIMAL_MANIFEST;

const ORDERS = `${MINIMAL}dynamodb:
  tables:
    orders:
      partitionKey: { name: customer, type: S }
      sortKey: { name: orderId, type: N }
      items:
        - { customer: ada, orderId: 1, lines: [{ sku: x-1, qty: 2 }], paid: true }
        - { customer: ada, orderId: "2" }
    sessions:
      partitionKey: { name: id, type: B }
      billingMode: PROVISIONED
`;

const error = manifestError;

describe('harness.yaml dynamodb.tables', () => {
  it('is optional, and fills in billing mode and items', () => {
    expect(parseManifest(MINIMAL, 'harness.yaml').dynamodb).toBeUndefined();
    const m = parseManifest(ORDERS, 'harness.yaml');
    expect(m.dynamodb?.tables.orders).toEqual({
      partitionKey: { name: 'customer', type: 'S' },
      sortKey: { name: 'orderId', type: 'N' },
      billingMode: 'PAY_PER_REQUEST',
      items: [
        { customer: 'ada', orderId: 1, lines: [{ sku: 'x-1', qty: 2 }], paid: true },
        { customer: 'ada', orderId: '2' },
      ],
    });
    expect(m.dynamodb?.tables.sessions).toEqual({ partitionKey: { name: 'id', type: 'B' }, billingMode: 'PROVISIONED', items: [] });
  });

  it('names the table, the item and the attribute that is wrong', () => {
    expect(error(ORDERS.replace('orders:', 'ab:'))).toBe('repo/harness.yaml: dynamodb.tables.ab: expected a table name of 3 to 255 characters from a-z A-Z 0-9 _ . -, got "ab"');
    expect(error(ORDERS.replace('type: S }', 'type: string }'))).toBe('repo/harness.yaml: dynamodb.tables.orders.partitionKey.type: expected one of "S", "N", "B", got "string"');
    expect(error(ORDERS.replace('billingMode: PROVISIONED', 'billing: PROVISIONED'))).toBe('repo/harness.yaml: dynamodb.tables.sessions: unknown key billing (see harness.schema.json)');
    expect(error(ORDERS.replace('{ name: orderId, type: N }', '{ name: customer, type: N }'))).toBe(
      'repo/harness.yaml: dynamodb.tables.orders.sortKey.name: expected a name other than partitionKey.name, got "customer"',
    );
    expect(error(ORDERS.replace('{ customer: ada, orderId: "2" }', '{ orderId: 2 }'))).toBe(
      'repo/harness.yaml: dynamodb.tables.orders.items[1]: expected the partition key customer among the item\'s attributes, got ["orderId"]',
    );
    expect(error(ORDERS.replace('orderId: "2"', 'orderId: two'))).toBe('repo/harness.yaml: dynamodb.tables.orders.items[1].orderId: expected a number (the sort key\'s type is N), got "two"');
    expect(error(ORDERS.replace('customer: ada, orderId: 1', 'customer: 7, orderId: 1'))).toBe(
      'repo/harness.yaml: dynamodb.tables.orders.items[0].customer: expected a non-empty string (the partition key\'s type is S), got 7',
    );
    expect(error(ORDERS.replace('orderId: "2"', 'orderId: 1'))).toBe('repo/harness.yaml: dynamodb.tables.orders.items[1]: expected a key not already used by items[0], got ["ada",1]');
    expect(error(ORDERS.replace('qty: 2', 'qty: .inf'))).toBe('repo/harness.yaml: dynamodb.tables.orders.items[0].lines[0].qty: expected a finite number, got "Infinity"');
    expect(error(ORDERS.replace('billingMode: PROVISIONED', 'billingMode: PROVISIONED\n      items: [{ id: "not base64!" }]'))).toBe(
      'repo/harness.yaml: dynamodb.tables.sessions.items[0].id: expected a non-empty base64 string (the partition key\'s type is B), got "not base64!"',
    );
  });
});
