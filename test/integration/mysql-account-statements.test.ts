/**
 * Grounds the account-statement recognizer in a real MariaDB 10.11 (a
 * private server, so the table's fixed account names are free): every row of
 * src/protocol/mysql/test-support/account-statement-cases.ts marked
 * 'mariadb' is run (the IAM ones after their rewrite), and mysql.global_priv
 * must change exactly as the verdict says for each account. Rows marked
 * 'mysql8-doc' cannot be checked here (no MySQL 8 server): they come from the
 * MySQL 8.0 reference manual. Rows marked 'mariadb-ignored' are accepted and
 * change nothing on MariaDB 10.11 (ALTER USER CURRENT_USER() IDENTIFIED ...):
 * the test checks exactly that, so a MariaDB that starts applying them is
 * noticed.
 *
 * A second part shows that forms the recognizer refuses as 'unknown' are not
 * refused for nothing: MariaDB runs them and they change a password. Later
 * parts ground the character set table (each row's effect on
 * character_set_client, the collation ids, GBK's 0xBF5C), REVOKE (never an
 * authentication change), dynamic SQL reported as unread (it does manage
 * accounts), sql_mode changes between the statements of one text (they
 * hide a DROP USER from a reader that keeps one mode), executable comments
 * (which MariaDB runs, where each ends) and a real dump restored with the
 * mariadb client, every statement of which the recognizer reads.
 */
import iconv from 'iconv-lite';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  charsetOfCollationId,
  classifyStatement,
  isAsciiTransparentCollationId,
  needsClassification,
  NOT_ASCII_TRANSPARENT_COLLATION_IDS,
  type AccountEffect,
  type AccountRef,
  type AccountVerdict,
  type NamedAccount,
} from '../../src/protocol/mysql/index.js';
import { charsetCases, describeVerdict, executableCommentCases, statementCases } from '../../src/protocol/mysql/test-support/account-statement-cases.js';
import { RecordingProxy, type RecordedChunk } from '../fixtures/mysql-responses/recording-proxy.js';
import { runMariadbDump, runMariadbScript } from '../support/clients.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';

const HASH = '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'; // PASSWORD('password')
const SELF: NamedAccount = { self: false, user: 'self_user', host: '%' };
const SELF_PASSWORD = 'self-pw';

let srv: MariaDbServer;
let root: mysql.Connection;

interface Row {
  readonly plugin: string | null;
  readonly auth: string | null;
  readonly authOr: string | null;
}

async function snapshot(a: { user: string; host: string }): Promise<Row | undefined> {
  const [rows] = await root.query<mysql.RowDataPacket[]>(
    "SELECT JSON_VALUE(Priv, '$.plugin') AS plugin, JSON_VALUE(Priv, '$.authentication_string') AS auth, " +
      "JSON_QUERY(Priv, '$.auth_or') AS authOr FROM mysql.global_priv WHERE User = ? AND Host = ?",
    [a.user, a.host],
  );
  const r = rows[0];
  return r === undefined ? undefined : { plugin: r.plugin, auth: r.auth, authOr: r.authOr };
}

const quoted = (a: { user: string; host: string }) => `${root.escape(a.user)}@${root.escape(a.host)}`;
const resolve = (r: AccountRef): NamedAccount => (r.self ? SELF : r);

/** Accounts each effect needs before the statement runs (true) or needs absent (false). */
function preconditions(v: AccountVerdict): Map<string, { account: NamedAccount; exists: boolean }> {
  const need = new Map<string, { account: NamedAccount; exists: boolean }>();
  const set = (r: AccountRef, exists: boolean) => {
    if (r.self) return;
    need.set(JSON.stringify([r.user, r.host]), { account: r, exists });
  };
  const creates = v.statement === 'CREATE USER' && !v.orReplace;
  for (const e of v.effects) {
    if (e.action === 'renamed') {
      set(e.from, true);
      set(e.to, false);
    } else set(e.account, !creates);
  }
  return need;
}

