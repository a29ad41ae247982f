import { describe, expect, it } from 'vitest';
import {
  accountKey,
  accountMatchKey,
  backslashModeFromStatus,
  classifyStatement,
  isAsciiTransparentCollationId,
  MAX_ACCOUNTS_PER_STATEMENT,
  MAX_VERIFIED_BYTES,
  needsClassification,
  type BackslashMode,
  type ClassifyCounters,
  type StatementText,
} from './account-statements.js';
import { MAX_PRECHECK_PASSES } from './account-statements/precheck.js';
import { nativePasswordHash } from './auth/native-password.js';
import { ServerStatus } from './constants.js';
import { charsetCases, describeVerdict, statementCases } from './test-support/account-statement-cases.js';
import { iamdbErrorOf } from './test-support/hex.js';

const H = nativePasswordHash('password'); // *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19
const AWS = "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'";
const MODES: BackslashMode[] = ['escapes', 'no-escapes', 'unknown'];

const describeText = (text: StatementText, backslashes: BackslashMode = 'unknown'): string =>
  describeVerdict(classifyStatement(text, { backslashes }));

const counters = (): ClassifyCounters => ({ passes: 0, bytesScanned: 0, fullReadings: 0, tokens: 0 });

/** A table row's checks: the verdict, the pre-check's promise, the rewrite, and bytes and chunks reading alike. */
function checkRow(sql: string, expected: string): void {
  const v = classifyStatement(sql);
  expect(describeVerdict(v)).toBe(expected);
  // 'other' is promised by the pre-check, and only texts it lets through get anything else.
  if (!needsClassification(sql)) expect(v).toEqual({ kind: 'other' });
  if (v.kind !== 'other' || v.unreadDynamicSql === true || v.clientCharset !== undefined) expect(needsClassification(sql)).toBe(true);
  const allIam = v.kind === 'account' && v.effects.length > 0 && v.effects.every((e) => e.action === 'becomes-iam');
  expect(v.kind === 'account' && v.rewrite !== undefined).toBe(allIam);
  // Bytes and chunks read the same as the string.
  const bytes = Buffer.from(sql);
  expect(describeText(bytes)).toBe(expected);
  expect(describeText([bytes.subarray(0, 7), bytes.subarray(7)])).toBe(expected);
}

describe('the statement table', () => {
  it.each(statementCases)('%s -> %s (%s)', (sql, expected) => checkRow(sql, expected));
  it.each(charsetCases)('%s -> %s', (sql, expected) => checkRow(sql, expected));

  it('the table has both engines and every kind of verdict', () => {
    const kinds = new Set(statementCases.map(([, expected]) => expected.split(/[ :]/)[0]));
    for (const k of ['CREATE', 'ALTER', 'DROP', 'RENAME', 'SET', 'GRANT', 'kill', 'other', 'unknown']) expect(kinds).toContain(k);
    expect(statementCases.filter(([, , source]) => source === 'mariadb').length).toBeGreaterThan(30);
    expect(statementCases.filter(([, , source]) => source === 'mysql8-doc').length).toBeGreaterThan(10);
  });
});

