import { randomBytes, randomInt } from 'node:crypto';
import type { EventSink } from '../protocol/types.ts';
import { sdErrors } from './errors.ts';

/**
 * AWS Cloud Map state: namespaces, services, instances, operations and tags, plus what the
 * rest of the harness needs from it — the ECS scheduler registers and deregisters task
 * instances and pushes custom health; the DNS server resolves names in the private
 * namespaces with Route 53 MULTIVALUE / WEIGHTED semantics. No HTTP here.
 */

export type NamespaceType = 'DNS_PRIVATE' | 'DNS_PUBLIC' | 'HTTP';
export type ServiceType = 'HTTP' | 'DNS_HTTP' | 'DNS';
export type RecordType = 'A' | 'AAAA' | 'SRV' | 'CNAME';
export type RoutingPolicy = 'MULTIVALUE' | 'WEIGHTED';
export type CustomHealth = 'HEALTHY' | 'UNHEALTHY';
export type InstanceHealth = CustomHealth | 'UNKNOWN';
export type OperationType =
  | 'CREATE_NAMESPACE'
  | 'DELETE_NAMESPACE'
  | 'UPDATE_NAMESPACE'
  | 'UPDATE_SERVICE'
  | 'REGISTER_INSTANCE'
  | 'DEREGISTER_INSTANCE';
export type OperationStatus = 'SUBMITTED' | 'PENDING' | 'SUCCESS' | 'FAIL';

export interface Tag {
  Key: string;
  Value: string;
}

export interface DnsRecord {
  Type: RecordType;
  TTL: number;
}

export interface DnsConfig {
  NamespaceId?: string;
  RoutingPolicy?: RoutingPolicy;
  DnsRecords: DnsRecord[];
}

export interface NamespaceRecord {
  id: string;
  arn: string;
  name: string;
  type: NamespaceType;
  description?: string;
  vpc?: string;
  hostedZoneId?: string;
  /** SOA TTL as given at creation (the wire shows it only then) */
  soaTtl?: number;
  createDate: Date;
  creatorRequestId?: string;
}

export interface ServiceRecord {
  id: string;
  arn: string;
  name: string;
  namespaceId: string;
  description?: string;
  type: ServiceType;
  dnsConfig?: DnsConfig;
  healthCheckConfig?: { Type: string; ResourcePath?: string; FailureThreshold?: number };
  healthCheckCustomConfig?: { FailureThreshold?: number };
  createDate: Date;
  creatorRequestId?: string;
  /** instances by id, in registration order */
  instances: Map<string, InstanceRecord>;
  /** bumps on register/deregister (not on health changes), as InstancesRevision does */
  revision: number;
}

export interface InstanceRecord {
  id: string;
  serviceId: string;
  attributes: Record<string, string>;
  creatorRequestId?: string;
  /** undefined when the service has no custom health check (reported as UNKNOWN) */
  health?: CustomHealth;
  registeredAt: Date;
}

export interface OperationRecord {
  id: string;
  type: OperationType;
  createDate: Date;
  targets: Partial<Record<'NAMESPACE' | 'SERVICE' | 'INSTANCE', string>>;
  namespaceId?: string;
  serviceId?: string;
}

/** What changed in the registry; handed to onChange listeners. */
export interface RegistryChange {
  kind:
    | 'namespace.created'
    | 'namespace.deleted'
    | 'service.created'
    | 'service.updated'
    | 'service.deleted'
    | 'instance.registered'
    | 'instance.deregistered'
    | 'instance.health';
  namespaceId: string;
  serviceId?: string;
  instanceId?: string;
  health?: CustomHealth;
}

/** A private zone as the DNS server needs it. */
export interface DnsZone {
  /** lower case, no trailing dot */
  name: string;
  /** negative-caching TTL (the SOA record's TTL and MINIMUM) */
  soaTtl: number;
  hostedZoneId: string;
}

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export type DnsResolution<R> =
  | { kind: 'answer'; ttl: number; records: R[]; zone: DnsZone }
  | { kind: 'nxdomain'; zone: DnsZone }
  | { kind: 'notInZone' };

export interface ServiceDiscoveryStoreDeps {
  account: string;
  region: string;
  now?: () => Date;
  events?: EventSink;
  /**
   * Real milliseconds an operation stays SUBMITTED before GetOperation reports SUCCESS (the
   * effect itself is applied at once). Default 0: the first GetOperation already sees SUCCESS.
   */
  operationDelayMs?: number;
}

/** Negative-caching TTL when a namespace was created without SOA properties (console default). */
export const DEFAULT_SOA_TTL = 15;
/** Route 53 MULTIVALUE answers carry at most this many records. */
export const MULTIVALUE_MAX = 8;

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomString(n: number, alphabet = ALNUM): string {
  const bytes = randomBytes(n);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[bytes[i]! % alphabet.length];
  return s;
}