async function checkEffect(e: AccountEffect, before: Map<string, Row | undefined>): Promise<void> {
  const key = (a: NamedAccount) => JSON.stringify([a.user, a.host]);
  if (e.action === 'renamed') {
    const from = resolve(e.from);
    expect(await snapshot(from)).toBeUndefined();
    expect(await snapshot(e.to)).toEqual(before.get(key(from)));
    return;
  }
  const account = resolve(e.account);
  const after = await snapshot(account);
  const was = before.get(key(account));
  switch (e.action) {
    case 'dropped':
      expect(after).toBeUndefined();
      return;
    case 'untouched':
      expect(after).toEqual(was);
      return;
    case 'becomes-iam':
      expect(after).toMatchObject({ plugin: 'mysql_native_password', auth: HASH });
      return;
    default:
      expect(after).toBeDefined();
      expect(after).not.toEqual(was);
      if (e.plugin !== undefined) expect(after?.plugin).toBe(e.plugin);
      if (e.change === 'no-password') expect(after).toMatchObject({ plugin: 'mysql_native_password', auth: '' });
  }
}

async function asSelf(sql: string): Promise<void> {
  const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: SELF.user, password: SELF_PASSWORD });
  try {
    await conn.query(sql);
  } finally {
    await conn.end();
  }
}

beforeAll(async () => {
  srv = await startMariaDb();
  root = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword });
  await root.query('CREATE DATABASE d1');
  await root.query('CREATE TABLE d1.t (id int)');
  await root.query('CREATE ROLE r1');
});

afterAll(async () => {
  await root?.end();
  await srv?.stop();
});

const mariadbRows = statementCases.filter(([, , source]) => source === 'mariadb' || source === 'mariadb-ignored');

describe('every statement the table marks as MariaDB syntax', () => {
  it.each(mariadbRows)('%s -> %s (%s)', async (sql, expected, source) => {
    const v = classifyStatement(sql, { backslashes: 'escapes' });
    expect(describeVerdict(v)).toBe(expected);
    if (v.kind !== 'account') throw new Error('rows marked mariadb are account statements');
    const usesSelf = v.effects.some((e) => (e.action === 'renamed' ? e.from.self : e.account.self));
    // A clean slate for every account the statement names.
    const need = preconditions(v);
    for (const { account } of [...need.values(), { account: SELF }]) await root.query(`DROP USER IF EXISTS ${quoted(account)}`);
    for (const { account, exists } of need.values()) if (exists) await root.query(`CREATE USER ${quoted(account)} IDENTIFIED BY 'before'`);
    if (usesSelf) {
      await root.query(`CREATE USER ${quoted(SELF)} IDENTIFIED BY ${root.escape(SELF_PASSWORD)}`);
      await root.query(`GRANT ALL ON d1.* TO ${quoted(SELF)} WITH GRANT OPTION`);
      // MariaDB wants it even for ALTER USER CURRENT_USER() (MySQL 8 does not).
      await root.query(`GRANT CREATE USER ON *.* TO ${quoted(SELF)}`);
    }
    const before = new Map<string, Row | undefined>();
    for (const a of [...[...need.values()].map((n) => n.account), SELF]) before.set(JSON.stringify([a.user, a.host]), await snapshot(a));

    const text = v.rewrite !== undefined ? v.rewrite(() => HASH).toString('utf8') : sql;
    if (usesSelf) await asSelf(text);
    else await root.query(text);

    if (source === 'mariadb-ignored') {
      for (const [key, row] of before) {
        const [user, host] = JSON.parse(key) as [string, string];
        expect(await snapshot({ user, host })).toEqual(row);
      }
      return;
    }
    for (const e of v.effects) await checkEffect(e, before);
  });
});

