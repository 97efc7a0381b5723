import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { displayPath, draftManifest, HARNESS_ROOT, parseImage, SCHEMA_FILE, type Draft } from './init.ts';
import { runInit } from './init-cli.ts';
import { loadManifest, parseManifest } from './load.ts';
import type { Manifest } from './schema.ts';

const FIXTURES = path.join(HARNESS_ROOT, 'fixtures');
const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-init-'));
  tmpDirs.push(d);
  return d;
}

/** A copy of a fixture without its harness.yaml. */
function copyFixture(name: string): string {
  const src = path.join(FIXTURES, name);
  const dst = path.join(tmpDir(), name);
  fs.cpSync(src, dst, { recursive: true, filter: (s) => !(path.dirname(s) === src && /^harness\.ya?ml$/.test(path.basename(s))) });
  return dst;
}

function capture(): { io: { out: (s: string) => void; err: (s: string) => void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (s) => void (out += s), err: (s) => void (err += s) }, out: () => out, err: () => err };
}

/** The task definition families of a repo, read independently of init (every JSON/YAML file holding containerDefinitions). */
function familiesOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== '.git' && e.name !== 'node_modules') walk(p);
      } else if (/\.(json|ya?ml)$/.test(e.name)) {
        const text = fs.readFileSync(p, 'utf8');
        if (!text.includes('containerDefinitions')) continue;
        for (const m of text.matchAll(/["']?family["']?\s*:\s*["']?([^"',\s}]+)/g)) out.push(m[1]!);
      }
    }
  };
  walk(dir);
  return [...new Set(out)].sort();
}

/** The secrets the task definitions name in secrets[].valueFrom (Secrets Manager ARNs). */
function taskDefinitionSecrets(dir: string): string[] {
  const out = new Set<string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(json|ya?ml)$/.test(e.name)) for (const m of fs.readFileSync(p, 'utf8').matchAll(/"?valueFrom"?\s*:\s*"?arn:[^:"]*:secretsmanager:[^:"]*:[^:"]*:secret:([^:"\s]+)/g)) out.add(m[1]!);
    }
  };
  walk(dir);
  return [...out].sort();
}

/** Every text file of a repo but its harness.yaml, concatenated (to ask whether the repo names something). */
function repoText(dir: string): string {
  let out = '';
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!(d === dir && /^harness\.ya?ml$/.test(e.name))) out += fs.readFileSync(p, 'utf8') + '\n';
    }
  };
  walk(dir);
  return out;
}

/**
 * What a draft must share with the fixture's own, hand-written harness.yaml: region, VPC id,
 * subnet ids (CIDRs and zones where the repo states them), load balancers, pools and clients,
 * repositories, every secret the repo names, and the hosts (SurrealDB's name and port).
 */
function expectMatchesHandWritten(m: Manifest, hand: Manifest, fixture: string, dir: string, draft: Draft): void {
  const placeholders = draft.todo.map((t) => t.text).join('\n');
  expect(m.region, `${fixture}: region`).toBe(hand.region);
  expect(m.vpc.id, `${fixture}: vpc.id`).toBe(hand.vpc.id);
  if (!/^vpc\.cidr/m.test(placeholders)) expect(m.vpc.cidr, `${fixture}: vpc.cidr`).toBe(hand.vpc.cidr);
  const subnetPlaceholders = /^vpc\.subnets/m.test(placeholders);
  for (const s of hand.vpc.subnets) expect(m.vpc.subnets, `${fixture}: subnet ${s.id}`).toContainEqual(expect.objectContaining(subnetPlaceholders ? { id: s.id } : { id: s.id, cidr: s.cidr, az: s.az }));
  expect(m.loadBalancers.map((x) => x.name).sort(), `${fixture}: load balancers`).toEqual(hand.loadBalancers.map((x) => x.name).sort());
  for (const p of hand.cognito) {
    const mine = m.cognito.find((x) => x.userPool === p.userPool);
    expect(mine, `${fixture}: user pool ${p.userPool}`).toBeDefined();
    for (const c of p.clients) expect(mine!.clients.map((x) => x.name), `${fixture}: client of ${p.userPool}`).toContain(c.name);
  }
  expect(Object.keys(m.images.repositories).sort(), `${fixture}: repositories`).toEqual(Object.keys(hand.images.repositories).sort());
  const text = repoText(dir);
  for (const name of Object.keys(hand.secrets)) if (text.includes(name)) expect(Object.keys(m.secrets), `${fixture}: secret ${name}`).toContain(name);
  for (const [k, h] of Object.entries(hand.hosts)) {
    const mine = Object.values(m.hosts).find((x) => x.kind === h.kind);
    expect(mine, `${fixture}: host ${k} (${h.kind})`).toBeDefined();
    if (h.kind === 'surrealdb' && mine?.kind === 'surrealdb') {
      expect(mine.dns, `${fixture}: SurrealDB's name`).toBe(h.dns);
      expect(mine.port, `${fixture}: SurrealDB's port`).toBe(h.port);
    }
  }
}