describe('needsClassification', () => {
  it('lets ordinary statements through, whatever their words', () => {
    for (const sql of [
      "SELECT user, password FROM users WHERE user = 'a'",
      "UPDATE users SET password = 'x' WHERE user = 'a'",
      "UPDATE users u JOIN (SELECT 1) x ON (u.id = x.id) SET u.password = 'x'",
      "INSERT INTO users (user, password) VALUES ('a', 'b') ON DUPLICATE KEY UPDATE password = VALUES(password)",
      "INSERT INTO users SET user = 'a', password = 'b'",
      "REPLACE INTO users SET password = 'x'",
      "LOAD DATA INFILE 'f' INTO TABLE users (user) SET password = 'x'",
      "DELETE FROM users WHERE user = 'grant'",
      "WITH u AS (SELECT user FROM users) UPDATE users SET password = NULL",
      "CALL set_user_password('a', 'b')",
      'CREATE TABLE users (user varchar(80), password varchar(80))',
      'ALTER TABLE users ADD COLUMN password varchar(80), DROP user',
      'CREATE INDEX i ON users (user)',
      'DROP TABLE users',
      'RENAME TABLE user TO users',
      'CREATE VIEW v AS SELECT user, password FROM users',
      "SET @names = 'utf8mb4'; SET @user = 'a'; SELECT @user, @@character_set_client",
      "SET @a = CONVERT('x', CHAR), @b = CAST('x' AS CHAR CHARACTER SET utf8mb4)",
      'SHOW GRANTS FOR CURRENT_USER',
      'REVOKE ALL PRIVILEGES, GRANT OPTION FROM u',
      'IF 1 THEN REVOKE r1 FROM u; END IF',
      'CALL p(@q)',
      "INSERT INTO t VALUES ('a\\'b'); INSERT INTO t VALUES (\"c\\\"d\")",
      "SELECT 1; SET sql_mode = ''; SELECT 'ab'",
      "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'",
      "/*!40101 SET @u = 'user' */",
      '/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */',
      "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 'x'; END */",
      '(SELECT password FROM users) UNION (SELECT user FROM users)',
      'CREATE PROCEDURE p() BEGIN UPDATE users SET password = NULL; END',
      'DEALLOCATE PREPARE s',
      'EXECUTE s USING @user, @password',
    ]) {
      expect(needsClassification(sql), sql).toBe(false);
    }
  });

  it('holds whatever may be account management, KILL or dynamic SQL', () => {
    for (const sql of [
      'DROP USER a',
      "SET PASSWORD = 'x'",
      "SET @a = 1, PASSWORD = 'x'",
      'GRANT SELECT ON *.* TO a',
      'KILL 1',
      'PREPARE s FROM @q',
      "EXECUTE IMMEDIATE 'SELECT 1'",
      "BINLOG 'x'",
      "IF 1 THEN ALTER USER a IDENTIFIED BY 'x'; END IF",
      "SELECT 1; CREATE USER a",
      "/*!40101 DROP USER a */",
      "/*M!100000 SET PASSWORD = PASSWORD('x') */",
      "/*!99999 '*/ DROP USER a -- ' */",
      'SET NAMES utf8mb4',
      "SET @a = 1, NAMES 'gbk'",
      'SET CHAR SET gbk',
      'SET @@session.character_set_client = 28',
      'SET `character_set_client` = gbk',
      'CALL sys.execute_prepared_stmt(@q)',
      'CALL `sys`.`execute_prepared_stmt`(@q)',
      'EXECUTE IMMEDIATE CONCAT(@a, @b)',
      '/*!40101 SET NAMES gbk */',
      "SELECT 1; SET sql_mode = ''; SELECT 'a\\'",
    ]) {
      expect(needsClassification(sql), sql).toBe(true);
    }
  });
});

