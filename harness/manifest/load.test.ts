import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest, parseManifest } from './load.ts';
import { manifestError, MINIMAL_MANIFEST } from './testing.ts';
import { schemaText, SCHEMA_FILE } from './write-schema.ts';

/** The manifest the issue gives, as written: the harness must accept it. */
const EXAMPLE = `
region: us-west-1
account: "123456789012"            # optional (default 000000000000)
commands:                           # optional; these are the defaults (the seed's commands)
  deployAll: ./deploy-all.sh {version}
  deployService: ./deploy.sh {service} {version}
  environment: {}                   # extra environment for the scripts
vpc:
  id: vpc-0e5f1a2b3c4d50001
  cidr: 10.0.0.0/16
  subnets:
    - { id: subnet-0a1b2c3d4e5f60001, cidr: 10.0.1.0/24, az: us-west-1a }
    - { id: subnet-0a1b2c3d4e5f60002, cidr: 10.0.2.0/24, az: us-west-1c }
loadBalancers:
  - name: escher-alb
    listeners: [{ port: 443, protocol: HTTPS }]
    securityGroups: [escher-alb-sg]   # by name: the scripts create them; attached once they exist
cognito:
  - userPool: escher-users
    domain: escher-auth
    clients: [{ name: escher-alb, generateSecret: true }]
    users: [{ username: escher-test }]
iam:
  roles: [escher-ecs-task-execution-role, escher-gateway-task-role]   # exist for GetRole; never evaluated
secrets:                            # name: fake value (string, or a mapping stored as JSON)
  escher/anthropic-api-key: sk-ant-harness-fake
  escher/cognito-jwks-url: "{cognito.escher-users.jwksUrl}"
images:
  platforms: [linux/arm64]          # default for every tag below
  tags:                             # every repository gets these tags, with this behaviour
    v2.14.0: healthy
    v2.15.0: healthy
    v2.15.1: healthy
  repositories:                     # repository: overrides of the default tags
    escher-gateway: { v2.15.1: unhealthy }
    escher-analysis-agent: {}
    escher-playbook-agent: {}
    escher-context-engine: {}
    escher-asset-store: {}
hosts:                              # what the services reach that is not an ECS service
  surrealdb:
    kind: surrealdb
    dns: surrealdb.escher.internal
    port: 4000
    securityGroups: [escher-surrealdb-sg]
    rootSecret: escher/surrealdb-root
  anthropic:
    kind: anthropic                 # the Messages API stand-in, outside the VPC
policy:                             # optional: the intended reachability, checked against what the scripts created
  - { from: internet, to: escher-alb-sg, ports: "443" }
  - { from: escher-alb-sg, to: escher-gateway-sg, ports: "8080" }
  - { from: escher-gateway-sg, to: escher-agent-sg, ports: "8081-8082" }
  - { from: escher-asset-sg, to: escher-surrealdb-sg, ports: "4000" }
  - { from: escher-agent-sg, to: internet, ports: "443" }
`;

const MINIMAL = MINIMAL_MANIFEST;

const error = manifestError;