describe('harness init on fixtures/v2-deployment-ecs', () => {
  const dir = copyFixture('v2-deployment-ecs');
  const draft = draftManifest(dir);
  const m = parseManifest(draft.text, 'harness.yaml');

  it('drafts a manifest that validates', () => {
    expect(draft.invalid).toBeUndefined();
    expect(draft.empty).toBe(false);
  });

  it('names every task definition family, with its file', () => {
    const families = familiesOf(dir);
    expect(families).toEqual(['analysis-agent', 'asset-store', 'context-engine', 'gateway', 'playbook-agent']);
    const line = draft.text.split('\n').find((l) => l.includes('# task definition families:'))!;
    for (const f of families) expect(line).toContain(`${f} (services/${f}-service.yaml)`);
  });

  it('finds the region, VPC and subnets in the config', () => {
    expect(m.region).toBe('us-west-1');
    expect(m.vpc).toEqual({
      id: 'vpc-0e5f1a2b3c4d50001',
      cidr: '10.0.0.0/16',
      subnets: [
        { id: 'subnet-0a1b2c3d4e5f60001', cidr: '10.0.1.0/24', az: 'us-west-1a' },
        { id: 'subnet-0a1b2c3d4e5f60002', cidr: '10.0.2.0/24', az: 'us-west-1c' },
      ],
    });
    expect(draft.found.find((f) => f.text.startsWith('region us-west-1'))?.where).toEqual(['configs/escher-v2.env:25']);
  });

  it('finds the ALB, the user pool and its client the scripts look up by name', () => {
    expect(m.loadBalancers.map((l) => l.name)).toEqual(['escher-alb']);
    expect(m.loadBalancers[0]!.listeners).toEqual([{ port: 443, protocol: 'HTTPS' }]);
    expect(m.cognito.map((p) => p.userPool)).toEqual(['escher-users']);
    expect(m.cognito[0]!.clients.map((c) => c.name)).toEqual(['escher-alb']);
    expect(m.cognito[0]!.domain).toMatch(/^[a-z0-9-]+$/);
    const alb = draft.found.find((f) => f.text.startsWith('load balancer escher-alb'))!;
    expect(alb.where).toEqual(['deploy-all.sh:48', 'configs/escher-v2.env:49']);
  });

  it('seeds every secret the task definitions reference, a mapping for JSON-key references', () => {
    const refs = taskDefinitionSecrets(dir);
    expect(refs).toEqual(['escher/anthropic-api-key', 'escher/cognito-jwks-url', 'escher/surrealdb-root']);
    expect(Object.keys(m.secrets).sort()).toEqual(refs);
    expect(m.secrets['escher/surrealdb-root']).toEqual({ username: expect.any(String), password: expect.any(String) });
    expect(m.secrets['escher/cognito-jwks-url']).toBe('{cognito.escher-users.jwksUrl}');
  });

  it('finds the roles, the five repositories and a release tag', () => {
    expect(m.iam.roles).toEqual(expect.arrayContaining(['escher-ecs-task-execution-role', 'escher-gateway-task-role']));
    expect(Object.keys(m.images.repositories).sort()).toEqual(['escher-analysis-agent', 'escher-asset-store', 'escher-context-engine', 'escher-gateway', 'escher-playbook-agent']);
    expect(m.images.platforms).toEqual(['linux/arm64']);
    expect(Object.keys(m.images.tags)).toContain('v2.15.0');
    expect(draft.todo.some((t) => t.text.startsWith('images.tags') && t.effect === 'valid placeholder: confirm')).toBe(true);
  });

  it('finds SurrealDB (not a Cloud Map name of a service) and the Anthropic API as hosts', () => {
    expect(m.hosts.surrealdb).toEqual({ kind: 'surrealdb', dns: 'surrealdb.escher.internal', port: 4000, securityGroups: ['escher-surrealdb-sg'], rootSecret: 'escher/surrealdb-root' });
    expect(Object.values(m.hosts).map((h) => h.kind).sort()).toEqual(['anthropic', 'surrealdb']);
  });

  it('reads the deploy commands from the scripts\' usage lines', () => {
    expect(m.commands.deployAll).toBe('./deploy-all.sh {version}');
    expect(m.commands.deployService).toBe('./deploy.sh {service} {version}');
  });

  it('agrees with the fixture\'s own harness.yaml where that one says', () => {
    const hand = loadManifest(path.join(FIXTURES, 'v2-deployment-ecs'));
    expectMatchesHandWritten(m, hand, 'v2-deployment-ecs', dir, draft);
  });

  it('points at the schema: relative inside the checkout, absolute outside', () => {
    expect(draft.text.split('\n')[0]).toBe(`# yaml-language-server: $schema=${SCHEMA_FILE}`);
    const inside = draftManifest(path.join(FIXTURES, 'v2-deployment-ecs'), path.join(FIXTURES, 'v2-deployment-ecs', 'harness.yaml'));
    expect(inside.text.split('\n')[0]).toBe('# yaml-language-server: $schema=../../harness.schema.json');
  });

  it('npx harness init writes it, and loadManifest of the dir then succeeds', async () => {
    const d = copyFixture('v2-deployment-ecs');
    const c = capture();
    expect(await runInit(['--deploy-dir', d], c.io)).toBe(0);
    const loaded = loadManifest(d);
    expect(loaded.region).toBe('us-west-1');
    expect(loaded.file).toBe(path.join(d, 'harness.yaml'));
    const out = c.out();
    expect(out).toMatch(/^found \(\d+\):$/m);
    expect(out).toMatch(/^guessed \(review these\) \(\d+\):$/m);
    expect(out).toMatch(/^left to fill in \(\d+ TODO\):$/m);
    expect(out).toContain('region us-west-1 (REGION)  [configs/escher-v2.env:25]');
    expect(out).toContain('the draft validates');
    expect(out.trim().split('\n').at(-1)).toBe(`review ${displayPath(path.join(d, 'harness.yaml'))}, then run: npx harness scenario deploy-all --deploy-dir ${displayPath(d)}`);
  });
});

