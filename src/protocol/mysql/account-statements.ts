/**
 * Recognises, in COM_QUERY text, the statements the gateway must understand
 * to emulate RDS's IAM accounts: account management (what each statement
 * does to each account), KILL (whose connection id the gateway maps), and
 * dynamic SQL whose text it can see. `CREATE USER u IDENTIFIED WITH
 * AWSAuthenticationPlugin AS 'RDS'` comes with a rewrite to MariaDB's
 * `IDENTIFIED BY PASSWORD '<hash>'`, every other byte kept.
 *
 * Two steps, both pure:
 * 1. {@link needsClassification}: a pass over the bytes that allocates
 *    nothing per token, linear in the length. `false` means 'other' for sure.
 *    Ordinary statements (a 64 MiB INSERT, `UPDATE users SET password = ?`)
 *    stop here.
 * 2. {@link classifyStatement}: runs step 1 again, then, only for texts of at
 *    most {@link MAX_VERIFIED_BYTES}, reads the statement fully. Longer texts
 *    that may be account management are 'unknown' ("too long to verify").
 *
 * Strict by design: whatever is not fully understood is 'unknown' (with a
 * reason that never quotes the text), never 'other'. In particular:
 * - Executable comments (`/*! ... *\/`, `/*M! ... *\/`) and comment openers
 *   inside comments make a text that may be account management 'unknown'.
 *   (For the pre-check they only widen the look: any of USER, PASSWORD,
 *   IDENTIFIED, GRANT, KILL, PREPARE, EXECUTE, BINLOG anywhere sends the
 *   text to step 2.)
 * - Backslashes: the caller says what the server does (sql_mode
 *   NO_BACKSLASH_ESCAPES, reported as SERVER_STATUS_NO_BACKSLASH_ESCAPES);
 *   each possible reading is checked (ANSI_QUOTES, which the gateway cannot
 *   see, is always one of them: it makes `"..."` an identifier without
 *   escapes), and unless all agree the verdict is 'unknown'. A reading that
 *   the server would refuse outright (an unterminated quote before any ';')
 *   runs nothing and is left out, except for statements we rewrite.
 * - Account management anywhere but at the start of a statement (compound
 *   statements, stored program bodies, SET STATEMENT ... FOR, PREPARE or
 *   EXECUTE IMMEDIATE of a literal, SET lists with PASSWORD items) is
 *   'unknown', as are account statements and KILL in multi-statement texts.
 * - At most {@link MAX_ACCOUNTS_PER_STATEMENT} account references per
 *   statement.
 * - The lexical structure is ASCII, so bytes that are not UTF-8 never make
 *   an ordinary statement unreadable; account statements must be UTF-8.
 *   Character sets whose multi-byte characters contain ASCII bytes (big5,
 *   cp932, gbk, sjis, gb18030) are not ASCII-transparent: the session must
 *   not rely on this recognizer for connections using them.
 *
 * What the gateway cannot see: `PREPARE s FROM @var` (or any expression),
 * `EXECUTE IMMEDIATE @var`, CALL of a stored routine, events and triggers
 * run by the server. They are 'other' here: the statements they run reach
 * the server without passing this recognizer. Keeping the IAM records true
 * despite them is the session's job (it records changes only from
 * statements it saw accepted, and decides who may run what); this module
 * makes no claim about them.
 *
 * @see https://mariadb.com/kb/en/account-management-sql-commands/
 * @see https://mariadb.com/kb/en/comment-syntax/
 * @see https://dev.mysql.com/doc/refman/8.0/en/account-management-statements.html
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html
 */
export { MAX_ACCOUNTS_PER_STATEMENT } from './account-statements/accounts.js';
export { accountKey, accountMatchKey, classifyStatement, MAX_VERIFIED_BYTES } from './account-statements/classify.js';
export { needsClassification, type ClassifyCounters, type ClassifyOptions } from './account-statements/precheck.js';
export { backslashModeFromStatus, type BackslashMode, type StatementText } from './account-statements/readings.js';
export type {
  Account,
  AccountEffect,
  AccountRef,
  AccountStatementName,
  AccountVerdict,
  AuthChange,
  ByteSpan,
  KillVerdict,
  NamedAccount,
  OtherVerdict,
  PasswordHashes,
  SessionAccount,
  StatementVerdict,
  UnknownVerdict,
} from './account-statements/types.js';
