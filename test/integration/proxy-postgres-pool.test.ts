/**
 * The pooled relay for PostgreSQL proxy endpoints (native/pg_pool.c with
 * gateway/proxy/), against the real server with real clients: many clients
 * over a few server connections, transactions kept whole, prepared
 * statements multiplexed without pinning, session state never crossing
 * clients (pinned instead, with its reason), cancel, and a client leaving
 * mid-transaction.
 *
 * The proxy session here is wired by hand (no proxy resources yet): clients
 * log in with the secret's password in clear over TLS, which stands in for
 * the SCRAM/MD5 password login until it lands; everything after the login
 * is what proxy endpoints run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditEvent, AuditSink } from '../../src/audit/index.js';
import { nativeDataPath, type NativeDataPath } from '../../src/gateway/native-data-path.js';
import { CancelMap } from '../../src/gateway/postgres/cancel-map.js';
import { MessageReader } from '../../src/gateway/postgres/messages.js';
import { PostgresPool, fatalBytes } from '../../src/gateway/proxy/postgres-pool.js';
import { handlePostgresProxySession, type PostgresProxyDeps } from '../../src/gateway/proxy/postgres-proxy-session.js';
import { PG_FILTER_WORDS } from '../../src/gateway/proxy/session-state.js';
import type { IamLogin } from '../../src/gateway/iam-login.js';
import { ByteReaderForBody, FrontendCode, SaltedPasswordCache, decodePasswordMessage, encodeAuthenticationCleartextPassword } from '../../src/protocol/postgres/index.js';
import type { DbInstance } from '../../src/rds/index.js';
import { Secret } from '../../src/util/index.js';
import { issueServerCertificate } from '../support/certs.js';
import { runPsql } from '../support/clients.js';
import { runCommand } from '../support/exec.js';

function run(cmd: string, args: string[], env: Record<string, string>): ReturnType<typeof runCommand> {
  return runCommand(cmd, args, { env: { PATH: process.env['PATH'] ?? '/usr/bin', ...env }, timeoutMs: 120_000 });
}

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

const server = inject('iamdbPostgres');
const testCa = inject('iamdbTestCa');
const suffix = randomBytes(3).toString('hex');
const user = `pool_${suffix}`;
const password = `pw-${randomBytes(8).toString('hex')}`;
const database = `pooldb_${suffix}`;

let native: NativeDataPath;
let listener: Server;
let port = 0;
let caPem = '';
const audit: AuditEvent[] = [];
const pools = new Map<string, PostgresPool>();
const MAX_SERVERS = 3;

const instance = {
  id: 'pooled-target',
  engine: 'postgres',
  target: { host: server.host, port: server.port },
  targetTls: { mode: 'disable' },
  listen: { host: '127.0.0.1', port: 0 },
  endpoints: [],
  tags: {},
  master: { username: server.user, password: new Secret(server.password) },
} as unknown as DbInstance;

function admin(): pg.Client {
  return new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database, ssl: { ca: caPem } });
}

function client(): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user, password, database, ssl: { ca: caPem, servername: 'localhost' } });
}

/** How many server connections the pool's user has open, as the server sees them. */
async function serverBackends(): Promise<number> {
  const a = admin();
  await a.connect();
  try {
    const r = await a.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [user]);
    return r.rows[0].n as number;
  } finally {
    await a.end();
  }
}

