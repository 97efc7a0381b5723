import { describe, expect, it } from 'vitest';
import { AwsError } from '../protocol/errors.ts';
import { ServiceDiscoveryStore, type RegistryChange } from './store.ts';

function setup(opts: { custom?: boolean; records?: ('A' | 'SRV' | 'AAAA')[]; routing?: 'MULTIVALUE' | 'WEIGHTED' } = {}) {
  const events: { type: string; fields?: Record<string, unknown> }[] = [];
  const store = new ServiceDiscoveryStore({
    account: '123456789012',
    region: 'us-west-1',
    events: { append: (type, fields) => events.push({ type, fields }) },
  });
  const { namespace } = store.createNamespace({ name: 'escher.internal', type: 'DNS_PRIVATE', vpc: 'vpc-1' });
  const svc = store.createService({
    name: 'gateway',
    namespaceId: namespace.id,
    dnsConfig: {
      RoutingPolicy: opts.routing ?? 'MULTIVALUE',
      DnsRecords: (opts.records ?? ['A']).map((Type) => ({ Type, TTL: 10 })),
    },
    healthCheckCustomConfig: opts.custom === false ? undefined : { FailureThreshold: 1 },
  });
  return { store, ns: namespace, svc, events };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof AwsError ? e.code : `not an AwsError: ${String(e)}`;
  }
  return 'no error';
}

