import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreatePrivateDnsNamespaceCommand,
  CreateServiceCommand,
  DeleteNamespaceCommand,
  DeleteServiceCommand,
  DeregisterInstanceCommand,
  DiscoverInstancesCommand,
  GetInstanceCommand,
  GetNamespaceCommand,
  GetOperationCommand,
  GetServiceCommand,
  ListInstancesCommand,
  ListNamespacesCommand,
  ListOperationsCommand,
  ListServicesCommand,
  NamespaceAlreadyExists,
  RegisterInstanceCommand,
  ResourceInUse,
  ServiceDiscoveryClient,
  ServiceNotFound,
  UpdateInstanceCustomHealthStatusCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-servicediscovery';
import { findAwsClis, runAws, type AwsCli } from '../../scenario/aws-cli.ts';
import { sdkConfig, startTestEdge } from '../test-edge.ts';
import { createServiceDiscoveryProvider } from './provider.ts';
import { ServiceDiscoveryStore } from './store.ts';

const clis = findAwsClis();
if (clis.length === 0) console.log('servicediscovery contract: no aws CLI found on PATH or at /usr/bin/aws; CLI cases not run');
else if (clis.length === 1) console.log(`servicediscovery contract: only aws CLI ${clis[0]!.major} (${clis[0]!.version}) found; testing with it alone`);

let url = '';
let stop: () => Promise<void> = async () => {};
let store: ServiceDiscoveryStore;

beforeAll(async () => {
  store = new ServiceDiscoveryStore({ account: '123456789012', region: 'us-west-1' });
  const edge = await startTestEdge([createServiceDiscoveryProvider(store)]);
  url = edge.url;
  stop = edge.stop;
});

afterAll(async () => {
  await stop();
});

/**
 * DiscoverInstances is a data-plane call: both CLIs prefix the endpoint host with `data-`
 * (http://data-127.0.0.1:PORT), which does not resolve. Sending through the edge as an HTTP
 * proxy keeps the prefixed URL and reaches the same edge.
 */
const viaProxy = () => ({ HTTP_PROXY: url, http_proxy: url, NO_PROXY: '', no_proxy: '' });

