/**
 * The state store interface: every piece of persistent state goes through it.
 * It knows tables and transactions, no rules: IAM, instances and credentials
 * decide what they store; secrets arrive already sealed (see crypto/).
 * SQLite (embedded default) implements it today; a PostgreSQL driver for
 * several gateway nodes will implement the same contract.
 */

/** One stored document. `data` is plain JSON. */
export interface StoredRecord<T = unknown> {
  readonly kind: string;
  readonly id: string;
  readonly data: T;
  /** Starts at 1 and grows by one on every put; used for optimistic concurrency. */
  readonly version: number;
  /** Milliseconds since the epoch of the last write. */
  readonly updatedAt: number;
}

export interface PutOptions {
  /** Fail with STORE_VERSION_CONFLICT unless the current version is this (0 = must not exist). */
  readonly expectVersion?: number;
}

/** Reads and writes available both at top level and inside a transaction. */
export interface StateStoreOps {
  get<T = unknown>(kind: string, id: string): Promise<StoredRecord<T> | undefined>;
  /**
   * Records of one kind ordered by id (bytewise UTF-8 order); `prefix`
   * narrows to ids starting with it, literally and case-sensitively.
   */
  list<T = unknown>(kind: string, options?: { prefix?: string }): Promise<StoredRecord<T>[]>;
  put<T = unknown>(kind: string, id: string, data: T, options?: PutOptions): Promise<StoredRecord<T>>;
  /**
   * True when a record was deleted. With `expectVersion`, a mismatch throws
   * STORE_VERSION_CONFLICT; a record put again after deletion restarts at 1.
   */
  delete(kind: string, id: string, options?: PutOptions): Promise<boolean>;
}

export interface StateStore extends StateStoreOps {
  /**
   * Grows with every committed write made through this store (a put, a
   * delete, a transaction that wrote). Caches of derived answers (RDS Proxy's
   * credentials) compare it to know that what they were built from may have
   * changed; it says nothing about what changed.
   */
  readonly writes: number;
  /**
   * Runs `fn` atomically: every write inside commits together or not at all
   * (a throw rolls back and rethrows). Transactions are serialised, and a
   * top-level call from another caller never runs inside an open one. Use
   * only `tx` inside `fn`: calling this store from there throws
   * STORE_TRANSACTION_MISUSE rather than deadlocking, as does using `tx`
   * after `fn` settles.
   */
  transaction<R>(fn: (tx: StateStoreOps) => Promise<R>): Promise<R>;
  /** Waits for queued transactions, then closes; later calls throw STORE_CLOSED. */
  close(): Promise<void>;
}