describe('forms refused as unknown are run by MariaDB', () => {
  const victim = { user: 'victim', host: '%' };
  const refused = [
    "SET @a = 1, PASSWORD FOR victim = PASSWORD('changed')",
    "SET PASSWORD FOR victim = PASSWORD('changed'), @a = 1",
    "SET @a = CASE WHEN 1 THEN 0 ELSE REPLACE('a','b','c') END, PASSWORD FOR victim = PASSWORD('changed')",
    "SET @a = (SELECT 1 FROM dual FOR UPDATE), PASSWORD FOR victim = PASSWORD('changed')",
    "SET STATEMENT max_statement_time = 10 FOR SET PASSWORD FOR victim = PASSWORD('changed')",
    "BEGIN NOT ATOMIC SELECT 1; SET PASSWORD FOR victim = PASSWORD('changed'); END",
    "IF 1 THEN SET PASSWORD FOR victim = PASSWORD('changed'); END IF",
    "EXECUTE IMMEDIATE 'SET PASSWORD FOR victim = PASSWORD(''changed'')'",
    "/*!50000 SET PASSWORD FOR victim = PASSWORD('changed') */",
    "/*M!100000 SET PASSWORD FOR victim = PASSWORD('changed') */",
  ];

  it.each(refused)('%s', async (sql) => {
    const v = classifyStatement(sql, { backslashes: 'escapes' });
    expect(v.kind).toBe('unknown');
    await root.query(`DROP USER IF EXISTS ${quoted(victim)}`);
    await root.query(`CREATE USER ${quoted(victim)} IDENTIFIED BY 'before'`);
    const before = await snapshot(victim);
    await root.query(sql);
    expect(await snapshot(victim)).not.toEqual(before);
  });

  it('PREPARE of a literal runs the account statement at EXECUTE', async () => {
    const sql = "PREPARE s FROM 'SET PASSWORD FOR victim = PASSWORD(''changed'')'";
    expect(classifyStatement(sql).kind).toBe('unknown');
    await root.query(`DROP USER IF EXISTS ${quoted(victim)}`);
    await root.query(`CREATE USER ${quoted(victim)} IDENTIFIED BY 'before'`);
    const before = await snapshot(victim);
    await root.query(sql);
    await root.query('EXECUTE s');
    expect(await snapshot(victim)).not.toEqual(before);
  });

  it('KILL evaluates an expression, so only a plain number can be mapped', async () => {
    for (const sql of ['KILL 99998+1', "KILL '99999'", 'KILL (99999)', 'KILL 0x1869F']) {
      expect(classifyStatement(sql).kind).toBe('unknown');
      await expect(root.query(sql)).rejects.toThrow(/Unknown thread id: 99999/);
    }
    expect(classifyStatement('KILL 99999')).toEqual({ kind: 'kill', connectionId: 99999, query: false });
    await expect(root.query('KILL 99999')).rejects.toThrow(/Unknown thread id: 99999/);
  });

  it('host names are matched without regard to case, as the verdicts report them (lower case)', async () => {
    await root.query("DROP USER IF EXISTS 'hcase'@'localhost'");
    await root.query("CREATE USER 'hcase'@'LocalHost' IDENTIFIED BY 'before'");
    expect(await snapshot({ user: 'hcase', host: 'localhost' })).toBeDefined();
    const v = classifyStatement("DROP USER 'hcase'@'LOCALHOST'");
    expect(describeVerdict(v)).toBe('DROP USER: drop hcase@localhost');
    await root.query("DROP USER 'hcase'@'LOCALHOST'");
    expect(await snapshot({ user: 'hcase', host: 'localhost' })).toBeUndefined();
  });
});

