import { describe, expect, it } from 'vitest';
import { accountKey, recognizeAccountStatement as recognize, type AccountStatement } from './account-statements.js';
import { nativePasswordHash } from './auth/native-password.js';
import { iamdbErrorOf } from './test-support/hex.js';

const H = nativePasswordHash('password'); // *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19
const acct = (user: string, host = '%') => ({ user, host });

type Row = [sql: string, kind: AccountStatement['kind'], accounts?: { user: string; host: string }[], extra?: Partial<AccountStatement>];

const table: Row[] = [
  // IAM users, every account form
  ["CREATE USER 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'create-iam-user', [acct('app')]],
  ['CREATE USER app IDENTIFIED WITH AWSAuthenticationPlugin AS "RDS"', 'create-iam-user', [acct('app')]],
  ["create user `a``b`@`h` identified with 'awsauthenticationplugin' as 'RDS'", 'create-iam-user', [acct('a`b', 'h')]],
  ['CREATE USER "q"@"10.0.0.%" IDENTIFIED WITH `AWSAuthenticationPlugin` AS \'RDS\'', 'create-iam-user', [acct('q', '10.0.0.%')]],
  ["CREATE USER bob@localhost IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'create-iam-user', [acct('bob', 'localhost')]],
  ["CREATE USER bob@db.example.com IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'create-iam-user', [acct('bob', 'db.example.com')]],
  ["CREATE USER 'it''s' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'create-iam-user', [acct("it's")]],
  ["CREATE USER IF NOT EXISTS app IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'create-iam-user', [acct('app')], { ifNotExists: true }],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS', b@h IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL", 'create-iam-user', [acct('a'), acct('b', 'h')]],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL WITH MAX_USER_CONNECTIONS 5 PASSWORD EXPIRE NEVER ACCOUNT UNLOCK", 'create-iam-user', [acct('a')]],
  ["  /* lead */ CREATE -- c\n USER a # x\n IDENTIFIED /* y */ WITH AWSAuthenticationPlugin AS 'RDS' ;  ", 'create-iam-user', [acct('a')]],
  ["ALTER USER app IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'alter-iam-user', [acct('app')]],
  ["ALTER USER IF EXISTS 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL", 'alter-iam-user', [acct('app')], { ifExists: true }],
  ["CREATE USER 'it\\'s' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'], // meaning depends on NO_BACKSLASH_ESCAPES
  ["CREATE USER 'ü' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'create-iam-user', [acct('ü')]],
  // other account statements
  ["DROP USER a, 'b'@'c'", 'drop-user', [acct('a'), acct('b', 'c')]],
  ['DROP USER IF EXISTS `x`', 'drop-user', [acct('x')], { ifExists: true }],
  ["RENAME USER a TO b, 'c'@'d' TO e@f", 'rename-user', [acct('a'), acct('c', 'd')], { renames: [{ from: acct('a'), to: acct('b') }, { from: acct('c', 'd'), to: acct('e', 'f') }] }],
  ["SET PASSWORD FOR 'a'@'h' = PASSWORD('x')", 'set-password-user', [acct('a', 'h')]],
  ["CREATE USER a IDENTIFIED BY 'x'", 'set-password-user', [acct('a')]],
  ["CREATE USER a IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'", 'set-password-user', [acct('a')]],
  ["ALTER USER a IDENTIFIED BY 'x'", 'set-password-user', [acct('a')]],
  ["ALTER USER a IDENTIFIED WITH mysql_native_password AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'", 'set-password-user', [acct('a')]],
  ['ALTER USER a IDENTIFIED VIA unix_socket', 'set-password-user', [acct('a')]],
  ['CREATE USER a', 'set-password-user', [acct('a')]],
  ['ALTER USER a REQUIRE SSL', 'other', [acct('a')]],
  // not account management
  ['SELECT 1', 'other', []],
  ["SELECT 'CREATE USER x' FROM t", 'other', []],
  ["SELECT 'it\\'s'", 'other', []],
  ['CREATE TABLE t (id int)', 'other', []],
  ['SELECT 1; SELECT 2', 'other', [], { multiStatement: true }],
  ['SELECT 1; -- trailing comment', 'other', [], { multiStatement: true }],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' COMMENT 'team: x'", 'create-iam-user', [acct('a')]],
  ['', 'other', []],
  // refused: never guess
  ["CREATE USER a /*!50000 IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' */", 'unknown'],
  ["CREATE USER a /*M!100000 IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' */", 'unknown'],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'; DROP USER b", 'unknown', [], { multiStatement: true }],
  ["SELECT 1; CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown', [], { multiStatement: true }],
  ['BEGIN NOT ATOMIC CREATE USER x; END', 'unknown', [], { multiStatement: true }],
  ["SET STATEMENT max_statement_time=1 FOR CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  ["PREPARE s FROM 'CREATE USER a'", 'unknown'],
  ["CREATE OR REPLACE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  ['CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin', 'unknown'],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'rds'", 'unknown'],
  ["CREATE USER a IDENTIFIED VIA AWSAuthenticationPlugin USING 'RDS'", 'unknown'],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS', b IDENTIFIED BY 'x'", 'unknown'],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' IDENTIFIED BY 'x'", 'unknown'],
  ["CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' DEFAULT ROLE r1, r2", 'unknown'],
  ["CREATE USER CURRENT_USER() IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  ["CREATE USER 'a' @ 'h' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  ["CREATE USER a@% IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  ["CREATE USER 'a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  ["CREATE USER a /* IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  ["CREATE USER a /* /* */ IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' */", 'unknown'],
  ['SET PASSWORD = PASSWORD(\'x\')', 'unknown'],
  ["GRANT ALL ON *.* TO a IDENTIFIED BY 'x'", 'unknown'],
  ["DROP USER a b", 'unknown'],
  ["CREATE USER _utf8'a' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", 'unknown'],
  // a backslash that hides a statement from one sql_mode but not the other
  ["SELECT 'a\\'; CREATE USER x IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'; SELECT '", 'unknown', [], { multiStatement: true }],
  ["DROP USER 'it\\'s'", 'drop-user', [acct("it's")]], // the other reading is a syntax error: nothing runs
];

describe('recognizeAccountStatement', () => {
  it.each(table)('%s -> %s', (sql, kind, accounts, extra) => {
    const s = recognize(sql);
    expect(s.kind).toBe(kind);
    if (accounts !== undefined) expect(s.accounts).toEqual(accounts);
    expect(s.ifNotExists).toBe(extra?.ifNotExists ?? false);
    expect(s.ifExists).toBe(extra?.ifExists ?? false);
    expect(s.multiStatement).toBe(extra?.multiStatement ?? false);
    if (extra?.renames !== undefined) expect(s.renames).toEqual(extra.renames);
    expect(s.rewrite !== undefined).toBe(kind === 'create-iam-user' || kind === 'alter-iam-user');
    if (kind === 'unknown') expect(s.reason).toBeTruthy();
  });

  it('accepts UTF-8 bytes and refuses other bytes', () => {
    const sql = "CREATE USER 'ü' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'";
    expect(recognize(Buffer.from(sql)).kind).toBe('create-iam-user');
    expect(recognize(Buffer.from(sql, 'latin1')).kind).toBe('unknown');
  });
});

describe('rewrite', () => {
  it('replaces exactly the IAM clause and keeps every other byte', () => {
    const sql = "CREATE USER IF NOT EXISTS 'app'@'%' /* keep */ IDENTIFIED   WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL -- end";
    expect(recognize(sql).rewrite?.(() => H)).toBe(
      `CREATE USER IF NOT EXISTS 'app'@'%' /* keep */ IDENTIFIED BY PASSWORD '${H}' REQUIRE SSL -- end`,
    );
  });

  it('uses each account its own hash (function or map)', () => {
    const sql = "ALTER USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS', `b`@`h` IDENTIFIED WITH 'AWSAuthenticationPlugin' AS \"RDS\"";
    const ha = nativePasswordHash('a');
    const hb = nativePasswordHash('b');
    const expected = `ALTER USER a IDENTIFIED BY PASSWORD '${ha}', \`b\`@\`h\` IDENTIFIED BY PASSWORD '${hb}'`;
    const s = recognize(sql);
    expect(s.rewrite?.((x) => (x.user === 'a' ? ha : hb))).toBe(expected);
    expect(s.rewrite?.(new Map([[accountKey(acct('a')), ha], [accountKey(acct('b', 'h')), hb]]))).toBe(expected);
  });

  it('refuses a missing or malformed hash (so quoting is always safe)', () => {
    const s = recognize("CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'");
    expect(iamdbErrorOf(() => s.rewrite?.(() => "x' OR '1")).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => s.rewrite?.(new Map())).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => s.rewrite?.(() => H.toLowerCase())).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });

  it('keeps multi-byte text around the clause intact', () => {
    const sql = "CREATE USER 'ü€' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' COMMENT 'ñ'";
    expect(recognize(Buffer.from(sql)).rewrite?.(() => H)).toBe(`CREATE USER 'ü€' IDENTIFIED BY PASSWORD '${H}' COMMENT 'ñ'`);
  });
});