describe('backslash modes', () => {
  const MULTI = 'unknown: account statement in a multi-statement text';
  const MODE_CHANGE = 'unknown: the sql_mode may change between statements';
  const rows: [sql: string, escapes: string, noEscapes: string, unknown: string][] = [
    // The escaped quote hides a DROP USER from one reading only.
    ["SELECT 'a\\'; DROP USER x; -- '", 'other', 'unknown: account statement in a multi-statement text', 'unknown: account statement in a multi-statement text'],
    // Without escapes the string never closes, so the server runs nothing.
    ["DROP USER 'it\\'s'", "DROP USER: drop it's@%", 'unknown: unterminated quoted text', "DROP USER: drop it's@%"],
    // A rewritten statement must mean the same in every mode the server may be in.
    [`CREATE USER 'it\\'s' ${AWS}`, "CREATE USER: iam it's@%", 'unknown: unterminated quoted text', 'unknown: backslash escapes change the meaning'],
    [`CREATE USER 'a\\\\b' ${AWS}`, 'CREATE USER: iam a\\b@%', 'CREATE USER: iam a\\\\b@%', 'unknown: backslash escapes change the meaning'],
    [`CREATE USER 'a\\b' ${AWS}`, 'CREATE USER: iam a\b@%', 'CREATE USER: iam a\\b@%', 'unknown: backslash escapes change the meaning'],
    // ANSI_QUOTES (which the gateway cannot see) makes "..." an identifier without escapes.
    ['SELECT "a\\"; DROP USER x; -- "', 'unknown: account statement in a multi-statement text', 'unknown: account statement in a multi-statement text', 'unknown: account statement in a multi-statement text'],
    ["SELECT 'a\\'; DROP USER x; -- '; SELECT 1", 'other', 'unknown: account statement in a multi-statement text', 'unknown: account statement in a multi-statement text'],
    ["PREPARE s FROM 'DROP US\\ER x'", 'unknown: account statement inside PREPARE', 'other', 'unknown: account statement inside PREPARE'],
    // The given mode holds for the first statement only: an earlier statement may change sql_mode for the rest.
    ["SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP USER carol -- '", MULTI, MULTI, MULTI],
    ["SELECT 1; SELECT 'a\\'; DROP USER x; -- '", MULTI, MULTI, MULTI],
    ['SET sql_mode = \'ANSI_QUOTES\'; SELECT 1 AS "a\\"; DROP USER v; -- "', MULTI, MULTI, MULTI],
    // MariaDB's MSSQL mode (invisible to the gateway, kept across texts): [...] quotes a name.
    ["SELECT 1 AS [x']; DROP USER carol; -- ']", MULTI, MULTI, MULTI],
    // A later statement may change the mode again: nothing after it may read differently in another mode.
    ["SELECT 1; SET sql_mode = CONCAT('NO_BACKSLASH_ESCAPES', LEFT('\\';', 0)); SELECT '\\'; DROP USER carol; -- '", MODE_CHANGE, MODE_CHANGE, MODE_CHANGE],
    // Without escapes a quote stays open: that reading runs nothing, the others decide.
    ["SET PASSWORD FOR 'a\\'b' = PASSWORD('x')", "SET PASSWORD: password a'b@%", 'unknown: unterminated quoted text', "SET PASSWORD: password a'b@%"],
  ];
  it.each(rows)('%s', (sql, escapes, noEscapes, unknown) => {
    expect(describeText(sql, 'escapes')).toBe(escapes);
    expect(describeText(sql, 'no-escapes')).toBe(noEscapes);
    expect(describeText(sql, 'unknown')).toBe(unknown);
    // The pre-check looks at every reading of its mode.
    for (const mode of MODES) {
      if (describeText(sql, mode) !== 'other') expect(needsClassification(sql, { backslashes: mode })).toBe(true);
    }
  });

  it('reads the mode from SERVER_STATUS_NO_BACKSLASH_ESCAPES', () => {
    expect(backslashModeFromStatus(ServerStatus.SERVER_STATUS_AUTOCOMMIT)).toBe('escapes');
    expect(backslashModeFromStatus(ServerStatus.SERVER_STATUS_AUTOCOMMIT | ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES)).toBe('no-escapes');
  });
});

