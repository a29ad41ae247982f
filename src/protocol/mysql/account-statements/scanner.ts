/**
 * Decides, token by token and without allocating, whether a statement text
 * may hold account management (or KILL, dynamic SQL, or a change of the
 * client character set), wherever it sits: at the start of a statement, in a
 * compound statement (`BEGIN NOT ATOMIC ... END`, `IF ... THEN`), in a stored
 * program's body, or after `SET STATEMENT ... FOR`. It also notes statements
 * that may change the sql_mode the server parses later statements in.
 *
 * The rules are conservative and close to the grammar's shape, not to its
 * detail:
 * - A statement that starts with a reserved data-manipulation word (SELECT,
 *   INSERT, UPDATE, DELETE, REPLACE, LOAD, WITH, VALUES, TABLE, DESCRIBE,
 *   DESC, EXPLAIN, SHOW, USE), with REVOKE (which never changes
 *   authentication), or with '(' holds no other statement up to its ';', so
 *   the scanner skips it: `UPDATE users SET password = ...` and a 16 MiB
 *   INSERT are not looked at. Reserved words cannot be labels or names, so
 *   this cannot be faked. CALL is skipped too, after its routine's name,
 *   unless the routine is the sys schema's execute_prepared_stmt (which runs
 *   its argument as SQL).
 * - CREATE/ALTER of a TABLE, INDEX, DATABASE or SCHEMA, and DROP/RENAME of
 *   anything but USER, are skipped the same way.
 * - Everything else is scanned for: (CREATE|ALTER|DROP|RENAME|REPLACE) USER,
 *   SET PASSWORD and `, PASSWORD` (MariaDB accepts PASSWORD items inside a SET
 *   list), GRANT, IDENTIFIED, KILL, PREPARE, EXECUTE IMMEDIATE, BINLOG; and
 *   for the client character set NAMES, CHARACTER, CHARSET and CHAR after
 *   SET or ',' outside parentheses, and character_set_client anywhere (also
 *   quoted: the pre-check takes any quoted name of its length).
 * - Inside such statements, a new statement (or a view's query) starts after
 *   BEGIN, THEN, ELSE, DO, LOOP, REPEAT, ROW (FOR EACH ROW), FOR, AS and a
 *   label's ':' at parenthesis depth 0; a data-manipulation word there skips
 *   to the next ';', except REPLACE, INSERT and VALUES followed by '(' (the
 *   string functions): THEN/ELSE of a CASE expression, and `:=`, come before
 *   expressions, where only those can appear unparenthesized. Verified
 *   against MariaDB 10.11: `SET @a = CASE WHEN 1 THEN 0 ELSE REPLACE(...)
 *   END, PASSWORD = ...` and `SET @a = (SELECT ... FOR UPDATE), PASSWORD =
 *   ...` both run the PASSWORD item.
 * - A scanned statement that names sql_mode (also quoted) or runs a prepared
 *   statement (EXECUTE) may change the sql_mode of the statements after it
 *   ({@link StatementScanner.mayChangeMode}). Skipped statements cannot:
 *   stored procedures and compound statements put sql_mode back when they
 *   end (checked against MariaDB 10.11).
 */
import { KW, type Keyword } from './keywords.js';

/** Why a text needs the full reading. */
export const Flag = {
  NONE: 0,
  /** Account management words. */
  ACCOUNT: 1,
  KILL: 2,
  /** PREPARE, EXECUTE IMMEDIATE or CALL of execute_prepared_stmt: their text is classified too, when it can be. */
  DYNAMIC: 3,
  /** BINLOG replays events the gateway cannot read. */
  BINLOG: 4,
  /** A change of the client character set (SET NAMES, SET CHARACTER SET, character_set_client). */
  CHARSET: 5,
} as const;

/** A {@link Flag} value. */
export type FlagValue = (typeof Flag)[keyof typeof Flag];

const START = 0;
const BODY_START = 1;
const PENDING_PLAIN = 2;
const PLAIN = 3;
const SCAN = 4;
const DDL = 5;
const DROP_OR_RENAME = 6;
const CALL_NAME = 7;

// Previous-token markers for punctuation (keywords are >= 0).
const P_COMMA = -1;
const P_AT = -2;
const P_DOT = -3;
const P_OTHER = -4;

