import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerModeAvailable } from '../docker/select.ts';
import { LABEL_RUN_ID } from '../docker/docker-runtime.ts';
import { createLambdaRuntime } from './index.ts';
import type { FunctionSpec, LambdaRuntime } from './types.ts';
import { TEST_ACCOUNT as ACCOUNT, TEST_REGION as REGION, writeFunction } from './testing.ts';

/**
 * Docker mode's Lambda environments against the engine: a Node function runs in a container of
 * its architecture (arm64 under QEMU), reaches the harness's endpoint with the SDK it did not
 * bundle, sees a read-only root and code dir and a writable /tmp, logs START/END/REPORT, and
 * nothing of the run is left after close.
 */
const avail = await dockerModeAvailable();
if (!avail.ok) console.log(`Lambda container tests SKIPPED: docker mode unavailable (${avail.reason})`);

const RUN = `lc${randomBytes(4).toString('hex')}`;
const base = mkdtempSync(path.join(tmpdir(), 'lambda-container-test-'));
const lines: { group: string; message: string }[] = [];
const edgeTargets: string[] = [];
let edge: http.Server;
let rt: LambdaRuntime;
const containersOfRun = () => execFileSync('docker', ['ps', '-aq', '--filter', `label=${LABEL_RUN_ID}=${RUN}`], { encoding: 'utf8' }).trim();

const fn = (name: string, files: Record<string, string>, over: Partial<FunctionSpec> = {}) => writeFunction(base, name, files, { architecture: 'arm64', ...over });

const invoke = (spec: FunctionSpec, event: unknown = {}) =>
  rt.invoke(spec, Buffer.from(JSON.stringify(event)), { requestId: randomBytes(8).toString('hex') }).then((o) => ({ ...o, json: JSON.parse(o.payload.toString('utf8') || 'null') }));

const HANDLER = `
import fs from 'node:fs';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
const client = new DynamoDBClient({});
const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
export const handler = async () => {
  const tables = await client.send(new ListTablesCommand({}));
  return {
    arch: process.arch,
    tables: tables.TableNames,
    tmp: tryWrite('/tmp/scratch'),
    code: tryWrite(process.env.LAMBDA_TASK_ROOT + '/new-file'),
    root: tryWrite('/etc/new-file'),
  };
};`;

describe.skipIf(!avail.ok)(`Lambda environments as containers (docker mode)${avail.ok ? '' : ` (skipped: ${avail.reason})`}`, () => {
  beforeAll(async () => {
    edge = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        edgeTargets.push(String(req.headers['x-amz-target'] ?? ''));
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ TableNames: ['from-the-edge'] }));
      });
    });
    await new Promise<void>((r) => edge.listen(0, '127.0.0.1', () => r()));
    rt = createLambdaRuntime({
      runId: RUN,
      runDir: path.join(base, 'run'),
      region: REGION,
      account: ACCOUNT,
      awsEndpoint: `http://127.0.0.1:${(edge.address() as AddressInfo).port}`,
      appendLog: (group, _stream, message) => lines.push({ group, message }),
      scaledMs: (s) => s * 1000,
      containers: { slowdown: 1 },
    });
  });

  afterAll(async () => {
    await rt?.close();
    edge?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('an arm64 function runs as linux/arm64 with the unbundled SDK reaching the harness; root and code read-only, /tmp writable', async () => {
    const spec = fn('arm', { 'index.mjs': HANDLER });
    const o = await invoke(spec);
    expect(o.functionError, o.payload.toString()).toBeUndefined();
    expect(o.json).toEqual({ arch: 'arm64', tables: ['from-the-edge'], tmp: 'written', code: 'EROFS', root: 'EROFS' });
    expect(edgeTargets).toContain('DynamoDB_20120810.ListTables');
    expect(o.initDurationMs).toBeGreaterThan(0);
    // a container of this run is up while the environment is warm
    expect(containersOfRun()).not.toBe('');
    const mine = lines.filter((l) => l.group === spec.logGroup).map((l) => l.message);
    expect(mine.some((m) => m.startsWith('START RequestId:'))).toBe(true);
    expect(mine.some((m) => /^REPORT RequestId: .*Max Memory Used: \d+ MB\s+Init Duration/.test(m))).toBe(true);
    // warm: the same environment answers again, with no init
    const warm = await invoke(spec);
    expect(warm.json.arch).toBe('arm64');
    expect(warm.initDurationMs).toBeUndefined();
  }, 180_000);

  it('an x86_64 function runs as linux/amd64', async () => {
    const o = await invoke(fn('x86', { 'index.mjs': HANDLER }, { architecture: 'x86_64' }));
    expect(o.functionError, o.payload.toString()).toBeUndefined();
    expect(o.json.arch).toBe('x64');
  }, 300_000);

  it('close removes every container of the run', async () => {
    await rt.close();
    expect(containersOfRun()).toBe('');
  }, 60_000);
});