describe('the attacks of issue 8', () => {
  it('a 70 KB comment before SET PASSWORD is not skipped', () => {
    for (const comment of [`/* ${'x'.repeat(70_000)} */`, `-- ${'x'.repeat(70_000)}\n`, `# ${'y'.repeat(70_000)}\n`]) {
      const sql = `${comment} SET PASSWORD FOR 'mallory'@'%' = PASSWORD('x')`;
      expect(needsClassification(sql)).toBe(true);
      expect(describeText(sql)).toBe(`unknown: too long to verify (more than ${MAX_VERIFIED_BYTES} bytes)`);
    }
    // The same comment before an ordinary statement changes nothing.
    expect(describeText(`/* ${'x'.repeat(70_000)} user password */ SELECT 1`)).toBe('other');
  });

  it('the full reading stops at MAX_VERIFIED_BYTES, not before', () => {
    const stmt = "SET PASSWORD FOR 'mallory'@'%' = PASSWORD('x')";
    const pad = (n: number) => `/*${' '.repeat(n - stmt.length - 4)}*/${stmt}`;
    expect(describeText(pad(MAX_VERIFIED_BYTES))).toBe('SET PASSWORD: password mallory@%');
    expect(describeText(pad(MAX_VERIFIED_BYTES + 1))).toMatch(/^unknown: too long to verify/);
  });

  it('a statement naming 10,000 accounts stores nothing', () => {
    const list = (n: number, name: (i: number) => string) => Array.from({ length: n }, (_, i) => name(i)).join(', ');
    const many = `CREATE USER ${list(10_000, (i) => `u${i} ${AWS}`)}`;
    expect(classifyStatement(many).kind).toBe('unknown');
    const short = `DROP USER ${list(10_000, () => 'a')}`; // under 64 KiB
    expect(short.length).toBeLessThan(MAX_VERIFIED_BYTES);
    expect(describeText(short)).toBe(`unknown: at most ${MAX_ACCOUNTS_PER_STATEMENT} accounts per statement`);
    const atLimit = `CREATE USER ${list(MAX_ACCOUNTS_PER_STATEMENT, (i) => `u${i} ${AWS}`)}`;
    expect(classifyStatement(atLimit).kind).toBe('account');
    const overLimit = `CREATE USER ${list(MAX_ACCOUNTS_PER_STATEMENT + 1, (i) => `u${i} ${AWS}`)}`;
    expect(describeText(overLimit)).toBe(`unknown: at most ${MAX_ACCOUNTS_PER_STATEMENT} accounts per statement`);
    const renames = `RENAME USER ${list(MAX_ACCOUNTS_PER_STATEMENT + 1, (i) => `a${i} TO b${i}`)}`;
    expect(describeText(renames)).toBe(`unknown: at most ${MAX_ACCOUNTS_PER_STATEMENT} accounts per statement`);
  });

  it("an IAM user's own SET PASSWORD, without FOR or with CURRENT_USER, names the session's account", () => {
    expect(describeText("SET PASSWORD = PASSWORD('x')")).toBe('SET PASSWORD: password self:omitted');
    expect(describeText("set password for current_user ( ) = password('x')")).toBe('SET PASSWORD: password self:CURRENT_USER()');
    expect(describeText("ALTER USER CURRENT_USER IDENTIFIED VIA unix_socket")).toBe('ALTER USER: plugin(unix_socket) self:CURRENT_USER');
    expect(describeText("GRANT USAGE ON *.* TO CURRENT_USER() IDENTIFIED BY 'x'")).toBe('GRANT: password self:CURRENT_USER()');
  });

  it('GRANT ... IDENTIFIED BY changes the grantee, and the TO is found outside parentheses', () => {
    expect(describeText("GRANT SELECT (a, b), UPDATE (c) ON d1.t TO 'mallory'@'%' IDENTIFIED BY 'x'")).toBe('GRANT: password mallory@%');
    expect(describeText("GRANT r1, r2 TO a, b IDENTIFIED BY PASSWORD '" + H + "'")).toBe('GRANT: same a@%, password b@%');
  });

  it('dynamic SQL is read when its text is a literal, and reported as unread when the gateway cannot see it', () => {
    expect(describeText("PREPARE s FROM 'SET PASSWORD FOR ''mallory''@''%'' = PASSWORD(''x'')'")).toBe('unknown: account statement inside PREPARE');
    expect(describeText('EXECUTE IMMEDIATE "ALTER USER CURRENT_USER() IDENTIFIED BY \'x\'"')).toBe('unknown: account statement inside EXECUTE IMMEDIATE');
    expect(describeText("PREPARE s FROM N'SELECT 1'")).toBe('other');
    expect(classifyStatement('PREPARE s FROM @sql')).toEqual({ kind: 'other', unreadDynamicSql: true });
    expect(classifyStatement('EXECUTE IMMEDIATE CONCAT(@a, @b)')).toEqual({ kind: 'other', unreadDynamicSql: true });
  });

  it('account management hidden after expression words is found (SET lists that MariaDB runs)', () => {
    for (const sql of [
      "SET @a = CASE WHEN 1 THEN 0 ELSE REPLACE('a','b','c') END, PASSWORD = PASSWORD('x')",
      "SET @a = (SELECT 1 FROM dual FOR UPDATE), PASSWORD = PASSWORD('x')",
      "SET @a := INSERT('abc', 1, 1, 'x'), PASSWORD = PASSWORD('x')",
      "SET @a = IF(1, VALUES(a), 0), PASSWORD = PASSWORD('x')",
    ]) {
      expect(needsClassification(sql)).toBe(true);
      expect(classifyStatement(sql).kind).toBe('unknown');
    }
  });
});