describe('ServiceDiscoveryStore', () => {
  it('gives AWS-shaped ids and ARNs', () => {
    const { ns, svc, store } = setup();
    expect(ns.id).toMatch(/^ns-[a-z0-9]{16}$/);
    expect(svc.id).toMatch(/^srv-[a-z0-9]{16}$/);
    expect(svc.arn).toBe(`arn:aws:servicediscovery:us-west-1:123456789012:service/${svc.id}`);
    expect(ns.hostedZoneId).toMatch(/^Z[A-Z0-9]{20}$/);
    const { operationId } = store.registerInstance(svc.arn, 'task1', { AWS_INSTANCE_IPV4: '10.0.1.5' });
    expect(operationId).toMatch(/^[a-z0-9]{32}-[a-z0-9]{8}$/);
    expect(store.findServiceByArn(svc.arn)?.id).toBe(svc.id);
  });

  it('resolves a service name to its healthy instances only after one is registered', () => {
    const { store, svc } = setup();
    expect(store.resolve('gateway.escher.internal', 'A').kind).toBe('nxdomain');
    store.registerInstance(svc.id, 't1', { AWS_INSTANCE_IPV4: '10.0.1.5' });
    store.registerInstance(svc.id, 't2', { AWS_INSTANCE_IPV4: '10.0.1.6', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' });
    const r = store.resolve('Gateway.Escher.Internal.', 'A');
    expect(r).toMatchObject({ kind: 'answer', ttl: 10, records: ['10.0.1.5'] });
    store.setHealth(svc.id, 't1', 'UNHEALTHY');
    // no healthy instance left: Route 53 answers with the unhealthy ones
    const r2 = store.resolve('gateway.escher.internal', 'A');
    expect(r2.kind === 'answer' && [...r2.records].sort()).toEqual(['10.0.1.5', '10.0.1.6']);
    store.deregisterInstance(svc.id, 't1');
    store.deregisterInstance(svc.id, 't2');
    expect(store.resolve('gateway.escher.internal', 'A').kind).toBe('nxdomain');
  });

  it('answers at most 8 records for MULTIVALUE and one for WEIGHTED', () => {
    const { store, svc } = setup();
    for (let i = 1; i <= 12; i++) store.registerInstance(svc.id, `t${i}`, { AWS_INSTANCE_IPV4: `10.0.1.${i}` });
    const r = store.resolve('gateway.escher.internal', 'A');
    expect(r.kind === 'answer' && r.records.length).toBe(8);
    const w = setup({ routing: 'WEIGHTED' });
    for (let i = 1; i <= 3; i++) w.store.registerInstance(w.svc.id, `t${i}`, { AWS_INSTANCE_IPV4: `10.0.2.${i}` });
    const rw = w.store.resolve('gateway.escher.internal', 'A');
    expect(rw.kind === 'answer' && rw.records.length).toBe(1);
  });

  it('serves SRV data and A records for the SRV targets', () => {
    const { store, svc } = setup({ records: ['A', 'SRV'] });
    store.registerInstance(svc.id, 'abc123', { AWS_INSTANCE_IPV4: '10.0.1.7', AWS_INSTANCE_PORT: '8080' });
    const srv = store.resolve('gateway.escher.internal', 'SRV');
    expect(srv).toMatchObject({
      kind: 'answer',
      ttl: 10,
      records: [{ priority: 1, weight: 1, port: 8080, target: 'abc123.gateway.escher.internal' }],
    });
    expect(store.resolve('abc123.gateway.escher.internal', 'A')).toMatchObject({ kind: 'answer', records: ['10.0.1.7'] });
    expect(store.resolve('nope.gateway.escher.internal', 'A').kind).toBe('nxdomain');
  });

  it('tells names outside every DNS namespace from unknown names inside one', () => {
    const { store } = setup();
    expect(store.resolve('example.com', 'A').kind).toBe('notInZone');
    expect(store.resolve('other.escher.internal', 'A')).toMatchObject({ kind: 'nxdomain', zone: { name: 'escher.internal', soaTtl: 15 } });
    expect(store.resolve('escher.internal', 'A')).toMatchObject({ kind: 'answer', records: [] });
    expect(store.dnsZoneNames()).toEqual(['escher.internal']);
  });

  it('validates registrations as Cloud Map does', () => {
    const { store, svc } = setup({ records: ['A', 'SRV'] });
    expect(code(() => store.registerInstance(svc.id, 't1', { AWS_INSTANCE_PORT: '80' }))).toBe('InvalidInput');
    expect(code(() => store.registerInstance(svc.id, 't1', { AWS_INSTANCE_IPV4: '10.0.0.1' }))).toBe('InvalidInput');
    expect(code(() => store.registerInstance(svc.id, 't1', { AWS_INSTANCE_IPV4: '10.0.0.300', AWS_INSTANCE_PORT: '80' }))).toBe('InvalidInput');
    expect(code(() => store.registerInstance('srv-doesnotexist0000', 't1', {}))).toBe('ServiceNotFound');
    expect(code(() => store.deregisterInstance(svc.id, 'ghost'))).toBe('InstanceNotFound');
  });

  it('refuses to delete what is still in use', () => {
    const { store, ns, svc } = setup();
    store.registerInstance(svc.id, 't1', { AWS_INSTANCE_IPV4: '10.0.1.5' });
    expect(code(() => store.deleteService(svc.id))).toBe('ResourceInUse');
    expect(code(() => store.deleteNamespace(ns.id))).toBe('ResourceInUse');
    store.deregisterInstance(svc.id, 't1');
    store.deleteService(svc.id);
    store.deleteNamespace(ns.id);
    expect(store.resolve('gateway.escher.internal', 'A').kind).toBe('notInZone');
  });

  it('rejects duplicate namespace and service names, with the existing ids', () => {
    const { store, ns, svc } = setup();
    try {
      store.createNamespace({ name: 'escher.internal', type: 'DNS_PRIVATE', vpc: 'vpc-1' });
      expect.unreachable();
    } catch (e: any) {
      expect(e.code).toBe('NamespaceAlreadyExists');
      expect(e.fields.NamespaceId).toBe(ns.id);
    }
    try {
      store.createService({ name: 'GATEWAY', namespaceId: ns.id, dnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] } });
      expect.unreachable();
    } catch (e: any) {
      expect(e.code).toBe('ServiceAlreadyExists');
      expect(e.fields.ServiceId).toBe(svc.id);
    }
  });

  it('custom health needs HealthCheckCustomConfig (API error, ECS no-op)', () => {
    const { store, svc } = setup({ custom: false });
    store.registerInstance(svc.id, 't1', { AWS_INSTANCE_IPV4: '10.0.1.5' });
    expect(store.healthOf(store.getInstance(svc.id, 't1'))).toBe('UNKNOWN');
    expect(code(() => store.updateCustomHealth(svc.id, 't1', 'UNHEALTHY'))).toBe('CustomHealthNotFound');
    // the ECS path only pushes health into services that have a custom health check
    expect(store.setHealth(svc.arn, 't1', 'UNHEALTHY')).toBe(false);
    expect(store.setHealth(svc.arn, 'gone', 'UNHEALTHY')).toBe(false);
    expect(store.healthOf(store.getInstance(svc.id, 't1'))).toBe('UNKNOWN');
  });

  it('notifies listeners and the event log, and waitFor resolves on the change', async () => {
    const { store, svc, events } = setup();
    const seen: RegistryChange[] = [];
    const off = store.onChange((c) => seen.push(c));
    const registered = store.waitFor(() => store.resolve('gateway.escher.internal', 'A').kind === 'answer');
    store.registerInstance(svc.id, 't1', { AWS_INSTANCE_IPV4: '10.0.1.5' });
    await registered;
    store.setHealth(svc.id, 't1', 'UNHEALTHY');
    off();
    store.deregisterInstance(svc.id, 't1');
    expect(seen.map((c) => c.kind)).toEqual(['instance.registered', 'instance.health']);
    expect(events.map((e) => e.type)).toContain('servicediscovery.instance.deregistered');
    expect(events.find((e) => e.type === 'servicediscovery.instance.registered')?.fields).toMatchObject({ instanceId: 't1', ipv4: '10.0.1.5' });
  });

  it('keeps operations SUBMITTED for the configured delay, then SUCCESS', () => {
    let now = 1_000_000;
    const store = new ServiceDiscoveryStore({ account: '1', region: 'r', now: () => new Date(now), operationDelayMs: 500 });
    const { operationId } = store.createNamespace({ name: 'a.internal', type: 'DNS_PRIVATE', vpc: 'v' });
    const op = store.getOperation(operationId);
    expect(store.operationStatus(op).status).toBe('SUBMITTED');
    now += 500;
    expect(store.operationStatus(op).status).toBe('SUCCESS');
    expect(op.targets.NAMESPACE).toMatch(/^ns-/);
  });

  it('discover filters by health, query and optional parameters', () => {
    const { store, svc } = setup();
    store.registerInstance(svc.id, 'a', { AWS_INSTANCE_IPV4: '10.0.0.1', color: 'blue' });
    store.registerInstance(svc.id, 'b', { AWS_INSTANCE_IPV4: '10.0.0.2', color: 'green', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' });
    const ids = (x: { instances: { id: string }[] }) => x.instances.map((i) => i.id).sort();
    const base = { namespaceName: 'escher.internal', serviceName: 'gateway' };
    expect(ids(store.discover({ ...base }))).toEqual(['a']);
    expect(ids(store.discover({ ...base, healthStatus: 'ALL' }))).toEqual(['a', 'b']);
    expect(ids(store.discover({ ...base, healthStatus: 'UNHEALTHY' }))).toEqual(['b']);
    expect(ids(store.discover({ ...base, healthStatus: 'ALL', queryParameters: { color: 'green' } }))).toEqual(['b']);
    expect(ids(store.discover({ ...base, healthStatus: 'ALL', optionalParameters: { color: 'red' } }))).toEqual(['a', 'b']);
    expect(code(() => store.discover({ namespaceName: 'nope.internal', serviceName: 'gateway' }))).toBe('NamespaceNotFound');
    expect(code(() => store.discover({ ...base, serviceName: 'nope' }))).toBe('ServiceNotFound');
  });
});
