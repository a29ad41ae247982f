/**
 * Stored-function calls in MySQL statements (mysql-session-state.ts
 * callsRoutine), and the native filter's same rule (native/pg_scan.c): every
 * statement the classifier reads as a call must leave the native side, and
 * statements of built-ins only must not.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeDataPath, type NativeDataPath } from '../native-data-path.js';
import { MYSQL_FILTER_WORDS, classifyMysql } from './mysql-session-state.js';

const off = { excludeVariableSets: false };
const on = { excludeVariableSets: true };
const CALL = { kind: 'call', function: true };

const CALLS = [
  'SELECT f_lock()',
  'SELECT f(1), NOW()',
  'select F (1)',
  'SELECT d.f(2)',
  'SELECT d . f(3)',
  'SELECT `d`.`f`(3)',
  'SELECT `f`(4)',
  'SELECT "f"(4)',
  'SELECT d.concat(1)',
  'SELECT `concat`(1)',
  'SELECT "d".concat(1)',
  'SELECT `d` . concat (1)',
  'SELECT f/* c */(1)',
  'SELECT NOW ()',
  'SELECT COUNT (*) FROM t',
  'SELECT now/**/()',
  'SELECT a FROM t WHERE b = my_check(a)',
  'UPDATE t SET a = f(a)',
  'INSERT INTO t (a) VALUES (f(1))',
  'INSERT INTO t SELECT f(a) FROM u',
  'DELETE FROM t WHERE f(a)',
  'DO f()',
  'SELECT * FROM JSON_TABLE(\'[]\', \'$[*]\' COLUMNS (a INT PATH \'$\')) AS j',
  'CREATE TABLE t2 (a INT(11)) SELECT f(1) AS a',
  'CREATE TABLE t2 AS SELECT d.f(1) AS a',
  'SET STATEMENT max_statement_time = 5 FOR SELECT f(1)',
  'SHOW TABLES WHERE f(1)',
  'SELECT $f(1)',
  'SELECT 1f()',
  'SELECT against(1), a + escape (2)',
  'SELECT 1now()',
  'SELECT d.1f()',
  'SELECT d.1e5()',
  // A table value constructor is the query of a CREATE TABLE too: it runs now.
  'CREATE TABLE t2 AS VALUES (f(1))',
  'CREATE TABLE t2 (a INT) VALUES (f(1))',
  'CREATE OR REPLACE TABLE t2 AS (VALUES (d.f(1)))',
  'SELECT `d`.123(1)',
  'WITH a AS (SELECT 1), b (x) AS (SELECT 2) SELECT * FROM b',
  // HIGH_PRIORITY is a SELECT modifier too: the name after it is no object.
  'SELECT HIGH_PRIORITY f(1)',
  'SELECT HIGH_PRIORITY d.f(1)',
  // EVENT, VIEW, FUNCTION and PACKAGE are not reserved: here they name the table whose SELECT runs now.
  'CREATE TABLE event SELECT f(1) AS a',
  'CREATE OR REPLACE TABLE d.view AS SELECT f(1) AS a',
  'CREATE TABLE function (a INT) SELECT f(1) AS a',
  // `--` and U+00A0 is no comment to MySQL (U+00A0 is an identifier character): f runs.
  'SELECT 1 --\u00a0a, f(1) FROM (SELECT 1 AS `\u00a0a`) t',
];