describe('harness init on fixtures/ops-ecs-platform', () => {
  const src = path.join(FIXTURES, 'ops-ecs-platform');
  const ready = fs.existsSync(src) && fs.readdirSync(src).some((f) => !/^harness\.ya?ml$/.test(f));
  if (!ready) {
    it.skip('skipped: fixtures/ops-ecs-platform does not exist yet (the test runs once it does)', () => {});
    console.log('harness init test: fixtures/ops-ecs-platform does not exist yet: its checks are skipped');
    return;
  }
  const dir = copyFixture('ops-ecs-platform');
  const draft = draftManifest(dir);

  it('drafts a manifest that validates', () => {
    expect(draft.invalid).toBeUndefined();
  });

  it('names every task definition family', () => {
    const families = familiesOf(dir);
    expect(families.length).toBeGreaterThan(0);
    const line = draft.text.split('\n').find((l) => l.includes('# task definition families:'))!;
    for (const f of families) expect(line).toMatch(new RegExp(`(^|[ ,:])${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`));
  });

  it('seeds every secret the task definitions reference', () => {
    const m = parseManifest(draft.text, 'harness.yaml');
    for (const s of taskDefinitionSecrets(dir)) expect(Object.keys(m.secrets), s).toContain(s);
  });

  it.runIf(fs.existsSync(path.join(src, 'harness.yaml')))('agrees with the fixture\'s own harness.yaml (region, VPC, subnets, ALB, pool, client, repositories, hosts)', () => {
    expectMatchesHandWritten(parseManifest(draft.text, 'harness.yaml'), loadManifest(src), 'ops-ecs-platform', dir, draft);
  });
});

