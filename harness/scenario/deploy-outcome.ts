import type { EcsStore, ServiceState } from '../aws/ecs/store.ts';
import type { EventLog, TimelineEvent } from '../events.ts';

/** What became of one service a deploy touched. */
export interface ServiceOutcome {
  cluster: string;
  service: string;
  state: 'steady' | 'failed';
  /** one line: the revision it is steady on, or why it failed (AWS's own words where it has them) */
  detail: string;
}

export interface DeployOutcome {
  ok: boolean;
  services: ServiceOutcome[];
  /** the lines to print: one per service, then the verdict */
  lines: string[];
  /** when it failed: `1 of 5 service(s) failed (web)` */
  failure?: string;
}

const revision = (arn: string | undefined) => (arn ? arn.split('/').pop()! : '(none)');

/**
 * After a deploy script: waits until every ECS service it created or updated (the
 * `ecs.deployment` / `ecs.service.updated` events from `fromSeq` on) is steady on its PRIMARY
 * deployment (COMPLETED, alone, running = desired) or has failed, and says which. Failed is
 * what ECS itself says: the circuit breaker failed the deployment (FAILED) or rolled it back,
 * or "is unable to consistently start tasks successfully" (no breaker: ECS retries forever);
 * a service neither steady nor failed by the deadline (the services-stable waiter's 40 × 15 s,
 * scaled, and at least `minWaitMs`) failed too, with its state then.
 */
export async function awaitDeployOutcome(
  h: { store: EcsStore; events: EventLog; scaledMs: (awsSeconds: number) => number },
  fromSeq: number,
  opts: { minWaitMs?: number; pollMs?: number; label?: string } = {},
): Promise<DeployOutcome> {
  const since = (pred: (e: TimelineEvent) => boolean) => h.events.all().filter((e) => e.seq >= fromSeq && pred(e));
  const keys = new Map<string, { cluster: string; service: string }>();
  for (const e of since((x) => (x.type === 'ecs.deployment' && x.status === 'PRIMARY') || x.type === 'ecs.service.updated')) {
    const cluster = String(e.cluster);
    const service = String(e.service);
    keys.set(`${cluster}/${service}`, { cluster, service });
  }
  const label = opts.label ?? 'the deploy';
  if (keys.size === 0) return { ok: true, services: [], lines: [`${label} created or updated no ECS service`] };

  const budgetMs = Math.max(h.scaledMs(40 * 15), opts.minWaitMs ?? 60_000);
  const deadline = Date.now() + budgetMs;
  const outcomes = new Map<string, ServiceOutcome>();
  for (;;) {
    for (const [key, { cluster, service }] of keys) {
      if (outcomes.has(key)) continue;
      const st = h.store.findService(cluster, service);
      const o = st ? judge(st, (pred) => since((e) => e.cluster === cluster && e.service === service && pred(e))) : { state: 'failed' as const, detail: 'the service is gone' };
      if (o) outcomes.set(key, { cluster, service, ...o });
    }
    if (outcomes.size === keys.size || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
  }
  for (const [key, { cluster, service }] of keys) {
    if (outcomes.has(key)) continue;
    const st = h.store.findService(cluster, service);
    const p = st?.service.deployments?.[0];
    const last = st?.service.events?.[0]?.message;
    outcomes.set(key, {
      cluster,
      service,
      state: 'failed',
      detail: `neither steady nor failed after ${(budgetMs / 1000).toFixed(0)} s: PRIMARY ${revision(p?.taskDefinition)} ${p?.rolloutState ?? ''}, running ${p?.runningCount ?? 0}/${p?.desiredCount ?? 0}, failedTasks ${p?.failedTasks ?? 0}, ${st?.service.deployments?.length ?? 0} deployment(s)${last ? `; last event: ${last}` : ''}`,
    });
  }
  const services = [...outcomes.values()];
  const failed = services.filter((s) => s.state === 'failed');
  const width = Math.max(...services.map((s) => s.service.length));
  const lines = services.map((s) => `  ${s.service.padEnd(width)}  ${s.state === 'steady' ? 'steady' : 'FAILED'}: ${s.detail}`);
  const failure = failed.length ? `${failed.length} of ${services.length} service(s) failed (${failed.map((s) => s.service).join(', ')})` : undefined;
  lines.push(failure ? `${label} FAILED: ${failure}` : `${label}: all ${services.length} service(s) steady`);
  return { ok: !failure, services, lines, ...(failure ? { failure } : {}) };
}

/** steady, failed, or undefined (still in progress). */
function judge(st: ServiceState, events: (pred: (e: TimelineEvent) => boolean) => TimelineEvent[]): { state: 'steady' | 'failed'; detail: string } | undefined {
  const s = st.service;
  const primary = s.deployments?.[0];
  const rb = events((e) => e.type === 'ecs.deployment.rollback').at(-1);
  if (rb) {
    const failedEvent = s.events?.find((e) => /deployment failed:/.test(e.message ?? ''))?.message;
    return { state: 'failed', detail: `the circuit breaker failed deployment ${rb.from} and rolled back to ${rb.to} (${revision(rb.taskDefinition as string)})${failedEvent ? `: ${failedEvent}` : ''}` };
  }
  if (primary?.rolloutState === 'FAILED') {
    return { state: 'failed', detail: `deployment ${primary.id} (${revision(primary.taskDefinition)}) FAILED: ${primary.rolloutStateReason}` };
  }
  const unable = events((e) => e.type === 'ecs.service.event' && /is unable to consistently start tasks successfully/.test(String(e.message))).at(-1);
  if (unable) {
    const stopped = events((e) => e.type === 'ecs.deployment.failedTask').at(-1);
    return {
      state: 'failed',
      detail: `${String(unable.message)}${stopped?.stoppedReason ? ` Last stopped task: ${stopped.stoppedReason}` : ''} (deployment ${primary?.id} ${revision(primary?.taskDefinition)} stays IN_PROGRESS: no circuit breaker)`,
    };
  }
  const steady = s.deployments?.length === 1 && primary?.rolloutState === 'COMPLETED' && (s.runningCount ?? 0) === (s.desiredCount ?? 0);
  if (steady) return { state: 'steady', detail: `${revision(primary!.taskDefinition)}, deployment ${primary!.id} COMPLETED, ${s.runningCount}/${s.desiredCount} running` };
  return undefined;
}
