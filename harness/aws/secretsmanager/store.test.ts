import { describe, it, expect } from 'vitest';
import { SecretsManagerStore } from './store.ts';
import { resolveEcsSecretValueFrom, parseEcsSecretValueFrom } from './ecs-secrets.ts';
import { createSecretsManagerProvider } from './provider.ts';

const ACCOUNT = '123456789012';
const REGION = 'us-west-1';
const PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:`;
const ASM = 'ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s)';

function newStore() {
  return new SecretsManagerStore({ account: ACCOUNT, region: REGION });
}

describe('SecretsManagerStore', () => {
  it('gives secrets an ARN with a 6-character suffix and finds them by name, full and partial ARN', () => {
    const s = newStore();
    const { secret } = s.createSecret('escher/anthropic-api-key', 'sk-test');
    expect(secret.arn).toMatch(new RegExp(`^${PREFIX}escher/anthropic-api-key-[A-Za-z0-9]{6}$`));
    for (const id of ['escher/anthropic-api-key', secret.arn, `${PREFIX}escher/anthropic-api-key`]) {
      expect(s.getSecretValue(id).secretString).toBe('sk-test');
    }
    expect(() => s.getSecretValue(`${PREFIX}escher/anthropic-api-key-ZZZZZZ`)).toThrow(
      expect.objectContaining({ code: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }),
    );
    expect(() => s.getSecretValue(`arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:escher/anthropic-api-key`)).toThrow(
      expect.objectContaining({ code: 'ResourceNotFoundException' }),
    );
    expect(() => s.createSecret('escher/anthropic-api-key', 'x')).toThrow(expect.objectContaining({ code: 'ResourceExistsException' }));
  });

  it('moves AWSCURRENT to each new version and keeps the last one as AWSPREVIOUS', () => {
    const s = newStore();
    const v1 = s.createSecret('db', 'one').version!;
    const v2 = s.putSecretValue('db', { secretString: 'two' }).version;
    const v3 = s.putSecretValue('db', { secretString: 'three' }).version;
    expect(s.getSecretValue('db').secretString).toBe('three');
    expect(s.getSecretValue('db', { versionStage: 'AWSPREVIOUS' }).secretString).toBe('two');
    expect(s.getSecretValue('db', { versionId: v1.versionId }).secretString).toBe('one');
    expect(s.versionsToStages(s.describeSecret('db'))).toEqual({ [v2.versionId]: ['AWSPREVIOUS'], [v3.versionId]: ['AWSCURRENT'] });
    expect(() => s.getSecretValue('db', { versionStage: 'AWSPENDING' })).toThrow(expect.objectContaining({ code: 'ResourceNotFoundException' }));
  });

  it('makes a version idempotent on its ClientRequestToken', () => {
    const s = newStore();
    s.createSecret('k', 'a');
    const token = 'a'.repeat(32);
    const first = s.putSecretValue('k', { secretString: 'b' }, { clientRequestToken: token }).version;
    expect(s.putSecretValue('k', { secretString: 'b' }, { clientRequestToken: token }).version).toBe(first);
    expect(() => s.putSecretValue('k', { secretString: 'c' }, { clientRequestToken: token })).toThrow(expect.objectContaining({ code: 'ResourceExistsException' }));
  });

  it('schedules deletion (InvalidRequestException on read), restores, and force-deletes', () => {
    const s = newStore();
    s.createSecret('gone', 'x');
    const { deletionDate } = s.deleteSecret('gone', { recoveryWindowInDays: 7 });
    expect(deletionDate.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    expect(() => s.getSecretValue('gone')).toThrow(expect.objectContaining({ code: 'InvalidRequestException' }));
    expect(s.describeSecret('gone').deletedDate).toBeInstanceOf(Date);
    expect(s.listSecrets()).toHaveLength(0);
    expect(s.listSecrets({ includePlannedDeletion: true })).toHaveLength(1);
    expect(() => s.createSecret('gone', 'y')).toThrow(expect.objectContaining({ code: 'InvalidRequestException' }));
    s.restoreSecret('gone');
    expect(s.getSecretValue('gone').secretString).toBe('x');
    s.deleteSecret('gone', { forceDeleteWithoutRecovery: true });
    expect(() => s.describeSecret('gone')).toThrow(expect.objectContaining({ code: 'ResourceNotFoundException' }));
    expect(() => s.deleteSecret('x', { forceDeleteWithoutRecovery: true, recoveryWindowInDays: 7 })).toThrow(
      expect.objectContaining({ code: 'InvalidParameterException' }),
    );
    s.createSecret('w', 'x');
    expect(() => s.deleteSecret('w', { recoveryWindowInDays: 3 })).toThrow(expect.objectContaining({ code: 'InvalidParameterException' }));
  });
});

describe('resolveEcsSecretValueFrom', () => {
  it('returns the whole SecretString, or one JSON key, for full and partial ARNs', () => {
    const s = newStore();
    const { secret } = s.createSecret('escher/cognito-jwks-url', 'https://jwks.example/keys');
    s.createSecret('app', JSON.stringify({ username1: 'admin', port: 5432 }));
    expect(resolveEcsSecretValueFrom(s, `${PREFIX}escher/cognito-jwks-url`)).toBe('https://jwks.example/keys');
    expect(resolveEcsSecretValueFrom(s, secret.arn)).toBe('https://jwks.example/keys');
    expect(resolveEcsSecretValueFrom(s, `${PREFIX}app:username1::`)).toBe('admin');
    expect(resolveEcsSecretValueFrom(s, `${PREFIX}app:port::`)).toBe('5432');
    expect(resolveEcsSecretValueFrom(s, `${PREFIX}app::AWSCURRENT:`)).toContain('username1');
  });

  it('accepts the full ARN DescribeSecret returns (with its random suffix) as valueFrom, whole or one JSON key; a stale suffix is not found', async () => {
    const s = newStore();
    s.createSecret('prod/surreal/root', JSON.stringify({ username: 'root', password: 'pw-1' }));
    s.createSecret('prod/anthropic/api-key', 'sk-ant-fake');
    const sm = createSecretsManagerProvider(s);
    const ctx = { requestId: 'r', region: REGION, account: ACCOUNT, signingName: 'secretsmanager' };
    const arnOf = async (id: string) => ((await sm.operations.DescribeSecret!({ SecretId: id }, ctx)) as { ARN: string }).ARN;
    const root = await arnOf('prod/surreal/root');
    expect(root).toMatch(new RegExp(`^${PREFIX}prod/surreal/root-[A-Za-z0-9]{6}$`));
    expect(resolveEcsSecretValueFrom(s, `${root}:username::`)).toBe('root');
    expect(resolveEcsSecretValueFrom(s, `${root}:password::`)).toBe('pw-1');
    const key = await arnOf(`${PREFIX}prod/anthropic/api-key`);
    expect(resolveEcsSecretValueFrom(s, key)).toBe('sk-ant-fake');
    expect(resolveEcsSecretValueFrom(s, `${key}::AWSCURRENT:`)).toBe('sk-ant-fake');
    const stale = `${PREFIX}prod/anthropic/api-key-AAAAAA`;
    expect(stale).not.toBe(key);
    expect(() => resolveEcsSecretValueFrom(s, stale)).toThrow(`failed to fetch secret ${stale} from secrets manager: ResourceNotFoundException`);
  });

  it('selects a version by stage or id', () => {
    const s = newStore();
    const v1 = s.createSecret('rot', 'old').version!;
    s.putSecretValue('rot', { secretString: 'new' });
    expect(resolveEcsSecretValueFrom(s, `${PREFIX}rot::AWSPREVIOUS:`)).toBe('old');
    expect(resolveEcsSecretValueFrom(s, `${PREFIX}rot:::${v1.versionId}`)).toBe('old');
  });

  it('throws the exact ECS stoppedReason for a missing secret and a missing key', () => {
    const s = newStore();
    s.createSecret('app', JSON.stringify({ a: 'b' }));
    const missing = `${PREFIX}escher/anthropic-api-key`;
    expect(() => resolveEcsSecretValueFrom(s, missing)).toThrow(
      new Error(
        `ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret ${missing} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
      ),
    );
    expect(() => resolveEcsSecretValueFrom(s, `${PREFIX}app:ANTHROPIC_API_KEY::`)).toThrow(
      new Error(`${ASM}: retrieved secret from Secrets Manager did not contain json key ANTHROPIC_API_KEY`),
    );
    s.deleteSecret('app');
    expect(() => resolveEcsSecretValueFrom(s, `${PREFIX}app`)).toThrow(/failed to fetch secret .*: InvalidRequestException: /);
  });

  it('parses the valueFrom grammar', () => {
    expect(parseEcsSecretValueFrom(`${PREFIX}app-AbCdEf:username1::`)).toEqual({ secretArn: `${PREFIX}app-AbCdEf`, jsonKey: 'username1' });
    expect(parseEcsSecretValueFrom(`${PREFIX}app:::v-1`)).toEqual({ secretArn: `${PREFIX}app`, versionId: 'v-1' });
    expect(parseEcsSecretValueFrom('arn:aws:ssm:us-west-1:1:parameter/x')).toBeUndefined();
  });
});
