import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scenario } from '../harness/scenario/scenario.ts';
import { latestGood } from './support.ts';

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
const CLUSTER = 'harness-arm64-probe';
const PORT = 8080;
/** any repository of the manifest, with a healthy release and the fault-amd64 tag */
let repository: string;
let release: string;

async function aws(args: string[]): Promise<any> {
  const r = await s.aws(args);
  if (r.code !== 0) throw new Error(`aws ${args.slice(0, 2).join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.json;
}

function taskDefinition(tag: string) {
  const { account, region } = s.h;
  return {
    family: FAMILY,
    executionRoleArn: `arn:aws:iam::${account}:role/harness-arm64-probe-execution`,
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'ARM64' },
    containerDefinitions: [
      {
        name: 'app',
        image: `${account}.dkr.ecr.${region}.amazonaws.com/${repository}:${tag}`,
        essential: true,
        portMappings: [{ containerPort: PORT, protocol: 'tcp' }],
        logConfiguration: {
          logDriver: 'awslogs',
          options: { 'awslogs-group': LOG_GROUP, 'awslogs-region': region, 'awslogs-stream-prefix': 'ecs', 'awslogs-create-group': 'true' },
        },
      },
    ],
  };
}

async function runTask(tag: string): Promise<string> {
  const td = await aws(['ecs', 'register-task-definition', '--cli-input-json', JSON.stringify(taskDefinition(tag))]);
  const subnet = s.h.manifest.vpc.subnets[0]!.id;
  const out = await aws([
    'ecs', 'run-task', '--cluster', CLUSTER, '--launch-type', 'FARGATE',
    '--task-definition', td.taskDefinition.taskDefinitionArn,
    '--network-configuration', `awsvpcConfiguration={subnets=[${subnet}],assignPublicIp=DISABLED}`,
  ]);
  return out.tasks[0].taskArn as string;
}

const task = (arn: string) => s.h.stores.ecs.findTask(CLUSTER, arn)!.task;

describe('scenario arm64: runtimePlatform ARM64 as Fargate runs it', () => {
  beforeAll(async () => {
    s = await Scenario.start('arm64');
    repository = Object.keys(s.h.manifest.images.repositories)[0]!;
    release = latestGood(s);
    await aws(['ecs', 'create-cluster', '--cluster-name', CLUSTER]);
  });
  afterAll(async () => {
    await s?.finish();
  });

  it('an ARM64 task runs the image as linux/arm64', async () => {
    const arn = await runTask(release);
    await s.until('the arm64 task is RUNNING', () => ['RUNNING', 'STOPPED'].includes(task(arn).lastStatus ?? ''), 90_000);
    const t = task(arn);
    expect(t.lastStatus, t.stoppedReason).toBe('RUNNING');
    const ip = t.containers![0]!.networkInterfaces![0]!.privateIpv4Address!;
    let version: any;
    for (let i = 0; i < 100 && !version; i++) {
      version = (await s.httpGet(`http://${ip}:${PORT}/version`, 2000).catch(() => undefined))?.body;
      if (!version) await new Promise((r) => setTimeout(r, 200));
    }
    if (s.h.runtime.name !== 'docker' && process.arch !== 'arm64') {
      s.notVerified('the task ran as linux/arm64', `the ${s.h.runtime.name} runtime runs the stub with this host's Node (${process.arch}); docker mode runs the arm64 image`);
      return;
    }
    await s.check('the task ran as linux/arm64 (/version reports process.arch)', () => {
      expect(version).toMatchObject({ arch: 'arm64', version: release });
      return { observed: `GET http://${ip}:${PORT}/version → ${JSON.stringify(version)}` };
    });
    await s.check('its CloudWatch Logs stream shows the arm64 start-up line', async () => {
      const stream = `ecs/app/${arn.split('/').pop()}`;
      const ev = await aws(['logs', 'get-log-events', '--log-group-name', LOG_GROUP, '--log-stream-name', stream, '--start-from-head']);
      const first = (ev.events as { message: string }[]).map((e) => e.message).find((m) => m.includes('starting'));
      expect(first).toMatch(/linux\/arm64/);
      return { observed: `${LOG_GROUP} ${stream}: ${first}` };
    });
    await aws(['ecs', 'stop-task', '--cluster', CLUSTER, '--task', arn]);
  });

  it('an image without a linux/arm64 manifest stops the task with CannotPullContainerError', async () => {
    const arn = await runTask('fault-amd64');
    await s.until('the amd64-only task is STOPPED', () => task(arn).lastStatus === 'STOPPED', 60_000);
    await s.check('fault-amd64 on ARM64: STOPPED, TaskFailedToStart, CannotPullContainerError', async () => {
      const d = await aws(['ecs', 'describe-tasks', '--cluster', CLUSTER, '--tasks', arn]);
      const t = d.tasks[0];
      expect(t.stopCode).toBe('TaskFailedToStart');
      expect(t.stoppedReason).toMatch(/^CannotPullContainerError: .*linux\/arm64/);
      return { observed: `${t.lastStatus} ${t.stopCode}: ${t.stoppedReason}` };
    });
  });
});
