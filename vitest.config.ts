import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['harness/**/*.test.ts', 'stubs/**/*.test.ts'],
          exclude: ['**/*.contract.test.ts', 'node_modules/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'contract',
          include: ['harness/**/*.contract.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'scenario',
          include: ['scenarios/**/*.scenario.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // scenarios each bring up a whole topology; run them one at a time
          sequence: { groupOrder: 1 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
