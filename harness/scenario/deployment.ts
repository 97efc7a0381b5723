/**
 * What the scripts created, learned from the control plane after they ran: the services under
 * test, their task definitions, ports, health paths, Cloud Map names, dependencies and the
 * order they imply, what fronts them, how they roll back. Scenarios check against this, never
 * against names they were written with.
 */
import type { ContainerDefinition, TaskDefinition } from '@aws-sdk/client-ecs';
import type { EcsStore, ServiceState } from '../aws/ecs/store.ts';
import type { ServiceDiscoveryStore } from '../aws/servicediscovery/store.ts';
import type { ElbStore } from '../aws/elbv2/store.ts';
import type { Manifest } from '../manifest/schema.ts';
import { healthCheckPaths, namesSecret } from './stub-env.ts';

export interface Dependency {
  /** the environment variable, e.g. PLAYBOOK_STORE_URL */
  env: string;
  url: string;
  host: string;
  port: number;
  /** 'service': a Cloud Map name of a service under test; 'host': a manifest host; 'unknown': neither */
  kind: 'service' | 'host' | 'unknown';
  /** the ECS service (kind service) or the manifest host's key (kind host) */
  target?: string;
}

export interface DeployedService {
  cluster: string;
  /** the ECS service name */
  ecsService: string;
  /** what `{service}` means in the manifest's deployService command: the Cloud Map name, else the container name */
  shortName: string;
  taskDefinitionArn: string;
  family: string;
  revision: number;
  taskDefinition: TaskDefinition;
  /** the essential container that has port mappings (else the first) */
  container: ContainerDefinition;
  ports: number[];
  /** the port the health path and dependents use (the first port mapping) */
  port: number;
  healthPath: string;
  /** where the health path came from */
  healthPathFrom: 'container health check' | 'target group' | 'assumed (no health check, no target group)';
  cloudMap?: { name: string; namespace: string; fqdn: string };
  dependencies: Dependency[];
  /** target groups fronting it (ARNs) */
  targetGroups: string[];
  /** the ECR repository and tag its image names, when it is an ECR image */
  repository?: string;
  tag?: string;
  circuitBreaker: { enable: boolean; rollback: boolean };
  /** the revision of the family before this one, if any (the manual rollback target) */
  previousTaskDefinitionArn?: string;
}

export interface Deployment {
  services: DeployedService[];
  /** dependencies first: every service after everything it depends on */
  order: DeployedService[];
  /** services behind a load balancer (what a user reaches) */
  entry: DeployedService[];
  /** services that reach the manifest's SurrealDB host */
  data: DeployedService[];
  /** things worth saying: URLs that name nothing known, services nothing depends on, cycles */
  findings: string[];
  byName(ecsServiceOrShortName: string): DeployedService | undefined;
  /** what `a` depends on, transitively */
  dependsOn(a: DeployedService, b: DeployedService): boolean;
}

export interface ControlPlane {
  ecs: EcsStore;
  serviceDiscovery: ServiceDiscoveryStore;
  elb: ElbStore;
}

/** An ECR image URI's repository and tag. */
export function ecrImageParts(image: string | undefined): { repository: string; tag?: string } | undefined {
  const m = /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\/([^:@]+)(?::([^@]+))?(?:@.+)?$/.exec(image ?? '');
  return m ? { repository: m[1]!, ...(m[2] ? { tag: m[2] } : {}) } : undefined;
}

