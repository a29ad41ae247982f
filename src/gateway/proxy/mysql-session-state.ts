/**
 * Pure: what a MySQL/MariaDB statement does to the session it runs in, for
 * transaction multiplexing (RDS Proxy's rules, docs/proxies-pooling.md). A
 * statement either leaves nothing behind (`none`), changes state the proxy
 * tracks and replays on the next server connection the client borrows (a
 * SET of a tracked variable with a literal value, `USE`, `DROP DATABASE`),
 * or leaves state the proxy cannot carry over, and pins the client to its
 * server connection with a named reason.
 *
 * Transaction ends are never read here: they come from the server's status
 * flags (mysql-client-state.ts). What cannot be read with certainty pins
 * (fails closed): unterminated strings or comments, executable comments,
 * several statements in one text, and text over 16 KB.
 */
import { MYSQL_NOT_ROUTINE_ADJACENT, MYSQL_NOT_ROUTINE_ANY } from './mysql-builtin-functions.js';

/** Why a MySQL client is pinned; the key is what metrics and the audit log show. */
export const MYSQL_PIN_REASONS = {
  LongStatement: 'statement text over 16 KB',
  MultiStatement: 'several statements in one query',
  ExecutableComment: 'executable comment (/*! */ or /*M! */)',
  Unreadable: 'statement the proxy could not read',
  UserVariable: 'user variable (@name)',
  SessionVariable: "SET of a variable the proxy doesn't track, or to a value it can't replay",
  TransactionCharacteristics: 'SET TRANSACTION for the next transaction',
  SqlPrepare: 'SQL PREPARE, EXECUTE or DEALLOCATE PREPARE',
  TemporaryTable: 'temporary table',
  TableLock: 'LOCK TABLES, FLUSH TABLES … WITH READ LOCK, BACKUP LOCK or BACKUP STAGE',
  NamedLock: 'GET_LOCK()',
  SessionFunction: 'LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT() or SQL_CALC_FOUND_ROWS',
  Handler: 'HANDLER',
  XaTransaction: 'XA transaction',
  Cursor: 'COM_STMT_EXECUTE opening a cursor',
  SetOption: 'COM_SET_OPTION (multi-statements switched)',
  StateChange: 'the server reported a session state change the proxy did not expect',
  StoredProcedure: 'CALL (or a prepared CALL) where the server does not report session state changes',
  StoredFunction: 'a stored function called in a statement (or a prepared one) where the server does not report session state changes',
} as const;

export type MysqlPinReason = keyof typeof MYSQL_PIN_REASONS;

/** RDS Proxy's pinning threshold: statement text over 16 KB. */
export const LONG_STATEMENT_BYTES = 16 * 1024;

/**
 * Session variables tracked and replayed (RDS Proxy's list, then a few more
 * that take literal values and leave nothing else behind), by the name
 * their SET uses; aliases map to one key so the last SET of either wins.
 */
const TRACKED: Readonly<Record<string, string>> = {
  autocommit: 'autocommit',
  auto_increment_increment: 'auto_increment_increment',
  auto_increment_offset: 'auto_increment_offset',
  character_set_client: 'character_set_client',
  character_set_connection: 'character_set_connection',
  character_set_database: 'character_set_database',
  character_set_filesystem: 'character_set_filesystem',
  character_set_results: 'character_set_results',
  character_set_server: 'character_set_server',
  collation_connection: 'collation_connection',
  collation_database: 'collation_database',
  collation_server: 'collation_server',
  interactive_timeout: 'interactive_timeout',
  net_write_timeout: 'net_write_timeout',
  net_read_timeout: 'net_read_timeout',
  query_cache_type: 'query_cache_type',
  session_track_schema: 'session_track_schema',
  sql_mode: 'sql_mode',
  time_zone: 'time_zone',
  transaction_isolation: 'transaction_isolation',
  tx_isolation: 'transaction_isolation',
  transaction_read_only: 'transaction_read_only',
  tx_read_only: 'transaction_read_only',
  wait_timeout: 'wait_timeout',
  // Beyond RDS Proxy's list: plain values, nothing behind them.
  foreign_key_checks: 'foreign_key_checks',
  unique_checks: 'unique_checks',
  sql_select_limit: 'sql_select_limit',
  group_concat_max_len: 'group_concat_max_len',
  max_execution_time: 'max_execution_time',
  max_statement_time: 'max_statement_time',
  lock_wait_timeout: 'lock_wait_timeout',
  innodb_lock_wait_timeout: 'innodb_lock_wait_timeout',
  sql_safe_updates: 'sql_safe_updates',
  lc_time_names: 'lc_time_names',
  div_precision_increment: 'div_precision_increment',
};

