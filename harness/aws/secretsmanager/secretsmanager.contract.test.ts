import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  SecretsManagerClient,
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  DescribeSecretCommand,
  ListSecretsCommand,
  UpdateSecretCommand,
  TagResourceCommand,
  DeleteSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { SecretsManagerStore } from './store.ts';
import { createSecretsManagerProvider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[secretsmanager contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

async function edgeWithStore() {
  const store = new SecretsManagerStore({ account: TEST_ACCOUNT, region: TEST_REGION });
  return { store, ...(await startTestEdge([createSecretsManagerProvider(store)])) };
}

describe.each(clis)('Secrets Manager with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  beforeAll(async () => {
    env = await edgeWithStore();
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, args);

  it('drives every operation and names the error code', async () => {
    const created = await aws('secretsmanager', 'create-secret', '--name', 'escher/anthropic-api-key', '--secret-string', 'sk-1', '--tags', 'Key=app,Value=escher');
    expect(created.code, created.stderr).toBe(0);
    expect(created.json.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:${TEST_REGION}:${TEST_ACCOUNT}:secret:escher/anthropic-api-key-[A-Za-z0-9]{6}$`));
    // the CLI fills ClientRequestToken with a UUID: it becomes the VersionId
    expect(created.json.VersionId).toMatch(/^[0-9a-f-]{36}$/);

    const put = await aws('secretsmanager', 'put-secret-value', '--secret-id', created.json.ARN, '--secret-string', 'sk-2');
    expect(put.code, put.stderr).toBe(0);
    expect(put.json.VersionStages).toEqual(['AWSCURRENT']);

    const got = await aws('secretsmanager', 'get-secret-value', '--secret-id', 'escher/anthropic-api-key', '--version-stage', 'AWSPREVIOUS');
    expect(got.code, got.stderr).toBe(0);
    expect(got.json).toMatchObject({ SecretString: 'sk-1', VersionStages: ['AWSPREVIOUS'] });

    const upd = await aws('secretsmanager', 'update-secret', '--secret-id', 'escher/anthropic-api-key', '--description', 'Anthropic key');
    expect(upd.code, upd.stderr).toBe(0);
    const tag = await aws('secretsmanager', 'tag-resource', '--secret-id', 'escher/anthropic-api-key', '--tags', 'Key=env,Value=ci');
    expect(tag.code, tag.stderr).toBe(0);

    const desc = await aws('secretsmanager', 'describe-secret', '--secret-id', `arn:aws:secretsmanager:${TEST_REGION}:${TEST_ACCOUNT}:secret:escher/anthropic-api-key`);
    expect(desc.code, desc.stderr).toBe(0);
    expect(desc.json).toMatchObject({ Name: 'escher/anthropic-api-key', Description: 'Anthropic key' });
    expect(desc.json.Tags).toHaveLength(2);

    const list = await aws('secretsmanager', 'list-secrets', '--filters', 'Key=name,Values=escher/');
    expect(list.json.SecretList.map((s: any) => s.Name)).toEqual(['escher/anthropic-api-key']);

    const del = await aws('secretsmanager', 'delete-secret', '--secret-id', 'escher/anthropic-api-key', '--force-delete-without-recovery');
    expect(del.code, del.stderr).toBe(0);

    const missing = await aws('secretsmanager', 'get-secret-value', '--secret-id', 'escher/anthropic-api-key');
    expect([254, 255]).toContain(missing.code);
    expect(missing.stderr).toContain('ResourceNotFoundException');
    expect(missing.stderr).toContain("Secrets Manager can't find the specified secret.");
  });
});

describe('Secrets Manager with @aws-sdk/client-secrets-manager', () => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  let sm: SecretsManagerClient;
  beforeAll(async () => {
    env = await edgeWithStore();
    sm = new SecretsManagerClient(sdkConfig(env.url));
  });
  afterAll(async () => {
    sm.destroy();
    await env.stop();
  });

  it('drives every operation and sees modeled errors by name', async () => {
    const c = await sm.send(new CreateSecretCommand({ Name: 'db', SecretString: '{"password":"p1"}' }));
    await sm.send(new PutSecretValueCommand({ SecretId: 'db', SecretString: '{"password":"p2"}' }));
    const v = await sm.send(new GetSecretValueCommand({ SecretId: c.ARN }));
    expect(v.SecretString).toBe('{"password":"p2"}');
    expect(v.CreatedDate).toBeInstanceOf(Date);
    await sm.send(new UpdateSecretCommand({ SecretId: 'db', Description: 'database' }));
    await sm.send(new TagResourceCommand({ SecretId: 'db', Tags: [{ Key: 'k', Value: 'v' }] }));
    const d = await sm.send(new DescribeSecretCommand({ SecretId: 'db' }));
    expect(d.Description).toBe('database');
    expect(d.CreatedDate).toBeInstanceOf(Date);
    expect((await sm.send(new ListSecretsCommand({}))).SecretList?.map((s) => s.Name)).toEqual(['db']);
    const del = await sm.send(new DeleteSecretCommand({ SecretId: 'db', RecoveryWindowInDays: 7 }));
    expect(del.DeletionDate).toBeInstanceOf(Date);
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'db' }))).rejects.toMatchObject({ name: 'InvalidRequestException' });
    await expect(sm.send(new GetSecretValueCommand({ SecretId: 'nope' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
    });
    await expect(sm.send(new CreateSecretCommand({ Name: 'x', SecretString: 'a', SecretBinary: new Uint8Array([1]) }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
  });
});