describe('character set changes, as MariaDB makes them', () => {
  let initialGlobal: string;
  beforeAll(async () => {
    const [rows] = await root.query<mysql.RowDataPacket[]>('SELECT @@global.character_set_client AS g');
    initialGlobal = String(rows[0]?.['g']);
  });

  it('the server the rows assume: a utf8mb4 default', () => {
    expect(initialGlobal).toBe('utf8mb4');
  });

  it.each(charsetCases)('%s -> %s', async (sql, expected, after) => {
    const v = classifyStatement(sql, { backslashes: 'escapes' });
    expect(describeVerdict(v)).toBe(expected);
    const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword, charset: 'UTF8MB4_GENERAL_CI', multipleStatements: true });
    try {
      await conn.query(sql);
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@session.character_set_client AS s, @@global.character_set_client AS g');
      // String(): in a binary session the server's answers are bytes.
      expect({ session: String(rows[0]?.['s']), global: String(rows[0]?.['g']) }).toEqual(after);
      // A change reported by name names what the server now holds in that scope.
      if (v.kind === 'other' && v.clientCharset !== undefined) {
        const last = v.clientCharset.changes[v.clientCharset.changes.length - 1];
        if (last?.charset !== undefined) expect(last.charset).toBe(last.scope === 'global' ? after.global : after.session);
      }
    } finally {
      await conn.end();
      await root.query(`SET GLOBAL character_set_client = ${root.escape(initialGlobal)}`);
    }
  });

  it('GBK is not ASCII-transparent: a login with its collation id runs what a byte reader takes for quoted text', async () => {
    const victim = { user: 'gbk_victim', host: '%' };
    await root.query(`DROP USER IF EXISTS ${quoted(victim)}`);
    await root.query(`CREATE USER ${quoted(victim)} IDENTIFIED BY 'before'`);
    // 0xBF 0x5C is one GBK character; read byte by byte, 0x5C escapes the closing quote.
    const text = Buffer.concat([Buffer.from("SELECT '"), Buffer.from([0xbf, 0x5c]), Buffer.from(`'; DROP USER ${victim.user} -- '`)]);
    expect(classifyStatement(text, { backslashes: 'escapes' })).toEqual({ kind: 'other' });
    expect(isAsciiTransparentCollationId(28)).toBe(false);
    const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword, charset: 'GBK_CHINESE_CI', multipleStatements: true });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@character_set_client AS cs');
      expect(rows[0]?.['cs']).toBe(charsetOfCollationId(28));
      await conn.query(iconv.decode(text, 'gbk'));
    } finally {
      await conn.end();
    }
    expect(await snapshot(victim)).toBeUndefined();
  });

  it('only character_set_client changes how the server reads the rest of a text', async () => {
    // Bytes 0xBF 0x5C: one GBK character, or '¿' and an escaping backslash in latin1.
    const rest = "SELECT '\u00bf\\'; SELECT 2 AS two -- '";
    const results = async (setup: string): Promise<number> => {
      const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword, charset: 'LATIN1_SWEDISH_CI', multipleStatements: true });
      try {
        const [rows] = await conn.query<mysql.RowDataPacket[][]>(`${setup}; ${rest}`);
        return rows.length;
      } finally {
        await conn.end();
      }
    };
    for (const setup of ['SET character_set_connection = gbk', 'SET collation_connection = gbk_bin', 'SET character_set_results = gbk']) {
      expect(await results(setup), setup).toBe(2);
      expect(classifyStatement(setup).kind, setup).toBe('other');
    }
    expect(await results('SET character_set_client = gbk')).toBe(3);
    expect(describeVerdict(classifyStatement(`SET character_set_client = gbk; ${rest}`))).toBe('unknown: character set change in a multi-statement text');
  });

  it('the collation ids of the table are MariaDB 10.11 ones (ids MariaDB lacks are MySQL 8 ones)', async () => {
    const [rows] = await root.query<mysql.RowDataPacket[]>('SELECT id, character_set_name AS cs FROM information_schema.COLLATIONS WHERE id < 256');
    const server = new Map(rows.map((r) => [Number(r['id']), String(r['cs'])]));
    expect(server.size).toBeGreaterThan(200);
    for (let id = 0; id < 256; id++) {
      if (server.has(id)) expect(charsetOfCollationId(id), `id ${id}`).toBe(server.get(id));
      else expect([undefined, 'utf8mb3', 'gb18030', 'utf8mb4'], `id ${id}`).toContain(charsetOfCollationId(id));
    }
    const mysqlOnly = [...Array(256).keys()].filter((id) => !server.has(id) && charsetOfCollationId(id) !== undefined);
    expect(mysqlOnly).toEqual([76, 248, 249, 250, 255]);
    const refused = [...server].filter(([, cs]) => ['big5', 'cp932', 'gbk', 'sjis', 'swe7'].includes(cs)).map(([id]) => id);
    expect(NOT_ASCII_TRANSPARENT_COLLATION_IDS.filter((id) => server.has(id))).toEqual(refused.sort((a, b) => a - b));
  });
});