/** One tracked change: the key it replaces and a statement that makes it again. */
export interface TrackedSet {
  readonly name: string;
  readonly sql: string;
}

export type StatementEffect =
  | { readonly kind: 'none' }
  /** previous: the statement reads what the session's previous statement left (ROW_COUNT(), FOUND_ROWS()). */
  | { readonly kind: 'pin'; readonly reason: MysqlPinReason; readonly previous?: true }
  /** Tracked SETs (autocommit among them is followed by the status flags instead). */
  | { readonly kind: 'set'; readonly sets: readonly TrackedSet[] }
  /** A SET that SessionPinningFilters=EXCLUDE_VARIABLE_SETS lets through unpinned: its tracked items are tracked, the rest is not carried. */
  | { readonly kind: 'excluded-set'; readonly sets: readonly TrackedSet[] }
  | { readonly kind: 'use'; readonly schema: string }
  | { readonly kind: 'drop-database'; readonly schema: string }
  /**
   * CALL, or a statement calling a stored function (`function`): what the
   * routine does is not read here; the pool decides (session tracking, or a pin).
   */
  | { readonly kind: 'call'; readonly function?: true }
  /**
   * MariaDB's SET STATEMENT … FOR a statement that keeps no state: the
   * values last the statement, but the server reports them as a state change.
   */
  | { readonly kind: 'transient-set' };

export interface ClassifyOptions {
  /** SessionPinningFilters has EXCLUDE_VARIABLE_SETS: SETs of variables do not pin. */
  readonly excludeVariableSets: boolean;
}

interface Token {
  /** w word (lowercased unless quoted), s string or number, p punctuation, v @user variable, y @@system variable */
  readonly t: 'w' | 's' | 'p' | 'v' | 'y';
  readonly v: string;
  /** The token's text as written (for replay). */
  readonly raw: string;
  readonly quoted?: boolean;
  /** Whitespace or a comment comes before it (NOW () is not NOW()). */
  readonly sp?: true;
}

class Unreadable extends Error {}
class Executable extends Error {}

const IDENT = /[A-Za-z0-9_$\u0080-\uffff]/;

/** A quoted run starting at i (quote char q); returns the index after the closing quote. */
function skipQuoted(sql: string, i: number, q: string, backslash: boolean): number {
  let j = i + 1;
  for (;;) {
    if (j >= sql.length) throw new Unreadable('unterminated quote');
    const c = sql[j]!;
    if (c === '\\' && backslash && q !== '`') j += 2;
    else if (c === q && sql[j + 1] === q) j += 2;
    else if (c === q) return j + 1;
    else j++;
  }
}

/** What MySQL's lexer skips between tokens (native/pg_scan.c's set). */
const SPACE = /[ \t\n\r\f\v]/;

/** The run of identifier characters at i. */
function identRun(sql: string, i: number): string {
  let j = i;
  while (j < sql.length && IDENT.test(sql[j]!)) j++;
  return sql.slice(i, j);
}

/** The last tokens are a name and its qualifier's dot (d. or `d`. or "d".): what follows is a name. */
function afterQualifier(out: readonly Token[]): boolean {
  const dot = out[out.length - 1];
  const head = out[out.length - 2];
  return dot !== undefined && dot.t === 'p' && dot.v === '.' && head !== undefined && (head.t === 'w' || (head.t === 's' && head.raw.startsWith('"')));
}

/** A digit-led run that is (the start of) a number: digits, an exponent, 0x…, 0b…; any other is a name. */
const NUMBER_START = /^(?:[0-9]+(?:e[0-9]*)?|0x[0-9a-f]*|0b[01]*)$/i;

/**
 * Tokens of MySQL text. `backslash`: a backslash escapes inside strings
 * (off under NO_BACKSLASH_ESCAPES, which the proxy learns from the status
 * flags; callers lex both ways when unsure).
 */
