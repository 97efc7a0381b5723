import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stubImage } from '../stub-image.ts';
import type { ContainerSpec } from '../types.ts';
import { ProcessRuntime } from './process-runtime.ts';

/**
 * Netns mode of the process runtime (root only): a spec naming a network namespace runs
 * there, listens on 0.0.0.0 of its own stack, and its health checks run there too, so the
 * task definition's `curl -f http://localhost:<port>/…` reaches the task itself.
 */
const root = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list']).status === 0;
if (!root) console.log('process runtime netns tests skipped: needs Linux, root and `ip netns`');

const NS = `vt${randomBytes(4).toString('hex')}-ns`;

describe.runIf(root)('ProcessRuntime (netns mode)', () => {
  const rt = new ProcessRuntime({ runId: `vt-${randomBytes(4).toString('hex')}`, timeScale: 0.02, netns: true });

  beforeAll(() => {
    expect(spawnSync('ip', ['netns', 'add', NS]).status).toBe(0);
    expect(spawnSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']).status).toBe(0);
  });
  afterAll(async () => {
    await rt.close();
    spawnSync('ip', ['netns', 'del', NS]);
  });

  it('reports isolation enforced, runs the task in its namespace and health checks there', async () => {
    expect(rt.isolationEnforced).toBe(true);
    const image = stubImage({ STUB_VERSION: 'v1.0.0' });
    const lines: string[] = [];
    const spec: ContainerSpec = {
      runId: rt.runId,
      taskId: 'netns-task',
      family: 'sample-service',
      containerName: 'app',
      image,
      env: { STUB_PORTS: '8000' },
      ports: [8000],
      ip: '10.200.1.10', // not a loopback address: fine, the namespace is its own stack
      netns: NS,
      onLog: (_s, l) => lines.push(l),
    };
    const h = await rt.start(spec);
    // inside: localhost is the task (no shim), as in a container
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      const r = await rt.exec(h, ['CMD-SHELL', 'curl -fsS http://localhost:8000/health'], 3000);
      ok = r.exitCode === 0;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok, lines.join('\n')).toBe(true);
    const ns = await rt.exec(h, ['CMD', 'ip', 'netns', 'identify'], 3000);
    expect(ns.stdout.trim()).toBe(NS);
    // outside: the host's loopback has nothing on 8000 from this task
    const outside = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: 8000 });
      s.once('connect', () => {
        s.destroy();
        resolve('open');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(outside).not.toBe('open');
    const exit = await rt.stop(h, 2000);
    expect(exit.exitCode).not.toBeNull();
  });
});