describe('REVOKE never changes authentication', () => {
  const grantee = { user: 'rev_a', host: '%' };
  const proxied = { user: 'rev_b', host: '%' };
  const revokes = [
    'REVOKE ALL PRIVILEGES, GRANT OPTION FROM rev_a',
    'REVOKE SELECT ON d1.* FROM rev_a',
    'REVOKE SELECT, GRANT OPTION ON d1.* FROM rev_a',
    'REVOKE r1 FROM rev_a',
    'REVOKE ADMIN OPTION FOR r1 FROM rev_a',
    'REVOKE PROXY ON rev_b FROM rev_a',
    'IF 1 THEN REVOKE ALL PRIVILEGES, GRANT OPTION FROM rev_a; END IF',
  ];

  it.each(revokes)('%s', async (sql) => {
    expect(needsClassification(sql, { backslashes: 'escapes' })).toBe(false);
    expect(classifyStatement(sql, { backslashes: 'escapes' })).toEqual({ kind: 'other' });
    for (const a of [grantee, proxied]) await root.query(`DROP USER IF EXISTS ${quoted(a)}`);
    await root.query(`CREATE USER ${quoted(grantee)} IDENTIFIED BY 'before'`);
    await root.query(`CREATE USER ${quoted(proxied)} IDENTIFIED BY 'before'`);
    await root.query(`GRANT SELECT ON d1.* TO ${quoted(grantee)} WITH GRANT OPTION`);
    await root.query(`GRANT r1 TO ${quoted(grantee)} WITH ADMIN OPTION`);
    await root.query(`GRANT PROXY ON ${quoted(proxied)} TO ${quoted(grantee)}`);
    const before = await snapshot(grantee);
    const [grantsBefore] = await root.query<mysql.RowDataPacket[]>(`SHOW GRANTS FOR ${quoted(grantee)}`);
    await root.query(sql);
    const [grantsAfter] = await root.query<mysql.RowDataPacket[]>(`SHOW GRANTS FOR ${quoted(grantee)}`);
    expect(grantsAfter).not.toEqual(grantsBefore); // it did revoke something
    expect(await snapshot(grantee)).toEqual(before);
  });
});

describe('what the recognizer reports as unread dynamic SQL does manage accounts on MariaDB', () => {
  const victim = { user: 'dyn_victim', host: '%' };
  const stolen = { user: 'dyn_stolen', host: '%' };
  const cases: [name: string, setup: string[], sql: string, gone: 'renamed' | 'dropped'][] = [
    ['EXECUTE IMMEDIATE of an expression (the review)', [], "EXECUTE IMMEDIATE CONCAT('RENAME USER dyn_victim', ' TO dyn_stolen')", 'renamed'],
    ['PREPARE from a variable', ["SET @q = CONCAT('DROP USER ', 'dyn_victim')"], 'PREPARE s FROM @q', 'dropped'],
    ['the sys schema runs its argument', [], "CALL sys.execute_prepared_stmt(CONCAT('DROP USER ', 'dyn_victim'))", 'dropped'],
    ['SET STATEMENT ... FOR EXECUTE IMMEDIATE', [], "SET STATEMENT max_statement_time = 10 FOR EXECUTE IMMEDIATE CONCAT('DROP USER ', 'dyn_victim')", 'dropped'],
    ['a compound statement', [], "BEGIN NOT ATOMIC EXECUTE IMMEDIATE CONCAT('DROP USER ', 'dyn_victim'); END", 'dropped'],
  ];

  it.each(cases)('%s', async (_name, setup, sql, gone) => {
    expect(classifyStatement(sql, { backslashes: 'escapes' })).toEqual({ kind: 'other', unreadDynamicSql: true });
    for (const a of [victim, stolen]) await root.query(`DROP USER IF EXISTS ${quoted(a)}`);
    await root.query(`CREATE USER ${quoted(victim)} IDENTIFIED BY 'before'`);
    const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword });
    try {
      for (const s of setup) await conn.query(s);
      await conn.query(sql);
      if (sql.startsWith('PREPARE')) await conn.query('EXECUTE s');
    } finally {
      await conn.end();
    }
    expect(await snapshot(victim)).toBeUndefined();
    if (gone === 'renamed') expect(await snapshot(stolen)).toBeDefined();
  });

  it('a stored procedure with dynamic SQL is reported when it is created; its CALL is not visible', async () => {
    const create = 'CREATE PROCEDURE d1.run_sql(q TEXT) BEGIN PREPARE s FROM q; EXECUTE s; DEALLOCATE PREPARE s; END';
    expect(classifyStatement(create, { backslashes: 'escapes' })).toEqual({ kind: 'other', unreadDynamicSql: true });
    const call = "CALL d1.run_sql(CONCAT('DROP USER ', 'dyn_victim'))";
    expect(classifyStatement(call, { backslashes: 'escapes' })).toEqual({ kind: 'other' });
    await root.query('DROP PROCEDURE IF EXISTS d1.run_sql');
    await root.query(create);
    await root.query(`DROP USER IF EXISTS ${quoted(victim)}`);
    await root.query(`CREATE USER ${quoted(victim)} IDENTIFIED BY 'before'`);
    await root.query(call);
    expect(await snapshot(victim)).toBeUndefined();
  });
});

