import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { Clock } from '../harness/clock.ts';
import { ElbStore, TARGET_HEALTH } from '../harness/aws/elbv2/store.ts';
import { CognitoStore } from '../harness/aws/cognito/store.ts';
import { decodeJwt, verifyJwt } from '../harness/aws/cognito/jwt.ts';
import { IdpServer } from '../harness/edge/idp-server.ts';
import { AlbFront } from '../harness/edge/alb.ts';
import { median, percentile, type BenchResult } from './types.ts';
import { freePort } from '../harness/free-port.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');


/** Sequential requests on one keep-alive connection: per-request latency in ms. */
async function latencies(pool: Pool, pathName: string, headers: Record<string, string>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await pool.request({ method: 'GET', path: pathName, headers });
    await r.body.dump();
    if (r.statusCode !== 200) throw new Error(`GET ${pathName}: ${r.statusCode}`);
    out.push(performance.now() - t0);
  }
  return out;
}

/** Closed-loop load with `inflight` concurrent requests for `ms`: requests per second. */
async function rps(pool: Pool, pathName: string, headers: Record<string, string>, ms: number, inflight = 16): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        const r = await pool.request({ method: 'GET', path: pathName, headers });
        await r.body.dump();
        done++;
      }
    }),
  );
  return done / (ms / 1000);
}

/**
 * ALB front overhead: a real stub process (the generic stub with a /q/health health path, as a
 * Quarkus front has) as the target; the same request straight to it
 * and through the front's HTTPS listener with a jwt-validation rule (valid token, warm JWKS).
 */
export async function run(): Promise<BenchResult[]> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'alb-bench-'));
  const clock = new Clock(0.02);
  const elb = new ElbStore({ account: '123456789012', region: 'us-west-1', scaledMs: (s) => clock.scaledMs(s) });
  const cognito = new CognitoStore({ account: '123456789012', region: 'us-west-1' });
  const idp = new IdpServer(cognito);
  const front = new AlbFront({ elb, cognito, idp, clock, runDir });
  const port = await freePort();
  const gw = spawn(process.execPath, [path.join(ROOT, 'stubs/service.mjs')], {
    env: { ...process.env, HOST: '127.0.0.1', STUB_PORTS: String(port), STUB_HEALTH_PATHS: '/q/health', STUB_ALB: '1', STUB_SERVICE: 'bench-front', STUB_VERSION: 'bench' },
    stdio: 'ignore',
  });
  const pools: Pool[] = [];
  try {
    await idp.start();
    await front.start();
    const pool = cognito.createUserPool('bench');
    const client = cognito.createUserPoolClient(pool.id, { clientName: 'bench', explicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH'] });
    cognito.adminCreateUser(pool.id, 'bench', { email: 'bench@example.com' });
    cognito.adminSetUserPassword(pool.id, 'bench', 'Bench-Passw0rd!', true);
    const token = cognito.issueTokens(pool.id, client.clientId, 'bench').AccessToken;
    const lb = elb.createLoadBalancer({ Name: 'bench-alb', Subnets: ['s-1', 's-2'] });
    const tg = elb.createTargetGroup({ Name: 'bench-gw', Protocol: 'HTTP', Port: port, VpcId: 'vpc-1', TargetType: 'ip', HealthCheckPath: '/q/health' });
    const l = elb.createListener({
      LoadBalancerArn: lb.LoadBalancerArn!,
      Protocol: 'HTTPS',
      Port: 443,
      Certificates: [{ CertificateArn: 'arn:aws:acm:us-west-1:123456789012:certificate/bench' }],
      DefaultActions: [
        { Type: 'jwt-validation', JwtValidationConfig: { JwksEndpoint: idp.jwksUrl(pool.id), Issuer: cognito.issuerOf(pool.id), AdditionalClaims: [{ Name: 'client_id', Format: 'single-string', Values: [client.clientId] }] } },
        { Type: 'forward', TargetGroupArn: tg.TargetGroupArn },
      ],
    });
    elb.registerTargets(tg.TargetGroupArn!, [{ Id: '127.0.0.1', Port: port }]);
    elb.setTargetHealth(tg.TargetGroupArn!, '127.0.0.1', port, TARGET_HEALTH.healthy);
    await front.reconcile();
    const albUrl = front.listenerUrl(l.ListenerArn!)!;

    const direct = new Pool(`http://127.0.0.1:${port}`, { connections: 16 });
    const viaAlb = new Pool(albUrl, { connections: 16, connect: front.certificatePem ? { ca: front.certificatePem } : { rejectUnauthorized: false } });
    pools.push(direct, viaAlb);
    for (let i = 0; i < 100; i++) {
      try {
        await latencies(direct, '/q/health', {}, 1);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const auth = { authorization: `Bearer ${token}` };
    await latencies(direct, '/q/health', {}, 300); // warm-up (JIT, connections, JWKS)
    await latencies(viaAlb, '/q/health', auth, 300);
    const N = 2000;
    const d = await latencies(direct, '/q/health', {}, N);
    const a = await latencies(viaAlb, '/q/health', auth, N);
    const dP50 = median(d);
    const aP50 = median(a);
    const dP99 = percentile(d, 99);
    const aP99 = percentile(a, 99);
    const rpsDirect = await rps(direct, '/q/health', {}, 2000);
    const rpsAlb = await rps(viaAlb, '/q/health', auth, 2000);

    const jwks = cognito.jwks(pool.id);
    const M = 5000;
    for (let i = 0; i < 500; i++) verifyJwt(token, jwks);
    let t0 = performance.now();
    for (let i = 0; i < M; i++) verifyJwt(token, jwks);
    const verifyUs = ((performance.now() - t0) / M) * 1000;
    t0 = performance.now();
    for (let i = 0; i < M; i++) decodeJwt(token);
    const decodeUs = ((performance.now() - t0) / M) * 1000;

    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    return [
      { name: 'alb: added latency p50 (HTTPS + jwt-validation + forward vs. straight to the gateway stub)', value: r3(aP50 - dP50), unit: 'ms', baseline: { name: 'direct p50', value: r3(dP50) }, ratio: r3(aP50 / dP50), target: 'p50 added ≤ 1 ms', note: `${N} sequential keep-alive requests each; through the front p50 ${r3(aP50)} ms` },
      { name: 'alb: added latency p99', value: r3(aP99 - dP99), unit: 'ms', baseline: { name: 'direct p99', value: r3(dP99) }, ratio: r3(aP99 / dP99), note: `through the front p99 ${r3(aP99)} ms` },
      { name: 'alb: requests/s through the front (16 in flight, valid token)', value: Math.round(rpsAlb), unit: 'req/s', baseline: { name: 'straight to the gateway stub', value: Math.round(rpsDirect) }, ratio: r3(rpsAlb / rpsDirect) },
      { name: 'alb: token verification, warm JWKS (RS256 verify + claims)', value: r3(verifyUs), unit: 'µs/token', baseline: { name: 'decode only (no signature check)', value: r3(decodeUs) }, ratio: r3(verifyUs / decodeUs) },
    ];
  } finally {
    for (const p of pools) await p.close().catch(() => undefined);
    gw.kill('SIGTERM');
    await front.stop();
    await idp.stop();
    clock.close();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().then((r) => console.log(JSON.stringify(r, null, 1)));
}
