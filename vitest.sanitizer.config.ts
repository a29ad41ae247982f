import { defineConfig } from 'vitest/config';

// The native data path's memory-safety job (scripts/native-sanitizer-check):
// its tests (PostgreSQL and MySQL endpoints and proxies) and the randomized
// client drivers (test/sanitizer/), in workers
// that load the AddressSanitizer build of the addon when the script asks for
// it. The sanitizer runtime is preloaded into the test workers only (through
// their environment, set when vitest forks them), never into this process,
// which starts the PostgreSQL and MariaDB servers: they are not under test.
const preload = process.env['IAMDB_SANITIZER_PRELOAD'];

export default defineConfig({
  test: {
    include: ['src/gateway/native-data-path.test.ts', 'src/gateway/heap-release.test.ts', 'src/gateway/native-pool.test.ts', 'src/gateway/native-mysql-tracker.test.ts', 'src/gateway/proxy/mysql-routine-calls.test.ts', 'test/integration/postgres-data-paths.test.ts', 'test/integration/proxy-postgres-*.test.ts', 'test/integration/proxy-mysql-*.test.ts', 'test/integration/seed-002-proxy-login.test.ts', 'test/sanitizer/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/sanitizer/worker-setup.ts'],
    env: preload ? { LD_PRELOAD: preload } : {},
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