describe('bytes', () => {
  it('binary data that holds "user" and invalid UTF-8 does not make an INSERT unreadable', () => {
    const sql = Buffer.concat([
      Buffer.from("INSERT INTO t (user, password) VALUES ('"),
      Buffer.from([0xff, 0xfe, 0x75, 0x73, 0x65, 0x72, 0x20, 0xc3, 0x28, 0x80]),
      Buffer.from(" DROP USER x; ALTER USER y IDENTIFIED BY 'z', _binary'"),
      Buffer.from([0x00, 0x9f, 0x27, 0x27]),
      Buffer.from("')"),
    ]);
    expect(needsClassification(sql)).toBe(false);
    expect(classifyStatement(sql)).toEqual({ kind: 'other' });
  });

  it('an account statement must be UTF-8', () => {
    const sql = `CREATE USER 'ü' ${AWS}`;
    expect(describeText(Buffer.from(sql))).toBe('CREATE USER: iam ü@%');
    expect(describeText(Buffer.from(sql, 'latin1'))).toBe('unknown: account statement is not valid UTF-8');
    expect(describeText(Buffer.concat([Buffer.from("DROP USER a -- "), Buffer.from([0xff])]))).toBe(
      'unknown: account statement is not valid UTF-8',
    );
  });

  it('reads the same at every cut into two chunks and in one-byte chunks', () => {
    const texts = [
      `/* c */ CREATE USER 'a''b'@"h" ${AWS} -- x`,
      "SELECT 'x\\'; DROP USER a; #'\nSELECT 1",
      "SET @a = 1, -- c\n PASSWORD = PASSWORD('x')",
      'KILL QUERY 123',
      "UPDATE users SET password = 'p' WHERE id = 1 /* user */",
      '/*!40101 SET NAMES gbk */',
      "/*M!100000 SELECT '*/ SET NAMES gbk -- ' */",
      '/*!1000001 SET NAMES sjis*/ /*!4000012x*/ /*!12 DROP USER x */',
    ];
    for (const text of texts) {
      const bytes = Buffer.from(text);
      for (const mode of MODES) {
        const whole = describeText(bytes, mode);
        const pre = needsClassification(bytes, { backslashes: mode });
        for (let i = 0; i <= bytes.length; i++) {
          const cut = [bytes.subarray(0, i), bytes.subarray(i)];
          expect(describeText(cut, mode)).toBe(whole);
          expect(needsClassification(cut, { backslashes: mode })).toBe(pre);
        }
        const ones = [...bytes].map((b) => Buffer.from([b]));
        expect(describeText(ones, mode)).toBe(whole);
        expect(needsClassification(ones, { backslashes: mode })).toBe(pre);
      }
    }
  });
});

