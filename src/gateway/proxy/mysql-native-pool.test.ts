/**
 * MysqlNativePool's verdicts, on the real native data path (a pool it
 * creates there; no server is logged in: classify reads text only). A
 * verdict is what native/my_pool.c acts on: a pin code, or the id of the
 * client's settings after the command and the commands that make a neutral
 * server connection carry them, with flags (MYSQL_VERDICT).
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { Capability } from '../../protocol/mysql/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { Command, PacketFramer } from '../../protocol/mysql/index.js';
import { nativeDataPath, type MysqlVerdict } from '../native-data-path.js';
import { MAX_INTERNED_BYTES, MAX_INTERNED_SETTINGS, MYSQL_VERDICT, MysqlNativePool } from './mysql-native-pool.js';
import { LONG_STATEMENT_BYTES, MYSQL_PIN_CODES, MYSQL_PIN_REASONS, mysqlPinReasonOf, type MysqlPinReason } from './mysql-session-state.js';

const pools: MysqlNativePool[] = [];

/** A pool of database `database` ('' for none, as when clients name no database), for clients with `capabilities`. */
function pool(database = 'db', capabilities = 0): MysqlNativePool {
  const p = new MysqlNativePool({
    native: nativeDataPath().path!,
    target: () => undefined,
    user: 'u',
    database,
    shape: { capabilities, mariadbCapabilities: 0, characterSet: 45, maxPacketSize: 1 << 24, key: 'k' },
    credentials: () => Promise.reject(new Error('no login in this test')),
    settings: { maxConnectionsPercent: 100, maxIdleConnectionsPercent: 50, idleServerMs: 1000, clientStallMs: 60_000, borrowTimeoutMs: 1000, idleClientTimeoutMs: 0, debugSql: false },
    loginTimeoutMs: 1000,
    maxMessageBytes: 1 << 24,
    profileOf: () => {
      throw new Error('no login in this test');
    },
    logger: pino({ level: 'silent' }),
  });
  pools.push(p);
  return p;
}

afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});

describe('MysqlNativePool.classify', () => {
  it('names a tracked SET\'s settings, once per distinct settings', () => {
    const p = pool();
    const neutral = p.initialSettings.id;
    const a = p.classify('Q', Buffer.from("SET SESSION time_zone = '+01:00'"), neutral, 0);
    expect(a.flags & MYSQL_VERDICT.SETTINGS).toBe(MYSQL_VERDICT.SETTINGS);
    expect(p.classify('Q', Buffer.from("SET time_zone = '+01:00'"), neutral, 0).settingsId).toBe(a.settingsId);
  });

  it('stops naming new settings past its bound (each distinct literal, even one the server refuses, was kept for ever): the client is pinned instead', () => {
    const p = pool();
    const neutral = p.initialSettings.id;
    let pinnedAt = -1;
    for (let i = 0; i < MAX_INTERNED_SETTINGS + 10 && pinnedAt < 0; i++) {
      const v = p.classify('Q', Buffer.from(`SET SESSION time_zone = 'zone-${i}'`), neutral, 0);
      if (v.pin !== 0) pinnedAt = i;
    }
    expect(pinnedAt).toBeGreaterThan(0);
    expect(pinnedAt).toBeLessThan(MAX_INTERNED_SETTINGS);
    expect(p.classify('Q', Buffer.from("SET SESSION time_zone = 'one-more'"), neutral, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.SessionVariable, flags: 0 });
    // Settings already named are still named, and a COM_RESET_CONNECTION is always answered with its settings.
    expect(p.classify('Q', Buffer.from("SET SESSION time_zone = 'zone-0'"), neutral, 0).pin).toBe(0);
    expect(p.classify('R', Buffer.alloc(0), neutral, 0)).toMatchObject({ pin: 0, settingsId: neutral });
  });

  it('lets a CALL run unpinned where the server reports state changes (reset after it), and pins it where it cannot', () => {
    const tracking = pool('db', Capability.CLIENT_SESSION_TRACK);
    // A routine may read ROW_COUNT() at its start: where another client's command ran last, DO 0 first (FRESH_ROWS).
    expect(tracking.classify('Q', Buffer.from('CALL p(1)'), tracking.initialSettings.id, 0)).toMatchObject({ pin: 0, flags: MYSQL_VERDICT.RESET_AFTER | MYSQL_VERDICT.FRESH_ROWS });
    const blind = pool();
    expect(blind.classify('Q', Buffer.from('call p()'), blind.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.StoredProcedure, flags: MYSQL_VERDICT.FRESH_ROWS });
    // A prepared CALL's executes carry no verdict: pinned either way.
    expect(tracking.classify('P', Buffer.from('CALL p(?)'), tracking.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.StoredProcedure });
    // A user variable passed to it pins as anywhere else.
    expect(tracking.classify('Q', Buffer.from('CALL p(@out)'), tracking.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.UserVariable });
  });

  it('handles a statement calling a stored function as a CALL (StoredFunction where it pins); built-ins run as any statement', () => {
    const tracking = pool('db', Capability.CLIENT_SESSION_TRACK);
    const blind = pool();
    expect(tracking.classify('Q', Buffer.from('SELECT f_lock()'), tracking.initialSettings.id, 0)).toMatchObject({ pin: 0, flags: MYSQL_VERDICT.RESET_AFTER | MYSQL_VERDICT.FRESH_ROWS });
    expect(blind.classify('Q', Buffer.from('SELECT db.f(1)'), blind.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.StoredFunction, flags: MYSQL_VERDICT.FRESH_ROWS });
    expect(tracking.classify('P', Buffer.from('SELECT f(?)'), tracking.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.StoredFunction });
    for (const p of [tracking, blind]) expect(p.classify('Q', Buffer.from("SELECT NOW(), CONCAT('a', b), COUNT(*) FROM t"), p.initialSettings.id, 0)).toMatchObject({ pin: 0, flags: 0 });
  });

  it('marks ROW_COUNT() and FOUND_ROWS() as valid only on a held connection; LAST_INSERT_ID() is not (its value is replayed)', () => {
    const p = pool();
    expect(p.classify('Q', Buffer.from('SELECT ROW_COUNT()'), p.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.SessionFunction, flags: MYSQL_VERDICT.HELD_ONLY });
    expect(p.classify('Q', Buffer.from('SELECT found_rows()'), p.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.SessionFunction, flags: MYSQL_VERDICT.HELD_ONLY });
    expect(p.classify('Q', Buffer.from('SELECT LAST_INSERT_ID()'), p.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.SessionFunction, flags: 0 });
  });
});

