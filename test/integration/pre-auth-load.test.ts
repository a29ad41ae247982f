/**
 * Load on loopback from clients that never authenticate, against `iamdb
 * serve` as a process in front of private PostgreSQL 15 and MariaDB 10.11
 * servers: 2,000 idle connections to each endpoint plus 50 that send their
 * login a byte at a time, spread over loopback source addresses (as many
 * clients would be), while ordinary IAM logins keep working. It reports the
 * gateway's memory growth (resident set, from /proc) and checks that it
 * stays under 64 MB and that no server connection is held for a client that
 * has not authenticated.
 *
 * loginTimeoutMs is raised to two minutes so that the gateway holds every
 * idle connection for the whole measurement; the defaults of the pre-auth
 * caps (8,192 in total, 256 per source) admit them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodePacket } from '../../src/protocol/mysql/index.js';
import { ensureBuilt, IAMDB_BIN } from '../support/build.js';
import { getFreePort } from '../support/free-port.js';
import { mysqlHandshakeResponse, mysqlLoginAs, pgLoginAs, pgStartup, pgTls, rawConnect, readBytes, readMysqlPacket, signToken, type Endpoint } from '../support/gateway-clients.js';
import { ACCOUNT, iamAllowedEverywhere, newAccessKey, REGION } from '../support/iamdb.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import { startPostgres, type PgServer } from '../support/postgres-server.js';

const IDLE_PER_ENGINE = 2_000;
const SLOW_PER_ENGINE = 50;
const LOGINS_PER_ENGINE = 20;
const MAX_GROWTH_BYTES = 64 * 1024 * 1024;
const key = newAccessKey();
const pgUser = `load_pg_${randomBytes(3).toString('hex')}`;
const myUser = `load_my_${randomBytes(3).toString('hex')}`;

let pgServer: PgServer;
let myServer: MariaDbServer;
let dir: string;
let child: ChildProcess | undefined;
let pgEp: Endpoint;
let myEp: Endpoint;
let caPath: string;
const sockets: Socket[] = [];
const timers: NodeJS.Timeout[] = [];

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return Number(kb![1]) * 1024;
}

/** Source addresses 127.0.0.10, .11, …: about a hundred connections each, well under the per-source cap. */
function source(i: number): string {
  return `127.0.0.${10 + Math.floor(i / 100)}`;
}

