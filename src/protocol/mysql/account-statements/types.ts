/**
 * The recognizer's verdicts. See ../account-statements.ts for the rules.
 */
import type { AccountDialect } from './credential-clause.js';

/** A MySQL account: user and host ('%' when the statement names no host; hosts are lower-cased as the server stores them). */
export interface Account {
  readonly user: string;
  readonly host: string;
}

/** An account the statement names. */
export interface NamedAccount extends Account {
  readonly self: false;
}

/**
 * The session's own account, which only the session can resolve (the
 * account the server matched at login, as CURRENT_USER() reports it).
 * `spelling` says how the statement wrote it: `omitted` is SET PASSWORD
 * without FOR.
 */
export interface SessionAccount {
  readonly self: true;
  readonly spelling: 'CURRENT_USER' | 'CURRENT_USER()' | 'USER()' | 'omitted';
}

/** An account reference in a statement. */
export type AccountRef = NamedAccount | SessionAccount;

/** Byte offsets [start, end) into the statement text (as UTF-8 when the text was a string). */
export interface ByteSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * How an account's authentication changes:
 * - `password`: a password or password hash (IDENTIFIED BY ['x' | PASSWORD 'h'], SET PASSWORD);
 * - `random-password`: MySQL 8's BY RANDOM PASSWORD / TO RANDOM;
 * - `plugin`: another authentication plugin (IDENTIFIED WITH/VIA p ..., MariaDB's OR chains);
 * - `no-password`: CREATE [OR REPLACE] USER without IDENTIFIED;
 * - `multi-factor`: MySQL 8's AND IDENTIFIED, INITIAL AUTHENTICATION, ADD/MODIFY/DROP n FACTOR, n FACTOR registration;
 * - `discard-old-password`: MySQL 8's DISCARD OLD PASSWORD.
 */
export type AuthChange = 'password' | 'random-password' | 'plugin' | 'no-password' | 'multi-factor' | 'discard-old-password';

/** What a statement does to one account. */
export type AccountEffect =
  | {
      /** CREATE/ALTER USER ... IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS': rewrite `clause` before sending. */
      readonly action: 'becomes-iam';
      readonly account: NamedAccount;
      readonly clause: ByteSpan;
    }
  | {
      readonly action: 'changes-auth';
      readonly account: AccountRef;
      readonly change: AuthChange;
      /** The plugin named by IDENTIFIED WITH/VIA (lower case; the first of an OR chain). */
      readonly plugin?: string;
      /** MySQL 8's RETAIN CURRENT PASSWORD: the old password keeps working as a secondary one. */
      readonly retainsCurrentPassword: boolean;
    }
  | { readonly action: 'dropped'; readonly account: AccountRef }
  | { readonly action: 'renamed'; readonly from: AccountRef; readonly to: NamedAccount }
  | {
      /** Named, but its authentication is unchanged (ALTER USER ... REQUIRE SSL, GRANT without IDENTIFIED, ...). */
      readonly action: 'untouched';
      readonly account: AccountRef;
    };

/** What a REQUIRE clause asks of an account's connections (see {@link AccountVerdict.tlsRequirement}). */
export type TlsRequirement = 'ssl' | 'client-certificate';

/** The account statements the recognizer reads. */
export type AccountStatementName = 'CREATE USER' | 'ALTER USER' | 'DROP USER' | 'RENAME USER' | 'SET PASSWORD' | 'GRANT';

/** Hashes for {@link AccountVerdict.rewrite}: a function, or a map keyed by accountKey. */
export type PasswordHashes = ((account: Account) => string | undefined) | ReadonlyMap<string, string>;

/** One account statement, alone in its text. */
export interface AccountVerdict {
  readonly kind: 'account';
  readonly statement: AccountStatementName;
  /** One per account reference, in statement order (at most MAX_ACCOUNTS_PER_STATEMENT). */
  readonly effects: readonly AccountEffect[];
  /** ALTER USER / DROP USER IF EXISTS: the server skips missing accounts with a warning. */
  readonly ifExists: boolean;
  /** CREATE USER IF NOT EXISTS: the server skips existing accounts with a warning (they keep their authentication). */
  readonly ifNotExists: boolean;
  /** CREATE OR REPLACE USER: existing accounts are dropped and created again. */
  readonly orReplace: boolean;
  /**
   * What a REQUIRE clause asks of the named accounts' connections, when the
   * statement has one that asks something: `ssl` (REQUIRE SSL, CIPHER),
   * `client-certificate` (X509, ISSUER, SUBJECT: the client must present a
   * certificate). Absent without REQUIRE or with REQUIRE NONE.
   */
  readonly tlsRequirement?: TlsRequirement;
  /**
   * Present exactly when the effects are all 'becomes-iam': the statement's
   * bytes with each clause replaced by the credential's hash in the
   * dialect's syntax (credential-clause.ts): MariaDB (the default)
   * `IDENTIFIED BY PASSWORD '*…'`; MySQL `IDENTIFIED WITH
   * caching_sha2_password AS '$A$005$…'` or `IDENTIFIED WITH
   * mysql_native_password AS '*…'`. Hashes must match their pattern (else
   * IamdbError PROTO_MYSQL_INVALID_ARGUMENT), so quoting is always safe.
   */
  readonly rewrite?: (hashes: PasswordHashes, dialect?: AccountDialect) => Buffer;
}

/** KILL [HARD|SOFT] [CONNECTION|QUERY] <decimal number>, alone in its text. */
export interface KillVerdict {
  readonly kind: 'kill';
  /** The number as written (at most Number.MAX_SAFE_INTEGER). */
  readonly connectionId: number;
  /** KILL QUERY (the connection stays); otherwise the connection is killed. */
  readonly query: boolean;
}

/**
 * One change of the client character set (character_set_client, the set the
 * server parses later statements in).
 */
export interface CharsetChange {
  /** How the statement wrote it: SET NAMES, SET CHARACTER SET (or CHARSET, CHAR SET), or an assignment to character_set_client. */
  readonly form: 'SET NAMES' | 'SET CHARACTER SET' | 'character_set_client';
  /**
   * The character set as written, in lower case (quotes removed), or
   * undefined when the value is not a plain name: DEFAULT, a number (a
   * collation id), a user variable, an expression.
   */
  readonly charset: string | undefined;
  /** GLOBAL, PERSIST and PERSIST_ONLY set the default of new sessions; the others this session's. */
  readonly scope: 'session' | 'global';
}

/** What a text does to the client character set. */
export interface ClientCharsetReport {
  /**
   * In text order (a SET list may hold several; the last of each scope wins
   * on the server). For a text with executable comments: the changes of each
   * of its readings, without repeats, so some server makes each one but
   * which one a given server ends with is not told.
   */
  readonly changes: readonly CharsetChange[];
  /**
   * True when every change names a known ASCII-transparent character set
   * (isAsciiTransparentCharset): the recognizer keeps reading the session's
   * text correctly. False means refuse the text.
   */
  readonly asciiTransparent: boolean;
}

/**
 * Not account management, not KILL. The two optional reports are present
 * only when they apply (a plain statement is exactly `{ kind: 'other' }`).
 */
export interface OtherVerdict {
  readonly kind: 'other';
  /**
   * The text runs SQL whose text the gateway cannot read: PREPARE ... FROM
   * or EXECUTE IMMEDIATE of anything but a string literal (a variable,
   * CONCAT(...)), or CALL of execute_prepared_stmt (the sys schema's
   * procedure that runs its argument), at the top level, after SET
   * STATEMENT ... FOR, in a compound statement or in a stored program's body
   * (where it runs when the program does). Such SQL may manage accounts or
   * change the character set or sql_mode unseen.
   */
  readonly unreadDynamicSql?: true;
  /** The text changes the client character set. */
  readonly clientCharset?: ClientCharsetReport;
}

/** May be account management (or KILL) but cannot be fully read: refuse it. */
export interface UnknownVerdict {
  readonly kind: 'unknown';
  /** Why, for the client and the audit log; never contains any of the statement's text. */
  readonly reason: string;
}

/** The recognizer's verdict on one COM_QUERY text. */
export type StatementVerdict = AccountVerdict | KillVerdict | OtherVerdict | UnknownVerdict;