const q = (p: MysqlNativePool, sql: string, settingsId = p.initialSettings.id): MysqlVerdict => p.classify('Q', Buffer.from(sql), settingsId, 0);

/** The commands a verdict's settings are made with, as [command name, text]. */
function commands(settings: Buffer): Array<[string, string]> {
  const names = new Map<number, string>(Object.entries(Command).map(([k, v]) => [v, k]));
  return new PacketFramer().push(settings).map((p) => [names.get(p.payload[0]!) ?? String(p.payload[0]), p.payload.subarray(1).toString('utf8')]);
}

/** A verdict that pins for `reason`: no settings come with it. */
function pinnedFor(reason: MysqlPinReason): Partial<MysqlVerdict> {
  return { pin: MYSQL_PIN_CODES[reason], flags: 0, settingsId: 0 };
}

describe('MysqlNativePool.classify: autocommit', () => {
  it('starts clients with autocommit on', () => {
    const p = pool();
    expect(p.initialSettings.flags & MYSQL_VERDICT.AUTOCOMMIT).toBe(MYSQL_VERDICT.AUTOCOMMIT);
    expect(commands(p.initialSettings.commands)).toEqual([]);
  });

  it('turns autocommit off as a setting (the native side then holds the connection from the next statement): flag clear, replayed with SET autocommit = 0', () => {
    const p = pool();
    const off = q(p, 'SET autocommit = 0');
    expect(off.pin).toBe(0);
    expect(off.flags & (MYSQL_VERDICT.SETTINGS | MYSQL_VERDICT.SETTING_ONLY | MYSQL_VERDICT.AUTOCOMMIT)).toBe(MYSQL_VERDICT.SETTINGS | MYSQL_VERDICT.SETTING_ONLY);
    expect(off.settingsId).not.toBe(p.initialSettings.id);
    expect(commands(off.settings)).toEqual([['COM_QUERY', 'SET autocommit = 0']]);
    // Every spelling of off is the same settings.
    for (const sql of ['SET SESSION autocommit = OFF', "SET autocommit = 'off'", 'SET @@session.autocommit = false', 'set autocommit=0;']) expect(q(p, sql).settingsId, sql).toBe(off.settingsId);
  });

  it('keeps autocommit off across other settings, and turning it on again is the neutral settings again', () => {
    const p = pool();
    const off = q(p, 'SET autocommit = 0');
    const tz = q(p, "SET time_zone = '+01:00'", off.settingsId);
    expect(tz.flags & MYSQL_VERDICT.AUTOCOMMIT).toBe(0);
    expect(commands(tz.settings)).toEqual([
      ['COM_QUERY', "SET SESSION time_zone = '+01:00'"],
      ['COM_QUERY', 'SET autocommit = 0'],
    ]);
    const on = q(p, 'SET autocommit = 1', off.settingsId);
    expect(on).toMatchObject({ pin: 0, settingsId: p.initialSettings.id });
    expect(on.flags & MYSQL_VERDICT.AUTOCOMMIT).toBe(MYSQL_VERDICT.AUTOCOMMIT);
    expect(q(p, 'SET autocommit = ON', tz.settingsId).settingsId).toBe(q(p, "SET time_zone = '+01:00'").settingsId);
  });

  it('pins a SET of autocommit to a value it cannot read, rather than guess whether transactions now span statements', () => {
    const p = pool();
    expect(q(p, 'SET autocommit = 2')).toMatchObject(pinnedFor('SessionVariable'));
    expect(q(p, 'SET autocommit = DEFAULT')).toMatchObject(pinnedFor('SessionVariable'));
  });
});

