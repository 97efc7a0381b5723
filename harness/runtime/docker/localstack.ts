/**
 * LocalStack for the AWS services its free tier has (Secrets Manager, IAM, STS, CloudWatch
 * Logs), only when its (pinned) image is already present locally: nothing is ever pulled.
 * ECS, ECR, ELBv2, Cloud Map and Cognito stay ours (LocalStack has them only in paid tiers,
 * and no ALB authenticate-cognito at all).
 *
 * The forwarding is an HTTP front in front of our AwsEdge: a request whose SigV4 credential
 * scope (or X-Amz-Target prefix) names a forwarded service goes to LocalStack byte for byte
 * (method, path, headers, body); everything else goes to our edge. Clients see one endpoint.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { imageLabels } from './images.ts';

/** Pinned; HARNESS_LOCALSTACK_IMAGE overrides. */
export const LOCALSTACK_IMAGE = process.env.HARNESS_LOCALSTACK_IMAGE || 'localstack/localstack:4.4.0';

/** SigV4 signing names of the services forwarded to LocalStack, with their JSON target prefixes. */
export const FORWARDED_SERVICES: Readonly<Record<string, string[]>> = {
  secretsmanager: ['secretsmanager'],
  logs: ['Logs_20140328'],
  sts: [],
  iam: [],
};

/** Is the LocalStack image present locally (nothing is pulled)? With the line the summary prints. */
export async function localStackChoice(image = LOCALSTACK_IMAGE): Promise<{ use: boolean; reason: string }> {
  const present = (await imageLabels(image).catch(() => undefined)) !== undefined;
  const services = 'Secrets Manager, IAM, STS, CloudWatch Logs';
  return present
    ? { use: true, reason: `LocalStack ${image} present locally: ${services} are forwarded to it` }
    : { use: false, reason: `LocalStack image ${image} not present locally (offline: nothing is pulled): ${services} are the harness's own providers` };
}

/** The service a request is for: the SigV4 scope's service, else the X-Amz-Target prefix. */
export function serviceOf(headers: http.IncomingHttpHeaders): string | undefined {
  const auth = String(headers.authorization ?? '');
  const m = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
  if (m) return m[1];
  const target = String(headers['x-amz-target'] ?? '');
  if (target) {
    const prefix = target.slice(0, target.lastIndexOf('.'));
    return Object.entries(FORWARDED_SERVICES).find(([, prefixes]) => prefixes.includes(prefix))?.[0];
  }
  return undefined;
}

export interface ForwardingFront {
  url: string;
  /** requests sent on, by service name */
  forwarded: Map<string, number>;
  stop(): Promise<void>;
}

function relay(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, to: string): void {
  const target = new URL(to);
  const out = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: req.headers.host ?? target.host } },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  out.on('error', (e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ __type: 'ServiceUnavailable', message: `forwarding to ${to} failed: ${e.message}` }));
  });
  out.end(body);
}

/**
 * Starts the front: requests for `services` (signing names) go to `forwardTo`, the rest to
 * `edge`. Headers and body pass unchanged (the signature stays valid for the same host header).
 */
export async function startForwardingFront(opts: {
  edge: string;
  forwardTo: string;
  services?: string[];
  host?: string;
  port?: number;
}): Promise<ForwardingFront> {
  const services = new Set(opts.services ?? Object.keys(FORWARDED_SERVICES));
  const forwarded = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const svc = serviceOf(req.headers);
      if (svc && services.has(svc)) {
        forwarded.set(svc, (forwarded.get(svc) ?? 0) + 1);
        relay(req, res, Buffer.concat(chunks), opts.forwardTo);
      } else {
        relay(req, res, Buffer.concat(chunks), opts.edge);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}`,
    forwarded,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Starts LocalStack (only if its image is present) with the forwarded services, passing
 * LOCALSTACK_AUTH_TOKEN through when set. Returns its edge URL and a stop function.
 */
export async function startLocalStack(runId: string, image = LOCALSTACK_IMAGE): Promise<{ url: string; stop(): Promise<void> }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const env: Record<string, string> = { SERVICES: Object.keys(FORWARDED_SERVICES).join(',') };
  if (process.env.LOCALSTACK_AUTH_TOKEN) env.LOCALSTACK_AUTH_TOKEN = process.env.LOCALSTACK_AUTH_TOKEN;
  const c = await new GenericContainer(image)
    .withEnvironment(env)
    .withExposedPorts(4566)
    .withLabels({ 'escher-harness': '1', 'dev.escher-harness.run-id': runId })
    .withPullPolicy({ shouldPull: () => false })
    .withWaitStrategy(Wait.forHttp('/_localstack/health', 4566))
    .start();
  return { url: `http://${c.getHost()}:${c.getMappedPort(4566)}`, stop: async () => void (await c.stop({ timeout: 5000 })) };
}