const PLAIN_STARTERS = new Set<number>([
  KW.SELECT, KW.INSERT, KW.UPDATE, KW.DELETE, KW.REPLACE, KW.LOAD, KW.WITH, KW.VALUES, KW.TABLE,
  KW.DESCRIBE, KW.DESC, KW.EXPLAIN, KW.SHOW, KW.USE, KW.REVOKE,
]);
/** Plain starters that are also function names, so "WORD (" may be an expression. */
const FUNCTION_LIKE = new Set<number>([KW.REPLACE, KW.INSERT, KW.VALUES]);
const PLAIN_OBJECTS = new Set<number>([KW.TABLE, KW.INDEX, KW.DATABASE, KW.SCHEMA]);
const BODY_MARKERS = new Set<number>([KW.BEGIN, KW.THEN, KW.ELSE, KW.DO, KW.LOOP, KW.REPEAT, KW.ROW, KW.FOR, KW.AS]);
const USER_VERBS = new Set<number>([KW.CREATE, KW.ALTER, KW.DROP, KW.RENAME, KW.REPLACE]);
/** Words that start a character set change after SET or ',' (SET NAMES, SET CHARACTER SET, SET CHARSET, SET CHAR SET). */
const CHARSET_ITEMS = new Set<number>([KW.NAMES, KW.CHARACTER, KW.CHARSET, KW.CHAR]);

const BACKTICK = 0x60;
const DOUBLE_QUOTE = 0x22;
const OPEN_BRACKET = 0x5b;

/**
 * The scanner's state for one text; feed it the tokens of one reading.
 *
 * @example
 *   const s = new StatementScanner();
 *   s.word(KW.SET); s.word(KW.PASSWORD) // === Flag.ACCOUNT
 */
export class StatementScanner {
  #state = START;
  #prev = 0;
  #depth = 0;
  #mayChangeMode = false;

  /** True while nothing up to the next ';' can matter (the lexer may skim). */
  get skipping(): boolean {
    return this.#state === PLAIN;
  }

  /** The statement read so far may change the sql_mode of the statements after it. Cleared at ';'. */
  get mayChangeMode(): boolean {
    return this.#mayChangeMode;
  }

  /** A word; returns the flag it raises (Flag.NONE mostly). */
  word(keyword: Keyword): FlagValue {
    switch (this.#state) {
      case PLAIN:
        return Flag.NONE;
      case PENDING_PLAIN:
        this.#state = PLAIN;
        return Flag.NONE;
      case START:
      case BODY_START:
        return this.#statementStart(keyword);
      case CALL_NAME:
        return keyword === KW.EXECUTE_PREPARED_STMT ? Flag.DYNAMIC : Flag.NONE;
      case DROP_OR_RENAME:
        if (keyword === KW.USER) {
          this.#state = SCAN;
          this.#prev = keyword;
          return Flag.ACCOUNT;
        }
        this.#state = PLAIN;
        return Flag.NONE;
      case DDL:
        if (this.#depth === 0 && PLAIN_OBJECTS.has(keyword)) {
          this.#state = PLAIN;
          return Flag.NONE;
        }
        return this.#scan(keyword);
      default:
        return this.#scan(keyword);
    }
  }

  /**
   * Quoted text (or a quoted name): `quote` is its opening byte, `length` its
   * bytes with the quotes. `name` is the name it stands for, in lower case,
   * when the caller knows it (the full reading); without it, any quoted name
   * of the right length counts (the pre-check cannot look inside).
   */
  quoted(quote: number, length: number, name?: string): FlagValue {
    const is = (target: string): boolean => (name === undefined ? length === target.length + 2 : name === target);
    switch (this.#state) {
      case PLAIN:
        return Flag.NONE;
      case PENDING_PLAIN:
        this.#state = PLAIN;
        return Flag.NONE;
      case CALL_NAME:
        return quote !== 0x27 && is('execute_prepared_stmt') ? Flag.DYNAMIC : Flag.NONE;
      case START:
      case BODY_START:
      case DROP_OR_RENAME:
        this.#state = SCAN;
        break;
      default:
        break;
    }
    this.#prev = P_OTHER;
    if (quote !== BACKTICK && quote !== DOUBLE_QUOTE && quote !== OPEN_BRACKET) return Flag.NONE;
    if (is('sql_mode')) this.#mayChangeMode = true;
    return is('character_set_client') ? Flag.CHARSET : Flag.NONE;
  }

