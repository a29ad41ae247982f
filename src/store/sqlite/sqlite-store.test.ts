import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStateStoreContract } from '../contract.js';
import { fixedClock } from '../../util/index.js';
import { isIamdbError } from '../../errors/index.js';
import { sqliteMigrations } from '../migrations/index.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'iamdb-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStateStoreContract('sqlite file', (location) => openSqliteStore(join(dir, `${location}.db`)));

describe('openSqliteStore', () => {
  it('creates the parent directory 0700 and the database file 0600', async () => {
    const file = join(dir, 'nested', 'deeper', 'state.db');
    const store = await openSqliteStore(file);
    await store.put('k', 'x', 1);
    expect(statSync(join(dir, 'nested', 'deeper')).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // SQLite copies the main file's mode onto its WAL companion.
    expect(existsSync(`${file}-wal`)).toBe(true);
    expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('tightens an existing file that was group or world readable', async () => {
    const file = join(dir, 'loose.db');
    await (await openSqliteStore(file)).close();
    chmodSync(file, 0o644);
    const store = await openSqliteStore(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('runs in WAL mode with a busy timeout', async () => {
    const file = join(dir, 'pragmas.db');
    await (await openSqliteStore(file, { busyTimeoutMs: 1234 })).close();
    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('records each migration step once, however often the file is opened', async () => {
    const file = join(dir, 'migrations.db');
    await (await openSqliteStore(file)).close();
    await (await openSqliteStore(file)).close();
    const db = new Database(file);
    const rows = db.prepare('SELECT step, name FROM schema_migrations ORDER BY step').all();
    expect(rows).toEqual(sqliteMigrations.map((m) => ({ step: m.step, name: m.name })));
    db.close();
  });

  it('refuses a schema newer than this build knows', async () => {
    const file = join(dir, 'future.db');
    await (await openSqliteStore(file)).close();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (step, name, applied_at) VALUES (?, ?, ?)').run(999, 'future', 0);
    db.close();
    const err = await openSqliteStore(file).catch((e: unknown) => e);
    expect(isIamdbError(err, 'STORE_SCHEMA_TOO_NEW')).toBe(true);
  });

  it('works in memory', async () => {
    const store = await openSqliteStore(':memory:');
    await store.transaction(async (tx) => {
      await tx.put('k', 'x', { ok: true });
    });
    expect((await store.get('k', 'x'))?.data).toEqual({ ok: true });
    await store.close();
  });

  it('stamps updatedAt from the injected clock', async () => {
    const clock = fixedClock(1_700_000_000_000);
    const store = await openSqliteStore(':memory:', { clock });
    expect((await store.put('k', 'x', 1)).updatedAt).toBe(1_700_000_000_000);
    clock.advance(5);
    expect((await store.put('k', 'x', 2)).updatedAt).toBe(1_700_000_000_005);
    await store.close();
  });

  it('reports a path it cannot open as STORE_UNAVAILABLE', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const err = await openSqliteStore(join(blocker, 'state.db')).catch((e: unknown) => e);
    expect(isIamdbError(err, 'STORE_UNAVAILABLE')).toBe(true);
  });

  it('waits for another process holding the write lock, then gives up with STORE_UNAVAILABLE', async () => {
    const file = join(dir, 'locked.db');
    await (await openSqliteStore(file)).close();
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const store = await openSqliteStore(file, { busyTimeoutMs: 50 });
    const err = await store.put('k', 'x', 1).catch((e: unknown) => e);
    expect(isIamdbError(err, 'STORE_UNAVAILABLE')).toBe(true);
    other.exec('ROLLBACK');
    other.close();
    expect((await store.put('k', 'x', 1)).version).toBe(1);
    await store.close();
  });
});