function lex(sql: string, backslash: boolean): Token[] {
  const out: Token[] = [];
  const n = sql.length;
  let i = 0;
  let gap = false;
  // Marks the tokens pushed after whitespace or a comment.
  const push = (tok: Token): void => {
    out.push(gap ? { ...tok, sp: true } : tok);
    gap = false;
  };
  while (i < n) {
    const ch = sql[i]!;
    // MySQL's whitespace only: U+00A0, U+3000 and the like are identifier characters to it, not gaps (/\s/ took them
    // for gaps, and `--` + U+00A0 for a comment that hid the rest of the line from the classifier, not from the server).
    if (SPACE.test(ch)) {
      gap = true;
      i++;
    } else if (ch === '#' || (ch === '-' && sql[i + 1] === '-' && (i + 2 >= n || sql.charCodeAt(i + 2) <= 0x20))) {
      // (`--` needs a space or a control character after it, as in pg_scan.c line_comment.)
      gap = true;
      while (i < n && sql[i] !== '\n') i++;
    } else if (ch === '/' && sql[i + 1] === '*') {
      // /*! and /*M! run their contents on the server: what they do is not read here.
      if (sql[i + 2] === '!' || (sql[i + 2] === 'M' && sql[i + 3] === '!')) throw new Executable();
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new Unreadable('unterminated comment');
      gap = true;
      i = end + 2;
    } else if (ch === "'" || ch === '"') {
      const j = skipQuoted(sql, i, ch, backslash);
      push({ t: 's', v: '', raw: sql.slice(i, j) });
      i = j;
    } else if (ch === '`') {
      const j = skipQuoted(sql, i, '`', false);
      const raw = sql.slice(i, j);
      push({ t: 'w', v: raw.slice(1, -1).replace(/``/g, '`'), raw, quoted: true });
      i = j;
    } else if (ch === '@' && sql[i + 1] === '@') {
      let j = i + 2;
      while (j < n && (IDENT.test(sql[j]!) || sql[j] === '.')) j++;
      push({ t: 'y', v: sql.slice(i + 2, j).toLowerCase(), raw: sql.slice(i, j) });
      i = j;
    } else if (ch === '@') {
      let j = i + 1;
      if (sql[j] === "'" || sql[j] === '"' || sql[j] === '`') j = skipQuoted(sql, j, sql[j]!, backslash && sql[j] !== '`');
      else while (j < n && (IDENT.test(sql[j]!) || sql[j] === '.')) j++;
      push({ t: 'v', v: sql.slice(i + 1, j), raw: sql.slice(i, j) });
      i = j;
    } else if (/[0-9]/.test(ch) && (!NUMBER_START.test(identRun(sql, i)) || afterQualifier(out))) {
      // A name may start with digits where it is no number: 1f() calls a stored function `1f`, and after a qualifier's
      // dot MySQL reads any run of identifier characters as a name (d.1e5() calls d.`1e5`).
      const raw = identRun(sql, i);
      push({ t: 'w', v: raw.toLowerCase(), raw });
      i += raw.length;
    } else if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(sql[i + 1] ?? '') && out[out.length - 1]?.t !== 'w')) {
      // (After a name, `.1f` is a qualifier's dot and a name: db.1f().)
      let j = i;
      while (j < n && (IDENT.test(sql[j]!) || sql[j] === '.' || ((sql[j] === '+' || sql[j] === '-') && /[eE]/.test(sql[j - 1]!)))) j++;
      push({ t: 's', v: '', raw: sql.slice(i, j) });
      i = j;
    } else if (IDENT.test(ch)) {
      let j = i;
      while (j < n && IDENT.test(sql[j]!)) j++;
      const raw = sql.slice(i, j);
      push({ t: 'w', v: raw.toLowerCase(), raw });
      i = j;
    } else if (ch === ':' && sql[i + 1] === '=') {
      push({ t: 'p', v: ':=', raw: ':=' });
      i += 2;
    } else {
      push({ t: 'p', v: ch, raw: ch });
      i++;
    }
  }
  return out;
}

const isWord = (tok: Token | undefined, v: string): boolean => tok !== undefined && tok.t === 'w' && !tok.quoted && tok.v === v;
const isPunct = (tok: Token | undefined, v: string): boolean => tok !== undefined && tok.t === 'p' && tok.v === v;

/**
 * Words that make the name after them an object, not a function, when `(`
 * follows: INSERT [INTO] t (columns), LOAD DATA … INTO TABLE t (columns),
 * REFERENCES t (columns), WITH [RECURSIVE] cte (columns).
 */
// Not HIGH_PRIORITY: it is also a SELECT modifier, and SELECT HIGH_PRIORITY f() calls f (INSERT HIGH_PRIORITY t (…)
// without INTO is read as a call: a reset, never a leak).
const OBJECT_BEFORE = new Set(['into', 'table', 'references', 'with', 'recursive', 'insert', 'replace', 'ignore', 'low_priority', 'delayed']);

/** Grammar, not a call, right after an operand (`)`, a string, a number): MATCH (a) AGAINST ('x'), LIKE 'x' ESCAPE ('!'). */
const AFTER_OPERAND = new Set(['against', 'escape']);