/** Reads the services the scripts created (every ACTIVE service of every cluster) and what they imply. */
export function discoverDeployment(cp: ControlPlane, manifest: Pick<Manifest, 'hosts'>): Deployment {
  const states: ServiceState[] = [...cp.ecs.services.values()].filter((s) => s.service.status === 'ACTIVE');
  const cloudMapOf = (st: ServiceState) => {
    for (const reg of st.service.serviceRegistries ?? []) {
      const rec = reg.registryArn ? cp.serviceDiscovery.findServiceByArn(reg.registryArn) : undefined;
      if (!rec) continue;
      const ns = cp.serviceDiscovery.getNamespace(rec.namespaceId);
      return { name: rec.name, namespace: ns.name, fqdn: `${rec.name}.${ns.name}`.toLowerCase() };
    }
    return undefined;
  };
  const services: DeployedService[] = states.map((st) => {
    const td = cp.ecs.findTaskDefinition(st.service.taskDefinition!)!;
    const containers = td.containerDefinitions ?? [];
    const container = containers.find((c) => c.essential !== false && (c.portMappings ?? []).length) ?? containers[0]!;
    const ports = (container.portMappings ?? []).map((p) => p.containerPort!).filter((p) => p !== undefined);
    const tgs = (st.service.loadBalancers ?? []).map((lb) => lb.targetGroupArn!).filter(Boolean);
    const fromCheck = healthCheckPaths(container.healthCheck?.command)[0];
    const fromTg = tgs.map((a) => cp.elb.targetGroups.get(a)?.tg.HealthCheckPath).find(Boolean);
    const cloudMap = cloudMapOf(st);
    const img = ecrImageParts(container.image);
    const family = td.family!;
    const revisions = (cp.ecs.taskDefinitions.get(family) ?? []).map((t) => t.revision!).filter((r) => r < td.revision!);
    const prev = revisions.length ? Math.max(...revisions) : undefined;
    const cb = st.service.deploymentConfiguration?.deploymentCircuitBreaker;
    return {
      cluster: st.clusterName,
      ecsService: st.service.serviceName!,
      shortName: cloudMap?.name ?? container.name ?? st.service.serviceName!,
      taskDefinitionArn: td.taskDefinitionArn!,
      family,
      revision: td.revision!,
      taskDefinition: td,
      container,
      ports,
      port: ports[0] ?? 80,
      healthPath: fromCheck ?? fromTg ?? '/health',
      healthPathFrom: fromCheck ? 'container health check' : fromTg ? 'target group' : 'assumed (no health check, no target group)',
      ...(cloudMap ? { cloudMap } : {}),
      dependencies: [],
      targetGroups: tgs,
      ...(img ? { repository: img.repository, ...(img.tag ? { tag: img.tag } : {}) } : {}),
      circuitBreaker: { enable: !!cb?.enable, rollback: !!cb?.rollback },
      ...(prev !== undefined ? { previousTaskDefinitionArn: td.taskDefinitionArn!.replace(/:\d+$/, `:${prev}`) } : {}),
    };
  });

  const byFqdn = new Map(services.filter((s) => s.cloudMap).map((s) => [s.cloudMap!.fqdn, s]));
  const hostByDns = new Map(
    Object.entries(manifest.hosts)
      .filter(([, h]) => h.kind === 'surrealdb')
      .map(([k, h]) => [(h as { dns: string }).dns.toLowerCase(), k]),
  );
  const findings: string[] = [];
  for (const s of services) {
    for (const c of s.taskDefinition.containerDefinitions ?? []) {
      for (const e of c.environment ?? []) {
        if (!e.name || !/_URL$/.test(e.name) || !e.value) continue;
        let u: URL;
        try {
          u = new URL(e.value);
        } catch {
          continue;
        }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
        const host = u.hostname.toLowerCase();
        const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
        const svc = byFqdn.get(host);
        const hostKey = hostByDns.get(host);
        const dep: Dependency = svc
          ? { env: e.name, url: e.value, host, port, kind: 'service', target: svc.ecsService }
          : hostKey
            ? { env: e.name, url: e.value, host, port, kind: 'host', target: hostKey }
            : { env: e.name, url: e.value, host, port, kind: 'unknown' };
        s.dependencies.push(dep);
        if (dep.kind === 'unknown' && e.name !== 'ANTHROPIC_BASE_URL') {
          findings.push(`${s.ecsService}: ${e.name}=${e.value} names neither a Cloud Map name of a service the scripts created nor a host of the manifest`);
        }
        if (svc && !svc.ports.includes(port)) findings.push(`${s.ecsService}: ${e.name} names port ${port}, but ${svc.ecsService} maps ${svc.ports.join(', ') || 'no port'}`);
      }
    }
  }

  const byName = (n: string) => services.find((s) => s.ecsService === n) ?? services.find((s) => s.shortName === n);
  const direct = (a: DeployedService) => a.dependencies.filter((d) => d.kind === 'service').map((d) => byName(d.target!)!).filter(Boolean);
  const dependsOn = (a: DeployedService, b: DeployedService, seen = new Set<string>()): boolean => {
    if (seen.has(a.ecsService)) return false;
    seen.add(a.ecsService);
    return direct(a).some((d) => d === b || dependsOn(d, b, seen));
  };

  // dependencies first (Kahn), ties in creation order; a cycle is reported and broken
  const order: DeployedService[] = [];
  const placed = new Set<string>();
  while (order.length < services.length) {
    const next = services.find((s) => !placed.has(s.ecsService) && direct(s).every((d) => placed.has(d.ecsService) || d === s));
    if (!next) {
      const rest = services.filter((s) => !placed.has(s.ecsService));
      findings.push(`dependency cycle among ${rest.map((s) => s.ecsService).join(', ')}`);
      for (const s of rest) {
        order.push(s);
        placed.add(s.ecsService);
      }
      break;
    }
    order.push(next);
    placed.add(next.ecsService);
  }

  const entry = services.filter((s) => s.targetGroups.length);
  for (const s of services) {
    const used = services.some((o) => o !== s && direct(o).includes(s));
    if (!used && !entry.includes(s)) findings.push(`${s.ecsService}: nothing depends on it and no load balancer fronts it`);
  }
  // the data services: they name the database host and get its root secret (a URL alone is
  // configuration they do not act on); without a root secret in the manifest, naming it is enough
  const rootSecret = Object.values(manifest.hosts).find((h) => h.kind === 'surrealdb' && (h as { rootSecret?: string }).rootSecret) as { rootSecret?: string } | undefined;
  const data = services.filter(
    (s) =>
      s.dependencies.some((d) => d.kind === 'host') &&
      (!rootSecret?.rootSecret || (s.container.secrets ?? []).some((x) => x.valueFrom && namesSecret(x.valueFrom, rootSecret.rootSecret!))),
  );
  return { services, order, entry, data, findings, byName, dependsOn: (a, b) => dependsOn(a, b) };
}
