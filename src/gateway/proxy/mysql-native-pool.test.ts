/**
 * MysqlNativePool's verdicts, on the real native data path (a pool it
 * creates there; no server is logged in: classify reads text only).
 */
import pino from 'pino';
import { Capability } from '../../protocol/mysql/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeDataPath } from '../native-data-path.js';
import { MAX_INTERNED_SETTINGS, MYSQL_VERDICT, MysqlNativePool } from './mysql-native-pool.js';
import { MYSQL_PIN_CODES } from './mysql-session-state.js';

const pools: MysqlNativePool[] = [];

function pool(capabilities = 0): MysqlNativePool {
  const p = new MysqlNativePool({
    native: nativeDataPath().path!,
    target: () => undefined,
    user: 'u',
    database: 'db',
    shape: { capabilities, mariadbCapabilities: 0, characterSet: 45, maxPacketSize: 1 << 24, key: 'k' },
    credentials: () => Promise.reject(new Error('no login in this test')),
    settings: { maxConnectionsPercent: 100, maxIdleConnectionsPercent: 50, idleServerMs: 1000, borrowTimeoutMs: 1000, idleClientTimeoutMs: 0, debugSql: false },
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
    const tracking = pool(Capability.CLIENT_SESSION_TRACK);
    expect(tracking.classify('Q', Buffer.from('CALL p(1)'), tracking.initialSettings.id, 0)).toMatchObject({ pin: 0, flags: MYSQL_VERDICT.RESET_AFTER });
    const blind = pool();
    expect(blind.classify('Q', Buffer.from('call p()'), blind.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.StoredProcedure, flags: 0 });
    // A prepared CALL's executes carry no verdict: pinned either way.
    expect(tracking.classify('P', Buffer.from('CALL p(?)'), tracking.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.StoredProcedure });
    // A user variable passed to it pins as anywhere else.
    expect(tracking.classify('Q', Buffer.from('CALL p(@out)'), tracking.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.UserVariable });
  });

  it('marks ROW_COUNT() and FOUND_ROWS() as valid only on a held connection; LAST_INSERT_ID() is not (its value is replayed)', () => {
    const p = pool();
    expect(p.classify('Q', Buffer.from('SELECT ROW_COUNT()'), p.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.SessionFunction, flags: MYSQL_VERDICT.HELD_ONLY });
    expect(p.classify('Q', Buffer.from('SELECT found_rows()'), p.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.SessionFunction, flags: MYSQL_VERDICT.HELD_ONLY });
    expect(p.classify('Q', Buffer.from('SELECT LAST_INSERT_ID()'), p.initialSettings.id, 0)).toMatchObject({ pin: MYSQL_PIN_CODES.SessionFunction, flags: 0 });
  });
});
