#!/usr/bin/env node
// Regenerates the generated parts of docs/config.md, docs/errors.md and
// docs/cli.md. The generators live in the tests that check those docs (they
// import the TypeScript sources directly); UPDATE_DOCS=1 makes them write
// instead of compare. Usage: node scripts/gen-docs.mjs
import { spawnSync } from 'node:child_process';

const tests = ['src/config/docs.test.ts', 'src/errors/catalog.test.ts', 'src/cli/docs.test.ts'];
const result = spawnSync('npx', ['vitest', 'run', ...tests], {
  stdio: 'inherit',
  env: { ...process.env, UPDATE_DOCS: '1', IAMDB_TEST_SERVERS: '0' },
});
process.exitCode = result.status ?? 1;
