import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';

const hookModule = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'exit-hook.ts')).href;

it('runs every hook at exit from one listener, however many module instances registered (no MaxListeners warning)', () => {
  // 12 fresh instances of the module (as vitest gives each test file), one hook each; one throws
  const script = `
    const before = process.listenerCount('exit');
    for (let i = 0; i < 12; i++) {
      const m = await import('${hookModule}?instance=' + i);
      m.onProcessExit(() => { if (i === 3) throw new Error('boom'); process.stdout.write('hook' + i + ' '); });
    }
    process.stdout.write('added=' + (process.listenerCount('exit') - before) + ' ');
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: path.dirname(fileURLToPath(import.meta.url)) });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('added=1 ');
  for (let i = 0; i < 12; i++) if (i !== 3) expect(r.stdout).toContain(`hook${i} `);
  expect(r.stderr).not.toMatch(/MaxListenersExceeded/);
});