beforeAll(async () => {
  const loaded = nativeDataPath();
  if (!loaded.path) throw loaded.error;
  native = loaded.path;
  native.setScanWords(PG_FILTER_WORDS);
  caPem = await readFile(server.caCertPath, 'utf8');
  const dir = await mkdtemp(join(tmpdir(), 'iamdb-pool-'));
  const cert = await issueServerCertificate(testCa, dir, { name: 'proxy' });
  const clientTls = native.terminator(await readFile(cert.cert, 'utf8'), new Secret(await readFile(cert.key, 'utf8')));
  const master = `host=${server.host} port=${server.port} dbname=postgres user=${server.user} password=${server.password} sslmode=require`;
  expect((await runPsql(master, `CREATE USER ${user} PASSWORD '${password}'`)).stderr).toBe('');
  expect((await runPsql(master, `CREATE DATABASE ${database} OWNER ${user}`)).stderr).toBe('');
  const sink: AuditSink = { write: (e: AuditEvent) => void audit.push(e) } as AuditSink;
  const logger = pino({ level: process.env['POOL_LOG'] ?? 'silent' });
  const deps: PostgresProxyDeps = {
    endpoint: { proxyName: 'pool-proxy', endpointName: 'pool-proxy', resourceId: 'prx-test', endpoints: [], listen: { host: '127.0.0.1', port: 0 }, tags: {}, requireTls: true },
    logger,
    audit: sink,
    iamLogin: undefined as unknown as IamLogin,
    clientTls,
    native,
    cancelMap: new CancelMap(),
    loginTimeoutMs: 10_000,
    userAuth: async (u) => (u === user ? { iamAuth: 'DISABLED', method: 'POSTGRES_SCRAM_SHA_256', password: new Secret(password) } : undefined),
    pool: (u, db) => {
      const key = `${u}/${db}`;
      let p = pools.get(key);
      if (!p) {
        p = new PostgresPool({
          native,
          instance,
          user: u,
          database: db,
          credentials: async () => ({ username: user, password: new Secret(password) }),
          maxServers: MAX_SERVERS,
          borrowTimeoutMs: 20_000,
          loginTimeoutMs: 10_000,
          maxMessageBytes: 64 << 20,
          saltedPasswordCache: new SaltedPasswordCache({ maxEntries: 16 }),
          logger,
          timeoutError: fatalBytes('08000', 'Timed-out waiting to acquire database connection.'),
          lostError: fatalBytes('08006', 'the proxy lost its database connection'),
        });
        pools.set(key, p);
      }
      return p;
    },
    // Stand-in for the SCRAM/MD5 password login: the password in clear, over the client's TLS.
    passwordLogin: async (c: Socket, reader: MessageReader, _u, auth) => {
      c.write(encodeAuthenticationCleartextPassword());
      const answer = await reader.next();
      if (answer.type !== FrontendCode.PasswordMessage) return false;
      return decodePasswordMessage(new ByteReaderForBody(answer.body)).password.reveal() === auth.password.reveal();
    },
  };
  listener = createServer((sock) => void handlePostgresProxySession(sock, deps));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  port = (listener.address() as { port: number }).port;
});

afterAll(async () => {
  for (const p of pools.values()) p.close();
  if (listener) await new Promise<void>((r) => listener.close(() => r()));
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
    const before = pools.get(`${user}/${database}`)!.snapshot().pinned;
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
    expect(pools.get(`${user}/${database}`)!.snapshot().pinned).toBe(before);
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
    // A's server connection is cleaned (DISCARD ALL) before anyone else gets it: the lock goes with it.
    let got = false;
    for (let i = 0; i < 50 && !got; i++) {
      got = (await b.query('SELECT pg_try_advisory_lock(4242) AS got')).rows[0].got as boolean;
      if (got) await b.query('SELECT pg_advisory_unlock(4242)');
    }
    expect(got).toBe(true);
    await b.end();
    const reasons = audit.flatMap((e) => (e.event === 'db.session.end' ? (e.pinReasons ?? []) : []));
    expect(reasons).toContain('SessionSetting');
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
      expect(r.code, `${mode}: ${r.stderr} ${JSON.stringify(pools.get(`${user}/${database}`)!.snapshot())}`).toBe(0);
      expect(r.stdout).toMatch(/number of transactions actually processed: 320\/320/);
      expect(r.stdout).toMatch(/number of failed transactions: 0/);
    }
    expect(await serverBackends()).toBeLessThanOrEqual(MAX_SERVERS);
  });
});