const NOT_ROUTINE_ANY = new Set(MYSQL_NOT_ROUTINE_ANY);
const NOT_ROUTINE_ADJACENT = new Set(MYSQL_NOT_ROUTINE_ADJACENT);

/**
 * Does the statement call a stored function? A stored routine can do
 * anything to the session (take a named lock, read ROW_COUNT(), turn session
 * tracking off) where the proxy does not read, so such a statement goes the
 * way of a CALL. Read as a call: a schema-qualified `db.f(`, a quoted name
 * before `(` (`f`(…), and "f"(…) under ANSI_QUOTES), and any name before `(`
 * that mysql-builtin-functions.ts does not list as native or grammar (fails
 * closed: an unknown name is a routine). Not a call: the name after INTO,
 * TABLE, REFERENCES, WITH … (an object); the definitions of CREATE and ALTER
 * (column types, index names; stored functions are not allowed in defaults,
 * checks or generated columns), up to the SELECT of a CREATE TABLE … SELECT;
 * and CREATE of a routine, view, trigger or event, which runs nothing now.
 */
function callsRoutine(st: readonly Token[]): boolean {
  let from = 0;
  const first = st[0];
  if (isWord(first, 'create') || isWord(first, 'alter')) {
    // The query runs now: a SELECT, or a table value constructor (CREATE TABLE t AS VALUES (f()) calls f); a partition's
    // VALUES LESS THAN (…) / VALUES IN (…) is no query.
    const query = st.findIndex((t, k) => isWord(t, 'select') || (isWord(t, 'values') && isPunct(st[k + 1], '(')));
    if (query < 0) return false;
    const head = st.slice(0, query).findIndex((t) => isPunct(t, '('));
    const defined = st.slice(0, head < 0 ? query : head);
    // What is created is the first of these words: EVENT, VIEW, FUNCTION and PACKAGE are not reserved, so a later one
    // may be the table's name (CREATE TABLE event SELECT f() runs f now).
    const kind = defined.find((t) => ['table', 'procedure', 'function', 'trigger', 'event', 'view', 'package'].some((w) => isWord(t, w)));
    if (isWord(first, 'alter') || (kind !== undefined && !isWord(kind, 'table'))) return false;
    from = query;
  }
  for (let i = from; i < st.length; i++) {
    const tok = st[i]!;
    const open = st[i + 1];
    if (!isPunct(open, '(')) continue;
    const quotedString = tok.t === 's' && tok.raw.startsWith('"');
    if (tok.t !== 'w' && !quotedString) continue;
    // The head of a qualified name (db.f, `db` . `f`).
    let h = i;
    while (isPunct(st[h - 1], '.') && (st[h - 2]?.t === 'w' || (st[h - 2]?.t === 's' && st[h - 2]!.raw.startsWith('"')))) h -= 2;
    const before = st[h - 1];
    if (before !== undefined && before.t === 'w' && !before.quoted && OBJECT_BEFORE.has(before.v)) continue;
    if (h < i || tok.quoted || quotedString) return true;
    if (AFTER_OPERAND.has(tok.v) && before !== undefined && (isPunct(before, ')') || before.t === 's')) continue;
    if (NOT_ROUTINE_ANY.has(tok.v)) continue;
    if (NOT_ROUTINE_ADJACENT.has(tok.v) && !open!.sp) continue;
    return true;
  }
  return false;
}

/** Functions whose call pins, by lowercased name. */
const PIN_FUNCTIONS: Readonly<Record<string, MysqlPinReason>> = {
  get_lock: 'NamedLock',
  last_insert_id: 'SessionFunction',
  found_rows: 'SessionFunction',
  row_count: 'SessionFunction',
  // MariaDB sequences: LASTVAL(s) is the value NEXTVAL(s) last gave this session (per connection, as LAST_INSERT_ID()).
  nextval: 'SessionFunction',
  lastval: 'SessionFunction',
};

/** NEXT VALUE FOR s and PREVIOUS VALUE FOR s: NEXTVAL(s) and LASTVAL(s) in the standard's words. */
const SEQUENCE_WORDS = ['next', 'previous'];

/** Splits a SET's items at top-level commas. */
function items(tokens: readonly Token[]): Token[][] {
  const out: Token[][] = [[]];
  let depth = 0;
  for (const tok of tokens) {
    if (isPunct(tok, '(')) depth++;
    if (isPunct(tok, ')')) depth--;
    if (depth === 0 && isPunct(tok, ',')) out.push([]);
    else out[out.length - 1]!.push(tok);
  }
  return out;
}

