import { describe, expect, it } from 'vitest';
import { healthCheckPaths, namesSecret, stubEnvironment, type StubWorld } from './stub-env.ts';

const world: StubWorld = {
  surreal: { hostname: 'db.corp.internal', rootSecret: 'corp/db-root' },
  anthropicKeySecret: 'corp/llm-key',
  isServiceHost: (h) => ['orders.corp.internal', 'billing.corp.internal'].includes(h),
  targetGroup: (arn) => (arn === 'tg-1' ? { healthCheckPath: '/ready', loadBalancerArns: ['arn:lb/web'] } : undefined),
};
const image = { cmd: ['node', 'stubs/service.mjs'], env: {}, stub: true };

describe('stubEnvironment: what the generic stub serves, from the task definition', () => {
  it('ports, health paths from the check and the target group, service dependencies only', () => {
    const env = stubEnvironment(
      {
        taskDefinition: { family: 'web' },
        service: { serviceName: 'corp-web', loadBalancers: [{ targetGroupArn: 'tg-1', containerName: 'web', containerPort: 3000 }] },
        container: {
          name: 'web',
          portMappings: [{ containerPort: 3000 }, { containerPort: 9090 }],
          healthCheck: { command: ['CMD-SHELL', "curl -fsS 'http://localhost:3000/healthz?deep=1' || exit 1"] },
          environment: [
            { name: 'ORDERS_URL', value: 'http://orders.corp.internal:7000' },
            { name: 'BILLING_URL', value: 'https://billing.corp.internal' },
            { name: 'COGNITO_JWKS_URL', value: 'https://cognito-idp.example/jwks.json' },
            { name: 'DOCS', value: 'http://orders.corp.internal:7000' },
          ],
        },
        env: {},
        image,
      },
      world,
    );
    expect(env).toEqual({
      STUB_SERVICE: 'corp-web',
      STUB_PORTS: '3000,9090',
      STUB_HEALTH_PATHS: '/healthz,/ready',
      STUB_ALB: '1',
      ALB_ARN: 'arn:lb/web',
      STUB_DEPENDENCIES: 'ORDERS_URL,BILLING_URL',
    });
  });

  it('the data owner names the database and gets its root secret; a URL alone is not enough', () => {
    const container = (secrets: { name: string; valueFrom: string }[]) => ({
      name: 'store',
      environment: [{ name: 'DB_URL', value: 'http://db.corp.internal:8000' }],
      secrets,
    });
    const run = (secrets: { name: string; valueFrom: string }[]) => stubEnvironment({ taskDefinition: { family: 'store' }, container: container(secrets), env: {}, image }, world);
    expect(run([])).toEqual({ STUB_SERVICE: 'store' });
    expect(run([{ name: 'DB_CREDS', valueFrom: 'arn:aws:secretsmanager:us-west-2:111122223333:secret:corp/db-root-AbCdEf' }])).toMatchObject({ STUB_DATA_URL_ENV: 'DB_URL', STUB_DATA_CREDENTIALS_ENV: 'DB_CREDS' });
    expect(
      run([
        { name: 'U', valueFrom: 'arn:aws:secretsmanager:us-west-2:111122223333:secret:corp/db-root:username::' },
        { name: 'P', valueFrom: 'arn:aws:secretsmanager:us-west-2:111122223333:secret:corp/db-root:password::' },
        { name: 'KEY', valueFrom: 'arn:aws:secretsmanager:us-west-2:111122223333:secret:corp/llm-key' },
      ]),
    ).toMatchObject({ STUB_DATA_URL_ENV: 'DB_URL', STUB_DATA_CREDENTIALS_ENV: 'U,P', STUB_ANTHROPIC_KEY_ENV: 'KEY' });
  });

  it('reads health paths from curl/wget commands and secret names from ARNs with or without the suffix', () => {
    expect(healthCheckPaths(['CMD', 'wget', '-qO-', 'http://127.0.0.1:8080/q/health'])).toEqual(['/q/health']);
    expect(healthCheckPaths(['CMD-SHELL', 'pgrep node'])).toEqual([]);
    expect(namesSecret('arn:aws:secretsmanager:r:1:secret:a/b-XyZ123', 'a/b')).toBe(true);
    expect(namesSecret('arn:aws:secretsmanager:r:1:secret:a/b-c', 'a/b')).toBe(false);
    expect(namesSecret('a/b', 'a/b')).toBe(true);
  });
});
