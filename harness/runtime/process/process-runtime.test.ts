import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { describeTaskRuntimeContract, freePort, type ContractImageKind } from '../contract.ts';
import { stubImage } from '../stub-image.ts';
import type { ContainerSpec, ImageConfig } from '../types.ts';
import { findLeftoverProcesses, findLeftoverTempDirs, killLeftovers } from './leftovers.ts';
import { DNS_PRELOAD_PATH, ProcessRuntime } from './process-runtime.ts';

const RUN = `vt-${randomBytes(4).toString('hex')}`;

/** Task IPs for this test process: 127.<A>.<B>.<n>, A/B from the pid so parallel runs don't meet. */
function ipFor(n: number): string {
  const a = 100 + (process.pid % 100);
  const b = ((process.pid >> 7) + Math.floor(n / 250)) % 256;
  return `127.${a}.${b}.${(n % 250) + 1}`;
}

/** The generic stub with a tag's image ENV, as the catalogue gives it. */
function imageFor(kind: ContractImageKind): ImageConfig {
  switch (kind) {
    case 'healthy':
    case 'env-echo': // the stub echoes env fingerprints named by STUB_ECHO_ENV
      return stubImage({ STUB_VERSION: 'v1.0.0' });
    case 'unhealthy':
      return stubImage({ STUB_VERSION: 'fault-unhealthy', STUB_FAULT: 'unhealthy' });
    case 'crash':
      return stubImage({ STUB_VERSION: 'fault-crash', STUB_FAULT: 'crash' });
    case 'ignores-sigterm':
      return stubImage({ STUB_VERSION: 'v1.0.0', STUB_FAULT: 'ignore-sigterm' });
  }
}


const leftovers = async (runId: string) => {
  const procs = await findLeftoverProcesses((id) => id === runId);
  return procs.map((p) => `pid ${p.pid}: ${p.cmdline}`);
};

describeTaskRuntimeContract('process', async () => new ProcessRuntime({ runId: RUN }), { ipFor, imageFor, runId: RUN, leftovers });

