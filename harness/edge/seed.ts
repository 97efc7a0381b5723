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

/** Names of what `harness up` seeds as the edge's prerequisites (the seed's ALB, pool, client, user). */
export const EDGE_SEED = {
  albName: 'escher-alb',
  albSecurityGroup: 'escher-alb-sg',
  userPoolName: 'escher-users',
  userPoolDomain: 'escher-auth',
  albClientName: 'escher-alb',
  testUser: 'escher-test',
  /** a fake password for the emulated pool's test user */
  testPassword: 'Escher-Harness-Test-1!',
  testEmail: 'escher-test@example.com',
} as const;

export interface EdgeDeps {
  elb: ElbStore;
  cognito: CognitoStore;
  ec2: Ec2Store;
  clock: Clock;
  fabric: TaskNetwork;
  runDir: string;
  account: string;
  region: string;
  vpcId: string;
  subnets: string[];
  /** the ALB's security groups by name (the deploy scripts create them; the fabric resolves names) */
  albSecurityGroups?: string[];
  log?: (line: string) => void;
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
}

export interface StartedEdge {
  idp: IdpServer;
  front: AlbFront;
  checker: TargetHealthChecker;
  albArn: string;
  listenerArn: string;
  albUrl: string;
  poolId: string;
  poolArn: string;
  clientId: string;
  jwksUrl: string;
  issuer: string;
  /** the ALB's address in the VPC (health checks and forwards leave from it) */
  albAddress?: string;
  /** environment for scripts and `.harness/env` */
  env: Record<string, string>;
  /** environment the harness adds to every image config (the ALB's public-key endpoint) */
  imageEnv: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts the edge (Cognito web endpoints, the ALB front, target health checks) and seeds its
 * prerequisites as CI would have made them: the ALB's security group, the internet-facing
 * ALB with its HTTPS listener (default action: fixed-response 404), a user pool with a
 * hosted-UI domain, the ALB's app client (code flow, secret, callback on the front) and a
 * confirmed test user. It creates no target group and no listener rule: deploy-all.sh does.
 */
export async function startEdge(d: EdgeDeps): Promise<StartedEdge> {
  const idp = new IdpServer(d.cognito);
  await idp.start();
  const stops: (() => Promise<void>)[] = [() => idp.stop()];
  try {
    // The ALB's group is the deploy scripts' to create (ensure_security_groups): the fabric gets its
    // name now and resolves it once it exists, as for SurrealDB; an existing group is used by id.
    const sgNames = d.albSecurityGroups ?? [EDGE_SEED.albSecurityGroup];
    const existing = d.ec2.listSecurityGroups().filter((g) => sgNames.includes(g.groupName) && g.vpcId === d.vpcId);
    let attachment: HostAttachment | undefined;
    try {
      attachment = await d.fabric.attachHost('alb', d.subnets, existing.length ? existing.map((g) => g.groupId) : sgNames);
      stops.push(() => d.fabric.detachHost('alb'));
    } catch (e) {
      d.log?.(`ALB front: no VPC address from the fabric (${(e as Error).message}); connections leave from the host`);
    }
    const localAddress = () => attachment?.ip;
    const lb = d.elb.createLoadBalancer({ Name: EDGE_SEED.albName, Subnets: d.subnets, SecurityGroups: existing.map((g) => g.groupId), Scheme: 'internet-facing', VpcId: d.vpcId });
    const front = new AlbFront({ elb: d.elb, cognito: d.cognito, idp, clock: d.clock, runDir: d.runDir, localAddress, log: d.log, events: d.events });
    await front.start();
    stops.push(() => front.stop());
    const checker = new TargetHealthChecker({ store: d.elb, clock: d.clock, localAddress, onError: () => undefined });
    checker.start();
    stops.push(() => checker.stop());
    const listener = d.elb.createListener({
      LoadBalancerArn: lb.LoadBalancerArn!,
      Protocol: 'HTTPS',
      Port: 443,
      Certificates: [{ CertificateArn: `arn:aws:acm:${d.region}:${d.account}:certificate/${randomUuidLike()}` }],
      DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'Not Found' } }],
    });
    await front.reconcile();
    const albUrl = front.listenerUrl(listener.ListenerArn!)!;

    const pool = d.cognito.createUserPool(EDGE_SEED.userPoolName, { autoVerifiedAttributes: ['email'] });
    d.cognito.createUserPoolDomain(pool.id, EDGE_SEED.userPoolDomain);
    const client = d.cognito.createUserPoolClient(pool.id, {
      clientName: EDGE_SEED.albClientName,
      generateSecret: true,
      explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_ADMIN_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      allowedOAuthFlows: ['code'],
      allowedOAuthScopes: ['openid', 'email'],
      allowedOAuthFlowsUserPoolClient: true,
      supportedIdentityProviders: ['COGNITO'],
      callbackUrls: [`${albUrl}/oauth2/idpresponse`],
    });
    d.cognito.adminCreateUser(pool.id, EDGE_SEED.testUser, { email: EDGE_SEED.testEmail, email_verified: 'true' });
    d.cognito.adminSetUserPassword(pool.id, EDGE_SEED.testUser, EDGE_SEED.testPassword, true);

    // `harness token` from another process: a per-run secret in the run dir
    const mintSecret = randomBytes(24).toString('base64url');
    const mintFile = path.join(d.runDir, 'idp-mint-token');
    fs.writeFileSync(mintFile, mintSecret, { mode: 0o600 });
    idp.enableMinting(mintSecret, (q: MintRequest) => {
      const t = d.cognito.issueTokens(pool.id, client.clientId, q.user ?? EDGE_SEED.testUser, { expired: q.expired, notBefore: q.notBefore });
      return q.id ? t.IdToken : t.AccessToken;
    });

    const jwksUrl = idp.jwksUrl(pool.id);
    const env: Record<string, string> = {
      HARNESS_ALB_URL: albUrl,
      HARNESS_ALB_ARN: lb.LoadBalancerArn!,
      HARNESS_ALB_LISTENER_ARN: listener.ListenerArn!,
      HARNESS_COGNITO_USER_POOL_ID: pool.id,
      HARNESS_COGNITO_CLIENT_ID: client.clientId,
      HARNESS_COGNITO_ISSUER: d.cognito.issuerOf(pool.id),
      HARNESS_COGNITO_JWKS_URL: jwksUrl,
      HARNESS_IDP_URL: idp.url,
      HARNESS_ALB_PUBLIC_KEYS_URL: idp.albPublicKeysUrl,
      HARNESS_TEST_USER: EDGE_SEED.testUser,
      ...(front.certificateFile ? { HARNESS_ALB_CA: front.certificateFile } : {}),
    };
    if (front.tlsUnavailable) d.log?.(`ALB front: ${front.tlsUnavailable} — HTTPS listeners serve plain HTTP`);
    return {
      idp,
      front,
      checker,
      albArn: lb.LoadBalancerArn!,
      listenerArn: listener.ListenerArn!,
      albUrl,
      poolId: pool.id,
      poolArn: pool.arn,
      clientId: client.clientId,
      jwksUrl,
      issuer: d.cognito.issuerOf(pool.id),
      albAddress: attachment?.ip,
      env,
      imageEnv: {
        ALB_PUBLIC_KEYS_URL: idp.albPublicKeysUrl,
        // public keys only, inline too: a task in its own network namespace cannot reach the host's loopback
        ALB_PUBLIC_KEYS: JSON.stringify({ [front.signingKey.kid]: front.signingKey.publicKey.export({ type: 'spki', format: 'pem' }).toString() }),
        ALB_ARN: lb.LoadBalancerArn!,
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

function randomUuidLike(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
