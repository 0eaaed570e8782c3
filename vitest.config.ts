import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // End-to-end suites start real servers and child processes on a 2-core machine.
    maxWorkers: 2,
    typecheck: { enabled: false },
  },
});
