/**
 * The names src/gateway/proxy/mysql-builtin-functions.ts lists as no stored-
 * function call, checked against the real MariaDB 10.11: in a database whose
 * stored functions are named like each of them, an unqualified call in each
 * form the list allows must not reach the stored function (it is native, or
 * grammar). A name wrongly listed would let a stored function run where the
 * proxy takes the statement for built-ins (no reset, no pin).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_NOT_ROUTINE_ADJACENT, MYSQL_NOT_ROUTINE_ANY } from '../../src/gateway/proxy/mysql-builtin-functions.js';
import { classifyMysql } from '../../src/gateway/proxy/mysql-session-state.js';
import { getMariaDb } from '../support/servers.js';

const db = `builtins_${randomBytes(3).toString('hex')}`;
let conn: mysql.Connection;

beforeAll(async () => {
  const my = getMariaDb();
  // mysql2 asks for CLIENT_IGNORE_SPACE by default, under which NOW () is the native NOW: the probe needs the server's default.
  conn = await mysql.createConnection({ host: my.host, port: my.port, user: my.user, password: my.password, ssl: { ca: readFileSync(my.caCertPath, 'utf8') }, flags: ['-IGNORE_SPACE'] });
  await conn.query(`CREATE DATABASE ${db}`);
  await conn.query(`USE ${db}`);
});

afterAll(async () => {
  await conn.query(`DROP DATABASE IF EXISTS ${db}`);
  await conn.end();
});

/** The errno of `sql` (0: it ran). */
async function errnoOf(sql: string): Promise<number> {
  try {
    await conn.query(sql);
    return 0;
  } catch (err) {
    return (err as { errno?: number }).errno ?? -1;
  }
}

/** Stored-function lookups: it does not exist (1305, 1630 naming a keyword), or the wrong arguments (1318). */
const ROUTINE = new Set([1305, 1630, 1318]);

describe('MYSQL_NOT_ROUTINE_* against MariaDB 10.11', () => {
  it('has no name twice, and only lowercase names', () => {
    const all = [...MYSQL_NOT_ROUTINE_ANY, ...MYSQL_NOT_ROUTINE_ADJACENT];
    expect(new Set(all).size).toBe(all.length);
    for (const n of all) expect(n).toMatch(/^[a-z_][a-z0-9_]*$/);
  });

  it('a probe tells a stored function from a native one (the check below can fail)', async () => {
    await conn.query(`CREATE FUNCTION ${db}.probe_f(x INT) RETURNS INT NO SQL RETURN x`);
    expect(await errnoOf('SELECT probe_f(1)')).toBe(0);
    expect(await errnoOf('SELECT probe_g(1)')).toBe(1305);
    // NOW () (a space) looks a stored function up: why MYSQL_NOT_ROUTINE_ADJACENT exists.
    const [mode] = await conn.query('SELECT @@sql_mode AS m');
    expect(String((mode as Array<{ m: string }>)[0]!.m)).not.toContain('IGNORE_SPACE');
    expect(await errnoOf('SELECT now ()')).toBe(1630);
  });

  it('no listed name calls a stored function, in the forms the list allows', async () => {
    const wrong: string[] = [];
    const forms = (n: string, spaced: boolean): string[] => [`SELECT ${n}()`, `SELECT ${n}(1)`, ...(spaced ? [`SELECT ${n} ()`, `SELECT ${n} (1)`] : [])];
    for (const [names, spaced] of [[MYSQL_NOT_ROUTINE_ANY, true], [MYSQL_NOT_ROUTINE_ADJACENT, false]] as const) {
      for (const n of names) {
        for (const sql of forms(n, spaced)) if (ROUTINE.has(await errnoOf(sql))) wrong.push(sql);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('AGAINST and ESCAPE right after an operand are grammar (mysql-session-state.ts AFTER_OPERAND), not stored functions of those names', async () => {
    // Were either called, its SIGNAL would fail the statement.
    for (const name of ['against', 'escape']) await conn.query(`CREATE FUNCTION ${db}.\`${name}\`(x TEXT) RETURNS INT NO SQL BEGIN SIGNAL SQLSTATE '45000'; RETURN 0; END`);
    expect(await errnoOf('SELECT against(1)')).toBe(1644);
    await conn.query(`CREATE TABLE ${db}.ft (a TEXT, FULLTEXT (a)) ENGINE=InnoDB`);
    await conn.query(`INSERT INTO ${db}.ft VALUES ('hello world')`);
    const [rows] = await conn.query(`SELECT COUNT(*) AS n FROM ${db}.ft WHERE MATCH (a) AGAINST ('hello' IN BOOLEAN MODE) AND a LIKE 'hello!%' ESCAPE ('!')`);
    expect((rows as Array<{ n: number }>)[0]!.n).toBe(0);
    const [rows2] = await conn.query(`SELECT COUNT(*) AS n FROM ${db}.ft WHERE MATCH (a) AGAINST ('hello')`);
    expect((rows2 as Array<{ n: number }>)[0]!.n).toBe(1);
  });

  it('a native name resolves to the native function even where a stored function has that name', async () => {
    await conn.query(`CREATE FUNCTION ${db}.concat(x INT) RETURNS INT NO SQL RETURN 42`);
    const [rows] = await conn.query(`SELECT concat(1) AS plain, ${db}.concat(1) AS qualified`);
    expect((rows as Array<Record<string, unknown>>)[0]).toEqual({ plain: '1', qualified: 42 });
  });

  it('runs the stored function in the forms the classifier once let by (SELECT HIGH_PRIORITY, CREATE TABLE event … SELECT, `--` + U+00A0, d.1e5(), CREATE TABLE … VALUES), and the classifier reads each as a call', async () => {
    await conn.query(`CREATE FUNCTION ${db}.mark(x INT) RETURNS INT NO SQL BEGIN SET @marked = x; RETURN x; END`);
    await conn.query(`CREATE FUNCTION ${db}.\`1e5\`(x INT) RETURNS INT NO SQL BEGIN SET @marked = x; RETURN x; END`);
    const forms = [
      'SELECT HIGH_PRIORITY mark(1)',
      'CREATE TABLE event SELECT mark(2) AS a',
      'CREATE TABLE function (a INT) SELECT mark(3) AS a',
      // MySQL takes U+00A0 for an identifier character: no comment, and mark runs.
      'SELECT 1 --\u00a0a, mark(4) FROM (SELECT 1 AS `\u00a0a`) t',
      // After a qualifier's dot, a number-like run is a name: d.`1e5`.
      `SELECT ${db}.1e5(5)`,
      // A table value constructor as CREATE TABLE's query runs now.
      'CREATE TABLE tvc AS VALUES (mark(6))',
      'CREATE TABLE tvc2 (a INT) VALUES (mark(7))',
    ];
    for (const [k, sql] of forms.entries()) {
      await conn.query('SET @marked = NULL');
      await conn.query(sql);
      const [rows] = await conn.query('SELECT @marked AS m');
      expect((rows as Array<{ m: unknown }>)[0]!.m, sql).toBe(k + 1);
      expect(classifyMysql(sql, { excludeVariableSets: false }), sql).toEqual({ kind: 'call', function: true });
    }
  });
});