const NOT_CALLS = [
  "SELECT NOW(), CONCAT('a', 'b'), COUNT(*), COALESCE(NULL, 1), IFNULL(a, 0), DATE_FORMAT(NOW(), '%Y') FROM t",
  'SELECT CAST(a AS DECIMAL(10, 2)), CONVERT(a, CHAR(10)), SUBSTRING(a, 1, 2), TRIM(a), EXTRACT(YEAR FROM d) FROM t',
  'SELECT concat (1), UPPER (a), JSON_EXTRACT(j, \'$.a\') FROM t',
  'SELECT a FROM t WHERE a IN (1, 2) AND EXISTS (SELECT 1) OR NOT (a = 1)',
  'SELECT SUM(a) OVER (PARTITION BY b) FROM t GROUP BY (a) HAVING (COUNT(*) > 1)',
  'INSERT INTO t (a, b) VALUES (1, 2)',
  'INSERT INTO d.t (a) VALUES (1)',
  'INSERT t (a) VALUE (1)',
  'INSERT IGNORE INTO t (a) VALUES (1)',
  'INSERT LOW_PRIORITY t (a) VALUES (1)',
  'REPLACE INTO `t` (a) VALUES (1)',
  "REPLACE t (a) VALUES (REPLACE('a', 'b', 'c'))",
  'WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) SELECT * FROM c',
  'WITH c (n) AS (SELECT 1) SELECT * FROM c',
  'CREATE TABLE t2 (a INT(11), b VARCHAR(20), KEY k (a), CONSTRAINT fk FOREIGN KEY (a) REFERENCES t (id))',
  'ALTER TABLE t ADD INDEX i2 (a), ADD COLUMN c DECIMAL(5, 2)',
  'CREATE TABLE t2 (a INT) PARTITION BY LIST (a) (PARTITION p0 VALUES IN (1, 2))',
  'CREATE INDEX i3 ON t (a)',
  'CREATE PROCEDURE p() SELECT f(1)',
  'CREATE FUNCTION f(x INT) RETURNS INT NO SQL RETURN g(x)',
  'CREATE VIEW v AS SELECT f(1)',
  'SELECT a FROM t USE INDEX (i) JOIN u USING (a)',
  'SELECT a FROM t PARTITION (p0)',
  'SELECT t.a, d.t.b FROM d.t',
  "SELECT 'f(1)', \"x\" FROM t",
  'SELECT 1.5 * (2)',
  "SELECT a FROM t WHERE MATCH (a, b) AGAINST ('x' IN BOOLEAN MODE) AND b LIKE 'y!%' ESCAPE ('!')",
  'SELECT 1e5 * (2), 0x1F, 0b101, 1.5e-3 * (1), 2E+3',
];

describe('stored-function calls', () => {
  it('reads a name before ( that is not a built-in, a qualified name and a quoted one as a call', () => {
    for (const sql of CALLS) expect(classifyMysql(sql, off), sql).toEqual(CALL);
  });

  it('does not read built-ins, grammar, objects (INSERT INTO t (…)) or definitions as calls', () => {
    for (const sql of NOT_CALLS) expect(classifyMysql(sql, off), sql).toEqual({ kind: 'none' });
  });

  it('lets a pin win, and calls a SET whose value a stored function computes under EXCLUDE_VARIABLE_SETS', () => {
    expect(classifyMysql('SELECT f(1), GET_LOCK(\'x\', 0)', off)).toEqual({ kind: 'pin', reason: 'NamedLock' });
    expect(classifyMysql('SELECT f(1) INTO @x', off)).toEqual({ kind: 'pin', reason: 'UserVariable' });
    expect(classifyMysql('SELECT f(ROW_COUNT())', off)).toEqual({ kind: 'pin', reason: 'SessionFunction', previous: true });
    expect(classifyMysql('SET SESSION sort_buffer_size = f(1)', off)).toEqual({ kind: 'pin', reason: 'SessionVariable' });
    expect(classifyMysql('SET SESSION sort_buffer_size = f(1)', on)).toEqual(CALL);
    expect(classifyMysql('SET SESSION sort_buffer_size = CONCAT(1)', on)).toEqual({ kind: 'excluded-set', sets: [] });
    expect(classifyMysql('CALL p(f(1))', off)).toEqual({ kind: 'call' });
    // Nor does a comment the server does not see hide a pin.
    expect(classifyMysql("SELECT 1 --\u00a0a, GET_LOCK('x', 0) FROM (SELECT 1 AS `\u00a0a`) t", off)).toEqual({ kind: 'pin', reason: 'NamedLock' });
    expect(classifyMysql("SELECT 1 --\u3000a, @x := 1 FROM (SELECT 1 AS `\u3000a`) t", off)).toMatchObject({ kind: 'pin', reason: 'UserVariable' });
  });
});

