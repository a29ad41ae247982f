/**
 * What a client that has not authenticated can make the gateway hold, on
 * both engines, against real servers: messages bounded by what a login
 * needs, sequence ids checked from the header, caps on unauthenticated
 * connections per source and in total (with the engines' own "too many
 * connections" answers and one log line), and for MySQL no server
 * connection for a client that has not sent its login, and a bounded number
 * for logins in progress.
 *
 * loginTimeoutMs is two minutes here, far beyond each test's own timeout:
 * whatever the gateway ends, it ends because of the rule under test.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeErrPacket, decodeHandshakeV10, encodePacket } from '../../src/protocol/mysql/index.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import {
  collectUntilClose,
  mysqlHandshakeResponse,
  mysqlLoginAs,
  pgLoginAs,
  pgStartup,
  pgTls,
  rawConnect,
  readBytes,
  readMysqlPacket,
  signToken,
  type Endpoint,
} from '../support/gateway-clients.js';
import { iamAllowedEverywhere, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const pgServer = inject('iamdbPostgres');
const myServer = inject('iamdbMariaDb');
const suffix = randomBytes(3).toString('hex');
const pgIam = `pa_pg_${suffix}`;
const myIam = `pa_my_${suffix}`;
const key = newAccessKey();
const LONG = 120_000;


function instances(target: { my: { host: string; port: number; password: string; user: string } }): Array<Record<string, unknown>> {
  return [
    {
      id: 'pa-pg',
      engine: 'postgres',
      listen: 'auto',
      target: `${pgServer.host}:${pgServer.port}`,
      master: { username: pgServer.user, password: pgServer.password },
      iamDatabaseAuthentication: true,
    },
    {
      id: 'pa-my',
      engine: 'mariadb',
      listen: 'auto',
      target: `${target.my.host}:${target.my.port}`,
      master: { username: target.my.user, password: target.my.password },
      iamDatabaseAuthentication: true,
    },
  ];
}

const sharedMy = { host: myServer.host, port: myServer.port, user: myServer.user, password: myServer.password };

/** The gateway's greeting on a raw MySQL connection. */
async function mysqlGreeting(s: Socket): Promise<ReturnType<typeof decodeHandshakeV10>> {
  const p = await readMysqlPacket(s);
  return decodeHandshakeV10(p.payload);
}

describe('messages before authentication are bounded by what a login needs', () => {
  let gw: TestIamdb;
  let pgEp: Endpoint;
  let myEp: Endpoint;
  beforeAll(async () => {
    gw = await startIamdb({ iam: iamAllowedEverywhere(key), gateway: { loginTimeoutMs: LONG }, instances: instances({ my: sharedMy }) });
    pgEp = gw.endpoint('pa-pg');
    myEp = gw.endpoint('pa-my');
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('PostgreSQL: ends a connection whose password message announces 60 MiB, at its header', async () => {
    const t = await pgTls(pgEp, gw.caPath);
    const closed = collectUntilClose(t);
    t.write(pgStartup(`nobody_${suffix}`));
    // Wait for the request for a password ('R', length 8, code 3), then announce 60 MiB and send a little.
    const header = Buffer.alloc(5);
    header[0] = 0x70; // 'p'
    header.writeUInt32BE(60 << 20, 1);
    t.once('data', () => t.write(Buffer.concat([header, Buffer.alloc(4096, 0x41)])));
    const answer = await closed;
    expect(answer.subarray(0, 1).toString()).toBe('R');
    expect(answer.toString('latin1')).toContain('08P01');
    const ev = gw.authEvents().find((e) => e.dbUser === `nobody_${suffix}`);
    expect(ev?.decision).toBe('deny');
    expect(ev?.detail).toContain('declares 62914560 bytes');
  });

  it('MySQL: ends a connection whose handshake response comes in 16 MiB frames, at the first header', async () => {
    const s = await rawConnect(myEp);
    await mysqlGreeting(s);
    const closed = collectUntilClose(s);
    // A frame of 0xFFFFFF bytes (continued by another): announce it and send a little of it.
    s.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x01]), Buffer.alloc(8192, 0x42)]));
    await closed;
  });

  it('MySQL: ends a connection whose first packet carries the wrong sequence id', async () => {
    const s = await rawConnect(myEp);
    await mysqlGreeting(s);
    const closed = collectUntilClose(s);
    s.write(encodePacket(await mysqlHandshakeResponse('whoever'), 5));
    await closed;
  });
});

