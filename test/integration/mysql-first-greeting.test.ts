/**
 * The very first client of a fresh iamdb is greeted as every later one is:
 * the server profile comes from a real server greeting (a login of the
 * gateway's own, profile-login.ts) before the first client, on an instance
 * endpoint and on a proxy endpoint alike. Greetings are read byte by byte
 * from a raw socket, so nothing between the test and the bytes can fill in
 * what the gateway left out.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { MariadbCapability } from '../../src/protocol/mysql/index.js';
import { waitFor } from '../support/exec.js';
import { startIamdb, type TestIamdb } from '../support/iamdb.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import { one, startMysqlProxyFixture, type MysqlProxyFixture } from '../support/mysql-proxy-fixture.js';

const server = inject('iamdbMariaDb');

interface RawGreeting {
  readonly capabilityFlags: number;
  /** The 4 bytes at the end of the 10-byte filler, when CLIENT_MYSQL (bit 0) is clear; 0 otherwise. */
  readonly mariadbCapabilities: number;
  readonly serverVersion: string;
}

/** Connects, reads the first packet (the greeting) and takes its fields apart by hand. */
function rawGreeting(port: number): Promise<RawGreeting> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed before a whole greeting')));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4 || buf.length < 4 + buf.readUIntLE(0, 3)) return;
      const p = buf.subarray(4, 4 + buf.readUIntLE(0, 3));
      s.destroy();
      if (p[0] !== 10) return reject(new Error(`not a HandshakeV10: 0x${p[0]!.toString(16)}`));
      const nul = p.indexOf(0, 1);
      const serverVersion = p.subarray(1, nul).toString('latin1');
      let i = nul + 1 + 4 + 8 + 1; // connection id, auth-plugin-data part 1, filler
      const lower = p.readUInt16LE(i);
      i += 2 + 1 + 2; // lower capabilities, character set, status
      const upper = p.readUInt16LE(i);
      i += 2 + 1; // upper capabilities, auth-plugin-data length
      const capabilityFlags = (lower | (upper << 16)) >>> 0;
      const mariadbCapabilities = (capabilityFlags & 1) === 0 ? p.readUInt32LE(i + 6) : 0;
      resolve({ capabilityFlags, mariadbCapabilities, serverVersion });
    });
  });
}

describe('the first greeting of an instance endpoint', () => {
  let gw: TestIamdb | undefined;
  afterAll(async () => {
    await gw?.stop();
  });

  it('carries the capabilities and MariaDB extended capabilities a greeting after a server login carries', async () => {
    gw = await startIamdb({
      instances: [
        {
          id: 'first-greet',
          engine: 'mariadb',
          listen: 'auto',
          target: `${server.host}:${server.port}`,
          targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
          master: { username: server.user, password: server.password },
        },
      ],
    });
    const { port } = gw.endpoint('first-greet');
    const first = await rawGreeting(port);

    // A server login through the endpoint: its server greeting refreshes the profile.
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: server.user, password: server.password, ssl: { ca: readFileSync(gw.caPath) } });
    expect(await one<number>(c, 'SELECT 1')).toBe(1);
    await c.end();
    const later = await rawGreeting(port);

    expect(first.serverVersion).toBe(later.serverVersion);
    expect(first.capabilityFlags.toString(16)).toBe(later.capabilityFlags.toString(16));
    expect(first.mariadbCapabilities.toString(16)).toBe(later.mariadbCapabilities.toString(16));
    // MariaDB 10.11 has extended metadata, the one extended capability the gateway passes on.
    expect(first.mariadbCapabilities & MariadbCapability.MARIADB_CLIENT_EXTENDED_METADATA).not.toBe(0);
  });
});

describe('the first greeting of a proxy endpoint', () => {
  let fx: MysqlProxyFixture<'app'> | undefined;
  afterAll(async () => {
    await fx?.stop();
  });

  it('carries the capabilities and MariaDB extended capabilities a greeting after a pool login carries', async () => {
    fx = await startMysqlProxyFixture('fg', { users: { app: 'native' }, pool: { MaxConnectionsPercent: 100 } });
    const first = await rawGreeting(fx.port);

    const c = await fx.connect(fx.users.app);
    expect(await one<number>(c, 'SELECT 1')).toBe(1);
    await c.end();
    const later = await rawGreeting(fx.port);

    expect(first.serverVersion).toBe(later.serverVersion);
    expect(first.capabilityFlags.toString(16)).toBe(later.capabilityFlags.toString(16));
    expect(first.mariadbCapabilities.toString(16)).toBe(later.mariadbCapabilities.toString(16));
    expect(first.mariadbCapabilities & MariadbCapability.MARIADB_CLIENT_EXTENDED_METADATA).not.toBe(0);
  });
});

describe('the login that learns the profile', () => {
  let srv: MariaDbServer | undefined;
  let gw: TestIamdb | undefined;
  afterAll(async () => {
    await gw?.stop();
    await srv?.stop();
  });

  it('completes as the master and quits: the server counts no aborted connect, aborted client or denied login', async () => {
    // A server of its own: the counters below are global, and other test files share the run's server.
    srv = await startMariaDb({ tls: true });
    const admin = await mysql.createConnection({ host: srv.host, port: srv.port, user: srv.rootUser, password: srv.rootPassword, ssl: { ca: readFileSync(srv.caCertPath!) } });
    try {
      const status = async (): Promise<Record<string, number>> => {
        const [rows] = await admin.query<mysql.RowDataPacket[]>(
          "SHOW GLOBAL STATUS WHERE Variable_name IN ('Aborted_connects', 'Aborted_clients', 'Access_denied_errors', 'Connections')",
        );
        return Object.fromEntries(rows.map((r) => [String(r['Variable_name']), Number(r['Value'])]));
      };
      const before = await status();
      gw = await startIamdb({
        instances: [{ id: 'own-server', engine: 'mariadb', listen: 'auto', target: `${srv.host}:${srv.port}`, master: { username: srv.rootUser, password: srv.rootPassword } }],
      });
      const first = await rawGreeting(gw.endpoint('own-server').port);
      expect(first.mariadbCapabilities & MariadbCapability.MARIADB_CLIENT_EXTENDED_METADATA).not.toBe(0);
      // The profile login has come (one connection more) and gone (only this admin session is left).
      await waitFor(
        'the profile login to end',
        async () => {
          const [rows] = await admin.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon' AND ID <> CONNECTION_ID()");
          if (Number(rows[0]!['n']) !== 0) throw new Error(`${String(rows[0]!['n'])} other sessions`);
        },
        10_000,
      );
      const after = await status();
      expect(after['Connections']! - before['Connections']!).toBe(1);
      expect(after['Aborted_connects']! - before['Aborted_connects']!).toBe(0);
      expect(after['Aborted_clients']! - before['Aborted_clients']!).toBe(0);
      expect(after['Access_denied_errors']! - before['Access_denied_errors']!).toBe(0);
    } finally {
      await admin.end();
    }
  });
});
