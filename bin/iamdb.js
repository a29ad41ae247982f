#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/main.js, built by `npm ci` (prepare).
import('../dist/main.js').catch((err) => {
  process.stderr.write(`iamdb: cannot start: ${err && err.message ? err.message : err}\n` +
    'Run `npm ci` (it builds dist/) in the iamdb checkout first.\n');
  process.exitCode = 1;
});
