import type { ServiceProvider } from '../protocol/types.ts';
import { Params } from '../protocol/validate.ts';
import { sdErrors } from './errors.ts';
import type {
  DnsConfig,
  DnsRecord,
  InstanceRecord,
  NamespaceRecord,
  OperationRecord,
  ServiceDiscoveryStore,
  ServiceRecord,
  Tag,
} from './store.ts';

/**
 * AWS Cloud Map (servicediscovery), JSON 1.1, target prefix Route53AutoNaming_v20170314.
 * DiscoverInstances / DiscoverInstancesRevision live on the `data-` host in AWS; clients send
 * them with the same target, so the one edge serves them too.
 */
export function createServiceDiscoveryProvider(store: ServiceDiscoveryStore): ServiceProvider {
  const P = (input: unknown) => new Params(input as Record<string, unknown>, 'InvalidInput');

  const namespaceOut = (ns: NamespaceRecord, full: boolean) => ({
    Id: ns.id,
    Arn: ns.arn,
    ResourceOwner: store.account,
    Name: ns.name,
    Type: ns.type,
    Description: ns.description,
    ServiceCount: store.serviceCount(ns.id),
    Properties: {
      DnsProperties:
        ns.type === 'HTTP' ? {} : { HostedZoneId: ns.hostedZoneId, ...(ns.soaTtl !== undefined ? { SOA: { TTL: ns.soaTtl } } : {}) },
      HttpProperties: { HttpName: ns.name },
    },
    CreateDate: ns.createDate,
    ...(full ? { CreatorRequestId: ns.creatorRequestId } : {}),
  });

  const serviceOut = (s: ServiceRecord, full: boolean) => ({
    Id: s.id,
    Arn: s.arn,
    ResourceOwner: store.account,
    Name: s.name,
    NamespaceId: s.namespaceId,
    Description: s.description,
    InstanceCount: s.instances.size,
    DnsConfig: s.dnsConfig ?? {},
    Type: s.type,
    HealthCheckConfig: s.healthCheckConfig,
    HealthCheckCustomConfig: s.healthCheckCustomConfig,
    CreateDate: s.createDate,
    ...(full ? { CreatorRequestId: s.creatorRequestId } : {}),
    CreatedByAccount: store.account,
  });

  const operationOut = (op: OperationRecord) => {
    const { status, updateDate } = store.operationStatus(op);
    return {
      Id: op.id,
      OwnerAccount: store.account,
      Type: op.type,
      Status: status,
      CreateDate: op.createDate,
      UpdateDate: updateDate,
      Targets: op.targets,
    };
  };

  const instanceOut = (i: InstanceRecord) => ({ Id: i.id, Attributes: i.attributes, CreatedByAccount: store.account });

  return {
    serviceName: 'servicediscovery',
    protocol: 'json',
    targetPrefix: 'Route53AutoNaming_v20170314',
    validationErrorCode: 'InvalidInput',
    operations: {
      CreatePrivateDnsNamespace(input) {
        const p = P(input);
        const name = namespaceName(p.str('Name'));
        const vpc = p.str('Vpc');
        const soa = (p.optObj<{ DnsProperties?: { SOA?: { TTL?: unknown } } }>('Properties') ?? {}).DnsProperties?.SOA?.TTL;
        const { operationId } = store.createNamespace({
          name,
          type: 'DNS_PRIVATE',
          vpc,
          description: optDescription(p),
          creatorRequestId: p.optStr('CreatorRequestId'),
          soaTtl: soa === undefined ? undefined : ttl(soa, 'Properties.DnsProperties.SOA.TTL'),
          tags: tagList(p.optList('Tags')),
        });
        return { OperationId: operationId };
      },

      CreateHttpNamespace(input) {
        const p = P(input);
        const name = p.str('Name');
        if (!/^(?!arn:)[!-~]{1,1024}$/.test(name)) throw sdErrors.invalidInput(`Name ${JSON.stringify(name)} is not a valid namespace name.`);
        const { operationId } = store.createNamespace({
          name,
          type: 'HTTP',
          description: optDescription(p),
          creatorRequestId: p.optStr('CreatorRequestId'),
          tags: tagList(p.optList('Tags')),
        });
        return { OperationId: operationId };
      },

      GetNamespace(input) {
        return { Namespace: namespaceOut(store.getNamespace(P(input).str('Id')), true) };
      },

      ListNamespaces(input) {
        const p = P(input);
        let xs = store.listNamespaces();
        for (const f of filters(p, ['TYPE', 'NAME', 'HTTP_NAME', 'RESOURCE_OWNER'])) {
          if (f.name === 'TYPE') {
            if (!['EQ', 'IN'].includes(f.condition)) throw sdErrors.invalidInput('The TYPE filter supports only EQ and IN.');
            xs = xs.filter((ns) => f.values.includes(ns.type));
          } else if (f.name === 'NAME' || f.name === 'HTTP_NAME') {
            if (!['EQ', 'BEGINS_WITH'].includes(f.condition)) throw sdErrors.invalidInput(`The ${f.name} filter supports only EQ and BEGINS_WITH.`);
            xs = xs.filter((ns) =>
              f.condition === 'EQ' ? ns.name.toLowerCase() === f.values[0]!.toLowerCase() : ns.name.toLowerCase().startsWith(f.values[0]!.toLowerCase()),
            );
          } else if (f.name === 'RESOURCE_OWNER') {
            if (f.values[0] === 'OTHER_ACCOUNTS') xs = [];
          }
        }
        const page = paginate(xs, p);
        return { Namespaces: page.items.map((ns) => namespaceOut(ns, false)), NextToken: page.nextToken };
      },

      DeleteNamespace(input) {
        return { OperationId: store.deleteNamespace(P(input).str('Id')) };
      },

      CreateService(input) {
        const p = P(input);
        const name = p.str('Name');
        if (!SERVICE_NAME.test(name)) throw sdErrors.invalidInput(`Name ${JSON.stringify(name)} is not a valid service name.`);
        const dns = dnsConfig(p.optObj('DnsConfig'));
        const namespaceId = p.optStr('NamespaceId') ?? dns?.NamespaceId;
        if (!namespaceId) throw sdErrors.invalidInput('NamespaceId is required.');
        if (dns?.NamespaceId && p.optStr('NamespaceId') && store.getNamespace(dns.NamespaceId).id !== store.getNamespace(namespaceId).id) {
          throw sdErrors.invalidInput('NamespaceId and DnsConfig.NamespaceId must be the same namespace.');
        }
        const custom = p.optObj<{ FailureThreshold?: unknown }>('HealthCheckCustomConfig');
        const hc = p.optObj<{ Type?: unknown; ResourcePath?: unknown; FailureThreshold?: unknown }>('HealthCheckConfig');
        const svc = store.createService({
          name,
          namespaceId,
          description: optDescription(p),
          dnsConfig: dns,
          healthCheckConfig: hc ? healthCheckConfig(hc) : undefined,
          healthCheckCustomConfig: custom ? customConfig(custom) : undefined,
          type: p.optEnum('Type', ['HTTP'] as const),
          creatorRequestId: p.optStr('CreatorRequestId'),
          tags: tagList(p.optList('Tags')),
        });
        const out = serviceOut(svc, true);
        return { Service: { ...out, InstanceCount: undefined } };
      },

      GetService(input) {
        return { Service: serviceOut(store.getService(P(input).str('Id')), true) };
      },

      ListServices(input) {
        const p = P(input);
        let xs = store.listServices();
        for (const f of filters(p, ['NAMESPACE_ID', 'RESOURCE_OWNER'])) {
          if (f.name === 'NAMESPACE_ID') {
            if (!['EQ', 'IN'].includes(f.condition)) throw sdErrors.invalidInput('The NAMESPACE_ID filter supports only EQ and IN.');
            const ids = f.values.map((v) => (v.startsWith('arn:') ? v.slice(v.lastIndexOf('/') + 1) : v));
            xs = xs.filter((s) => ids.includes(s.namespaceId));
          } else if (f.values[0] === 'OTHER_ACCOUNTS') {
            xs = [];
          }
        }
        const page = paginate(xs, p);
        return {
          Services: page.items.map((s) => serviceOut(s, false)),
          NextToken: page.nextToken,
        };
      },

      UpdateService(input) {
        const p = P(input);
        const id = p.str('Id');
        const change = p.optObj<{ Description?: unknown; DnsConfig?: { DnsRecords?: unknown }; HealthCheckConfig?: Record<string, unknown> }>('Service');
        if (!change) throw sdErrors.invalidInput('Service is required.');
        if (change.Description !== undefined && typeof change.Description !== 'string') throw sdErrors.invalidInput('Service.Description must be a string.');
        let dnsRecords: DnsRecord[] | undefined;
        if (change.DnsConfig !== undefined) {
          if (!change.DnsConfig || typeof change.DnsConfig !== 'object') throw sdErrors.invalidInput('Service.DnsConfig must be a structure.');
          dnsRecords = dnsRecordList(change.DnsConfig.DnsRecords, 'Service.DnsConfig.DnsRecords');
        }
        const operationId = store.updateService(id, {
          description: change.Description as string | undefined,
          dnsRecords,
          healthCheckConfig: change.HealthCheckConfig ? healthCheckConfig(change.HealthCheckConfig) : undefined,
        });
        return { OperationId: operationId };
      },

      DeleteService(input) {
        store.deleteService(P(input).str('Id'));
        return {};
      },

      RegisterInstance(input) {
        const p = P(input);
        const serviceId = p.str('ServiceId');
        const instanceId = p.str('InstanceId');
        const attrs = attributeMap(p.raw('Attributes'), 'Attributes', true)!;
        const { operationId } = store.registerInstance(serviceId, instanceId, attrs, p.optStr('CreatorRequestId'));
        return { OperationId: operationId };
      },

      DeregisterInstance(input) {
        const p = P(input);
        return { OperationId: store.deregisterInstance(p.str('ServiceId'), p.str('InstanceId')).operationId };
      },

      GetInstance(input) {
        const p = P(input);
        const inst = store.getInstance(p.str('ServiceId'), p.str('InstanceId'));
        return { ResourceOwner: store.account, Instance: { ...instanceOut(inst), CreatorRequestId: inst.creatorRequestId } };
      },

      ListInstances(input) {
        const p = P(input);
        const page = paginate(store.listInstances(p.str('ServiceId')), p);
        return { ResourceOwner: store.account, Instances: page.items.map(instanceOut), NextToken: page.nextToken };
      },

      GetInstancesHealthStatus(input) {
        const p = P(input);
        const svc = store.getService(p.str('ServiceId'));
        const wanted = p.optStrList('Instances');
        const insts = wanted ? wanted.map((id) => store.getInstance(svc.id, id)) : [...svc.instances.values()];
        const page = paginate(insts, p);
        const Status: Record<string, string> = {};
        for (const i of page.items) Status[i.id] = store.healthOf(i);
        return { Status, NextToken: page.nextToken };
      },

      UpdateInstanceCustomHealthStatus(input) {
        const p = P(input);
        const status = p.optEnum('Status', ['HEALTHY', 'UNHEALTHY'] as const);
        if (!status) throw sdErrors.invalidInput('Status is required.');
        store.updateCustomHealth(p.str('ServiceId'), p.str('InstanceId'), status);
        return {};
      },

      DiscoverInstances(input) {
        const p = P(input);
        const max = p.optInt('MaxResults');
        if (max !== undefined && (max < 1 || max > 1000)) throw sdErrors.invalidInput('MaxResults must be between 1 and 1000.');
        const r = store.discover({
          namespaceName: p.str('NamespaceName'),
          serviceName: p.str('ServiceName'),
          healthStatus: p.optEnum('HealthStatus', ['HEALTHY', 'UNHEALTHY', 'ALL', 'HEALTHY_OR_ELSE_ALL'] as const),
          queryParameters: attributeMap(p.raw('QueryParameters'), 'QueryParameters', false),
          optionalParameters: attributeMap(p.raw('OptionalParameters'), 'OptionalParameters', false),
          maxResults: max,
        });
        return {
          Instances: r.instances.map((i) => ({
            InstanceId: i.id,
            NamespaceName: r.namespace.name,
            ServiceName: r.service.name,
            HealthStatus: store.healthOf(i),
            Attributes: i.attributes,
          })),
          InstancesRevision: r.service.revision,
        };
      },

      DiscoverInstancesRevision(input) {
        const p = P(input);
        const r = store.discover({ namespaceName: p.str('NamespaceName'), serviceName: p.str('ServiceName'), healthStatus: 'ALL' });
        return { InstancesRevision: r.service.revision };
      },

      GetOperation(input) {
        return { Operation: operationOut(store.getOperation(P(input).str('OperationId'))) };
      },

      ListOperations(input) {
        const p = P(input);
        let xs = store.listOperations();
        for (const f of filters(p, ['NAMESPACE_ID', 'SERVICE_ID', 'STATUS', 'TYPE', 'UPDATE_DATE'])) {
          if (f.name === 'UPDATE_DATE') {
            if (f.condition !== 'BETWEEN' || f.values.length !== 2) {
              throw sdErrors.invalidInput('The UPDATE_DATE filter requires Condition BETWEEN and two epoch-second values.');
            }
            const [lo, hi] = f.values.map((v) => Number(v) * 1000);
            xs = xs.filter((op) => {
              const t = store.operationStatus(op).updateDate.getTime();
              return t >= lo! && t <= hi!;
            });
            continue;
          }
          if (!['EQ', 'IN'].includes(f.condition)) throw sdErrors.invalidInput(`The ${f.name} filter supports only EQ and IN.`);
          const vals = f.condition === 'EQ' ? f.values.slice(0, 1) : f.values;
          xs = xs.filter((op) => {
            const v =
              f.name === 'NAMESPACE_ID' ? op.namespaceId : f.name === 'SERVICE_ID' ? op.serviceId : f.name === 'TYPE' ? op.type : store.operationStatus(op).status;
            return v !== undefined && vals.includes(v);
          });
        }
        const page = paginate(xs, p);
        return {
          Operations: page.items.map((op) => ({ Id: op.id, Status: store.operationStatus(op).status })),
          NextToken: page.nextToken,
        };
      },

      ListTagsForResource(input) {
        return { Tags: store.listTags(P(input).str('ResourceARN')) };
      },

      TagResource(input) {
        const p = P(input);
        const tags = tagList(p.optList('Tags'));
        if (!tags) throw sdErrors.invalidInput('Tags is required.');
        store.tagResource(p.str('ResourceARN'), tags);
        return {};
      },

      UntagResource(input) {
        const p = P(input);
        store.untagResource(p.str('ResourceARN'), p.strList('TagKeys'));
        return {};
      },
    },
  };
}

