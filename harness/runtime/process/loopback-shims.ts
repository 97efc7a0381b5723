import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * LOOPBACK-MODE SIMPLIFICATION. Without network namespaces every task listens on its own
 * 127.x.y.z address, but a health check written for a container says `localhost`
 * (`curl -f http://localhost:8080/q/health`). Inside a real task `localhost` is the task
 * itself; here it would be the host's 127.0.0.1, where nothing (or another task) listens.
 * So exec'd commands get a shim directory first on PATH whose `curl` and `wget` send
 * connections for localhost / 127.0.0.1 / [::1] to $HARNESS_TASK_IP instead, keeping the port
 * and the URL as written:
 *   curl: `--connect-to localhost::<ip>: --connect-to 127.0.0.1::<ip>: --connect-to [::1]::<ip>:`
 *         (curl ≥ 7.49; checked with 7.88 — the Host header stays "localhost:<port>")
 *   wget: has no --connect-to; URL arguments naming localhost/127.0.0.1 are rewritten to the IP.
 * Other clients (nc, bash /dev/tcp, a node/python one-liner) still reach the host's loopback.
 */
export const SHIMMED_TOOLS = ['curl', 'wget'] as const;

/** The first executable `name` on searchPath (PATH syntax), skipping `skipDir`. */
export function findExecutable(name: string, searchPath: string, skipDir?: string): string | undefined {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir || dir === skipDir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function curlShim(real: string): string {
  return `#!/bin/sh
# escher-harness loopback-mode shim: "localhost" in a task means the task's own IP.
if [ -n "$HARNESS_TASK_IP" ]; then
  exec ${q(real)} --connect-to "localhost::$HARNESS_TASK_IP:" --connect-to "127.0.0.1::$HARNESS_TASK_IP:" --connect-to "[::1]::$HARNESS_TASK_IP:" "$@"
fi
exec ${q(real)} "$@"
`;
}

function wgetShim(real: string): string {
  return `#!/bin/sh
# escher-harness loopback-mode shim: "localhost" in a task means the task's own IP.
ip="$HARNESS_TASK_IP"
if [ -n "$ip" ]; then
  n=$#
  while [ "$n" -gt 0 ]; do
    a=$1
    shift
    n=$((n - 1))
    case $a in
      http://localhost|http://localhost[:/]*) a="http://$ip\${a#http://localhost}" ;;
      https://localhost|https://localhost[:/]*) a="https://$ip\${a#https://localhost}" ;;
      http://127.0.0.1|http://127.0.0.1[:/]*) a="http://$ip\${a#http://127.0.0.1}" ;;
      https://127.0.0.1|https://127.0.0.1[:/]*) a="https://$ip\${a#https://127.0.0.1}" ;;
      localhost:*|localhost/*) a="$ip\${a#localhost}" ;;
      127.0.0.1:*|127.0.0.1/*) a="$ip\${a#127.0.0.1}" ;;
    esac
    set -- "$@" "$a"
  done
fi
exec ${q(real)} "$@"
`;
}

/**
 * Writes the shims into `dir` for the tools found on searchPath; returns the tools shimmed.
 * A tool missing on the host gets no shim (the command then fails as in an image without it).
 */
export function writeLoopbackShims(dir: string, searchPath: string): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const tool of SHIMMED_TOOLS) {
    const real = findExecutable(tool, searchPath, dir);
    if (!real) continue;
    writeFileSync(join(dir, tool), tool === 'curl' ? curlShim(real) : wgetShim(real), { mode: 0o755 });
    written.push(tool);
  }
  return written;
}