  /** One punctuation byte. */
  punct(byte: number): void {
    if (byte === 0x3b) {
      this.#state = START;
      this.#prev = 0;
      this.#depth = 0;
      this.#mayChangeMode = false;
      return;
    }
    switch (this.#state) {
      case PLAIN:
        return;
      case PENDING_PLAIN:
        if (byte !== 0x28) {
          this.#state = PLAIN;
          return;
        }
        this.#state = SCAN;
        break;
      case CALL_NAME:
        // `schema . name` stays in the name; anything else ends it.
        if (byte !== 0x2e) this.#state = PLAIN;
        return;
      case START:
        if (byte === 0x28) {
          this.#state = PLAIN;
          return;
        }
        this.#state = SCAN;
        break;
      case BODY_START:
      case DROP_OR_RENAME:
        this.#state = SCAN;
        break;
      default:
        break;
    }
    if (byte === 0x28) this.#depth++;
    else if (byte === 0x29 && this.#depth > 0) this.#depth--;
    else if (byte === 0x3a && this.#depth === 0) this.#state = BODY_START;
    this.#prev = byte === 0x2c ? P_COMMA : byte === 0x40 ? P_AT : byte === 0x2e ? P_DOT : P_OTHER;
  }

  #statementStart(keyword: Keyword): FlagValue {
    if (keyword === KW.CALL) {
      this.#state = CALL_NAME;
      return Flag.NONE;
    }
    if (PLAIN_STARTERS.has(keyword)) {
      // At the very start of a statement no expression can begin; after a marker, REPLACE( may be a function.
      this.#state = this.#state === BODY_START && FUNCTION_LIKE.has(keyword) ? PENDING_PLAIN : PLAIN;
      this.#prev = keyword;
      return Flag.NONE;
    }
    if (this.#state === BODY_START && (keyword === KW.NOT || keyword === KW.ATOMIC)) {
      this.#prev = keyword;
      return Flag.NONE;
    }
    if (keyword === KW.CREATE || keyword === KW.ALTER) {
      this.#state = DDL;
      this.#prev = keyword;
      return Flag.NONE;
    }
    if (keyword === KW.DROP || keyword === KW.RENAME) {
      this.#state = DROP_OR_RENAME;
      this.#prev = keyword;
      return Flag.NONE;
    }
    this.#state = SCAN;
    return this.#scan(keyword);
  }

  #scan(keyword: Keyword): FlagValue {
    const prev = this.#prev;
    this.#prev = keyword;
    // System variables count after '@@' and 'session.' too.
    if (keyword === KW.CHARACTER_SET_CLIENT) return Flag.CHARSET;
    if (keyword === KW.SQL_MODE || keyword === KW.EXECUTE) this.#mayChangeMode = true;
    // After '@' or '.', a word is a variable or a qualified name, not a keyword.
    if (prev === P_AT || prev === P_DOT) return Flag.NONE;
    if (this.#depth === 0 && BODY_MARKERS.has(keyword)) this.#state = BODY_START;
    if (CHARSET_ITEMS.has(keyword)) return this.#depth === 0 && (prev === KW.SET || prev === P_COMMA) ? Flag.CHARSET : Flag.NONE;
    switch (keyword) {
      case KW.USER:
        return USER_VERBS.has(prev) ? Flag.ACCOUNT : Flag.NONE;
      case KW.PASSWORD:
        return prev === KW.SET || prev === P_COMMA ? Flag.ACCOUNT : Flag.NONE;
      case KW.GRANT:
      case KW.IDENTIFIED:
        return Flag.ACCOUNT;
      case KW.KILL:
        return Flag.KILL;
      case KW.BINLOG:
        return Flag.BINLOG;
      case KW.PREPARE:
        return prev === KW.DEALLOCATE || prev === KW.DROP ? Flag.NONE : Flag.DYNAMIC;
      case KW.IMMEDIATE:
        return prev === KW.EXECUTE ? Flag.DYNAMIC : Flag.NONE;
      default:
        return Flag.NONE;
    }
  }
}
