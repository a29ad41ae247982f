/**
 * PostgreSQL proxy endpoints end to end: a proxy made through the RDS API
 * (the role trusting rds.amazonaws.com, the secret, the target), clients
 * logging in with the secret's password (SCRAM) and with IAM tokens, and the
 * pooled relay (native/pg_pool.c with gateway/proxy/) against the real
 * server with real clients: many clients over a few server connections,
 * transactions kept whole, prepared statements multiplexed without pinning,
 * session state never crossing clients (pinned instead, with its reason),
 * cancel, and a client leaving mid-transaction.
 */
import { createConnection, type Socket } from 'node:net';
import * as RDS from '@aws-sdk/client-rds';
import * as SM from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PoolStats } from '../../src/gateway/proxy/postgres-pool.js';
import { sdkClient } from '../support/aws-sdk.js';
import { runCommand } from '../support/exec.js';
import { ACCOUNT, type TestIamdb } from '../support/iamdb.js';
import { FIXTURE_POOL_SIZE, startPostgresProxyFixture, type PostgresProxyFixture } from '../support/postgres-proxy-fixture.js';

function run(cmd: string, args: string[], env: Record<string, string>): ReturnType<typeof runCommand> {
  return runCommand(cmd, args, { env: { PATH: process.env['PATH'] ?? '/usr/bin', ...env }, timeoutMs: 120_000 });
}

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const server = inject('iamdbPostgres');
const MAX_SERVERS = FIXTURE_POOL_SIZE;

let f: PostgresProxyFixture;
let iamdb: TestIamdb;
let port = 0;
let user = '';
let iamUser = '';
let password = '';
let database = '';
let proxyName = '';
let iamdbCa = '';
const admin = (): pg.Client => f.admin();
const client = (): pg.Client => f.client();
const poolStats = (): PoolStats => f.poolStats();
const serverBackends = (): Promise<number> => f.serverBackends();

beforeAll(async () => {
  f = await startPostgresProxyFixture('pool');
  ({ iamdb, port, user, iamUser, password, database, proxyName, iamdbCa } = f);
});

afterAll(async () => {
  await f?.stop();
});

