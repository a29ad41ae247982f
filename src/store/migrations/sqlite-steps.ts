import type { Migration } from './migration.js';

/**
 * The SQLite schema, as the list of steps that build it. Append new steps at
 * the end; never edit a released step, since databases in the field already
 * ran it.
 */
export const sqliteMigrations: readonly Migration[] = [
  {
    step: 1,
    name: 'records',
    // STRICT makes SQLite enforce the column types. The primary key
    // (kind, id) doubles as the index for `list(kind, { prefix })`.
    sql: `
      CREATE TABLE records (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        data TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (kind, id)
      ) STRICT, WITHOUT ROWID;
    `,
  },
];