const SERVICE_NAME =
  /((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\.$)/;

function namespaceName(name: string): string {
  const n = name.replace(/\.$/, '');
  const labelOk = (l: string) => /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$/.test(l);
  if (!/^[!-~]{1,253}$/.test(name) || n === '' || !n.split('.').every(labelOk)) {
    throw sdErrors.invalidInput(`Name ${JSON.stringify(name)} is not a valid DNS domain name.`);
  }
  return n;
}

function optDescription(p: Params): string | undefined {
  const d = p.optStr('Description');
  if (d !== undefined && d.length > 1024) throw sdErrors.invalidInput('Description must be at most 1024 characters.');
  return d;
}

function ttl(v: unknown, field: string): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2147483647) {
    throw sdErrors.invalidInput(`${field} must be an integer between 0 and 2147483647.`);
  }
  return n;
}

function dnsRecordList(v: unknown, field: string): DnsRecord[] {
  if (!Array.isArray(v) || v.length === 0) throw sdErrors.invalidInput(`${field} must contain at least one record.`);
  return v.map((r, i) => {
    if (!r || typeof r !== 'object') throw sdErrors.invalidInput(`${field}[${i}] must be a structure.`);
    const rec = r as { Type?: unknown; TTL?: unknown };
    if (typeof rec.Type !== 'string' || !['A', 'AAAA', 'SRV', 'CNAME'].includes(rec.Type)) {
      throw sdErrors.invalidInput(`${field}[${i}].Type must be one of A, AAAA, SRV, CNAME.`);
    }
    if (rec.TTL === undefined || rec.TTL === null) throw sdErrors.invalidInput(`${field}[${i}].TTL is required.`);
    return { Type: rec.Type as DnsRecord['Type'], TTL: ttl(rec.TTL, `${field}[${i}].TTL`) };
  });
}