function normalizeName(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}

function shuffle<T>(xs: T[]): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

let revisionCounter = 0;
function nextRevision(): number {
  // increasing across the process, like AWS's large opaque revisions
  revisionCounter += 1;
  return Date.now() * 1000 + (revisionCounter % 1000);
}

export class ServiceDiscoveryStore {
  readonly account: string;
  readonly region: string;
  private readonly now: () => Date;
  private readonly events?: EventSink;
  private readonly operationDelayMs: number;

  private readonly namespaces = new Map<string, NamespaceRecord>();
  private readonly services = new Map<string, ServiceRecord>();
  private readonly operations = new Map<string, OperationRecord>();
  private readonly tags = new Map<string, Tag[]>();
  /** CreatorRequestId → operation id of the namespace it created (idempotent retries) */
  private readonly namespaceRequests = new Map<string, string>();
  private readonly listeners = new Set<(c: RegistryChange) => void>();

  constructor(deps: ServiceDiscoveryStoreDeps) {
    this.account = deps.account;
    this.region = deps.region;
    this.now = deps.now ?? (() => new Date());
    this.events = deps.events;
    this.operationDelayMs = deps.operationDelayMs ?? 0;
  }

  // ---------------------------------------------------------------- change notification

  /** Calls listener after every registry change; returns an unsubscribe function. */
  onChange(listener: (c: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once pred() holds, checking now and after every registry change. */
  waitFor(pred: () => boolean, signal?: AbortSignal): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.onChange(() => {
        if (pred()) {
          off();
          resolve();
        }
      });
      signal?.addEventListener(
        'abort',
        () => {
          off();
          reject(new Error('aborted waiting for a Cloud Map change'));
        },
        { once: true },
      );
    });
  }

  private changed(c: RegistryChange, event: string, fields: Record<string, unknown>): void {
    this.events?.append(event, fields);
    for (const l of [...this.listeners]) {
      try {
        l(c);
      } catch {
        // a listener's bug must not break the registry
      }
    }
  }

  // ---------------------------------------------------------------- ids and lookups

  private namespaceArn(id: string): string {
    return `arn:aws:servicediscovery:${this.region}:${this.account}:namespace/${id}`;
  }

  private serviceArn(id: string): string {
    return `arn:aws:servicediscovery:${this.region}:${this.account}:service/${id}`;
  }

  /** Accepts a namespace id or ARN. */
  getNamespace(idOrArn: string): NamespaceRecord {
    const id = idOrArn.startsWith('arn:') ? idOrArn.slice(idOrArn.lastIndexOf('/') + 1) : idOrArn;
    const ns = this.namespaces.get(id);
    if (!ns) throw sdErrors.namespaceNotFound(idOrArn);
    return ns;
  }

  /** Accepts a service id or ARN (ECS serviceRegistries[].registryArn is the ARN). */
  getService(idOrArn: string): ServiceRecord {
    const id = idOrArn.startsWith('arn:') ? idOrArn.slice(idOrArn.lastIndexOf('/') + 1) : idOrArn;
    const svc = this.services.get(id);
    if (!svc) throw sdErrors.serviceNotFound(idOrArn);
    return svc;
  }

  findServiceByArn(arn: string): ServiceRecord | undefined {
    for (const s of this.services.values()) if (s.arn === arn) return s;
    return undefined;
  }

  findNamespaceByName(name: string): NamespaceRecord | undefined {
    const n = normalizeName(name);
    for (const ns of this.namespaces.values()) if (normalizeName(ns.name) === n) return ns;
    return undefined;
  }

  findServiceByName(namespaceId: string, name: string): ServiceRecord | undefined {
    const n = name.toLowerCase();
    for (const s of this.services.values()) if (s.namespaceId === namespaceId && s.name.toLowerCase() === n) return s;
    return undefined;
  }

  listNamespaces(): NamespaceRecord[] {
    return [...this.namespaces.values()];
  }

  listServices(namespaceId?: string): ServiceRecord[] {
    const all = [...this.services.values()];
    return namespaceId ? all.filter((s) => s.namespaceId === namespaceId) : all;
  }

  serviceCount(namespaceId: string): number {
    let n = 0;
    for (const s of this.services.values()) if (s.namespaceId === namespaceId) n++;
    return n;
  }

  /** Names of every DNS namespace (what a task's resolver must send to our DNS server). */
  dnsZoneNames(): string[] {
    return this.listNamespaces()
      .filter((ns) => ns.type !== 'HTTP')
      .map((ns) => normalizeName(ns.name));
  }

  // ---------------------------------------------------------------- operations

  private newOperation(type: OperationType, targets: OperationRecord['targets'], namespaceId?: string, serviceId?: string): OperationRecord {
    const op: OperationRecord = {
      id: `${randomString(32)}-${randomString(8)}`,
      type,
      createDate: this.now(),
      targets,
      namespaceId,
      serviceId,
    };
    this.operations.set(op.id, op);
    return op;
  }

  operationStatus(op: OperationRecord): { status: OperationStatus; updateDate: Date } {
    const done = this.now().getTime() - op.createDate.getTime() >= this.operationDelayMs;
    return done
      ? { status: 'SUCCESS', updateDate: new Date(op.createDate.getTime() + this.operationDelayMs) }
      : { status: 'SUBMITTED', updateDate: op.createDate };
  }

  getOperation(id: string): OperationRecord {
    const op = this.operations.get(id);
    if (!op) throw sdErrors.operationNotFound(id);
    return op;
  }

  listOperations(): OperationRecord[] {
    return [...this.operations.values()];
  }

  // ---------------------------------------------------------------- namespaces

  createNamespace(input: {
    name: string;
    type: NamespaceType;
    vpc?: string;
    description?: string;
    creatorRequestId?: string;
    soaTtl?: number;
    tags?: Tag[];
  }): { operationId: string; namespace: NamespaceRecord } {
    const name = input.name.replace(/\.$/, '');
    if (input.creatorRequestId) {
      const prior = this.namespaceRequests.get(input.creatorRequestId);
      if (prior) {
        const op = this.operations.get(prior);
        const ns = op?.targets.NAMESPACE ? this.namespaces.get(op.targets.NAMESPACE) : undefined;
        if (op && ns && normalizeName(ns.name) === normalizeName(name)) return { operationId: op.id, namespace: ns };
      }
    }
    const existing = this.findNamespaceByName(name);
    if (existing) throw sdErrors.namespaceAlreadyExists(name, existing.id, existing.creatorRequestId);
    const id = `ns-${randomString(16)}`;
    const ns: NamespaceRecord = {
      id,
      arn: this.namespaceArn(id),
      name,
      type: input.type,
      description: input.description,
      vpc: input.vpc,
      hostedZoneId: input.type === 'HTTP' ? undefined : `Z${randomString(20, UPPER_ALNUM)}`,
      soaTtl: input.soaTtl,
      createDate: this.now(),
      creatorRequestId: input.creatorRequestId,
    };
    this.namespaces.set(id, ns);
    if (input.tags?.length) this.tags.set(ns.arn, [...input.tags]);
    const op = this.newOperation('CREATE_NAMESPACE', { NAMESPACE: id }, id);
    if (input.creatorRequestId) this.namespaceRequests.set(input.creatorRequestId, op.id);
    this.changed({ kind: 'namespace.created', namespaceId: id }, 'servicediscovery.namespace.created', {
      namespaceId: id,
      name,
      namespaceType: ns.type,
      vpc: ns.vpc,
    });
    return { operationId: op.id, namespace: ns };
  }

  deleteNamespace(idOrArn: string): string {
    const ns = this.getNamespace(idOrArn);
    const n = this.serviceCount(ns.id);
    if (n > 0) throw sdErrors.resourceInUse(`Namespace ${ns.id} has ${n} associated service(s); delete them first.`);
    this.namespaces.delete(ns.id);
    this.tags.delete(ns.arn);
    const op = this.newOperation('DELETE_NAMESPACE', { NAMESPACE: ns.id }, ns.id);
    this.changed({ kind: 'namespace.deleted', namespaceId: ns.id }, 'servicediscovery.namespace.deleted', {
      namespaceId: ns.id,
      name: ns.name,
    });
    return op.id;
  }

  // ---------------------------------------------------------------- services

  createService(input: {
    name: string;
    namespaceId: string;
    description?: string;
    dnsConfig?: DnsConfig;
    healthCheckConfig?: ServiceRecord['healthCheckConfig'];
    healthCheckCustomConfig?: ServiceRecord['healthCheckCustomConfig'];
    type?: 'HTTP';
    creatorRequestId?: string;
    tags?: Tag[];
  }): ServiceRecord {
    const ns = this.getNamespace(input.namespaceId);
    const existing = this.findServiceByName(ns.id, input.name);
    if (existing) {
      if (input.creatorRequestId && existing.creatorRequestId === input.creatorRequestId) return existing;
      throw sdErrors.serviceAlreadyExists(input.name, existing.id, existing.arn, existing.creatorRequestId);
    }
    if (ns.type === 'HTTP' && input.dnsConfig) {
      throw sdErrors.invalidInput(`DnsConfig is not supported for services in HTTP namespace ${ns.id}.`);
    }
    if (input.type === 'HTTP' && input.dnsConfig) {
      throw sdErrors.invalidInput('A service of Type HTTP cannot have a DnsConfig.');
    }
    if (input.healthCheckConfig && input.healthCheckCustomConfig) {
      throw sdErrors.invalidInput('HealthCheckConfig and HealthCheckCustomConfig cannot both be specified.');
    }
    if (input.healthCheckConfig && ns.type !== 'DNS_PUBLIC') {
      throw sdErrors.invalidInput('HealthCheckConfig is supported only for services in public DNS namespaces.');
    }
    if (input.dnsConfig) validateDnsRecords(input.dnsConfig);
    const id = `srv-${randomString(16)}`;
    const svc: ServiceRecord = {
      id,
      arn: this.serviceArn(id),
      name: input.name,
      namespaceId: ns.id,
      description: input.description,
      type: input.dnsConfig ? 'DNS_HTTP' : 'HTTP',
      dnsConfig: input.dnsConfig
        ? {
            ...(input.dnsConfig.NamespaceId ? { NamespaceId: ns.id } : {}),
            RoutingPolicy: input.dnsConfig.RoutingPolicy ?? 'MULTIVALUE',
            DnsRecords: input.dnsConfig.DnsRecords.map((r) => ({ Type: r.Type, TTL: r.TTL })),
          }
        : undefined,
      healthCheckConfig: input.healthCheckConfig,
      healthCheckCustomConfig: input.healthCheckCustomConfig,
      createDate: this.now(),
      creatorRequestId: input.creatorRequestId,
      instances: new Map(),
      revision: nextRevision(),
    };
    this.services.set(id, svc);
    if (input.tags?.length) this.tags.set(svc.arn, [...input.tags]);
    this.changed({ kind: 'service.created', namespaceId: ns.id, serviceId: id }, 'servicediscovery.service.created', {
      serviceId: id,
      name: svc.name,
      namespace: ns.name,
      records: svc.dnsConfig?.DnsRecords.map((r) => r.Type).join(','),
    });
    return svc;
  }

  updateService(
    idOrArn: string,
    change: { description?: string; dnsRecords?: DnsRecord[]; healthCheckConfig?: ServiceRecord['healthCheckConfig'] },
  ): string {
    const svc = this.getService(idOrArn);
    const ns = this.getNamespace(svc.namespaceId);
    if (change.dnsRecords) {
      if (!svc.dnsConfig) throw sdErrors.invalidInput(`Service ${svc.id} has no DnsConfig to update.`);
      const next: DnsConfig = { ...svc.dnsConfig, DnsRecords: change.dnsRecords };
      validateDnsRecords(next);
      const before = svc.dnsConfig.DnsRecords.map((r) => r.Type).sort().join(',');
      const after = change.dnsRecords.map((r) => r.Type).sort().join(',');
      if (before !== after) {
        throw sdErrors.invalidInput(`The record types of a service cannot be changed (${before} → ${after}); only TTLs can.`);
      }
    }
    if (change.healthCheckConfig) {
      if (ns.type !== 'DNS_PUBLIC') {
        throw sdErrors.invalidInput('HealthCheckConfig is supported only for services in public DNS namespaces.');
      }
      if (svc.healthCheckCustomConfig) {
        throw sdErrors.invalidInput('A service with HealthCheckCustomConfig cannot get a HealthCheckConfig.');
      }
    }
    if (change.description !== undefined) svc.description = change.description;
    if (change.dnsRecords && svc.dnsConfig) {
      svc.dnsConfig = { ...svc.dnsConfig, DnsRecords: change.dnsRecords.map((r) => ({ Type: r.Type, TTL: r.TTL })) };
    }
    if (change.healthCheckConfig) svc.healthCheckConfig = change.healthCheckConfig;
    const op = this.newOperation('UPDATE_SERVICE', { SERVICE: svc.id }, svc.namespaceId, svc.id);
    this.changed({ kind: 'service.updated', namespaceId: svc.namespaceId, serviceId: svc.id }, 'servicediscovery.service.updated', {
      serviceId: svc.id,
      name: svc.name,
    });
    return op.id;
  }

  deleteService(idOrArn: string): void {
    const svc = this.getService(idOrArn);
    if (svc.instances.size > 0) {
      throw sdErrors.resourceInUse(`Service ${svc.id} has ${svc.instances.size} registered instance(s); deregister them first.`);
    }
    this.services.delete(svc.id);
    this.tags.delete(svc.arn);
    this.changed({ kind: 'service.deleted', namespaceId: svc.namespaceId, serviceId: svc.id }, 'servicediscovery.service.deleted', {
      serviceId: svc.id,
      name: svc.name,
    });
  }

  // ---------------------------------------------------------------- instances

  /**
   * Registers (or re-registers, replacing the attributes of) an instance. Validates the
   * attributes the service's DNS records need. Used by RegisterInstance and by the ECS
   * scheduler (which passes the serviceRegistries registryArn).
   */
  registerInstance(
    registryArnOrServiceId: string,
    instanceId: string,
    attributes: Record<string, string>,
    creatorRequestId?: string,
  ): { operationId: string; serviceId: string } {
    const svc = this.getService(registryArnOrServiceId);
    validateInstanceId(instanceId);
    validateAttributes(svc, attributes);
    const prior = svc.instances.get(instanceId);
    let health: CustomHealth | undefined;
    if (svc.healthCheckCustomConfig || svc.healthCheckConfig) {
      const init = attributes.AWS_INIT_HEALTH_STATUS as CustomHealth | undefined;
      health = prior ? (prior.health ?? init ?? 'HEALTHY') : (init ?? 'HEALTHY');
    }
    const inst: InstanceRecord = {
      id: instanceId,
      serviceId: svc.id,
      attributes: { ...attributes },
      creatorRequestId,
      health,
      registeredAt: prior?.registeredAt ?? this.now(),
    };
    svc.instances.set(instanceId, inst);
    svc.revision = nextRevision();
    const op = this.newOperation('REGISTER_INSTANCE', { INSTANCE: instanceId, SERVICE: svc.id }, svc.namespaceId, svc.id);
    this.changed(
      { kind: 'instance.registered', namespaceId: svc.namespaceId, serviceId: svc.id, instanceId, health },
      'servicediscovery.instance.registered',
      {
        serviceId: svc.id,
        service: svc.name,
        namespace: this.namespaces.get(svc.namespaceId)?.name,
        instanceId,
        ipv4: attributes.AWS_INSTANCE_IPV4,
        port: attributes.AWS_INSTANCE_PORT,
        health: health ?? 'UNKNOWN',
      },
    );
    return { operationId: op.id, serviceId: svc.id };
  }

  deregisterInstance(serviceIdOrArn: string, instanceId: string): { operationId: string } {
    const svc = this.getService(serviceIdOrArn);
    const inst = svc.instances.get(instanceId);
    if (!inst) throw sdErrors.instanceNotFound(instanceId);
    svc.instances.delete(instanceId);
    svc.revision = nextRevision();
    const op = this.newOperation('DEREGISTER_INSTANCE', { INSTANCE: instanceId, SERVICE: svc.id }, svc.namespaceId, svc.id);
    this.changed(
      { kind: 'instance.deregistered', namespaceId: svc.namespaceId, serviceId: svc.id, instanceId },
      'servicediscovery.instance.deregistered',
      { serviceId: svc.id, service: svc.name, instanceId, ipv4: inst.attributes.AWS_INSTANCE_IPV4 },
    );
    return { operationId: op.id };
  }

  getInstance(serviceIdOrArn: string, instanceId: string): InstanceRecord {
    const svc = this.getService(serviceIdOrArn);
    const inst = svc.instances.get(instanceId);
    if (!inst) throw sdErrors.instanceNotFound(instanceId);
    return inst;
  }

  listInstances(serviceIdOrArn: string): InstanceRecord[] {
    return [...this.getService(serviceIdOrArn).instances.values()];
  }

  healthOf(inst: InstanceRecord): InstanceHealth {
    return inst.health ?? 'UNKNOWN';
  }

  /**
   * UpdateInstanceCustomHealthStatus: throws ServiceNotFound / InstanceNotFound, and
   * CustomHealthNotFound when the service has no HealthCheckCustomConfig.
   */
  updateCustomHealth(serviceIdOrArn: string, instanceId: string, status: CustomHealth): void {
    const svc = this.getService(serviceIdOrArn);
    if (!svc.instances.has(instanceId)) throw sdErrors.instanceNotFound(instanceId);
    if (!svc.healthCheckCustomConfig) throw sdErrors.customHealthNotFound(svc.id);
    this.applyHealth(svc, instanceId, status);
  }

  /**
   * The ECS scheduler pushing a task's health into its registry. As ECS does, it only acts on
   * services with HealthCheckCustomConfig; returns false (and changes nothing) when the service
   * has none, or the service or instance is already gone. Never throws.
   */
  setHealth(serviceIdOrArn: string, instanceId: string, status: CustomHealth): boolean {
    const id = serviceIdOrArn.startsWith('arn:') ? serviceIdOrArn.slice(serviceIdOrArn.lastIndexOf('/') + 1) : serviceIdOrArn;
    const svc = this.services.get(id);
    if (!svc || !svc.healthCheckCustomConfig || !svc.instances.has(instanceId)) return false;
    this.applyHealth(svc, instanceId, status);
    return true;
  }

  private applyHealth(svc: ServiceRecord, instanceId: string, status: CustomHealth): void {
    const inst = svc.instances.get(instanceId)!;
    if (inst.health === status) return;
    inst.health = status;
    this.changed(
      { kind: 'instance.health', namespaceId: svc.namespaceId, serviceId: svc.id, instanceId, health: status },
      'servicediscovery.instance.health',
      { serviceId: svc.id, service: svc.name, instanceId, health: status },
    );
  }

  /**
   * DiscoverInstances: the instances of `serviceName` in the namespace whose (Http)Name is
   * `namespaceName`, filtered by health (ignored for services without a health check),
   * QueryParameters (all must match) and OptionalParameters (used only if some match).
   */
  discover(input: {
    namespaceName: string;
    serviceName: string;
    healthStatus?: 'HEALTHY' | 'UNHEALTHY' | 'ALL' | 'HEALTHY_OR_ELSE_ALL';
    queryParameters?: Record<string, string>;
    optionalParameters?: Record<string, string>;
    maxResults?: number;
  }): { namespace: NamespaceRecord; service: ServiceRecord; instances: InstanceRecord[] } {
    const ns = this.findNamespaceByName(input.namespaceName);
    if (!ns) throw sdErrors.namespaceNotFound(input.namespaceName);
    const svc = this.findServiceByName(ns.id, input.serviceName);
    if (!svc) throw sdErrors.serviceNotFound(input.serviceName);
    let xs = [...svc.instances.values()];
    const q = input.queryParameters ?? {};
    xs = xs.filter((i) => Object.entries(q).every(([k, v]) => i.attributes[k] === v));
    const opt = input.optionalParameters ?? {};
    if (Object.keys(opt).length > 0) {
      const preferred = xs.filter((i) => Object.entries(opt).every(([k, v]) => i.attributes[k] === v));
      if (preferred.length > 0) xs = preferred;
    }
    const hasHealth = !!(svc.healthCheckCustomConfig || svc.healthCheckConfig);
    if (hasHealth) {
      const mode = input.healthStatus ?? 'HEALTHY';
      const healthy = xs.filter((i) => i.health !== 'UNHEALTHY');
      if (mode === 'HEALTHY') xs = healthy;
      else if (mode === 'UNHEALTHY') xs = xs.filter((i) => i.health === 'UNHEALTHY');
      else if (mode === 'HEALTHY_OR_ELSE_ALL') xs = healthy.length > 0 ? healthy : xs;
    }
    return { namespace: ns, service: svc, instances: xs.slice(0, input.maxResults ?? 100) };
  }

  // ---------------------------------------------------------------- tags

  private assertTaggable(arn: string): void {
    for (const ns of this.namespaces.values()) if (ns.arn === arn) return;
    for (const s of this.services.values()) if (s.arn === arn) return;
    throw sdErrors.resourceNotFound(arn);
  }

  listTags(arn: string): Tag[] {
    this.assertTaggable(arn);
    return [...(this.tags.get(arn) ?? [])];
  }

  tagResource(arn: string, tags: Tag[]): void {
    this.assertTaggable(arn);
    const cur = new Map((this.tags.get(arn) ?? []).map((t) => [t.Key, t.Value]));
    for (const t of tags) cur.set(t.Key, t.Value);
    if (cur.size > 50) throw sdErrors.tooManyTags(arn);
    this.tags.set(arn, [...cur].map(([Key, Value]) => ({ Key, Value })));
  }

  untagResource(arn: string, keys: string[]): void {
    this.assertTaggable(arn);
    this.tags.set(
      arn,
      (this.tags.get(arn) ?? []).filter((t) => !keys.includes(t.Key)),
    );
  }

  // ---------------------------------------------------------------- DNS

  /** The DNS namespace a name falls in (longest matching suffix), if any. */
  zoneFor(fqdn: string): { ns: NamespaceRecord; zone: DnsZone } | undefined {
    const name = normalizeName(fqdn);
    let best: NamespaceRecord | undefined;
    for (const ns of this.namespaces.values()) {
      if (ns.type === 'HTTP') continue;
      const z = normalizeName(ns.name);
      if ((name === z || name.endsWith(`.${z}`)) && (!best || z.length > normalizeName(best.name).length)) best = ns;
    }
    if (!best) return undefined;
    return {
      ns: best,
      zone: { name: normalizeName(best.name), soaTtl: best.soaTtl ?? DEFAULT_SOA_TTL, hostedZoneId: best.hostedZoneId ?? '' },
    };
  }

  /**
   * What Route 53 would answer for `fqdn` in the namespace's zone:
   * - `<service>.<ns>` A/AAAA: up to 8 healthy instances' addresses (all unhealthy ones, up to 8,
   *   when none is healthy); WEIGHTED: one of them. SRV: `1 1 <port> <instanceId>.<service>.<ns>`.
   * - `<instanceId>.<service>.<ns>` (services with an SRV record): that instance's address.
   * - A service with no instances has no records: NXDOMAIN, as in Route 53.
   * - An existing name without records of the type: an answer with no records (NODATA).
   */
  resolve(fqdn: string, type: 'A' | 'AAAA'): DnsResolution<string>;
  resolve(fqdn: string, type: 'SRV'): DnsResolution<SrvData>;
  resolve(fqdn: string, type: 'A' | 'AAAA' | 'SRV'): DnsResolution<string> | DnsResolution<SrvData>;
  resolve(fqdn: string, type: 'A' | 'AAAA' | 'SRV'): DnsResolution<string> | DnsResolution<SrvData> {
    const hit = this.zoneFor(fqdn);
    if (!hit) return { kind: 'notInZone' };
    const { ns, zone } = hit;
    const name = normalizeName(fqdn);
    if (name === zone.name) return { kind: 'answer', ttl: zone.soaTtl, records: [], zone };
    const rel = name.slice(0, name.length - zone.name.length - 1);
    const dnsServices = this.listServices(ns.id).filter((s) => s.dnsConfig);

    const svc = dnsServices.find((s) => s.name.toLowerCase() === rel);
    if (svc && svc.instances.size > 0) {
      const dns = svc.dnsConfig!;
      const rec = dns.DnsRecords.find((r) => r.Type === type);
      if (!rec) return { kind: 'answer', ttl: zone.soaTtl, records: [], zone };
      const attr = type === 'A' ? 'AWS_INSTANCE_IPV4' : type === 'AAAA' ? 'AWS_INSTANCE_IPV6' : 'AWS_INSTANCE_PORT';
      const eligible = [...svc.instances.values()].filter((i) => i.attributes[attr]);
      const chosen = selectInstances(eligible, dns.RoutingPolicy ?? 'MULTIVALUE');
      if (type === 'SRV') {
        const host = `${svc.name}.${ns.name.replace(/\.$/, '')}`;
        return {
          kind: 'answer',
          ttl: rec.TTL,
          zone,
          records: chosen.map((i) => ({ priority: 1, weight: 1, port: Number(i.attributes.AWS_INSTANCE_PORT), target: `${i.id}.${host}` })),
        };
      }
      return { kind: 'answer', ttl: rec.TTL, zone, records: chosen.map((i) => i.attributes[attr]!) };
    }

    // <instanceId>.<service>: the host names SRV records point at
    for (const s of dnsServices) {
      const suffix = `.${s.name.toLowerCase()}`;
      if (!rel.endsWith(suffix)) continue;
      const srv = s.dnsConfig!.DnsRecords.find((r) => r.Type === 'SRV');
      if (!srv) continue;
      const instId = rel.slice(0, rel.length - suffix.length);
      const inst = [...s.instances.values()].find((i) => i.id.toLowerCase() === instId);
      if (!inst) continue;
      const addrRec = s.dnsConfig!.DnsRecords.find((r) => r.Type === type);
      const ttl = addrRec?.TTL ?? srv.TTL;
      if (type === 'A' && inst.attributes.AWS_INSTANCE_IPV4) return { kind: 'answer', ttl, zone, records: [inst.attributes.AWS_INSTANCE_IPV4] };
      if (type === 'AAAA' && inst.attributes.AWS_INSTANCE_IPV6) return { kind: 'answer', ttl, zone, records: [inst.attributes.AWS_INSTANCE_IPV6] };
      return { kind: 'answer', ttl: zone.soaTtl, records: [], zone };
    }

    // an empty non-terminal (e.g. `b.<ns>` when a service is named `a.b`) exists without records
    const isAncestor = dnsServices.some((s) => s.instances.size > 0 && s.name.toLowerCase().endsWith(`.${rel}`));
    if (isAncestor) return { kind: 'answer', ttl: zone.soaTtl, records: [], zone };
    return { kind: 'nxdomain', zone };
  }
}

