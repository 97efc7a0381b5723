/**
 * The contract every TaskRuntime passes (process/ and docker/ each wire it into a test file).
 * Behaviour a scheduler relies on: a container listens at its task IP, health checks run in
 * the container's context with ECS semantics, crashes and stops report the right exit, logs
 * and env reach the right places, and close() leaves nothing behind.
 *
 * The images (from opts.imageFor) must be the generic stub (stubs/service.mjs, see
 * stubs/lib/contract.mjs) or behave like it:
 * - 'healthy'          answers `/health` (no STUB_HEALTH_PATHS), listens on HOST at the port the
 *                      contract gives in STUB_PORTS, logs one stdout line per request
 *                      ("GET /version 200 1.2ms") and exits 0 on SIGTERM
 * - 'unhealthy'        the same, but `/health` answers 503
 * - 'crash'            writes an error line and exits 1 at start
 * - 'ignores-sigterm'  healthy, but ignores SIGTERM (STUB_FAULT=ignore-sigterm)
 * - 'env-echo'         healthy, and at start logs `env <NAME> sha256=<hex>` (or `env <NAME>
 *                      unset`) for each name in STUB_ECHO_ENV (comma-separated)
 * Health checks use curl, so the runtime's containers need a shell and curl.
 */
import { freePort } from '../free-port.ts';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerExit, ContainerSpec, ImageConfig, TaskRuntime } from './types.ts';

export type ContractImageKind = 'healthy' | 'crash' | 'unhealthy' | 'ignores-sigterm' | 'env-echo';

export interface TaskRuntimeContractOptions {
  /** the n-th distinct task IP (n = 0, 1, …) the runtime can give a container */
  ipFor(n: number): string;
  imageFor(kind: ContractImageKind): ImageConfig;
  /** run id put on every spec (default: a fresh `contract-<hex>`) */
  runId?: string;
  /**
   * Optional: what of a run is still alive (processes, containers …), described one per
   * entry. Used to prove close() leaves nothing running beyond what the API shows.
   */
  leftovers?(runId: string): Promise<string[]>;
  /** how long a container may take to become reachable (default 15 s; QEMU is slow) */
  readyTimeoutMs?: number;
}

interface Logs {
  lines: { stream: 'stdout' | 'stderr'; line: string }[];
  /** resolves with the first line (past or future) matching re, rejects after ms */
  waitFor(re: RegExp, ms?: number): Promise<string>;
}

