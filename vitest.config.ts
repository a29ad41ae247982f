import { configDefaults, defineConfig } from 'vitest/config';

// Unit tests sit beside their sources; integration tests (real PostgreSQL and
// MariaDB servers, real clients) live in test/integration and share the
// servers started once by test/support/global-setup.ts. test/sanitizer holds
// the native data path's randomized client driver, which runs in its own job
// (scripts/native-sanitizer-check, vitest.sanitizer.config.ts).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/sanitizer/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
