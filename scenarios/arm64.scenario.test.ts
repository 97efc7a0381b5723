import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario } from '../harness/scenario/scenario.ts';

/**
 * Fargate's architecture, as a task definition asks it: runtimePlatform ARM64 runs the image as
 * linux/arm64 (in docker mode: the arm64 stub image, under QEMU on x86), proven by the stub's
 * own /version (process.arch) and its first log line in CloudWatch Logs; an image whose
 * manifest has no linux/arm64 stops the task with AWS's CannotPullContainerError, in both
 * runtimes. Standalone tasks (RunTask) on a cluster the scenario creates: no deploy script.
 */
let s: Scenario;
const FAMILY = 'arm64-probe';
const LOG_GROUP = '/ecs/arm64-probe';

async function aws(args: string[]): Promise<any> {
  const r = await s.aws(args);
  if (r.code !== 0) throw new Error(`aws ${args.slice(0, 2).join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.json;
}

function taskDefinition(tag: string) {
  const { account, topology } = s.h;
  return {
    family: FAMILY,
    executionRoleArn: `arn:aws:iam::${account}:role/escher-ecs-task-execution-role`,
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'ARM64' },
    containerDefinitions: [
      {
        name: 'app',
        image: `${account}.dkr.ecr.${topology.region}.amazonaws.com/escher-analysis-agent:${tag}`,
        essential: true,
        portMappings: [{ containerPort: 8081, protocol: 'tcp' }],
        logConfiguration: {
          logDriver: 'awslogs',
          options: { 'awslogs-group': LOG_GROUP, 'awslogs-region': topology.region, 'awslogs-stream-prefix': 'ecs', 'awslogs-create-group': 'true' },
        },
      },
    ],
  };
}

async function runTask(tag: string): Promise<string> {
  const td = await aws(['ecs', 'register-task-definition', '--cli-input-json', JSON.stringify(taskDefinition(tag))]);
  const subnet = s.h.topology.vpc.subnets[0]!.subnetId;
  const out = await aws([
    'ecs', 'run-task', '--cluster', s.h.topology.cluster, '--launch-type', 'FARGATE',
    '--task-definition', td.taskDefinition.taskDefinitionArn,
    '--network-configuration', `awsvpcConfiguration={subnets=[${subnet}],assignPublicIp=DISABLED}`,
  ]);
  return out.tasks[0].taskArn as string;
}

const task = (arn: string) => s.h.stores.ecs.findTask(s.h.topology.cluster, arn)!.task;

describe('scenario arm64: runtimePlatform ARM64 as Fargate runs it', () => {
  beforeAll(async () => {
    s = await Scenario.start('arm64');
    await aws(['ecs', 'create-cluster', '--cluster-name', s.h.topology.cluster]);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('an ARM64 task runs the image as linux/arm64', async () => {
    const arn = await runTask('v2.15.0');
    await s.until('the arm64 task is RUNNING', () => ['RUNNING', 'STOPPED'].includes(task(arn).lastStatus ?? ''), 90_000);
    const t = task(arn);
    expect(t.lastStatus, t.stoppedReason).toBe('RUNNING');
    const ip = t.containers![0]!.networkInterfaces![0]!.privateIpv4Address!;
    let version: any;
    for (let i = 0; i < 100 && !version; i++) {
      version = (await s.httpGet(`http://${ip}:8081/version`, 2000).catch(() => undefined))?.body;
      if (!version) await new Promise((r) => setTimeout(r, 200));
    }
    if (s.h.runtime.name !== 'docker' && process.arch !== 'arm64') {
      s.notVerified('the task ran as linux/arm64', `the ${s.h.runtime.name} runtime runs the stub with this host's Node (${process.arch}); docker mode runs the arm64 image`);
      return;
    }
    await s.check('the task ran as linux/arm64 (/version reports process.arch)', () => {
      expect(version).toMatchObject({ arch: 'arm64', version: 'v2.15.0' });
      return { observed: `GET http://${ip}:8081/version → ${JSON.stringify(version)}` };
    });
    await s.check('its CloudWatch Logs stream shows the arm64 start-up line', async () => {
      const stream = `ecs/app/${arn.split('/').pop()}`;
      const ev = await aws(['logs', 'get-log-events', '--log-group-name', LOG_GROUP, '--log-stream-name', stream, '--start-from-head']);
      const first = (ev.events as { message: string }[]).map((e) => e.message).find((m) => m.includes('starting'));
      expect(first).toMatch(/linux\/arm64/);
      return { observed: `${LOG_GROUP} ${stream}: ${first}` };
    });
    await aws(['ecs', 'stop-task', '--cluster', s.h.topology.cluster, '--task', arn]);
  });

  it('an image without a linux/arm64 manifest stops the task with CannotPullContainerError', async () => {
    const arn = await runTask('fault-amd64');
    await s.until('the amd64-only task is STOPPED', () => task(arn).lastStatus === 'STOPPED', 60_000);
    await s.check('fault-amd64 on ARM64: STOPPED, TaskFailedToStart, CannotPullContainerError', async () => {
      const d = await aws(['ecs', 'describe-tasks', '--cluster', s.h.topology.cluster, '--tasks', arn]);
      const t = d.tasks[0];
      expect(t.stopCode).toBe('TaskFailedToStart');
      expect(t.stoppedReason).toMatch(/^CannotPullContainerError: .*linux\/arm64/);
      return { observed: `${t.lastStatus} ${t.stopCode}: ${t.stoppedReason}` };
    });
  });
});
