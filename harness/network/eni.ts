import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';

/** A fresh ENI id and MAC address (locally administered, as AWS's are). */
export function newEniIdentity(): { eniId: string; mac: string } {
  return {
    eniId: `eni-${randomBytes(9).toString('hex').slice(0, 17)}`,
    mac: `0a:${randomBytes(5).toString('hex').match(/../g)!.join(':')}`,
  };
}

/**
 * The subnets a task may be placed in, with their index in `all`: the service's own subnets,
 * or the first subnet when it names none. Throws AWS's error when none of them exists.
 */
export function candidateSubnets<T extends { subnetId: string }>(all: readonly T[], wanted: readonly string[]): { s: T; i: number }[] {
  const ids = wanted.length ? wanted : [all[0]!.subnetId];
  const out = all.map((s, i) => ({ s, i })).filter(({ s }) => ids.includes(s.subnetId));
  if (out.length === 0) throw new Error(`The subnet ID '${ids.join(', ')}' does not exist`);
  return out;
}

/** Writes a fabric's state file (task → namespace, for `harness exec`) atomically; a vanished run dir is not an error. */
export function writeStateFile(file: string | undefined, state: unknown): void {
  if (!file) return;
  try {
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state, null, 1));
    fs.renameSync(tmp, file);
  } catch {
    /* the run dir is gone */
  }
}

/** "The internet" of a run: an address in 198.18.0.0/15 (benchmarking space, never routed), derived from the run id. */
export function internetIpOf(runId: string): string {
  const h = createHash('sha256').update(runId).digest();
  return `198.18.${h[0]! % 250}.${(h[1]! % 250) + 2}`;
}
