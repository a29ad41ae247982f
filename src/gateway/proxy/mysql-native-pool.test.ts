/**
 * The verdicts a MySQL native pool gives the native relay (no server is
 * involved: classify() only names settings and pins). The relay's use of
 * them runs against MariaDB in test/integration/proxy-mysql-session.test.ts.
 */
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerStatus } from '../../protocol/mysql/index.js';
import { nativeDataPath } from '../native-data-path.js';
import { MAX_SETTINGS_PER_POOL, MYSQL_VERDICT, MysqlNativePool } from './mysql-native-pool.js';
import { serverShape } from './mysql-server-link.js';
import { MYSQL_PIN_CODES } from './mysql-session-state.js';

const pools: MysqlNativePool[] = [];
afterAll(() => {
  for (const p of pools.splice(0)) p.close();
});

function pool(database = 'app'): MysqlNativePool {
  const loaded = nativeDataPath();
  expect(loaded.error?.message).toBeUndefined();
  const p = new MysqlNativePool({
    native: loaded.path!,
    target: () => undefined,
    user: 'u',
    database,
    shape: serverShape({ capabilities: 0x200, mariadbCapabilities: 0 }, 45, 1 << 24),
    credentials: () => Promise.reject(new Error('no login in this test')),
    settings: { maxConnectionsPercent: 100, maxIdleConnectionsPercent: 50, idleServerMs: 60_000, borrowTimeoutMs: 1_000, idleClientTimeoutMs: 0, debugSql: false },
    loginTimeoutMs: 1_000,
    maxMessageBytes: 1 << 24,
    profileOf: () => {
      throw new Error('no login in this test');
    },
    logger: pino({ level: 'silent' }),
  });
  pools.push(p);
  return p;
}

const AC = ServerStatus.SERVER_STATUS_AUTOCOMMIT;
const q = (text: string) => Buffer.from(text, 'utf8');

describe('MysqlNativePool verdicts', () => {
  it('names the settings a tracked SET leaves, and the commands that recreate them on a neutral connection', () => {
    const p = pool();
    const start = p.initialSettings;
    const v = p.classify('Q', q("SET time_zone = '+03:00'"), start.id, AC);
    expect(v.pin).toBe(0);
    expect(v.flags & MYSQL_VERDICT.SETTINGS).toBeTruthy();
    expect(v.flags & MYSQL_VERDICT.SETTING_ONLY).toBeTruthy();
    expect(v.settingsId).not.toBe(start.id);
    expect(v.settings.toString('latin1')).toContain("time_zone = '+03:00'");
    // The same settings reached again get the same id; a second SET builds on the first.
    expect(p.classify('Q', q("SET time_zone = '+03:00'"), start.id, AC).settingsId).toBe(v.settingsId);
    const w = p.classify('Q', q("SET sql_mode = 'ANSI'"), v.settingsId, AC);
    expect(w.settings.toString('latin1')).toMatch(/time_zone[\s\S]*sql_mode/);
  });

  it('follows autocommit and USE, and a reset goes back to the neutral settings with the current database', () => {
    const p = pool();
    const off = p.classify('Q', q('SET autocommit = 0'), p.initialSettings.id, AC);
    expect(off.flags & MYSQL_VERDICT.AUTOCOMMIT).toBe(0);
    const used = p.classify('D', q('other'), off.settingsId, 0);
    expect(used.settings.toString('latin1')).toContain('other');
    const reset = p.classify('R', Buffer.alloc(0), used.settingsId, 0);
    expect(reset.flags & MYSQL_VERDICT.AUTOCOMMIT).toBeTruthy();
    expect(reset.settings.toString('latin1')).toContain('other');
    expect(reset.settings.toString('latin1')).not.toContain('autocommit');
  });

  it('marks a database chosen in a pool without one as sticky (a reset cannot take it away)', () => {
    const p = pool('');
    const v = p.classify('Q', q('USE app'), p.initialSettings.id, AC);
    expect(v.flags & MYSQL_VERDICT.STICKY).toBeTruthy();
  });

  it('pins what it cannot carry, and a multi-item SET that fails', () => {
    const p = pool();
    expect(p.classify('Q', q("SET @x = 1"), p.initialSettings.id, AC).pin).toBe(MYSQL_PIN_CODES.UserVariable);
    expect(p.classify('P', q("SET time_zone = '+01:00'"), p.initialSettings.id, AC).pin).toBe(MYSQL_PIN_CODES.SessionVariable);
    const two = p.classify('Q', q("SET time_zone = '+01:00', sql_mode = ''"), p.initialSettings.id, AC);
    expect(two.flags & MYSQL_VERDICT.PIN_ON_ERROR).toBeTruthy();
  });

  it(`names at most ${MAX_SETTINGS_PER_POOL} settings per pool, then pins instead`, () => {
    const p = pool();
    const id = p.initialSettings.id;
    let last = 0;
    for (let i = 0; i < MAX_SETTINGS_PER_POOL + 10; i++) {
      last = p.classify('Q', q(`SET lock_wait_timeout = ${i + 1}`), id, AC).pin;
    }
    expect(last).toBe(MYSQL_PIN_CODES.SessionVariable);
    // Settings already named still work.
    expect(p.classify('Q', q('SET lock_wait_timeout = 1'), id, AC).pin).toBe(0);
  });
});
