#!/usr/bin/env node
// escher-harness network probe: runs where a task stands (inside its network namespace, via
// `ip netns exec`) or on the host bound to a given address, and prints one JSON document.
//
//   probe.mjs tcp <timeoutMs> <host:port>... [--bind <ip>]
//       short-timeout TCP connects: [{ target, result, code?, ms }] where result is
//       'open' (connected), 'refused' (RST: reachable, nothing listening), 'blocked' (no answer
//       before the timeout: dropped, e.g. by a security group), 'unreachable' (ICMP/no route),
//       or 'error'.
//   probe.mjs http <timeoutMs> <url> [--bind <ip>]
//       one GET: { status, text } or { error, code }
//   probe.mjs resolve <name>...
//       through the system resolver (getaddrinfo → /etc/resolv.conf) and c-ares for the TTL:
//       [{ name, addresses: string[] | null, ttl?, code? }]
import net from 'node:net';
import http from 'node:http';
import dns from 'node:dns';

const [mode, ...rest] = process.argv.slice(2);
const bindAt = rest.indexOf('--bind');
const bind = bindAt >= 0 ? rest[bindAt + 1] : undefined;
const args = bindAt >= 0 ? rest.filter((_, i) => i !== bindAt && i !== bindAt + 1) : rest;

function tcp(target, timeoutMs) {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const sock = net.connect({ host, port, ...(bind ? { localAddress: bind } : {}) });
    const finish = (result, code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ target, result, ...(code ? { code } : {}), ms: Math.round((performance.now() - t0) * 10) / 10 });
    };
    const timer = setTimeout(() => finish('blocked', 'ETIMEDOUT'), timeoutMs);
    sock.once('connect', () => finish('open'));
    sock.once('error', (e) => {
      const code = e.code ?? 'ERR';
      if (code === 'ECONNREFUSED') finish('refused', code);
      else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') finish('unreachable', code);
      else finish('error', code);
    });
  });
}

function get(url, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs, ...(bind ? { localAddress: bind } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
      res.on('error', (e) => resolve({ error: e.message, code: e.code }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => resolve({ error: e.message, code: e.code }));
  });
}

async function resolveName(name) {
  let addresses = null;
  let code;
  try {
    addresses = (await dns.promises.lookup(name, { all: true, family: 4 })).map((a) => a.address).sort();
  } catch (e) {
    code = e.code;
  }
  let ttl;
  if (addresses) {
    try {
      const r = await new dns.promises.Resolver({ timeout: 2000, tries: 2 }).resolve4(name, { ttl: true });
      ttl = Math.max(...r.map((x) => x.ttl));
    } catch {
      /* lookup answered (e.g. /etc/hosts); no TTL */
    }
  }
  return { name, addresses, ...(ttl !== undefined ? { ttl } : {}), ...(code ? { code } : {}) };
}

async function main() {
  if (mode === 'tcp') {
    const [timeout, ...targets] = args;
    return Promise.all(targets.map((t) => tcp(t, Number(timeout))));
  }
  if (mode === 'http') return get(args[1], Number(args[0]));
  if (mode === 'resolve') return Promise.all(args.map(resolveName));
  throw new Error(`usage: probe.mjs tcp|http|resolve …`);
}

main().then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
  },
  (e) => {
    process.stderr.write(`probe: ${e.message}\n`);
    process.exitCode = 2;
  },
);