function dnsConfig(v: Record<string, unknown> | undefined): DnsConfig | undefined {
  if (!v) return undefined;
  const rp = v.RoutingPolicy;
  if (rp !== undefined && rp !== 'MULTIVALUE' && rp !== 'WEIGHTED') throw sdErrors.invalidInput('DnsConfig.RoutingPolicy must be MULTIVALUE or WEIGHTED.');
  if (v.NamespaceId !== undefined && typeof v.NamespaceId !== 'string') throw sdErrors.invalidInput('DnsConfig.NamespaceId must be a string.');
  return {
    NamespaceId: v.NamespaceId as string | undefined,
    RoutingPolicy: rp as DnsConfig['RoutingPolicy'],
    DnsRecords: dnsRecordList(v.DnsRecords, 'DnsConfig.DnsRecords'),
  };
}

function failureThreshold(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10) throw sdErrors.invalidInput('FailureThreshold must be between 1 and 10.');
  return n;
}

function customConfig(v: { FailureThreshold?: unknown }): { FailureThreshold?: number } {
  const ft = failureThreshold(v.FailureThreshold);
  // Cloud Map ignores the (deprecated) value and always uses 1
  return ft === undefined ? {} : { FailureThreshold: 1 };
}

function healthCheckConfig(v: Record<string, unknown>): { Type: string; ResourcePath?: string; FailureThreshold?: number } {
  if (v.Type !== 'HTTP' && v.Type !== 'HTTPS' && v.Type !== 'TCP') throw sdErrors.invalidInput('HealthCheckConfig.Type must be HTTP, HTTPS or TCP.');
  return {
    Type: v.Type,
    ...(typeof v.ResourcePath === 'string' ? { ResourcePath: v.ResourcePath } : {}),
    ...(v.FailureThreshold !== undefined ? { FailureThreshold: failureThreshold(v.FailureThreshold) } : {}),
  };
}