describe('MysqlNativePool.classify: pins', () => {
  it('answers a statement that pins with its reason\'s code and no settings', () => {
    const p = pool();
    const cases: Array<[string, MysqlPinReason]> = [
      ['CREATE TEMPORARY TABLE t (x INT)', 'TemporaryTable'],
      ["SELECT GET_LOCK('l', 0)", 'NamedLock'],
      ['SET @v = 1', 'UserVariable'],
      ['SET sort_buffer_size = 1048576', 'SessionVariable'],
      ['LOCK TABLES t READ', 'TableLock'],
      ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'TransactionCharacteristics'],
      ['SELECT 1; SELECT 2', 'MultiStatement'],
      [`SELECT '${'x'.repeat(LONG_STATEMENT_BYTES)}'`, 'LongStatement'],
    ];
    for (const [sql, reason] of cases) {
      const v = q(p, sql);
      expect(v, reason).toMatchObject(pinnedFor(reason));
      expect(mysqlPinReasonOf(v.pin)).toBe(reason);
    }
  });

  it('pins a prepared statement that would change settings (its values are bound later) and lets other prepares through', () => {
    const p = pool();
    const prepare = (sql: string): MysqlVerdict => p.classify('P', Buffer.from(sql), p.initialSettings.id, 0);
    expect(prepare("SET time_zone = '+01:00'")).toMatchObject(pinnedFor('SessionVariable'));
    expect(prepare('USE other')).toMatchObject(pinnedFor('SessionVariable'));
    expect(prepare('CREATE TEMPORARY TABLE t (x INT)')).toMatchObject(pinnedFor('TemporaryTable'));
    expect(prepare('SELECT ? + 1')).toEqual({ pin: 0, flags: 0, settingsId: 0, settings: Buffer.alloc(0) });
  });

  it('numbers the reasons as native/my_pool.c does (MYPIN_*), and its verdict flags (MYV_*) as MYSQL_VERDICT', () => {
    const c = readFileSync(new URL('../../../native/my_pool.c', import.meta.url), 'utf8');
    const defines = (prefix: string): Record<string, number> => Object.fromEntries([...c.matchAll(new RegExp(`^#define ${prefix}(\\w+) (\\d+)`, 'gm'))].map((m) => [m[1]!, Number(m[2])]));
    const byNative: Record<string, MysqlPinReason> = { LONG: 'LongStatement', SESSION_VARIABLE: 'SessionVariable', CURSOR: 'Cursor', SET_OPTION: 'SetOption', STATE_CHANGE: 'StateChange' };
    const pins = defines('MYPIN_');
    expect(Object.keys(pins).sort()).toEqual(Object.keys(byNative).sort());
    for (const [name, code] of Object.entries(pins)) expect(MYSQL_PIN_CODES[byNative[name]!], name).toBe(code);
    expect(defines('MYV_')).toEqual(MYSQL_VERDICT);
    // Every reason has its own code, and each code names its reason back.
    const codes = Object.values(MYSQL_PIN_CODES);
    expect(new Set(codes).size).toBe(Object.keys(MYSQL_PIN_REASONS).length);
    for (const reason of Object.keys(MYSQL_PIN_REASONS) as MysqlPinReason[]) expect(mysqlPinReasonOf(MYSQL_PIN_CODES[reason])).toBe(reason);
    expect(codes).not.toContain(0);
  });
});