function collectLogs(): Logs & { onLog: ContainerSpec['onLog'] } {
  const lines: Logs['lines'] = [];
  const waiters = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  return {
    lines,
    onLog(stream, line) {
      lines.push({ stream, line });
      for (const w of waiters) {
        if (w.re.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    },
    waitFor(re, ms = 10_000) {
      const found = lines.find((l) => re.test(l.line));
      if (found) return Promise.resolve(found.line);
      return new Promise((resolve, reject) => {
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(t);
            resolve(l);
          },
        };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no log line matching ${re} within ${ms}ms; got: ${lines.map((l) => l.line).join(' | ')}`));
        }, ms);
        waiters.add(w);
      });
    },
  };
}


/** GET with a per-attempt timeout; rejects on connection errors. */
async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

/** Polls url until it answers (any status) or the deadline passes; fails early if the container exits. */
async function waitForHttp(url: string, exited: Promise<ContainerExit>, deadlineMs: number): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + deadlineMs;
  let gone: ContainerExit | undefined;
  void exited.then((e) => (gone = e));
  let lastErr: unknown;
  for (;;) {
    if (gone) throw new Error(`container exited (${JSON.stringify(gone)}) before ${url} answered`);
    try {
      return await httpGet(url, 1000);
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${deadlineMs}ms: ${String(lastErr)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolves true if p settles within ms. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (t = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(t);
  }
}

const killedBySigkill = (e: ContainerExit) => e.signal === 'SIGKILL' || e.exitCode === 137;

export function describeTaskRuntimeContract(
  name: string,
  make: () => Promise<TaskRuntime>,
  opts: TaskRuntimeContractOptions,
): void {
  const runId = opts.runId ?? `contract-${randomBytes(4).toString('hex')}`;
  const readyMs = opts.readyTimeoutMs ?? 15_000;

  describe(`TaskRuntime contract: ${name}`, () => {
    let rt: TaskRuntime;
    let nextIp = 0;
    let nextTask = 0;

    beforeAll(async () => {
      rt = await make();
    });
    afterAll(async () => {
      await rt?.close();
      if (opts.leftovers) expect(await opts.leftovers(runId)).toEqual([]);
    });

    /** Starts a container of `kind` at a fresh IP on a free port. */
    async function startContainer(
      kind: ContractImageKind,
      extra: { env?: Record<string, string>; ip?: string; port?: number; runtime?: TaskRuntime; runId?: string; files?: ContainerSpec['files'] } = {},
    ) {
      const logs = collectLogs();
      const port = extra.port ?? (await freePort());
      const ip = extra.ip ?? opts.ipFor(nextIp++);
      const taskId = `${(nextTask++).toString(16).padStart(8, '0')}${randomBytes(12).toString('hex')}`;
      const image = opts.imageFor(kind);
      const spec: ContainerSpec = {
        runId: extra.runId ?? runId,
        taskId,
        family: `contract-${kind}`,
        containerName: kind,
        image,
        env: { STUB_SERVICE: `contract-${kind}`, STUB_PORTS: String(port), ...extra.env },
        ports: [port],
        ip,
        ...(extra.files ? { files: extra.files } : {}),
        onLog: logs.onLog,
      };
      const handle = await (extra.runtime ?? rt).start(spec);
      return { handle, logs, ip, port, url: `http://${ip}:${port}` };
    }

    async function startReady(kind: ContractImageKind, extra: Parameters<typeof startContainer>[1] = {}) {
      const c = await startContainer(kind, extra);
      await waitForHttp(`${c.url}/version`, c.handle.exited, readyMs);
      return c;
    }

    it('reports its name and whether it enforces isolation', () => {
      expect(['process', 'docker']).toContain(rt.name);
      expect(typeof rt.isolationEnforced).toBe('boolean');
    });

    it('starts a container that answers HTTP at its task IP and port', async () => {
      const c = await startReady('healthy');
      expect(c.handle.ip).toBe(c.ip);
      expect(c.handle.containerName).toBe('healthy');
      const v = await httpGet(`${c.url}/version`);
      expect(v.status).toBe(200);
      expect(v.body).toMatchObject({ service: 'contract-healthy', version: expect.any(String) });
      expect((await httpGet(`${c.url}/health`)).status).toBe(200);
      await rt.stop(c.handle, 5000);
    });

    it('the image ENV reaches the container under the task env (the task env wins)', async () => {
      const imageVersion = opts.imageFor('healthy').env.STUB_VERSION;
      expect(imageVersion).toBeTruthy();
      const [plain, overridden] = await Promise.all([startReady('healthy'), startReady('healthy', { env: { STUB_VERSION: 'from-the-task' } })]);
      expect((await httpGet(`${plain.url}/version`)).body.version).toBe(imageVersion);
      expect((await httpGet(`${overridden.url}/version`)).body.version).toBe('from-the-task');
      await Promise.all([rt.stop(plain.handle, 5000), rt.stop(overridden.handle, 5000)]);
    });

    it('a container with several ports (STUB_PORTS) answers on each at its task IP', async () => {
      const [p1, p2] = [await freePort(), await freePort()];
      const c = await startReady('healthy', { port: p1, env: { STUB_PORTS: `${p1},${p2}` } });
      await waitForHttp(`http://${c.ip}:${p2}/health`, c.handle.exited, readyMs);
      expect((await httpGet(`http://${c.ip}:${p2}/health`)).status).toBe(200);
      expect((await httpGet(`http://${c.ip}:${p1}/health`)).status).toBe(200);
      await rt.stop(c.handle, 5000);
    });

    it('runs two containers of the same service on the same port at different IPs at once', async () => {
      const port = await freePort();
      const [a, b] = await Promise.all([startReady('healthy', { port }), startReady('healthy', { port })]);
      expect(a.ip).not.toBe(b.ip);
      expect(a.handle.taskId).not.toBe(b.handle.taskId);
      // each answers on its own address, and the request lands in its own logs
      await httpGet(`${a.url}/version?who=a`);
      await httpGet(`${b.url}/version?who=b`);
      await a.logs.waitFor(/GET \/version 200/);
      await b.logs.waitFor(/GET \/version 200/);
      const exits = await Promise.all([rt.stop(a.handle, 5000), rt.stop(b.handle, 5000)]);
      expect(exits.map(killedBySigkill)).toEqual([false, false]);
    });

    it('runs a CMD-SHELL health check in the container: passes when healthy, fails when unhealthy', async () => {
      const [good, bad] = await Promise.all([startReady('healthy'), startReady('unhealthy')]);
      const check = (port: number) => ['CMD-SHELL', `curl -f http://localhost:${port}/health || exit 1`];
      const ok = await rt.exec(good.handle, check(good.port), 5000);
      expect(ok).toMatchObject({ exitCode: 0, timedOut: false });
      expect(ok.stdout).toMatch(/ok|UP/);
      const fail = await rt.exec(bad.handle, check(bad.port), 5000);
      expect(fail).toMatchObject({ exitCode: 1, timedOut: false });
      // the checks reached each container's own server
      await good.logs.waitFor(/GET \/health 200/);
      await bad.logs.waitFor(/GET \/health 503/);
      await Promise.all([rt.stop(good.handle, 5000), rt.stop(bad.handle, 5000)]);
    });

    it('runs a CMD (exec form) health check with its arguments as given', async () => {
      const c = await startReady('healthy');
      const ok = await rt.exec(c.handle, ['CMD', 'curl', '-sf', `http://127.0.0.1:${c.port}/health`], 5000);
      expect(ok).toMatchObject({ exitCode: 0, timedOut: false });
      // no shell: "||" is an argument, not an operator
      const noShell = await rt.exec(c.handle, ['CMD', 'sh', '-c', 'exit 3', '||', 'true'], 5000);
      expect(noShell.exitCode).toBe(3);
      await rt.stop(c.handle, 5000);
    });

    it('an exec that outlives its timeout is killed and reported as timedOut', async () => {
      const c = await startReady('healthy');
      const started = Date.now();
      const r = await rt.exec(c.handle, ['CMD-SHELL', 'sleep 30'], 300);
      expect(r).toMatchObject({ timedOut: true, exitCode: -1 });
      expect(Date.now() - started).toBeLessThan(5000);
      // the container is unaffected
      expect((await httpGet(`${c.url}/health`)).status).toBe(200);
      await rt.stop(c.handle, 5000);
    });

    it('health-check commands see the task environment', async () => {
      const c = await startReady('healthy', { env: { CONTRACT_MARKER: 'm-42' } });
      const r = await rt.exec(c.handle, ['CMD-SHELL', 'test "$CONTRACT_MARKER" = m-42'], 5000);
      expect(r.exitCode).toBe(0);
      await rt.stop(c.handle, 5000);
    });

    it('files the harness adds are in the container before it starts, and env values naming them point at them', async () => {
      const file = '/etc/escher-harness/contract-ca.pem';
      const c = await startReady('healthy', { files: [{ path: file, content: 'contract-file-42\n' }], env: { CONTRACT_FILE: file } });
      const r = await rt.exec(c.handle, ['CMD-SHELL', 'test "$(cat "$CONTRACT_FILE")" = contract-file-42'], 5000);
      expect(r.exitCode, r.stderr).toBe(0);
      await rt.stop(c.handle, 5000);
    });

    it("a crashing image's exit gives exitCode 1, and its error line reaches the logs", async () => {
      const c = await startContainer('crash');
      const exit = await c.handle.exited;
      expect(exit.exitCode).toBe(1);
      await c.logs.waitFor(/\S/);
      expect(c.logs.lines.some((l) => l.stream === 'stderr' && l.line.trim() !== '')).toBe(true);
    });

    it('stop() on a well-behaved container: SIGTERM, exits at once, no SIGKILL needed', async () => {
      const c = await startReady('healthy');
      const started = Date.now();
      const exit = await rt.stop(c.handle, 10_000);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(killedBySigkill(exit)).toBe(false);
      expect(exit.exitCode).toBe(0);
      expect(await c.handle.exited).toEqual(exit);
      await expect(httpGet(`${c.url}/health`, 1000)).rejects.toThrow();
    });

    it('stop() on a container that ignores SIGTERM: SIGKILL after the timeout', async () => {
      const c = await startReady('ignores-sigterm');
      const started = Date.now();
      const exit = await rt.stop(c.handle, 600);
      const took = Date.now() - started;
      expect(killedBySigkill(exit)).toBe(true);
      expect(took).toBeGreaterThanOrEqual(550);
      expect(took).toBeLessThan(5000);
      await c.logs.waitFor(/SIGTERM/); // it did get the SIGTERM first
    });

    it('stop() after the container exited resolves with that exit', async () => {
      const c = await startContainer('crash');
      const exit = await c.handle.exited;
      expect(await rt.stop(c.handle, 1000)).toEqual(exit);
    });

    it('stdout lines reach onLog, one call per line', async () => {
      const c = await startReady('healthy');
      await httpGet(`${c.url}/version`);
      const line = await c.logs.waitFor(/GET \/version 200/);
      expect(line).not.toContain('\n');
      expect(c.logs.lines.find((l) => l.line === line)?.stream).toBe('stdout');
      await rt.stop(c.handle, 5000);
    });

    it('the task env, secrets included, is visible to the process', async () => {
      const secret = `sk-contract-${randomBytes(8).toString('hex')}`;
      const c = await startReady('env-echo', {
        env: { ANTHROPIC_API_KEY: secret, PLAIN_SETTING: 'plain', STUB_ECHO_ENV: 'ANTHROPIC_API_KEY,PLAIN_SETTING,NOT_SET_ANYWHERE' },
      });
      const sha = (s: string) => createHash('sha256').update(s).digest('hex');
      await c.logs.waitFor(new RegExp(`env ANTHROPIC_API_KEY sha256=${sha(secret)}`));
      await c.logs.waitFor(new RegExp(`env PLAIN_SETTING sha256=${sha('plain')}`));
      await c.logs.waitFor(/env NOT_SET_ANYWHERE unset/);
      expect(c.logs.lines.map((l) => l.line).join('\n')).not.toContain(secret);
      await rt.stop(c.handle, 5000);
    });

    it('close() stops everything it started and leaves nothing running', async () => {
      const own = await make();
      const closeRun = `${runId}-close`;
      const [a, b] = await Promise.all([
        startReady('healthy', { runtime: own, runId: closeRun }),
        startReady('ignores-sigterm', { runtime: own, runId: closeRun }),
      ]);
      const inflight = own.exec(a.handle, ['CMD-SHELL', 'sleep 30'], 60_000).catch((e: unknown) => e);
      await own.close();
      expect(await settlesWithin(Promise.all([a.handle.exited, b.handle.exited]), 1000)).toBe(true);
      expect(await settlesWithin(inflight, 5000)).toBe(true);
      await expect(httpGet(`${a.url}/health`, 1000)).rejects.toThrow();
      await expect(httpGet(`${b.url}/health`, 1000)).rejects.toThrow();
      if (opts.leftovers) expect(await opts.leftovers(closeRun)).toEqual([]);
      // closing twice is harmless
      await own.close();
    });
  });
}

export { freePort };