function attributeMap(v: unknown, field: string, required: boolean): Record<string, string> | undefined {
  if (v === undefined || v === null) {
    if (required) throw sdErrors.invalidInput(`${field} is required.`);
    return undefined;
  }
  if (typeof v !== 'object' || Array.isArray(v)) throw sdErrors.invalidInput(`${field} must be a map of strings.`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string') throw sdErrors.invalidInput(`${field}.${k} must be a string.`);
    out[k] = x;
  }
  return out;
}

function tagList(v: unknown[] | undefined): Tag[] | undefined {
  if (v === undefined) return undefined;
  return v.map((t, i) => {
    const tag = t as { Key?: unknown; Value?: unknown } | null;
    if (!tag || typeof tag.Key !== 'string' || tag.Key === '' || typeof tag.Value !== 'string') {
      throw sdErrors.invalidInput(`Tags[${i}] needs a Key and a Value.`);
    }
    return { Key: tag.Key, Value: tag.Value };
  });
}

interface Filter {
  name: string;
  values: string[];
  condition: string;
}

function filters(p: Params, names: string[]): Filter[] {
  const raw = p.optList('Filters') ?? [];
  return raw.map((f, i) => {
    const x = f as { Name?: unknown; Values?: unknown; Condition?: unknown } | null;
    if (!x || typeof x.Name !== 'string' || !names.includes(x.Name)) {
      throw sdErrors.invalidInput(`Filters[${i}].Name must be one of ${names.join(', ')}.`);
    }
    if (!Array.isArray(x.Values) || x.Values.length === 0 || x.Values.some((v) => typeof v !== 'string')) {
      throw sdErrors.invalidInput(`Filters[${i}].Values must be a non-empty list of strings.`);
    }
    const condition = x.Condition === undefined ? 'EQ' : x.Condition;
    if (typeof condition !== 'string' || !['EQ', 'IN', 'BETWEEN', 'BEGINS_WITH'].includes(condition)) {
      throw sdErrors.invalidInput(`Filters[${i}].Condition must be EQ, IN, BETWEEN or BEGINS_WITH.`);
    }
    return { name: x.Name, values: x.Values as string[], condition };
  });
}

function paginate<T>(xs: T[], p: Params): { items: T[]; nextToken?: string } {
  const max = p.optInt('MaxResults') ?? 100;
  if (max < 1 || max > 100) throw sdErrors.invalidInput('MaxResults must be between 1 and 100.');
  let start = 0;
  const token = p.optStr('NextToken');
  if (token !== undefined) {
    const m = /^o(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
    if (!m) throw sdErrors.invalidInput('NextToken is not valid.');
    start = Number(m[1]);
  }
  const items = xs.slice(start, start + max);
  const next = start + max < xs.length ? Buffer.from(`o${start + max}`, 'utf8').toString('base64url') : undefined;
  return { items, nextToken: next };
}