describe('MysqlNativePool.classify: databases', () => {
  it('carries USE and COM_INIT_DB as settings; in a pool without a database they are sticky (a reset cannot unselect one)', () => {
    for (const database of ['db', '']) {
      const p = pool(database);
      const use = q(p, 'USE other');
      const initDb = p.classify('D', Buffer.from('other'), p.initialSettings.id, 0);
      expect(initDb.settingsId).toBe(use.settingsId);
      expect(initDb.flags).toBe(use.flags);
      expect(commands(use.settings)).toEqual([['COM_INIT_DB', 'other']]);
      expect(use.flags & (MYSQL_VERDICT.SETTINGS | MYSQL_VERDICT.SETTING_ONLY)).toBe(MYSQL_VERDICT.SETTINGS | MYSQL_VERDICT.SETTING_ONLY);
      expect(use.flags & MYSQL_VERDICT.STICKY, `pool database '${database}'`).toBe(database === '' ? MYSQL_VERDICT.STICKY : 0);
      expect(p.initialSettings.flags & MYSQL_VERDICT.STICKY).toBe(0);
    }
  });

  it('COM_RESET_CONNECTION keeps the current database and drops the rest (settings, autocommit off)', () => {
    const p = pool();
    const other = q(p, 'USE other');
    const tz = q(p, "SET time_zone = '+01:00'", other.settingsId);
    const off = q(p, 'SET autocommit = 0', tz.settingsId);
    const reset = p.classify('R', Buffer.alloc(0), off.settingsId, 0);
    expect(reset).toMatchObject({ pin: 0, settingsId: other.settingsId });
    expect(reset.flags & (MYSQL_VERDICT.SETTINGS | MYSQL_VERDICT.SETTING_ONLY | MYSQL_VERDICT.AUTOCOMMIT)).toBe(MYSQL_VERDICT.SETTINGS | MYSQL_VERDICT.AUTOCOMMIT);
    expect(commands(reset.settings)).toEqual([['COM_INIT_DB', 'other']]);
    // In the pool's own database, a reset is the neutral settings.
    expect(p.classify('R', Buffer.alloc(0), tz.settingsId, 0).settingsId).not.toBe(p.initialSettings.id);
    expect(p.classify('R', Buffer.alloc(0), q(p, "SET time_zone = '+01:00'").settingsId, 0).settingsId).toBe(p.initialSettings.id);
  });

  it('DROP DATABASE of the current database leaves none; of another, nothing changes', () => {
    const p = pool('');
    const use = q(p, 'USE scratch');
    const dropped = q(p, 'DROP DATABASE scratch', use.settingsId);
    expect(dropped).toMatchObject({ pin: 0, settingsId: p.initialSettings.id });
    expect(dropped.flags & (MYSQL_VERDICT.SETTING_ONLY | MYSQL_VERDICT.STICKY)).toBe(0);
    expect(q(p, 'DROP DATABASE elsewhere', use.settingsId)).toEqual({ pin: 0, flags: 0, settingsId: 0, settings: Buffer.alloc(0) });
  });
});

