import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fargateMemories, lintRepo, type Finding } from './lint.ts';
import { runLint } from './lint-cli.ts';
import { loadManifest } from './load.ts';
import { HARNESS_ROOT } from './init.ts';

const V2 = path.join(HARNESS_ROOT, 'fixtures/v2-deployment-ecs');
const OPS = path.join(HARNESS_ROOT, 'fixtures/ops-ecs-platform');
const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A copy of a fixture with one file edited (the planted defect). */
function planted(src: string, file: string, from: string | RegExp, to: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-lint-'));
  tmpDirs.push(d);
  fs.cpSync(src, d, { recursive: true });
  const f = path.join(d, file);
  const text = fs.readFileSync(f, 'utf8');
  const edited = text.replace(from, to);
  expect(edited).not.toBe(text);
  fs.writeFileSync(f, edited);
  return d;
}
const lint = (dir: string) => lintRepo(dir, loadManifest(dir));
const fails = (fs_: Finding[]) => fs_.filter((x) => x.result === 'FAIL');

describe('harness lint', () => {
  it('the Fargate table', () => {
    expect(fargateMemories(256)).toEqual([512, 1024, 2048]);
    expect(fargateMemories(8192)).toEqual([16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60].map((g) => g * 1024));
    expect(fargateMemories(16384)[1]).toBe(40 * 1024);
    expect(fargateMemories(300)).toEqual([]);
    // the table is the one AWS documents for TaskDefinition.memory (ECS API reference)
    expect(fargateMemories(4096).at(-1)).toBe(30 * 1024);
  });

  it('is clean on both fixtures', async () => {
    for (const dir of [V2, OPS]) expect(fails(lint(dir))).toEqual([]);
    const out: string[] = [];
    expect(await runLint(['--deploy-dir', OPS], { out: (s) => out.push(s), err: (s) => out.push(s) })).toBe(0);
    expect(out.join('')).toMatch(/CHECK\s+SUBJECT\s+RESULT\s+DETAIL/);
    // the documented gap: context-engine's SURREAL_URL is dropped by the SGs and absent from the policy too
    expect(lint(V2).find((x) => x.check === 'sg-path' && x.subject === 'context-engine SURREAL_URL')?.result).toBe('WARN');
  });

  it('a secret missing from the manifest', async () => {
    const d = planted(V2, 'services/gateway-service.yaml', 'secret:escher/cognito-jwks-url', 'secret:escher/cognito-jwks-uri');
    expect(fails(lint(d))).toEqual([{ check: 'secret', subject: 'gateway/gateway COGNITO_JWKS_URL', result: 'FAIL', detail: "secret escher/cognito-jwks-uri is not in the manifest's secrets (services/gateway-service.yaml:52)" }]);
    expect(await runLint(['--deploy-dir', d], { out: () => {}, err: () => {} })).toBe(1);
  });

  it('a target group port that is not the container port', () => {
    const d = planted(OPS, 'env/prod.json', '"containerPort": 7000', '"containerPort": 7001');
    expect(fails(lint(d))).toEqual([{ check: 'tg-port', subject: 'playbook-store', result: 'FAIL', detail: 'target group port 7001 (env/prod.json:57) ≠ the container port 7000 (ecs/taskdefs/playbook-store.json:15)' }]);
  });

  it('an invalid cpu/memory pair', () => {
    const d = planted(V2, 'services/gateway-service.yaml', '"memory": "4096"', '"memory": "3072"');
    expect(fails(lint(d))).toEqual([{ check: 'fargate-size', subject: 'gateway', result: 'FAIL', detail: 'cpu 2048 / memory 3072 is not a Fargate task size (services/gateway-service.yaml:9)' }]);
  });

  it('an ARM64 task with an amd64-only image', () => {
    const d = planted(V2, 'harness.yaml', 'escher-gateway: { v2.15.1: unhealthy }', 'escher-gateway: { v2.15.1: amd64-only }');
    expect(fails(lint(d))).toEqual([{ check: 'arm64-image', subject: 'gateway/gateway', result: 'FAIL', detail: 'ARM64 task (services/gateway-service.yaml:13) but escher-gateway:v2.15.1 has no linux/arm64 (linux/amd64) (services/gateway-service.yaml:18)' }]);
  });

  it('a log region that is not the manifest\'s', () => {
    const d = planted(OPS, 'ecs/taskdefs/ui-agent.json', '"awslogs-region": "${REGION}"', '"awslogs-region": "eu-west-1"');
    expect(fails(lint(d))).toEqual([{ check: 'log-region', subject: 'prod-ui-agent/ui-agent', result: 'FAIL', detail: "awslogs-region eu-west-1 ≠ the manifest's region us-west-2 (ecs/taskdefs/ui-agent.json:54)" }]);
  });

  it('a dependency its security groups do not allow', () => {
    const d = planted(OPS, 'network/security-groups.json', /\s*\{ "protocol": "tcp", "port": 7100, "group": "prod-agents-sg", "description": "to ui-agent" \},/, '');
    expect(fails(lint(d))).toEqual([
      {
        check: 'sg-path',
        subject: 'prod-gateway UI_AGENT_URL',
        result: 'FAIL',
        detail: 'prod-gateway-sg → ui-agent.${NAMESPACE}:7100: no egress rule of prod-gateway-sg admits a member of prod-agents-sg:7100/tcp (ecs/taskdefs/gateway.json:38; rules network/security-groups.json)',
      },
    ]);
    // and the ingress rule that no dependency needs any more
    expect(lint(d).filter((x) => x.check === 'sg-unused').map((x) => x.subject)).toEqual(['ingress prod-agents-sg 7100 prod-gateway-sg']);
  });
});
