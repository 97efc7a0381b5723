import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, TEST_ACCOUNT } from '../test-edge.ts';
import { IamStore } from './store.ts';
import { seedIam } from './seed.ts';
import { createIamProvider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[iam contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

describe('IAM', () => {
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  beforeAll(async () => {
    const store = new IamStore({ account: TEST_ACCOUNT });
    seedIam(store, ['escher-prod-ecs-execution', 'escher-prod-gateway-task']);
    for (let i = 0; i < 3; i++) store.createRole({ RoleName: `extra-${i}`, Path: '/extra/' });
    edge = await startTestEdge([createIamProvider(store)]);
  });
  afterAll(() => edge.stop());

  it.each(clis)('aws $major ($version): get-role (the decoded trust policy, the ARN by --query), NoSuchEntity, list-roles across pages', async (cli) => {
    const aws = (...args: string[]) => runAws(cli, edge.url, ['iam', ...args]);
    const r = await aws('get-role', '--role-name', 'escher-prod-ecs-execution');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.Role).toMatchObject({
      Path: '/',
      RoleName: 'escher-prod-ecs-execution',
      Arn: `arn:aws:iam::${TEST_ACCOUNT}:role/escher-prod-ecs-execution`,
      MaxSessionDuration: 3600,
      // botocore decodes IAM's URL-encoded policy documents into objects
      AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }] },
      RoleLastUsed: {},
    });
    expect(r.json.Role.RoleId).toMatch(/^AROA[A-Z0-9]{17}$/);
    const arn = await aws('get-role', '--role-name', 'escher-prod-gateway-task', '--query', 'Role.Arn', '--output', 'text');
    expect(arn.stdout.trim()).toBe(`arn:aws:iam::${TEST_ACCOUNT}:role/escher-prod-gateway-task`);

    const missing = await aws('get-role', '--role-name', 'ghost');
    expect([254, 255]).toContain(missing.code);
    // v2 adds '(reached max retries: 0)' before the colon
    expect(missing.stderr).toMatch(/An error occurred \(NoSuchEntity\) when calling the GetRole operation( \(reached max retries: \d+\))?: The role with name ghost cannot be found\./);

    // the CLI follows Marker/IsTruncated itself
    const all = await aws('list-roles', '--page-size', '2', '--query', 'Roles[].RoleName', '--output', 'text');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.trim().split(/\s+/)).toEqual(['escher-prod-ecs-execution', 'escher-prod-gateway-task', 'extra-0', 'extra-1', 'extra-2']);
    const extra = await aws('list-roles', '--path-prefix', '/extra/', '--query', 'length(Roles)');
    expect(extra.stdout.trim()).toBe('3');
  });
});
