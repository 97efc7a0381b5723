import { afterEach, describe, expect, it } from 'vitest';
import { makeTestControlPlane, registerFargateTaskDefinition } from './testing.ts';
import { HEALTH_OUTPUT_LIMIT } from './health.ts';
import { redact } from './task-runner.ts';

const IMG = '123456789012.dkr.ecr.us-west-1.amazonaws.com/app:v1';
const SECRET_ARN = 'arn:aws:secretsmanager:us-west-1:123456789012:secret:app/key';

let cp: ReturnType<typeof makeTestControlPlane> | undefined;
afterEach(async () => {
  await cp?.scheduler.stop();
  cp?.clock.close();
  cp = undefined;
});

describe('ecs.task.health: what the last health check printed, for a diagnosis', () => {
  it('UNHEALTHY carries the end of the output (bounded, secrets masked), its exit code and "failures of retries"', async () => {
    cp = makeTestControlPlane({ [IMG]: { fault: 'unhealthy' } });
    // a check that prints a lot, the container's secret among it, then curl's error line
    cp.runtime.exec = async () => ({ exitCode: 22, stdout: `${'x'.repeat(900)} token=s3cr3t\n`, stderr: 'curl: (22) The requested URL returned error: 503', timedOut: false });
    const td = registerFargateTaskDefinition(cp.store, [
      {
        name: 'app',
        image: IMG,
        portMappings: [{ containerPort: 8080 }],
        secrets: [{ name: 'APP_KEY', valueFrom: SECRET_ARN }],
        healthCheck: { command: ['CMD-SHELL', 'curl -f http://localhost:8080/health || exit 1'], interval: 5, timeout: 2, retries: 2 },
      },
    ]);
    cp.store.createService({ cluster: 'c1', serviceName: 'web', taskDefinition: td.taskDefinitionArn, desiredCount: 1, launchType: 'FARGATE', networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-1'], securityGroups: [] } } });
    const ev = await cp.events.waitFor((e) => e.type === 'ecs.task.health' && e.healthStatus === 'UNHEALTHY');
    const output = String(ev.output);
    expect(output.length).toBeLessThanOrEqual(HEALTH_OUTPUT_LIMIT);
    expect(output).toMatch(/curl: \(22\) The requested URL returned error: 503$/);
    expect(output).not.toContain('s3cr3t');
    expect(output).toContain('token=****');
    expect(ev).toMatchObject({ exitCode: 22, failures: 2, retries: 2, container: 'app', service: 'web' });
  });

  it('redact masks every occurrence of every value', () => {
    expect(redact('a=hunter22 b=hunter22 c=xyz1', ['hunter22', 'xyz1'])).toBe('a=**** b=**** c=****');
  });
});
