import { describe, expect, it } from 'vitest';
import { AwsError } from '../protocol/errors.ts';
import type { RequestContext } from '../protocol/types.ts';
import { createServiceDiscoveryProvider } from './provider.ts';
import { ServiceDiscoveryStore } from './store.ts';

const ctx: RequestContext = { requestId: 'r', region: 'us-west-1', account: '123456789012', signingName: 'servicediscovery' };

function setup() {
  const store = new ServiceDiscoveryStore({ account: '123456789012', region: 'us-west-1' });
  const p = createServiceDiscoveryProvider(store);
  const call = async (op: string, input: unknown) => p.operations[op]!(input, ctx) as any;
  return { store, p, call };
}

describe('servicediscovery provider', () => {
  it('declares the JSON 1.1 target and the InvalidInput validation code', () => {
    const { p } = setup();
    expect(p).toMatchObject({ serviceName: 'servicediscovery', protocol: 'json', targetPrefix: 'Route53AutoNaming_v20170314', validationErrorCode: 'InvalidInput' });
  });

  it('shapes namespaces, services and operations as the wire has them', async () => {
    const { call } = setup();
    const { OperationId } = await call('CreatePrivateDnsNamespace', {
      Name: 'escher.internal',
      Vpc: 'vpc-1',
      Properties: { DnsProperties: { SOA: { TTL: 60 } } },
      Tags: [{ Key: 'env', Value: 'dev' }],
    });
    const { Operation } = await call('GetOperation', { OperationId });
    const nsId = Operation.Targets.NAMESPACE;
    const { Namespace } = await call('GetNamespace', { Id: nsId });
    expect(Namespace.Properties).toEqual({
      DnsProperties: { HostedZoneId: expect.stringMatching(/^Z/), SOA: { TTL: 60 } },
      HttpProperties: { HttpName: 'escher.internal' },
    });
    expect((await call('ListTagsForResource', { ResourceARN: Namespace.Arn })).Tags).toEqual([{ Key: 'env', Value: 'dev' }]);

    const created = await call('CreateService', {
      Name: 'gateway',
      DnsConfig: { NamespaceId: nsId, DnsRecords: [{ Type: 'A', TTL: 10 }] },
      CreatorRequestId: 'req-1',
    });
    expect(created.Service).toMatchObject({ NamespaceId: nsId, DnsConfig: { NamespaceId: nsId, RoutingPolicy: 'MULTIVALUE' }, CreatorRequestId: 'req-1' });
    expect(created.Service).not.toHaveProperty('InstanceCount', expect.anything());
    // a retry with the same CreatorRequestId returns the same service
    const retried = await call('CreateService', { Name: 'gateway', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] }, CreatorRequestId: 'req-1' });
    expect(retried.Service.Id).toBe(created.Service.Id);
    const listed = await call('ListServices', {});
    expect(listed.Services[0].CreatorRequestId).toBeUndefined();
    expect(listed.Services[0].InstanceCount).toBe(0);
  });

  it('answers every operation with an AWS error, never a crash, whatever the input', async () => {
    const { p, call } = setup();
    const { OperationId } = await call('CreatePrivateDnsNamespace', { Name: 'z.internal', Vpc: 'v' });
    const nsId = (await call('GetOperation', { OperationId })).Operation.Targets.NAMESPACE;
    const svc = (await call('CreateService', { Name: 's', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } })).Service;
    const junk: unknown[] = [
      {},
      { Id: 5, ServiceId: [], InstanceId: {}, NamespaceId: true, Name: null },
      { Name: 'x', NamespaceId: nsId, DnsConfig: { DnsRecords: 'A' } },
      { Name: 'x', NamespaceId: nsId, DnsConfig: { DnsRecords: [null, { Type: 'MX', TTL: -1 }] } },
      { Name: 'x', NamespaceId: nsId, DnsConfig: { RoutingPolicy: 'ROUND_ROBIN', DnsRecords: [{ Type: 'A', TTL: 1 }] } },
      { Name: 'y', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'CNAME', TTL: 1 }, { Type: 'A', TTL: 1 }] } },
      { ServiceId: svc.Id, InstanceId: 'bad id with spaces', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } },
      { ServiceId: svc.Id, InstanceId: 'i', Attributes: { AWS_INSTANCE_IPV4: 7 } },
      { ServiceId: svc.Id, InstanceId: 'i', Attributes: [] },
      { ServiceId: svc.Id, Status: 'SICK', InstanceId: 'i' },
      { Filters: 'x' },
      { Filters: [{ Name: 'TYPE' }] },
      { Filters: [{ Name: 'NOPE', Values: ['x'] }] },
      { Filters: [{ Name: 'UPDATE_DATE', Values: ['1'], Condition: 'EQ' }] },
      { MaxResults: 0 },
      { MaxResults: 'many' },
      { NextToken: '!!!' },
      { NamespaceName: 'z.internal', ServiceName: 's', HealthStatus: 'SOMETIMES' },
      { NamespaceName: 'z.internal', ServiceName: 's', QueryParameters: 'color=red' },
      { Id: svc.Id, Service: 'x' },
      { Id: svc.Id, Service: { DnsConfig: null } },
      { Id: svc.Id, Service: { DnsConfig: { DnsRecords: [] } } },
      { ResourceARN: 'arn:aws:servicediscovery:us-west-1:1:service/srv-nope', Tags: [{ Key: 'a', Value: 'b' }], TagKeys: ['a'] },
      { ResourceARN: svc.Arn, Tags: [{ Key: 5 }], TagKeys: 'a' },
      { OperationId: 'nope' },
    ];
    for (const op of Object.keys(p.operations)) {
      for (const input of junk) {
        try {
          await call(op, input);
        } catch (e) {
          expect(e, `${op} ${JSON.stringify(input)}`).toBeInstanceOf(AwsError);
          expect((e as AwsError).statusCode).toBe(400);
        }
      }
    }
  });
});
