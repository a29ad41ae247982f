/**
 * Recognises account-management statements in COM_QUERY text so the gateway
 * can emulate RDS's `AWSAuthenticationPlugin`: `CREATE USER u IDENTIFIED WITH
 * AWSAuthenticationPlugin AS 'RDS'` is rewritten to MariaDB's
 * `IDENTIFIED BY PASSWORD '<hash>'` with everything else byte-for-byte kept.
 *
 * The recognizer is deliberately strict: whatever it does not fully
 * understand is `unknown`, never a guess. In particular:
 * - executable comments (`/*! ... *\/`, `/*M! ... *\/`) make the text unknown,
 *   since the server runs what they hold;
 * - a backslash inside a string is read both with and without backslash
 *   escapes (sql_mode NO_BACKSLASH_ESCAPES); unless both readings agree, the
 *   text is unknown;
 * - account management appearing anywhere but at the start of a statement
 *   (compound statements, `SET STATEMENT ... FOR`, `PREPARE ... FROM`) is
 *   unknown, so 'other' means "not account management" with some margin.
 *
 * @see https://mariadb.com/kb/en/create-user/
 * @see https://mariadb.com/kb/en/alter-user/
 * @see https://mariadb.com/kb/en/comment-syntax/
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html
 */
import { IamdbError } from '../../errors/index.js';
import { NATIVE_PASSWORD_HASH_PATTERN } from './auth/native-password.js';

/** What a statement does to accounts. */
export type AccountStatementKind =
  | 'create-iam-user'
  | 'alter-iam-user'
  | 'drop-user'
  | 'rename-user'
  /** CREATE/ALTER USER with IDENTIFIED BY/WITH another plugin, CREATE USER without auth, or SET PASSWORD FOR: the accounts are (now) not IAM users. */
  | 'set-password-user'
  /** Not account management (ALTER USER without an auth clause is here too, with its accounts). */
  | 'other'
  | 'unknown';

/** A MySQL account: user and host ('%' when the statement names no host). */
export interface Account {
  readonly user: string;
  readonly host: string;
}

/** Hashes for {@link AccountStatement.rewrite}: a function, or a map keyed by {@link accountKey}. */
export type PasswordHashes = ((account: Account) => string | undefined) | ReadonlyMap<string, string>;

/** The recognizer's verdict on one COM_QUERY text. */
export interface AccountStatement {
  readonly kind: AccountStatementKind;
  readonly accounts: readonly Account[];
  /** For rename-user, in statement order. */
  readonly renames?: readonly { readonly from: Account; readonly to: Account }[];
  readonly ifNotExists: boolean;
  readonly ifExists: boolean;
  /** True when a ';' is followed by anything but whitespace. */
  readonly multiStatement: boolean;
  /** Why the text is unknown (for logs; never contains the text itself). */
  readonly reason?: string;
  /**
   * For create-iam-user and alter-iam-user: the statement with each account's
   * `IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'` clause replaced by
   * `IDENTIFIED BY PASSWORD '<hash>'`. Hashes must look like
   * `*` + 40 uppercase hex digits (so quoting is always safe).
   */
  readonly rewrite?: (hashes: PasswordHashes) => string;
}

/** Key of an account in a PasswordHashes map: JSON of [user, host], unambiguous for any names. */
export function accountKey(account: Account): string {
  return JSON.stringify([account.user, account.host]);
}

// ---------------------------------------------------------------- tokenizer

type TokenKind = 'word' | 'string' | 'backtick' | 'punct';

interface Token {
  readonly kind: TokenKind;
  /** Raw text for words and punctuation; the unquoted value for strings and backticks. */
  readonly value: string;
  readonly start: number;
  readonly end: number;
  /** Whitespace or a comment precedes it. */
  readonly spaced: boolean;
}

