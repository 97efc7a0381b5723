import { randomUUID } from 'node:crypto';
import type { ElbStore } from './store.ts';

export interface SeedLoadBalancer {
  name: string;
  scheme: 'internet-facing' | 'internal';
  listeners: { port: number; protocol: 'HTTP' | 'HTTPS' }[];
}

export interface SeededLoadBalancer {
  name: string;
  arn: string;
  listeners: { port: number; protocol: string; arn: string }[];
}

/**
 * The load balancers that exist before the scripts run, each with its listeners (default
 * action: fixed-response 404, as a team's platform stack would leave it). Security groups are
 * attached by id when they exist; the scripts usually create them, and the fabric resolves
 * the names later. Target groups and rules are the scripts' to create.
 */
export function seedLoadBalancers(
  store: ElbStore,
  lbs: readonly SeedLoadBalancer[],
  ctx: { vpcId: string; subnets: string[]; region: string; account: string; securityGroupIds?: (lbName: string) => string[] },
): SeededLoadBalancer[] {
  return lbs.map((spec) => {
    const lb = store.createLoadBalancer({ Name: spec.name, Subnets: ctx.subnets, SecurityGroups: ctx.securityGroupIds?.(spec.name) ?? [], Scheme: spec.scheme, VpcId: ctx.vpcId });
    const listeners = spec.listeners.map((l) => {
      const created = store.createListener({
        LoadBalancerArn: lb.LoadBalancerArn!,
        Protocol: l.protocol,
        Port: l.port,
        ...(l.protocol === 'HTTPS' ? { Certificates: [{ CertificateArn: `arn:aws:acm:${ctx.region}:${ctx.account}:certificate/${randomUUID()}` }] } : {}),
        DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'Not Found' } }],
      });
      return { port: l.port, protocol: l.protocol, arn: created.ListenerArn! };
    });
    return { name: spec.name, arn: lb.LoadBalancerArn!, listeners };
  });
}
