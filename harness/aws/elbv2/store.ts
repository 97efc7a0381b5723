import { randomBytes } from 'node:crypto';
import type {
  Action,
  Listener,
  LoadBalancer,
  Rule,
  RuleCondition,
  Tag,
  TargetDescription,
  TargetGroup,
  TargetHealth,
  TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';

export interface ElbStoreDeps {
  account: string;
  region: string;
  now?: () => Date;
  events?: EventSink;
  /** real milliseconds for an AWS interval in seconds (the harness clock); default: real time */
  scaledMs?: (awsSeconds: number) => number;
  /** the availability zone of a subnet (from EC2), for LoadBalancer.AvailabilityZones */
  subnetZone?: (subnetId: string) => string | undefined;
}

export const elbErrors = {
  validation: (m: string) => new AwsError('ValidationError', m),
  lbNotFound: (m = 'One or more load balancers not found') => new AwsError('LoadBalancerNotFound', m),
  tgNotFound: (m = 'One or more target groups not found') => new AwsError('TargetGroupNotFound', m),
  listenerNotFound: (m = 'One or more listeners not found') => new AwsError('ListenerNotFound', m),
  ruleNotFound: (m = 'One or more rules not found') => new AwsError('RuleNotFound', m),
  duplicateLb: (n: string) => new AwsError('DuplicateLoadBalancerName', `A load balancer with the name '${n}' already exists`),
  duplicateTg: (n: string) => new AwsError('DuplicateTargetGroupName', `A target group with the same name '${n}' exists, but with different settings`),
  duplicateListener: () => new AwsError('DuplicateListener', 'A listener already exists on this port for this load balancer'),
  priorityInUse: (p: number | string) => new AwsError('PriorityInUse', `Priority '${p}' is currently in use`),
  invalidConfig: (m: string) => new AwsError('InvalidConfigurationRequest', m),
  invalidAction: (m: string) => new AwsError('InvalidLoadBalancerAction', m),
  invalidTarget: (m: string) => new AwsError('InvalidTarget', m),
  resourceInUse: (m: string) => new AwsError('ResourceInUse', m),
  notPermitted: (m: string) => new AwsError('OperationNotPermitted', m),
  certificateNotFound: (m = 'Certificate not found') => new AwsError('CertificateNotFound', m),
};

/** AWS's defaults for a target group's attributes (ALB, ip/instance targets). */
export const TARGET_GROUP_ATTRIBUTE_DEFAULTS: Readonly<Record<string, string>> = {
  'deregistration_delay.timeout_seconds': '300',
  'stickiness.enabled': 'false',
  'stickiness.type': 'lb_cookie',
  'stickiness.lb_cookie.duration_seconds': '86400',
  'stickiness.app_cookie.cookie_name': '',
  'stickiness.app_cookie.duration_seconds': '86400',
  'slow_start.duration_seconds': '0',
  'load_balancing.algorithm.type': 'round_robin',
  'load_balancing.algorithm.anomaly_mitigation': 'off',
  'load_balancing.cross_zone.enabled': 'use_load_balancer_configuration',
  'target_group_health.dns_failover.minimum_healthy_targets.count': '1',
  'target_group_health.dns_failover.minimum_healthy_targets.percentage': 'off',
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.count': '1',
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage': 'off',
};

const HOSTED_ZONES: Record<string, string> = {
  'us-east-1': 'Z35SXDOTRQ7X7K',
  'us-east-2': 'Z3AADJGX6KTTL2',
  'us-west-1': 'Z368ELLRRE2KJ0',
  'us-west-2': 'Z1H1FL5HABSF5',
  'eu-west-1': 'Z32O12XQLNTSW2',
  'eu-central-1': 'Z215JYRZR1TBD5',
};

export interface TargetState {
  id: string;
  port: number;
  availabilityZone?: string;
  health: TargetHealth;
  registeredAt: number;
  /** real ms when draining ends (deregistered targets) */
  drainUntil?: number;
}

export interface TargetGroupState {
  tg: TargetGroup;
  attributes: Record<string, string>;
  targets: Map<string, TargetState>;
  tags: Tag[];
}

export interface ListenerState {
  listener: Listener;
  tags: Tag[];
}

export interface RuleState {
  rule: Rule;
  listenerArn: string;
  tags: Tag[];
}

export interface LoadBalancerState {
  lb: LoadBalancer;
  tags: Tag[];
}

export type ElbChange =
  | { kind: 'targets-changed'; targetGroupArn: string }
  | { kind: 'target-health'; targetGroupArn: string; target: TargetState; previous: TargetHealth }
  | { kind: 'config-changed' };

export interface CreateTargetGroupSpec {
  Name: string;
  Protocol?: string;
  ProtocolVersion?: string;
  Port?: number;
  VpcId?: string;
  HealthCheckProtocol?: string;
  HealthCheckPort?: string;
  HealthCheckEnabled?: boolean;
  HealthCheckPath?: string;
  HealthCheckIntervalSeconds?: number;
  HealthCheckTimeoutSeconds?: number;
  HealthyThresholdCount?: number;
  UnhealthyThresholdCount?: number;
  Matcher?: { HttpCode?: string; GrpcCode?: string };
  TargetType?: string;
  IpAddressType?: string;
  Tags?: Tag[];
}

const HEX = () => randomBytes(8).toString('hex');
const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;

export const TARGET_HEALTH = {
  registering: { State: 'initial', Reason: 'Elb.RegistrationInProgress', Description: 'Target registration is in progress' },
  initialChecking: { State: 'initial', Reason: 'Elb.InitialHealthChecking', Description: 'Initial health checks in progress' },
  healthy: { State: 'healthy' },
  notInUse: { State: 'unused', Reason: 'Target.NotInUse', Description: 'Target group is not configured to receive traffic from the load balancer' },
  notRegistered: { State: 'unused', Reason: 'Target.NotRegistered', Description: 'Target is not registered to the target group' },
  draining: { State: 'draining', Reason: 'Target.DeregistrationInProgress', Description: 'Target deregistration is in progress' },
  disabled: { State: 'unavailable', Reason: 'Target.HealthCheckDisabled', Description: 'Health checks are disabled' },
  codeMismatch: (code: number | string) => ({ State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch', Description: `Health checks failed with these codes: [${code}]` }),
  timeout: { State: 'unhealthy', Reason: 'Target.Timeout', Description: 'Request timed out' },
  failed: { State: 'unhealthy', Reason: 'Target.FailedHealthChecks', Description: 'Health checks failed' },
} as const satisfies Record<string, TargetHealth | ((c: number | string) => TargetHealth)>;

/**
 * Elastic Load Balancing v2 state: application load balancers, target groups with their
 * registered targets and target health, listeners and rules. No transport code; the ALB
 * front (harness/edge) reads it and reports health checks back through setTargetHealth.
 */
export class ElbStore {
  readonly loadBalancers = new Map<string, LoadBalancerState>();
  readonly targetGroups = new Map<string, TargetGroupState>();
  readonly listeners = new Map<string, ListenerState>();
  readonly rules = new Map<string, RuleState>();
  private readonly subscribers = new Set<(c: ElbChange) => void>();
  private readonly now: () => Date;
  private readonly scaledMs: (s: number) => number;

  constructor(private readonly deps: ElbStoreDeps) {
    this.now = deps.now ?? (() => new Date());
    this.scaledMs = deps.scaledMs ?? ((s) => s * 1000);
  }

  onChange(fn: (c: ElbChange) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  private emit(c: ElbChange): void {
    for (const fn of this.subscribers) {
      try {
        fn(c);
      } catch {
        /* a subscriber's failure is its own */
      }
    }
  }

  private arn(resource: string): string {
    return `arn:aws:elasticloadbalancing:${this.deps.region}:${this.deps.account}:${resource}`;
  }

  // ------------------------------------------------------------ load balancers

  createLoadBalancer(input: {
    Name: string;
    Subnets?: string[];
    SubnetMappings?: { SubnetId?: string }[];
    SecurityGroups?: string[];
    Scheme?: string;
    Type?: string;
    IpAddressType?: string;
    Tags?: Tag[];
    VpcId?: string;
  }): LoadBalancer {
    const name = input.Name;
    if (!NAME_RE.test(name) || name.startsWith('internal-')) {
      throw elbErrors.validation(`The load balancer name '${name}' is not valid: use at most 32 alphanumeric characters or hyphens, not beginning or ending with a hyphen or 'internal-'`);
    }
    const type = input.Type ?? 'application';
    if (type !== 'application') throw elbErrors.invalidConfig(`Load balancers of type '${type}' are not supported by this harness; use 'application'`);
    const subnets = input.Subnets?.length ? input.Subnets : (input.SubnetMappings ?? []).map((m) => m.SubnetId!).filter(Boolean);
    const existing = [...this.loadBalancers.values()].find((l) => l.lb.LoadBalancerName === name);
    if (existing) {
      const same = (existing.lb.AvailabilityZones ?? []).map((z) => z.SubnetId).sort().join() === [...subnets].sort().join() && (input.Scheme ?? 'internet-facing') === existing.lb.Scheme;
      if (same) return existing.lb;
      throw elbErrors.duplicateLb(name);
    }
    if (subnets.length < 2) throw elbErrors.invalidConfig('At least two subnets in two different Availability Zones must be specified');
    const zones = subnets.map((s, i) => ({ SubnetId: s, ZoneName: this.deps.subnetZone?.(s) ?? `${this.deps.region}${'abcdef'[i % 6]}`, LoadBalancerAddresses: [] }));
    if (new Set(zones.map((z) => z.ZoneName)).size < 2) throw elbErrors.invalidConfig('At least two subnets in two different Availability Zones must be specified');
    const scheme = input.Scheme ?? 'internet-facing';
    const id = HEX();
    const dnsId = String(BigInt('0x' + id.slice(0, 10)) % 10000000000n);
    const lb: LoadBalancer = {
      LoadBalancerArn: this.arn(`loadbalancer/app/${name}/${id}`),
      DNSName: `${scheme === 'internal' ? 'internal-' : ''}${name}-${dnsId}.${this.deps.region}.elb.amazonaws.com`,
      CanonicalHostedZoneId: HOSTED_ZONES[this.deps.region] ?? 'Z368ELLRRE2KJ0',
      CreatedTime: this.now(),
      LoadBalancerName: name,
      Scheme: scheme as LoadBalancer['Scheme'],
      VpcId: input.VpcId,
      State: { Code: 'active' },
      Type: 'application',
      AvailabilityZones: zones,
      SecurityGroups: input.SecurityGroups ?? [],
      IpAddressType: (input.IpAddressType ?? 'ipv4') as LoadBalancer['IpAddressType'],
    };
    this.loadBalancers.set(lb.LoadBalancerArn!, { lb, tags: input.Tags ?? [] });
    this.deps.events?.append('elbv2.loadBalancer.created', { arn: lb.LoadBalancerArn, name });
    this.emit({ kind: 'config-changed' });
    return lb;
  }

  describeLoadBalancers(arns?: string[], names?: string[]): LoadBalancer[] {
    const all = [...this.loadBalancers.values()].map((l) => l.lb);
    if (arns?.length) {
      const found = arns.map((a) => this.loadBalancers.get(a)?.lb);
      if (found.some((x) => !x)) throw elbErrors.lbNotFound();
      return found as LoadBalancer[];
    }
    if (names?.length) {
      const found = names.map((n) => all.find((l) => l.LoadBalancerName === n));
      if (found.some((x) => !x)) throw elbErrors.lbNotFound(`Load balancers '[${names.filter((n, i) => !found[i]).join(', ')}]' not found`);
      return found as LoadBalancer[];
    }
    return all;
  }

  loadBalancer(arn: string): LoadBalancerState {
    const l = this.loadBalancers.get(arn);
    if (!l) throw elbErrors.lbNotFound(`Load balancer '${arn}' not found`);
    return l;
  }

  deleteLoadBalancer(arn: string): void {
    if (!this.loadBalancers.has(arn)) {
      if (!/^arn:aws:elasticloadbalancing:/.test(arn)) throw elbErrors.validation(`'${arn}' is not a valid load balancer ARN`);
      return; // idempotent, as AWS
    }
    for (const [la, l] of this.listeners) if (l.listener.LoadBalancerArn === arn) this.deleteListener(la);
    this.loadBalancers.delete(arn);
    this.deps.events?.append('elbv2.loadBalancer.deleted', { arn });
    this.refreshAssociations();
  }

  // ------------------------------------------------------------ target groups

  createTargetGroup(input: CreateTargetGroupSpec): TargetGroup {
    const name = input.Name;
    if (!NAME_RE.test(name)) throw elbErrors.validation(`Target group name '${name}' can only contain characters that are alphanumeric characters or hyphens(-), must be at most 32 characters, and must not begin or end with a hyphen`);
    const targetType = input.TargetType ?? 'instance';
    if (!['instance', 'ip', 'lambda', 'alb'].includes(targetType)) throw elbErrors.validation(`Target type '${targetType}' is not valid`);
    const protocol = input.Protocol;
    if (targetType !== 'lambda') {
      if (!protocol) throw elbErrors.validation('A protocol must be specified');
      if (input.Port === undefined) throw elbErrors.validation('A port must be specified');
      if (!input.VpcId) throw elbErrors.validation('A VPC ID must be specified');
    }
    if (protocol && !['HTTP', 'HTTPS'].includes(protocol)) throw elbErrors.invalidConfig(`Protocol '${protocol}' is not supported for application load balancer target groups in this harness`);
    if (input.Port !== undefined && (input.Port < 1 || input.Port > 65535)) throw elbErrors.validation(`Port '${input.Port}' must be between 1 and 65535`);
    const tg: TargetGroup = {
      TargetGroupArn: '',
      TargetGroupName: name,
      Protocol: protocol as TargetGroup['Protocol'],
      Port: input.Port,
      VpcId: input.VpcId,
      HealthCheckProtocol: (input.HealthCheckProtocol ?? protocol ?? 'HTTP') as TargetGroup['HealthCheckProtocol'],
      HealthCheckPort: input.HealthCheckPort ?? 'traffic-port',
      HealthCheckEnabled: input.HealthCheckEnabled ?? true,
      HealthCheckIntervalSeconds: input.HealthCheckIntervalSeconds ?? 30,
      HealthCheckTimeoutSeconds: input.HealthCheckTimeoutSeconds ?? 5,
      HealthyThresholdCount: input.HealthyThresholdCount ?? 5,
      UnhealthyThresholdCount: input.UnhealthyThresholdCount ?? 2,
      HealthCheckPath: input.HealthCheckPath ?? '/',
      Matcher: { HttpCode: input.Matcher?.HttpCode ?? '200' },
      LoadBalancerArns: [],
      TargetType: targetType as TargetGroup['TargetType'],
      ProtocolVersion: input.ProtocolVersion ?? 'HTTP1',
      IpAddressType: (input.IpAddressType ?? 'ipv4') as TargetGroup['IpAddressType'],
    };
    validateHealthCheck(tg);
    const existing = [...this.targetGroups.values()].find((t) => t.tg.TargetGroupName === name);
    if (existing) {
      const a = existing.tg;
      const keys: (keyof TargetGroup)[] = ['Protocol', 'Port', 'VpcId', 'TargetType', 'HealthCheckProtocol', 'HealthCheckPort', 'HealthCheckPath', 'HealthCheckIntervalSeconds', 'HealthCheckTimeoutSeconds', 'HealthyThresholdCount', 'UnhealthyThresholdCount'];
      if (keys.every((k) => a[k] === tg[k]) && a.Matcher?.HttpCode === tg.Matcher?.HttpCode) return a;
      throw elbErrors.duplicateTg(name);
    }
    tg.TargetGroupArn = this.arn(`targetgroup/${name}/${HEX()}`);
    this.targetGroups.set(tg.TargetGroupArn, { tg, attributes: { ...TARGET_GROUP_ATTRIBUTE_DEFAULTS }, targets: new Map(), tags: input.Tags ?? [] });
    this.deps.events?.append('elbv2.targetGroup.created', { arn: tg.TargetGroupArn, name });
    this.emit({ kind: 'config-changed' });
    return tg;
  }

  targetGroup(arn: string): TargetGroupState {
    const t = this.targetGroups.get(arn);
    if (!t) throw elbErrors.tgNotFound(`Target groups '${arn}' not found`);
    return t;
  }

  describeTargetGroups(q: { arns?: string[]; names?: string[]; loadBalancerArn?: string }): TargetGroup[] {
    const all = [...this.targetGroups.values()].map((t) => t.tg);
    if (q.loadBalancerArn) {
      this.loadBalancer(q.loadBalancerArn);
      return all.filter((t) => t.LoadBalancerArns?.includes(q.loadBalancerArn!));
    }
    if (q.arns?.length) {
      const found = q.arns.map((a) => this.targetGroups.get(a)?.tg);
      if (found.some((x) => !x)) throw elbErrors.tgNotFound();
      return found as TargetGroup[];
    }
    if (q.names?.length) {
      const found = q.names.map((n) => all.find((t) => t.TargetGroupName === n));
      if (found.some((x) => !x)) throw elbErrors.tgNotFound(`One or more target groups not found`);
      return found as TargetGroup[];
    }
    return all;
  }

  modifyTargetGroup(arn: string, input: Partial<CreateTargetGroupSpec>): TargetGroup {
    const t = this.targetGroup(arn);
    const next: TargetGroup = { ...t.tg };
    if (input.HealthCheckProtocol !== undefined) next.HealthCheckProtocol = input.HealthCheckProtocol as TargetGroup['HealthCheckProtocol'];
    if (input.HealthCheckPort !== undefined) next.HealthCheckPort = input.HealthCheckPort;
    if (input.HealthCheckPath !== undefined) next.HealthCheckPath = input.HealthCheckPath;
    if (input.HealthCheckEnabled !== undefined) next.HealthCheckEnabled = input.HealthCheckEnabled;
    if (input.HealthCheckIntervalSeconds !== undefined) next.HealthCheckIntervalSeconds = input.HealthCheckIntervalSeconds;
    if (input.HealthCheckTimeoutSeconds !== undefined) next.HealthCheckTimeoutSeconds = input.HealthCheckTimeoutSeconds;
    if (input.HealthyThresholdCount !== undefined) next.HealthyThresholdCount = input.HealthyThresholdCount;
    if (input.UnhealthyThresholdCount !== undefined) next.UnhealthyThresholdCount = input.UnhealthyThresholdCount;
    if (input.Matcher?.HttpCode !== undefined) next.Matcher = { HttpCode: input.Matcher.HttpCode };
    validateHealthCheck(next);
    Object.assign(t.tg, next);
    this.emit({ kind: 'config-changed' });
    return t.tg;
  }

  describeTargetGroupAttributes(arn: string): { Key: string; Value: string }[] {
    return Object.entries(this.targetGroup(arn).attributes).map(([Key, Value]) => ({ Key, Value }));
  }

  modifyTargetGroupAttributes(arn: string, attrs: { Key: string; Value: string }[]): { Key: string; Value: string }[] {
    const t = this.targetGroup(arn);
    for (const { Key, Value } of attrs) {
      if (!(Key in TARGET_GROUP_ATTRIBUTE_DEFAULTS)) throw elbErrors.validation(`Target group attribute key '${Key}' is not recognized`);
      if (Key === 'deregistration_delay.timeout_seconds' || Key === 'slow_start.duration_seconds' || Key.endsWith('duration_seconds')) {
        const n = Number(Value);
        const max = Key === 'deregistration_delay.timeout_seconds' ? 3600 : Key === 'slow_start.duration_seconds' ? 900 : 604800;
        if (!/^\d+$/.test(Value) || n > max) throw elbErrors.validation(`'${Value}' is not a valid value for target group attribute '${Key}': it must be an integer from 0 to ${max}`);
      }
      if (Key === 'stickiness.enabled' && !['true', 'false'].includes(Value)) throw elbErrors.validation(`'${Value}' is not a valid value for target group attribute '${Key}'`);
    }
    for (const { Key, Value } of attrs) t.attributes[Key] = Value;
    return this.describeTargetGroupAttributes(arn);
  }

  deleteTargetGroup(arn: string): void {
    const t = this.targetGroups.get(arn);
    if (!t) return;
    for (const l of this.listeners.values()) if (actionsUse(l.listener.DefaultActions, arn)) throw elbErrors.resourceInUse(`Target group '${arn}' is currently in use by a listener or a rule`);
    for (const r of this.rules.values()) if (actionsUse(r.rule.Actions, arn)) throw elbErrors.resourceInUse(`Target group '${arn}' is currently in use by a listener or a rule`);
    this.targetGroups.delete(arn);
    this.deps.events?.append('elbv2.targetGroup.deleted', { arn });
    this.emit({ kind: 'config-changed' });
  }

  /** Deregistration delay of a target group, in AWS seconds. */
  deregistrationDelaySeconds(arn: string): number {
    return Number(this.targetGroup(arn).attributes['deregistration_delay.timeout_seconds'] ?? 300);
  }

  // ------------------------------------------------------------ targets

  private inUse(t: TargetGroupState): boolean {
    return (t.tg.LoadBalancerArns ?? []).length > 0;
  }

  private expireDraining(t: TargetGroupState): void {
    const now = Date.now();
    for (const [k, x] of t.targets) {
      if (x.drainUntil !== undefined && now >= x.drainUntil) {
        t.targets.delete(k);
        this.deps.events?.append('elbv2.target.deregistered', { targetGroupArn: t.tg.TargetGroupArn, id: x.id, port: x.port });
      }
    }
  }

  registerTargets(arn: string, targets: TargetDescription[]): void {
    const t = this.targetGroup(arn);
    this.expireDraining(t);
    for (const d of targets) {
      if (!d.Id) throw elbErrors.validation('A target ID must be specified');
      if (t.tg.TargetType === 'ip' && !/^\d{1,3}(\.\d{1,3}){3}$/.test(d.Id)) throw elbErrors.invalidTarget(`The IP address '${d.Id}' is not a valid IPv4 address`);
      const port = d.Port ?? t.tg.Port;
      if (port === undefined) throw elbErrors.validation('A port must be specified');
    }
    for (const d of targets) {
      const port = d.Port ?? t.tg.Port!;
      const key = `${d.Id}:${port}`;
      const cur = t.targets.get(key);
      if (cur && cur.drainUntil === undefined) continue;
      const health: TargetHealth = !this.inUse(t) ? { ...TARGET_HEALTH.notInUse } : t.tg.HealthCheckEnabled === false ? { ...TARGET_HEALTH.disabled } : { ...TARGET_HEALTH.registering };
      t.targets.set(key, { id: d.Id!, port, availabilityZone: d.AvailabilityZone, health, registeredAt: Date.now() });
      this.deps.events?.append('elbv2.target.registered', { targetGroupArn: arn, id: d.Id, port });
    }
    this.emit({ kind: 'targets-changed', targetGroupArn: arn });
  }

  /** Starts draining the targets; returns the deregistration delay (AWS seconds). */
  deregisterTargets(arn: string, targets: TargetDescription[]): number {
    const t = this.targetGroup(arn);
    this.expireDraining(t);
    const keys = targets.map((d) => {
      if (!d.Id) throw elbErrors.validation('A target ID must be specified');
      const key = `${d.Id}:${d.Port ?? t.tg.Port}`;
      if (!t.targets.has(key)) throw elbErrors.invalidTarget(`The following targets are not registered in target group '${arn}': '${d.Id}'`);
      return key;
    });
    const delay = this.deregistrationDelaySeconds(arn);
    for (const k of keys) {
      const x = t.targets.get(k)!;
      if (x.drainUntil !== undefined) continue;
      if (!this.inUse(t) || delay === 0) {
        t.targets.delete(k);
        this.deps.events?.append('elbv2.target.deregistered', { targetGroupArn: arn, id: x.id, port: x.port });
        continue;
      }
      x.drainUntil = Date.now() + this.scaledMs(delay);
      x.health = { ...TARGET_HEALTH.draining };
      this.deps.events?.append('elbv2.target.draining', { targetGroupArn: arn, id: x.id, port: x.port, delaySeconds: delay });
    }
    this.emit({ kind: 'targets-changed', targetGroupArn: arn });
    return this.inUse(t) ? delay : 0;
  }

  /** Registered targets (draining ones included) of a target group. */
  targetsOf(arn: string): TargetState[] {
    const t = this.targetGroup(arn);
    this.expireDraining(t);
    return [...t.targets.values()];
  }

  /** The health of one target as DescribeTargetHealth reports it. */
  targetHealth(arn: string, id: string, port?: number): TargetHealth {
    const t = this.targetGroup(arn);
    this.expireDraining(t);
    const x = t.targets.get(`${id}:${port ?? t.tg.Port}`);
    return x ? { ...x.health } : { ...TARGET_HEALTH.notRegistered };
  }

  describeTargetHealth(arn: string, targets?: TargetDescription[]): TargetHealthDescription[] {
    const t = this.targetGroup(arn);
    this.expireDraining(t);
    const hcPort = (x: { port: number }) => (t.tg.HealthCheckPort === 'traffic-port' ? String(x.port) : t.tg.HealthCheckPort);
    const describe = (x: TargetState): TargetHealthDescription => ({
      Target: { Id: x.id, Port: x.port, ...(x.availabilityZone ? { AvailabilityZone: x.availabilityZone } : {}) },
      HealthCheckPort: hcPort(x),
      TargetHealth: { ...x.health },
    });
    if (!targets?.length) return [...t.targets.values()].map(describe);
    const out: TargetHealthDescription[] = [];
    for (const d of targets) {
      if (!d.Id) throw elbErrors.validation('A target ID must be specified');
      const matches = [...t.targets.values()].filter((x) => x.id === d.Id && (d.Port === undefined || x.port === d.Port));
      if (matches.length) out.push(...matches.map(describe));
      else {
        const port = d.Port ?? t.tg.Port!;
        out.push({ Target: { Id: d.Id, Port: port }, HealthCheckPort: hcPort({ port }), TargetHealth: { ...TARGET_HEALTH.notRegistered } });
      }
    }
    return out;
  }

  /** The ALB front's health checker reports a target's new health here. */
  setTargetHealth(arn: string, id: string, port: number, health: TargetHealth): void {
    const t = this.targetGroups.get(arn);
    const x = t?.targets.get(`${id}:${port}`);
    if (!t || !x || x.drainUntil !== undefined) return;
    const prev = x.health;
    if (prev.State === health.State && prev.Reason === health.Reason && prev.Description === health.Description) return;
    x.health = { ...health };
    this.deps.events?.append('elbv2.target.health', { targetGroupArn: arn, id, port, state: health.State, reason: health.Reason, description: health.Description });
    this.emit({ kind: 'target-health', targetGroupArn: arn, target: x, previous: prev });
  }

  // ------------------------------------------------------------ listeners and rules

  createListener(input: { LoadBalancerArn: string; Protocol?: string; Port?: number; SslPolicy?: string; Certificates?: { CertificateArn?: string }[]; DefaultActions: Action[]; Tags?: Tag[] }): Listener {
    const lb = this.loadBalancer(input.LoadBalancerArn);
    const protocol = input.Protocol ?? 'HTTP';
    if (!['HTTP', 'HTTPS'].includes(protocol)) throw new AwsError('UnsupportedProtocol', `Protocol '${protocol}' is not supported for application load balancers`);
    const port = input.Port ?? (protocol === 'HTTPS' ? 443 : 80);
    if (port < 1 || port > 65535) throw elbErrors.validation(`Port '${port}' must be between 1 and 65535`);
    if (protocol === 'HTTPS' && !input.Certificates?.length) throw elbErrors.validation('A certificate must be specified for HTTPS listeners');
    for (const c of input.Certificates ?? []) if (!c.CertificateArn || !/^arn:aws:(acm|iam):/.test(c.CertificateArn)) throw elbErrors.certificateNotFound(`Certificate '${c.CertificateArn ?? ''}' not found`);
    const actions = this.checkActions(input.DefaultActions, protocol, true);
    const same = [...this.listeners.values()].find((l) => l.listener.LoadBalancerArn === input.LoadBalancerArn && l.listener.Port === port);
    if (same) {
      if (same.listener.Protocol === protocol && JSON.stringify(same.listener.DefaultActions) === JSON.stringify(actions)) return same.listener;
      throw elbErrors.duplicateListener();
    }
    const lbPath = lb.lb.LoadBalancerArn!.split(':loadbalancer/')[1]!;
    const listener: Listener = {
      ListenerArn: this.arn(`listener/${lbPath}/${HEX()}`),
      LoadBalancerArn: input.LoadBalancerArn,
      Port: port,
      Protocol: protocol as Listener['Protocol'],
      DefaultActions: actions,
      ...(protocol === 'HTTPS'
        ? { Certificates: (input.Certificates ?? []).map((c) => ({ CertificateArn: c.CertificateArn })), SslPolicy: input.SslPolicy ?? 'ELBSecurityPolicy-2016-08' }
        : {}),
    };
    this.listeners.set(listener.ListenerArn!, { listener, tags: input.Tags ?? [] });
    const defaultRule: Rule = { RuleArn: this.ruleArn(listener.ListenerArn!), Priority: 'default', Conditions: [], Actions: actions, IsDefault: true };
    this.rules.set(defaultRule.RuleArn!, { rule: defaultRule, listenerArn: listener.ListenerArn!, tags: [] });
    this.deps.events?.append('elbv2.listener.created', { arn: listener.ListenerArn, protocol, port });
    this.refreshAssociations();
    return listener;
  }

  private ruleArn(listenerArn: string): string {
    return listenerArn.replace(':listener/', ':listener-rule/') + '/' + HEX();
  }

  listener(arn: string): ListenerState {
    const l = this.listeners.get(arn);
    if (!l) throw elbErrors.listenerNotFound(`Listener '${arn}' not found`);
    return l;
  }

  describeListeners(q: { loadBalancerArn?: string; arns?: string[] }): Listener[] {
    if (q.arns?.length) {
      const found = q.arns.map((a) => this.listeners.get(a)?.listener);
      if (found.some((x) => !x)) throw elbErrors.listenerNotFound();
      return found as Listener[];
    }
    if (!q.loadBalancerArn) throw elbErrors.validation('You must specify either listener ARNs or a load balancer ARN');
    this.loadBalancer(q.loadBalancerArn);
    return [...this.listeners.values()].map((l) => l.listener).filter((l) => l.LoadBalancerArn === q.loadBalancerArn);
  }

  modifyListener(arn: string, input: { Port?: number; Protocol?: string; Certificates?: { CertificateArn?: string }[]; DefaultActions?: Action[]; SslPolicy?: string }): Listener {
    const l = this.listener(arn).listener;
    const protocol = input.Protocol ?? l.Protocol!;
    if (input.DefaultActions) {
      l.DefaultActions = this.checkActions(input.DefaultActions, protocol, true);
      const def = [...this.rules.values()].find((r) => r.listenerArn === arn && r.rule.IsDefault);
      if (def) def.rule.Actions = l.DefaultActions;
    }
    if (input.Port !== undefined) l.Port = input.Port;
    if (input.Protocol) l.Protocol = input.Protocol as Listener['Protocol'];
    if (input.Certificates) l.Certificates = input.Certificates.map((c) => ({ CertificateArn: c.CertificateArn }));
    if (input.SslPolicy) l.SslPolicy = input.SslPolicy;
    this.refreshAssociations();
    return l;
  }

  deleteListener(arn: string): void {
    if (!this.listeners.has(arn)) throw elbErrors.listenerNotFound(`Listener '${arn}' not found`);
    for (const [ra, r] of this.rules) if (r.listenerArn === arn) this.rules.delete(ra);
    this.listeners.delete(arn);
    this.refreshAssociations();
  }

  createRule(input: { ListenerArn: string; Priority: number; Conditions: RuleCondition[]; Actions: Action[]; Tags?: Tag[] }): Rule {
    const l = this.listener(input.ListenerArn);
    if (!Number.isInteger(input.Priority) || input.Priority < 1 || input.Priority > 50000) throw elbErrors.validation(`Priority '${input.Priority}' must be between 1 and 50000`);
    const conditions = checkConditions(input.Conditions);
    const actions = this.checkActions(input.Actions, l.listener.Protocol!, false);
    for (const r of this.rules.values()) if (r.listenerArn === input.ListenerArn && r.rule.Priority === String(input.Priority)) throw elbErrors.priorityInUse(input.Priority);
    const rule: Rule = { RuleArn: this.ruleArn(input.ListenerArn), Priority: String(input.Priority), Conditions: conditions, Actions: actions, IsDefault: false };
    this.rules.set(rule.RuleArn!, { rule, listenerArn: input.ListenerArn, tags: input.Tags ?? [] });
    this.deps.events?.append('elbv2.rule.created', { arn: rule.RuleArn, listenerArn: input.ListenerArn, priority: rule.Priority, actions: actions.map((a) => a.Type) });
    this.refreshAssociations();
    return rule;
  }

  rule(arn: string): RuleState {
    const r = this.rules.get(arn);
    if (!r) throw elbErrors.ruleNotFound(`Rule '${arn}' not found`);
    return r;
  }

  describeRules(q: { listenerArn?: string; arns?: string[] }): Rule[] {
    if (q.arns?.length) {
      const found = q.arns.map((a) => this.rules.get(a)?.rule);
      if (found.some((x) => !x)) throw elbErrors.ruleNotFound();
      return found as Rule[];
    }
    if (!q.listenerArn) throw elbErrors.validation('You must specify either listener rule ARNs or a listener ARN');
    this.listener(q.listenerArn);
    return this.rulesOf(q.listenerArn);
  }

  /** A listener's rules in evaluation order: ascending priority, the default rule last. */
  rulesOf(listenerArn: string): Rule[] {
    return [...this.rules.values()]
      .filter((r) => r.listenerArn === listenerArn)
      .map((r) => r.rule)
      .sort((a, b) => (a.IsDefault ? 1 : 0) - (b.IsDefault ? 1 : 0) || Number(a.Priority) - Number(b.Priority));
  }

  modifyRule(arn: string, input: { Conditions?: RuleCondition[]; Actions?: Action[] }): Rule {
    const r = this.rule(arn);
    const l = this.listener(r.listenerArn);
    if (r.rule.IsDefault && input.Conditions?.length) throw elbErrors.notPermitted('Conditions cannot be added to a default rule');
    if (input.Conditions) r.rule.Conditions = checkConditions(input.Conditions);
    if (input.Actions) {
      r.rule.Actions = this.checkActions(input.Actions, l.listener.Protocol!, r.rule.IsDefault === true);
      if (r.rule.IsDefault) l.listener.DefaultActions = r.rule.Actions;
    }
    this.refreshAssociations();
    return r.rule;
  }

  setRulePriorities(priorities: { RuleArn: string; Priority: number }[]): Rule[] {
    const rules = priorities.map((p) => ({ r: this.rule(p.RuleArn), p: p.Priority }));
    for (const { r } of rules) if (r.rule.IsDefault) throw elbErrors.notPermitted('The default rule priority cannot be changed');
    for (const { r, p } of rules) {
      for (const o of this.rules.values()) {
        if (o.listenerArn === r.listenerArn && o.rule.Priority === String(p) && !rules.some((x) => x.r === o)) throw elbErrors.priorityInUse(p);
      }
    }
    for (const { r, p } of rules) r.rule.Priority = String(p);
    this.emit({ kind: 'config-changed' });
    return rules.map((x) => x.r.rule);
  }

  deleteRule(arn: string): void {
    const r = this.rule(arn);
    if (r.rule.IsDefault) throw elbErrors.notPermitted('Default rules cannot be deleted');
    this.rules.delete(arn);
    this.refreshAssociations();
  }

  /** Tags of any ELBv2 resource by ARN. */
  tagsOf(arn: string): Tag[] | undefined {
    return (this.loadBalancers.get(arn) ?? this.targetGroups.get(arn) ?? this.listeners.get(arn) ?? this.rules.get(arn))?.tags;
  }

  /** The load balancer a listener belongs to, by listener ARN. */
  loadBalancerOfListener(listenerArn: string): LoadBalancer | undefined {
    const l = this.listeners.get(listenerArn);
    return l ? this.loadBalancers.get(l.listener.LoadBalancerArn!)?.lb : undefined;
  }

  // ------------------------------------------------------------ internals

  private checkActions(actions: Action[] | undefined, protocol: string, isDefault: boolean): Action[] {
    if (!actions?.length) throw elbErrors.validation('At least one action must be specified');
    const out = actions.map((a, i) => this.checkAction(a, protocol, i));
    out.sort((a, b) => a.Order! - b.Order!);
    if (new Set(out.map((a) => a.Order)).size !== out.length) throw elbErrors.invalidAction('Action orders must be unique');
    const last = out[out.length - 1]!;
    if (!['forward', 'redirect', 'fixed-response'].includes(last.Type!)) throw elbErrors.invalidAction(`The last action must be one of the following types: 'forward', 'redirect', 'fixed-response'`);
    const terminal = out.filter((a) => ['forward', 'redirect', 'fixed-response'].includes(a.Type!));
    if (terminal.length > 1) throw elbErrors.invalidAction('Only one forward, redirect or fixed-response action can be specified');
    if (out.filter((a) => a.Type === 'authenticate-cognito' || a.Type === 'authenticate-oidc' || a.Type === 'jwt-validation').length > 1) {
      throw elbErrors.invalidAction('Only one authentication action can be specified');
    }
    void isDefault;
    return out;
  }

  private checkAction(a: Action, protocol: string, index: number): Action {
    const type = a.Type;
    const order = a.Order ?? index + 1;
    if (!Number.isInteger(order) || order < 1 || order > 50000) throw elbErrors.validation(`Action order '${a.Order}' must be between 1 and 50000`);
    switch (type) {
      case 'forward': {
        const groups = a.ForwardConfig?.TargetGroups ?? [];
        if (!a.TargetGroupArn && !groups.length) throw elbErrors.validation('A target group ARN must be specified for a forward action');
        if (a.TargetGroupArn && groups.length && !(groups.length === 1 && groups[0]!.TargetGroupArn === a.TargetGroupArn)) {
          throw elbErrors.invalidAction('You cannot specify both a target group ARN and a forward config with different target groups');
        }
        const list = groups.length ? groups : [{ TargetGroupArn: a.TargetGroupArn }];
        if (list.length > 5) throw elbErrors.invalidAction('A forward action can have at most 5 target groups');
        for (const g of list) {
          if (!g.TargetGroupArn || !this.targetGroups.has(g.TargetGroupArn)) throw elbErrors.tgNotFound(`Target group '${g.TargetGroupArn ?? ''}' not found`);
          if (g.Weight !== undefined && (g.Weight < 0 || g.Weight > 999)) throw elbErrors.validation(`Target group weight '${g.Weight}' must be between 0 and 999`);
        }
        const fc = {
          TargetGroups: list.map((g) => ({ TargetGroupArn: g.TargetGroupArn, Weight: g.Weight ?? 1 })),
          TargetGroupStickinessConfig: { Enabled: a.ForwardConfig?.TargetGroupStickinessConfig?.Enabled ?? false, ...(a.ForwardConfig?.TargetGroupStickinessConfig?.DurationSeconds !== undefined ? { DurationSeconds: a.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds } : {}) },
        };
        return { Type: 'forward', ...(list.length === 1 ? { TargetGroupArn: list[0]!.TargetGroupArn } : {}), Order: order, ForwardConfig: fc };
      }
      case 'fixed-response': {
        const c = a.FixedResponseConfig;
        if (!c?.StatusCode) throw elbErrors.validation('A status code must be specified for a fixed-response action');
        if (!/^[245]\d\d$/.test(c.StatusCode)) throw elbErrors.validation(`Status code '${c.StatusCode}' must be a 2XX, 4XX or 5XX code`);
        if (c.ContentType && !['text/plain', 'text/css', 'text/html', 'application/javascript', 'application/json'].includes(c.ContentType)) {
          throw elbErrors.validation(`Content type '${c.ContentType}' is not valid`);
        }
        if ((c.MessageBody ?? '').length > 1024) throw elbErrors.validation('The message body cannot be longer than 1024 characters');
        return { Type: 'fixed-response', Order: order, FixedResponseConfig: { ...(c.MessageBody !== undefined ? { MessageBody: c.MessageBody } : {}), StatusCode: c.StatusCode, ...(c.ContentType ? { ContentType: c.ContentType } : {}) } };
      }
      case 'redirect': {
        const c = a.RedirectConfig;
        if (!c?.StatusCode) throw elbErrors.validation('A status code must be specified for a redirect action');
        if (!['HTTP_301', 'HTTP_302'].includes(c.StatusCode)) throw elbErrors.validation(`Redirect status code '${c.StatusCode}' must be HTTP_301 or HTTP_302`);
        return {
          Type: 'redirect',
          Order: order,
          RedirectConfig: { Protocol: c.Protocol ?? '#{protocol}', Port: c.Port ?? '#{port}', Host: c.Host ?? '#{host}', Path: c.Path ?? '/#{path}', Query: c.Query ?? '#{query}', StatusCode: c.StatusCode },
        };
      }
      case 'authenticate-cognito': {
        if (protocol !== 'HTTPS') throw elbErrors.invalidAction("Authenticate actions are only supported on HTTPS listeners");
        const c = a.AuthenticateCognitoConfig;
        if (!c?.UserPoolArn || !c.UserPoolClientId || !c.UserPoolDomain) throw elbErrors.validation('UserPoolArn, UserPoolClientId and UserPoolDomain must be specified for an authenticate-cognito action');
        if (!/^arn:aws:cognito-idp:[a-z0-9-]+:\d{12}:userpool\/[\w-]+_[0-9a-zA-Z]+$/.test(c.UserPoolArn)) throw elbErrors.invalidAction(`User pool ARN '${c.UserPoolArn}' is not valid`);
        return {
          Type: 'authenticate-cognito',
          Order: order,
          AuthenticateCognitoConfig: {
            UserPoolArn: c.UserPoolArn,
            UserPoolClientId: c.UserPoolClientId,
            UserPoolDomain: c.UserPoolDomain,
            SessionCookieName: c.SessionCookieName ?? 'AWSELBAuthSessionCookie',
            Scope: c.Scope ?? 'openid',
            SessionTimeout: c.SessionTimeout ?? 604800,
            ...(c.AuthenticationRequestExtraParams ? { AuthenticationRequestExtraParams: c.AuthenticationRequestExtraParams } : {}),
            OnUnauthenticatedRequest: c.OnUnauthenticatedRequest ?? 'authenticate',
          },
        };
      }
      case 'authenticate-oidc': {
        if (protocol !== 'HTTPS') throw elbErrors.invalidAction('Authenticate actions are only supported on HTTPS listeners');
        const c = a.AuthenticateOidcConfig;
        if (!c?.Issuer || !c.AuthorizationEndpoint || !c.TokenEndpoint || !c.UserInfoEndpoint || !c.ClientId) {
          throw elbErrors.validation('Issuer, AuthorizationEndpoint, TokenEndpoint, UserInfoEndpoint and ClientId must be specified for an authenticate-oidc action');
        }
        const { ClientSecret: _secret, UseExistingClientSecret: _use, ...shown } = c;
        return {
          Type: 'authenticate-oidc',
          Order: order,
          AuthenticateOidcConfig: {
            ...shown,
            SessionCookieName: c.SessionCookieName ?? 'AWSELBAuthSessionCookie',
            Scope: c.Scope ?? 'openid',
            SessionTimeout: c.SessionTimeout ?? 604800,
            OnUnauthenticatedRequest: c.OnUnauthenticatedRequest ?? 'authenticate',
          },
          // the client secret is write-only in AWS; keep it off the wire but on the rule for the front
          ...({ [CLIENT_SECRET]: c.ClientSecret } as object),
        };
      }
      case 'jwt-validation': {
        if (protocol !== 'HTTPS') throw elbErrors.invalidAction('JWT validation actions are only supported on HTTPS listeners');
        const c = a.JwtValidationConfig;
        if (!c?.JwksEndpoint || !c.Issuer) throw elbErrors.validation('JwksEndpoint and Issuer must be specified for a jwt-validation action');
        for (const claim of c.AdditionalClaims ?? []) {
          if (!claim.Name || !claim.Format || !claim.Values?.length) throw elbErrors.validation('Each additional claim needs a Name, a Format and Values');
          if (!['single-string', 'string-array', 'space-separated-values'].includes(claim.Format)) throw elbErrors.validation(`Claim format '${claim.Format}' is not valid`);
          if (['exp', 'iss', 'nbf', 'iat'].includes(claim.Name)) throw elbErrors.validation(`Claim '${claim.Name}' is validated by default and cannot be an additional claim`);
        }
        return { Type: 'jwt-validation', Order: order, JwtValidationConfig: { JwksEndpoint: c.JwksEndpoint, Issuer: c.Issuer, ...(c.AdditionalClaims?.length ? { AdditionalClaims: c.AdditionalClaims } : {}) } };
      }
      default:
        throw elbErrors.validation(`Action type '${String(type)}' must be one of 'forward', 'authenticate-oidc', 'authenticate-cognito', 'redirect', 'fixed-response', 'jwt-validation'`);
    }
  }

  /** TargetGroup.LoadBalancerArns follows the listeners' and rules' forward actions. */
  private refreshAssociations(): void {
    const assoc = new Map<string, Set<string>>();
    const note = (actions: Action[] | undefined, lbArn: string) => {
      for (const a of actions ?? []) for (const g of forwardTargets(a)) (assoc.get(g.arn) ?? assoc.set(g.arn, new Set()).get(g.arn)!).add(lbArn);
    };
    for (const l of this.listeners.values()) note(l.listener.DefaultActions, l.listener.LoadBalancerArn!);
    for (const r of this.rules.values()) {
      const lb = this.listeners.get(r.listenerArn)?.listener.LoadBalancerArn;
      if (lb) note(r.rule.Actions, lb);
    }
    for (const t of this.targetGroups.values()) {
      const was = (t.tg.LoadBalancerArns ?? []).length > 0;
      t.tg.LoadBalancerArns = [...(assoc.get(t.tg.TargetGroupArn!) ?? [])];
      const now = t.tg.LoadBalancerArns.length > 0;
      if (was !== now) {
        for (const x of t.targets.values()) {
          if (x.drainUntil !== undefined) continue;
          x.health = now ? (t.tg.HealthCheckEnabled === false ? { ...TARGET_HEALTH.disabled } : { ...TARGET_HEALTH.registering }) : { ...TARGET_HEALTH.notInUse };
        }
        this.emit({ kind: 'targets-changed', targetGroupArn: t.tg.TargetGroupArn! });
      }
    }
    this.emit({ kind: 'config-changed' });
  }
}

/** Where the front finds an authenticate-oidc action's client secret (never serialized). */
export const CLIENT_SECRET = Symbol.for('harness.elbv2.clientSecret');

/** The target groups (with weights) a forward action sends to. */
export function forwardTargets(a: Action): { arn: string; weight: number }[] {
  if (a.Type !== 'forward') return [];
  if (a.ForwardConfig?.TargetGroups?.length) return a.ForwardConfig.TargetGroups.map((g) => ({ arn: g.TargetGroupArn!, weight: g.Weight ?? 1 }));
  return a.TargetGroupArn ? [{ arn: a.TargetGroupArn, weight: 1 }] : [];
}

function actionsUse(actions: Action[] | undefined, tgArn: string): boolean {
  return (actions ?? []).some((a) => forwardTargets(a).some((g) => g.arn === tgArn));
}

function validateHealthCheck(tg: TargetGroup): void {
  const range = (v: number | undefined, name: string, lo: number, hi: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < lo || v > hi)) throw elbErrors.validation(`${name} '${v}' must be between ${lo} and ${hi}`);
  };
  range(tg.HealthCheckIntervalSeconds, 'Health check interval', 5, 300);
  range(tg.HealthCheckTimeoutSeconds, 'Health check timeout', 2, 120);
  range(tg.HealthyThresholdCount, 'Healthy threshold count', 2, 10);
  range(tg.UnhealthyThresholdCount, 'Unhealthy threshold count', 2, 10);
  if (tg.HealthCheckTimeoutSeconds! >= tg.HealthCheckIntervalSeconds!) {
    throw elbErrors.invalidConfig(`Health check timeout '${tg.HealthCheckTimeoutSeconds}' must be smaller than the interval '${tg.HealthCheckIntervalSeconds}'`);
  }
  if (tg.HealthCheckPath !== undefined && !tg.HealthCheckPath.startsWith('/')) throw elbErrors.validation(`Health check path '${tg.HealthCheckPath}' must begin with a '/' character`);
  if (tg.HealthCheckPort !== 'traffic-port' && !/^\d+$/.test(tg.HealthCheckPort ?? '')) throw elbErrors.validation(`Health check port '${tg.HealthCheckPort}' must be 'traffic-port' or a port number`);
  const code = tg.Matcher?.HttpCode ?? '200';
  const parts = code.split(',').flatMap((p) => p.split('-'));
  if (!parts.every((p) => /^\d{3}$/.test(p) && Number(p) >= 200 && Number(p) <= 499)) throw elbErrors.validation(`Health check matcher HTTP code '${code}' must be within 200-499`);
}

const CONDITION_FIELDS = ['path-pattern', 'host-header', 'http-header', 'http-request-method', 'query-string', 'source-ip'];

function checkConditions(conditions: RuleCondition[] | undefined): RuleCondition[] {
  if (!conditions?.length) throw elbErrors.validation('At least one condition must be specified');
  let values = 0;
  const out = conditions.map((c) => {
    const field = c.Field;
    if (!field || !CONDITION_FIELDS.includes(field)) throw elbErrors.validation(`Condition field '${field ?? ''}' must be one of [${CONDITION_FIELDS.join(', ')}]`);
    switch (field) {
      case 'path-pattern': {
        const v = c.PathPatternConfig?.Values ?? c.Values ?? [];
        if (!v.length) throw elbErrors.validation("A 'path-pattern' condition needs at least one value");
        values += v.length;
        return { Field: field, Values: v, PathPatternConfig: { Values: v } };
      }
      case 'host-header': {
        const v = c.HostHeaderConfig?.Values ?? c.Values ?? [];
        if (!v.length) throw elbErrors.validation("A 'host-header' condition needs at least one value");
        values += v.length;
        return { Field: field, Values: v, HostHeaderConfig: { Values: v } };
      }
      case 'http-header': {
        const h = c.HttpHeaderConfig;
        if (!h?.HttpHeaderName || !h.Values?.length) throw elbErrors.validation("An 'http-header' condition needs HttpHeaderConfig with a header name and values");
        values += h.Values.length;
        return { Field: field, HttpHeaderConfig: { HttpHeaderName: h.HttpHeaderName, Values: h.Values } };
      }
      case 'http-request-method': {
        const v = c.HttpRequestMethodConfig?.Values ?? [];
        if (!v.length) throw elbErrors.validation("An 'http-request-method' condition needs HttpRequestMethodConfig values");
        for (const m of v) if (!/^[A-Z_-]+$/.test(m)) throw elbErrors.validation(`HTTP request method '${m}' is not valid`);
        values += v.length;
        return { Field: field, HttpRequestMethodConfig: { Values: v } };
      }
      case 'query-string': {
        const v = c.QueryStringConfig?.Values ?? [];
        if (!v.length) throw elbErrors.validation("A 'query-string' condition needs QueryStringConfig values");
        values += v.length;
        return { Field: field, QueryStringConfig: { Values: v.map((kv) => ({ ...(kv.Key !== undefined ? { Key: kv.Key } : {}), Value: kv.Value })) } };
      }
      default: {
        const v = c.SourceIpConfig?.Values ?? [];
        if (!v.length) throw elbErrors.validation("A 'source-ip' condition needs SourceIpConfig values");
        for (const cidr of v) if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr) && !/^[0-9a-fA-F:]+\/\d{1,3}$/.test(cidr)) throw elbErrors.validation(`'${cidr}' is not a valid CIDR block`);
        values += v.length;
        return { Field: field, SourceIpConfig: { Values: v } };
      }
    }
  });
  if (values > 5) throw elbErrors.validation('A rule can have at most 5 condition values');
  return out as RuleCondition[];
}
