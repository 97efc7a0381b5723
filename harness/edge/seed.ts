import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { ElbStore } from '../aws/elbv2/store.ts';
import type { CognitoStore } from '../aws/cognito/store.ts';
import type { Ec2Store } from '../aws/ec2/store.ts';
import type { TaskNetwork, HostAttachment } from '../ecs/deps.ts';
import { IdpServer, type MintRequest } from './idp-server.ts';
import { AlbFront } from './alb.ts';
import { TargetHealthChecker } from './health-checker.ts';
import type { SeededLoadBalancer } from '../aws/elbv2/seed.ts';
import type { SeededUserPool } from '../aws/cognito/seed.ts';

export interface EdgeDeps {
  elb: ElbStore;
  cognito: CognitoStore;
  ec2: Ec2Store;
  clock: Clock;
  fabric: TaskNetwork;
  runDir: string;
  vpcId: string;
  subnets: string[];
  /** the load balancers' security groups by name (the deploy scripts create them; the fabric resolves names) */
  albSecurityGroups: string[];
  log?: (line: string) => void;
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
}

export interface StartedEdge {
  idp: IdpServer;
  front: AlbFront;
  checker: TargetHealthChecker;
  /** the load balancers' address in the VPC (health checks and forwards leave from it) */
  albAddress?: string;
  /** environment the harness adds to every image config (the ALB's public-key endpoint) */
  imageEnv: Record<string, string>;
  /**
   * After the manifest's load balancers and pools are seeded: opens their listeners, lets
   * `harness token` mint for the first pool's first client and user, and returns the
   * environment for scripts and `.harness/env`.
   */
  open(seeded: { loadBalancers: SeededLoadBalancer[]; pools: SeededUserPool[] }): Promise<Record<string, string>>;
  /** the URL a listener is served on (after open) */
  listenerUrl(listenerArn: string): string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the edge: Cognito's web endpoints (IdP), the ALB front that serves every listener of
 * every load balancer, and the target health checks. It seeds nothing: the manifest's load
 * balancers and pools are seeded beside their services (aws/elbv2/seed.ts, aws/cognito/seed.ts).
 */
export async function startEdge(d: EdgeDeps): Promise<StartedEdge> {
  const idp = new IdpServer(d.cognito);
  await idp.start();
  const stops: (() => Promise<void>)[] = [() => idp.stop()];
  try {
    // The load balancers' groups are the deploy scripts' to create: the fabric gets their names
    // now and resolves them once they exist; an existing group is used by id.
    const existing = d.ec2.listSecurityGroups().filter((g) => d.albSecurityGroups.includes(g.groupName) && g.vpcId === d.vpcId);
    let attachment: HostAttachment | undefined;
    try {
      attachment = await d.fabric.attachHost('alb', d.subnets, existing.length ? existing.map((g) => g.groupId) : d.albSecurityGroups);
      stops.push(() => d.fabric.detachHost('alb'));
    } catch (e) {
      d.log?.(`ALB front: no VPC address from the fabric (${(e as Error).message}); connections leave from the host`);
    }
    const localAddress = () => attachment?.ip;
    const front = new AlbFront({ elb: d.elb, cognito: d.cognito, idp, clock: d.clock, runDir: d.runDir, localAddress, log: d.log, events: d.events });
    await front.start();
    stops.push(() => front.stop());
    const checker = new TargetHealthChecker({ store: d.elb, clock: d.clock, localAddress, onError: () => undefined });
    checker.start();
    stops.push(() => checker.stop());
    if (front.tlsUnavailable) d.log?.(`ALB front: ${front.tlsUnavailable} — HTTPS listeners serve plain HTTP`);

    return {
      idp,
      front,
      checker,
      albAddress: attachment?.ip,
      imageEnv: {
        ALB_PUBLIC_KEYS_URL: idp.albPublicKeysUrl,
        // public keys only, inline too: a task in its own network namespace cannot reach the host's loopback
        ALB_PUBLIC_KEYS: JSON.stringify({ [front.signingKey.kid]: front.signingKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() }),
      },
      listenerUrl: (arn) => front.listenerUrl(arn),
      async open(seeded) {
        await front.reconcile();
        const env: Record<string, string> = { HARNESS_IDP_URL: idp.url, HARNESS_ALB_PUBLIC_KEYS_URL: idp.albPublicKeysUrl };
        if (front.certificateFile) env.HARNESS_ALB_CA = front.certificateFile;
        const lb = seeded.loadBalancers[0];
        const listener = lb?.listeners.find((l) => l.protocol === 'HTTPS') ?? lb?.listeners[0];
        if (lb && listener) {
          Object.assign(env, { HARNESS_ALB_URL: front.listenerUrl(listener.arn)!, HARNESS_ALB_ARN: lb.arn, HARNESS_ALB_LISTENER_ARN: listener.arn });
        }
        const pool = seeded.pools[0];
        if (pool) {
          const client = pool.clients[0];
          const user = pool.users[0];
          Object.assign(env, {
            HARNESS_COGNITO_USER_POOL_ID: pool.id,
            HARNESS_COGNITO_ISSUER: pool.issuer,
            HARNESS_COGNITO_JWKS_URL: idp.jwksUrl(pool.id),
            ...(client ? { HARNESS_COGNITO_CLIENT_ID: client.clientId } : {}),
            ...(user ? { HARNESS_TEST_USER: user.username } : {}),
          });
          if (client && user) {
            // `harness token` from another process: a per-run secret in the run dir
            const mintSecret = randomBytes(24).toString('base64url');
            fs.writeFileSync(path.join(d.runDir, 'idp-mint-token'), mintSecret, { mode: 0o600 });
            idp.enableMinting(mintSecret, (q: MintRequest) => {
              const t = d.cognito.issueTokens(pool.id, client.clientId, q.user ?? user.username, { expired: q.expired, notBefore: q.notBefore });
              return q.id ? t.IdToken : t.AccessToken;
            });
          }
        }
        return env;
      },
      stop: async () => {
        for (const s of stops.reverse()) await s().catch(() => undefined);
        stops.length = 0;
      },
    };
  } catch (e) {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    throw e;
  }
}