describe('pooled PostgreSQL sessions', () => {
  it('serves a query', async () => {
    const c = client();
    await c.connect();
    const r = await c.query('SELECT 1 + 1 AS two, current_user AS who');
    expect(r.rows[0]).toEqual({ two: 2, who: user });
    await c.end();
  });

  it('serves many clients over a few server connections, each transaction whole', async () => {
    const a = admin();
    await a.connect();
    await a.query('CREATE TABLE IF NOT EXISTS counter (id int primary key, n int)');
    await a.query(`GRANT ALL ON counter TO ${user}`);
    await a.query('INSERT INTO counter VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0');
    await a.end();
    const clients = Array.from({ length: 20 }, () => client());
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 25; i++) {
          await c.query('BEGIN');
          const r = await c.query('SELECT n FROM counter WHERE id = 1 FOR UPDATE');
          await c.query('UPDATE counter SET n = $1 WHERE id = 1', [r.rows[0].n + 1]);
          await c.query('COMMIT');
        }
      }),
    );
    const r = await clients[0]!.query('SELECT n FROM counter WHERE id = 1');
    expect(r.rows[0].n).toBe(20 * 25);
    expect(await serverBackends()).toBeLessThanOrEqual(MAX_SERVERS);
    await Promise.all(clients.map((c) => c.end()));
  });

  it('multiplexes named prepared statements without pinning: the same name means each client its own statement', async () => {
    const before = poolStats().pinned;
    const ints = Array.from({ length: 4 }, () => client());
    const texts = Array.from({ length: 4 }, () => client());
    await Promise.all([...ints, ...texts].map((c) => c.connect()));
    await Promise.all([
      ...ints.map(async (c, k) => {
        for (let i = 0; i < 30; i++) {
          const r = await c.query({ name: 'q1', text: 'SELECT $1::int + 1 AS v', values: [i * 10 + k] });
          expect(r.rows[0].v).toBe(i * 10 + k + 1);
        }
      }),
      ...texts.map(async (c, k) => {
        for (let i = 0; i < 30; i++) {
          const r = await c.query({ name: 'q1', text: "SELECT 'x' || $1::text AS v", values: [`${k}-${i}`] });
          expect(r.rows[0].v).toBe(`x${k}-${i}`);
        }
      }),
    ]);
    expect(poolStats().pinned).toBe(before);
    await Promise.all([...ints, ...texts].map((c) => c.end()));
  });

  it('keeps unnamed statements with their client across server connections', async () => {
    const clients = Array.from({ length: 10 }, () => client());
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(
      clients.map(async (c, k) => {
        for (let i = 0; i < 20; i++) {
          const r = await c.query(k % 2 ? 'SELECT $1::int * 2 AS v' : 'SELECT $1::int * 3 AS v', [i]);
          expect(r.rows[0].v).toBe(i * (k % 2 ? 2 : 3));
        }
      }),
    );
    await Promise.all(clients.map((c) => c.end()));
  });

  it('pins a client that changes session state, and no other client sees the change', async () => {
    const a = client();
    const b = client();
    await a.connect();
    await b.connect();
    const defaultPath = (await b.query('SHOW search_path')).rows[0].search_path as string;
    await a.query("SET search_path TO pg_catalog, 'elsewhere'");
    await a.query('CREATE TEMP TABLE mine (x int)');
    await a.query('SELECT pg_advisory_lock(4242)');
    for (let i = 0; i < 10; i++) {
      expect((await b.query('SHOW search_path')).rows[0].search_path).toBe(defaultPath);
      expect((await b.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'mine' AND pg_table_is_visible(oid)")).rows[0].n).toBe(0);
      expect((await a.query('SHOW search_path')).rows[0].search_path).toContain('elsewhere');
    }
    expect((await b.query('SELECT pg_try_advisory_lock(4242) AS got')).rows[0].got).toBe(false);
    await a.end();
    // A's server connection is cleaned (DISCARD ALL) before anyone else gets it: the lock goes with it, soon after a leaves.
    const root = admin();
    await root.connect();
    try {
      const deadline = Date.now() + 10_000;
      while (Number((await root.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242")).rows[0].n) > 0) {
        expect(Date.now()).toBeLessThan(deadline);
      }
    } finally {
      await root.end();
    }
    expect((await b.query('SELECT pg_try_advisory_lock(4242) AS got')).rows[0].got).toBe(true);
    await b.query('SELECT pg_advisory_unlock(4242)');
    await b.end();
    const pinned = await iamdb.audit.until((e) => e.event === 'db.session.end' && (e.pinReasons ?? []).length > 0);
    expect(pinned.event === 'db.session.end' && pinned.pinReasons).toContain('SessionSetting');
  });

  it('rolls back the transaction of a client that leaves in the middle of it', async () => {
    const a0 = admin();
    await a0.connect();
    await a0.query('CREATE TABLE IF NOT EXISTS leftovers (x int)');
    await a0.query(`GRANT ALL ON leftovers TO ${user}`);
    await a0.end();
    const a = client();
    await a.connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO leftovers VALUES (1)');
    // Gone without COMMIT or Terminate.
    a.on('error', () => undefined);
    (a as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    const b = client();
    await b.connect();
    for (let i = 0; i < 20; i++) expect((await b.query('SELECT count(*)::int AS n FROM leftovers')).rows[0].n).toBe(0);
    const m = admin();
    await m.connect();
    let open = 1;
    for (let i = 0; i < 100 && open > 0; i++) {
      open = (await m.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND state LIKE 'idle in transaction%'", [user])).rows[0].n as number;
    }
    expect(open).toBe(0);
    await m.end();
    await b.end();
  });

  it('cancels the query a client is running, on whichever server connection it holds', async () => {
    const a = client();
    await a.connect();
    const running = a.query('SELECT pg_sleep(30)').then(
      () => 'finished',
      (err: Error) => err.message,
    );
    const { processID, secretKey } = a as unknown as { processID: number; secretKey: number };
    // Wait until the sleep runs on a server, then cancel it as libpq would.
    const m = admin();
    await m.connect();
    for (let i = 0; i < 200; i++) {
      const n = (await m.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND query = 'SELECT pg_sleep(30)' AND state = 'active'", [user])).rows[0].n as number;
      if (n > 0) break;
    }
    await m.end();
    await new Promise<void>((resolve, reject) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        const req = Buffer.alloc(16);
        req.writeUInt32BE(16, 0);
        req.writeUInt32BE(80877102, 4);
        req.writeUInt32BE(processID, 8);
        req.writeInt32BE(secretKey, 12);
        s.end(req);
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    expect(await running).toMatch(/canceling statement due to user request/);
    expect((await a.query('SELECT 42 AS v')).rows[0].v).toBe(42);
    await a.end();
  });

  it('runs pgbench -M prepared and -M extended through the pool', async () => {
    const env = { PGPASSWORD: password, PGSSLMODE: 'require' };
    expect((await iamdb.app.proxyPools().values().next().value)?.maxServers).toBe(MAX_SERVERS);
    const init = await run(PGBENCH, ['-i', '-s', '1', '-h', server.host, '-p', String(server.port), '-U', server.user, database], { PGPASSWORD: server.password, PGSSLMODE: 'require' });
    expect(init.code, init.stderr).toBe(0);
    const m = admin();
    await m.connect();
    await m.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${user}`);
    await m.end();
    for (const mode of (process.env['PGB_MODES'] ?? 'prepared,extended,simple').split(',')) {
      const r = await run(PGBENCH, ['-M', mode, '-c', '8', '-j', '2', '-t', '40', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-n', database], env);
      if (r.code !== 0 && process.env['PGB_DEBUG']) {
        const d = admin();
        await d.connect();
        console.log((await d.query('SELECT pid, state, wait_event, left(query, 60) AS q, backend_xid FROM pg_stat_activity WHERE usename = $1', [user])).rows);
        await d.end();
      }
      expect(r.code, `${mode}: ${r.stderr} ${JSON.stringify(poolStats())}`).toBe(0);
      expect(r.stdout).toMatch(/number of transactions actually processed: 320\/320/);
      expect(r.stdout).toMatch(/number of failed transactions: 0/);
    }
    expect(await serverBackends()).toBeLessThanOrEqual(MAX_SERVERS);
  });

  it('logs in with an IAM token signed for the proxy endpoint, and refuses a wrong password with RDS Proxy\'s text', async () => {
    const token = f.token();
    const c = new pg.Client({ host: '127.0.0.1', port, user: iamUser, password: token, database, ssl: { ca: iamdbCa, servername: 'localhost' } });
    await c.connect();
    expect((await c.query('SELECT current_user AS u')).rows[0].u).toBe(iamUser);
    await c.end();
    const allowed = iamdb.authEvents().filter((e) => e.dbUser === iamUser && e.decision === 'allow');
    expect(allowed.at(-1)).toMatchObject({ proxy: proxyName, method: 'iam', principal: `arn:aws:iam::${ACCOUNT}:user/alice` });
    const wrong = new pg.Client({ host: '127.0.0.1', port, user, password: 'not-it', database, ssl: { ca: iamdbCa, servername: 'localhost' } });
    await expect(wrong.connect()).rejects.toThrow(`The password that was provided for the role ${user} is wrong.`);
    const clear = new pg.Client({ host: '127.0.0.1', port, user, password, database, ssl: false });
    await expect(clear.connect()).rejects.toThrow('This RDS Proxy requires TLS connections.');
  });

  it('fails only the statement in flight when its server connection dies, and keeps the client; inside a transaction the client is told and let go', async () => {
    const killBackendRunning = async (sql: string): Promise<void> => {
      const m = admin();
      await m.connect();
      try {
        for (let i = 0; i < 200; i++) {
          const r = await m.query("SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE usename = $1 AND query = $2 AND state = 'active'", [user, sql]);
          if (r.rows.length > 0) return;
        }
        throw new Error(`never saw ${sql} running`);
      } finally {
        await m.end();
      }
    };
    const a = client();
    await a.connect();
    const running = a.query('SELECT pg_sleep(20)').then(() => 'finished', (err: Error) => err.message);
    await killBackendRunning('SELECT pg_sleep(20)');
    expect(await running).toMatch(/connection to the database was lost before the statement completed/);
    expect((await a.query('SELECT 7 AS v')).rows[0].v).toBe(7);
    expect((await a.query({ name: 'after', text: 'SELECT $1::int AS v', values: [8] })).rows[0].v).toBe(8);
    await a.end();

    const b = client();
    b.on('error', () => undefined);
    await b.connect();
    await b.query('BEGIN');
    const inTx = b.query('SELECT pg_sleep(19)').then(() => 'finished', (err: Error) => err.message);
    await killBackendRunning('SELECT pg_sleep(19)');
    expect(await inTx).toMatch(/lost inside a transaction; the transaction did not commit/);
    await expect(b.query('SELECT 1')).rejects.toThrow();
  });

  it('notices a server that ends its idle connections (FATAL, then close) with no client to wake it, and serves the next statement at once', async () => {
    // No forced read when a server connection is given back (pg_pool.c run_alone): the server's last words must still
    // be read by the poll alone, or the pool would keep dead connections and hand one to the next statement.
    const c = client();
    await c.connect();
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    expect(poolStats().servers).toBeGreaterThan(0);
    const root = admin();
    await root.connect();
    await root.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [user]);
    await root.end();
    // Far below the idle timeout of server connections: only reading the FATAL (or the close) lets them go.
    const deadline = Date.now() + 5_000;
    while (poolStats().servers > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(poolStats().servers, JSON.stringify(poolStats())).toBe(0);
    expect((await c.query('SELECT 2 AS two')).rows[0].two).toBe(2);
    await c.end();
  });

  it('serves 1,000 concurrent TLS clients over a pool of 20 server connections', async () => {
    const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, iamdb.admin);
    // 300 max_connections less 3 reserved on the test server: 7 % is a pool of 20 (restored afterwards for the other tests).
    await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 7, ConnectionBorrowTimeout: 60 } }));
    try {
      const env = { PGPASSWORD: password, PGSSLMODE: 'require' };
      const init = await run(PGBENCH, ['-i', '-s', '1', '-h', server.host, '-p', String(server.port), '-U', server.user, database], { PGPASSWORD: server.password, PGSSLMODE: 'require' });
      expect(init.code, init.stderr).toBe(0);
      const m = admin();
      await m.connect();
      await m.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${user}`);
      await m.end();
      const r = await run(PGBENCH, ['-S', '-c', '1000', '-j', '2', '-t', '3', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-n', database], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/number of clients: 1000/);
      expect(r.stdout).toMatch(/number of transactions actually processed: 3000\/3000/);
      expect(r.stdout).toMatch(/number of failed transactions: 0/);
      expect(poolStats().servers, JSON.stringify(poolStats())).toBeLessThanOrEqual(20);
      expect(await serverBackends()).toBeLessThanOrEqual(20);
    } finally {
      await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 20 } }));
    }
  });

  it('serves a client again after a quiet spell in which its session gave its buffers back (idle sweep)', async () => {
    const c = client();
    await c.connect();
    expect((await c.query('SELECT 1 AS v')).rows[0].v).toBe(1);
    // The quiet spell is what is under test: the native side frees a session's buffers after a full second of silence.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // A statement and a result of several TLS records each, and a transaction across messages.
    const text = 'x'.repeat(40_000);
    const r = await c.query(`SELECT length($1::text) AS n, repeat('y', 100000) AS big`, [text]);
    expect(r.rows[0].n).toBe(40_000);
    expect(r.rows[0].big).toBe('y'.repeat(100_000));
    await c.query('BEGIN');
    expect((await c.query('SELECT 2 AS v')).rows[0].v).toBe(2);
    await c.query('COMMIT');
    await c.end();
  });

  it('logs in to the server with the secret ModifyDBProxy names now, in a pool that began with another', async () => {
    // The keeper holds the pool (a pool lives while it has clients) and stays idle: it holds no server connection.
    const keeper = client();
    keeper.on('error', () => undefined);
    await keeper.connect();
    expect((await keeper.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    // The operator moves the user to a new secret (same credentials) and deletes the old one.
    const sm = sdkClient(SM.SecretsManagerClient, iamdb.apiUrl, iamdb.admin);
    const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, iamdb.admin);
    const auth = (await rds.send(new RDS.DescribeDBProxiesCommand({ DBProxyName: proxyName }))).DBProxies![0]!.Auth!;
    const mine = auth.find((a) => a.IAMAuth === 'DISABLED')!;
    const moved = (await sm.send(new SM.CreateSecretCommand({ Name: `${proxyName}/moved/${user}`, SecretString: JSON.stringify({ username: user, password }) }))).ARN!;
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, Auth: auth.map((a) => (a === mine ? { ...a, SecretArn: moved } : a)) }));
    await sm.send(new SM.DeleteSecretCommand({ SecretId: mine.SecretArn!, ForceDeleteWithoutRecovery: true }));
    // The pool's server connections go; the next statement needs a new server login, with the new secret.
    const root = admin();
    await root.connect();
    await root.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [user]);
    await root.end();
    // Clients of the same pool until one is answered: one may meet a connection the server just ended, or a login
    // that failed (each fails alone); with the old secret every login fails, and none ever is.
    const deadline = Date.now() + 15_000;
    let answer: unknown;
    while (answer === undefined && Date.now() < deadline) {
      const c = client();
      c.on('error', () => undefined);
      answer = await c
        .connect()
        .then(() => c.query('SELECT 2 AS two'))
        .then((r) => r.rows[0].two, () => undefined);
      await c.end().catch(() => undefined);
    }
    expect(answer).toBe(2);
    await keeper.end();
  });

  it('lets go of a client idle longer than the proxy\'s IdleClientTimeout', async () => {
    const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, iamdb.admin);
    const a = client();
    a.on('error', () => undefined);
    const from = iamdb.audit.events.length;
    await a.connect();
    const login = await iamdb.audit.until((e) => e.event === 'db.auth' && e.dbUser === user && e.decision === 'allow', from);
    expect((await a.query('SELECT 1 AS v')).rows[0].v).toBe(1);
    const ended = new Promise<void>((resolve) => a.on('end', () => resolve()));
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, IdleClientTimeout: 1 }));
    try {
      await ended;
      // The audit event reaches the sink after the socket has closed (other sessions' may come between): wait for this session's.
      const end = await iamdb.audit.until((e) => e.event === 'db.session.end' && 'sessionId' in login && e.sessionId === login.sessionId);
      expect(end).toMatchObject({ proxy: proxyName, reason: 'error' });
    } finally {
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, IdleClientTimeout: 1800 }));
    }
  });

  it('logs SQL text while DebugLogging is on, and times the server\'s answers', async () => {
    const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, iamdb.admin);
    const before = poolStats();
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, DebugLogging: true }));
    const a = client();
    await a.connect();
    try {
      await a.query('SELECT 4242 AS debugged');
      await a.query({ name: 'dbg', text: 'SELECT $1::int AS also_debugged', values: [1] });
    } finally {
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, DebugLogging: false }));
    }
    await a.query('SELECT 4343 AS not_debugged');
    await a.end();
    const sql = iamdb.logLines().filter((l) => l['proxy'] === proxyName && typeof l['sql'] === 'string').map((l) => l['sql']);
    expect(sql).toContain('SELECT 4242 AS debugged');
    expect(sql).toContain('SELECT $1::int AS also_debugged');
    expect(sql).not.toContain('SELECT 4343 AS not_debugged');
    const after = poolStats();
    expect(after.responses - before.responses).toBeGreaterThanOrEqual(3);
    expect(after.responseMicros).toBeGreaterThan(before.responseMicros);
  });
});