interface Tokenized {
  readonly tokens: Token[];
  readonly backslashInString: boolean;
  readonly failure?: string;
  /** The text ends inside quotes: the server would reject the statement being read. */
  readonly unterminated?: boolean;
}

const WORD = /[A-Za-z0-9_$\u0080-\uffff]/;
const ESCAPES: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\x1a' };

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
}

function tokenize(sql: string, backslashEscapes: boolean): Tokenized {
  const tokens: Token[] = [];
  let backslashInString = false;
  let spaced = false;
  let i = 0;
  const n = sql.length;
  const fail = (failure: string): Tokenized => ({ tokens, backslashInString, failure });
  while (i < n) {
    const c = sql[i] as string;
    if (isSpace(c)) {
      i++;
      spaced = true;
      continue;
    }
    if (c === '#' || (c === '-' && sql[i + 1] === '-' && (i + 2 >= n || (sql.charCodeAt(i + 2) <= 0x20)))) {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? n : nl + 1;
      spaced = true;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      if (sql[i + 2] === '!' || (sql[i + 2] === 'M' && sql[i + 3] === '!')) return fail('executable comment');
      const close = sql.indexOf('*/', i + 2);
      if (close === -1) return fail('unterminated comment');
      // Servers differ on nesting; refuse rather than pick one reading.
      if (sql.slice(i + 2, close).includes('/*')) return fail('nested comment');
      i = close + 2;
      spaced = true;
      continue;
    }
    const start = i;
    if (c === "'" || c === '"' || c === '`') {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) return { ...fail('unterminated quoted text'), unterminated: true };
        const d = sql[i] as string;
        if (d === '\\' && c !== '`') {
          backslashInString = true;
          if (backslashEscapes) {
            if (i + 1 >= n) return { ...fail('unterminated quoted text'), unterminated: true };
            const e = sql[i + 1] as string;
            // \% and \_ keep their backslash (they are LIKE escapes).
            value += e === '%' || e === '_' ? `\\${e}` : (ESCAPES[e] ?? e);
            i += 2;
            continue;
          }
        }
        if (d === c) {
          if (sql[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += d;
        i++;
      }
      tokens.push({ kind: c === '`' ? 'backtick' : 'string', value, start, end: i, spaced });
    } else if (WORD.test(c)) {
      while (i < n && WORD.test(sql[i] as string)) i++;
      tokens.push({ kind: 'word', value: sql.slice(start, i), start, end: i, spaced });
    } else {
      i++;
      tokens.push({ kind: 'punct', value: c, start, end: i, spaced });
    }
    spaced = false;
  }
  return { tokens, backslashInString };
}

// ---------------------------------------------------------------- parser

class NotUnderstood extends Error {}

type AuthSpec =
  | { readonly kind: 'iam'; readonly start: number; readonly end: number }
  | { readonly kind: 'password' }
  | { readonly kind: 'none' };

interface Parsed {
  readonly kind: AccountStatementKind;
  readonly accounts: Account[];
  readonly renames?: { from: Account; to: Account }[];
  readonly ifNotExists: boolean;
  readonly ifExists: boolean;
  /** Spans of IAM clauses, one per account, for rewrite. */
  readonly spans?: { start: number; end: number }[];
}

/** Words that cannot be an unquoted user name in these statements. */
const NOT_A_USER = new Set([
  'IDENTIFIED', 'REQUIRE', 'WITH', 'IF', 'CURRENT_USER', 'USER', 'PASSWORD', 'ACCOUNT', 'DEFAULT', 'TO', 'FOR',
  'COMMENT', 'ATTRIBUTE', 'CURRENT_ROLE', 'PUBLIC', 'NONE',
]);
/** Words that may begin the clauses after the last account of CREATE/ALTER USER. */
const TRAILING_START = new Set([
  'REQUIRE', 'WITH', 'PASSWORD', 'ACCOUNT', 'COMMENT', 'ATTRIBUTE', 'FAILED_LOGIN_ATTEMPTS', 'PASSWORD_LOCK_TIME',
]);
const AWS_PLUGIN = 'awsauthenticationplugin';

class StatementParser {
  #i = 0;
  constructor(private readonly t: readonly Token[]) {}

  #peek(offset = 0): Token | undefined {
    return this.t[this.#i + offset];
  }

  #isWord(word: string, offset = 0): boolean {
    const tok = this.#peek(offset);
    return tok !== undefined && tok.kind === 'word' && tok.value.toUpperCase() === word;
  }

  #isPunct(p: string, offset = 0): boolean {
    const tok = this.#peek(offset);
    return tok !== undefined && tok.kind === 'punct' && tok.value === p;
  }

  #expectWord(word: string): Token {
    if (!this.#isWord(word)) throw new NotUnderstood(`expected ${word}`);
    return this.t[this.#i++] as Token;
  }

  #atEnd(): boolean {
    return this.#i >= this.t.length;
  }

  #requireEnd(): void {
    if (!this.#atEnd()) throw new NotUnderstood('unexpected text after the statement');
  }

  parse(): Parsed {
    const none = { accounts: [], ifNotExists: false, ifExists: false };
    if (this.#isWord('CREATE')) {
      if (this.#isWord('USER', 1)) {
        this.#i += 2;
        return this.#createOrAlter('create');
      }
      if (this.#isWord('OR', 1) && this.#isWord('REPLACE', 2) && this.#isWord('USER', 3)) {
        throw new NotUnderstood('CREATE OR REPLACE USER');
      }
      return { kind: 'other', ...none };
    }
    if (this.#isWord('ALTER') && this.#isWord('USER', 1)) {
      this.#i += 2;
      return this.#createOrAlter('alter');
    }
    if (this.#isWord('DROP') && this.#isWord('USER', 1)) {
      this.#i += 2;
      const ifExists = this.#ifExists();
      const accounts = this.#accountList();
      this.#requireEnd();
      return { kind: 'drop-user', accounts, ifExists, ifNotExists: false };
    }
    if (this.#isWord('RENAME') && this.#isWord('USER', 1)) {
      this.#i += 2;
      const renames: { from: Account; to: Account }[] = [];
      for (;;) {
        const from = this.#account();
        this.#expectWord('TO');
        const to = this.#account();
        renames.push({ from, to });
        if (!this.#isPunct(',')) break;
        this.#i++;
      }
      this.#requireEnd();
      return { kind: 'rename-user', accounts: renames.map((r) => r.from), renames, ...{ ifExists: false, ifNotExists: false } };
    }
    if (this.#isWord('SET') && this.#isWord('PASSWORD', 1)) {
      this.#i += 2;
      if (!this.#isWord('FOR')) throw new NotUnderstood('SET PASSWORD without FOR');
      this.#i++;
      const account = this.#account();
      if (!this.#isPunct('=')) throw new NotUnderstood('SET PASSWORD FOR without =');
      for (let j = this.#i; j < this.t.length; j++) {
        const tok = this.t[j] as Token;
        if (tok.kind === 'punct' && tok.value === ',') throw new NotUnderstood('comma in SET PASSWORD');
      }
      return { kind: 'set-password-user', accounts: [account], ...{ ifExists: false, ifNotExists: false } };
    }
    return { kind: 'other', ...none };
  }

  #ifExists(): boolean {
    if (this.#isWord('IF') && this.#isWord('EXISTS', 1)) {
      this.#i += 2;
      return true;
    }
    return false;
  }

  #accountList(): Account[] {
    const accounts = [this.#account()];
    while (this.#isPunct(',')) {
      this.#i++;
      accounts.push(this.#account());
    }
    return accounts;
  }

  /** name | 'name' | "name" | `name`, optionally @host in the same forms, with no space around '@'. */
  #account(): Account {
    const tok = this.#peek();
    if (tok === undefined || tok.kind === 'punct') throw new NotUnderstood('expected an account');
    if (tok.kind === 'word' && NOT_A_USER.has(tok.value.toUpperCase())) throw new NotUnderstood('expected an account');
    this.#i++;
    const user = tok.value;
    if (this.#isPunct('(')) throw new NotUnderstood('function call where an account was expected');
    if (!this.#isPunct('@')) return { user, host: '%' };
    const at = this.#peek() as Token;
    if (at.spaced) throw new NotUnderstood("space before '@'");
    this.#i++;
    const first = this.#peek();
    if (first === undefined || first.spaced || first.kind === 'punct') throw new NotUnderstood('expected a host');
    this.#i++;
    if (first.kind !== 'word') return { user, host: first.value };
    // Unquoted host names may contain dots (192.168.0.1, db.example.com).
    let host = first.value;
    for (;;) {
      const dot = this.#peek();
      const next = this.#peek(1);
      if (dot?.kind === 'punct' && dot.value === '.' && !dot.spaced && next?.kind === 'word' && !next.spaced) {
        host += `.${next.value}`;
        this.#i += 2;
      } else break;
    }
    const after = this.#peek();
    if (after !== undefined && !after.spaced && after.kind !== 'punct') throw new NotUnderstood('odd host name');
    if (after !== undefined && !after.spaced && after.kind === 'punct' && after.value !== ',') {
      throw new NotUnderstood('odd host name');
    }
    return { user, host };
  }

  #authName(): Token {
    const tok = this.#peek();
    if (tok === undefined || tok.kind === 'punct') throw new NotUnderstood('expected a plugin name');
    this.#i++;
    return tok;
  }

  #auth(): AuthSpec {
    if (!this.#isWord('IDENTIFIED')) return { kind: 'none' };
    const start = (this.#peek() as Token).start;
    this.#i++;
    if (this.#isWord('BY')) {
      this.#i++;
      if (this.#isWord('PASSWORD')) this.#i++;
      const secret = this.#peek();
      if (secret?.kind !== 'string') throw new NotUnderstood('IDENTIFIED BY without a string');
      this.#i++;
      return { kind: 'password' };
    }
    if (this.#isWord('WITH') || this.#isWord('VIA')) {
      const via = this.#isWord('VIA');
      this.#i++;
      const plugin = this.#authName();
      const isAws = plugin.value.toLowerCase() === AWS_PLUGIN;
      if (isAws) {
        if (via) throw new NotUnderstood('IDENTIFIED VIA AWSAuthenticationPlugin');
        this.#expectWord('AS');
        const as = this.#peek();
        if (as?.kind !== 'string' || as.value !== 'RDS') throw new NotUnderstood("AWSAuthenticationPlugin without AS 'RDS'");
        this.#i++;
        if (this.#isWord('OR')) throw new NotUnderstood('IDENTIFIED ... OR');
        return { kind: 'iam', start, end: as.end };
      }
      if (this.#isWord('AS') || this.#isWord('BY') || this.#isWord('USING')) {
        this.#i++;
        if (this.#peek()?.kind !== 'string') throw new NotUnderstood('auth string expected');
        this.#i++;
      }
      if (this.#isWord('OR')) throw new NotUnderstood('IDENTIFIED ... OR');
      return { kind: 'password' };
    }
    throw new NotUnderstood('IDENTIFIED form');
  }

  #createOrAlter(verb: 'create' | 'alter'): Parsed {
    let ifNotExists = false;
    let ifExists = false;
    if (verb === 'create' && this.#isWord('IF') && this.#isWord('NOT', 1) && this.#isWord('EXISTS', 2)) {
      this.#i += 3;
      ifNotExists = true;
    } else if (verb === 'alter') {
      ifExists = this.#ifExists();
    }
    const accounts: Account[] = [];
    const auths: AuthSpec[] = [];
    for (;;) {
      accounts.push(this.#account());
      auths.push(this.#auth());
      if (!this.#isPunct(',')) break;
      this.#i++;
    }
    if (!this.#atEnd()) {
      const first = this.#peek() as Token;
      if (first.kind !== 'word' || !TRAILING_START.has(first.value.toUpperCase())) {
        throw new NotUnderstood('unexpected clause after the accounts');
      }
      for (let j = this.#i; j < this.t.length; j++) {
        const tok = this.t[j] as Token;
        if (tok.kind === 'punct' && tok.value === ',') throw new NotUnderstood('comma in trailing clauses');
        if (tok.kind === 'word' && tok.value.toUpperCase() === 'IDENTIFIED') {
          throw new NotUnderstood('IDENTIFIED in trailing clauses');
        }
      }
    }
    const iam = auths.filter((a) => a.kind === 'iam').length;
    const base = { accounts, ifNotExists, ifExists };
    if (iam === auths.length) {
      const spans = auths.map((a) => (a.kind === 'iam' ? { start: a.start, end: a.end } : { start: 0, end: 0 }));
      return { kind: verb === 'create' ? 'create-iam-user' : 'alter-iam-user', ...base, spans };
    }
    if (iam > 0) throw new NotUnderstood('IAM and non-IAM accounts in one statement');
    if (verb === 'create' || auths.some((a) => a.kind === 'password')) return { kind: 'set-password-user', ...base };
    return { kind: 'other', ...base };
  }
}

/** Sequences that are account management when they appear anywhere; 'other' must contain none. */
function mentionsAccountManagement(tokens: readonly Token[]): boolean {
  const words = tokens.map((t) => (t.kind === 'word' ? t.value.toUpperCase() : ''));
  for (let j = 0; j < words.length; j++) {
    const w = words[j];
    const next = words[j + 1];
    if ((w === 'CREATE' || w === 'ALTER' || w === 'DROP' || w === 'RENAME' || w === 'REPLACE') && next === 'USER') {
      return true;
    }
    if (w === 'SET' && next === 'PASSWORD') return true;
    if (w === 'IDENTIFIED' || w === 'PREPARE') return true;
    if (w === 'EXECUTE' && next === 'IMMEDIATE') return true;
    if (w === 'SET' && next === 'STATEMENT') return true;
  }
  return false;
}

interface Analysis {
  readonly parsed?: Parsed;
  readonly multiStatement: boolean;
  readonly failure?: string;
  /**
   * The text cannot be read at all in this mode (an unterminated string
   * inside the first statement), so a server in this mode runs nothing.
   */
  readonly rejectedWhole?: boolean;
}

function analyse(sql: string, backslashEscapes: boolean): Analysis & { backslashInString: boolean } {
  const tk = tokenize(sql, backslashEscapes);
  const firstSemicolon = tk.tokens.find((t) => t.kind === 'punct' && t.value === ';');
  const multiStatement = firstSemicolon !== undefined && sql.slice(firstSemicolon.end).trim() !== '';
  if (tk.failure !== undefined) {
    return {
      multiStatement,
      failure: tk.failure,
      backslashInString: tk.backslashInString,
      rejectedWhole: tk.unterminated === true && firstSemicolon === undefined,
    };
  }
  const statements: Token[][] = [[]];
  for (const tok of tk.tokens) {
    if (tok.kind === 'punct' && tok.value === ';') statements.push([]);
    else (statements[statements.length - 1] as Token[]).push(tok);
  }
  const nonEmpty = statements.filter((s) => s.length > 0);
  try {
    const results = nonEmpty.map((s) => {
      const parsed = new StatementParser(s).parse();
      if (parsed.kind === 'other' && parsed.accounts.length === 0 && mentionsAccountManagement(s)) {
        throw new NotUnderstood('account management inside another statement');
      }
      return parsed;
    });
    if (results.length === 0) {
      return {
        parsed: { kind: 'other', accounts: [], ifExists: false, ifNotExists: false },
        multiStatement,
        backslashInString: tk.backslashInString,
      };
    }
    if (results.length > 1 && results.some((r) => r.kind !== 'other' || r.accounts.length > 0)) {
      return { multiStatement: true, failure: 'account management in a multi-statement text', backslashInString: tk.backslashInString };
    }
    return { parsed: results[0] as Parsed, multiStatement, backslashInString: tk.backslashInString };
  } catch (err) {
    if (err instanceof NotUnderstood) return { multiStatement, failure: err.message, backslashInString: tk.backslashInString };
    throw err;
  }
}

function unknown(multiStatement: boolean, reason: string): AccountStatement {
  return { kind: 'unknown', accounts: [], ifNotExists: false, ifExists: false, multiStatement, reason };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Classifies one COM_QUERY text. Byte input must be UTF-8 (else unknown).
 *
 * @example
 *   const s = recognizeAccountStatement("CREATE USER 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'");
 *   // s.kind === 'create-iam-user'; s.rewrite!(() => nativePasswordHash(random))
 */
export function recognizeAccountStatement(text: string | Uint8Array): AccountStatement {
  let sql: string;
  if (typeof text === 'string') sql = text;
  else {
    try {
      sql = utf8.decode(text);
    } catch {
      return unknown(false, 'text is not UTF-8');
    }
  }
  const first = analyse(sql, true);
  let chosen: Analysis = first;
  if (first.backslashInString) {
    // The server's reading depends on NO_BACKSLASH_ESCAPES; both must agree.
    const second = analyse(sql, false);
    // A reading that the server would reject outright cannot run anything: the other decides.
    // Not for statements we rewrite: the rewritten text must mean the same in both modes.
    if (second.rejectedWhole === true && first.failure === undefined && first.parsed?.spans === undefined) {
      chosen = first;
    } else if (first.rejectedWhole === true && second.failure === undefined && second.parsed?.spans === undefined) {
      chosen = second;
    } else if (
      first.failure !== undefined ||
      second.failure !== undefined ||
      first.multiStatement !== second.multiStatement ||
      JSON.stringify(first.parsed) !== JSON.stringify(second.parsed)
    ) {
      return unknown(
        first.multiStatement || second.multiStatement,
        first.failure ?? second.failure ?? 'backslash escapes change the meaning',
      );
    }
  }
  if (chosen.failure !== undefined || chosen.parsed === undefined) {
    return unknown(chosen.multiStatement, chosen.failure ?? 'not understood');
  }
  const p = chosen.parsed;
  const result: AccountStatement = {
    kind: p.kind,
    accounts: p.accounts,
    ...(p.renames !== undefined ? { renames: p.renames } : {}),
    ifNotExists: p.ifNotExists,
    ifExists: p.ifExists,
    multiStatement: chosen.multiStatement,
  };
  const spans = p.spans;
  if (spans === undefined) return result;
  return { ...result, rewrite: (hashes: PasswordHashes) => rewriteSpans(sql, p.accounts, spans, hashes) };
}

function rewriteSpans(
  sql: string,
  accounts: readonly Account[],
  spans: readonly { start: number; end: number }[],
  hashes: PasswordHashes,
): string {
  let out = '';
  let at = 0;
  spans.forEach((span, index) => {
    const account = accounts[index] as Account;
    const hash = typeof hashes === 'function' ? hashes(account) : hashes.get(accountKey(account));
    if (hash === undefined || !NATIVE_PASSWORD_HASH_PATTERN.test(hash)) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', {
        what: 'account statement rewrite',
        reason: `no valid native password hash for account #${index + 1}`,
      });
    }
    out += `${sql.slice(at, span.start)}IDENTIFIED BY PASSWORD '${hash}'`;
    at = span.end;
  });
  return out + sql.slice(at);
}
