import { AwsError } from '../protocol/errors.ts';
import type { DynamoDbEngine, EngineReply } from './dynalite.ts';

/**
 * dynalite's error body → the AwsError the edge sends: `__type`
 * `com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException` becomes the code
 * `ConditionalCheckFailedException` with dynalite's status; modeled members it sent besides the
 * message stay in the body.
 */
export function engineError(reply: EngineReply, operation: string, input: Record<string, unknown>): AwsError {
  const body = reply.body && typeof reply.body === 'object' ? (reply.body as Record<string, unknown>) : {};
  const type = typeof body.__type === 'string' && body.__type ? body.__type : 'InternalServerError';
  const code = type.slice(type.lastIndexOf('#') + 1);
  const { __type: _t, message: m1, Message: m2, ...fields } = body;
  let message = typeof m1 === 'string' ? m1 : typeof m2 === 'string' ? m2 : '';
  // dynalite leaves this one empty; DynamoDB names the table
  if (!message && code === 'ResourceInUseException' && operation === 'CreateTable') message = `Table already exists: ${String(input.TableName)}`;
  const status = reply.status >= 400 ? reply.status : 500;
  return new AwsError(code, message, status, status < 500, fields);
}

/** Calls the engine; a non-200 answer throws its AwsError. */
export async function callEngine(engine: DynamoDbEngine, operation: string, input: Record<string, unknown>): Promise<any> {
  const reply = await engine.call(operation, input);
  if (reply.status !== 200) throw engineError(reply, operation, input);
  return reply.body;
}

/** Where items and keys live in requests and answers: never rewritten, never summarised. */
const ITEM_DATA = new Set(['Item', 'Items', 'Attributes', 'Responses', 'UnprocessedItems', 'UnprocessedKeys', 'LastEvaluatedKey', 'ItemCollectionMetrics', 'Key', 'ExclusiveStartKey']);
const DYNAMO_ARN = /^arn:aws:dynamodb:[^:]*:[^:]*:/;

/**
 * dynalite names every table ARN with its own account (and the region it read from the
 * environment); the edge answers with the run's: every `…Arn` member outside item data.
 */
export function withRunArns<T>(v: T, region: string, account: string): T {
  const prefix = `arn:aws:dynamodb:${region}:${account}:`;
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(walk);
    if (!x || typeof x !== 'object') return x;
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(x)) {
      if (ITEM_DATA.has(k)) out[k] = val;
      else if (k.endsWith('Arn') && typeof val === 'string') out[k] = val.replace(DYNAMO_ARN, prefix);
      else out[k] = walk(val);
    }
    return out;
  };
  return walk(v) as T;
}
