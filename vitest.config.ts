import { defineConfig } from 'vitest/config';

// Unit tests sit beside their sources; integration tests (real PostgreSQL and
// MariaDB servers, real clients) live in test/integration and share the
// servers started once by test/support/global-setup.ts.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
