/**
 * Recognises, in COM_QUERY text, the statements the gateway must understand
 * to emulate RDS's IAM accounts: account management (what each statement
 * does to each account), KILL (whose connection id the gateway maps),
 * dynamic SQL (read when its text is a literal, reported when it is not),
 * and changes of the client character set. `CREATE USER u IDENTIFIED WITH
 * AWSAuthenticationPlugin AS 'RDS'` comes with a rewrite to the managed
 * credential's hash in the server's syntax (MariaDB's `IDENTIFIED BY
 * PASSWORD '<hash>'`, MySQL's `IDENTIFIED WITH <plugin> AS '<hash>'`),
 * every other byte kept.
 *
 * Two steps, both pure:
 * 1. {@link needsClassification}: a pass over the bytes that allocates
 *    nothing per token, linear in the length. `false` means exactly
 *    `{ kind: 'other' }`. Ordinary statements (a 64 MiB INSERT, `UPDATE users
 *    SET password = ?`) stop here.
 * 2. {@link classifyStatement}: runs step 1 again, then, only for texts of at
 *    most {@link MAX_VERIFIED_BYTES}, reads the statement fully. Longer texts
 *    that may be account management are 'unknown' ("too long to verify").
 *
 * Strict by design: whatever is not fully understood is 'unknown' (with a
 * reason that never quotes the text), never 'other'. In particular:
 * - Executable comments (`/*! ... *\/`, `/*!NNNNN ... *\/`, `/*M! ... *\/`,
 *   `/*M!NNNNNN ... *\/`) are read the way each server may read them: run
 *   (their content is code, up to the first `*\/` outside quoted text and
 *   comments) or skipped (a comment up to the first `*\/`), in every
 *   combination some engine and version makes, at most eight
 *   (account-statements/executable-comments.ts). When every reading is
 *   'other' the verdict is 'other' with the union of their reports; when
 *   any is 'unknown', account management or KILL, it is 'unknown'.
 *   Executable comments inside a run one, comment openers inside comments,
 *   and run ones that never end make a text that may be account management
 *   'unknown'. (For the pre-check a comment opener inside a comment only
 *   widens the look: any of USER, PASSWORD, IDENTIFIED, GRANT, KILL,
 *   PREPARE, EXECUTE, BINLOG, character_set_client, execute_prepared_stmt
 *   anywhere, or NAMES, CHARACTER, CHARSET, CHAR after SET or ',', sends the
 *   text to step 2.)
 * - The sql_mode: the caller says what the server does with backslashes
 *   (NO_BACKSLASH_ESCAPES, reported as SERVER_STATUS_NO_BACKSLASH_ESCAPES).
 *   That holds for the text's first statement only. ANSI_QUOTES (`"..."` is
 *   an identifier, without escapes) and MariaDB's MSSQL mode (`[...]` is an
 *   identifier too), which the gateway cannot see, are always readings too.
 *   Everything after the first ';' is read in every mode, since an earlier
 *   statement of the text may have changed sql_mode. A later statement that
 *   may change it again (it names sql_mode, or runs a prepared statement)
 *   must not be followed by text another mode reads differently (a
 *   backslash in quotes, a '['). Unless all readings agree the verdict is
 *   'unknown'. A reading that the server would refuse outright (an
 *   unterminated quote before any ';') runs nothing and is left out, except
 *   for statements we rewrite. Nothing else the recognizer knows of changes
 *   how the server lexes a text: stored procedures and compound statements
 *   put sql_mode back when they end.
 * - Account management anywhere but at the start of a statement (compound
 *   statements, stored program bodies, SET STATEMENT ... FOR, PREPARE or
 *   EXECUTE IMMEDIATE of a literal, SET lists with PASSWORD items) is
 *   'unknown', as are account statements and KILL in multi-statement texts.
 *   REVOKE never changes authentication: it is 'other', whatever it names.
 * - At most {@link MAX_ACCOUNTS_PER_STATEMENT} account references per
 *   statement.
 * - The lexical structure is ASCII, so bytes that are not UTF-8 never make
 *   an ordinary statement unreadable; account statements must be UTF-8.
 *   Character sets whose multi-byte characters contain ASCII bytes (big5,
 *   cp932, gbk, sjis, gb18030) are not ASCII-transparent: the session must
 *   refuse them as the client character set, at login
 *   ({@link isAsciiTransparentCollationId}) and when a statement sets one.
 *
 * Reports on 'other' verdicts (absent when they do not apply):
 * - `unreadDynamicSql`: the text runs SQL the gateway cannot see (PREPARE
 *   ... FROM or EXECUTE IMMEDIATE of a variable or an expression, CALL of
 *   the sys schema's execute_prepared_stmt), at the top level, after SET
 *   STATEMENT ... FOR, in a compound statement or in a stored program's body.
 * - `clientCharset`: the text changes character_set_client (SET NAMES, SET
 *   CHARACTER SET / CHARSET / CHAR SET, assignments to character_set_client in
 *   any spelling and scope), each change with the character set it names
 *   (undefined for DEFAULT, numbers, variables and expressions), and whether
 *   all are ASCII-transparent. With executable comments, the changes of
 *   every reading (some server makes each; which, the gateway cannot tell). In SET STATEMENT ... FOR, compound
 *   statements, stored programs and dynamic SQL a change is 'unknown'; in a
 *   multi-statement text it is 'unknown' unless it is ASCII-transparent or
 *   the text's last statement (the server parses what follows in it).
 *
 * What the gateway still cannot see: CALL of other stored procedures
 * (which may run their arguments as SQL), events and triggers run by the
 * server, `EXECUTE s` of a statement prepared earlier (reported when it was
 * prepared). Keeping the IAM records true despite them is the session's job
 * (it records changes only from statements it saw accepted, and decides who
 * may run what); this module makes no claim about them.
 *
 * @see https://mariadb.com/kb/en/account-management-sql-commands/
 * @see https://mariadb.com/kb/en/comment-syntax/
 * @see https://mariadb.com/kb/en/sql_modemssql/
 * @see https://dev.mysql.com/doc/refman/8.0/en/account-management-statements.html
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html
 */
export { MAX_ACCOUNTS_PER_STATEMENT } from './account-statements/accounts.js';
export {
  charsetOfCollationId,
  isAsciiTransparentCharset,
  isAsciiTransparentCollationId,
  NOT_ASCII_TRANSPARENT_COLLATION_IDS,
} from './account-statements/charsets.js';
export { accountKey, accountMatchKey, classifyStatement, MAX_VERIFIED_BYTES } from './account-statements/classify.js';
export { needsClassification, type ClassifyCounters, type ClassifyOptions } from './account-statements/precheck.js';
export { credentialClause, type AccountDialect } from './account-statements/credential-clause.js';
export { backslashModeFromStatus, type BackslashMode, type StatementText } from './account-statements/readings.js';
export type {
  Account,
  AccountEffect,
  AccountRef,
  AccountStatementName,
  AccountVerdict,
  AuthChange,
  ByteSpan,
  CharsetChange,
  ClientCharsetReport,
  KillVerdict,
  NamedAccount,
  OtherVerdict,
  PasswordHashes,
  SessionAccount,
  StatementVerdict,
  TlsRequirement,
  UnknownVerdict,
} from './account-statements/types.js';
