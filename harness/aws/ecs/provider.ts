import type { Failure, Task } from '@aws-sdk/client-ecs';
import type { ServiceProvider } from '../protocol/types.ts';
import { Params } from '../protocol/validate.ts';
import { ecsErrors } from './errors.ts';
import { EcsStore, clusterNameOf, taskIdOf } from './store.ts';

const V = 'InvalidParameterException';

/** The ECS API (JSON 1.1, AmazonEC2ContainerServiceV20141113) over an EcsStore. */
export function createEcsProvider(store: EcsStore): ServiceProvider {
  const arnOrName = (kind: 'service' | 'task', cluster: string, ref: string) =>
    ref.startsWith('arn:') ? ref : store.arn(`${kind}/${cluster}/${ref}`);

  return {
    serviceName: 'ecs',
    protocol: 'json',
    targetPrefix: 'AmazonEC2ContainerServiceV20141113',
    validationErrorCode: V,
    operations: {
      CreateCluster(input) {
        const p = new Params(input, V);
        return {
          cluster: store.clusterView(
            store.createCluster({
              clusterName: p.optStr('clusterName'),
              capacityProviders: p.optStrList('capacityProviders'),
              tags: p.optList('tags'),
              settings: p.optList('settings'),
              defaultCapacityProviderStrategy: p.optList('defaultCapacityProviderStrategy'),
            }),
          ),
        };
      },
      DescribeClusters(input) {
        const p = new Params(input, V);
        return store.describeClusters(p.optStrList('clusters'));
      },
      ListClusters() {
        return { clusterArns: [...store.clusters.values()].filter((c) => c.status === 'ACTIVE').map((c) => c.clusterArn) };
      },
      DeleteCluster(input) {
        const p = new Params(input, V);
        return { cluster: store.deleteCluster(p.str('cluster')) };
      },
      PutClusterCapacityProviders(input) {
        const p = new Params(input, V);
        const c = store.cluster(p.str('cluster'));
        c.capacityProviders = p.strList('capacityProviders');
        c.defaultCapacityProviderStrategy = p.optList('defaultCapacityProviderStrategy') ?? [];
        return { cluster: store.clusterView(c) };
      },

      RegisterTaskDefinition(input) {
        new Params(input, 'ClientException').str('family');
        const td = store.registerTaskDefinition(input);
        return { taskDefinition: td, tags: store.tdTags.get(td.taskDefinitionArn!) ?? [] };
      },
      DescribeTaskDefinition(input) {
        const p = new Params(input, V);
        const td = store.findTaskDefinition(p.str('taskDefinition'));
        if (!td) throw ecsErrors.client('Unable to describe task definition.');
        const include = p.optStrList('include') ?? [];
        return { taskDefinition: td, ...(include.includes('TAGS') ? { tags: store.tdTags.get(td.taskDefinitionArn!) ?? [] } : {}) };
      },
      DeregisterTaskDefinition(input) {
        const p = new Params(input, V);
        return { taskDefinition: store.deregisterTaskDefinition(p.str('taskDefinition')) };
      },
      ListTaskDefinitions(input) {
        const p = new Params(input, V);
        const prefix = p.optStr('familyPrefix');
        const status = p.optEnum('status', ['ACTIVE', 'INACTIVE', 'DELETE_IN_PROGRESS'] as const) ?? 'ACTIVE';
        const sort = p.optEnum('sort', ['ASC', 'DESC'] as const) ?? 'ASC';
        const arns: string[] = [];
        for (const [family, revs] of [...store.taskDefinitions.entries()].sort(([a], [b]) => a.localeCompare(b))) {
          if (prefix && family !== prefix) continue;
          for (const td of revs) if (td.status === status) arns.push(td.taskDefinitionArn!);
        }
        if (sort === 'DESC') arns.reverse();
        return { taskDefinitionArns: arns };
      },
      ListTaskDefinitionFamilies(input) {
        const p = new Params(input, V);
        const prefix = p.optStr('familyPrefix') ?? '';
        const status = p.optEnum('status', ['ACTIVE', 'INACTIVE', 'ALL'] as const) ?? 'ACTIVE';
        const families = [...store.taskDefinitions.entries()]
          .filter(([f, revs]) => f.startsWith(prefix) && (status === 'ALL' || revs.some((r) => (status === 'ACTIVE' ? r.status === 'ACTIVE' : true)) && (status !== 'INACTIVE' || revs.every((r) => r.status === 'INACTIVE'))))
          .map(([f]) => f)
          .sort();
        return { families };
      },

      CreateService(input) {
        const p = new Params(input, V);
        p.str('serviceName');
        p.optInt('desiredCount');
        return { service: store.createService(input) };
      },
      UpdateService(input) {
        const p = new Params(input, V);
        p.str('service');
        p.optInt('desiredCount');
        p.optBool('forceNewDeployment');
        return { service: store.updateService(input) };
      },
      DeleteService(input) {
        const p = new Params(input, V);
        return { service: store.deleteService({ cluster: p.optStr('cluster'), service: p.str('service'), force: p.optBool('force') }) };
      },
      DescribeServices(input) {
        const p = new Params(input, V);
        const cluster = store.cluster(p.optStr('cluster'));
        const refs = p.strList('services');
        if (refs.length > 10) throw ecsErrors.invalidParameter('services can have at most 10 items.');
        const include = p.optStrList('include') ?? [];
        const services = [];
        const failures: Failure[] = [];
        for (const ref of refs) {
          const st = store.findService(cluster.clusterName!, ref);
          if (!st) failures.push({ arn: arnOrName('service', cluster.clusterName!, ref), reason: 'MISSING' });
          else {
            const { tags, ...rest } = st.service;
            services.push(include.includes('TAGS') ? { ...rest, tags: tags ?? [] } : rest);
          }
        }
        return { services, failures };
      },
      ListServices(input) {
        const p = new Params(input, V);
        const cluster = store.cluster(p.optStr('cluster'));
        const lt = p.optStr('launchType');
        const arns = [...store.services.values()]
          .filter((s) => s.clusterName === cluster.clusterName && s.service.status !== 'INACTIVE' && (!lt || s.service.launchType === lt))
          .map((s) => s.service.serviceArn!);
        return { serviceArns: arns };
      },

      RunTask(input) {
        const p = new Params(input, V);
        const cluster = store.cluster(p.optStr('cluster'));
        const count = p.optInt('count') ?? 1;
        if (count < 1 || count > 10) throw ecsErrors.invalidParameter('count must be between 1 and 10.');
        const td = store.usableTaskDefinition(p.str('taskDefinition'), 'invalidParameter');
        const launchType = p.optStr('launchType') ?? 'EC2';
        if (launchType === 'FARGATE' && !(td.compatibilities ?? []).includes('FARGATE')) {
          throw ecsErrors.invalidParameter('Task definition does not support launch_type FARGATE.');
        }
        const nc = p.optObj<any>('networkConfiguration');
        if (td.networkMode === 'awsvpc' && !nc?.awsvpcConfiguration?.subnets?.length) {
          throw ecsErrors.invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.");
        }
        const tasks: Task[] = [];
        for (let i = 0; i < count; i++) {
          const t = store.createTask({
            clusterName: cluster.clusterName!,
            taskDefinition: td,
            launchType,
            networkConfiguration: nc,
            group: p.optStr('group'),
            startedBy: p.optStr('startedBy'),
            overrides: p.optObj('overrides') as Task['overrides'],
            tags: p.optList('tags'),
          });
          tasks.push(t.task);
        }
        return { tasks, failures: [] };
      },
      DescribeTasks(input) {
        const p = new Params(input, V);
        const cluster = store.cluster(p.optStr('cluster'));
        const refs = p.strList('tasks');
        if (refs.length > 100) throw ecsErrors.invalidParameter('tasks can have at most 100 items.');
        const tasks: Task[] = [];
        const failures: Failure[] = [];
        for (const ref of refs) {
          const t = store.findTask(cluster.clusterName!, ref);
          if (!t) failures.push({ arn: arnOrName('task', cluster.clusterName!, ref), reason: 'MISSING' });
          else tasks.push(t.task);
        }
        return { tasks, failures };
      },
      ListTasks(input) {
        const p = new Params(input, V);
        const cluster = store.cluster(p.optStr('cluster'));
        const serviceName = p.optStr('serviceName');
        const family = p.optStr('family');
        const startedBy = p.optStr('startedBy');
        const desired = p.optEnum('desiredStatus', ['RUNNING', 'PENDING', 'STOPPED'] as const) ?? 'RUNNING';
        if (serviceName) {
          const st = store.findService(cluster.clusterName!, serviceName);
          if (!st) throw ecsErrors.serviceNotFound();
        }
        const svcName = serviceName?.startsWith('arn:') ? serviceName.split('/').pop() : serviceName;
        const arns: string[] = [];
        for (const t of store.tasks.values()) {
          if (t.clusterName !== cluster.clusterName) continue;
          if (svcName && t.serviceName !== svcName) continue;
          if (family && t.taskDefinition.family !== family) continue;
          if (startedBy && t.task.startedBy !== startedBy) continue;
          const ds = t.task.desiredStatus;
          if (desired === 'PENDING' ? t.task.lastStatus !== 'PENDING' : ds !== desired) continue;
          arns.push(t.task.taskArn!);
        }
        return { taskArns: arns };
      },
      StopTask(input) {
        const p = new Params(input, V);
        const cluster = store.cluster(p.optStr('cluster'));
        const t = store.findTask(cluster.clusterName!, p.str('task'));
        if (!t) throw ecsErrors.invalidParameter('The referenced task was not found.');
        store.requestStop(t, 'UserInitiated', p.optStr('reason') ?? 'Task stopped by user');
        return { task: t.task };
      },

      TagResource(input) {
        const p = new Params(input, V);
        const arn = p.str('resourceArn');
        const tags = p.optList<any>('tags') ?? [];
        // the model's TagKey is 1–128 characters, TagValue 0–256 [UNVERIFIED message wording]
        for (const tg of tags) {
          if (!tg || typeof tg.key !== 'string' || tg.key.length < 1 || tg.key.length > 128) throw ecsErrors.invalidParameter('Tag key must be between 1 and 128 characters.');
          if (tg.value !== undefined && (typeof tg.value !== 'string' || tg.value.length > 256)) throw ecsErrors.invalidParameter('Tag value must be at most 256 characters.');
        }
        const target = resourceByArn(store, arn);
        // a copy written back: a task definition's tags live in a map, behind an accessor
        const cur: any[] = [...(target.tags ?? [])];
        for (const tg of tags) {
          const i = cur.findIndex((x) => x.key === tg.key);
          const tag = { key: tg.key, ...(tg.value !== undefined ? { value: tg.value } : {}) };
          if (i >= 0) cur[i] = tag;
          else cur.push(tag);
        }
        if (cur.length > 50) throw ecsErrors.invalidParameter('A resource can have at most 50 tags.');
        target.tags = cur;
        return {};
      },
      UntagResource(input) {
        const p = new Params(input, V);
        const target = resourceByArn(store, p.str('resourceArn'));
        const keys = p.strList('tagKeys');
        target.tags = (target.tags ?? []).filter((t: any) => !keys.includes(t.key));
        return {};
      },
      ListTagsForResource(input) {
        const p = new Params(input, V);
        return { tags: resourceByArn(store, p.str('resourceArn')).tags ?? [] };
      },
    },
  };
}

