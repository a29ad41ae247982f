/**
 * Builds dist/ once per test worker, for tests that run the real CLI
 * (`node bin/iamdb.js …`) as a user would.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IAMDB_BIN = join(REPO_ROOT, 'bin', 'iamdb.js');
let built = false;

export function ensureBuilt(): void {
  if (built) return;
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')], { stdio: 'pipe' });
  built = true;
}