describe('caps on connections that have not authenticated', () => {
  let gw: TestIamdb;
  let pgEp: Endpoint;
  let myEp: Endpoint;
  const held: Socket[] = [];
  beforeAll(async () => {
    gw = await startIamdb({
      iam: iamAllowedEverywhere(key),
      gateway: { loginTimeoutMs: LONG, preAuth: { maxConnections: 8, maxConnectionsPerSource: 3 } },
      instances: instances({ my: sharedMy }),
    });
    pgEp = gw.endpoint('pa-pg');
    myEp = gw.endpoint('pa-my');
    // IAM users on both servers, created through the gateway as on RDS.
    const admin = new pg.Client({ host: pgServer.host, port: pgServer.port, user: pgServer.user, password: pgServer.password, database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE USER ${pgIam}; GRANT rds_iam TO ${pgIam}`);
    await admin.end();
    const my = await mysql.createConnection({ host: myEp.host, port: myEp.port, user: myServer.user, password: myServer.password });
    await my.query(`CREATE USER ${myIam} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`);
    await my.end();
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await gw?.stop();
  });

  /** Idle pre-auth connections, each confirmed accepted (MySQL: greeted; PostgreSQL: answered its SSLRequest). */
  async function idle(ep: Endpoint, from: string, n: number, engine: 'pg' | 'my'): Promise<Socket[]> {
    const out: Socket[] = [];
    for (let i = 0; i < n; i++) {
      const s = await rawConnect(ep, from);
      if (engine === 'my') await mysqlGreeting(s);
      else {
        s.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
        await readBytes(s, 1);
      }
      out.push(s);
      held.push(s);
    }
    return out;
  }

  it('refuses a fourth unauthenticated connection from one source with each engine\'s own words, while others log in', async () => {
    const mine = await idle(myEp, '127.0.0.2', 2, 'my');
    mine.push(...(await idle(pgEp, '127.0.0.2', 1, 'pg')));
    const refusedMy = collectUntilClose(await rawConnect(myEp, '127.0.0.2'));
    const errMy = decodeErrPacket((await refusedMy).subarray(4));
    expect(errMy.errno).toBe(1040);
    expect(errMy.message).toBe('Too many connections');
    const refusedPg = (await collectUntilClose(await rawConnect(pgEp, '127.0.0.2'))).toString('latin1');
    expect(refusedPg).toContain('53300');
    expect(refusedPg).toContain('sorry, too many clients already');
    // Another source is untouched.
    expect(await pgLoginAs(pgEp, gw.caPath, pgIam, signToken(pgEp, pgIam, key))).toBe(pgIam);
    expect(await mysqlLoginAs(myEp, gw.caPath, myIam, signToken(myEp, myIam, key))).toBe(`${myIam}@%`);
    const line = gw.logLines().find((l) => l['setting'] === 'gateway.preAuth.maxConnectionsPerSource');
    expect(line).toMatchObject({ source: '127.0.0.2', limit: 3, level: 40 });
    for (const s of mine) s.destroy();
  });

  it('refuses everyone past the total, and lets clients in again as unauthenticated ones leave', async () => {
    const a = await idle(pgEp, '127.0.0.3', 3, 'pg');
    const b = await idle(myEp, '127.0.0.4', 3, 'my');
    const c = await idle(myEp, '127.0.0.5', 2, 'my');
    const refused = (await collectUntilClose(await rawConnect(pgEp, '127.0.0.1'))).toString('latin1');
    expect(refused).toContain('53300');
    expect(gw.logLines().some((l) => l['setting'] === 'gateway.preAuth.maxConnections')).toBe(true);
    const leaving = a[0]!;
    const gone = new Promise((r) => leaving.once('close', r));
    leaving.destroy();
    await gone;
    // The gateway hears of the close asynchronously: a login may need a retry or two.
    let user = '';
    for (let i = 0; i < 50 && user === ''; i++) {
      user = await pgLoginAs(pgEp, gw.caPath, pgIam, signToken(pgEp, pgIam, key)).catch(() => '');
    }
    expect(user).toBe(pgIam);
    for (const s of [...a, ...b, ...c]) s.destroy();
  });

  it('stops counting a client once it has authenticated', async () => {
    const sessions = [];
    for (let i = 0; i < 4; i++) {
      const c = await mysql.createConnection({
        host: myEp.host,
        port: myEp.port,
        user: myIam,
        password: signToken(myEp, myIam, key),
        enableCleartextPlugin: true,
        ssl: { ca: readFileSync(gw.caPath) },
        localAddress: '127.0.0.6',
      });
      sessions.push(c);
    }
    // Four sessions from one source, over its cap of three: all authenticated, so all allowed.
    const [rows] = await sessions[3]!.query<mysql.RowDataPacket[]>('SELECT 1 AS one');
    expect(rows[0]!['one']).toBe(1);
    await idle(myEp, '127.0.0.6', 3, 'my');
    for (const c of sessions) await c.end();
  });
});

describe('MySQL: no server connection for a client that has not authenticated', () => {
  let server: MariaDbServer;
  let gw: TestIamdb;
  let ep: Endpoint;
  let root: mysql.Connection;
  const held: Socket[] = [];
  beforeAll(async () => {
    server = await startMariaDb({ extraArgs: ['--max-connections=20'] });
    gw = await startIamdb({
      iam: iamAllowedEverywhere(key),
      gateway: { loginTimeoutMs: LONG, maxServerLoginsInProgress: 2 },
      instances: [instances({ my: { host: server.host, port: server.port, user: server.rootUser, password: server.rootPassword } })[1]!],
    });
    ep = gw.endpoint('pa-my');
    root = await mysql.createConnection({ host: server.host, port: server.port, user: server.rootUser, password: server.rootPassword });
  }, 120_000);
  afterAll(async () => {
    for (const s of held) s.destroy();
    await root?.end();
    await gw?.stop();
    await server?.stop();
  });

  async function unauthenticatedOnServer(): Promise<number> {
    const [rows] = await root.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = 'unauthenticated user'");
    return Number(rows[0]!['n']);
  }

  it('greets 40 idle clients without opening a server connection, so direct logins still work at max_connections=20', async () => {
    for (let i = 0; i < 40; i++) {
      const s = await rawConnect(ep);
      await mysqlGreeting(s);
      held.push(s);
    }
    expect(await unauthenticatedOnServer()).toBe(0);
    const direct = await mysql.createConnection({ host: server.host, port: server.port, user: server.rootUser, password: server.rootPassword });
    await direct.end();
    const through = await mysql.createConnection({ host: ep.host, port: ep.port, user: server.rootUser, password: server.rootPassword });
    const [rows] = await through.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u');
    expect(String(rows[0]!['u'])).toMatch(/^root@/);
    await through.end();
    for (const s of held.splice(0)) s.destroy();
  });

  it('holds at most maxServerLoginsInProgress server connections for password logins that stall', async () => {
    const stalled: Socket[] = [];
    const switched: Array<Promise<unknown>> = [];
    // From six sources: one source may hold only a quarter of the places (the review's attack, below).
    for (let i = 0; i < 6; i++) {
      const s = await rawConnect(ep, `127.0.0.${20 + i}`);
      await mysqlGreeting(s);
      s.write(encodePacket(await mysqlHandshakeResponse(server.rootUser), 1));
      stalled.push(s);
      held.push(s);
      // Only logins holding a server connection get the server's scramble; the others wait.
      if (i < 2) switched.push(readMysqlPacket(s));
    }
    await Promise.all(switched);
    expect(await unauthenticatedOnServer()).toBeLessThanOrEqual(2);
    // The stalled clients give up; the places go to the next login.
    for (const s of stalled) s.destroy();
    const through = await mysql.createConnection({ host: ep.host, port: ep.port, user: server.rootUser, password: server.rootPassword });
    await through.end();
  });
});