describe('ProcessRuntime (loopback mode)', () => {
  const rt = new ProcessRuntime({ runId: `${RUN}-own`, timeScale: 0.02 });
  let n = 200;
  afterAll(async () => {
    await rt.close();
    expect(await leftovers(`${RUN}-own`)).toEqual([]);
  });

  function spec(image: ImageConfig, over: Partial<ContainerSpec> = {}): ContainerSpec & { lines: string[] } {
    const lines: string[] = [];
    return {
      runId: `${RUN}-own`,
      taskId: `task${n}`,
      family: 'f',
      containerName: 'c',
      image,
      env: {},
      ports: [],
      ip: ipFor(n++),
      onLog: (_s, l) => lines.push(l),
      lines,
      ...over,
    };
  }
  const sh = (script: string): ImageConfig => ({ cmd: ['/bin/sh', '-c', script], env: {} });

  it('says that it does not enforce isolation', () => {
    expect(rt.name).toBe('process');
    expect(rt.isolationEnforced).toBe(false);
  });

  it('rejects start only when nothing can be spawned; an immediate crash is an exit', async () => {
    await expect(rt.start(spec({ cmd: ['/nonexistent/binary'], env: {} }))).rejects.toThrow(/CannotStartContainerError.*ENOENT/);
    await expect(rt.start(spec({ cmd: [], env: {} }))).rejects.toThrow(/no command/);
    await expect(rt.start(spec(sh('true'), { ip: '10.0.1.5' }))).rejects.toThrow(/127\.0\.0\.0\/8/);
    const h = await rt.start(spec(sh('echo bye >&2; exit 7')));
    expect(await h.exited).toEqual({ exitCode: 7, signal: null });
  });

  it("refuses a registry image (a user's), saying to run with --runtime docker; a catalogue image in the registry still runs", async () => {
    const ref = '123456789012.dkr.ecr.us-west-1.amazonaws.com/web@sha256:' + 'f'.repeat(64);
    const user: ImageConfig = { cmd: [], env: {}, pull: { ref } };
    const reason = `CannotPullContainerError: ${ref} is a registry image; the process runtime runs only the harness's catalogue images — run with --runtime docker`;
    expect(rt.unsupportedImage(user)).toBe(reason);
    await expect(rt.start(spec(user))).rejects.toThrow(reason);
    const catalogue: ImageConfig = { ...sh('echo catalogue; exit 0'), stub: true, pull: { ref } };
    expect(rt.unsupportedImage(catalogue)).toBeUndefined();
    expect(rt.unsupportedImage(sh('true'))).toBeUndefined();
    const h = await rt.start(spec(catalogue));
    expect(await h.exited).toEqual({ exitCode: 0, signal: null });
  });

  it('gives the process a minimal env: base + image + task + HOST and the run/task ids, nothing else of the harness', async () => {
    process.env.HARNESS_TEST_SHOULD_NOT_LEAK = 'leak';
    try {
      const s = spec(
        { cmd: ['/bin/sh', '-c', 'env; pwd'], env: { STUB_VERSION: 'img', SHARED: 'image' } },
        { env: { SHARED: 'task', SECRET_X: 's' } },
      );
      const h = await rt.start(s);
      await h.exited;
      const env = Object.fromEntries(s.lines.filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(env).toMatchObject({
        STUB_VERSION: 'img',
        SHARED: 'task',
        SECRET_X: 's',
        HOST: s.ip,
        HARNESS_RUN_ID: `${RUN}-own`,
        HARNESS_TASK_ID: s.taskId,
        HARNESS_TIME_SCALE: '0.02',
      });
      expect(env.HARNESS_TEST_SHOULD_NOT_LEAK).toBeUndefined();
      expect(env.HARNESS_DNS_SERVER).toBeUndefined();
      expect(env.NODE_OPTIONS).toBeUndefined();
      expect(env.HOME).toBe(s.lines.at(-1)); // cwd = HOME = the task's own dir
      expect(env.HOME.startsWith(rt.tempDir)).toBe(true);
    } finally {
      delete process.env.HARNESS_TEST_SHOULD_NOT_LEAK;
    }
  });

  it('passes the DNS server and zones, and preloads the DNS shim only when it exists', async () => {
    const s = spec(sh('env'), { dnsServer: '127.0.0.53:5353' });
    (s as ContainerSpec & { dnsZones?: string[] }).dnsZones = ['sample.internal'];
    const h = await rt.start(s);
    await h.exited;
    expect(s.lines).toContain('HARNESS_DNS_SERVER=127.0.0.53:5353');
    expect(s.lines).toContain('HARNESS_DNS_ZONES=sample.internal');
    const nodeOptions = s.lines.find((l) => l.startsWith('NODE_OPTIONS='));
    if (existsSync(DNS_PRELOAD_PATH)) expect(nodeOptions).toBe(`NODE_OPTIONS=--import=${pathToFileURL(DNS_PRELOAD_PATH).href}`);
    else expect(nodeOptions).toBeUndefined();
    // a Node task starts fine with the preload in place
    const stub = spec(stubImage({ STUB_VERSION: 'v1.0.0' }), {
      dnsServer: '127.0.0.53:5353',
      env: { STUB_PORTS: String(await freePort()), HARNESS_DNS_ZONES: 'sample.internal' },
    });
    const sh2 = await rt.start(stub);
    await expect.poll(() => stub.lines.some((l) => l.includes('listening')), { timeout: 10_000 }).toBe(true);
    expect((await rt.stop(sh2, 2000)).exitCode).toBe(0);
  });

  it('a signal exit reports the signal and 128+n, as Docker does', async () => {
    const h = await rt.start(spec(sh('kill -KILL $$')));
    expect(await h.exited).toEqual({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('stop() takes down the whole process group, not only the main process', async () => {
    const s = spec(sh('sleep 300 & echo started; wait'));
    const h = await rt.start(s);
    await expect.poll(() => s.lines.includes('started'), { timeout: 5000 }).toBe(true);
    const before = (await findLeftoverProcesses((id) => id === `${RUN}-own`)).filter((p) => p.taskId === s.taskId);
    expect(before.some((p) => p.cmdline.startsWith('sleep 300'))).toBe(true);
    await rt.stop(h, 2000);
    const after = (await findLeftoverProcesses((id) => id === `${RUN}-own`)).filter((p) => p.taskId === s.taskId);
    expect(after).toEqual([]);
  });

  it('when the main process exits, the rest of its group goes too (as a container)', async () => {
    const s = spec(sh('sleep 300 & echo started; exit 0'));
    const h = await rt.start(s);
    expect(await h.exited).toEqual({ exitCode: 0, signal: null });
    expect(s.lines).toEqual(['started']);
    const after = (await findLeftoverProcesses((id) => id === `${RUN}-own`)).filter((p) => p.taskId === s.taskId);
    expect(after).toEqual([]);
  });

  it('exec: localhost in wget and curl means the task IP; a missing binary is exit 127; a stopped container refuses', async () => {
    const image = stubImage({ STUB_VERSION: 'v1.0.0' });
    const port = await freePort();
    const s = spec(image, { env: { STUB_PORTS: String(port) } });
    const h = await rt.start(s);
    await expect.poll(() => s.lines.some((l) => l.includes('listening')), { timeout: 10_000 }).toBe(true);
    if (rt.shimmedTools.includes('wget')) {
      const w = await rt.exec(h, ['CMD-SHELL', `wget -q -O - http://localhost:${port}/health`], 5000);
      expect(w).toMatchObject({ exitCode: 0, timedOut: false });
      expect(w.stdout).toContain('"status":"UP"');
    } else {
      console.log('wget not installed here: its loopback shim is not tested');
    }
    const c = await rt.exec(h, ['CMD', 'curl', '-sf', `http://[::1]:${port}/health`], 5000);
    expect(c.exitCode).toBe(0);
    const missing = await rt.exec(h, ['CMD', 'no-such-tool-here'], 5000);
    expect(missing).toMatchObject({ exitCode: 127, timedOut: false });
    await rt.stop(h, 2000);
    await expect(rt.exec(h, ['CMD-SHELL', 'true'], 1000)).rejects.toThrow(/not running/);
  });

  it('delivers a last line without a newline, and CRLF lines without the CR', async () => {
    const s = spec(sh("printf 'one\\r\\ntwo\\nthree'"));
    const h = await rt.start(s);
    await h.exited;
    expect(s.lines).toEqual(['one', 'two', 'three']);
  });
});

describe('leftovers of a killed run', () => {
  it('finds processes and the temp dir by run id, and killLeftovers removes them', async () => {
    const runId = `${RUN}-abandoned`;
    const rt = new ProcessRuntime({ runId });
    const h = await rt.start({
      runId,
      taskId: 'left1',
      family: 'f',
      containerName: 'c',
      image: { cmd: ['/bin/sh', '-c', 'echo up; exec sleep 300'], env: {} },
      env: {},
      ports: [],
      ip: ipFor(240),
      onLog: () => {},
    });
    // pretend the harness died: nothing calls rt.close()
    await expect.poll(async () => (await findLeftoverProcesses(runId)).length, { timeout: 5000 }).toBe(1);
    const [p] = await findLeftoverProcesses(runId);
    expect(p).toMatchObject({ runId, taskId: 'left1', pgid: p.pid });
    expect(p.cmdline).toMatch(/sleep 300/);
    expect(await findLeftoverTempDirs(runId)).toEqual([rt.tempDir]);
    // a prefix of another run does not match this one
    expect(await findLeftoverProcesses(`${RUN}-abandonedX`)).toEqual([]);

    const { killed, removedDirs } = await killLeftovers(runId);
    expect(killed.map((k) => k.pid)).toEqual([p.pid]);
    expect(removedDirs).toEqual([rt.tempDir]);
    expect((await h.exited).signal).toBe('SIGKILL');
    expect(await findLeftoverProcesses(runId)).toEqual([]);
    await rt.close(); // still safe
  });
});
