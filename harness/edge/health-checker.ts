import { Agent, request } from 'undici';
import type { TargetHealth } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Clock } from '../clock.ts';
import { TARGET_HEALTH, type ElbStore, type TargetGroupState, type TargetState } from '../aws/elbv2/store.ts';

/** Real-time floor for a health-check timeout: a loaded CI box must not flap targets at tiny time scales. */
export const MIN_CHECK_TIMEOUT_MS = 1000;
/**
 * Real milliseconds after registration during which a refused connection from a target that
 * never passed a check does not count: ECS registers the target as the task starts, and a
 * process's (or an emulated arm64 container's) start-up time is real, not scaled by the clock.
 * At `--time-scale 1` AWS's own intervals dwarf this; timeouts and wrong codes always count.
 */
export const START_ALLOWANCE_MS = 15_000;

export interface HealthCheckerOptions {
  store: ElbStore;
  clock: Clock;
  /** the address health checks leave from (the ALB's address in the VPC), when the fabric gives one */
  localAddress?: () => string | undefined;
  onError?: (e: unknown) => void;
}

interface Probe {
  tgArn: string;
  key: string;
  timer?: NodeJS.Timeout;
  running: boolean;
  ok: number;
  fail: number;
  checkedOnce: boolean;
  stopped: boolean;
}

/** Whether an HTTP status matches a target group's Matcher.HttpCode ("200", "200,202", "200-299"). */
export function matcherAccepts(httpCode: string | undefined, status: number): boolean {
  for (const part of (httpCode ?? '200').split(',')) {
    const [lo, hi] = part.trim().split('-').map(Number);
    if (hi === undefined ? status === lo : status >= lo! && status <= hi) return true;
  }
  return false;
}

/**
 * The ALB's target health checks: for every registered target of every target group a load
 * balancer uses, an HTTP GET on the group's path/port every interval (scaled by the clock),
 * with AWS's thresholds: a new target is healthy after its first passing check, an initial
 * target is unhealthy after UnhealthyThresholdCount failures, a healthy one after
 * UnhealthyThresholdCount consecutive failures, an unhealthy one healthy again after
 * HealthyThresholdCount consecutive passes. Results go to the ELB store (DescribeTargetHealth).
 */
