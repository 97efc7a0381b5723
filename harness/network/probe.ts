/**
 * Running harness/network/probe.mjs where a task stands: inside its network namespace
 * (`ip netns exec`, so /etc/netns/<ns>/resolv.conf applies), or on the host bound to an
 * address (the "internet" address, a harness host's address).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IP_BIN } from './netns-fabric.ts';

export const PROBE_SCRIPT = fileURLToPath(new URL('./probe.mjs', import.meta.url));

export type TcpProbeResult = 'open' | 'refused' | 'blocked' | 'unreachable' | 'error';

export interface TcpProbe {
  target: string;
  result: TcpProbeResult;
  code?: string;
  ms: number;
}

export interface ProbeFrom {
  /** run inside this network namespace */
  netns?: string;
  /** bind to this local address (host side) */
  bind?: string;
}

function runProbe(from: ProbeFrom, args: string[], timeoutMs: number): Promise<unknown> {
  const argv = [process.execPath, PROBE_SCRIPT, ...args, ...(from.bind ? ['--bind', from.bind] : [])];
  const [cmd, ...cmdArgs] = from.netns ? [IP_BIN, 'netns', 'exec', from.netns, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' } });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`probe ${args[0]} ${from.netns ? `in ${from.netns}` : ''} failed (exit ${code}): ${err.trim() || out.trim()}`));
      }
    });
  });
}

/** Short-timeout TCP connects to `host:port` targets, all at once. */
export async function tcpProbe(from: ProbeFrom, targets: string[], timeoutMs = 1000): Promise<TcpProbe[]> {
  if (targets.length === 0) return [];
  return (await runProbe(from, ['tcp', String(timeoutMs), ...targets], timeoutMs)) as TcpProbe[];
}

/** One HTTP GET from where `from` stands. */
export async function httpProbe(from: ProbeFrom, url: string, timeoutMs = 3000): Promise<{ status?: number; text?: string; error?: string; code?: string }> {
  return (await runProbe(from, ['http', String(timeoutMs), url], timeoutMs)) as { status?: number; text?: string; error?: string; code?: string };
}

export interface ResolveProbe {
  name: string;
  addresses: string[] | null;
  ttl?: number;
  code?: string;
}

/** Resolves names through the system resolver where `from` stands (a task: its resolv.conf). */
export async function resolveProbe(from: ProbeFrom, names: string[]): Promise<ResolveProbe[]> {
  if (names.length === 0) return [];
  return (await runProbe(from, ['resolve', ...names], 10_000)) as ResolveProbe[];
}

/**
 * `fetch`-like GET from inside a namespace (for scenario checks that must stand where a task
 * stands): { status, body (JSON or undefined), text }; throws on a network error.
 */
export async function httpGetInNetns(netns: string, url: string, timeoutMs = 3000): Promise<{ status: number; body: any; text: string }> {
  const r = await httpProbe({ netns }, url, timeoutMs);
  if (r.status === undefined) {
    const e = new Error(r.error ?? 'request failed');
    if (r.code === 'ETIMEDOUT') e.name = 'TimeoutError';
    throw e;
  }
  let body: any;
  try {
    body = JSON.parse(r.text ?? '');
  } catch {
    body = undefined;
  }
  return { status: r.status, body, text: r.text ?? '' };
}