describe('rewrite', () => {
  const rewritten = (sql: string, hashes: Parameters<NonNullable<Extract<ReturnType<typeof classifyStatement>, { kind: 'account' }>['rewrite']>>[0]) => {
    const v = classifyStatement(sql);
    if (v.kind !== 'account' || v.rewrite === undefined) throw new Error(`no rewrite for ${sql}`);
    return v.rewrite(hashes).toString('utf8');
  };

  it('replaces exactly the IAM clause and keeps every other byte', () => {
    const sql = "CREATE USER IF NOT EXISTS 'app'@'%' /* keep */ IDENTIFIED   WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL -- end";
    expect(rewritten(sql, () => H)).toBe(`CREATE USER IF NOT EXISTS 'app'@'%' /* keep */ IDENTIFIED BY PASSWORD '${H}' REQUIRE SSL -- end`);
  });

  it('uses each account its own hash (function or map)', () => {
    const sql = "ALTER USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS', `b`@`H` IDENTIFIED WITH 'AWSAuthenticationPlugin' AS \"RDS\"";
    const ha = nativePasswordHash('a');
    const hb = nativePasswordHash('b');
    const expected = `ALTER USER a IDENTIFIED BY PASSWORD '${ha}', \`b\`@\`H\` IDENTIFIED BY PASSWORD '${hb}'`;
    expect(rewritten(sql, (x) => (x.user === 'a' ? ha : hb))).toBe(expected);
    expect(rewritten(sql, new Map([[accountKey({ user: 'a', host: '%' }), ha], [accountKey({ user: 'b', host: 'h' }), hb]]))).toBe(expected);
  });

  it('refuses a missing or malformed hash (so quoting is always safe)', () => {
    const v = classifyStatement(`CREATE USER a ${AWS}`);
    if (v.kind !== 'account' || v.rewrite === undefined) throw new Error('expected a rewrite');
    const rewrite = v.rewrite;
    expect(iamdbErrorOf(() => rewrite(() => "x' OR '1")).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => rewrite(new Map())).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => rewrite(() => H.toLowerCase())).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });

  it('keeps multi-byte text and chunked input intact', () => {
    const sql = `CREATE USER 'ü€' ${AWS} COMMENT 'ñ'`;
    const bytes = Buffer.from(sql);
    const v = classifyStatement([bytes.subarray(0, 14), bytes.subarray(14)]);
    if (v.kind !== 'account' || v.rewrite === undefined) throw new Error('expected a rewrite');
    expect(v.rewrite(() => H).toString()).toBe(`CREATE USER 'ü€' IDENTIFIED BY PASSWORD '${H}' COMMENT 'ñ'`);
    expect(describeText(v.rewrite(() => H))).toBe('CREATE USER: password ü€@%');
  });
});

describe('bounded work', () => {
  // 16 MiB of short words, with user/password columns and text: millions of tokens if anything tokenized it.
  const bigInsert = (row: string): Buffer => {
    const head = Buffer.from('INSERT INTO users (user, password, note) VALUES ');
    const body = Buffer.alloc(16 * 1024 * 1024 - head.length, row);
    return Buffer.concat([head, body, Buffer.from("(1,'user','password')")]);
  };

  it('a 16 MiB INSERT is read once, without the full reading', () => {
    const sql = bigInsert("(1,'a user','set password = x'),");
    const c = counters();
    expect(classifyStatement(sql, { counters: c })).toEqual({ kind: 'other' });
    expect(c).toEqual({ passes: 1, bytesScanned: sql.length, fullReadings: 0, tokens: 0 });
  });

  it('backslashes in its strings cost at most one pass per reading', () => {
    const sql = bigInsert("(1,'it\\'s \\\\ user','x'),");
    for (const [mode, passes] of [['escapes', 1], ['no-escapes', 1], ['unknown', 2]] as const) {
      const c = counters();
      // In 64 KiB frames, as a long COM_QUERY arrives.
      const chunks = Array.from({ length: Math.ceil(sql.length / 65536) }, (_, i) => sql.subarray(i * 65536, (i + 1) * 65536));
      expect(classifyStatement(chunks, { backslashes: mode, counters: c })).toEqual({ kind: 'other' });
      expect(c).toEqual({ passes, bytesScanned: passes * sql.length, fullReadings: 0, tokens: 0 });
    }
  });

  it('the full reading makes at most one token per byte per reading', () => {
    const sql = `CREATE USER ${Array.from({ length: 32 }, (_, i) => `'u${i}'@'h${i}' ${AWS} `).join(',')} COMMENT '${'\\x'.repeat(20_000)}'`;
    const c = counters();
    expect(classifyStatement(sql, { counters: c }).kind).toBe('account');
    expect(c.fullReadings).toBe(1);
    expect(c.tokens).toBeLessThanOrEqual(3 * sql.length);
    expect(c.tokens).toBeGreaterThan(0);
  });
});

