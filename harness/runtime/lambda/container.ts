/**
 * Docker mode's Lambda environments: the same bootstrap, Runtime API and handler code as the
 * process runtime, but the process is a container of the function's architecture (arm64 under
 * QEMU on an x86 host), started with `docker run` as the environment's child. What the container
 * sees, at the same paths as on the host (so every variable the environment sets holds inside):
 * the code dir and the runtime's bootstrap and SDK layer read-only, the environment's scratch
 * dir writable (Lambda's /tmp is mounted there too), a read-only root file system, the host's
 * network (its Runtime API server and the harness's AWS endpoint listen on 127.0.0.1).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { HARNESS_LABEL } from '../docker/images.ts';
import { LABEL_OWNER_PID, LABEL_RUN_ID, LABEL_ROLE } from '../docker/docker-runtime.ts';
import type { Launch } from './environment.ts';

/** A Lambda function's architecture as Docker names its platform. */
export type LambdaArchitecture = 'arm64' | 'x86_64';
export const platformOf = (a: LambdaArchitecture): 'arm64' | 'amd64' => (a === 'x86_64' ? 'amd64' : 'arm64');

/** The host's architecture as Docker names it. */
export const hostPlatform = (): 'arm64' | 'amd64' | string => (process.arch === 'x64' ? 'amd64' : process.arch);

/**
 * How much slower a Node cold start is in an emulated container than in a native one: `docker
 * run` + node + importing @aws-sdk/client-dynamodb took 3.4–3.7 s for linux/arm64 under QEMU and
 * 0.68–0.73 s for linux/amd64 on this 2-core x86 machine kind (BENCHMARKS.md, functions).
 */
export const EMULATION_SLOWDOWN = 5;

export interface ContainerLaunch {
  /** the image (node on PATH) of the function's architecture */
  image: string;
  platform: 'arm64' | 'amd64';
  /** host paths mounted at the same path, read-only (the code, the bootstrap, the SDK layer) */
  readOnly: string[];
  runId: string;
}

/** The container's name for one environment (unique per run and environment). */
export const containerName = (runId: string, envId: string) => `${HARNESS_LABEL}-${runId}-lambda-${envId}`;

/**
 * `docker run` for one environment: the docker CLI's argv, the environment passed as -e (the
 * CLI's own environment is not the container's), the function's command last. The scratch dir
 * is writable at its own path (TMPDIR points there) and as /tmp.
 */
export function dockerRunArgv(c: ContainerLaunch, name: string, command: string[], env: Record<string, string>, ctx: { scratch: string; codeDir: string }): string[] {
  const argv = ['docker', 'run', '--rm', '--name', name, '--pull', 'never', '--platform', `linux/${c.platform}`, '--network', 'host', '--read-only', '-w', ctx.codeDir];
  for (const [k, v] of Object.entries({ [HARNESS_LABEL]: '1', [LABEL_RUN_ID]: c.runId, [LABEL_OWNER_PID]: String(process.pid), [LABEL_ROLE]: 'lambda' })) argv.push('--label', `${k}=${v}`);
  const seen = new Set<string>();
  for (const p of [...c.readOnly, ctx.codeDir].map((x) => path.resolve(x))) if (!seen.has(p) && seen.add(p)) argv.push('-v', `${p}:${p}:ro`);
  const tmp = path.join(ctx.scratch, 'tmp');
  argv.push('-v', `${path.resolve(ctx.scratch)}:${path.resolve(ctx.scratch)}`, '-v', `${path.resolve(tmp)}:/tmp`);
  for (const [k, v] of Object.entries(env)) argv.push('-e', `${k}=${v}`);
  argv.push(c.image, ...command);
  return argv;
}

/** Launch['container'] for one image: how an environment's container starts, ends and is read. */
export function containerLauncher(c: ContainerLaunch): NonNullable<Launch['container']> {
  return {
    wrap(command, env, ctx) {
      const name = containerName(c.runId, ctx.id);
      return { name, argv: dockerRunArgv(c, name, command, env, ctx) };
    },
    remove: (name) =>
      new Promise((resolve) => {
        const p = spawn('docker', ['rm', '-f', name], { stdio: 'ignore' });
        p.on('error', () => resolve());
        p.on('exit', () => resolve());
      }),
    removeNow: (name) => void spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore', timeout: 10_000 }),
    pidOf: (name) =>
      new Promise((resolve) => {
        execFile('docker', ['inspect', '-f', '{{.State.Pid}}', name], { timeout: 10_000 }, (err, out) => {
          const pid = Number(String(out).trim());
          resolve(!err && pid > 0 ? pid : undefined);
        });
      }),
  };
}
