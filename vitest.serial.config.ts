import { defineConfig } from 'vitest/config';

/** Tests that disturb shared services (restart PostgreSQL) run after the others, one file at a time. */
export default defineConfig({
  test: {
    include: ['test/serial/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
