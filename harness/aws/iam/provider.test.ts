import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { IamStore, roleIdOf, ECS_TASKS_TRUST_POLICY } from './store.ts';
import { seedIam } from './seed.ts';
import { createIamProvider } from './provider.ts';
import { startTestEdge, TEST_ACCOUNT } from '../test-edge.ts';

const form = (body: string) => ({
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    // IAM is global: clients sign for us-east-1/iam whatever their region
    authorization: 'AWS4-HMAC-SHA256 Credential=AKIAHARNESSLOCAL0000/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
  },
  body,
});

describe('IamStore and seedIam', () => {
  it('seeds roles that trust ecs-tasks, with AWS-shaped ids and ARNs (a path when the name has one)', () => {
    const store = new IamStore({ account: TEST_ACCOUNT });
    seedIam(store, ['escher-prod-ecs-execution', 'service-role/escher-prod-gateway-task']);
    seedIam(store, ['escher-prod-ecs-execution']); // idempotent
    const exec = store.getRole('escher-prod-ecs-execution');
    expect(exec).toMatchObject({ Path: '/', Arn: `arn:aws:iam::${TEST_ACCOUNT}:role/escher-prod-ecs-execution`, MaxSessionDuration: 3600, AssumeRolePolicyDocument: ECS_TASKS_TRUST_POLICY });
    expect(exec.RoleId).toMatch(/^AROA[A-Z0-9]{17}$/);
    expect(exec.RoleId).toBe(roleIdOf(TEST_ACCOUNT, 'escher-prod-ecs-execution'));
    expect(store.getRole('escher-prod-gateway-task').Arn).toBe(`arn:aws:iam::${TEST_ACCOUNT}:role/service-role/escher-prod-gateway-task`);
    expect(store.listRoles().map((r) => r.RoleName)).toEqual(['escher-prod-ecs-execution', 'escher-prod-gateway-task']);
    expect(store.listRoles('/service-role/').map((r) => r.RoleName)).toEqual(['escher-prod-gateway-task']);
  });

  it('GetRole of a missing role is NoSuchEntity (404); a bad name is a ValidationError; names are unique case-insensitively', () => {
    const store = new IamStore({ account: TEST_ACCOUNT });
    store.createRole({ RoleName: 'Deployer' });
    expect(() => store.getRole('nope')).toThrow(expect.objectContaining({ code: 'NoSuchEntity', statusCode: 404, message: 'The role with name nope cannot be found.' }));
    expect(() => store.getRole('has space')).toThrow(expect.objectContaining({ code: 'ValidationError' }));
    expect(store.getRole('deployer').RoleName).toBe('Deployer');
    expect(() => store.createRole({ RoleName: 'DEPLOYER' })).toThrow(expect.objectContaining({ code: 'EntityAlreadyExists', statusCode: 409 }));
  });
});

describe('IAM through the edge (query protocol)', () => {
  let edge: Awaited<ReturnType<typeof startTestEdge>>;
  beforeAll(async () => {
    const store = new IamStore({ account: TEST_ACCOUNT });
    seedIam(store, ['escher-prod-ecs-execution']);
    edge = await startTestEdge([createIamProvider(store)]);
  });
  afterAll(() => edge.stop());

  it('answers GetRole with a GetRoleResult whose trust policy is URL-encoded, and NoSuchEntity in the ErrorResponse shape', async () => {
    const ok = await fetch(edge.url, form('Action=GetRole&Version=2010-05-08&RoleName=escher-prod-ecs-execution'));
    expect(ok.status).toBe(200);
    const xml = await ok.text();
    expect(xml).toContain('<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetRoleResult><Role><Path>/</Path><RoleName>escher-prod-ecs-execution</RoleName>');
    expect(xml).toContain(`<AssumeRolePolicyDocument>${encodeURIComponent(ECS_TASKS_TRUST_POLICY)}</AssumeRolePolicyDocument>`);
    expect(xml).toMatch(/<CreateDate>\d{4}-\d\d-\d\dT[\d:.]+Z<\/CreateDate>/);
    const missing = await fetch(edge.url, form('Action=GetRole&Version=2010-05-08&RoleName=ghost'));
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('<Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The role with name ghost cannot be found.</Message></Error>');
    const noName = await fetch(edge.url, form('Action=GetRole&Version=2010-05-08'));
    expect(noName.status).toBe(400);
    expect(await noName.text()).toContain('<Code>ValidationError</Code>');
  });
});
