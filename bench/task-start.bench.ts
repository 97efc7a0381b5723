import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { freePort } from '../harness/free-port.ts';
import { ProcessRuntime } from '../harness/runtime/process/process-runtime.ts';
import { stubImage } from '../harness/runtime/stub-image.ts';
import { median, percentile, type BenchResult } from './types.ts';

const SAMPLES = 20;

/** ms until a TCP connect to host:port succeeds, polling every ms (the earliest a health check or a peer could get through) */
async function untilListening(host: string, port: number, t0: number, limitMs = 10_000): Promise<number> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    const t = performance.now() - t0;
    if (ok) return t;
    if (t > limitMs) throw new Error(`${host}:${port} not listening after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Issue 14 item 2: a process-mode task listening within 100 ms of its start. ProcessRuntime.start
 * of the catalogue's stub (loopback mode, at a 127.x task address) until its port accepts a
 * connection, against the floor: a bare `node -e` that listens on a port, spawn → accepting.
 */
export async function run(): Promise<BenchResult[]> {
  const runId = `bench-ts-${randomBytes(3).toString('hex')}`;
  const rt = new ProcessRuntime({ runId, timeScale: 0.02 });
  const stub: number[] = [];
  const floor: number[] = [];
  try {
    for (let i = 0; i < SAMPLES; i++) {
      // the floor: node itself, listening
      const fport = await freePort();
      const t1 = performance.now();
      const bare = spawn(process.execPath, ['-e', `require('net').createServer(()=>{}).listen(${fport}, '127.0.0.1')`], { stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }); // not the bench's env: tsx's loader rides in NODE_OPTIONS
      floor.push(await untilListening('127.0.0.1', fport, t1));
      bare.kill('SIGKILL');

      const port = await freePort();
      const ip = `127.0.0.1`;
      const t0 = performance.now();
      const h = await rt.start({
        runId,
        taskId: `ts${i}${randomBytes(6).toString('hex')}`,
        family: 'bench',
        containerName: 'app',
        image: stubImage({ STUB_VERSION: 'v1.0.0' }),
        env: { STUB_SERVICE: 'bench', STUB_PORTS: String(port) },
        ports: [port],
        ip,
        onLog: () => undefined,
      });
      stub.push(await untilListening(ip, port, t0));
      await rt.stop(h, 1000, 'SIGKILL');
    }
  } finally {
    await rt.close();
  }
  const s = median(stub);
  const f = median(floor);
  return [
    {
      name: `process-mode task: start() → its port accepts a connection, the catalogue stub (median of ${SAMPLES})`,
      value: s,
      unit: 'ms',
      baseline: { name: 'bare node listening, spawn → accepting', value: f },
      ratio: s / f,
      target: '≤ 100 ms',
      note: `p95 ${percentile(stub, 95).toFixed(1)} ms`,
    },
  ];
}
