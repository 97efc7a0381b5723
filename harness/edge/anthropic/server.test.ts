import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { Resolver } from 'node:dns/promises';
import { CloudMapDnsServer } from '../../network/dns-server.ts';
import { startAnthropicEgress, TASK_CA_PATH, type StartedAnthropicEgress } from './egress.ts';
import { sha256Hex } from './server.ts';

const KEY = 'sk-ant-harness-test-key';

/** POST over real HTTPS, trusting only the given CA; servername api.anthropic.com (SNI + cert check). */
function post(port: number, ca: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, servername: 'api.anthropic.com', path: '/v1/messages', method: 'POST', ca, agent: false, headers: { host: 'api.anthropic.com', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('Anthropic stand-in over HTTPS (loopback placement)', () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'anthropic-test-'));
  const dns = new CloudMapDnsServer({ store: { resolve: () => ({ kind: 'notInZone' }) } as any, port: 0 });
  let egress: StartedAnthropicEgress;

  beforeAll(async () => {
    egress = await startAnthropicEgress({ runDir, runId: 'ehtest0001', apiKey: KEY, dns: [dns] });
  });
  afterAll(async () => {
    await egress?.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('tells tasks how to reach and trust it', () => {
    expect(egress.placement).toBe('loopback');
    expect(egress.baseUrl).toBe(`https://api.anthropic.com:${egress.port}`);
    expect(egress.taskTrust.env).toEqual({ NODE_EXTRA_CA_CERTS: TASK_CA_PATH, ANTHROPIC_BASE_URL: egress.baseUrl, HARNESS_DNS_EXTRA_NAMES: 'api.anthropic.com' });
    expect(egress.taskTrust.files[0]!.content).toContain('BEGIN CERTIFICATE');
    expect(fs.statSync(egress.ca.keyFile).mode & 0o077).toBe(0);
  });

  it('serves the Messages API with a certificate for api.anthropic.com from the run CA, and records the call', async () => {
    const r = await post(egress.port, egress.ca.certPem, { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' }, { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hello' }] });
    expect(r.status).toBe(200);
    expect(r.json.type).toBe('message');
    const calls = egress.standIn.calls();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ source: '127.0.0.1', method: 'POST', path: '/v1/messages', status: 200, keySha256: sha256Hex(KEY), messageId: r.json.id, requestId: r.headers['request-id'] });
    expect(calls[0]!.headers['x-api-key']).toBe('<redacted>');
    expect(JSON.stringify(calls[0])).not.toContain(KEY);
    expect(calls[0]!.headers['anthropic-version']).toBe('2023-06-01');
    expect(calls[0]!.body).toMatchObject({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hello' }] });
  });

  it('records a rejected call with the wrong key by its hash', async () => {
    const r = await post(egress.port, egress.ca.certPem, { 'x-api-key': 'sk-wrong', 'anthropic-version': '2023-06-01' }, { model: 'claude-sonnet-4-5', max_tokens: 1, messages: [] });
    expect(r.status).toBe(401);
    expect(egress.standIn.calls().at(-1)).toMatchObject({ status: 401, errorType: 'authentication_error', keySha256: sha256Hex('sk-wrong') });
  });

  it('a client without the run CA refuses the certificate', async () => {
    await expect(post(egress.port, '', { 'x-api-key': KEY }, {})).rejects.toThrow(/certificate|self.signed|issuer/i);
  });

  it('publishes api.anthropic.com in the given DNS server (and withdraws it on stop)', async () => {
    const addr = await dns.start();
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`${addr.host}:${addr.port}`]);
    expect(await resolver.resolve4('api.anthropic.com')).toEqual(['127.0.0.1']);
    await dns.stop();
  });
});
