import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLambdaRuntime } from '../harness/runtime/lambda/index.ts';
import { rssKb } from '../harness/runtime/lambda/environment.ts';
import { RuntimeApiServer } from '../harness/runtime/lambda/runtime-api.ts';
import type { FunctionSpec, LambdaRuntime } from '../harness/runtime/lambda/types.ts';
import { median, percentile, type BenchResult } from './types.ts';
import { dockerModeAvailable } from '../harness/runtime/docker/select.ts';
import { ensureBaseImage } from '../harness/runtime/docker/images.ts';

const COLD = 8;
const WARM = 60;

/** ms from spawn to exit of `argv` (the floor under any process-based cold start) */
function spawnToExit(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', () => resolve(performance.now() - t0));
  });
}

async function floor(argv: string[]): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < COLD; i++) xs.push(await spawnToExit(argv));
  return median(xs);
}

/**
 * The Lambda runtime's costs: cold start (REPORT's Init Duration: spawn → the runtime's first
 * `invocation/next`) for a bare Node handler, one that imports the SDK v3 at init, and a python
 * handler, each against the bare interpreter start; warm invoke latency (invoke() call to
 * outcome, a trivial handler); RSS of an idle environment; the cost of opening one Runtime API
 * server (there is one per environment).
 */
export async function run(): Promise<BenchResult[]> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-bench-'));
  const rt: LambdaRuntime = createLambdaRuntime({
    runId: `bench-${randomBytes(3).toString('hex')}`,
    runDir: path.join(base, 'run'),
    region: 'eu-west-1',
    account: '123456789012',
    awsEndpoint: 'http://127.0.0.1:9',
    appendLog: () => undefined,
    scaledMs: (s) => s * 1000,
  });
  const fn = (name: string, files: Record<string, string>, over: Partial<FunctionSpec> = {}): FunctionSpec => {
    const codeDir = path.join(base, 'code', name);
    fs.mkdirSync(codeDir, { recursive: true });
    for (const [f, t] of Object.entries(files)) fs.writeFileSync(path.join(codeDir, f), t);
    return {
      functionName: name,
      functionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${name}`,
      version: '$LATEST',
      runtime: 'nodejs20.x',
      handler: 'index.handler',
      architecture: 'x86_64',
      memorySize: 512,
      timeout: 30,
      environment: {},
      codeDir,
      codeSha256: 'x',
      logGroup: `/aws/lambda/${name}`,
      role: 'arn:aws:iam::123456789012:role/r',
      ...over,
    };
  };
  let n = 0;
  const invoke = (spec: FunctionSpec) => rt.invoke(spec, Buffer.from('{}'), { requestId: `r-${++n}` });
  /** Init Duration of COLD cold starts (each one retired before the next) and the idle RSS after the last */
  const coldStarts = async (spec: FunctionSpec) => {
    const inits: number[] = [];
    let rss = 0;
    for (let i = 0; i < COLD; i++) {
      const o = await invoke(spec);
      if (o.functionError || o.initDurationMs === undefined) throw new Error(`${spec.functionName}: ${o.payload.toString()}`);
      inits.push(o.initDurationMs);
      if (i === COLD - 1) {
        await new Promise((r) => setTimeout(r, 200));
        rss = rssKb(rt.environments().find((e) => e.functionArn === spec.functionArn)?.pid) / 1024;
      }
      await rt.retire(spec.functionArn);
    }
    return { init: median(inits), rss };
  };

  try {
    const bare = fn('bare', { 'index.mjs': 'export const handler = async (event) => ({ ok: true, event });' });
    const cjs = fn('cjs', { 'index.js': 'exports.handler = async (event) => ({ ok: true, event });' });
    const sdk = fn('sdk', {
      'index.mjs': "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nconst c = new DynamoDBClient({});\nexport const handler = async () => ({ ok: typeof c.send });",
    });
    const py = fn('py', { 'lambda_function.py': 'def lambda_handler(event, context):\n    return {"ok": True}\n' }, { runtime: 'python3.12', handler: 'lambda_function.lambda_handler' });

    const nodeFloor = await floor([process.execPath, '-e', '']);
    const pythonExe = await new Promise<string>((resolve) => {
      const c = spawn('python3', ['-c', 'import sys; print(sys.executable)']);
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('exit', () => resolve(out.trim() || '/usr/bin/python3'));
    });
    const pythonFloor = await floor([pythonExe, '-c', '']);
    const nodeCold = await coldStarts(bare);
    const cjsCold = await coldStarts(cjs);
    const sdkCold = await coldStarts(sdk);
    const pyCold = await coldStarts(py);

    // warm: one environment, WARM sequential invocations after a first (cold) one
    await invoke(bare);
    const warm: number[] = [];
    for (let i = 0; i < WARM; i++) {
      const t0 = performance.now();
      const o = await invoke(bare);
      warm.push(performance.now() - t0);
      if (o.initDurationMs !== undefined) throw new Error('a warm invocation started cold');
    }
    await invoke(py);
    const warmPy: number[] = [];
    for (let i = 0; i < WARM; i++) {
      const t0 = performance.now();
      await invoke(py);
      warmPy.push(performance.now() - t0);
    }

    const servers: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      const s = await RuntimeApiServer.start({ onReady: () => undefined, onInitError: () => undefined, onResult: () => undefined });
      await s.close();
      servers.push(performance.now() - t0);
    }

    const containers = await containerCosts(base, fn, sdkCold.init);

    return [
      ...containers,
      { name: 'cold start, Node (Init Duration, bare ESM handler)', value: nodeCold.init, unit: 'ms', baseline: { name: 'node -e "" spawn→exit', value: nodeFloor }, ratio: nodeCold.init / nodeFloor },
      { name: 'cold start, Node CommonJS handler (no ESM resolve hook)', value: cjsCold.init, unit: 'ms', baseline: { name: 'node -e "" spawn→exit', value: nodeFloor }, ratio: cjsCold.init / nodeFloor },
      { name: 'cold start, Node importing @aws-sdk/client-dynamodb at init', value: sdkCold.init, unit: 'ms', baseline: { name: 'bare handler', value: nodeCold.init }, ratio: sdkCold.init / nodeCold.init },
      { name: 'cold start, python (3.11 for python3.12)', value: pyCold.init, unit: 'ms', baseline: { name: 'python3 -c "" spawn→exit', value: pythonFloor }, ratio: pyCold.init / pythonFloor },
      { name: 'warm invoke p50, Node', value: median(warm), unit: 'ms', note: `p95 ${percentile(warm, 95).toFixed(2)} ms` },
      { name: 'warm invoke p50, python', value: median(warmPy), unit: 'ms', note: `p95 ${percentile(warmPy, 95).toFixed(2)} ms` },
      { name: 'RSS of an idle environment, Node (bare)', value: nodeCold.rss, unit: 'MB' },
      { name: 'RSS of an idle environment, Node (SDK client loaded)', value: sdkCold.rss, unit: 'MB' },
      { name: 'RSS of an idle environment, python', value: pyCold.rss, unit: 'MB' },
      { name: 'Runtime API server open+close (one per environment)', value: median(servers), unit: 'ms' },
    ];
  } finally {
    await rt.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

/** cold starts per container, fewer than the process runtime's: each is seconds under QEMU */
const COLD_CONTAINER = 3;
const WARM_CONTAINER = 20;

/**
 * Docker mode's environments (runtime/lambda/container.ts): Init Duration of the SDK-importing
 * handler as a linux/arm64 container (QEMU) and a linux/amd64 one (native), against the process
 * runtime's in the same run and a bare `docker run … node -e ""` of the same image; warm invoke
 * p50 in the arm64 container. Empty when docker mode is unavailable (the reason is printed).
 */
async function containerCosts(base: string, fn: (name: string, files: Record<string, string>, over?: Partial<FunctionSpec>) => FunctionSpec, processSdkInit: number): Promise<BenchResult[]> {
  const avail = await dockerModeAvailable();
  if (!avail.ok) {
    console.log(`lambda-runtime: container part skipped: docker mode unavailable (${avail.reason})`);
    return [];
  }
  const rt = createLambdaRuntime({
    runId: `benchc${randomBytes(3).toString('hex')}`,
    runDir: path.join(base, 'run-containers'),
    region: 'eu-west-1',
    account: '123456789012',
    awsEndpoint: 'http://127.0.0.1:9',
    appendLog: () => undefined,
    scaledMs: (s) => s * 1000,
    containers: { slowdown: 1 },
  });
  const sdkFiles = {
    'index.mjs': "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nconst c = new DynamoDBClient({});\nexport const handler = async () => ({ ok: typeof c.send, arch: process.arch });",
  };
  let n = 0;
  const invoke = (spec: FunctionSpec) => rt.invoke(spec, Buffer.from('{}'), { requestId: `c-${++n}` });
  const cold = async (spec: FunctionSpec) => {
    const inits: number[] = [];
    for (let i = 0; i < COLD_CONTAINER; i++) {
      const o = await invoke(spec);
      if (o.functionError || o.initDurationMs === undefined) throw new Error(`${spec.functionName}: ${o.payload.toString()}`);
      inits.push(o.initDurationMs);
      await rt.retire(spec.functionArn);
    }
    return median(inits);
  };
  try {
    const arm = fn('sdk-arm64', sdkFiles, { architecture: 'arm64' });
    const x86 = fn('sdk-x86', sdkFiles, { architecture: 'x86_64' });
    const armImage = (await ensureBaseImage('arm64')).image;
    const floors: number[] = [];
    for (let i = 0; i < COLD_CONTAINER; i++) floors.push(await spawnToExit(['docker', 'run', '--rm', '--platform', 'linux/arm64', armImage, 'node', '-e', '']));
    const dockerFloor = median(floors);
    const armCold = await cold(arm);
    const x86Cold = await cold(x86);
    await invoke(arm);
    const warm: number[] = [];
    for (let i = 0; i < WARM_CONTAINER; i++) {
      const t0 = performance.now();
      const o = await invoke(arm);
      warm.push(performance.now() - t0);
      if (o.initDurationMs !== undefined) throw new Error('a warm invocation started cold');
    }
    return [
      { name: 'cold start, Node SDK handler as a linux/arm64 container (QEMU)', value: armCold, unit: 'ms', baseline: { name: 'the same handler, process runtime', value: processSdkInit }, ratio: armCold / processSdkInit },
      { name: 'the same, against docker run --platform linux/arm64 … node -e ""', value: armCold, unit: 'ms', baseline: { name: 'docker run arm64 node -e "" spawn→exit', value: dockerFloor }, ratio: armCold / dockerFloor },
      { name: 'cold start, Node SDK handler as a linux/amd64 container (native)', value: x86Cold, unit: 'ms', baseline: { name: 'the same handler, process runtime', value: processSdkInit }, ratio: x86Cold / processSdkInit },
      { name: 'warm invoke p50, Node, arm64 container', value: median(warm), unit: 'ms', note: `p95 ${percentile(warm, 95).toFixed(2)} ms` },
    ];
  } finally {
    await rt.close();
  }
}
