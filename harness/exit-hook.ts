/**
 * Last-resort cleanup when the process exits without a teardown (an uncaught error,
 * process.exit): every hook runs, synchronously, from one 'exit' listener per process, however
 * many module instances register (vitest evaluates modules afresh for each test file of a
 * worker, so a module-level "installed" flag alone would add a listener per file).
 */
const REGISTRY = Symbol.for('escher-harness.exit-hooks');

export function onProcessExit(hook: () => void): void {
  const g = globalThis as { [REGISTRY]?: Set<() => void> };
  let hooks = g[REGISTRY];
  if (!hooks) {
    const all = new Set<() => void>();
    hooks = g[REGISTRY] = all;
    process.on('exit', () => {
      for (const h of all) {
        try {
          h();
        } catch {
          // best effort: the next hook still runs
        }
      }
    });
  }
  hooks.add(hook);
}
