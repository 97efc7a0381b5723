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
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogSink, SecretSource } from '../../ecs/deps.ts';
import { AwsError } from '../../aws/protocol/errors.ts';
import { resolveEcsSecretValueFrom } from '../../aws/secretsmanager/ecs-secrets.ts';
import type { SecretsManagerStore } from '../../aws/secretsmanager/store.ts';
import { HARNESS_LABEL, imageLabels } from './images.ts';
import { LABEL_OWNER_PID, LABEL_RUN_ID } from './docker-runtime.ts';

/** Pinned; HARNESS_LOCALSTACK_IMAGE overrides. */
export const LOCALSTACK_IMAGE = process.env.HARNESS_LOCALSTACK_IMAGE || 'localstack/localstack:4.4.0';

/**
 * SigV4 signing names of the services forwarded to LocalStack, with their JSON target prefixes.
 * IAM stays ours: the manifest's roles are seeded there (aws/iam/seed.ts), and GetRole must find them.
 */
export const FORWARDED_SERVICES: Readonly<Record<string, string[]>> = {
  secretsmanager: ['secretsmanager'],
  logs: ['Logs_20140328'],
  sts: [],
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
 * LocalStack's default credentials (it accepts any; these are fake). A 12-digit access key id is
 * LocalStack's account id: the harness signs with its account so resources land there.
 */
const LS_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

const hex = (d: string | Buffer) => createHash('sha256').update(d).digest('hex');
const hmac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();

/**
 * One AWS JSON 1.1 call (`X-Amz-Target: <prefix>.<Op>`), SigV4-signed with fake credentials
 * so the receiver routes it by its credential scope as it would a CLI's. Answers the status
 * and the parsed body.
 */
export async function awsJsonCall(endpoint: string, o: { region: string; service: string; target: string; body: unknown; timeoutMs?: number; accessKeyId?: string }): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(endpoint);
  const body = JSON.stringify(o.body);
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1', host: url.host, 'x-amz-date': amzDate, 'x-amz-target': o.target };
  const signed = Object.keys(headers).sort();
  const canonical = ['POST', url.pathname || '/', '', ...signed.map((h) => `${h}:${headers[h]}`), '', signed.join(';'), hex(body)].join('\n');
  const scope = `${day}/${o.region}/${o.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, hex(canonical)].join('\n');
  const key = ['aws4_request'].reduce((k, d) => hmac(k, d), hmac(hmac(hmac(`AWS4${LS_CREDENTIALS.secretAccessKey}`, day), o.region), o.service));
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${o.accessKeyId ?? LS_CREDENTIALS.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${createHmac('sha256', key).update(toSign).digest('hex')}`;
  const { host: _host, ...sent } = headers;
  const res = await fetch(endpoint, { method: 'POST', headers: sent, body, signal: AbortSignal.timeout(o.timeoutMs ?? 10_000) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { message: text.slice(0, 200) };
  }
  return { status: res.status, json };
}

/** `{__type: "…#Code", message}` (or `x-amzn-errortype`-less variants) → code and message. */
function awsErrorOf(json: Record<string, unknown>, status: number): AwsError {
  const type = String(json.__type ?? json.code ?? `HTTP${status}`);
  return new AwsError(type.slice(type.lastIndexOf('#') + 1), String(json.message ?? json.Message ?? ''), status);
}

/**
 * The ECS scheduler's secrets when Secrets Manager is served elsewhere (LocalStack): the
 * valueFrom is resolved as the ECS agent does (ARN, json-key, stage, version; the same
 * stoppedReason texts as with our own store), the value fetched with GetSecretValue over HTTP.
 */
export function forwardingSecretSource(opts: { endpoint: string; region: string; account?: string }): SecretSource {
  return {
    async resolve(valueFrom: string): Promise<string> {
      const fetched = new Map<string, { secretString?: string } | AwsError>();
      // first pass: learn which secret (and version) the valueFrom asks for, without answering
      const wanted: { arn: string; versionStage?: string; versionId?: string }[] = [];
      const recorder = { getSecretValue: (arn: string, v: { versionStage?: string; versionId?: string }) => (wanted.push({ arn, ...v }), { secretString: '{}' }) };
      try {
        resolveEcsSecretValueFrom(recorder as unknown as SecretsManagerStore, valueFrom);
      } catch {
        /* not a Secrets Manager ARN (rethrown below with ECS's text), or a json key of '{}' */
      }
      for (const w of wanted) {
        const region = w.arn.split(':')[3] || opts.region;
        const r = await awsJsonCall(opts.endpoint, {
          region,
          service: 'secretsmanager',
          target: 'secretsmanager.GetSecretValue',
          accessKeyId: opts.account,
          body: { SecretId: w.arn, ...(w.versionStage ? { VersionStage: w.versionStage } : {}), ...(w.versionId ? { VersionId: w.versionId } : {}) },
        });
        fetched.set(w.arn, r.status === 200 ? { secretString: typeof r.json.SecretString === 'string' ? r.json.SecretString : undefined } : awsErrorOf(r.json, r.status));
      }
      // second pass: the same resolution on the fetched answer (errors become the stoppedReason)
      const answered = {
        getSecretValue: (arn: string) => {
          const v = fetched.get(arn);
          if (!v) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
          if (v instanceof AwsError) throw v;
          return v;
        },
      };
      return resolveEcsSecretValueFrom(answered as unknown as SecretsManagerStore, valueFrom);
    },
  };
}

/**
 * The awslogs driver when CloudWatch Logs is LocalStack's: every line still goes to `inner`
 * (our store, which the harness's own checks read), and is also sent to LocalStack in batches
 * (CreateLogGroup when the task asks awslogs-create-group, CreateLogStream, PutLogEvents), so
 * `aws logs` through the front shows the tasks' logs.
 */
export function forwardingLogSink(opts: { endpoint: string; region: string; account?: string; inner: LogSink; log?: (l: string) => void; flushMs?: number }): LogSink & { flush(): Promise<void>; close(): Promise<void> } {
  const pending = new Map<string, { group: string; stream: string; createGroup: boolean; events: { timestamp: number; message: string }[] }>();
  const made = new Set<string>();
  let warned = false;
  let flushing: Promise<void> = Promise.resolve();
  const call = (op: string, body: unknown) => awsJsonCall(opts.endpoint, { region: opts.region, service: 'logs', target: `Logs_20140328.${op}`, body, accessKeyId: opts.account });
  const ok = (r: { status: number; json: Record<string, unknown> }) => r.status === 200 || /ResourceAlreadyExists/.test(String(r.json.__type));
  const flushOnce = async () => {
    const batches = [...pending.values()];
    pending.clear();
    for (const b of batches) {
      try {
        const key = `${b.group}\0${b.stream}`;
        if (!made.has(key)) {
          if (b.createGroup) await call('CreateLogGroup', { logGroupName: b.group });
          const r = await call('CreateLogStream', { logGroupName: b.group, logStreamName: b.stream });
          if (!ok(r)) throw awsErrorOf(r.json, r.status);
          made.add(key);
        }
        const r = await call('PutLogEvents', { logGroupName: b.group, logStreamName: b.stream, logEvents: b.events.sort((x, y) => x.timestamp - y.timestamp) });
        if (r.status !== 200) throw awsErrorOf(r.json, r.status);
      } catch (e) {
        if (!warned) opts.log?.(`localstack: task logs not forwarded to CloudWatch Logs (${(e as Error).message}); they stay in the harness's log store`);
        warned = true;
      }
    }
  };
  const flush = () => (flushing = flushing.then(flushOnce));
  const timer = setInterval(() => void (pending.size && flush()), opts.flushMs ?? 200);
  timer.unref();
  return {
    append(group, stream, message, timestampMs, createGroup) {
      opts.inner.append(group, stream, message, timestampMs, createGroup);
      const key = `${group}\0${stream}`;
      const b = pending.get(key) ?? { group, stream, createGroup, events: [] };
      b.events.push({ timestamp: timestampMs, message });
      pending.set(key, b);
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** Creates (or overwrites) the harness's seeded secrets in LocalStack. */
export async function seedLocalStackSecrets(endpoint: string, region: string, secrets: Record<string, string>, account?: string): Promise<void> {
  for (const [name, value] of Object.entries(secrets)) {
    const r = await awsJsonCall(endpoint, { region, service: 'secretsmanager', target: 'secretsmanager.CreateSecret', body: { Name: name, SecretString: value }, accessKeyId: account });
    if (r.status === 200) continue;
    const err = awsErrorOf(r.json, r.status);
    if (err.code !== 'ResourceExistsException') throw new Error(`LocalStack CreateSecret ${name}: ${err.code}: ${err.message}`);
    const p = await awsJsonCall(endpoint, { region, service: 'secretsmanager', target: 'secretsmanager.PutSecretValue', body: { SecretId: name, SecretString: value }, accessKeyId: account });
    if (p.status !== 200) throw new Error(`LocalStack PutSecretValue ${name}: ${awsErrorOf(p.json, p.status).message}`);
  }
}

/** LocalStack running for a run, and the front that sends the forwarded services to it. */
export interface LocalStackTier {
  /** the endpoint scripts and the harness use (the forwarding front) */
  endpoint: string;
  localstackUrl: string;
  secrets: SecretSource;
  /** wraps the harness's awslogs sink: lines also go to LocalStack's CloudWatch Logs */
  logs(inner: LogSink): LogSink;
  front: ForwardingFront;
  reason: string;
  stop(): Promise<void>;
}

/**
 * When the LocalStack image is present: starts it, seeds the secrets, and puts the forwarding
 * front before our edge. Undefined (with the reason) when the image is absent.
 */
export async function startLocalStackTier(opts: {
  runId: string;
  edge: string;
  region: string;
  /** the harness account (LocalStack files what it is sent under it) */
  account?: string;
  secrets: Record<string, string>;
  image?: string;
  log?: (line: string) => void;
  /** tests: an already running LocalStack (or stand-in) instead of a container */
  localstackUrl?: string;
}): Promise<{ tier?: LocalStackTier; reason: string }> {
  const choice = opts.localstackUrl ? { use: true, reason: `LocalStack at ${opts.localstackUrl}: Secrets Manager, IAM, STS, CloudWatch Logs are forwarded to it` } : await localStackChoice(opts.image);
  if (!choice.use) return { reason: choice.reason };
  const ls = opts.localstackUrl ? { url: opts.localstackUrl, stop: async () => {} } : await startLocalStack(opts.runId, opts.image);
  try {
    await seedLocalStackSecrets(ls.url, opts.region, opts.secrets, opts.account);
    const front = await startForwardingFront({ edge: opts.edge, forwardTo: ls.url });
    const sinks: { close(): Promise<void> }[] = [];
    opts.log?.(`localstack: ${ls.url} serves Secrets Manager, IAM, STS, CloudWatch Logs behind ${front.url}`);
    return {
      reason: choice.reason,
      tier: {
        endpoint: front.url,
        localstackUrl: ls.url,
        secrets: forwardingSecretSource({ endpoint: ls.url, region: opts.region, account: opts.account }),
        logs: (inner) => {
          const sink = forwardingLogSink({ endpoint: ls.url, region: opts.region, account: opts.account, inner, log: opts.log });
          sinks.push(sink);
          return sink;
        },
        front,
        reason: choice.reason,
        stop: async () => {
          for (const s of sinks) await s.close().catch(() => undefined);
          await front.stop();
          await ls.stop();
        },
      },
    };
  } catch (e) {
    await ls.stop();
    throw e;
  }
}

/**
 * Starts LocalStack (only if its image is present; never pulled) with the forwarded services,
 * passing LOCALSTACK_AUTH_TOKEN through when set: through `@testcontainers/localstack` when
 * that package is installed, else a GenericContainer with the same settings. Labelled with
 * the run id (leftover cleanup removes it). Returns its edge URL and a stop function.
 */
export async function startLocalStack(runId: string, image = LOCALSTACK_IMAGE): Promise<{ url: string; stop(): Promise<void> }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const env: Record<string, string> = { SERVICES: Object.keys(FORWARDED_SERVICES).join(',') };
  if (process.env.LOCALSTACK_AUTH_TOKEN) env.LOCALSTACK_AUTH_TOKEN = process.env.LOCALSTACK_AUTH_TOKEN;
  const labels = { [HARNESS_LABEL]: '1', [LABEL_RUN_ID]: runId, [LABEL_OWNER_PID]: String(process.pid), 'dev.escher-harness.role': 'localstack' };
  const moduleName = '@testcontainers/localstack';
  const mod = (await import(moduleName).catch(() => undefined)) as { LocalstackContainer?: new (image: string) => InstanceType<typeof GenericContainer> } | undefined;
  const base = mod?.LocalstackContainer ? new mod.LocalstackContainer(image) : new GenericContainer(image).withExposedPorts(4566).withWaitStrategy(Wait.forHttp('/_localstack/health', 4566));
  const c = await base
    .withEnvironment(env)
    .withLabels(labels)
    .withName(`eh-${runId}-localstack`)
    .withPullPolicy({ shouldPull: () => false })
    .start();
  return { url: `http://${c.getHost()}:${c.getMappedPort(4566)}`, stop: async () => void (await c.stop({ timeout: 5000, removeVolumes: true })) };
}
