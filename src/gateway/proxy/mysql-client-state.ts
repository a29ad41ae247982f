/**
 * Pure: the state one multiplexed MySQL client carries from server
 * connection to server connection, and the rules that decide when it may
 * give its server connection back.
 *
 * - **Settings** (tracked variables, the default database, autocommit):
 *   a server connection remembers the settings it carries; when a client
 *   with other settings borrows it, `plan()` says what to run first (its
 *   SETs, COM_INIT_DB), after a COM_RESET_CONNECTION when the connection
 *   carries something the client does not have. While a client holds a
 *   connection the two are equal, so the client's changes are the
 *   connection's.
 *
 * The rest of what a client carries lives in the native relay
 * (native/my_pool.c): the transaction rule (from the server's status flags:
 * SERVER_STATUS_IN_TRANS, and with autocommit off the first statement that
 * is not a tracked SET), and the binary prepared statements (the client's ids
 * map to the text it prepared; each server connection keeps the ids its
 * server gave the texts, so a statement is prepared on each connection that
 * needs it, never pinned).
 */
import type { TrackedSet } from './mysql-session-state.js';

/** What a server connection (or a client) carries. */
export interface SessionSettings {
  readonly autocommit: boolean;
  /** The default database (null: none). */
  readonly schema: string | null;
  /** Tracked SETs, in the order they were last made (each key once). */
  readonly sets: readonly TrackedSet[];
}

/** The settings of a connection nobody has changed: the pool's database, autocommit on. */
export function neutralSettings(schema: string | null): SessionSettings {
  return { autocommit: true, schema, sets: [] };
}

/** One string per distinct settings (prepared statements are kept per settings: sql_mode and the database change how text parses). */
export function settingsKey(s: SessionSettings): string {
  let k = keys.get(s);
  if (k === undefined) {
    k = JSON.stringify([s.autocommit, s.schema, s.sets.map((x) => x.sql)]);
    keys.set(s, k);
  }
  return k;
}

/** Settings objects are never changed once made, so their keys are computed once. */
const keys = new WeakMap<SessionSettings, string>();

/** What runs on a borrowed connection before the client's command. */
export type PlanStep =
  | { readonly kind: 'reset' }
  | { readonly kind: 'init-db'; readonly schema: string }
  | { readonly kind: 'query'; readonly sql: string };

/**
 * Steps that make a connection carrying `server` carry `client`; 'drop'
 * when no step can (a database chosen on it that the client has none of:
 * MySQL cannot unselect a database). `afterReset`: the connection's
 * settings after COM_RESET_CONNECTION and the InitQuery (its database stays).
 */
export function plan(server: SessionSettings, client: SessionSettings): PlanStep[] | 'drop' {
  const steps: PlanStep[] = [];
  // The connection's SETs must be the client's first ones, in order; otherwise it is reset first.
  const prefix = server.sets.length <= client.sets.length && server.sets.every((s, i) => s.name === client.sets[i]!.name && s.sql === client.sets[i]!.sql);
  let from = server.sets.length;
  let autocommit = server.autocommit;
  if (!prefix) {
    steps.push({ kind: 'reset' });
    from = 0;
    autocommit = true;
  }
  for (const s of client.sets.slice(from)) steps.push({ kind: 'query', sql: s.sql });
  if (autocommit !== client.autocommit) steps.push({ kind: 'query', sql: `SET autocommit = ${client.autocommit ? 1 : 0}` });
  if (server.schema !== client.schema) {
    if (client.schema === null) return 'drop';
    steps.push({ kind: 'init-db', schema: client.schema });
  }
  return steps;
}

/** `sets` applied on top of `s`: each key replaced and moved last. autocommit is read from status flags, not from here. */
export function withSets(s: SessionSettings, sets: readonly TrackedSet[]): SessionSettings {
  let out = [...s.sets];
  for (const set of sets) {
    if (set.name === 'autocommit') continue;
    out = out.filter((x) => x.name !== set.name);
    out.push(set);
  }
  return { ...s, sets: out };
}
