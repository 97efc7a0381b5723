import type { Action, RuleCondition, Tag, TargetDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { AwsError } from '../protocol/errors.ts';
import type { ServiceProvider } from '../protocol/types.ts';
import { elbErrors, type CreateTargetGroupSpec, type ElbStore } from './store.ts';

/*
 * ELBv2 query wire (both CLIs and the SDK): lists as `X.member.N`, maps as
 * `X.entry.N.key/value`; every scalar arrives as a string, so the helpers below convert.
 */

type Input = Record<string, any>;

export const ELBV2_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

function list<T = unknown>(v: unknown): T[] {
  if (v === undefined || v === null || v === '') return [];
  if (Array.isArray(v)) return v as T[];
  if (typeof v === 'object') return Object.values(v as object) as T[];
  return [v as T];
}

function int(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw elbErrors.validation(`'${String(v)}' is not a valid value for ${name}: it must be an integer`);
  return n;
}

function bool(v: unknown): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  return v === true || v === 'true';
}

function str(input: Input, name: string): string {
  const v = input[name];
  if (v === undefined || v === null || v === '') throw elbErrors.validation(`1 validation error detected: Value null at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`);
  return String(v);
}

function opt(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

function tags(v: unknown): Tag[] {
  return list<Input>(v).map((t) => ({ Key: String(t.Key), ...(t.Value !== undefined ? { Value: String(t.Value) } : {}) }));
}

function mapOf(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const entries = list<Input>((v as Input).entry ?? v);
  const out: Record<string, string> = {};
  for (const e of entries) if (e && e.key !== undefined) out[String(e.key)] = String(e.value ?? '');
  return out;
}

function targets(v: unknown): TargetDescription[] {
  return list<Input>(v).map((t) => ({
    Id: opt(t.Id),
    ...(t.Port !== undefined ? { Port: int(t.Port, 'Port') } : {}),
    ...(t.AvailabilityZone !== undefined ? { AvailabilityZone: String(t.AvailabilityZone) } : {}),
  })) as TargetDescription[];
}

function actions(v: unknown): Action[] {
  return list<Input>(v).map((a) => {
    const out: Input = { Type: opt(a.Type) };
    if (a.Order !== undefined) out.Order = int(a.Order, 'Order');
    if (a.TargetGroupArn !== undefined) out.TargetGroupArn = String(a.TargetGroupArn);
    if (a.ForwardConfig) {
      const fc = a.ForwardConfig;
      out.ForwardConfig = {
        TargetGroups: list<Input>(fc.TargetGroups).map((g) => ({ TargetGroupArn: opt(g.TargetGroupArn), ...(g.Weight !== undefined ? { Weight: int(g.Weight, 'Weight') } : {}) })),
        ...(fc.TargetGroupStickinessConfig
          ? { TargetGroupStickinessConfig: { Enabled: bool(fc.TargetGroupStickinessConfig.Enabled), DurationSeconds: int(fc.TargetGroupStickinessConfig.DurationSeconds, 'DurationSeconds') } }
          : {}),
      };
    }
    if (a.FixedResponseConfig) out.FixedResponseConfig = { MessageBody: opt(a.FixedResponseConfig.MessageBody), StatusCode: opt(a.FixedResponseConfig.StatusCode), ContentType: opt(a.FixedResponseConfig.ContentType) };
    if (a.RedirectConfig) {
      const r = a.RedirectConfig;
      out.RedirectConfig = { Protocol: opt(r.Protocol), Port: opt(r.Port), Host: opt(r.Host), Path: opt(r.Path), Query: opt(r.Query), StatusCode: opt(r.StatusCode) };
    }
    for (const key of ['AuthenticateCognitoConfig', 'AuthenticateOidcConfig'] as const) {
      const c = a[key];
      if (!c) continue;
      const cfg: Input = {};
      for (const [k, x] of Object.entries<any>(c)) {
        if (k === 'AuthenticationRequestExtraParams') cfg[k] = mapOf(x);
        else if (k === 'SessionTimeout') cfg[k] = int(x, k);
        else if (k === 'UseExistingClientSecret') cfg[k] = bool(x);
        else cfg[k] = String(x);
      }
      out[key] = cfg;
    }
    if (a.JwtValidationConfig) {
      const j = a.JwtValidationConfig;
      out.JwtValidationConfig = {
        JwksEndpoint: opt(j.JwksEndpoint),
        Issuer: opt(j.Issuer),
        ...(j.AdditionalClaims !== undefined
          ? { AdditionalClaims: list<Input>(j.AdditionalClaims).map((c) => ({ Format: opt(c.Format), Name: opt(c.Name), Values: list(c.Values).map(String) })) }
          : {}),
      };
    }
    return out as Action;
  });
}

function conditions(v: unknown): RuleCondition[] {
  const vals = (x: unknown) => (x === undefined ? undefined : list(x).map(String));
  return list<Input>(v).map((c) => {
    const out: Input = { Field: opt(c.Field) };
    if (c.Values !== undefined) out.Values = vals(c.Values);
    if (c.PathPatternConfig) out.PathPatternConfig = { Values: vals(c.PathPatternConfig.Values) };
    if (c.HostHeaderConfig) out.HostHeaderConfig = { Values: vals(c.HostHeaderConfig.Values) };
    if (c.HttpHeaderConfig) out.HttpHeaderConfig = { HttpHeaderName: opt(c.HttpHeaderConfig.HttpHeaderName), Values: vals(c.HttpHeaderConfig.Values) };
    if (c.HttpRequestMethodConfig) out.HttpRequestMethodConfig = { Values: vals(c.HttpRequestMethodConfig.Values) };
    if (c.SourceIpConfig) out.SourceIpConfig = { Values: vals(c.SourceIpConfig.Values) };
    if (c.QueryStringConfig) out.QueryStringConfig = { Values: list<Input>(c.QueryStringConfig.Values).map((kv) => ({ Key: opt(kv.Key), Value: opt(kv.Value) })) };
    return out as RuleCondition;
  });
}

function tgSpec(i: Input): Partial<CreateTargetGroupSpec> {
  return {
    HealthCheckProtocol: opt(i.HealthCheckProtocol),
    HealthCheckPort: opt(i.HealthCheckPort),
    HealthCheckEnabled: bool(i.HealthCheckEnabled),
    HealthCheckPath: opt(i.HealthCheckPath),
    HealthCheckIntervalSeconds: int(i.HealthCheckIntervalSeconds, 'HealthCheckIntervalSeconds'),
    HealthCheckTimeoutSeconds: int(i.HealthCheckTimeoutSeconds, 'HealthCheckTimeoutSeconds'),
    HealthyThresholdCount: int(i.HealthyThresholdCount, 'HealthyThresholdCount'),
    UnhealthyThresholdCount: int(i.UnhealthyThresholdCount, 'UnhealthyThresholdCount'),
    ...(i.Matcher ? { Matcher: { HttpCode: opt(i.Matcher.HttpCode) } } : {}),
  };
}

/** Markers are offsets into the full listing (AWS's are opaque too). */
function page<T>(items: T[], i: Input): { items: T[]; NextMarker?: string } {
  const size = int(i.PageSize, 'PageSize');
  if (size !== undefined && (size < 1 || size > 400)) throw elbErrors.validation('Page size must be between 1 and 400');
  let start = 0;
  if (i.Marker !== undefined) {
    const m = /^m(\d+)$/.exec(Buffer.from(String(i.Marker), 'base64').toString('utf8'));
    if (!m) throw elbErrors.validation('The marker is not valid');
    start = Number(m[1]);
  }
  if (size === undefined || start + size >= items.length) return { items: items.slice(start) };
  return { items: items.slice(start, start + size), NextMarker: Buffer.from(`m${start + size}`).toString('base64') };
}

/** Elastic Load Balancing v2 (application load balancers), query protocol. */
export function createElbv2Provider(store: ElbStore): ServiceProvider {
  return {
    serviceName: 'elasticloadbalancing',
    protocol: 'query',
    xmlNamespace: ELBV2_XMLNS,
    validationErrorCode: 'ValidationError',
    operations: {
      CreateLoadBalancer(i: Input) {
        const lb = store.createLoadBalancer({
          Name: str(i, 'Name'),
          Subnets: list<string>(i.Subnets).map(String),
          SubnetMappings: list<Input>(i.SubnetMappings).map((m) => ({ SubnetId: opt(m.SubnetId) })),
          SecurityGroups: list<string>(i.SecurityGroups).map(String),
          Scheme: opt(i.Scheme),
          Type: opt(i.Type),
          IpAddressType: opt(i.IpAddressType),
          Tags: tags(i.Tags),
        });
        return { LoadBalancers: [lb] };
      },
      DescribeLoadBalancers(i: Input) {
        const all = store.describeLoadBalancers(list<string>(i.LoadBalancerArns).map(String), list<string>(i.Names).map(String));
        const p = page(all, i);
        return { LoadBalancers: p.items, NextMarker: p.NextMarker };
      },
      DeleteLoadBalancer(i: Input) {
        store.deleteLoadBalancer(str(i, 'LoadBalancerArn'));
        return {};
      },
      CreateTargetGroup(i: Input) {
        const tg = store.createTargetGroup({
          ...tgSpec(i),
          Name: str(i, 'Name'),
          Protocol: opt(i.Protocol),
          ProtocolVersion: opt(i.ProtocolVersion),
          Port: int(i.Port, 'Port'),
          VpcId: opt(i.VpcId),
          TargetType: opt(i.TargetType),
          IpAddressType: opt(i.IpAddressType),
          Tags: tags(i.Tags),
        });
        return { TargetGroups: [tg] };
      },
      DescribeTargetGroups(i: Input) {
        const all = store.describeTargetGroups({ arns: list<string>(i.TargetGroupArns).map(String), names: list<string>(i.Names).map(String), loadBalancerArn: opt(i.LoadBalancerArn) });
        const p = page(all, i);
        return { TargetGroups: p.items, NextMarker: p.NextMarker };
      },
      ModifyTargetGroup(i: Input) {
        return { TargetGroups: [store.modifyTargetGroup(str(i, 'TargetGroupArn'), tgSpec(i))] };
      },
      DescribeTargetGroupAttributes(i: Input) {
        return { Attributes: store.describeTargetGroupAttributes(str(i, 'TargetGroupArn')) };
      },
      ModifyTargetGroupAttributes(i: Input) {
        const attrs = list<Input>(i.Attributes).map((a) => ({ Key: String(a.Key ?? ''), Value: String(a.Value ?? '') }));
        if (!attrs.length) throw elbErrors.validation('At least one attribute must be specified');
        return { Attributes: store.modifyTargetGroupAttributes(str(i, 'TargetGroupArn'), attrs) };
      },
      DeleteTargetGroup(i: Input) {
        store.deleteTargetGroup(str(i, 'TargetGroupArn'));
        return {};
      },
      RegisterTargets(i: Input) {
        const t = targets(i.Targets);
        if (!t.length) throw elbErrors.validation('At least one target must be specified');
        store.registerTargets(str(i, 'TargetGroupArn'), t);
        return {};
      },
      DeregisterTargets(i: Input) {
        const t = targets(i.Targets);
        if (!t.length) throw elbErrors.validation('At least one target must be specified');
        store.deregisterTargets(str(i, 'TargetGroupArn'), t);
        return {};
      },
      DescribeTargetHealth(i: Input) {
        return { TargetHealthDescriptions: store.describeTargetHealth(str(i, 'TargetGroupArn'), targets(i.Targets)) };
      },
      CreateListener(i: Input) {
        const l = store.createListener({
          LoadBalancerArn: str(i, 'LoadBalancerArn'),
          Protocol: opt(i.Protocol),
          Port: int(i.Port, 'Port'),
          SslPolicy: opt(i.SslPolicy),
          Certificates: list<Input>(i.Certificates).map((c) => ({ CertificateArn: opt(c.CertificateArn) })),
          DefaultActions: actions(i.DefaultActions),
          Tags: tags(i.Tags),
        });
        return { Listeners: [l] };
      },
      DescribeListeners(i: Input) {
        const all = store.describeListeners({ loadBalancerArn: opt(i.LoadBalancerArn), arns: list<string>(i.ListenerArns).map(String) });
        const p = page(all, i);
        return { Listeners: p.items, NextMarker: p.NextMarker };
      },
      ModifyListener(i: Input) {
        const l = store.modifyListener(str(i, 'ListenerArn'), {
          Port: int(i.Port, 'Port'),
          Protocol: opt(i.Protocol),
          SslPolicy: opt(i.SslPolicy),
          ...(i.Certificates !== undefined ? { Certificates: list<Input>(i.Certificates).map((c) => ({ CertificateArn: opt(c.CertificateArn) })) } : {}),
          ...(i.DefaultActions !== undefined ? { DefaultActions: actions(i.DefaultActions) } : {}),
        });
        return { Listeners: [l] };
      },
      DeleteListener(i: Input) {
        store.deleteListener(str(i, 'ListenerArn'));
        return {};
      },
      CreateRule(i: Input) {
        const priority = int(i.Priority, 'Priority');
        if (priority === undefined) str(i, 'Priority');
        const r = store.createRule({ ListenerArn: str(i, 'ListenerArn'), Priority: priority!, Conditions: conditions(i.Conditions), Actions: actions(i.Actions), Tags: tags(i.Tags) });
        return { Rules: [r] };
      },
      DescribeRules(i: Input) {
        const all = store.describeRules({ listenerArn: opt(i.ListenerArn), arns: list<string>(i.RuleArns).map(String) });
        const p = page(all, i);
        return { Rules: p.items, NextMarker: p.NextMarker };
      },
      ModifyRule(i: Input) {
        const r = store.modifyRule(str(i, 'RuleArn'), {
          ...(i.Conditions !== undefined ? { Conditions: conditions(i.Conditions) } : {}),
          ...(i.Actions !== undefined ? { Actions: actions(i.Actions) } : {}),
        });
        return { Rules: [r] };
      },
      SetRulePriorities(i: Input) {
        const ps = list<Input>(i.RulePriorities).map((p) => ({ RuleArn: String(p.RuleArn ?? ''), Priority: int(p.Priority, 'Priority')! }));
        return { Rules: store.setRulePriorities(ps) };
      },
      DeleteRule(i: Input) {
        store.deleteRule(str(i, 'RuleArn'));
        return {};
      },
      DescribeTags(i: Input) {
        const arns = list<string>(i.ResourceArns).map(String);
        return {
          TagDescriptions: arns.map((arn) => {
            const t = store.tagsOf(arn);
            if (!t) throw notFoundFor(arn);
            return { ResourceArn: arn, Tags: t };
          }),
        };
      },
      AddTags(i: Input) {
        for (const arn of list<string>(i.ResourceArns).map(String)) {
          const t = store.tagsOf(arn);
          if (!t) throw notFoundFor(arn);
          for (const tag of tags(i.Tags)) {
            const cur = t.find((x) => x.Key === tag.Key);
            if (cur) cur.Value = tag.Value;
            else t.push(tag);
          }
        }
        return {};
      },
    },
  };
}

function notFoundFor(arn: string): AwsError {
  if (arn.includes(':targetgroup/')) return elbErrors.tgNotFound();
  if (arn.includes(':listener-rule/')) return elbErrors.ruleNotFound();
  if (arn.includes(':listener/')) return elbErrors.listenerNotFound();
  return elbErrors.lbNotFound();
}
