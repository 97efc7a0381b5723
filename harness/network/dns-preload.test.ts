import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceDiscoveryStore } from '../aws/servicediscovery/store.ts';
import { CloudMapDnsServer } from './dns-server.ts';

const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dns-preload.mjs');
const TASK_IP = '127.0.0.2'; // a loopback-mode task address (Linux routes all of 127/8 to lo)

/** Runs a Node script as a task process would run: with the preload and the DNS env. */
function runTask(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', PRELOAD, '--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('dns-preload.mjs', () => {
  let dnsServer: CloudMapDnsServer;
  let web: http.Server;
  let webPort = 0;
  let env: Record<string, string>;

  beforeAll(async () => {
    const store = new ServiceDiscoveryStore({ account: '123456789012', region: 'us-west-1' });
    const { namespace } = store.createNamespace({ name: 'escher.internal', type: 'DNS_PRIVATE', vpc: 'vpc-1' });
    const svc = store.createService({ name: 'context-engine', namespaceId: namespace.id, dnsConfig: { DnsRecords: [{ Type: 'A', TTL: 10 }] } });
    store.registerInstance(svc.id, 'task-1', { AWS_INSTANCE_IPV4: TASK_IP });
    store.createNamespace({ name: 'other.zone', type: 'DNS_PRIVATE', vpc: 'vpc-1' });

    web = http.createServer((req, res) => res.end(`hello from ${req.socket.localAddress} host=${req.headers.host}`));
    await new Promise<void>((r) => web.listen(0, TASK_IP, () => r()));
    webPort = (web.address() as AddressInfo).port;

    dnsServer = new CloudMapDnsServer({ store, port: 0, staticHosts: { 'surrealdb.stand-in': TASK_IP } });
    const { port } = await dnsServer.start();
    env = {
      HARNESS_DNS_SERVER: `127.0.0.1:${port}`,
      HARNESS_DNS_ZONES: 'escher.internal,other.zone',
      HARNESS_DNS_EXTRA_NAMES: 'surrealdb.stand-in',
    };
  });

  afterAll(async () => {
    await dnsServer.stop();
    await new Promise<void>((r) => web.close(() => r()));
  });

  it('fetch and http.get reach a name in the zone at its registered IP', async () => {
    const script = `
      import http from 'node:http';
      const url = 'http://context-engine.escher.internal:${webPort}/health';
      const viaFetch = await (await fetch(url)).text();
      const viaHttp = await new Promise((resolve, reject) => {
        http.get(url, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve(b)); }).on('error', reject);
      });
      console.log(JSON.stringify({ viaFetch, viaHttp }));
    `;
    const r = await runTask(script, env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.viaFetch).toBe(`hello from ${TASK_IP} host=context-engine.escher.internal:${webPort}`);
    expect(out.viaHttp).toBe(out.viaFetch);
  });

  it('patches both lookup forms with Node semantics (all, family, ESM named exports)', async () => {
    const script = `
      import dns, { lookup as namedLookup } from 'node:dns';
      import { lookup as promisesLookup } from 'node:dns/promises';
      const cb = (fn) => new Promise((resolve) => fn((err, a, f) => resolve(err ? { code: err.code } : { a, f })));
      const out = {
        plain: await cb((done) => dns.lookup('context-engine.escher.internal', done)),
        named: await cb((done) => namedLookup('Context-Engine.Escher.Internal.', 4, done)),
        all: await cb((done) => dns.lookup('context-engine.escher.internal', { all: true }, done)),
        v6: await cb((done) => dns.lookup('context-engine.escher.internal', { family: 6 }, done)),
        promise: await promisesLookup('context-engine.escher.internal'),
        promiseAll: await dns.promises.lookup('context-engine.escher.internal', { all: true }),
        extra: await promisesLookup('surrealdb.stand-in'),
        outside: await promisesLookup('localhost'),
      };
      console.log(JSON.stringify(out));
    `;
    const r = await runTask(script, env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.plain).toEqual({ a: TASK_IP, f: 4 });
    expect(out.named).toEqual({ a: TASK_IP, f: 4 });
    expect(out.all).toEqual({ a: [{ address: TASK_IP, family: 4 }] });
    expect(out.v6).toEqual({ code: 'ENOTFOUND' });
    expect(out.promise).toEqual({ address: TASK_IP, family: 4 });
    expect(out.promiseAll).toEqual([{ address: TASK_IP, family: 4 }]);
    expect(out.extra).toEqual({ address: TASK_IP, family: 4 });
    expect(['127.0.0.1', '::1']).toContain(out.outside.address);
  });

  it('an unknown name in the zone fails as getaddrinfo does (ENOTFOUND), for fetch too', async () => {
    const script = `
      import dns from 'node:dns';
      const e1 = await new Promise((resolve) => dns.lookup('nope.escher.internal', (err) => resolve(err)));
      const e2 = await dns.promises.lookup('nope.other.zone').catch((e) => e);
      const e3 = await fetch('http://nope.escher.internal:8080/').catch((e) => e.cause);
      const shape = (e) => ({ message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, hostname: e.hostname, isError: e instanceof Error });
      console.log(JSON.stringify([shape(e1), shape(e2), shape(e3)]));
    `;
    const r = await runTask(script, env);
    expect(r.code, r.stderr).toBe(0);
    const [e1, e2, e3] = JSON.parse(r.stdout);
    expect(e1).toEqual({
      message: 'getaddrinfo ENOTFOUND nope.escher.internal',
      code: 'ENOTFOUND',
      errno: -3008,
      syscall: 'getaddrinfo',
      hostname: 'nope.escher.internal',
      isError: true,
    });
    expect(e2).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nope.other.zone' });
    expect(e3).toMatchObject({ code: 'ENOTFOUND', hostname: 'nope.escher.internal' });
  });

  it('a DNS server that does not answer gives EAI_AGAIN, and without the env nothing is patched', async () => {
    const script = `
      import dns from 'node:dns';
      const e = await dns.promises.lookup('context-engine.escher.internal').catch((e) => e);
      console.log(JSON.stringify({ code: e.code, syscall: e.syscall, name: dns.lookup.name }));
    `;
    const down = await runTask(script, { ...env, HARNESS_DNS_SERVER: '127.0.0.1:1' });
    expect(down.code, down.stderr).toBe(0);
    expect(JSON.parse(down.stdout)).toMatchObject({ code: 'EAI_AGAIN', syscall: 'getaddrinfo' });

    const unpatched = await runTask(script, {});
    expect(unpatched.code, unpatched.stderr).toBe(0);
    // Node's own getaddrinfo answers (the machine has no such name)
    expect(JSON.parse(unpatched.stdout)).toMatchObject({ syscall: 'getaddrinfo' });
  });
});
