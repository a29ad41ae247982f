/**
 * One PostgreSQL proxy made the way a user makes it, through the RDS API:
 * two secrets (a password user and an IAM user), the role trusting
 * rds.amazonaws.com, CreateDBProxy with `iamdb:listen`, the target
 * registered, a pool of two server connections. Test files that exercise
 * the pooled relay share this setup instead of each writing it again.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { expect, inject } from 'vitest';
import type { PoolStats } from '../../src/gateway/proxy/postgres-pool.js';
import { runPsql } from './clients.js';
import { getFreePort } from './free-port.js';
import { newAccessKey, startIamdb, type TestIamdb } from './iamdb.js';
import { aliceMayConnect, createProxy, iamToken, proxyDbUserArn } from './proxy-fixture.js';

export interface PostgresProxyFixture {
  readonly iamdb: TestIamdb;
  readonly server: ReturnType<typeof inject<'iamdbPostgres'>>;
  /** The proxy endpoint's port on 127.0.0.1. */
  readonly port: number;
  readonly proxyName: string;
  /** The password user (IAMAuth DISABLED, SCRAM) and its password. */
  readonly user: string;
  readonly password: string;
  /** The IAM user (IAMAuth REQUIRED); alice may connect as it. */
  readonly iamUser: string;
  readonly aliceKey: { id: string; secret: string };
  readonly database: string;
  /** PEM of the test server's CA and of iamdb's. */
  readonly serverCa: string;
  readonly iamdbCa: string;
  readonly iamdbCaPath: string;
  /** A superuser connection straight to the server, in the fixture's database. */
  admin(): pg.Client;
  /** A pg client of the password user through the proxy. */
  client(): pg.Client;
  /** A fresh IAM token for `iamUser` at the proxy endpoint. */
  token(): string;
  /** The counters of `dbUser`'s pool (there is one per user here). */
  poolStats(dbUser?: string): PoolStats;
  /** Server connections `dbUser` has open, as the server sees them. */
  serverBackends(dbUser?: string): Promise<number>;
  stop(): Promise<void>;
}

/** max_connections is 300 on the test server, 3 reserved for superusers: 1 % is a pool of two. */
export const FIXTURE_POOL_SIZE = 2;

export interface FixtureOptions {
  /** proxyEndpoints.idleServerSeconds (default: the config's). */
  readonly idleServerSeconds?: number;
  /** proxyEndpoints.clientStallSeconds. */
  readonly clientStallSeconds?: number;
  /** The target's targetTls (default: the config's, `prefer`: pooled server connections are TLS). */
  readonly targetTls?: Record<string, unknown>;
  /** Another server than the shared one (e.g. one without TLS). */
  readonly server?: ReturnType<typeof inject<'iamdbPostgres'>>;
}

export async function startPostgresProxyFixture(prefix: string, opts: FixtureOptions = {}): Promise<PostgresProxyFixture> {
  const server = opts.server ?? inject('iamdbPostgres');
  const suffix = randomBytes(3).toString('hex');
  const user = `${prefix}_${suffix}`;
  const iamUser = `${prefix}iam_${suffix}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const database = `${prefix}db_${suffix}`;
  const proxyName = `${prefix}-${suffix}`;
  const aliceKey = newAccessKey();
  const serverCa = await readFile(server.caCertPath, 'utf8');
  const master = `host=${server.host} port=${server.port} dbname=postgres user=${server.user} password=${server.password} sslmode=${opts.server ? 'prefer' : 'require'}`;
  expect((await runPsql(master, `CREATE USER ${user} PASSWORD '${password}'; CREATE USER ${iamUser} PASSWORD '${password}x'`)).stderr).toBe('');
  expect((await runPsql(master, `CREATE DATABASE ${database} OWNER ${user}`)).stderr).toBe('');
  const iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: aliceMayConnect(aliceKey, [proxyDbUserArn(iamUser)]),
    instances: [{ id: `${prefix}target-${suffix}`, engine: 'postgres', listen: 'auto', target: `${server.host}:${server.port}`, ...(opts.targetTls ? { targetTls: opts.targetTls } : {}), master: { username: server.user, password: server.password } }],
    ...(opts.idleServerSeconds !== undefined || opts.clientStallSeconds !== undefined
      ? { proxyEndpoints: { ...(opts.idleServerSeconds !== undefined ? { idleServerSeconds: opts.idleServerSeconds } : {}), ...(opts.clientStallSeconds !== undefined ? { clientStallSeconds: opts.clientStallSeconds } : {}) } }
      : {}),
  });
  const iamdbCa = await readFile(iamdb.caPath, 'utf8');
  const port = await getFreePort();
  await createProxy(iamdb, {
    engineFamily: 'POSTGRESQL',
    proxyName,
    port,
    requireTls: true,
    targets: [`${prefix}target-${suffix}`],
    secrets: [
      { username: user, password, auth: { IAMAuth: 'DISABLED', ClientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' } },
      { username: iamUser, password: `${password}x`, auth: { IAMAuth: 'REQUIRED' } },
    ],
    pool: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 20 },
  });
  const admin = (): pg.Client => new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database, ssl: { ca: serverCa } });
  return {
    iamdb,
    server,
    port,
    proxyName,
    user,
    password,
    iamUser,
    aliceKey,
    database,
    serverCa,
    iamdbCa,
    iamdbCaPath: iamdb.caPath,
    admin,
    client: () => new pg.Client({ host: '127.0.0.1', port, user, password, database, ssl: { ca: iamdbCa, servername: 'localhost' } }),
    token: () => iamToken('127.0.0.1', port, iamUser, aliceKey),
    poolStats(dbUser = user) {
      const pools = [...iamdb.app.proxyPools().entries()].filter(([k]) => k.endsWith(`/${dbUser}/${database}`));
      expect(pools).toHaveLength(1);
      return pools[0]![1].snapshot();
    },
    async serverBackends(dbUser = user) {
      const a = admin();
      await a.connect();
      try {
        return (await a.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [dbUser])).rows[0].n as number;
      } finally {
        await a.end();
      }
    },
    stop: () => iamdb.stop(),
  };
}