/** A value the proxy can replay as written: one literal (string, number, keyword), optionally signed. */
function literal(value: readonly Token[]): string | undefined {
  const [a, b] = value;
  if (value.length === 1 && (a!.t === 's' || (a!.t === 'w' && !a!.quoted))) return a!.raw;
  if (value.length === 2 && (isPunct(a, '-') || isPunct(a, '+')) && b!.t === 's' && !b!.raw.startsWith("'") && !b!.raw.startsWith('"')) return a!.raw + b!.raw;
  return undefined;
}

type SetOutcome = { tracked: TrackedSet[]; untracked: TrackedSet[] } | { pin: MysqlPinReason };

/** One item of a SET: `[scope] name = value`, `@@[scope.]name = value`, NAMES, CHARACTER SET, TRANSACTION, … */
function setItem(item: Token[], out: { tracked: TrackedSet[]; untracked: TrackedSet[] }, state: { global: boolean }): MysqlPinReason | undefined {
  let k = 0;
  let scope: 'session' | 'global' | undefined;
  const first = item[0];
  if (first === undefined) return 'Unreadable';
  if (first.t === 'v') return 'UserVariable';
  if (first.t === 'w' && !first.quoted && ['global', 'persist', 'persist_only'].includes(first.v)) {
    scope = 'global';
    k = 1;
  } else if (first.t === 'w' && !first.quoted && (first.v === 'session' || first.v === 'local')) {
    scope = 'session';
    k = 1;
  }
  let name: string;
  const head = item[k];
  if (head === undefined) return 'Unreadable';
  if (head.t === 'y') {
    const parts = head.v.split('.');
    if (parts.length === 2) {
      scope = parts[0] === 'global' ? 'global' : parts[0] === 'session' || parts[0] === 'local' ? 'session' : undefined;
      if (scope === undefined) return 'Unreadable';
      name = parts[1]!;
    } else name = parts[0]!;
    scope ??= 'session';
  } else if (head.t === 'w') {
    name = head.v;
  } else return 'Unreadable';
  // MySQL has let a GLOBAL keep applying to the items after it: such an item is ambiguous.
  if (scope === undefined && state.global) return 'Unreadable';
  if (scope === 'global') {
    state.global = true;
    return undefined; // the server's global value: no session state
  }
  const rest = item.slice(k + 1);
  if (head.t === 'w' && !head.quoted && scope === undefined) {
    if (name === 'names' || name === 'charset' || (name === 'character' && isWord(rest[0], 'set'))) {
      const words = name === 'character' ? rest.slice(1) : rest;
      if (words.length === 0 || words.some((t) => !(t.t === 's' || (t.t === 'w' && !t.quoted)))) return 'SessionVariable';
      const key = name === 'names' ? 'names' : 'character set';
      out.tracked.push({ name: key, sql: `SET ${name === 'names' ? 'NAMES' : 'CHARACTER SET'} ${words.map((t) => t.raw).join(' ')}` });
      return undefined;
    }
    if (name === 'transaction') return 'TransactionCharacteristics';
    if (name === 'password' || name === 'default') return undefined; // accounts, not the session
  }
  if (head.t === 'w' && !head.quoted && name === 'transaction' && scope === 'session') {
    const words = rest.map((t) => (t.t === 'w' ? t.v : t.raw)).join(' ');
    if (!/^(isolation level (read uncommitted|read committed|repeatable read|serializable)|read only|read write)$/.test(words)) return 'Unreadable';
    out.tracked.push({ name: words.startsWith('isolation') ? 'transaction_isolation' : 'transaction_read_only', sql: `SET SESSION TRANSACTION ${words.toUpperCase()}` });
    return undefined;
  }
  if (!(isPunct(rest[0], '=') || isPunct(rest[0], ':='))) return 'Unreadable';
  const value = literal(rest.slice(1));
  const key = TRACKED[name];
  const set = { name: key ?? name, sql: `SET SESSION ${name} = ${value ?? ''}` };
  if (value === undefined || key === undefined) {
    // Not replayable: only EXCLUDE_VARIABLE_SETS lets it through (untracked).
    out.untracked.push(set);
    return undefined;
  }
  out.tracked.push(set);
  return undefined;
}

