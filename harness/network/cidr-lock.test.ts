import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { acquireCidrLock, OWNER_DIR } from './netns-fabric.ts';

let writable = true;
try {
  fs.mkdirSync(OWNER_DIR, { recursive: true });
  fs.accessSync(OWNER_DIR, fs.constants.W_OK);
} catch {
  writable = false;
  console.log(`[cidr-lock] skipped: ${OWNER_DIR} is not writable here (needs root; CI runs as root)`);
}

describe.skipIf(!writable)('one live run per VPC CIDR on a host', () => {
  const cidr = `10.${200 + (process.pid % 50)}.0.0/16`;

  it('a second run of the same CIDR is told who holds it, or waits until the holder ends', async () => {
    const first = await acquireCidrLock(cidr, 'ehfirst001', 0);
    expect(first.ok).toBe(true);
    try {
      const refused = await acquireCidrLock(cidr, 'ehsecond01', 0);
      expect(refused).toEqual({ ok: false, reason: `another harness run (ehfirst001, pid ${process.pid}) holds VPC CIDR ${cidr} on this host` });
      const waiting = acquireCidrLock(cidr, 'ehsecond01', 30_000);
      setImmediate(() => first.ok && first.release());
      const second = await waiting;
      expect(second.ok).toBe(true);
      if (second.ok) second.release();
    } finally {
      if (first.ok) first.release();
    }
  });

  it("a dead holder's lock is taken over", async () => {
    const file = `${OWNER_DIR}/cidr-${cidr.replace(/[^0-9.]/g, '_')}.lock`;
    fs.writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 11, runId: 'ehdead0001' }));
    const got = await acquireCidrLock(cidr, 'ehlive0001', 0);
    expect(got.ok).toBe(true);
    if (got.ok) got.release();
    expect(fs.existsSync(file)).toBe(false);
  });
});
