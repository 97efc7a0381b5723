import { spawn } from 'node:child_process';
import { IP_BIN } from '../network/netns-fabric.ts';

export interface JsonReply {
  status: number;
  /** parsed JSON, else the text */
  body: any;
  text: string;
}

// Runs inside the namespace: one fetch, the answer as one JSON line.
const SCRIPT = `
const [url, method, body, timeoutMs] = process.argv.slice(1);
fetch(url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body || undefined, signal: AbortSignal.timeout(Number(timeoutMs)) })
  .then(async (r) => console.log(JSON.stringify({ status: r.status, text: await r.text() })))
  .catch((e) => console.log(JSON.stringify({ error: e.cause?.message ?? e.message, code: e.cause?.code ?? e.name })));
`;

/**
 * One HTTP request with an optional JSON body. With `netns`, it is sent from inside that network
 * namespace (where a task stands: its security groups, its resolver); without, from the harness.
 * Rejects with `<METHOD> <url>: <code or message>` on a network error.
 */
export async function requestJson(url: string, opts: { method?: string; body?: unknown; timeoutMs?: number; netns?: string } = {}): Promise<JsonReply> {
  const method = opts.method ?? 'GET';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const payload = opts.body === undefined ? '' : JSON.stringify(opts.body);
  let status: number;
  let text: string;
  if (opts.netns) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(IP_BIN, ['netns', 'exec', opts.netns!, process.execPath, '-e', SCRIPT, url, method, payload, String(timeoutMs)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('error', reject);
      child.once('close', (code) => (stdout.trim() ? resolve(stdout) : reject(new Error(`${method} ${url} in ${opts.netns}: exit ${code} ${stderr.trim()}`))));
    });
    const r = JSON.parse(out) as { status?: number; text?: string; error?: string; code?: string };
    if (r.status === undefined) throw new Error(`${method} ${url}: ${r.code ?? r.error}`);
    status = r.status;
    text = r.text ?? '';
  } else {
    const res = await fetch(url, {
      method,
      headers: payload ? { 'content-type': 'application/json' } : {},
      body: payload || undefined,
      signal: AbortSignal.timeout(timeoutMs),
    }).catch((e: Error & { cause?: { code?: string; message?: string } }) => {
      throw new Error(`${method} ${url}: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
    });
    status = res.status;
    text = await res.text();
  }
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status, body, text };
}