function classifySet(st: Token[]): SetOutcome {
  // MariaDB's SET STATEMENT … FOR <statement>: the variables last one statement.
  if (isWord(st[1], 'statement')) {
    const at = st.findIndex((t, i) => i > 1 && isWord(t, 'for'));
    if (at < 0) return { pin: 'Unreadable' };
    const inner = classifyStatement(st.slice(at + 1));
    return inner.kind === 'pin' ? { pin: inner.reason } : inner.kind === 'none' ? { tracked: [], untracked: [] } : { pin: 'Unreadable' };
  }
  if (isWord(st[1], 'role')) return { pin: 'SessionVariable' };
  const out = { tracked: [] as TrackedSet[], untracked: [] as TrackedSet[] };
  const state = { global: false };
  for (const item of items(st.slice(1))) {
    for (const tok of item) if (tok.t === 'v') return { pin: 'UserVariable' };
    const pin = setItem(item, out, state);
    if (pin !== undefined) return { pin };
  }
  return out;
}

/** Functions that read what the session's previous statement left: on a connection just borrowed, another client's. */
const PREVIOUS_STATEMENT = new Set(['row_count', 'found_rows']);

/** A pin, marked when the statement also reads what the previous statement left. */
function pinEffect(reason: MysqlPinReason, previous: boolean | undefined): StatementEffect {
  return previous ? { kind: 'pin', reason, previous: true } : { kind: 'pin', reason };
}

/** Names in a statement that pin wherever they are (functions, user variables, SQL_CALC_FOUND_ROWS). reason: the first pin in the statement; call: the first function (or SQL_CALC_FOUND_ROWS) that pins; previous: a function reading the previous statement. */
function scanPins(st: readonly Token[]): { reason?: MysqlPinReason; call?: MysqlPinReason; previous?: true } {
  let reason: MysqlPinReason | undefined;
  let call: MysqlPinReason | undefined;
  let previous = false;
  for (let i = 0; i < st.length; i++) {
    const tok = st[i]!;
    if (tok.t === 'v') reason ??= 'UserVariable';
    // Under ANSI_QUOTES (a setting read nowhere here) a double-quoted name is an identifier: "get_lock"(…) calls it.
    let name: string | undefined;
    if (tok.t === 's' && tok.raw.startsWith('"')) name = tok.raw.slice(1, -1).toLowerCase();
    else if (tok.t === 'w') name = tok.quoted ? tok.v.toLowerCase() : tok.v; // `ROW_COUNT`() calls it too
    if (name === undefined) continue;
    if (tok.t === 'w' && name === 'sql_calc_found_rows') {
      reason ??= 'SessionFunction';
      call ??= 'SessionFunction';
    }
    if (tok.t === 'w' && !tok.quoted && SEQUENCE_WORDS.includes(name) && isWord(st[i + 1], 'value') && isWord(st[i + 2], 'for')) {
      reason ??= 'SessionFunction';
      call ??= 'SessionFunction';
    }
    const fn = PIN_FUNCTIONS[name];
    if (fn !== undefined && isPunct(st[i + 1], '(')) {
      reason ??= fn;
      call ??= fn;
      if (PREVIOUS_STATEMENT.has(name)) previous = true;
    }
  }
  return { ...(reason !== undefined ? { reason } : {}), ...(call !== undefined ? { call } : {}), ...(previous ? { previous: true as const } : {}) };
}

function identifier(tok: Token | undefined): string | undefined {
  return tok !== undefined && tok.t === 'w' ? (tok.quoted ? tok.v : tok.raw) : undefined;
}

type Effect = StatementEffect | { kind: 'set-outcome'; outcome: SetOutcome };

/** `pins`: the statement's scanPins, when the caller has it already. */
function classifyStatement(st: Token[], pins: ReturnType<typeof scanPins> = scanPins(st)): Effect {
  const first = st[0]!;
  const w = first.t === 'w' && !first.quoted ? first.v : '';
  switch (w) {
    case 'set':
      return { kind: 'set-outcome', outcome: classifySet(st) };
    case 'use': {
      const schema = identifier(st[1]);
      return schema !== undefined && st.length === 2 ? { kind: 'use', schema } : { kind: 'pin', reason: 'Unreadable' };
    }
    case 'prepare':
    case 'execute':
    case 'deallocate':
      return { kind: 'pin', reason: 'SqlPrepare' };
    case 'lock':
      return { kind: 'pin', reason: 'TableLock' };
    case 'handler':
      return { kind: 'pin', reason: 'Handler' };
    case 'xa':
      return { kind: 'pin', reason: 'XaTransaction' };
    case 'backup':
      // MariaDB's BACKUP STAGE and BACKUP LOCK hold server-side locks until the session says otherwise or ends.
      return { kind: 'pin', reason: 'TableLock' };
    case 'flush':
      if (st.some((t) => isWord(t, 'lock') || isWord(t, 'export'))) return { kind: 'pin', reason: 'TableLock' };
      break;
    case 'call': {
      // What the CALL passes may pin by itself (a user variable as an argument); otherwise the pool decides.
      return pins.reason !== undefined ? { kind: 'pin', reason: pins.reason } : { kind: 'call' };
    }
    case 'create':
    case 'drop':
    case 'alter':
      if (st.some((t) => isWord(t, 'temporary'))) return { kind: 'pin', reason: 'TemporaryTable' };
      if (w === 'drop' && isWord(st[1], 'prepare')) return { kind: 'pin', reason: 'SqlPrepare' };
      if (w === 'drop' && (isWord(st[1], 'database') || isWord(st[1], 'schema'))) {
        const at = isWord(st[2], 'if') && isWord(st[3], 'exists') ? 4 : 2;
        const schema = identifier(st[at]);
        return schema !== undefined && st.length === at + 1 ? { kind: 'drop-database', schema } : { kind: 'pin', reason: 'Unreadable' };
      }
      break;
  }
  // Whether it also reads the previous statement is classifyWith's to mark, for every pin alike.
  return pins.reason !== undefined ? { kind: 'pin', reason: pins.reason } : { kind: 'none' };
}

