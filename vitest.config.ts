import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    // Tests that restart shared services run alone afterwards (vitest.serial.config.ts).
    exclude: ['test/serial/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // End-to-end suites start real servers and child processes on a 2-core machine.
    maxWorkers: 2,
    typecheck: { enabled: false },
  },
});
