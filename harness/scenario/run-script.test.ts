import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScript } from './run-script.ts';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-run-script-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function script(name: string, body: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, `set -euo pipefail\n${body}\n`, { mode: 0o644 }); // not executable on purpose
  return file;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('runScript', () => {
  it('reports a non-zero exit with the combined output, in the log file and line by line', async () => {
    const file = script('fail.sh', 'echo "to stdout $1"\necho "to stderr" >&2\nprintf "no newline"\nexit 3');
    const before = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const lines: [string, string][] = [];
    const logFile = path.join(tmp, 'logs', 'fail.log');
    const r = await runScript({ script: file, args: ['arg one'], logFile, onLine: (l, s) => lines.push([l, s]) });
    expect(r.exitCode).toBe(3);
    expect(r.signal).toBeNull();
    expect(r.timedOut).toBe(false);
    expect(r.output).toContain('to stdout arg one\n');
    expect(r.output).toContain('to stderr\n');
    expect(r.output).toContain('no newline');
    expect(lines).toContainEqual(['to stdout arg one', 'stdout']);
    expect(lines).toContainEqual(['to stderr', 'stderr']);
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).toContain(`bash ${file} arg one`);
    expect(log).toContain('to stdout arg one');
    expect(log).toContain('to stderr');
    expect(log).toMatch(/# exit 3 after \d+ ms/);
    expect(createHash('sha256').update(fs.readFileSync(file)).digest('hex')).toBe(before);
  });

  it("runs in the script's directory by default, with the given env and none of the caller's AWS settings", async () => {
    const file = script('env.sh', 'pwd\necho "X=${X}"\necho "PROFILE=${AWS_PROFILE-unset}"\necho "REGION=${AWS_REGION-unset}"');
    const saved = process.env.AWS_PROFILE;
    process.env.AWS_PROFILE = 'someones-real-profile';
    try {
      const r = await runScript({ script: file, env: { X: 'from harness', AWS_REGION: 'us-west-1' } });
      expect(r.exitCode).toBe(0);
      expect(r.output.split('\n').slice(0, 4)).toEqual([fs.realpathSync(tmp), 'X=from harness', 'PROFILE=unset', 'REGION=us-west-1']);
    } finally {
      if (saved === undefined) delete process.env.AWS_PROFILE;
      else process.env.AWS_PROFILE = saved;
    }
    const other = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    const r2 = await runScript({ script: file, cwd: other });
    expect(r2.output.split('\n')[0]).toBe(fs.realpathSync(other));
  });

  it('kills the whole process group on timeout', async () => {
    const pidFile = path.join(tmp, 'timeout.pid');
    const file = script('hang.sh', `sleep 30 &\necho $! > ${pidFile}\necho started\nsleep 30`);
    const r = await runScript({ script: file, timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode === null ? r.signal : 'exit ' + r.exitCode).toBe('SIGTERM');
    expect(r.output).toContain('started');
    expect(r.durationMs).toBeLessThan(5000);
    const bg = Number(fs.readFileSync(pidFile, 'utf8'));
    await expect.poll(() => alive(bg), { timeout: 5000 }).toBe(false);
  });

  it('kills the process group when aborted', async () => {
    const file = script('abort.sh', 'echo ready\nsleep 30');
    const ac = new AbortController();
    const r = await runScript({
      script: file,
      signal: ac.signal,
      onLine: (l) => {
        if (l === 'ready') ac.abort();
      },
    });
    expect(r.aborted).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.durationMs).toBeLessThan(5000);
  });

  it('uses SIGKILL when the script ignores SIGTERM', async () => {
    const file = script('stubborn.sh', "trap '' TERM\necho ready\nwhile true; do sleep 0.1; done");
    const r = await runScript({ script: file, timeoutMs: 300, killGraceMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
  });

  it('does not wait for background processes the script leaves behind', async () => {
    const pidFile = path.join(tmp, 'leftover.pid');
    const file = script('leftover.sh', `sleep 30 &\necho $! > ${pidFile}\necho done`);
    const r = await runScript({ script: file, timeoutMs: 10_000 });
    expect(r.exitCode).toBe(0);
    expect(r.timedOut).toBe(false);
    expect(r.durationMs).toBeLessThan(5000);
    const bg = Number(fs.readFileSync(pidFile, 'utf8'));
    await expect.poll(() => alive(bg), { timeout: 5000 }).toBe(false);
  });
});
