import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DEPLOY_DIR, loadTopology } from './load.ts';

function copyFixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-topology-'));
  fs.cpSync(DEFAULT_DEPLOY_DIR, dir, { recursive: true });
  return dir;
}

describe('loadTopology', () => {
  it('loads the embedded fixture in dependency order with its dependencies', () => {
    const t = loadTopology();
    expect(t.cluster).toBe('escher-v2');
    expect(t.region).toBe('us-west-1');
    expect(t.services.map((s) => s.name)).toEqual(['asset-store', 'context-engine', 'analysis-agent', 'playbook-agent', 'gateway']);
    const gw = t.services.find((s) => s.name === 'gateway')!;
    expect(gw.containerPort).toBe(8080);
    expect(gw.securityGroup).toBe('escher-gateway-sg');
    expect(gw.dependencies.map((d) => d.host)).toContain('context-engine.escher.internal');
    expect(t.vpc.subnets).toHaveLength(2);
    expect(t.sgRules.some((r) => r.group === 'escher-gateway-sg' && r.direction === 'ingress' && r.peer === 'escher-alb-sg')).toBe(true);
  });

  it('names the file and field of a malformed task definition', () => {
    const dir = copyFixture();
    const f = path.join(dir, 'services', 'gateway-service.yaml');
    const td = JSON.parse(fs.readFileSync(f, 'utf8'));
    delete td.containerDefinitions[0].image;
    fs.writeFileSync(f, JSON.stringify(td));
    expect(() => loadTopology(dir)).toThrow(/gateway-service\.yaml: containerDefinitions\[0\]\.image: is required/);
  });

  it('names the file of unparseable YAML and a bad config rule', () => {
    const dir = copyFixture();
    fs.writeFileSync(path.join(dir, 'services', 'asset-store-service.yaml'), '{ "family": [');
    expect(() => loadTopology(dir)).toThrow(/asset-store-service\.yaml: document: is not valid/);
    const dir2 = copyFixture();
    const cfg = path.join(dir2, 'configs', 'escher-v2.env');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"ingress escher-alb-sg tcp 443 0.0.0.0/0"', '"sideways escher-alb-sg tcp 443 0.0.0.0/0"'));
    expect(() => loadTopology(dir2)).toThrow(/escher-v2\.env: SG_RULES\[0\]: direction must be ingress or egress/);
  });
});