describe('the sql_mode can change between the statements of one text', () => {
  const victim = { user: 'mode_victim', host: '%' };
  const cases: [name: string, before: string[], sql: string][] = [
    ['NO_BACKSLASH_ESCAPES set by the first statement (the review)', [], "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP USER mode_victim -- '"],
    ['ANSI_QUOTES set by the first statement', [], 'SET SESSION sql_mode = \'ANSI_QUOTES\'; SELECT 1 AS "a\\"; DROP USER mode_victim; -- "'],
    ["MSSQL's [...] names, the mode set by an earlier text (the status flags do not show it)", ["SET SESSION sql_mode = 'MSSQL'"], "SELECT 1 AS [x']; DROP USER mode_victim; -- ']"],
    ['a later statement that changes the mode again', [], "SELECT 1; SET sql_mode = CONCAT('NO_BACKSLASH_ESCAPES', LEFT('\\';', 0)); SELECT '\\'; DROP USER mode_victim; -- '"],
  ];

  it.each(cases)('%s', async (_name, before, sql) => {
    // The session reads each text in the mode the server reported before it: backslashes escape here.
    expect(needsClassification(sql, { backslashes: 'escapes' })).toBe(true);
    expect(classifyStatement(sql, { backslashes: 'escapes' }).kind).toBe('unknown');
    await root.query(`DROP USER IF EXISTS ${quoted(victim)}`);
    await root.query(`CREATE USER ${quoted(victim)} IDENTIFIED BY 'before'`);
    const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword, multipleStatements: true });
    try {
      for (const s of before) await conn.query(s);
      await conn.query(sql);
    } finally {
      await conn.end();
    }
    expect(await snapshot(victim)).toBeUndefined();
  });
});