describe('harness.yaml', () => {
  it('accepts the issue\'s example as written, with defaults filled in', () => {
    const m = parseManifest(EXAMPLE, 'harness.yaml');
    expect(m.region).toBe('us-west-1');
    expect(m.images.repositories['escher-gateway']).toEqual({ 'v2.15.1': 'unhealthy' });
    expect(m.loadBalancers[0]).toMatchObject({ name: 'escher-alb', scheme: 'internet-facing', securityGroups: ['escher-alb-sg'] });
    expect(m.hosts.surrealdb).toMatchObject({ kind: 'surrealdb', port: 4000 });
    expect(m.policy[2]).toEqual({ from: 'escher-gateway-sg', to: 'escher-agent-sg', ports: '8081-8082' });
  });

  it('a minimal manifest: account 000000000000, the seed\'s commands, nothing else seeded', () => {
    const m = parseManifest(MINIMAL, 'harness.yaml');
    expect(m.account).toBe('000000000000');
    expect(m.commands).toEqual({ deployAll: './deploy-all.sh {version}', deployService: './deploy.sh {service} {version}', environment: {} });
    expect([m.loadBalancers, m.cognito, m.iam.roles, m.policy]).toEqual([[], [], [], []]);
    expect(m.images).toEqual({ platforms: ['linux/arm64'], tags: {}, repositories: {} });
  });

  it('every error names the file, the key path and what was expected', () => {
    expect(error('vpc: {}')).toBe('repo/harness.yaml: region: is required (expected string)');
    expect(error('region: 5\n')).toBe('repo/harness.yaml: region: expected string, got number 5');
    expect(error(MINIMAL.replace('us-west-2a', 'us-east-1a'))).toBe('repo/harness.yaml: vpc.subnets[0].az: us-east-1a is not in region us-west-2');
    expect(error(MINIMAL.replace('10.1.1.0/24', '10.2.1.0/24'))).toBe('repo/harness.yaml: vpc.subnets[0].cidr: 10.2.1.0/24 is not inside vpc.cidr 10.1.0.0/16');
    expect(error(MINIMAL.replace('10.1.1.0/24', '10.1.1.0'))).toMatch(/^repo\/harness.yaml: vpc.subnets\[0\].cidr: expected a CIDR such as 10.0.0.0\/16, got "10.1.1.0"$/);
    expect(error(`${MINIMAL}images: { tags: { v1: helthy } }\n`)).toBe('repo/harness.yaml: images.tags.v1: expected one of the behaviours or a mapping, got "helthy"');
    expect(error(`${MINIMAL}images: { repositories: { r: { v1: { image: "" } } } }\n`)).toBe('repo/harness.yaml: images.repositories.r.v1.image: Too small: expected string to have >=1 characters, got ""');
    expect(error(`${MINIMAL}images: { repositories: { r: { v1: { image: "a b" } } } }\n`)).toBe('repo/harness.yaml: images.repositories.r.v1.image: expected a local Docker image reference such as my-service:dev, got "a b"');
    expect(error(`${MINIMAL}images: { repositories: { r: { v1: { image: my:dev, behaviour: healthy } } } }\n`)).toBe('repo/harness.yaml: images.repositories.r.v1: unknown key behaviour (see harness.schema.json)');
    expect(error(`${MINIMAL}loadBalancers: [{ name: lb, listners: [] }]\n`)).toBe('repo/harness.yaml: loadBalancers[0]: unknown key listners (see harness.schema.json)');
    expect(error(`${MINIMAL}hosts: { db: { kind: postgres } }\n`)).toMatch(/^repo\/harness.yaml: hosts.db.kind: /);
    expect(error(`${MINIMAL}secrets: { a: "{cognito.nope.jwksUrl}" }\n`)).toBe('repo/harness.yaml: secrets.a: {cognito.nope.jwksUrl} names user pool nope, which cognito does not list');
    expect(error('region: [\n')).toMatch(/^repo\/harness.yaml: line \d+: not valid YAML: /);
    expect(error('- a\n- b\n')).toMatch(/^repo\/harness.yaml: document: expected a mapping/);
  });

  it('is found at the deploy dir\'s root, or says how to write one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eh-manifest-'));
    try {
      expect(() => loadManifest(dir)).toThrow(/harness.yaml: file: missing: write one with `npx harness init --deploy-dir /);
      fs.writeFileSync(path.join(dir, 'harness.yaml'), MINIMAL);
      expect(loadManifest(dir)).toMatchObject({ region: 'us-west-2', deployDir: dir, file: path.join(dir, 'harness.yaml') });
      expect(() => loadManifest(dir, path.join(dir, 'nope.yaml'))).toThrow(/nope.yaml: file: does not exist \(--manifest\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('harness.schema.json is the schema written out (npm run schema)', () => {
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8')).toBe(schemaText());
  });
});