describe('harness init on another layout (JSON task definitions with ${…}, env/*.json read with jq)', () => {
  const dir = tmpDir();
  const write = (f: string, text: string, mode = 0o644): void => {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text, { mode });
  };
  const env = (name: string, vpc: string, region: string): string =>
    JSON.stringify(
      {
        region,
        accountId: '210987654321',
        cluster: `ops-${name}`,
        namespace: 'ops.local',
        vpc: { id: vpc, cidr: '10.20.0.0/16', subnets: [{ id: 'subnet-0aa11', cidr: '10.20.1.0/24', az: `${region}a` }, { id: 'subnet-0bb22', cidr: '10.20.2.0/24', az: `${region}b` }] },
        alb: { name: `ops-${name}-alb` },
        cognito: { userPool: `ops-${name}-users`, albClient: 'ops-alb-client', domain: `ops-${name}-login` },
      },
      null,
      2,
    );
  write('env/prod.json', env('prod', 'vpc-0abc0001', 'eu-west-1'));
  write('env/staging.json', env('staging', 'vpc-0abc0002', 'eu-central-1'));
  write('network/security-groups.json', JSON.stringify({ groups: [{ name: 'ops-alb-sg', ingress: [{ port: 443, cidr: '0.0.0.0/0' }] }, { name: 'ops-api-sg' }, { name: 'ops-db-sg' }] }, null, 2));
  const td = (family: string, port: number, extra: string): string => `{
  "family": "${family}",
  "executionRoleArn": "arn:aws:iam::\${ACCOUNT_ID}:role/ops-ecs-execution",
  "taskRoleArn": "arn:aws:iam::\${ACCOUNT_ID}:role/ops-${family}-task",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": \${CPU},
  "containerDefinitions": [{
    "name": "${family}",
    "image": "\${ACCOUNT_ID}.dkr.ecr.\${AWS_REGION}.amazonaws.com/ops/${family}:\${IMAGE_TAG}",
    "portMappings": [{ "containerPort": ${port} }],
    ${extra}
    "logConfiguration": { "logDriver": "awslogs", "options": { "awslogs-region": "\${AWS_REGION}" } }
  }]
}
`;
  write('ecs/taskdefs/api.json', td('api', 8080, `"environment": [{ "name": "WORKER_URL", "value": "http://worker.ops.local:9000" }, { "name": "DB_URL", "value": "ws://surrealdb.ops.local:8000/rpc" }],
    "secrets": [{ "name": "DB_USER", "valueFrom": "arn:aws:secretsmanager:\${AWS_REGION}:\${ACCOUNT_ID}:secret:ops/db:user::" }, { "name": "ANTHROPIC_API_KEY", "valueFrom": "arn:aws:secretsmanager:\${AWS_REGION}:\${ACCOUNT_ID}:secret:ops/llm-key" }],`));
  write('ecs/taskdefs/worker.json', td('worker', 9000, `"environment": [{ "name": "REDIS_URL", "value": "redis://cache.ops.local:6379" }],`));
  write(
    'bin/deploy',
    `#!/usr/bin/env bash
# Usage: bin/deploy <env> <service> <version>
set -euo pipefail
ENV="\${1:-prod}"
CONFIG="$(dirname "$0")/../env/$ENV.json"
cfg() { jq -r ".$1" "$CONFIG"; }
AWS_REGION="$(cfg region)"
ALB="$(jq -r .alb.name "$CONFIG")"
POOL_NAME=$(cfg cognito.userPool)
lb=$(aws elbv2 describe-load-balancers --names "$ALB" --query 'LoadBalancers[0].LoadBalancerArn' --output text)
pool=$(aws cognito-idp list-user-pools --max-results 60 --query "UserPools[?Name=='$POOL_NAME'].Id | [0]" --output text)
client=$(aws cognito-idp list-user-pool-clients --user-pool-id "$pool" --query "UserPoolClients[?ClientName=='$(cfg cognito.albClient)'].ClientId" --output text)
aws iam get-role --role-name ops-deployer >/dev/null
aws secretsmanager get-secret-value --secret-id "ops/\${ENV}/deploy-token" >/dev/null
`,
    0o755,
  );
  write('VERSION', '3.2.1\n');
  const draft = draftManifest(dir);
  const m = parseManifest(draft.text, 'harness.yaml');

  it('validates, with the prod config chosen over staging', () => {
    expect(draft.invalid).toBeUndefined();
    expect(m.region).toBe('eu-west-1');
    expect(m.account).toBe('210987654321');
    expect(m.vpc.id).toBe('vpc-0abc0001');
    expect(m.vpc.subnets).toEqual([
      { id: 'subnet-0aa11', cidr: '10.20.1.0/24', az: 'eu-west-1a' },
      { id: 'subnet-0bb22', cidr: '10.20.2.0/24', az: 'eu-west-1b' },
    ]);
    expect(draft.guessed.some((g) => g.text.includes('env/staging.json'))).toBe(true);
  });

  it('follows jq reads of the config into the aws calls', () => {
    expect(m.loadBalancers.map((l) => l.name)).toEqual(['ops-prod-alb']);
    expect(m.loadBalancers[0]!.securityGroups).toEqual(['ops-alb-sg']);
    expect(m.cognito).toEqual([expect.objectContaining({ userPool: 'ops-prod-users', domain: 'ops-prod-login', clients: [expect.objectContaining({ name: 'ops-alb-client' })] })]);
    expect(draft.found.find((f) => f.text.startsWith('load balancer ops-prod-alb'))!.where).toEqual(['bin/deploy:10', 'bin/deploy:8', 'env/prod.json:23']);
  });

  it('finds roles, secrets, repositories, tags, hosts and the command', () => {
    expect(m.iam.roles.sort()).toEqual(['ops-api-task', 'ops-deployer', 'ops-ecs-execution', 'ops-worker-task']);
    expect(Object.keys(m.secrets).sort()).toEqual(['ops/db', 'ops/llm-key', 'ops/prod/deploy-token']);
    expect(m.secrets['ops/db']).toEqual({ user: 'root' });
    expect(Object.keys(m.images.repositories).sort()).toEqual(['ops/api', 'ops/worker']);
    expect(Object.keys(m.images.tags)).toEqual(['3.2.1']);
    expect(m.hosts).toEqual({
      surrealdb: { kind: 'surrealdb', dns: 'surrealdb.ops.local', port: 8000, securityGroups: ['ops-db-sg'], rootSecret: undefined },
      anthropic: { kind: 'anthropic', apiKeySecret: 'ops/llm-key' },
    });
    expect(draft.todo.some((t) => t.text.includes('cache.ops.local') && t.effect === 'not in the draft')).toBe(true);
    expect(m.commands.deployService).toBe('./bin/deploy prod {service} {version}');
    const families = draft.text.split('\n').find((l) => l.includes('# task definition families:'))!;
    expect(families).toContain('api (ecs/taskdefs/api.json), worker (ecs/taskdefs/worker.json)');
  });
});

