import path from 'node:path';
import type { TaskNetwork } from '../ecs/deps.ts';
import type { DnsLookupResult, DnsSrvData, DnsZoneSource } from '../network/dns-server.ts';
import { SurrealServer, describeStorage, type SurrealCredentials, type SurrealStorage } from './surreal-server.ts';

/** SurrealDB's own default port, when the manifest names none. */
export const SURREAL_PORT = 8000;
/** The fabric's name for the SurrealDB host (addresses, container names). */
export const SURREAL_HOST_LABEL = 'surrealdb';

/** Parses the root secret's SecretString; throws a clear error when it is not the expected JSON. */
export function parseSurrealRootSecret(secretString: string, secretName = 'the root secret'): SurrealCredentials {
  let v: unknown;
  try {
    v = JSON.parse(secretString);
  } catch {
    throw new Error(`secret ${secretName} is not JSON {"username","password"}`);
  }
  const o = v as Partial<SurrealCredentials>;
  if (typeof o?.username !== 'string' || typeof o?.password !== 'string' || !o.username || !o.password) {
    throw new Error(`secret ${secretName} must hold {"username": "...", "password": "..."}`);
  }
  return { username: o.username, password: o.password };
}

/**
 * The data tier as the rest of the harness sees it, whatever runs it: the embedded server
 * (here) or, in Docker mode, the official image — same URL shape, same credentials.
 * `stop()`/`start()` take the database away and bring it back (the db-outage scenario);
 * `close()` is teardown.
 */
export interface SurrealEndpoint {
  /** what runs it, e.g. 'embedded @surrealdb/node 3.0.3' */
  readonly kind: string;
  /** `http://<ip>:4000` (reachable from the harness host and from tasks) */
  readonly url: string;
  /** the DNS name tasks use (the manifest's hosts.<name>.dns) */
  readonly hostname: string;
  readonly ip: string;
  readonly port: number;
  readonly credentials: SurrealCredentials;
  readonly storage: string;
  readonly running: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
  /**
   * SurrealQL as root from the database's side (what `surreal sql` on its host would show),
   * independent of the VPC's security groups and of stop(): for checks, never for traffic.
   */
  sql(query: string, opts?: { namespace?: string; database?: string }): Promise<SqlStatementResult[]>;
}

/**
 * Address records that live in a private namespace's hosted zone without being Cloud Map
 * instances (what an operator adds next to the records Cloud Map manages). Wraps the zone
 * source the DNS server answers from: a name here answers A with its address whether or not
 * the namespace exists yet; everything else is the registry's answer.
 */
export class HostRecords implements DnsZoneSource {
  private readonly records = new Map<string, string>();

  constructor(
    private readonly inner: DnsZoneSource,
    private readonly ttl = 10,
  ) {}

  set(fqdn: string, ipv4: string): void {
    this.records.set(normalize(fqdn), ipv4);
  }

  delete(fqdn: string): void {
    this.records.delete(normalize(fqdn));
  }

  resolve(fqdn: string, type: 'A' | 'AAAA' | 'SRV'): DnsLookupResult<string> | DnsLookupResult<DnsSrvData> {
    const res = this.inner.resolve(fqdn, type);
    const ip = this.records.get(normalize(fqdn));
    if (ip === undefined || res.kind === 'notInZone') return res; // outside the zones: the server's static hosts answer
    if (type === 'A') return { kind: 'answer', ttl: this.ttl, records: [ip], zone: res.zone };
    if (res.kind === 'nxdomain') return { kind: 'answer', ttl: this.ttl, records: [], zone: res.zone };
    return res;
  }
}

function normalize(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}

export interface EmbeddedDataTierOptions {
  fabric: TaskNetwork;
  /** subnet ids the host is placed in */
  subnets: string[];
  /** security group ids of the host (at `up` time the surrealdb group does not exist yet: []) */
  securityGroups?: string[];
  /** the DNS name tasks use (the manifest's hosts.<name>.dns), answered by the VPC resolver */
  hostname: string;
  dns: { setStaticHost(name: string, ip: string): void; deleteStaticHost(name: string): void };
  records?: HostRecords;
  credentials: SurrealCredentials;
  /** 'memory' (default) or 'disk' (surrealkv under `<runDir>/surrealdb`) */
  storage?: 'memory' | 'disk';
  runDir: string;
  port?: number;
  events?: { append(type: string, fields?: Record<string, unknown>): unknown };
  log?: (line: string) => void;
}

/**
 * Runs the embedded SurrealDB server as a host in the VPC: attaches it to the fabric, listens
 * on its address at the manifest's port, and publishes the manifest's DNS name in the VPC's DNS.
 */
export async function startEmbeddedDataTier(opts: EmbeddedDataTierOptions): Promise<SurrealEndpoint> {
  const hostname = opts.hostname;
  const host = await opts.fabric.attachHost(SURREAL_HOST_LABEL, opts.subnets, opts.securityGroups ?? []);
  const storage: SurrealStorage = opts.storage === 'disk' ? { kind: 'surrealkv', path: path.join(opts.runDir, 'surrealdb') } : { kind: 'memory' };
  const server = new SurrealServer({
    host: host.ip,
    port: opts.port ?? SURREAL_PORT,
    credentials: opts.credentials,
    storage,
    events: opts.events,
    log: opts.log,
  });
  try {
    await server.start();
  } catch (e) {
    await opts.fabric.detachHost(SURREAL_HOST_LABEL);
    throw e;
  }
  opts.dns.setStaticHost(hostname, host.ip);
  opts.records?.set(hostname, host.ip);
  let closed = false;
  return {
    kind: 'embedded @surrealdb/node',
    get url() {
      return server.url;
    },
    hostname,
    ip: host.ip,
    get port() {
      return server.address!.port;
    },
    credentials: opts.credentials,
    storage: describeStorage(storage),
    get running() {
      return server.running;
    },
    start: async () => {
      await server.start();
    },
    stop: () => server.stop(),
    sql: (query, o) => server.sql(query, o) as Promise<SqlStatementResult[]>,
    close: async () => {
      if (closed) return;
      closed = true;
      await server.close();
      opts.dns.deleteStaticHost(hostname);
      opts.records?.delete(hostname);
      await opts.fabric.detachHost(SURREAL_HOST_LABEL);
    },
  };
}

/** One statement's answer from HTTP /sql. */
export interface SqlStatementResult {
  status: 'OK' | 'ERR';
  result: unknown;
  time: string;
}

/**
 * Runs SurrealQL through an endpoint's HTTP /sql as root, over the network (from the harness
 * host: security groups apply in netns mode). Throws on a transport error or a non-200 answer.
 */
export async function surrealSqlOverHttp(
  endpoint: Pick<SurrealEndpoint, 'url' | 'credentials'>,
  query: string,
  opts: { namespace?: string; database?: string; timeoutMs?: number } = {},
): Promise<SqlStatementResult[]> {
  const { username, password } = endpoint.credentials;
  const res = await fetch(`${endpoint.url}/sql`, {
    method: 'POST',
    headers: {
      accept: 'application/json',
      authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
      ...(opts.namespace ? { 'surreal-ns': opts.namespace } : {}),
      ...(opts.database ? { 'surreal-db': opts.database } : {}),
    },
    body: query,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`SurrealDB /sql answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as SqlStatementResult[];
}
