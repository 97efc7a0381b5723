import type { TaskState } from '../aws/ecs/store.ts';
import type { EcsStore } from '../aws/ecs/store.ts';
import type { ElbStore } from '../aws/elbv2/store.ts';
import type { LoadBalancerSink } from './deps.ts';
import type { SchedulerHooks } from './scheduler.ts';

/** ECS's side of ELB: registering task targets, and target health as a deployment gate. */
export function elbSink(elb: ElbStore): LoadBalancerSink {
  return {
    register: (tg, ip, port) => elb.registerTargets(tg, [{ Id: ip, Port: port }]),
    deregister: (tg, ip, port) => elb.deregisterTargets(tg, [{ Id: ip, Port: port }]),
  };
}

function taskIp(t: TaskState): string | undefined {
  return t.task.attachments?.[0]?.details?.find((d) => d.name === 'privateIPv4Address')?.value;
}

function targetsOf(ecs: EcsStore, t: TaskState): { targetGroupArn: string; port: number; ip: string }[] {
  const ip = taskIp(t);
  if (!ip || !t.serviceName) return [];
  // the task's own deployment's load balancers: one added later by UpdateService is not its target
  const lbs = t.loadBalancers ?? ecs.findService(t.clusterName, t.serviceName)?.service.loadBalancers ?? [];
  return lbs.filter((lb) => lb.targetGroupArn && lb.containerPort !== undefined).map((lb) => ({ targetGroupArn: lb.targetGroupArn!, port: lb.containerPort!, ip }));
}

/**
 * Scheduler hooks: a task of a service with loadBalancers counts as healthy only when each of
 * its targets is `healthy` (a target group no load balancer uses — `unused`/Target.NotInUse —
 * or one with health checks disabled does not hold it back), and a target that turned
 * `unhealthy` fails the task.
 */
export function elbHooks(ecs: EcsStore, elb: ElbStore): SchedulerHooks {
  const health = (tg: string, ip: string, port: number) => {
    try {
      return elb.targetHealth(tg, ip, port);
    } catch {
      return undefined;
    }
  };
  return {
    targetsHealthy(t) {
      return targetsOf(ecs, t).every((x) => {
        const h = health(x.targetGroupArn, x.ip, x.port);
        return !h || h.State === 'healthy' || h.State === 'unavailable' || (h.State === 'unused' && h.Reason === 'Target.NotInUse');
      });
    },
    targetFailure(t) {
      for (const x of targetsOf(ecs, t)) {
        const h = health(x.targetGroupArn, x.ip, x.port);
        if (h?.State === 'unhealthy') return { targetGroupArn: x.targetGroupArn, port: x.port, reason: h.Description ?? h.Reason ?? 'Health checks failed' };
      }
      return undefined;
    },
  };
}
