import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, parseEnvFile } from './env-file.ts';
import type { ServiceModel, SgRule, Topology } from './model.ts';

export { ConfigError };

export const DEFAULT_DEPLOY_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../fixtures/v2-deployment-ecs');

/**
 * Loads and validates a deployment repo (configs/<env>.env + services/*-service.yaml) into
 * one Topology. Every problem names the file and the field.
 */
export function loadTopology(deployDir: string = DEFAULT_DEPLOY_DIR, env = 'escher-v2'): Topology {
  const dir = path.resolve(deployDir);
  if (!fs.existsSync(dir)) throw new ConfigError(dir, 'deploy dir', 'does not exist');
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  const configFile = path.join(dir, 'configs', `${env}.env`);
  if (!fs.existsSync(configFile)) throw new ConfigError(rel(configFile), 'file', `missing (expected configs/${env}.env in the deploy dir)`);
  const cfg = parseEnvFile(fs.readFileSync(configFile, 'utf8'), rel(configFile));
  const need = (k: string) => {
    const v = cfg.values[k];
    if (v === undefined || v === '') throw new ConfigError(rel(configFile), k, 'is required');
    return v;
  };
  const list = (k: string) => need(k).split(',').map((s) => s.trim()).filter(Boolean);
  const subnetIds = list('PRIVATE_SUBNETS');
  const cidrs = list('PRIVATE_SUBNET_CIDRS');
  const azs = list('PRIVATE_SUBNET_AZS');
  if (cidrs.length !== subnetIds.length) throw new ConfigError(rel(configFile), 'PRIVATE_SUBNET_CIDRS', `has ${cidrs.length} entries, PRIVATE_SUBNETS has ${subnetIds.length}`);
  if (azs.length !== subnetIds.length) throw new ConfigError(rel(configFile), 'PRIVATE_SUBNET_AZS', `has ${azs.length} entries, PRIVATE_SUBNETS has ${subnetIds.length}`);
  for (const [i, c] of cidrs.entries()) if (!isCidr(c)) throw new ConfigError(rel(configFile), `PRIVATE_SUBNET_CIDRS[${i}]`, `not a CIDR: ${c}`);
  const vpcCidr = need('VPC_CIDR');
  if (!isCidr(vpcCidr)) throw new ConfigError(rel(configFile), 'VPC_CIDR', `not a CIDR: ${vpcCidr}`);

  const sgOf = new Map<string, string>();
  for (const [i, line] of (cfg.arrays.SERVICE_SECURITY_GROUPS ?? []).entries()) {
    const [svc, sg] = line.split(/\s+/);
    if (!svc || !sg) throw new ConfigError(rel(configFile), `SERVICE_SECURITY_GROUPS[${i}]`, `expected "<service> <group>", got "${line}"`);
    sgOf.set(svc, sg);
  }
  const securityGroups = (cfg.arrays.SECURITY_GROUPS ?? []).map((line, i) => {
    const m = /^(\S+)\s*(.*)$/.exec(line.trim());
    if (!m) throw new ConfigError(rel(configFile), `SECURITY_GROUPS[${i}]`, 'is empty');
    return { name: m[1]!, description: m[2] || m[1]! };
  });
  const sgRules: SgRule[] = (cfg.arrays.SG_RULES ?? []).map((line, i) => {
    const field = `SG_RULES[${i}]`;
    const [direction, group, protocol, ports, peer, ...extra] = line.split(/\s+/);
    if (!peer || extra.length) throw new ConfigError(rel(configFile), field, `expected "<ingress|egress> <group> <protocol> <port|from-to> <peer>", got "${line}"`);
    if (direction !== 'ingress' && direction !== 'egress') throw new ConfigError(rel(configFile), field, `direction must be ingress or egress, got ${direction}`);
    const pm = /^(\d+)(?:-(\d+))?$/.exec(ports!);
    if (!pm) throw new ConfigError(rel(configFile), field, `port must be N or N-M, got ${ports}`);
    const fromPort = Number(pm[1]);
    const toPort = Number(pm[2] ?? pm[1]);
    if (!securityGroups.some((g) => g.name === group)) throw new ConfigError(rel(configFile), field, `group ${group} is not in SECURITY_GROUPS`);
    if (!isCidr(peer) && !securityGroups.some((g) => g.name === peer)) throw new ConfigError(rel(configFile), field, `peer ${peer} is neither a CIDR nor a group in SECURITY_GROUPS`);
    return { direction, group: group!, protocol: protocol!, fromPort, toPort, peer };
  });

  const names = need('SERVICES').split(/\s+/).filter(Boolean);
  const services: ServiceModel[] = names.map((name) => loadService(dir, name, rel, sgOf.get(name)));
  return {
    deployDir: dir,
    configFile,
    region: need('REGION'),
    cluster: need('CLUSTER'),
    vpc: {
      vpcId: need('VPC_ID'),
      cidrBlock: vpcCidr,
      subnets: subnetIds.map((subnetId, i) => ({ subnetId, cidrBlock: cidrs[i]!, availabilityZone: azs[i]! })),
    },
    namespace: need('NAMESPACE'),
    services,
    securityGroups,
    sgRules,
    settings: cfg.values,
  };
}