/** MULTIVALUE: up to 8 healthy (else up to 8 unhealthy), random order; WEIGHTED: one of them. */
function selectInstances(xs: InstanceRecord[], policy: RoutingPolicy): InstanceRecord[] {
  const healthy = xs.filter((i) => i.health !== 'UNHEALTHY');
  const pool = shuffle(healthy.length > 0 ? healthy : xs);
  return pool.slice(0, policy === 'WEIGHTED' ? 1 : MULTIVALUE_MAX);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function validateInstanceId(id: string): void {
  if (!id || id.length > 64 || !/^[0-9a-zA-Z_/:.@-]+$/.test(id)) {
    throw sdErrors.invalidInput(`InstanceId ${JSON.stringify(id)} is invalid: 1-64 characters of [0-9a-zA-Z_/:.@-].`);
  }
}

function validateDnsRecords(cfg: DnsConfig): void {
  const recs = cfg.DnsRecords;
  if (!Array.isArray(recs) || recs.length === 0) throw sdErrors.invalidInput('DnsConfig.DnsRecords must contain at least one record.');
  const seen = new Set<string>();
  for (const r of recs) {
    if (!['A', 'AAAA', 'SRV', 'CNAME'].includes(r.Type)) throw sdErrors.invalidInput(`DnsRecord Type ${r.Type} is not supported.`);
    if (!Number.isInteger(r.TTL) || r.TTL < 0 || r.TTL > 2147483647) throw sdErrors.invalidInput('DnsRecord TTL must be between 0 and 2147483647.');
    if (seen.has(r.Type)) throw sdErrors.invalidInput(`DnsRecords contains more than one ${r.Type} record.`);
    seen.add(r.Type);
  }
  if (seen.has('CNAME')) {
    if (seen.size > 1) throw sdErrors.invalidInput('A CNAME record cannot be combined with other record types.');
    if (cfg.RoutingPolicy !== 'WEIGHTED') throw sdErrors.invalidInput('CNAME records require RoutingPolicy WEIGHTED.');
  }
}

function validateAttributes(svc: ServiceRecord, attrs: Record<string, string>): void {
  const keys = Object.keys(attrs);
  for (const k of keys) {
    const v = attrs[k];
    if (typeof v !== 'string') throw sdErrors.invalidInput(`Attribute ${k} must be a string.`);
    if (k.length > 255 || !/^[a-zA-Z0-9!-~]+$/.test(k)) throw sdErrors.invalidInput(`Attribute key ${JSON.stringify(k)} is invalid.`);
    if (v.length > 1024) throw sdErrors.invalidInput(`Attribute ${k} is longer than 1024 characters.`);
  }
  const custom = keys.filter((k) => !k.startsWith('AWS_'));
  if (custom.length > 30) throw sdErrors.invalidInput('An instance can have up to 30 custom attributes.');
  const types = new Set(svc.dnsConfig?.DnsRecords.map((r) => r.Type) ?? []);
  const alias = attrs.AWS_ALIAS_DNS_NAME;
  if (alias && (svc.dnsConfig?.RoutingPolicy ?? 'MULTIVALUE') !== 'WEIGHTED') {
    throw sdErrors.invalidInput('AWS_ALIAS_DNS_NAME requires a service with RoutingPolicy WEIGHTED.');
  }
  if (types.has('A') && !alias && !attrs.AWS_INSTANCE_IPV4) {
    throw sdErrors.invalidInput('AWS_INSTANCE_IPV4 is required because the service has an A record.');
  }
  if (types.has('AAAA') && !alias && !attrs.AWS_INSTANCE_IPV6) {
    throw sdErrors.invalidInput('AWS_INSTANCE_IPV6 is required because the service has an AAAA record.');
  }
  if (types.has('SRV') && !attrs.AWS_INSTANCE_PORT) {
    throw sdErrors.invalidInput('AWS_INSTANCE_PORT is required because the service has an SRV record.');
  }
  if (types.has('CNAME') && !attrs.AWS_INSTANCE_CNAME) {
    throw sdErrors.invalidInput('AWS_INSTANCE_CNAME is required because the service has a CNAME record.');
  }
  if (attrs.AWS_INSTANCE_IPV4 !== undefined && !IPV4.test(attrs.AWS_INSTANCE_IPV4)) {
    throw sdErrors.invalidInput(`AWS_INSTANCE_IPV4 ${JSON.stringify(attrs.AWS_INSTANCE_IPV4)} is not a valid IPv4 address.`);
  }
  if (attrs.AWS_INSTANCE_PORT !== undefined) {
    const p = Number(attrs.AWS_INSTANCE_PORT);
    if (!/^\d+$/.test(attrs.AWS_INSTANCE_PORT) || p < 0 || p > 65535) {
      throw sdErrors.invalidInput(`AWS_INSTANCE_PORT ${JSON.stringify(attrs.AWS_INSTANCE_PORT)} must be an integer between 0 and 65535.`);
    }
  }
  const init = attrs.AWS_INIT_HEALTH_STATUS;
  if (init !== undefined) {
    // only meaningful with HealthCheckCustomConfig; ignored otherwise
    if (init !== 'HEALTHY' && init !== 'UNHEALTHY') throw sdErrors.invalidInput('AWS_INIT_HEALTH_STATUS must be HEALTHY or UNHEALTHY.');
  }
}
