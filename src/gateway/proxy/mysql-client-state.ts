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
 * - **Transactions** (`Transaction`): from the server's status flags only.
 *   SERVER_STATUS_IN_TRANS set: a transaction is open. With autocommit off,
 *   a transaction counts as open from the first statement that is not a
 *   tracked SET, and ends when the server reports one that was open closed
 *   (IN_TRANS seen set, then clear) or autocommit comes back on.
 * - **Binary prepared statements** (`ClientStatements`): the client's ids
 *   map to the text it prepared; each server connection keeps the ids its
 *   server gave the texts it prepared (by settings and text), so a statement
 *   is prepared on each connection that needs it, never pinned.
 */
import { ServerStatus } from '../../protocol/mysql/index.js';
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

/** Follows the transaction state of one client from the status flags of its responses. */
export class Transaction {
  /** A transaction is open: the client keeps its server connection. */
  open = false;
  /** The server reported SERVER_STATUS_IN_TRANS since the last transaction end. */
  #seen = false;

  /**
   * A statement's response (COM_QUERY, COM_STMT_EXECUTE, COM_INIT_DB) with
   * the status it left. `settingOnly`: the statement was only tracked SETs
   * or USE (they do not begin a transaction).
   */
  afterStatement(status: number, settingOnly: boolean): void {
    const inTrans = (status & ServerStatus.SERVER_STATUS_IN_TRANS) !== 0;
    const autocommit = (status & ServerStatus.SERVER_STATUS_AUTOCOMMIT) !== 0;
    if (inTrans) {
      this.open = true;
      this.#seen = true;
    } else if (autocommit || this.#seen) {
      // Autocommit on with no transaction, or a transaction the server reported has ended.
      this.open = false;
      this.#seen = false;
    } else if (!settingOnly) {
      // Autocommit off: the first statement counts as beginning a transaction.
      this.open = true;
    }
  }

  /** The server connection was reset or lost: nothing is open any more. */
  reset(): void {
    this.open = false;
    this.#seen = false;
  }
}

/** A statement the client prepared (COM_STMT_PREPARE), under the id the proxy gave it. */
export interface ClientStatement {
  /** The COM_STMT_PREPARE payload's text. */
  readonly text: Buffer;
  /** The settings it was prepared under (the text may parse differently under others). */
  readonly key: string;
  readonly params: number;
  /** The parameter types the client last sent (2 bytes each), for executes that do not send them again. */
  types: Buffer | undefined;
  /** COM_STMT_SEND_LONG_DATA payloads waiting for the next execute. */
  longData: Buffer[];
  longDataBytes: number;
}

/** A statement prepared on one server connection. */
export interface ServerStatement {
  readonly id: number;
  /** The types last bound on the server (what an execute without types uses there). */
  types: Buffer | undefined;
}

/** Per server connection: the statements its server has prepared, by settings key and text; least recently used first. */
export class ServerStatements {
  readonly #byKey = new Map<string, ServerStatement>();

  static keyOf(st: ClientStatement): string {
    return `${st.key}\u0000${st.text.toString('latin1')}`;
  }

  get(st: ClientStatement): ServerStatement | undefined {
    const k = ServerStatements.keyOf(st);
    const found = this.#byKey.get(k);
    if (found !== undefined) {
      // Most recently used last.
      this.#byKey.delete(k);
      this.#byKey.set(k, found);
    }
    return found;
  }

  add(st: ClientStatement, id: number): ServerStatement {
    const s: ServerStatement = { id, types: undefined };
    this.#byKey.set(ServerStatements.keyOf(st), s);
    return s;
  }

  /** Ids beyond `max`, least recently used first, forgotten here (the caller closes them on the server). */
  evict(max: number): number[] {
    const out: number[] = [];
    for (const [k, s] of this.#byKey) {
      if (this.#byKey.size <= max) break;
      this.#byKey.delete(k);
      out.push(s.id);
    }
    return out;
  }

  /** COM_RESET_CONNECTION freed them all. */
  clear(): void {
    this.#byKey.clear();
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** The client's prepared statements by the ids the proxy gave it. */
export class ClientStatements {
  readonly #byId = new Map<number, ClientStatement>();
  #next = 1;
  /** The last id given (MariaDB's COM_STMT_EXECUTE id 0xFFFFFFFF means it). */
  last = 0;

  add(st: ClientStatement): number {
    const id = this.#next;
    this.#next = this.#next >= 0xfffffffe ? 1 : this.#next + 1;
    this.#byId.set(id, st);
    this.last = id;
    return id;
  }

  get(id: number): ClientStatement | undefined {
    return this.#byId.get(id === 0xffffffff ? this.last : id);
  }

  close(id: number): void {
    this.#byId.delete(id);
  }

  clear(): void {
    this.#byId.clear();
  }
}
