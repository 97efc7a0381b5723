import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, type BenchResult } from './types.ts';

/**
 * Issue 14 (no waiting that is not AWS's): the time from the scripts' last `aws` call to the
 * scenario's verdict. Runs real scenario files (process runtime) through vitest, then reads each
 * run's timeline: the last api.call a script made (its caller tag), `script.end`,
 * `scenario.verdict` (Scenario.finish decides and writes the report before teardown) and
 * the timeline's last event (teardown done). Baseline in the same run: where the verdict came when it waited for teardown.
 * BENCH_SCENARIOS=a,b picks the scenarios (default deploy-all,deploy-single).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function run(): Promise<BenchResult[]> {
  const names = (process.env.BENCH_SCENARIOS || 'deploy-all,deploy-single').split(',').map((x) => x.trim()).filter(Boolean);
  const session = path.join(os.tmpdir(), `escher-bench-verdict-${process.pid}.txt`);
  fs.writeFileSync(session, '');
  const files = names.map((n) => `scenarios/${n}.scenario.test.ts`);
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'scenario', ...files], {
    cwd: root,
    env: { ...process.env, HARNESS_SESSION_FILE: session, HARNESS_RUNTIME: 'process' },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const dirs = fs.readFileSync(session, 'utf8').split('\n').filter(Boolean);
  fs.rmSync(session, { force: true });
  if (dirs.length === 0) throw new Error(`no scenario wrote a report (vitest exit ${r.status}): ${(r.stdout + r.stderr).split('\n').slice(-15).join('\n')}`);
  const results: BenchResult[] = [];
  const afterCall: number[] = [];
  const afterDown: number[] = [];
  for (const dir of dirs) {
    const tl = JSON.parse(fs.readFileSync(path.join(dir, 'timeline.json'), 'utf8')) as { t: number; type: string; caller?: string; scenario?: string }[];
    const verdict = tl.find((e) => e.type === 'scenario.verdict');
    // teardown done: the last event of the timeline (written again after teardown)
    const down = tl.some((e) => e.type === 'harness.down') ? tl.at(-1) : undefined;
    const lastCall = tl.filter((e) => e.type === 'api.call' && typeof e.caller === 'string' && e.caller.startsWith('harness-script-')).at(-1);
    if (!verdict || !lastCall) continue;
    const ms = verdict.t - lastCall.t;
    afterCall.push(ms);
    if (down) afterDown.push(down.t - lastCall.t);
    results.push({
      name: `${verdict.scenario}: last script aws call → verdict`,
      value: ms,
      unit: 'ms',
      ...(down ? { baseline: { name: 'last call → teardown done (where the verdict came before)', value: down.t - lastCall.t }, ratio: ms / (down.t - lastCall.t) } : {}),
      target: '< 1000 ms after the checks (the scenario\'s own probes count)',
    });
  }
  if (afterCall.length > 1) results.push({ name: 'median over the scenarios', value: median(afterCall), unit: 'ms', ...(afterDown.length ? { baseline: { name: 'median last call → teardown done', value: median(afterDown) }, ratio: median(afterCall) / median(afterDown) } : {}) });
  return results;
}
