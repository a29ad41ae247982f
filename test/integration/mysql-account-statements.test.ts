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
 * refused for nothing: MariaDB runs them and they change a password.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifyStatement,
  type AccountEffect,
  type AccountRef,
  type AccountVerdict,
  type NamedAccount,
} from '../../src/protocol/mysql/index.js';
import { describeVerdict, statementCases } from '../../src/protocol/mysql/test-support/account-statement-cases.js';
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
