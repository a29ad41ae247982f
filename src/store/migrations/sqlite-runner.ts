import type BetterSqlite3 from 'better-sqlite3';
import { IamdbError } from '../../errors/index.js';
import { assertMigrationOrder, type Migration } from './migration.js';

/**
 * Brings a SQLite database up to the latest step. Each step runs in its own
 * `BEGIN IMMEDIATE` transaction together with its `schema_migrations` row, so
 * a crash leaves the schema at a whole step, and two processes opening the
 * same new file apply each step once (the second sees the row and skips).
 * Steps are applied in order with no gaps, so the highest recorded step says
 * which are done.
 *
 * @returns the steps applied by this call (empty when already current).
 * @example runSqliteMigrations(db, sqliteMigrations)
 */
export function runSqliteMigrations(
  db: BetterSqlite3.Database,
  steps: readonly Migration[],
  now: () => number = Date.now,
): number[] {
  assertMigrationOrder(steps);
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    step INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const maxStep = db.prepare('SELECT MAX(step) AS step FROM schema_migrations');
  const hasStep = db.prepare('SELECT 1 FROM schema_migrations WHERE step = ?');
  const record = db.prepare('INSERT INTO schema_migrations (step, name, applied_at) VALUES (?, ?, ?)');

  const found = (maxStep.get() as { step: number | null }).step ?? 0;
  if (found > steps.length) {
    throw new IamdbError('STORE_SCHEMA_TOO_NEW', { found, known: steps.length });
  }

  const applied: number[] = [];
  // Steps known applied are skipped without taking the write lock, so opening
  // a current database never waits on another process's writes.
  for (const m of steps.slice(found)) {
    const apply = db.transaction(() => {
      if (hasStep.get(m.step) !== undefined) return false;
      db.exec(m.sql);
      record.run(m.step, m.name, now());
      return true;
    });
    try {
      if (apply.immediate()) applied.push(m.step);
    } catch (err) {
      // Lock contention is not a broken step: let the caller report the
      // store as unavailable.
      if (isBusy(err)) throw err;
      throw new IamdbError(
        'STORE_MIGRATION_FAILED',
        { step: m.step, name: m.name, reason: err instanceof Error ? err.message : String(err) },
        { cause: err },
      );
    }
  }
  return applied;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}