export class TargetHealthChecker {
  private readonly probes = new Map<string, Probe>();
  private agent: Agent;
  private agentAddress?: string;
  private unsubscribe?: () => void;
  private sweep?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: HealthCheckerOptions) {
    this.agent = new Agent({ keepAliveTimeout: 1, pipelining: 0 });
  }

  start(): void {
    this.unsubscribe = this.opts.store.onChange(() => this.reconcile());
    this.sweep = setInterval(() => this.reconcile(), 200);
    this.sweep.unref();
    this.reconcile();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    if (this.sweep) clearInterval(this.sweep);
    for (const p of this.probes.values()) this.drop(p);
    await this.agent.close().catch(() => undefined);
  }

  private agentFor(): Agent {
    const addr = this.opts.localAddress?.();
    if (addr !== this.agentAddress) {
      void this.agent.close().catch(() => undefined);
      this.agentAddress = addr;
      // undici takes the source address as a client option (a `connect.localAddress` is overridden)
      this.agent = new Agent({ keepAliveTimeout: 1, pipelining: 0, ...(addr ? { localAddress: addr } : {}) });
    }
    return this.agent;
  }

  private drop(p: Probe): void {
    p.stopped = true;
    if (p.timer) clearTimeout(p.timer);
    this.probes.delete(`${p.tgArn}|${p.key}`);
  }

  /** Starts probes for targets that need checking, stops those that don't. */
  reconcile(): void {
    if (this.closed) return;
    const wanted = new Set<string>();
    for (const t of this.opts.store.targetGroups.values()) {
      if (!(t.tg.LoadBalancerArns ?? []).length || t.tg.HealthCheckEnabled === false) continue;
      for (const x of this.opts.store.targetsOf(t.tg.TargetGroupArn!)) {
        if (x.drainUntil !== undefined) continue;
        const k = `${t.tg.TargetGroupArn}|${x.id}:${x.port}`;
        wanted.add(k);
        if (!this.probes.has(k)) {
          const p: Probe = { tgArn: t.tg.TargetGroupArn!, key: `${x.id}:${x.port}`, running: false, ok: 0, fail: 0, checkedOnce: false, stopped: false };
          this.probes.set(k, p);
          // the first check right away: registration → initial checking
          p.timer = setTimeout(() => void this.check(p), 0);
        }
      }
    }
    for (const [k, p] of this.probes) if (!wanted.has(k)) this.drop(p);
  }

  private target(p: Probe): { t: TargetGroupState; x: TargetState } | undefined {
    const t = this.opts.store.targetGroups.get(p.tgArn);
    const x = t?.targets.get(p.key);
    return t && x && x.drainUntil === undefined ? { t, x } : undefined;
  }

  private async check(p: Probe): Promise<void> {
    if (p.stopped || this.closed) return;
    const found = this.target(p);
    if (!found) return this.drop(p);
    const { t, x } = found;
    const tg = t.tg;
    if (x.health.State === 'initial' && x.health.Reason === 'Elb.RegistrationInProgress') {
      this.opts.store.setTargetHealth(p.tgArn, x.id, x.port, TARGET_HEALTH.initialChecking);
    }
    const port = tg.HealthCheckPort === 'traffic-port' || !tg.HealthCheckPort ? x.port : Number(tg.HealthCheckPort);
    const timeoutMs = Math.max(MIN_CHECK_TIMEOUT_MS, this.opts.clock.scaledMs(tg.HealthCheckTimeoutSeconds ?? 5));
    let result: { ok: true } | { ok: false; health: TargetHealth };
    try {
      const res = await request(`${(tg.HealthCheckProtocol ?? 'HTTP').toLowerCase()}://${x.id}:${port}${tg.HealthCheckPath ?? '/'}`, {
        method: 'GET',
        headers: { 'user-agent': 'ELB-HealthChecker/2.0' },
        dispatcher: this.agentFor(),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump().catch(() => undefined);
      result = matcherAccepts(tg.Matcher?.HttpCode, res.statusCode) ? { ok: true } : { ok: false, health: TARGET_HEALTH.codeMismatch(res.statusCode) };
    } catch (e) {
      const code = (e as { code?: string; name?: string })?.code ?? (e as Error)?.name;
      const timedOut = code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'TimeoutError' || code === 'AbortError' || code === 'ETIMEDOUT';
      result = { ok: false, health: timedOut ? TARGET_HEALTH.timeout : TARGET_HEALTH.failed };
    }
    if (p.stopped || this.closed) return;
    const now = this.target(p);
    if (!now) return this.drop(p);
    const cur = now.x.health.State;
    if (result.ok) {
      p.ok++;
      p.fail = 0;
      const healthyAfter = cur === 'unhealthy' ? (tg.HealthyThresholdCount ?? 5) : 1;
      if (cur !== 'healthy' && p.ok >= healthyAfter) this.opts.store.setTargetHealth(p.tgArn, now.x.id, now.x.port, TARGET_HEALTH.healthy);
    } else if (cur === 'initial' && p.ok === 0 && result.health.Reason === 'Target.FailedHealthChecks' && Date.now() - now.x.registeredAt < START_ALLOWANCE_MS) {
      // not listening yet: see START_ALLOWANCE_MS
    } else {
      p.fail++;
      p.ok = 0;
      const threshold = tg.UnhealthyThresholdCount ?? 2;
      if (cur === 'unhealthy' || p.fail >= threshold) this.opts.store.setTargetHealth(p.tgArn, now.x.id, now.x.port, result.health);
    }
    p.checkedOnce = true;
    p.timer = setTimeout(() => void this.check(p), this.opts.clock.scaledMs(tg.HealthCheckIntervalSeconds ?? 30));
  }
}