describe('executable comments, as MariaDB 10.11 runs them', () => {
  const charsets = async (conn: mysql.Connection) => {
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@session.character_set_client AS s, @@global.character_set_client AS g');
    return { session: String(rows[0]?.['s']), global: String(rows[0]?.['g']) };
  };

  it.each(executableCommentCases)('%s -> %s', async (sql, expected, after) => {
    const v = classifyStatement(sql, { backslashes: 'escapes' });
    expect(describeVerdict(v)).toBe(expected);
    const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword, charset: 'UTF8MB4_GENERAL_CI', multipleStatements: true });
    try {
      // Texts the recognizer reads as 'other' are ones MariaDB runs; some it refuses are syntax errors there.
      await conn.query(sql).catch((err: { errno?: number }) => {
        expect(v.kind).toBe('unknown');
        expect(err.errno).toBe(1064);
      });
      expect(await charsets(conn)).toEqual(after);
      // A change MariaDB made is one the verdict reports (by its name, or as a value that is not a name).
      if (after.session !== 'utf8mb4' && v.kind === 'other') {
        expect(v.clientCharset?.changes.some((c) => c.charset === undefined || c.charset === after.session)).toBe(true);
      }
    } finally {
      await conn.end();
    }
  });

  it("runs a versioned comment from the server's own version on", async () => {
    const [rows] = await root.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    const [major, minor, patch] = (/^(\d+)\.(\d+)\.(\d+)/.exec(String(rows[0]?.['v'])) ?? []).slice(1).map(Number);
    const id = (major as number) * 10000 + (minor as number) * 100 + (patch as number);
    expect(id).toBeGreaterThan(101100);
    for (const marker of ['/*!', '/*M!']) {
      for (const [version, runs] of [[id, true], [id + 1, false]] as const) {
        const [result] = await root.query<mysql.RowDataPacket[]>(`SELECT 1 ${marker}${version} + 1 */ AS x`);
        expect(Number(result[0]?.['x']), `${marker}${version}`).toBe(runs ? 2 : 1);
      }
    }
  });

  // How the lexer ends a run and a skipped comment (the recognizer's lexer.ts follows these).
  const lexing: [what: string, sql: string, x: number | string][] = [
    ['run: a */ in a string does not end it', "SELECT /*!40101 '*/' */ AS x", '*/'],
    ['run: nor in a "..." string', 'SELECT /*!40101 "*/" */ AS x', '*/'],
    ['run: nor in a -- comment', 'SELECT /*!40101 1 -- x */\n */ AS x', 1],
    ['run: nor in a # comment', 'SELECT /*!40101 1 # x */\n */ AS x', 1],
    ['skipped: the first */ ends it, quotes or not', "SELECT 2 /*!99999 'x */ AS x", 2],
    ['fewer than five digits are no version, and code', 'SELECT /*!1234 */ AS x', 1234],
    ['a version has at most six digits; a seventh is code', 'SELECT /*!1000001 + 1 */ AS x', 2],
    ['no space is needed after the version', 'SELECT 1 /*!40101+1*/ AS x', 2],
  ];

  it.each(lexing)('%s', async (_what, sql, x) => {
    const [rows] = await root.query<mysql.RowDataPacket[]>(sql);
    expect(rows[0]?.['x']).toEqual(x);
  });

  it("a ';' inside a run comment: a syntax error at the top level, read on inside a compound statement", async () => {
    const conn = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword, multipleStatements: true });
    const vars = async () => {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @a AS a, @b AS b');
      return [rows[0]?.['a'], rows[0]?.['b']];
    };
    try {
      await expect(conn.query('/*!40101 SET @a = 1; SET @b = 2 */')).rejects.toMatchObject({ errno: 1064 });
      expect(await vars()).toEqual([null, null]);
      await conn.query('/*!40101 BEGIN NOT ATOMIC SET @a = 1; SET @b = 2; END */');
      expect(await vars()).toEqual([1, 2]);
    } finally {
      await conn.end();
    }
  });
});

/** The COM_QUERY texts of a recorded connection, in order (commands are the packets numbered 0; the login's are not). */
function comQueries(chunks: readonly RecordedChunk[]): string[] {
  const bytes = Buffer.concat(chunks.filter((c) => c.from === 'client').map((c) => c.bytes));
  const out: string[] = [];
  for (let at = 0; at + 4 <= bytes.length; ) {
    const length = bytes.readUIntLE(at, 3);
    const payload = bytes.subarray(at + 4, at + 4 + length);
    if (bytes[at + 3] === 0 && payload[0] === 0x03) out.push(payload.subarray(1).toString('utf8'));
    at += 4 + length;
  }
  return out;
}

