import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { SecretsManagerStore } from './store.ts';
import { createSecretsManagerProvider } from './provider.ts';
import { startTestEdge, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import type { RequestContext } from '../protocol/types.ts';

const ctx: RequestContext = { requestId: 'r-1', region: TEST_REGION, account: TEST_ACCOUNT, signingName: 'secretsmanager' };

function setup() {
  const store = new SecretsManagerStore({ account: TEST_ACCOUNT, region: TEST_REGION });
  const ops = createSecretsManagerProvider(store).operations as Record<string, (i: any, c: RequestContext) => any>;
  return { store, call: (op: string, input: any = {}) => ops[op]!(input, ctx) };
}

describe('Secrets Manager provider operations', () => {
  it('creates, reads, versions, updates and describes a secret', () => {
    const { call } = setup();
    const created = call('CreateSecret', { Name: 'escher/anthropic-api-key', SecretString: 'sk-1', Description: 'Anthropic', Tags: [{ Key: 'app', Value: 'escher' }] });
    expect(created.ARN).toMatch(/:secret:escher\/anthropic-api-key-[A-Za-z0-9]{6}$/);
    const got = call('GetSecretValue', { SecretId: created.ARN });
    expect(got).toMatchObject({ Name: 'escher/anthropic-api-key', SecretString: 'sk-1', VersionStages: ['AWSCURRENT'], VersionId: created.VersionId });
    expect(got.CreatedDate).toBeInstanceOf(Date);
    const put = call('PutSecretValue', { SecretId: 'escher/anthropic-api-key', SecretString: 'sk-2' });
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    call('UpdateSecret', { SecretId: 'escher/anthropic-api-key', Description: 'rotated', SecretString: 'sk-3' });
    const d = call('DescribeSecret', { SecretId: 'escher/anthropic-api-key' });
    expect(d).toMatchObject({ Description: 'rotated', Tags: [{ Key: 'app', Value: 'escher' }] });
    expect(Object.values(d.VersionIdsToStages).sort()).toEqual([['AWSCURRENT'], ['AWSPREVIOUS']]);
    expect(call('GetSecretValue', { SecretId: 'escher/anthropic-api-key', VersionStage: 'AWSPREVIOUS' }).SecretString).toBe('sk-2');
    call('TagResource', { SecretId: 'escher/anthropic-api-key', Tags: [{ Key: 'env', Value: 'test' }] });
    expect(call('DescribeSecret', { SecretId: 'escher/anthropic-api-key' }).Tags).toHaveLength(2);
  });

  it('lists with filters and pages, and hides secrets scheduled for deletion', () => {
    const { call } = setup();
    for (const n of ['escher/a', 'escher/b', 'other']) call('CreateSecret', { Name: n, SecretString: 'x' });
    expect(call('ListSecrets', { Filters: [{ Key: 'name', Values: ['escher/'] }] }).SecretList.map((s: any) => s.Name)).toEqual(['escher/a', 'escher/b']);
    const p1 = call('ListSecrets', { MaxResults: 2 });
    expect(p1.SecretList).toHaveLength(2);
    expect(call('ListSecrets', { MaxResults: 2, NextToken: p1.NextToken }).SecretList.map((s: any) => s.Name)).toEqual(['other']);
    const del = call('DeleteSecret', { SecretId: 'other' });
    expect(del.DeletionDate).toBeInstanceOf(Date);
    expect(call('ListSecrets').SecretList).toHaveLength(2);
    expect(call('ListSecrets', { IncludePlannedDeletion: true }).SecretList).toHaveLength(3);
    expect(() => call('GetSecretValue', { SecretId: 'other' })).toThrow(expect.objectContaining({ code: 'InvalidRequestException' }));
    expect(() => call('GetSecretValue', {})).toThrow(expect.objectContaining({ code: 'InvalidParameterException' }));
  });
});

describe('Secrets Manager through the edge', () => {
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  beforeAll(async () => {
    edge = await startTestEdge([createSecretsManagerProvider(new SecretsManagerStore({ account: TEST_ACCOUNT, region: TEST_REGION }))]);
  });
  afterAll(() => edge.stop());

  async function post(op: string, body: unknown) {
    const res = await fetch(edge.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `secretsmanager.${op}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any, errorType: res.headers.get('x-amzn-errortype') };
  }

  it('returns epoch-second dates and the modeled error shape', async () => {
    await post('CreateSecret', { Name: 's', SecretString: 'v' });
    const got = await post('GetSecretValue', { SecretId: 's' });
    expect(got.status).toBe(200);
    expect(typeof got.json.CreatedDate).toBe('number');
    const missing = await post('GetSecretValue', { SecretId: 'nope' });
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
  });
});