function loadService(dir: string, name: string, rel: (p: string) => string, securityGroup: string | undefined): ServiceModel {
  const file = path.join(dir, 'services', `${name}-service.yaml`);
  const f = rel(file);
  if (!fs.existsSync(file)) throw new ConfigError(f, 'file', `missing (SERVICES lists ${name})`);
  let td: any;
  try {
    td = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(f, 'document', `is not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!td || typeof td !== 'object' || Array.isArray(td)) throw new ConfigError(f, 'document', 'must be a task definition object');
  if (typeof td.family !== 'string' || !td.family) throw new ConfigError(f, 'family', 'is required');
  if (!Array.isArray(td.containerDefinitions) || td.containerDefinitions.length === 0) {
    throw new ConfigError(f, 'containerDefinitions', 'must be a non-empty list');
  }
  td.containerDefinitions.forEach((c: any, i: number) => {
    const at = `containerDefinitions[${i}]`;
    if (!c || typeof c !== 'object') throw new ConfigError(f, at, 'must be an object');
    if (typeof c.name !== 'string' || !c.name) throw new ConfigError(f, `${at}.name`, 'is required');
    if (typeof c.image !== 'string' || !c.image) throw new ConfigError(f, `${at}.image`, 'is required');
    (c.portMappings ?? []).forEach((p: any, j: number) => {
      if (!Number.isInteger(p?.containerPort)) throw new ConfigError(f, `${at}.portMappings[${j}].containerPort`, 'must be an integer');
    });
    (c.environment ?? []).forEach((e: any, j: number) => {
      if (typeof e?.name !== 'string') throw new ConfigError(f, `${at}.environment[${j}].name`, 'is required');
      if (typeof e?.value !== 'string') throw new ConfigError(f, `${at}.environment[${j}].value`, 'must be a string');
    });
    (c.secrets ?? []).forEach((s: any, j: number) => {
      if (typeof s?.name !== 'string' || typeof s?.valueFrom !== 'string') throw new ConfigError(f, `${at}.secrets[${j}]`, 'needs name and valueFrom');
    });
    if (c.healthCheck && !Array.isArray(c.healthCheck.command)) throw new ConfigError(f, `${at}.healthCheck.command`, 'must be a list');
  });
  const main = td.containerDefinitions.find((c: any) => c.essential !== false) ?? td.containerDefinitions[0];
  const port = main.portMappings?.[0]?.containerPort;
  if (!Number.isInteger(port)) throw new ConfigError(f, 'containerDefinitions[0].portMappings', 'the service container needs a containerPort');
  const dependencies: ServiceModel['dependencies'] = [];
  for (const c of td.containerDefinitions) {
    for (const e of c.environment ?? []) {
      if (!/_URL$/.test(e.name)) continue;
      try {
        const u = new URL(e.value);
        dependencies.push({ env: e.name, url: e.value, host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) });
      } catch {
        /* not a URL: not a dependency */
      }
    }
  }
  return {
    name,
    ecsService: `escher-${name}`,
    repository: `escher-${name}`,
    file,
    taskDefinition: td,
    containerName: main.name,
    containerPort: port,
    securityGroup,
    dependencies,
    secrets: td.containerDefinitions.flatMap((c: any) => c.secrets ?? []),
  };
}

function isCidr(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
  return !!m && m.slice(1, 5).every((x) => Number(x) <= 255) && Number(m[5]) <= 32;
}