beforeAll(async () => {
  ensureBuilt();
  [pgServer, myServer] = await Promise.all([startPostgres({ settings: { max_connections: 100 } }), startMariaDb({ extraArgs: ['--max-connections=100'] })]);
  dir = mkdtempSync(join(tmpdir(), 'iamdb-load-'));
  pgEp = { host: '127.0.0.1', port: await getFreePort() };
  myEp = { host: '127.0.0.1', port: await getFreePort() };
  writeFileSync(
    join(dir, 'iamdb.yaml'),
    stringify({
      account: ACCOUNT,
      region: REGION,
      stateDir: './state',
      log: { level: 'info' },
      gateway: { loginTimeoutMs: 120_000 },
      iam: iamAllowedEverywhere(key),
      instances: [
        { id: 'load-pg', engine: 'postgres', listen: `${pgEp.host}:${pgEp.port}`, target: `${pgServer.host}:${pgServer.port}`, master: { username: pgServer.superuser, password: pgServer.superuserPassword }, iamDatabaseAuthentication: true },
        { id: 'load-my', engine: 'mariadb', listen: `${myEp.host}:${myEp.port}`, target: `${myServer.host}:${myServer.port}`, master: { username: myServer.rootUser, password: myServer.rootPassword }, iamDatabaseAuthentication: true },
      ],
    }),
  );
  child = spawn(process.execPath, [IAMDB_BIN, 'serve', '--config', join(dir, 'iamdb.yaml')], {
    cwd: dir,
    env: { PATH: process.env['PATH'], IAMDB_MASTER_KEY: randomBytes(32).toString('hex') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if ((out.match(/endpoint listening/g) ?? []).length >= 2) resolve();
    });
    child!.on('exit', () => reject(new Error(`serve exited early:\n${out}`)));
  });
  caPath = join(dir, 'state', 'ca.pem');
  // One IAM user on each server, made as on RDS.
  const admin = new pg.Client({ host: pgServer.host, port: pgServer.port, user: pgServer.superuser, password: pgServer.superuserPassword, database: 'postgres' });
  await admin.connect();
  await admin.query(`DO $$ BEGIN CREATE ROLE rds_iam NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await admin.query(`CREATE USER ${pgUser}; GRANT rds_iam TO ${pgUser}`);
  await admin.end();
  const my = await mysql.createConnection({ host: myEp.host, port: myEp.port, user: myServer.rootUser, password: myServer.rootPassword });
  await my.query(`CREATE USER ${myUser} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`);
  await my.end();
}, 120_000);

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  child?.kill('SIGKILL');
  await Promise.all([pgServer?.stop(), myServer?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Sends `bytes` one byte every 100 ms until done or the socket closes. */
function trickle(s: Socket, bytes: Buffer): void {
  let at = 0;
  const t = setInterval(() => {
    if (at >= bytes.length || s.destroyed) return clearInterval(t);
    s.write(bytes.subarray(at, ++at));
  }, 100);
  timers.push(t);
}

async function logins(): Promise<void> {
  for (let i = 0; i < LOGINS_PER_ENGINE; i++) {
    expect(await pgLoginAs(pgEp, caPath, pgUser, signToken(pgEp, pgUser, key))).toBe(pgUser);
    expect(await mysqlLoginAs(myEp, caPath, myUser, signToken(myEp, myUser, key))).toBe(`${myUser}@%`);
  }
}

async function serverConnectionsHeldForGateway(): Promise<{ postgres: number; mariadb: number }> {
  const admin = new pg.Client({ host: pgServer.host, port: pgServer.port, user: pgServer.superuser, password: pgServer.superuserPassword, database: 'postgres' });
  await admin.connect();
  const pgRows = await admin.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> 'iamdb-control'`,
  );
  await admin.end();
  const my = await mysql.createConnection({ host: myServer.host, port: myServer.port, user: myServer.rootUser, password: myServer.rootPassword });
  // Everything but our own query and the gateway's control link (the master, idle in Sleep).
  const [rows] = await my.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND NOT (USER = ? AND COMMAND = 'Sleep')`,
    [myServer.rootUser],
  );
  await my.end();
  return { postgres: Number(pgRows.rows[0]!.n), mariadb: Number(rows[0]!['n']) };
}

/** Opens and closes `n` connections per engine: the gateway's heap has seen the allocation pattern before the baseline. */
async function churn(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const [p, m] = await Promise.all([rawConnect(pgEp, source(i)), rawConnect(myEp, source(i))]);
    await readMysqlPacket(m);
    p.destroy();
    m.destroy();
  }
}

it(`holds ${IDLE_PER_ENGINE} idle and ${SLOW_PER_ENGINE} slow unauthenticated clients per engine in under 64 MB, with no server connection for them, while IAM logins go on`, async () => {
  // Warm up: every code path of a login has run, and connections have come and gone, before the baseline.
  await logins();
  await churn(IDLE_PER_ENGINE / 2);
  const pid = child!.pid!;
  const before = rssBytes(pid);

  for (let i = 0; i < IDLE_PER_ENGINE; i++) {
    const [p, m] = await Promise.all([rawConnect(pgEp, source(i)), rawConnect(myEp, source(i))]);
    sockets.push(p, m);
    m.on('data', () => undefined); // the greeting
  }
  for (let i = 0; i < SLOW_PER_ENGINE; i++) {
    const t = await pgTls(pgEp, caPath, source(IDLE_PER_ENGINE + i));
    sockets.push(t);
    trickle(t, pgStartup(pgUser));
    const m = await rawConnect(myEp, source(IDLE_PER_ENGINE + i));
    sockets.push(m);
    await readMysqlPacket(m);
    trickle(m, encodePacket(await mysqlHandshakeResponse(myUser), 1));
  }
  // Every idle MySQL client has its greeting (the gateway has accepted and answered all of them).
  const lastMy = await rawConnect(myEp, '127.0.0.99');
  sockets.push(lastMy);
  await readBytes(lastMy, 4);

  await logins();
  const held = await serverConnectionsHeldForGateway();
  const after = rssBytes(pid);
  const growth = after - before;
  console.log(
    `[pre-auth load] ${IDLE_PER_ENGINE}+${SLOW_PER_ENGINE} unauthenticated clients per engine: gateway RSS ${(before / 2 ** 20).toFixed(1)} MB -> ${(after / 2 ** 20).toFixed(1)} MB (+${(growth / 2 ** 20).toFixed(1)} MB, ${Math.round(growth / (2 * (IDLE_PER_ENGINE + SLOW_PER_ENGINE)))} bytes per client); server connections held: ${JSON.stringify(held)}`,
  );
  expect(held).toEqual({ postgres: 0, mariadb: 0 });
  expect(growth).toBeLessThan(MAX_GROWTH_BYTES);
}, 120_000);
