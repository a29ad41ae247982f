/**
 * Runs first in each worker of the sanitizer job (vitest.sanitizer.config.ts).
 * When the job preloads the sanitizer runtime, this checks that the runtime is
 * really in this process (a job that silently ran without it would prove
 * nothing), then drops LD_PRELOAD from the environment so the programs the
 * tests start (psql) run as usual: only the addon is under test.
 */
import { readFileSync } from 'node:fs';

const preload = process.env['IAMDB_SANITIZER_PRELOAD'];
if (preload) {
  const maps = readFileSync('/proc/self/maps', 'utf8');
  if (!maps.includes('libasan.so')) throw new Error(`the sanitizer job expected ${preload} in this worker, and it is not loaded`);
  delete process.env['LD_PRELOAD'];
}
