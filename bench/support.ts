import path from 'node:path';
import type { StartedHarness } from '../harness/scenario/harness.ts';
import { runScript } from '../harness/scenario/run-script.ts';

/** Runs the deployment's deploy-all.sh v2.15.0 against a started harness; ms it took, or throws with the output's tail. */
export async function deployAll(h: StartedHarness, logName: string): Promise<number> {
  const r = await runScript({
    script: path.join(h.deployDir, 'deploy-all.sh'),
    args: ['v2.15.0'],
    cwd: h.deployDir,
    env: h.cliEnv,
    logFile: path.join(h.runDir, 'scripts', logName),
  });
  if (r.exitCode !== 0) throw new Error(`deploy-all.sh failed in the benchmark (${h.runtime.name}):\n${r.output.slice(-2000)}`);
  return r.durationMs;
}