describe('the native filter (native/pg_scan.c) on stored-function calls', () => {
  let native: NativeDataPath;
  beforeAll(() => {
    const loaded = nativeDataPath();
    // The suite runs where `npm ci` built the addon; a missing build must fail here, not skip.
    expect(loaded.error?.message).toBeUndefined();
    native = loaded.path!;
    native.setScanWords(MYSQL_FILTER_WORDS, true);
  });

  it("pins a MariaDB sequence's NEXTVAL and LASTVAL (the session's last value, as LAST_INSERT_ID()), in both spellings, and sends them up", () => {
    for (const sql of ['SELECT NEXTVAL(s)', 'SELECT LASTVAL(d.s)', 'INSERT INTO t VALUES (NEXT VALUE FOR s)', 'SELECT previous value for s']) {
      expect(classifyMysql(sql, off), sql).toEqual({ kind: 'pin', reason: 'SessionFunction' });
      expect(native.scan(Buffer.from(sql), true), sql).not.toBe(0);
    }
  });

  it('sends every statement the classifier reads as a call to it', () => {
    for (const sql of CALLS) expect(native.scan(Buffer.from(sql), true), sql).not.toBe(0);
  });

  it('keeps statements of built-ins, objects and definitions on the native side', () => {
    for (const sql of NOT_CALLS.filter((s) => !/^(CREATE (PROCEDURE|FUNCTION|VIEW))/.test(s))) expect(native.scan(Buffer.from(sql), true), sql).toBe(0);
  });

  it('never keeps a statement the classifier does not leave alone (a corpus of variations)', () => {
    const names = ['f', 'd.f', '`f`', 'now', 'NOW ', 'concat', 'concat ', 'd.concat', 'count ', 'json_table', 'x', 'in ', 'into'];
    const shapes = ['SELECT $(1)', 'SELECT a FROM t WHERE $(a)', 'INSERT INTO t (a) VALUES ($(1))', 'INSERT INTO $(a) VALUES (1)', 'UPDATE t SET a = $(a)', 'CREATE TABLE t2 (a INT) SELECT $(1)', 'DO $()', 'SELECT 1 -- $(\n, $(2)', 'SELECT /* $( */ $(2)'];
    for (const shape of shapes) {
      for (const name of names) {
        const sql = shape.replaceAll('$', name);
        let effect: unknown;
        try {
          effect = classifyMysql(sql, off);
        } catch {
          continue;
        }
        if ((effect as { kind: string }).kind !== 'none') expect(native.scan(Buffer.from(sql), true), sql).not.toBe(0);
      }
    }
  });

  it('never keeps a statement the classifier does not leave alone (random token runs, fixed seed)', () => {
    // Names of every kind the rule tells apart, and what may come between a name and its `(`.
    const parts = ['f', 'db', 'now', 'count', 'concat', 'into', 'table', 'insert', 'with', 'create', 'alter', 'select', 'values', 'in', 'int', 'x',
      '`f`', '`now`', '"f"', "'s'", '(', ')', '.', ',', ' ', ' ', '/* c */', '-- c\n', '1', '0x', '=', '*', '$', 'against', "'a'"];
    let seed = 0x2545f491;
    const next = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let calls = 0;
    for (let k = 0; k < 20000; k++) {
      const run = Array.from({ length: 2 + next(9) }, () => parts[next(parts.length)]!);
      const sql = (next(2) ? 'SELECT ' : next(2) ? 'INSERT ' : 'CREATE TABLE t ') + run.join('');
      const effect = classifyMysql(sql, off);
      if (effect.kind === 'none') continue;
      if (effect.kind === 'call') calls++;
      expect(native.scan(Buffer.from(sql), true), sql).not.toBe(0);
    }
    // The run reaches the rule, not only unreadable text.
    expect(calls).toBeGreaterThan(500);
  });
});
