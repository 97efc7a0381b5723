import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { STSClient, GetCallerIdentityCommand, AssumeRoleCommand } from '@aws-sdk/client-sts';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, sdkConfig, TEST_ACCOUNT } from '../test-edge.ts';
import { createStsProvider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[sts contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

describe('STS', () => {
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  beforeAll(async () => {
    edge = await startTestEdge([createStsProvider()]);
  });
  afterAll(() => edge.stop());

  it.each(clis)('aws $major ($version): get-caller-identity, and an unsupported action names its code', async (cli) => {
    const me = await runAws(cli, edge.url, ['sts', 'get-caller-identity']);
    expect(me.code, me.stderr).toBe(0);
    expect(me.json).toEqual({ UserId: TEST_ACCOUNT, Account: TEST_ACCOUNT, Arn: `arn:aws:iam::${TEST_ACCOUNT}:root` });
    const acct = await runAws(cli, edge.url, ['sts', 'get-caller-identity', '--query', 'Account', '--output', 'text']);
    expect(acct.stdout.trim()).toBe(TEST_ACCOUNT);
    const bad = await runAws(cli, edge.url, ['sts', 'assume-role', '--role-arn', `arn:aws:iam::${TEST_ACCOUNT}:role/x`, '--role-session-name', 'deploy']);
    expect([254, 255]).toContain(bad.code);
    expect(bad.stderr).toContain('InvalidAction');
  });

  it('@aws-sdk/client-sts: GetCallerIdentity, and an error by name', async () => {
    const sts = new STSClient(sdkConfig(edge.url));
    try {
      expect(await sts.send(new GetCallerIdentityCommand({}))).toMatchObject({ Account: TEST_ACCOUNT, Arn: `arn:aws:iam::${TEST_ACCOUNT}:root`, UserId: TEST_ACCOUNT });
      await expect(sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${TEST_ACCOUNT}:role/x`, RoleSessionName: 'deploy' }))).rejects.toMatchObject({
        name: 'InvalidAction',
        $metadata: { httpStatusCode: 400 },
      });
    } finally {
      sts.destroy();
    }
  });
});