/**
 * A SET (or SET STATEMENT) item that may turn session_track_state_change off,
 * however it names it (`@@session.`, `SESSION`, backticks): anything but a
 * literal ON, 1 or TRUE (DEFAULT is the server's global value, OFF on MariaDB).
 */
function turnsTrackingOff(st: readonly Token[]): boolean {
  for (let i = 0; i < st.length; i++) {
    const tok = st[i]!;
    if (tok.t !== 'w' && tok.t !== 'y') continue;
    const name = tok.t === 'y' ? tok.v.replace(/^(session|local|global)\./, '') : tok.v.toLowerCase();
    if (name !== 'session_track_state_change') continue;
    const value = st[i + 2];
    const end = st[i + 3];
    const on = value !== undefined && /^'?(on|1|true)'?$/i.test(value.raw) && (end === undefined || isPunct(end, ',') || isWord(end, 'for'));
    if (!(isPunct(st[i + 1], '=') || isPunct(st[i + 1], ':=')) || !on) return true;
  }
  return false;
}

function classifyWith(text: string, backslash: boolean, o: ClassifyOptions): StatementEffect {
  const tokens = lex(text, backslash);
  // A trailing `;` (and empty statements) is harmless; a second statement is not read.
  const statements: Token[][] = [[]];
  for (const tok of tokens) {
    if (isPunct(tok, ';')) statements.push([]);
    else statements[statements.length - 1]!.push(tok);
  }
  const nonEmpty = statements.filter((s) => s.length > 0);
  if (nonEmpty.length === 0) return { kind: 'none' };
  if (nonEmpty.length > 1) return { kind: 'pin', reason: 'MultiStatement' };
  const st = nonEmpty[0]!;
  // Whatever else the statement is (a SET of a user variable, a CALL's argument, SET STATEMENT … FOR), a ROW_COUNT() or
  // FOUND_ROWS() in it reads the previous statement: on a connection just borrowed, another client's.
  const calls = scanPins(st);
  const effect = classifyStatement(st, calls);
  if (effect.kind === 'pin') return pinEffect(effect.reason, calls.previous);
  if (effect.kind === 'none' && callsRoutine(st)) return { kind: 'call', function: true };
  // The server's session tracking is the proxy's safety net for what it does not read (stored routines): a SET that
  // turns it off on a pooled connection, for the session or for one statement, pins, whatever SessionPinningFilters says.
  if (isWord(st[0], 'set') && turnsTrackingOff(st)) return { kind: 'pin', reason: 'SessionVariable' };
  if (effect.kind !== 'set-outcome') return effect;
  const outcome = effect.outcome;
  // A function that pins (GET_LOCK() as a SET's value) pins even where EXCLUDE_VARIABLE_SETS lets the SET through.
  if (calls.call !== undefined) return pinEffect(calls.call, calls.previous);
  if ('pin' in outcome) {
    // EXCLUDE_VARIABLE_SETS: a SET of variables (user or session) does not pin; its state is not carried.
    if (o.excludeVariableSets && (outcome.pin === 'SessionVariable' || outcome.pin === 'UserVariable') && nonEmpty[0]!.every((t) => !(t.t === 'w' && PIN_FUNCTIONS[t.v] !== undefined))) {
      if (callsRoutine(st)) return { kind: 'call', function: true };
      return { kind: 'excluded-set', sets: [] };
    }
    return { kind: 'pin', reason: outcome.pin };
  }
  if (outcome.untracked.length > 0) {
    if (!o.excludeVariableSets) return { kind: 'pin', reason: 'SessionVariable' };
    // A value a stored function computes: the function may do anything, as any call does.
    if (callsRoutine(st)) return { kind: 'call', function: true };
    return { kind: 'excluded-set', sets: outcome.tracked };
  }
  if (outcome.tracked.length > 0) return { kind: 'set', sets: outcome.tracked };
  // SET STATEMENT … FOR a statement that calls a stored function.
  if (callsRoutine(st)) return { kind: 'call', function: true };
  return isWord(st[1], 'statement') ? { kind: 'transient-set' } : { kind: 'none' };
}