describe('bounded work with executable comments', () => {
  it('a 16 MiB INSERT with executable comments costs one pass per reading of them, without the full reading', () => {
    const head = Buffer.from('INSERT /*!40101 IGNORE */ INTO users (user, password) VALUES ');
    const body = Buffer.alloc(16 * 1024 * 1024, "(1 /*!50003 + 1 */,'user', /*M!100000 'x' */ 'password'),");
    const sql = Buffer.concat([head, body, Buffer.from('(1,2,3)')]);
    const c = counters();
    expect(classifyStatement(sql, { counters: c })).toEqual({ kind: 'other' });
    // Readings: all run; none run; 40101 and 50003 only (MySQL: /*M! never runs); 40101 only.
    expect(c).toEqual({ passes: 4, bytesScanned: 4 * sql.length, fullReadings: 0, tokens: 0 });
  });

  it('more distinct executable comments than it tells apart go to the full reading, which refuses them', () => {
    const versions = Array.from({ length: 9 }, (_, i) => 40101 + i);
    const sql = `SELECT 1 ${versions.map((v) => `/*!${v} + 1 */`).join(' ')}`;
    expect(needsClassification(sql)).toBe(true);
    expect(describeText(sql)).toBe('unknown: reads differently on too many servers to verify (executable comments)');
    // Seven: eight readings (none run, the first one, the first two, ...), the most it makes.
    expect(describeText(`SELECT 1 ${versions.slice(0, 7).map((v) => `/*!${v} + 1 */`).join(' ')}`)).toBe('other');
  });

  it('the full reading of a text with executable comments makes a bounded number of readings', () => {
    // Seven versions: eight readings as servers, each in six sql_mode readings (backslashes in both quotes, before and after the ';').
    const part = `SELECT 'a\\\\', "b\\\\"`;
    const comments = Array.from({ length: 7 }, (_, i) => `/*!4010${i} ${part} */`).join(' ');
    const sql = `${comments}; ${part}; SET NAMES utf8mb4`;
    const c = counters();
    expect(describeText(sql, 'escapes')).toBe('unknown: reads differently in too many ways to verify');
    classifyStatement(sql, { backslashes: 'escapes', counters: c });
    expect(c.tokens).toBeLessThanOrEqual(16 * sql.length);
  });
});

describe('account keys', () => {
  it('accountKey is exact; accountMatchKey joins what the server may join', () => {
    expect(accountKey({ user: 'a', host: '%' })).not.toBe(accountKey({ user: 'a ', host: '%' }));
    expect(accountMatchKey({ user: 'a ', host: 'LocalHost ' })).toBe(accountMatchKey({ user: 'a', host: 'localhost' }));
    expect(accountMatchKey({ user: 'A', host: '%' })).not.toBe(accountMatchKey({ user: 'a', host: '%' }));
  });
});

describe('dynamic SQL inside compound statements', () => {
  it('reads a few, and refuses a statement with more than it can verify cheaply', () => {
    const body = (n: number) => `CREATE PROCEDURE p() BEGIN ${Array.from({ length: n }, (_, i) => `PREPARE s${i} FROM @q;`).join(' ')} END`;
    expect(describeText(body(8))).toBe('other: unread dynamic SQL');
    // One statement (no ';' between) cannot hold many; a single-statement body can chain them.
    const chained = `CREATE PROCEDURE p() ${'PREPARE s FROM '.repeat(2000)}@q`;
    const c = counters();
    expect(describeText(chained)).toBe('unknown: too much dynamic SQL in one statement to verify');
    classifyStatement(chained, { counters: c });
    expect(c.tokens).toBeLessThanOrEqual(chained.length);
  });
});