describe('harness init on a third layout (YAML task definitions with {{…}} and <…>, a .env, literal flags)', () => {
  const dir = tmpDir();
  const write = (f: string, text: string, mode = 0o644): void => {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text, { mode });
  };
  write('.env', 'AWS_REGION=ap-southeast-2\nCLUSTER=shop\n');
  write(
    'deploy/td/web.yaml',
    `family: shop-web
executionRoleArn: arn:aws:iam::<ACCOUNT_ID>:role/shop-exec
runtimePlatform:
  cpuArchitecture: X86_64
containerDefinitions:
  - name: web
    image: <ACCOUNT_ID>.dkr.ecr.{{ region }}.amazonaws.com/shop-web:{{ tag }}
    environment:
      - name: API_URL
        value: http://api.shop.local:8080
      - name: PAYMENTS_URL
        value: https://payments.example-pay.test/v1
    secrets:
      - name: SESSION_KEY
        valueFrom: arn:aws:secretsmanager:{{ region }}:<ACCOUNT_ID>:secret:shop/session
      - name: DB_PASSWORD
        valueFrom: /shop/db/password
  - name: log-router
    image: public.ecr.aws/aws-observability/aws-for-fluent-bit:stable
`,
  );
  write('deploy/td/api.yaml', 'containerDefinitions:\n  - name: api\n    image: {{ account }}.dkr.ecr.{{ region }}.amazonaws.com/shop-api:{{ tag }}\n    environment:\n      - name: SURREAL_URL\n        value: ws://db.shop.local:8000\n');
  write(
    'deploy/release.sh',
    `#!/bin/bash
# usage: deploy/release.sh VERSION
set -eu
source .env
aws elbv2 create-load-balancer --name shop-internal-alb --subnets subnet-0c0c0c01 subnet-0c0c0c02
aws elbv2 describe-load-balancers --names "\${PUBLIC_ALB:-shop-public}" --region "$AWS_REGION"
aws ec2 create-security-group --group-name shop-web-sg --vpc-id vpc-0feed01
aws secretsmanager get-secret-value --secret-id shop/deploy-key
aws iam get-role --role-name shop-ci
`,
    0o755,
  );
  write('.github/workflows/deploy.yml', 'jobs:\n  deploy:\n    env:\n      IMAGE_TAG: "1.8.0"\n');
  const draft = draftManifest(dir);
  const m = parseManifest(draft.text, 'harness.yaml');

  it('validates and finds what is there', () => {
    expect(draft.invalid).toBeUndefined();
    expect(m.region).toBe('ap-southeast-2');
    expect(m.vpc.id).toBe('vpc-0feed01');
    expect(m.vpc.subnets.map((s) => s.id)).toEqual(['subnet-0c0c0c01', 'subnet-0c0c0c02']);
    // the scripts create shop-internal-alb: not a prerequisite
    expect(m.loadBalancers.map((l) => l.name)).toEqual(['shop-public']);
    expect(m.iam.roles).toEqual(['shop-exec', 'shop-ci']);
    expect(Object.keys(m.secrets)).toEqual(['shop/session', 'shop/deploy-key']);
    expect(Object.keys(m.images.repositories).sort()).toEqual(['shop-api', 'shop-web']);
    expect(m.images.platforms).toEqual(['linux/amd64']);
    expect(Object.keys(m.images.tags)).toEqual(['1.8.0']);
    expect(m.hosts.db).toMatchObject({ kind: 'surrealdb', dns: 'db.shop.local', port: 8000 });
    expect(m.commands.deployAll).toBe('./deploy/release.sh {version}');
    expect(draft.text).toContain('# task definition families: api (deploy/td/api.yaml), shop-web (deploy/td/web.yaml)');
  });

  it('says what it cannot seed and which placeholders to confirm', () => {
    const todo = draft.todo.map((t) => `[${t.effect}] ${t.text}`).join('\n');
    expect(todo).toMatch(/\[not in the draft\] secret DB_PASSWORD of shop-web is an SSM parameter/);
    expect(todo).toMatch(/\[not in the draft\] image public\.ecr\.aws\/.* is not from ECR/);
    expect(todo).toMatch(/\[not in the draft\] PAYMENTS_URL of shop-web .* calls payments\.example-pay\.test on the internet/);
    expect(todo).toMatch(/\[valid placeholder: confirm\] vpc\.cidr/);
    expect(todo).toMatch(/\[valid placeholder: confirm\] commands\.deployService/);
    expect(draft.guessed.map((g) => g.text)).toContain('account 000000000000');
  });
});

