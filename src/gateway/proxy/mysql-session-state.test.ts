import { describe, expect, it } from 'vitest';
import { neutralSettings, plan, withSets } from './mysql-client-state.js';
import { classifyMysql } from './mysql-session-state.js';

const off = { excludeVariableSets: false };
const on = { excludeVariableSets: true };

describe('classifyMysql', () => {
  it('leaves plain statements alone', () => {
    for (const sql of ['SELECT 1', 'select * from t where a = \'@x\'', 'INSERT INTO t VALUES (1, "get_lock(")', 'BEGIN', 'COMMIT', 'UPDATE t SET a = 1', 'SELECT @@session.time_zone', 'SELECT 1;', '/* c */ SELECT 1 -- x', 'SELECT `last_insert_id` FROM t']) {
      expect(classifyMysql(sql, off), sql).toEqual({ kind: 'none' });
    }
  });

  it('tracks SETs of RDS Proxy\'s variables with literal values, as statements to replay', () => {
    expect(classifyMysql("SET time_zone = '+05:00'", off)).toEqual({ kind: 'set', sets: [{ name: 'time_zone', sql: "SET SESSION time_zone = '+05:00'" }] });
    expect(classifyMysql("SET @@session.sql_mode = 'ANSI', NAMES latin1 COLLATE latin1_bin", off)).toEqual({
      kind: 'set',
      sets: [
        { name: 'sql_mode', sql: "SET SESSION sql_mode = 'ANSI'" },
        { name: 'names', sql: 'SET NAMES latin1 COLLATE latin1_bin' },
      ],
    });
    expect(classifyMysql('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', off)).toEqual({ kind: 'set', sets: [{ name: 'transaction_isolation', sql: 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED' }] });
    expect(classifyMysql('SET tx_isolation = \'SERIALIZABLE\'', off)).toMatchObject({ kind: 'set', sets: [{ name: 'transaction_isolation' }] });
    expect(classifyMysql('SET autocommit = 0', off)).toMatchObject({ kind: 'set' });
    expect(classifyMysql('SET GLOBAL max_connections = 10', off)).toEqual({ kind: 'none' });
  });

  it('tracks USE and DROP DATABASE', () => {
    expect(classifyMysql('USE `my db`', off)).toEqual({ kind: 'use', schema: 'my db' });
    expect(classifyMysql('use Other;', off)).toEqual({ kind: 'use', schema: 'Other' });
    expect(classifyMysql('DROP DATABASE IF EXISTS x', off)).toEqual({ kind: 'drop-database', schema: 'x' });
  });

  it('pins for what it cannot carry, with the reason', () => {
    const cases: Array<[string, string]> = [
      ['SET @x = 1', 'UserVariable'],
      ['SELECT @x := 1', 'UserVariable'],
      ['SELECT a INTO @x FROM t', 'UserVariable'],
      ['SET sort_buffer_size = 1000', 'SessionVariable'],
      ['SET time_zone = CONCAT(\'+0\', \'1:00\')', 'SessionVariable'],
      ['SET time_zone = @@global.time_zone', 'SessionVariable'],
      ['SET ROLE r', 'SessionVariable'],
      ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'TransactionCharacteristics'],
      ['PREPARE s FROM \'SELECT 1\'', 'SqlPrepare'],
      ['EXECUTE s', 'SqlPrepare'],
      ['DEALLOCATE PREPARE s', 'SqlPrepare'],
      ['CREATE TEMPORARY TABLE t (x INT)', 'TemporaryTable'],
      ['create or replace temporary table t (x int)', 'TemporaryTable'],
      ['LOCK TABLES t READ', 'TableLock'],
      ['FLUSH TABLES WITH READ LOCK', 'TableLock'],
      ['SELECT GET_LOCK(\'a\', 1)', 'NamedLock'],
      // ANSI_QUOTES makes a double-quoted name an identifier.
      ['SELECT "get_lock"(\'a\', 1)', 'NamedLock'],
      ['SELECT "LAST_INSERT_ID" ()', 'SessionFunction'],
      ['SELECT LAST_INSERT_ID()', 'SessionFunction'],
      ['SELECT SQL_CALC_FOUND_ROWS * FROM t', 'SessionFunction'],
      ['BACKUP STAGE START', 'TableLock'],
      ['backup stage block_commit', 'TableLock'],
      ['BACKUP LOCK t', 'TableLock'],
      ['CALL p(@x)', 'UserVariable'],
      ['HANDLER t OPEN', 'Handler'],
      ['XA START \'x\'', 'XaTransaction'],
      ['SELECT 1; SELECT 2', 'MultiStatement'],
      ['SELECT /*!50000 1 */', 'ExecutableComment'],
      ['SELECT /*M!100000 1 */', 'ExecutableComment'],
      ['SELECT \'unterminated', 'Unreadable'],
      ['SELECT 1 /* open', 'Unreadable'],
      [`SELECT '${'x'.repeat(16 * 1024)}'`, 'LongStatement'],
    ];
    for (const [sql, reason] of cases) expect(classifyMysql(sql, off), sql.slice(0, 60)).toEqual({ kind: 'pin', reason });
  });

  it('leaves a CALL to the pool (what the procedure does is not in the text)', () => {
    expect(classifyMysql('CALL p()', off)).toEqual({ kind: 'call' });
    expect(classifyMysql('call db.p(1, \'a\')', off)).toEqual({ kind: 'call' });
  });

  it('marks the functions that read the previous statement\'s leftovers', () => {
    expect(classifyMysql('SELECT ROW_COUNT()', off)).toEqual({ kind: 'pin', reason: 'SessionFunction', previous: true });
    expect(classifyMysql('SELECT @x, FOUND_ROWS()', off)).toEqual({ kind: 'pin', reason: 'UserVariable', previous: true });
    expect(classifyMysql('SELECT "row_count"()', off)).toEqual({ kind: 'pin', reason: 'SessionFunction', previous: true });
    // Wherever the statement has them: a SET's value, a CALL's argument, SET STATEMENT … FOR, a backticked name.
    for (const o of [off, on]) expect(classifyMysql('SET @rc = ROW_COUNT()', o)).toEqual({ kind: 'pin', reason: 'SessionFunction', previous: true });
    expect(classifyMysql('CALL p(FOUND_ROWS())', off)).toEqual({ kind: 'pin', reason: 'SessionFunction', previous: true });
    expect(classifyMysql('SET STATEMENT max_statement_time = 0 FOR SELECT ROW_COUNT()', off)).toEqual({ kind: 'pin', reason: 'SessionFunction', previous: true });
    expect(classifyMysql('SELECT `ROW_COUNT`()', off)).toEqual({ kind: 'pin', reason: 'SessionFunction', previous: true });
  });

  it('pins a SET that may turn session_track_state_change off (the safety net for what stored routines change), whatever the filters', () => {
    for (const o of [off, on]) {
      expect(classifyMysql('SET SESSION session_track_state_change = OFF', o)).toEqual({ kind: 'pin', reason: 'SessionVariable' });
      expect(classifyMysql('SET @@session.session_track_state_change = DEFAULT', o)).toEqual({ kind: 'pin', reason: 'SessionVariable' });
      expect(classifyMysql('SET sort_buffer_size = 1000, `session_track_state_change` = 0', o)).toEqual({ kind: 'pin', reason: 'SessionVariable' });
      expect(classifyMysql('SET STATEMENT session_track_state_change = OFF FOR SELECT f()', o)).toEqual({ kind: 'pin', reason: 'SessionVariable' });
    }
    // Turning it on changes nothing the proxy relies on.
    expect(classifyMysql('SET SESSION session_track_state_change = ON', on)).toEqual({ kind: 'excluded-set', sets: [] });
    expect(classifyMysql('SET STATEMENT session_track_state_change = 1 FOR SELECT 1', off)).toEqual({ kind: 'transient-set' });
  });

  it("tells SET STATEMENT … FOR (values that last one statement) from what keeps or hides state", () => {
    expect(classifyMysql('SET STATEMENT max_statement_time = 10 FOR SELECT COUNT(*) FROM t', off)).toEqual({ kind: 'transient-set' });
    // A stored function inside may do anything: a call, not a transient set.
    expect(classifyMysql('SET STATEMENT max_statement_time = 10 FOR SELECT app.f()', off)).toEqual({ kind: 'call', function: true });
    expect(classifyMysql('SET STATEMENT max_statement_time = f() FOR SELECT 1', off)).toEqual({ kind: 'call', function: true });
    // What the inner statement keeps still pins.
    expect(classifyMysql('SET STATEMENT max_statement_time = 10 FOR SELECT GET_LOCK(\'a\', 1)', off)).toMatchObject({ kind: 'pin' });
    expect(classifyMysql('SET GLOBAL max_connections = 10', off)).toEqual({ kind: 'none' });
  });

  it('reads a backslash both ways and pins when the readings disagree', () => {
    // With backslash escapes the string ends at the second quote; without, `; SET @x = 1` is outside it.
    expect(classifyMysql("SELECT 'a\\'; SET @x = 1 -- '", off)).toEqual({ kind: 'pin', reason: 'Unreadable' });
    expect(classifyMysql("SELECT 'a\\n'", off)).toEqual({ kind: 'none' });
  });

  it('EXCLUDE_VARIABLE_SETS lets SETs of variables through without pinning (tracked ones still tracked)', () => {
    expect(classifyMysql('SET sort_buffer_size = 1000', on)).toEqual({ kind: 'excluded-set', sets: [] });
    expect(classifyMysql('SET @x = 1', on)).toEqual({ kind: 'excluded-set', sets: [] });
    expect(classifyMysql("SET time_zone = '+01:00', sort_buffer_size = 1000", on)).toEqual({ kind: 'excluded-set', sets: [{ name: 'time_zone', sql: "SET SESSION time_zone = '+01:00'" }] });
    // A function that pins pins in an excluded SET too (the named lock would stay on a pooled connection).
    expect(classifyMysql("SET sort_buffer_size = GET_LOCK('l', 0) + 1000", on)).toEqual({ kind: 'pin', reason: 'NamedLock' });
    // Not a SET: still pins.
    expect(classifyMysql('CREATE TEMPORARY TABLE t (x INT)', on)).toEqual({ kind: 'pin', reason: 'TemporaryTable' });
  });
});

describe('plan', () => {
  const tz = { name: 'time_zone', sql: "SET SESSION time_zone = '+01:00'" };
  const mode = { name: 'sql_mode', sql: "SET SESSION sql_mode = 'ANSI'" };

  it('adds what the client has on top of what the connection carries when that is a prefix', () => {
    const server = withSets(neutralSettings('db'), [tz]);
    const client = withSets(neutralSettings('db'), [tz, mode]);
    expect(plan(server, client)).toEqual([{ kind: 'query', sql: mode.sql }]);
    expect(plan(client, client)).toEqual([]);
  });

  it('resets a connection carrying settings the client does not have, then replays the client\'s', () => {
    const server = withSets(neutralSettings('db'), [mode]);
    const client = { ...withSets(neutralSettings('other'), [tz]), autocommit: false };
    expect(plan(server, client)).toEqual([{ kind: 'reset' }, { kind: 'query', sql: tz.sql }, { kind: 'query', sql: 'SET autocommit = 0' }, { kind: 'init-db', schema: 'other' }]);
  });

  it('cannot unselect a database', () => {
    expect(plan(neutralSettings('db'), neutralSettings(null))).toBe('drop');
  });

  it('keeps the last SET of each variable, in the order last made', () => {
    const s = withSets(withSets(neutralSettings(null), [tz, mode]), [{ ...tz, sql: "SET SESSION time_zone = '+02:00'" }]);
    expect(s.sets.map((x) => x.sql)).toEqual([mode.sql, "SET SESSION time_zone = '+02:00'"]);
  });
});