describe('MysqlNativePool.classify: interning', () => {
  it('names each distinct settings once, for good: the same settings reached again get the same id, other settings another', () => {
    const p = pool();
    const tz = q(p, "SET time_zone = '+01:00'");
    const both = q(p, "SET sql_mode = 'ANSI'", tz.settingsId);
    expect(commands(both.settings)).toEqual([
      ['COM_QUERY', "SET SESSION time_zone = '+01:00'"],
      ['COM_QUERY', "SET SESSION sql_mode = 'ANSI'"],
    ]);
    // Setting what is already set changes nothing.
    expect(q(p, "SET sql_mode = 'ANSI'", both.settingsId).settingsId).toBe(both.settingsId);
    // Two SETs in one statement are the two in a row; a failure of such a SET leaves unknown state (PIN_ON_ERROR).
    const atOnce = q(p, "SET time_zone = '+01:00', sql_mode = 'ANSI'");
    expect(atOnce.settingsId).toBe(both.settingsId);
    expect(atOnce.flags & MYSQL_VERDICT.PIN_ON_ERROR).toBe(MYSQL_VERDICT.PIN_ON_ERROR);
    expect(both.flags & MYSQL_VERDICT.PIN_ON_ERROR).toBe(0);
    const ids = new Set([p.initialSettings.id, tz.settingsId, both.settingsId, q(p, "SET time_zone = '+02:00'").settingsId, q(p, "SET time_zone = '+01:00'", q(p, "SET sql_mode = 'ANSI'").settingsId).settingsId]);
    expect(ids.size).toBe(5);
  });

  it(`stops naming new settings once their commands take ${MAX_INTERNED_BYTES} bytes, before the count bound`, () => {
    const p = pool();
    // Each entry holds its key and its commands: about twice a SET of a long literal (under the 16 KB pin threshold).
    const literal = (i: number): string => `SET SESSION sql_mode = '${String(i).padStart(8, '0')}${'x'.repeat(LONG_STATEMENT_BYTES - 100)}'`;
    let pinnedAt = -1;
    for (let i = 0; i < MAX_INTERNED_SETTINGS && pinnedAt < 0; i++) if (q(p, literal(i)).pin !== 0) pinnedAt = i;
    const perEntry = 2 * LONG_STATEMENT_BYTES;
    // The bytes bound, not the count, stopped it (about 512 entries of 32 KB in 16 MB).
    expect(pinnedAt).toBeGreaterThan(MAX_INTERNED_BYTES / perEntry - 8);
    expect(pinnedAt).toBeLessThan(MAX_INTERNED_BYTES / (perEntry - 400) + 1);
    expect(pinnedAt).toBeLessThan(MAX_INTERNED_SETTINGS / 4);
    expect(q(p, literal(pinnedAt + 1))).toMatchObject(pinnedFor('SessionVariable'));
    // Named ones stay named.
    expect(q(p, literal(0)).pin).toBe(0);
  });

  it('past the bound, USE and COM_INIT_DB pin as a SET does', () => {
    const p = pool();
    for (let i = 0; i < MAX_INTERNED_SETTINGS; i++) q(p, `SET SESSION time_zone = 'zone-${i}'`);
    expect(q(p, 'USE other')).toMatchObject(pinnedFor('SessionVariable'));
    expect(p.classify('D', Buffer.from('other'), p.initialSettings.id, 0)).toMatchObject(pinnedFor('SessionVariable'));
  });
});

describe('MysqlNativePool.classify: SessionPinningFilters', () => {
  it('EXCLUDE_VARIABLE_SETS lets SETs of variables through unpinned (tracked ones still carried), and only while it is set', () => {
    const p = pool();
    expect(q(p, 'SET sort_buffer_size = 1048576')).toMatchObject(pinnedFor('SessionVariable'));
    expect(q(p, 'SET @v = 1')).toMatchObject(pinnedFor('UserVariable'));
    // Another filter is not this one.
    p.setPinningFilters(['EXCLUDE_SOMETHING_ELSE']);
    expect(q(p, 'SET sort_buffer_size = 1048576')).toMatchObject(pinnedFor('SessionVariable'));
    p.setPinningFilters(['EXCLUDE_VARIABLE_SETS']);
    const untracked = q(p, 'SET sort_buffer_size = 1048576');
    expect(untracked).toMatchObject({ pin: 0, settingsId: p.initialSettings.id });
    expect(untracked.flags & MYSQL_VERDICT.SETTINGS).toBe(MYSQL_VERDICT.SETTINGS);
    expect(q(p, 'SET @v = 1').pin).toBe(0);
    const mixed = q(p, "SET time_zone = '+01:00', sort_buffer_size = 1048576");
    expect(mixed.pin).toBe(0);
    expect(commands(mixed.settings)).toEqual([['COM_QUERY', "SET SESSION time_zone = '+01:00'"]]);
    // Not a SET: still pins.
    expect(q(p, 'CREATE TEMPORARY TABLE t (x INT)')).toMatchObject(pinnedFor('TemporaryTable'));
    p.setPinningFilters([]);
    expect(q(p, 'SET sort_buffer_size = 1048576')).toMatchObject(pinnedFor('SessionVariable'));
  });
});
