/**
 * The PostgreSQL pin rules, statement by statement: each documented cause
 * pins with its reason, and look-alikes that leave no session state do not
 * (a column named temp, SET LOCAL, the transaction-level advisory locks, a
 * function name inside a string). What cannot be read pins.
 */
import { describe, expect, it } from 'vitest';
import { PG_FILTER_WORDS, PIN_REASONS, classifyPostgres, pinReasonOf } from './session-state.js';

describe('classifyPostgres', () => {
  it.each([
    ['SET search_path TO x', 'SessionSetting'],
    ['reset all', 'SessionSetting'],
    ["UPDATE pg_settings SET setting = 'x' WHERE name = 'work_mem'", 'SessionSetting'],
    ["SELECT set_config('work_mem', '8MB', false)", 'SetConfig'],
    ["SELECT set_config('work_mem', '8MB', is_local)", 'SetConfig'],
    ['PREPARE p AS SELECT 1', 'SqlPrepare'],
    ['EXECUTE p', 'SqlPrepare'],
    ['DEALLOCATE ALL', 'SqlPrepare'],
    ['DISCARD TEMP', 'Discard'],
    ['CREATE TEMP TABLE t (x int)', 'TemporaryObject'],
    ['CREATE GLOBAL TEMPORARY TABLE t (x int)', 'TemporaryObject'],
    ['SELECT 1 INTO TEMP t', 'TemporaryObject'],
    ['SELECT * FROM pg_temp.t', 'TemporaryObject'],
    ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', 'HoldCursor'],
    ['LISTEN ch', 'Listen'],
    ["LOAD 'auto_explain'", 'Load'],
    ["SELECT nextval('s')", 'Sequence'],
    ["SELECT setval('s', 4)", 'Sequence'],
    ['SELECT pg_advisory_lock(1)', 'AdvisoryLock'],
    ['SELECT pg_try_advisory_lock_shared(1, 2)', 'AdvisoryLock'],
    ["DO $$ BEGIN PERFORM 1; END $$", 'DoBlock'],
    ["SELECT dblink_connect('c', 'dbname=x')", 'DblinkConnection'],
    ['SELECT setseed(0.5)', 'RandomSeed'],
    ['SELECT 1; SET work_mem = 1', 'SessionSetting'],
    ["SELECT 'unterminated", 'Unreadable'],
    ['SELECT U&"set\\005Fconfig"(1)', 'Unreadable'],
  ])('%s pins: %s', (text, reason) => {
    expect(classifyPostgres(text)).toBe(reason);
  });

  it.each([
    'SELECT 1',
    'SET LOCAL work_mem = 1',
    'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
    'SET CONSTRAINTS ALL DEFERRED',
    "SELECT set_config('work_mem', '8MB', true)",
    "PREPARE TRANSACTION 'gx'",
    'DECLARE c CURSOR FOR SELECT 1',
    'SELECT temp FROM readings',
    'SELECT pg_advisory_xact_lock(1)',
    "SELECT 'setseed(1) and nextval(x) in a string'",
    'SELECT random()',
    "SELECT currval('s')",
  ])('%s leaves no session state', (text) => {
    expect(classifyPostgres(text)).toBeUndefined();
  });

  it('gives every reason a stable, distinct code the native side can report back', () => {
    const codes = Object.values(PIN_REASONS).map((r) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [name, r] of Object.entries(PIN_REASONS)) expect(pinReasonOf(r.code)).toBe(name);
  });

  it('asks the native filter to look for every function that pins', () => {
    const words = new Set(PG_FILTER_WORDS.map(([w]) => w));
    for (const fn of ['set_config', 'nextval', 'setval', 'pg_advisory_lock', 'dblink_connect', 'setseed']) expect(words.has(fn)).toBe(true);
  });
});