function resourceByArn(store: EcsStore, arn: string): { tags?: any[] } {
  const m = /^arn:aws[a-z-]*:ecs:[^:]*:\d*:(cluster|service|task|task-definition)\/(.+)$/.exec(arn);
  if (!m) throw ecsErrors.invalidParameter('The ARN provided is invalid.');
  const [, kind, rest] = m;
  if (kind === 'cluster') {
    const c = store.clusters.get(clusterNameOf(arn));
    if (c) return c;
  } else if (kind === 'service') {
    // arn:…:service/<cluster>/<name>, or the older arn:…:service/<name>
    const parts = rest!.split('/');
    const s =
      parts.length >= 2
        ? store.findService(parts[0]!, parts[1]!)
        : [...store.services.values()].find((x) => x.service.serviceName === parts[0] && x.service.status !== 'INACTIVE');
    if (s) return s.service;
  } else if (kind === 'task') {
    const t = store.tasks.get(taskIdOf(arn));
    if (t) return t.task;
  } else {
    const td = store.findTaskDefinition(arn);
    if (td) {
      const holder = { get tags() { return store.tdTags.get(td.taskDefinitionArn!) ?? []; }, set tags(v: any[]) { store.tdTags.set(td.taskDefinitionArn!, v); } };
      return holder;
    }
  }
  throw ecsErrors.invalidParameter('The specified resource could not be found.');
}