describe('a mariadb-dump file restored with the mariadb client', () => {
  const objects = [
    'CREATE DATABASE dumped',
    'CREATE TABLE dumped.t (id int PRIMARY KEY AUTO_INCREMENT, name varchar(20), note text) CHARACTER SET utf8mb4',
    "INSERT INTO dumped.t (name, note) VALUES ('a', 'it''s'), ('b', 'back\\\\slash */ /*!40101 DROP USER x */'), ('c', 'SET NAMES gbk; -- ü')",
    'CREATE TABLE dumped.l (id int, msg varchar(50)) CHARACTER SET latin1',
    'CREATE VIEW dumped.v AS SELECT id, name FROM dumped.t',
    "CREATE TRIGGER dumped.tr BEFORE INSERT ON dumped.t FOR EACH ROW BEGIN\n  -- keep a log\n  SET NEW.name = UPPER(NEW.name);\n  INSERT INTO dumped.l VALUES (NEW.id, 'ins; */');\nEND",
    "CREATE PROCEDURE dumped.p(IN x int) BEGIN SELECT x; UPDATE dumped.t SET note = 'p;' WHERE id = x; END",
    'CREATE FUNCTION dumped.f(x int) RETURNS int DETERMINISTIC RETURN x + 1',
    'CREATE EVENT dumped.e ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM dumped.l',
  ];

  it('every statement is read as other, the restores of character_set_client as changes to a value that is not a name', async () => {
    await root.query('DROP DATABASE IF EXISTS dumped');
    for (const sql of objects) await root.query(sql);
    const login = ['-h', srv.host, '-u', srv.rootUser, `--password=${srv.rootPassword}`];
    const dump = await runMariadbDump([...login, '-P', String(srv.port), '--routines', '--triggers', '--events', '--databases', 'dumped'], {}, { timeoutMs: 60_000 });
    expect(dump.code, dump.stderr).toBe(0);
    await root.query('DROP DATABASE dumped');

    // Restore through a recording proxy: what the client sends, one COM_QUERY per statement, comments included.
    const proxy = await RecordingProxy.start(srv.port);
    let queries: string[];
    try {
      const connection = proxy.nextConnection();
      const restore = await runMariadbScript([...login, '-P', String(proxy.port), '--skip-ssl'], dump.stdout, {}, { timeoutMs: 60_000 });
      expect(restore.code, restore.stderr).toBe(0);
      const recorded = await connection;
      await recorded.closed;
      queries = comQueries(recorded.chunks);
    } finally {
      await proxy.close();
    }

    // The restore did restore.
    const [counts] = await root.query<mysql.RowDataPacket[]>(
      "SELECT (SELECT COUNT(*) FROM dumped.t) AS t, (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'dumped') AS v, " +
        "(SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'dumped') AS tr, " +
        "(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'dumped') AS r, (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'dumped') AS e",
    );
    expect(counts[0]).toMatchObject({ t: 3, v: 1, tr: 1, r: 2, e: 1 });

    // What the client sent: the header and footer, the comments around each object, the objects.
    const executable = queries.filter((q) => /\/\*M?!/.test(q));
    expect(executable.length).toBeGreaterThan(60);
    for (const expected of ['/*!40101 SET NAMES utf8mb4 */', '/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */', '/*!40101 SET character_set_client = @saved_cs_client */']) {
      expect(queries).toContain(expected);
    }
    expect(queries.some((q) => q.startsWith('/*!50003 CREATE*/ /*!50017 DEFINER=') && q.includes('TRIGGER'))).toBe(true);
    expect(queries.some((q) => q.startsWith('/*!50001 CREATE ALGORITHM=UNDEFINED */'))).toBe(true);

    const restores = /^(\/\*!\d{5} )?SET (character_set_client|CHARACTER_SET_CLIENT)\s*=\s*@\w+\s*(\*\/\s*)?$/;
    const misread: string[] = [];
    for (const q of queries) {
      for (const backslashes of ['escapes', 'unknown'] as const) {
        const described = describeVerdict(classifyStatement(q, { backslashes }));
        const expected = restores.test(q) ? 'other: character_set_client ?, not ASCII-transparent' : /^other(: (SET NAMES|character_set_client) (utf8mb4|utf8mb3|utf8|latin1))?$/;
        if (typeof expected === 'string' ? described !== expected : !expected.test(described)) misread.push(`${backslashes}: ${q} -> ${described}`);
      }
    }
    expect(misread).toEqual([]);
    expect(queries.filter((q) => restores.test(q)).length).toBeGreaterThanOrEqual(6);
  });
});