/** True when two effects are the same decision (the two readings of a backslash agree). */
function same(a: StatementEffect, b: StatementEffect): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * What a COM_QUERY's text does to the session. `noBackslashEscapes`:
 * the session's NO_BACKSLASH_ESCAPES status flag; when the text has a
 * backslash both readings are tried, and a disagreement pins.
 */
export function classifyMysql(text: string, o: ClassifyOptions, noBackslashEscapes = false): StatementEffect {
  if (Buffer.byteLength(text, 'utf8') > LONG_STATEMENT_BYTES) return { kind: 'pin', reason: 'LongStatement' };
  try {
    const main = classifyWith(text, !noBackslashEscapes, o);
    if (!text.includes('\\')) return main;
    let other: StatementEffect;
    try {
      other = classifyWith(text, noBackslashEscapes, o);
    } catch {
      // The other reading does not parse: the session's own reading is the one that runs.
      return main;
    }
    return same(main, other) ? main : { kind: 'pin', reason: 'Unreadable' };
  } catch (err) {
    if (err instanceof Executable) return { kind: 'pin', reason: 'ExecutableComment' };
    if (err instanceof Unreadable) return { kind: 'pin', reason: 'Unreadable' };
    throw err;
  }
}

/** Stable numbers for the native side (native/my_pool.c's MYPIN_* use 1, 6, 15, 16 and 17): the reasons in their order above. */
export const MYSQL_PIN_CODES = Object.fromEntries(Object.keys(MYSQL_PIN_REASONS).map((k, i) => [k, i + 1])) as Readonly<Record<MysqlPinReason, number>>;

const MYSQL_PIN_BY_CODE = new Map<number, MysqlPinReason>(Object.entries(MYSQL_PIN_CODES).map(([k, v]) => [v, k as MysqlPinReason]));

/** The reason behind a native pin code (undefined: not a MySQL code). */
export function mysqlPinReasonOf(code: number): MysqlPinReason | undefined {
  return MYSQL_PIN_BY_CODE.get(code);
}

/**
 * The words the native statement filter (native/pg_scan.c, MySQL rules) sends
 * here, with where they matter (flags, as pg_scan.c's W_*): 2 a statement's
 * first word, 1 anywhere; then what its stored-routine rule (callsRoutine's,
 * above) needs: 4 a name before `(` that is no call however spaced, 8 one that
 * is no call when the `(` follows at once, 16 a word making the next name an
 * object, 32 a first word whose definitions are no calls (CREATE, ALTER) up to
 * a 64 (SELECT), 128 a name that is no call right after an operand (AGAINST).
 * A statement without one of the first two, without a routine call by that
 * rule, a user variable, a second statement, an executable comment or a
 * backslash in a string is classified `none` by classifyMysql, so it never
 * leaves the native side.
 */
export const MYSQL_FILTER_WORDS: ReadonlyArray<readonly [string, number]> = (() => {
  const flags = new Map<string, number>();
  const add = (w: string, f: number): void => void flags.set(w, (flags.get(w) ?? 0) | f);
  for (const w of ['set', 'use', 'prepare', 'execute', 'deallocate', 'lock', 'handler', 'xa', 'flush', 'backup', 'drop', 'call']) add(w, 2);
  for (const w of ['temporary', 'sql_calc_found_rows', ...SEQUENCE_WORDS, ...Object.keys(PIN_FUNCTIONS)]) add(w, 1);
  for (const w of MYSQL_NOT_ROUTINE_ANY) add(w, 4);
  for (const w of MYSQL_NOT_ROUTINE_ADJACENT) add(w, 8);
  for (const w of OBJECT_BEFORE) add(w, 16);
  for (const w of AFTER_OPERAND) add(w, 128);
  add('create', 32);
  add('alter', 32);
  add('select', 64);
  add('values', 64);
  return [...flags];
})();
