import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createStsProvider, callerIdentity } from './provider.ts';
import { startTestEdge, TEST_ACCOUNT } from '../test-edge.ts';

describe('STS GetCallerIdentity', () => {
  it('reports the account root by default, or an IAM user', () => {
    expect(callerIdentity('111122223333')).toEqual({ UserId: '111122223333', Account: '111122223333', Arn: 'arn:aws:iam::111122223333:root' });
    const u = callerIdentity('111122223333', { userName: 'deployer' });
    expect(u.Arn).toBe('arn:aws:iam::111122223333:user/deployer');
    expect(u.UserId).toMatch(/^AIDA[A-Z0-9]{17}$/);
    expect(callerIdentity('111122223333', { userName: 'deployer' }).UserId).toBe(u.UserId);
  });

  describe('through the edge', () => {
    let edge: Awaited<ReturnType<typeof startTestEdge>>;
    beforeAll(async () => {
      edge = await startTestEdge([createStsProvider()]);
    });
    afterAll(() => edge.stop());

    it('answers the query protocol with a GetCallerIdentityResult', async () => {
      const res = await fetch(edge.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: 'Action=GetCallerIdentity&Version=2011-06-15',
      });
      expect(res.status).toBe(200);
      const xml = await res.text();
      expect(xml).toContain('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>');
      expect(xml).toContain(`<Account>${TEST_ACCOUNT}</Account>`);
      expect(xml).toContain(`<Arn>arn:aws:iam::${TEST_ACCOUNT}:root</Arn>`);
      const bad = await fetch(edge.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: 'Action=AssumeRole&Version=2011-06-15',
      });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toContain('<Code>InvalidAction</Code>');
    });
  });
});
