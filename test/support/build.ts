/**
 * dist/ for tests that run the real CLI (`node bin/iamdb.js …`) as a user
 * would. The global setup builds it once per run, before any test file
 * starts (global-setup.ts), so no file rebuilds it while another file's
 * CLI is reading it; if that build fails, the files that need dist/ fail
 * with its output. Only a run without that setup builds it here, once per
 * worker.
 */
import { execFile, execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IAMDB_BIN = join(REPO_ROOT, 'bin', 'iamdb.js');
const TSC = [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')];
let built = false;

export function ensureBuilt(): void {
  const global = inject('iamdbDistBuilt');
  if (global === true || built) return;
  // Never rebuild what the global setup failed to build: other workers may be running the CLI from dist/.
  if (global === false) throw new Error(`dist/ did not build in the global setup:\n${inject('iamdbDistError')}`);
  execFileSync(process.execPath, TSC, { stdio: 'pipe' });
  built = true;
}

/** Builds dist/ (the global setup's once-per-run build). */
export function buildDist(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, TSC, (err, stdout, stderr) => (err ? reject(new Error(`tsc failed:\n${stdout}${stderr}`)) : resolve()));
  });
}