describe('the review attacks (test/integration/review-attacks.test.ts)', () => {
  it('reports a rename written as dynamic SQL the gateway cannot read', () => {
    const sql = "EXECUTE IMMEDIATE CONCAT('RENAME USER alice', ' TO stolen')";
    for (const mode of MODES) {
      expect(needsClassification(sql, { backslashes: mode })).toBe(true);
      expect(classifyStatement(sql, { backslashes: mode })).toEqual({ kind: 'other', unreadDynamicSql: true });
    }
  });

  it('reports the character set a statement gives the client, and GBK is not ASCII-transparent', () => {
    expect(classifyStatement('SET NAMES gbk')).toEqual({
      kind: 'other',
      clientCharset: { changes: [{ form: 'SET NAMES', charset: 'gbk', scope: 'session' }], asciiTransparent: false },
    });
    expect(isAsciiTransparentCollationId(28)).toBe(false); // gbk_chinese_ci, what the review's client sent at login
    expect(classifyStatement("SET NAMES 'utf8mb4'")).toEqual({
      kind: 'other',
      clientCharset: { changes: [{ form: 'SET NAMES', charset: 'utf8mb4', scope: 'session' }], asciiTransparent: true },
    });
  });

  it('reads the statements after a mode change in every mode', () => {
    const sql = "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP USER carol -- '";
    expect(needsClassification(sql, { backslashes: 'escapes' })).toBe(true);
    expect(describeText(sql, 'escapes')).toBe('unknown: account statement in a multi-statement text');
    // The given mode still holds for a first statement alone.
    expect(describeText("SELECT 'a\\'; DROP USER carol -- '", 'escapes')).toBe('other');
  });

  it('passes REVOKE ALL PRIVILEGES, GRANT OPTION and the other REVOKE forms', () => {
    for (const sql of [
      'REVOKE ALL PRIVILEGES, GRANT OPTION FROM eve',
      'REVOKE ALL, GRANT OPTION FROM eve, alice',
      'REVOKE r1 FROM eve',
      'REVOKE ADMIN OPTION FOR r1 FROM eve',
      "REVOKE PROXY ON ''@'' FROM eve",
      'REVOKE SELECT, GRANT OPTION ON d1.* FROM eve',
    ]) {
      expect(needsClassification(sql), sql).toBe(false);
      expect(classifyStatement(sql)).toEqual({ kind: 'other' });
    }
  });

  it("reads a dynamic SQL literal in the modes the gateway cannot see (ANSI_QUOTES), not only the outer statement's", () => {
    // The outer text has no backslash in "...", so its ANSI_QUOTES reading is the same; the literal's is not.
    const sql = `PREPARE s FROM 'SET @a = "\\\\", PASSWORD = PASSWORD(''x'') -- "'`;
    expect(describeText(sql, 'escapes')).toBe('unknown: inside PREPARE: SET PASSWORD combined with other assignments');
  });
});

describe('bounded work across sql_modes', () => {
  const batch = (row: string, n: number): string => Array.from({ length: n }, () => row).join('; ');

  it('a batch of INSERTs with escaped quotes is read once per mode that reads its rest differently, without the full reading', () => {
    // Backslashes in '...' only: the rest may read differently without escapes (2 readings); in "..." too: also with ANSI_QUOTES (3).
    for (const [row, readings] of [["INSERT INTO t (a) VALUES ('it\\'s')", 2], ["INSERT INTO t (a, b) VALUES ('it\\'s', \"say \\\"hi\\\"\")", 3]] as const) {
      const sql = batch(row, 20_000);
      for (const mode of ['escapes', 'no-escapes'] as const) {
        const c = counters();
        expect(classifyStatement(sql, { backslashes: mode, counters: c })).toEqual({ kind: 'other' });
        expect(c.fullReadings).toBe(0);
        // The first statement once per mode, the rest once per mode that may read it differently.
        expect(c.bytesScanned).toBeLessThanOrEqual(readings * sql.length + 3 * row.length);
      }
    }
  });

  it('a text that reads differently in every mode costs at most MAX_PRECHECK_PASSES passes, then the full reading decides', () => {
    // Backslashes in both quotes and '[' in the first statement and in the rest: every reading differs.
    const part = "SELECT 'a\\'', \"b\\\"\", [c]";
    const sql = `${part}; ${batch(part, 10_000)}`;
    const c = counters();
    const v = classifyStatement(sql, { backslashes: 'escapes', counters: c });
    expect(c.passes).toBeLessThanOrEqual(MAX_PRECHECK_PASSES);
    expect(v).toEqual({ kind: 'unknown', reason: `too long to verify (more than ${MAX_VERIFIED_BYTES} bytes)` });
  });

  it('the full reading of such a text stops after a bounded number of readings', () => {
    const part = "SELECT 'a\\'', \"b\\\"\", [c]";
    const sql = `${part}; ${batch(part, 1_000)}; DROP USER x`;
    expect(sql.length).toBeLessThan(MAX_VERIFIED_BYTES);
    const c = counters();
    expect(describeText(sql, 'unknown')).toBe('unknown: reads differently in too many sql_modes to verify');
    classifyStatement(sql, { backslashes: 'unknown', counters: c });
    expect(c.tokens).toBeLessThanOrEqual(8 * sql.length);
  });
});
