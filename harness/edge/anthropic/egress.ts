/**
 * Places the Anthropic stand-in "on the internet" for a run and tells tasks how to reach it:
 *
 * - netns / docker mode (the fabric has an `internetIp`): HTTPS on <internetIp>:443, outside
 *   the VPC; the VPC resolver answers api.anthropic.com with that address; tasks use the
 *   default https://api.anthropic.com (no override). Security groups decide who gets there.
 * - loopback mode (no internet address, 443 not ours to take): HTTPS on 127.0.0.1:<free port>;
 *   tasks get ANTHROPIC_BASE_URL=https://api.anthropic.com:<port>, and their DNS preload sends
 *   api.anthropic.com to the harness DNS server (HARNESS_DNS_EXTRA_NAMES), which answers 127.0.0.1.
 *
 * TLS: a certificate for api.anthropic.com signed by the run's CA (ca.ts); every task trusts
 * that CA through NODE_EXTRA_CA_CERTS, a file the harness adds to the task (ContainerSpec.files).
 */
import { ANTHROPIC_HOST } from './handlers.ts';
import { createHarnessCa, issueServerCert, type HarnessCa } from './ca.ts';
import { AnthropicStandIn, type AnthropicStandInOptions } from './server.ts';

/** Where the CA file lands inside every task (docker: copied in; process: rewritten to the task dir). */
export const TASK_CA_PATH = '/etc/escher-harness/harness-ca.pem';

export interface StaticDns {
  setStaticHost(name: string, ipv4: string): void;
  deleteStaticHost(name: string): void;
}

export interface TaskTrust {
  files: { path: string; content: string }[];
  env: Record<string, string>;
}

export interface AnthropicEgressOptions {
  runDir: string;
  runId: string;
  /** the fabric's address for "the internet" (netns, docker); absent → loopback placement */
  internetIp?: string;
  /** the API key the stand-in accepts (the value of the manifest's Anthropic key secret) */
  apiKey: string;
  /** DNS servers tasks resolve through: api.anthropic.com is published in each */
  dns: StaticDns[];
  events?: AnthropicStandInOptions['events'];
  log?: (line: string) => void;
}

export interface StartedAnthropicEgress {
  standIn: AnthropicStandIn;
  ca: HarnessCa;
  placement: 'internet' | 'loopback';
  host: string;
  port: number;
  /** the base URL tasks use (https://api.anthropic.com, or with the loopback port) */
  baseUrl: string;
  /** what the harness adds to every task: the CA file, NODE_EXTRA_CA_CERTS [, ANTHROPIC_BASE_URL, HARNESS_DNS_EXTRA_NAMES] */
  taskTrust: TaskTrust;
  /** one line for the summary */
  summary: string;
  stop(): Promise<void>;
}

export async function startAnthropicEgress(o: AnthropicEgressOptions): Promise<StartedAnthropicEgress> {
  const ca = createHarnessCa(o.runDir, o.runId);
  const cert = issueServerCert(ca, [ANTHROPIC_HOST], ANTHROPIC_HOST);
  const standIn = new AnthropicStandIn({ validKeys: () => [o.apiKey], tls: { key: cert.key, cert: cert.cert }, events: o.events, log: o.log });
  const placement = o.internetIp ? 'internet' : 'loopback';
  const host = o.internetIp ?? '127.0.0.1';
  const bound = await standIn.start(host, placement === 'internet' ? 443 : 0);
  for (const d of o.dns) d.setStaticHost(ANTHROPIC_HOST, host);
  const baseUrl = placement === 'internet' ? `https://${ANTHROPIC_HOST}` : `https://${ANTHROPIC_HOST}:${bound.port}`;
  const env: Record<string, string> = { NODE_EXTRA_CA_CERTS: TASK_CA_PATH };
  if (placement === 'loopback') {
    env.ANTHROPIC_BASE_URL = baseUrl;
    env.HARNESS_DNS_EXTRA_NAMES = ANTHROPIC_HOST;
  }
  const summary =
    placement === 'internet'
      ? `Anthropic API stand-in: https://${ANTHROPIC_HOST} → ${host}:443 outside the VPC (certificate from the run CA ${ca.certFile}; tasks trust it via NODE_EXTRA_CA_CERTS)`
      : `Anthropic API stand-in: ${baseUrl} → 127.0.0.1:${bound.port} (loopback: tasks get ANTHROPIC_BASE_URL; certificate from the run CA ${ca.certFile}, trusted via NODE_EXTRA_CA_CERTS)`;
  o.log?.(summary);
  return {
    standIn,
    ca,
    placement,
    host,
    port: bound.port,
    baseUrl,
    taskTrust: { files: [{ path: TASK_CA_PATH, content: ca.certPem }], env },
    summary,
    stop: async () => {
      for (const d of o.dns) d.deleteStaticHost(ANTHROPIC_HOST);
      await standIn.stop();
    },
  };
}