describe('harness init: refusing, and a repo with nothing recognisable', () => {
  it('never overwrites an existing manifest without --force', async () => {
    const d = tmpDir();
    fs.writeFileSync(path.join(d, 'harness.yaml'), 'region: us-east-1\n');
    const c = capture();
    expect(await runInit(['--deploy-dir', d], c.io)).toBe(1);
    expect(c.err().trim().split('\n')).toHaveLength(1);
    expect(c.err()).toMatch(/harness\.yaml already exists; pass --force to overwrite it/);
    expect(fs.readFileSync(path.join(d, 'harness.yaml'), 'utf8')).toBe('region: us-east-1\n');
    // --manifest names the file to write; it too is kept
    const other = path.join(d, 'ci', 'harness.yaml');
    fs.mkdirSync(path.dirname(other));
    fs.writeFileSync(other, 'x: 1\n');
    expect(await runInit(['--deploy-dir', d, '--manifest', other], capture().io)).toBe(1);
    expect(await runInit(['--deploy-dir', d, '--force'], capture().io)).toBe(0);
    expect(fs.readFileSync(path.join(d, 'harness.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=/);
  });

  it('drafts TODOs for a repo with nothing recognisable, and says so', async () => {
    const d = tmpDir();
    fs.writeFileSync(path.join(d, 'README.md'), '# a repo\n');
    fs.writeFileSync(path.join(d, 'build.sh'), '#!/bin/sh\necho hello\n');
    const draft = draftManifest(d);
    expect(draft.empty).toBe(true);
    expect(draft.invalid).toMatch(/region: expected an AWS region such as us-west-2, got "TODO-region"/);
    expect(draft.todo.map((t) => t.effect)).toContain('fails validation');
    expect(YAML.parse(draft.text).vpc.id).toBe('TODO-vpc-id');
    const c = capture();
    expect(await runInit(['--deploy-dir', d], c.io)).toBe(0);
    expect(c.out()).toContain('found nothing recognisable');
    expect(c.out()).toContain('[fails validation] region');
    expect(c.out()).toContain('the draft does not validate yet: harness.yaml: region: expected an AWS region');
    expect(() => loadManifest(d)).toThrow(/region/);
  });
});

describe('parseImage', () => {
  it('splits registry, repository and tag, placeholders allowed', () => {
    expect(parseImage('ACCOUNT.dkr.ecr.REGION.amazonaws.com/escher-gateway:TAG')).toEqual({ registry: 'ACCOUNT.dkr.ecr.REGION.amazonaws.com', repository: 'escher-gateway', tag: 'TAG', ecr: true });
    expect(parseImage('${ACCOUNT_ID}.dkr.ecr.${REGION}.amazonaws.com/team/api:${IMAGE_TAG}')).toMatchObject({ repository: 'team/api', tag: '${IMAGE_TAG}', ecr: true });
    expect(parseImage('<ACCOUNT_ID>.dkr.ecr.us-east-1.amazonaws.com/api:{{ .Tag }}')).toMatchObject({ repository: 'api', tag: '{{ .Tag }}', ecr: true });
    expect(parseImage('${ECR_REGISTRY}/worker')).toMatchObject({ repository: 'worker', ecr: true });
    expect(parseImage('public.ecr.aws/aws-observability/aws-for-fluent-bit:stable')).toMatchObject({ repository: 'aws-observability/aws-for-fluent-bit', ecr: false });
    expect(parseImage('nginx:1.27')).toMatchObject({ repository: 'nginx', tag: '1.27', ecr: false });
  });
});