describe.each(clis.map((c) => [`aws ${c.major} ${c.version}`, c] as [string, AwsCli]))('%s', (_label, cli) => {
  const aws = (args: string[], env?: Record<string, string>) => runAws(cli, url, ['servicediscovery', ...args], { env });
  const zone = `${cli.major}.escher.internal`;
  let namespaceId = '';
  let serviceId = '';

  it('create-private-dns-namespace, then get-operation reports SUCCESS with the namespace id', async () => {
    const created = await aws(['create-private-dns-namespace', '--name', zone, '--vpc', 'vpc-0abc', '--description', 'escher']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.json.OperationId).toMatch(/^[a-z0-9]{32}-[a-z0-9]{8}$/);
    const op = await aws(['get-operation', '--operation-id', created.json.OperationId]);
    expect(op.code, op.stderr).toBe(0);
    expect(op.json.Operation).toMatchObject({ Type: 'CREATE_NAMESPACE', Status: 'SUCCESS', Targets: { NAMESPACE: expect.stringMatching(/^ns-[a-z0-9]{16}$/) } });
    namespaceId = op.json.Operation.Targets.NAMESPACE;

    const ns = await aws(['get-namespace', '--id', namespaceId]);
    expect(ns.json.Namespace).toMatchObject({ Id: namespaceId, Name: zone, Type: 'DNS_PRIVATE', Description: 'escher', ServiceCount: 0 });
    expect(ns.json.Namespace.Properties.DnsProperties.HostedZoneId).toMatch(/^Z/);

    const listed = await aws(['list-namespaces', '--filters', 'Name=TYPE,Values=DNS_PRIVATE,Condition=EQ']);
    expect(listed.json.Namespaces.map((n: { Name: string }) => n.Name)).toContain(zone);
  });

  it('a second namespace with the same name fails with NamespaceAlreadyExists', async () => {
    const dup = await aws(['create-private-dns-namespace', '--name', zone, '--vpc', 'vpc-0abc']);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain('NamespaceAlreadyExists');
  });

  it('create-service, get-service and list-services filtered by namespace', async () => {
    const svc = await aws([
      'create-service',
      '--name',
      'gateway',
      '--namespace-id',
      namespaceId,
      '--dns-config',
      'RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10},{Type=SRV,TTL=10}]',
      '--health-check-custom-config',
      'FailureThreshold=1',
    ]);
    expect(svc.code, svc.stderr).toBe(0);
    expect(svc.json.Service).toMatchObject({
      Name: 'gateway',
      NamespaceId: namespaceId,
      Type: 'DNS_HTTP',
      DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 10 }] },
      HealthCheckCustomConfig: { FailureThreshold: 1 },
    });
    serviceId = svc.json.Service.Id;
    expect(serviceId).toMatch(/^srv-[a-z0-9]{16}$/);
    expect(svc.json.Service.Arn).toBe(`arn:aws:servicediscovery:us-west-1:123456789012:service/${serviceId}`);

    const got = await aws(['get-service', '--id', serviceId]);
    expect(got.json.Service).toMatchObject({ Id: serviceId, InstanceCount: 0 });

    const listed = await aws(['list-services', '--filters', `Name=NAMESPACE_ID,Values=${namespaceId},Condition=EQ`]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.json.Services.map((s: { Id: string }) => s.Id)).toEqual([serviceId]);
  });

  it('register-instance validates attributes and reports the operation', async () => {
    const bad = await aws(['register-instance', '--service-id', serviceId, '--instance-id', 'task-1', '--attributes', 'AWS_INSTANCE_PORT=8080']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('InvalidInput');

    const reg = await aws([
      'register-instance',
      '--service-id',
      serviceId,
      '--instance-id',
      'task-1',
      '--attributes',
      'AWS_INSTANCE_IPV4=10.0.1.10,AWS_INSTANCE_PORT=8080,ECS_SERVICE_NAME=escher-gateway',
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    const op = await aws(['get-operation', '--operation-id', reg.json.OperationId]);
    expect(op.json.Operation).toMatchObject({ Type: 'REGISTER_INSTANCE', Status: 'SUCCESS', Targets: { INSTANCE: 'task-1', SERVICE: serviceId } });

    const inst = await aws(['get-instance', '--service-id', serviceId, '--instance-id', 'task-1']);
    expect(inst.json.Instance).toMatchObject({ Id: 'task-1', Attributes: { AWS_INSTANCE_IPV4: '10.0.1.10', AWS_INSTANCE_PORT: '8080' } });
    const list = await aws(['list-instances', '--service-id', serviceId]);
    expect(list.json.Instances.map((i: { Id: string }) => i.Id)).toEqual(['task-1']);
    const ops = await aws(['list-operations', '--filters', `Name=SERVICE_ID,Values=${serviceId}`, 'Name=STATUS,Values=SUCCESS,Condition=EQ']);
    expect(ops.code, ops.stderr).toBe(0);
    expect(ops.json.Operations).toContainEqual({ Id: reg.json.OperationId, Status: 'SUCCESS' });
  });

  it('discover-instances returns the registered instance and follows custom health', async () => {
    const found = await aws(['discover-instances', '--namespace-name', zone, '--service-name', 'gateway'], viaProxy());
    expect(found.code, found.stderr).toBe(0);
    expect(found.json.Instances).toEqual([
      {
        InstanceId: 'task-1',
        NamespaceName: zone,
        ServiceName: 'gateway',
        HealthStatus: 'HEALTHY',
        Attributes: { AWS_INSTANCE_IPV4: '10.0.1.10', AWS_INSTANCE_PORT: '8080', ECS_SERVICE_NAME: 'escher-gateway' },
      },
    ]);

    const upd = await aws(['update-instance-custom-health-status', '--service-id', serviceId, '--instance-id', 'task-1', '--status', 'UNHEALTHY']);
    expect(upd.code, upd.stderr).toBe(0);
    const healthy = await aws(['discover-instances', '--namespace-name', zone, '--service-name', 'gateway', '--health-status', 'HEALTHY'], viaProxy());
    expect(healthy.json.Instances).toEqual([]);
    const orElse = await aws(['discover-instances', '--namespace-name', zone, '--service-name', 'gateway', '--health-status', 'HEALTHY_OR_ELSE_ALL'], viaProxy());
    expect(orElse.json.Instances.map((i: { HealthStatus: string }) => i.HealthStatus)).toEqual(['UNHEALTHY']);
    const status = await aws(['get-instances-health-status', '--service-id', serviceId]);
    expect(status.json.Status).toEqual({ 'task-1': 'UNHEALTHY' });

    const missing = await aws(['discover-instances', '--namespace-name', zone, '--service-name', 'nope'], viaProxy());
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('ServiceNotFound');
  });

  if (cli.major === 'v1') {
    it('v1 reaches DiscoverInstances without a proxy when host-prefix injection is disabled', async () => {
      const r = await aws(['discover-instances', '--namespace-name', zone, '--service-name', 'gateway', '--health-status', 'ALL'], {
        AWS_DISABLE_HOST_PREFIX_INJECTION: 'true',
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.Instances).toHaveLength(1);
    });
  }

  it('update-service changes TTLs but not record types', async () => {
    const ok = await aws(['update-service', '--id', serviceId, '--service', 'DnsConfig={DnsRecords=[{Type=A,TTL=30},{Type=SRV,TTL=30}]}']);
    expect(ok.code, ok.stderr).toBe(0);
    const op = await aws(['get-operation', '--operation-id', ok.json.OperationId]);
    expect(op.json.Operation).toMatchObject({ Type: 'UPDATE_SERVICE', Targets: { SERVICE: serviceId } });
    const got = await aws(['get-service', '--id', serviceId]);
    expect(got.json.Service.DnsConfig.DnsRecords).toEqual([{ Type: 'A', TTL: 30 }, { Type: 'SRV', TTL: 30 }]);
    const bad = await aws(['update-service', '--id', serviceId, '--service', 'DnsConfig={DnsRecords=[{Type=AAAA,TTL=30}]}']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('InvalidInput');
  });

  it('deletes refuse while in use, then succeed in order', async () => {
    const svcInUse = await aws(['delete-service', '--id', serviceId]);
    expect(svcInUse.code).not.toBe(0);
    expect(svcInUse.stderr).toContain('ResourceInUse');
    const nsInUse = await aws(['delete-namespace', '--id', namespaceId]);
    expect(nsInUse.stderr).toContain('ResourceInUse');

    const dereg = await aws(['deregister-instance', '--service-id', serviceId, '--instance-id', 'task-1']);
    expect(dereg.code, dereg.stderr).toBe(0);
    const again = await aws(['deregister-instance', '--service-id', serviceId, '--instance-id', 'task-1']);
    expect(again.stderr).toContain('InstanceNotFound');
    const del = await aws(['delete-service', '--id', serviceId]);
    expect(del.code, del.stderr).toBe(0);
    const gone = await aws(['get-service', '--id', serviceId]);
    expect(gone.stderr).toContain('ServiceNotFound');
    const delNs = await aws(['delete-namespace', '--id', namespaceId]);
    expect(delNs.code, delNs.stderr).toBe(0);
    expect(delNs.json.OperationId).toBeTruthy();
    const nsGone = await aws(['get-namespace', '--id', namespaceId]);
    expect(nsGone.stderr).toContain('NamespaceNotFound');
    const opGone = await aws(['get-operation', '--operation-id', 'doesnotexist']);
    expect(opGone.stderr).toContain('OperationNotFound');
  });
});

describe('@aws-sdk/client-servicediscovery', () => {
  // DiscoverInstances carries the `data-` host prefix; with a custom endpoint it must be disabled
  const client = () => new ServiceDiscoveryClient({ ...sdkConfig(url), disableHostPrefix: true });

  it('drives the namespace → service → instance → discover lifecycle', async () => {
    const sd = client();
    const { OperationId } = await sd.send(new CreatePrivateDnsNamespaceCommand({ Name: 'sdk.escher.internal', Vpc: 'vpc-0abc' }));
    const { Operation } = await sd.send(new GetOperationCommand({ OperationId }));
    expect(Operation?.Status).toBe('SUCCESS');
    expect(Operation?.CreateDate).toBeInstanceOf(Date);
    const nsId = Operation!.Targets!.NAMESPACE!;
    const { Namespace } = await sd.send(new GetNamespaceCommand({ Id: nsId }));
    expect(Namespace).toMatchObject({ Name: 'sdk.escher.internal', Type: 'DNS_PRIVATE' });

    await expect(sd.send(new CreatePrivateDnsNamespaceCommand({ Name: 'sdk.escher.internal', Vpc: 'vpc-0abc' }))).rejects.toBeInstanceOf(NamespaceAlreadyExists);

    const { Service } = await sd.send(
      new CreateServiceCommand({
        Name: 'context-engine',
        NamespaceId: nsId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
        HealthCheckCustomConfig: { FailureThreshold: 1 },
      }),
    );
    expect(Service?.Id).toMatch(/^srv-/);
    expect(Service?.CreateDate).toBeInstanceOf(Date);
    const services = await sd.send(new ListServicesCommand({ Filters: [{ Name: 'NAMESPACE_ID', Values: [nsId], Condition: 'EQ' }] }));
    expect(services.Services?.map((s) => s.Name)).toEqual(['context-engine']);

    const reg = await sd.send(
      new RegisterInstanceCommand({ ServiceId: Service!.Id, InstanceId: 'task-a', Attributes: { AWS_INSTANCE_IPV4: '10.0.2.20', AWS_INSTANCE_PORT: '8001' } }),
    );
    expect(reg.OperationId).toBeTruthy();
    await sd.send(new RegisterInstanceCommand({ ServiceId: Service!.Arn, InstanceId: 'task-b', Attributes: { AWS_INSTANCE_IPV4: '10.0.2.21' } }));
    const got = await sd.send(new GetInstanceCommand({ ServiceId: Service!.Id, InstanceId: 'task-a' }));
    expect(got.Instance?.Attributes?.AWS_INSTANCE_IPV4).toBe('10.0.2.20');
    const listed = await sd.send(new ListInstancesCommand({ ServiceId: Service!.Id, MaxResults: 1 }));
    expect(listed.Instances).toHaveLength(1);
    expect(listed.NextToken).toBeTruthy();
    const page2 = await sd.send(new ListInstancesCommand({ ServiceId: Service!.Id, MaxResults: 1, NextToken: listed.NextToken }));
    expect(page2.Instances?.[0]?.Id).toBe('task-b');

    await sd.send(new UpdateInstanceCustomHealthStatusCommand({ ServiceId: Service!.Id, InstanceId: 'task-b', Status: 'UNHEALTHY' }));
    const disc = await sd.send(new DiscoverInstancesCommand({ NamespaceName: 'sdk.escher.internal', ServiceName: 'context-engine', HealthStatus: 'HEALTHY' }));
    expect(disc.Instances?.map((i) => i.InstanceId)).toEqual(['task-a']);
    expect(typeof disc.InstancesRevision).toBe('number');
    expect(store.resolve('context-engine.sdk.escher.internal', 'A')).toMatchObject({ kind: 'answer', records: ['10.0.2.20'] });

    const upd = await sd.send(new UpdateServiceCommand({ Id: Service!.Id, Service: { Description: 'ctx', DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 60 }] } } }));
    expect(upd.OperationId).toBeTruthy();
    expect((await sd.send(new GetServiceCommand({ Id: Service!.Id }))).Service).toMatchObject({ Description: 'ctx', InstanceCount: 2 });

    await expect(sd.send(new DeleteServiceCommand({ Id: Service!.Id }))).rejects.toBeInstanceOf(ResourceInUse);
    await sd.send(new DeregisterInstanceCommand({ ServiceId: Service!.Id, InstanceId: 'task-a' }));
    await sd.send(new DeregisterInstanceCommand({ ServiceId: Service!.Id, InstanceId: 'task-b' }));
    await sd.send(new DeleteServiceCommand({ Id: Service!.Id }));
    await expect(sd.send(new GetServiceCommand({ Id: Service!.Id }))).rejects.toBeInstanceOf(ServiceNotFound);
    const del = await sd.send(new DeleteNamespaceCommand({ Id: nsId }));
    expect(del.OperationId).toBeTruthy();
    const ops = await sd.send(new ListOperationsCommand({ Filters: [{ Name: 'NAMESPACE_ID', Values: [nsId] }] }));
    expect(ops.Operations?.length).toBeGreaterThanOrEqual(5);
    const left = await sd.send(new ListNamespacesCommand({ Filters: [{ Name: 'NAME', Values: ['sdk.escher.internal'], Condition: 'EQ' }] }));
    expect(left.Namespaces).toEqual([]);
  });

  it('rejects bad input with InvalidInput', async () => {
    const sd = client();
    await expect(
      sd.send(new CreateServiceCommand({ Name: 'x', NamespaceId: 'ns-doesnotexist0000', DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] } })),
    ).rejects.toMatchObject({ name: 'NamespaceNotFound' });
    await expect(sd.send(new CreatePrivateDnsNamespaceCommand({ Name: 'bad name!', Vpc: 'vpc-1' }))).rejects.toMatchObject({ name: 'InvalidInput' });
  });
});
