/**
 * The embedded SQLite driver of the StateStore contract, the default for a
 * single gateway node. better-sqlite3 is synchronous, so each statement is
 * atomic within the process; what needs care is a transaction whose callback
 * awaits. One async mutex orders transactions and top-level calls, so a call
 * from another caller never runs inside someone else's open BEGIN.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { IamdbError, isIamdbError } from '../../errors/index.js';
import { systemClock, type Clock } from '../../util/index.js';
import { AsyncMutex } from '../async-mutex.js';
import { runSqliteMigrations, sqliteMigrations } from '../migrations/index.js';
import type { PutOptions, StateStore, StateStoreOps, StoredRecord } from '../state-store.js';

/** Options of {@link openSqliteStore}; all have defaults. */
export interface SqliteStoreOptions {
  /** Source of `updatedAt`; defaults to the system clock. */
  readonly clock?: Clock;
  /** How long a statement waits for another process's lock; default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

interface Row {
  kind: string;
  id: string;
  data: string;
  version: number;
  updated_at: number;
}

/** Marks the async context of one open transaction (see `guard`). */
interface TxToken {
  active: boolean;
}

/**
 * Opens (creating when needed) a SQLite state store. A file path gets its
 * parent directory created with mode 0700 and the file itself 0600, since it
 * holds sealed secrets and audit-relevant state.
 *
 * @example
 *   const store = await openSqliteStore('/var/lib/iamdb/state.db');
 *   await store.put('iam/user', 'alice', { arn: '...' }, { expectVersion: 0 });
 */
export async function openSqliteStore(
  path: string | ':memory:',
  options: SqliteStoreOptions = {},
): Promise<StateStore> {
  const clock = options.clock ?? systemClock;
  const label = path === ':memory:' ? ':memory:' : resolve(path);
  let db: BetterSqlite3.Database;
  try {
    if (path !== ':memory:') prepareFile(label);
    db = new Database(label);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    if (path !== ':memory:') db.pragma('journal_mode = WAL');
    // NORMAL is durable across process crashes in WAL mode; only an OS crash
    // may lose the last commits, which is the usual WAL trade-off.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
  } catch (err) {
    throw unavailable(label, err);
  }
  try {
    runSqliteMigrations(db, sqliteMigrations, () => clock.now());
  } catch (err) {
    db.close();
    throw unavailable(label, err);
  }
  return new SqliteStore(db, label, clock);
}

/** Creates the parent directory (0700) and the file (0600) before SQLite does. */
function prepareFile(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // 'a' creates without truncating; SQLite gives its -wal and -shm files the
  // mode of the main file, so fixing it here covers all three.
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

function unavailable(path: string, err: unknown): IamdbError {
  if (isIamdbError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new IamdbError(
    'STORE_UNAVAILABLE',
    { path, reason: typeof code === 'string' ? `${code}: ${message}` : message },
    { cause: err },
  );
}

class SqliteStore implements StateStore {
  readonly #db: BetterSqlite3.Database;
  readonly #path: string;
  readonly #clock: Clock;
  readonly #mutex = new AsyncMutex();
  readonly #context = new AsyncLocalStorage<TxToken>();
  readonly #ops: SqliteOps;
  #closed = false;
  #writes = 0;

  constructor(db: BetterSqlite3.Database, path: string, clock: Clock) {
    this.#db = db;
    this.#path = path;
    this.#clock = clock;
    this.#ops = new SqliteOps(db, clock);
  }

  get writes(): number {
    return this.#writes;
  }

  get<T = unknown>(kind: string, id: string): Promise<StoredRecord<T> | undefined> {
    return this.#outside('get', () => this.#ops.get<T>(kind, id));
  }

  list<T = unknown>(kind: string, options?: { prefix?: string }): Promise<StoredRecord<T>[]> {
    return this.#outside('list', () => this.#ops.list<T>(kind, options));
  }

  put<T = unknown>(kind: string, id: string, data: T, options?: PutOptions): Promise<StoredRecord<T>> {
    return this.#outside('put', () => this.#wrote(this.#ops.put<T>(kind, id, data, options)));
  }

  delete(kind: string, id: string, options?: PutOptions): Promise<boolean> {
    return this.#outside('delete', () => this.#wrote(this.#ops.delete(kind, id, options)));
  }

  /** Counts a write that has committed (outside a transaction, each statement commits). */
  #wrote<R>(result: R): R {
    this.#writes++;
    return result;
  }

  async transaction<R>(fn: (tx: StateStoreOps) => Promise<R>): Promise<R> {
    this.#guard('transaction');
    return this.#mutex.run(async () => {
      this.#assertOpen();
      const db = this.#db;
      try {
        // IMMEDIATE takes the write lock now, so another process cannot make
        // this transaction fail with SQLITE_BUSY halfway through.
        db.exec('BEGIN IMMEDIATE');
      } catch (err) {
        throw unavailable(this.#path, err);
      }
      const token: TxToken = { active: true };
      const tx = new TxOps(this.#ops, token, (err) => unavailable(this.#path, err));
      try {
        const result = await this.#context.run(token, () => fn(tx));
        try {
          db.exec('COMMIT');
        } catch (err) {
          throw unavailable(this.#path, err);
        }
        // Counted whether or not it wrote: a read-only transaction only makes a cache re-read.
        this.#writes++;
        return result;
      } catch (err) {
        try {
          if (db.inTransaction) db.exec('ROLLBACK');
        } catch {
          // The first error says more than a failed ROLLBACK (SQLite rolls
          // back on its own when the connection drops).
        }
        throw err;
      } finally {
        token.active = false;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#guard('close');
    // Let queued transactions finish rather than cut them off mid-flight.
    await this.#mutex.run(() => {
      if (this.#closed) return;
      this.#closed = true;
      this.#db.close();
    });
  }

  /** Runs a top-level call, waiting behind any open transaction. */
  async #outside<R>(operation: string, fn: () => R): Promise<R> {
    this.#guard(operation);
    // With nobody holding the lock no BEGIN is open, and the synchronous
    // statement cannot interleave with anything, so skip the queue.
    if (!this.#mutex.busy) return this.#run(fn);
    return this.#mutex.run(() => this.#run(fn));
  }

  #run<R>(fn: () => R): R {
    this.#assertOpen();
    try {
      return fn();
    } catch (err) {
      throw unavailable(this.#path, err);
    }
  }

  /**
   * A top-level call made from inside one of our own transactions would wait
   * for that transaction forever; fail at once and say what to use instead.
   */
  #guard(operation: string): void {
    if (this.#context.getStore()?.active) {
      throw new IamdbError('STORE_TRANSACTION_MISUSE', {
        operation: `store.${operation}`,
        reason: 'called inside a transaction; use the tx handle passed to the callback',
      });
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new IamdbError('STORE_CLOSED');
  }
}

/** The ops of an open transaction; refuses use after commit or rollback. */
class TxOps implements StateStoreOps {
  readonly #ops: SqliteOps;
  readonly #token: TxToken;
  readonly #wrap: (err: unknown) => IamdbError;

  constructor(ops: SqliteOps, token: TxToken, wrap: (err: unknown) => IamdbError) {
    this.#ops = ops;
    this.#token = token;
    this.#wrap = wrap;
  }

  get<T = unknown>(kind: string, id: string): Promise<StoredRecord<T> | undefined> {
    return this.#run('get', () => this.#ops.get<T>(kind, id));
  }

  list<T = unknown>(kind: string, options?: { prefix?: string }): Promise<StoredRecord<T>[]> {
    return this.#run('list', () => this.#ops.list<T>(kind, options));
  }

  put<T = unknown>(kind: string, id: string, data: T, options?: PutOptions): Promise<StoredRecord<T>> {
    return this.#run('put', () => this.#ops.put<T>(kind, id, data, options));
  }

  delete(kind: string, id: string, options?: PutOptions): Promise<boolean> {
    return this.#run('delete', () => this.#ops.delete(kind, id, options));
  }

  async #run<R>(operation: string, fn: () => R): Promise<R> {
    if (!this.#token.active) {
      throw new IamdbError('STORE_TRANSACTION_MISUSE', {
        operation: `tx.${operation}`,
        reason: 'the transaction has already committed or rolled back',
      });
    }
    try {
      return fn();
    } catch (err) {
      throw this.#wrap(err);
    }
  }
}

/** The statements themselves, synchronous; callers own the locking. */
class SqliteOps {
  readonly #db: BetterSqlite3.Database;
  readonly #clock: Clock;
  readonly #select: BetterSqlite3.Statement<[string, string], Row>;
  readonly #selectVersion: BetterSqlite3.Statement<[string, string], { version: number }>;
  readonly #listAll: BetterSqlite3.Statement<[string], Row>;
  readonly #listPrefix: BetterSqlite3.Statement<[string, string, string], Row>;
  readonly #insert: BetterSqlite3.Statement<[string, string, string, number, number]>;
  readonly #update: BetterSqlite3.Statement<[string, number, number, string, string]>;
  readonly #remove: BetterSqlite3.Statement<[string, string]>;

  constructor(db: BetterSqlite3.Database, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    this.#select = db.prepare('SELECT kind, id, data, version, updated_at FROM records WHERE kind = ? AND id = ?');
    this.#selectVersion = db.prepare('SELECT version FROM records WHERE kind = ? AND id = ?');
    this.#listAll = db.prepare('SELECT kind, id, data, version, updated_at FROM records WHERE kind = ? ORDER BY id');
    // substr() rather than LIKE: LIKE folds ASCII case and treats % and _ as
    // wildcards, and ids may contain both.
    this.#listPrefix = db.prepare(
      'SELECT kind, id, data, version, updated_at FROM records WHERE kind = ? AND substr(id, 1, length(?)) = ? ORDER BY id',
    );
    this.#insert = db.prepare('INSERT INTO records (kind, id, data, version, updated_at) VALUES (?, ?, ?, ?, ?)');
    this.#update = db.prepare('UPDATE records SET data = ?, version = ?, updated_at = ? WHERE kind = ? AND id = ?');
    this.#remove = db.prepare('DELETE FROM records WHERE kind = ? AND id = ?');
  }

  get<T>(kind: string, id: string): StoredRecord<T> | undefined {
    const row = this.#select.get(kind, id);
    return row === undefined ? undefined : toRecord<T>(row);
  }

  list<T>(kind: string, options?: { prefix?: string }): StoredRecord<T>[] {
    const prefix = options?.prefix;
    const rows = prefix ? this.#listPrefix.all(kind, prefix, prefix) : this.#listAll.all(kind);
    return rows.map((row) => toRecord<T>(row));
  }

  put<T>(kind: string, id: string, data: T, options?: PutOptions): StoredRecord<T> {
    const text = toJson(kind, id, data);
    // A savepoint when already inside BEGIN, an immediate transaction
    // otherwise: the version check and the write are one atomic step even
    // against another process on the same file.
    const write = this.#db.transaction((): StoredRecord<T> => {
      const current = this.#selectVersion.get(kind, id)?.version ?? 0;
      checkVersion(kind, id, current, options);
      const version = current + 1;
      const updatedAt = this.#clock.now();
      if (current === 0) this.#insert.run(kind, id, text, version, updatedAt);
      else this.#update.run(text, version, updatedAt, kind, id);
      return { kind, id, data: JSON.parse(text) as T, version, updatedAt };
    });
    return write.immediate();
  }

  delete(kind: string, id: string, options?: PutOptions): boolean {
    const remove = this.#db.transaction((): boolean => {
      const current = this.#selectVersion.get(kind, id)?.version ?? 0;
      checkVersion(kind, id, current, options);
      return current !== 0 && this.#remove.run(kind, id).changes > 0;
    });
    return remove.immediate();
  }
}

function checkVersion(kind: string, id: string, actual: number, options?: PutOptions): void {
  const expected = options?.expectVersion;
  if (expected !== undefined && expected !== actual) {
    throw new IamdbError('STORE_VERSION_CONFLICT', { kind, id, expected, actual });
  }
}

function toJson(kind: string, id: string, data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (err) {
    throw new IamdbError('STORE_INVALID_VALUE', { kind, id, reason: 'data is not JSON-serialisable' }, { cause: err });
  }
  if (text === undefined) {
    throw new IamdbError('STORE_INVALID_VALUE', { kind, id, reason: 'data is not JSON-serialisable' });
  }
  return text;
}

function toRecord<T>(row: Row): StoredRecord<T> {
  let data: T;
  try {
    data = JSON.parse(row.data) as T;
  } catch (err) {
    throw new IamdbError('STORE_CORRUPT_RECORD', { kind: row.kind, id: row.id }, { cause: err });
  }
  return { kind: row.kind, id: row.id, data, version: row.version, updatedAt: row.updated_at };
}
